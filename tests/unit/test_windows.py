"""wheels-windows planning: MSVC plans for the MLC-LLM variants, MinGW cross plans, delvewheel."""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from mlc_ci import config
from mlc_ci.errors import PipelineError
from mlc_ci.plan import windows
from mlc_ci.run import Runner
from mlc_ci.sessions import wheels_windows
from tests.conftest import load_mini_llm

pytestmark = pytest.mark.unit

# `delvewheel show --analyze-existing --ignore-existing` on a MinGW-built mini-llm wheel with no
# add-path, as printed by delvewheel 1.13.2.
SHOW_MISSING = """Analyzing mini_llm-0.1.0-py3-none-win_amd64.whl

The following DLLs will be copied into the wheel.
    libgcc_s_seh-1.dll (Error: Not Found)
    libwinpthread-1.dll (Error: Not Found)
    libstdc++-6.dll (/opt/rt/libstdc++-6.dll)

The following DLLs are already in the wheel and will not be copied.
    libmini_llm.dll (mini_llm-0.1.0-py3-none-win_amd64.whl/mini_llm/libmini_llm.dll)

The following DLLs are assumed to be present in the end user's environment and will not be copied into the wheel.
    kernel32.dll
    msvcrt.dll

Warning: At least one dependent DLL needs to be copied into the wheel but was not found.
"""


def args(**kw):
    """Parsed wheels-windows arguments."""
    return argparse.Namespace(
        **{
            "variant": None,
            "out": None,
            "cross": None,
            "dry_run": True,
            "check_reproducible": False,
            **kw,
        }
    )


@pytest.fixture(name="mlc")
def fixture_mlc(mlc_llm_config):
    return config.load(mlc_llm_config, env={})


@pytest.fixture(name="mini")
def fixture_mini(root):
    del root
    return load_mini_llm(env={})


def titles(plan):
    """Step titles of a plan."""
    return [s.title for s in plan.steps]


def step(plan, prefix):
    """The first step whose title starts with prefix."""
    return next(s for s in plan.steps if s.title.startswith(prefix))


def cuda_toolkit(home: Path, release: str) -> Path:
    """A toolkit at `home` whose nvcc answers `--version` as NVIDIA's does for `release`."""
    for part in ("bin/nvcc", "include/cuda_runtime.h"):
        (home / part).parent.mkdir(parents=True, exist_ok=True)
        (home / part).write_text("")
    nvcc = home / "bin" / "nvcc"
    nvcc.write_text(
        "#!/bin/sh\necho 'Cuda compilation tools, release " f"{release}, V{release}.93'\n"
    )
    nvcc.chmod(0o755)
    return home


def test_msvc_plan_for_cu128(mlc, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    home = cuda_toolkit(tmp_path / "cuda", "12.8")
    plan = wheels_windows.plan(args(variant="cu128"), mlc, {"CUDA_HOME": str(home), "PATH": ""})
    # The host's CUDA is the variant's: nothing is installed.
    assert not [t for t in titles(plan) if "CUDA 12.8" in t]
    assert plan.notes[0].endswith(f"; CUDA 12.8 at {home}")
    repair = step(plan, "delvewheel repair").argv
    build = step(plan, "build mlc-llm-cu128")
    assert repair[:4] == ("delvewheel", "repair", "--analyze-existing", "--ignore-existing")
    # The variant's exclude, then the DLLs of the paired TVM runtime wheel ([pair].libraries).
    want = (
        "nvcuda.dll:cudart64_12.dll:nvrtc64_120_0.dll:cublas64_12.dll:cublasLt64_12.dll:"
        "tvm_ffi.dll:vulkan-1.dll:tvm.dll:tvm_runtime.dll:tvm_runtime_extra.dll"
    )
    assert repair[repair.index("--exclude") + 1] == want
    assert plan.data["add_path"] == [f"{home}/bin"]
    assert repair[repair.index("--add-path") + 1] == f"{home}/bin"
    assert build.env["CUDACXX"] == f"{home}\\bin\\nvcc.exe"
    assert build.env["CMAKE_GENERATOR"] == windows.VS_GENERATOR
    assert "load the MSVC environment (vswhere + vcvars64.bat)" in titles(plan)
    assert "allow long paths in the source checkout" in titles(plan)
    assert any(t.startswith("smoke: python -m mlc_llm.cli.check_device cuda") for t in titles(plan))


@pytest.mark.parametrize("release", [None, "13.0"])
def test_msvc_cu128_installs_its_cuda_where_the_host_has_another(mlc, tmp_path, release):
    env = {"CUDA_HOME": str(tmp_path / "cuda"), "PATH": ""}
    if release:
        cuda_toolkit(tmp_path / "cuda", release)
    plan = wheels_windows.plan(args(variant="cu128"), mlc, env)
    spec = mlc.variant("cu128").windows_cuda
    target = r"C:\Program Files\NVIDIA GPU Computing Toolkit\CUDA\v12.8"
    names = titles(plan)
    download = names.index(
        f"download the CUDA 12.8 installer {spec.installer} (sha256 {spec.sha256})"
    )
    install = step(plan, "install CUDA 12.8")
    # Installed before MSVC is loaded and the build starts, then checked before it is used.
    assert download + 1 == names.index(install.title)
    assert names[download + 2] == f"check nvcc 12.8 in {target}"
    assert names[download + 3] == "load the MSVC environment (vswhere + vcvars64.bat)"
    installer = install.argv[0]
    assert installer.endswith("/cuda/cuda_12.8.1_windows_network.exe")
    assert install.argv[1:] == (
        "-s",
        "nvcc_12.8",
        "cudart_12.8",
        "cublas_12.8",
        "cublas_dev_12.8",
        "nvrtc_12.8",
        "nvrtc_dev_12.8",
        "nvjitlink_12.8",
        "thrust_12.8",
        "cuda_profiler_api_12.8",
        "visual_studio_integration_12.8",
        "-n",
    )
    build = step(plan, "build mlc-llm-cu128")
    assert build.env["CUDA_PATH"] == target
    assert build.env["CUDACXX"] == target + r"\bin\nvcc.exe"
    assert plan.data["add_path"] == [target + "/bin"]
    have = f"nvcc {release} at {tmp_path / 'cuda'}" if release else "no CUDA toolkit"
    assert plan.notes[0].endswith(f"; {have}: CUDA 12.8 is installed by the session into {target}")


def test_cuda_source_without_an_installer_names_both_fixes(mlc):
    variant = dataclasses.replace(mlc.variant("cu128"), windows_cuda=config.WindowsCuda())
    with pytest.raises(PipelineError) as failed:
        windows.cuda_source(variant, r"C:\CUDA\v12.6", "12.6")
    assert str(failed.value) == (
        r"variant 'cu128' needs CUDA 12.8 and this host has nvcc 12.6 at C:\CUDA\v12.6; "
        "install CUDA 12.8 and set CUDA_PATH to it, or give [variants.cu128.windows_cuda] the "
        "installer to run."
    )
    assert windows.cuda_source(variant, r"C:\CUDA\v12.8", "12.8") == windows.CudaSource(
        r"C:\CUDA\v12.8", False, r"CUDA 12.8 at C:\CUDA\v12.8"
    )


def test_the_installed_cuda_is_checked_before_the_build(mlc):
    """After the installer, the plan requires nvcc of the variant's release where it installed:
    an installer that left none fails in one line before the build starts."""
    plan = wheels_windows.plan(args(variant="cu128"), mlc, {"CUDA_HOME": "/nowhere", "PATH": ""})
    with pytest.raises(PipelineError) as failed:
        step(plan, "check nvcc 12.8").action({})
    assert str(failed.value).startswith(
        r"the CUDA installer left no nvcc in C:\Program Files\NVIDIA GPU Computing Toolkit"
        r"\CUDA\v12.8, not CUDA 12.8; run `"
    )


def test_add_paths_use_the_cuda_home(mlc):
    assert windows.add_paths(mlc.variant("cu128"), r"C:\CUDA\v12.8") == [r"C:\CUDA\v12.8/bin"]
    assert windows.add_paths(mlc.variant("cu128"), None, ["x"]) == ["x"]
    assert not windows.add_paths(mlc.variant("vulkan"), None)


def test_msvc_vulkan_plan_with_ninja(mlc, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ninja = tmp_path / "bin" / "ninja"
    ninja.parent.mkdir()
    ninja.write_text("")
    ninja.chmod(0o755)
    plan = wheels_windows.plan(args(variant="vulkan"), mlc, {"PATH": str(ninja.parent)})
    assert step(plan, "build mlc-llm-vulkan").env["CMAKE_GENERATOR"] == "Ninja"
    repair = step(plan, "delvewheel repair").argv
    assert (
        repair[repair.index("--exclude") + 1]
        == "vulkan-1.dll:tvm_ffi.dll:tvm.dll:tvm_runtime.dll:tvm_runtime_extra.dll"
    )
    assert plan.notes[:2] == [
        "native MSVC build, CMake generator Ninja",
        "distribution renamed in pyproject.toml: mlc-llm -> mlc-llm-vulkan",
    ]
    assert plan.notes[2] == (
        "config.cmake (when CMakeLists.txt reads it): set(USE_CUDA OFF); set(USE_VULKAN ON)"
    )


def test_variant_not_for_windows_is_refused(mlc):
    with pytest.raises(PipelineError, match="'cu130' is not built for Windows"):
        wheels_windows.plan(args(variant="cu130"), mlc, {})


def test_native_build_on_linux_points_to_cross(mini):
    if wheels_windows.sys.platform == "win32":
        pytest.skip("this is the Linux path")
    with pytest.raises(PipelineError, match="use `--cross mingw`"):
        wheels_windows.plan(args(dry_run=False), mini, {})


def test_cross_plan_for_mini_llm(mini, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = wheels_windows.plan(args(cross="mingw"), mini, {})
    build = step(plan, "build mini-llm-cpu")
    assert build.env["_PYTHON_HOST_PLATFORM"] == "win-amd64"
    assert build.env["SKBUILD_CMAKE_ARGS"].endswith("cmake/mingw-w64-x86_64.toolchain.cmake")
    strip = step(plan, "strip the runtime DLLs").argv
    assert strip[0] == windows.MINGW_STRIP and strip[-1].endswith("libwinpthread-1.dll")
    assert "--add-path" in step(plan, "delvewheel show").argv


def test_mlc_ci_cross_stands_for_the_flag_and_a_wrong_value_names_the_fix(
    mini, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    plan = wheels_windows.plan(args(), mini, {"MLC_CI_CROSS": "mingw"})
    assert step(plan, "build mini-llm-cpu").env["_PYTHON_HOST_PLATFORM"] == "win-amd64"
    with pytest.raises(PipelineError, match="MLC_CI_CROSS='msvc'.*set it to mingw"):
        wheels_windows.plan(args(), mini, {"MLC_CI_CROSS": "msvc"})
    # The variable does not hide a Linux host's refusal of the native build when it is empty.
    if wheels_windows.sys.platform != "win32":
        with pytest.raises(PipelineError, match="use `--cross mingw`"):
            wheels_windows.plan(args(dry_run=False), mini, {"MLC_CI_CROSS": " "})


def test_cross_without_mingw_is_one_clear_error(mini, tmp_path):
    with pytest.raises(PipelineError, match="apt-get install g\\+\\+-mingw-w64-x86-64-posix"):
        wheels_windows.plan(args(cross="mingw", dry_run=False), mini, {"PATH": str(tmp_path)})


def test_cross_needs_a_toolchain_and_no_cuda(mlc, mini):
    with pytest.raises(PipelineError, match="sets no \\[wheel\\].mingw_toolchain"):
        wheels_windows.plan(args(cross="mingw"), mlc, {})
    cuda = config.Variant(name="cu", distribution="x", cuda="13.0")
    patched = config.Config(
        path=mini.path, project=mini.project, variants={"cu": cuda}, wheel=mini.wheel
    )
    with pytest.raises(PipelineError, match="MinGW cannot build"):
        wheels_windows.plan(args(cross="mingw", variant="cu"), patched, {})


def test_msvc_missing_is_named():
    if wheels_windows.shutil.which("cl"):
        pytest.skip("a Developer Command Prompt is active")
    with pytest.raises(PipelineError, match="Visual Studio Build Tools 2022"):
        wheels_windows._load_msvc({})  # pylint: disable=protected-access


def test_parse_show():
    shown = windows.parse_show(SHOW_MISSING)
    assert shown["copy"] == ["libgcc_s_seh-1.dll", "libwinpthread-1.dll", "libstdc++-6.dll"]
    assert shown["missing"] == ["libgcc_s_seh-1.dll", "libwinpthread-1.dll"]
    assert shown["existing"] == ["libmini_llm.dll"]
    assert shown["system"] == ["kernel32.dll", "msvcrt.dll"]


def test_parse_show_reads_the_excluded_section_and_tab_indents():
    text = (
        "Analyzing x.whl\n\n"
        "The following DLLs will be copied into the wheel.\n"
        "\tcudart64_12.dll (C:/CUDA/bin/cudart64_12.dll)\n"
        "The following DLLs are excluded and will not be copied.\n"
        "    nvcuda.dll\n"
        "    \n"
        "The following lines are something new.\n"
        "    ignored.dll\n"
        "stray.dll\n"
    )
    assert windows.parse_show(text) == {
        "copy": ["cudart64_12.dll"],
        "missing": [],
        "existing": [],
        "system": [],
        "excluded": ["nvcuda.dll"],
    }


def test_dll_not_found_stops_before_repair(mini, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = wheels_windows.plan(args(cross="mingw"), mini, {})
    runner = Runner(out=io.StringIO())
    runner.context["delvewheel_show"] = SHOW_MISSING
    with pytest.raises(
        PipelineError, match="libgcc_s_seh-1.dll, libwinpthread-1.dll not found on the add-path"
    ):
        runner.run(step(plan, "check every needed DLL"))
    assert not (tmp_path / "dist").exists()


@pytest.mark.parametrize(
    ("path", "toolchain", "name"),
    [
        ("mini_llm/libmini_llm.so", "mingw", "mini_llm/libmini_llm.dll"),
        ("mini_llm/libmini_llm.so", "msvc", "mini_llm/mini_llm.dll"),
        ("mlc_llm/libmlc_llm_module.so", "msvc", "mlc_llm/mlc_llm_module.dll"),
        ("x/libfoo.so.1.2", "mingw", "x/libfoo.dll"),
        ("mini_llm/cli.py", "msvc", "mini_llm/cli.py"),
    ],
)
def test_dll_names(path, toolchain, name):
    assert windows.dll_names(path, toolchain) == name


def test_verify_problems():
    names = ["pkg/libpkg.dll", "pkg.libs/libstdc++-6-abc123.dll", "pkg.libs/nvcuda.dll"]
    problems = windows.verify_problems(
        names,
        "pkg-1-py3-none-linux_x86_64.whl",
        ["libstdc++-6.dll", "libgcc_s_seh-1.dll"],
        ["pkg/a.dll"],
        ["nvcuda.dll"],
    )
    assert problems == [
        "wheel is tagged linux_x86_64, expected win_amd64",
        "libgcc_s_seh-1.dll was not grafted into the wheel",
        "expected file pkg/a.dll is missing",
        "excluded nvcuda.dll was packed into the wheel",
    ]


def test_verify_action_on_a_real_zip(mini, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = wheels_windows.plan(args(cross="mingw"), mini, {})
    wheel = tmp_path / "mini_llm_cpu-0.1.0-py3-none-win_amd64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name in ["mini_llm/__init__.py", "mini_llm_cpu.libs/libstdc++-6.dll"]:
            archive.writestr(name, "x")
    runner = Runner(out=io.StringIO())
    runner.context.update(repaired=str(wheel), needed=["libstdc++-6.dll"])
    with pytest.raises(PipelineError, match="expected file mini_llm/libmini_llm.dll is missing"):
        runner.run(step(plan, "check tag, grafted DLLs"))


def test_msvc_helpers():
    assert windows.vswhere_argv() == (
        windows.VSWHERE,
        "-latest",
        "-products",
        "*",
        "-requires",
        "Microsoft.VisualStudio.Component.VC.Tools.x86.x64",
        "-property",
        "installationPath",
    )
    assert windows.parse_set_output("PATH=C:\\x\nINCLUDE=a=b\n  junk\n") == {
        "PATH": "C:\\x",
        "INCLUDE": "a=b",
    }
    assert windows.msvc_env("Ninja", "C:\\cuda")["CUDACXX"] == "C:\\cuda\\bin\\nvcc.exe"
    assert windows.delvewheel_args([], [], ";") == ("--analyze-existing", "--ignore-existing")


def test_wine_helpers():
    assert windows.wine_path("/tmp/x/mini_llm") == "Z:\\tmp\\x\\mini_llm"
    assert windows.libs_dir("mini-llm-cpu") == "mini_llm_cpu.libs"


def test_cross_plan_load_tests_under_wine_when_present(mini, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    wine = tmp_path / "bin" / "wine64"
    wine.parent.mkdir()
    wine.write_text("")
    wine.chmod(0o755)
    plan = wheels_windows.plan(args(cross="mingw"), mini, {"PATH": str(wine.parent)})
    load = step(plan, "load the package DLLs under wine")
    assert load.argv[0] == str(wine)
    # Both wheels unpacked as one site-packages: the pair's package loads first, and every
    # grafted-DLL folder (and the pair's package) is searched.
    ctx = {"pair": str(tmp_path / "pair.whl"), "repaired": str(tmp_path / "main.whl")}
    for wheel, names in (
        (ctx["pair"], ["tiny_runtime/libtiny_runtime.dll", "tiny_runtime.libs/libstdc++-6.dll"]),
        (ctx["repaired"], ["mini_llm/libmini_llm.dll", "mini_llm_cpu.libs/libgcc_s_seh-1.dll"]),
    ):
        with zipfile.ZipFile(wheel, "w") as archive:
            for name in names:
                archive.writestr(name, b"MZ")
    step(plan, "unpack the repaired wheel").action(ctx)
    packages = ctx["dll_packages"].split(";")
    assert [p.rsplit("\\", 1)[-1] for p in packages] == ["tiny_runtime", "mini_llm"]
    searched = [p.rsplit("\\", 1)[-1] for p in ctx["dll_search"].split(";")]
    assert searched == ["tiny_runtime.libs", "mini_llm_cpu.libs", "tiny_runtime"]
    prefix = step(plan, "create the wine prefix")
    assert prefix.argv == (str(wine), "wineboot", "--init") and prefix.env == load.env
    order = titles(plan)
    assert order.index("create the wine prefix") < order.index(load.title)
    assert plan.notes[0].endswith("DLLs load-tested under wine")


def test_msvc_with_ninja_and_ccache_uses_the_shared_cache(mlc, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("ninja", "ccache"):
        (tools / name).write_text("#!/bin/sh\n")
        (tools / name).chmod(0o755)
    cfg = config.load(mlc.path, env={"MLC_CI_CACHE_REMOTE": "redis://127.0.0.1:6379"})
    plan = wheels_windows.plan(args(variant="cpu"), cfg, {"PATH": str(tools)})
    build = step(plan, "build mlc-llm-cpu")
    assert build.env["CMAKE_CXX_COMPILER_LAUNCHER"] == "ccache"
    assert build.env["CMAKE_GENERATOR"] == "Ninja"
    order = titles(plan)
    built = order.index("build mlc-llm-cpu wheel")
    assert (
        order.index("connect the shared compile cache") < built < order.index("ccache statistics")
    )


def test_stripped_runtime_dlls_keep_their_pe_timestamps(mini, tmp_path, monkeypatch):
    # The pair's wheel is released once at its version: its grafted runtime DLLs must come out
    # of strip the same at every build (strip writes the current time without --preserve-dates).
    if not shutil.which(windows.MINGW_CXX):
        pytest.skip(f"no MinGW-w64 ({windows.MINGW_CXX}) here")
    monkeypatch.chdir(tmp_path)
    plan = wheels_windows.plan(args(cross="mingw", dry_run=False), mini, dict(os.environ))
    strip = step(plan, "strip the runtime DLLs")
    dlls = [Path(arg) for arg in strip.argv if arg.endswith(".dll")]
    assert sorted(dll.name for dll in dlls) == sorted(windows.MINGW_RUNTIME)
    stripped = []
    for attempt in range(2):
        runner = Runner(out=io.StringIO())
        runner.run(step(plan, "collect the MinGW runtime DLLs"))
        originals = {dll.name: pe_timestamp(dll.read_bytes()) for dll in dlls}
        if attempt:
            for dll in dlls:  # copies made at another time than the first ones
                os.utime(dll, (1_600_000_000, 1_600_000_000))
        runner.run(strip)
        stripped.append({dll.name: dll.read_bytes() for dll in dlls})
        assert {dll.name: pe_timestamp(dll.read_bytes()) for dll in dlls} == originals
    assert stripped[0] == stripped[1]
    assert all(len(data) < 10_000_000 for data in stripped[0].values())  # stripped indeed


def pe_timestamp(data: bytes) -> int:
    """TimeDateStamp of a PE file's COFF header (after the 'PE\\0\\0' signature)."""
    header = int.from_bytes(data[0x3C:0x40], "little")
    assert data[header : header + 4] == b"PE\0\0"
    return int.from_bytes(data[header + 8 : header + 12], "little")


def test_cross_plan_checks_reproducibility_with_the_same_repair(mini, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = wheels_windows.plan(args(cross="mingw", check_reproducible=True), mini, {})
    order = titles(plan)
    first, again = step(plan, "delvewheel repair"), step(plan, "delvewheel repair the rebuild")
    # The rebuild is repaired as the first build was, into its own directory.
    assert first.argv[:-3] == again.argv[:-3] and again.env == first.env
    assert again.argv[-1] == "{rebuilt_wheel}" and again.argv[-2] != first.argv[-2]
    assert first.env["PYTHONHASHSEED"] == "0"
    # Each repaired wheel has its .load-order sorted before the two are compared.
    sort = "sort delvewheel's .load-order (one order for every repair)"
    at = [i for i, title in enumerate(order) if title == sort]
    assert [order[i - 1] for i in at] == [
        "locate repaired tiny-runtime wheel",  # the pair, repaired the same way
        "locate repaired wheel",
        "locate the repaired rebuild",
    ]
    assert at[-1] < order.index("compare the two repaired wheels")
    rebuild = step(plan, "rebuild in a second directory")
    assert rebuild.env["CCACHE_DISABLE"] == "1"
    assert (
        rebuild.env["SKBUILD_CMAKE_ARGS"]
        == step(plan, "build mini-llm-cpu").env["SKBUILD_CMAKE_ARGS"]
    )  # the same MinGW toolchain file
    assert order.index("compare the two repaired wheels") < order.index(plan.steps[-1].title)
    assert "compare the two repaired wheels" not in titles(
        wheels_windows.plan(args(cross="mingw"), mini, {})
    )


def test_reproducibility_check_needs_the_cross_build(mlc):
    with pytest.raises(PipelineError, match="add `--cross mingw`"):
        wheels_windows.plan(args(check_reproducible=True), mlc, {})


def test_the_delvewheel_commands_and_environment_are_exact():
    options = windows.delvewheel_args(["C:/a", "C:/b"], ["nvcuda.dll", "x.dll"], ";")
    assert options == (
        "--analyze-existing",
        "--ignore-existing",
        "--add-path",
        "C:/a;C:/b",
        "--exclude",
        "nvcuda.dll:x.dll",
    )
    assert windows.delvewheel_args([], [], ":") == ("--analyze-existing", "--ignore-existing")
    assert windows.show_argv(("-v",), "w.whl") == ("delvewheel", "show", "-v", "w.whl")
    assert windows.repair_argv(("-v",), "out", "w.whl") == (
        "delvewheel",
        "repair",
        "-v",
        "-w",
        "out",
        "w.whl",
    )
    assert windows.repair_env(None) == {"PYTHONHASHSEED": "0"}
    assert windows.repair_env(0) == {"PYTHONHASHSEED": "0", "SOURCE_DATE_EPOCH": "0"}


def test_a_repaired_windows_wheel_is_checked_exactly():
    names = [
        "demo/__init__.py",
        "demo_cpu.libs/libstdc++-6-0a1b2c.dll",
        "demo_cpu.libs/LIBGCC_S_SEH-1.DLL",
        "demo_cpu.libs/nvcuda.dll",
        "demo_cpu.libs/readme.txt",
        "demo/libdemo.dll",
    ]
    assert windows.grafted_dlls(names) == [
        "demo_cpu.libs/LIBGCC_S_SEH-1.DLL",
        "demo_cpu.libs/libstdc++-6-0a1b2c.dll",
        "demo_cpu.libs/nvcuda.dll",
    ]
    problems = windows.verify_problems(
        names,
        "demo_cpu-0.1.0-py3-none-linux_x86_64.whl",
        # A mangled name matches its stem; a name that only shares a prefix does not.
        ["libstdc++-6.dll", "libgcc_s_seh-1.dll", "libwinpthread-1.dll", "libstdc.dll"],
        ["demo/libdemo.dll", "demo/cli.py"],
        ["NVCUDA.dll"],
    )
    assert problems == [
        "wheel is tagged linux_x86_64, expected win_amd64",
        "libwinpthread-1.dll was not grafted into the wheel",
        "libstdc.dll was not grafted into the wheel",
        "expected file demo/cli.py is missing",
        "excluded nvcuda.dll was packed into the wheel",
    ]
    assert windows.verify_problems(names[:1], "d-1-py3-none-win_amd64.whl", [], [], []) == []


def test_the_small_windows_helpers_are_exact():
    assert windows.wine_path("/tmp/a b/c") == "Z:\\tmp\\a b\\c"
    assert windows.libs_dir("Mini-LLM_cpu.x") == "Mini_LLM_cpu_x.libs"
    assert windows.libs_dir("a--b") == "a_b.libs"
    assert windows.cross_env("/t/mingw.cmake") == {
        "_PYTHON_HOST_PLATFORM": "win-amd64",
        "SKBUILD_CMAKE_ARGS": "-DCMAKE_TOOLCHAIN_FILE=/t/mingw.cmake",
    }
    assert windows.msvc_env("Ninja", None) == {"CMAKE_GENERATOR": "Ninja"}
    assert windows.msvc_env("Ninja", "C:\\CUDA") == {
        "CMAKE_GENERATOR": "Ninja",
        "CUDA_PATH": "C:\\CUDA",
        "CUDACXX": "C:\\CUDA\\bin\\nvcc.exe",
    }
    assert windows.installer_name("https://h/x/cuda_12.8.1_windows_network.exe?t=1") == (
        "cuda_12.8.1_windows_network.exe"
    )
    assert windows.cuda_install_dir("12.8") == (
        "C:\\Program Files\\NVIDIA GPU Computing Toolkit\\CUDA\\v12.8"
    )
    assert windows.parse_set_output("A=1\n B=2\n=C\nD=x=y\nnoequals\nE=\n") == {
        "A": "1",
        "D": "x=y",
        "E": "",
    }


def test_delvewheel_show_sections_are_read_by_their_headers():
    text = (
        "Analyzing demo-0.1-py3-none-win_amd64.whl\n\n"
        "The following DLLs will be copied into the wheel.\n"
        "    libstdc++-6.dll (C:\\mingw\\libstdc++-6.dll)\n"
        "    libmissing.dll (Not Found)\n"
        "\t\n"
        "The following DLLs are already in the wheel.\n"
        "    demo.dll\n"
        "The following DLLs are assumed to be present in the end user's environment.\n"
        "    KERNEL32.dll\n"
        "The following DLLs will not be copied because they were excluded.\n"
        "    nvcuda.dll\n"
        "The following is something else.\n"
        "    ignored.dll\n"
        "not indented.dll\n"
    )
    assert windows.parse_show(text) == {
        "copy": ["libstdc++-6.dll", "libmissing.dll"],
        "missing": ["libmissing.dll"],
        "existing": ["demo.dll"],
        "system": ["KERNEL32.dll"],
        "excluded": ["nvcuda.dll"],
    }
