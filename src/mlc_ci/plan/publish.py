"""Publishing (pure): what a release run may publish, and the package index's view of it
(its simple API, the files it already holds, what is left to upload)."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Iterable, Mapping, Sequence

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion

from mlc_ci.errors import PipelineError
from mlc_ci.plan.release import WheelFile

# Upload URL -> simple API (PEP 503) of the indexes whose two URLs differ in more than a suffix.
KNOWN_INDEXES = {
    "https://upload.pypi.org/legacy/": "https://pypi.org/simple/",
    "https://test.pypi.org/legacy/": "https://test.pypi.org/simple/",
}


REPOSITORY = re.compile(r"[\w.-]+/[\w.-]+")


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
    github_enabled: bool,
    token: str,
    repository: str,
    index_url: str,
) -> Publishing:
    """Decide what to publish (the same in a dry run, which shows what a real run does).
    --publish that cannot be honoured is a blocker, never a skip."""
    targets = []
    if github_enabled:
        targets.append(f"GitHub release on {repository or '$GITHUB_REPOSITORY'}")
    if index_url:
        targets.append(f"wheel upload to {index_url}")
    if not publish:
        return Publishing(False, False, tuple(targets), "no --publish")
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


def index_choice(
    wheels: Sequence[str], opted_in: Iterable[str], held: Iterable[str], index_url: str
) -> tuple[list[str], list[str]]:
    """The wheel file names that go to the package index (those of the distributions whose
    variant has `pypi = true`) and the ones that do not. One to go under a name the project
    does not hold ([release].pypi_names) stops the release before anything is published."""
    opted = {canonicalize_name(name) for name in opted_in}

    def project(wheel: str) -> str:  # as release.ownership_problems reads it
        return canonicalize_name(wheel.split("-", 1)[0])

    upload = [name for name in wheels if project(name) in opted]
    rest = [name for name in wheels if project(name) not in opted]
    holds = sorted({canonicalize_name(name) for name in held})
    unheld = sorted({project(name) for name in upload} - set(holds))
    if unheld:
        raise PipelineError(
            f"refusing to upload {', '.join(unheld)} to {index_url}: the project does not hold "
            f"{'that name' if len(unheld) == 1 else 'those names'} there ([release].pypi_names: "
            f"{', '.join(holds) or 'none'}); add it to [release].pypi_names once the project "
            "owns it, or set pypi = false on its variant."
        )
    return upload, rest
