#!/usr/bin/env bash
# The one build script, shared by the Dockerfile's builder stage and the wheels sessions:
# build, repair and verify the source project's wheel(s) for one variant.
#
# Usage: docker/build-mlc.sh --config PIPELINE_TOML --variant NAME --out DIR [more options]
# All options belong to `python -m mlc_ci wheels-linux`; run it with --help for the list.
set -euo pipefail

exec python -m mlc_ci wheels-linux "$@"
