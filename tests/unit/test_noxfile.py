"""The noxfile: eight sessions, descriptions, stage and runner tags, the Python matrix."""

from __future__ import annotations

import ast
import re

import pytest

from mlc_ci import config
from mlc_ci.sessions import index as index_session
from mlc_ci.sessions import registry
from tests.conftest import load_mini_llm, nox_sessions
from tests.gates import tomllib

pytestmark = pytest.mark.unit

SESSIONS = {
    "lint",
    "unit",
    "integration",
    "docker-build",
    "trivy",
    "wheels-linux",
    "wheels-windows",
    "gpu-smoke",
    "release",
}
STAGES = {"gate", "build", "verify", "release"}


@pytest.fixture(name="listing")
def fixture_listing():
    return nox_sessions(*sorted(STAGES))


def test_the_sessions_with_descriptions_and_tags(listing):
    names = {entry["name"] for entry in listing}
    assert names == SESSIONS
    for entry in listing:
        assert entry["description"], entry["name"]
        assert len(set(entry["tags"]) & STAGES) == 1, entry
        # A platform tag picks the runner; cuda alone: the GPU runner, or no job at all.
        assert set(entry["tags"]) & {"linux", "windows", "cuda"}, entry


def test_unit_runs_once_per_configured_python(listing, root):
    versions = config.load(root / "pipeline.toml", env={}).python.versions
    units = [e for e in listing if e["name"] == "unit"]
    assert sorted(e["python"] for e in units) == sorted(versions)


def test_every_session_has_a_cli_command(listing):
    assert {entry["name"] for entry in listing} == set(registry())


def _session_extras(root, name: str) -> set[str]:
    """The extras the noxfile's session `name` installs (its `_toolkit(session, ...)` call)."""
    tree = ast.parse((root / "noxfile.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name.replace("-", "_"):
            for call in ast.walk(node):
                if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "_toolkit":
                    return {arg.value for arg in call.args[1:] if isinstance(arg, ast.Constant)}
    raise AssertionError(f"noxfile has no _toolkit call in {name}")


def test_the_release_session_installs_the_installers_its_index_rehearsal_runs(root, tmp_path):
    """`nox -s release -- --index-dir DIR` resolves the new tree with uv and pip in a clean
    venv; uv must come with the session, not from whatever PATH nox was started with."""
    mini = load_mini_llm(env={})
    where = index_session.Target(tmp_path / "index", "NEW", "stable")
    steps = index_session._rehearsal(  # pylint: disable=protected-access
        mini, "cpu", where, tmp_path / "venv"
    )
    tools = {step.argv[0] for step in steps if step.argv and "/" not in step.argv[0]}
    assert "uv" in tools
    extras = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    installed = {
        re.split(r"[<>=!~ ;\[]", req, maxsplit=1)[0]
        for extra in _session_extras(root, "release")
        for req in extras[extra]
    }
    assert tools <= installed, tools - installed
