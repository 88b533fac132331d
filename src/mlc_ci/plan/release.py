"""Release manifest (pure): versions agree, every artifact is verified, SHA256SUMS.

Inputs are values the session read from `dist/`, `reports/` and `git`; outputs are problems to
refuse on and file contents. Nothing here touches the disk or network. The notes are in
plan/notes.py, the publishing decision and the index's view in plan/publish.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from packaging.utils import canonicalize_name
from packaging.version import Version as Pep440

from mlc_ci.errors import PipelineError
from mlc_ci.plan.versions import Version
from mlc_ci.plan.wheels import wheel_version

WHEEL_SESSIONS = ("wheels-linux", "wheels-windows")
WHEEL_REPORTS = tuple(f"{session}-" for session in WHEEL_SESSIONS)


def report_key(session: str, project: str, variant: str) -> str:
    """The report name of a per-project, per-variant session (reports/<key>.json): two projects
    built from one checkout keep their own records. The one rule every reader follows."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", project).strip("-") or "project"
    return f"{session}-{slug}-{variant}"


def own_reports(
    reports: Mapping[str, Mapping[str, Any]], project: str, variants: Iterable[str]
) -> dict[str, Mapping[str, Any]]:
    """`reports` less the wheel reports of other projects (and of the unkeyed names before
    reports were keyed by project): a release verifies its own wheels only."""
    own = {report_key(s, project, v) for s in WHEEL_SESSIONS for v in variants}
    return {
        name: report
        for name, report in reports.items()
        if not name.startswith(WHEEL_REPORTS) or name in own
    }


IMAGE_REPORTS = ("docker-build",)


VERSION_LABEL = "org.opencontainers.image.version"


# Only the production image is a release artifact; builder/development/ci images serve CI.
RELEASED_TARGETS = ("production", None)


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


# What a dry run without a tag shows for it and for the versions it gives.
PLACEHOLDER_TAG = "<tag>"
PLACEHOLDER_VERSION = Version("<version>", "<version>", PLACEHOLDER_TAG)
NO_TAG = "pass --tag vX.Y.Z (or run on a tag push, where GITHUB_REF names it)"


def given_tag(explicit: str | None, env: Mapping[str, str]) -> str:
    """The release tag: --tag, else the pushed tag of a GitHub Actions run ('' for none)."""
    if explicit:
        return explicit
    if env.get("GITHUB_REF_TYPE") == "tag" and env.get("GITHUB_REF_NAME"):
        return env["GITHUB_REF_NAME"]
    ref = env.get("GITHUB_REF", "")
    return ref[len("refs/tags/") :] if ref.startswith("refs/tags/") else ""


def tag_from_env(explicit: str | None, env: Mapping[str, str]) -> str:
    """The release tag: --tag, else the pushed tag of a GitHub Actions run."""
    tag = given_tag(explicit, env)
    if not tag:
        raise PipelineError(f"no release tag: {NO_TAG}.")
    return tag


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
                f"{wheel.name} has no verification report of this project "
                "(reports/wheels-linux-<project>-<variant>.json or wheels-windows-...); build it "
                "with its wheels session"
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


def repository_of(reference: str) -> str:
    """`ghcr.io/o/img:1.2` -> `ghcr.io/o/img` (a registry port is not a tag)."""
    reference = reference.split("@", 1)[0]
    head, _, last = reference.rpartition("/")
    last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last
