"""`python -m mlc_ci` entry point."""

import sys

from mlc_ci.cli import main

sys.exit(main())
