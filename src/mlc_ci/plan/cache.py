"""The shared compile cache (pure): who may write it, the ccache setting, its statistics.

The backend is ccache's remote storage (redis or http, ccache 4.4+): every compile the
pipeline runs already goes through ccache, Debian 12 and the builder images ship 4.7, and nvcc
is cached as well. Trust: only a push to the default branch (or a maintainer's machine) writes;
pull requests and other branches read; tag builds do not use the shared cache at all, so a
release is always compiled from source and can never pick up a poisoned entry.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, Mapping

SCHEMES = ("redis", "redis+unix", "http", "file")
MODES = ("read-write", "read-only", "off")
# Per compilation (hits, misses) as ccache counts results; reads and writes count every entry
# (a direct-mode hit reads a manifest and a result).
REMOTE_COUNTERS = {
    "hits": "remote_storage_hit",
    "misses": "remote_storage_miss",
    "reads": "remote_storage_read_hit",
    "writes": "remote_storage_write",
    "errors": "remote_storage_error",
    "timeouts": "remote_storage_timeout",
}


@dataclass(frozen=True)
class CacheUse:
    """How this run uses the shared cache."""

    remote: str  # the URL ('' when there is none or it is off)
    mode: str  # one of MODES
    why: str

    @property
    def ccache_setting(self) -> str:
        """CCACHE_REMOTE_STORAGE for this run ('' when off)."""
        if self.mode == "off" or not self.remote:
            return ""
        return self.remote + ("|read-only=true" if self.mode == "read-only" else "")


def scheme_problem(url: str) -> str:
    """Why `url` is no remote ccache can use ('' when it is fine)."""
    if not url:
        return ""
    scheme = url.split(":", 1)[0] if ":" in url else ""
    if scheme not in SCHEMES:
        return (
            f"'{url_for_display(url)}' is not a ccache remote storage URL; use redis://HOST:PORT, "
            "redis+unix:/PATH, http://HOST/PATH or file:///DIR ('' for none)"
        )
    if "|" in url:
        return "holds ccache attributes ('|...'); give the URL only and use [cache].read_only"
    return ""


def decide(  # pylint: disable=too-many-return-statements  # one return per trust rule
    remote: str, read_only: bool, env: Mapping[str, str], default_branch: str, forced: str = ""
) -> CacheUse:
    """The cache mode for this run from the CI event (GITHUB_EVENT_NAME / GITHUB_REF).

    `forced` (MLC_CI_CACHE_MODE) is the mode a caller already decided, e.g. the host session
    for the build inside the image.
    """
    if not remote:
        return CacheUse("", "off", "no shared cache configured ([cache].remote)")
    if forced:
        return CacheUse(remote, forced, f"{forced} (MLC_CI_CACHE_MODE)")
    event, ref = env.get("GITHUB_EVENT_NAME", ""), env.get("GITHUB_REF", "")
    if ref.startswith("refs/tags/"):
        return CacheUse(remote, "off", "tag builds compile without the shared cache")
    if event in ("pull_request", "pull_request_target"):
        return CacheUse(remote, "read-only", "pull requests only read the shared cache")
    if event:
        if event == "push" and ref == f"refs/heads/{default_branch}" and not read_only:
            return CacheUse(remote, "read-write", f"a push to {default_branch} writes")
        return CacheUse(remote, "read-only", f"only pushes to {default_branch} write ({event})")
    if read_only:
        return CacheUse(remote, "read-only", "[cache].read_only on this machine")
    return CacheUse(remote, "read-write", "a maintainer's machine writes")


def url_for_display(url: str) -> str:
    """The URL with any password replaced by ***."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None and not (parts.username and parts.scheme.startswith("redis")):
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username if parts.password is not None and parts.username else ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def endpoint(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a redis or http URL, for the reachability probe."""
    parts = urllib.parse.urlsplit(url)
    default = 6379 if parts.scheme == "redis" else 80
    return parts.scheme, parts.hostname or "localhost", parts.port or default


def redis_password(url: str) -> str:
    """The password of redis://[user:]PASSWORD@host ('' when none); ccache reads it that way."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is not None:
        return urllib.parse.unquote(parts.password)
    return urllib.parse.unquote(parts.username or "")


def remote_stats(values: Mapping[str, int]) -> dict[str, Any]:
    """Remote hits, misses, writes and errors from `ccache --print-stats` counters."""
    stats = {name: values.get(counter, 0) for name, counter in REMOTE_COUNTERS.items()}
    looked = stats["hits"] + stats["misses"]
    stats["hit_rate"] = round(stats["hits"] / looked, 3) if looked else None
    return stats


_STAT_LINE = re.compile(r"^\s*(Cacheable calls|Hits|Misses|Local storage|Remote storage):?\s*(\d*)")
_BUILDKIT_PREFIX = re.compile(r"^#\d+ \d+(?:\.\d+)? ")


def show_stats(log: str) -> dict[str, Any] | None:
    """Hits and misses, local and remote, of the last `ccache --show-stats` in a build log
    (BuildKit's `#N 1.23 ` prefixes allowed); None when the log has none."""
    blocks: list[dict[str, Any]] = []
    section = ""
    for raw in log.splitlines():
        match = _STAT_LINE.match(_BUILDKIT_PREFIX.sub("", raw))
        if not match:
            continue
        key, value = match.group(1), match.group(2)
        if key == "Cacheable calls":
            blocks.append({"hits": 0, "misses": 0, "remote": None})
            section = "calls"
        elif key in ("Local storage", "Remote storage") and blocks:
            section = key.split()[0].lower()
            if section == "remote":
                blocks[-1]["remote"] = {"hits": 0, "misses": 0}
        elif blocks and value and section in ("calls", "remote"):
            target = blocks[-1] if section == "calls" else blocks[-1]["remote"]
            target[key.lower()] = int(value)
    return blocks[-1] if blocks else None
