"""A newcomer's first hour (#36): the mistakes a first run makes get one line naming the fix,
and what a newcomer's checkout holds (a non-UTF-8 path, a second run at once) just works."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from mlc_ci import cli, lock
from tests.conftest import (
    GIT_IDENTITY,
    MINIMAL,
    ROOT,
    TOOLKIT_PATH,
    assert_one_line_error,
    run_mlc_ci,
)

pytestmark = pytest.mark.unit

GIT_ENV = {**os.environ, **GIT_IDENTITY}


def git(repo: Path, *argv: str) -> None:
    """Run git in `repo` (real repositories, as users have them)."""
    subprocess.run(("git", "-C", str(repo), *argv), check=True, capture_output=True, env=GIT_ENV)


def checkout(repo: Path, version_rule: str = "pyproject") -> Path:
    """A git checkout whose pipeline.toml sits in sub/ beside its source tree; its path."""
    sub = repo / "sub"
    (sub / "src-tree").mkdir(parents=True)
    (sub / "pipeline.toml").write_text(
        MINIMAL.replace('version = "pyproject"', f'version = "{version_rule}"'), encoding="utf-8"
    )
    (sub / "src-tree" / "CMakeLists.txt").write_text(
        "project(demo)\ninclude(config.cmake OPTIONAL)\n", encoding="utf-8"
    )
    (sub / "src-tree" / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\n\n[project]\nname = "demo"\nversion = "1.0"\n',
        encoding="utf-8",
    )
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "one")
    git(repo, "tag", "v1.0.0")
    return sub / "pipeline.toml"


def test_an_empty_config_flag_is_refused_not_replaced_by_pipeline_toml():
    # From the root, where ./pipeline.toml exists and was silently loaded instead.
    proc = run_mlc_ci("config", "--config", "", cwd=ROOT)
    line = assert_one_line_error(proc, "--config is empty")
    assert "leave --config out" in line and "pipeline.toml" in line
    assert_one_line_error(run_mlc_ci("wheels-linux", "--dry-run", "--config", " "), "is empty")


def test_an_empty_mlc_ci_config_means_unset(tmp_path):
    (tmp_path / "pipeline.toml").write_text(MINIMAL, encoding="utf-8")
    for value in ("", "  "):
        proc = run_mlc_ci("config", cwd=tmp_path, env={"MLC_CI_CONFIG": value})
        assert proc.returncode == 0, proc.stderr
        assert str(tmp_path / "pipeline.toml") in proc.stdout


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pyproject.toml", '[project]\nname = "x"\nsource = "."\n'),  # by its name
        ("build.toml", '[build-system]\nrequires = []\n[project]\nname = "x"\n'),
        ("x.toml", '[project]\nname = "x"\nversion = "1"\ndependencies = []\n'),  # PEP 621
    ],
)
def test_a_pyproject_toml_passed_as_config_is_named_for_what_it_is(tmp_path, name, text):
    (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "pipeline.toml").write_text(MINIMAL, encoding="utf-8")
    proc = run_mlc_ci("config", "--config", str(tmp_path / name), cwd=tmp_path)
    line = assert_one_line_error(proc, "not a pipeline.toml", "[project].source")
    assert str(tmp_path / "pipeline.toml") in line  # the one beside it, to pass instead
    assert "remove it" not in line


def test_the_examples_pyproject_points_at_the_examples_pipeline():
    proc = run_mlc_ci("config", "--config", "examples/mini-llm/pyproject.toml", cwd=ROOT)
    assert_one_line_error(proc, "pyproject.toml", str(ROOT / "examples/mini-llm/pipeline.toml"))


def test_version_refuses_a_shallow_clone_as_the_wheel_sessions_do(tmp_path, monkeypatch):
    # Set by tests/conftest.py when this checkout itself is shallow; the rule is tested here.
    monkeypatch.delenv("MLC_CI_SOURCE_VERSION", raising=False)
    checkout(tmp_path / "full")
    git(tmp_path / "full", "commit", "-q", "--allow-empty", "-m", "two")
    shallow = tmp_path / "shallow"
    url = (tmp_path / "full").as_uri()
    subprocess.run(("git", "clone", "-q", "--depth", "1", url, str(shallow)), check=True)
    proc = run_mlc_ci("version", "--repo", str(shallow), cwd=tmp_path)
    assert_one_line_error(proc, "shallow clone", "git fetch --unshallow --tags", "fetch-depth: 0")
    assert proc.stdout == ""
    # The wheel sessions give the same refusal for the same source.
    config = shallow / "sub" / "pipeline.toml"
    config.write_text(config.read_text().replace('"pyproject"', '"git"'), encoding="utf-8")
    proc = run_mlc_ci("plan", "wheels-linux", "--", "--config", str(config), cwd=shallow)
    assert_one_line_error(proc, "shallow clone", "git fetch --unshallow --tags")
    proc = run_mlc_ci("version", "--repo", str(tmp_path / "full"), cwd=tmp_path)
    assert proc.returncode == 0 and '"distance": 1' in proc.stdout, proc.stderr


@pytest.mark.parametrize("args", [["wheels-linux"], ["wheels-linux", "--dry-run"], ["plan"]])
def test_a_session_from_a_subdirectory_is_refused_naming_the_root(
    tmp_path, monkeypatch, capsys, args
):
    checkout(tmp_path)
    monkeypatch.chdir(tmp_path / "sub")
    argv = [*args, "--config", "pipeline.toml"]
    if args == ["plan"]:
        argv = ["plan", "wheels-linux", "--", "--config", "pipeline.toml"]
    assert cli.main(argv, out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mlc-ci: error: ")
    assert f"cd {tmp_path}" in err and "--config sub/pipeline.toml" in err
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["pipeline.toml", "src-tree"]


def test_from_the_root_the_same_session_plans_and_config_reads_anywhere(
    tmp_path, monkeypatch, capsys
):
    checkout(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["plan", "wheels-linux", "--", "--config", "sub/pipeline.toml"]) == 0
    monkeypatch.chdir(tmp_path / "sub")
    assert cli.main(["config", "--config", "pipeline.toml"]) == 0  # reads only: allowed
    del capsys


def test_a_checkout_path_that_is_not_utf8_plans(tmp_path):
    repo = tmp_path / os.fsdecode(b"bad\xff") / "repo"
    config = checkout(repo, version_rule="git")  # the version read through git, from there
    # A strict UTF-8 stdout (LANG=en_US.UTF-8) must print the path, not fail on it.
    env = {**os.environ, "PYTHONPATH": TOOLKIT_PATH, "PYTHONIOENCODING": "utf-8:strict"}
    for args in (("plan", "wheels-linux", "--", "--config", str(config)), ("version",)):
        proc = subprocess.run(
            (sys.executable, "-m", "mlc_ci", *args),
            cwd=repo,
            env=env,
            capture_output=True,
            check=False,
        )
        assert proc.returncode == 0 and not proc.stderr, proc.stderr
        assert os.fsencode(repo) in proc.stdout or b'"tag": "v1.0.0"' in proc.stdout


HOLDER = """
import sys
from pathlib import Path
from mlc_ci import lock
with lock.held("wheels-linux", ["holder", "run"]):
    print("held", flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def _holder(cwd: Path) -> Iterator[subprocess.Popen]:
    """A second process that holds wheels-linux's lock in `cwd` until its stdin closes."""
    env = {**os.environ, "PYTHONPATH": TOOLKIT_PATH}
    with subprocess.Popen(
        (sys.executable, "-c", HOLDER),
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        yield holder


def test_a_second_run_of_a_session_is_refused_while_one_holds_the_checkout(make_config, tmp_path):
    config = make_config()
    with _holder(tmp_path) as holder:
        assert holder.stdin is not None
        proc = run_mlc_ci("wheels-linux", "--config", str(config), cwd=tmp_path)
        assert_one_line_error(proc, f"pid {holder.pid}: holder run", "another `wheels-linux` run")
        assert not (tmp_path / "dist").exists() and not (tmp_path / "reports").exists()
        # A dry run writes nothing, so it takes no lock; another session has its own.
        assert run_mlc_ci("plan", "wheels-linux", cwd=tmp_path).returncode == 0
        holder.stdin.close()
        assert holder.wait(timeout=30) == 0
    # Gone with its process: the lock is free, and its file removed.
    with lock.held("wheels-linux", ["again"], root=tmp_path) as path:
        assert path.read_text(encoding="utf-8") == f"pid {os.getpid()}: again\n"
    assert not path.exists()


def test_a_killed_holder_frees_the_lock(tmp_path):
    with _holder(tmp_path) as holder:
        holder.kill()
        holder.wait(timeout=30)
    with lock.held("wheels-linux", ["after"], root=tmp_path):
        pass
