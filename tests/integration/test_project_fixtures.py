"""Real wheels-linux builds of two small scikit-build-core projects (tests/fixtures/projects/):
define-demo takes its per-variant option as a CMake definition from pipeline.toml, native-demo
compiles with -march=native unless told otherwise. Both build in one checkout, with one reports
directory, and the first project's release still accepts its own wheel. About 20 s on 2 cores."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, explain
from tests.integration.cli_runner import run_cli

pytestmark = pytest.mark.integration

PROJECTS = ROOT / "tests" / "fixtures" / "projects"
# The fixtures' [python].versions is 3.12; the session's own interpreter is the one smoke.
ENV = {"MLC_CI_SMOKE_PYTHONS": "current"}


def build(project: str, variant: str, work: Path):
    """wheels-linux of a fixture's variant, its wheel into work/dist-<project>."""
    config = PROJECTS / project / "pipeline.toml"
    out = work / f"dist-{project}"
    argv = ("wheels-linux", "--config", str(config), "--variant", variant, "--out", str(out))
    return run_cli(*argv, reports=work / "reports", env=ENV, timeout=600)


def report(work: Path, project: str, variant: str) -> dict:
    """The wheel report of one project's variant."""
    return json.loads((work / "reports" / f"wheels-linux-{project}-{variant}.json").read_text())


@pytest.fixture(name="work", scope="module")
def fixture_work(tmp_path_factory) -> Path:
    """One reports directory for every build of this module."""
    return tmp_path_factory.mktemp("fixtures")


def test_cmake_define_reaches_the_build(work):
    # cpu's smoke fails unless the library was compiled with DEMO_FAST on; slow's unless off.
    for variant in ("cpu", "slow"):
        built = build("define-demo", variant, work)
        assert built.returncode == 0, built.explain()
    assert report(work, "define-demo", "cpu")["data"]["cmake_define"] == ["-DDEMO_FAST=ON"]
    assert report(work, "define-demo", "slow")["data"]["cmake_define"] == []


def test_host_codegen_fails_verification_until_pipeline_toml_turns_it_off(work):
    tuned = build("native-demo", "host", work)
    assert tuned.returncode != 0
    error = tuned.stderr.strip().splitlines()[-1]
    assert error.startswith("mlc-ci: error:") and "-march=native" in error
    assert "src/native_demo.c (target native_demo)" in error and "cmake_define" in error
    assert not list((work / "dist-native-demo").glob("native_demo_host-*.whl"))
    portable = build("native-demo", "cpu", work)
    assert portable.returncode == 0, portable.explain()
    [wheel] = report(work, "native-demo", "cpu")["artifacts"]
    assert wheel["details"]["host_codegen"] == {"allowed": False, "checked": True, "found": []}


def test_two_projects_keep_their_reports_and_the_first_releases(work, tmp_path):
    for project in ("define-demo", "native-demo"):
        if not (work / "reports" / f"wheels-linux-{project}-cpu.json").is_file():
            assert build(project, "cpu", work).returncode == 0
        assert report(work, project, "cpu")["status"] == "passed"
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ("git", "-c", "user.name=mlc-ci", "-c", "user.email=mlc-ci@example.invalid")
    for argv in (("init", "-q"), ("commit", "-q", "--allow-empty", "-m", "v"), ("tag", "v0.1.0")):
        subprocess.run((*git, "-C", str(repo), *argv), check=True, capture_output=True)
    dist = work / "dist-define-demo"
    config = PROJECTS / "define-demo" / "pipeline.toml"
    argv = ("release", "--config", str(config), "--repo", str(repo), "--tag", "v0.1.0")
    released = run_cli(
        *argv, "--dist", str(dist), "--reports", str(work / "reports"), reports=tmp_path / "out"
    )
    assert released.returncode == 0, explain(released)
    sums = (dist / "SHA256SUMS").read_text()
    assert "define_demo_cpu-0.1.0-" in sums and "native_demo" not in sums
