"""Versions (pure parsing): PEP 440 for wheels, SemVer for images, from tags and `git describe`."""

from __future__ import annotations

import re
from dataclasses import dataclass

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
