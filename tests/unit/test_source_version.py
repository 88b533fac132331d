"""The version a build stamps: from the git repository holding the source (real repositories,
real git), overridable for builds without the history."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlc_ci import host
from mlc_ci.errors import PipelineError
from mlc_ci.plan.version_rules import Declared

GIT_ENV = {
    "GIT_AUTHOR_NAME": "mlc-ci tests",
    "GIT_AUTHOR_EMAIL": "tests@mlc-ci.invalid",
    "GIT_COMMITTER_NAME": "mlc-ci tests",
    "GIT_COMMITTER_EMAIL": "tests@mlc-ci.invalid",
    "GIT_AUTHOR_DATE": "2026-01-02T03:04:05Z",
    "GIT_COMMITTER_DATE": "2026-01-02T03:04:05Z",
    "PATH": "/usr/bin:/bin",
}
EPOCH = 1767323045  # 2026-01-02T03:04:05Z
STATIC = Declared("0.1.0")  # what the fixture's pyproject.toml declares


def git(repo: Path, *argv: str) -> str:
    """Run git in `repo` (the tests set up real repositories)."""
    return subprocess.run(
        ("git", "-C", str(repo), *argv), check=True, capture_output=True, text=True, env=GIT_ENV
    ).stdout.strip()


@pytest.fixture(name="repo")
def fixture_repo(tmp_path: Path) -> Path:
    """A repository whose source project lives in a subdirectory, as mini-llm does here."""
    repo = tmp_path / "repo"
    (repo / "examples" / "demo").mkdir(parents=True)
    (repo / "examples" / "demo" / "pyproject.toml").write_text('[project]\nversion = "0.1.0"\n')
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    return repo


def commit(repo: Path, message: str) -> None:
    """One more (empty) commit."""
    git(repo, "commit", "-q", "--allow-empty", "-m", message)


def test_a_tag_is_the_version_with_the_commit_and_its_time(repo):
    git(repo, "tag", "v0.2.0")
    found = host.source_version(repo / "examples" / "demo", "git", {}, STATIC)
    assert (found.pep440, found.semver) == ("0.2.0", "0.2.0")
    assert found.revision == git(repo, "rev-parse", "HEAD") and found.epoch == EPOCH
    assert found.stamped and found.origin.startswith("git (v0.2.0 + 0,")


def test_between_tags_a_public_dev_version_that_sorts_after_the_tag(repo):
    git(repo, "tag", "v0.2.0")
    commit(repo, "second")
    commit(repo, "third")
    found = host.source_version(repo / "examples" / "demo", "git", {}, STATIC)
    # No local part (+g<sha>): package indexes refuse local versions.
    assert found.pep440 == "0.2.1.dev2"
    assert found.semver.startswith("0.2.1-dev.2+")


def test_mlc_llm_dev_tags_count_on(repo):
    git(repo, "tag", "v0.26.dev0")
    for n in range(4):
        commit(repo, f"c{n}")
    assert host.source_version(repo, "git", {}, STATIC).pep440 == "0.26.dev4"


def test_a_repository_without_tags_counts_its_commits(repo):
    commit(repo, "second")
    assert host.source_version(repo, "git", {}, STATIC).pep440 == "0.0.0.dev2"


def test_a_shallow_clone_is_refused(repo, tmp_path):
    git(repo, "tag", "v0.2.0")
    commit(repo, "second")
    shallow = tmp_path / "shallow"
    subprocess.run(
        ("git", "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow)),
        check=True,
        env=GIT_ENV,
    )
    with pytest.raises(PipelineError, match="shallow clone.*fetch-depth: 0"):
        host.source_version(shallow, "git", {}, STATIC)


def test_a_submodule_path_filled_without_its_git_is_refused(repo):
    """A copy of the submodule's files (no .git) must not take the superproject's version."""
    commit_id = git(repo, "rev-parse", "HEAD")
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{commit_id},3rdparty/engine")
    git(repo, "commit", "-q", "-m", "pin the engine")
    source = repo / "3rdparty" / "engine"
    source.mkdir(parents=True)
    (source / "pyproject.toml").write_text('[project]\nversion = "0.20.0.dev0"\n')
    with pytest.raises(PipelineError, match="submodule of .* but not a git checkout of its own"):
        host.source_version(source, "git", {}, STATIC)
    given = host.source_version(source, "git", {"MLC_CI_SOURCE_VERSION": "0.26.dev4"}, STATIC)
    assert given.pep440 == "0.26.dev4"
    # A checked-out submodule is a repository of its own: its own tags give the version.
    git(source, "init", "-q", "-b", "main")
    git(source, "add", ".")
    git(source, "commit", "-q", "-m", "engine")
    git(source, "tag", "v0.26.dev0")
    assert host.source_version(source, "git", {}, STATIC).pep440 == "0.26.dev0"


def test_no_checkout_is_refused_unless_the_version_is_given(tmp_path):
    with pytest.raises(PipelineError, match="in no git checkout"):
        host.source_version(tmp_path, "git", {}, STATIC)
    given = host.source_version(tmp_path, "git", {"MLC_CI_SOURCE_VERSION": "0.26.0-rc1"}, STATIC)
    assert given.pep440 == "0.26.0rc1" and given.stamped  # normalised, then stamped
    assert given.origin == "MLC_CI_SOURCE_VERSION (environment)"


def test_the_pyproject_rule_keeps_the_declared_version(tmp_path):
    kept = host.source_version(tmp_path, "pyproject", {"SOURCE_DATE_EPOCH": "7"}, Declared("1.0"))
    assert kept.pep440 == "1.0" and not kept.stamped and kept.epoch == 7


def test_source_date_epoch_overrides_the_commit_time(repo):
    assert (
        host.source_version(repo, "git", {"SOURCE_DATE_EPOCH": "315532800"}, STATIC).epoch
        == 315532800
    )
