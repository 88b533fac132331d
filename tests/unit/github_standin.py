"""A stand-in for GitHub's REST API (releases and release assets) on 127.0.0.1.

GitHub cannot be reached from build machines, so the release tests talk to this server instead.
It speaks the documented wire format of the endpoints the release session uses (paths, status
codes, JSON fields, `upload_url` as an RFC 6570 template pointing at a separate upload path):

    GET    /repos/{owner}/{repo}/releases/tags/{tag}            200 | 404 (published only)
    GET    /repos/{owner}/{repo}/releases                       200, paged, drafts included
    POST   /repos/{owner}/{repo}/releases                       201 | 422 already_exists
    PATCH  /repos/{owner}/{repo}/releases/{id}                  200 | 404
    GET    /repos/{owner}/{repo}/releases/{id}/assets           200, paged, Link header
    PATCH  /repos/{owner}/{repo}/releases/assets/{id}           200 (rename) | 422 | 404
    DELETE /repos/{owner}/{repo}/releases/assets/{id}           204 | 404
    POST   /uploads/repos/{owner}/{repo}/releases/{id}/assets?name=N   201 | 422 already_exists

Assets carry `digest` ("sha256:<hex>"), as GitHub's do. With `immutable=True` a published
release behaves like one of GitHub's immutable releases: its assets can be neither uploaded,
renamed nor deleted (422).

Every request needs `Authorization: Bearer <token>` (else 401 Bad credentials). Failures are
injected per request with `fail(method, path_fragment, kind)`: "401", "422-race" (another run
creates the release first, then the POST answers 422 already_exists), "422-invalid", "500", and
"drop" (the
upload is read half-way, a half-made asset in state "starter" is kept, as GitHub does, and the
connection is closed without an answer).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import socket
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class State:
    """Releases, assets, the request log and pending failures."""

    token: str
    releases: dict[int, dict[str, Any]] = field(default_factory=dict)
    assets: dict[int, dict[str, Any]] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    immutable: bool = False
    next_id: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock)

    def new_id(self) -> int:
        """A fresh id for a release or an asset."""
        self.next_id += 1
        return self.next_id

    def assets_of(self, release_id: int) -> list[dict[str, Any]]:
        """The assets of one release, oldest first."""
        return [a for a in self.assets.values() if a["release_id"] == release_id]


class StandIn(ThreadingHTTPServer):
    """The server; `url` is its base URL (use it as GITHUB_API_URL)."""

    daemon_threads = True

    def __init__(self, token: str = "good-token", immutable: bool = False, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.state = State(token, immutable=immutable)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        # A short poll interval keeps shutdown() (and so each test's teardown) fast.
        self.thread = threading.Thread(target=self.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=10)

    def fail(self, method: str, fragment: str, kind: str) -> None:
        """Make the next `method` request whose path contains `fragment` fail as `kind`."""
        self.state.failures.append((method, fragment, kind))

    def releases_named(self, tag: str) -> list[dict[str, Any]]:
        """Every release of `tag` (more than one would be a duplicate)."""
        return [r for r in self.state.releases.values() if r["tag_name"] == tag]


_RELEASES = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/releases")


class Handler(BaseHTTPRequestHandler):
    """Routes the documented release endpoints."""

    server: StandIn
    protocol_version = "HTTP/1.1"
    repo = ""

    def log_message(self, format: str, *args: Any) -> None:  # pylint: disable=redefined-builtin
        """Quiet: the state keeps a request log instead."""

    def do_GET(self) -> None:  # pylint: disable=invalid-name
        """Release by tag, or the assets of a release."""
        self._route("GET")

    def do_POST(self) -> None:  # pylint: disable=invalid-name
        """Create a release, or upload an asset."""
        self._route("POST")

    def do_PATCH(self) -> None:  # pylint: disable=invalid-name
        """Update a release."""
        self._route("PATCH")

    def do_DELETE(self) -> None:  # pylint: disable=invalid-name
        """Delete an asset."""
        self._route("DELETE")

    # -- plumbing -------------------------------------------------------------------------

    def _route(self, method: str) -> None:
        state = self.server.state
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        state.log.append((method, self.path))
        if self.headers.get("Authorization") != f"Bearer {state.token}":
            self._discard_body()
            self._send(401, {"message": "Bad credentials"})
            return
        kind = self._injected(method, url.path)
        if kind == "401":
            self._discard_body()
            self._send(401, {"message": "Bad credentials"})
        elif kind == "500":
            self._discard_body()
            self._send(500, {"message": "Server Error"})
        elif kind == "422-invalid":
            self._discard_body()
            errors = [{"resource": "Release", "code": "invalid", "field": "tag_name"}]
            self._send(422, {"message": "Validation Failed", "errors": errors})
        elif kind == "drop":
            self._drop_upload(url.path, query)
        else:
            with state.lock:
                self._dispatch(method, url.path, query, race=kind == "422-race")

    def _injected(self, method: str, path: str) -> str:
        for index, (want, fragment, kind) in enumerate(self.server.state.failures):
            if want == method and fragment in path:
                del self.server.state.failures[index]
                return kind
        return ""

    def _dispatch(self, method: str, path: str, query: dict[str, str], race: bool) -> None:
        upload = re.fullmatch(r"/uploads/repos/[^/]+/[^/]+/releases/(\d+)/assets", path)
        if method == "POST" and upload:
            self._upload(int(upload[1]), query.get("name", ""))
            return
        match = _RELEASES.match(path)
        rest = path[match.end() :] if match else None
        self.repo = match["repo"] if match else ""
        routes = {
            ("GET", r"/tags/(?P<tag>.+)"): self._get_by_tag,
            ("GET", r""): lambda: self._page(list(self.server.state.releases.values()), query),
            ("POST", r""): lambda: self._create(race),
            ("PATCH", r"/(?P<id>\d+)"): self._update,
            ("GET", r"/(?P<id>\d+)/assets"): lambda rid: self._list(int(rid), query),
            ("PATCH", r"/assets/(?P<id>\d+)"): self._rename,
            ("DELETE", r"/assets/(?P<id>\d+)"): self._delete,
        }
        for (want, pattern), handler in routes.items():
            found = re.fullmatch(pattern, rest) if rest is not None and want == method else None
            if found:
                handler(*found.groups())
                return
        self._discard_body()
        self._send(404, {"message": "Not Found"})

    def _get_by_tag(self, tag: str) -> None:
        tag = urllib.parse.unquote(tag)
        found = [r for r in self.server.releases_named(tag) if not r["draft"]]
        if found:
            self._send(200, found[0])
        else:
            self._send(404, {"message": "Not Found"})

    def _create(self, race: bool) -> None:
        fields = self._json()
        if race:
            self._new_release({**fields, "name": "made by another run"})
        if self.server.releases_named(fields.get("tag_name", "")):
            self._send(
                422,
                {
                    "message": "Validation Failed",
                    "errors": [
                        {"resource": "Release", "code": "already_exists", "field": "tag_name"}
                    ],
                },
            )
            return
        self._send(201, self._new_release(fields))

    def _new_release(self, fields: dict[str, Any]) -> dict[str, Any]:
        state = self.server.state
        rid = state.new_id()
        repo = self.repo
        release = {
            "id": rid,
            "tag_name": fields["tag_name"],
            "name": fields.get("name", ""),
            "body": fields.get("body", ""),
            "draft": bool(fields.get("draft", False)),
            "prerelease": bool(fields.get("prerelease", False)),
            "html_url": f"{self.server.url}/{repo}/releases/tag/{fields['tag_name']}",
            "upload_url": f"{self.server.url}/uploads/repos/{repo}/releases/{rid}/assets"
            "{?name,label}",
        }
        state.releases[rid] = release
        return release

    def _update(self, rid: str) -> None:
        fields = self._json()
        release = self.server.state.releases.get(int(rid))
        if release is None:
            self._send(404, {"message": "Not Found"})
            return
        release.update({k: v for k, v in fields.items() if k in release})
        self._send(200, release)

    def _list(self, rid: int, query: dict[str, str]) -> None:
        self._page(self.server.state.assets_of(rid), query)

    def _page(self, items: list[dict[str, Any]], query: dict[str, str]) -> None:
        """One page, with GitHub's Link header (rel next/last/first/prev) for the others."""
        per_page, page = min(int(query.get("per_page", 30)), 100), int(query.get("page", 1))
        assets = items
        last = max(1, -(-len(assets) // per_page))
        base = f"http://{self.headers['Host']}{self.path.split('?', 1)[0]}?per_page={per_page}"
        links = []
        if page < last:
            links += [f'<{base}&page={page + 1}>; rel="next"', f'<{base}&page={last}>; rel="last"']
        if page > 1:
            links += [f'<{base}&page={page - 1}>; rel="prev"', f'<{base}&page=1>; rel="first"']
        headers = {"Link": ", ".join(links)} if links else {}
        self._send(200, assets[(page - 1) * per_page : page * per_page], headers)

    def _frozen(self, rid: int) -> bool:
        """True (and 422 sent) when `rid` is a published release of an immutable repository."""
        state = self.server.state
        release = state.releases.get(rid)
        if state.immutable and release is not None and not release["draft"]:
            self._send(422, {"message": "Cannot modify an immutable release"})
            return True
        return False

    def _delete(self, aid: str) -> None:
        asset = self.server.state.assets.get(int(aid))
        if asset is None:
            self._send(404, {"message": "Not Found"})
        elif not self._frozen(asset["release_id"]):
            del self.server.state.assets[int(aid)]
            self._send(204, None)

    def _rename(self, aid: str) -> None:
        fields = self._json()
        state = self.server.state
        asset = state.assets.get(int(aid))
        if asset is None:
            self._send(404, {"message": "Not Found"})
        elif self._frozen(asset["release_id"]):
            return
        elif any(a["name"] == fields.get("name") for a in state.assets_of(asset["release_id"])):
            errors = [{"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}]
            self._send(422, {"message": "Validation Failed", "errors": errors})
        else:
            asset["name"] = fields.get("name", asset["name"])
            self._send(200, asset)

    def _upload(self, rid: int, name: str) -> None:
        data = self._body()
        state = self.server.state
        if rid not in state.releases:
            self._send(404, {"message": "Not Found"})
        elif self._frozen(rid):
            return
        elif any(a["name"] == name for a in state.assets_of(rid)):
            self._send(
                422,
                {
                    "message": "Validation Failed",
                    "errors": [{"resource": "ReleaseAsset", "code": "already_exists"}],
                },
            )
        else:
            self._send(201, self._new_asset(rid, name, data, "uploaded"))

    def _new_asset(self, rid: int, name: str, data: bytes, status: str) -> dict[str, Any]:
        state = self.server.state
        aid = state.new_id()
        asset = {
            "id": aid,
            "name": name,
            "label": "",
            "state": status,
            "size": len(data),
            "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
            "content_type": self.headers.get("Content-Type", ""),
            "release_id": rid,
            "data": data.decode("latin-1"),
        }
        state.assets[aid] = asset
        return asset

    def _drop_upload(self, path: str, query: dict[str, str]) -> None:
        length = int(self.headers.get("Content-Length", 0))
        partial = self.rfile.read(length // 2)
        rid = int(path.rstrip("/").split("/")[-2])
        with self.server.state.lock:
            self._new_asset(rid, query.get("name", ""), partial, "starter")
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def _discard_body(self) -> None:
        self._body()

    def _json(self) -> dict[str, Any]:
        return json.loads(self._body() or b"{}")

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if raw:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def main() -> None:
    """Serve until stopped: `python -m tests.unit.github_standin --port 8091 --token T` (the
    `github` service of scripts/ci-services.sh, which `rehearse` publishes a release to)."""
    parser = argparse.ArgumentParser(description="a local stand-in for GitHub's release API")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--token", default="rehearsal")
    args = parser.parse_args()
    server = StandIn(args.token, port=args.port)
    print(f"GitHub stand-in on {server.url} (token {args.token})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
