"""Versions from git, end to end: a scratch clone of this repository tagged v0.2.0 builds
mini-llm 0.2.0 wheels, and the release (without --publish: nothing published) accepts them for that
tag and refuses them for another in one line that names both. Then MLC-LLM's shape: mini-llm
pinned as a submodule at a dev version, two scheduled runs on that pin publish two nightlies,
and the monorepo's tag v0.26.0 at the same pin releases 0.26.0 ([release].version_from = "tag")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version as Pep440

from tests.conftest import ROOT, TOOLKIT_PATH, explain
from tests.conftest import git_in as mono_git
from tests.conftest import pin_engine
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


# MLC-LLM's shape: the engine pinned as a submodule at a dev version (v0.26.dev0 + 4, as
# 3rdparty/mlc-llm at 79d603f0), [release].version_from = "tag" in the monorepo.
NIGHTS = ("2026-01-02", "2026-01-03")


def monorepo_run(mono: Path, *args: str, reports: str, env: dict | None = None):
    """`python -m mlc_ci ARGS --config pipeline.toml` in the monorepo, as its CI jobs run it:
    `env` adds what GitHub sets (a scheduled run's GITHUB_EVENT_NAME); nothing of this
    machine's version or nightly settings leaks in."""
    environ = {**os.environ, "PYTHONPATH": TOOLKIT_PATH, "MLC_CI_REPORTS_DIR": str(mono / reports)}
    for name in ("MLC_CI_SOURCE_VERSION", "SOURCE_DATE_EPOCH", "MLC_CI_CACHE_REMOTE"):
        environ.pop(name, None)
    for name in ("GITHUB_EVENT_NAME", "MLC_CI_NIGHTLY", "MLC_CI_NIGHTLY_DATE"):
        environ.pop(name, None)
    return subprocess.run(
        (sys.executable, "-m", "mlc_ci", *args, "--config", "pipeline.toml"),
        cwd=mono,
        env={**environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )


def state_versions(tree: Path, channel: str) -> list[str]:
    """The mini-llm-cpu versions the index state lists on `channel`."""
    state = json.loads((tree / "index-state.json").read_text())
    return sorted(
        (
            f["version"]
            for f in state["files"]
            if f["channel"] == channel and f["project"] == "mini-llm-cpu"
        ),
        key=Pep440,
    )


@pytest.fixture(name="pinned", scope="module")
def fixture_pinned(tmp_path_factory) -> dict:
    """Two scheduled runs on one pin, each published to the nightly channel of one index,
    then the monorepo tagged v0.26.0 at the same pin, built and released to its stable channel."""
    base = tmp_path_factory.mktemp("pinned")
    engine, mono, tree = base / "engine", base / "mono", base / "index"
    engine.mkdir()
    archive = subprocess.run(
        ("git", "-C", str(ROOT), "archive", "HEAD:examples/mini-llm"),
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(("tar", "-x", "-C", str(engine)), input=archive, check=True)
    pin_engine(engine, mono)
    text = (ROOT / "examples" / "mini-llm" / "pipeline.toml").read_text()
    for old, new in (
        ('source = "."', 'source = "3rdparty/engine"'),
        ('"../../.cache/ccache"', '".cache/ccache"'),
        ('"../../dist"', '"dist"'),
        ("[release]\n", '[release]\nversion_from = "tag"\n'),
    ):
        assert old in text
        text = text.replace(old, new)
    (mono / "pipeline.toml").write_text(text)
    (mono / ".gitignore").write_text("/dist*/\n/reports*/\n/.cache/\n")
    mono_git(mono, "add", ".")
    mono_git(mono, "commit", "-q", "-m", "pin the engine")
    out = {"tree": tree, "built": {}}
    for number, night in enumerate(NIGHTS, 1):
        scheduled = {"GITHUB_EVENT_NAME": "schedule", "MLC_CI_NIGHTLY_DATE": night}
        reports, dist = f"reports-n{number}", str(mono / f"dist-n{number}")
        built = monorepo_run(
            mono, "wheels-linux", "--variant", "cpu", "--out", dist, reports=reports, env=scheduled
        )
        assert built.returncode == 0, explain(built)
        out["built"][night] = built.stdout
        published = monorepo_run(
            mono, "release", "--nightly", "--index-dir", str(tree), "--dist", dist,
            reports=reports, env=scheduled,
        )  # fmt: skip
        assert published.returncode == 0, explain(published)
    out["two nights"] = state_versions(tree, "nightly")
    mono_git(mono, "tag", "v0.26.0")
    built = monorepo_run(mono, "wheels-linux", "--variant", "cpu", reports="reports-tag")
    assert built.returncode == 0, explain(built)
    out["built"]["tag"] = built.stdout
    out["released"] = monorepo_run(
        mono, "release", "--tag", "v0.26.0", "--index-dir", str(tree), reports="reports-tag"
    )
    out["mono"] = mono
    # The night after the release, one commit later, on the same pin: above the release.
    mono_git(mono, "commit", "-q", "--allow-empty", "-m", "docs: after the release")
    scheduled = {"GITHUB_EVENT_NAME": "schedule", "MLC_CI_NIGHTLY_DATE": "2026-01-04"}
    built = monorepo_run(
        mono, "wheels-linux", "--variant", "cpu", "--out", str(mono / "dist-n3"),
        reports="reports-n3", env=scheduled,
    )  # fmt: skip
    assert built.returncode == 0, explain(built)
    out["after"] = monorepo_run(
        mono, "release", "--nightly", "--index-dir", str(tree), "--dist", str(mono / "dist-n3"),
        reports="reports-n3", env=scheduled,
    )  # fmt: skip
    return out


def test_two_scheduled_runs_on_one_pin_publish_two_nightlies(pinned):
    assert "version 0.26.dev20260102 from the nightly of 2026-01-02" in pinned["built"][NIGHTS[0]]
    assert pinned["two nights"] == ["0.26.dev20260102", "0.26.dev20260103"]


def test_a_tag_at_a_dev_pin_releases_the_tag_s_version(pinned):
    # The pin is 0.26.dev4: the monorepo's tag gives the version, the pin's is recorded.
    assert "version 0.26.0 from the release tag v0.26.0 of " in pinned["built"]["tag"]
    assert "(the source is 0.26.dev4: git (v0.26.dev0 + 4," in pinned["built"]["tag"]
    released = pinned["released"]
    assert released.returncode == 0, explain(released)
    sums = (pinned["mono"] / "dist" / "SHA256SUMS").read_text()
    assert "mini_llm_cpu-0.26.0-" in sums and "tiny_runtime-0.1.0-" in sums
    assert state_versions(pinned["tree"], "stable") == ["0.26.0"]


def test_the_nightly_after_the_release_sorts_above_it(pinned):
    assert pinned["after"].returncode == 0, explain(pinned["after"])
    nightlies = state_versions(pinned["tree"], "nightly")
    assert nightlies == ["0.26.dev20260102", "0.26.dev20260103", "0.26.1.dev20260104"]
