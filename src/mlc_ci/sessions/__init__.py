"""Session registry: every session the CLI and the noxfile know, built or not."""

from __future__ import annotations

import argparse

from mlc_ci.sessions import lint, unit, wheels_linux
from mlc_ci.sessions.base import SessionDef

# Sessions whose issue is still open: their command fails and says so.
PENDING = {
    "integration": ("tests against built images on a real engine and registry", "#4"),
    "docker-build": ("build the builder/development/ci/production images", "#4"),
    "trivy": ("scan an image with trivy and gate on severity", "#8"),
    "wheels-windows": ("build, delvewheel-repair and verify the Windows wheel", "#5"),
    "release": ("version, checksums, notes and publishing of a release", "#6"),
}


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)


def registry() -> dict[str, SessionDef]:
    """All sessions by name; a session without a plan is not built yet."""
    defs = [lint.DEFINITION, unit.DEFINITION, wheels_linux.DEFINITION]
    defs += [SessionDef(n, d, _no_arguments, None, i) for n, (d, i) in PENDING.items()]
    return {d.name: d for d in defs}
