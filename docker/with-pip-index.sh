#!/bin/sh
# Run a command with the optional BuildKit secret `pip_index` exported as PIP_INDEX_URL (and
# UV_DEFAULT_INDEX for uv).
# docker/Dockerfile bind-mounts this file into each RUN that installs from an index, together
# with `--mount=type=secret,id=pip_index`: the URL (it may carry a token) lives only in the
# environment of that one process, never in a layer, the image config or the build cache.
set -eu
if [ -s /run/secrets/pip_index ]; then
    PIP_INDEX_URL=$(cat /run/secrets/pip_index)
    # uv (the wheel session's default build frontend) reads its own variable.
    UV_DEFAULT_INDEX=$PIP_INDEX_URL
    export PIP_INDEX_URL UV_DEFAULT_INDEX
fi
# A CA from the CA_BUNDLE build argument is in the system bundle; point pip at that bundle so
# every pip version trusts it (older pips otherwise use their vendored certifi list).
if [ -f /usr/local/share/ca-certificates/mlc-ci-extra.crt ]; then
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
    # uv trusts its bundled roots unless SSL_CERT_FILE names another bundle.
    SSL_CERT_FILE=$PIP_CERT
    export PIP_CERT SSL_CERT_FILE
fi
exec "$@"
