"""Versions from tags and `git describe`: PEP 440 for wheels, SemVer for images."""

from __future__ import annotations

import subprocess

import pytest
from packaging.version import Version as Pep440

from mlc_ci import versioning
from mlc_ci.errors import PipelineError
from mlc_ci.plan import versions

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("tag", "distance", "sha", "pep440", "semver", "pre"),
    [
        ("v1.2.3", 0, "", "1.2.3", "1.2.3", False),
        ("v0.20.0", 0, "", "0.20.0", "0.20.0", False),
        ("v1.2.3-rc.4", 0, "", "1.2.3rc4", "1.2.3-rc.4", True),
        ("v1.2.3rc4", 0, "", "1.2.3rc4", "1.2.3-rc.4", True),
        ("v0.26.dev0", 0, "", "0.26.dev0", "0.26.0-dev.0", True),
        ("v0.26.dev0", 4, "abc1234", "0.26.dev4+gabc1234", "0.26.0-dev.4+abc1234", True),
        ("v0.26.1.dev2", 0, "", "0.26.1.dev2", "0.26.1-dev.2", True),
        ("v1.2.3", 5, "abc1234", "1.2.4.dev5+gabc1234", "1.2.4-dev.5+abc1234", True),
        ("v1.2.3-rc.1", 2, "abc1234", "1.2.3rc1.dev2+gabc1234", "1.2.3-rc.1.dev.2+abc1234", True),
    ],
)
def test_from_tag(tag, distance, sha, pep440, semver, pre):
    version = versions.from_tag(tag, distance, sha)
    assert (version.pep440, version.semver, version.is_prerelease) == (pep440, semver, pre)


@pytest.mark.parametrize(
    "tag", ["release-1", "v1", "v1.2", "v0.1", "v1.2.3-beta", "1.2.3", "v01.2.3", "vfoo"]
)
def test_bad_tag_is_a_clear_error(tag):
    with pytest.raises(PipelineError, match="neither SemVer nor PEP 440"):
        versions.from_tag(tag)


def test_from_describe():
    assert versions.from_describe("v1.0.0-0-gdeadbee\n").pep440 == "1.0.0"
    assert versions.from_describe("v1.0.0-3-gdeadbeef12").semver == "1.0.1-dev.3+deadbee"
    untagged = versions.from_describe("deadbeef", commit_count=7)
    assert (untagged.pep440, untagged.semver) == ("0.0.0.dev7+gdeadbee", "0.0.0-dev.7+deadbee")
    with pytest.raises(PipelineError, match="cannot read a version"):
        versions.from_describe("not a describe")


def test_git_version_on_a_real_repository(tmp_path):
    _git(tmp_path, "init", "-q")
    _git(
        tmp_path,
        "-c",
        "user.email=ci@example.invalid",
        "-c",
        "user.name=ci",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "a",
    )
    assert versioning.git_version(tmp_path).pep440.startswith("0.0.0.dev1+g")
    _git(tmp_path, "tag", "v0.3.0")
    assert versioning.git_version(tmp_path).semver == "0.3.0"
    _git(tmp_path, "tag", "vbroken")
    _git(
        tmp_path,
        "-c",
        "user.email=ci@example.invalid",
        "-c",
        "user.name=ci",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "b",
    )
    _git(tmp_path, "tag", "-d", "v0.3.0")
    version = versioning.git_version(tmp_path)  # vbroken is no version: skipped, noted
    assert version.ignored_tags == ("vbroken",) and version.pep440.startswith("0.0.0.dev2+g")


def test_git_version_outside_a_repository(tmp_path):
    with pytest.raises(PipelineError, match="run inside a git checkout"):
        versioning.git_version(tmp_path)


def _git(repo, *args):
    subprocess.run(("git", "-C", str(repo), *args), check=True, capture_output=True)


def test_stray_tags_are_skipped_with_a_note(tmp_path):
    _git(tmp_path, "init", "-q")
    for args in (("config", "user.email", "t@example.invalid"), ("config", "user.name", "t")):
        _git(tmp_path, *args)
    _git(tmp_path, "commit", "-q", "--allow-empty", "-m", "one")
    _git(tmp_path, "tag", "v0.2.0")
    _git(tmp_path, "commit", "-q", "--allow-empty", "-m", "two")
    _git(tmp_path, "tag", "vbanana")
    _git(tmp_path, "tag", "v0.3")
    version = versioning.git_version(tmp_path)
    assert version.pep440.startswith("0.2.1.dev1+g")
    assert set(version.ignored_tags) == {"vbanana", "v0.3"}
    assert "ignored tag(s)" in versions.ignored_note(version)


def test_missing_repo_directory_is_named(tmp_path):
    with pytest.raises(PipelineError, match="is not a directory; pass --repo a git checkout"):
        versioning.git_version(tmp_path / "nope")


def test_every_field_of_a_version_is_kept():
    assert versions.from_tag("v1.2.3", 5, "abc1234") == versions.Version(
        "1.2.4.dev5+gabc1234", "1.2.4-dev.5+abc1234", "v1.2.3", 5, "abc1234"
    )
    assert versions.from_tag("v1.2.3", 0, "abc1234") == versions.Version(
        "1.2.3", "1.2.3", "v1.2.3", 0, "abc1234"
    )
    # A distance without a commit id has no local part.
    assert versions.from_tag("v1.2.3-rc.1", 2) == versions.Version(
        "1.2.3rc1.dev2", "1.2.3-rc.1.dev.2", "v1.2.3-rc.1", 2, ""
    )
    assert versions.from_tag("v0.26.dev0", 3) == versions.Version(
        "0.26.dev3", "0.26.0-dev.3", "v0.26.dev0", 3, ""
    )
    described = versions.from_describe(" v1.0.0-12-g0123456789abcdef \n")
    assert (described.tag, described.distance, described.sha) == ("v1.0.0", 12, "0123456")
    assert versions.from_describe("abcd").sha == "abcd"
    untagged = versions.from_describe("deadbeef")
    assert (untagged.tag, untagged.distance, untagged.pep440) == ("", 0, "0.0.0.dev0+gdeadbee")


def test_public_versions_tags_and_messages_are_exact():
    assert versions.Version("1.2.4.dev5+gabc", "1.2.4-dev.5+abc").public == "1.2.4.dev5"
    assert not versions.Version("1.2.3", "1.2.3+abc").is_prerelease
    assert versions.is_version_tag("v1.2.dev3") and versions.is_version_tag("v1.2.3rc1")
    assert not versions.is_version_tag("v1.2rc1") and not versions.is_version_tag("v1.2")
    assert versions.normalised_pep440(" 0.2.01 ", "x") == "0.2.1"
    with pytest.raises(PipelineError) as caught:
        versions.normalised_pep440("two", "[project].version")
    assert str(caught.value) == (
        "[project].version is 'two', not a PEP 440 version; use e.g. 0.2.0 or 0.2.1.dev3."
    )
    with pytest.raises(PipelineError) as caught:
        versions.from_tag("v1")
    assert str(caught.value) == (
        "tag 'v1' is neither SemVer nor PEP 440 in the form this pipeline uses; tag releases as "
        "vX.Y.Z, vX.Y.Z-rc.N or vX.Y.devN."
    )
    with pytest.raises(PipelineError) as caught:
        versions.from_describe("x-y")
    assert str(caught.value) == "cannot read a version from `git describe` output 'x-y'."
    assert versions.ignored_note(versions.Version("1", "1")) == ""
    assert versions.ignored_note(versions.Version("1", "1", ignored_tags=("a", "b"))) == (
        "ignored tag(s) a, b: not vX.Y.Z, vX.Y.Z-rc.N or vX.Y.devN"
    )
    source = versions.SourceVersion("1", "1", "", None, "pyproject.toml [project].version")
    assert not source.stamped
    assert versions.SourceVersion("1", "1", "", None, "git describe").stamped


@pytest.mark.parametrize(
    ("describe", "pep440", "semver"),
    [
        # MLC-LLM's pin: v0.26.dev0 + 4 counts on from its dev tag.
        ("v0.26.dev0-4-g79d603f", "0.26.dev20260102", "0.26.0-dev.20260102"),
        ("v1.2.3-5-gabc1234", "1.2.4.dev20260102", "1.2.4-dev.20260102"),
        ("v1.2.3-0-gabc1234", "1.2.4.dev20260102", "1.2.4-dev.20260102"),
        # After an rc: above the rc itself (1.2.3rc4.devN would sort below it).
        ("v1.2.3-rc.4-2-gabc1234", "1.2.3rc5.dev20260102", "1.2.3-rc.5.dev.20260102"),
        ("abc1234", "0.0.0.dev20260102", "0.0.0-dev.20260102"),
    ],
)
def test_a_nightly_is_dated(describe, pep440, semver):
    found = versions.nightly(versions.from_describe(describe, 7), "20260102")
    assert (found.pep440, found.semver) == (pep440, semver)
    tag = versions.from_describe(describe, 7)
    assert Pep440(found.pep440) > Pep440(tag.public) and found.is_prerelease


def test_every_night_a_new_version_and_the_same_one_for_a_rerun():
    pin = versions.from_describe("v0.26.dev0-4-g79d603f")
    first = versions.build_version(pin, None, "20260102")[0]
    again = versions.build_version(pin, None, "20260102")[0]
    second = versions.build_version(pin, None, "20260103")[0]
    assert first == again and Pep440(second.pep440) > Pep440(first.pep440)
    assert versions.build_version(pin, None, "")[0] == pin  # no nightly: the source's version


def test_a_release_tag_of_the_pipeline_repository_is_authoritative():
    pin = versions.from_describe("v0.26.dev0-4-g79d603f")
    tagged = versions.from_describe("v0.26.0-0-g1234567")
    found, why = versions.build_version(pin, tagged, "")
    assert (found.public, found.semver) == ("0.26.0", "0.26.0") and "v0.26.0" in why
    assert versions.build_version(pin, tagged, "20260102")[0].public == "0.26.0"
    # The nights after it sort above the release, though the pin has not moved.
    later = versions.from_describe("v0.26.0-3-g89abcde")
    nightly = versions.build_version(pin, later, "20260103")[0]
    assert Pep440(nightly.pep440) > Pep440("0.26.0") and nightly.pep440 == "0.26.1.dev20260103"
    # Between releases a build that is no nightly is the pin's own version.
    assert versions.build_version(pin, later, "")[0] == pin


def test_a_nightly_on_the_source_s_own_release_tag_stays_that_release():
    tagged = versions.from_describe("v0.2.0-0-gabc1234")
    assert versions.build_version(tagged, None, "20260102")[0] == tagged


def test_nightly_builds_and_their_date():
    assert versions.is_nightly_build({"GITHUB_EVENT_NAME": "schedule"})
    assert versions.is_nightly_build({"MLC_CI_NIGHTLY": "1"})
    assert not versions.is_nightly_build({"GITHUB_EVENT_NAME": "push", "MLC_CI_NIGHTLY": ""})
    assert versions.nightly_date("2026-01-02", "20990101") == "20260102"
    assert versions.nightly_date(" 20260102 ", "20990101") == "20260102"
    assert versions.nightly_date("", "20260103") == "20260103"
    for bad in ("2026-13-01", "yesterday", "2026010"):
        with pytest.raises(PipelineError, match="MLC_CI_NIGHTLY_DATE"):
            versions.nightly_date(bad, "20260103")
