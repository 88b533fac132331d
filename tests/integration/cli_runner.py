"""Run the real `python -m mlc_ci` CLI from the repository root, as a user would."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT, explain, run_mlc_ci

__all__ = ["ROOT", "CliResult", "run_cli"]


@dataclass(frozen=True)
class CliResult:
    """What one `python -m mlc_ci ...` run did."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    reports: Path

    def explain(self) -> str:
        """The end of the output, for assertion messages."""
        return f"after {self.seconds:.0f}s: {explain(self)}"


def run_cli(
    *args: str, reports: Path, env: dict[str, str | None] | None = None, timeout: float = 1200
) -> CliResult:
    """`python -m mlc_ci ARGS` from the repository root, its reports written under `reports`.

    MLC_CI_REPORTS_DIR keeps the reports out of reports/, which the integration session reads.
    """
    started = time.monotonic()
    proc = run_mlc_ci(
        *args, env={**(env or {}), "MLC_CI_REPORTS_DIR": str(reports)}, timeout=timeout
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started, reports)
