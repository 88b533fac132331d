"""Pure planning for Windows wheels: MSVC or MinGW builds, delvewheel repair and its checks."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Iterable, Mapping

from mlc_ci.config import Config, Variant
from mlc_ci.errors import PipelineError

# What a MinGW-w64 (posix threads) C++ DLL needs at run time beyond Windows itself.
MINGW_RUNTIME = ("libstdc++-6.dll", "libgcc_s_seh-1.dll", "libwinpthread-1.dll")
MINGW_CXX = "x86_64-w64-mingw32-g++-posix"
MINGW_CC = "x86_64-w64-mingw32-gcc-posix"
MINGW_STRIP = "x86_64-w64-mingw32-strip"
VSWHERE = r"C:\Program Files (x86)\Microsoft Visual Studio\Installer\vswhere.exe"
VS_GENERATOR = "Visual Studio 17 2022"
WHEEL_TAG = "win_amd64"
# Where NVIDIA's Windows installer puts CUDA X.Y (v12.8 beside any other version).
CUDA_ROOT = r"C:\Program Files\NVIDIA GPU Computing Toolkit\CUDA"


def dll_names(path: str, toolchain: str) -> str:
    """The Windows name of a Linux library path: MinGW keeps the lib prefix, MSVC drops it."""
    posix = PurePosixPath(path)
    match = re.fullmatch(r"(lib)?(.+?)\.so(\.[0-9.]+)?", posix.name)
    if not match:
        return path
    stem = (match.group(1) or "") + match.group(2) if toolchain == "mingw" else match.group(2)
    return str(posix.with_name(f"{stem}.dll"))


def expected_files(config: Config, variant: Variant, toolchain: str) -> list[str]:
    """The wheel's expected files with Windows library names."""
    files = (*config.wheel.expected_files, *variant.expected_files)
    return [dll_names(path, toolchain) for path in files]


def add_paths(variant: Variant, cuda_home: str | None, extra: Iterable[str] = ()) -> list[str]:
    """delvewheel --add-path entries: the variant's (with {cuda_home}) then the toolchain's."""
    paths = []
    for entry in variant.delvewheel_add_path:
        if "{cuda_home}" in entry and not cuda_home:
            continue
        paths.append(entry.replace("{cuda_home}", cuda_home or ""))
    return [*paths, *extra]


def delvewheel_args(
    add_path: Iterable[str], excludes: Iterable[str], pathsep: str
) -> tuple[str, ...]:
    """Options shared by `delvewheel show` and `repair`.

    --analyze-existing makes delvewheel look at the DLLs the package loads with ctypes (it
    otherwise only analyses extension modules); --ignore-existing keeps the project's own DLLs
    where they are instead of searching for them outside the wheel.
    """
    argv = ["--analyze-existing", "--ignore-existing"]
    paths = pathsep.join(add_path)
    if paths:
        argv += ["--add-path", paths]
    names = ":".join(excludes)
    if names:
        argv += ["--exclude", names]
    return tuple(argv)


def show_argv(options: tuple[str, ...], wheel: str) -> tuple[str, ...]:
    """`delvewheel show`: what would be grafted, and what cannot be found."""
    return ("delvewheel", "show", *options, wheel)


def repair_argv(options: tuple[str, ...], out_dir: str, wheel: str) -> tuple[str, ...]:
    """`delvewheel repair` into out_dir."""
    return ("delvewheel", "repair", *options, "-w", out_dir, wheel)


def repair_env(epoch: int | None) -> dict[str, str]:
    """The environment of `delvewheel repair` that makes its wheel reproducible.

    A fixed PYTHONHASHSEED fixes delvewheel's string hashing; SOURCE_DATE_EPOCH (the version's
    commit time) dates the zip entries. The `.load-order-*` file still needs sorting
    (`sorted_load_order`).
    """
    env = {"PYTHONHASHSEED": "0"}
    if epoch is not None:
        env["SOURCE_DATE_EPOCH"] = str(epoch)
    return env


def is_load_order(member: str) -> bool:
    """Whether a wheel member is delvewheel's `<name>.libs/.load-order-<dist>-<version>`."""
    return PurePosixPath(member).name.startswith(".load-order-")


def sorted_load_order(data: bytes) -> bytes:
    """The `.load-order-*` file with its DLL names sorted.

    delvewheel writes the names from a set whose slots follow the paths of that repair (its
    temporary directory among them), so even with a fixed PYTHONHASHSEED two repairs of one
    wheel can list them in two orders. delvewheel documents the order as meaningless: every
    listed DLL is loaded before the package, so sorting changes nothing at run time.
    """
    names = data.decode("utf-8").split()
    return "".join(f"{name}\n" for name in sorted(names)).encode("utf-8")


def record_entry(member: str, data: bytes) -> str:
    """The RECORD line of a wheel member (PEP 376: urlsafe base64 sha256, no padding)."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{member},sha256={digest},{len(data)}"


def record_with(record: bytes, member: str, data: bytes) -> bytes:
    """RECORD with the line of `member` remade for its new contents; the rest byte for byte."""
    lines = record.decode("utf-8").splitlines(keepends=True)
    found = False
    for index, line in enumerate(lines):
        if line.split(",", 1)[0] == member:
            ending = line[len(line.rstrip("\r\n")) :]
            lines[index] = record_entry(member, data) + ending
            found = True
    if not found:
        raise PipelineError(
            f"the wheel's RECORD does not list {member}; the repaired wheel is damaged: "
            "repair the wheel again."
        )
    return "".join(lines).encode("utf-8")


def parse_show(text: str) -> dict[str, list[str]]:
    """Sections of `delvewheel show` output: to copy, missing, in the wheel, system, excluded."""
    sections: dict[str, list[str]] = {
        "copy": [],
        "missing": [],
        "existing": [],
        "system": [],
        "excluded": [],
    }
    current = None
    headers = {
        "will be copied": "copy",
        "already in the wheel": "existing",
        "assumed to be present": "system",
        "excluded": "excluded",
    }
    for line in text.splitlines():
        if line.startswith("The following"):
            current = next((key for text_, key in headers.items() if text_ in line), None)
        elif line.startswith((" ", "\t")) and line.strip() and current:
            name = line.split()[0]
            sections[current].append(name)
            if "Not Found" in line:
                sections["missing"].append(name)
    return sections


def grafted_dlls(names: Iterable[str]) -> list[str]:
    """DLLs delvewheel vendored into a `<package>.libs/` directory of the wheel."""
    return sorted(n for n in names if ".libs/" in n and n.lower().endswith(".dll"))


def verify_problems(
    names: list[str],
    wheel_name: str,
    needed: Iterable[str],
    expected: Iterable[str],
    excluded: Iterable[str],
) -> list[str]:
    """A repaired Windows wheel: its tag, every needed DLL grafted, expected files present."""
    problems = []
    tag = wheel_name.removesuffix(".whl").split("-")[-1]
    if tag != WHEEL_TAG:
        problems.append(f"wheel is tagged {tag}, expected {WHEEL_TAG}")
    grafted = [PurePosixPath(n).name.lower() for n in grafted_dlls(names)]
    for dll in needed:
        stem = dll.lower().removesuffix(".dll")
        # delvewheel may mangle names (libstdc++-6-<hash>.dll); match on the stem.
        if not any(g == dll.lower() or g.startswith(stem + "-") for g in grafted):
            problems.append(f"{dll} was not grafted into the wheel")
    present = set(names)
    problems += [f"expected file {path} is missing" for path in expected if path not in present]
    lowered = {e.lower() for e in excluded}
    problems += [f"excluded {n} was packed into the wheel" for n in grafted if n in lowered]
    return problems


def wine_path(path: str) -> str:
    """A Linux path as wine sees it on its Z: drive."""
    return "Z:" + path.replace("/", "\\")


def libs_dir(distribution: str) -> str:
    """Where delvewheel grafts DLLs: `<normalised distribution>.libs`."""
    return re.sub(r"[-_.]+", "_", distribution) + ".libs"


def cross_env(toolchain_file: str) -> dict[str, str]:
    """Environment that makes scikit-build-core cross-compile and tag the wheel win_amd64."""
    return {
        "_PYTHON_HOST_PLATFORM": "win-amd64",
        "SKBUILD_CMAKE_ARGS": f"-DCMAKE_TOOLCHAIN_FILE={toolchain_file}",
    }


def msvc_env(generator: str, cuda_home: str | None) -> dict[str, str]:
    """Environment for a native MSVC build: the CMake generator and the CUDA compiler."""
    env = {"CMAKE_GENERATOR": generator}
    if cuda_home:
        env["CUDA_PATH"] = cuda_home
        env["CUDACXX"] = f"{cuda_home}\\bin\\nvcc.exe"
    return env


@dataclass(frozen=True)
class CudaSource:
    """Where the Windows build's CUDA comes from: `home`, installed first when `install`."""

    home: str
    install: bool
    note: str


def cuda_source(variant: Variant, home: str | None, found: str | None) -> CudaSource:
    """The host's toolkit when it is the variant's CUDA, else the variant's pinned installer.

    `home` and `found` are the probed toolkit and its nvcc version (None when absent).
    """
    if home and found == variant.cuda:
        return CudaSource(home, False, f"CUDA {found} at {home}")
    have = f"nvcc {found} at {home}" if home and found else "no CUDA toolkit"
    if not variant.windows_cuda.installer:
        raise PipelineError(
            f"variant '{variant.name}' needs CUDA {variant.cuda} and this host has {have}; "
            f"install CUDA {variant.cuda} and set CUDA_PATH to it, or give "
            f"[variants.{variant.name}.windows_cuda] the installer to run."
        )
    target = cuda_install_dir(variant.cuda)
    return CudaSource(
        target, True, f"{have}: CUDA {variant.cuda} is installed by the session into {target}"
    )


def cuda_install_dir(cuda: str) -> str:
    """The installer's default location of CUDA X.Y."""
    return f"{CUDA_ROOT}\\v{cuda}"


def cuda_install_argv(installer: str, variant: Variant) -> tuple[str, ...]:
    """The silent install (-s) of the variant's subpackages, with no reboot (-n)."""
    components = (f"{name}_{variant.cuda}" for name in variant.windows_cuda.components)
    return (installer, "-s", *components, "-n")


def installer_name(url: str) -> str:
    """The installer's file name, from its URL."""
    return PurePosixPath(url.split("?", 1)[0]).name


def vswhere_argv() -> tuple[str, ...]:
    """Ask vswhere for the newest Visual Studio with the x64 C++ tools."""
    return (
        VSWHERE,
        "-latest",
        "-products",
        "*",
        "-requires",
        "Microsoft.VisualStudio.Component.VC.Tools.x86.x64",
        "-property",
        "installationPath",
    )


def parse_set_output(text: str) -> Mapping[str, str]:
    """`cmd /c "vcvars64.bat && set"` output -> environment mapping."""
    env = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key and not key.startswith(" "):
            env[key] = value
    return env
