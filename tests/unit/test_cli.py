"""The CLI as users run it: one line and a non-zero status for every bad input, no traceback."""

from __future__ import annotations

import io
import json
import subprocess

import pytest

from mlc_ci import cli
from tests.conftest import GIT_IDENTITY, ROOT, assert_one_line_error, run_mlc_ci

pytestmark = pytest.mark.unit


GIT_ENV = {"PATH": "/usr/bin:/bin", **GIT_IDENTITY}


def run_cli(*args, cwd=None, env=None):
    """`python -m mlc_ci ARGS` in a real subprocess (from tmp dirs too, hence cwd)."""
    return run_mlc_ci(*args, cwd=cwd or ROOT, env=env)


def test_config_prints_resolved_json(root):
    proc = run_cli("config", cwd=root, env={"MLC_CI_NETWORK": "none"})
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["image"]["network"] == "none" and "cu130" in data["variants"]


def test_version_is_json(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    for argv in (("init", "-q"), ("commit", "-q", "--allow-empty", "-m", "one")):
        subprocess.run(("git", "-C", str(repo), *argv), check=True, env=GIT_ENV)
    proc = run_cli("version", "--repo", str(repo), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads(proc.stdout)) == {
        "pep440",
        "semver",
        "tag",
        "distance",
        "sha",
        "prerelease",
        "ignored_tags",
    }


@pytest.mark.parametrize(
    ("text", "args", "fragment"),
    [
        ("[project\n", ("config",), "malformed TOML"),
        ("[project]\nsourcee = 'x'\n", ("config",), "unknown key 'project.sourcee'"),
    ],
)
def test_bad_config_files(tmp_path, text, args, fragment):
    (tmp_path / "pipeline.toml").write_text(text)
    assert_one_line_error(run_cli(*args, cwd=tmp_path), fragment)


def test_unknown_variant_one_line(root):
    proc = run_cli("wheels-linux", "--variant", "rocm99", "--dry-run", cwd=root)
    assert_one_line_error(proc, "unknown variant 'rocm99'")


def test_missing_submodule_one_line(make_config, tmp_path):
    path = make_config(source=False)
    (tmp_path / "src-tree").mkdir()
    (tmp_path / ".gitmodules").write_text(
        '[submodule "x"]\n\tpath = src-tree\n\turl = https://example.invalid/x\n', encoding="utf-8"
    )
    proc = run_cli("wheels-linux", "--variant", "cpu", "--config", str(path), cwd=tmp_path)
    assert_one_line_error(proc, "git submodule update --init --recursive")


def test_missing_source_one_line(make_config, tmp_path):
    path = make_config(source=False)
    proc = run_cli("wheels-linux", "--variant", "cpu", "--config", str(path), cwd=tmp_path)
    assert_one_line_error(proc, "does not exist")


def test_plan_prints_the_dry_run(mlc_llm_config):
    out = io.StringIO()
    assert (
        cli.main(
            ["plan", "wheels-linux", "--", "--variant", "cu128", "--config", str(mlc_llm_config)],
            out=out,
        )
        == 0
    )
    text = out.getvalue()
    assert "== wheels-linux-mlc-llm-cu128 (dry run) ==" in text
    assert "--exclude 'libcudart.so.*'" in text and "build mlc-llm-cu128 wheel" in text


def test_lint_plan_and_fix(root):
    out = io.StringIO()
    assert cli.main(["lint", "--dry-run", "--config", str(root / "pipeline.toml")], out=out) == 0
    assert "black --check --diff src tests tools noxfile.py examples" in out.getvalue()
    out = io.StringIO()
    assert (
        cli.main(["plan", "lint", "--fix", "--config", str(root / "pipeline.toml")], out=out) == 0
    )
    assert "$ cd " in out.getvalue() and "isort src tests" in out.getvalue()


def test_output_goes_to_the_stdout_of_the_call(root, monkeypatch):
    """sys.stdout as it is when main() runs, not as it was when cli was imported (a harness
    that swaps and closes its capture stream between tests saw 'I/O operation on closed
    file')."""
    argv = ["lint", "--dry-run", "--config", str(root / "pipeline.toml")]
    first = io.StringIO()
    monkeypatch.setattr("sys.stdout", first)
    assert cli.main(argv) == 0 and "== lint (dry run) ==" in first.getvalue()
    first.close()
    second = io.StringIO()
    monkeypatch.setattr("sys.stdout", second)
    assert cli.main(argv) == 0 and "== lint (dry run) ==" in second.getvalue()


def test_session_runs_and_writes_report(tmp_path, make_config, monkeypatch):
    """A real (tiny) unit session run: a failing pytest target, report written, error line."""
    path = make_config()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLC_CI_REPORTS_DIR", str(tmp_path / "reports"))
    out = io.StringIO()
    code = cli.main(
        ["unit", "--config", str(path), "--python", "9.9", "--", "--co", "-q", "-p", "no:cov"],
        out=out,
    )
    assert code == 1  # tests/unit does not exist here: pytest fails, so does the session
    report = json.loads((tmp_path / "reports" / "unit-9.9.json").read_text())
    assert report["status"] == "failed" and "pytest tests/unit" in report["error"]
    assert "== unit-9.9: failed" in out.getvalue()
