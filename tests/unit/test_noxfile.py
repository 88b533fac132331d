"""The noxfile: eight sessions, descriptions, stage and runner tags, the Python matrix."""

from __future__ import annotations

import pytest

from mlc_ci import config
from mlc_ci.sessions import registry
from tests.conftest import nox_sessions

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
