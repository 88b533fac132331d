"""scripts/dev-setup.sh: sub-commands, usage errors and the exact docker commands it runs.

The docker CLI is replaced (MLC_CI_DOCKER) by a stand-in script that records its arguments and
answers `info`, `image inspect`, `version` and `buildx version` as configured, so these tests
need no engine; .ci/run runs `dev-setup.sh build` and `test` against the real one, and the
lint session runs shellcheck over the script.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.unit

STUB = r"""#!/usr/bin/env bash
printf 'DOCKER_BUILDKIT=%s %s\n' "${DOCKER_BUILDKIT:-}" "$*" >>"$STUB_LOG"
case $1 in
    info) [[ ${2:-} == --format ]] && printf '%s\n' "$STUB_RUNTIMES"; exit "$STUB_ENGINE" ;;
    image) exit "$STUB_IMAGE" ;;
    buildx) exit "$STUB_BUILDX" ;;
    version) printf '%s\n' "$STUB_VERSION" ;;
esac
exit 0
"""


@pytest.fixture(name="checkout")
def fixture_checkout(root, tmp_path):
    """A copy of the script in a checkout of its own (it mounts its parent directory)."""
    scripts = tmp_path / "checkout" / "scripts"
    scripts.mkdir(parents=True)
    shutil.copy2(root / "scripts" / "dev-setup.sh", scripts / "dev-setup.sh")
    return scripts.parent


@pytest.fixture(name="setup")
def fixture_setup(checkout, tmp_path):
    """Run dev-setup.sh with the docker stand-in; returns (run, log path)."""
    stub = tmp_path / "docker"
    stub.write_text(STUB, encoding="utf-8")
    stub.chmod(0o755)
    log = tmp_path / "docker.log"

    def run(*args, **env):
        full = {
            "PATH": os.environ["PATH"],
            "MLC_CI_DOCKER": str(stub),
            "MLC_CI_BASE_IMAGE": "example/base:1",  # not mlc-ci/*: never bootstrapped here
            "STUB_LOG": str(log),
            "STUB_RUNTIMES": '{"runc":{}}',
            "STUB_ENGINE": "0",
            "STUB_IMAGE": "0",
            "STUB_BUILDX": "1",
            "STUB_VERSION": "20.10.24",
            **env,
        }
        return subprocess.run(
            ("bash", str(checkout / "scripts" / "dev-setup.sh"), *args),
            env=full,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    return run, log


def calls(log):
    """The docker invocations recorded by the stand-in."""
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def test_help_documents_every_sub_command(setup):
    run, _ = setup
    proc = run("help")
    assert proc.returncode == 0 and proc.stderr == ""
    for word in ("shell", "jupyter", "test", "build", "JUPYTER_PORT", "MLC_CI_DOCKER"):
        assert word in proc.stdout


@pytest.mark.parametrize("args", [("bogus",), (), ("test", "extra")])
def test_bad_usage_prints_usage_on_stderr_and_exits_2(setup, args):
    run, log = setup
    proc = run(*args)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "Usage: scripts/dev-setup.sh shell|jupyter|test|build|help" in proc.stderr
    assert not calls(log)


def test_test_runs_pytest_in_the_image_without_a_tty(setup, checkout):
    run, log = setup
    proc = run("test")
    assert proc.returncode == 0, proc.stderr
    assert calls(log)[-1] == (
        f"DOCKER_BUILDKIT= run --rm --network host -v {checkout}:/workspace -w /workspace "
        "-e PYTHONPATH=/workspace/src -e PYTHONDONTWRITEBYTECODE=1 mlc-ci/dev:latest "
        "python -m pytest tests/unit -q -m unit -p no:cacheprovider"
    )
    assert not any(" build " in line for line in calls(log))


def test_missing_image_is_built_first_with_buildkit(setup):
    run, log = setup
    proc = run("test", STUB_IMAGE="1", MLC_CI_NETWORK="none", MLC_CI_DEV_IMAGE="me/dev:1")
    assert proc.returncode == 0, proc.stderr
    (build,) = [line for line in calls(log) if " build " in f" {line} "]
    assert build == (
        "DOCKER_BUILDKIT=1 build --network none --build-arg BASE_IMAGE=example/base:1 "
        "--build-arg CA_BUNDLE= --build-arg SOURCE_VERSION=0.0.0.dev0+devcontainer "
        "--target development -t me/dev:1 -f docker/Dockerfile ."
    )
    assert calls(log)[-1].startswith("DOCKER_BUILDKIT= run --rm --network none ")


def test_build_uses_buildx_when_present_and_refuses_a_cli_without_it(setup):
    run, log = setup
    assert run("build", STUB_BUILDX="0").returncode == 0
    assert "buildx build --load --network host" in calls(log)[-1]
    proc = run("build", STUB_VERSION="28.2.2")
    assert proc.returncode == 1
    assert "this docker CLI (28.2.2) has no buildx plugin" in proc.stderr


def test_ca_bundle_is_copied_into_the_context_for_the_build(setup, checkout, tmp_path):
    run, log = setup
    proc = run("build", MLC_CI_CA_BUNDLE=str(tmp_path / "none.pem"))
    assert proc.returncode == 1 and "none.pem is not a file" in proc.stderr
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    assert run("build", MLC_CI_CA_BUNDLE=str(ca)).returncode == 0
    assert "--build-arg CA_BUNDLE=.mlc-ci-ca.crt" in calls(log)[-1]
    assert not (checkout / ".mlc-ci-ca.crt").exists()  # the copy made for the build is gone
    # A copy with the same bytes already there (a docker-build running now) is left alone.
    (checkout / ".mlc-ci-ca.crt").write_bytes(ca.read_bytes())
    assert run("build", MLC_CI_CA_BUNDLE=str(ca)).returncode == 0
    assert (checkout / ".mlc-ci-ca.crt").exists()


def test_gpu_only_when_the_engine_has_the_nvidia_runtime(setup):
    run, log = setup
    run("shell", STUB_RUNTIMES='{"nvidia":{},"runc":{}}')
    assert " --gpus all " in calls(log)[-1] and calls(log)[-1].endswith(
        " -i mlc-ci/dev:latest bash"
    )
    run("shell")
    assert "--gpus" not in calls(log)[-1]


def test_jupyter_port_and_network(setup):
    run, log = setup
    assert run("jupyter", JUPYTER_PORT="9999").returncode == 0
    assert calls(log)[-1].endswith(
        "mlc-ci/dev:latest jupyter lab --no-browser --allow-root --ip 127.0.0.1 --port 9999 "
        "--ServerApp.root_dir=/workspace"
    )
    run("jupyter", MLC_CI_NETWORK="bridge")
    assert "-p 127.0.0.1:8888:8888" in calls(log)[-1] and "--ip 0.0.0.0" in calls(log)[-1]
    proc = run("jupyter", JUPYTER_PORT="80000")
    assert proc.returncode == 1 and "JUPYTER_PORT must be a port number" in proc.stderr


def test_no_engine_or_no_cli_is_one_clear_line(setup):
    run, _ = setup
    proc = run("test", STUB_ENGINE="1")
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith("dev-setup: error: no Docker engine answers through")
    proc = run("build", MLC_CI_DOCKER="/nonexistent/docker")
    assert proc.returncode == 1 and "install Docker" in proc.stderr
