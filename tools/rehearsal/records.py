"""What a rehearsal reports: per job its runner, image, steps, artifacts and verdict."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PASSED, WALL, FAILED, NOT_RUNNABLE, SKIPPED = "passed", "wall", "failed", "not runnable", "skipped"
VERDICTS = (PASSED, WALL, FAILED, NOT_RUNNABLE, SKIPPED)
WALLS = Path(__file__).with_name("walls.toml")
WALL_TAIL = 20  # lines of a failed step's log that can hold the error that stopped it


@dataclass
class StepRecord:
    """One step as it ran."""

    name: str
    outcome: str  # success, failure, skipped
    seconds: float = 0.0
    wall: str = ""
    error: str = ""
    limit: str = ""  # the line that shows a local equivalent cannot run this step


@dataclass
class JobRecord:  # pylint: disable=too-many-instance-attributes  # a report row
    """One job (one matrix combination) as it ran."""

    key: str
    name: str
    runs_on: str
    verdict: str = SKIPPED
    result: str = "skipped"  # what `needs.<job>.result` says: success, failure, skipped
    forced: bool = False  # ran only because of --run-past-failures
    image_id: str = ""
    reason: str = ""
    seconds: float = 0.0
    steps: list[StepRecord] = field(default_factory=list)
    artifacts_in: dict[str, int] = field(default_factory=dict)
    artifacts_out: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    concurrency: str = ""
    environment: str = ""
    stand_ins: list[str] = field(default_factory=list)

    @property
    def steps_run(self) -> int:
        """Steps that ran (not skipped by their `if:`)."""
        return sum(step.outcome != "skipped" for step in self.steps)


@lru_cache(maxsize=1)
def _walls() -> tuple[tuple[str, re.Pattern[str]], ...]:
    data = tomllib.loads(WALLS.read_text(encoding="utf-8"))
    return tuple(
        (host, re.compile(pattern.replace("{host}", re.escape(host))))
        for host in data["hosts"]
        for pattern in data["patterns"]
    )


# The closing summary of an mlc-ci session: a table of the steps that ran (one line each, as
# many as the plan had), then its error line. It repeats step names only, so it is left out of
# the tail, whose length would otherwise depend on how far the session got.
_SUMMARY = re.compile(r"^== .*: failed in [0-9.]+s ==$")
_TABLE_ROW = re.compile(r"^(step\b|-{4,}|\S.*\s(ok|failed|skipped|planned)\s+[0-9.]+s\s+\d+\s*$)")


def _without_summary(lines: list[str]) -> list[str]:
    """lines less the table of the last mlc-ci summary (its `== ... failed` line included)."""
    starts = [i for i, line in enumerate(lines) if _SUMMARY.match(line.strip())]
    if not starts:
        return lines
    end = starts[-1] + 1
    while end < len(lines) and (not lines[end].strip() or _TABLE_ROW.match(lines[end])):
        end += 1
    return lines[: starts[-1]] + lines[end:]


def wall_of(log: str) -> str:
    """The walled host whose connection error stopped a step, or ''."""
    for line in reversed(_without_summary(log.splitlines())[-WALL_TAIL:]):
        for host, pattern in _walls():
            if pattern.search(line):
                return host
    return ""


def limit_of(log: str, limits: tuple[str, ...]) -> str:
    """The line of a failed step's tail that matches one of a local equivalent's limits, or ''."""
    patterns = [re.compile(limit) for limit in limits]
    for line in reversed(_without_summary(log.splitlines())[-WALL_TAIL:]):
        if any(pattern.search(line) for pattern in patterns):
            return line.strip()
    return ""


def write(path: Path, event: str, jobs: list[JobRecord], extra: dict[str, object]) -> None:
    """The report as JSON (written to a temporary name first: never half-written)."""
    counts = {verdict: sum(job.verdict == verdict for job in jobs) for verdict in VERDICTS}
    counts["forced"] = sum(job.forced for job in jobs)
    data = {"event": event, **extra, "counts": counts, "jobs": [asdict(job) for job in jobs]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def table(jobs: list[JobRecord]) -> str:
    """One line per job: verdict, steps run, seconds, artifacts, name, reason."""
    lines = [f"{'verdict':<14} {'steps':>5} {'sec':>6} {'in MB':>7} {'out MB':>7}  job"]
    for job in jobs:
        verdict = job.verdict + (" (forced)" if job.forced else "")
        size_in = sum(job.artifacts_in.values()) / 1e6
        size_out = sum(job.artifacts_out.values()) / 1e6
        reason = f"  ({job.reason})" if job.reason else ""
        lines.append(
            f"{verdict:<14} {job.steps_run:>2}/{len(job.steps):<2} {job.seconds:>6.0f} "
            f"{size_in:>7.1f} {size_out:>7.1f}  {job.name}{reason}"
        )
        lines += [f"{'':<14} stand-in: {used}" for used in job.stand_ins]
    return "\n".join(lines)
