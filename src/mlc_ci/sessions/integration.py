"""integration: pytest over tests/integration against the images docker-build made (or given).

The tests learn what to test from the environment of the pytest step:

- MLC_CI_IMAGES: JSON {target: image reference}, from `--image` or the docker-build report;
- MLC_CI_CONFIG: the pipeline.toml the images were built from;
- MLC_CI_VARIANT: the variant whose images these are;
- MLC_CI_DOCKER_REPORT: the docker-build report they came from (absent with `--image`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Mapping

from mlc_ci import host
from mlc_ci import images as built
from mlc_ci import report
from mlc_ci.config import Config
from mlc_ci.errors import PipelineError
from mlc_ci.plan.docker import TARGETS
from mlc_ci.run import Step
from mlc_ci.sessions.base import Plan, SessionDef, config_flag


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the integration session."""
    parser.add_argument(
        "--image",
        action="append",
        default=[],
        help="TARGET=REF (or REF for production); default: reports/docker-build-<variant>.json",
    )
    parser.add_argument("--variant", help="whose docker-build report to read (default: default)")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")


def images_from_flags(values: list[str]) -> dict[str, str]:
    """`--image TARGET=REF` values -> {target: ref}; a bare REF is the production image."""
    images: dict[str, str] = {}
    for value in values:
        target, sep, ref = value.partition("=")
        if not sep:
            target, ref = "production", value
        if target not in TARGETS or not ref:
            raise PipelineError(
                f"--image {value}: use TARGET=REF with TARGET one of {', '.join(TARGETS)}."
            )
        if target in images and images[target] != ref:
            raise PipelineError(
                f"--image names two {target} images ({images[target]} and {ref}); keep one."
            )
        images[target] = ref
    return images


def plan(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> Plan:
    """One pytest run over tests/integration with the images named in MLC_CI_IMAGES."""
    variant = config.variant(args.variant)
    reports = report.reports_root(env)
    images = images_from_flags(args.image)
    step_env = {"MLC_CI_CONFIG": str(config.path), "MLC_CI_VARIANT": variant.name}
    source = "--image"
    pending: list[str] = []  # the note of a dry run before docker-build ran
    if not images:
        path = built.report_path(reports, variant.name)
        images, pending = _built(args, variant.name, path)
        source = str(path)
        step_env["MLC_CI_DOCKER_REPORT"] = str(path.resolve())
    step_env["MLC_CI_IMAGES"] = json.dumps(images, sort_keys=True)
    # Per variant: the verify jobs of several variants hand their reports to one release job.
    out = reports / f"integration-{variant.name}"
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
    data = {"images": images, "variant": variant.name, "source": source}
    notes = [f"images from {source}: " + ", ".join(f"{t}={r}" for t, r in sorted(images.items()))]
    # Without an engine every test would fail on its own; this step says why in one line.
    docker = config.image.docker
    engine = Step(
        "check the Docker engine",
        action=_engine(docker),
        reads=((docker, "--version"), (docker, "buildx", "version"), (docker, "version")),
    )
    steps = [engine]
    if source != "--image":  # a fresh runner's engine: the archives of the build job
        where = built.images_dir(config.wheel.dist_dir, env)
        given = config_flag(args)
        details = [] if pending else built.saved_images(reports, variant.name, given)
        steps.append(built.load_step(config.image.docker, details, where))
    steps.append(Step("pytest tests/integration", argv, env=step_env))
    return Plan(f"integration-{variant.name}", steps, data, notes=[*notes, *pending])


def _built(args: argparse.Namespace, variant: str, path: Path) -> tuple[dict[str, str], list[str]]:
    """The images docker-build's report at `path` lists; in a dry run before that build,
    placeholders and the note that says so."""
    rebuild = built.build_command(variant, config_flag(args))
    if built.not_built_yet(path.parent, variant, args.dry_run):
        return {target: built.placeholder(target) for target in TARGETS}, [
            f"dry run: {path} does not exist yet, so each {built.placeholder('TARGET')} stands "
            f"for the image {rebuild} will build (a run needs it first, or --image TARGET=REF)"
        ]
    images = built.built_images(path.parent, variant, config_flag(args))
    if not images:
        raise PipelineError(
            f"{path} lists no images; run {rebuild} first, or pass --image TARGET=REF."
        )
    return images, []


def _engine(docker: str):
    def action(ctx) -> None:
        del ctx
        host.require_engine(docker)

    return action


DEFINITION = SessionDef(
    "integration", "tests against built images on a real engine and registry", add_arguments, plan
)
