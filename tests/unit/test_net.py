"""net: downloads pinned by sha256 and requests with the one retry rule, against a real local
HTTP server (http.server on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from pathlib import Path

import pytest

from mlc_ci import net, probes
from mlc_ci.errors import PipelineError

pytestmark = pytest.mark.unit

PAYLOAD = b"MZ a Windows installer, in part" * 1000
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    """/installer.exe: PAYLOAD; /flaky: 503 for the first `failures` requests, then 200."""

    failures = 0
    seen: list[str] = []

    def do_GET(self):  # pylint: disable=invalid-name  # http.server's hook name
        """Answer by path."""
        self.seen.append(self.path)
        if self.path == "/installer.exe":
            self._answer(200, PAYLOAD)
        elif self.path == "/flaky" and Handler.failures:
            Handler.failures -= 1
            self._answer(503, b"busy")
        elif self.path == "/flaky":
            self._answer(200, b"fine")
        else:
            self._answer(404, b"no such file")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # pylint: disable=arguments-differ
        del args


@pytest.fixture(name="server")
def fixture_server():
    Handler.seen = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def closed_port_url() -> str:
    """A loopback URL where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/installer.exe"


def leftovers(directory: Path) -> list[str]:
    """What a directory holds (a failed download must leave nothing, not even a .partial)."""
    return sorted(p.name for p in directory.iterdir())


def test_download_keeps_the_file_only_with_the_pinned_digest(server, tmp_path):
    target = tmp_path / "cuda" / "installer.exe"
    assert net.download(f"{server}/installer.exe", target, DIGEST) == target
    assert target.read_bytes() == PAYLOAD and target.stat().st_mode & 0o777 == 0o644
    # Present with the pinned digest: kept, not fetched again.
    assert net.download(closed_port_url(), target, DIGEST) == target
    assert Handler.seen == ["/installer.exe"]


def test_a_wrong_digest_leaves_nothing(server, tmp_path):
    target = tmp_path / "installer.exe"
    with pytest.raises(PipelineError) as failed:
        net.download(f"{server}/installer.exe", target, "0" * 64)
    assert f"has sha256 {DIGEST}, not the pinned {'0' * 64}; nothing was kept" in str(failed.value)
    assert not leftovers(tmp_path)
    # A file there with another digest is replaced by the verified download.
    target.write_bytes(b"an older installer")
    net.download(f"{server}/installer.exe", target, DIGEST)
    assert target.read_bytes() == PAYLOAD and leftovers(tmp_path) == ["installer.exe"]


def test_a_missing_file_is_one_line(server, tmp_path):
    with pytest.raises(PipelineError) as failed:
        net.download(f"{server}/gone.exe", tmp_path / "gone.exe", DIGEST)
    assert (
        str(failed.value)
        == f"{server}/gone.exe answered 404; check the URL (pinned in pipeline.toml)."
    )
    assert not leftovers(tmp_path)


def test_no_server_is_retried_then_one_line(tmp_path):
    delays: list[float] = []
    url = closed_port_url()
    with pytest.raises(net.Unreachable) as failed:
        net.download(url, tmp_path / "installer.exe", DIGEST, sleep=delays.append)
    assert delays == [2.0, 4.0]
    assert str(failed.value).startswith(f"the download of {url} failed (")
    assert not leftovers(tmp_path)


def test_request_retries_transient_answers_and_returns_the_rest(server):
    delays: list[float] = []
    Handler.failures = 2
    answer = net.request(f"{server}/flaky", retries=2, sleep=delays.append)
    assert (answer.status, answer.body, delays) == (200, b"fine", [2.0, 4.0])
    Handler.failures = 3
    assert net.request(f"{server}/flaky", retries=2, sleep=delays.append).status == 503
    missing = net.request(f"{server}/nothing", sleep=delays.append)
    assert (missing.status, missing.body) == (404, b"no such file")


def test_request_without_a_server_is_unreachable():
    delays: list[float] = []
    url = closed_port_url()
    with pytest.raises(net.Unreachable, match=f"no answer from {url} after 2 attempt"):
        net.request(url, retries=1, sleep=delays.append)
    assert delays == [2.0]


def test_each_request_is_recorded_with_its_status_and_no_password(server):
    probes.LOG.start()
    assert net.request(f"{server}/flaky").status == 200
    assert net.request(f"{server}/nothing").status == 404
    host = server.removeprefix("http://")
    # urllib takes no credentials in a URL: such a request fails, and says so without them.
    with pytest.raises(net.Unreachable) as failed:
        net.request(f"http://user:s3cret@{host}/flaky", retries=0)
    assert f"no answer from http://user:***@{host}/flaky after 1 attempt(s)" in str(failed.value)
    unreachable = closed_port_url()
    with pytest.raises(net.Unreachable):
        net.request(unreachable, retries=0)
    recorded = [(p.kind, p.command, p.status) for p in probes.LOG.records]
    assert recorded == [
        ("http", f"GET {server}/flaky", "ok"),
        ("http", f"GET {server}/nothing", "404"),
        ("http", f"GET http://user:***@{host}/flaky", "unreachable"),
        ("http", f"GET {unreachable}", "unreachable"),
    ]
    assert "s3cret" not in repr(probes.LOG.records)
    probes.LOG.start()
