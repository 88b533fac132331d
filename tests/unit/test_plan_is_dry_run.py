"""For every session, `plan S -- ARGS` and `S --dry-run ARGS` print the same plan, and neither
writes a file: no report, nothing in dist/, no edit of the source tree."""

from __future__ import annotations

import io
import subprocess

import pytest

from mlc_ci import cli
from mlc_ci.sessions import registry
from tests.conftest import ROOT

CONFIG = ["--config", "examples/mini-llm/pipeline.toml"]
SESSIONS = {
    "lint": [],
    "unit": [],
    "integration": ["--image", "production=mlc-ci-test/none:1"],
    "docker-build": ["all"],
    "trivy": ["--image", "mlc-ci-test/none:1"],
    "wheels-linux": ["--variant", "cpu", "--check-reproducible"],
    "wheels-windows": ["--cross", "mingw"],
    "gpu-smoke": ["--dist", "{tmp}/dist"],
    "release": ["--tag", "v0.1.0"],
}


def tree_state() -> tuple[str, list[str]]:
    """git's view of the checkout (tracked and untracked files) and what dist/ holds."""
    status = subprocess.run(
        ("git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=all"),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    dist = sorted(str(p) for p in (ROOT / "dist").glob("*")) if (ROOT / "dist").is_dir() else []
    return status, dist


def test_every_session_is_covered():
    assert set(SESSIONS) == set(registry())


@pytest.mark.parametrize("session", sorted(SESSIONS))
def test_plan_prints_the_dry_run_and_writes_nothing(session, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("MLC_CI_REPORTS_DIR", str(tmp_path / "reports"))
    (tmp_path / "dist").mkdir()  # gpu-smoke's: a CUDA wheel of the build stage
    (tmp_path / "dist" / "mini_llm_cu130-0.1.0-py3-none-manylinux_2_31_x86_64.whl").touch()
    (tmp_path / "dist" / "tiny_runtime-0.1.0-py3-none-manylinux_2_24_x86_64.whl").touch()
    args = [a.replace("{tmp}", str(tmp_path)) for a in SESSIONS[session]]
    before = tree_state()
    results = []
    for argv in (
        ["plan", session, "--", *CONFIG, *args],
        [session, "--dry-run", *CONFIG, *args],
    ):
        out = io.StringIO()
        status = cli.main(argv, out=out)
        results.append((status, out.getvalue(), capsys.readouterr().err))
    assert results[0] == results[1]
    assert results[0][0] == 0, results[0][2]
    assert "(dry run)" in results[0][1]
    assert not (tmp_path / "reports").exists()  # no report, not even a failure record
    assert tree_state() == before
