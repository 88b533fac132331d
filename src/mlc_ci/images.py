"""The images docker-build made, as its report records them (for trivy and integration).

The hand-off between CI jobs: with `docker-build --save` each image is also written as a
`docker save` archive into the images directory (MLC_CI_IMAGES_DIR, default
`<[wheel].dist_dir>/images`), and the report records its file name and sha256 beside the
image's id and tags. A verify job on a fresh runner downloads that directory with the reports;
`load_missing` then loads every image its engine lacks, checking the archive's hash first and
the loaded image's id after, so no registry (and no login) is needed, on pull requests too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from mlc_ci import host
from mlc_ci.errors import PipelineError
from mlc_ci.plan.commands import nox_line
from mlc_ci.report import read, sha256_of
from mlc_ci.run import Step, capture


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


def build_command(variant: str, config: str | None = None) -> str:
    """The command that builds every image of `variant` (with the user's --config)."""
    return nox_line("docker-build", "all", "--variant", variant, config=config)


def placeholder(target: str) -> str:
    """What a dry run shows for an image docker-build has not built yet."""
    return f"<{target} image from docker-build>"


def not_built_yet(reports_dir: Path, variant: str, dry_run: bool) -> bool:
    """A dry run before docker-build ran: plan with placeholders (a run refuses instead)."""
    return dry_run and not report_path(reports_dir, variant).exists()


def built_images(reports_dir: Path, variant: str, config: str | None = None) -> dict[str, str]:
    """The images of the last passing docker-build of `variant`; a clear error otherwise
    (`config`: the user's --config, kept in the command it says to run)."""
    path = report_path(reports_dir, variant)
    rebuild = f"run {build_command(variant, config)} first"
    if not path.is_file():
        raise PipelineError(f"no images: {path} does not exist; {rebuild}, or pass --image.")
    report = read(path)
    if report.get("status") != "passed":
        raise PipelineError(
            f"{path} records a docker-build that {report.get('status')}; {rebuild}."
        )
    return from_report(report)


def images_dir(config_dist: str, env: Mapping[str, str]) -> Path:
    """Where image archives are written and looked for."""
    given = env.get("MLC_CI_IMAGES_DIR", "").strip()
    return Path(given).resolve() if given else Path(config_dist) / "images"


def archive_name(variant: str, target: str) -> str:
    """The file name of one image's archive (unique per variant and target)."""
    return f"docker-{variant}-{target}.tar"


def saved_images(
    reports_dir: Path, variant: str, config: str | None = None
) -> list[dict[str, Any]]:
    """The image details of the last passing docker-build of `variant` (target, tags, id and,
    when it saved them, archive and archive_sha256)."""
    built_images(reports_dir, variant, config)  # the same checks and messages
    report = read(report_path(reports_dir, variant))
    return [
        art["details"]
        for art in report.get("artifacts", [])
        if art.get("details", {}).get("kind") == "image"
    ]


def load_missing(docker: str, details: list[dict[str, Any]], directory: Path) -> list[str]:
    """Load each image the engine lacks from its archive; what was loaded, one line each."""
    loaded = []
    for image in details:
        ref = image["tags"][0]
        if _image_id(docker, ref) == image["id"]:
            continue  # the very image (a mutable tag of an older build does not count)
        name = image.get("archive", "")
        archive = directory / name if name else None
        if archive is None or not archive.is_file():
            where = f"{archive} is missing" if archive else "docker-build saved no archive of it"
            raise PipelineError(
                f"the engine has no {ref} and {where}; download the docker-build artifact "
                "(dist/images and reports) into this checkout, set MLC_CI_IMAGES_DIR, or build "
                "the images here."
            )
        if sha256_of(archive) != image.get("archive_sha256"):
            raise PipelineError(
                f"{archive} does not have the sha256 docker-build recorded; the artifact is "
                "damaged or from another build: download it again."
            )
        capture((docker, "load", "--input", str(archive)))
        got = _image_id(docker, ref)
        if got != image["id"]:
            raise PipelineError(
                f"{archive} loaded {ref} as {got[:19]}, not the {image['id'][:19]} docker-build "
                "recorded; download the artifact of the same run."
            )
        loaded.append(f"loaded {ref} from {archive.name}")
    return loaded


def load_step(docker: str, details: list[dict[str, Any]], directory: Path) -> Step:
    """The step that loads each image the engine lacks from docker-build's archives."""

    def action(ctx: dict[str, Any]) -> None:
        del ctx
        for line in load_missing(docker, details, directory):
            print(f"      {line}")

    return Step(
        f"load the images the engine lacks (from {directory})",
        action=action,
        reads=((docker, "image", "inspect"), (docker, "load")),
    )


def _image_id(docker: str, ref: str) -> str:
    """The id of the engine's image named `ref` ("" when it has none)."""
    if not host.image_present(docker, ref):
        return ""
    return capture((docker, "image", "inspect", "--format", "{{.Id}}", ref)).strip()
