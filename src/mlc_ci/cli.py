"""`python -m mlc_ci`: every session, plus config, version, plan and matrix."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Mapping, Sequence, TextIO

from mlc_ci import config as config_mod
from mlc_ci import files, lock, probes
from mlc_ci import report as report_mod
from mlc_ci.errors import PipelineError
from mlc_ci.plan import commands
from mlc_ci.plan import matrix as ci_matrix
from mlc_ci.plan.versions import ignored_note
from mlc_ci.run import Runner
from mlc_ci.sessions import index as index_session
from mlc_ci.sessions import mutants as mutants_session
from mlc_ci.sessions import promote as promote_session
from mlc_ci.sessions import registry
from mlc_ci.sessions import rehearse as rehearse_session
from mlc_ci.sessions.base import SessionDef
from mlc_ci.versioning import full_history_version


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", help="pipeline.toml to use (default: $MLC_CI_CONFIG or ./pipeline.toml)"
    )


def build_parser(sessions: Mapping[str, SessionDef]) -> argparse.ArgumentParser:
    """The full command-line interface."""
    parser = argparse.ArgumentParser(prog="mlc_ci", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _common(sub.add_parser("config", help="print the resolved configuration as JSON"))
    version = sub.add_parser("version", help="print the version derived from git as JSON")
    version.add_argument("--repo", default=".", help="git checkout to read (default: .)")
    matrix = sub.add_parser("matrix", help="the CI matrix per stage from `nox --list --json`")
    _common(matrix)
    matrix.add_argument(
        "--nox-json", required=True, metavar="FILE", help="`nox --list --json` output, - for stdin"
    )
    matrix.add_argument(
        "--format",
        choices=("json", "github", "mermaid"),
        default="json",
        help="json (default), stage=<json> lines for $GITHUB_OUTPUT, or a mermaid diagram",
    )
    _index_parser(sub.add_parser("index", help="the wheel index: build, check, select, yank"))
    promote = sub.add_parser("promote", help="move the mutable image tags to the tested digests")
    _common(promote)
    promote.add_argument("--dry-run", action="store_true", help="print the plan only")
    promote_session.add_arguments(promote)
    rehearse = sub.add_parser("rehearse", help="run the CI workflow of one event on this host")
    _common(rehearse)
    rehearse.add_argument("--dry-run", action="store_true", help="print the jobs only")
    rehearse_session.add_arguments(rehearse)
    mutants = sub.add_parser("mutants", help="mutation testing of plan/ and config.py (mutmut)")
    _common(mutants)
    mutants.add_argument("--dry-run", action="store_true", help="print the plan only")
    mutants_session.add_arguments(mutants)
    plan = sub.add_parser("plan", help="print a session's plan without running it")
    plan.add_argument("session", choices=sorted(sessions))
    plan.add_argument("session_args", nargs=argparse.REMAINDER)
    for name, defn in sessions.items():
        session = sub.add_parser(name, help=defn.description)
        _common(session)
        session.add_argument("--dry-run", action="store_true", help="print the plan only")
        defn.add_arguments(session)
        # Its own usage, not the top-level one, for an option the session does not know.
        session.set_defaults(session_parser=session)
    return parser


def _index_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="index_command", required=True, metavar="ACTION")
    build = sub.add_parser("build", help="publish the verified wheels into the tree")
    _common(build)
    build.add_argument("--dry-run", action="store_true", help="print the plan only")
    index_session.add_build_arguments(build)
    check = sub.add_parser("check", help="check a tree (a directory or a served URL)")
    _common(check)
    check.add_argument("source", metavar="ROOT|URL")
    check.add_argument("--max-age-days", type=float, help="newest nightly age limit (default 3)")
    select = sub.add_parser("select", help="the variant, index URL and install line for here")
    _common(select)
    select.add_argument("--channel", choices=("stable", "nightly"), default="stable")
    select.add_argument("--driver", help="NVIDIA driver version (default: from nvidia-smi)")
    select.add_argument("--index-url", help="where the tree is served ([index].url)")
    yank = sub.add_parser("yank", help="yank a version (PEP 592); nothing is deleted")
    yank.add_argument("root", metavar="ROOT")
    yank.add_argument("project")
    yank.add_argument("version")
    yank.add_argument("--reason", required=True, help="shown to users by pip")


def _index(args: argparse.Namespace, env: dict[str, str], out: TextIO) -> int:
    """`index ...`, `promote`, `rehearse` and `mutants`: the tools beside the sessions."""
    tools = {
        "mutants": (mutants_session.add_arguments, mutants_session.plan),
        "rehearse": (rehearse_session.add_arguments, rehearse_session.plan_rehearsal),
        "promote": (promote_session.add_arguments, promote_session.plan),
    }
    if args.command in tools:
        defn = SessionDef(args.command, "", *tools[args.command])
        return execute(defn, args, config_mod.load(args.config, env), env, out)
    if args.index_command == "yank":
        return index_session.yank(Path(args.root), (args.project, args.version, args.reason), out)
    if args.index_command == "check":
        found = config_mod.config_named(args.config, env)
        config = config_mod.load(args.config, env) if found else None
        limit = args.max_age_days or (config.index.max_age_days if config else 3)
        return index_session.check(args.source, config, limit, out)
    config = config_mod.load(args.config, env)
    if args.index_command == "select":
        return index_session.select(config, args, env, out)
    defn = SessionDef(
        "index", "the wheel index", index_session.add_build_arguments, index_session.build_plan
    )
    return execute(defn, args, config, env, out)


class Terminated(BaseException):
    """SIGTERM (CI cancellation, `timeout`, `docker stop`), raised like Ctrl-C so that every
    cleanup step (the source-tree restore) and the report still run."""


def _on_sigterm(signum: int, frame: object) -> None:
    del signum, frame
    raise Terminated()


def _print_paths_as_bytes(out: TextIO) -> None:
    """A path that is not UTF-8 (os.fsdecode keeps its bytes as surrogates) prints as those
    bytes, as `ls` shows it, where a strict UTF-8 stdout (LANG=en_US.UTF-8) would fail on it."""
    if isinstance(out, io.TextIOWrapper) and out.errors == "strict":
        out.reconfigure(errors="surrogateescape")


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point: one clear line and a non-zero status for every user error."""
    # sys.stdout when called, not when imported: a caller may have replaced it since.
    out = out or sys.stdout
    _print_paths_as_bytes(out)
    env = dict(os.environ)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        return _dispatch(list(sys.argv[1:] if argv is None else argv), env, out)
    except PipelineError as exc:
        print(f"mlc-ci: error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error of the pipeline.
        sys.stderr.close()
        return 141
    except KeyboardInterrupt:
        print("mlc-ci: interrupted (SIGINT); the source tree was restored", file=sys.stderr)
        return 130
    except Terminated:
        print("mlc-ci: terminated (SIGTERM); the source tree was restored", file=sys.stderr)
        return 143
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # The backstop for a bug of the toolkit: one line naming it (the traceback with
        # MLC_CI_DEBUG=1); every known bad input has its own message before this.
        if env.get("MLC_CI_DEBUG", "").lower() in ("1", "true", "yes"):
            raise
        print(
            f"mlc-ci: internal error: {type(exc).__name__}: {exc} (a bug of mlc-ci: rerun with "
            "MLC_CI_DEBUG=1 for the traceback and report it)",
            file=sys.stderr,
        )
        return 70
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _dispatch(argv: list[str], env: dict[str, str], out: TextIO) -> int:
    sessions = registry()
    parser = build_parser(sessions)
    args = _parse(parser, argv)
    if args.command == "version":
        version = full_history_version(Path(args.repo))
        data = {
            "pep440": version.pep440,
            "semver": version.semver,
            "tag": version.tag,
            "distance": version.distance,
            "sha": version.sha,
            "prerelease": version.is_prerelease,
            "ignored_tags": list(version.ignored_tags),
        }
        if version.ignored_tags:
            print(f"mlc-ci: note: {ignored_note(version)}", file=sys.stderr)
        print(json.dumps(data, indent=2), file=out)
        return 0
    if args.command in ("index", "promote", "rehearse", "mutants"):
        return _index(args, env, out)
    if args.command == "plan":
        rest = list(args.session_args)
        if rest[:1] == ["--"]:  # the separator of `plan S -- ARGS`, where argparse keeps it
            rest = rest[1:]
        return _dispatch([args.session, "--dry-run", *rest], env, out)
    config = config_mod.load(args.config, env)
    if args.command == "config":
        print(json.dumps(config.to_dict(), indent=2, default=str), file=out)
        return 0
    if args.command == "matrix":
        stages = ci_matrix.build(
            _read_listing(args.nox_json),
            config.release.gpu_runner,
            pull_request=not ci_matrix.gpu_allowed(env, config.image.default_branch),
            axis=ci_matrix.variant_axis(config),
            pythons=config.python.versions,
        )
        stages = ci_matrix.with_provision(stages, ci_matrix.provision(config))
        print(ci_matrix.render(stages, args.format), file=out)
        return 0
    return execute(sessions[args.command], args, config, env, out)


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse argv; sessions that run pytest hand it everything from their first unknown word.

    So `unit -k foo`, `unit -- -k foo` and `plan unit -- -k foo` mean the same, as nox posargs.
    """
    args, extra = parser.parse_known_args(argv)
    if not extra:
        return args
    if not hasattr(args, "pytest_args"):
        own = getattr(args, "session_parser", parser)
        own.error(f"unrecognized arguments: {' '.join(extra)} (see `{own.prog} --help`)")
    cut = argv.index(extra[0])
    args = parser.parse_args(argv[:cut])
    tail = argv[cut:]
    args.pytest_args = [*args.pytest_args, *(tail[1:] if tail[:1] == ["--"] else tail)]
    return args


def _read_listing(source: str) -> list:
    """The `nox --list --json` output from a file, or from stdin for `-`."""
    if source == "-":
        return ci_matrix.parse_listing(sys.stdin.read())
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise PipelineError(
            f"cannot read the nox listing {source} ({exc.strerror}); write it with "
            "`nox --list --json > FILE`."
        ) from exc
    return ci_matrix.parse_listing(text)


def execute(
    defn: SessionDef,
    args: argparse.Namespace,
    config: config_mod.Config,
    env: Mapping[str, str],
    out: TextIO,
) -> int:
    """Plan, run, report. A dry run prints the plan and writes no report; a real run plans a
    dry run first and fails if it starts a command that dry run does not show."""
    _require_checkout_root(config)
    if args.dry_run:
        return _execute(defn, args, config, env, out)
    with lock.held(defn.name, sys.orig_argv):
        return _execute(defn, args, config, env, out)


def _require_checkout_root(config: config_mod.Config) -> None:
    """Refuse to run from anywhere but the root of the git checkout holding the config: reports/
    and .cache/ go to the current directory, and a subdirectory would get them untracked."""
    top = config_mod.repository_root(config.root)
    here = Path.cwd().resolve()
    if top is None or here == top:
        return
    given = config.path.relative_to(top)
    again = "" if given == Path(config_mod.DEFAULT_CONFIG) else f" with --config {given}"
    raise PipelineError(
        f"the current directory {here} is not the root of the git checkout holding "
        f"{config.path}, and a run writes reports/ and .cache/ where it starts; `cd {top}` and "
        f"run it from there{again}."
    )


def _execute(
    defn: SessionDef,
    args: argparse.Namespace,
    config: config_mod.Config,
    env: Mapping[str, str],
    out: TextIO,
) -> int:
    plan, shown = _plans(defn, args, config, env)
    reports_dir = report_mod.reports_root(env)
    if not args.dry_run:
        files.ensure_dir(reports_dir, "reports directory (MLC_CI_REPORTS_DIR)")
    # The last run's step times: a long build's progress line estimates from them.
    last = report_mod.step_seconds(reports_dir / f"{plan.report_name}.json")
    runner = Runner(dry_run=args.dry_run, out=out, env=env, previous=last)
    print(f"== {plan.report_name}" + (" (dry run)" if args.dry_run else "") + " ==", file=out)
    for probe in probes.LOG.records:
        print(f"   read $ {probe.command}" + probes.outcome(probe), file=out)
    for note in plan.notes:
        print(f"   {note}", file=out)
    report = report_mod.SessionReport(plan.report_name, dry_run=args.dry_run, data=dict(plan.data))
    start = time.monotonic()
    probes.LOG.out = out
    try:
        runner.run_all(plan.steps)
        if shown is not None:
            _kept_to(shown, plan, runner)
        report.status = "planned" if args.dry_run else "passed"
    except PipelineError as exc:
        report.status = "failed"
        report.error = str(exc)
        raise
    except (KeyboardInterrupt, Terminated) as exc:  # the record says so, never "running"
        report.status = "interrupted"
        report.error = f"interrupted by {'SIGTERM' if isinstance(exc, Terminated) else 'SIGINT'}"
        raise
    except BaseException as exc:  # a bug of the toolkit: recorded as a failure, with its cause
        report.status = "failed"
        report.error = f"internal error: {type(exc).__name__}: {exc}"
        raise
    finally:
        for step in plan.cleanup:
            runner.run(step, 1, 1)
        probes.LOG.out = None
        report.seconds = round(time.monotonic() - start, 3)
        report.steps = runner.results
        report.artifacts = runner.context.get("artifacts", [])
        report.data.update(runner.context.get("report", {}))
        report.reads = list(probes.LOG.records)
        if not args.dry_run:
            path = report_mod.write(report, reports_dir)
            kept = reports_dir / f"{report.session}.json"
            kept_note = f" (the passing {kept} is kept)" if path != kept else ""
            print(f"report: {path}{kept_note}", file=out)
        report_mod.render(report, out)
    return 0


def _plans(defn, args, config, env):
    """The plan to run, and what its dry run shows (None for a dry run)."""
    try:
        shown, dry_error = _dry_plan(defn, args, config, env), None
    except PipelineError as exc:  # the real plan's own error, if it has one, comes first
        shown, dry_error = None, exc
    probes.LOG.start()
    plan = defn.plan(args, config, env)
    if dry_error is not None:
        raise PipelineError(commands.off_plan_line([f"its dry run fails ({dry_error})"]))
    return plan, shown


def _dry_plan(defn, args, config, env) -> tuple[list[str], list[str]] | None:
    """What `plan S` shows for a real run's arguments: its step lines and its reads (None for
    a dry run, which is that plan)."""
    if args.dry_run:
        return None
    probes.LOG.start()
    dry = defn.plan(argparse.Namespace(**{**vars(args), "dry_run": True}), config, env)
    return (
        [step.command_text() for step in (*dry.steps, *dry.cleanup)],
        [probe.command for probe in probes.LOG.records],
    )


def _kept_to(shown: tuple[list[str], list[str]], plan, runner: Runner) -> None:
    """Fail the run when it started a command, or made a read, its dry run does not show."""
    lines, planning = shown
    declared: dict[str, list[tuple[str, ...]]] = {}
    for step in (*plan.steps, *plan.cleanup):
        declared.setdefault(step.title, []).extend(step.reads)
    reads = [p for p in probes.LOG.records if p.kind == "command"]
    problems = [
        *commands.unplanned_steps(lines, [result.command for result in runner.results]),
        *commands.unplanned_reads(planning, [p.command for p in reads if not p.step]),
        *commands.undeclared_reads([(p.step, p.argv) for p in reads if p.step], declared),
    ]
    if problems:
        raise PipelineError(commands.off_plan_line(problems))
