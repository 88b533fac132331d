"""The rehearsal's machine on the real engine: a runner-like container with a Docker engine of
its own (tools/rehearsal/container.py).

The runner image is built once from tools/rehearsal/runners/ubuntu-24.04.toml (minutes the
first time, then found by its tag); each test starts a machine of its own and stops it.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tools.rehearsal import images, records
from tools.rehearsal.container import (
    IMAGE_REPOSITORY,
    RUNNERS,
    ContainerMachine,
    runner_image,
    runner_spec,
)
from tools.rehearsal.model import RehearsalError

pytestmark = [pytest.mark.rehearsal, pytest.mark.docker]

# Debian's 20.10 CLI builds with the engine's BuildKit; tests that must build use it.
DOCKER = os.environ.get("MLC_CI_DOCKER", "/usr/bin/docker")
LABEL = "ubuntu-24.04"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    """The host's engine, for what the machine must not change there."""
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, check=False)


@pytest.fixture(name="image", scope="module")
def fixture_image() -> str:
    return runner_image(LABEL, DOCKER)


@pytest.fixture(name="machine")
def fixture_machine(image, tmp_path):
    root = tmp_path / "job"
    (root / "home").mkdir(parents=True)
    (tmp_path / "shared").mkdir()
    name = f"mlc-ci-rehearsal-test-{secrets.token_hex(4)}"
    machine = ContainerMachine.start(image, root, [tmp_path / "shared"], DOCKER, name)
    yield machine
    machine.stop()


def job_env(machine: ContainerMachine) -> dict[str, str]:
    """A job's minimal environment: the image's PATH, the job's HOME."""
    return {"PATH": PATH, "HOME": str(machine.job_root / "home")}


def sections(output: str) -> dict[str, list[str]]:
    """Output lines under each `# name` marker line."""
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in output.splitlines():
        if line.startswith("# "):
            current = found.setdefault(line[2:], [])
        else:
            current.append(line)
    return found


def test_a_fresh_machine_has_no_extra_toolchains_no_caches_and_an_empty_engine(machine, image):
    script = (
        "echo '# found'; command -v nvcc python3.10 python3.13 x86_64-w64-mingw32-g++; "
        "echo '# cache'; ls -A ~/.cache; echo '# images'; docker image ls -q"
    )
    done = machine.exec(["bash", "-c", script], env=job_env(machine), cwd=machine.job_root)
    assert done.returncode == 0, done.output
    parts = sections(done.output)
    assert parts["found"] == [], done.output
    cache = parts["cache"]
    assert cache == [] or (len(cache) == 1 and "No such file or directory" in cache[0]), cache
    assert parts["images"] == [], done.output
    assert machine.image_id == image

    # The job's engine is its own: an image made there is listed there and nowhere else.
    tiny = machine.job_root / "tiny.tar"
    with tarfile.open(tiny, "w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    ref = f"mlc-ci-rehearsal-test/tiny:{secrets.token_hex(4)}"
    script = f"docker import {tiny} {ref} >/dev/null && docker image ls -q --no-trunc"
    done = machine.exec(["sh", "-c", script], env=job_env(machine), cwd=machine.job_root)
    assert done.returncode == 0, done.output
    (image_id,) = done.output.split()
    assert docker("image", "inspect", ref).returncode != 0
    assert docker("image", "inspect", image_id).returncode != 0


def test_exec_sees_exactly_the_env_it_is_given(machine, monkeypatch):
    monkeypatch.setenv("MLC_CI_HOST_ONLY", "from-the-host")
    done = machine.exec(["env"], env={"PATH": PATH, "PASSED": "a b=c"}, cwd=Path("/"))
    assert done.returncode == 0, done.output
    # Neither the host's variables nor the image's ENV (PATH, LANG) nor docker exec's HOME.
    assert sorted(done.output.splitlines()) == ["PASSED=a b=c", f"PATH={PATH}"]


def test_the_job_root_is_writable_and_the_shared_directories_are_read_only(machine, tmp_path):
    shared = tmp_path / "shared"
    (shared / "artifact").write_text("from the host\n")
    script = f"cat {shared}/artifact; touch {shared}/new; touch {machine.job_root}/made-inside"
    done = machine.exec(["sh", "-c", script], env=job_env(machine), cwd=machine.job_root)
    assert "from the host" in done.output
    assert "Read-only file system" in done.output
    assert not (shared / "new").exists()
    assert (machine.job_root / "made-inside").is_file()


def test_a_command_past_its_timeout_is_stopped_and_says_so(machine):
    started = time.monotonic()
    done = machine.exec(["sleep", "60"], env=job_env(machine), cwd=Path("/"), timeout=1)
    assert (done.returncode, done.timed_out) == (124, True)
    assert time.monotonic() - started < 15
    # A command's own exit status 124 within its time is no timeout.
    done = machine.exec(["sh", "-c", "exit 124"], env=job_env(machine), cwd=Path("/"), timeout=60)
    assert (done.returncode, done.timed_out) == (124, False)


def test_stop_removes_the_container_and_the_engine_data(machine):
    assert any(machine.docker_data.iterdir())  # the engine keeps its state there
    machine.stop()
    listed = docker("ps", "-a", "-q", "--filter", f"name=^{machine.name}$")
    assert listed.returncode == 0 and listed.stdout.strip() == ""
    assert not machine.docker_data.exists()
    assert (machine.job_root / "dockerd.log").is_file()  # the job's log stays
    machine.stop()  # a second stop does nothing


def test_the_image_is_named_by_its_data_and_made_from_it_alone(tmp_path, image):
    runners = tmp_path / "runners"
    shutil.copytree(RUNNERS, runners)
    spec = runner_spec(LABEL, runners=runners)
    assert spec.tag == runner_spec(LABEL).tag  # the same bytes, wherever they lie
    assert (
        spec.tag.startswith(f"{IMAGE_REPOSITORY}:{LABEL}-") and len(spec.tag.split("-")[-1]) == 12
    )

    context = tmp_path / "context"
    spec.write_context(context)
    # The Dockerfile and the data file's archives, each as its sha512 says: nothing else.
    archives = {f"{archive.name}.tgz": archive.sha512 for archive in spec.archives}
    assert sorted(path.name for path in context.iterdir()) == sorted(["Dockerfile", *archives])
    for name, sha512 in archives.items():
        assert hashlib.sha512((context / name).read_bytes()).hexdigest() == sha512
    dockerfile = (context / "Dockerfile").read_text()
    assert dockerfile.startswith(f"FROM {spec.base}\n")
    copied = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY")]
    assert sorted(copied) == sorted(archives)
    assert not any(line.startswith("ADD") for line in dockerfile.splitlines())
    assert all(f" {package} " in dockerfile for package in spec.packages)
    # What the built image added to its base: the apt line and the archives' lines.
    added = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
    base = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", spec.base).stdout
    layers = added.splitlines()[: -len(base.splitlines())]
    assert [line for line in layers if "apt-get install" in line], layers
    assert sum("COPY" in line for line in layers) == len(archives), layers

    data = runners / f"{LABEL}.toml"
    data.write_bytes(data.read_bytes() + b"\n# an edit that changes nothing but the bytes\n")
    edited = runner_spec(LABEL, runners=runners)
    assert edited.tag != spec.tag
    assert edited.dockerfile == spec.dockerfile
    try:
        # Built from the copy (the same Dockerfile: from the build cache, in seconds).
        assert runner_image(LABEL, DOCKER, runners=runners).startswith("sha256:")
        assert docker("image", "inspect", edited.tag).returncode == 0
    finally:
        docker("rmi", edited.tag)


def test_an_unknown_label_is_named_with_the_known_ones():
    with pytest.raises(RehearsalError) as caught:
        runner_image("macos-14", DOCKER)
    message = str(caught.value)
    assert "\n" not in message
    assert "'macos-14'" in message and f"known: {LABEL}, windows-2022" in message


def test_a_job_engine_pulls_an_image_stand_in_by_digest_and_the_real_one_is_a_wall(machine):
    # The loopback registry of scripts/ci-services.sh (started by .ci/run) holds the stand-in;
    # the job's own empty engine pulls it by digest as it would pull from quay.io.
    reference = "quay.io/pypa/manylinux_2_28_x86_64@sha256:" + "4" * 64
    stand_in = images.push(reference, "mlc-ci/debian:bookworm", DOCKER)
    assert stand_in.pushed.startswith(images.REGISTRY + "/rehearsal-standin/")
    pulled = machine.exec(["docker", "pull", stand_in.pushed], env=job_env(machine), cwd=Path("/"))
    assert pulled.returncode == 0, pulled.output
    digest = stand_in.pushed.rsplit("@", 1)[1]
    run = ["docker", "run", "--rm", stand_in.pushed, "cat", "/etc/debian_version"]
    assert machine.exec(run, env=job_env(machine), cwd=Path("/")).output.startswith("12.")
    walled = machine.exec(["docker", "pull", reference], env=job_env(machine), cwd=Path("/"))
    assert walled.returncode != 0 and records.wall_of(walled.output) == "quay.io", walled.output
    assert digest not in walled.output
