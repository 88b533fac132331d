"""The root pipeline.toml's MLC-LLM variants against upstream's own builds
(tests/fixtures/mlc-llm-upstream-builds.toml): what the official wheel builder writes is in the
plan; where it writes nothing, upstream CI's choice is; the differences pipeline.toml decides
are pinned here one by one. Read from the dry-run plans, as a user sees them."""

from __future__ import annotations

import fnmatch
import io
import re
import shlex

import pytest

from mlc_ci import cli
from mlc_ci.plan import wheels
from tests.conftest import ROOT
from tests.gates import tomllib

pytestmark = pytest.mark.unit

UPSTREAM = tomllib.loads(
    (ROOT / "tests" / "fixtures" / "mlc-llm-upstream-builds.toml").read_text(encoding="utf-8")
)
OFFICIAL = UPSTREAM["official"]
CI_CUDA = UPSTREAM["ci"]["builds"]["cuda"]["config"]
# Our variant -> the official build it stands for (upstream's "cpu" wheel is the Vulkan build).
STANDS_FOR = {"cu128": "cu128", "cu130": "cu130", "vulkan": "cpu"}
# Keys CI sets that pipeline.toml decides otherwise, with the reason it gives.
DECIDED = {"CMAKE_CUDA_ARCHITECTURES": "the official builder's list wins"}


@pytest.fixture(autouse=True)
def _cuda_path(monkeypatch):
    """The MSVC plan of a CUDA variant reads the toolkit's place; any path serves a dry run."""
    monkeypatch.setenv("CUDA_PATH", "C:/CUDA/v12.8")


@pytest.fixture(autouse=True)
def _root_config(monkeypatch, mlc_llm_config):
    """The root pipeline.toml, beside a checked-out stand-in of its submodule (a plan refuses
    an uninitialised one)."""
    monkeypatch.setenv("MLC_CI_CONFIG", str(mlc_llm_config))


def dry_run(session: str, variant: str) -> str:
    """`python -m mlc_ci plan SESSION -- --variant V` with the root pipeline.toml."""
    out = io.StringIO()
    argv = ["plan", session, "--", "--variant", variant]
    assert cli.main(argv, out=out) == 0, out.getvalue()
    return out.getvalue()


def config_entries(plan: str) -> dict[str, str]:
    """The config.cmake entries of a plan's header: {name: CMake literal}."""
    line = next(l for l in plan.splitlines() if "config.cmake (when CMakeLists.txt reads it)" in l)
    entries = line.split(": ", 1)[1].split("; ")
    return dict(re.fullmatch(r"set\((\w+) (.*)\)", entry).groups() for entry in entries)


def excludes(plan: str, tool: str) -> list[str]:
    """The names a plan's `auditwheel repair` / `delvewheel repair` line excludes."""
    command = next(
        l for l in plan.splitlines() if f"$ {tool} repair" in l.replace("PYTHONHASHSEED=0 ", "")
    )
    words = shlex.split(command.split("$ ", 1)[1])
    found = [words[i + 1] for i, word in enumerate(words) if word == "--exclude"]
    return [name for value in found for name in value.split(":")]


def literal(value) -> str:
    """The config.cmake form of a TOML value."""
    return wheels.cmake_value(value)


@pytest.mark.parametrize("variant", sorted(STANDS_FOR))
def test_linux_plan_writes_every_entry_of_the_official_build(variant):
    official = OFFICIAL["builds"][STANDS_FOR[variant]]["config"]
    entries = config_entries(dry_run("wheels-linux", variant))
    assert {key: entries.get(key) for key in official} == {
        key: literal(value) for key, value in official.items()
    }


@pytest.mark.parametrize("variant", ["cu128", "cu130"])
def test_where_the_official_builder_is_silent_cuda_follows_upstream_ci(variant):
    official = OFFICIAL["builds"][variant]["config"]
    entries = config_entries(dry_run("wheels-linux", variant))
    silent = {k: v for k, v in CI_CUDA.items() if k not in official and k not in DECIDED}
    assert silent == {"USE_CUBLAS": True, "USE_NCCL": True}
    assert {key: entries[key] for key in silent} == {k: literal(v) for k, v in silent.items()}


@pytest.mark.parametrize("variant", ["cu128", "cu130"])
def test_cuda_plans_turn_cutlass_and_thrust_off_and_pack_no_sm100(variant):
    """Neither upstream build turns CUTLASS on (ON would link libraries the wheel lacks)."""
    entries = config_entries(dry_run("wheels-linux", variant))
    assert entries["USE_CUTLASS"] == "OFF" and entries["USE_THRUST"] == "OFF"
    assert "100" not in entries["CMAKE_CUDA_ARCHITECTURES"].strip('"').split(";")


@pytest.mark.parametrize("variant", sorted(STANDS_FOR))
def test_linux_plan_excludes_what_the_official_builder_excludes(variant):
    names = OFFICIAL["exclude"] + (OFFICIAL["cuda_exclude"] if variant.startswith("cu") else [])
    patterns = excludes(dry_run("wheels-linux", variant), "auditwheel")
    uncovered = [
        name
        for name in names
        if not any(
            fnmatch.fnmatch(f"{name}{tail}", p) for tail in (".so", ".so.1") for p in patterns
        )
    ]
    assert uncovered == []


def test_windows_cu128_is_the_linux_build_without_nccl():
    linux = config_entries(dry_run("wheels-linux", "cu128"))
    windows_plan = dry_run("wheels-windows", "cu128")
    assert config_entries(windows_plan) == {**linux, "USE_NCCL": "OFF"}


def test_windows_cu128_leaves_the_cuda_libraries_to_the_cuda_install():
    """What the Linux wheel excludes (the CUDA install provides it), the Windows one does not
    graft either: cuBLAS alone would add about 500 MB (cublasLt64_12.dll) to the wheel."""
    names = excludes(dry_run("wheels-windows", "cu128"), "delvewheel")
    dlls = OFFICIAL["cuda12_dll"]
    assert sorted(dlls) == sorted(OFFICIAL["cuda_exclude"])
    assert [dll for dll in dlls.values() if dll not in names] == []


@pytest.mark.parametrize("variant", ["cpu", "cu128", "vulkan"])
def test_windows_plans_leave_tvm_ffi_dll_to_its_wheel(variant):
    names = excludes(dry_run("wheels-windows", variant), "delvewheel")
    assert "tvm_ffi.dll" in names
    assert ("vulkan-1.dll" in names) == (variant != "cpu")


def test_cpu_needs_no_gpu_loader():
    entries = config_entries(dry_run("wheels-linux", "cpu"))
    assert {k: v for k, v in entries.items() if k.startswith("USE_") and v != "OFF"} == {}
