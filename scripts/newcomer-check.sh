#!/usr/bin/env bash
# A newcomer's host, scripted: the unit sessions of the README's test command (`nox -s lint
# unit`) with one Python of the matrix missing from PATH, on a checkout as GitHub's
# actions/checkout makes it (a shallow clone of HEAD, CI=true) and with the first `docker` on
# PATH as the host has it (MLC_CI_DOCKER unset). The missing one's session must fail in one line
# naming the interpreter, with the install command in the noxfile's note and no download trace
# from uv. (The green half, lint and every unit session in depth-1 clones with CI=true and the
# runner's own docker, is the pull-request rehearsal's gate; see README, "Running the tests".)
#
# Usage: scripts/newcomer-check.sh [PYTHON_VERSION]   (default 3.12: the Python kept on PATH;
#        its python3.X must be on PATH)
#
# Environment:
#   NOX   the nox to run (nox)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NOX=${NOX:-nox}
VERSION=${1:-3.12}
WORK=

log() { printf 'newcomer-check: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# PATH without the directories that hold an interpreter of the unit matrix other than $1 (and
# without pyenv's shims, which would find any of them). /usr/bin and /bin stay: the system's own
# Python is there on a hosted runner too.
path_with_only() {
    local keep=$1 dir result=
    local -a dirs
    IFS=: read -r -a dirs <<<"$PATH"
    for dir in "${dirs[@]}"; do
        [[ $dir == *"/shims" ]] && continue
        if [[ $dir == /usr/bin || $dir == /bin ]]; then
            result=${result:+$result:}$dir
            continue
        fi
        local other=
        for minor in 3.10 3.11 3.12 3.13; do
            if [[ $minor != "$keep" && -x $dir/python$minor ]]; then other=$minor; fi
        done
        [[ -z $other ]] && result=${result:+$result:}$dir
    done
    printf '%s' "$result"
}

main() {
    command -v "$NOX" >/dev/null 2>&1 || die "'$NOX' not found; pip install nox or set NOX"
    command -v "python$VERSION" >/dev/null 2>&1 ||
        die "python$VERSION is not on PATH; install it (pyenv install $VERSION) or pass another version"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/mlc-ci-newcomer.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
    git clone -q --depth 1 "file://$ROOT" "$WORK/repo"
    cd "$WORK/repo"
    [[ -f .git/shallow ]] || die "the clone of $ROOT is not shallow"
    log "first docker on PATH: $(command -v docker || echo none)"

    local only missing
    only=$(path_with_only "$VERSION")
    PATH=$only command -v "python$VERSION" >/dev/null || die "python$VERSION is lost from the narrowed PATH"

    missing=
    for minor in 3.13 3.10 3.11 3.12; do
        if [[ -z $missing ]] && ! PATH=$only command -v "python$minor" >/dev/null; then
            missing=$minor
        fi
    done
    [[ -n $missing ]] || die "every unit-matrix Python is on the system PATH; nothing to check missing"
    log "nox -s unit-$missing without python$missing on PATH"
    local out status=0
    out=$(env -u MLC_CI_DOCKER PATH="$only" CI=true "$NOX" -s "unit-$missing" 2>&1) || status=$?
    printf '%s\n' "$out" | sed 's/^/    /' >&2
    ((status != 0)) || die "unit-$missing passed without python$missing"
    grep -q "Python interpreter $missing not found" <<<"$out" ||
        die "no line names the missing interpreter $missing"
    grep -Eq "pyenv install [0-9. ]*$missing" <<<"$out" ||
        die "no line says how to install Python $missing"
    if grep -Eqi 'failed to download|dns error|python-build-standalone' <<<"$out"; then
        die "uv tried to download Python $missing"
    fi
    log "passed: a missing Python of the unit matrix is one line, with no download"
}

main "$@"
