"""HTTP over urllib with one retry rule: requests whose every status is an answer, downloads
pinned by sha256.

Callers get the answer's status as a value (a 404 is often an answer: "not there yet"), and a
network failure, after the retries, as one PipelineError naming the URL.
"""

from __future__ import annotations

import hashlib
import http.client
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from mlc_ci import files, probes
from mlc_ci.errors import PipelineError
from mlc_ci.plan.cache import url_for_display

# Answers worth another try: rate limits and server-side failures.
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, OSError)
CHUNK = 1 << 20


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...): 2, 4, 8, ...

    The one backoff rule of mlc-ci: process retries (run.py), API calls (github.py) and the
    requests here all wait this long.
    """
    return 2.0**attempt


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, headers and body."""

    status: int
    body: bytes = b""
    # The message object urllib gives (case-insensitive .get), or any mapping.
    headers: Mapping[str, str] = field(default_factory=dict)


class Unreachable(PipelineError):
    """No answer from the server after every attempt; `reason` is the last network error."""

    def __init__(self, message: str, cause: str = "") -> None:
        super().__init__(message)
        self.reason = cause


def reason(exc: BaseException) -> str:
    """The cause of a network error, with its type (urllib wraps it in .reason)."""
    cause = getattr(exc, "reason", None) or exc
    return f"{type(cause).__name__}: {cause}".rstrip(": ")


def request(  # pylint: disable=too-many-arguments
    url: str,
    *,
    method: str = "GET",
    data: object = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 60,
    retries: int = 2,
    sleep: Callable[[float], None] = time.sleep,
) -> Answer:
    """One exchange, retried on network errors and transient statuses; every status is returned.

    `data` may be bytes or a callable returning a fresh body for each attempt (a file object
    is read once, so an upload passes `lambda: path.open("rb")`).
    """
    start, status = time.monotonic(), "unreachable"
    try:
        answer = _exchange(url, method, data, headers, timeout, retries, sleep)
        status = "ok" if answer.status < 400 else str(answer.status)
        return answer
    finally:
        seconds = time.monotonic() - start
        shown = url_for_display(url)  # the record is printed and kept: never a password
        probes.LOG.add("http", f"{method} {shown}", (method, shown), status, seconds)


def _exchange(  # pylint: disable=too-many-arguments,too-many-positional-arguments
    url: str,
    method: str,
    data: object,
    headers: Mapping[str, str] | None,
    timeout: float,
    retries: int,
    sleep: Callable[[float], None],
) -> Answer:
    shown = url_for_display(url)  # messages never show a password
    for attempt in range(1, retries + 2):
        body = data() if callable(data) else data
        req = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as answer:  # nosec B310
                # file:// answers have no status: reading them is the 200 of a local file.
                return Answer(answer.status or 200, answer.read(), answer.headers)
        except urllib.error.HTTPError as exc:
            failed = Answer(exc.code, exc.read(), exc.headers)
            if exc.code not in TRANSIENT_STATUS or attempt > retries:
                return failed
        except NETWORK_ERRORS as exc:
            if attempt > retries:
                raise Unreachable(
                    f"no answer from {shown} after {attempt} attempt(s) ({reason(exc)}); check "
                    "the network and the URL, then run again.",
                    reason(exc),
                ) from None
        finally:
            if hasattr(body, "close"):
                body.close()
        sleep(backoff(attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def download(
    url: str,
    target: Path,
    sha256: str,
    *,
    timeout: float = 300,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Fetch `url` to `target`, which appears only once its sha256 equals the pin.

    A wrong digest or a dropped connection leaves nothing at `target` (the partial file is
    removed), so a re-run starts clean; a file already there with the pinned digest is kept.
    Dropped connections are retried, a wrong digest is not.
    """
    if target.is_file() and files.sha256_of(target) == sha256:
        return target
    for attempt in range(1, 4):
        try:
            return files.atomic(target, lambda tmp: _fetch_to(url, tmp, sha256, timeout))
        except Unreachable:
            if attempt == 3:
                raise
            sleep(backoff(attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def _fetch_to(url: str, tmp: str, sha256: str, timeout: float) -> None:
    shown = url_for_display(url)  # messages never show a password
    digest = hashlib.sha256()
    # Network errors become Unreachable (retried), never an OSError: files.atomic reports
    # OSErrors (disk full, read-only) as "cannot write", which a write error is.
    try:
        answer = urllib.request.urlopen(url, timeout=timeout)  # nosec B310: pinned https URL
    except urllib.error.HTTPError as exc:
        raise PipelineError(
            f"{shown} answered {exc.code}; check the URL (pinned in pipeline.toml)."
        ) from None
    except NETWORK_ERRORS as exc:
        raise Unreachable(
            f"the download of {shown} failed ({reason(exc)}); run again.",
            reason(exc),
        ) from None
    with answer, open(tmp, "wb") as out:
        while True:
            try:
                chunk = answer.read(CHUNK)
            except NETWORK_ERRORS as exc:
                raise Unreachable(
                    f"the download of {shown} broke off ({reason(exc)}); run again.",
                    reason(exc),
                ) from None
            if not chunk:
                break
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != sha256:
        raise PipelineError(
            f"{shown} has sha256 {digest.hexdigest()}, not the pinned {sha256}; nothing was kept. "
            "Check the download, or move the pin if the file changed on purpose."
        )
