#!/usr/bin/env bash
# Start, stop or query the local services the integration tests need:
#   docker    the Docker engine (dockerd, host networking only, no bridge, no iptables)
#   registry  Debian's docker-registry (distribution 2.x) on 127.0.0.1:5000, no auth
#   pypi      pypiserver on 127.0.0.1:8080, unauthenticated uploads, no fallback to pypi.org
#   redis     Debian's redis-server on 127.0.0.1:6379, in memory only (the shared compile cache)
#   github    the stand-in for GitHub's release API (tests/unit/github_standin.py) on 127.0.0.1:8091,
#             which `python -m mlc_ci rehearse --event tag` publishes its release to
#
# Usage: scripts/ci-services.sh start|stop|status [docker] [registry] [pypi] [redis] [github]  (default: all)
#
# Installs nothing: the CI entry point installs docker.io, docker-registry, redis-server, curl
# and `pip install pypiserver` first. A service that already answers is left alone and is not
# stopped by `stop`; only processes recorded in a pidfile here are ever signalled.
#
# Environment:
#   MLC_CI_STATE_DIR        pidfiles, logs, registry storage, package dir (/tmp/mlc-ci-services)
#   MLC_CI_SERVICE_TIMEOUT  seconds to wait for a service to answer or to exit (60)
#   MLC_CI_DOCKER_SOCK      engine socket (/var/run/docker.sock)
#   MLC_CI_REGISTRY_PORT    registry port on 127.0.0.1 (5000)
#   MLC_CI_PYPI_PORT        package index port on 127.0.0.1 (8080)
#   MLC_CI_REDIS_PORT       compile-cache server port on 127.0.0.1 (6379)
#   MLC_CI_GITHUB_PORT      GitHub stand-in port on 127.0.0.1 (8091); its token is
#                           MLC_CI_GITHUB_TOKEN (rehearsal)
#   MLC_CI_DOCKERD, MLC_CI_REGISTRY_BIN, MLC_CI_PYPI_SERVER, MLC_CI_REDIS_SERVER   binaries to run
set -euo pipefail

readonly ALL_SERVICES=(docker registry pypi redis github)
STATE_DIR=${MLC_CI_STATE_DIR:-/tmp/mlc-ci-services}
TIMEOUT=${MLC_CI_SERVICE_TIMEOUT:-60}
DOCKER_SOCK=${MLC_CI_DOCKER_SOCK:-/var/run/docker.sock}
REGISTRY_PORT=${MLC_CI_REGISTRY_PORT:-5000}
PYPI_PORT=${MLC_CI_PYPI_PORT:-8080}
REDIS_PORT=${MLC_CI_REDIS_PORT:-6379}
GITHUB_PORT=${MLC_CI_GITHUB_PORT:-8091}
GITHUB_TOKEN_STANDIN=${MLC_CI_GITHUB_TOKEN:-rehearsal}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DOCKERD=${MLC_CI_DOCKERD:-dockerd}
REGISTRY_BIN=${MLC_CI_REGISTRY_BIN:-/usr/bin/docker-registry}
PYPI_SERVER=${MLC_CI_PYPI_SERVER:-pypi-server}
REDIS_SERVER=${MLC_CI_REDIS_SERVER:-redis-server}
# Loopback only: these services have no authentication.
readonly HOST=127.0.0.1

log() { printf 'ci-services: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    cat <<USAGE
usage: ${0##*/} start|stop|status [docker] [registry] [pypi] [redis] [github]
  start   start the selected services (default: all) unless they already answer
  stop    stop what 'start' started (by pidfile); safe to repeat
  status  print each service's state; exit 3 if any selected service does not answer
USAGE
}

need() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found; $2"
}

# --- health checks: each returns 0 when the service answers --------------------------------

answers_docker() {
    [[ -S $DOCKER_SOCK ]] &&
        [[ $(curl -fsS --max-time 5 --unix-socket "$DOCKER_SOCK" http://localhost/_ping 2>/dev/null) == OK ]]
}

answers_registry() {
    curl -fsS --max-time 5 -o /dev/null "http://$HOST:$REGISTRY_PORT/v2/" 2>/dev/null
}

answers_pypi() {
    curl -fsS --max-time 5 -o /dev/null "http://$HOST:$PYPI_PORT/" 2>/dev/null
}

# RESP over bash's /dev/tcp: PING must answer +PONG (no redis-cli needed).
answers_redis() {
    local reply
    { exec 3<>"/dev/tcp/$HOST/$REDIS_PORT"; } 2>/dev/null || return 1
    printf 'PING\r\n' >&3
    IFS= read -r -t 5 reply <&3 || reply=""
    exec 3>&-
    [[ $reply == +PONG* ]]
}

# Every request needs a token: an unauthenticated one answers 401 Bad credentials.
answers_github() {
    [[ $(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' \
        "http://$HOST:$GITHUB_PORT/repos/o/r/releases" 2>/dev/null) == 401 ]]
}

endpoint() {
    case $1 in
        docker) printf 'unix://%s\n' "$DOCKER_SOCK" ;;
        registry) printf 'http://%s:%s/v2/\n' "$HOST" "$REGISTRY_PORT" ;;
        pypi) printf 'http://%s:%s/\n' "$HOST" "$PYPI_PORT" ;;
        redis) printf 'redis://%s:%s\n' "$HOST" "$REDIS_PORT" ;;
        github) printf 'http://%s:%s\n' "$HOST" "$GITHUB_PORT" ;;
    esac
}

# --- pidfiles ------------------------------------------------------------------------------

pidfile() { printf '%s/%s.pid\n' "$STATE_DIR" "$1"; }
logfile() { printf '%s/%s.log\n' "$STATE_DIR" "$1"; }

show_log() {
    local file
    file=$(logfile "$1")
    if [[ -f $file ]]; then tail -n 20 "$file" >&2; fi
}

# Print the pid recorded for a service if that process is still alive and is what we started
# (its command line mentions the expected program), so a recycled pid is never signalled.
live_pid() {
    local service=$1 file pid pattern cmdline
    file=$(pidfile "$service")
    [[ -f $file ]] || return 1
    pid=$(<"$file")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/cmdline ]] || return 1
    case $service in
        docker) pattern=dockerd ;;
        registry) pattern=registry ;;
        pypi) pattern=pypi ;;
        redis) pattern=redis-server ;;
        github) pattern=github_standin ;;
    esac
    # Read then match: `tr | grep -q` could fail under pipefail when grep exits first.
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    [[ $cmdline == *"$pattern"* ]] || return 1
    printf '%s\n' "$pid"
}

# Run "$@" detached (own session, so a Ctrl-C or job teardown of the caller does not take the
# service down), output to the service log; the child records its own pid before exec.
spawn() {
    local service=$1
    shift
    local file
    file=$(pidfile "$service")
    rm -f "$file"
    # shellcheck disable=SC2016  # $$ and "$@" expand in the child shell, on purpose
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$file" "$@" \
        </dev/null >"$(logfile "$service")" 2>&1 &
    local waited=0
    until [[ -s $file ]]; do
        ((waited++ < 50)) || die "$service did not start; see $(logfile "$service")"
        sleep 0.1
    done
}

wait_until_answers() {
    local service=$1 deadline=$((SECONDS + TIMEOUT)) pid
    until "answers_$service"; do
        if ! pid=$(live_pid "$service"); then
            show_log "$service"
            rm -f "$(pidfile "$service")"
            die "$service exited during start-up; log above and in $(logfile "$service")"
        fi
        if ((SECONDS >= deadline)); then
            show_log "$service"
            die "$service (pid $pid) did not answer at $(endpoint "$service") within ${TIMEOUT}s; see $(logfile "$service"), or raise MLC_CI_SERVICE_TIMEOUT"
        fi
        sleep 0.5
    done
}

# --- per-service start ---------------------------------------------------------------------

start_docker() {
    need "$DOCKERD" "install the engine (apt-get install -y docker.io)"
    ((EUID == 0)) || die "dockerd must run as root; rerun with sudo or start the engine yourself"
    local args=(--iptables=false --ip6tables=false --bridge=none)
    [[ $DOCKER_SOCK == /var/run/docker.sock ]] || args+=(-H "unix://$DOCKER_SOCK")
    spawn docker "$DOCKERD" "${args[@]}"
}

start_registry() {
    need "$REGISTRY_BIN" "install Debian's registry (apt-get install -y docker-registry)"
    local config=$STATE_DIR/registry.yml data=$STATE_DIR/registry-data
    mkdir -p "$data"
    cat >"$config" <<YAML
# Written by scripts/ci-services.sh; test registry, loopback only, no auth.
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $data
  delete:
    enabled: true
http:
  addr: $HOST:$REGISTRY_PORT
  headers:
    X-Content-Type-Options: [nosniff]
YAML
    spawn registry "$REGISTRY_BIN" serve "$config"
}

start_pypi() {
    local packages=$STATE_DIR/pypi-packages cmd
    mkdir -p "$packages"
    if command -v "$PYPI_SERVER" >/dev/null 2>&1; then
        cmd=("$PYPI_SERVER")
    elif python3 -c 'import pypiserver' >/dev/null 2>&1; then
        cmd=(python3 -m pypiserver)
    else
        die "pypi-server not found; install it with 'python3 -m pip install pypiserver'"
    fi
    # -a . -P . : no authentication at all (uploads included); -v logs each request;
    # --disable-fallback: a missing package is a 404 here, never a redirect to pypi.org.
    spawn pypi "${cmd[@]}" run -v -p "$PYPI_PORT" -i "$HOST" -a . -P . --disable-fallback "$packages"
}

start_redis() {
    need "$REDIS_SERVER" "install Debian's redis (apt-get install -y redis-server)"
    # In memory only, evicting the least recently used entries: a compile cache, not a store.
    spawn redis "$REDIS_SERVER" --bind "$HOST" --port "$REDIS_PORT" --save "" --appendonly no \
        --maxmemory 512mb --maxmemory-policy allkeys-lru --daemonize no
}

start_github() {
    need python3 "install Python 3"
    spawn github env PYTHONPATH="$ROOT" python3 -m tests.unit.github_standin \
        --port "$GITHUB_PORT" --token "$GITHUB_TOKEN_STANDIN"
}

start_one() {
    local service=$1 pid
    if "answers_$service"; then
        log "$service: already answering, left as is"
        return 0
    fi
    if pid=$(live_pid "$service"); then
        log "$service: pid $pid is starting, waiting for it"
    else
        "start_$service"
        log "$service: started pid $(<"$(pidfile "$service")"), log $(logfile "$service")"
    fi
    wait_until_answers "$service"
    log "$service: answering"
}

stop_one() {
    local service=$1 pid deadline
    if ! pid=$(live_pid "$service"); then
        rm -f "$(pidfile "$service")"
        log "$service: nothing started by this script is running"
        return 0
    fi
    # It may exit on its own between the liveness check and the signal.
    kill -TERM "$pid" 2>/dev/null || log "$service: pid $pid exited before SIGTERM"
    deadline=$((SECONDS + TIMEOUT))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            log "$service: pid $pid ignored SIGTERM for ${TIMEOUT}s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || log "$service: pid $pid exited before SIGKILL"
            break
        fi
        sleep 0.2
    done
    # The service leads its own process group (setsid); end helpers it left behind.
    if kill -0 -- "-$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || log "$service: process group $pid exited before SIGTERM"
    fi
    rm -f "$(pidfile "$service")"
    log "$service: stopped pid $pid"
}

status_one() {
    local service=$1 pid owner="not started by this script"
    if pid=$(live_pid "$service"); then owner="pid $pid, started by this script"; fi
    if "answers_$service"; then
        printf '%-8s answering (%s)\n' "$service" "$owner"
        return 0
    fi
    if [[ -n ${pid:-} ]]; then
        printf '%-8s not answering (%s)\n' "$service" "$owner"
    else
        printf '%-8s stopped\n' "$service"
    fi
    return 3
}

main() {
    (($# >= 1)) || {
        usage >&2
        exit 2
    }
    local action=$1 service rc=0
    shift
    case $action in
        start | stop | status) ;;
        -h | --help | help)
            usage
            exit 0
            ;;
        *)
            usage >&2
            exit 2
            ;;
    esac
    local services=("$@")
    ((${#services[@]})) || services=("${ALL_SERVICES[@]}")
    for service in "${services[@]}"; do
        case $service in
            docker | registry | pypi | redis | github) ;;
            *) die "unknown service '$service'; choose from: ${ALL_SERVICES[*]}" ;;
        esac
    done
    [[ $TIMEOUT =~ ^[0-9]+$ ]] || die "MLC_CI_SERVICE_TIMEOUT must be whole seconds, got '$TIMEOUT'"
    need curl "install it (apt-get install -y curl)"
    need setsid "install util-linux"
    mkdir -p "$STATE_DIR"

    case $action in
        start) for service in "${services[@]}"; do start_one "$service"; done ;;
        stop)
            # Reverse order: the index and registry first, the engine last.
            local i
            for ((i = ${#services[@]} - 1; i >= 0; i--)); do stop_one "${services[i]}"; done
            ;;
        status)
            for service in "${services[@]}"; do status_one "$service" || rc=3; done
            return "$rc"
            ;;
    esac
}

main "$@"
