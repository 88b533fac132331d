"""gpu-smoke: the CUDA wheel of the build stage, installed fresh and checked on a real GPU.

Builders have no GPU, so their smoke may accept "no device"; this session may not. Without a
GPU it fails in one line. The workflow runs it on the GPU runner for pushes to the default
branch and for tags only; `[release].gpu_runner = ""` switches it off.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Mapping

from packaging.tags import sys_tags
from packaging.utils import canonicalize_name

from mlc_ci import host, sboms
from mlc_ci.config import Config, Variant
from mlc_ci.errors import PipelineError
from mlc_ci.plan import release as rel
from mlc_ci.plan.commands import nox_line
from mlc_ci.run import Context, Step
from mlc_ci.sessions import pair_steps, wheel_steps
from mlc_ci.sessions.base import Plan, SessionDef, config_flag


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the gpu-smoke session."""
    parser.add_argument("--variant", help="the CUDA variant (default: the first in dist/)")
    parser.add_argument("--dist", help="where the built wheels are (default: [wheel].dist_dir)")


def _wheel_of(dist: Path, distribution: str) -> Path | None:
    """The distribution's Linux wheel in dist/; of a variant's per-Python wheels (cp3XY), the
    one this interpreter installs."""
    wanted = canonicalize_name(distribution)
    found = [
        p
        for p in sorted(dist.glob("*.whl"))
        if canonicalize_name(p.name.split("-", 1)[0]) == wanted and "linux" in p.name
    ]
    supported = {str(tag) for tag in sys_tags()}
    fitting = [p for p in found if sboms.installable(p.name, supported)]
    return (fitting or found)[-1] if found else None


def placeholder(variant: Variant) -> str:
    """What a dry run shows for the CUDA wheel wheels-linux has not built yet."""
    return f"<wheel from wheels-linux --variant {variant.name}>"


def cuda_variants(config: Config, requested: str | None) -> list[Variant]:
    """The CUDA variants gpu-smoke may check: the requested one, else every one configured."""
    cuda = [v for v in config.variants.values() if v.is_cuda]
    if not requested:
        return cuda
    variant = config.variant(requested)
    if not variant.is_cuda:
        raise PipelineError(
            f"variant '{variant.name}' is not a CUDA variant; gpu-smoke checks one of "
            f"{', '.join(v.name for v in cuda) or '(none configured)'}."
        )
    return [variant]


def choose(
    config: Config, requested: str | None, dist: Path, given: str | None = None
) -> tuple[Variant, Path]:
    """The CUDA variant to check and its wheel in dist/ (`given`: the user's --config, kept in
    the command the error says to run)."""
    cuda = cuda_variants(config, requested)
    for variant in cuda:
        wheel = _wheel_of(dist, variant.distribution)
        if wheel:
            return variant, wheel
    names = ", ".join(v.distribution for v in cuda) or "(no CUDA variant configured)"
    build = nox_line(
        "wheels-linux", "--variant", cuda[0].name if cuda else "<cuda variant>", config=given
    )
    raise PipelineError(
        f"no CUDA wheel ({names}) in {dist}; build one with {build} or download the build "
        "stage's artifact."
    )


def plan(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> Plan:
    """A fresh venv with the CUDA wheel (and its pair), then the strict device checks."""
    dist = Path(args.dist or config.wheel.dist_dir).resolve()
    notes: list[str] = []
    cuda = cuda_variants(config, args.variant)
    if args.dry_run and cuda and not any(_wheel_of(dist, v.distribution) for v in cuda):
        # A dry run before the build stage: the first CUDA variant, with a placeholder wheel.
        variant, wheel = cuda[0], dist / placeholder(cuda[0])
        build = nox_line("wheels-linux", "--variant", variant.name, config=config_flag(args))
        notes.append(
            f"dry run: no {variant.distribution} wheel in {dist} yet, so {wheel.name} stands "
            f"for what {build} will build (a run needs it first)"
        )
    else:
        variant, wheel = choose(config, args.variant, dist, config_flag(args))
    layout = wheel_steps.Layout(config, variant, str(dist), "gpu-smoke")
    keep = f"{wheel.name} stays in {dist}"
    commands = variant.gpu_smoke or variant.smoke
    lenient = [c for c in commands if "--allow-missing" in c]
    if lenient:
        raise PipelineError(
            f"gpu-smoke runs the device checks strictly, but [variants.{variant.name}] has "
            f"'{lenient[0]}'; set its gpu_smoke without --allow-missing."
        )
    steps = [
        Step("find a GPU (nvidia-smi -L)", action=_require_gpu(env), reads=(("nvidia-smi", "-L"),)),
        Step("locate the wheels", action=_locate(config, (variant, wheel), layout)),
    ]
    if config.pair.enabled and not config.pair_source:
        # The pair from its channel, exactly as the wheel requires it (as the build did).
        steps.append(pair_steps.requirement_step(config, variant, keep))
        steps += pair_steps.channel_steps(config, variant, layout, keep)
    steps += wheel_steps.smoke_steps(config, variant, layout, keep, commands=commands)
    data = {"variant": variant.name, "wheel": wheel.name, "commands": list(commands)}
    notes.insert(0, f"{wheel.name} on this GPU")
    name = rel.report_key("gpu-smoke", config.project.name, variant.name)
    return Plan(name, steps, data, notes=notes)


def _require_gpu(env: Mapping[str, str]):
    def action(ctx: Context) -> None:
        seen = host.gpus(env)
        if not seen:
            raise PipelineError(
                "no GPU here: nvidia-smi lists none (or is missing); run gpu-smoke on a host with "
                "an NVIDIA GPU and its driver (the workflow's GPU runner)."
            )
        ctx.setdefault("report", {})["gpus"] = seen

    return action


def _locate(config: Config, built: tuple[Variant, Path], layout: wheel_steps.Layout):
    variant, wheel = built

    def action(ctx: Context) -> None:
        layout.empty.mkdir(parents=True, exist_ok=True)
        ctx["repaired"] = str(wheel)
        if config.pair_source:
            pair = _wheel_of(wheel.parent, config.pair_distribution(variant))
            if pair is None:
                raise PipelineError(
                    f"{wheel.name} pairs with {config.pair_distribution(variant)}, which is not "
                    f"in {wheel.parent}; download the build stage's artifacts together."
                )
            ctx["pair"] = str(pair)

    return action


DEFINITION = SessionDef(
    "gpu-smoke",
    "install the CUDA wheel and run the strict device checks on a GPU",
    add_arguments,
    plan,
)
