"""The trivy stand-in honours --severity and --ignorefile the way trivy documents them."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile

from tests.conftest import ROOT

FAKE = ROOT / "tests" / "fixtures" / "trivy" / "fake_trivy.py"


def scan(tmp_path, *extra: str) -> list[tuple[str, str]]:
    """(id, severity) of every vulnerability the stand-in reports."""
    tarball = tmp_path / "image.tar"
    with tarfile.open(tarball, "w") as archive:
        data = b"[]"
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    out = tmp_path / "out.json"
    argv = [sys.executable, str(FAKE), "image", "--input", str(tarball), "--format", "json"]
    subprocess.run([*argv, "--output", str(out), *extra], check=True)
    report = json.loads(out.read_text())
    return [
        (v["VulnerabilityID"], v["Severity"])
        for result in report["Results"]
        for v in result.get("Vulnerabilities") or []
    ]


def test_without_filters_every_finding_is_reported(tmp_path):
    found = scan(tmp_path)
    assert ("CVE-2023-0286", "HIGH") in found and ("CVE-2022-3602", "CRITICAL") in found


def test_severity_keeps_only_those_levels(tmp_path):
    found = scan(tmp_path, "--severity", "CRITICAL")
    assert found and {severity for _, severity in found} == {"CRITICAL"}


def test_ignorefile_drops_listed_ids_until_they_expire(tmp_path):
    ignore = tmp_path / ".trivyignore"
    ignore.write_text(
        "# accepted until the base image moves\nCVE-2023-0286 exp:2999-01-01\n"
        "CVE-2022-3602 exp:2000-01-01  # expired: reported again\n"
    )
    ids = [vid for vid, _ in scan(tmp_path, "--ignorefile", str(ignore))]
    assert "CVE-2023-0286" not in ids and "CVE-2022-3602" in ids
