"""Session registry: every session the CLI and the noxfile know.

A session `name` lives in module `mlc_ci.sessions.<name with _>`, which exposes DEFINITION.
"""

from __future__ import annotations

import importlib

from mlc_ci.sessions.base import SessionDef

# The order is the CLI's; tests/unit/test_noxfile.py keeps it equal to the noxfile's sessions.
SESSIONS = (
    "lint",
    "unit",
    "wheels-linux",
    "wheels-windows",
    "docker-build",
    "integration",
    "trivy",
    "gpu-smoke",
    "release",
)


def registry() -> dict[str, SessionDef]:
    """All sessions by name."""
    modules = {
        name: importlib.import_module(f"mlc_ci.sessions.{name.replace('-', '_')}")
        for name in SESSIONS
    }
    return {name: module.DEFINITION for name, module in modules.items()}
