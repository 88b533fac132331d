"""The images docker-build made, checked through the docker SDK against what they promise.

`nox -s integration` (python -m mlc_ci integration) runs these tests with:

  MLC_CI_IMAGES         JSON {target: image reference} (builder, development, ci, production)
  MLC_CI_CONFIG         the pipeline.toml the images were built from
  MLC_CI_VARIANT        their variant (default: the config's default variant)
  MLC_CI_DOCKER_REPORT  the docker-build report they came from (absent with --image)
  MLC_CI_REGISTRY       the registry of scripts/ci-services.sh (default 127.0.0.1:5000)
  MLC_CI_TEST_INDEX_URL the index behind the pip_index secret probe (https://pypi.org/simple/)

Without MLC_CI_IMAGES every test here fails and says how to get it. The registry round trip
and the secret probe build through the docker-build session itself (`python -m mlc_ci
docker-build ...` in a subprocess); containers run with host networking (no bridge here).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from mlc_ci import config
from mlc_ci.plan.docker import TARGETS
from mlc_ci.plan.docker_meta import LABEL_PREFIX
from tests.integration.cli_runner import ROOT, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.slow]

REGISTRY = os.environ.get("MLC_CI_REGISTRY", "127.0.0.1:5000")
# A branch of its own, so the pushed tags do not depend on the checkout (or on a PR job).
# MLC_CI_PUSH is dropped so that only --push decides whether anything is pushed.
PUSH_ENV = {"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/mlc-ci-it", "MLC_CI_PUSH": None}
COMPILERS = ("gcc", "cc", "g++", "c++", "nvcc")
DEV_TOOLS = ("pytest --version", "black --version", "isort --version", "pylint --version")
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
HOW_TO = (
    "build the images with `nox -s docker-build -- all --config CONFIG`, then run "
    "`nox -s integration -- --config CONFIG` (it sets MLC_CI_IMAGES from the docker-build "
    "report), or pass `--image TARGET=REF` to it"
)


@dataclass(frozen=True)
class Built:
    """What the integration session says was built."""

    refs: dict[str, str]
    cfg: config.Config
    variant: config.Variant
    report: dict[str, Any] | None


class Ran(NamedTuple):
    """One finished container: exit status and its two streams."""

    code: int
    stdout: str
    stderr: str

    def explain(self) -> str:
        """Both streams, for assertion messages."""
        return f"exit {self.code}\n--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr}"


def _read_images() -> dict[str, str]:
    raw = os.environ.get("MLC_CI_IMAGES")
    if not raw:
        pytest.fail(
            f"MLC_CI_IMAGES is not set, so there are no images to test: {HOW_TO}.", pytrace=False
        )
    try:
        refs = json.loads(raw)
    except json.JSONDecodeError as exc:
        pytest.fail(f"MLC_CI_IMAGES is not JSON ({exc}): {HOW_TO}.", pytrace=False)
    if not isinstance(refs, dict) or not refs or not set(refs) <= set(TARGETS):
        pytest.fail(
            f"MLC_CI_IMAGES={raw} is not a JSON object {{target: image}} with targets from "
            f"{', '.join(TARGETS)}: {HOW_TO}.",
            pytrace=False,
        )
    return refs


@pytest.fixture(name="built", scope="module")
def fixture_built() -> Built:
    """MLC_CI_IMAGES, MLC_CI_CONFIG and the variant; a clear failure when they are missing."""
    refs = _read_images()
    if not os.environ.get("MLC_CI_CONFIG"):
        pytest.fail(
            f"MLC_CI_CONFIG is not set (the images' pipeline.toml): {HOW_TO}.", pytrace=False
        )
    cfg = config.load(os.environ["MLC_CI_CONFIG"])
    report = None
    if os.environ.get("MLC_CI_DOCKER_REPORT"):
        report = json.loads(Path(os.environ["MLC_CI_DOCKER_REPORT"]).read_text(encoding="utf-8"))
    name = (report or {}).get("data", {}).get("variant") or cfg.default_variant
    return Built(refs, cfg, cfg.variant(name), report)


def image_of(client, built: Built, target: str):
    """The engine's image for `target`; skipped (with the reason) when none was named."""
    import docker  # pylint: disable=import-outside-toplevel

    if target not in built.refs:
        pytest.skip(f"MLC_CI_IMAGES names no {target} image (only {', '.join(built.refs)})")
    try:
        image = client.images.get(built.refs[target])
    except docker.errors.ImageNotFound:
        pytest.fail(
            f"{built.refs[target]} ({target}) is not in the engine: {HOW_TO}.", pytrace=False
        )
    return image


def run_in(client, image, script: str | None = None, *, volumes=None, timeout: int = 300) -> Ran:
    """`sh -c SCRIPT` in a throw-away container (the image's own command when None)."""
    options: dict[str, Any] = {"network_mode": "host", "detach": True, "volumes": volumes}
    if script is not None:
        options.update(entrypoint=["/bin/sh", "-c"], command=[script])
    container = client.containers.run(image.id, **options)
    try:
        code = container.wait(timeout=timeout)["StatusCode"]
        out = container.logs(stdout=True, stderr=False).decode(errors="replace")
        err = container.logs(stdout=False, stderr=True).decode(errors="replace")
    finally:
        container.remove(force=True)
    return Ran(code, out, err)


def smoke_commands(built: Built) -> list[str]:
    """The configured smoke commands of the project and the variant."""
    return [*built.cfg.wheel.smoke, *built.variant.smoke]


def git_head() -> str:
    """The revision the images must carry: GITHUB_SHA in Actions, else the checkout's HEAD."""
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    return subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def registry_answers(registry: str) -> bool:
    """True when a registry answers /v2/ (200, or 401 when it wants a login)."""
    try:
        with urllib.request.urlopen(f"http://{registry}/v2/", timeout=5):
            return True
    except urllib.error.HTTPError as err:
        return err.code == 401
    except OSError:
        return False


def manifest_digest(registry: str, repository: str, tag: str) -> str:
    """The digest the registry serves for repository:tag."""
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}",
        method="HEAD",
        headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json, "
            "application/vnd.oci.image.manifest.v1+json"
        },
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return reply.headers["Docker-Content-Digest"]


def pull(client, reference: str):
    """Pull `reference` through the SDK's low-level stream so registry errors are not lost."""
    for event in client.api.pull(reference, stream=True, decode=True):
        assert "error" not in event, f"pulling {reference}: {event['error']}"
    return client.images.get(reference)


def image_artifacts(report_path: Path) -> dict[str, dict[str, Any]]:
    """{target: details} of the images a docker-build report lists (none when it has none)."""
    if not report_path.is_file():
        return {}
    report = json.loads(report_path.read_text(encoding="utf-8"))
    return {
        art["details"]["target"]: art["details"]
        for art in report["artifacts"]
        if art["details"].get("kind") == "image"
    }


def stream_contains(chunks, needle: bytes) -> bool:
    """True when `needle` occurs in the concatenation of `chunks` (read once, in order)."""
    tail = b""
    for chunk in chunks:
        window = tail + chunk
        if needle in window:
            return True
        tail = window[-(len(needle) - 1) :]
    return False


# --- what docker-build recorded ---------------------------------------------------------------


def test_images_are_the_ones_docker_build_reported(built: Built, docker_client):
    if built.report is None:
        pytest.skip("the images came from --image, not from a docker-build report")
    assert built.report["status"] == "passed"
    details = {
        art["details"]["target"]: art["details"]
        for art in built.report["artifacts"]
        if art["details"].get("kind") == "image"
    }
    for target, ref in built.refs.items():
        image = image_of(docker_client, built, target)
        assert image.id == details[target]["id"], (
            f"{ref} now points at {image.id}, not at the {details[target]['id']} docker-build "
            "reported; something re-tagged it, rebuild"
        )
        assert ref in details[target]["tags"]
        assert image.attrs["Size"] == next(
            a["size"] for a in built.report["artifacts"] if a["details"]["target"] == target
        )


# --- (a) ci and production: the package imports and the smoke commands pass -------------------


@pytest.mark.parametrize("target", ["ci", "production"])
def test_package_imports_from_the_installed_wheel(built: Built, docker_client, target):
    image = image_of(docker_client, built, target)
    package = built.cfg.project.package
    ran = run_in(docker_client, image, f'python -c "import {package}; print({package}.__file__)"')
    assert ran.code == 0, ran.explain()
    assert "/site-packages/" in ran.stdout, f"{package} is not the installed wheel: {ran.stdout}"


@pytest.mark.parametrize("target", ["ci", "production"])
def test_smoke_commands_pass(built: Built, docker_client, target):
    image = image_of(docker_client, built, target)
    commands = smoke_commands(built)
    assert commands, f"{built.cfg.path} configures no smoke commands ([wheel].smoke)"
    failed = {}
    for command in commands:
        ran = run_in(docker_client, image, command)
        if ran.code != 0:
            failed[command] = ran.explain()
    assert not failed, f"smoke commands failed in {built.refs[target]}: {failed}"


def test_ci_image_runs_the_projects_own_tests(built: Built, docker_client):
    """The ci image's default command (pytest in /workspace) over the source's own suite."""
    image = image_of(docker_client, built, "ci")
    assert image.attrs["Config"]["Cmd"] == ["python", "-m", "pytest"]
    if not built.cfg.wheel.tests:
        # A project whose suite needs a GPU or model weights ([wheel].tests unset): pytest is
        # still there for the user's own tests.
        ran = run_in(docker_client, image, "python -m pytest --version")
        assert ran.code == 0, ran.explain()
        return
    source = str(built.cfg.source_dir)
    assert (built.cfg.source_dir / built.cfg.wheel.tests).is_dir(), built.cfg.wheel.tests
    ran = run_in(docker_client, image, volumes={source: {"bind": "/workspace", "mode": "ro"}})
    assert ran.code == 0, ran.explain()
    assert re.search(r"\d+ passed", ran.stdout) and " failed" not in ran.stdout, ran.stdout


# --- (b) production: non-root, no compiler, the CLI as default command ------------------------


def test_production_runs_as_a_numeric_non_root_user(built: Built, docker_client):
    image = image_of(docker_client, built, "production")
    user, _, group = image.attrs["Config"]["User"].partition(":")
    assert user.isdigit() and int(user) != 0, f"Config.User is {user!r}: use a numeric uid != 0"
    assert not group or group.isdigit(), f"Config.User group {group!r} is not numeric"
    ran = run_in(docker_client, image, "id -u")
    assert ran.code == 0, ran.explain()
    assert ran.stdout.strip() == user != "0"


def test_production_has_no_compiler_and_no_dev_packages(built: Built, docker_client):
    image = image_of(docker_client, built, "production")
    probe = " ".join(COMPILERS)
    found = run_in(
        docker_client,
        image,
        f'for tool in {probe}; do command -v "$tool"; done; '
        "ls /usr/local/cuda/bin/nvcc 2>/dev/null; exit 0",
    )
    assert found.code == 0, found.explain()
    assert found.stdout.strip() == "", f"compilers in the production image: {found.stdout}"
    listed = run_in(docker_client, image, "dpkg-query -W -f '${db:Status-Abbrev} ${Package}\\n'")
    assert listed.code == 0, listed.explain()
    installed = [line.split()[1] for line in listed.stdout.splitlines() if line.startswith("ii")]
    assert "python3" in installed or any(p.startswith("python3.") for p in installed)
    assert [p for p in installed if p.endswith("-dev")] == []


def test_production_default_command_is_the_cli_help(built: Built, docker_client):
    image = image_of(docker_client, built, "production")
    assert image.attrs["Config"]["Cmd"] == ["--help"]
    assert f"MLC_CLI={built.cfg.project.cli}" in image.attrs["Config"]["Env"]
    ran = run_in(docker_client, image)
    assert ran.code == 0, ran.explain()
    assert "usage:" in ran.stdout, ran.explain()


# --- (c) production: the OCI labels -----------------------------------------------------------


def test_production_labels_are_present_and_correct(built: Built, docker_client, tmp_path):
    image = image_of(docker_client, built, "production")
    labels = image.labels
    names = ("title", "description", "source", "url", "version", "created", "revision", "licenses")
    missing = [name for name in names if not labels.get(LABEL_PREFIX + name)]
    assert not missing, f"labels missing or empty: {missing} (has {sorted(labels)})"
    project = built.cfg.project
    # The source is the repository that built the image where the build knew it (a CI job's
    # GITHUB_REPOSITORY, which its report records), else [project].url.
    source = (built.report or {}).get("data", {}).get("source_url") or project.url
    assert source == project.url or re.fullmatch(r"https?://[^/]+/[\w.-]+/[\w.-]+", source)
    expected = {
        "title": project.name,
        "description": project.description,
        "url": project.url,
        "source": source,
        "licenses": project.license,
    }
    got = {name: labels[LABEL_PREFIX + name] for name in expected}
    assert got == expected, f"labels differ from [project] in {built.cfg.path}"
    head = git_head()
    assert labels[LABEL_PREFIX + "revision"] == head, (
        f"the image was built from {labels[LABEL_PREFIX + 'revision']}, the checkout is at "
        f"{head}: rebuild it with docker-build before running integration"
    )

    version = run_cli("version", "--repo", str(ROOT), reports=tmp_path)
    assert version.returncode == 0, version.explain()
    assert labels[LABEL_PREFIX + "version"] == json.loads(version.stdout)["semver"]

    created = labels[LABEL_PREFIX + "created"]
    assert RFC3339.fullmatch(created), f"created={created!r} is not RFC 3339"
    moment = datetime.fromisoformat(created.replace("Z", "+00:00"))
    assert moment <= datetime.now(timezone.utc) + timedelta(
        minutes=5
    ), f"created={created} is ahead"
    if built.report is not None:
        (production,) = [
            a["details"]
            for a in built.report["artifacts"]
            if a["details"]["target"] == "production"
        ]
        assert {k: v for k, v in labels.items() if k in production["labels"]} == production[
            "labels"
        ]


# --- (d) development: tools, environment, the bind-mounted checkout ----------------------------


def test_development_has_the_dev_tools(built: Built, docker_client):
    image = image_of(docker_client, built, "development")
    missing = {}
    for check in (*DEV_TOOLS, "jupyter --version", "jupyter lab --version"):
        ran = run_in(docker_client, image, check)
        if ran.code != 0:
            missing[check] = ran.explain()
    assert not missing, f"development image lacks tools: {missing}"


def test_development_sees_the_bind_mounted_source(built: Built, docker_client, tmp_path):
    image = image_of(docker_client, built, "development")
    env = dict(item.split("=", 1) for item in image.attrs["Config"]["Env"])
    assert env.get("PYTHONPATH") and env.get("LD_LIBRARY_PATH"), env
    assert image.attrs["Config"]["WorkingDir"] == "/workspace"
    token = secrets.token_hex(8)
    (tmp_path / "probe.txt").write_text(token, encoding="utf-8")
    # The module lands where PYTHONPATH points inside /workspace, so importing it proves both.
    inside = next(p for p in env["PYTHONPATH"].split(":") if p.startswith("/workspace"))
    package_dir = tmp_path / Path(inside).relative_to("/workspace")
    package_dir.mkdir(parents=True, exist_ok=True)
    (package_dir / "mlc_ci_probe.py").write_text(f"TOKEN = {token!r}\n", encoding="utf-8")
    ran = run_in(
        docker_client,
        image,
        "cat /workspace/probe.txt; echo;"
        ' python -c "import mlc_ci_probe; print(mlc_ci_probe.TOKEN)";'
        ' echo "PYTHONPATH=$PYTHONPATH"; echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"',
        volumes={str(tmp_path): {"bind": "/workspace", "mode": "ro"}},
    )
    assert ran.code == 0, ran.explain()
    lines = ran.stdout.split()
    assert lines[:2] == [token, token], ran.explain()
    assert f"PYTHONPATH={env['PYTHONPATH']}" in lines
    assert f"LD_LIBRARY_PATH={env['LD_LIBRARY_PATH']}" in lines


# --- (e) size budgets -------------------------------------------------------------------------


def test_images_stay_within_their_size_budgets(built: Built, docker_client):
    budgets = built.cfg.image.size_budget_mb
    if not budgets:
        pytest.skip(f"{built.cfg.path} sets no [image].size_budget_mb")
    unknown = sorted(set(budgets) - set(TARGETS))
    assert not unknown, f"[image].size_budget_mb names unknown targets {unknown}"
    rows, over = [], []
    for target, budget in sorted(budgets.items()):
        if target not in built.refs:
            rows.append(f"{target:12} (no image given)")
            continue
        size_mb = image_of(docker_client, built, target).attrs["Size"] / 1e6
        rows.append(f"{target:12} {size_mb:8.1f} MB of {budget} MB")
        if size_mb > budget:
            over.append(f"{target}: {size_mb:.1f} MB > {budget} MB")
    print("\n" + "\n".join(rows))
    assert not over, f"over the size budget: {over}"
    assert any(target in built.refs for target in budgets), "no budgeted image was given"


# --- (f) push through the session, pull back by digest ----------------------------------------


def test_push_then_pull_by_digest_gives_the_same_image(
    built: Built, docker_client, untag, tmp_path
):
    if not registry_answers(REGISTRY):
        pytest.fail(
            f"no registry answers at {REGISTRY}; start it with `scripts/ci-services.sh start "
            "registry` (or set MLC_CI_REGISTRY)"
        )
    repository = f"mlc-ci-it/{built.cfg.project.name}"
    name = f"{REGISTRY}/{repository}"
    # A branch of this run's own: the registry keeps tags across runs, and the branch tag
    # must be absent until promotion.
    branch = f"mlc-ci-it-{secrets.token_hex(4)}"
    result = run_cli(
        "docker-build",
        "production",
        "--push",
        "--image",
        name,
        "--config",
        str(built.cfg.path),
        "--variant",
        built.variant.name,
        reports=tmp_path,
        env={**PUSH_ENV, "GITHUB_REF": f"refs/heads/{branch}"},
    )
    artifacts = image_artifacts(tmp_path / f"docker-build-{built.variant.name}.json")
    for details in artifacts.values():
        untag.extend(details["tags"])
    assert result.returncode == 0, result.explain()
    details = artifacts["production"]
    sha7 = git_head()[:7]
    suffix = built.variant.name
    assert details["tags"] == [f"{name}:{branch}-{suffix}", f"{name}:sha-{sha7}-{suffix}"]
    digest = details["digest"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), details
    # The build pushes the commit's own tag only; the branch tag waits for the gates.
    assert details["promote"] == [f"{name}:{branch}-{suffix}"]
    assert manifest_digest(REGISTRY, repository, f"sha-{sha7}-{suffix}") == digest
    with pytest.raises(urllib.error.HTTPError):
        manifest_digest(REGISTRY, repository, f"{branch}-{suffix}")
    # Promotion (what the release job runs after integration and trivy) moves it by digest,
    # registry to registry: skopeo, no pull and no rebuild.
    promoted = run_cli("promote", "--config", str(built.cfg.path), reports=tmp_path)
    assert promoted.returncode == 0, promoted.explain()
    for tag in details["tags"]:
        assert manifest_digest(REGISTRY, repository, tag.rsplit(":", 1)[1]) == digest
    record = json.loads((tmp_path / "promote.json").read_text())
    assert record["data"]["promoted"] == {f"{name}:{branch}-{suffix}": digest}

    # Drop the local names first, so the pull has to fetch the manifest and config again.
    for tag in details["tags"]:
        docker_client.images.remove(tag)
    reference = f"{name}@{digest}"
    untag.append(reference)
    pulled = pull(docker_client, reference)
    assert pulled.id == details["id"]
    assert reference in pulled.attrs["RepoDigests"]
    assert pulled.labels[LABEL_PREFIX + "revision"] == git_head()


# --- (g) the pip_index secret is used by the build and lands in no image -----------------------


def test_pip_index_secret_never_lands_in_an_image(built: Built, docker_client, untag, tmp_path):
    """A canary token in `--secret id=pip_index` reaches pip but no layer, config or log.

    Secret mounts are not part of BuildKit's cache key, so a cached build would never read the
    secret; a CA bundle with a fresh comment (MLC_CI_CA_BUNDLE, copied into every stage) makes
    every installing step run again, through the session, with the secret mounted.
    """
    token = "canary" + secrets.token_hex(12)
    index = os.environ.get("MLC_CI_TEST_INDEX_URL", "https://pypi.org/simple/")
    scheme, rest = index.split("://", 1)
    secret = tmp_path / "pip_index"
    secret.write_text(f"{scheme}://mlc-ci:{token}@{rest}\n", encoding="utf-8")
    ca_bundle = tmp_path / "ca.crt"
    original = os.environ.get("MLC_CI_CA_BUNDLE")
    base = Path(original).read_text(encoding="utf-8") if original else ""
    ca_bundle.write_text(f"{base}\n# mlc-ci secret probe {time.time_ns()}\n", encoding="utf-8")
    reports = tmp_path / "reports"
    result = run_cli(
        "docker-build",
        "all",
        "--image",
        f"mlc-ci-it/{built.cfg.project.name}-secret-probe",
        "--secret",
        f"id=pip_index,src={secret}",
        "--config",
        str(built.cfg.path),
        "--variant",
        built.variant.name,
        reports=reports,
        env={**PUSH_ENV, "MLC_CI_CA_BUNDLE": str(ca_bundle)},
        timeout=3600,
    )
    built_here = image_artifacts(reports / f"docker-build-{built.variant.name}.json")
    for details in built_here.values():
        untag.extend(details["tags"])
    assert result.returncode == 0, result.explain()
    log = result.stdout + result.stderr
    assert f"Looking in indexes: {scheme}://mlc-ci:****@" in log, "pip never used the secret"
    assert token not in log
    assert set(built_here) == set(TARGETS)
    for target, details in built_here.items():
        image = docker_client.images.get(details["id"])
        assert token not in json.dumps(image.attrs), f"{target}: token in the image config"
        assert token not in json.dumps(image.history()), f"{target}: token in the history"
        assert not stream_contains(image.save(), token.encode()), f"{target}: token in a layer"
