"""Shared fixtures and helpers: the repository root, small pipeline.toml files written to
tmp_path, the real CLI in a subprocess and the noxfile's session listing."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping

import pytest

import mlc_ci
from mlc_ci import config

# The gates (markers from directories, skips that fail in CI) are hooks of this conftest.
from tests.gates import (  # noqa: F401  pylint: disable=unused-import
    pytest_collection_modifyitems,
    pytest_sessionfinish,
    pytest_terminal_summary,
)

ROOT = Path(__file__).resolve().parent.parent
# The mlc_ci these tests import; the CLI subprocesses run the same code.
TOOLKIT_PATH = str(Path(mlc_ci.__file__).resolve().parents[1])

# Who commits in the git repositories tests make for themselves (git refuses a commit without).
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "mlc-ci tests",
    "GIT_AUTHOR_EMAIL": "tests@mlc-ci.invalid",
    "GIT_COMMITTER_NAME": "mlc-ci tests",
    "GIT_COMMITTER_EMAIL": "tests@mlc-ci.invalid",
}


def git_in(repo: Path, *argv: str) -> None:
    """git in `repo` as the tests' identity (local submodule clones allowed)."""
    subprocess.run(
        ("git", "-c", "protocol.file.allow=always", "-C", str(repo), *argv),
        check=True,
        capture_output=True,
        env={**os.environ, **GIT_IDENTITY},
    )


def pin_engine(engine: Path, mono: Path) -> None:
    """Make `engine` (a directory of files) a repository at v0.26.dev0 + 4 (0.26.dev4, as
    MLC-LLM's 79d603f0 is) and pin it in a new repository `mono` as 3rdparty/engine."""
    git_in(engine, "init", "-q", "-b", "main")
    git_in(engine, "add", ".")
    git_in(engine, "commit", "-q", "-m", "engine")
    git_in(engine, "tag", "v0.26.dev0")
    for number in range(4):
        git_in(engine, "commit", "-q", "--allow-empty", "-m", f"c{number}")
    mono.mkdir(exist_ok=True)
    git_in(mono, "init", "-q", "-b", "main")
    git_in(mono, "submodule", "add", "-q", str(engine), "3rdparty/engine")


# The test trees are plain directories, no git checkouts: they build the version they declare
# (test_source_version.py covers the git rule on real repositories).
MINIMAL = """
[project]
name = "demo"
source = "src-tree"
package = "demo"
cli = "demo"
distribution = "demo"
version = "pyproject"

[variants.cpu]
distribution = "demo-cpu"
config = { USE_CUDA = false }
"""


@pytest.fixture(autouse=True)
def _no_runner_event(monkeypatch) -> None:
    """A test sets the GitHub variables it needs; the runner's own (a pull request's event and
    ref, the repository) never change what the code under test does, in-process or in the CLI
    subprocesses the tests start."""
    for name in list(os.environ):
        if name.startswith(("GITHUB_", "RUNNER_")):
            monkeypatch.delenv(name)
    # `nox -s mutants`: while mutmut maps tests to functions ("stats"), a CLI subprocess started
    # elsewhere cannot record (mutmut reads its settings from the current directory), so it runs
    # the code unmutated; in-process calls are still recorded. A mutant's name stays: the
    # subprocesses then run that mutant too.
    if os.environ.get("MUTANT_UNDER_TEST") == "stats":
        monkeypatch.delenv("MUTANT_UNDER_TEST")


# A Docker CLI that is not there: what a unit test plans never depends on the host's CLI (a
# first `docker` on PATH without buildx refuses BuildKit builds; none at all falls back).
NO_DOCKER = "/nonexistent/mlc-ci-unit/docker"


@functools.cache
def _shallow_checkout() -> bool:
    """True in a `git clone --depth 1` of this repository (actions/checkout's default)."""
    return (
        Path(
            subprocess.run(
                ("git", "-C", str(ROOT), "rev-parse", "--git-dir"),
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            or ".git"
        )
        / "shallow"
    ).is_file()


def load_mini_llm(env: Mapping[str, str]) -> Any:
    """examples/mini-llm's config as a plan of a unit test reads it: in a shallow clone, with
    the version its pyproject.toml declares (git cannot give one there, and the sessions refuse
    to guess; test_source_version.py checks the git rule on repositories of its own)."""
    loaded = config.load(ROOT / "examples" / "mini-llm" / "pipeline.toml", env=env)
    if not _shallow_checkout():
        return loaded
    return dataclasses.replace(
        loaded, project=dataclasses.replace(loaded.project, version="pyproject")
    )


@pytest.fixture(autouse=True)
def _unit_tests_see_no_host(request, monkeypatch) -> None:
    """A unit test's outcome never depends on the host: its Docker CLI (unit tests plan against
    one that is not there unless they name one), whether CI is set (with CI, a wheel plan needs
    every [python].versions interpreter on PATH; tests that check that set CI themselves), the
    workflow's FORCE_COLOR, or
    the depth of this checkout (in a shallow clone examples/mini-llm's version cannot come from
    git, so the plans take a fixed one; test_source_version.py checks the git rule on
    repositories of its own). The integration tests use the host, as the sessions do."""
    if "unit" not in Path(str(request.node.path)).relative_to(ROOT / "tests").parts[:1]:
        return
    monkeypatch.setenv("MLC_CI_DOCKER", NO_DOCKER)
    monkeypatch.delenv("CI", raising=False)
    # The workflow sets FORCE_COLOR for readable logs; tests that read a tool's output (pytest,
    # nox) read it plain, as a terminal-less run prints it.
    for name in ("FORCE_COLOR", "PY_COLORS", "CLICOLOR_FORCE"):
        monkeypatch.delenv(name, raising=False)
    if _shallow_checkout():
        monkeypatch.setenv("MLC_CI_SOURCE_VERSION", "0.0.0.dev0")


@pytest.fixture(name="root")
def fixture_root() -> Path:
    """The mlc-ci repository root."""
    return ROOT


@pytest.fixture(name="make_config")
def fixture_make_config(tmp_path: Path):
    """Write a pipeline.toml (MINIMAL unless given) plus a source tree; return its path."""

    def make(text: str = MINIMAL, source: bool = True) -> Path:
        path = tmp_path / "pipeline.toml"
        path.write_text(text, encoding="utf-8")
        if source:
            tree = tmp_path / "src-tree"
            tree.mkdir(exist_ok=True)
            (tree / "CMakeLists.txt").write_text(
                "project(demo)\ninclude(config.cmake OPTIONAL)\n", encoding="utf-8"
            )
            (tree / "pyproject.toml").write_text(
                '[build-system]\nrequires = []\n\n[project]\nname = "demo"\nversion = "1.0"\n',
                encoding="utf-8",
            )
        return path

    return make


@pytest.fixture(name="mlc_llm_config", scope="session")
def fixture_mlc_llm_config(tmp_path_factory) -> Path:
    """The root pipeline.toml beside a stand-in of its MLC-LLM submodule (a one-commit git
    repository of the build shape): a plan of the root configuration needs a checked-out
    source, which a checkout without submodules (the unit gate's) does not have."""
    base = tmp_path_factory.mktemp("mlc-llm-root")
    (base / "pipeline.toml").write_bytes((ROOT / "pipeline.toml").read_bytes())
    source = base / "3rdparty" / "mlc-llm"
    source.mkdir(parents=True)
    (source / "CMakeLists.txt").write_text("project(mlc_llm)\ninclude(config.cmake)\n")
    (source / "pyproject.toml").write_text('[project]\nname = "mlc-llm"\nversion = "0.1.0"\n')
    git = ("git", "-c", "user.name=mlc-ci", "-c", "user.email=mlc-ci@example.invalid")
    for argv in (("init", "-q"), ("add", "."), ("commit", "-q", "-m", "stand-in")):
        subprocess.run((*git, "-C", str(source), *argv), check=True, capture_output=True)
    return base / "pipeline.toml"


def run_mlc_ci(
    *args: str,
    cwd: Path | str = ROOT,
    env: Mapping[str, str | None] | None = None,
    stdin: str | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess:
    """`python -m mlc_ci ARGS` in a real subprocess, as a user runs it.

    The child gets this process's environment updated with `env` (None removes a variable).
    """
    full = dict(os.environ)
    full["PYTHONPATH"] = os.pathsep.join(filter(None, (TOOLKIT_PATH, full.get("PYTHONPATH"))))
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    return subprocess.run(
        (sys.executable, "-m", "mlc_ci", *args),
        cwd=cwd,
        env=full,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def explain(proc: Any) -> str:
    """The end of a finished run's output, for assertion messages."""
    return (
        f"exit {proc.returncode}\n--- stdout (end)\n{proc.stdout[-4000:]}\n"
        f"--- stderr (end)\n{proc.stderr[-2000:]}"
    )


def assert_one_line_error(proc: Any, *fragments: str) -> str:
    """The run failed with exactly one `mlc-ci: error:` line on stderr holding `fragments`."""
    assert proc.returncode != 0, explain(proc)
    assert "Traceback" not in proc.stderr + proc.stdout, explain(proc)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, explain(proc)
    assert lines[0].startswith("mlc-ci: error: "), explain(proc)
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in: {lines[0]}"
    return lines[0]


@functools.lru_cache(maxsize=None)
def nox_listing(*tags: str) -> str:
    """`nox --list --json [-t TAGS]` of the repository's noxfile, as printed."""
    argv = [sys.executable, "-m", "nox", "--list", "--json", *(("-t", *tags) if tags else ())]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True).stdout


def nox_sessions(*tags: str) -> list[dict[str, Any]]:
    """The parsed listing (a fresh copy: callers may change it)."""
    return json.loads(nox_listing(*tags))
