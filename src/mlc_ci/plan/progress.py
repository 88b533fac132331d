"""The one updating progress line of a long build on a terminal, from ninja's `[n/N]` lines
(pure: the runner hands in each line, the time so far and the last run's time)."""

from __future__ import annotations

import re

# `[37/120] Building CXX object ...` as ninja prints it when its output is piped; a front end
# (pip, uv, scikit-build-core) may indent it.
NINJA_LINE = re.compile(r"^\s*\[(\d+)/(\d+)\]\s*(.*?)\s*$")


def clock(seconds: float) -> str:
    """A duration as a person reads it: 45s, 2m05s, 1h02m."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def estimate(done: int, total: int, elapsed: float, previous: float | None) -> str:
    """What is left: the last run's time less the time so far while it lasts, else the rate
    of the units done so far."""
    if previous and previous > elapsed:
        return f"about {clock(previous - elapsed)} left (last run {clock(previous)})"
    if done <= 0 or done > total:
        return ""
    return f"about {clock(elapsed / done * (total - done))} left"


def progress_text(
    line: str, elapsed: float, previous: float | None = None, width: int = 80
) -> str | None:
    """The progress line for one line of a build's output, at most `width - 1` characters (so
    that a terminal never wraps it, which would break the `\\r` update); None for any other
    line, which is printed as it is."""
    found = NINJA_LINE.match(line)
    if not found or int(found[2]) == 0:
        return None
    done, total = int(found[1]), int(found[2])
    left = estimate(done, total, elapsed, previous)
    head = f"      [{done}/{total}] {100 * done // total}% {clock(elapsed)}"
    text = head + (f", {left}" if left else "") + (f": {found[3]}" if found[3] else "")
    limit = max(width - 1, len(head))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def finished(line: str) -> bool:
    """Whether a line is ninja's last unit (`[N/N]`): its progress line stays on the screen."""
    found = NINJA_LINE.match(line)
    return bool(found) and found[1] == found[2]
