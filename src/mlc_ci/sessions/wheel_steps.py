"""Steps both wheel sessions share: staging layout, source preparation, smoke venv, publishing."""

from __future__ import annotations

import os
import shutil
import sys
import time
import zipfile
from pathlib import Path
from typing import Callable, Mapping

from mlc_ci import files, host, source_edits
from mlc_ci.config import Config, Variant, repository_root
from mlc_ci.errors import PipelineError
from mlc_ci.plan import cache, version_rules, wheels
from mlc_ci.plan.versions import SourceVersion
from mlc_ci.report import artifact
from mlc_ci.run import Context, Ref, Step


class Layout:
    """Directories of one wheels-linux run (all absolute)."""

    def __init__(
        self, config: Config, variant: Variant, out: str | None, session: str = "wheels-linux"
    ) -> None:
        scratch = Path(".cache/mlc-ci").resolve()
        self.stage = scratch / session / variant.name
        self.raw = self.stage / "raw"
        self.repaired = self.stage / "repaired"
        self.venv = self.stage / "venv"
        self.empty = self.stage / "smoke-cwd"
        self.runtime = self.stage / "runtime"
        self.cmake_build = scratch / "cmake-build" / f"{session}-{variant.name}"
        self.ccache = Path(config.wheel.ccache_dir).resolve()
        self.out = Path(out or config.wheel.dist_dir).resolve()


# (source, output directory, CMake build directory, the step's environment) -> the build command
BuildArgv = Callable[[str, str, str, Mapping[str, str]], tuple[str, ...]]
# (output directory, the wheel to repair) -> the platform's repair command (auditwheel, delvewheel)
RepairFor = Callable[[str, Ref], tuple[str, ...]]


def host_build(config: Config, python: str = sys.executable) -> BuildArgv:
    """The project's backend on this host, driven by [wheel].frontend with `python` (default:
    this interpreter; another one for the per-Python wheels of a C extension)."""

    def argv(source: str, out_dir: str, build_dir: str, env: Mapping[str, str]):
        del env
        return wheels.build_argv(config.wheel.frontend, source, out_dir, build_dir, python)

    return argv


def smoke_steps(  # pylint: disable=too-many-arguments
    config: Config,
    variant: Variant,
    layout: Layout,
    keep: str,
    *,
    scripts: str = "bin",
    commands: tuple[str, ...] | None = None,
    python: tuple[str, str] | None = None,
) -> list[Step]:
    """Fresh venv in an empty directory, install the repaired wheel, run the smoke commands
    (default: [wheel].smoke and the variant's). `python`: (version, interpreter) for another
    venv of the Python matrix (default: the session's own interpreter, layout.venv)."""
    interpreter = python[1] if python else sys.executable
    venv_dir = layout.stage / f"venv-{python[0]}" if python else layout.venv
    label = f" (Python {python[0]})" if python else ""
    venv_bin = str(venv_dir / scripts)
    # Without pip: seeding it (ensurepip) was a third of a warm wheel rebuild; the session's own
    # installer writes into the venv instead.
    venv = (interpreter, "-m", "venv", "--clear", "--without-pip", str(venv_dir))
    # With a pair, its file is named again: the resolver takes the pair's name from that file
    # only, so a mismatch fails here instead of fetching another build from an index.
    paired = (Ref("pair"),) if config.pair.enabled else ()
    install = wheels.install_argv(
        config.wheel.frontend,
        sys.executable,
        f"{venv_bin}/python",
        (Ref("repaired"), *paired, *variant.smoke_requires),
    )
    steps = [Step(f"create clean venv{label}", venv)]
    if config.pair.enabled:
        # The pair first and alone (--no-deps): its name then never resolves from another index.
        pair = wheels.install_argv(
            config.wheel.frontend, sys.executable, f"{venv_bin}/python", ("--no-deps", Ref("pair"))
        )
        steps.append(
            Step(
                f"install the paired runtime wheel{label}",
                pair,
                cwd=str(layout.empty),
                on_fail=keep,
            )
        )
    if config.wheel.smoke_skip:
        steps += _scoped_install(config, variant, (venv_dir, venv_bin, label), layout, keep)
    else:
        steps.append(
            Step(f"install repaired wheel{label}", install, cwd=str(layout.empty), on_fail=keep)
        )
    for command in (*config.wheel.smoke, *variant.smoke) if commands is None else commands:
        steps.append(
            Step(
                f"smoke{label}: {short(command)}",
                wheels.smoke_argv(command, venv_bin),
                cwd=str(layout.empty),
                env={"VIRTUAL_ENV": str(venv_dir)},
                path_prefix=venv_bin,
                on_fail=keep,
            )
        )
    return steps


def _scoped_install(config: Config, variant: Variant, venv, layout: Layout, keep: str):
    """The wheel without its dependencies, then its Requires-Dist less [wheel].smoke_skip (with
    the pair's file and the variant's smoke_requires)."""
    venv_dir, venv_bin, label = venv
    requirements = venv_dir.parent / f"{venv_dir.name}-requirements.txt"
    frontend, target = config.wheel.frontend, f"{venv_bin}/python"
    paired = (Ref("pair"),) if config.pair.enabled else ()
    skip = ", ".join(config.wheel.smoke_skip)

    def write(ctx: Context) -> None:
        with zipfile.ZipFile(ctx["repaired"]) as wheel:
            name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
            metadata = wheel.read(name).decode("utf-8")
        kept, left_out = wheels.smoke_requirements(metadata, config.wheel.smoke_skip)
        files.write_text(requirements, "".join(f"{line}\n" for line in kept))
        print(f"      left out ([wheel].smoke_skip): {', '.join(left_out) or 'none listed'}")

    return [
        Step(
            f"install repaired wheel without its dependencies{label}",
            wheels.install_argv(frontend, sys.executable, target, ("--no-deps", Ref("repaired"))),
            cwd=str(layout.empty),
            on_fail=keep,
        ),
        Step(f"the wheel's requirements less {skip}{label}", action=write),
        Step(
            f"install the wheel's requirements{label}",
            wheels.install_argv(
                frontend,
                sys.executable,
                target,
                ("-r", str(requirements), *paired, *variant.smoke_requires),
            ),
            cwd=str(layout.empty),
            on_fail=keep,
        ),
    ]


def python_matrix(
    config: Config, env: Mapping[str, str], per_python: bool = False
) -> tuple[list[tuple[str, str]], str]:
    """The other Pythons of [python].versions to smoke-test the wheel on (`per_python`: to
    build and smoke-test a wheel each for), as (version, interpreter), and a note on those
    missing. A missing one fails when CI is set; MLC_CI_SMOKE_PYTHONS (a comma list, or
    "current") narrows the list."""
    own = f"{sys.version_info.major}.{sys.version_info.minor}"
    wanted = env.get("MLC_CI_SMOKE_PYTHONS", "").strip()
    versions = (
        ([] if wanted == "current" else [v.strip() for v in wanted.split(",") if v.strip()])
        if wanted
        else list(config.python.versions)
    )
    found, missing = [], []
    for version in versions:
        if version == own:
            continue
        interpreter = host.python_for(version, env)
        if interpreter:
            found.append((version, interpreter))
        else:
            missing.append(version)
    if missing and env.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        what = (
            "no wheel can be built for it"
            if per_python
            else "the wheel cannot be smoke-tested on it"
        )
        raise PipelineError(
            f"Python {', '.join(missing)} of [python].versions is not on PATH, so {what}; put "
            "it on PATH (pyenv, actions/setup-python) or narrow MLC_CI_SMOKE_PYTHONS."
        )
    note = (
        f"no Python {', '.join(missing)} on PATH: "
        + ("no wheel is built for it" if per_python else "the wheel is not smoke-tested there")
        if missing
        else ""
    )
    return found, note


def short(command: str, width: int = 60) -> str:
    """A command cut to `width` characters for a step title (the plan line shows it whole)."""
    return command if len(command) <= width else command[: width - 3] + "..."


def prepare(config: Config, variant: Variant, layout: Layout, version: SourceVersion):
    """Clean staging; write config.cmake; rename the distribution to the variant's and stamp
    the version into pyproject.toml.

    The originals are journaled first (source_edits), and what an interrupted earlier run left
    edited is restored before anything is read.
    """

    def action(ctx: Context) -> None:
        # Checked now, not when the verified wheel is published after the whole build.
        files.ensure_dir(
            layout.out, f"output directory ({config.set_by('wheel.dist_dir')} or --out)"
        )
        files.ensure_dir(layout.ccache, f"ccache directory ({config.set_by('wheel.ccache_dir')})")
        source = config.source_dir
        restored = source_edits.recover(source)
        if restored:
            print(f"      restored {', '.join(restored)}: an earlier run was stopped before it")
        for directory in (layout.raw, layout.repaired, layout.empty):
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)
        target = source / "config.cmake"
        if target.exists() and not target.read_text(encoding="utf-8").startswith(wheels.MARKER):
            raise PipelineError(
                f"{target} was not written by mlc-ci; move it away (the variant's [config] "
                "table replaces it) and run again."
            )
        originals: dict[str, str | None] = {}
        if _reads_config_cmake(source, variant):
            originals[str(target)] = None
        pyproject = source / "pyproject.toml"
        original = pyproject.read_text(encoding="utf-8")
        _refuse_left_renamed(config, pyproject, original)
        edited = original
        if variant.distribution != config.project.distribution:
            edited = wheels.rename_distribution(edited, variant.distribution)
        if version.stamped:
            edited = wheels.stamp_version(edited, version.pep440)
        if edited != original:
            originals[str(pyproject)] = original
        source_edits.begin(source, originals)
        ctx["restore"] = (source, originals)
        # Restored with their times too: a source without git is dated by its newest file.
        ctx["restore_times"] = {
            name: (Path(name).stat().st_atime_ns, Path(name).stat().st_mtime_ns)
            for name, text in originals.items()
            if text is not None
        }
        if str(target) in originals:
            target.write_text(wheels.config_cmake(variant), encoding="utf-8")
        if str(pyproject) in originals:
            pyproject.write_text(edited, encoding="utf-8")

    return action


def edit_notes(config: Config, variant: Variant) -> list[str]:
    """What `prepare` will write into the source, for the plan's header (a dry run shows it)."""
    notes = []
    if variant.distribution != config.project.distribution:
        notes.append(
            f"distribution renamed in pyproject.toml: {config.project.distribution} -> "
            f"{variant.distribution}"
        )
    entries = wheels.config_cmake(variant).splitlines()[1:]
    if entries:
        notes.append(f"config.cmake (when CMakeLists.txt reads it): {'; '.join(entries)}")
    if variant.cmake_define:
        notes.append(
            f"CMake definitions (CMAKE_ARGS): {' '.join(wheels.define_args(variant.cmake_define))}"
        )
    return notes


def source_version(config: Config, env: Mapping[str, str]) -> SourceVersion:
    """The version this build stamps or, for a version the backend computes, expects (a probe
    of the source's git repository, PKG-INFO or backend)."""
    source = config.source_dir
    pyproject = source / "pyproject.toml"
    if not pyproject.is_file():  # no pyproject.toml: nothing to read (the build says so)
        return SourceVersion("", "", "", None, f"not read: {source} is not checked out")
    declared = version_rules.declared(pyproject.read_text(encoding="utf-8"), str(pyproject))
    installer = "uv" if config.wheel.frontend == "uv" else "pip"
    return host.source_version(
        source, config.project.version, env, declared, installer, tag_repository(config)
    )


def tag_repository(config: Config) -> Path | None:
    """With [release].version_from = "tag": the repository holding pipeline.toml, whose
    release tag at HEAD is the version of the build (None otherwise, and outside any checkout,
    where no tag can be)."""
    if config.release.version_from != "tag":
        return None
    return repository_root(config.root)


def check_version(version: SourceVersion, key: str = "repaired"):
    """The built wheel carries the stamped version (a backend may ignore the line)."""

    def action(ctx: Context) -> None:
        name = Path(ctx[key]).name
        found = wheels.wheel_version(name)
        if found != version.pep440:
            if version.kept:
                raise PipelineError(
                    f"{name} is version {found}, but {version.origin} gave {version.pep440} "
                    "before the build; build from an unchanged source (nothing may move the "
                    "version between the probe and the build)."
                )
            raise PipelineError(
                f"{name} is version {found}, but the build stamped {version.pep440} "
                f"({version.origin}); the backend must read [project].version from "
                "pyproject.toml."
            )
        ctx.setdefault("report", {})["version"] = {
            "version": version.pep440,
            "origin": version.origin,
            "revision": version.revision,
            "source_date_epoch": version.epoch,
            "source_date_epoch_from": version.epoch_origin,
        }
        if version.kept:  # the rebuild check's copy carries it as an sdist would (PKG-INFO)
            ctx["backend_version"] = version.pep440

    return action


def _reads_config_cmake(source: Path, variant: Variant) -> bool:
    """True when the source's CMakeLists.txt reads a config.cmake (MLC-LLM's shape).

    A project that does not gets none written; one of its variants that sets [config] entries
    is refused, since they would be ignored without a word.
    """
    reads = "config.cmake" in (source / "CMakeLists.txt").read_text(encoding="utf-8")
    if not reads and variant.config:
        raise PipelineError(
            f"variant '{variant.name}' sets [variants.{variant.name}].config, but "
            f"{source / 'CMakeLists.txt'} never reads config.cmake; pass the options as CMake "
            f"definitions instead ([variants.{variant.name}].cmake_define = {{ NAME = value }})."
        )
    return reads


def check_config_table(config: Config, variant: Variant) -> None:
    """The plan's (and so the dry run's) refusal of a [config] table the source never reads."""
    if (config.source_dir / "CMakeLists.txt").is_file():
        _reads_config_cmake(config.source_dir, variant)


def _refuse_left_renamed(config: Config, pyproject: Path, text: str) -> None:
    """A pyproject.toml that still names a variant's distribution was left by a killed run."""
    name = wheels.distribution_name(text)
    others = {v.distribution: v.name for v in config.variants.values()}
    if name != config.project.distribution and name in others:
        raise PipelineError(
            f"{pyproject} names '{name}', the distribution of variant '{others[name]}', not "
            f"[project].distribution '{config.project.distribution}': an earlier run was "
            "stopped before restoring it; restore the file (`git checkout -- pyproject.toml`)."
        )


def restore():
    """Put back what prepare changed in the source tree (run even when a step failed)."""

    def action(ctx: Context) -> None:
        if "restore" in ctx:
            source, originals = ctx.pop("restore")
            source_edits.finish(source, originals)
            for name, times in ctx.pop("restore_times", {}).items():
                os.utime(name, ns=times)

    return action


def locate(directory: Path, key: str):
    """Find the one wheel in `directory` and remember its path as `key`."""

    def action(ctx: Context) -> None:
        found = sorted(directory.glob("*.whl"))
        if len(found) != 1:
            raise PipelineError(f"expected one wheel in {directory}, found {len(found)}.")
        ctx[key] = str(found[0])

    return action


def publish(variant: Variant, layout: Layout, key: str = "repaired"):
    """Copy the verified wheel into the output directory under a temporary name, then rename
    (`key`: "pair" publishes the paired runtime wheel built with it)."""

    def action(ctx: Context) -> None:
        source = Path(ctx[key])
        final = files.copy(source, layout.out / source.name)
        extra = {"tag": ".".join(wheels.wheel_tags(final.name))}
        if key == "pair":
            extra["role"] = "pair"
        else:
            # A per-Python wheel's own verification record (python_wheels.keep) wins.
            extra.update({**ctx.get("report", {}), **ctx.get(f"verified-{key}", {})})
        ctx.setdefault("artifacts", []).append(
            artifact(final, kind="wheel", variant=variant.name, **extra)
        )

    return action


def publish_steps(
    config: Config, variant: Variant, layout: Layout, pythons: tuple[str, ...] = ()
) -> list[Step]:
    """Publish the pair (when built here), then the project's wheel (`pythons`: the wheel of
    each of those Pythons, kept as "repaired-<version>"), into the output dir."""
    steps = []
    if config.pair_source:
        steps.append(
            Step(
                f"publish {config.pair_distribution(variant)} into {layout.out}",
                action=publish(variant, layout, key="pair"),
            )
        )
    if not pythons:
        steps.append(Step(f"publish into {layout.out}", action=publish(variant, layout)))
    for version in pythons:
        steps.append(
            Step(
                f"publish the Python {version} wheel into {layout.out}",
                action=publish(variant, layout, key=f"repaired-{version}"),
            )
        )
    return steps


def cache_use(config: Config, env: Mapping[str, str]) -> cache.CacheUse:
    """How this run uses the shared compile cache (MLC_CI_CACHE_MODE: decided by a caller)."""
    forced = env.get("MLC_CI_CACHE_MODE", "")
    if forced and forced not in cache.MODES:
        raise PipelineError(
            f"MLC_CI_CACHE_MODE (environment) is {forced!r}; use one of {', '.join(cache.MODES)}."
        )
    return cache.decide(
        config.cache.remote, config.cache.read_only, env, config.image.default_branch, forced
    )


def connect_cache(use: cache.CacheUse):
    """Probe the shared cache; a server that does not answer is a warning, never a failure."""

    def action(ctx: Context) -> None:
        shown = cache.url_for_display(use.remote)
        record = {"remote": shown, "mode": use.mode, "why": use.why, "reachable": None}
        if use.mode != "off":
            reason = host.cache_reachable(use.remote)
            record.update(reachable=not reason, reason=reason)
            if reason:
                print(
                    f"      warning: shared compile cache {shown}: {reason}; building with the "
                    "local cache only"
                )
            else:
                ctx.setdefault("env", {})["CCACHE_REMOTE_STORAGE"] = use.ccache_setting
        ctx.setdefault("report", {})["shared_cache"] = record

    return action


def ccache_steps(
    config: Config, env: Mapping[str, str], build_env: Mapping[str, str]
) -> tuple[list[Step], list[Step], list[str]]:
    """Steps before and after the build for ccache (local and shared), and plan notes."""
    shared = cache_use(config, env)
    if not host.has_tool("ccache", env):
        missing = "ccache is not on PATH: no compile cache, local or shared, for this build"
        return [], [], [] if shared.mode == "off" else [missing]
    before = [
        Step("connect the shared compile cache", action=connect_cache(shared)),
        Step("reset ccache statistics", ("ccache", "-z"), env=build_env),
    ]
    after = [
        Step(
            "ccache statistics",
            ("ccache", "--print-stats"),
            env=build_env,
            capture=True,
            save_as="ccache_stats",
        ),
        Step("record local and remote cache hits", action=record_ccache),
    ]
    shown = [] if shared.mode == "off" else [f"shared compile cache: {shared.mode} ({shared.why})"]
    return before, after, shown


def record_ccache(ctx: Context) -> None:
    """Local and remote hits of the build, from the statistics step, into the report."""
    ctx.setdefault("report", {})["ccache"] = wheels.parse_ccache_stats(ctx.get("ccache_stats", ""))


def host_codegen_step(config: Config, variant: Variant, build_dir: Path, keep: str) -> Step:
    """Refuse a build that compiled for this host's CPU (-march=native), from the
    compile_commands.json CMake wrote (wheels.EXPORT_COMPILE_COMMANDS); the flags seen go into
    the report. Without that file (not a CMake build) the report says it was not checked."""

    def action(ctx: Context) -> None:
        commands = build_dir / "compile_commands.json"
        record: dict = {"allowed": config.wheel.allow_host_codegen, "checked": commands.is_file()}
        ctx.setdefault("report", {})["host_codegen"] = record
        if not commands.is_file():
            print(f"      not checked: the build wrote no {commands}")
            return
        found = wheels.host_codegen(
            commands.read_text(encoding="utf-8", errors="replace"), str(config.source_dir)
        )
        record["found"] = [{"flag": flag, "where": where} for flag, where in found]
        if found and not config.wheel.allow_host_codegen:
            problem = wheels.host_codegen_problem(found, variant.name)
            raise PipelineError(f"{problem}; {keep}.")
        if found:
            print(f"      allowed ([wheel].allow_host_codegen): {found[0][0]} in {found[0][1]}")

    return Step("check for host-specific code generation", action=action)


def compile_steps(build_dir: Path) -> tuple[Step, Step]:
    """A mark before the build and, after it, the compiled units and their wall time from ninja's
    log in `build_dir` into the report: with the cache hits, the time a warm cache saves."""

    def mark(ctx: Context) -> None:
        ctx["compile_since_ns"] = time.time_ns()

    def record(ctx: Context) -> None:
        log = build_dir / ".ninja_log"
        text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
        ctx.setdefault("report", {})["compile"] = wheels.compile_record(
            text, ctx.get("compile_since_ns", 0)
        )

    return (
        Step("mark the start of compiling", action=mark),
        Step("record compiled units and compile time", action=record),
    )
