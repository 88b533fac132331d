"""Trivy's commands (pure): the image saved from the local engine, one scan into JSON, SARIF
and CycloneDX derived from that file with `trivy convert`, and trivy from its official image
where no binary is installed. The gate over the JSON is plan/vulns.py."""

from __future__ import annotations

import json
import re
from typing import Sequence

from mlc_ci.plan.vulns import Policy

# Vulnerabilities only: the gate covers what was scanned, and secret scanning of multi-GB CUDA
# images costs minutes for findings this gate would not read.
SCANNERS = "vuln"


# The default (5m) is too short for CUDA images of several GB.
TIMEOUT = "30m"


OFFLINE_FLAGS = ("--skip-db-update", "--skip-java-db-update", "--offline-scan")


# What `trivy image --download-db-only` leaves in <cache-dir>/db, and --offline needs.
OFFLINE_DB_FILES = ("db/trivy.db", "db/metadata.json")


CONTAINER_REPOSITORY = "aquasec/trivy"


INSTALL_HINT = (
    "install trivy (https://trivy.dev/latest/getting-started/installation/) or set "
    "MLC_CI_TRIVY to its binary; the official image aquasec/trivy is used instead only when "
    "the Docker engine already has it (`docker pull aquasec/trivy:<version>` where a registry "
    "can be reached)"
)


_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def image_slug(image: str) -> str:
    """A file name for an image reference: ghcr.io/a/b:prod -> ghcr.io-a-b-prod."""
    return _SLUG.sub("-", image).strip("-.") or "image"


def save_argv(docker: str, image: str, tarball: str) -> tuple[str, ...]:
    """Export the image from the engine without a registry."""
    return (docker, "save", "--output", tarball, image)


def inspect_argv(docker: str, image: str) -> tuple[str, ...]:
    """The image's metadata as JSON, which also proves the engine has it.

    (No --format template: step arguments treat braces as placeholders.)
    """
    return (docker, "image", "inspect", image)


def image_id(inspect_json: str) -> str:
    """The ID from `docker image inspect` output; empty when it cannot be read."""
    try:
        data = json.loads(inspect_json)
        return str(data[0]["Id"])
    except (ValueError, LookupError, TypeError):
        return ""


def scan_argv(
    trivy: Sequence[str], tarball: str, output: str, cache_dir: str, offline: bool
) -> tuple[str, ...]:
    """One scan of the saved image into JSON, every severity, every package (for the SBOM)."""
    return (
        *trivy,
        "image",
        "--input",
        tarball,
        "--format",
        "json",
        "--output",
        output,
        "--list-all-pkgs",
        "--scanners",
        SCANNERS,
        "--timeout",
        TIMEOUT,
        "--no-progress",
        "--cache-dir",
        cache_dir,
        *(OFFLINE_FLAGS if offline else ()),
    )


def sarif_argv(
    trivy: Sequence[str], report: str, output: str, policy: Policy, ignore_file: str
) -> tuple[str, ...]:
    """SARIF for code scanning from the JSON report: the gated levels, ignored IDs left out."""
    return (
        *trivy,
        "convert",
        "--format",
        "sarif",
        "--severity",
        ",".join(policy.severities),
        "--ignorefile",
        ignore_file,
        "--output",
        output,
        report,
    )


def cyclonedx_argv(trivy: Sequence[str], report: str, output: str) -> tuple[str, ...]:
    """The image's CycloneDX SBOM from the JSON report (which lists all packages)."""
    return (*trivy, "convert", "--format", "cyclonedx", "--output", output, report)


def container_prefix(
    docker: str, image: str, mounts: Sequence[str], workdir: str, user: str, offline: bool
) -> tuple[str, ...]:
    """`docker run` of the trivy image, with each host path mounted at the same path.

    Same paths inside and out keep every other argument identical to the binary's; the
    caller's uid:gid keeps the reports owned by the caller; offline scans get no network.
    """
    argv = [docker, "run", "--rm", "--user", user, "--workdir", workdir]
    if offline:
        argv += ["--network", "none"]
    for path in dict.fromkeys(mounts):
        argv += ["--volume", f"{path}:{path}"]
    return (*argv, image)


def pick_container_image(listing: str) -> str | None:
    """The first tagged image in `docker image ls --format '{{.Repository}}:{{.Tag}}'` output."""
    for line in listing.splitlines():
        ref = line.strip()
        if ref and not ref.endswith(":<none>"):
            return ref
    return None
