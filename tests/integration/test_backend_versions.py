"""Versions the way the project's backend computes them, end to end: real wheels-linux builds of
small scikit-build-core projects (tests/fixtures/projects) whose pyproject.toml declares
dynamic = ["version"]:

- scm-version from a git copy tagged v1.2.3: setuptools_scm's 1.2.3, pyproject.toml untouched,
  --check-reproducible passing (its copy has no .git);
- its sdist unpacked outside any git checkout: PKG-INFO's version, SOURCE_DATE_EPOCH from
  PKG-INFO, byte-identical wheels across builds and --check-reproducible passing;
- regex-version in a plain directory: the regex provider's version, dated by its newest file.

The backend's build requirements come from the package index, as in every wheel build.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import explain, run_mlc_ci

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "projects"
GIT = ("git", "-c", "user.name=mlc-ci tests", "-c", "user.email=tests@mlc-ci.invalid")
# Nothing of this machine's version, time or cache settings may leak into the builds.
CLEAN = {
    "MLC_CI_SOURCE_VERSION": None,
    "SOURCE_DATE_EPOCH": None,
    "MLC_CI_CACHE_REMOTE": None,
    "MLC_CI_CONFIG": None,
    "MLC_CI_SOURCE": None,
    "MLC_CI_DIST_DIR": None,
    "MLC_CI_CCACHE_DIR": None,
    "MLC_CI_SMOKE_PYTHONS": "current",
}


def build(config: Path, cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    """`python -m mlc_ci wheels-linux --variant cpu` for `config`, started in `cwd` (the root of
    the checkout holding it, where there is one), its reports in cwd/reports."""
    env = {**CLEAN, "MLC_CI_REPORTS_DIR": str(cwd / "reports")}
    argv = ("wheels-linux", "--config", str(config), "--variant", "cpu", *extra)
    return run_mlc_ci(*argv, cwd=cwd, env=env, timeout=1200)


def wheels(dist: Path) -> list[str]:
    """The names of the wheels in `dist`."""
    return sorted(path.name for path in dist.glob("*.whl"))


def recorded(reports: Path, key: str) -> dict[str, Any]:
    """The first table under `key` in the wheels-linux reports under `reports`."""
    for path in sorted(reports.glob("wheels-linux*.json")):
        found = _find(json.loads(path.read_text(encoding="utf-8")), key)
        if found is not None:
            return found
    raise AssertionError(f"no {key!r} table in the reports under {reports}")


def _find(data: Any, key: str) -> dict[str, Any] | None:
    if isinstance(data, dict):
        if isinstance(data.get(key), dict):
            return data[key]
        data = list(data.values())
    if isinstance(data, list):
        for item in data:
            found = _find(item, key)
            if found is not None:
                return found
    return None


@pytest.fixture(name="tagged", scope="module")
def fixture_tagged(tmp_path_factory) -> Path:
    """A git copy of scm-version tagged v1.2.3, built once."""
    repo = tmp_path_factory.mktemp("scm") / "scm-version"
    shutil.copytree(FIXTURES / "scm-version", repo)
    for argv in (("init", "-q", "-b", "main"), ("add", "."), ("commit", "-q", "-m", "one")):
        subprocess.run((*GIT, "-C", str(repo), *argv), check=True, capture_output=True)
    subprocess.run((*GIT, "-C", str(repo), "tag", "v1.2.3"), check=True)
    # The rebuild check's copy has no .git: setuptools_scm must still find the version there.
    built = build(repo / "pipeline.toml", repo, "--check-reproducible")
    assert built.returncode == 0, explain(built)
    return repo


def test_a_tagged_checkout_builds_the_setuptools_scm_version_unpatched(tagged):
    assert [name.split("-py3-")[0] for name in wheels(tagged.parent / "dist")] == ["scm_demo-1.2.3"]
    pyproject = (tagged / "pyproject.toml").read_bytes()
    assert pyproject == (FIXTURES / "scm-version" / "pyproject.toml").read_bytes()
    version = recorded(tagged / "reports", "version")
    assert version["version"] == "1.2.3" and "setuptools_scm" in version["origin"]
    assert version["source_date_epoch_from"] == "the commit time"
    assert recorded(tagged / "reports", "reproducible")["reproducible"] is True


def test_its_sdist_builds_the_pkg_info_version_byte_for_byte(tagged, tmp_path):
    sdists = tmp_path / "sdist"
    made = subprocess.run(
        (sys.executable, "-m", "build", "--sdist", "--outdir", str(sdists), str(tagged)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    (archive,) = sdists.glob("*.tar.gz")
    work = tmp_path / "unpacked"  # in no git checkout
    with tarfile.open(archive) as tar:
        # The "data" filter where this Python has it (it keeps the members' times).
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(work, **safe)  # nosec B202: our own sdist
    (source,) = work.iterdir()
    assert not (source / ".git").exists() and (source / "PKG-INFO").is_file()
    shutil.copy(FIXTURES / "scm-version" / "pipeline.toml", source / "pipeline.toml")
    pkg_info_time = int((source / "PKG-INFO").stat().st_mtime)

    first = build(source / "pipeline.toml", work, "--check-reproducible")
    assert first.returncode == 0, explain(first)
    version = recorded(work / "reports", "version")
    assert version["version"] == "1.2.3" and "PKG-INFO" in version["origin"]
    assert version["source_date_epoch"] == pkg_info_time
    assert "PKG-INFO" in version["source_date_epoch_from"]
    assert recorded(work / "reports", "reproducible")["reproducible"] is True
    (name,) = wheels(work / "dist")
    assert name.startswith("scm_demo-1.2.3-")
    kept = (work / "dist" / name).read_bytes()

    os.remove(work / "dist" / name)
    second = build(source / "pipeline.toml", work)
    assert second.returncode == 0, explain(second)
    assert (work / "dist" / name).read_bytes() == kept


def test_the_regex_provider_version_in_a_plain_directory(tmp_path):
    work = tmp_path / "plain"
    source = work / "regex-version"
    shutil.copytree(FIXTURES / "regex-version", source)
    built = build(source / "pipeline.toml", work)
    assert built.returncode == 0, explain(built)
    assert [name.split("-py3-")[0] for name in wheels(work / "dist")] == ["regex_demo-0.3.0"]
    assert (source / "pyproject.toml").read_bytes() == (
        FIXTURES / "regex-version" / "pyproject.toml"
    ).read_bytes()
    version = recorded(work / "reports", "version")
    assert "scikit_build_core.metadata.regex" in version["origin"]
    assert "newest source file" in version["source_date_epoch_from"]
