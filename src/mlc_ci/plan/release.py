"""Release manifest (pure): versions agree, every artifact verified, SHA256SUMS, release notes.

Inputs are values the session read from `dist/`, `reports/` and `git`; outputs are problems to
refuse on, file contents and the publishing decision. Nothing here touches the disk or network.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Iterable, Mapping, Sequence

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion
from packaging.version import Version as Pep440

from mlc_ci.errors import PipelineError
from mlc_ci.plan.wheels import wheel_version
from mlc_ci.report import human_size
from mlc_ci.versioning import Version, from_tag

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
WHEEL_REPORTS = ("wheels-linux-", "wheels-windows-")
IMAGE_REPORTS = ("docker-build",)
VERSION_LABEL = "org.opencontainers.image.version"
# Only the production image is a release artifact; builder/development/ci images serve CI.
RELEASED_TARGETS = ("production", None)

# Upload URL -> simple API (PEP 503) of the indexes whose two URLs differ in more than a suffix.
KNOWN_INDEXES = {
    "https://upload.pypi.org/legacy/": "https://pypi.org/simple/",
    "https://test.pypi.org/legacy/": "https://test.pypi.org/simple/",
}
REPOSITORY = re.compile(r"[\w.-]+/[\w.-]+")
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


@dataclass(frozen=True)
class WheelFile:
    """A wheel in dist/."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Verified:
    """What a build report says about one artifact."""

    report: str
    status: str
    sha256: str


@dataclass(frozen=True)
class Image:
    """A released container image, as docker-build reported it."""

    name: str
    tags: tuple[str, ...]
    digest: str
    version: str
    report: str

    @property
    def repository(self) -> str:
        """The image reference without tag or digest (registry/path)."""
        return repository_of(self.name)

    @property
    def pull(self) -> str:
        """The command that pulls exactly this image."""
        return f"docker pull {self.repository}@{self.digest}"


@dataclass
class Manifest:
    """Everything a release ships, checked."""

    tag: str
    version: Version
    wheels: list[WheelFile]
    images: list[Image]
    notes: list[str] = field(default_factory=list)


def default_branch_push(env: Mapping[str, str], default_branch: str) -> bool:
    """A GitHub Actions push to the default branch (whose release job only promotes)."""
    return (
        env.get("GITHUB_EVENT_NAME") == "push"
        and env.get("GITHUB_REF") == f"refs/heads/{default_branch}"
    )


def tag_from_env(explicit: str | None, env: Mapping[str, str]) -> str:
    """The release tag: --tag, else the pushed tag of a GitHub Actions run."""
    if explicit:
        return explicit
    if env.get("GITHUB_REF_TYPE") == "tag" and env.get("GITHUB_REF_NAME"):
        return env["GITHUB_REF_NAME"]
    ref = env.get("GITHUB_REF", "")
    if ref.startswith("refs/tags/"):
        return ref[len("refs/tags/") :]
    raise PipelineError(
        "no release tag: pass --tag vX.Y.Z (or run on a tag push, where GITHUB_REF names it)."
    )


def verified_wheels(reports: Mapping[str, Mapping[str, Any]]) -> dict[str, Verified]:
    """Wheel name -> what its wheels-linux/wheels-windows report says."""
    found: dict[str, Verified] = {}
    for report_name, report in sorted(reports.items()):
        if not report_name.startswith(WHEEL_REPORTS):
            continue
        for art in report.get("artifacts") or []:
            if (art.get("details") or {}).get("kind") == "wheel":
                found[art["name"]] = Verified(
                    report_name, str(report.get("status", "")), art.get("sha256", "")
                )
    return found


def images_from(reports: Mapping[str, Mapping[str, Any]]) -> tuple[list[Image], list[str]]:
    """Released images from docker-build reports, and the problems that block releasing them."""
    images, problems = [], []
    for report_name, report in sorted(reports.items()):
        if not report_name.startswith(IMAGE_REPORTS):
            continue
        status = report.get("status")
        for art in report.get("artifacts") or []:
            details = art.get("details") or {}
            if details.get("kind") != "image" or details.get("target") not in RELEASED_TARGETS:
                continue
            image = Image(
                name=art.get("name", ""),
                tags=tuple(details.get("tags") or ()),
                digest=details.get("digest") or "",
                version=(details.get("labels") or {}).get(VERSION_LABEL, ""),
                report=report_name,
            )
            if status != "passed":
                problems.append(f"{report_name}.json has status '{status}', not 'passed'")
            elif not image.digest:
                problems.append(
                    f"image {image.name} has no registry digest (it was not pushed); run "
                    "docker-build with --push first"
                )
            images.append(image)
    return images, problems


def verification_problems(
    wheels: Sequence[WheelFile], verified: Mapping[str, Verified]
) -> list[str]:
    """Why each wheel may not be released: no report, a failed one, or different bytes."""
    problems = []
    for wheel in wheels:
        record = verified.get(wheel.name)
        if record is None:
            problems.append(
                f"{wheel.name} has no verification report (reports/wheels-linux-*.json or "
                "wheels-windows-*.json); build it with its wheels session"
            )
        elif record.status != "passed":
            problems.append(f"{wheel.name}: {record.report}.json says '{record.status}'")
        elif record.sha256 != wheel.sha256:
            problems.append(
                f"{wheel.name} in dist/ is not the file {record.report}.json verified "
                "(sha256 differs); rebuild it"
            )
    in_dist = {wheel.name for wheel in wheels}
    for name, record in sorted(verified.items()):
        if name not in in_dist and record.status == "passed":
            problems.append(
                f"{record.report}.json verified {name}, which is not in dist/; restore it or "
                "remove the stale report"
            )
    return problems


def version_problems(
    version: Version,
    wheels: Sequence[WheelFile],
    images: Sequence[Image],
    paired: Iterable[str] = (),
) -> list[str]:
    """Where the wheels' versions or the images' version labels disagree with the tag (the
    `paired` runtime distributions ship at their own version, which the pairing gate checked)."""
    problems = []
    own_version = {canonicalize_name(name) for name in paired}
    for wheel in wheels:
        if canonicalize_name(wheel.name.split("-", 1)[0]) in own_version:
            continue
        found = wheel_version(wheel.name)
        if Pep440(found) != Pep440(version.pep440):
            problems.append(f"{wheel.name} is version {found}, the tag says {version.pep440}")
    for image in images:
        if not image.version:
            problems.append(f"image {image.name} has no {VERSION_LABEL} label")
        elif image.version != version.semver:
            problems.append(
                f"image {image.name} is labelled version {image.version}, the tag says "
                f"{version.semver}"
            )
    return problems


def ownership_problems(wheels: Sequence[WheelFile], distributions: Iterable[str]) -> list[str]:
    """Wheels in dist/ that are not one of the configured project's distributions."""
    known = {canonicalize_name(name) for name in distributions}
    problems = []
    for wheel in wheels:
        name = canonicalize_name(wheel.name.split("-", 1)[0])
        if name not in known:
            problems.append(
                f"{wheel.name} is not a distribution of this project ({', '.join(sorted(known))})"
                "; remove it from dist/"
            )
    return problems


def check(manifest: Manifest, problems: Sequence[str]) -> None:
    """Refuse the release, in one line, when anything is wrong or there is nothing to ship."""
    problems = list(problems)
    if not manifest.wheels and not manifest.images:
        problems.append("nothing to release: no wheels in dist/ and no images in reports/")
    if problems:
        raise PipelineError(f"refusing to release {manifest.tag}: " + "; ".join(problems) + ".")


def sha256sums(entries: Iterable[tuple[str, str]]) -> str:
    """`sha256sum` format (two spaces, file name), sorted, for `sha256sum -c SHA256SUMS`."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(entries))


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


def repository_of(reference: str) -> str:
    """`ghcr.io/o/img:1.2` -> `ghcr.io/o/img` (a registry port is not a tag)."""
    reference = reference.split("@", 1)[0]
    head, _, last = reference.rpartition("/")
    last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last


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


@dataclass(frozen=True)
class Publishing:
    """What the run publishes; what it leaves out and why; what stops it."""

    github: bool
    index: bool
    left_out: tuple[str, ...] = ()
    reason: str = ""
    blocker: str = ""

    @property
    def not_done(self) -> list[str]:
        """One line per publishing target that this run does not touch."""
        return [f"not done ({self.reason}): {target}" for target in self.left_out]


def publishing(  # pylint: disable=too-many-arguments
    *,
    publish: bool,
    dry_run: bool,
    github_enabled: bool,
    token: str,
    repository: str,
    index_url: str,
) -> Publishing:
    """Decide what to publish. --publish that cannot be honoured is a blocker, never a skip."""
    targets = []
    if github_enabled:
        targets.append(f"GitHub release on {repository or '$GITHUB_REPOSITORY'}")
    if index_url:
        targets.append(f"wheel upload to {index_url}")
    if not publish or dry_run:
        return Publishing(False, False, tuple(targets), "dry run" if dry_run else "no --publish")
    missing = []
    if github_enabled and not token:
        missing.append("GITHUB_TOKEN is not set")
    if github_enabled and not REPOSITORY.fullmatch(repository):
        missing.append("GITHUB_REPOSITORY is not owner/name")
    if missing:
        blocker = (
            f"--publish was given but {' and '.join(missing)}; nothing was published (the notes "
            "and SHA256SUMS are written); set them, or run without --publish"
        )
        return Publishing(False, False, tuple(targets), "credentials missing", blocker)
    return Publishing(github_enabled, bool(index_url))


# -- the package index ------------------------------------------------------------------------


def simple_url(upload_url: str) -> str:
    """The simple API (PEP 503) of an index, from its upload URL.

    PyPI and TestPyPI are known; pypiserver, Nexus, Artifactory and GitLab serve it under
    `<upload URL>/simple/` (others: pass it explicitly).
    """
    return KNOWN_INDEXES.get(upload_url) or upload_url.rstrip("/") + "/simple/"


def supports_skip_existing(upload_url: str) -> bool:
    """twine allows --skip-existing only for PyPI and TestPyPI."""
    return upload_url in KNOWN_INDEXES


def project_of(wheel_name: str) -> str:
    """The normalised project name of a wheel (the simple API's path segment)."""
    try:
        name = parse_wheel_filename(wheel_name)[0]
    except (InvalidWheelFilename, InvalidVersion) as exc:
        raise PipelineError(f"{wheel_name} is not a valid wheel file name ({exc}).") from exc
    return canonicalize_name(name)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href") if tag == "a" else None
        if href:
            url = urllib.parse.urlsplit(href)
            name = urllib.parse.unquote(url.path.rsplit("/", 1)[-1])
            digest = dict(urllib.parse.parse_qsl(url.fragment)).get("sha256", "")
            self.files[name] = digest.lower()


def index_files(html: str) -> dict[str, str]:
    """File name -> sha256 ('' when the index does not say) from a PEP 503 project page."""
    parser = _Links()
    parser.feed(html)
    return parser.files


def upload_split(
    wheels: Sequence[WheelFile], listed: Mapping[str, str]
) -> tuple[list[WheelFile], list[str]]:
    """Wheels still to upload, and notes on those the index already has.

    A file the index holds with other bytes can never be replaced (indexes refuse re-use of a
    file name), so it stops the release before anything is published.
    """
    upload, present, clashes = [], [], []
    for wheel in wheels:
        if wheel.name not in listed:
            upload.append(wheel)
        elif listed[wheel.name] in (wheel.sha256, ""):
            present.append(f"{wheel.name} is already on the index: not uploaded again")
        else:
            clashes.append(wheel.name)
    if clashes:
        raise PipelineError(
            f"the index already has {', '.join(clashes)} with different content, and a file "
            "name cannot be uploaded twice; release a new version."
        )
    return upload, present
