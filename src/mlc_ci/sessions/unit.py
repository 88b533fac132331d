"""unit: pytest over tests/unit with branch coverage, JUnit XML and coverage XML per Python."""

from __future__ import annotations

import argparse
import sys
from typing import Mapping

from mlc_ci import report
from mlc_ci.config import Config
from mlc_ci.run import Step
from mlc_ci.sessions.base import Plan, SessionDef


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the unit session."""
    parser.add_argument("--python", default=f"{sys.version_info[0]}.{sys.version_info[1]}")
    parser.add_argument("--reports-subdir", default="", help=argparse.SUPPRESS)
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments")


def plan(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> Plan:
    """One pytest run in the current directory; reports land in reports/unit-<python>/."""
    del config
    name = f"unit-{args.python}"
    # Absolute: CLI subprocesses started in temporary directories write their data here too.
    out = str(report.reports_root(env).resolve() / name)
    argv = (
        "python",
        "-m",
        "pytest",
        "tests/unit",
        "-m",
        "unit",
        "--cov",  # the sources of [tool.coverage.run]
        "--cov-branch",
        f"--cov-report=xml:{out}/coverage.xml",
        f"--cov-report=html:{out}/htmlcov",
        "--cov-report=term",
        "--cov-fail-under=90",
        f"--junitxml={out}/junit.xml",
        *args.pytest_args,
    )
    step = Step(
        "pytest tests/unit",
        argv,
        env={"COVERAGE_FILE": f"{out}/.coverage"},
        on_fail="see the failures and the coverage table above",
    )
    return Plan(name, [step], {"python": args.python, "junit": f"{out}/junit.xml"})


DEFINITION = SessionDef("unit", "unit tests with coverage, one run per Python", add_arguments, plan)
