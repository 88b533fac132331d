"""Pure parts of the benchmark: statistics, ratios, targets, log parsing, the CI critical path
and the markdown table. No processes, no files: benchmarks/run.py does the measuring.
"""

from __future__ import annotations

import re
import statistics
from typing import Any, Iterable, Mapping, Sequence

STAGES = ("gate", "build", "verify", "release")
# `#14 52.31 text` (BuildKit --progress=plain) -> `text`.
_DOCKER_PREFIX = re.compile(r"^#\d+ (?:\d+\.\d+ )?")
_COMPILE = re.compile(r"Building (?:C|CXX|CUDA) object (\S+)")
_CCACHE_LINE = re.compile(r"^\s*(Cacheable calls|Hits|Misses|Direct|Preprocessed):\s+(\d+)\s*/")

Figure = dict[str, Any]


def summarize(values: Sequence[float]) -> Figure:
    """min / median / max (and the raw values) of one measurement's repetitions."""
    if not values:
        raise ValueError("no values to summarize")
    return {
        "n": len(values),
        "min": round(min(values), 3),
        "median": round(statistics.median(values), 3),
        "max": round(max(values), 3),
        "values": [round(v, 3) for v in values],
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator rounded to 4 places; None when either is missing or zero."""
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 4)


def target(name: str, value: float | None, limit: float, op: str = "<=") -> dict[str, Any]:
    """A target check; `met` is None when the value could not be measured."""
    checks = {"<=": lambda v: v <= limit, "==": lambda v: v == limit, ">=": lambda v: v >= limit}
    if op not in checks:
        raise ValueError(f"unknown operator {op!r}")
    met = None if value is None else bool(checks[op](value))
    return {"name": name, "value": value, "op": op, "limit": limit, "met": met}


def step_medians(runs: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Median seconds per step title over runs (session reports), largest first."""
    titles = dict.fromkeys(title for run in runs for title in run)
    medians = {t: round(statistics.median(r[t] for r in runs if t in r), 3) for t in titles}
    return dict(sorted(medians.items(), key=lambda item: -item[1]))


def strip_docker_prefix(line: str) -> str:
    """A BuildKit plain-progress line without its `#<step> <seconds>` prefix."""
    return _DOCKER_PREFIX.sub("", line)


def parse_ccache_show_stats(log: str) -> dict[str, int] | None:
    """Counters of the last `ccache --show-stats` block (ccache 4.x) in a build log.

    Only the first Hits/Misses after `Cacheable calls` count (the `Local storage` block repeats
    them). All zero when ccache printed only its storage block (no calls since `ccache -z`);
    None when the log holds no statistics at all (the step was cached and did not run).
    """
    blocks: list[dict[str, int]] = []
    printed = False
    for raw in log.splitlines():
        line = strip_docker_prefix(raw)
        printed = printed or line.startswith("Local storage:")
        match = _CCACHE_LINE.match(line)
        if not match:
            continue
        key, value = match.group(1).lower().replace(" ", "_"), int(match.group(2))
        if key == "cacheable_calls":
            blocks.append({"cacheable_calls": value})
        elif blocks and key not in blocks[-1]:
            blocks[-1][key] = value
    if not blocks and not printed:
        return None
    found = blocks[-1] if blocks else {}
    return {
        key: found.get(key, 0)
        for key in ("cacheable_calls", "hits", "misses", "direct", "preprocessed")
    }


def compiled_units(log: str) -> list[str]:
    """Object files the build log says were compiled (`Building CXX object ...`), unique."""
    return list(dict.fromkeys(_COMPILE.findall(log)))


def one_line_change(path: str, token: int) -> str:
    """A line that changes what the compiler (or Python) sees, unique per token."""
    if path.endswith((".cc", ".cpp", ".cxx", ".cu", ".h", ".hpp")):
        # Code, not a comment: ccache's preprocessor mode would turn a comment into a hit.
        return f"namespace {{ [[maybe_unused]] constexpr int kMlcCiBench{token} = {token}; }}\n"
    if path.endswith(".py"):
        return f"_MLC_CI_BENCH_{token} = {token}\n"
    raise ValueError(f"no one-line change defined for {path}")


def stage_sessions(
    listing: Iterable[Mapping[str, Any]], stages: Sequence[str] = STAGES
) -> dict[str, list[str]]:
    """Stage -> sessions, from `nox --list --json` entries (each session in its stage tag)."""
    result: dict[str, list[str]] = {stage: [] for stage in stages}
    for entry in listing:
        tags = set(entry.get("tags") or [])
        for stage in stages:
            if stage in tags:
                result[stage].append(entry["session"])
                break
    return result


def critical_path(
    stages: Mapping[str, Sequence[str]], durations: Mapping[str, float]
) -> dict[str, Any]:
    """The workflow as a matrix (stages in order, sessions of a stage in parallel) vs serial.

    Sessions without a duration are listed as missing and left out of both sums.
    """
    rows, missing = [], []
    for stage, sessions in stages.items():
        measured = {s: durations[s] for s in sessions if s in durations}
        missing += [s for s in sessions if s not in durations]
        longest = max(measured, key=measured.__getitem__) if measured else None
        rows.append(
            {
                "stage": stage,
                "sessions": list(sessions),
                "measured": sorted(measured),
                "longest": longest,
                "seconds": round(measured[longest], 3) if longest else 0.0,
                "serial_seconds": round(sum(measured.values()), 3),
            }
        )
    critical = round(sum(row["seconds"] for row in rows), 3)
    serial = round(sum(row["serial_seconds"] for row in rows), 3)
    return {
        "stages": rows,
        "critical_path_s": critical,
        "serial_s": serial,
        "ratio": ratio(critical, serial),
        "missing": missing,
    }


def size_ratios(sizes: Mapping[str, int]) -> dict[str, float | None]:
    """ci/builder, production/builder and development/builder."""
    builder = sizes.get("builder")
    return {
        f"{name}/builder": ratio(sizes.get(name), builder)
        for name in ("ci", "production", "development")
    }


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}{unit}" if abs(value) < 10 else f"{value:.1f}{unit}"
    return f"{value}{unit}"


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines + [""]


def render_markdown(result: Mapping[str, Any]) -> str:
    """reports/bench.md: timings, targets, sizes, critical path and notes."""
    lines = ["# mlc-ci benchmark (examples/mini-llm)", ""]
    machine = result.get("machine", {})
    if machine:
        lines += [", ".join(f"{k}: {v}" for k, v in machine.items()), ""]
    timing_rows, ratio_rows, targets, notes = [], [], [], []
    for name, section in result.get("sections", {}).items():
        for label, fig in section.get("figures", {}).items():
            timing_rows.append(
                [name, label, fig["n"], _fmt(fig["min"]), _fmt(fig["median"]), _fmt(fig["max"])]
            )
        ratio_rows += [[name, label, _fmt(v)] for label, v in section.get("ratios", {}).items()]
        targets += section.get("targets", [])
        notes += [f"{name}: {note}" for note in section.get("notes", [])]
    if timing_rows:
        lines += ["## Timings (seconds)", ""]
        lines += _table(["section", "figure", "n", "min", "median", "max"], timing_rows)
    if ratio_rows:
        lines += ["## Ratios (of medians)", ""]
        lines += _table(["section", "ratio", "value"], ratio_rows)
    if targets:
        lines += ["## Targets", ""]
        rows = [
            [t["name"], _fmt(t["value"]), f"{t['op']} {t['limit']}", _fmt(t["met"])]
            for t in targets
        ]
        lines += _table(["target", "measured", "limit", "met"], rows)
    sizes = result.get("sections", {}).get("sizes", {}).get("sizes")
    if sizes:
        lines += ["## Image sizes", ""]
        builder = sizes.get("builder")
        rows = [[k, f"{v / 1e6:.1f}", _fmt(ratio(v, builder))] for k, v in sizes.items()]
        lines += _table(["target", "MB", "ratio to builder"], rows)
    path = result.get("sections", {}).get("critical", {}).get("path")
    if path:
        lines += ["## CI critical path (stages in sequence, sessions of a stage in parallel)", ""]
        rows = [
            [r["stage"], ", ".join(r["measured"]) or "-", r["longest"] or "-", _fmt(r["seconds"])]
            for r in path["stages"]
        ]
        rows.append(["**matrix total**", "", "", f"**{_fmt(path['critical_path_s'])}**"])
        rows.append(["serial total", "", "", _fmt(path["serial_s"])])
        lines += _table(["stage", "measured sessions", "longest", "seconds"], rows)
        if path["missing"]:
            lines += [f"Not measured: {', '.join(path['missing'])}.", ""]
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    return "\n".join(lines).rstrip() + "\n"
