"""Whether a run kept to its plan: every command it started and every read it made is one its
dry run listed. Pure: the CLI hands in the dry run's lines and the run's record."""

from __future__ import annotations

import re
import shlex
from pathlib import PurePath
from typing import Iterable, Mapping, Sequence

# A Ref in a planned command (`{wheel}`, shell-quoted as `'{wheel}'`): any value at run time.
PLACEHOLDER = re.compile(r"'?\{[A-Za-z_]\w*\}'?")


def matcher(planned: str) -> re.Pattern[str]:
    """The commands a planned line stands for: itself, with each placeholder any text."""
    return re.compile(".+".join(re.escape(part) for part in PLACEHOLDER.split(planned)), re.S)


def unplanned_steps(planned: Sequence[str], ran: Iterable[str]) -> list[str]:
    """The commands of steps that ran and that no planned line stands for, in run order."""
    patterns = [matcher(line) for line in planned]
    return [command for command in ran if not any(p.fullmatch(command) for p in patterns)]


def undeclared_reads(
    reads: Iterable[tuple[str, tuple[str, ...]]],
    declared: Mapping[str, Sequence[tuple[str, ...]]],
) -> list[str]:
    """The commands steps read (step title, argv) that their plan lines do not list."""
    return [
        f"{shlex.join(argv)} (in '{step}')"
        for step, argv in reads
        if not any(covers(prefix, argv) for prefix in declared.get(step, ()))
    ]


def covers(prefix: Sequence[str], argv: Sequence[str]) -> bool:
    """Whether a declared read stands for a command: its words start the command's, and a
    program named without a directory stands for that program found anywhere on PATH."""
    if not prefix or len(argv) < len(prefix):
        return False
    program = argv[0] if "/" in prefix[0] or "\\" in prefix[0] else PurePath(argv[0]).name
    return (program, *argv[1 : len(prefix)]) == tuple(prefix)


def unplanned_reads(planned: Sequence[str], ran: Iterable[str]) -> list[str]:
    """The reads a real run's planning made that its dry run did not show."""
    return [command for command in ran if command not in planned]


def nox_line(session: str, *words: str, config: str | None = None) -> str:
    """`nox -s SESSION -- WORDS` for a hint to run it first, keeping the user's --config (the
    next session reads the outputs of a build of that configuration)."""
    posargs = [*words, *(("--config", config) if config else ())]
    return f"`nox -s {session}" + (f" -- {shlex.join(posargs)}" if posargs else "") + "`"


def off_plan_line(problems: Sequence[str]) -> str:
    """The one line a run that left its plan fails with (empty when it kept to it)."""
    if not problems:
        return ""
    shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if problems[5:] else "")
    return (
        f"the run did what its dry run does not show: {shown}; this is a bug of mlc-ci (its "
        "plan must list every command a run starts): report it"
    )
