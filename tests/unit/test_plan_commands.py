"""plan/commands.py: what counts as a run keeping to its dry run."""

from __future__ import annotations

import pytest

from mlc_ci.plan import commands


@pytest.mark.parametrize(
    ("planned", "ran", "kept"),
    [
        ("cmake --build build", "cmake --build build", True),
        ("cmake --build build", "cmake --build build -j 2", False),
        ("cmake --build build -j 2", "cmake --build build", False),
        ("auditwheel repair '{wheel}' -w out", "auditwheel repair /d/a.whl -w out", True),
        ("auditwheel repair {wheel} -w out", "auditwheel repair /d/a b.whl -w out", True),
        # An empty value is quoted ('') when filled in: never nothing at all.
        ("auditwheel repair {wheel} -w out", "auditwheel repair '' -w out", True),
        ("auditwheel repair {wheel} -w out", "auditwheel repair  -w out", False),
        ("auditwheel repair {wheel} -w out", "auditwheel show /d/a.whl -w out", False),
        ("pip install {wheel}[test]", "pip install a.whl[test]", True),
        ("pip install {wheel}[test]", "pip install a.whl[tests]", False),
        ("a.b {x}", "aXb 1", False),  # the plan's text is literal, never a pattern
        ("echo {a} and {b}", "echo 1 and 2", True),
        ("echo {a} and {b}", "echo 1 or 2", False),
        ("echo {not a ref}", "echo {not a ref}", True),
        ("echo {not a ref}", "echo x", False),
    ],
)
def test_a_placeholder_stands_for_any_value_and_nothing_else_varies(planned, ran, kept):
    assert bool(commands.matcher(planned).fullmatch(ran)) is kept


def test_unplanned_steps_keep_run_order_and_only_the_unplanned():
    planned = ["git status", "pip wheel {src}"]
    ran = ["pip wheel /s", "rm -rf /", "git status", "git push"]
    assert commands.unplanned_steps(planned, ran) == ["rm -rf /", "git push"]
    assert commands.unplanned_steps([], []) == []
    assert commands.unplanned_steps([], ["x"]) == ["x"]


def test_a_declared_read_covers_the_commands_it_starts():
    assert commands.covers(("docker", "image", "inspect"), ("docker", "image", "inspect", "x"))
    assert commands.covers(("docker", "info"), ("docker", "info"))
    # A bare program name stands for that program wherever PATH finds it.
    assert commands.covers(("nvidia-smi", "-L"), ("/usr/bin/nvidia-smi", "-L"))
    # A path stands for itself only.
    assert not commands.covers(("/opt/docker", "info"), ("/usr/bin/docker", "info"))
    assert not commands.covers(("/opt/docker", "info"), ("docker", "info"))
    assert commands.covers(("/opt/docker", "info"), ("/opt/docker", "info", "-f"))
    assert not commands.covers(("docker", "image", "rm"), ("docker", "image", "inspect", "x"))
    assert not commands.covers(("docker", "image", "inspect"), ("docker", "image"))
    assert not commands.covers(("docker",), ("podman", "info"))
    assert not commands.covers(("info",), ("docker", "info"))
    assert not commands.covers((), ("docker", "info"))


def test_undeclared_reads_name_the_command_and_its_step():
    declared = {"check": [("docker", "info")], "other": [("git",)]}
    reads = [
        ("check", ("docker", "info", "--format", "{{.X}}")),
        ("check", ("git", "log", "-1")),
        ("other", ("git", "log")),
        ("unknown", ("ls", "a b")),
    ]
    assert commands.undeclared_reads(reads, declared) == [
        "git log -1 (in 'check')",
        "ls 'a b' (in 'unknown')",
    ]
    assert commands.undeclared_reads([], declared) == []


def test_unplanned_reads_are_those_the_dry_run_did_not_show():
    assert commands.unplanned_reads(["git a", "git b"], ["git b", "git c", "git a"]) == ["git c"]
    assert commands.unplanned_reads(["git a"], ["git a", "git a"]) == []
    assert commands.unplanned_reads([], ["git a"]) == ["git a"]


def test_the_off_plan_line_shows_five_problems_and_counts_the_rest():
    assert commands.off_plan_line([]) == ""
    one = commands.off_plan_line(["git push"])
    assert one == (
        "the run did what its dry run does not show: git push; this is a bug of mlc-ci (its "
        "plan must list every command a run starts): report it"
    )
    five = commands.off_plan_line([f"c{i}" for i in range(5)])
    assert "c0; c1; c2; c3; c4; this is a bug" in five and "more" not in five
    seven = commands.off_plan_line([f"c{i}" for i in range(7)])
    assert "c0; c1; c2; c3; c4; and 2 more; this is a bug" in seven and "c5" not in seven
