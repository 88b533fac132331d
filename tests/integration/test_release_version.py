"""Versions from git, end to end: a scratch clone of this repository tagged v0.2.0 builds
mini-llm 0.2.0 wheels, and the release (without --publish: nothing published) accepts them for that
tag and refuses them for another in one line that names both."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import explain
from tests.integration.cli_runner import in_clone as mlc_ci
from tests.integration.cli_runner import scratch_clone


@pytest.fixture(name="tagged", scope="module")
def fixture_tagged(tmp_path_factory) -> Path:
    """A clone of HEAD tagged v0.2.0, with mini-llm's cpu wheel built in it."""
    work = tmp_path_factory.mktemp("tagged") / "repo"
    scratch_clone(work)
    subprocess.run(("git", "-C", str(work), "tag", "v0.2.0"), check=True)
    built = mlc_ci(work, "wheels-linux", "--variant", "cpu")
    assert built.returncode == 0, explain(built)
    assert "version 0.2.0 from git (v0.2.0 + 0," in built.stdout
    return work


def test_the_tag_gives_the_wheel_its_version(tagged):
    # mini-llm at the tag's version, its paired runtime at its own.
    names = sorted(wheel.name for wheel in (tagged / "dist").glob("*.whl"))
    assert [name.split("-py3-")[0] for name in names] == [
        "mini_llm_cpu-0.2.0",
        "tiny_runtime-0.1.0",
    ]
    pyproject = tagged / "examples" / "mini-llm" / "pyproject.toml"
    assert 'version = "0.1.0"' in pyproject.read_text()  # the stamp was undone


def test_the_release_accepts_the_tag_it_was_built_at(tagged):
    released = mlc_ci(tagged, "release", "--tag", "v0.2.0")  # no --publish: nothing is published
    assert released.returncode == 0, explain(released)
    sums = (tagged / "dist" / "SHA256SUMS").read_text()
    assert "mini_llm_cpu-0.2.0-" in sums and "tiny_runtime-0.1.0-" in sums  # both ship


def test_another_tag_is_refused_naming_both_versions(tagged):
    refused = mlc_ci(tagged, "release", "--tag", "v0.3.0")
    assert refused.returncode != 0
    (line,) = [l for l in refused.stderr.splitlines() if l.startswith("mlc-ci: error:")]
    assert "is version 0.2.0, the tag says 0.3.0" in line, explain(refused)
