"""wheels-linux: build with the project's backend, repair with auditwheel, verify, publish."""

from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile
from pathlib import Path
from typing import Mapping

from mlc_ci import host
from mlc_ci.config import Config, Variant, require_source
from mlc_ci.errors import PipelineError
from mlc_ci.plan import wheels
from mlc_ci.run import Context, Ref, Step
from mlc_ci.sessions import wheel_steps
from mlc_ci.sessions.base import Plan, SessionDef


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the wheels-linux session."""
    parser.add_argument("--variant", help="cpu, cu128, cu130, vulkan, ... or auto")
    parser.add_argument("--out", help="where verified wheels go (default: [wheel].dist_dir)")
    parser.add_argument("--container", action="store_true", help="build with cibuildwheel")
    parser.add_argument("--python", default="3.12", help="CPython for --container builds")


def resolve_variant(
    args: argparse.Namespace, config: Config, env: Mapping[str, str]
) -> tuple[Variant, str, str | None]:
    """The variant to build, why, and the CUDA home to build it with."""
    requested = args.variant or env.get("MLC_CI_VARIANT") or config.default_variant
    home = host.cuda_home(env)
    version = host.nvcc_version(home)
    if args.dry_run and requested != "auto":
        variant = config.variant(requested)
        return variant, f"variant '{variant.name}' (dry run: toolkit not checked)", home
    variant, why = wheels.choose_variant(config, requested, version, host.cuda_places(env))
    return variant, why, home


def plan(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> Plan:
    """All steps of one wheel build, from config.cmake to the verified wheel in dist/."""
    variant, why, home = resolve_variant(args, config, env)
    if not args.dry_run:
        require_source(config)
    layout = wheel_steps.Layout(config, variant, args.out)
    excludes = wheels.repair_excludes(config, variant)
    data = {
        "variant": variant.name,
        "why": why,
        "distribution": variant.distribution,
        "excludes": list(excludes),
        "source": str(config.source_dir),
    }
    if args.container:
        return _container_plan(args, config, variant, layout, excludes, data, env_of_host=env)
    use_ccache = host.has_tool("ccache", env)
    source = str(config.source_dir)
    build_env = wheels.build_env(
        ccache_dir=str(layout.ccache) if use_ccache else None,
        jobs=host.jobs(env),
        cuda_home=home if variant.is_cuda else None,
        pins=config.project.build_requires,
        base_dir=os.path.commonpath([source, str(layout.cmake_build)]),
    )
    data["ccache"] = use_ccache
    before, after, cache_notes = wheel_steps.ccache_steps(config, env, build_env)
    notes = [why, *cache_notes]
    steps = [
        Step("prepare source and staging", action=wheel_steps.prepare(config, variant, layout)),
        *before,
    ]
    steps.append(
        Step(
            f"build {variant.distribution} wheel",
            wheels.build_argv(
                config.wheel.frontend,
                source,
                str(layout.raw),
                str(layout.cmake_build),
                sys.executable,
            ),
            env=build_env,
        )
    )
    steps += after
    steps.append(Step("locate built wheel", action=wheel_steps.locate(layout.raw, "wheel")))
    keep = f"the unrepaired wheel stays in {layout.raw}; nothing was copied to {layout.out}"
    steps += [
        Step(
            "auditwheel repair",
            wheels.repair_argv(config.wheel.plat, excludes, str(layout.repaired), Ref("wheel")),
            on_fail=keep,
        ),
        Step("locate repaired wheel", action=wheel_steps.locate(layout.repaired, "repaired")),
        Step(
            "auditwheel show",
            ("auditwheel", "show", "--json", Ref("repaired")),
            capture=True,
            save_as="audit_json",
            on_fail=keep,
        ),
        Step("check tag, libraries and contents", action=_verify(config, variant, excludes, keep)),
        *wheel_steps.smoke_steps(config, variant, layout, keep),
        Step(f"publish into {layout.out}", action=wheel_steps.publish(variant, layout)),
    ]
    cleanup = [Step("restore source tree", action=wheel_steps.restore())]
    return Plan(f"wheels-linux-{variant.name}", steps, data, cleanup, notes)


def _container_plan(args, config, variant, layout, excludes, data, *, env_of_host) -> Plan:
    """The same build through cibuildwheel in a manylinux image."""
    shared = wheel_steps.cache_use(config, env_of_host)
    env = wheels.cibuildwheel_env(config, variant, args.python, excludes, shared.mode != "off")
    data["cibuildwheel"] = env
    steps = [
        Step("prepare source and staging", action=wheel_steps.prepare(config, variant, layout)),
        Step("connect the shared compile cache", action=wheel_steps.connect_cache(shared)),
        Step(
            "cibuildwheel (manylinux container)",
            (
                "cibuildwheel",
                "--platform",
                "linux",
                "--output-dir",
                str(layout.repaired),
                str(config.source_dir),
            ),
            env=env,
        ),
        Step("locate repaired wheel", action=wheel_steps.locate(layout.repaired, "repaired")),
        Step(f"publish into {layout.out}", action=wheel_steps.publish(variant, layout)),
    ]
    cleanup = [Step("restore source tree", action=wheel_steps.restore())]
    return Plan(f"wheels-linux-{variant.name}", steps, data, cleanup, [data["why"]])


def _verify(config: Config, variant: Variant, excludes: tuple[str, ...], keep: str):
    def action(ctx: Context) -> None:
        audit = json.loads(ctx["audit_json"])
        with zipfile.ZipFile(ctx["wheel"]) as raw, zipfile.ZipFile(ctx["repaired"]) as fixed:
            raw_names, names = raw.namelist(), fixed.namelist()
        expected = (*config.wheel.expected_files, *variant.expected_files)
        name = Path(ctx["repaired"]).name
        problems = wheels.audit_problems(audit, name, config.wheel.plat, excludes)
        problems += wheels.content_problems(names, expected, excludes, variant.distribution)
        if problems:
            raise PipelineError(f"{name} failed verification: {'; '.join(problems)}; {keep}.")
        ctx.setdefault("report", {}).update(
            grafted=wheels.grafted(raw_names, names),
            excluded=wheels.external_libraries(audit),
        )

    return action


DEFINITION = SessionDef(
    "wheels-linux", "build, auditwheel-repair and verify the Linux wheel", add_arguments, plan
)
