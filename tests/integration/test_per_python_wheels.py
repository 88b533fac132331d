"""A C extension (tests/fixtures/projects/cext: scikit-build-core, `Python_add_library(...
WITH_SOABI)`) gets one verified wheel per Python: a real build with the session's Python and one
more CPython of [python].versions, each wheel repaired, verified and smoke-tested on its own
interpreter."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.cli_runner import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = "tests/fixtures/projects/cext/pipeline.toml"
OWN = f"{sys.version_info.major}.{sys.version_info.minor}"


def another_python() -> tuple[str, str]:
    """(version, directory holding python<version>) of a CPython of the fixture's
    [python].versions other than the session's: on PATH, else a pyenv install."""
    for version in ("3.11", "3.12", "3.10", "3.13"):
        if version == OWN:
            continue
        places = [shutil.which(f"python{version}")]
        places += sorted(
            str(p) for p in Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}")
        )
        for found in filter(None, places):
            said = subprocess.run(
                (found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"),
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            if said == version:
                return version, str(Path(found).parent)
    return pytest.skip(f"no CPython of 3.10-3.13 besides {OWN} here (pyenv, actions/setup-python)")


def test_a_c_extension_gets_one_verified_wheel_per_python(mlc_ci_cli, tmp_path):
    version, directory = another_python()
    dist = tmp_path / "dist"
    result = mlc_ci_cli(
        "wheels-linux",
        "--config",
        CONFIG,
        "--variant",
        "cpu",
        "--out",
        str(dist),
        env={
            "PATH": os.pathsep.join((directory, os.environ["PATH"])),
            "MLC_CI_SMOKE_PYTHONS": f"{OWN},{version}",
            "CI": None,
        },
    )
    assert result.returncode == 0, result.explain()
    # The report's name is the session's (reports/wheels-linux-<...>cpu.json): the only one.
    (path,) = result.reports.glob("wheels-linux-*cpu.json")
    report = json.loads(path.read_text(encoding="utf-8"))
    wheels = {art["details"]["python"]: art["name"] for art in report["artifacts"]}
    assert set(wheels) == {OWN, version}
    for python, name in wheels.items():
        cp = "cp" + python.replace(".", "")
        assert f"-{cp}-{cp}-" in name and "manylinux" in name, name
    assert sorted(p.name for p in dist.glob("*.whl")) == sorted(wheels.values())
    # Each wheel's smoke ran on its own interpreter (the smoke asserts the module was built for
    # the Python running it), and no wheel went into the other Python's venv.
    ok = [step["title"] for step in report["steps"] if step["status"] == "ok"]
    assert len(ok) == len(report["steps"])
    assert any(title.startswith(f"smoke (Python {version}): ") for title in ok)
    assert any(title.startswith("smoke: ") for title in ok)
    installs = [t for t in ok if t.startswith("install repaired wheel")]
    assert installs == ["install repaired wheel", f"install repaired wheel (Python {version})"]
    # The fixture's source is as it was: nothing built or stamped into it.
    status = subprocess.run(
        ("git", "status", "--porcelain", "--ignored", "tests/fixtures/projects/cext"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "build/" not in status and ".mlc-ci-edits" not in status
