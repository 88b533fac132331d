"""Release notes (pure): conventional commits since the previous tag, grouped, with the
artifacts and images of the release."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from packaging.version import Version as Pep440

from mlc_ci.errors import PipelineError
from mlc_ci.plan.release import Image, Manifest
from mlc_ci.plan.versions import from_tag

# Conventional-commit types in the order the notes list them; anything else is "other".
COMMIT_TYPES = {
    "feat": "Features",
    "fix": "Bug fixes",
    "perf": "Performance",
    "docs": "Documentation",
    "ci": "CI",
    "build": "Build",
    "refactor": "Refactoring",
    "test": "Tests",
    "chore": "Chores",
    "other": "Other changes",
}


# `git log --format=` that parse_log reads: unit and record separators never occur in messages.
LOG_FORMAT = "%H%x1f%s%x1f%b%x1e"


_CONVENTIONAL = re.compile(
    r"^(?P<type>[A-Za-z]+)(?:\((?P<scope>[^()]*)\))?(?P<bang>!)?:\s*(?P<description>\S.*)$"
)


@dataclass(frozen=True)
class Commit:
    """One commit, split into its conventional-commit parts."""

    sha: str
    subject: str
    body: str = ""

    @property
    def parts(self) -> tuple[str, str, str, bool]:
        """(type, scope, description, breaking); unconventional subjects are type 'other'."""
        match = _CONVENTIONAL.match(self.subject)
        breaking = "BREAKING CHANGE" in self.body or "BREAKING-CHANGE" in self.body
        if not match or match["type"].lower() not in COMMIT_TYPES:
            return "other", "", self.subject, breaking
        breaking = breaking or bool(match["bang"])
        return match["type"].lower(), match["scope"] or "", match["description"], breaking


def parse_log(text: str) -> list[Commit]:
    """Commits from `git log --format=LOG_FORMAT` output, newest first."""
    commits = []
    for record in text.split("\x1e"):
        fields = record.strip("\n").split("\x1f")
        if len(fields) >= 2 and fields[0].strip():
            body = fields[2].strip() if len(fields) > 2 else ""
            commits.append(Commit(fields[0].strip(), fields[1].strip(), body))
    return commits


def group_commits(commits: Iterable[Commit]) -> dict[str, list[Commit]]:
    """Commits by conventional-commit type, in COMMIT_TYPES order, empty groups left out."""
    groups: dict[str, list[Commit]] = {kind: [] for kind in COMMIT_TYPES}
    for commit in commits:
        groups[commit.parts[0]].append(commit)
    return {kind: items for kind, items in groups.items() if items}


def previous_tag(tags: Iterable[str], current: str) -> str | None:
    """The highest release tag below `current` (tags that are not versions are ignored)."""
    target = _pep440(current)
    older = []
    for tag in tags:
        try:
            value = _pep440(tag.strip())
        except PipelineError:
            continue
        if value < target:
            older.append((value, tag.strip()))
    return max(older)[1] if older else None


def _pep440(tag: str) -> Pep440:
    return Pep440(from_tag(tag).pep440)


def log_range(previous: str | None, end: str) -> str:
    """The `git log` revision range from the previous tag (exclusive) to `end`."""
    return f"{previous}..{end}" if previous else end


def release_notes(  # pylint: disable=too-many-arguments
    project: str,
    manifest: Manifest,
    commits: Sequence[Commit],
    previous: str | None,
    extra: Sequence[tuple[str, int, str]] = (),
    repo_url: str = "",
) -> str:
    """Markdown notes: changes by type, the artifact table, image pull commands."""
    version = manifest.version
    since = f"since {previous}" if previous else "(first release)"
    lines = [
        f"# {project} {version.pep440}",
        "",
        f"Tag `{manifest.tag}`: wheels `{version.pep440}`, images `{version.semver}`"
        + (" (prerelease)." if version.is_prerelease else "."),
        "",
        f"## Changes {since}",
        "",
    ]
    groups = group_commits(commits)
    if not groups:
        lines += ["No commits.", ""]
    for kind, items in groups.items():
        lines += [f"### {COMMIT_TYPES[kind]}", ""]
        lines += [_commit_line(commit, repo_url) for commit in items]
        lines.append("")
    lines += ["## Artifacts", ""]
    rows = [(w.name, w.size, w.sha256) for w in manifest.wheels] + list(extra)
    if rows:
        lines += ["| name | size | sha256 |", "|---|---|---|"]
        lines += [f"| {name} | {human_size(size)} | `{digest}` |" for name, size, digest in rows]
        lines += ["", "Check downloads with `sha256sum -c SHA256SUMS`.", ""]
    else:
        lines += ["No wheels in this release.", ""]
    lines += ["## Container images", ""]
    if manifest.images:
        lines += ["```bash", *(image.pull for image in manifest.images), "```", ""]
        for image in manifest.images:
            lines.append(f"- `{image.repository}@{image.digest}` tagged " + _tags(image))
        lines.append("")
    else:
        lines += ["No container images in this release.", ""]
    for note in manifest.notes:
        lines += [f"> {note}", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _tags(image: Image) -> str:
    names = [tag.rsplit(":", 1)[-1] for tag in image.tags if ":" in tag.rsplit("/", 1)[-1]]
    return ", ".join(f"`{name}`" for name in names) or "(no tags)"


def _commit_line(commit: Commit, repo_url: str) -> str:
    _, scope, description, breaking = commit.parts
    short = commit.sha[:7]
    ref = f"[{short}]({repo_url.rstrip('/')}/commit/{commit.sha})" if repo_url else short
    text = (f"**{scope}:** " if scope else "") + description
    return f"- {'**BREAKING** ' if breaking else ''}{text} ({ref})"


def human_size(size: int) -> str:
    """1536 -> '1.5 KiB'."""
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
