"""GitHub releases over the REST API with urllib: create or update, replace assets, retry.

Idempotent by design: a release is looked up by tag before it is created, and an asset is
uploaded only after every asset of the same name is deleted, so a re-run (or a retry after a
dropped upload, which GitHub can leave behind as a half-made asset) replaces and never
duplicates. Every failure is a PipelineError of one line; the token never appears in one.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterable

from mlc_ci.errors import PipelineError

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
PAGE_SIZE = 100
# Answers worth another try: GitHub's own advice for 5xx, and secondary rate limits (429).
TRANSIENT_STATUS = (429, 500, 502, 503, 504)
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, OSError)

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

    def ensure_release(self, tag: str, name: str, body: str, prerelease: bool) -> Json:
        """Create the release of `tag`, or update it when it exists (also after losing a race)."""
        fields = {"tag_name": tag, "name": name, "body": body, "prerelease": prerelease}
        existing = self.release_by_tag(tag)
        if existing is None:
            status, answer = self.call(
                "POST", self._repo_url("/releases"), {**fields, "draft": False}, allow=(422,)
            )
            if status != 422:
                return answer
            if not _already_exists(answer):
                raise self._error("POST", self._repo_url("/releases"), status, answer)
            # Another run created it between our lookup and our POST: update that one.
            existing = self.release_by_tag(tag)
            if existing is None:
                raise GitHubError(
                    f"GitHub says the release {tag} already exists but does not return it "
                    "(a draft?); publish or delete the draft and run again."
                )
        _, answer = self.call("PATCH", self._repo_url(f"/releases/{existing['id']}"), fields)
        return answer

    # -- assets ---------------------------------------------------------------------------

    def list_assets(self, release_id: int) -> list[Json]:
        """Every asset of a release: all pages, following the Link header as GitHub says to."""
        assets: list[Json] = []
        url: str | None = self._repo_url(f"/releases/{release_id}/assets?per_page={PAGE_SIZE}")
        while url:
            _, batch = self.call("GET", url)
            assets += batch
            url = next_link(self.last_link)
        return assets

    def delete_asset(self, asset_id: int) -> None:
        """Delete one asset (already gone is fine)."""
        self.call("DELETE", self._repo_url(f"/releases/assets/{asset_id}"), allow=(404,))

    def replace_asset(self, release: Json, path: Path, content_type: str = "") -> Json:
        """Upload `path` as an asset of `release`, replacing any asset of the same name."""
        url = upload_url(release["upload_url"], path.name)
        kind = content_type or "application/octet-stream"
        for attempt in range(self.retries + 1):
            for asset in self.list_assets(release["id"]):
                if asset["name"] == path.name:
                    self.delete_asset(asset["id"])
            try:
                with path.open("rb") as data:
                    status, answer = self.call(
                        "POST",
                        url,
                        data=data,
                        headers={
                            "Content-Type": kind,
                            "Content-Length": str(path.stat().st_size),
                        },
                        allow=(422,),
                        retries=0,
                    )
            except Unreachable:
                # The server may keep a partial asset; the next attempt deletes it first.
                if attempt == self.retries:
                    raise
                self.sleep(2.0**attempt)
                continue
            if status != 422:
                return answer
            if not _already_exists(answer) or attempt == self.retries:
                raise self._error("POST", url, status, answer)
        raise AssertionError("unreachable")  # pragma: no cover

    def publish(
        self, tag: str, name: str, body: str, prerelease: bool, files: Iterable[Path]
    ) -> Json:
        """The whole release: create or update it, then replace each file's asset."""
        release = self.ensure_release(tag, name, body, prerelease)
        for path in files:
            self.replace_asset(release, path)
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
        for attempt in range(retries + 1):
            request = urllib.request.Request(url, data=data, headers=all_headers, method=method)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    self.last_link = answer.headers.get("Link", "")
                    return answer.status, _decode(answer.read())
            except urllib.error.HTTPError as exc:
                status, body = exc.code, _decode(exc.read())
                if status in allow:
                    return status, body
                if status not in TRANSIENT_STATUS or attempt == retries:
                    raise self._error(method, url, status, body) from None
            except NETWORK_ERRORS as exc:
                if attempt == retries:
                    raise Unreachable(
                        f"no answer from {_host(url)} for {method} {_path(url)} after "
                        f"{attempt + 1} attempt(s) ({_reason(exc)}); check the network or "
                        "GITHUB_API_URL and run again (re-runs are safe)."
                    ) from None
            self.sleep(2.0**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

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


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return f"{type(reason).__name__}: {reason}".rstrip(": ")
