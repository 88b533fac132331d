"""Which version a build takes with the source in a submodule, as MLC-LLM's is: the
monorepo's release tag when [release].version_from = "tag", the pin's own version otherwise, and
a nightly version that moves every night (real repositories, real git)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlc_ci import config
from mlc_ci.errors import PipelineError
from mlc_ci.sessions import wheel_steps
from tests.conftest import git_in as git
from tests.conftest import pin_engine

pytestmark = pytest.mark.unit

PIPELINE = """
[project]
name = "engine"
source = "3rdparty/engine"
package = "engine"
cli = "engine"
{project}

[release]
{release}

[variants.cpu]
distribution = "engine-cpu"
"""
SCHEDULE = {"GITHUB_EVENT_NAME": "schedule"}


@pytest.fixture(name="mono")
def fixture_mono(tmp_path: Path) -> Path:
    """A monorepo pinning an engine at v0.26.dev0 + 4 (0.26.dev4, MLC-LLM's 79d603f0) as a
    submodule, as this repository pins MLC-LLM."""
    engine = tmp_path / "engine"
    engine.mkdir()
    (engine / "pyproject.toml").write_text('[project]\nname = "engine"\nversion = "0.1.0"\n')
    mono = tmp_path / "mono"
    pin_engine(engine, mono)
    git(mono, "commit", "-q", "-m", "pin the engine")
    return mono


def load(mono: Path, release: str = 'version_from = "tag"', project: str = ""):
    """The monorepo's pipeline.toml."""
    path = mono / "pipeline.toml"
    path.write_text(PIPELINE.format(release=release, project=project))
    return config.load(path, env={})


def version(cfg, env=None) -> str:
    """The version a wheel session builds at."""
    return wheel_steps.source_version(cfg, env or {}).pep440


def test_the_monorepo_tag_is_the_version_of_a_dev_pin(mono):
    cfg = load(mono)
    assert version(cfg) == "0.26.dev4"  # untagged: the pin's own version
    git(mono, "tag", "v0.26.0")
    found = wheel_steps.source_version(cfg, {})
    assert (found.pep440, found.semver) == ("0.26.0", "0.26.0") and found.stamped
    assert "v0.26.0" in found.origin and "0.26.dev4" in found.origin  # the pin is recorded
    # A scheduled run on the tagged commit builds that release.
    assert version(cfg, {**SCHEDULE, "MLC_CI_NIGHTLY_DATE": "2026-01-02"}) == "0.26.0"


def test_without_the_rule_the_tag_must_equal_the_pin(mono):
    git(mono, "tag", "v0.26.0")
    assert version(load(mono, release="")) == "0.26.dev4"


def test_two_nights_on_one_pin_are_two_versions(mono):
    cfg = load(mono)
    first = version(cfg, {**SCHEDULE, "MLC_CI_NIGHTLY_DATE": "2026-01-02"})
    rerun = version(cfg, {"MLC_CI_NIGHTLY": "1", "MLC_CI_NIGHTLY_DATE": "20260102"})
    second = version(cfg, {**SCHEDULE, "MLC_CI_NIGHTLY_DATE": "2026-01-03"})
    assert (first, rerun, second) == ("0.26.dev20260102", "0.26.dev20260102", "0.26.dev20260103")
    assert version(cfg, SCHEDULE).startswith("0.26.dev20")  # today's UTC date


def test_nightlies_after_a_release_sort_above_it(mono):
    cfg = load(mono)
    git(mono, "tag", "v0.26.0")
    git(mono, "commit", "-q", "--allow-empty", "-m", "after the release")
    night = {**SCHEDULE, "MLC_CI_NIGHTLY_DATE": "2026-01-03"}
    assert version(cfg, night) == "0.26.1.dev20260103"


def test_the_rule_needs_a_stamped_version(mono, tmp_path):
    with pytest.raises(PipelineError, match="release.version_from.*pyproject"):
        load(mono, project='version = "pyproject"')
    with pytest.raises(PipelineError, match="version_from.*use one of: source, tag"):
        load(mono, release='version_from = "submodule"')
    # pipeline.toml outside any checkout (a copy of the monorepo): no tag, the pin's version.
    loose = tmp_path / "loose"
    (loose / "3rdparty").mkdir(parents=True)
    subprocess.run(
        ("git", "clone", "-q", str(tmp_path / "engine"), str(loose / "3rdparty" / "engine")),
        check=True,
    )
    assert version(load(loose)) == "0.26.dev4"
