"""lint: black, isort and pylint over the toolkit's own Python."""

from __future__ import annotations

import argparse
from typing import Mapping

from mlc_ci.config import Config
from mlc_ci.run import Step
from mlc_ci.sessions.base import Plan, SessionDef

FIX_HINT = "run `nox -s lint -- --fix` to apply black and isort"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the lint session."""
    parser.add_argument("--fix", action="store_true", help="apply black and isort, then check")


def plan(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> Plan:
    """Formatter checks (or fixes), then pylint; paths come from [lint].paths."""
    del env
    paths = tuple(config.lint.paths)
    cwd = str(config.root)
    if args.fix:
        steps = [
            Step("black (fix)", ("black", *paths), cwd=cwd),
            Step("isort (fix)", ("isort", *paths), cwd=cwd),
        ]
    else:
        steps = [
            Step("black", ("black", "--check", "--diff", *paths), cwd=cwd, on_fail=FIX_HINT),
            Step("isort", ("isort", "--check-only", "--diff", *paths), cwd=cwd, on_fail=FIX_HINT),
        ]
    steps.append(
        Step(
            "pylint",
            ("pylint", *paths),
            cwd=cwd,
            on_fail="fix the messages pylint printed above (the gate is a 10.00 score)",
        )
    )
    return Plan("lint", steps, {"paths": list(paths), "fix": args.fix})


DEFINITION = SessionDef("lint", "black, isort and pylint over the toolkit", add_arguments, plan)
