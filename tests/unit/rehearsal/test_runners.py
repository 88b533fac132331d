"""The runner data files: what a label's image holds, and a declared local equivalent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tools.rehearsal.container import RUNNERS, runner_spec
from tools.rehearsal.model import RehearsalError

pytestmark = pytest.mark.unit


def test_the_windows_equivalent_is_the_linux_stand_in_plus_mingw_and_says_so():
    linux, windows = runner_spec("ubuntu-24.04"), runner_spec("windows-2022")
    assert windows.base == linux.base
    assert windows.packages[: len(linux.packages)] == linux.packages
    assert {"g++-mingw-w64-x86-64-posix", "wine64"} <= set(windows.packages)
    assert windows.archives == linux.archives  # Node, as the job's actions need it
    assert windows.runner.os == "Windows" and windows.runner.env == {"MLC_CI_CROSS": "mingw"}
    assert "not Windows" in windows.runner.equivalent
    assert any("mingw_toolchain" in limit for limit in windows.runner.limits)
    # The hosted image itself is no equivalent, and knows nothing of MinGW.
    assert linux.runner.os == "Linux" and not linux.runner.equivalent
    assert not any("mingw" in package for package in linux.packages)
    assert "g++-mingw-w64-x86-64-posix" in windows.dockerfile


def test_an_edit_of_the_extended_file_makes_a_new_image(tmp_path: Path):
    runners = tmp_path / "runners"
    shutil.copytree(RUNNERS, runners)
    before = runner_spec("windows-2022", runners=runners).tag
    parent = runners / "ubuntu-24.04.toml"
    parent.write_text(parent.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert runner_spec("windows-2022", runners=runners).tag != before


@pytest.mark.parametrize(
    "text, names",
    [
        ('extends = "nowhere"\npackages = ["wine64"]\n', "extends"),
        ('extends = "ubuntu-24.04"\nos = "Plan9"\npackages = ["wine64"]\n', "os is Linux"),
        ('extends = "ubuntu-24.04"\nenv = { lower = "x" }\npackages = ["wine64"]\n', "env"),
        ('extends = "ubuntu-24.04"\nlimits = ["(unclosed"]\npackages = ["wine64"]\n', "limits"),
    ],
)
def test_a_bad_data_file_is_one_line_naming_the_key(tmp_path: Path, text: str, names: str):
    runners = tmp_path / "runners"
    shutil.copytree(RUNNERS, runners)
    (runners / "odd.toml").write_text(text, encoding="utf-8")
    with pytest.raises(RehearsalError, match=names):
        runner_spec("odd", runners=runners)
