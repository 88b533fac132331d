"""Preflight steps: the build's prerequisites, checked before the source is touched or anything
compiles, each failing in one line with its fix (plan/preflight.py names the checks)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Mapping

from mlc_ci import host
from mlc_ci.config import Config
from mlc_ci.errors import PipelineError
from mlc_ci.plan import preflight
from mlc_ci.run import Context, Step


def steps(config: Config, scratch: Path, env: Mapping[str, str], dry_run: bool) -> list[Step]:
    """The checks of a host build; `scratch`: where manifest copies go (the source stays as it
    is: cargo writes a Cargo.lock next to a manifest that has none)."""
    waived = preflight.waived(env.get(preflight.WAIVE_VARIABLE, ""))
    manifests = config.project.cargo_manifests
    if not manifests:
        return []
    source = str(config.source_dir)
    if "cargo" not in waived and not dry_run and not host.has_tool("cargo", env):
        raise PipelineError(preflight.missing_cargo(manifests, source))
    if "crates" in waived or "cargo" in waived:
        return []
    found = []
    for index, manifest in enumerate(manifests):
        copy = scratch / "preflight" / str(index)
        found += [
            Step(
                f"preflight: copy {manifest} for the offline crates check",
                action=_copy(config.source_dir / manifest, copy),
            ),
            Step(
                f"preflight: the crates of {manifest} resolve offline",
                ("cargo", "fetch", "--offline", "--manifest-path", str(copy / "Cargo.toml")),
                env={"CARGO_NET_OFFLINE": "true"},
                on_fail=preflight.crates_fix(),
            ),
        ]
    return found


def _copy(manifest: Path, target: Path):
    def action(_ctx: Context) -> None:
        if not manifest.is_file():
            raise PipelineError(
                f"[project].cargo_manifests names {manifest}, which does not exist; fix the "
                "path (relative to [project].source) or check out the source's submodules."
            )
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(manifest.parent, target, ignore=shutil.ignore_patterns("target", ".git"))

    return action
