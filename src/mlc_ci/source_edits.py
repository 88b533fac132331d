"""Temporary edits of the source tree (config.cmake, the renamed pyproject.toml), journaled.

Before the first edit the original contents go to a journal file in the source directory, so
a run that was killed before its restore step (SIGKILL, a power cut) is repaired by the next
run, which restores the originals from the journal instead of mistaking the edited files for
them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

from mlc_ci import files
from mlc_ci.errors import PipelineError

JOURNAL = ".mlc-ci-edits.json"

Originals = Mapping[str, "str | None"]  # path -> original text; None: the file did not exist


def journal_path(source: Path) -> Path:
    """The journal of `source`'s temporary edits."""
    return source / JOURNAL


def put_back(originals: Originals) -> None:
    """Write every original back (remove files that did not exist)."""
    for name, text in originals.items():
        if text is None:
            Path(name).unlink(missing_ok=True)
        else:
            files.write_text(Path(name), text)


def recover(source: Path) -> list[str]:
    """Restore what an interrupted run left edited; the paths it restored."""
    journal = journal_path(source)
    if not journal.is_file():
        return []
    try:
        originals = json.loads(journal.read_text(encoding="utf-8"))
        if not isinstance(originals, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        raise PipelineError(
            f"{journal} is damaged ({exc}); restore the source tree by hand (`git status` in "
            f"{source}), then remove the journal."
        ) from exc
    put_back(originals)
    journal.unlink()
    return sorted(originals)


def begin(source: Path, originals: Originals) -> None:
    """Record the originals before the first edit."""
    files.write_text(journal_path(source), json.dumps(dict(originals), indent=1) + "\n")


def finish(source: Path, originals: Originals) -> None:
    """Put the originals back and close the journal."""
    put_back(originals)
    journal_path(source).unlink(missing_ok=True)
