"""--check-reproducible: rebuild from a copy of the source elsewhere, with no compile cache,
and require the same repaired wheel, byte for byte."""

from __future__ import annotations

import hashlib
import shutil
import sys
import zipfile
from pathlib import Path
from typing import Callable, Mapping

from mlc_ci import files
from mlc_ci.config import Config
from mlc_ci.errors import PipelineError
from mlc_ci.plan import wheels
from mlc_ci.run import Context, Ref, Step
from mlc_ci.sessions.wheel_steps import Layout, RepairFor, locate

# Build trees and caches in the source stay behind: the rebuild starts from the sources alone.
_LEFT_OUT = (".git", "build", "dist", "wheelhouse", ".cache", "__pycache__", ".mlc-ci-edits.json")


class Rebuild:
    """Directories of the rebuild, under the run's staging directory (a second path)."""

    def __init__(self, config: Config, layout: Layout) -> None:
        self.root = layout.stage / "rebuild"
        self.source = self.root / "src" / config.source_dir.name
        self.cmake_build = self.root / "cmake-build"
        self.raw = self.root / "raw"
        self.repaired = self.root / "repaired"


EnvAt = Callable[[str, bool], Mapping[str, str]]  # (base directory, ccache?) -> build env
Tidy = Callable[[str, str], Step]  # (context key of a repaired wheel, keep) -> a step on it


def steps(
    config: Config,
    layout: Layout,
    envs: tuple[EnvAt, Mapping[str, str]],
    repair: tuple[str, RepairFor],
    keep: str,
    *,
    tidy: Tidy | None = None,
) -> list[Step]:
    """Copy, rebuild, repair and compare; `envs`: the build env for a base directory (the
    first build's, moved to the copy) and the repair env; `repair`: the repair's name
    (auditwheel, delvewheel) and command, the first build's; `tidy`: the step the first
    repaired wheel went through after its repair, if any."""
    again = Rebuild(config, layout)
    env_at, repair_env = envs
    tool, repair_for = repair
    build_env = {**env_at(str(again.root), False), "CCACHE_DISABLE": "1"}
    return [
        Step("copy the source for the rebuild", action=_copy(config.source_dir, again)),
        Step(
            "rebuild in a second directory, without a compile cache",
            wheels.build_argv(
                config.wheel.frontend,
                str(again.source),
                str(again.raw),
                str(again.cmake_build),
                sys.executable,
            ),
            env=build_env,
            on_fail=keep,
        ),
        Step("locate the rebuilt wheel", action=locate(again.raw, "rebuilt_wheel")),
        Step(
            f"{tool} repair the rebuild",
            repair_for(str(again.repaired), Ref("rebuilt_wheel")),
            env=repair_env,
            on_fail=keep,
        ),
        Step("locate the repaired rebuild", action=locate(again.repaired, "rebuilt")),
        *([tidy("rebuilt", keep)] if tidy else []),
        Step("compare the two repaired wheels", action=_compare(keep)),
    ]


def _copy(source: Path, again: Rebuild):
    def action(ctx: Context) -> None:
        shutil.rmtree(again.root, ignore_errors=True)
        for directory in (again.raw, again.repaired):
            directory.mkdir(parents=True)
        shutil.copytree(
            source, again.source, symlinks=True, ignore=shutil.ignore_patterns(*_LEFT_OUT)
        )
        pkg_info = again.source / "PKG-INFO"
        if "backend_version" in ctx and not pkg_info.exists():
            # The copy has no .git: a version the backend reads from git (setuptools_scm) comes
            # from PKG-INFO there, as in an sdist.
            files.write_text(
                pkg_info, f"Metadata-Version: 2.1\nVersion: {ctx['backend_version']}\n"
            )

    return action


def _members(path: str) -> list[wheels.Member]:
    with zipfile.ZipFile(path) as wheel:
        return [
            (i.filename, i.CRC, i.file_size, i.date_time, i.external_attr) for i in wheel.infolist()
        ]


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _compare(keep: str):
    def action(ctx: Context) -> None:
        first, second = ctx["repaired"], ctx["rebuilt"]
        digests = (_sha256(first), _sha256(second))
        differences = (
            []
            if digests[0] == digests[1]
            else wheels.wheel_differences(_members(first), _members(second))
        )
        if digests[0] != digests[1] and not differences:
            differences = ["the members agree, the zip container does not (headers or comments)"]
        ctx.setdefault("report", {})["reproducible"] = {
            "reproducible": not differences,
            "sha256": list(digests),
            "differences": differences,
        }
        if differences:
            raise PipelineError(
                f"{Path(first).name} is not reproducible: a rebuild from another directory "
                f"differs ({'; '.join(differences[:5])}"
                + (f"; {len(differences) - 5} more" if len(differences) > 5 else "")
                + f"); {keep}."
            )
        print(f"      reproducible: both builds are sha256 {digests[0][:16]}...")

    return action
