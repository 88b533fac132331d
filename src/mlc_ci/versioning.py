"""The version of a git checkout: `git describe` read through the runner, parsed by
plan/versions.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mlc_ci.errors import PipelineError
from mlc_ci.plan.versions import DESCRIBE, MAX_IGNORED, Version, from_describe, is_version_tag
from mlc_ci.run import capture


def git_version(repo: Path) -> Version:
    """The version of the checkout at `repo`; tags that are no version (vbanana) are skipped."""
    if not repo.is_dir():
        raise PipelineError(f"{repo} is not a directory; pass --repo a git checkout.")
    fix = "run inside a git checkout with at least one commit"
    ignored: list[str] = []
    while True:
        excludes = [arg for tag in ignored for arg in ("--exclude", tag)]
        describe = capture(
            ("git", "describe", "--tags", "--long", "--always", "--match", "v*", *excludes)
            + ("--abbrev=7",),
            cwd=repo,
            fix=fix,
        ).strip()
        match = DESCRIBE.match(describe)
        if not match or is_version_tag(match["tag"]) or len(ignored) >= MAX_IGNORED:
            break
        ignored.append(match["tag"])
    count = int(capture(("git", "rev-list", "--count", "HEAD"), cwd=repo, fix=fix))
    version = from_describe(describe, count)
    return dataclasses.replace(version, ignored_tags=tuple(ignored))
