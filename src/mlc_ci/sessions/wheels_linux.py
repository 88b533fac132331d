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
from mlc_ci.sessions import pair_steps, reproducible, wheel_steps
from mlc_ci.sessions.base import Plan, SessionDef


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the wheels-linux session."""
    parser.add_argument(
        "--variant", help="cpu, cu128, cu130, vulkan, ... or auto (the default: the host's CUDA)"
    )
    parser.add_argument("--out", help="where verified wheels go (default: [wheel].dist_dir)")
    parser.add_argument("--container", action="store_true", help="build with cibuildwheel")
    parser.add_argument("--python", default="3.12", help="CPython for --container builds")
    parser.add_argument(
        "--check-reproducible",
        action="store_true",
        help="rebuild from a copy of the source in a second directory, without any compile "
        "cache, and require a byte-identical repaired wheel",
    )


def resolve_variant(
    args: argparse.Namespace, config: Config, env: Mapping[str, str]
) -> tuple[Variant, str, str | None]:
    """The variant to build, why, and the CUDA home to build it with."""
    # Plain `nox -s wheels-linux` builds `auto`: the CUDA variant of the host's toolkit, else cpu.
    requested = args.variant or env.get("MLC_CI_VARIANT") or "auto"
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
    version = wheel_steps.source_version(config, env)
    data = {
        "variant": variant.name,
        "why": why,
        "distribution": variant.distribution,
        "excludes": list(excludes),
        "source": str(config.source_dir),
        "version": version.pep440,
    }
    if args.container:
        return _container_plan(
            args, config, (variant, version), layout, excludes, data, env_of_host=env
        )
    use_ccache = host.has_tool("ccache", env)
    env_at = _env_factory(config, variant, layout, (version, home), env)
    build_env = env_at(
        os.path.commonpath([str(config.source_dir), str(layout.cmake_build)]), use_ccache
    )
    data["ccache"] = use_ccache
    steps, notes = _build_steps(config, (variant, version), layout, build_env, env)
    notes = [why, f"version {version.pep440 or '(not read)'} from {version.origin}", *notes]
    keep = f"the unrepaired wheel stays in {layout.raw}; nothing was copied to {layout.out}"
    repair_env = {} if version.epoch is None else {"SOURCE_DATE_EPOCH": str(version.epoch)}
    # The pair just before the project's build (with the same compilers and caches).
    _pair_build(steps, (config, variant, layout), (build_env, repair_env, env), keep)
    steps.append(Step("locate built wheel", action=wheel_steps.locate(layout.raw, "wheel")))
    steps += _repair_and_verify(config, (variant, version), layout, (excludes, repair_env), keep)
    smoke, python_note = _smoke(config, variant, (layout, data), keep, env)
    steps += smoke
    notes += [python_note] if python_note else []
    if args.check_reproducible:
        steps += reproducible.steps(config, layout, (env_at, repair_env), excludes, keep)
    steps += wheel_steps.publish_steps(config, variant, layout)
    restore = [Step("restore source tree", action=wheel_steps.restore())]
    return Plan(f"wheels-linux-{variant.name}", steps, data, restore, notes)


def _pair_build(steps: list[Step], where, envs, keep: str) -> None:
    """The paired runtime wheel, built and repaired like the project's (when [pair].source),
    inserted before the project's build step."""
    config, variant, layout = where
    if not config.pair_source:
        return
    build_env, repair_env, env = envs

    def repair_for(out_dir: str, wheel: Ref) -> tuple:
        return wheels.repair_argv(config.wheel.plat, (), out_dir, wheel)

    at = [s.title for s in steps].index(f"build {variant.distribution} wheel")
    steps[at:at] = pair_steps.build_steps(
        config, variant, layout, build_env, (repair_for, repair_env), keep, env=env
    )


def _smoke(config: Config, variant: Variant, where, keep: str, env) -> tuple[list[Step], str]:
    """The pair's exact requirement and channel, the smoke venv (with the pairing gate), then
    the same smoke on every other Python of [python].versions: the wheel is py3-none."""
    layout, data = where
    pythons, note = wheel_steps.python_matrix(config, env)
    own = f"{sys.version_info.major}.{sys.version_info.minor}"
    data["smoke_pythons"] = sorted([own, *(version for version, _ in pythons)])
    others = [
        s for p in pythons for s in wheel_steps.smoke_steps(config, variant, layout, keep, python=p)
    ]
    if not config.pair.enabled:
        return [*wheel_steps.smoke_steps(config, variant, layout, keep), *others], note
    steps = [pair_steps.requirement_step(config, variant, keep)]
    if not config.pair_source:
        steps += pair_steps.channel_steps(config, variant, layout, keep)
    smoke = wheel_steps.smoke_steps(config, variant, layout, keep)
    installed = [s.title for s in smoke].index("install repaired wheel") + 1
    gate = pair_steps.gate_step(config, variant, layout, keep)
    return [*steps, *smoke[:installed], gate, *smoke[installed:], *others], note


def _build_steps(config: Config, built, layout, build_env, env) -> tuple[list[Step], list[str]]:
    """Prepare the source, then build the wheel with ccache's statistics around the build."""
    variant, version = built
    before, after, notes = wheel_steps.ccache_steps(config, env, build_env)
    mark, record = wheel_steps.compile_steps(layout.cmake_build)
    steps = [
        Step(
            "prepare source and staging",
            action=wheel_steps.prepare(config, variant, layout, version),
        ),
        *before,
        mark,
        Step(
            f"build {variant.distribution} wheel",
            wheels.build_argv(
                config.wheel.frontend,
                str(config.source_dir),
                str(layout.raw),
                str(layout.cmake_build),
                sys.executable,
            ),
            env=build_env,
        ),
        record,
        *after,
    ]
    return steps, notes


def _env_factory(config: Config, variant: Variant, layout, probed, env: Mapping[str, str]):
    """The build environment for a base directory (the checkout, or the rebuild's copy)."""
    version, home = probed

    def env_at(base_dir: str, ccache: bool) -> dict[str, str]:
        return wheels.build_env(
            ccache_dir=str(layout.ccache) if ccache else None,
            jobs=host.jobs(env),
            cuda_home=home if variant.is_cuda else None,
            pins=config.project.build_requires,
            base_dir=base_dir,
            epoch=version.epoch,
            map_prefix=env,
        )

    return env_at


def _repair_and_verify(config: Config, built, layout, repair, keep: str) -> list[Step]:
    """auditwheel repair, the stamped version, and the tag, library and content rules."""
    variant, version = built
    excludes, repair_env = repair
    return [
        Step(
            "auditwheel repair",
            wheels.repair_argv(config.wheel.plat, excludes, str(layout.repaired), Ref("wheel")),
            env=repair_env,
            on_fail=keep,
        ),
        Step("locate repaired wheel", action=wheel_steps.locate(layout.repaired, "repaired")),
        Step("check the stamped version", action=wheel_steps.check_version(version)),
        Step(
            "auditwheel show",
            ("auditwheel", "show", "--json", Ref("repaired")),
            capture=True,
            save_as="audit_json",
            on_fail=keep,
        ),
        Step("check tag, libraries and contents", action=_verify(config, variant, excludes, keep)),
    ]


def _container_plan(args, config, built, layout, excludes, data, *, env_of_host) -> Plan:
    """The same build through cibuildwheel in a manylinux image."""
    variant, version = built
    if args.check_reproducible:
        raise PipelineError(
            "--check-reproducible rebuilds on the host; drop --container, or drop the check."
        )
    shared = wheel_steps.cache_use(config, env_of_host)
    env = wheels.cibuildwheel_env(config, variant, args.python, excludes, shared.mode != "off")
    data["cibuildwheel"] = env
    if version.epoch is not None:
        env["SOURCE_DATE_EPOCH"] = str(version.epoch)
        env["CIBW_ENVIRONMENT_PASS_LINUX"] = " ".join(
            filter(None, (env.get("CIBW_ENVIRONMENT_PASS_LINUX", ""), "SOURCE_DATE_EPOCH"))
        )
    steps = [
        Step(
            "prepare source and staging",
            action=wheel_steps.prepare(config, variant, layout, version),
        ),
        *_container_image(config, env["CIBW_MANYLINUX_X86_64_IMAGE"], args.dry_run),
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
        Step("check the stamped version", action=wheel_steps.check_version(version)),
        Step(f"publish into {layout.out}", action=wheel_steps.publish(variant, layout)),
    ]
    cleanup = [Step("restore source tree", action=wheel_steps.restore())]
    return Plan(f"wheels-linux-{variant.name}", steps, data, cleanup, [data["why"]])


def _container_image(config: Config, image: str, dry_run: bool) -> list[Step]:
    """An engine, and the build image in it: pulled when it is missing (a hosted runner), or
    one line naming the way to make it where nothing can be pulled (an air-gapped host)."""
    if dry_run:
        return []
    host.require_engine(config.image.docker)
    if host.image_present(config.image.docker, image):
        return []
    return [
        Step(
            f"pull {image}",
            (config.image.docker, "pull", image),
            retries=2,
            on_fail=f"the container image {image} is not in the engine and cannot be pulled; "
            "on a host without a registry make a local one (`docker/bootstrap-base.sh "
            "mlc-ci/debian:bookworm`, say) and point [wheel].manylinux_image (or the variant's "
            "manylinux_image) at it",
        )
    ]


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
