"""The hand-off between CI jobs, for real: `docker-build --save` writes each image as a
`docker save` archive and records its hash in the report; a verify job whose engine lacks the
image (a fresh runner) loads it from there, with no registry and no login.

The test builds mini-llm's production image under its own name (the layers come from the
build cache of the earlier docker-build), removes that name from the engine as a fresh runner
would not have it, and runs the trivy session with --target production: its first step must
load the image from the archive. Trivy itself is tests/fixtures/trivy/fake_trivy.py, the
stand-in at the process boundary (trivy and its database cannot be downloaded here).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.cli_runner import ROOT, run_cli

pytestmark = pytest.mark.integration

CONFIG = "examples/mini-llm/pipeline.toml"
PROBE = "mlc-ci-it/handoff"
TRIVY = ROOT / "tests" / "fixtures" / "trivy"


@pytest.fixture(name="saved", scope="module")
def fixture_saved(tmp_path_factory) -> dict:
    """docker-build production --save into a directory of its own; the image's details."""
    base = tmp_path_factory.mktemp("handoff")
    env = {"MLC_CI_IMAGES_DIR": str(base / "images"), "MLC_CI_PUSH": None}
    built = run_cli(
        *("docker-build", "production", "--config", CONFIG, "--image", PROBE, "--save"),
        reports=base / "reports",
        env=env,
    )
    assert built.returncode == 0, built.explain()
    report = json.loads((base / "reports" / "docker-build-cpu.json").read_text())
    (image,) = [a["details"] for a in report["artifacts"] if a["details"]["kind"] == "image"]
    yield {"base": base, "image": image}
    for tag in image["tags"]:
        subprocess.run(("docker", "image", "rm", tag), capture_output=True, check=False)


def forget(image: dict) -> None:
    """Remove the image's names from the engine, as a fresh runner never had them."""
    for tag in image["tags"]:
        subprocess.run(("docker", "image", "rm", tag), capture_output=True, check=True)
    assert not _present(image)


def scan(saved: dict, images_dir: Path):
    """trivy --target production, reading the docker-build report and archives of `saved`."""
    return run_cli(
        *("trivy", "--config", CONFIG, "--target", "production", "--variant", "cpu"),
        reports=saved["base"] / "reports",
        env={
            "MLC_CI_IMAGES_DIR": str(images_dir),
            "MLC_CI_TRIVY": str(TRIVY / "fake_trivy.py"),
            "FAKE_TRIVY_REPORT": str(TRIVY / "report-clean.json"),
        },
    )


def test_the_archive_is_in_the_report_with_its_hash(saved):
    image = saved["image"]
    archive = saved["base"] / "images" / image["archive"]
    assert image["archive"] == "docker-cpu-production.tar" and archive.is_file()
    assert image["archive_size"] == archive.stat().st_size > 10_000_000
    digest = subprocess.run(("sha256sum", str(archive)), capture_output=True, text=True, check=True)
    assert digest.stdout.split()[0] == image["archive_sha256"]
    assert not list(archive.parent.glob(".*.partial"))  # written whole, then renamed


def test_a_damaged_archive_is_refused_in_one_line(saved, tmp_path):
    damaged = tmp_path / "images"
    damaged.mkdir()
    source = saved["base"] / "images" / saved["image"]["archive"]
    shutil.copyfile(source, damaged / source.name)
    with (damaged / source.name).open("r+b") as handle:
        handle.seek(4096)
        handle.write(b"\0" * 16)
    forget(saved["image"])
    result = scan(saved, damaged)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("mlc-ci: error:")]
    assert len(lines) == 1 and "does not have the sha256 docker-build recorded" in lines[0]


def test_an_engine_without_the_image_loads_it_from_the_archive(saved):
    image = saved["image"]
    if _present(image):
        forget(image)
    result = scan(saved, saved["base"] / "images")
    assert result.returncode == 0, result.explain()
    assert f"loaded {image['tags'][0]} from {image['archive']}" in result.stdout
    inspected = subprocess.run(
        ("docker", "image", "inspect", "--format", "{{.Id}}", image["tags"][0]),
        capture_output=True,
        text=True,
        check=True,
    )
    assert inspected.stdout.strip() == image["id"]  # the very image the build job made


def _present(image: dict) -> bool:
    probe = subprocess.run(
        ("docker", "image", "inspect", image["tags"][0]), capture_output=True, check=False
    )
    return probe.returncode == 0
