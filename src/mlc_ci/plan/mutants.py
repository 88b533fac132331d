"""Pure rules of the mutants session: mutmut's verdicts, the score, and the gate."""

from __future__ import annotations

import re
from dataclasses import dataclass

# `mutmut results --all true` prints one "    <mutant>: <status>" line per mutant.
_LINE = re.compile(r"^\s+(?P<name>\S+): (?P<status>[a-z ]+?)\s*$")
# What counts for the score: a mutant a test killed. A timeout is not counted as killed (it may
# be a slow test, not a caught change); "no tests" and "survived" are changes nothing noticed.
KILLED = ("killed", "caught by type check")
NOT_RUN = ("skipped", "not checked")


@dataclass(frozen=True)
class Score:
    """The verdicts of one mutmut run."""

    by_status: dict[str, list[str]]

    @property
    def counted(self) -> int:
        """Mutants that ran (every status but skipped and not checked)."""
        return sum(len(v) for k, v in self.by_status.items() if k not in NOT_RUN)

    @property
    def killed(self) -> int:
        """Mutants a test failed on."""
        return sum(len(self.by_status.get(status, [])) for status in KILLED)

    @property
    def percent(self) -> float:
        """Killed among the mutants that ran, in percent (0 when none ran)."""
        return 100.0 * self.killed / self.counted if self.counted else 0.0

    def alive(self) -> dict[str, list[str]]:
        """The mutants that ran and were not killed, by status."""
        return {
            status: names
            for status, names in sorted(self.by_status.items())
            if status not in KILLED and status not in NOT_RUN
        }


def parse_results(text: str) -> Score:
    """mutmut's `results --all true` output -> verdicts; a line of another shape is an error."""
    by_status: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _LINE.match(line)
        if not match:
            raise ValueError(f"unexpected line in mutmut's results: {line.strip()!r}")
        by_status.setdefault(match["status"], []).append(match["name"])
    return Score(by_status)


def gate(score: Score, fail_under: float, complete: bool = True) -> str:
    """One line when the score misses `fail_under`, else ''. `complete`: every mutant was
    selected, so one left unchecked means mutmut stopped early."""
    if not score.counted:
        return "mutmut ran no mutant; check [tool.mutmut] in pyproject.toml and the selection."
    unchecked = len(score.by_status.get("not checked", []))
    if complete and unchecked:
        return f"{unchecked} mutants were not checked (mutmut stopped early); run it again."
    if score.percent >= fail_under:
        return ""
    alive = sum(len(names) for names in score.alive().values())
    return (
        f"mutation score {score.percent:.1f} % ({score.killed} of {score.counted} killed) is "
        f"below {fail_under:g} %; the {alive} mutants left alive are in reports/mutants.json "
        "(`mutmut show <name>` prints one)."
    )
