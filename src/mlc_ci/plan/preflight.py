"""Build prerequisites checked before the build (pure): which checks exist, and which the user
waived with MLC_CI_WAIVE to build as far as the build goes without them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from mlc_ci.config import ConfigValue
from mlc_ci.errors import PipelineError


@dataclass(frozen=True)
class Part:
    """A toolkit part a config.cmake switch makes the build need: headers and libraries."""

    check: str  # its name in MLC_CI_WAIVE
    option: str  # the config.cmake switch that needs it
    what: str
    headers: tuple[str, ...]
    libraries: tuple[str, ...]
    fix: str


# TVM's CMake looks for these when the switch is ON (NCCL: it links nccl_static).
PARTS = (
    Part(
        "cublas",
        "USE_CUBLAS",
        "cuBLAS",
        ("cublas_v2.h",),
        ("libcublas.so",),
        "install the toolkit's cuBLAS (libcublas-dev-{cuda}, NVIDIA's repository)",
    ),
    Part(
        "nccl",
        "USE_NCCL",
        "NCCL",
        ("nccl.h",),
        ("libnccl_static.a",),
        "install NCCL built for CUDA {version} (libnccl-dev, NVIDIA's repository)",
    ),
    Part(
        "thrust",
        "USE_THRUST",
        "Thrust",
        ("thrust/version.h",),
        (),
        "install the toolkit's CCCL headers (cuda-cccl-{cuda})",
    ),
    Part(
        "vulkan",
        "USE_VULKAN",
        "Vulkan",
        ("vulkan/vulkan.h",),
        ("libvulkan.so",),
        "install libvulkan-dev, or point VULKAN_SDK at an SDK",
    ),
)

# name -> what it checks. The build of a source with [project].cargo_manifests runs cargo.
CHECKS = {
    "cargo": "cargo is installed (the build runs it)",
    "crates": "the crates of each cargo manifest resolve offline (vendored or in the cargo cache)",
    **{part.check: f"{part.what} is installed ({part.option} ON)" for part in PARTS},
}
WAIVE_VARIABLE = "MLC_CI_WAIVE"


def waived(value: str) -> frozenset[str]:
    """The checks MLC_CI_WAIVE names (comma-separated); an unknown name is refused."""
    names = frozenset(part.strip() for part in value.split(",") if part.strip())
    unknown = sorted(names - set(CHECKS))
    if unknown:
        raise PipelineError(
            f"{WAIVE_VARIABLE} names {', '.join(unknown)}, which is no preflight check; "
            f"use {', '.join(CHECKS)} (comma-separated), or unset it."
        )
    return names


def missing_cargo(manifests: tuple[str, ...], source: str) -> str:
    """The one line for a host without cargo."""
    return (
        f"the build runs cargo ({', '.join(manifests)} in {source}), and cargo is not installed; "
        f"install Rust (rustup), or set {WAIVE_VARIABLE}=cargo to build as far as it goes."
    )


def crates_fix() -> str:
    """What a failed offline crates check adds to its line."""
    return f"or set {WAIVE_VARIABLE}=crates to build as far as it goes"


def needed_parts(entries: Mapping[str, ConfigValue], waived_checks: Iterable[str]) -> list[Part]:
    """The toolkit parts the variant's config.cmake switches on, less the waived ones."""
    skip = set(waived_checks)
    return [p for p in PARTS if entries.get(p.option) is True and p.check not in skip]


# The system's include and library directories (Debian/Ubuntu multiarch, then the classic ones).
SYSTEM = (
    ("/usr/include", "/usr/local/include"),
    ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/local/lib"),
)


def search_dirs(
    cuda_home: str | None, env: Mapping[str, str], system=SYSTEM
) -> tuple[list[str], list[str]]:
    """(include directories, library directories) a part is looked for in: the CUDA toolkit's
    (its lib/ too: this toolkit layout has no lib64/), VULKAN_SDK's, then the system's."""
    includes, libraries = [], []
    roots = [cuda_home, f"{cuda_home}/targets/x86_64-linux"] if cuda_home else []
    if env.get("VULKAN_SDK"):
        roots.append(env["VULKAN_SDK"])
    for root in roots:
        includes += [f"{root}/include", f"{root}/include/cccl"]
        libraries += [f"{root}/lib64", f"{root}/lib"]
    return includes + list(system[0]), libraries + list(system[1])


def missing_parts_line(missing: list[tuple[Part, list[str]]], where: str, cuda: str = "") -> str:
    """One line for every part the host lacks: what, the files not found, the fix (package names
    for the variant's CUDA version, e.g. libcublas-dev-13-0)."""
    dashed = cuda.replace(".", "-") if cuda else "<major>-<minor>"
    items = [
        f"{part.what} ({part.option} ON: {', '.join(files)} not found {where}; "
        f"{part.fix.format(cuda=dashed, version=cuda or 'this toolkit')})"
        for part, files in missing
    ]
    names = ",".join(part.check for part, _ in missing)
    return (
        f"the variant's build needs what this host lacks: {'; '.join(items)}; or set "
        f"{WAIVE_VARIABLE}={names} to build as far as it goes."
    )
