"""The record of every read of the outside world: each query command `run.capture` starts and
each HTTP request `net.request` makes, in order, with the step it ran in.

The CLI shows the reads its plan made (so `plan S` and `S --dry-run` show them), echoes those a
run makes as they happen, and puts them all in the session's report.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TextIO

PLANNING = ""  # the step of a read made while planning: none


@dataclass(frozen=True)
class Probe:
    """One read: what ran, how it ended, and during which step."""

    kind: str  # "command" or "http"
    command: str  # as a user would type it (shlex-joined), or "GET <url>"
    argv: tuple[str, ...]
    status: str  # "ok", or why not ("exit 1", "not found", "404", "unreachable")
    seconds: float
    step: str = PLANNING


def outcome(probe: Probe) -> str:
    """How a read ended, as its echo shows it: nothing when it succeeded."""
    return "" if probe.status == "ok" else f" ({probe.status})"


class ProbeLog:
    """Reads in the order they happened; one log per process, shared by its threads."""

    def __init__(self) -> None:
        self.records: list[Probe] = []
        self.out: TextIO | None = None  # where reads are echoed as they happen, if anywhere
        self._lock = threading.Lock()
        self._local = threading.local()
        self._main = PLANNING  # the main thread's step: that of the threads an action starts

    def start(self, out: TextIO | None = None) -> None:
        """Forget earlier reads (a new session starts); echo the next ones to `out`."""
        with self._lock:
            self.records = []
        self.out = out

    @property
    def step(self) -> str:
        """The step this thread runs now (PLANNING outside every step); a thread an action
        started runs in that action's step."""
        return getattr(self._local, "step", self._main)

    @step.setter
    def step(self, title: str) -> None:
        self._local.step = title
        if threading.current_thread() is threading.main_thread():
            self._main = title

    def add(  # pylint: disable=too-many-arguments,too-many-positional-arguments
        self, kind: str, command: str, argv: tuple[str, ...], status: str, seconds: float
    ) -> Probe:
        """Record one read, and echo it when a run is under way."""
        probe = Probe(kind, command, argv, status, round(seconds, 3), self.step)
        with self._lock:
            self.records.append(probe)
        if self.out is not None:
            print(f"      read $ {command}{outcome(probe)}", file=self.out, flush=True)
        return probe


LOG = ProbeLog()
