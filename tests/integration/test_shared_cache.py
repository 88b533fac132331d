"""The shared compile cache for real: mini-llm built in two checkouts through one redis server.

Checkout A starts with an empty local ccache and fills the remote (Debian's redis-server,
started by `scripts/ci-services.sh start redis` on 127.0.0.1:6379); checkout B, another
directory with another empty local cache, must then get every translation unit from the
remote, as read from ccache's own remote counters in the wheel report. A server that does not
answer costs a warning, never the build.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT, TOOLKIT_PATH, explain

REDIS = os.environ.get("MLC_CI_TEST_REDIS", "127.0.0.1:6379")
CONFIG = "examples/mini-llm/pipeline.toml"


def redis_command(*words: str) -> bytes:
    """One RESP command to the test server; its first reply line."""
    host, port = REDIS.rsplit(":", 1)
    payload = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(payload.encode())
        return conn.recv(256)


@pytest.fixture(name="remote")
def fixture_remote() -> str:
    """A redis database of its own (emptied), as a ccache remote storage URL."""
    try:
        assert redis_command("PING").startswith(b"+PONG")
    except OSError as exc:
        pytest.fail(
            f"no redis server at {REDIS} ({exc}); start it with `scripts/ci-services.sh start "
            "redis` (or set MLC_CI_TEST_REDIS=HOST:PORT).",
            pytrace=False,
        )
    database = str(1 + uuid.uuid4().int % 15)
    host, port = REDIS.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(f"SELECT {database}\r\nFLUSHDB\r\n".encode())
        assert conn.recv(64).startswith(b"+OK")
    return f"redis://{REDIS}/{database}"


def checkout(root: Path) -> Path:
    """A clone of this repository (its own directory, nothing built), as a runner makes one:
    the build stamps the version from its history."""
    subprocess.run(("git", "clone", "-q", "--shared", str(ROOT), str(root)), check=True)
    return root


def build(work: Path, variant: str, remote: str, mode: str) -> dict:
    """wheels-linux in `work` with an empty local ccache; its wheel report."""
    env = {
        **os.environ,
        "PYTHONPATH": TOOLKIT_PATH,
        "MLC_CI_CACHE_REMOTE": remote,
        "MLC_CI_CACHE_MODE": mode,
        "MLC_CI_CCACHE_DIR": str(work / f"ccache-{uuid.uuid4().hex[:8]}"),
        "MLC_CI_REPORTS_DIR": str(work / "reports"),
    }
    argv = (sys.executable, "-m", "mlc_ci", "wheels-linux", "--config", CONFIG)
    proc = subprocess.run(
        (*argv, "--variant", variant),
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, explain(proc)
    report = json.loads((work / "reports" / f"wheels-linux-mini-llm-{variant}.json").read_text())
    report["output"] = proc.stdout
    return report


def ccache_of(report: dict) -> dict:
    """The ccache statistics the session recorded."""
    return report["data"]["ccache"]


def two_checkouts(tmp_path: Path, variant: str, remote: str) -> tuple[dict, dict]:
    """Build in A (filling the remote), then in B (reading it only): the two wheel reports."""
    first = build(checkout(tmp_path / "A"), variant, remote, "read-write")
    second = build(checkout(tmp_path / "B"), variant, remote, "read-only")
    return first, second


def test_every_translation_unit_of_b_comes_from_the_remote(tmp_path, remote):
    reports = two_checkouts(tmp_path, "cpu", remote)
    first, second = (ccache_of(report) for report in reports)
    assert 3 <= first["misses"] <= first["remote"]["writes"], first
    assert second["misses"] == 0, second
    assert second["remote"]["hits"] == first["misses"] and second["remote"]["misses"] == 0, second
    # The report's compile record (from ninja's log) counts the same units in both checkouts.
    compiled = [report["data"]["compile"] for report in reports]
    assert compiled[0]["units"] == compiled[1]["units"] >= 2, compiled
    assert all(isinstance(record["seconds"], float) for record in compiled), compiled


def test_the_cuda_kernel_comes_from_the_remote_too(tmp_path, remote):
    if not shutil.which("nvcc") and not Path("/usr/local/cuda/bin/nvcc").is_file():
        pytest.skip("no CUDA toolkit (nvcc) on this host")
    first, second = (ccache_of(report) for report in two_checkouts(tmp_path, "cu130", remote))
    # cu130 compiles the CPU sources plus the kernel: one more translation unit than cpu.
    assert first["misses"] >= 4, first
    assert second["misses"] == 0 and second["remote"]["hits"] == first["misses"], second


def test_a_stopped_server_still_builds_with_a_warning(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens once the probe socket is closed
    report = build(checkout(tmp_path / "C"), "cpu", f"redis://127.0.0.1:{port}", "read-write")
    shared = report["data"]["shared_cache"]
    assert shared["reachable"] is False and "does not answer" in shared["reason"]
    assert "warning: shared compile cache" in report["output"]
    assert ccache_of(report)["remote"]["hits"] == 0 and report["status"] == "passed"


def builder_stats(mlc_ci_cli, remote: str, mode: str) -> dict:
    """docker-build builder with an empty local cache; the builder's ccache statistics."""
    result = mlc_ci_cli(
        "docker-build",
        "builder",
        "--config",
        CONFIG,
        "--no-local-ccache",
        "--image",
        PROBE_IMAGE,
        env={"MLC_CI_CACHE_REMOTE": remote, "MLC_CI_CACHE_MODE": mode, "MLC_CI_PUSH": None},
    )
    assert result.returncode == 0, result.explain()
    report = json.loads((result.reports / "docker-build-cpu.json").read_text())
    (image,) = [a for a in report["artifacts"] if a["details"]["target"] == "builder"]
    stats = image["details"]["ccache"]
    assert stats is not None, "the builder's wheel build did not run (a cached layer)"
    return stats


PROBE_IMAGE = "mlc-ci-it/shared-cache-probe"


@pytest.mark.docker
def test_the_builder_stage_hits_the_remote_with_an_empty_local_cache(mlc_ci_cli, remote):
    """Two builds of the builder stage, each with an empty local cache: the first fills the
    remote (read-write), the second (read-only, so its layer is rebuilt) reads every unit."""
    import docker  # pylint: disable=import-outside-toplevel

    try:
        first = builder_stats(mlc_ci_cli, remote, "read-write")
        second = builder_stats(mlc_ci_cli, remote, "read-only")
    finally:
        client = docker.from_env()
        for image in client.images.list(name=PROBE_IMAGE):
            for tag in image.tags:
                client.images.remove(tag)
    assert first["misses"] >= 3 and first["remote"] == {"hits": 0, "misses": first["misses"]}
    assert second["misses"] == 0, second
    assert second["remote"] == {"hits": first["misses"], "misses": 0}, second
