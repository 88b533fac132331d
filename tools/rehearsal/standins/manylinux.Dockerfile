# The declared stand-in for quay.io/pypa/manylinux_2_28_x86_64 (quay.io is unreachable here),
# made by make-manylinux.sh and passed to the rehearsal as
#   --image-standin quay.io/pypa/manylinux_2_28_x86_64@sha256:...=mlc-ci/manylinux-standin:2_28
# What the root profile's container steps use of the real image: a shell, curl (the setup lines
# fetch rustup), a C/C++ toolchain with CMake and Ninja, git, and CPython 3.12 at the path the
# image documents (/opt/python/cp312-cp312/bin/python). It is not manylinux: Debian 12's glibc
# 2.36 and GCC 12 instead of AlmaLinux 8's glibc 2.28 and gcc-toolset 14, no auditwheel, no
# other CPythons, no dnf (the CUDA variants' setup lines run dnf and fail on it).
ARG BASE=mlc-ci/debian:bookworm
FROM ${BASE}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends \
      ca-certificates curl git gcc g++ make cmake ninja-build patchelf file \
      libsqlite3-0 libssl3 libffi8 libbz2-1.0 liblzma5 libreadline8 libncursesw6 libgdbm6 \
 && rm -rf /var/lib/apt/lists/*
# The host's pyenv build of 3.12 (and the shared libraries it links above), at the prefix it
# was built for: its RUNPATH points there.
ARG PREFIX
COPY python ${PREFIX}
RUN mkdir -p /opt/python/cp312-cp312/bin \
 && ln -s "${PREFIX}/bin/python3.12" /opt/python/cp312-cp312/bin/python \
 && /opt/python/cp312-cp312/bin/python -m ensurepip --default-pip \
 && /opt/python/cp312-cp312/bin/python -c "import ssl, sqlite3, zlib, pip"
