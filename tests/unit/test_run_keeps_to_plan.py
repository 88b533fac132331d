"""A real run plans its dry run first and fails when it does what that dry run does not show
(cli.execute with small sessions of this file's own, on the mini-llm config)."""

from __future__ import annotations

import argparse
import io
import json
import sys
import threading

from mlc_ci import cli, config
from mlc_ci.errors import PipelineError
from mlc_ci.run import Ref, Step, capture
from mlc_ci.sessions.base import Plan, SessionDef
from tests.conftest import ROOT

GIT = ("git", "--version")


def _session(plan_fn) -> SessionDef:
    return SessionDef("probe-test", "a session of this test", lambda parser: None, plan_fn)


def _run(plan_fn, tmp_path, dry_run=False):
    cfg = config.load(ROOT / "examples" / "mini-llm" / "pipeline.toml", env={})
    args = argparse.Namespace(dry_run=dry_run)
    out = io.StringIO()
    env = {"MLC_CI_REPORTS_DIR": str(tmp_path / "reports")}
    try:
        status = cli.execute(_session(plan_fn), args, cfg, env, out)
    except PipelineError as exc:
        return str(exc), out.getvalue()
    return status, out.getvalue()


def _reads_git(reads=()):
    def plan(args, cfg, env):
        del args, cfg, env
        return Plan("probe-test", [Step("ask git", action=lambda ctx: capture(GIT), reads=reads)])

    return plan


def test_a_declared_read_passes_is_echoed_and_reported(tmp_path):
    status, out = _run(_reads_git(reads=(("git",),)), tmp_path)
    assert status == 0, out
    assert "(python) ask git [reads: git ...]" in out
    assert "      read $ git --version\n" in out
    report = json.loads((tmp_path / "reports" / "probe-test.json").read_text())
    (read,) = report["reads"]
    assert read["command"] == "git --version" and read["argv"] == list(GIT)
    assert read["status"] == "ok" and read["step"] == "ask git" and read["kind"] == "command"


def test_an_undeclared_read_fails_the_run_and_names_it(tmp_path):
    error, out = _run(_reads_git(), tmp_path)
    assert error == (
        "the run did what its dry run does not show: git --version (in 'ask git'); this is a "
        "bug of mlc-ci (its plan must list every command a run starts): report it"
    ), out
    report = json.loads((tmp_path / "reports" / "probe-test.json").read_text())
    assert report["status"] == "failed" and report["error"] == error


def test_a_read_declared_for_another_program_does_not_count(tmp_path):
    error, _ = _run(_reads_git(reads=(("docker", "info"),)), tmp_path)
    assert "git --version (in 'ask git')" in error


def test_a_dry_run_shows_the_plans_reads_and_writes_nothing(tmp_path):
    def plan(args, cfg, env):
        del cfg, env
        capture(GIT)  # a probe while planning, as host and git facts are read
        return Plan("probe-test", [Step("say", ("true",))], notes=[f"dry {args.dry_run}"])

    status, out = _run(plan, tmp_path, dry_run=True)
    assert status == 0
    assert out.splitlines()[:3] == [
        "== probe-test (dry run) ==",
        "   read $ git --version",
        "   dry True",
    ]
    assert not (tmp_path / "reports").exists()
    status, out = _run(plan, tmp_path)
    assert status == 0, out
    # The real run shows its own planning read once, not that of the dry run before it.
    assert out.count("read $ git --version") == 1


def test_a_step_the_dry_run_does_not_have_fails_the_run(tmp_path):
    def plan(args, cfg, env):
        del cfg, env
        extra = [] if args.dry_run else [Step("sneak", (sys.executable, "-c", "pass"))]
        return Plan("probe-test", [Step("say", ("true",)), *extra])

    error, out = _run(plan, tmp_path)
    assert error.startswith(
        f"the run did what its dry run does not show: {sys.executable} -c pass;"
    )
    assert "[2/2] sneak" in out  # the check comes after the run: it names what ran


def test_a_planning_read_the_dry_run_does_not_make_fails_the_run(tmp_path):
    def plan(args, cfg, env):
        del cfg, env
        if not args.dry_run:
            capture(GIT)
        return Plan("probe-test", [Step("say", ("true",))])

    error, _ = _run(plan, tmp_path)
    assert error.startswith("the run did what its dry run does not show: git --version;")


def test_a_dry_run_that_fails_where_the_run_plans_fails_the_run(tmp_path):
    def plan(args, cfg, env):
        del cfg, env
        if args.dry_run:
            raise PipelineError("no engine to read.")
        return Plan("probe-test", [Step("say", ("true",))])

    error, _ = _run(plan, tmp_path)
    assert error.startswith("the run did what its dry run does not show: its dry run fails (no ")
    assert not (tmp_path / "reports" / "probe-test.json").exists()  # refused before it ran


def test_the_real_plans_own_error_comes_before_the_dry_runs(tmp_path):
    def plan(args, cfg, env):
        del cfg, env
        raise PipelineError("dry" if args.dry_run else "set [image].name; it is missing.")

    error, _ = _run(plan, tmp_path)
    assert error == "set [image].name; it is missing."


def test_placeholders_filled_at_run_time_match_their_planned_line(tmp_path):
    def plan(args, cfg, env):
        del args, cfg, env
        made = Step("make", action=lambda ctx: ctx.update(name="a b"))
        return Plan("probe-test", [made, Step("use", ("echo", Ref("name")))])

    status, out = _run(plan, tmp_path)
    assert status == 0, out
    assert "$ echo 'a b'" in out


def test_a_thread_an_action_starts_reads_in_that_actions_step(tmp_path):
    def ask_in_a_thread(ctx):
        del ctx
        worker = threading.Thread(target=capture, args=(GIT,))
        worker.start()
        worker.join()

    def plan(args, cfg, env):
        del args, cfg, env
        return Plan("probe-test", [Step("ask git", action=ask_in_a_thread, reads=(("git",),))])

    status, out = _run(plan, tmp_path)
    assert status == 0, out
    report = json.loads((tmp_path / "reports" / "probe-test.json").read_text())
    assert [read["step"] for read in report["reads"]] == ["ask git"]
