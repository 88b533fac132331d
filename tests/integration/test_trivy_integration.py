"""The trivy session end to end: the real CLI and session code on a real Docker engine.

Trivy and its vulnerability database cannot be downloaded on the build machines, so
tests/fixtures/trivy/fake_trivy.py stands in for the `trivy` executable at the process boundary
(named by MLC_CI_TRIVY): it checks that it was handed a real `docker save` archive and answers
with fixed reports that follow trivy's documented JSON, SARIF and CycloneDX formats. Everything
else is real: `docker image inspect` and `docker save` on the engine, the gate, the reports,
pip and cyclonedx-py for the wheel SBOM.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "trivy"
PIPELINE = """
[project]
name = "demo"
source = "."
package = "demo"
cli = "demo"
distribution = "demo"

[image]
name = "mlc-ci-trivy-it"

[variants.cpu]
distribution = "demo-cpu"
"""


def _engine() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(("docker", "info"), capture_output=True, check=False).returncode == 0


@pytest.fixture(name="image", scope="module")
def fixture_image():
    """A one-file image imported into the engine (no registry needed), removed afterwards."""
    if not _engine():
        pytest.fail(
            "no Docker engine answers `docker info`; start one with "
            "`scripts/ci-services.sh start docker`.",
            pytrace=False,
        )
    tag = f"mlc-ci-trivy-it:{uuid.uuid4().hex[:10]}"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = b"mlc-ci trivy integration test\n"
        info = tarfile.TarInfo("etc/mlc-ci-test")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    subprocess.run(("docker", "import", "-", tag), input=buffer.getvalue(), check=True)
    yield tag
    subprocess.run(("docker", "image", "rm", "--force", tag), capture_output=True, check=False)


@pytest.fixture(name="project")
def fixture_project(tmp_path):
    (tmp_path / "pipeline.toml").write_text(PIPELINE, encoding="utf-8")
    return tmp_path


def run_trivy(project: Path, *args: str, trivy: bool = True, **env: str):
    """`python -m mlc_ci trivy --config <project>/pipeline.toml ARGS` in a real subprocess."""
    full = {**os.environ, **env}
    full["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    full["MLC_CI_REPORTS_DIR"] = str(project / "reports")
    full["FAKE_TRIVY_LOG"] = str(project / "trivy-calls.jsonl")
    full.pop("MLC_CI_TRIVY", None)
    if trivy:
        full["MLC_CI_TRIVY"] = str(FIXTURES / "fake_trivy.py")
    return subprocess.run(
        (
            sys.executable,
            "-m",
            "mlc_ci",
            "trivy",
            "--config",
            str(project / "pipeline.toml"),
            *args,
        ),
        cwd=project,
        env=full,
        capture_output=True,
        text=True,
        check=False,
    )


def error_line(proc) -> str:
    """The one `mlc-ci: error:` line of a failed run."""
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlc-ci: error: "), proc.stderr
    return lines[0]


def calls(project: Path) -> list[list[str]]:
    """The argv of every call the stand-in trivy received."""
    path = project / "trivy-calls.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_gate_fails_keeps_reports_then_ignore_file_passes_it(image, project):
    proc = run_trivy(project, "--image", image)
    line = error_line(proc)
    assert proc.returncode == 1
    assert "2 findings remain at HIGH or above (worst: CRITICAL CVE-2022-3602" in line
    slug = image.replace(":", "-")
    reports = project / "reports"
    for name in (f"trivy/{slug}.json", f"trivy/{slug}.sarif", f"sbom/{slug}.cdx.json"):
        assert (reports / name).is_file(), name
    session = json.loads((reports / f"trivy-{slug}.json").read_text(encoding="utf-8"))
    assert session["status"] == "failed" and session["data"]["trivy"]["passed"] is False
    assert session["data"]["trivy"]["image_id"].startswith("sha256:")
    scan, sarif, cdx = calls(project)
    assert scan[:2] == ["image", "--input"] and scan[2].endswith(f"{slug}.tar")
    assert sarif[:3] == ["convert", "--format", "sarif"] and cdx[2] == "cyclonedx"
    assert not Path(scan[2]).exists(), "the image tarball is removed after the run"
    assert "top findings:" in proc.stdout

    ignore = project / ".trivyignore"
    ignore.write_text("# reviewed\nCVE-2022-3602 exp:2099-12-31\nCVE-2023-0286\n", "utf-8")
    proc = run_trivy(project, "--image", image)
    assert proc.returncode == 0, proc.stderr
    session = json.loads((reports / f"trivy-{slug}.json").read_text(encoding="utf-8"))
    assert session["status"] == "passed" and session["data"]["trivy"]["passed"] is True

    ignore.write_text("CVE-2022-3602 exp:2021-06-30\nCVE-2023-0286\n", "utf-8")
    proc = run_trivy(project, "--image", image)
    assert "1 finding remains" in error_line(proc)
    assert ".trivyignore:1: CVE-2022-3602 expired on 2021-06-30" in proc.stdout


def test_offline_needs_the_seeded_cache_and_passes_trivys_flags(image, project):
    cache = project / "trivy-cache"
    line = error_line(run_trivy(project, "--image", image, "--offline", "--cache-dir", str(cache)))
    assert "--offline needs trivy's vulnerability database" in line
    for name in ("db/trivy.db", "db/metadata.json"):
        (cache / name).parent.mkdir(parents=True, exist_ok=True)
        (cache / name).write_text("seeded", encoding="utf-8")
    proc = run_trivy(
        project,
        "--image",
        image,
        "--offline",
        "--cache-dir",
        str(cache),
        FAKE_TRIVY_REPORT=str(FIXTURES / "report-clean.json"),
    )
    assert proc.returncode == 0, proc.stderr
    scan = calls(project)[0]
    assert scan[-5:] == [
        "--cache-dir",
        str(cache),
        "--skip-db-update",
        "--skip-java-db-update",
        "--offline-scan",
    ]


def test_image_not_found(image, project):
    line = error_line(run_trivy(project, "--image", f"{image}-missing"))
    assert "No such image" in line and "nox -s docker-build" in line


def test_no_trivy_and_no_trivy_image_fails_clearly(image, project, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").symlink_to(shutil.which("docker"))
    proc = run_trivy(
        project,
        "--image",
        image,  # an image the engine has, so the failure is about trivy alone
        trivy=False,
        PATH=str(bin_dir),
        MLC_CI_TRIVY_IMAGE="mlc-ci-trivy-it:no-such-trivy",
    )
    line = error_line(proc)
    assert proc.returncode == 2
    assert "no trivy to scan with" in line and "MLC_CI_TRIVY" in line
    assert not (project / "reports").exists()


def make_wheel(dist: Path) -> Path:
    """A minimal, installable pure-Python wheel (what pip needs and nothing else)."""
    dist.mkdir(parents=True)
    wheel = dist / "demo_sbom-1.0-py3-none-any.whl"
    info = "demo_sbom-1.0.dist-info"
    files = {
        "demo_sbom/__init__.py": "VALUE = 1\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: demo-sbom\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in {**files, f"{info}/RECORD": record}.items():
            archive.writestr(name, text)
    return wheel


def test_wheel_sbom_with_cyclonedx_py(project):
    if not shutil.which("cyclonedx-py"):
        pytest.fail("cyclonedx-py is not installed: pip install cyclonedx-bom (mlc-ci[scan])")
    wheel = make_wheel(project / "dist")
    proc = run_trivy(project, "--sbom-only", trivy=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bom = json.loads(
        (project / "reports" / "sbom" / f"{wheel.name}.cdx.json").read_text(encoding="utf-8")
    )
    assert bom["bomFormat"] == "CycloneDX"
    assert [c["name"] for c in bom["components"]] == ["demo-sbom"]
    session = json.loads((project / "reports" / "sbom.json").read_text(encoding="utf-8"))
    assert session["status"] == "passed"
    assert session["artifacts"][0]["details"]["subject"] == wheel.name
