"""Run the real `python -m mlc_ci` CLI from the repository root, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT, TOOLKIT_PATH, explain, run_mlc_ci

__all__ = ["ROOT", "CliResult", "run_cli", "in_clone", "scratch_clone"]


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


def scratch_clone(work: Path) -> Path:
    """A clone of this repository's HEAD at `work`, without its tags: the test alone decides
    the versions there (CI runs these tests on a tagged commit too, where HEAD's own tag would
    otherwise win)."""
    subprocess.run(("git", "clone", "-q", "--shared", str(ROOT), str(work)), check=True)
    tags = subprocess.run(
        ("git", "-C", str(work), "tag", "--list"), check=True, capture_output=True, text=True
    ).stdout.split()
    if tags:
        subprocess.run(
            ("git", "-C", str(work), "tag", "--delete", *tags), check=True, capture_output=True
        )
    return work


def in_clone(
    work: Path,
    *args: str,
    reports: str = "reports",
    config: str = "examples/mini-llm/pipeline.toml",
) -> subprocess.CompletedProcess:
    """`python -m mlc_ci ARGS --config CONFIG` inside a scratch clone `work` of this repository
    (its versions come from the clone's git), reports in `work/<reports>`; none of this
    machine's version or cache overrides leak in."""
    env = {**os.environ, "PYTHONPATH": TOOLKIT_PATH, "MLC_CI_REPORTS_DIR": str(work / reports)}
    for name in ("MLC_CI_SOURCE_VERSION", "SOURCE_DATE_EPOCH", "MLC_CI_CACHE_REMOTE"):
        env.pop(name, None)
    return subprocess.run(
        (sys.executable, "-m", "mlc_ci", *args, "--config", config),
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
