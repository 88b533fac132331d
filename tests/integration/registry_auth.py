"""A second, private docker-registry that demands a login (htpasswd, bcrypt), on 127.0.0.1.

Debian's /usr/bin/docker-registry (distribution 2.x) with `auth.htpasswd`; the password file
is written with the PyPI `bcrypt` package, the hash format the registry reads ($2b$).
"""

from __future__ import annotations

import base64
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REGISTRY_BIN = Path("/usr/bin/docker-registry")
USER = "mlc-ci"
REALM = "mlc-ci-integration"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def htpasswd_line(user: str, password: str) -> str:
    """One htpasswd entry with a bcrypt hash."""
    import bcrypt  # pylint: disable=import-outside-toplevel

    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    return f"{user}:{hashed}\n"


def config_yaml(port: int, data: Path, htpasswd: Path) -> str:
    """The registry configuration: loopback only, filesystem storage, htpasswd auth."""
    return f"""version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: {data}
http:
  addr: 127.0.0.1:{port}
auth:
  htpasswd:
    realm: {REALM}
    path: {htpasswd}
"""


def status_of(url: str, auth: tuple[str, str] | None = None) -> int:
    """HTTP status of a GET (0 when nothing answers)."""
    request = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0


@dataclass
class AuthRegistry:
    """A running registry process that answers 401 without credentials."""

    port: int
    password: str
    process: subprocess.Popen
    log: Path

    @property
    def host(self) -> str:
        """host:port, the registry part of an image reference."""
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        """End the registry process this object started."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)


def start(state: Path, password: str, timeout: float = 30) -> AuthRegistry:
    """Start docker-registry with htpasswd auth in `state`; return once /v2/ answers 401."""
    state.mkdir(parents=True, exist_ok=True)
    htpasswd = state / "htpasswd"
    htpasswd.write_text(htpasswd_line(USER, password), encoding="utf-8")
    port = free_port()
    config = state / "config.yml"
    config.write_text(config_yaml(port, state / "data", htpasswd), encoding="utf-8")
    log = state / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # pylint: disable=consider-using-with  # stopped by stop()
            [str(REGISTRY_BIN), "serve", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    registry = AuthRegistry(port, password, process, log)
    deadline = time.monotonic() + timeout
    while status_of(f"http://{registry.host}/v2/") != 401:
        if process.poll() is not None or time.monotonic() > deadline:
            registry.stop()
            raise RuntimeError(
                f"docker-registry did not answer on {registry.host} within {timeout:.0f}s:\n"
                + log.read_text(encoding="utf-8", errors="replace")[-2000:]
            )
        time.sleep(0.2)
    return registry
