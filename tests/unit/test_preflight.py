"""Preflight of a build: cargo on PATH, the crates resolvable offline and the toolkit parts the
variant switches on (cuBLAS, NCCL, Thrust, Vulkan), checked
before the source is touched, each in one line with its fix, and waivable by name."""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import shutil
from pathlib import Path

import pytest

from mlc_ci import config
from mlc_ci.errors import PipelineError, StepFailed
from mlc_ci.plan import preflight
from mlc_ci.run import Runner
from mlc_ci.sessions import wheels_linux
from mlc_ci.sessions.preflight import toolkit
from tests.conftest import MINIMAL, ROOT

pytestmark = pytest.mark.unit

CARGO_TOML = (
    '[package]\nname = "demo-rs"\nversion = "0.1.0"\nedition = "2021"\n\n[lib]\npath = "lib.rs"\n'
)


def args(**kw):
    """Parsed wheels-linux arguments for a host build."""
    base = {"variant": "cpu", "out": None, "container": False, "python": "3.12"}
    return argparse.Namespace(**{**base, "dry_run": False, "check_reproducible": False, **kw})


def cargo() -> str:
    """This machine's cargo: on PATH, else rustup's default place (not on a login-less PATH)."""
    found = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    if not os.access(found, os.X_OK):
        pytest.skip("no cargo here")
    return found


@pytest.fixture(name="rusty")
def fixture_rusty(make_config, tmp_path):
    """A config whose source builds the crate rust/Cargo.toml (dependency lines appended)."""

    def make(dependencies: str = "") -> config.Config:
        text = MINIMAL.replace(
            'version = "pyproject"', 'version = "pyproject"\ncargo_manifests = ["rust/Cargo.toml"]'
        )
        path = make_config(text)
        crate = tmp_path / "src-tree" / "rust"
        crate.mkdir()
        (crate / "Cargo.toml").write_text(CARGO_TOML + dependencies, encoding="utf-8")
        (crate / "lib.rs").write_text("pub fn f() {}\n", encoding="utf-8")
        return config.load(path, env={})

    return make


def run_preflight(plan, env):
    """Run the plan's preflight steps; the first failure propagates."""
    runner = Runner(out=io.StringIO(), env=env)
    for step in plan.steps:
        if step.title.startswith("preflight:"):
            runner.run(step)


def test_waivers_are_named_checks():
    assert preflight.waived("") == frozenset()
    assert preflight.waived(" crates, cargo ,") == {"crates", "cargo"}
    with pytest.raises(PipelineError, match="MLC_CI_WAIVE names cmake, which is no preflight"):
        preflight.waived("cmake,crates")


def test_preflight_comes_first_and_leaves_the_source_alone(rusty, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = rusty()
    env = {"PATH": f"{Path(cargo()).parent}:{os.environ['PATH']}"}
    plan = wheels_linux.plan(args(), cfg, env)
    titles = [step.title for step in plan.steps]
    assert titles[:2] == [
        "preflight: copy rust/Cargo.toml for the offline crates check",
        "preflight: the crates of rust/Cargo.toml resolve offline",
    ]
    assert plan.steps[1].env == {"CARGO_NET_OFFLINE": "true"}
    run_preflight(plan, env)  # no dependencies: resolves offline
    assert not (cfg.source_dir / "rust" / "Cargo.lock").exists()  # cargo wrote into the copy


def test_missing_crates_stop_with_the_crate_and_the_waiver(rusty, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {
        "PATH": f"{Path(cargo()).parent}:{os.environ['PATH']}",
        "CARGO_HOME": str(tmp_path / "empty-cargo-home"),  # nothing cached, nothing vendored
    }
    cfg = rusty('\n[dependencies]\nzzz-not-cached = "1"\n')
    with pytest.raises(StepFailed) as failed:
        run_preflight(wheels_linux.plan(args(), cfg, env), env)
    line = str(failed.value)
    assert "cargo cannot get the crate zzz-not-cached" in line
    assert line.endswith("or set MLC_CI_WAIVE=crates to build as far as it goes.")
    waived = wheels_linux.plan(args(), cfg, {**env, "MLC_CI_WAIVE": "crates"})
    assert not [s for s in waived.steps if s.title.startswith("preflight:")]


def test_a_host_without_cargo_stops_at_once(rusty, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = rusty()
    with pytest.raises(PipelineError) as failed:
        wheels_linux.plan(args(), cfg, {"PATH": str(tmp_path / "nothing")})
    assert str(failed.value) == (
        f"the build runs cargo (rust/Cargo.toml in {cfg.source_dir}), and cargo is not "
        "installed; install Rust (rustup), or set MLC_CI_WAIVE=cargo to build as far as it goes."
    )
    waived = wheels_linux.plan(args(dry_run=True), cfg, {"MLC_CI_WAIVE": "cargo"})
    assert not [s for s in waived.steps if s.title.startswith("preflight:")]


def test_container_builds_leave_cargo_to_the_image(rusty, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = wheels_linux.plan(args(container=True, dry_run=True), rusty(), {"PATH": ""})
    assert not [s for s in plan.steps if s.title.startswith("preflight:")]
    assert "cargo and the crates are the builder image's: not checked before the build" in (
        plan.notes
    )


# The parts of a CUDA/Vulkan build (headers and libraries the config.cmake switches need).
PART_FILES = {
    "cublas": ("include/cublas_v2.h", "lib/libcublas.so"),
    "nccl": ("include/nccl.h", "lib/libnccl_static.a"),
    "vulkan": ("include/vulkan/vulkan.h", "lib/libvulkan.so"),
    "thrust": ("include/cccl/thrust/version.h",),
}
NO_SYSTEM = ((), ())  # only the toolkit's own directories: the host's system cannot interfere


@pytest.fixture(name="mlc")
def fixture_mlc():
    return config.load(ROOT / "pipeline.toml", env={})


def toolkit_home(where: Path, *present: str) -> str:
    """A toolkit directory holding the files of the `present` parts."""
    for part in present:
        for name in PART_FILES[part]:
            (where / name).parent.mkdir(parents=True, exist_ok=True)
            (where / name).write_text("")
    where.mkdir(parents=True, exist_ok=True)
    return str(where)


def test_the_parts_a_variant_switches_on(mlc):
    cu128 = mlc.variant("cu128").config
    assert [p.check for p in preflight.needed_parts(cu128, ())] == ["cublas", "nccl", "vulkan"]
    assert [p.check for p in preflight.needed_parts(cu128, {"nccl"})] == ["cublas", "vulkan"]
    assert not preflight.needed_parts(mlc.variant("cpu").config, ())
    assert set(preflight.CHECKS) >= {"cargo", "crates", "cublas", "nccl", "thrust", "vulkan"}


def test_a_toolkit_without_cublas_and_nccl_stops_in_one_line(mlc, tmp_path):
    home = toolkit_home(tmp_path / "cuda", "vulkan")
    with pytest.raises(PipelineError) as failed:
        toolkit(mlc.variant("cu130"), home, {}, False, system=NO_SYSTEM)
    message = str(failed.value)
    assert "\n" not in message
    assert f"cuBLAS (USE_CUBLAS ON: cublas_v2.h, libcublas.so not found under {home}" in message
    assert "NCCL (USE_NCCL ON: nccl.h, libnccl_static.a not found" in message
    assert "(libcublas-dev-13-0, NVIDIA's repository)" in message
    assert "NCCL built for CUDA 13.0 (libnccl-dev" in message and "Vulkan" not in message
    assert message.endswith("or set MLC_CI_WAIVE=cublas,nccl to build as far as it goes.")


def test_found_or_waived_parts_let_the_build_go(mlc, tmp_path):
    home = toolkit_home(tmp_path / "full", "cublas", "nccl", "vulkan")
    found = toolkit(mlc.variant("cu130"), home, {}, False, system=NO_SYSTEM)
    assert found == "toolkit parts found: cuBLAS, NCCL, Vulkan"
    bare = toolkit_home(tmp_path / "bare")
    waive = {"MLC_CI_WAIVE": "cublas, nccl,vulkan"}
    assert toolkit(mlc.variant("cu130"), bare, waive, False, system=NO_SYSTEM) == ""
    # Thrust's headers live under include/cccl/ in CUDA 13 toolkits.
    thrust = dataclasses.replace(mlc.variant("cu130"), config={"USE_THRUST": True})
    home = toolkit_home(tmp_path / "cccl", "thrust")
    assert toolkit(thrust, home, {}, False, system=NO_SYSTEM) == "toolkit parts found: Thrust"


def test_a_vulkan_sdk_counts_and_the_dry_run_only_names_the_checks(mlc, tmp_path):
    sdk = toolkit_home(tmp_path / "sdk", "vulkan")
    vulkan = mlc.variant("vulkan")
    assert toolkit(vulkan, None, {"VULKAN_SDK": sdk}, False, system=NO_SYSTEM) == (
        "toolkit parts found: Vulkan"
    )
    with pytest.raises(PipelineError, match=r"Vulkan \(USE_VULKAN ON: vulkan/vulkan.h"):
        toolkit(vulkan, None, {}, False, system=NO_SYSTEM)
    assert toolkit(mlc.variant("cu128"), None, {}, True) == (
        "toolkit parts checked before a real build: cuBLAS, NCCL, Vulkan"
    )


def test_the_missing_parts_line_names_files_fixes_and_the_waiver():
    cublas, nccl, thrust, vulkan = preflight.PARTS
    line = preflight.missing_parts_line(
        [(cublas, ["cublas_v2.h", "libcublas.so"]), (nccl, ["nccl.h"])],
        "in /usr/local/cuda",
        "13.0",
    )
    assert line == (
        "the variant's build needs what this host lacks: cuBLAS (USE_CUBLAS ON: cublas_v2.h, "
        "libcublas.so not found in /usr/local/cuda; install the toolkit's cuBLAS "
        "(libcublas-dev-13-0, NVIDIA's repository)); NCCL (USE_NCCL ON: nccl.h not found in "
        "/usr/local/cuda; install NCCL built for CUDA 13.0 (libnccl-dev, NVIDIA's repository)); "
        "or set MLC_CI_WAIVE=cublas,nccl to build as far as it goes."
    )
    unknown = preflight.missing_parts_line([(thrust, ["thrust/version.h"]), (nccl, [])], "here")
    assert "install the toolkit's CCCL headers (cuda-cccl-<major>-<minor>)" in unknown
    assert "install NCCL built for CUDA this toolkit (libnccl-dev" in unknown
    assert unknown.endswith("MLC_CI_WAIVE=thrust,nccl to build as far as it goes.")
    assert "install libvulkan-dev, or point VULKAN_SDK at an SDK" in vulkan.fix


def test_the_search_dirs_put_the_toolkit_and_the_sdk_before_the_system():
    system = (("/inc",), ("/lib",))
    assert preflight.search_dirs("/cuda", {"VULKAN_SDK": "/vk"}, system) == (
        [
            "/cuda/include",
            "/cuda/include/cccl",
            "/cuda/targets/x86_64-linux/include",
            "/cuda/targets/x86_64-linux/include/cccl",
            "/vk/include",
            "/vk/include/cccl",
            "/inc",
        ],
        [
            "/cuda/lib64",
            "/cuda/lib",
            "/cuda/targets/x86_64-linux/lib64",
            "/cuda/targets/x86_64-linux/lib",
            "/vk/lib64",
            "/vk/lib",
            "/lib",
        ],
    )
    assert preflight.search_dirs(None, {}, system) == (["/inc"], ["/lib"])
    assert preflight.search_dirs(None, {"VULKAN_SDK": ""}) == (
        list(preflight.SYSTEM[0]),
        list(preflight.SYSTEM[1]),
    )


def test_the_cargo_lines_and_an_unknown_waiver_are_exact():
    assert preflight.missing_cargo(("a/Cargo.toml", "b/Cargo.toml"), "/src") == (
        "the build runs cargo (a/Cargo.toml, b/Cargo.toml in /src), and cargo is not installed; "
        "install Rust (rustup), or set MLC_CI_WAIVE=cargo to build as far as it goes."
    )
    assert preflight.crates_fix() == "or set MLC_CI_WAIVE=crates to build as far as it goes"
    with pytest.raises(PipelineError) as caught:
        preflight.waived("zeta,alpha,cargo")
    assert str(caught.value) == (
        "MLC_CI_WAIVE names alpha, zeta, which is no preflight check; use cargo, crates, cublas, "
        "nccl, thrust, vulkan (comma-separated), or unset it."
    )
    assert preflight.CHECKS["nccl"] == "NCCL is installed (USE_NCCL ON)"
    assert preflight.CHECKS["crates"] == (
        "the crates of each cargo manifest resolve offline (vendored or in the cargo cache)"
    )
