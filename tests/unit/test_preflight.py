"""Preflight of a build that runs cargo: cargo on PATH and the crates resolvable offline, checked
before the source is touched, each in one line with its fix, and waivable by name."""

from __future__ import annotations

import argparse
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
from tests.conftest import MINIMAL

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
