"""tiny_runtime: the runtime library mini-llm pairs with, loaded from this package.

`load()` loads libtiny_runtime globally, so a library that links it (libmini_llm) finds it
already loaded by its soname (on Windows, by its module name).
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from typing import Optional

LIBRARY_DIR = Path(__file__).resolve().parent
_LOADED: Optional[ctypes.CDLL] = None


def library_path() -> Path:
    """The runtime library in this package; ImportError when the wheel lacks it."""
    names = (
        ("libtiny_runtime.dll", "tiny_runtime.dll")
        if sys.platform == "win32"
        else ("libtiny_runtime.so",)
    )
    for name in names:
        if (LIBRARY_DIR / name).is_file():
            return LIBRARY_DIR / name
    raise ImportError(
        f"tiny_runtime: {' or '.join(names)} not found in {LIBRARY_DIR}; the installed wheel is "
        "incomplete or for another platform, reinstall tiny-runtime for this platform."
    )


def load() -> ctypes.CDLL:
    """Load the runtime library once, globally."""
    global _LOADED  # pylint: disable=global-statement
    if _LOADED is None:
        if hasattr(os, "add_dll_directory"):
            os.add_dll_directory(str(LIBRARY_DIR))
        path = library_path()
        try:
            _LOADED = ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
        except OSError as exc:
            raise ImportError(f"tiny_runtime: cannot load {path}: {exc}") from exc
    return _LOADED


def version() -> str:
    """The version compiled into the runtime library."""
    lib = load()
    lib.TinyRuntimeVersion.restype = ctypes.c_char_p
    return lib.TinyRuntimeVersion().decode()
