"""CycloneDX SBOMs of built wheels: the wheel installed alone in a fresh venv, described by
cyclonedx-py (`cyclonedx-py environment`), checked, then kept under reports/sbom/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Collection, Sequence

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from mlc_ci import files
from mlc_ci.errors import PipelineError
from mlc_ci.report import artifact
from mlc_ci.run import Context, Step

SUFFIX = ".cdx.json"
# The venv must see only itself: an inherited PYTHONPATH would make pip skip dependencies it
# finds there and cyclonedx-py list packages that are not the wheel's (empty counts as unset).
CLEAN_ENV = {"PYTHONPATH": ""}


def sbom_name(wheel: str) -> str:
    """reports/sbom/<wheel file name>.cdx.json keeps the SBOM next to its wheel's name."""
    return f"{wheel}{SUFFIX}"


def installable(wheel: str, supported: Collection[str]) -> bool:
    """True when one of the wheel's tags is among this interpreter's `supported` tags."""
    try:
        _, _, _, tags = parse_wheel_filename(wheel)
    except InvalidWheelFilename as exc:
        raise PipelineError(f"{wheel} is not a wheel file name ({exc}).") from exc
    return any(str(tag) in supported for tag in tags)


def distribution(wheel: str) -> str:
    """The canonical distribution name of a wheel file name."""
    return str(parse_wheel_filename(wheel)[0])


def venv_argv(python: str, venv: str) -> tuple[str, ...]:
    """A venv without pip, so the SBOM lists the wheel's dependency set and nothing else."""
    return (python, "-m", "venv", "--clear", "--without-pip", venv)


def install_argv(python: str, venv_python: str, wheel: str, find_links: str) -> tuple[str, ...]:
    """Install the wheel into that venv with this interpreter's pip (`--python`, pip >= 22.3);
    sibling wheels in `find_links` resolve before the index."""
    return (
        python,
        "-m",
        "pip",
        "--python",
        venv_python,
        "install",
        "--quiet",
        "--find-links",
        find_links,
        wheel,
    )


def cyclonedx_argv(venv_python: str, output: str) -> tuple[str, ...]:
    """cyclonedx-bom's CLI over the venv; reproducible output keeps re-runs byte-identical."""
    return (
        "cyclonedx-py",
        "environment",
        "--output-reproducible",
        "--output-format",
        "JSON",
        "--output-file",
        output,
        venv_python,
    )


def check_cyclonedx(text: str, source: str, expect: str = "") -> int:
    """A CycloneDX JSON document (bomFormat, specVersion, components); returns the count.

    `expect` names a distribution that must be among the components (the wheel itself).
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _bad(source, f"not JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("bomFormat") != "CycloneDX":
        raise _bad(source, "bomFormat is not CycloneDX")
    if not isinstance(data.get("specVersion"), str):
        raise _bad(source, "it has no specVersion")
    components = data.get("components", [])
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        raise _bad(source, "components is not a list of objects")
    if expect:
        names = {canonicalize_name(str(c.get("name", ""))) for c in components}
        if canonicalize_name(expect) not in names:
            raise _bad(source, f"{expect} is not among its components")
    return len(components)


def _bad(source: str, detail: str) -> PipelineError:
    return PipelineError(f"malformed CycloneDX SBOM {source}: {detail}.")


def keep(source: Path, target: Path) -> Path:
    """Copy `source` to `target` through a temporary name, so a half-written file never shows."""
    return files.copy(source, target)


def wheel_steps(wheels: Sequence[Path], stage: Path, out_dir: Path, python: str) -> list[Step]:
    """For each wheel: fresh venv, install, cyclonedx-py, check, keep in `out_dir`."""
    steps = []
    for wheel in wheels:
        work = stage / wheel.name
        venv_python = str(work / "venv" / "bin" / "python")
        raw = work / SUFFIX.lstrip(".")
        steps += [
            Step(f"sbom venv for {wheel.name}", venv_argv(python, str(work / "venv"))),
            Step(
                f"install {wheel.name}",
                install_argv(python, venv_python, str(wheel), str(wheel.parent)),
                env=CLEAN_ENV,
            ),
            Step(
                f"cyclonedx-py for {wheel.name}",
                cyclonedx_argv(venv_python, str(raw)),
                env=CLEAN_ENV,
            ),
            Step(
                f"check and keep SBOM of {wheel.name}",
                action=_keep_sbom(wheel, raw, out_dir / sbom_name(wheel.name)),
            ),
        ]
    return steps


def _keep_sbom(wheel: Path, raw: Path, target: Path):
    def action(ctx: Context) -> None:
        count = check_cyclonedx(raw.read_text(encoding="utf-8"), str(raw), distribution(wheel.name))
        keep(raw, target)
        ctx.setdefault("artifacts", []).append(
            artifact(target, kind="sbom", format="cyclonedx", subject=wheel.name, components=count)
        )

    return action
