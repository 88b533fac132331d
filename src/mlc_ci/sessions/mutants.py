"""mutants: mutmut over plan/ and config.py ([tool.mutmut] in pyproject.toml), the score, and
the mutants left alive in reports/mutants.json. On demand (about an hour on 2 cores)."""

from __future__ import annotations

import argparse
from typing import Mapping

from mlc_ci import host
from mlc_ci.config import Config
from mlc_ci.errors import PipelineError
from mlc_ci.plan import mutants
from mlc_ci.run import Context, Step
from mlc_ci.sessions.base import Plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the mutants tool."""
    parser.add_argument(
        "--fail-under", type=float, default=90.0, help="minimum killed percentage (default 90)"
    )
    parser.add_argument("--jobs", type=int, help="mutants tested at once (default: the CPUs)")
    parser.add_argument(
        "names", nargs="*", help="mutant name globs to run (e.g. 'mlc_ci.plan.cache*'); all else"
    )


def plan(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> Plan:
    """Run mutmut, read every verdict, gate on the score."""
    del config
    if args.jobs is not None and args.jobs < 1:
        raise PipelineError(f"--jobs is {args.jobs}; give 1 or more mutants at a time.")
    if not 0 <= args.fail_under <= 100:
        raise PipelineError(f"--fail-under is {args.fail_under:g}; give a percentage, 0 to 100.")
    jobs = args.jobs or host.jobs(env)
    steps = [
        Step(
            "mutmut run",
            ("mutmut", "run", "--max-children", str(jobs), *args.names),
            on_fail="mutmut itself failed (its output is above); the suite must pass unmutated",
        ),
        Step(
            "mutmut results",
            ("mutmut", "results", "--all", "true"),
            capture=True,
            save_as="mutmut_results",
        ),
        Step(
            f"score (at least {args.fail_under:g} % killed)",
            action=_score(args.fail_under, complete=not args.names),
        ),
    ]
    data = {"fail_under": args.fail_under, "jobs": jobs, "names": list(args.names)}
    return Plan("mutants", steps, data)


def _score(fail_under: float, complete: bool):
    def action(ctx: Context) -> None:
        try:
            score = mutants.parse_results(ctx["mutmut_results"])
        except ValueError as exc:
            raise PipelineError(f"{exc}; mutmut's output format changed.") from exc
        alive = score.alive()
        ctx.setdefault("report", {}).update(
            score=round(score.percent, 2),
            killed=score.killed,
            counted=score.counted,
            counts={status: len(names) for status, names in score.by_status.items()},
            alive=alive,
        )
        print(
            f"      {score.percent:.1f} % killed ({score.killed} of {score.counted}); alive: "
            + (", ".join(f"{len(v)} {k}" for k, v in alive.items()) or "none")
        )
        problem = mutants.gate(score, fail_under, complete)
        if problem:
            raise PipelineError(problem)

    return action
