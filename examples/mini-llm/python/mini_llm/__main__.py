"""`python -m mini_llm`."""

import sys

from mini_llm.cli import main

sys.exit(main())
