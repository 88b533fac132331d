"""Versions the way the project's backend computes them, and the build time of a source without
git: the rule chosen from pyproject.toml, PKG-INFO, the epoch's origin (pure), then the probe on
real source trees (an unpacked sdist, a plain directory, a git checkout). The backend's own
reading (an isolated environment from the package index) runs in
tests/integration/test_backend_versions.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from mlc_ci import config, host
from mlc_ci.errors import PipelineError
from mlc_ci.plan import version_rules
from mlc_ci.plan.version_rules import Declared
from mlc_ci.sessions import wheel_steps
from tests.conftest import MINIMAL

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "projects"
SCM = (FIXTURES / "scm-version" / "pyproject.toml").read_text(encoding="utf-8")
REGEX = (FIXTURES / "regex-version" / "pyproject.toml").read_text(encoding="utf-8")
STATIC = '[project]\nname = "demo"\nversion = "0.1.0"\n'
SETUPTOOLS = """
[build-system]
build-backend = "setuptools.build_meta"
[project]
name = "demo"
dynamic = ["version", "readme"]
[tool.setuptools_scm]
"""
PKG_INFO = "Metadata-Version: 2.1\nName: scm-demo\nVersion: 1.2.3\nSummary: x\n\nlong text\n"
WHERE = "src/pyproject.toml"


def test_what_a_pyproject_declares():
    assert version_rules.declared(STATIC) == Declared("0.1.0", False, "")
    assert version_rules.declared(SCM) == Declared(
        "", True, "scikit_build_core.metadata.setuptools_scm"
    )
    assert version_rules.declared(REGEX).provider == "scikit_build_core.metadata.regex"
    assert version_rules.declared(SETUPTOOLS) == Declared("", True, "setuptools_scm")
    other = '[build-system]\nbuild-backend = "hatchling.build"\n[project]\ndynamic = ["version"]\n'
    assert "hatchling.build" in version_rules.declared(other).provider
    with pytest.raises(PipelineError, match="src/pyproject.toml is not valid TOML"):
        version_rules.declared("[project\n", WHERE)


def test_auto_asks_the_backend_for_a_dynamic_version_or_an_sdist_else_git():
    dynamic, static = version_rules.declared(SCM), version_rules.declared(STATIC)
    assert version_rules.choose_rule("auto", dynamic, False, WHERE) == "backend"
    assert version_rules.choose_rule("auto", static, True, WHERE) == "backend"
    assert version_rules.choose_rule("auto", static, False, WHERE) == "git"
    for rule in ("git", "pyproject", "backend"):
        assert version_rules.choose_rule(rule, static, False, WHERE) == rule
    assert version_rules.choose_rule("backend", dynamic, False, WHERE) == "backend"


@pytest.mark.parametrize("rule", ["git", "pyproject"])
def test_a_static_rule_for_a_dynamic_version_names_the_backend_rule(rule):
    with pytest.raises(PipelineError) as caught:
        version_rules.choose_rule(rule, version_rules.declared(REGEX), False, WHERE)
    said = str(caught.value)
    assert f'[project].version = "{rule}"' in said and WHERE in said
    assert "scikit_build_core.metadata.regex" in said
    assert 'set [project].version = "backend"' in said


def test_no_version_at_all_is_refused_by_every_rule_but_an_sdist_has_one():
    nothing = version_rules.declared('[project]\nname = "demo"\n')
    for rule in ("auto", "git", "pyproject", "backend"):
        with pytest.raises(PipelineError, match="has neither a .project..version nor dynamic"):
            version_rules.choose_rule(rule, nothing, False, WHERE)
    assert version_rules.choose_rule("auto", nothing, True, WHERE) == "backend"


def test_pkg_info_gives_the_version_of_an_unpacked_sdist():
    assert version_rules.pkg_info_version(PKG_INFO, "PKG-INFO") == "1.2.3"
    with pytest.raises(PipelineError, match="x/PKG-INFO has no Version: field"):
        version_rules.pkg_info_version("Metadata-Version: 2.1\nName: a\n", "x/PKG-INFO")


def test_the_epoch_is_the_commit_then_pkg_info_then_the_newest_file():
    assert version_rules.build_epoch(5, None, (7, "a")) == (5, "the commit time")
    # An sdist unpacked inside another checkout keeps its own time, not that checkout's commit.
    assert version_rules.build_epoch(5, 6.5, (7, "a"))[0] == 6
    epoch, said = version_rules.build_epoch(None, 6.5, (7, "a"))
    assert epoch == 6 and "PKG-INFO" in said
    epoch, said = version_rules.build_epoch(None, None, (7, "src/a.c"))
    assert epoch == 7 and "src/a.c" in said
    assert version_rules.build_epoch(None, None, None)[0] is None
    assert version_rules.newest([(3.9, "b"), (9.2, "a")]) == (9, "a")
    assert version_rules.newest([]) is None
    assert version_rules.counts_for_epoch(PurePosixPath("src/a.c"))
    for skipped in ("build/x.o", ".git/HEAD", "a/__pycache__/b.pyc", "config.cmake"):
        assert not version_rules.counts_for_epoch(PurePosixPath(skipped))


def _tree(root: Path, pyproject: str, when: int) -> Path:
    """A source tree whose files all date from `when`."""
    (root / "src").mkdir(parents=True)
    (root / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    (root / "CMakeLists.txt").write_text("project(demo)\n", encoding="utf-8")
    (root / "src" / "a.c").write_text("int a;\n", encoding="utf-8")
    for path in (root / "pyproject.toml", root / "CMakeLists.txt", root / "src" / "a.c"):
        os.utime(path, (when, when))
    return root


def test_an_unpacked_sdist_builds_its_pkg_info_version_dated_by_pkg_info(tmp_path):
    source = _tree(tmp_path / "scm_demo-1.2.3", SCM, 2_000_000_000)
    (source / "PKG-INFO").write_text(PKG_INFO, encoding="utf-8")
    os.utime(source / "PKG-INFO", (1_700_000_000, 1_700_000_000))
    found = host.source_version(source, "auto", {}, version_rules.declared(SCM))
    assert found.pep440 == "1.2.3" and not found.stamped and "PKG-INFO" in found.origin
    assert found.epoch == 1_700_000_000 and "PKG-INFO" in found.epoch_origin
    # The environment's SOURCE_DATE_EPOCH still wins, and says so.
    given = host.source_version(source, "auto", {"SOURCE_DATE_EPOCH": "9"}, Declared("1.2.3"))
    assert (given.epoch, given.epoch_origin) == (9, "SOURCE_DATE_EPOCH (environment)")


def test_a_plain_directory_is_dated_by_its_newest_source_file(tmp_path):
    source = _tree(tmp_path / "demo", STATIC, 1_600_000_000)
    os.utime(source / "src" / "a.c", (1_650_000_000, 1_650_000_000))
    # Build trees and what the sessions write count for nothing.
    for name in ("build/x.o", ".cache/mlc-ci/y", "config.cmake"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text("new", encoding="utf-8")
    found = host.source_version(source, "pyproject", {}, Declared("0.1.0"))
    assert found.pep440 == "0.1.0" and found.epoch == 1_650_000_000
    assert "src/a.c" in found.epoch_origin
    backend = host.source_version(source, "backend", {}, Declared("0.1.0"))
    assert backend.pep440 == "0.1.0" and backend.kept and not backend.stamped


def test_a_version_given_for_a_dynamic_pyproject_is_refused(tmp_path):
    source = _tree(tmp_path / "demo", SCM, 1_600_000_000)
    with pytest.raises(PipelineError, match="unset MLC_CI_SOURCE_VERSION"):
        host.source_version(
            source, "auto", {"MLC_CI_SOURCE_VERSION": "1.0"}, version_rules.declared(SCM)
        )


def test_a_git_checkout_keeps_its_commit_for_the_pyproject_rule(tmp_path):
    source = _tree(tmp_path / "repo", STATIC, 1_600_000_000)
    env = {"GIT_COMMITTER_DATE": "2026-01-02T03:04:05Z", "PATH": os.environ["PATH"]}
    git = ("git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-C", str(source))
    for argv in (("init", "-q"), ("add", "."), ("commit", "-q", "-m", "one")):
        subprocess.run((*git, *argv), check=True, capture_output=True, env=env)
    found = host.source_version(source, "pyproject", {}, Declared("0.1.0"))
    assert found.epoch == 1767323045 and found.epoch_origin == "the commit time"
    assert len(found.revision) == 40


def test_restore_puts_back_the_source_files_times(make_config, tmp_path, monkeypatch):
    """A renamed pyproject.toml comes back with its time too: a source without git is dated by
    its newest file, so a rebuild must not find a newer one."""
    monkeypatch.chdir(tmp_path)
    cfg = config.load(make_config(MINIMAL), env={})
    variant = cfg.variant("cpu")
    pyproject = cfg.source_dir / "pyproject.toml"
    for path in cfg.source_dir.iterdir():
        os.utime(path, (1_600_000_000, 1_600_000_000))
    version = host.source_version(cfg.source_dir, "pyproject", {}, Declared("1.0"))
    ctx: dict = {}
    wheel_steps.prepare(cfg, variant, wheel_steps.Layout(cfg, variant, None), version)(ctx)
    assert 'name = "demo-cpu"' in pyproject.read_text(encoding="utf-8")
    wheel_steps.restore()(ctx)
    assert 'name = "demo"' in pyproject.read_text(encoding="utf-8")
    assert pyproject.stat().st_mtime == 1_600_000_000
    again = host.source_version(cfg.source_dir, "pyproject", {}, Declared("1.0"))
    assert again.epoch == version.epoch == 1_600_000_000
