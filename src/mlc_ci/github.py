"""GitHub releases over the REST API (through net): draft, upload, publish; retry.

A release is created as a draft, its assets are uploaded, and only then is it published, so an
immutable release (whose assets can never change once it is published) is never published
half-made. Idempotent by design: the release is looked up by tag (drafts too) before one is
created; an asset whose digest already matches is left alone, so a re-run of a published
release uploads nothing; a changed asset is uploaded under a temporary name first and renamed
once the old one is deleted, so the name never points at nothing for longer than a rename, and
a half-made upload (a dropped connection) is removed by the next try. Every failure is a
PipelineError of one line; the token never appears in one.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Iterable

from mlc_ci import net
from mlc_ci.errors import PipelineError

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
PAGE_SIZE = 100
PARTIAL = ".partial"  # the temporary name of an asset being replaced
# Answers worth another try (GitHub's own advice for 5xx, and secondary rate limits: 429).
TRANSIENT_STATUS = net.TRANSIENT_STATUS

Json = Any


class GitHubError(PipelineError):
    """GitHub answered with an error, or could not be reached."""


class Unreachable(GitHubError):
    """The request did not get an answer (refused, reset, dropped, timed out)."""


class Client:
    """The release endpoints of one repository."""

    def __init__(  # pylint: disable=too-many-arguments
        self,
        token: str,
        repository: str,
        api_url: str = DEFAULT_API_URL,
        *,
        retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 120.0,
    ) -> None:
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
            raise GitHubError(f"'{repository}' is not owner/name; set GITHUB_REPOSITORY.")
        self.token = token
        self.repository = repository
        self.api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        self.retries = retries
        self.sleep = sleep
        self.timeout = timeout

    # -- releases -------------------------------------------------------------------------

    def release_by_tag(self, tag: str) -> Json | None:
        """The published release of `tag`, or None."""
        path = f"/releases/tags/{urllib.parse.quote(tag, safe='')}"
        status, body = self.call("GET", self._repo_url(path), allow=(404,))
        return None if status == 404 else body

    def find_release(self, tag: str) -> Json | None:
        """The release of `tag`, published or a draft (drafts are only in the list), or None."""
        found = self.release_by_tag(tag)
        if found is not None:
            return found
        for release in self._pages(self._repo_url(f"/releases?per_page={PAGE_SIZE}")):
            if release.get("tag_name") == tag and release.get("draft"):
                return release
        return None

    def ensure_release(self, tag: str, name: str, body: str, prerelease: bool) -> Json:
        """The release of `tag`: created as a draft, or the existing one with these fields."""
        fields = {"tag_name": tag, "name": name, "body": body, "prerelease": prerelease}
        existing = self.find_release(tag)
        if existing is None:
            status, answer = self.call(
                "POST", self._repo_url("/releases"), {**fields, "draft": True}, allow=(422,)
            )
            if status != 422:
                return answer
            if not _already_exists(answer):
                raise self._error("POST", self._repo_url("/releases"), status, answer)
            # Another run created it between our lookup and our POST: update that one.
            existing = self.find_release(tag)
            if existing is None:
                raise GitHubError(
                    f"GitHub says the release {tag} already exists but does not return it; "
                    "check the repository's releases and run again."
                )
        if all(existing.get(key) == value for key, value in fields.items()):
            return existing
        _, answer = self.call("PATCH", self._repo_url(f"/releases/{existing['id']}"), fields)
        return answer

    # -- assets ---------------------------------------------------------------------------

    def list_assets(self, release_id: int) -> list[Json]:
        """Every asset of a release: all pages, following the Link header as GitHub says to."""
        return self._pages(self._repo_url(f"/releases/{release_id}/assets?per_page={PAGE_SIZE}"))

    def _pages(self, url: str | None) -> list[Json]:
        items: list[Json] = []
        while url:
            _, batch = self.call("GET", url)
            items += batch
            url = next_link(self.last_link)
        return items

    def delete_asset(self, asset_id: int) -> None:
        """Delete one asset (already gone is fine)."""
        self.call("DELETE", self._repo_url(f"/releases/assets/{asset_id}"), allow=(404,))

    def replace_asset(self, release: Json, path: Path, content_type: str = "") -> Json:
        """`path` as the asset of its name: left alone when its digest matches, else uploaded
        under a temporary name, the old one deleted, and the new one renamed."""
        digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        assets = self.list_assets(release["id"])
        same = [a for a in assets if a["name"] == path.name]
        if len(same) == 1 and same[0].get("digest") == digest and same[0].get("state") != "starter":
            return same[0]
        temporary = path.name + PARTIAL
        for asset in assets:
            if asset["name"] == temporary:  # a half-made upload of an earlier try
                self.delete_asset(asset["id"])
        uploaded = self._upload(release, path, temporary, content_type)
        for asset in same:
            self.delete_asset(asset["id"])
        url = self._repo_url(f"/releases/assets/{uploaded['id']}")
        _, answer = self.call("PATCH", url, {"name": path.name})
        return answer

    def _upload(self, release: Json, path: Path, name: str, content_type: str) -> Json:
        """POST the file's bytes as asset `name`, retrying drops and 5xx (a drop can leave a
        half-made asset of that name: it is deleted before the next try)."""
        url = upload_url(release["upload_url"], name)
        headers = {
            "Content-Type": content_type or "application/octet-stream",
            "Content-Length": str(path.stat().st_size),
        }
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(net.backoff(attempt))
                for asset in self.list_assets(release["id"]):
                    if asset["name"] == name:
                        self.delete_asset(asset["id"])
            try:
                with path.open("rb") as data:
                    status, answer = self.call(
                        "POST",
                        url,
                        data=data,
                        headers=headers,
                        allow=(422, *TRANSIENT_STATUS),
                        retries=0,
                    )
            except Unreachable:
                if attempt == self.retries:
                    raise
                continue
            if status in TRANSIENT_STATUS and attempt < self.retries:
                continue
            if status == 422 or status in TRANSIENT_STATUS:
                raise self._error("POST", url, status, answer)
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    def publish(
        self, tag: str, name: str, body: str, prerelease: bool, files: Iterable[Path]
    ) -> Json:
        """The whole release: a draft (or the existing release), every file's asset, then the
        draft published, so what readers see is complete."""
        release = self.ensure_release(tag, name, body, prerelease)
        for path in files:
            self.replace_asset(release, path)
        if release.get("draft"):
            url = self._repo_url(f"/releases/{release['id']}")
            _, release = self.call("PATCH", url, {"draft": False})
        return release

    # -- transport ------------------------------------------------------------------------

    def call(  # pylint: disable=too-many-arguments
        self,
        method: str,
        url: str,
        payload: Json = None,
        *,
        data: Any = None,
        headers: dict[str, str] | None = None,
        allow: tuple[int, ...] = (),
        retries: int | None = None,
    ) -> tuple[int, Json]:
        """One API call: (status, decoded JSON); retries network errors and 5xx/429 answers."""
        retries = self.retries if retries is None else retries
        all_headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self.token}",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "mlc-ci",
            **(headers or {}),
        }
        if payload is not None:
            data = json.dumps(payload).encode("utf-8")
            all_headers["Content-Type"] = "application/json"
        try:
            answer = net.request(
                url,
                method=method,
                data=data,
                headers=all_headers,
                timeout=self.timeout,
                retries=retries,
                sleep=self.sleep,
            )
        except net.Unreachable as exc:
            raise Unreachable(
                f"no answer from {_host(url)} for {method} {_path(url)} after "
                f"{retries + 1} attempt(s) ({exc.reason}); check the network or "
                "GITHUB_API_URL and run again (re-runs are safe)."
            ) from None
        self.last_link = answer.headers.get("Link", "")
        body = _decode(answer.body)
        if answer.status < 400 or answer.status in allow:
            return answer.status, body
        raise self._error(method, url, answer.status, body)

    last_link = ""  # the Link header of the last answer (pagination)

    def _repo_url(self, path: str) -> str:
        return f"{self.api_url}/repos/{self.repository}{path}"

    def _error(self, method: str, url: str, status: int, body: Json) -> GitHubError:
        where = f"{method} {_path(url)}"
        message = body.get("message", "") if isinstance(body, dict) else ""
        if status == 401:
            return GitHubError(
                f"GitHub rejected the token (401 {message or 'Unauthorized'}) on {where}; set "
                f"GITHUB_TOKEN to a valid token with contents: write on {self.repository}."
            )
        if status == 403:
            return GitHubError(
                f"GitHub refused {where} (403 {message}); the token needs contents: write on "
                f"{self.repository}."
            )
        if status == 404:
            return GitHubError(
                f"GitHub answered 404 for {where}: {self.repository} does not exist or the "
                "token cannot see it; check GITHUB_REPOSITORY and the token."
            )
        if status == 422 and "immutable" in message.lower():
            return GitHubError(
                f"GitHub refused {where} (422 {message}): the release is published and "
                "immutable, so its assets cannot change; tag a new version."
            )
        details = ", ".join(_error_codes(body))
        return GitHubError(
            f"GitHub answered {status} for {where}: {message or 'no message'}"
            + (f" ({details})" if details else "")
            + "."
        )


def next_link(header: str) -> str | None:
    """The rel="next" URL of a Link header (RFC 8288, as GitHub sends it), or None."""
    for part in header.split(","):
        match = re.match(r"\s*<([^>]*)>\s*;(.*)", part)
        if match and re.search(r'\brel="?next"?', match.group(2)):
            return match.group(1)
    return None


def upload_url(template: str, name: str) -> str:
    """The release's `upload_url` (an RFC 6570 template) for one asset name."""
    base = re.sub(r"\{[^}]*\}$", "", template)
    return f"{base}?name={urllib.parse.quote(name, safe='')}"


def _already_exists(body: Json) -> bool:
    return "already_exists" in _error_codes(body)


def _error_codes(body: Json) -> list[str]:
    if not isinstance(body, dict):
        return []
    return [str(e.get("code", "")) for e in body.get("errors") or [] if isinstance(e, dict)]


def _decode(raw: bytes) -> Json:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return {"message": raw[:200].decode("utf-8", "replace").strip()}


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc


def _path(url: str) -> str:
    return urllib.parse.urlsplit(url).path
