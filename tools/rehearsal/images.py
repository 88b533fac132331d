"""Declared image stand-ins: a base image a job would pull from a walled registry (quay.io's
manylinux, Docker Hub's ubuntu) replaced by a local image, pushed to the loopback registry and
referenced there by digest.

`--image-standin REF=LOCAL` pushes LOCAL from the host's engine once per rehearsal; after each
checkout, the exact reference REF in the repository's build inputs (its TOML files and
Dockerfiles; never the workflow, the tests or the tools) becomes the pushed
`127.0.0.1:5000/...@sha256:...`. The job's
empty engine then pulls it as it would pull the real one, and the job's record names each
stand-in it used and the files it was written into.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path
from typing import Mapping

from tools.rehearsal.model import ImageStandIn, RehearsalError

REGISTRY = "127.0.0.1:5000"  # the host's docker-registry (scripts/ci-services.sh)
# An image reference as `docker pull` takes it: no spaces, quotes or shell.
_REFERENCE = re.compile(r"[a-z0-9][a-z0-9._/:@-]*")
# Characters that continue a reference: REF matches only where it stands whole.
_AROUND = r"[\w./:@-]"


def rewrite(text: str, reference: str, replacement: str) -> tuple[str, int]:
    """text with each whole occurrence of reference replaced (not `ubuntu:22.04` inside
    `ubuntu:22.04.1` or `x/ubuntu:22.04`), and how many there were."""
    pattern = re.compile(f"(?<!{_AROUND}){re.escape(reference)}(?!{_AROUND})")
    return pattern.subn(lambda _match: replacement, text)


def parse(values: list[str]) -> dict[str, str]:
    """--image-standin REF=LOCAL, checked for shape before anything is pushed."""
    found = {}
    for value in values:
        reference, _, local = value.partition("=")
        if not (_REFERENCE.fullmatch(reference) and _REFERENCE.fullmatch(local)):
            raise RehearsalError(
                f"--image-standin {value!r}: expected REF=LOCAL, two image references "
                "(e.g. ubuntu:22.04=mlc-ci/debian:bookworm)"
            )
        found[reference] = local
    return found


def _docker(docker: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([docker, *args], capture_output=True, text=True, check=False)


def push(reference: str, local: str, docker: str) -> ImageStandIn:
    """LOCAL pushed to the loopback registry under a name derived from REF; its digest."""
    if _docker(docker, "image", "inspect", local).returncode:
        raise RehearsalError(
            f"--image-standin {reference}={local}: {local} is not in this Docker engine; "
            "make it first (docker/bootstrap-base.sh, or docker build)"
        )
    name = re.sub(r"[^a-z0-9]+", "-", reference.split("@")[0].rsplit(":", 1)[0]).strip("-")
    tag = (
        f"{REGISTRY}/rehearsal-standin/{name}:{hashlib.sha256(reference.encode()).hexdigest()[:12]}"
    )
    _docker(docker, "tag", local, tag)
    pushed = _docker(docker, "push", tag)
    digest = re.search(r"digest: (sha256:[0-9a-f]{64})", pushed.stdout)
    if pushed.returncode or not digest:
        last = (pushed.stderr or pushed.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RehearsalError(
            f"--image-standin {reference}={local}: pushing to {REGISTRY} failed ({last[0]}); "
            "start the registry (scripts/ci-services.sh start registry)"
        )
    return ImageStandIn(reference, local, f"{tag.rsplit(':', 1)[0]}@{digest.group(1)}")


def build_input(name: str) -> bool:
    """Whether a tracked file is one a build reads image references from: a TOML file (the
    pipeline configurations) or a Dockerfile, outside the workflow, the tests and the tools,
    which the rehearsal runs as they are."""
    if name.startswith((".github/", "tests/", "tools/")):
        return False
    base = name.rsplit("/", 1)[-1]
    return base.endswith((".toml", ".Dockerfile")) or base.startswith("Dockerfile")


def apply(tracked: list[str], root: Path, stand_ins: Mapping[str, ImageStandIn]) -> list[str]:
    """Each stand-in written into the tracked build inputs under root (`build_input`); the
    record line of each one used."""
    used: dict[str, list[str]] = {}
    for name in tracked:
        if not build_input(name):
            continue
        path = root / name
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
            continue  # binary, a submodule's directory, or a deleted file
        changed = text
        for stand_in in stand_ins.values():
            changed, count = rewrite(changed, stand_in.reference, stand_in.pushed)
            if count:
                used.setdefault(stand_in.reference, []).append(name)
        if changed != text:
            path.write_text(changed, encoding="utf-8")
    return [stand_ins[ref].record(files) for ref, files in used.items()]
