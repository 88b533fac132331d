"""wheels-linux steps on real files: the source is restored, dist/ only gets verified wheels."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from mlc_ci import config
from mlc_ci.errors import PipelineError
from mlc_ci.plan import wheels
from mlc_ci.plan.versions import SourceVersion
from mlc_ci.run import Ref, Runner, Step
from mlc_ci.sessions import wheel_steps, wheels_linux
from tests.unit.test_pairing import compile_library

pytestmark = pytest.mark.unit

CUDA_TOML = """
[variants.cu130]
distribution = "demo-cu130"
cuda = "13.0"
config = { USE_CUDA = true, CMAKE_CUDA_ARCHITECTURES = "80;90" }
auditwheel_exclude = ["libcudart.so.*"]
expected_files = ["demo/libdemo_cuda.so"]
smoke = ["python -m demo check-device cuda --allow-missing"]
"""


@pytest.fixture(name="cfg")
def fixture_cfg(make_config):
    from tests.conftest import MINIMAL  # pylint: disable=import-outside-toplevel

    return config.load(make_config(MINIMAL + CUDA_TOML), env={})


@pytest.fixture(name="toolkit")
def fixture_toolkit(tmp_path):
    """A CUDA_HOME whose nvcc is a two-line shell stand-in (no GPU toolkit needed)."""
    home = tmp_path / "cuda"
    (home / "include").mkdir(parents=True)
    (home / "include" / "cuda_runtime.h").write_text("")
    (home / "bin").mkdir()
    nvcc = home / "bin" / "nvcc"
    nvcc.write_text("#!/bin/sh\necho 'Cuda compilation tools, release 13.0, V13.0.88'\n")
    nvcc.chmod(0o755)
    return home


def args(**kw):
    """Parsed wheels-linux arguments."""
    base = {
        "variant": None,
        "out": None,
        "container": False,
        "python": "3.12",
        "dry_run": True,
        "check_reproducible": False,
    }
    return argparse.Namespace(**{**base, **kw})


@functools.cache
def stub_library() -> bytes:
    """A real ELF shared object (verification reads each library's links)."""
    with tempfile.TemporaryDirectory() as work:
        out = compile_library(Path(work) / "libstub.so", "int stub() { return 1; }", "libstub.so")
        return out.read_bytes()


def make_wheel(path, names):
    """A zip with the given member names (libraries: a stub ELF; other files: their name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, stub_library() if ".so" in name else name)
    return path


def steps_by_title(plan):
    """Map step title -> step."""
    return {step.title: step for step in plan.steps + plan.cleanup}


def test_plan_order_and_smoke_in_clean_venv(cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"PATH": "/usr/bin", "MLC_CI_SMOKE_PYTHONS": "current"}
    plan = wheels_linux.plan(args(variant="cu130"), cfg, env)
    titles = [s.title for s in plan.steps]
    assert titles.index("auditwheel repair") < titles.index("check tag, libraries and contents")
    assert titles[-1] == f"publish into {tmp_path / 'dist'}"
    smoke = steps_by_title(plan)["smoke: python -m demo check-device cuda --allow-missing"]
    assert smoke.argv[0].endswith("/venv/bin/python") and smoke.cwd.endswith("smoke-cwd")
    assert "--exclude" in steps_by_title(plan)["auditwheel repair"].argv
    assert plan.notes[0] == "variant 'cu130' (dry run: toolkit not checked)"
    # A source in no git checkout is dated by its newest file (say which).
    assert plan.notes[1] == (
        "version 1.0 from pyproject.toml ([project].version); SOURCE_DATE_EPOCH from the mtime "
        "of the newest source file (pyproject.toml)"
    )
    # What the build writes into the source, shown before it runs (a dry run shows it too).
    assert plan.notes[2:] == [
        "distribution renamed in pyproject.toml: demo -> demo-cu130",
        "config.cmake (when CMakeLists.txt reads it): set(USE_CUDA ON); "
        'set(CMAKE_CUDA_ARCHITECTURES "80;90")',
    ]  # and no shared cache configured: nothing to say about it


def test_container_plan_builds_in_the_image_and_checks_on_the_host(cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"MLC_CI_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt"}
    plan = wheels_linux.plan(args(variant="cu130", container=True, python="3"), cfg, env)
    steps = steps_by_title(plan)
    titles = [s.title for s in plan.steps]
    image = cfg.container.image
    # The tag is decided from the image before anything compiles.
    assert titles.index(f"read the glibc and compiler of {image}") < titles.index(
        "build demo-cu130 wheel"
    )
    assert titles.index("locate built wheel") + 1 == titles.index(
        f"check the libraries were compiled in {image}"
    )
    assert titles.index("choose the manylinux tag") < titles.index("build demo-cu130 wheel")
    build = steps["build demo-cu130 wheel"]
    assert build.argv[:3] == ("docker", "run", "--rm")
    inner = build.argv[build.argv.index(cfg.container.image) + 4 :]
    assert inner[:5] == ("python3", "-m", "pip", "wheel", "--no-deps")
    assert build.argv[-1] == str(cfg.source_dir)
    assert any(a.endswith("-container") for a in build.argv if a.startswith("-Cbuild-dir="))
    # The toolkit is the image's; the host has no nvcc here and needs none.
    assert build.env["CUDACXX"] == "/usr/local/cuda/bin/nvcc"
    assert build.env["HOME"].endswith("container-home")
    # The container gets its home and the extra CA (for pip's isolated build environment).
    passed = {build.argv[i + 1] for i, a in enumerate(build.argv) if a == "--env"}
    assert {"HOME", "PIP_CERT", "SSL_CERT_FILE", "CUDACXX"} <= passed
    assert build.env["PIP_CERT"] == build.env["HOME"] + "/ca.pem"
    repair = steps["auditwheel repair"]
    assert isinstance(repair.argv[repair.argv.index("--plat") + 1], Ref)
    # Everything the host build checks still runs on the host.
    for title in ("check tag, libraries and contents", "install repaired wheel"):
        assert title in steps
    assert plan.data["builder_image"] == image


def test_container_tag_choice_feeds_the_verification(cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = wheels_linux.plan(args(variant="cpu", container=True), cfg, {})
    version = subprocess.run(
        ("c++", "--version"), capture_output=True, text=True, check=True
    ).stdout
    ctx = {"image_probe": f"glibc 2.31\n{version}", "image_id": "sha256:abc\n"}
    steps_by_title(plan)["choose the manylinux tag"].action(ctx)
    assert ctx["plat"] == "manylinux_2_31_x86_64"
    builder = ctx["report"]["builder"]
    assert (builder["glibc"], builder["id"]) == ("glibc 2.31", "sha256:abc")
    assert builder["compiler"] == version.splitlines()[0]
    # A library this host's c++ compiled passes the check; one with another compiler's does not.
    library = compile_library(tmp_path / "libdemo.so", "int demo() { return 1; }", "libdemo.so")
    ctx["wheel"] = str(tmp_path / "demo-1.0-py3-none-linux_x86_64.whl")
    with zipfile.ZipFile(ctx["wheel"], "w") as wheel:
        wheel.write(library, "demo/libdemo.so")
        wheel.writestr("demo/__init__.py", "")
    check = steps_by_title(plan)[f"check the libraries were compiled in {cfg.container.image}"]
    check.action(ctx)
    assert list(builder["libraries"]) == ["demo/libdemo.so"]
    builder["compiler"] = "c++ (Debian 10.2.1-6) 10.2.1 20210110"
    with pytest.raises(
        PipelineError, match=r"demo/libdemo.so was not compiled in .*'GCC: \(Debian 10.2.1-6\)"
    ):
        check.action(ctx)


def test_container_build_passes_the_shared_cache_by_name(make_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = "redis://:s3cret@127.0.0.1:6379"
    cfg = config.load(make_config(), env={"MLC_CI_CACHE_REMOTE": url})
    env = {"PATH": "/usr/bin:/bin", "MLC_CI_CACHE_REMOTE": url}
    plan = wheels_linux.plan(args(variant="cpu", container=True), cfg, env)
    build = steps_by_title(plan)["build demo-cpu wheel"]
    assert "CCACHE_REMOTE_STORAGE" in build.argv
    assert "s3cret" not in " ".join((*build.argv, *build.env.values()))
    assert build.env["CMAKE_CXX_COMPILER_LAUNCHER"] == "ccache"


def test_container_prelude_lets_the_image_decide_on_ccache(tmp_path):
    launchers = {f"CMAKE_{lang}_COMPILER_LAUNCHER": "ccache" for lang in ("C", "CXX", "CUDA")}
    shown = ("/bin/sh", "-c", wheels.CONTAINER_PRELUDE, "sh", "/usr/bin/env")
    without = subprocess.run(
        shown, env={"PATH": str(tmp_path), **launchers}, capture_output=True, text=True, check=True
    )
    assert "COMPILER_LAUNCHER" not in without.stdout
    fake = tmp_path / "ccache"
    fake.write_text("#!/bin/sh\n", encoding="utf-8")
    fake.chmod(0o755)
    kept = subprocess.run(
        shown, env={"PATH": str(tmp_path), **launchers}, capture_output=True, text=True, check=True
    )
    assert "CMAKE_CXX_COMPILER_LAUNCHER=ccache" in kept.stdout


def test_prepare_writes_config_and_renames_then_restores(cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = wheels_linux.plan(args(variant="cu130"), cfg, {})
    steps = steps_by_title(plan)
    pyproject = cfg.source_dir / "pyproject.toml"
    original = pyproject.read_text()
    ctx = {}
    steps["prepare source and staging"].action(ctx)
    assert "set(USE_CUDA ON)" in (cfg.source_dir / "config.cmake").read_text()
    assert 'name = "demo-cu130"' in pyproject.read_text()
    steps["restore source tree"].action(ctx)
    assert pyproject.read_text() == original
    assert not (cfg.source_dir / "config.cmake").exists()


def test_prepare_refuses_a_hand_written_config(cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (cfg.source_dir / "config.cmake").write_text("set(USE_CUDA ON)\n")
    plan = wheels_linux.plan(args(variant="cpu"), cfg, {})
    with pytest.raises(PipelineError, match="was not written by mlc-ci"):
        steps_by_title(plan)["prepare source and staging"].action({})
    assert (cfg.source_dir / "config.cmake").read_text() == "set(USE_CUDA ON)\n"


def test_locate_needs_exactly_one_wheel(tmp_path):
    locate = wheel_steps.locate(tmp_path, "wheel")  # pylint: disable=protected-access
    with pytest.raises(PipelineError, match="expected one wheel.*found 0"):
        locate({})
    make_wheel(tmp_path / "a-1-py3-none-any.whl", ["x"])
    ctx = {}
    locate(ctx)
    assert ctx["wheel"].endswith("a-1-py3-none-any.whl")


GOOD = [
    "demo/__init__.py",
    "demo/libdemo.so",
    "demo/libdemo_cuda.so",
    "demo_cu130-1.0.dist-info/RECORD",
]
REPAIRED = "demo_cu130-1.0-py3-none-manylinux_2_31_x86_64.whl"


def run_verify_and_publish(cfg, tmp_path, names, audit, after=lambda: None):
    """Run the real verify and publish steps on hand-made wheels (`after` may change them
    first); return the context."""
    env = {"MLC_CI_JOBS": "1", "CUDA_HOME": str(tmp_path / "cuda")}
    plan = wheels_linux.plan(args(variant="cu130", dry_run=False), cfg, env)
    steps = steps_by_title(plan)
    ctx = {
        "wheel": str(
            make_wheel(tmp_path / "raw" / "demo_cu130-1.0-py3-none-linux_x86_64.whl", GOOD)
        ),
        "repaired": str(make_wheel(tmp_path / "fixed" / REPAIRED, names)),
        "audit_json": json.dumps(audit),
        "ccache_stats": "direct_cache_hit\t3\ncache_miss\t1\n",
    }
    after()
    runner = Runner(out=io.StringIO())
    runner.context = ctx
    runner.run(steps["check tag, libraries and contents"])
    runner.run(Step("record cache hits", action=wheel_steps.record_ccache))
    runner.run(steps[f"publish into {tmp_path / 'dist'}"])
    return ctx


def test_verified_wheel_is_published_with_report(cfg, tmp_path, monkeypatch, toolkit):
    del toolkit
    monkeypatch.chdir(tmp_path)
    audit = {"overall_tag": "manylinux_2_31_x86_64", "external_libs": {"libcudart.so.13": None}}
    ctx = run_verify_and_publish(cfg, tmp_path, GOOD + ["demo.libs/libz-ab.so.1"], audit)
    assert (tmp_path / "dist" / REPAIRED).is_file()
    assert [p.name for p in (tmp_path / "dist").iterdir()] == [REPAIRED]
    (art,) = ctx["artifacts"]
    assert art.details["grafted"] == ["demo.libs/libz-ab.so.1"]
    assert art.details["excluded"] == ["libcudart.so.13"]
    assert art.details["ccache"]["hit_rate"] == 0.75
    assert art.details["tag"] == "manylinux_2_31_x86_64"  # from the file name


def test_failed_verification_keeps_dist_untouched(cfg, tmp_path, monkeypatch, toolkit):
    del toolkit
    monkeypatch.chdir(tmp_path)
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / REPAIRED).write_bytes(b"previous good wheel")
    audit = {"overall_tag": "manylinux_2_31_x86_64", "external_libs": {"libfoo.so.1": "/x"}}
    with pytest.raises(
        PipelineError, match="failed verification: .*libfoo.so.1.*missing.*stays in"
    ):
        run_verify_and_publish(cfg, tmp_path, GOOD[:2] + GOOD[3:], audit)
    assert (dist / REPAIRED).read_bytes() == b"previous good wheel"


def test_a_library_that_is_no_elf_file_fails_verification(cfg, tmp_path, monkeypatch, toolkit):
    del toolkit
    monkeypatch.chdir(tmp_path)
    audit = {"overall_tag": "manylinux_2_31_x86_64", "external_libs": {}}
    wheel = tmp_path / "fixed" / REPAIRED
    with pytest.raises(
        PipelineError, match=r"cannot read demo/libdemo_cuda.so as an ELF shared object \("
    ):
        run_verify_and_publish(cfg, tmp_path, GOOD, audit, after=lambda: _lfs_pointer(wheel))
    assert not (tmp_path / "dist").exists()


def _lfs_pointer(wheel: Path) -> None:
    """Rewrite the wheel with a Git LFS pointer in place of demo/libdemo_cuda.so."""
    with zipfile.ZipFile(wheel) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["demo/libdemo_cuda.so"] = b"version https://git-lfs.github.com/spec/v1\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_cuda_variant_without_nvcc_is_refused(cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    no_cuda = {"CUDA_HOME": str(tmp_path / "no-toolkit-here")}
    with pytest.raises(PipelineError, match=r"looked at: CUDA_HOME=.*no-toolkit-here; a toolkit"):
        wheels_linux.plan(args(variant="cu130", dry_run=False), cfg, no_cuda)


def test_auto_without_nvcc_picks_cpu(cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    no_cuda = {"CUDA_HOME": str(tmp_path / "no-toolkit-here")}
    plan = wheels_linux.plan(args(variant="auto", dry_run=False), cfg, no_cuda)
    assert plan.report_name == "wheels-linux-demo-cpu"
    assert plan.notes[0] == "auto: no nvcc on this host, picked 'cpu'"


def test_source_without_cmakelists_is_refused(cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (cfg.source_dir / "CMakeLists.txt").unlink()
    with pytest.raises(PipelineError, match="has no CMakeLists.txt"):
        wheels_linux.plan(args(variant="cpu", dry_run=False), cfg, {})


def test_auto_with_the_host_toolkit(cfg, tmp_path, monkeypatch, toolkit):
    monkeypatch.chdir(tmp_path)
    plan = wheels_linux.plan(args(variant="auto", dry_run=False), cfg, {"CUDA_HOME": str(toolkit)})
    assert plan.notes[0] == "auto: nvcc 13.0 found, picked 'cu130'"
    build = next(s for s in plan.steps if s.title.startswith("build "))
    assert build.env["CUDACXX"] == f"{toolkit}/bin/nvcc"


NIGHTLY = SourceVersion("0.2.1.dev3", "0.2.1-dev.3+abc1234", "abc1234", 7, "git (v0.2.0 + 3)")


def test_prepare_stamps_the_version_and_restore_puts_it_back(cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    variant = cfg.variant("cpu")
    pyproject = cfg.source_dir / "pyproject.toml"
    original = pyproject.read_text()
    ctx = {}
    wheel_steps.prepare(cfg, variant, wheel_steps.Layout(cfg, variant, None), NIGHTLY)(ctx)
    assert wheels.static_version(pyproject.read_text()) == "0.2.1.dev3"
    assert wheels.distribution_name(pyproject.read_text()) == "demo-cpu"
    wheel_steps.restore()(ctx)
    assert pyproject.read_text() == original


def test_a_wheel_that_ignores_the_stamped_version_fails(tmp_path):
    ctx = {"repaired": str(tmp_path / "demo_cpu-1.0-py3-none-linux_x86_64.whl")}
    with pytest.raises(PipelineError, match="is version 1.0, but the build stamped 0.2.1.dev3"):
        wheel_steps.check_version(NIGHTLY)(ctx)
    ctx["repaired"] = str(tmp_path / "demo_cpu-0.2.1.dev3-py3-none-linux_x86_64.whl")
    wheel_steps.check_version(NIGHTLY)(ctx)
    assert ctx["report"]["version"] == {
        "version": "0.2.1.dev3",
        "origin": "git (v0.2.0 + 3)",
        "revision": "abc1234",
        "source_date_epoch": 7,
        "source_date_epoch_from": "",
    }


def test_the_reproducibility_check_rebuilds_without_ccache_elsewhere(cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = wheels_linux.plan(args(variant="cpu", check_reproducible=True), cfg, {})
    titles = [s.title for s in plan.steps]
    assert titles.index("compare the two repaired wheels") < titles.index(
        f"publish into {tmp_path / 'dist'}"
    )  # a wheel that is not reproducible is never published
    rebuild = steps_by_title(plan)["rebuild in a second directory, without a compile cache"]
    assert rebuild.env["CCACHE_DISABLE"] == "1" and "CMAKE_CXX_COMPILER_LAUNCHER" not in rebuild.env
    copy = rebuild.argv[-1]
    assert copy.endswith("/rebuild/src/src-tree") and copy != str(cfg.source_dir)


def test_the_python_matrix_smokes_every_other_python(cfg, tmp_path):
    (tmp_path / "bin").mkdir()
    env = {"PATH": str(tmp_path / "bin")}  # no other Python here
    found, note = wheel_steps.python_matrix(cfg, env)
    assert not found and note.startswith("no Python ") and "not smoke-tested there" in note
    with pytest.raises(PipelineError, match=r"is not on PATH, so the wheel cannot be smoke-test"):
        wheel_steps.python_matrix(cfg, {**env, "CI": "true"})
    assert wheel_steps.python_matrix(
        cfg, {**env, "CI": "true", "MLC_CI_SMOKE_PYTHONS": "current"}
    ) == ([], "")
    own = f"{sys.version_info.major}.{sys.version_info.minor}"
    (tmp_path / "bin" / f"python{own}").symlink_to(sys.executable)
    other = "3.99"
    (tmp_path / "bin" / f"python{other}").symlink_to(sys.executable)  # says it is {own}
    found, note = wheel_steps.python_matrix(cfg, {**env, "MLC_CI_SMOKE_PYTHONS": f"{own},{other}"})
    assert not found and "no Python 3.99" in note  # a wrong interpreter does not count


def test_a_long_smoke_command_keeps_the_step_titles_short(make_config, tmp_path, monkeypatch):
    from tests.conftest import MINIMAL  # pylint: disable=import-outside-toplevel

    words = " ".join(f"--flag-number-{i}" for i in range(25))
    long_command = f"python -m demo check-device cuda --allow-missing {words}"  # ~440 chars
    text = MINIMAL + CUDA_TOML.replace(
        '"python -m demo check-device cuda --allow-missing"', f'"{long_command}"'
    )
    cfg = config.load(make_config(text), env={})
    assert cfg.variants["cu130"].smoke == (long_command,) and len(long_command) > 400
    monkeypatch.chdir(tmp_path)
    plan = wheels_linux.plan(args(variant="cu130"), cfg, {"MLC_CI_SMOKE_PYTHONS": "current"})
    smoke = [s for s in plan.steps if s.title.startswith("smoke: ")]
    assert smoke and all(len(s.title) <= 70 for s in smoke), [s.title for s in smoke]
    assert smoke[0].argv[-25:] == tuple(words.split())  # the whole command still runs


def docker_with(tmp_path, *present: str) -> str:
    """A docker CLI stand-in (20.10, engine up, no buildx) that holds only `present` images."""
    path = tmp_path / "docker"
    names = " ".join(present)
    path.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        '  --version) echo "Docker version 20.10.24, build 297e128"; exit 0 ;;\n'
        "  buildx) exit 1 ;;\n"
        '  version) echo "20.10.24"; exit 0 ;;\n'
        "  image) for have in " + names + '; do [ "$5" = "$have" ] && exit 0; done; exit 1 ;;\n'
        "esac\nexit 99\n",
        encoding="utf-8",
    )
    path.chmod(0o755)
    return str(path)


def before_cpu(make_config, tables: str):
    """A pipeline.toml with `tables` in place of its `[variants.cpu]` header."""
    return make_config(
        make_config().read_text(encoding="utf-8").replace("[variants.cpu]", tables, 1)
    )


def container_cfg(make_config, docker: str, base: str = ""):
    """A pipeline.toml whose engine is `docker` (and whose builder is made from `base`)."""
    # A builder made here needs a tagged name.
    image = 'image = "mlc-ci/wheel-builder:bullseye"\n' if base else ""
    path = before_cpu(make_config, f'[container]\nbase = "{base}"\n{image}\n[variants.cpu]')
    cfg = config.load(path, env={})
    return dataclasses.replace(cfg, image=dataclasses.replace(cfg.image, docker=docker))


def test_container_image_present_needs_no_step(make_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = container_cfg(make_config, "")
    cfg = dataclasses.replace(
        cfg,
        image=dataclasses.replace(cfg.image, docker=docker_with(tmp_path, cfg.container.image)),
    )
    plan = wheels_linux.plan(args(variant="cpu", container=True, dry_run=False), cfg, {})
    titles = [s.title for s in plan.steps]
    assert not [t for t in titles if t.startswith(("pull ", "make "))]
    assert titles[1] == "prepare the container's home"


def test_a_missing_image_is_pulled_or_made_from_its_base(make_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pulled = container_cfg(make_config, docker_with(tmp_path))
    plan = wheels_linux.plan(args(variant="cpu", container=True, dry_run=False), pulled, {})
    pull = plan.steps[1]
    assert pull.argv[1:] == ("pull", pulled.container.image) and pull.retries == 2
    made = container_cfg(
        make_config, docker_with(tmp_path, "mlc-ci/debian:bullseye"), "mlc-ci/debian:bullseye"
    )
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    env = {"MLC_CI_CA_BUNDLE": str(ca)}
    plan = wheels_linux.plan(args(variant="cpu", container=True, dry_run=False), made, env)
    steps = steps_by_title(plan)
    make = next(s for s in plan.steps if s.title.startswith("make "))
    assert "--target" in make.argv and make.argv[make.argv.index("--target") + 1] == "toolchain"
    assert "BASE_IMAGE=mlc-ci/debian:bullseye" in make.argv
    assert make.env == {"DOCKER_BUILDKIT": "1"}
    assert "copy the extra CA into the context" in steps and "remove the CA copy" in steps
    steps["prepare the container's home"].action({})
    home = tmp_path / ".cache" / "mlc-ci" / "container-home"
    assert (home / "ca.pem").read_text(encoding="utf-8") == ca.read_text(encoding="utf-8")


def test_setup_lines_are_baked_onto_the_pulled_pinned_base(make_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pinned = "127.0.0.1:5000/manylinux@sha256:" + "a" * 64
    path = before_cpu(
        make_config,
        f'[container]\nimage = "{pinned}"\nsetup = ["RUN echo baked > /baked"]\n\n[variants.cpu]',
    )
    cfg = config.load(path, env={})
    cfg = dataclasses.replace(
        cfg, image=dataclasses.replace(cfg.image, docker=docker_with(tmp_path))
    )
    plan = wheels_linux.plan(args(variant="cpu", container=True, dry_run=False), cfg, {})
    titles = [s.title for s in plan.steps]
    pull = next(s for s in plan.steps if s.title.startswith("pull "))
    # The registry has the pinned base, never the local name of the baked image.
    assert pull.argv[1:] == ("pull", pinned)
    bake = next(i for i, t in enumerate(titles) if t.startswith("bake the setup into "))
    assert titles.index(pull.title) < bake
    assert "mlc-ci/wheel-builder" in titles[bake] and pinned not in titles[bake]


def test_a_missing_base_is_one_line_before_anything_runs(make_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = container_cfg(make_config, docker_with(tmp_path), "mlc-ci/debian:bullseye")
    with pytest.raises(PipelineError) as err:
        wheels_linux.plan(args(variant="cpu", container=True, dry_run=False), cfg, {})
    assert str(err.value) == (
        f"the base image mlc-ci/debian:bullseye ([container].base) of "
        f"{cfg.container.image} is not in the engine; make it with "
        "`docker/bootstrap-base.sh mlc-ci/debian:bullseye bullseye`."
    )


def test_container_setup_is_baked_into_a_builder_of_its_own(make_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = config.load(
        before_cpu(
            make_config,
            '[container]\nimage = "img:1"\nsetup = ["ENV A=1"]\n\n[variants.cpu]\n'
            'container_setup = ["RUN echo baked > /baked"]',
        ),
        env={},
    )
    cfg = dataclasses.replace(
        cfg, image=dataclasses.replace(cfg.image, docker=docker_with(tmp_path, "img:1"))
    )
    plan = wheels_linux.plan(args(variant="cpu", container=True, dry_run=False), cfg, {})
    baked = wheels.setup_image(
        "cpu", wheels.setup_dockerfile("img:1", ("ENV A=1", "RUN echo baked > /baked"))
    )
    steps = steps_by_title(plan)
    write, bake = (
        steps[f"write the setup Dockerfile of {baked}"],
        steps[f"bake the setup into {baked}"],
    )
    assert "--target" not in bake.argv and bake.argv[bake.argv.index("-t") + 1] == baked
    write.action({})
    dockerfile = tmp_path / bake.argv[bake.argv.index("-f") + 1]
    assert dockerfile.read_text(encoding="utf-8").splitlines()[1:] == [
        "FROM img:1",
        "USER root",
        "ENV A=1",
        "RUN echo baked > /baked",
    ]
    # The build runs in the baked image; a changed setup names another one.
    assert baked in steps["build demo-cpu wheel"].argv
    assert wheels.setup_image("cpu", wheels.setup_dockerfile("img:1", ("ENV A=2",))) != baked


def test_the_configured_default_and_the_flags(make_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = before_cpu(
        make_config, '[container]\nlinux_wheels = true\npython = "3.12"\n\n[variants.cpu]'
    )
    cfg = config.load(path, env={})
    inside = wheels_linux.plan(args(variant="cpu", container=None, python=None), cfg, {})
    build = steps_by_title(inside)["build demo-cpu wheel"]
    assert build.argv[:2] == ("docker", "run") and "python3.12" in build.argv
    host = wheels_linux.plan(args(variant="cpu", container=False), cfg, {})
    assert steps_by_title(host)["build demo-cpu wheel"].argv[0] != "docker"
    off = config.load(path, env={"MLC_CI_CONTAINER": "0"})
    plain = wheels_linux.plan(args(variant="cpu", container=None), off, {})
    assert steps_by_title(plain)["build demo-cpu wheel"].argv[0] != "docker"
    with pytest.raises(PipelineError, match=r"build there \(--no-container\)"):
        wheels_linux.plan(args(variant="cpu", container=None, check_reproducible=True), cfg, {})


def pure_wheel(where: Path, name: str, requires: tuple[str, ...] = ()) -> Path:
    """A py3-none-any wheel holding package `name` (an empty module) and its Requires-Dist."""
    path = where / f"{name}-1.0-py3-none-any.whl"
    info = f"{name}-1.0.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    wheel = (
        "Wheel-Version: 1.0\nGenerator: mlc-ci tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    members = {f"{name}/__init__.py": "", f"{info}/METADATA": metadata, f"{info}/WHEEL": wheel}
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in members.items():
            archive.writestr(member, text)
        archive.writestr(
            f"{info}/RECORD", "".join(f"{m},,\n" for m in members) + f"{info}/RECORD,,\n"
        )
    return path


def test_the_smoke_venv_installs_the_requirements_less_the_skipped(make_config, tmp_path, capsys):
    """Real uv, offline: the wheel needs torch and demo_dep; torch is skipped, demo_dep comes
    from the variant's smoke_requires (a local file), so nothing is fetched."""
    from tests.conftest import MINIMAL  # pylint: disable=import-outside-toplevel

    dep = pure_wheel(tmp_path, "demo_dep")
    text = MINIMAL.replace("[variants.cpu]", f"[variants.cpu]\nsmoke_requires = [{str(dep)!r}]")
    text += '\n[wheel]\nfrontend = "uv"\nsmoke_skip = ["Torch"]\n'
    text += 'smoke = ["python -c \\"import demo_app, demo_dep\\""]\n'
    cfg = config.load(make_config(text), env={})
    layout = wheel_steps.Layout(cfg, cfg.variant("cpu"), str(tmp_path / "out"))
    for directory in (layout.stage, layout.empty):
        directory.mkdir(parents=True, exist_ok=True)
    steps = wheel_steps.smoke_steps(cfg, cfg.variant("cpu"), layout, "kept")
    runner = Runner(out=io.StringIO(), env={**os.environ, "UV_OFFLINE": "1"})
    runner.context["repaired"] = str(pure_wheel(tmp_path, "demo_app", ("torch>=2", "demo-dep")))
    for step in steps:
        runner.run(step)
    listed = (layout.stage / "venv-requirements.txt").read_text(encoding="utf-8")
    assert listed == "demo-dep\n"
    assert "left out ([wheel].smoke_skip): torch>=2" in capsys.readouterr().out
    site = next((layout.venv / "lib").glob("python3.*/site-packages"))
    assert (site / "demo_dep").is_dir() and not list(site.glob("torch*"))
