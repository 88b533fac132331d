#!/usr/bin/env bash
# Make a Debian base image without any registry: debootstrap a minbase root filesystem and
# `docker import` it. The Dockerfile's BASE_IMAGE/RUNTIME_IMAGE default to the result.
#
# Usage: docker/bootstrap-base.sh [--force] [NAME:TAG] [SUITE]
#   NAME:TAG  image to create (default mlc-ci/debian:bookworm)
#   SUITE     Debian suite (default: the tag where it names one, else bookworm)
#   --force   rebuild even if NAME:TAG already exists (otherwise an existing image is kept)
#
# Environment:
#   DEBIAN_MIRROR           archive mirror (http://deb.debian.org/debian)
#   DEBIAN_SECURITY_MIRROR  security mirror (http://deb.debian.org/debian-security)
#   MLC_CI_DOCKER           docker CLI to import with (docker)
#   TMPDIR                  where the root filesystem is assembled (/var/tmp)
set -euo pipefail

IMAGE=mlc-ci/debian:bookworm
SUITE=bookworm
FORCE=0
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
DOCKER=${MLC_CI_DOCKER:-docker}
WORK=

log() { printf 'bootstrap-base: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

cleanup() {
    [[ -n $WORK && -d $WORK ]] || return 0
    # A debootstrap that failed half-way can leave /proc or /sys mounted in the target; unmount
    # them (deepest first) so the removal below cannot reach the host's filesystems.
    local mounts
    mounts=$(awk -v root="$WORK/" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r)
    if [[ -n $mounts ]]; then
        while IFS= read -r mount; do umount -l "$mount" || log "could not unmount $mount"; done \
            <<<"$mounts"
    fi
    rm -rf --one-file-system "$WORK"
}

# Mirror what Debian's official images configure for container use.
configure_rootfs() {
    local root=$1
    # Services must not start inside `docker build`.
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    # Layers stay small: no .deb archives left behind, no translations.
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
    printf 'Acquire::Languages "none";\n' >"$root/etc/apt/apt.conf.d/docker-no-languages"
    # Security updates matter for the scanned images; unstable suites have no such pockets.
    {
        printf 'deb %s %s main\n' "$MIRROR" "$SUITE"
        case $SUITE in
            sid | unstable | experimental) ;;
            *)
                printf 'deb %s %s-updates main\n' "$MIRROR" "$SUITE"
                printf 'deb %s %s-security main\n' "$SECURITY_MIRROR" "$SUITE"
                ;;
        esac
    } >"$root/etc/apt/sources.list"
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb "$root"/tmp/*
}

main() {
    local positional=()
    while (($#)); do
        case $1 in
            --force) FORCE=1 ;;
            -h | --help)
                usage
                exit 0
                ;;
            -*) die "unknown option '$1'; see --help" ;;
            *) positional+=("$1") ;;
        esac
        shift
    done
    ((${#positional[@]} <= 2)) || die "too many arguments; usage: $0 [--force] [NAME:TAG] [SUITE]"
    IMAGE=${positional[0]:-$IMAGE}
    # A tag that names a suite is that suite (mlc-ci/debian:bullseye is bullseye), unless one
    # is given: the error messages that point here name only the image.
    if [[ ${IMAGE##*/} == *:* ]]; then
        case ${IMAGE##*:} in
            buster | bullseye | bookworm | trixie | forky | sid) SUITE=${IMAGE##*:} ;;
        esac
    fi
    SUITE=${positional[1]:-$SUITE}
    [[ ${IMAGE##*/} == *:* ]] || IMAGE=$IMAGE:$SUITE

    ((EUID == 0)) || die "debootstrap needs root; rerun as root (for example with sudo)"
    command -v debootstrap >/dev/null 2>&1 ||
        die "debootstrap not found; install it with 'apt-get install -y debootstrap'"
    command -v "$DOCKER" >/dev/null 2>&1 ||
        die "docker CLI '$DOCKER' not found; install docker.io or set MLC_CI_DOCKER"
    "$DOCKER" version >/dev/null 2>&1 ||
        die "the Docker engine is not reachable through '$DOCKER'; start it (scripts/ci-services.sh start docker)"

    if ((!FORCE)) && "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
        log "$IMAGE already exists; keeping it (pass --force to rebuild)"
        return 0
    fi

    local started=$SECONDS
    WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/mlc-ci-rootfs.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    local rootfs=$WORK/rootfs debootstrap_log=$WORK/debootstrap.log

    log "debootstrap --variant=minbase $SUITE from $MIRROR"
    debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$debootstrap_log" 2>&1 || {
        tail -n 30 "$debootstrap_log" >&2
        die "debootstrap of '$SUITE' from $MIRROR failed (log above); check the suite name and DEBIAN_MIRROR"
    }
    configure_rootfs "$rootfs"

    log "importing as $IMAGE"
    tar --numeric-owner --xattrs -C "$rootfs" -c . |
        "$DOCKER" import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' \
            --change 'CMD ["bash"]' \
            --change "LABEL org.opencontainers.image.base.name=debian:$SUITE" \
            --message "debootstrap --variant=minbase $SUITE $MIRROR" \
            - "$IMAGE" >/dev/null

    local size
    size=$("$DOCKER" image inspect --format '{{.Size}}' "$IMAGE")
    log "$IMAGE: $((size / 1024 / 1024)) MiB in $((SECONDS - started))s"
}

main "$@"
