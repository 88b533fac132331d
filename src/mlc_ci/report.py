"""The only layer that writes reports: JSON under reports/ and a table on the terminal."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, TextIO

from mlc_ci import files
from mlc_ci.errors import PipelineError
from mlc_ci.files import sha256_of
from mlc_ci.plan.notes import human_size
from mlc_ci.probes import Probe
from mlc_ci.run import StepResult

# Where the record of a run that did not pass goes when a passing record of the same session
# exists: a failed, refused or interrupted run never replaces the last passing one.
FAILED_DIR = "failed"


@dataclass
class Artifact:
    """A file a session produced, with what a release needs to know about it."""

    name: str
    path: str
    size: int
    sha256: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class SessionReport:
    """What one session did."""

    session: str
    status: str = "running"
    dry_run: bool = False
    seconds: float = 0.0
    error: str = ""
    steps: list[StepResult] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    # Every read of the outside world (query commands, HTTP), in order, with its step.
    reads: list[Probe] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return dataclasses.asdict(self)


def artifact(path: Path, **details: Any) -> Artifact:
    """Describe a file on disk as an Artifact."""
    return Artifact(
        name=path.name,
        path=str(path),
        size=path.stat().st_size,
        sha256=sha256_of(path),
        details=details,
    )


def write_json(data: Any, target: Path) -> Path:
    """Write JSON atomically (mode 0644)."""
    return files.write_text(target, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read(path: Path) -> dict[str, Any]:
    """A session report from disk, its shape checked; one clear line when it is not one."""
    fix = "rebuild it with its session or remove it"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:  # also UnicodeDecodeError
        raise PipelineError(f"{path} is not valid JSON ({exc}); {fix}.") from exc
    except OSError as exc:
        raise PipelineError(f"{path} cannot be read ({exc.strerror or exc}); {fix}.") from exc
    artifacts = data.get("artifacts", []) if isinstance(data, dict) else None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("status", ""), str)
        or not isinstance(artifacts, list)
        or not all(_artifact_shape(a) for a in artifacts)
        or not isinstance(data.get("data", {}), dict)
    ):
        raise PipelineError(f"{path} is not an mlc-ci session report (wrong JSON shape); {fix}.")
    return data


def _artifact_shape(art: Any) -> bool:
    """An artifact as write() records it: a name, a sha256 string, and details whose tags are
    a list and whose labels a table (what release reads)."""
    if not isinstance(art, dict) or not isinstance(art.get("name"), str):
        return False
    details = art.get("details", {})
    return (
        isinstance(art.get("sha256", ""), str)
        and isinstance(details, dict)
        and isinstance(details.get("tags") or [], list)
        and all(isinstance(tag, str) for tag in details.get("tags") or [])
        and isinstance(details.get("labels") or {}, dict)
        and all(isinstance(v, str) for v in (details.get("labels") or {}).values())
    )


def step_seconds(path: Path) -> dict[str, float]:
    """The seconds each step that passed took in the report at `path`, by title; empty when
    there is none or it cannot be read (it only feeds the estimate of a progress line)."""
    try:
        steps = read(path).get("steps") if path.is_file() else None
    except PipelineError:
        return {}
    seconds: dict[str, float] = {}
    for step in steps if isinstance(steps, list) else ():
        if not isinstance(step, dict) or step.get("status") != "ok":
            continue
        title, took = step.get("title"), step.get("seconds")
        if isinstance(title, str) and isinstance(took, (int, float)) and took > 0:
            seconds.setdefault(title, float(took))
    return seconds


def _passing(path: Path) -> bool:
    try:
        return read(path).get("status") == "passed"
    except PipelineError:
        return False


def write(report: SessionReport, reports_dir: Path) -> Path:
    """Write reports/<session>.json, or reports/failed/<session>.json when this run did not
    pass and reports/<session>.json records one that did (that record stays)."""
    target = reports_dir / f"{report.session}.json"
    if report.status != "passed" and _passing(target):
        target = reports_dir / FAILED_DIR / f"{report.session}.json"
    return write_json(report.to_dict(), target)


def reports_root(env: Mapping[str, str], explicit: str | None = None) -> Path:
    """Where reports go and are read from: an explicit --reports, else MLC_CI_REPORTS_DIR, else
    ./reports (the one reader of that variable)."""
    return Path(explicit or env.get("MLC_CI_REPORTS_DIR") or "reports")


def table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain aligned text table."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*map(str, row)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def render(report: SessionReport, out: TextIO) -> None:
    """Print the summary table of a session. Its error is not repeated here: the CLI prints it
    once, as its last line (`mlc-ci: error: ...`), and the JSON report keeps it."""
    rows = [[s.title, s.status, f"{s.seconds:.1f}s", str(s.attempts)] for s in report.steps]
    # A dry run ran nothing: its time (planning) would only make two identical plans differ.
    took = "" if report.status == "planned" else f" in {report.seconds:.1f}s"
    print(f"\n== {report.session}: {report.status}{took} ==", file=out)
    if rows:
        print(table(rows, ["step", "status", "time", "tries"]), file=out)
    if report.artifacts:
        arows = [[a.name, human_size(a.size), a.sha256[:16]] for a in report.artifacts]
        print("\n" + table(arows, ["artifact", "size", "sha256"]), file=out)
    out.flush()
