"""The runtime-pairing gate for a Windows wheel: every DLL the wheel's own DLLs import is in
the wheel, in the paired runtime wheel, or Windows' own, and every function each imports is
exported by the DLL it is bound to (read from both wheels as they will be installed)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from mlc_ci import pe
from mlc_ci.config import Config, Variant
from mlc_ci.errors import PipelineError
from mlc_ci.plan import pairing
from mlc_ci.run import Context, Step


def gate_step(config: Config, variant: Variant, keep: str) -> Step:
    """After the pair is built or fetched (ctx["pair"]) and the wheel repaired (ctx["repaired"])."""
    name = config.pair_distribution(variant)

    def action(ctx: Context) -> None:
        own = _dlls(ctx["repaired"])
        pair = _dlls(ctx["pair"])
        # delvewheel grafts into <distribution>.libs/; the package's own DLLs are elsewhere.
        package = [lib for lib in own if ".libs/" not in lib.path]
        grafted = [lib for lib in own if ".libs/" in lib.path]
        needed = {n for lib in (*own, *pair) for n in lib.needed}
        excluded = tuple(x.lower() for x in variant.delvewheel_exclude)
        version = ctx.get("report", {}).get("pairing", {}).get("required", "")
        facts = pairing.Facts(
            package,
            grafted,
            pair,
            {},
            pe.system_names(needed),
            tuple(x.lower() for x in config.pair.libraries),
            excluded,
            f"{name} {version}".strip(),
            wheel_label=f"{variant.distribution} (this wheel)",
        )
        problems, rows = pairing.check(facts)
        ctx.setdefault("report", {}).setdefault("pairing", {})["libraries"] = rows
        if problems:
            raise PipelineError(f"runtime pairing failed: {'; '.join(problems)}; {keep}.")
        print(f"      pairing: {len(rows)} DLLs checked against {facts.pair_label}")

    return Step(f"check the pairing with {name} (DLL imports)", action=action)


def _dlls(wheel: str) -> list[pairing.SharedObject]:
    """Every DLL and extension module of a wheel, read from the archive."""
    with zipfile.ZipFile(wheel) as archive:
        members = [n for n in archive.namelist() if n.lower().endswith((".dll", ".pyd"))]
        return [pe.read(archive.read(n), f"{Path(wheel).name}/{n}") for n in members]
