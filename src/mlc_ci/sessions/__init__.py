"""Session registry: every session the CLI and the noxfile know, built or not.

A session `name` lives in module `mlc_ci.sessions.<name with _>` exposing DEFINITION. A session
whose module does not exist yet is registered as pending: its command fails and says so.
"""

from __future__ import annotations

import argparse
import importlib

from mlc_ci.sessions.base import SessionDef

# name -> (description, issue tracking it); the order is the CLI's.
SESSIONS = {
    "lint": ("black, isort, pylint, shellcheck, hadolint, actionlint and zizmor", "#2"),
    "unit": ("unit tests with coverage, one run per Python", "#2"),
    "wheels-linux": ("build, auditwheel-repair and verify the Linux wheel", "#3"),
    "wheels-windows": ("build, delvewheel-repair and verify the Windows wheel", "#5"),
    "docker-build": ("build the builder/development/ci/production images", "#4"),
    "integration": ("tests against built images on a real engine and registry", "#4"),
    "trivy": ("scan an image with trivy and gate on severity", "#8"),
    "release": ("version, checksums, notes and publishing of a release", "#6"),
}


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)


def _load(name: str, description: str, issue: str) -> SessionDef:
    module_name = f"mlc_ci.sessions.{name.replace('-', '_')}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return SessionDef(name, description, _no_arguments, None, issue)
    return module.DEFINITION


def registry() -> dict[str, SessionDef]:
    """All sessions by name; a session without a plan is not built yet."""
    return {name: _load(name, *info) for name, info in SESSIONS.items()}
