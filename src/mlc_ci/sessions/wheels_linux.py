"""wheels-linux: build with the project's backend, repair with auditwheel, verify, publish."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import zipfile
from pathlib import Path
from typing import Mapping

from mlc_ci import host
from mlc_ci.config import Config, Variant, require_source
from mlc_ci.errors import PipelineError
from mlc_ci.plan import wheels
from mlc_ci.report import artifact
from mlc_ci.run import Context, Step
from mlc_ci.sessions.base import Plan, SessionDef


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the wheels-linux session."""
    parser.add_argument("--variant", help="cpu, cu128, cu130, vulkan, ... or auto")
    parser.add_argument("--out", help="where verified wheels go (default: [wheel].dist_dir)")
    parser.add_argument("--container", action="store_true", help="build with cibuildwheel")
    parser.add_argument("--python", default="3.12", help="CPython for --container builds")


class Layout:
    """Directories of one wheels-linux run (all absolute)."""

    def __init__(self, config: Config, variant: Variant, out: str | None) -> None:
        cache = Path(".cache/mlc-ci").resolve()
        self.stage = cache / "wheels-linux" / variant.name
        self.raw = self.stage / "raw"
        self.repaired = self.stage / "repaired"
        self.venv = self.stage / "venv"
        self.empty = self.stage / "smoke-cwd"
        self.cmake_build = cache / "cmake-build" / variant.name
        self.ccache = Path(config.wheel.ccache_dir).resolve()
        self.out = Path(out or config.wheel.dist_dir).resolve()


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
    variant, why = wheels.choose_variant(config, requested, version)
    return variant, why, home


def plan(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> Plan:
    """All steps of one wheel build, from config.cmake to the verified wheel in dist/."""
    variant, why, home = resolve_variant(args, config, env)
    if not args.dry_run:
        require_source(config)
    layout = Layout(config, variant, args.out)
    excludes = wheels.repair_excludes(config, variant)
    data = {
        "variant": variant.name,
        "why": why,
        "distribution": variant.distribution,
        "excludes": list(excludes),
        "source": str(config.source_dir),
    }
    if args.container:
        return _container_plan(args, config, variant, layout, excludes, data)
    use_ccache = host.has_tool("ccache", env)
    build_env = wheels.build_env(
        ccache_dir=str(layout.ccache) if use_ccache else None,
        jobs=host.jobs(env),
        cuda_home=home if variant.is_cuda else None,
    )
    data["ccache"] = use_ccache
    source = str(config.source_dir)
    steps = [Step("prepare source and staging", action=_prepare(config, variant, layout))]
    if use_ccache:
        steps.append(Step("reset ccache statistics", ("ccache", "-z"), env=build_env))
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
    if use_ccache:
        steps.append(
            Step(
                "ccache statistics",
                ("ccache", "--print-stats"),
                env=build_env,
                capture=True,
                save_as="ccache_stats",
            )
        )
    steps.append(Step("locate built wheel", action=_locate(layout.raw, "wheel")))
    keep = f"the unrepaired wheel stays in {layout.raw}; nothing was copied to {layout.out}"
    steps += [
        Step(
            "auditwheel repair",
            wheels.repair_argv(config.wheel.plat, excludes, str(layout.repaired), "{wheel}"),
            on_fail=keep,
        ),
        Step("locate repaired wheel", action=_locate(layout.repaired, "repaired")),
        Step(
            "auditwheel show",
            ("auditwheel", "show", "--json", "{repaired}"),
            capture=True,
            save_as="audit_json",
            on_fail=keep,
        ),
        Step("check tag, libraries and contents", action=_verify(config, variant, excludes, keep)),
        *_smoke_steps(config, variant, layout, env, keep),
        Step(f"publish into {layout.out}", action=_publish(variant, layout)),
    ]
    cleanup = [Step("restore source tree", action=_restore(config))]
    return Plan(f"wheels-linux-{variant.name}", steps, data, cleanup, [why])


def _smoke_steps(
    config: Config, variant: Variant, layout: Layout, env: Mapping[str, str], keep: str
) -> list[Step]:
    """Fresh venv in an empty directory, install the repaired wheel, run the smoke commands."""
    venv_bin = str(layout.venv / "bin")
    del env
    steps = [
        Step("create clean venv", (sys.executable, "-m", "venv", "--clear", str(layout.venv))),
        Step(
            "install repaired wheel",
            (
                f"{venv_bin}/python",
                "-m",
                "pip",
                "install",
                "-q",
                "{repaired}",
                *variant.smoke_requires,
            ),
            cwd=str(layout.empty),
            on_fail=keep,
        ),
    ]
    for command in (*config.wheel.smoke, *variant.smoke):
        steps.append(
            Step(
                f"smoke: {command}",
                wheels.smoke_argv(command, venv_bin),
                cwd=str(layout.empty),
                env={"VIRTUAL_ENV": str(layout.venv)},
                path_prefix=venv_bin,
                on_fail=keep,
            )
        )
    return steps


def _container_plan(args, config, variant, layout, excludes, data) -> Plan:
    """The same build through cibuildwheel in a manylinux image."""
    env = wheels.cibuildwheel_env(config, variant, args.python, excludes)
    data["cibuildwheel"] = env
    steps = [
        Step("prepare source and staging", action=_prepare(config, variant, layout)),
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
        Step("locate repaired wheel", action=_locate(layout.repaired, "repaired")),
        Step(f"publish into {layout.out}", action=_publish(variant, layout)),
    ]
    cleanup = [Step("restore source tree", action=_restore(config))]
    return Plan(f"wheels-linux-{variant.name}", steps, data, cleanup, [data["why"]])


def _prepare(config: Config, variant: Variant, layout: Layout):
    def action(ctx: Context) -> None:
        source = config.source_dir
        for directory in (layout.raw, layout.repaired, layout.empty):
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)
        target = source / "config.cmake"
        if target.exists() and not target.read_text(encoding="utf-8").startswith(wheels.MARKER):
            raise PipelineError(
                f"{target} was not written by mlc-ci; move it away (the variant's [config] "
                "table replaces it) and run again."
            )
        target.write_text(wheels.config_cmake(variant), encoding="utf-8")
        ctx["restore"] = {str(target): None}
        if variant.distribution != config.project.distribution:
            pyproject = source / "pyproject.toml"
            original = pyproject.read_text(encoding="utf-8")
            renamed = wheels.rename_distribution(original, variant.distribution)
            ctx["restore"][str(pyproject)] = original
            pyproject.write_text(renamed, encoding="utf-8")

    return action


def _restore(config: Config):
    del config

    def action(ctx: Context) -> None:
        for name, text in ctx.get("restore", {}).items():
            if text is None:
                Path(name).unlink(missing_ok=True)
            else:
                Path(name).write_text(text, encoding="utf-8")

    return action


def _locate(directory: Path, key: str):
    def action(ctx: Context) -> None:
        found = sorted(directory.glob("*.whl"))
        if len(found) != 1:
            raise PipelineError(f"expected one wheel in {directory}, found {len(found)}.")
        ctx[key] = str(found[0])

    return action


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
            ccache=wheels.parse_ccache_stats(ctx.get("ccache_stats", "")),
        )

    return action


def _publish(variant: Variant, layout: Layout):
    def action(ctx: Context) -> None:
        source = Path(ctx["repaired"])
        layout.out.mkdir(parents=True, exist_ok=True)
        partial = layout.out / f".{source.name}.partial"
        shutil.copy2(source, partial)
        final = layout.out / source.name
        os.replace(partial, final)
        extra = {"tag": ".".join(wheels.wheel_tags(final.name)), **ctx.get("report", {})}
        ctx.setdefault("artifacts", []).append(
            artifact(final, kind="wheel", variant=variant.name, **extra)
        )

    return action


DEFINITION = SessionDef(
    "wheels-linux", "build, auditwheel-repair and verify the Linux wheel", add_arguments, plan
)
