"""integration: pytest over tests/integration against the images docker-build made (or given)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Mapping

from mlc_ci.config import Config
from mlc_ci.errors import PipelineError
from mlc_ci.plan.docker import TARGETS
from mlc_ci.run import Step
from mlc_ci.sessions.base import Plan, SessionDef


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the integration session."""
    parser.add_argument(
        "--image",
        action="append",
        default=[],
        help="TARGET=REF (or REF for production); default: reports/docker-build-<variant>.json",
    )
    parser.add_argument("--variant", help="whose docker-build report to read (default: default)")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments")


def images_from_flags(values: list[str]) -> dict[str, str]:
    """`--image TARGET=REF` values -> {target: ref}; a bare REF is the production image."""
    images = {}
    for value in values:
        target, sep, ref = value.partition("=")
        if not sep:
            target, ref = "production", value
        if target not in TARGETS or not ref:
            raise PipelineError(
                f"--image {value}: use TARGET=REF with TARGET one of {', '.join(TARGETS)}."
            )
        images[target] = ref
    return images


def images_from_report(report: Mapping) -> dict[str, str]:
    """{target: first tag} of the images a docker-build report lists."""
    return {
        art["details"]["target"]: art["details"]["tags"][0]
        for art in report.get("artifacts", [])
        if art.get("details", {}).get("kind") == "image"
    }


def plan(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> Plan:
    """One pytest run over tests/integration with the images named in MLC_CI_IMAGES."""
    variant = config.variant(args.variant or env.get("MLC_CI_VARIANT"))
    reports = Path(env.get("MLC_CI_REPORTS_DIR", "reports"))
    images = images_from_flags(args.image)
    source = "--image"
    if not images:
        path = reports / f"docker-build-{variant.name}.json"
        source = str(path)
        if not path.is_file():
            raise PipelineError(
                f"no images to test: {path} does not exist; run `nox -s docker-build -- all "
                f"--variant {variant.name}` first, or pass --image TARGET=REF."
            )
        report = json.loads(path.read_text(encoding="utf-8"))
        if report.get("status") != "passed":
            raise PipelineError(f"{path} says docker-build {report.get('status')}; rebuild first.")
        images = images_from_report(report)
    out = reports / "integration"
    argv = (
        "python",
        "-m",
        "pytest",
        "tests/integration",
        "-m",
        "integration",
        f"--junitxml={out}/junit.xml",
        *args.pytest_args,
    )
    step_env = {
        "MLC_CI_IMAGES": json.dumps(images, sort_keys=True),
        "MLC_CI_CONFIG": str(config.path),
    }
    data = {"images": images, "variant": variant.name}
    notes = [f"images from {source}: " + ", ".join(f"{t}={r}" for t, r in sorted(images.items()))]
    return Plan(
        "integration", [Step("pytest tests/integration", argv, env=step_env)], data, notes=notes
    )


DEFINITION = SessionDef(
    "integration", "tests against built images on a real engine and registry", add_arguments, plan
)
