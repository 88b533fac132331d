"""mini_llm: a small native library with MLC-LLM's build shape.

Importing the package loads libtiny_runtime from the installed tiny-runtime wheel, then
libmini_llm and libmini_llm_module from the package directory (in that order, globally).
libmini_llm_cuda is loaded only by `mini_llm.cuda`.
"""

from __future__ import annotations

import ctypes
import json
from typing import Any

import tiny_runtime

from mini_llm import _loader

__all__ = [
    "MiniLLMError",
    "build_info",
    "distribution_name",
    "invoke",
    "list_functions",
    "native_version",
    "runtime_version",
    "score",
    "tokenize",
]

_loader.add_dll_directory()
_RUNTIME = tiny_runtime.load()
_LIBS = {name: _loader.load_library(name) for name in _loader.CORE_LIBRARIES}
_CORE = _LIBS["mini_llm"]
_MODULE = _LIBS["mini_llm_module"]

for _func in (_RUNTIME.TinyRuntimeVersion, _CORE.MiniLLMVersion, _CORE.MiniLLMBuildInfo):
    _func.argtypes = []
    _func.restype = ctypes.c_char_p
_CORE.MiniLLMGetLastError.restype = ctypes.c_char_p
_CORE.MiniLLMTokenize.argtypes = [
    ctypes.c_char_p,
    ctypes.POINTER(ctypes.c_int32),
    ctypes.c_int32,
    ctypes.POINTER(ctypes.c_int32),
]
_CORE.MiniLLMScore.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_double)]
_MODULE.MiniLLMModuleInvoke.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.POINTER(ctypes.c_double),
]
_MODULE.MiniLLMModuleListFunctions.restype = ctypes.c_char_p


class MiniLLMError(RuntimeError):
    """A native call failed; the message is the library's last error."""


def _check(status: int) -> None:
    if status != 0:
        raise MiniLLMError(_CORE.MiniLLMGetLastError().decode("utf-8", "replace"))


def native_version() -> str:
    """Version compiled into libmini_llm."""
    return _CORE.MiniLLMVersion().decode()


def runtime_version() -> str:
    """Version of the vendored tiny runtime."""
    return _RUNTIME.TinyRuntimeVersion().decode()


def build_info() -> dict[str, Any]:
    """What the native libraries were built with: backends, CUDA version, config.cmake values."""
    return json.loads(_CORE.MiniLLMBuildInfo().decode())


def tokenize(text: str) -> list[int]:
    """Token ids of `text` (hashed vocabulary, see include/mini_llm/c_api.h)."""
    data = text.encode("utf-8")
    count = ctypes.c_int32(0)
    _check(_CORE.MiniLLMTokenize(data, None, 0, ctypes.byref(count)))
    ids = (ctypes.c_int32 * count.value)()
    _check(_CORE.MiniLLMTokenize(data, ids, count.value, ctypes.byref(count)))
    return list(ids)


def score(text: str) -> float:
    """Mean normalised log token id of `text`, computed by libmini_llm."""
    out = ctypes.c_double(0.0)
    _check(_CORE.MiniLLMScore(text.encode("utf-8"), ctypes.byref(out)))
    return out.value


def invoke(function: str, text: str) -> float:
    """Call a runtime-registered function through libmini_llm_module."""
    out = ctypes.c_double(0.0)
    _check(_MODULE.MiniLLMModuleInvoke(function.encode(), text.encode("utf-8"), ctypes.byref(out)))
    return out.value


def list_functions() -> list[str]:
    """Names of the functions registered in the tiny runtime."""
    names = _MODULE.MiniLLMModuleListFunctions().decode()
    return names.split(",") if names else []


def distribution_name() -> str | None:
    """Name of the installed distribution that provides this package (mini-llm-cu130, ...)."""
    # pylint: disable-next=import-outside-toplevel
    from mini_llm._metadata import find_distribution

    return find_distribution(__name__)


def __getattr__(name: str) -> Any:
    # __version__ is looked up lazily: scanning installed distributions costs time at import.
    if name == "__version__":
        # pylint: disable-next=import-outside-toplevel
        from mini_llm._metadata import package_version

        return package_version(__name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
