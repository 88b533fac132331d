#!/usr/bin/env bash
# Make the manylinux stand-in image (manylinux.Dockerfile) from the bootstrapped Debian base
# and this host's pyenv CPython 3.12: `tools/rehearsal/standins/make-manylinux.sh [TAG]`.
set -euo pipefail
tag=${1:-mlc-ci/manylinux-standin:2_28}
docker=${MLC_CI_DOCKER:-docker}
here=$(cd "$(dirname "$0")" && pwd)
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
prefix=$(find "$pyenv_root/versions" -maxdepth 1 -name '3.12.*' -type d | sort -V | tail -n 1)
if [ -z "$prefix" ]; then
  echo "make-manylinux: no CPython 3.12 under $pyenv_root/versions; install it with pyenv." >&2
  exit 1
fi
if ! "$docker" image inspect mlc-ci/debian:bookworm >/dev/null 2>&1; then
  echo "make-manylinux: mlc-ci/debian:bookworm is missing; run docker/bootstrap-base.sh first." >&2
  exit 1
fi
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$here/manylinux.Dockerfile" "$context/Dockerfile"
# The interpreter as installed, without what was pip-installed into it since (the image runs
# ensurepip: pip from the wheel CPython bundles).
cp -a "$prefix" "$context/python"
rm -rf "$context/python/lib/python3.12/site-packages/"*
"$docker" build --network host --build-arg PREFIX="$prefix" -t "$tag" "$context"
echo "make-manylinux: $tag"
