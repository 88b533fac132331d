"""The images docker-build made, as its report records them (for trivy and integration)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from mlc_ci.errors import PipelineError
from mlc_ci.report import read


def report_path(reports_dir: Path, variant: str) -> Path:
    """Where docker-build writes its report for a variant."""
    return reports_dir / f"docker-build-{variant}.json"


def from_report(report: Mapping[str, Any]) -> dict[str, str]:
    """{target: first tag} of the images a docker-build report lists."""
    return {
        art["details"]["target"]: art["details"]["tags"][0]
        for art in report.get("artifacts", [])
        if art.get("details", {}).get("kind") == "image"
    }


def built_images(reports_dir: Path, variant: str) -> dict[str, str]:
    """The images of the last passing docker-build of `variant`; a clear error otherwise."""
    path = report_path(reports_dir, variant)
    rebuild = f"run `nox -s docker-build -- all --variant {variant}` first"
    if not path.is_file():
        raise PipelineError(f"no images: {path} does not exist; {rebuild}, or pass --image.")
    report = read(path)
    if report.get("status") != "passed":
        raise PipelineError(
            f"{path} records a docker-build that {report.get('status')}; {rebuild}."
        )
    return from_report(report)
