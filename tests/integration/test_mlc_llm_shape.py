"""MLC-LLM's real wheel shape through the real repair and the session's verification: stub
libraries with the recorded NEEDED and RUNPATH (tests/mlc_llm_shape.py), `auditwheel repair` with
the root pipeline.toml's plat and excludes, `auditwheel show`, then wheels-linux's own check."""

from __future__ import annotations

import io
import json
import subprocess
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from mlc_ci import config
from mlc_ci.errors import PipelineError
from mlc_ci.plan import wheels
from mlc_ci.sessions import wheels_linux
from tests import mlc_llm_shape

pytestmark = pytest.mark.integration


@pytest.fixture(name="repaired", scope="module")
def fixture_repaired(tmp_path_factory):
    """(root config, the unrepaired wheel, the repaired one, its `auditwheel show --json`)."""
    work = tmp_path_factory.mktemp("mlc-llm-shape")
    cfg = config.load(Path(__file__).resolve().parents[2] / "pipeline.toml", env={})
    raw, _ = mlc_llm_shape.build(work)
    excludes = wheels.repair_excludes(cfg, cfg.variant("cpu"))
    out = work / "repaired"
    subprocess.run(
        wheels.repair_argv(cfg.wheel.plat, excludes, str(out), str(raw)),
        check=True,
        capture_output=True,
    )
    (fixed,) = out.glob("*.whl")
    show = subprocess.run(
        ("auditwheel", "show", "--json", str(fixed)), check=True, capture_output=True, text=True
    )
    return cfg, raw, fixed, show.stdout


def verify(cfg, raw, fixed, audit_json, excludes):
    """Run wheels-linux's verification action; (its context, what it printed)."""
    ctx = {"wheel": str(raw), "repaired": str(fixed), "audit_json": audit_json}
    printed = io.StringIO()
    with redirect_stdout(printed):
        wheels_linux.verify(cfg, cfg.variant("cpu"), excludes, "kept")(ctx)
    return ctx, printed.getvalue()


def test_the_real_shape_repairs_to_manylinux_2_28_and_verifies(repaired):
    cfg, raw, fixed, audit_json = repaired
    assert "manylinux_2_28_x86_64" in wheels.wheel_tags(fixed.name)
    # auditwheel's strictest policy still names libmvec; the wheel's own tag allows it.
    assert "libmvec.so.1" in json.loads(audit_json)["external_libs"]
    excludes = wheels.repair_excludes(cfg, cfg.variant("cpu"))
    ctx, printed = verify(cfg, raw, fixed, audit_json, excludes)
    report = ctx["report"]
    assert report["excluded"] == ["libtvm_ffi.so", "libtvm_runtime.so", "libtvm_runtime_extra.so"]
    assert sorted(group["paths"] for group in report["duplicates"]) == [
        ["mlc_llm/lib/libmlc_llm.so", "mlc_llm/libmlc_llm.so"],
        ["mlc_llm/lib/libmlc_llm_module.so", "mlc_llm/libmlc_llm_module.so"],
    ]
    assert "duplicated library" in printed and "mlc_llm/lib/libmlc_llm.so" in printed


def test_a_needed_library_nothing_provides_fails_verification(repaired):
    cfg, raw, fixed, audit_json = repaired
    # As if apache-tvm-ffi did not provide libtvm_ffi.so: neither packed, grafted nor excluded.
    excludes = tuple(
        e for e in wheels.repair_excludes(cfg, cfg.variant("cpu")) if e != "libtvm_ffi.so"
    )
    with pytest.raises(PipelineError) as failed:
        verify(cfg, raw, fixed, audit_json, excludes)
    assert "external library libtvm_ffi.so is neither grafted nor excluded" in str(failed.value)
    assert "libmvec" not in str(failed.value)


def test_a_packed_sibling_its_runpath_misses_is_named(repaired):
    """Real ELF links: were libtvm_runtime.so not the paired wheel's, mlc_llm/libmlc_llm.so's
    $ORIGIN could not reach the copy in mlc_llm/lib/ (a fact of the real wheel)."""
    cfg, raw, fixed, audit_json = repaired
    excludes = tuple(
        e
        for e in wheels.repair_excludes(cfg, cfg.variant("cpu"))
        if not e.startswith("libtvm_runtime")
    )
    with pytest.raises(PipelineError) as failed:
        verify(cfg, raw, fixed, audit_json, excludes)
    message = str(failed.value)
    assert (
        "mlc_llm/libmlc_llm.so needs libtvm_runtime.so, which the wheel has at "
        "mlc_llm/lib/libtvm_runtime.so, but its RUNPATH ($ORIGIN) does not reach it"
    ) in message
    assert "mlc_llm/lib/libmlc_llm.so needs" not in message  # its $ORIGIN is mlc_llm/lib
