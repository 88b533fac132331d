"""The version of a git checkout: `git describe` read through the runner, parsed by
plan/versions.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mlc_ci.errors import PipelineError
from mlc_ci.plan.versions import DESCRIBE, MAX_IGNORED, Version, from_describe, is_version_tag
from mlc_ci.run import capture

_FIX = "run inside a git checkout with at least one commit"


def _require_dir(repo: Path) -> None:
    if not repo.is_dir():
        raise PipelineError(f"{repo} is not a directory; pass --repo a git checkout.")


def is_shallow(repo: Path) -> bool:
    """Whether `repo` is in a shallow clone (one clear line when it is in no checkout)."""
    answer = capture(("git", "-C", str(repo), "rev-parse", "--is-shallow-repository"), fix=_FIX)
    return answer.strip() == "true"


def shallow_error(repo: Path, other_fix: str = "") -> PipelineError:
    """The refusal of a shallow clone, where `git describe` finds no tag or a wrong distance."""
    return PipelineError(
        f"{repo} is in a shallow clone, whose tags and distance give a wrong version; fetch the "
        "history (`git fetch --unshallow --tags`, actions/checkout fetch-depth: 0)"
        + (f" or {other_fix}" if other_fix else "")
        + "."
    )


def full_history_version(repo: Path) -> Version:
    """`git_version`, refusing a shallow clone rather than print a made-up version."""
    _require_dir(repo)
    if is_shallow(repo):
        raise shallow_error(repo)
    return git_version(repo)


def git_version(repo: Path) -> Version:
    """The version of the checkout at `repo`; tags that are no version (vbanana) are skipped."""
    _require_dir(repo)
    ignored: list[str] = []
    while True:
        excludes = [arg for tag in ignored for arg in ("--exclude", tag)]
        describe = capture(
            ("git", "describe", "--tags", "--long", "--always", "--match", "v*", *excludes)
            + ("--abbrev=7",),
            cwd=repo,
            fix=_FIX,
        ).strip()
        match = DESCRIBE.match(describe)
        if not match or is_version_tag(match["tag"]) or len(ignored) >= MAX_IGNORED:
            break
        ignored.append(match["tag"])
    count = int(capture(("git", "rev-list", "--count", "HEAD"), cwd=repo, fix=_FIX))
    version = from_describe(describe, count)
    return dataclasses.replace(version, ignored_tags=tuple(ignored))
