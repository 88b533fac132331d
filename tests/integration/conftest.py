"""Shared fixtures of the integration tests: the real Docker engine and the real mlc-ci CLI.

Nothing here is autouse, and the docker SDK is imported only by the fixtures that use it, so
tests that need no engine (the package-index tests) run without one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from tests.integration.cli_runner import CliResult, run_cli


@pytest.fixture(name="mlc_ci_cli")
def fixture_mlc_ci_cli(tmp_path: Path) -> Callable[..., CliResult]:
    """Run the real CLI from the repository root with its reports in a temporary directory."""

    def run(*args: str, env: dict[str, str | None] | None = None, timeout: float = 1200):
        return run_cli(*args, reports=tmp_path / "reports", env=env, timeout=timeout)

    return run


@pytest.fixture(name="docker_client", scope="session")
def fixture_docker_client():
    """A docker SDK client for the engine of DOCKER_HOST (or the default socket)."""
    try:
        import docker  # pylint: disable=import-outside-toplevel
    except ImportError:
        pytest.fail(
            "the docker SDK is not installed: `pip install 'docker>=7'` (nox -s integration "
            "installs it).",
            pytrace=False,
        )
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(
            f"no Docker engine answers ({exc}); start one with `scripts/ci-services.sh start "
            "docker` or set DOCKER_HOST.",
            pytrace=False,
        )
    yield client
    client.close()


@pytest.fixture(name="untag")
def fixture_untag(docker_client):
    """Image references a test created; each one is removed from the engine afterwards."""
    import docker  # pylint: disable=import-outside-toplevel

    refs: list[str] = []
    yield refs
    for ref in dict.fromkeys(refs):
        try:
            docker_client.images.remove(ref)
        except docker.errors.ImageNotFound:
            pass
