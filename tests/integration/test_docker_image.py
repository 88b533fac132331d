"""docker/Dockerfile built for real: examples/mini-llm, every target, with a BuildKit engine.

Builds builder, ci, production and development through `DOCKER_BUILDKIT=1 <docker> build
--network host` from the repository root, on the base image docker/bootstrap-base.sh makes (it
is created when missing, which needs root), then checks what each image promises and pushes the
production image under the tags mlc_ci.plan.docker_meta computes to the local registry.

Environment:
  MLC_CI_DOCKER          docker CLI with BuildKit (default `docker`; on Debian 12 with a newer
                         CLI lacking buildx use /usr/bin/docker, Debian's 20.10 CLI)
  MLC_CI_DOCKER_CONTEXT  build context (default: the repository root)
  MLC_CI_CA_BUNDLE       extra CA for a TLS-inspecting proxy, a path inside the context
  MLC_CI_REGISTRY        registry from scripts/ci-services.sh (default 127.0.0.1:5000)
  MLC_CI_TEST_INDEX_URL  package index for the secret canary build (https://pypi.org/simple/)
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from mlc_ci import config
from mlc_ci.plan.docker_meta import compute_labels, compute_tags

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DOCKER = os.environ.get("MLC_CI_DOCKER", "docker")
CONTEXT = Path(os.environ.get("MLC_CI_DOCKER_CONTEXT", str(ROOT)))
REGISTRY = os.environ.get("MLC_CI_REGISTRY", "127.0.0.1:5000")
BASE_IMAGE = "mlc-ci/debian:bookworm"
REPO = "mlc-ci-it/mini-llm"
SOURCE_DATE_EPOCH = 1_700_000_000
REVISION = "0123456789abcdef0123456789abcdef01234567"
TARGETS = ("builder", "ci", "production", "development")


def docker(*args: str, timeout: int = 120, check: bool = True) -> subprocess.CompletedProcess:
    """Run the docker CLI; on failure the assertion shows the end of its output."""
    result = subprocess.run(
        [DOCKER, *args],
        cwd=CONTEXT,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check:
        assert result.returncode == 0, (
            f"`{DOCKER} {' '.join(args[:3])} ...` failed:\n{result.stdout[-3000:]}"
            f"{result.stderr[-3000:]}\n(BuildKit needs buildx, or Debian's 20.10 CLI: "
            "MLC_CI_DOCKER=/usr/bin/docker)"
        )
    return result


def build_args(cfg: config.Config) -> list[str]:
    """Build arguments of the mini-llm cpu image, as the docker-build session passes them."""
    args = {
        "SOURCE_DIR": "examples/mini-llm",
        "CONFIG": "examples/mini-llm/pipeline.toml",
        "VARIANT": "cpu",
        "CLI": cfg.project.cli,
        "TOOLCHAIN": " ".join(cfg.image.toolchain),
        "CA_BUNDLE": os.environ.get("MLC_CI_CA_BUNDLE", ""),
    }
    return [item for key, value in args.items() for item in ("--build-arg", f"{key}={value}")]


def labels(cfg: config.Config) -> dict[str, str]:
    """The OCI labels docker_meta computes for this build."""
    return compute_labels(
        title=cfg.project.name,
        description=cfg.project.description,
        source_url=cfg.project.url,
        version="0.1.0",
        created_epoch=SOURCE_DATE_EPOCH,
        revision=REVISION,
        licenses=cfg.project.license,
        now_epoch=int(time.time()),
    )


def run_in(image: str, script: str, check: bool = True) -> subprocess.CompletedProcess:
    """`sh -c SCRIPT` in a throw-away container of `image`."""
    return docker(
        "run", "--rm", "--network", "host", "--entrypoint", "sh", image, "-c", script, check=check
    )


@pytest.fixture(name="cfg", scope="module")
def fixture_cfg() -> config.Config:
    """examples/mini-llm/pipeline.toml, resolved without environment overrides."""
    return config.load(ROOT / "examples" / "mini-llm" / "pipeline.toml", env={})


@pytest.fixture(name="images", scope="module")
def fixture_images(cfg: config.Config) -> dict[str, str]:
    """Every target built once for the module: {target: image}; prints sizes and timings."""
    if docker("image", "inspect", BASE_IMAGE, check=False).returncode != 0:
        made = subprocess.run(
            ["bash", str(ROOT / "docker" / "bootstrap-base.sh"), BASE_IMAGE],
            env={**os.environ, "MLC_CI_DOCKER": DOCKER},
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        assert made.returncode == 0, made.stderr[-3000:]
    images, rows = {}, []
    for target in TARGETS:
        image = f"{REPO}:{target}"
        extra = []
        if target == "production":
            extra = [item for k, v in labels(cfg).items() for item in ("--label", f"{k}={v}")]
        started = time.monotonic()
        docker(
            "build",
            "--network",
            "host",
            "-f",
            "docker/Dockerfile",
            "--target",
            target,
            "-t",
            image,
            *build_args(cfg),
            *extra,
            ".",
            timeout=3600,
        )
        size = int(docker("image", "inspect", "--format", "{{.Size}}", image).stdout)
        rows.append(f"{target:12} {size / 1e6:8.0f} MB {time.monotonic() - started:7.1f} s")
        images[target] = image
    print("\n" + "\n".join(rows))
    return images


def test_images_stay_within_the_size_budget(images, cfg):
    for target, budget in cfg.image.size_budget_mb.items():
        size = int(docker("image", "inspect", "--format", "{{.Size}}", images[target]).stdout)
        assert size / 1e6 <= budget, f"{target}: {size / 1e6:.0f} MB > budget {budget} MB"


def test_production_runs_the_cli_as_uid_1000(images, cfg):
    image = images["production"]
    info = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    assert info["User"] == "1000:1000"
    assert info["Cmd"] == ["--help"]
    assert f"MLC_CLI={cfg.project.cli}" in info["Env"]
    assert "usage:" in docker("run", "--rm", image).stdout
    assert "mini-llm-cpu 0.1.0" in docker("run", "--rm", image, "version").stdout
    assert "cpu ok" in docker("run", "--rm", image, "check-device", "cpu").stdout
    assert run_in(image, "id -u; id -un").stdout.split() == ["1000", "mlc"]


def test_production_has_no_compiler_no_dev_packages_no_wheel_file(images):
    image = images["production"]
    found = run_in(image, "command -v gcc cc c++ g++ make cmake", check=False)
    assert found.returncode != 0 and found.stdout == ""
    packages = run_in(image, "dpkg-query -W -f '${Package}\\n'").stdout.split()
    assert "python3" in packages
    assert [p for p in packages if p.endswith("-dev")] == []
    listing = run_in(image, "ls /dist /run/mlc-ci/dist/*.whl", check=False)
    assert listing.returncode != 0 and listing.stderr.count("No such file") == 2


def test_production_carries_the_computed_oci_labels(images, cfg):
    info = json.loads(docker("image", "inspect", images["production"]).stdout)[0]["Config"]
    expected = labels(cfg)
    got = {key: info["Labels"].get(key) for key in expected}
    expected["org.opencontainers.image.created"] = "2023-11-14T22:13:20Z"
    assert got == expected


def test_ci_image_has_the_wheel_and_pytest(images):
    result = run_in(
        images["ci"],
        "ls /dist/*.whl && python -m pytest --version && python -m mini_llm version",
    )
    assert "mini_llm_cpu-0.1.0-" in result.stdout
    assert "manylinux" in result.stdout
    assert "mini-llm-cpu 0.1.0" in result.stdout


def test_development_has_the_tools_and_no_build_leftovers(images):
    result = run_in(
        images["development"],
        "gcc --version >/dev/null && cmake --version >/dev/null && ccache --version >/dev/null"
        " && black --version && isort --version-number && pylint --version"
        " && python -m pytest --version && jupyter lab --version"
        " && python -m mlc_ci --help >/dev/null"
        " && echo PYTHONPATH=$PYTHONPATH LD_LIBRARY_PATH=$LD_LIBRARY_PATH && pwd"
        " && find /root/.cache /root/.cargo -mindepth 1 -not -type d | wc -l"
        " && test ! -e /tmp/mlc-ci-build && echo no-scratch",
    )
    lines = result.stdout.split()
    assert "PYTHONPATH=/workspace/python" in lines
    assert "LD_LIBRARY_PATH=/workspace/build" in lines
    assert "/workspace" in lines
    assert lines[-2:] == ["0", "no-scratch"]  # caches stayed in the cache mounts


def test_push_computed_tags_to_the_local_registry(images):
    try:
        with urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=5):
            pass
    except OSError as exc:
        pytest.fail(f"no registry at {REGISTRY} ({exc}); run scripts/ci-services.sh start registry")
    refs = compute_tags(
        f"{REGISTRY}/{REPO}", ref="refs/tags/v0.1.0", sha=REVISION, event="push", variant="cpu"
    )
    assert [ref.rsplit(":", 1)[1] for ref in refs] == [
        "0.1.0-cpu",
        "0.1-cpu",
        "latest-cpu",
        "sha-0123456-cpu",
    ]
    for ref in refs:
        docker("tag", images["production"], ref)
        docker("push", ref, timeout=600)
    with urllib.request.urlopen(f"http://{REGISTRY}/v2/{REPO}/tags/list", timeout=10) as reply:
        listed = set(json.load(reply)["tags"])
    assert {ref.rsplit(":", 1)[1] for ref in refs} <= listed
    digests = set()
    for ref in refs:
        request = urllib.request.Request(
            f"http://{REGISTRY}/v2/{REPO}/manifests/{ref.rsplit(':', 1)[1]}",
            method="HEAD",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            digests.add(reply.headers["Docker-Content-Digest"])
    assert len(digests) == 1  # one image, four names
    docker("rmi", *refs)


def test_pip_index_secret_never_lands_in_an_image(images, cfg, tmp_path):
    """A canary token in the `pip_index` secret is used by pip but absent from every layer."""
    del images  # after the other tests; --no-cache so that every RUN really reads the secret
    token = "canary" + secrets.token_hex(12)
    index = os.environ.get("MLC_CI_TEST_INDEX_URL", "https://pypi.org/simple/")
    scheme, rest = index.split("://", 1)
    secret = tmp_path / "pip_index"
    secret.write_text(f"{scheme}://mlc-ci:{token}@{rest}\n", encoding="utf-8")
    image = f"{REPO}:secret-probe"
    result = docker(
        "build",
        "--no-cache",
        "--progress",
        "plain",
        "--network",
        "host",
        "-f",
        "docker/Dockerfile",
        "--target",
        "ci",
        "-t",
        image,
        "--secret",
        f"id=pip_index,src={secret}",
        *build_args(cfg),
        ".",
        timeout=3600,
    )
    log = result.stdout + result.stderr
    assert "Looking in indexes: " + f"{scheme}://mlc-ci:****@" in log  # pip used it, redacted
    assert token not in log
    saved = subprocess.run(
        [DOCKER, "save", image], capture_output=True, timeout=600, check=True
    ).stdout
    assert token.encode() not in saved
    assert token not in docker("history", "--no-trunc", image).stdout
    assert token not in docker("image", "inspect", image).stdout
    docker("rmi", image)
