"""Bad input to `python -m mlc_ci docker-build`, on the real engine, the real CLI, real registries.

Each case must end with a non-zero exit and exactly one `mlc-ci: error:` line on stderr that
says what to do, never a traceback. The push failures use a second Debian docker-registry
that demands a login (tests/integration/registry_auth.py) and a loopback port where nothing
listens; both build the production image first (cached after docker-build, seconds).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error
from tests.integration import registry_auth
from tests.integration.cli_runner import CliResult

pytestmark = [pytest.mark.integration, pytest.mark.docker]

CONFIG = "examples/mini-llm/pipeline.toml"
# Debian's 20.10 CLI builds with the engine's BuildKit; tests that must build use it.
BUILDING_CLI = os.environ.get("MLC_CI_DOCKER", "/usr/bin/docker")
NO_BUILDX_CLI = Path("/usr/local/bin/docker")
# Pushes from a branch of their own: tags do not depend on the checkout or on a PR job.
PUSH_ENV = {"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/mlc-ci-it", "MLC_CI_PUSH": None}
BACKOFF = (2, 4, 8)


def built_tags(result: CliResult) -> list[str]:
    """Tags of the images a docker-build run reported (its report may say it failed)."""
    reports = list(result.reports.glob("docker-build-*.json"))
    if not reports:
        return []
    report = json.loads(reports[0].read_text(encoding="utf-8"))
    return [tag for art in report["artifacts"] for tag in art["details"].get("tags", [])]


def failed_report(result: CliResult) -> dict:
    """The one docker-build report a failed run left behind."""
    (path,) = result.reports.glob("docker-build-*.json")
    report = json.loads(path.read_text(encoding="utf-8"))
    assert report["status"] == "failed"
    return report


def assert_retried_with_backoff(result: CliResult) -> None:
    """The push was tried 1 + 3 times, waiting 2, 4 and 8 seconds in between."""
    for attempt, delay in enumerate(BACKOFF, 1):
        assert f"attempt {attempt} failed; retrying in {delay}s" in result.stdout, result.explain()
    assert "attempt 4 failed" not in result.stdout
    assert result.seconds >= sum(BACKOFF)
    (push,) = [s for s in failed_report(result)["steps"] if s["title"].startswith("push ")]
    assert (push["status"], push["attempts"]) == ("failed", 1 + len(BACKOFF))


def test_unknown_target(mlc_ci_cli):
    result = mlc_ci_cli("docker-build", "prod", "--config", CONFIG)
    assert_one_line_error(
        result, "unknown target 'prod'", "builder, development, ci, production or all"
    )
    assert result.returncode == 2
    assert not result.reports.exists(), "nothing ran, so no report"


def test_no_engine_running(mlc_ci_cli):
    result = mlc_ci_cli(
        "docker-build",
        "production",
        "--config",
        CONFIG,
        env={"DOCKER_HOST": "unix:///nonexistent.sock", "MLC_CI_DOCKER": BUILDING_CLI},
    )
    assert_one_line_error(
        result, "no Docker engine is reachable", "/nonexistent.sock", "start dockerd"
    )
    assert not result.reports.exists()


def test_cli_without_buildkit(mlc_ci_cli):
    """A Docker CLI 23+ without the buildx plugin cannot build with BuildKit at all."""
    if not NO_BUILDX_CLI.exists():
        pytest.skip(f"{NO_BUILDX_CLI} does not exist: no Docker CLI without buildx to try here")
    probe = subprocess.run(
        [str(NO_BUILDX_CLI), "buildx", "version"], capture_output=True, check=False
    )
    assert probe.returncode != 0, f"{NO_BUILDX_CLI} has buildx; this test needs a CLI without it"
    result = mlc_ci_cli(
        "docker-build",
        "production",
        "--config",
        CONFIG,
        env={"MLC_CI_DOCKER": str(NO_BUILDX_CLI), "MLC_CI_BUILDER": None},
    )
    assert_one_line_error(result, "has no buildx plugin", "install docker-buildx", "MLC_CI_DOCKER")
    assert not result.reports.exists()


@pytest.mark.parametrize(
    "image, fragment",
    [
        ("Bad/Name", "'Bad/Name' is not an image name"),
        ("127.0.0.1:5000/mini-llm:v1", "is not an image name"),
        ("ghcr.io/-lead/x", "'ghcr.io/-lead/x' is not an image name"),
    ],
)
def test_image_name_invalid_for_a_registry_fails_before_building(mlc_ci_cli, image, fragment):
    result = mlc_ci_cli(
        "docker-build",
        "production",
        "--image",
        image,
        "--config",
        CONFIG,
        env={"MLC_CI_DOCKER": BUILDING_CLI},
    )
    assert_one_line_error(result, fragment, "lowercase")
    assert result.returncode == 2
    assert "[1/" not in result.stdout, "a step ran before the name was checked"
    assert not result.reports.exists()


@pytest.fixture(name="auth_registry")
def fixture_auth_registry(tmp_path: Path):
    """A private registry on a free loopback port that answers 401 without a login."""
    if not registry_auth.REGISTRY_BIN.exists():
        pytest.fail(
            f"{registry_auth.REGISTRY_BIN} is missing: apt-get install docker-registry",
            pytrace=False,
        )
    try:
        import bcrypt  # pylint: disable=import-outside-toplevel,unused-import
    except ImportError:
        pytest.fail("the bcrypt package is missing: pip install 'bcrypt>=4'", pytrace=False)
    registry = registry_auth.start(tmp_path / "auth-registry", secrets.token_hex(12))
    yield registry
    registry.stop()


@pytest.mark.slow
def test_push_without_registry_credentials(mlc_ci_cli, auth_registry, untag, tmp_path):
    v2 = f"http://{auth_registry.host}/v2/"
    # The registry works; only the login is missing.
    assert registry_auth.status_of(v2) == 401
    assert registry_auth.status_of(v2, (registry_auth.USER, auth_registry.password)) == 200
    empty_config = tmp_path / "docker-config"  # no stored logins for this registry
    empty_config.mkdir()
    result = mlc_ci_cli(
        "docker-build",
        "production",
        "--push",
        "--image",
        f"{auth_registry.host}/mlc-ci-it/auth",
        "--config",
        CONFIG,
        env={**PUSH_ENV, "MLC_CI_DOCKER": BUILDING_CLI, "DOCKER_CONFIG": str(empty_config)},
    )
    untag.extend(built_tags(result))
    line = assert_one_line_error(
        result, f"push {auth_registry.host}/mlc-ci-it/auth:", "check `docker login`"
    )
    assert "no basic auth credentials" in line or "unauthorized" in line, line
    assert result.returncode == 1
    assert_retried_with_backoff(result)
    assert failed_report(result)["error"] in line
    log = auth_registry.log.read_text(encoding="utf-8", errors="replace")
    assert '"GET /v2/ HTTP/1.1" 401' in log, "the pushes never reached the registry"


@pytest.mark.slow
def test_push_to_a_registry_that_is_down(mlc_ci_cli, untag):
    host = f"127.0.0.1:{registry_auth.free_port()}"
    result = mlc_ci_cli(
        "docker-build",
        "production",
        "--push",
        "--image",
        f"{host}/mlc-ci-it/down",
        "--config",
        CONFIG,
        env={**PUSH_ENV, "MLC_CI_DOCKER": BUILDING_CLI},
    )
    untag.extend(built_tags(result))
    line = assert_one_line_error(result, f"push {host}/mlc-ci-it/down:", "connection refused")
    assert failed_report(result)["error"] in line
    assert result.returncode == 1
    assert_retried_with_backoff(result)
    assert result.seconds < 300, "retries must give up in reasonable time"


def test_a_container_profile_builds_the_builder_target_without_a_nested_engine(mlc_ci_cli, untag):
    """A profile whose Linux wheels build in a container ([container].linux_wheels = true, as
    MLC-LLM's root profile) still builds docker-build's builder target: no engine runs inside
    `docker build`, so that stage builds the wheel as a host does."""
    root = Path(__file__).resolve().parents[2]
    source = root / CONFIG
    text = source.read_text(encoding="utf-8")
    assert "linux_wheels = false" in text
    config = source.with_name(f"pipeline-in-container-{secrets.token_hex(4)}.toml")
    config.write_text(text.replace("linux_wheels = false", "linux_wheels = true"), "utf-8")
    try:
        result = mlc_ci_cli(
            "docker-build",
            "builder",
            "--config",
            str(config.relative_to(root)),
            env={"MLC_CI_DOCKER": BUILDING_CLI},
        )
    finally:
        config.unlink()
    untag += built_tags(result)
    assert result.returncode == 0, result.explain()
    assert "no Docker engine is reachable" not in result.stdout
    assert any(tag.endswith("-builder") for tag in built_tags(result)), built_tags(result)
