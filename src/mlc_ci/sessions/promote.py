"""promote: move the mutable image tags to the digests the gates verified (`python -m mlc_ci
promote`, and the release job through `release --publish`).

A build job pushes only each image's `sha-<7>` tag. Once integration and trivy passed, the
version, branch, latest and nightly tags docker-build computed (its report's `promote` list)
are pointed at the pushed digest on the registry side with `skopeo copy --all`: no pull, no
rebuild, so what the tags name is byte for byte what was tested.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any, Mapping

from mlc_ci.config import Config
from mlc_ci.errors import PipelineError
from mlc_ci.plan import docker
from mlc_ci.report import read, reports_root
from mlc_ci.run import Context, Step, capture
from mlc_ci.sessions.base import Plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `promote`."""
    parser.add_argument(
        "--reports", help="directory with the docker-build reports (default: $MLC_CI_REPORTS_DIR)"
    )


def plan(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> Plan:
    """Every mutable tag of every pushed image of the docker-build reports."""
    reports = reports_root(env, args.reports).resolve()
    steps, notes = promote_steps(reports)
    if not steps:
        raise PipelineError(
            f"no pushed image with tags to promote in {reports}/docker-build-*.json; run "
            "docker-build with --push first (or pass --reports)."
        )
    del config
    return Plan("promote", steps, {"reports": str(reports)}, notes=notes)


def promote_steps(reports: Path) -> tuple[list[Step], list[str]]:
    """The skopeo copies for the images of `reports`, then their record in the report."""
    images = _pushed(reports)
    steps = []
    for image in images:
        for tag in image["promote"]:
            steps += [
                Step(
                    f"promote {tag}",
                    docker.promote_argv(image["tags"][0], image["digest"], tag),
                    retries=2,
                    on_fail="skopeo's answer is above; check the registry login (skopeo reads "
                    "docker's)",
                ),
                Step(
                    f"check {tag}",
                    action=_check(tag, image["digest"]),
                    reads=(docker.inspect_argv(tag),),
                ),
            ]
    if steps:
        steps.append(Step("record the promoted digests", action=_record(images)))
    count = sum(len(image["promote"]) for image in images)
    notes = [f"promotes {count} tag(s) by digest" if steps else "nothing to promote"]
    return steps, notes


def _check(tag: str, digest: str):
    """The tag names exactly the tested manifest (its raw bytes hash to the digest)."""

    def action(ctx: Context) -> None:
        del ctx
        raw = capture(docker.inspect_argv(tag))
        got = {hashlib.sha256(text.encode("utf-8")).hexdigest() for text in (raw, raw[:-1])}
        if digest.removeprefix("sha256:") not in got:
            raise PipelineError(
                f"{tag} now names another manifest than the tested {digest[:19]}; the registry "
                "rewrote it: promote with a registry that keeps manifests as they are."
            )

    return action


def _pushed(reports: Path) -> list[dict[str, Any]]:
    """Image details with a registry digest and mutable tags, from every docker-build report."""
    found = []
    for path in sorted(reports.glob("docker-build-*.json")):
        report = read(path)
        if report.get("status") != "passed":
            raise PipelineError(
                f"{path} records a docker-build that {report.get('status')}; nothing of it may "
                "be promoted: fix the build first."
            )
        for art in report.get("artifacts", []):
            details = art.get("details", {})
            if details.get("kind") == "image" and details.get("digest") and details.get("promote"):
                found.append(details)
    return found


def _record(images: list[dict[str, Any]]):
    def action(ctx: Context) -> None:
        ctx.setdefault("report", {})["promoted"] = {
            tag: image["digest"] for image in images for tag in image["promote"]
        }

    return action
