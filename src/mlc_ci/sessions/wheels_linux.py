"""wheels-linux: build with the project's backend, repair with auditwheel, verify, publish."""

from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile
from pathlib import Path
from typing import Mapping

from mlc_ci import elf, host
from mlc_ci.config import Config, Variant, require_source
from mlc_ci.errors import PipelineError
from mlc_ci.plan import release as rel
from mlc_ci.plan import wheels
from mlc_ci.run import Context, Ref, Step
from mlc_ci.sessions import (
    container_build,
    pair_steps,
    preflight,
    python_wheels,
    reproducible,
    wheel_steps,
)
from mlc_ci.sessions.base import Plan, SessionDef


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the wheels-linux session."""
    parser.add_argument(
        "--variant", help="cpu, cu128, cu130, vulkan, ... or auto (the default: the host's CUDA)"
    )
    parser.add_argument("--out", help="where verified wheels go (default: [wheel].dist_dir)")
    parser.add_argument(
        "--container",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="compile in the variant's builder image ([container].image), whose glibc "
        "decides the manylinux tag; repair, verification and smoke stay on the host "
        "(default: [container].linux_wheels)",
    )
    parser.add_argument(
        "--python",
        help="the builder image's Python for --container (default [container].python; "
        "3.12 means python3.12)",
    )
    parser.add_argument(
        "--check-reproducible",
        action="store_true",
        help="rebuild from a copy of the source in a second directory, without any compile "
        "cache, and require a byte-identical repaired wheel",
    )


def in_container(args: argparse.Namespace, config: Config) -> bool:
    """--container / --no-container, else [container].linux_wheels (MLC_CI_CONTAINER)."""
    return config.container.linux_wheels if args.container is None else args.container


def resolve_variant(
    args: argparse.Namespace, config: Config, env: Mapping[str, str]
) -> tuple[Variant, str, str | None]:
    """The variant to build, why, and the CUDA home to build it with."""
    # Plain `nox -s wheels-linux` builds `auto`: the CUDA variant of the host's toolkit, else cpu.
    requested = args.variant or config.variant_requested or "auto"
    if in_container(args, config) and requested != "auto":
        # The builder image brings the CUDA toolkit; the host needs none.
        variant = config.variant(requested)
        return variant, f"variant '{variant.name}' (toolkit from the builder image)", None
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
    # A dry run too: it shows what a run would do, and a run stops here first.
    require_source(config)
    wheel_steps.check_config_table(config, variant)
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
        "cmake_define": list(wheels.define_args(variant.cmake_define)),
    }
    container, how, env_at = _where(args, config, (variant, layout, version), env, home)
    per = python_wheels.choose(config, env, container is not None)
    data["per_python"] = list(per.built)
    build_env = env_at(os.path.commonpath([str(config.source_dir), str(layout.cmake_build)]))
    data["ccache"] = "CCACHE_DIR" in build_env
    steps, notes = _build_steps(config, (variant, version), layout, (build_env, how[0]), env)
    if container is None:
        notes.append(preflight.toolkit(variant, home, env, args.dry_run))
        steps[:0] = preflight.steps(config, layout.stage, env, args.dry_run)
    else:
        if config.project.cargo_manifests:
            notes.append(
                "cargo and the crates are the builder image's: not checked before the build"
            )
        if preflight.toolkit(variant, home, env, dry_run=True):
            notes.append("toolkit parts are the builder image's: not checked before the build")
    cleanup = _in_container(container, (steps, data), env, args.dry_run)
    notes = [
        why,
        f"version {version.pep440 or '(not read)'} from {version.origin}"
        + (f"; SOURCE_DATE_EPOCH from {version.epoch_origin}" if version.epoch_origin else ""),
        *wheel_steps.edit_notes(config, variant),
        *filter(None, notes),
    ]
    keep = f"the unrepaired wheel stays in {layout.raw}; nothing was copied to {layout.out}"
    repair_env = {} if version.epoch is None else {"SOURCE_DATE_EPOCH": str(version.epoch)}
    # The pair just before the project's build (with the same compilers and caches).
    _pair_build(steps, (config, variant, layout), (build_env, repair_env, env), how, keep)
    steps.append(Step("locate built wheel", action=wheel_steps.locate(layout.raw, "wheel")))
    steps += container.after_build() if container else []
    steps += _repair_and_verify(
        config, (variant, version), layout, (excludes, repair_env, how[1]), keep
    )
    steps += _smoke(config, variant, (layout, data, home), keep, (per, notes))
    if args.check_reproducible:

        steps += _rebuild_check(config, layout, (env_at, repair_env), excludes, keep)
    steps += _per_python(
        steps, per, (config, variant, version), (layout, build_env), (excludes, repair_env, how[1])
    )
    steps += wheel_steps.publish_steps(config, variant, layout, per.built)
    return Plan(
        rel.report_key("wheels-linux", config.project.name, variant.name),
        steps,
        data,
        [*cleanup, Step("restore source tree", action=wheel_steps.restore())],
        notes,
    )


def _per_python(steps: list[Step], per, built, where, repair) -> list[Step]:
    """With one wheel per Python: the other builds after the first (python_wheels), and after
    the first wheel's checks, each other wheel's; `steps` so far gets the builds."""
    config, variant, version = built
    layout, build_env = where

    def verify_in(mine: wheel_steps.Layout) -> list[Step]:
        keep = f"the unrepaired wheel stays in {mine.raw}; nothing was copied to {mine.out}"
        return _repair_and_verify(config, (variant, version), mine, repair, keep)

    build = python_wheels.Build(config, variant, layout, build_env, verify_in)
    python_wheels.insert_builds(steps, per, build)
    keep = f"nothing was copied to {layout.out}"
    own = [python_wheels.keep(python_wheels.OWN)] if per.per_python else []
    return [*own, *python_wheels.other_wheels(per, build, keep)]


def _rebuild_check(config: Config, layout, envs, excludes, keep: str) -> list[Step]:
    """--check-reproducible: the rebuild, repaired with the first build's auditwheel command."""

    def repair_for(out_dir: str, wheel: Ref) -> tuple[str, ...]:
        return wheels.repair_argv(config.wheel.plat, excludes, out_dir, wheel)

    return reproducible.steps(config, layout, envs, ("auditwheel", repair_for), keep)


def _where(args, config: Config, built, env: Mapping[str, str], home: str | None):
    """Host or builder container: (container, (build command, repair plat), build environment
    factory)."""
    variant, layout, version = built
    if not in_container(args, config):
        env_at = _env_factory(config, variant, layout, (version, home), env)
        use_ccache = host.has_tool("ccache", env)
        how = (wheel_steps.host_build(config), config.wheel.plat)
        return None, how, _defaulted(env_at, use_ccache)
    if args.check_reproducible:
        raise PipelineError(
            "--check-reproducible rebuilds on the host; build there (--no-container), or drop "
            "the check."
        )
    # Its own CMake tree: a host configure's cache names the host's compilers.
    layout.cmake_build = layout.cmake_build.with_name(layout.cmake_build.name + "-container")
    python = args.python or config.container.python
    container = container_build.Container(config, variant, layout, python)
    # CUDA: the image's toolkit; ccache: the image decides (wheels.CONTAINER_PRELUDE).
    cuda = "/usr/local/cuda" if variant.is_cuda else None
    env_at = _env_factory(config, variant, layout, (version, cuda), env)
    how = (container.build_argv(), Ref("plat"))  # the image's glibc decides (Container.steps)
    inside = container.env(env)

    def at(base_dir: str, ccache: bool = True) -> dict[str, str]:
        return {**env_at(base_dir, ccache), **inside}

    return container, how, at


def _in_container(container, where, env: Mapping[str, str], dry_run: bool) -> list[Step]:
    """A container build's checks, after "prepare"; returns its cleanup."""
    if not container:
        return []
    steps, data = where
    data["builder_image"] = container.image
    checks, cleanup = container.steps(env, dry_run)
    steps[1:1] = checks
    return cleanup


def _defaulted(env_at, use_ccache: bool):
    """env_at with ccache on or off by default (the rebuild check turns it off)."""

    def at(base_dir: str, ccache: bool = use_ccache) -> dict[str, str]:
        return env_at(base_dir, ccache)

    return at


def _pair_build(steps: list[Step], where, envs, how, keep: str) -> None:
    """The paired runtime wheel, built (where the project's is) and repaired like the
    project's (when [pair].source), or fetched at its [pair].version, inserted before the
    project's build step."""
    config, variant, layout = where
    at = [s.title for s in steps].index(f"build {variant.distribution} wheel")
    if not config.pair_source:
        steps[at:at] = pair_steps.fetch_first(config, variant, layout, keep)
        return
    build_env, repair_env, env = envs
    build_argv, plat = how

    def repair_for(out_dir: str, wheel: Ref) -> tuple:
        return wheels.repair_argv(plat, (), out_dir, wheel)

    steps[at:at] = pair_steps.build_steps(
        config, variant, layout, (build_env, build_argv), (repair_for, repair_env), keep, env=env
    )


def _smoke(config: Config, variant: Variant, where, keep: str, chosen) -> list[Step]:
    """The pair's exact requirement and channel, the smoke venv (with the pairing gate), then
    the same smoke on every other Python of [python].versions that one wheel serves (py3-none,
    abi3; a per-Python wheel is smoke-tested on its own Python only, python_wheels); the notes
    on the Python matrix go to `notes`; `where`: the layout, the report's data, the CUDA home."""
    layout, data, home = where
    per, notes = chosen
    notes += per.notes
    own = f"{sys.version_info.major}.{sys.version_info.minor}"
    data["smoke_pythons"] = sorted([own, *(version for version, _ in per.others)])
    others = [
        s
        for p in ([] if per.per_python else per.others)
        for s in wheel_steps.smoke_steps(config, variant, layout, keep, python=p)
    ]
    if not config.pair.enabled:
        return [*wheel_steps.smoke_steps(config, variant, layout, keep), *others]
    steps = pair_steps.after_build(config, variant, layout, keep)
    smoke = wheel_steps.smoke_steps(config, variant, layout, keep)
    # The gate once the wheel and its requirements are in, before the first smoke command.
    installed = next((i for i, s in enumerate(smoke) if s.title.startswith("smoke")), len(smoke))
    dirs = elf.host_dirs(home if variant.is_cuda else None)
    gate = pair_steps.gate_step(config, variant, layout, keep, dirs)
    return [*steps, *smoke[:installed], gate, *smoke[installed:], *others]


def _build_steps(config: Config, built, layout, how, env) -> tuple[list[Step], list[str]]:
    """Prepare the source, then build the wheel with ccache's statistics around the build."""
    variant, version = built
    build_env, build_argv = how
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
            build_argv(str(config.source_dir), str(layout.raw), str(layout.cmake_build), build_env),
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
        built = wheels.build_env(
            ccache_dir=str(layout.ccache) if ccache else None,
            jobs=host.jobs(env),
            cuda_home=home if variant.is_cuda else None,
            pins=config.project.build_requires,
            base_dir=base_dir,
            epoch=version.epoch,
            map_prefix=env,
        )
        # The pair, built with this environment, gets the variant's definitions too.
        defines = (*wheels.define_args(variant.cmake_define), wheels.EXPORT_COMPILE_COMMANDS)
        return wheels.with_cmake_args(built, env, defines)

    return env_at


def _repair_and_verify(config: Config, built, layout, repair, keep: str) -> list[Step]:
    """auditwheel repair, the stamped version, and the tag, library and content rules."""
    variant, version = built
    excludes, repair_env, plat = repair
    return [
        wheel_steps.host_codegen_step(config, variant, layout.cmake_build, keep),
        Step(
            "auditwheel repair",
            wheels.repair_argv(plat, excludes, str(layout.repaired), Ref("wheel")),
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
        Step("check tag, libraries and contents", action=verify(config, variant, excludes, keep)),
    ]


def verify(config: Config, variant: Variant, excludes: tuple[str, ...], keep: str):
    """The check of a repaired wheel (ctx: "wheel", "repaired", "audit_json"): tag, libraries
    from outside it, contents, each library's RUNPATH reaching the siblings it needs;
    duplicated libraries are reported with their size."""

    def action(ctx: Context) -> None:
        audit = json.loads(ctx["audit_json"])
        with zipfile.ZipFile(ctx["wheel"]) as raw, zipfile.ZipFile(ctx["repaired"]) as fixed:
            raw_names, members = raw.namelist(), fixed.infolist()
            links, unreadable = _links(fixed, members)
        names = [member.filename for member in members]
        expected = (*config.wheel.expected_files, *variant.expected_files)
        name = Path(ctx["repaired"]).name
        # A container build's tag comes from its image's glibc (ctx["plat"]).
        plat = ctx.get("plat", config.wheel.plat)
        problems = wheels.audit_problems(audit, name, plat, excludes)
        problems += wheels.content_problems(
            names,
            expected,
            excludes,
            variant.distribution,
            packed=config.wheel.packed,
            allowed=config.wheel.allow_files,
        )
        problems += unreadable + wheels.unreachable_siblings(links, excludes)
        if problems:
            raise PipelineError(f"{name} failed verification: {'; '.join(problems)}; {keep}.")
        duplicates = wheels.duplicate_libraries(
            (member.filename, member.CRC, member.file_size) for member in members
        )
        for group in duplicates:
            print(
                f"      duplicated library ({group['size'] / 1e6:.1f} MB each): "
                + ", ".join(group["paths"])
            )
        ctx.setdefault("report", {}).update(
            grafted=wheels.grafted(raw_names, names),
            excluded=wheels.external_libraries(audit, wheels.wheel_tags(name)),
            duplicates=duplicates,
        )

    return action


def _links(wheel: zipfile.ZipFile, members: list[zipfile.ZipInfo]):
    """The ELF links of the wheel's libraries, and a problem for each that is no ELF file (a
    Git LFS pointer packed in place of the library reads like one)."""
    links, unreadable = {}, []
    for member in members:
        name = member.filename
        if wheels.LIBRARY_FILE.fullmatch(name) and not name.endswith(".dll"):
            try:
                links[name] = elf.links(wheel.read(member), name)
            except PipelineError as exc:
                unreadable.append(str(exc).rstrip("."))
    return links, unreadable


DEFINITION = SessionDef(
    "wheels-linux", "build, auditwheel-repair and verify the Linux wheel", add_arguments, plan
)
