"""Session registry: every session the CLI and the noxfile know, registered here once.

A session is its module's DEFINITION (name, help, arguments, plan); adding one is its module,
its plan module, a line here, its noxfile function and its docs.
"""

from __future__ import annotations

from mlc_ci.sessions import (
    docker_build,
    gpu_smoke,
    integration,
    lint,
    release,
    trivy,
    unit,
    wheels_linux,
    wheels_windows,
)
from mlc_ci.sessions.base import SessionDef

# The order is the CLI's; tests/unit/test_noxfile.py keeps it equal to the noxfile's sessions.
SESSIONS: dict[str, SessionDef] = {
    definition.name: definition
    for definition in (
        lint.DEFINITION,
        unit.DEFINITION,
        wheels_linux.DEFINITION,
        wheels_windows.DEFINITION,
        docker_build.DEFINITION,
        integration.DEFINITION,
        trivy.DEFINITION,
        gpu_smoke.DEFINITION,
        release.DEFINITION,
    )
}


def registry() -> dict[str, SessionDef]:
    """All sessions by name (a copy: callers may not change the registry)."""
    return dict(SESSIONS)
