"""Preflight steps: the build's prerequisites, checked before the source is touched or anything
compiles, each failing in one line with its fix (plan/preflight.py names the checks)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Mapping

from mlc_ci import host
from mlc_ci.config import Config, Variant
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


def toolkit(  # pylint: disable=too-many-arguments
    variant: Variant,
    home: str | None,
    env: Mapping[str, str],
    dry_run: bool,
    *,
    system=preflight.SYSTEM,
) -> str:
    """The toolkit parts the variant switches on (cuBLAS, NCCL, Thrust, Vulkan) must be on this
    host before anything compiles; a missing one stops the plan in one line. The plan's note."""
    parts = preflight.needed_parts(
        variant.config, preflight.waived(env.get(preflight.WAIVE_VARIABLE, ""))
    )
    if not parts:
        return ""
    names = ", ".join(part.what for part in parts)
    if dry_run:
        return f"toolkit parts checked before a real build: {names}"
    includes, libraries = preflight.search_dirs(home, env, system)
    missing = []
    for part in parts:
        files = [h for h in part.headers if not any((Path(d) / h).is_file() for d in includes)]
        files += [n for n in part.libraries if not any((Path(d) / n).exists() for d in libraries)]
        if files:
            missing.append((part, files))
    if missing:
        where = (
            f"under {home} or the system's directories" if home else "in the system's directories"
        )
        raise PipelineError(preflight.missing_parts_line(missing, where, variant.cuda))
    return f"toolkit parts found: {names}"
