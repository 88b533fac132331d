"""scripts/ci-services.sh against the real docker-registry and pypiserver.

Each test runs its own registry and index on free loopback ports with a private state
directory, so it never touches services a developer or the CI job already started. Needs
Debian's docker-registry (/usr/bin/docker-registry) and `pip install pypiserver`.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import urllib.error
import urllib.request
import uuid
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ci-services.sh"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a GET (HTTP errors are returned, not raised)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def tiny_wheel(name: str, version: str) -> tuple[str, bytes]:
    """A minimal but well-formed pure-Python wheel: (filename, bytes)."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": "",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    files[f"{dist_info}/RECORD"] = "".join(f"{path},,\n" for path in files) + (
        f"{dist_info}/RECORD,,\n"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return f"{name}-{version}-py3-none-any.whl", buffer.getvalue()


def upload(index: str, filename: str, content: bytes) -> int:
    """POST a file the way `twine upload` does (legacy upload API); returns the status."""
    boundary = uuid.uuid4().hex
    parts = [
        ('name=":action"', b"file_upload"),
        ('name="protocol_version"', b"1"),
        (f'name="content"; filename="{filename}"', content),
    ]
    body = b"".join(
        f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n\r\n".encode()
        + value
        + b"\r\n"
        for disposition, value in parts
    )
    body += f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        index, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


class Services:
    """Runs the script with a private state directory and private ports."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.registry = f"http://127.0.0.1:{free_port()}"
        self.pypi = f"http://127.0.0.1:{free_port()}"
        self.redis_port = free_port()
        self.env = {
            **os.environ,
            "MLC_CI_STATE_DIR": str(state),
            "MLC_CI_REGISTRY_PORT": self.registry.rsplit(":", 1)[1],
            "MLC_CI_PYPI_PORT": self.pypi.rsplit(":", 1)[1],
            "MLC_CI_REDIS_PORT": str(self.redis_port),
            "MLC_CI_SERVICE_TIMEOUT": "60",
        }

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """`ci-services.sh ARGS`, with extra environment."""
        return subprocess.run(
            ["bash", str(SCRIPT), *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def pid(self, service: str) -> int:
        """The pid recorded for `service`."""
        return int((self.state / f"{service}.pid").read_text(encoding="utf-8"))


@pytest.fixture(name="services")
def fixture_services(tmp_path: Path):
    """Private services; whatever a test started is stopped afterwards."""
    services = Services(tmp_path / "state")
    yield services
    services.run("stop", "registry", "pypi", "redis")


def redis_ping(port: int) -> bytes:
    """The first reply line of PING to the redis server on 127.0.0.1:port."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"PING\r\n")
        return conn.recv(64)


def test_redis_starts_in_memory_only_and_stops(services: Services):
    started = services.run("start", "redis")
    assert started.returncode == 0, started.stderr
    assert redis_ping(services.redis_port).startswith(b"+PONG")
    assert "redis    answering" in services.run("status", "redis").stdout
    stopped = services.run("stop", "redis")
    assert stopped.returncode == 0, stopped.stderr
    with pytest.raises(OSError):
        redis_ping(services.redis_port)


def test_start_serves_registry_and_index_then_stop_removes_them(services: Services):
    started = services.run("start", "registry", "pypi")
    assert started.returncode == 0, started.stderr

    status, headers, body = get(f"{services.registry}/v2/")
    assert (status, json.loads(body)) == (200, {})
    assert headers.get("Docker-Distribution-Api-Version") == "registry/2.0"
    config = (services.state / "registry.yml").read_text(encoding="utf-8")
    assert f"addr: {services.registry.removeprefix('http://')}" in config
    assert f"rootdirectory: {services.state / 'registry-data'}" in config

    # Unauthenticated upload, listed in the simple index, a re-upload is refused like on PyPI.
    filename, content = tiny_wheel("mlc_ci_probe", "1.0")
    assert upload(f"{services.pypi}/", filename, content) == 200
    assert (services.state / "pypi-packages" / filename).is_file()
    status, _, body = get(f"{services.pypi}/simple/mlc-ci-probe/")
    assert status == 200 and filename in body.decode()
    assert upload(f"{services.pypi}/", filename, content) == 409
    # No silent fallback to pypi.org for what the index lacks.
    assert get(f"{services.pypi}/simple/pip/")[0] == 404

    status_run = services.run("status", "registry", "pypi")
    assert status_run.returncode == 0, status_run.stdout
    assert status_run.stdout.count("answering (pid") == 2

    stopped = services.run("stop", "registry", "pypi")
    assert stopped.returncode == 0, stopped.stderr
    assert not list(services.state.glob("*.pid"))
    with pytest.raises(urllib.error.URLError):
        with urllib.request.urlopen(f"{services.registry}/v2/", timeout=5):
            pass
    after = services.run("status", "registry", "pypi")
    assert after.returncode == 3
    assert "registry stopped" in after.stdout and "pypi     stopped" in after.stdout


def test_start_is_idempotent_and_stop_is_safe_to_repeat(services: Services):
    assert services.run("start", "registry").returncode == 0
    first = services.pid("registry")
    again = services.run("start", "registry")
    assert again.returncode == 0
    assert "already answering" in again.stderr
    assert services.pid("registry") == first
    assert services.run("stop", "registry").returncode == 0
    repeat = services.run("stop", "registry")
    assert repeat.returncode == 0
    assert "nothing started by this script" in repeat.stderr


def test_service_that_never_answers_fails_within_the_timeout(services: Services, tmp_path):
    fake = tmp_path / "fake-pypi-server"
    fake.write_text("#!/bin/sh\nsleep 300\n", encoding="utf-8")
    fake.chmod(0o755)
    result = services.run("start", "pypi", MLC_CI_PYPI_SERVER=str(fake), MLC_CI_SERVICE_TIMEOUT="2")
    assert result.returncode == 1
    assert f"did not answer at {services.pypi}/ within 2s" in result.stderr
    pid = services.pid("pypi")
    assert services.run("stop", "pypi").returncode == 0
    assert not Path(f"/proc/{pid}").exists()


def test_service_that_exits_reports_its_log(services: Services):
    result = services.run("start", "pypi", MLC_CI_PYPI_SERVER="false")
    assert result.returncode == 1
    assert "pypi exited during start-up" in result.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ((), 2, "usage:"),
        (("restart",), 2, "usage:"),
        (("start", "database"), 1, "unknown service 'database'"),
    ],
)
def test_usage_errors(services: Services, args, code, message):
    result = services.run(*args)
    assert result.returncode == code
    assert message in result.stderr
