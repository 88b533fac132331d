"""Steps both wheel sessions share: staging layout, source preparation, smoke venv, publishing."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from mlc_ci.config import Config, Variant
from mlc_ci.errors import PipelineError
from mlc_ci.plan import wheels
from mlc_ci.report import artifact
from mlc_ci.run import Context, Ref, Step


class Layout:
    """Directories of one wheels-linux run (all absolute)."""

    def __init__(
        self, config: Config, variant: Variant, out: str | None, session: str = "wheels-linux"
    ) -> None:
        cache = Path(".cache/mlc-ci").resolve()
        self.stage = cache / session / variant.name
        self.raw = self.stage / "raw"
        self.repaired = self.stage / "repaired"
        self.venv = self.stage / "venv"
        self.empty = self.stage / "smoke-cwd"
        self.runtime = self.stage / "runtime"
        self.cmake_build = cache / "cmake-build" / f"{session}-{variant.name}"
        self.ccache = Path(config.wheel.ccache_dir).resolve()
        self.out = Path(out or config.wheel.dist_dir).resolve()


def smoke_steps(
    config: Config, variant: Variant, layout: Layout, keep: str, scripts: str = "bin"
) -> list[Step]:
    """Fresh venv in an empty directory, install the repaired wheel, run the smoke commands."""
    venv_bin = str(layout.venv / scripts)
    # Without pip: seeding it (ensurepip) was a third of a warm wheel rebuild; the session's own
    # installer writes into the venv instead.
    venv = (sys.executable, "-m", "venv", "--clear", "--without-pip", str(layout.venv))
    install = wheels.install_argv(
        config.wheel.frontend,
        sys.executable,
        f"{venv_bin}/python",
        (Ref("repaired"), *variant.smoke_requires),
    )
    steps = [
        Step("create clean venv", venv),
        Step("install repaired wheel", install, cwd=str(layout.empty), on_fail=keep),
    ]
    for command in (*config.wheel.smoke, *variant.smoke):
        steps.append(
            Step(
                f"smoke: {short(command)}",
                wheels.smoke_argv(command, venv_bin),
                cwd=str(layout.empty),
                env={"VIRTUAL_ENV": str(layout.venv)},
                path_prefix=venv_bin,
                on_fail=keep,
            )
        )
    return steps


def short(command: str, width: int = 60) -> str:
    """A command cut to `width` characters for a step title (the plan line shows it whole)."""
    return command if len(command) <= width else command[: width - 3] + "..."


def prepare(config: Config, variant: Variant, layout: Layout):
    """Clean staging; write config.cmake; rename the distribution to the variant's."""

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


def restore():
    """Put back what prepare changed in the source tree (run even when a step failed)."""

    def action(ctx: Context) -> None:
        for name, text in ctx.get("restore", {}).items():
            if text is None:
                Path(name).unlink(missing_ok=True)
            else:
                Path(name).write_text(text, encoding="utf-8")

    return action


def locate(directory: Path, key: str):
    """Find the one wheel in `directory` and remember its path as `key`."""

    def action(ctx: Context) -> None:
        found = sorted(directory.glob("*.whl"))
        if len(found) != 1:
            raise PipelineError(f"expected one wheel in {directory}, found {len(found)}.")
        ctx[key] = str(found[0])

    return action


def publish(variant: Variant, layout: Layout):
    """Copy the verified wheel into the output directory under a temporary name, then rename."""

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
