#!/usr/bin/env bash
# Install the CUDA compiler and runtime X.Y on a hosted Linux runner, which has no CUDA, from
# NVIDIA's apt repository for this distribution (ubuntu2404 on GitHub's ubuntu-24.04): the
# repository's keyring package, then nvcc and the runtime's headers and libraries. A host wheel
# build of a CUDA variant compiles with them; the container builds install their own.
#
# Usage: scripts/install-cuda-linux.sh X.Y   (run by ci.yml's build job where matrix.cuda is set)
# On GitHub it adds the toolkit's bin/ to GITHUB_PATH and sets CUDA_HOME through GITHUB_ENV.
set -euo pipefail

version=${1:-}
if [[ ! $version =~ ^[0-9]+\.[0-9]+$ ]]; then
    echo "install-cuda-linux: '$version' is not a CUDA version X.Y (e.g. 13.0)" >&2
    exit 2
fi
# shellcheck source=/dev/null
. /etc/os-release
repository="https://developer.download.nvidia.com/compute/cuda/repos/${ID}${VERSION_ID//./}/x86_64"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsSL --retry 3 -o "$work/cuda-keyring.deb" "$repository/cuda-keyring_1.1-1_all.deb"
sudo dpkg -i "$work/cuda-keyring.deb"
sudo apt-get update -q
sudo apt-get install -y -q --no-install-recommends "cuda-nvcc-${version/./-}" "cuda-cudart-dev-${version/./-}"
home=/usr/local/cuda-$version
"$home/bin/nvcc" --version | tail -n 1
if [[ -n ${GITHUB_PATH:-} ]]; then
    echo "$home/bin" >>"$GITHUB_PATH"
    echo "CUDA_HOME=$home" >>"$GITHUB_ENV"
fi
