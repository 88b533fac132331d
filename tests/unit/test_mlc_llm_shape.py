"""Verification rules against MLC-LLM's real wheel layout (tests/fixtures/mlc-llm-cpu-wheel.toml,
the facts of a real build): the root pipeline.toml accepts it, and each rule that lets a real
file through fails when its setting is taken away."""

from __future__ import annotations

import dataclasses

import pytest

from mlc_ci import config
from mlc_ci.errors import PipelineError
from mlc_ci.plan import wheels
from tests import mlc_llm_shape

pytestmark = pytest.mark.unit

# `auditwheel show --json` (6.8.2) of the fixture wheel repaired with the root pipeline.toml's
# excludes to manylinux_2_28: auditwheel's external_libs is its strictest policy's list.
AUDIT = {
    "pure": False,
    "overall_tag": "linux_x86_64",
    "external_libs": {
        "libmvec.so.1": "/lib/x86_64-linux-gnu/libmvec.so.1",
        "libtvm_ffi.so": None,
        "libtvm_runtime.so": None,
        "libtvm_runtime_extra.so": None,
    },
    "policy_upgrades": {
        "manylinux_2_28_x86_64": {
            "libs_to_eliminate": ["libtvm_ffi.so", "libtvm_runtime.so", "libtvm_runtime_extra.so"]
        },
        "manylinux_2_17_x86_64": {
            "libs_to_eliminate": [
                "libmvec.so.1",
                "libtvm_ffi.so",
                "libtvm_runtime.so",
                "libtvm_runtime_extra.so",
            ]
        },
    },
}
REPAIRED = "mlc_llm_cpu-0.20.0.dev0-py3-none-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl"


@pytest.fixture(name="mlc")
def fixture_mlc(root):
    return config.load(root / "pipeline.toml", env={})


def problems(cfg, names=None):
    """The content problems of the fixture's members under cfg's rules (cpu variant)."""
    variant = cfg.variant("cpu")
    return wheels.content_problems(
        mlc_llm_shape.member_names() if names is None else names,
        (*cfg.wheel.expected_files, *variant.expected_files),
        wheels.repair_excludes(cfg, variant),
        variant.distribution,
        packed=cfg.wheel.packed,
        allowed=cfg.wheel.allow_files,
    )


def test_the_root_profile_accepts_the_real_layout(mlc):
    assert not problems(mlc)
    assert not wheels.audit_problems(
        AUDIT, REPAIRED, mlc.wheel.plat, wheels.repair_excludes(mlc, mlc.variant("cpu"))
    )


def test_packed_libraries_are_declared_not_excused(mlc):
    unpacked = dataclasses.replace(mlc, wheel=dataclasses.replace(mlc.wheel, packed=()))
    assert problems(unpacked) == [
        f"mlc_llm/lib/{lib} is on the exclude list but was packed into the wheel (list it in "
        "[wheel].packed if the project ships it itself)"
        for lib in ("libtvm_runtime.so", "libtvm_runtime_extra.so")
    ]
    missing = [n for n in mlc_llm_shape.member_names() if not n.endswith("libtvm_runtime.so")]
    assert problems(mlc, missing) == [
        "[wheel].packed names mlc_llm/lib/libtvm_runtime.so, which the wheel lacks"
    ]


def test_the_static_archives_pass_only_where_allowed(mlc):
    strict = dataclasses.replace(mlc, wheel=dataclasses.replace(mlc.wheel, allow_files=()))
    assert problems(strict) == [
        f"stray build file {name}" for name in mlc_llm_shape.FACTS["files"]["archives"]
    ]


def test_system_libraries_follow_the_wheels_own_policy():
    # libmvec is allowed from manylinux_2_24 on; the strictest policy's list would flag it.
    assert wheels.external_libraries(AUDIT, wheels.wheel_tags(REPAIRED)) == [
        "libtvm_ffi.so",
        "libtvm_runtime.so",
        "libtvm_runtime_extra.so",
    ]
    legacy = wheels.external_libraries(AUDIT, ["manylinux2014_x86_64"])  # = manylinux_2_17
    assert legacy[0] == "libmvec.so.1"
    assert wheels.external_libraries(AUDIT, ["linux_x86_64"]) == sorted(AUDIT["external_libs"])
    assert (
        wheels.external_libraries({**AUDIT, "policy_upgrades": {}}, ["manylinux_2_28_x86_64"]) == []
    )
    no_upgrades = {k: v for k, v in AUDIT.items() if k != "policy_upgrades"}
    assert len(wheels.external_libraries(no_upgrades, ["manylinux_2_28_x86_64"])) == 4
    flagged = wheels.audit_problems(AUDIT, REPAIRED.replace("_2_24", "_2_17"), "auto", [])
    assert "external library libmvec.so.1 is neither grafted nor excluded" in flagged


def test_duplicated_libraries_are_reported_with_their_size():
    members = [
        ("mlc_llm/libmlc_llm.so", 7, 5_300_000),
        ("mlc_llm/lib/libmlc_llm.so", 7, 5_300_000),
        ("mlc_llm/lib/libtvm_runtime.so", 7, 2_300_000),
        ("mlc_llm/a.py", 9, 10),
        ("mlc_llm/b.py", 9, 10),
        ("mlc_llm/lib/libx.so.1.2", 3, 40),
        ("mlc_llm/liby.so.1.2", 3, 40),
    ]
    assert wheels.duplicate_libraries(members) == [
        {"paths": ["mlc_llm/lib/libmlc_llm.so", "mlc_llm/libmlc_llm.so"], "size": 5_300_000},
        {"paths": ["mlc_llm/lib/libx.so.1.2", "mlc_llm/liby.so.1.2"], "size": 40},
    ]


def fact_links():
    """The fixture's libraries as verification reads them: {path: (soname, NEEDED, RUNPATH)}."""
    by_path = {lib["path"]: lib for lib in mlc_llm_shape.FACTS["library"]}
    links = {}
    for path, lib in by_path.items():
        source = by_path[lib["copy_of"]] if "copy_of" in lib else lib
        runpath = tuple(filter(None, source.get("runpath", "").split(":")))
        links[path] = (path.rsplit("/", 1)[-1], tuple(source.get("needed", ())), runpath)
    return links


def test_runpaths_reach_every_packed_sibling_nothing_else_provides(mlc):
    excludes = wheels.repair_excludes(mlc, mlc.variant("cpu"))
    assert not wheels.unreachable_siblings(fact_links(), excludes)
    # Without the pair, mlc_llm/'s $ORIGIN misses mlc_llm/lib/ (mlc_llm/lib/'s copies reach it).
    unpaired = [e for e in excludes if not e.startswith("libtvm_runtime")]
    assert wheels.unreachable_siblings(fact_links(), unpaired) == [
        f"mlc_llm/{lib} needs {needed}, which the wheel has at mlc_llm/lib/{needed}, but its "
        "RUNPATH ($ORIGIN) does not reach it"
        for lib in ("libmlc_llm.so", "libmlc_llm_module.so")
        for needed in ("libtvm_runtime_extra.so", "libtvm_runtime.so")
    ]


@pytest.mark.parametrize(
    ("runpath", "reached"),
    [
        (("$ORIGIN/lib",), True),
        (("${ORIGIN}/lib",), True),
        (("/opt/build/lib",), False),  # the build host's path, not the installed wheel's
        (("$ORIGIN/../pkg/lib",), True),
        ((), False),
    ],
)
def test_only_origin_relative_runpaths_reach_a_sibling(runpath, reached):
    links = {
        "pkg/liba.so": ("liba.so", ("libb.so.1",), runpath),
        "pkg/lib/libb.so.1.2": ("libb.so.1", (), ()),
    }
    assert (not wheels.unreachable_siblings(links, [])) is reached


# MLC-LLM's cpu wheel's Requires-Dist at 79d603f0 (../shared/reference/mlc-llm-real-build.md),
# plus one extra's requirement as scikit-build-core writes it.
REQUIRES = [
    "apache-tvm-ffi",
    "datasets",
    "fastapi",
    'flashinfer-python; sys_platform == "linux"',
    "ml_dtypes>=0.5.1",
    "openai",
    "pandas",
    "prompt_toolkit",
    "requests",
    "safetensors",
    "sentencepiece",
    "shortuuid",
    "tiktoken",
    "torch",
    "tqdm",
    "transformers",
    "uvicorn",
    'pytest; extra == "test"',
]


def test_the_smoke_venv_leaves_out_what_the_root_profile_skips(mlc):
    metadata = "Name: mlc-llm-cpu\n" + "".join(f"Requires-Dist: {r}\n" for r in REQUIRES)
    kept, left_out = wheels.smoke_requirements(metadata, mlc.wheel.smoke_skip)
    assert left_out == [
        "datasets",
        'flashinfer-python; sys_platform == "linux"',
        "torch",
        "transformers",
    ]
    assert "apache-tvm-ffi" in kept and "ml_dtypes>=0.5.1" in kept and len(kept) == 13
    assert not any("pytest" in r for r in kept + left_out)  # an extra's, never installed
    # Names match as distributions do: Flashinfer_Python is flashinfer-python.
    assert wheels.smoke_requirements(metadata, ["Flashinfer_Python"])[1] == [REQUIRES[3]]
    with pytest.raises(PipelineError, match="bad Requires-Dist 'torch>>2'"):
        wheels.smoke_requirements("Requires-Dist: torch>>2\n", ())
