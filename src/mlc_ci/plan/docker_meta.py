"""Image tags and OCI labels with docker/metadata-action semantics (pure: values in, values out).

Tags for one build, before the variant and suffix are appended to every one of them:

- push of branch B: B sanitised (feature/x -> feature-x), plus `latest` on the default branch;
- push of release tag vX.Y.Z: X.Y.Z, X.Y, X (not when X is 0) and `latest`;
- push of a prerelease tag (v1.2.0-rc.1, v1.2.0rc1, v1.2.dev3): the full version only;
- push of any other tag: the tag name, sanitised;
- pull_request: pr-N;  schedule: `nightly`, and nightly-YYYYMMDD when a date is given;
- always: sha-<7 hex digits>.

Versions are spelled as SemVer, like `mlc_ci.versioning` spells image versions: PEP 440
prereleases are converted (1.2.0rc1 -> 1.2.0-rc.1) and `+` becomes `_`, which tags allow.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import NamedTuple

from packaging.version import InvalidVersion, Version

from mlc_ci.errors import PipelineError

MAX_TAG_LENGTH = 128
TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")
LABEL_PREFIX = "org.opencontainers.image."

_INVALID_RUN = re.compile(r"[^A-Za-z0-9._-]+")
_SEMVER = re.compile(
    r"(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
_SHA = re.compile(r"[0-9a-f]{7,64}")
_PULL_REF = re.compile(r"refs/pull/(?P<number>[1-9]\d*)/(?:merge|head)")
# The distribution reference grammar: optional registry host[:port], lowercase path components.
_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(rf"(?:{_HOST}(?::\d+)?/)?{_COMPONENT}(?:/{_COMPONENT})*")
_PRERELEASE_NAMES = {"a": "alpha", "b": "beta", "rc": "rc"}


class TagError(PipelineError, ValueError):
    """An image name, tag or label input that cannot be turned into a valid one."""


class _ImageVersion(NamedTuple):
    full: str
    release: tuple[int, ...]
    prerelease: bool


def sanitize_tag(text: str) -> str:
    """Make `text` a tag: runs of other characters become `-`, no leading `.`/`-`, <= 128."""
    tag = _INVALID_RUN.sub("-", text).lstrip(".-")[:MAX_TAG_LENGTH].rstrip(".-")
    if not tag:
        raise TagError(f"'{text}' has no characters a Docker tag can use ([A-Za-z0-9_.-]).")
    return tag


def validate_tag(tag: str) -> str:
    """Return `tag` if it matches the OCI tag grammar, else raise TagError."""
    if not TAG_PATTERN.fullmatch(tag):
        raise TagError(
            f"'{tag}' is not a valid image tag: use 1 to 128 characters of [A-Za-z0-9_.-], "
            "not starting with '.' or '-'."
        )
    return tag


def compute_tags(  # pylint: disable=too-many-arguments
    image: str,
    *,
    ref: str,
    sha: str,
    event: str,
    default_branch: str = "main",
    pr_number: int | None = None,
    suffix: str = "",
    variant: str | None = None,
    date: str | None = None,
) -> list[str]:
    """Full references `image:tag` for one build, deduplicated, in a fixed order.

    `ref` is the full Git ref (GITHUB_REF), `event` the GitHub event name, `date` (YYYYMMDD)
    dates a scheduled build, and each tag becomes `<tag>-<variant><suffix>` (suffix: "-dev").
    """
    if not _IMAGE.fullmatch(image):
        raise TagError(
            f"'{image}' is not an image name: use [host[:port]/]lowercase/path without a tag."
        )
    tail = (f"-{variant}" if variant else "") + suffix
    bases = _event_tags(ref, event, default_branch, pr_number, date)
    bases.append(f"sha-{_short_sha(sha)}")
    tags = [validate_tag(_fit(base, tail)) for base in bases]
    return [f"{image}:{tag}" for tag in dict.fromkeys(tags)]


def compute_labels(  # pylint: disable=too-many-arguments
    *,
    title: str,
    description: str,
    source_url: str,
    project_url: str | None = None,
    version: str,
    created_epoch: int | None,
    revision: str,
    licenses: str,
    now_epoch: int,
) -> dict[str, str]:
    """The org.opencontainers.image.* labels; `created` is SOURCE_DATE_EPOCH when given."""
    created = rfc3339(now_epoch if created_epoch is None else created_epoch)
    values = {
        "title": title,
        "description": description,
        "source": source_url,
        "url": source_url if project_url is None else project_url,
        "version": version,
        "created": created,
        "revision": revision,
        "licenses": licenses,
    }
    return {LABEL_PREFIX + key: value.strip() for key, value in values.items()}


def rfc3339(epoch: int) -> str:
    """Seconds since the epoch as an RFC 3339 UTC timestamp, e.g. 2024-01-31T12:00:00Z."""
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise TagError(f"'{epoch}' is not a timestamp: use whole seconds since 1970 (>= 0).")
    try:
        moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    except (OverflowError, OSError, ValueError) as exc:
        raise TagError(f"'{epoch}' is out of range for a timestamp.") from exc
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _event_tags(
    ref: str, event: str, default_branch: str, pr_number: int | None, date: str | None
) -> list[str]:
    if event in PULL_REQUEST_EVENTS:
        return [f"pr-{_pr_number(ref, pr_number)}"]
    if event == "schedule":
        return ["nightly"] + ([f"nightly-{_check_date(date)}"] if date is not None else [])
    if ref.startswith("refs/heads/"):
        branch = ref[len("refs/heads/") :]
        return [sanitize_tag(branch)] + (["latest"] if branch == default_branch else [])
    if ref.startswith("refs/tags/"):
        return _version_tags(ref[len("refs/tags/") :])
    if not ref and event == "push":
        # A detached checkout of an untagged commit (`git checkout <sha>`, a CI clone): no branch
        # or version to name, so the commit's own sha tag alone, as metadata-action gives.
        return []
    raise TagError(
        f"ref '{ref}' is neither refs/heads/<branch> nor refs/tags/<tag>; pass the full Git "
        "ref (GITHUB_REF)."
    )


def _version_tags(name: str) -> list[str]:
    version = _parse_version(name)
    if version is None:
        return [sanitize_tag(name)]
    if version.prerelease:
        return [version.full]
    major, minor = version.release[0], version.release[1]
    return [version.full, f"{major}.{minor}"] + ([str(major)] if major else []) + ["latest"]


def _parse_version(name: str) -> _ImageVersion | None:
    """SemVer spellings keep their form (1.0.0-1 is a SemVer prerelease); else PEP 440."""
    text = name[1:] if name[:1] in ("v", "V") else name
    match = _SEMVER.fullmatch(text)
    if match:
        release = (int(match["major"]), int(match["minor"]), int(match["patch"]))
        return _ImageVersion(text.replace("+", "_"), release, match["pre"] is not None)
    try:
        version = Version(text)
    except InvalidVersion:
        return None
    if version.epoch:
        return None
    release = tuple(version.release) + (0,) * (3 - len(version.release))
    full = ".".join(map(str, release))
    if version.post is not None:
        full += f".post{version.post}"
    pre = []
    if version.pre is not None:
        pre += [_PRERELEASE_NAMES[version.pre[0]], str(version.pre[1])]
    if version.dev is not None:
        pre += ["dev", str(version.dev)]
    if pre:
        full += "-" + ".".join(pre)
    if version.local:
        full += f"_{version.local}"
    return _ImageVersion(full, release, version.is_prerelease)


def _pr_number(ref: str, pr_number: int | None) -> int:
    if pr_number is None:
        match = _PULL_REF.fullmatch(ref)
        if not match:
            raise TagError(
                f"a pull_request build needs its number: pass pr_number, or a ref like "
                f"refs/pull/<N>/merge (got '{ref}')."
            )
        return int(match["number"])
    if isinstance(pr_number, bool) or not isinstance(pr_number, int) or pr_number < 1:
        raise TagError(f"pull request number '{pr_number}' is not a positive integer.")
    return pr_number


def _check_date(date: str) -> str:
    # strptime alone would take 2024131 (one-digit month); insist on eight digits first.
    try:
        if not re.fullmatch(r"\d{8}", date, flags=re.ASCII):
            raise ValueError(date)
        datetime.strptime(date, "%Y%m%d")
    except (TypeError, ValueError) as exc:
        raise TagError(f"date '{date}' is not a calendar date written YYYYMMDD.") from exc
    return date


def _short_sha(sha: str) -> str:
    sha = sha.strip().lower()
    if not _SHA.fullmatch(sha):
        raise TagError(f"'{sha}' is not a commit id: use at least 7 hex digits (GITHUB_SHA).")
    return sha[:7]


def _fit(base: str, tail: str) -> str:
    """`base + tail`, cutting `base` so the variant and suffix survive the 128-character cap."""
    room = MAX_TAG_LENGTH - len(tail)
    if len(base) > room:
        base = base[: max(room, 0)].rstrip(".-")
    if not base:
        raise TagError(f"variant and suffix '{tail}' leave no room for a tag.")
    return base + tail
