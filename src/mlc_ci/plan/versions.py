"""Versions (pure parsing): PEP 440 for wheels, SemVer for images, from tags and `git describe`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

from packaging.version import InvalidVersion
from packaging.version import Version as Pep440

from mlc_ci.errors import PipelineError

# v1.2.3 | v1.2.3-rc.4 | v1.2.dev5 | v1.2.3.dev5 | v1.2.3rc4
_TAG = re.compile(
    r"^v(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)"
    r"(?:\.(?P<patch>0|[1-9]\d*))?"
    r"(?:(?:-rc\.|rc)(?P<rc>\d+)|\.dev(?P<dev>\d+))?$"
)
MAX_IGNORED = 20  # stray tags skipped before the nearest one is taken as it is
DESCRIBE = re.compile(r"^(?P<tag>.+)-(?P<distance>\d+)-g(?P<sha>[0-9a-f]{4,40})$")


@dataclass(frozen=True)
class Version:
    """One version in both spellings."""

    pep440: str
    semver: str
    tag: str = ""
    distance: int = 0
    sha: str = ""
    ignored_tags: tuple[str, ...] = ()

    @property
    def public(self) -> str:
        """The PEP 440 version without its local part (+g<sha>): what a wheel carries, since
        package indexes refuse local versions."""
        return self.pep440.split("+", 1)[0]

    @property
    def is_prerelease(self) -> bool:
        """rc, dev and between-tag builds are prereleases."""
        return "-" in self.semver.split("+", 1)[0]


@dataclass(frozen=True)
class SourceVersion:
    """The version a build stamps into the source project, and where it came from."""

    pep440: str  # public PEP 440 version of the wheels
    semver: str  # the images' version ('' when it was given, not read from git)
    revision: str  # the source's commit ('' when unknown)
    epoch: int | None  # SOURCE_DATE_EPOCH: the commit time unless overridden
    origin: str  # one line: how the version was found
    kept: bool = False  # the build takes the version the source's backend writes, unstamped
    epoch_origin: str = ""  # where SOURCE_DATE_EPOCH came from ('' when not said)
    night: str = ""  # YYYYMMDD of a nightly build ('' when the build is none)

    @property
    def stamped(self) -> bool:
        """True when the build rewrites the source's version (False: kept as written)."""
        return not self.kept and not self.origin.startswith("pyproject.toml")


def normalised_pep440(text: str, where: str) -> str:
    """A PEP 440 version in its normal form, or one clear line naming `where` it came from."""
    try:
        return str(Pep440(text.strip()))
    except InvalidVersion as exc:
        raise PipelineError(
            f"{where} is {text!r}, not a PEP 440 version; use e.g. 0.2.0 or 0.2.1.dev3."
        ) from exc


def is_version_tag(tag: str) -> bool:
    """True for the tag shapes this pipeline releases from (vX.Y.Z, vX.Y.Z-rc.N, vX.Y.devN)."""
    match = _TAG.match(tag)
    return bool(match) and (match["patch"] is not None or match["dev"] is not None)


def from_tag(tag: str, distance: int = 0, sha: str = "") -> Version:
    """Versions for `distance` commits past `tag` (0: the tag itself)."""
    match = _TAG.match(tag)
    if not is_version_tag(tag) or not match:
        raise PipelineError(
            f"tag '{tag}' is neither SemVer nor PEP 440 in the form this pipeline uses; "
            "tag releases as vX.Y.Z, vX.Y.Z-rc.N or vX.Y.devN."
        )
    major, minor = int(match["major"]), int(match["minor"])
    patch = int(match["patch"] or 0)
    rc, dev = match["rc"], match["dev"]
    base = f"{major}.{minor}.{patch}"
    if dev is not None:
        number = int(dev) + distance
        pep = f"{major}.{minor}" + (f".{patch}" if match["patch"] else "") + f".dev{number}"
        sem = f"{base}-dev.{number}"
        return _with_local(Version(pep, sem, tag, distance, sha), distance, sha)
    if rc is not None:
        pep, sem = f"{base}rc{rc}", f"{base}-rc.{rc}"
        if distance:
            pep, sem = f"{pep}.dev{distance}", f"{sem}.dev.{distance}"
        return _with_local(Version(pep, sem, tag, distance, sha), distance, sha)
    if distance:
        nxt = f"{major}.{minor}.{patch + 1}"
        return _with_local(
            Version(f"{nxt}.dev{distance}", f"{nxt}-dev.{distance}", tag, distance, sha),
            distance,
            sha,
        )
    return Version(base, base, tag, 0, sha)


def _with_local(version: Version, distance: int, sha: str) -> Version:
    if not (distance and sha):
        return version
    return Version(
        f"{version.pep440}+g{sha}", f"{version.semver}+{sha}", version.tag, distance, sha
    )


def from_describe(describe: str, commit_count: int = 0) -> Version:
    """Parse `git describe --tags --long` output; an untagged repo uses the commit count."""
    describe = describe.strip()
    match = DESCRIBE.match(describe)
    if match:
        return from_tag(match["tag"], int(match["distance"]), match["sha"][:7])
    if re.fullmatch(r"[0-9a-f]{4,40}", describe):
        sha = describe[:7]
        return Version(
            f"0.0.0.dev{commit_count}+g{sha}",
            f"0.0.0-dev.{commit_count}+{sha}",
            "",
            commit_count,
            sha,
        )
    raise PipelineError(f"cannot read a version from `git describe` output '{describe}'.")


def ignored_note(version: Version) -> str:
    """The note for tags that were skipped ('' when none were)."""
    if not version.ignored_tags:
        return ""
    return f"ignored tag(s) {', '.join(version.ignored_tags)}: not vX.Y.Z, vX.Y.Z-rc.N or vX.Y.devN"


# A scheduled workflow run builds a nightly; so does a local build with MLC_CI_NIGHTLY=1.
TRUE = ("1", "true", "yes", "on")


def is_nightly_build(env: Mapping[str, str]) -> bool:
    """True for the build of a nightly: a scheduled GitHub Actions run (GITHUB_EVENT_NAME is
    `schedule` in each of its jobs) or MLC_CI_NIGHTLY=1."""
    return (
        env.get("GITHUB_EVENT_NAME") == "schedule"
        or env.get("MLC_CI_NIGHTLY", "").strip().lower() in TRUE
    )


def nightly_date(given: str, today: str) -> str:
    """The night a nightly is of, as YYYYMMDD: MLC_CI_NIGHTLY_DATE (`given`, YYYY-MM-DD or
    YYYYMMDD) when set, else `today` (the UTC date, YYYYMMDD)."""
    text = given.strip() or today
    digits = text.replace("-", "") if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else text
    try:
        if not re.fullmatch(r"\d{8}", digits, flags=re.ASCII):
            raise ValueError(text)
        datetime.strptime(digits, "%Y%m%d")
    except ValueError as exc:
        raise PipelineError(
            f"MLC_CI_NIGHTLY_DATE (environment) is {given!r}, not a date; set it to the night "
            "of the scheduled run as YYYY-MM-DD, or unset it for today's UTC date."
        ) from exc
    return digits


def nightly(version: Version, date: str) -> Version:
    """The nightly of `version` on the night `date` (YYYYMMDD), counted from its tag: the date
    is the dev number, so every night gives a version that sorts after the night before and
    after the tag, and a re-run of one night gives the same (v0.26.dev0 + 4 -> 0.26.dev20260102).
    A tag without a dev part counts on from the next version (v1.2.3 + n -> 1.2.4.dev20260102,
    v1.2.3-rc.4 + n -> 1.2.3rc5.dev20260102)."""
    parsed = Pep440(from_tag(version.tag).pep440 if version.tag else version.public)
    release = list(parsed.release)
    pre = parsed.pre
    if parsed.dev is None and pre is not None:
        pre = (pre[0], pre[1] + 1)
    elif parsed.dev is None:
        release = (release + [0, 0])[:3]
        release[2] += 1
    sem_core = ".".join(map(str, (release + [0, 0])[:3]))
    pep = ".".join(map(str, release)) + (f"{pre[0]}{pre[1]}" if pre else "") + f".dev{date}"
    sem = sem_core + (f"-{pre[0]}.{pre[1]}.dev.{date}" if pre else f"-dev.{date}")
    return Version(pep, sem, version.tag, version.distance, version.sha)


def build_version(source: Version, released: Version | None, date: str) -> tuple[Version, str]:
    """The version a build stamps, and what decided it ('' for the source's own version).

    `source`: the source's git version; `released`: with [release].version_from = "tag", the
    git version of the repository that holds pipeline.toml (None otherwise); `date`: the night
    of a nightly build ('' when the build is none).
    - At a release tag of that repository, the tag's version: the tag is authoritative.
    - A nightly: the later of the nightlies of the source's version and of that repository's
      version, so it sorts after every release tagged before it (a nightly at a commit that is
      a release tag of the source itself, without [release].version_from = "tag", stays that
      release: no nightly).
    - Otherwise the source's version.
    """
    if released is not None and released.tag and released.distance == 0:
        return released, f"release tag {released.tag}"
    if not date or (released is None and source.tag and source.distance == 0):
        return source, ""
    candidates = [nightly(source, date)]
    if released is not None and released.tag:
        candidates.append(nightly(released, date))
    chosen = max(candidates, key=lambda version: Pep440(version.pep440))
    night = f"{date[:4]}-{date[4:6]}-{date[6:]}"
    return chosen, f"the nightly of {night}"
