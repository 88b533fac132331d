"""The only layer that writes reports: JSON under reports/ and a table on the terminal."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from mlc_ci.run import StepResult


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return dataclasses.asdict(self)


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
    """Write JSON atomically: a temporary file in the same directory, then a rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=True, default=str)
            out.write("\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write(report: SessionReport, reports_dir: Path) -> Path:
    """Write reports/<session>.json."""
    return write_json(report.to_dict(), reports_dir / f"{report.session}.json")


def human_size(size: int) -> str:
    """1536 -> '1.5 KiB'."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain aligned text table."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*map(str, row)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def render(report: SessionReport, out: TextIO) -> None:
    """Print the summary table of a session."""
    rows = [[s.title, s.status, f"{s.seconds:.1f}s", str(s.attempts)] for s in report.steps]
    print(f"\n== {report.session}: {report.status} in {report.seconds:.1f}s ==", file=out)
    if rows:
        print(table(rows, ["step", "status", "time", "tries"]), file=out)
    if report.artifacts:
        arows = [[a.name, human_size(a.size), a.sha256[:16]] for a in report.artifacts]
        print("\n" + table(arows, ["artifact", "size", "sha256"]), file=out)
    if report.error:
        print(f"\nerror: {report.error}", file=out)
    out.flush()
