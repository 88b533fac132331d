"""The CUDA backend, loaded on demand: importing mini_llm never needs a CUDA runtime or a GPU."""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass

from mini_llm import _loader, build_info

# Exit statuses of `python -m mini_llm check-device cuda`.
OK, NO_DEVICE, NOT_BUILT, BROKEN = 0, 1, 2, 3

# Overrides which CUDA runtime is loaded (a file name or a path), e.g. one from a pip package.
CUDART_ENV = "MINI_LLM_CUDART"


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a device check: exit status and the one line to print."""

    status: int
    message: str


def _load_runtime(cuda_version: str) -> ctypes.CDLL:
    name = os.environ.get(CUDART_ENV) or _loader.cuda_runtime_filename(cuda_version)
    return ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)


def _declare(lib: ctypes.CDLL) -> None:
    int_p = ctypes.POINTER(ctypes.c_int)
    float_p = ctypes.POINTER(ctypes.c_float)
    lib.MiniLLMCudaRuntimeVersion.argtypes = [int_p]
    lib.MiniLLMCudaDeviceCount.argtypes = [int_p]
    lib.MiniLLMCudaDeviceInfo.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, int_p]
    lib.MiniLLMCudaSaxpy.argtypes = [ctypes.c_int, ctypes.c_float, float_p, float_p, float_p]
    lib.MiniLLMCudaErrorString.argtypes = [ctypes.c_int]
    lib.MiniLLMCudaErrorString.restype = ctypes.c_char_p


def _error(lib: ctypes.CDLL, call: str, code: int) -> str:
    text = (lib.MiniLLMCudaErrorString(code) or b"unknown error").decode(errors="replace")
    return f"{call}: {text} (cudaError {code})"


def _saxpy(lib: ctypes.CDLL, n: int) -> CheckResult | float:
    """Run the kernel on known data; the max abs error, or a failed CheckResult."""
    alpha = 2.0
    x = (ctypes.c_float * n)(*[0.5 * i for i in range(n)])
    y = (ctypes.c_float * n)(*[1.0 + 0.25 * i for i in range(n)])
    out = (ctypes.c_float * n)()
    code = lib.MiniLLMCudaSaxpy(n, alpha, x, y, out)
    if code != 0:
        message = f"check_device: cuda kernel failed ({_error(lib, 'saxpy', code)})"
        return CheckResult(BROKEN, message)
    worst = max(abs(out[i] - (alpha * x[i] + y[i])) for i in range(n))
    if worst > 1e-3:
        return CheckResult(BROKEN, f"check_device: cuda saxpy result wrong (max abs error {worst})")
    return worst


def _load() -> CheckResult | ctypes.CDLL:
    """libmini_llm_cuda with the CUDA runtime it needs, or why it cannot be loaded."""
    info = build_info()
    if not info["backends"]["cuda"]:
        return CheckResult(NOT_BUILT, "check_device: cuda not built into this wheel")
    path = _loader.find_library("mini_llm_cuda")
    if path is None:
        wanted = " or ".join(_loader.library_filenames("mini_llm_cuda"))
        return CheckResult(BROKEN, f"check_device: cuda built but {wanted} missing from the wheel")
    try:
        _load_runtime(info["cuda"]["version"])
    except OSError as exc:
        message = f"check_device: no CUDA device (CUDA runtime not found: {exc})"
        return CheckResult(NO_DEVICE, message)
    try:
        lib = ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
        _declare(lib)
    except (OSError, AttributeError) as exc:
        return CheckResult(BROKEN, f"check_device: cuda library broken: {exc}")
    return lib


def check(n: int = 4096) -> CheckResult:
    """Load libmini_llm_cuda, find a device and check one kernel launch numerically."""
    lib = _load()
    if isinstance(lib, CheckResult):
        return lib
    count = ctypes.c_int(0)
    code = lib.MiniLLMCudaDeviceCount(ctypes.byref(count))
    if code != 0 or count.value == 0:
        reason = _error(lib, "cudaGetDeviceCount", code) if code else "0 devices"
        return CheckResult(NO_DEVICE, f"check_device: no CUDA device ({reason})")
    name, cc, version = ctypes.create_string_buffer(256), ctypes.c_int(0), ctypes.c_int(0)
    code = lib.MiniLLMCudaDeviceInfo(0, name, len(name), ctypes.byref(cc))
    if code == 0:
        code = lib.MiniLLMCudaRuntimeVersion(ctypes.byref(version))
    if code != 0:
        return CheckResult(BROKEN, f"check_device: {_error(lib, 'device query', code)}")
    result = _saxpy(lib, n)
    if isinstance(result, CheckResult):
        return result
    return CheckResult(
        OK,
        f"check_device: cuda ok {name.value.decode(errors='replace')} (sm_{cc.value}, "
        f"{count.value} device(s), CUDA runtime {version.value}, saxpy n={n} "
        f"max_abs_err={result:g})",
    )
