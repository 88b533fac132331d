"""The rehearsal's table and report rows, and the declared stand-ins of its command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tools.rehearsal import records
from tools.rehearsal.__main__ import CA_FILE, network_env, parse, shared_for, standins
from tools.rehearsal.model import RehearsalError

pytestmark = pytest.mark.unit


def test_the_table_names_each_stand_in_a_job_used():
    job = records.JobRecord("build", "wheels-linux (cpu)", "ubuntu-24.04", verdict=records.WALL)
    job.stand_ins = ["3rdparty/mlc-llm: the tree of /t at abc in place of the pin def"]
    plain = records.JobRecord("lint", "lint", "ubuntu-24.04", verdict=records.PASSED)
    lines = records.table([job, plain]).splitlines()
    assert lines[1].startswith(records.WALL) and lines[1].endswith("wheels-linux (cpu)")
    assert lines[2].strip() == f"stand-in: {job.stand_ins[0]}"
    assert lines[3].endswith("lint") and len(lines) == 4


def test_a_stand_in_must_be_a_work_tree(tmp_path: Path):
    tree = tmp_path / "tree"
    tree.mkdir()
    with pytest.raises(RehearsalError, match="is not a git work tree; prepare the tree first"):
        standins([f"3rdparty/x={tree}"])
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    assert standins([f"3rdparty/x/={tree}"]) == {"3rdparty/x": tree.resolve()}
    with pytest.raises(RehearsalError, match="expected NAME=VALUE"):
        standins(["3rdparty/x"])


def test_the_command_line_reaches_each_field_of_what_jobs_share(tmp_path: Path):
    tree = tmp_path / "tree"
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    argv = ["--var", "A=1", "--secret", "S=2", "--submodule-standin", f"sub={tree}"]
    shared = shared_for(parse([*argv, "--submodules-from", str(tmp_path)]), tmp_path, tmp_path, {})
    assert shared.variables == {"A": "1"} and shared.secrets == {"S": "2"}
    assert shared.standins == {"sub": tree.resolve()}
    assert shared.submodules_from == tmp_path.resolve()


def test_jobs_get_the_host_s_ca_plumbing_and_image_builds_get_it_too():
    assert network_env({"PATH": "/usr/bin"}) == {}  # no proxy: nothing added, as on GitHub
    assert network_env({"PIP_CERT": "/x.pem", "HOME": "/root"}) == {
        "PIP_CERT": str(CA_FILE),
        "MLC_CI_CA_BUNDLE": str(CA_FILE),
    }
