"""wheels-windows: MSVC build on Windows or MinGW cross-build on Linux; delvewheel; verify."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import zipfile
from pathlib import Path
from typing import Mapping

from mlc_ci import host, net
from mlc_ci.config import Config, Variant, require_source
from mlc_ci.errors import PipelineError
from mlc_ci.plan import release as rel
from mlc_ci.plan import wheels, windows
from mlc_ci.run import Context, Ref, Step, capture
from mlc_ci.sessions import dll_pairing, load_order, pair_steps, reproducible, wheel_steps
from mlc_ci.sessions.base import Plan, SessionDef


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the wheels-windows session."""
    parser.add_argument("--variant", help="cpu, cu128, vulkan, ... (variants with windows = true)")
    parser.add_argument("--out", help="where verified wheels go (default: [wheel].dist_dir)")
    parser.add_argument(
        "--cross",
        choices=["mingw"],
        help="cross-compile on Linux with MinGW-w64 (also MLC_CI_CROSS=mingw)",
    )
    parser.add_argument(
        "--check-reproducible",
        action="store_true",
        help="(--cross mingw) rebuild from a copy of the source in a second directory, without "
        "any compile cache, and require a byte-identical repaired wheel",
    )


def cross_of(args: argparse.Namespace, env: Mapping[str, str]) -> str | None:
    """--cross, or MLC_CI_CROSS where a CI job sets it (as MLC_CI_PUSH stands for --push)."""
    given = env.get("MLC_CI_CROSS", "").strip()
    if args.cross or not given:
        return args.cross
    if given != "mingw":
        raise PipelineError(
            f"MLC_CI_CROSS={given!r} names no cross build; set it to mingw, or unset it for the "
            "native MSVC build."
        )
    return given


def plan(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> Plan:
    """The Windows wheel: native MSVC on Windows, or `--cross mingw` on Linux."""
    variant = config.variant(args.variant)
    if not variant.windows:
        raise PipelineError(
            f"variant '{variant.name}' is not built for Windows ([variants.{variant.name}]"
            ".windows = false); pick another variant."
        )
    variant = variant.on_windows()
    cross = cross_of(args, env)
    if args.check_reproducible and not cross:
        raise PipelineError(
            "--check-reproducible compares two MinGW cross builds; add `--cross mingw`, or drop "
            "the flag for the MSVC build."
        )
    # A dry run too: it shows what a run would do, and a run stops here first.
    require_source(config)
    wheel_steps.check_config_table(config, variant.on_windows())
    layout = wheel_steps.Layout(config, variant, args.out, "wheels-windows")
    version = wheel_steps.source_version(config, env)
    if cross:
        return _cross_plan(args, config, (variant, version), layout, env)
    if sys.platform != "win32" and not args.dry_run:
        raise PipelineError(
            "wheels-windows builds natively on Windows only; on Linux use `--cross mingw`, "
            "or `--dry-run` to see the Windows plan."
        )
    return _msvc_plan(config, (variant, version), layout, env)


def _cross_plan(args, config: Config, built, layout, env) -> Plan:
    variant, version = built
    if variant.is_cuda:
        raise PipelineError(
            f"variant '{variant.name}' needs CUDA, which MinGW cannot build; cross-build "
            "a CPU or Vulkan variant, or build natively on Windows."
        )
    if not config.wheel.mingw_toolchain:
        raise PipelineError(
            f"{config.path} sets no [wheel].mingw_toolchain; point it at a CMake toolchain "
            "file for x86_64-w64-mingw32 to use --cross mingw."
        )
    if not args.dry_run and not host.has_tool(windows.MINGW_CXX, env):
        raise PipelineError(
            f"MinGW-w64 ({windows.MINGW_CXX}) is not installed; "
            "apt-get install g++-mingw-w64-x86-64-posix."
        )
    toolchain = str(config.source_dir / config.wheel.mingw_toolchain)
    if not Path(toolchain).is_file():
        raise PipelineError(
            f"[wheel].mingw_toolchain names {toolchain}, which does not exist; point it at the "
            f"CMake toolchain file (relative to the source, {config.source_dir})."
        )
    env_at = _defined(_cross_env(config, layout, (version, toolchain), env), variant, env)
    base_dir = os.path.commonpath([str(config.source_dir), str(layout.cmake_build)])
    build_env = env_at(base_dir, host.has_tool("ccache", env))
    before, after, _ = wheel_steps.ccache_steps(config, env, build_env)
    runtime = [str(layout.runtime / dll) for dll in windows.MINGW_RUNTIME]
    steps = [
        Step(
            "prepare source and staging",
            action=wheel_steps.prepare(config, variant, layout, version),
        ),
        Step(
            "collect the MinGW runtime DLLs",
            action=_collect_mingw_runtime(layout.runtime),
            reads=((windows.MINGW_CXX,),),
        ),
        # Debian's DLLs carry debug info (libstdc++-6.dll: ~24 MB); stripped copies get grafted.
        # --preserve-dates keeps each DLL's own PE timestamp: without it strip writes the current
        # time, and the pair's wheel, released once at its version, differs at every build.
        Step(
            "strip the runtime DLLs",
            (windows.MINGW_STRIP, "--strip-unneeded", "--preserve-dates", *runtime),
        ),
        *before,
        *pair_steps.fetch_first(config, variant, layout, _keep(layout)),
        *_pair_build((config, variant, layout, env), build_env, ([str(layout.runtime)], ":")),
        _build_step(config, variant, layout, build_env),
        *after,
        Step("locate built wheel", action=wheel_steps.locate(layout.raw, "wheel")),
    ]
    steps += _repair_steps(config, built, layout, [str(layout.runtime)], "mingw", ":")
    steps.append(Step("check the stamped version", action=wheel_steps.check_version(version)))
    if config.pair.enabled:
        steps += pair_steps.after_build(config, variant, layout, _keep(layout))
        steps.append(dll_pairing.gate_step(config, variant, _keep(layout)))
    if args.check_reproducible:
        repair_for = _delvewheel_into(_repair_options(config, variant, [str(layout.runtime)], ":"))
        envs = (env_at, windows.repair_env(version.epoch))
        steps += reproducible.steps(
            config,
            layout,
            envs,
            ("delvewheel", repair_for),
            _keep(layout),
            tidy=load_order.sort_step,
        )
    wine = host.find_wine(env)
    how = "cross-compiled with MinGW-w64 on Linux"
    if wine:
        steps += _wine_steps(config, layout, wine)
        how += "; DLLs load-tested under wine"
    else:
        how += "; no wine64 here, so the DLLs are not load-tested"
    steps += wheel_steps.publish_steps(config, variant, layout)
    return _plan(config, variant, steps, how)


def _cross_env(config: Config, layout, probed, env: Mapping[str, str]):
    """The cross build's environment for a base directory (the checkout, or the rebuild's
    copy), with or without ccache."""
    version, toolchain = probed

    def env_at(base_dir: str, ccache: bool) -> dict[str, str]:
        return {
            **wheels.build_env(
                ccache_dir=str(layout.ccache) if ccache else None,
                jobs=host.jobs(env),
                cuda_home=None,
                pins=config.project.build_requires,
                base_dir=base_dir,
                epoch=version.epoch,
                map_prefix=env,
            ),
            **windows.cross_env(toolchain),
        }

    return env_at


def _defined(env_at, variant: Variant, host_env: Mapping[str, str]):
    """env_at with the variant's CMake definitions in CMAKE_ARGS (the rebuild check's too)."""

    def at(base_dir: str, ccache: bool) -> dict[str, str]:
        defines = wheels.define_args(variant.cmake_define)
        return wheels.with_cmake_args(env_at(base_dir, ccache), host_env, defines)

    return at


def _keep(layout) -> str:
    return f"the unrepaired wheel stays in {layout.raw}; nothing was copied to {layout.out}"


def _pair_build(where, build_env, search) -> list[Step]:
    """The paired runtime wheel, built and delvewheel-repaired like the project's."""
    config, variant, layout, env = where
    if not config.pair_source:
        return []
    add_path, pathsep = search
    repair_for = _delvewheel_into(windows.delvewheel_args(add_path, (), pathsep))
    build = (build_env, wheel_steps.host_build(config))
    return pair_steps.build_steps(
        config,
        variant,
        layout,
        build,
        (repair_for, windows.repair_env(None)),
        _keep(layout),
        env=env,
        tidy=load_order.sort_step,
    )


def _dll_excludes(config: Config, variant: Variant) -> tuple[str, ...]:
    """delvewheel --exclude: the variant's, and the DLLs the paired runtime wheel provides."""
    pair = [name for name in config.pair.libraries if name.lower().endswith(".dll")]
    return tuple(dict.fromkeys((*variant.delvewheel_exclude, *pair)))


def _wine_steps(config: Config, layout, wine: str) -> list[Step]:
    """Load every package DLL of the repaired wheel under wine, with the grafted DLLs only."""
    unpacked = layout.stage / "unpacked"
    loader = str(layout.stage / "dllcheck.exe")
    keep = f"the unrepaired wheel stays in {layout.raw}; nothing was copied to {layout.out}"
    wine_env = {"WINEDEBUG": "-all", "WINEPREFIX": str(layout.stage / "wineprefix")}
    return [
        # A first wine start creates the prefix while it runs the program; done apart, the load
        # check below always starts in a finished prefix.
        Step("create the wine prefix", (wine, "wineboot", "--init"), env=wine_env),
        Step(
            "compile the DLL loader",
            (
                windows.MINGW_CC,
                "-O2",
                "-o",
                loader,
                str(Path(__file__).parent.parent / "data" / "dllcheck.c"),
            ),
        ),
        Step("unpack the repaired wheel", action=_unpack(unpacked, config)),
        Step(
            "load the package DLLs under wine",
            (wine, loader, Ref("dll_search"), Ref("dll_packages")),
            env=wine_env,
            on_fail=keep,
        ),
    ]


def _unpack(target: Path, config: Config):
    """Unpack the wheel (and the paired runtime wheel beside it, as one site-packages) and name
    the folders the DLL loader searches and loads, the pair's package first."""

    def action(ctx: Context) -> None:
        shutil.rmtree(target, ignore_errors=True)
        wheels_ = [ctx["pair"], ctx["repaired"]] if config.pair.enabled else [ctx["repaired"]]
        search, packages = [], []
        for wheel in wheels_:
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(target)
                names = archive.namelist()
            libs = {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".libs")}
            dlls = {
                n.rsplit("/", 1)[0]
                for n in names
                if n.lower().endswith(".dll") and ".libs/" not in n
            }
            search += [str(target / d) for d in sorted(libs)]
            packages += [str(target / d) for d in sorted(dlls)]
        search += packages[:-1]  # the pair's package: where its DLL is found by name
        ctx["dll_search"] = ";".join(windows.wine_path(d) for d in search)
        ctx["dll_packages"] = ";".join(windows.wine_path(d) for d in packages)

    return action


def _msvc_plan(config: Config, built, layout, env) -> Plan:
    variant, version = built
    cuda = _cuda_source(variant, env)
    home = cuda.home if cuda else None
    generator = "Ninja" if host.has_tool("ninja", env) else windows.VS_GENERATOR
    build_env = {"CMAKE_BUILD_PARALLEL_LEVEL": str(host.jobs(env))}
    if version.epoch is not None:
        build_env["SOURCE_DATE_EPOCH"] = str(version.epoch)
    # ccache (4.6+) caches MSVC and nvcc through CMake's launchers, which only the Ninja
    # generator honours.
    use_ccache = generator == "Ninja" and host.has_tool("ccache", env)
    if use_ccache:
        build_env.update(
            wheels.build_env(
                ccache_dir=str(layout.ccache),
                jobs=host.jobs(env),
                cuda_home=None,
                pins=config.project.build_requires,
                base_dir=os.path.commonpath([str(config.source_dir), str(layout.cmake_build)]),
                epoch=version.epoch,
            )
        )
    build_env.update(windows.msvc_env(generator, home))
    build_env = wheels.with_cmake_args(build_env, env, wheels.define_args(variant.cmake_define))
    before, after, _ = (
        wheel_steps.ccache_steps(config, env, build_env) if use_ccache else ([], [], [])
    )
    keep = _keep(layout)
    add = windows.add_paths(variant, home)
    steps = [
        Step(
            "prepare source and staging",
            action=wheel_steps.prepare(config, variant, layout, version),
        ),
        Step(
            "allow long paths in the source checkout",
            ("git", "-C", str(config.source_dir), "config", "core.longpaths", "true"),
        ),
        *(_cuda_install_steps(variant, cuda, layout) if cuda and cuda.install else []),
        Step(
            "load the MSVC environment (vswhere + vcvars64.bat)",
            action=_load_msvc,
            reads=(windows.vswhere_argv(), ("cmd", "/s", "/c")),
        ),
        *before,
        *pair_steps.fetch_first(config, variant, layout, _keep(layout)),
        *_pair_build((config, variant, layout, env), build_env, (add, ";")),
        _build_step(config, variant, layout, build_env),
        *after,
        Step("locate built wheel", action=wheel_steps.locate(layout.raw, "wheel")),
    ]
    steps += _repair_steps(config, built, layout, add, "msvc", ";")
    steps.append(Step("check the stamped version", action=wheel_steps.check_version(version)))
    if config.pair.enabled:
        steps += pair_steps.after_build(config, variant, layout, keep)
        steps.append(dll_pairing.gate_step(config, variant, keep))
    steps += wheel_steps.smoke_steps(config, variant, layout, keep, scripts="Scripts")
    steps += wheel_steps.publish_steps(config, variant, layout)
    how = f"native MSVC build, CMake generator {generator}" + (f"; {cuda.note}" if cuda else "")
    plan_ = _plan(config, variant, steps, how)
    plan_.data["add_path"] = add
    return plan_


def _cuda_source(variant: Variant, env: Mapping[str, str]) -> windows.CudaSource | None:
    """Probe the host's CUDA toolkit and its version; None for a variant without CUDA."""
    if not variant.is_cuda:
        return None
    home = host.cuda_home(env)
    return windows.cuda_source(variant, home, host.nvcc_version(home))


def _cuda_install_steps(variant: Variant, cuda: windows.CudaSource, layout) -> list[Step]:
    """Download NVIDIA's installer (checked against its pin), install the variant's CUDA
    subpackages silently, then require the nvcc of that version where it was installed."""
    spec = variant.windows_cuda
    installer = layout.stage / "cuda" / windows.installer_name(spec.installer)

    def download(ctx: Context) -> None:
        del ctx
        net.download(spec.installer, installer, spec.sha256)

    def check(ctx: Context) -> None:
        del ctx
        found = host.nvcc_version(cuda.home)
        if found != variant.cuda:
            raise PipelineError(
                f"the CUDA installer left {'nvcc ' + found if found else 'no nvcc'} in "
                f"{cuda.home}, not CUDA {variant.cuda}; run `{installer} -s` by hand to see "
                f"why, or check [variants.{variant.name}.windows_cuda]."
            )

    return [
        Step(
            f"download the CUDA {variant.cuda} installer {spec.installer} "
            f"(sha256 {spec.sha256})",
            action=download,
        ),
        Step(
            f"install CUDA {variant.cuda} ({', '.join(spec.components)})",
            windows.cuda_install_argv(str(installer), variant),
        ),
        Step(
            f"check nvcc {variant.cuda} in {cuda.home}",
            action=check,
            reads=((f"{cuda.home}/bin/nvcc", "--version"),),
        ),
    ]


def _plan(config: Config, variant: Variant, steps: list[Step], how: str) -> Plan:
    data = {"variant": variant.name, "distribution": variant.distribution, "how": how}
    cleanup = [Step("restore source tree", action=wheel_steps.restore())]
    notes = [how, *wheel_steps.edit_notes(config, variant)]
    name = rel.report_key("wheels-windows", config.project.name, variant.name)
    return Plan(name, steps, data, cleanup, notes)


def _build_step(config: Config, variant: Variant, layout, env: dict[str, str]) -> Step:
    argv = wheel_steps.host_build(config)(
        str(config.source_dir), str(layout.raw), str(layout.cmake_build), env
    )
    return Step(f"build {variant.distribution} wheel", argv, env=env)


def _delvewheel_into(options: tuple[str, ...]) -> wheel_steps.RepairFor:
    """`delvewheel repair` with these options, for an output directory and a wheel."""

    def repair_for(out_dir: str, wheel: Ref) -> tuple[str, ...]:
        return windows.repair_argv(options, out_dir, wheel)

    return repair_for


def _repair_options(config, variant, add_path, pathsep) -> tuple[str, ...]:
    return windows.delvewheel_args(add_path, _dll_excludes(config, variant), pathsep)


def _repair_steps(config, built, layout, add_path, toolchain, pathsep) -> list[Step]:
    variant, version = built
    excludes = _dll_excludes(config, variant)
    options = _repair_options(config, variant, add_path, pathsep)
    keep = f"the unrepaired wheel stays in {layout.raw}; nothing was copied to {layout.out}"
    expected = windows.expected_files(config, variant, toolchain)
    return [
        Step(
            "delvewheel show (what must be grafted)",
            windows.show_argv(options, Ref("wheel")),
            capture=True,
            save_as="delvewheel_show",
        ),
        Step("check every needed DLL was found", action=_check_show(add_path, keep)),
        Step(
            "delvewheel repair",
            windows.repair_argv(options, str(layout.repaired), Ref("wheel")),
            env=windows.repair_env(version.epoch),
            on_fail=keep,
        ),
        Step("locate repaired wheel", action=wheel_steps.locate(layout.repaired, "repaired")),
        load_order.sort_step("repaired", keep),
        Step(
            "check tag, grafted DLLs and contents",
            action=_verify(expected, excludes, keep),
        ),
    ]


def _collect_mingw_runtime(target: Path):
    def action(ctx: Context) -> None:
        del ctx
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for dll in windows.MINGW_RUNTIME:
            found = capture((windows.MINGW_CXX, f"-print-file-name={dll}")).strip()
            if not os.path.isabs(found) or not os.path.isfile(found):
                raise PipelineError(
                    f"the MinGW runtime {dll} was not found next to {windows.MINGW_CXX}; "
                    "reinstall g++-mingw-w64-x86-64-posix."
                )
            shutil.copy2(found, target / dll)

    return action


def _load_msvc(ctx: Context) -> None:
    """Take the environment of vcvars64.bat unless a developer prompt already provides cl."""
    if shutil.which("cl"):
        return
    if not os.path.isfile(windows.VSWHERE):
        raise PipelineError(
            "MSVC was not found; install Visual Studio Build Tools 2022 with the "
            '"Desktop development with C++" workload, or run from a Developer Command Prompt.'
        )
    install = capture(windows.vswhere_argv()).strip()
    vcvars = Path(install) / "VC" / "Auxiliary" / "Build" / "vcvars64.bat"
    if not install or not vcvars.is_file():
        raise PipelineError(
            "Visual Studio has no x64 C++ tools (vcvars64.bat missing); add the "
            '"Desktop development with C++" workload to Visual Studio Build Tools 2022.'
        )
    # cmd's own quoting: one command line, not an argv (capture passes a str as written).
    output = capture(f'cmd /s /c ""{vcvars}" >nul && set"', fix="repair Visual Studio")
    ctx["env"] = dict(windows.parse_set_output(output))


def _check_show(add_path: list[str], keep: str):
    def action(ctx: Context) -> None:
        shown = windows.parse_show(ctx["delvewheel_show"])
        if shown["missing"]:
            raise PipelineError(
                f"required DLL(s) {', '.join(shown['missing'])} not found on the add-path "
                f"({', '.join(add_path) or 'empty'}); add their folder to "
                f"[variants.<v>].delvewheel_add_path; {keep}."
            )
        ctx["needed"] = shown["copy"]
        ctx.setdefault("report", {})["excluded"] = shown["excluded"]

    return action


def _verify(expected: list[str], excluded: tuple[str, ...], keep: str):
    def action(ctx: Context) -> None:
        with zipfile.ZipFile(ctx["repaired"]) as archive:
            names = archive.namelist()
        name = Path(ctx["repaired"]).name
        problems = windows.verify_problems(names, name, ctx["needed"], expected, excluded)
        if problems:
            raise PipelineError(f"{name} failed verification: {'; '.join(problems)}; {keep}.")
        ctx.setdefault("report", {})["grafted"] = windows.grafted_dlls(names)

    return action


DEFINITION = SessionDef(
    "wheels-windows", "build, delvewheel-repair and verify the Windows wheel", add_arguments, plan
)
