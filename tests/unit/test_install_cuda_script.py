"""scripts/install-cuda-linux.sh, which ci.yml's build and integration jobs run on hosted
runners: a version that is not X.Y stops before anything is downloaded or installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install-cuda-linux.sh"


@pytest.mark.parametrize("version", ["", "13", "13.0.1", "13.0; id", "v13.0"])
def test_a_version_that_is_not_x_y_is_one_line_and_exit_2(version: str, tmp_path: Path):
    # PATH holds no curl, sudo or apt-get: the script must stop before reaching for them.
    done = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(SCRIPT), version],
        capture_output=True,
        text=True,
        env={"PATH": str(tmp_path)},
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"install-cuda-linux: '{version}' is not a CUDA version X.Y (e.g. 13.0)"
    ]
