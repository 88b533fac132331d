"""Run the real `python -m mlc_ci` CLI from the repository root, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import mlc_ci

ROOT = Path(__file__).resolve().parents[2]
# The mlc_ci these tests import; the CLI subprocesses run the same code.
TOOLKIT_PATH = str(Path(mlc_ci.__file__).resolve().parents[1])


@dataclass(frozen=True)
class CliResult:
    """What one `python -m mlc_ci ...` run did."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    reports: Path

    def error_lines(self) -> list[str]:
        """Non-empty stderr lines."""
        return [line for line in self.stderr.splitlines() if line.strip()]

    def explain(self) -> str:
        """The end of the output, for assertion messages."""
        return (
            f"exit {self.returncode} after {self.seconds:.0f}s\n--- stdout (end)\n"
            f"{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-2000:]}"
        )


def run_cli(
    *args: str, reports: Path, env: dict[str, str | None] | None = None, timeout: float = 1200
) -> CliResult:
    """`python -m mlc_ci ARGS` from the repository root, its reports written under `reports`.

    The subprocess gets this process's environment updated with `env` (None removes a
    variable); MLC_CI_REPORTS_DIR keeps its reports out of reports/, which the integration
    session reads.
    """
    full = dict(os.environ)
    full["PYTHONPATH"] = os.pathsep.join(filter(None, (TOOLKIT_PATH, full.get("PYTHONPATH"))))
    full["MLC_CI_REPORTS_DIR"] = str(reports)
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    started = time.monotonic()
    proc = subprocess.run(
        (sys.executable, "-m", "mlc_ci", *args),
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started, reports)


def assert_one_line_error(result: CliResult, *fragments: str) -> str:
    """The run failed with exactly one `mlc-ci: error:` line on stderr holding `fragments`."""
    assert result.returncode != 0, result.explain()
    assert "Traceback" not in result.stderr + result.stdout, result.explain()
    lines = result.error_lines()
    assert len(lines) == 1, result.explain()
    assert lines[0].startswith("mlc-ci: error: "), result.explain()
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in: {lines[0]}"
    return lines[0]
