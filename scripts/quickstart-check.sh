#!/usr/bin/env bash
# Prove README.md's set-up on a fresh machine: a container from the bootstrapped Debian base (no
# pip configuration, no Python packages, no compilers), a clean clone of this repository's HEAD
# copied in, then the apt line of "Prerequisites" and the lines of "Quickstart", extracted from
# README.md and run exactly as written. It passes only if the verified wheel is in dist/.
#
# Usage: scripts/quickstart-check.sh
#
# Environment:
#   MLC_CI_DOCKER      docker CLI to use (docker)
#   MLC_CI_BASE_IMAGE  the fresh machine (mlc-ci/debian:bookworm, made by docker/bootstrap-base.sh)
#   MLC_CI_CA_BUNDLE   extra CA bundle (PEM) for a TLS-inspecting proxy. It is added to the
#                      container's trust store, and pip and uv are pointed at that store, as the
#                      image builds do; the README's lines do not change. It is the only thing the
#                      container gets from this host besides the repository.
# uv cannot download Pythons here; none is needed, because the Quickstart runs on the base's
# own python3.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOCKER=${MLC_CI_DOCKER:-docker}
BASE_IMAGE=${MLC_CI_BASE_IMAGE:-mlc-ci/debian:bookworm}
CA_BUNDLE=${MLC_CI_CA_BUNDLE:-}
WORK=
CONTAINER=

log() { printf 'quickstart-check: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

cleanup() {
    if [[ -n $CONTAINER ]]; then
        "$DOCKER" rm -f "$CONTAINER" >/dev/null || log "could not remove container $CONTAINER"
    fi
    if [[ -n $WORK ]]; then rm -rf "$WORK"; fi
}

# The first ```bash block after the heading $1 in README.md.
block_after() {
    awk -v heading="$1" '
        $0 == heading { found = 1; next }
        found && /^## / { exit }
        found && !inside && /^ *```bash$/ { inside = 1; next }
        inside && /^ *```$/ { exit }
        inside { sub(/^  /, ""); print }
    ' "$ROOT/README.md"
}

main() {
    command -v "$DOCKER" >/dev/null 2>&1 || die "'$DOCKER' not found; install docker.io or set MLC_CI_DOCKER"
    "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1 ||
        die "base image $BASE_IMAGE is missing; make it with docker/bootstrap-base.sh $BASE_IMAGE"
    if [[ -n $CA_BUNDLE && ! -f $CA_BUNDLE ]]; then
        die "MLC_CI_CA_BUNDLE=$CA_BUNDLE is not a file; point it at a PEM CA bundle"
    fi

    WORK=$(mktemp -d "${TMPDIR:-/tmp}/mlc-ci-quickstart.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT TERM

    local prerequisites quickstart
    prerequisites=$(block_after "## Prerequisites")
    quickstart=$(block_after "## Quickstart")
    [[ $prerequisites == *"apt-get install"* ]] ||
        die "README.md's Prerequisites have no \`apt-get install\` line in a bash block"
    [[ -n $quickstart ]] || die "README.md's Quickstart has no bash block"
    log "README.md, Prerequisites:"
    printf '    %s\n' "$prerequisites" >&2
    log "README.md, Quickstart:"
    printf '%s\n' "$quickstart" | sed 's/^/    /' >&2

    # The committed tree, as a fresh CI checkout has it (full history: versions come from git).
    git clone -q --no-hardlinks "$ROOT" "$WORK/repo"
    {
        echo 'set -euxo pipefail'
        echo 'export DEBIAN_FRONTEND=noninteractive'
        # shellcheck disable=SC2016 # expanded inside the container
        echo 'if [ -f /tmp/extra-ca.crt ]; then apt-get update -q && apt-get install -y -q --no-install-recommends ca-certificates && cp /tmp/extra-ca.crt /usr/local/share/ca-certificates/ && update-ca-certificates; export SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt; fi'
        echo 'apt-get update -q'
        printf '%s\n' "$prerequisites"
        echo 'cd /root/repo'
        printf '%s\n' "$quickstart"
        echo 'ls -l dist/mini_llm_cpu-*.whl'
    } >"$WORK/run.sh"

    CONTAINER=$("$DOCKER" create --network host "$BASE_IMAGE" bash /tmp/run.sh)
    "$DOCKER" cp "$WORK/run.sh" "$CONTAINER:/tmp/run.sh"
    "$DOCKER" cp "$WORK/repo" "$CONTAINER:/root/repo"
    if [[ -n $CA_BUNDLE ]]; then "$DOCKER" cp "$CA_BUNDLE" "$CONTAINER:/tmp/extra-ca.crt"; fi
    local started=$SECONDS
    "$DOCKER" start --attach "$CONTAINER" ||
        die "README.md's set-up failed in a fresh $BASE_IMAGE container (its output is above)"
    log "passed in $((SECONDS - started))s: the README's set-up built and verified the mini-llm wheel"
}

main "$@"
