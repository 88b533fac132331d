"""Finding and loading the package's shared libraries with ctypes.

The libraries sit beside this file in the wheel. Their file names follow the platform's CMake
defaults: ``libNAME.so`` on Linux, ``libNAME.dylib`` on macOS, and ``libNAME.dll`` (MinGW) or
``NAME.dll`` (MSVC) on Windows.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from typing import Optional

PACKAGE_DIR = Path(__file__).resolve().parent

# Load order: every library after the libraries it links against.
# libtiny_runtime comes from the tiny-runtime wheel (tiny_runtime.load()), before these.
CORE_LIBRARIES = ("mini_llm", "mini_llm_module")


def library_filenames(name: str, platform: str = sys.platform) -> tuple[str, ...]:
    """The file names library `name` may have on `platform`, most likely first."""
    if platform in ("win32", "cygwin"):
        return (f"lib{name}.dll", f"{name}.dll")
    if platform == "darwin":
        return (f"lib{name}.dylib", f"lib{name}.so")
    return (f"lib{name}.so",)


def find_library(
    name: str, directory: Optional[Path] = None, platform: str = sys.platform
) -> Optional[Path]:
    """Path of library `name` in `directory` (default: the package directory), or None."""
    directory = PACKAGE_DIR if directory is None else Path(directory)
    for filename in library_filenames(name, platform):
        candidate = directory / filename
        if candidate.is_file():
            return candidate
    return None


def load_library(name: str, directory: Optional[Path] = None) -> ctypes.CDLL:
    """Load library `name` globally; ImportError naming the file and directory on failure."""
    directory = PACKAGE_DIR if directory is None else Path(directory)
    path = find_library(name, directory)
    if path is None:
        wanted = " or ".join(library_filenames(name))
        raise ImportError(
            f"mini_llm: shared library {wanted} not found in {directory}; the installed wheel "
            "is incomplete or for another platform, reinstall mini-llm for this platform."
        )
    try:
        return ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        raise ImportError(
            f"mini_llm: cannot load {path} (searched {directory}): {exc}; a library it needs "
            "is missing or was built for another system."
        ) from exc


def add_dll_directory(directory: Path = PACKAGE_DIR) -> None:
    """On Windows, let the package's DLLs find each other; a no-op elsewhere."""
    if hasattr(os, "add_dll_directory"):
        os.add_dll_directory(str(directory))


def cuda_runtime_filename(cuda_version: str, platform: str = sys.platform) -> str:
    """File name of the CUDA runtime a library built with `cuda_version` (e.g. "13.0.88") needs."""
    major = cuda_version.split(".", 1)[0]
    if platform in ("win32", "cygwin"):
        return f"cudart64_{major}.dll"
    return f"libcudart.so.{major}"
