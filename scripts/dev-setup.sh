#!/usr/bin/env bash
# The development image of this repository: a shell, JupyterLab or the unit tests inside it,
# with this checkout mounted at /workspace. The image is the `development` stage of
# docker/Dockerfile (the builder plus editors' tools); it is built when missing.
#
# Usage: scripts/dev-setup.sh shell|jupyter|test|build|help
#   shell    interactive bash in the image, the checkout at /workspace
#   jupyter  JupyterLab on 127.0.0.1:$JUPYTER_PORT, notebooks under /workspace
#   test     python -m pytest tests/unit -q -m unit inside the image
#   build    (re)build the image, even when it exists
#   help     this text
#
# Environment:
#   MLC_CI_DOCKER      docker CLI to use (docker)
#   MLC_CI_NETWORK     network of the build and of the container (host)
#   MLC_CI_DEV_IMAGE   image name (mlc-ci/dev:latest)
#   MLC_CI_BASE_IMAGE  base of the builder stage (mlc-ci/debian:bookworm, made locally by
#                      docker/bootstrap-base.sh when missing)
#   MLC_CI_CA_BUNDLE   extra CA bundle (PEM) for a TLS-inspecting proxy; copied into the build
#                      context as .mlc-ci-ca.crt for the build, like the docker-build session
#   JUPYTER_PORT       port of JupyterLab (8888)
# The container gets every GPU (--gpus all) when the engine has the NVIDIA runtime, none else.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOCKER=${MLC_CI_DOCKER:-docker}
NETWORK=${MLC_CI_NETWORK:-host}
IMAGE=${MLC_CI_DEV_IMAGE:-mlc-ci/dev:latest}
BASE_IMAGE=${MLC_CI_BASE_IMAGE:-mlc-ci/debian:bookworm}
CA_BUNDLE=${MLC_CI_CA_BUNDLE:-}
readonly CA_IN_CONTEXT=.mlc-ci-ca.crt
JUPYTER_PORT=${JUPYTER_PORT:-8888}

log() { printf 'dev-setup: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

need_docker() {
    command -v "$DOCKER" >/dev/null 2>&1 ||
        die "'$DOCKER' not found; install Docker (apt-get install docker.io) or set MLC_CI_DOCKER"
    "$DOCKER" info >/dev/null 2>&1 ||
        die "no Docker engine answers through '$DOCKER'; start dockerd or set DOCKER_HOST"
}

has_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

build() {
    if [[ $BASE_IMAGE == mlc-ci/* ]] && ! has_image "$BASE_IMAGE"; then
        log "base image $BASE_IMAGE is missing; making it with docker/bootstrap-base.sh"
        MLC_CI_DOCKER=$DOCKER "$ROOT/docker/bootstrap-base.sh" "$BASE_IMAGE"
    fi
    local builder ca_arg=""
    builder=$(build_command)
    if [[ -n $CA_BUNDLE ]]; then
        copy_ca
        ca_arg=$CA_IN_CONTEXT
    fi
    log "building $IMAGE (target development of docker/Dockerfile) with '$builder'"
    # shellcheck disable=SC2086  # builder is one or two words: "docker build" | "docker buildx build --load"
    # The builder stage stamps a version into the wheel it builds, and its context has no git
    # history. This image's wheel is a local build that is never released, so it says so with
    # a PEP 440 local version instead of reading the history.
    (cd "$ROOT" && DOCKER_BUILDKIT=1 $builder --network "$NETWORK" \
        --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "CA_BUNDLE=$ca_arg" \
        --build-arg "SOURCE_VERSION=0.0.0.dev0+devcontainer" \
        --target development \
        -t "$IMAGE" -f docker/Dockerfile .)
}

# The Dockerfile reads the extra CA from the build context, so a copy goes there for the build.
# A copy that is already there with the same bytes (a docker-build session running now) is used
# and left alone; one made here is removed on exit.
copy_ca() {
    [[ -f $CA_BUNDLE ]] || die "MLC_CI_CA_BUNDLE=$CA_BUNDLE is not a file; point it at a PEM CA bundle"
    local copy=$ROOT/$CA_IN_CONTEXT
    if [[ -f $copy ]] && cmp -s "$CA_BUNDLE" "$copy"; then
        return 0
    fi
    cp "$CA_BUNDLE" "$copy"
    trap 'rm -f "$ROOT/$CA_IN_CONTEXT"' EXIT
}

# The Dockerfile needs BuildKit (RUN --mount): buildx when the CLI has it; else the engine's own
# BuildKit, which DOCKER_BUILDKIT=1 reaches only through CLIs older than 23 (later ones hand
# `docker build` to buildx).
build_command() {
    if "$DOCKER" buildx version >/dev/null 2>&1; then
        echo "$DOCKER buildx build --load"
        return
    fi
    local version
    version=$("$DOCKER" version --format '{{.Client.Version}}' 2>/dev/null || echo 0)
    if ((${version%%.*} >= 23)); then
        die "this docker CLI ($version) has no buildx plugin, so it cannot build with BuildKit; install docker-buildx, or set MLC_CI_DOCKER to a CLI that builds with DOCKER_BUILDKIT=1 (e.g. Debian's /usr/bin/docker)"
    fi
    echo "$DOCKER build"
}

ensure_image() {
    has_image "$IMAGE" || build
}

# docker run options shared by every sub-command; the result is in the RUN array.
run_options() {
    RUN=(run --rm --network "$NETWORK" -v "$ROOT:/workspace" -w /workspace
        -e PYTHONPATH=/workspace/src -e PYTHONDONTWRITEBYTECODE=1)
    # A GPU only where the engine can hand one out: --gpus fails on engines without it.
    if [[ $("$DOCKER" info --format '{{json .Runtimes}}' 2>/dev/null) == *nvidia* ]]; then
        RUN+=(--gpus all)
    fi
    # -t only with a terminal: in CI (no TTY) `docker run -t` fails.
    if [[ -t 0 && -t 1 ]]; then RUN+=(-it); elif [[ -t 1 ]]; then RUN+=(-t); fi
}

cmd_shell() {
    run_options
    [[ -t 0 ]] || RUN+=(-i) # commands piped on stdin still reach bash
    exec "$DOCKER" "${RUN[@]}" "$IMAGE" bash
}

check_port() {
    if ! [[ $JUPYTER_PORT =~ ^[0-9]{1,5}$ ]] || ((JUPYTER_PORT < 1 || JUPYTER_PORT > 65535)); then
        die "JUPYTER_PORT must be a port number (1-65535), got '$JUPYTER_PORT'"
    fi
}

cmd_jupyter() {
    run_options
    local ip=127.0.0.1
    if [[ $NETWORK != host ]]; then
        # Published on the host's loopback only: the server has a token, not a firewall.
        RUN+=(-p "127.0.0.1:$JUPYTER_PORT:$JUPYTER_PORT")
        ip=0.0.0.0
    fi
    log "JupyterLab on http://127.0.0.1:$JUPYTER_PORT (the token is printed below)"
    exec "$DOCKER" "${RUN[@]}" "$IMAGE" jupyter lab --no-browser --allow-root \
        --ip "$ip" --port "$JUPYTER_PORT" --ServerApp.root_dir=/workspace
}

cmd_test() {
    run_options
    # -p no:cacheprovider: no root-owned .pytest_cache in the mounted checkout.
    "$DOCKER" "${RUN[@]}" "$IMAGE" python -m pytest tests/unit -q -m unit -p no:cacheprovider
}

main() {
    if (($# != 1)); then
        usage >&2
        exit 2
    fi
    case $1 in
        help | -h | --help)
            usage
            ;;
        build)
            need_docker
            build
            ;;
        shell | jupyter | test)
            [[ $1 != jupyter ]] || check_port
            need_docker
            ensure_image
            "cmd_$1"
            ;;
        *)
            log "unknown sub-command '$1'"
            usage >&2
            exit 2
            ;;
    esac
}

main "$@"
