"""Wheel planning against the MLC-LLM facts in shared/reference/mlc-llm-build.md."""

from __future__ import annotations

import re

import pytest

from mlc_ci import config
from mlc_ci.errors import PipelineError
from mlc_ci.plan import wheels

pytestmark = pytest.mark.unit


@pytest.fixture(name="mlc")
def fixture_mlc(root):
    return config.load(root / "pipeline.toml", env={})


def test_config_cmake_for_cu128(mlc):
    """Every entry is one `set()` line, in the table's order (facts: test_mlc_llm_variants)."""
    text = wheels.config_cmake(mlc.variant("cu128"))
    assert text.startswith(wheels.MARKER)
    lines = text.splitlines()[1:]
    assert lines[:2] == ["set(USE_CUDA ON)", "set(USE_CUBLAS ON)"]
    assert "set(USE_CUTLASS OFF)" in lines and "set(USE_NCCL ON)" in lines
    assert 'set(CMAKE_CUDA_ARCHITECTURES "80;89;90a;120")' in lines
    assert len(lines) == len(mlc.variant("cu128").config)


def test_windows_config_replaces_entries_only_on_windows(mlc):
    cu128 = mlc.variant("cu128")
    assert cu128.config["USE_NCCL"] is True
    assert cu128.on_windows().config == {**cu128.config, "USE_NCCL": False}
    assert mlc.variant("cpu").on_windows() is mlc.variant("cpu")


@pytest.mark.parametrize(
    ("value", "literal"), [(True, "ON"), (False, "OFF"), (3, "3"), ('a"b', '"a\\"b"')]
)
def test_cmake_value(value, literal):
    assert wheels.cmake_value(value) == literal


def test_wheel_names_per_variant(mlc):
    names = {name: v.distribution for name, v in mlc.variants.items()}
    assert names == {
        "cpu": "mlc-llm-cpu",
        "cu128": "mlc-llm-cu128",
        "cu130": "mlc-llm-cu130",
        "vulkan": "mlc-llm-vulkan",
    }


def test_repair_excludes_follow_upstream(mlc):
    cpu = wheels.repair_excludes(mlc, mlc.variant("cpu"))
    assert {"libtvm.so", "libtvm_runtime.so", "libtvm_ffi.so", "libvulkan.so.*"} <= set(cpu)
    assert not any(x.startswith(("libcuda", "libcublas")) for x in cpu)
    cuda = wheels.repair_excludes(mlc, mlc.variant("cu128"))
    assert {
        "libcuda.so.*",
        "libcudart.so.*",
        "libnvrtc.so.*",
        "libcublas.so.*",
        "libcublasLt.so.*",
    } <= set(cuda)
    assert len(cuda) == len(set(cuda))


def test_repair_argv():
    argv = wheels.repair_argv("manylinux_2_28_x86_64", ["libcuda.so.*"], "/out", "{wheel}")
    assert argv == (
        "auditwheel",
        "repair",
        "--plat",
        "manylinux_2_28_x86_64",
        "-w",
        "/out",
        "--exclude",
        "libcuda.so.*",
        "{wheel}",
    )
    assert wheels.repair_argv("", [], "/o", "w")[3] == "auto"


def test_build_argv_for_both_frontends():
    pip = wheels.build_argv("pip", "/src", "/raw", "/b")
    assert pip == (
        "python",
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "-v",
        "-Cbuild-dir=/b",
        "-w",
        "/raw",
        "/src",
    )
    build = wheels.build_argv("build", "/src", "/raw", "/b", python="/py")
    assert build == ("/py", "-m", "build", "--wheel", "-Cbuild-dir=/b", "--outdir", "/raw", "/src")


def test_build_env_with_ccache_and_cuda():
    env = wheels.build_env(ccache_dir="/cc", jobs=2, cuda_home="/usr/local/cuda")
    assert env["CMAKE_CXX_COMPILER_LAUNCHER"] == "ccache"
    assert env["CMAKE_CUDA_COMPILER_LAUNCHER"] == "ccache"
    assert env["CCACHE_DIR"] == "/cc" and env["CMAKE_BUILD_PARALLEL_LEVEL"] == "2"
    assert env["CUDACXX"] == "/usr/local/cuda/bin/nvcc"
    assert wheels.build_env(ccache_dir=None, jobs=1, cuda_home=None) == {
        "CMAKE_BUILD_PARALLEL_LEVEL": "1"
    }


PYPROJECT = """[build-system]
requires = ["scikit-build-core"]

[project]
name = "mlc-llm"
version = "0.1"

[tool.other]
name = "keep"
"""


def test_rename_distribution_only_touches_project():
    renamed = wheels.rename_distribution(PYPROJECT, "mlc-llm-cu128")
    assert 'name = "mlc-llm-cu128"' in renamed and 'name = "keep"' in renamed
    assert renamed.count("\n") == PYPROJECT.count("\n")


def test_rename_needs_a_static_name():
    with pytest.raises(PipelineError, match="no \\[project\\] table"):
        wheels.rename_distribution("[tool.x]\nname='a'\n", "b")
    with pytest.raises(PipelineError, match="no static \\[project\\].name"):
        wheels.rename_distribution("[project]\ndynamic = ['name']\n", "b")


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("Cuda compilation tools, release 13.0, V13.0.88", "13.0"),
        ("release 12.8, V12.8.93", "12.8"),
        ("garbage", None),
    ],
)
def test_parse_nvcc_version(text, version):
    assert wheels.parse_nvcc_version(text) == version


def test_choose_variant(mlc):
    assert wheels.choose_variant(mlc, "auto", "13.0")[0].name == "cu130"
    assert wheels.choose_variant(mlc, "auto", "12.8")[0].name == "cu128"
    variant, why = wheels.choose_variant(mlc, "auto", None)
    assert variant.name == "cpu" and "no nvcc" in why
    assert "matches no variant" in wheels.choose_variant(mlc, "auto", "11.8")[1]
    assert wheels.choose_variant(mlc, "cpu", None)[0].name == "cpu"
    assert wheels.choose_variant(mlc, "cu130", "13.0")[0].name == "cu130"


def test_cuda_variant_needs_matching_nvcc(mlc):
    with pytest.raises(PipelineError, match="needs the CUDA 13.0 toolkit but none was found"):
        wheels.choose_variant(mlc, "cu130", None)
    with pytest.raises(PipelineError, match="needs CUDA 12.8 but nvcc here is 13.0"):
        wheels.choose_variant(mlc, "cu128", "13.0")
    with pytest.raises(PipelineError, match="unknown variant 'rocm61'"):
        wheels.choose_variant(mlc, "rocm61", None)


NINJA_LOG = """\
# ninja log v5
10\t400\t1000\told/CMakeFiles/x.dir/x.cc.o\taa
383\t1177\t5000\t3rdparty/tiny/CMakeFiles/tiny.dir/src/tiny.cc.o\t81297b87
17\t900\t5001\tCMakeFiles/mini.dir/cpp/mini.cc.o\tf70eb568
1177\t1251\t5002\tlib/libtiny.so\t5fefb5e4
9\t99\t6000\tkernel.obj\tbb
bad\tline\t7000\ty.o\tcc
"""


def test_compile_record_spans_this_runs_object_files_only():
    # The first line is an earlier run's (older mtime); the .so is a link, not a compile.
    assert wheels.compile_record(NINJA_LOG, since_ns=5000) == {"units": 3, "seconds": 1.168}
    assert wheels.compile_record(NINJA_LOG, since_ns=6001) == {"units": 0, "seconds": None}
    assert wheels.compile_record("") == {"units": 0, "seconds": None}


def test_parse_ccache_stats():
    text = (
        "direct_cache_hit\t7\npreprocessed_cache_hit\t1\ncache_miss\t2\n"
        "stats_updated_timestamp\t0\nbogus\n"
    )
    stats = wheels.parse_ccache_stats(text)
    assert (stats["hits"], stats["misses"], stats["hit_rate"]) == (8, 2, 0.8)
    assert stats["remote"]["hits"] == 0 and stats["remote"]["hit_rate"] is None
    assert wheels.parse_ccache_stats("")["hit_rate"] is None
    remote = wheels.parse_ccache_stats(
        "remote_storage_hit\t3\nremote_storage_miss\t1\nremote_storage_error\t2\n"
    )["remote"]
    assert (remote["hits"], remote["misses"], remote["errors"], remote["hit_rate"]) == (
        3,
        1,
        2,
        0.75,
    )


def test_content_problems():
    names = [
        "mini_llm/__init__.py",
        "mini_llm/libmini_llm.so",
        "mini_llm/__pycache__/x.cpython-312.pyc",
        "mini_llm/__init__.py",
        "mini_llm.libs/libcudart-1234.so.13",
        "mini_llm_cu130-0.1.0.dist-info/RECORD",
    ]
    problems = wheels.content_problems(
        names,
        ["mini_llm/libmini_llm.so", "mini_llm/libmini_llm_cuda.so"],
        ["libcudart*"],
        "mini-llm-cu130",
    )
    assert problems == [
        "stray build file mini_llm/__pycache__/x.cpython-312.pyc",
        "duplicate entry mini_llm/__init__.py",
        "mini_llm.libs/libcudart-1234.so.13 is on the exclude list but was packed into the wheel "
        "(list it in [wheel].packed if the project ships it itself)",
        "expected file mini_llm/libmini_llm_cuda.so is missing",
    ]
    assert (
        "no mini_llm_cpu-*.dist-info"
        in wheels.content_problems(names[:2], [], [], "mini-llm-cpu")[0]
    )


def test_grafted():
    assert wheels.grafted(["a/x.so"], ["a/x.so", "a.libs/libz-1.so.1", "a/y.py"]) == [
        "a.libs/libz-1.so.1"
    ]


def test_smoke_argv_binds_python_to_the_venv():
    assert wheels.smoke_argv('python -c "import mlc_llm"', "/v/bin") == (
        "/v/bin/python",
        "-c",
        "import mlc_llm",
    )
    assert wheels.smoke_argv("mlc_llm --help", "/v/bin") == ("mlc_llm", "--help")


@pytest.mark.parametrize(
    "plat, glibc",
    [
        ("manylinux_2_28_x86_64", (2, 28)),
        ("manylinux_2_31_aarch64", (2, 31)),
        ("manylinux2014_x86_64", (2, 17)),
        ("manylinux2010_x86_64", (2, 12)),
        ("manylinux1_x86_64", (2, 5)),
        ("musllinux_1_2_x86_64", None),
        ("linux_x86_64", None),
        ("auto", None),
    ],
)
def test_plat_glibc(plat, glibc):
    assert wheels.plat_glibc(plat) == glibc


@pytest.mark.parametrize(
    "configured, getconf, plat",
    [
        ("auto", "glibc 2.31\n", "manylinux_2_31_x86_64"),
        ("", "glibc 2.28", "manylinux_2_28_x86_64"),
        ("manylinux_2_28_x86_64", "glibc 2.28", "manylinux_2_28_x86_64"),
        ("manylinux_2_31_x86_64", "glibc 2.28", "manylinux_2_31_x86_64"),
        ("manylinux2014_x86_64", "glibc 2.17", "manylinux2014_x86_64"),
    ],
)
def test_container_plat_follows_the_image(configured, getconf, plat):
    assert wheels.container_plat(configured, getconf, "img:1") == plat


@pytest.mark.parametrize(
    "configured, getconf, said",
    [
        (
            "manylinux_2_28_x86_64",
            "glibc 2.31",
            "the builder image img:1 has glibc 2.31, newer than manylinux_2_28_x86_64 allows "
            "(2.28); build in an image with an older glibc, or set [wheel].plat to "
            "manylinux_2_31_x86_64.",
        ),
        (
            "manylinux2014_x86_64",
            "glibc 2.28",
            "newer than manylinux2014_x86_64 allows (2.17)",
        ),
        (
            "musllinux_1_2_x86_64",
            "glibc 2.31",
            "[wheel].plat is musllinux_1_2_x86_64, not a manylinux tag; a --container build makes "
            "manylinux wheels: set it to auto (here manylinux_2_31_x86_64)",
        ),
        ("auto", "getconf: Unrecognized variable", "reports no glibc"),
        ("auto", "", "reports no glibc"),
    ],
)
def test_container_plat_refuses_what_the_image_cannot_make(configured, getconf, said):
    with pytest.raises(PipelineError, match=re.escape(said)):
        wheels.container_plat(configured, getconf, "img:1")


@pytest.mark.parametrize(
    "line, comment",
    [
        ("c++ (Debian 10.2.1-6) 10.2.1 20210110", "GCC: (Debian 10.2.1-6) 10.2.1 20210110"),
        (
            "g++ (GCC) 14.2.1 20240801 (Red Hat 14.2.1-1)",
            "GCC: (GCC) 14.2.1 20240801 (Red Hat 14.2.1-1)",
        ),
        ("clang version 18.1.8", None),
        ("", None),
    ],
)
def test_expected_comment_of_a_gcc_version_line(line, comment):
    assert wheels.expected_comment(line) == comment


def test_compiler_problems_name_each_library_another_compiler_built():
    expected = "GCC: (Debian 10.2.1-6) 10.2.1 20210110"
    found = {
        "a/liba.so": (expected, "GCC: (GNU) 12"),
        "a/libb.so": ("GCC: (GNU) 12",),
        "a/libc.so": (),
    }
    assert wheels.compiler_problems(found, expected, "img:1") == [
        f"a/libb.so was not compiled in img:1: its .comment has GCC: (GNU) 12, not {expected!r}",
        f"a/libc.so was not compiled in img:1: its .comment has nothing, not {expected!r}",
    ]


def test_outermost_mounts_cover_the_nested_ones():
    assert wheels.outermost(["/w/a/b", "/w/a", "/w/ab", "/x/", "/w/a/b/c"]) == [
        "/w/a",
        "/w/ab",
        "/x",
    ]


def test_container_argv_passes_the_environment_by_name_only():
    argv = wheels.container_argv(
        "docker",
        "img:1",
        ("python3", "-m", "pip", "wheel", "/w/src"),
        mounts=("/w/src", "/w/.cache", "/w/src/sub"),
        env_names=("CCACHE_REMOTE_STORAGE", "CFLAGS", "CFLAGS"),
        user="1000:1000",
        network="none",
    )
    text = " ".join(argv)
    assert argv[:8] == (
        "docker",
        "run",
        "--rm",
        "--network",
        "none",
        "--user",
        "1000:1000",
        "--volume",
    )
    assert text.count("--volume") == 2 and "/w/src/sub" not in text
    assert "--env CCACHE_REMOTE_STORAGE --env CFLAGS --entrypoint" in text
    assert "=" not in text.split("--entrypoint", maxsplit=1)[0]
    at = argv.index("img:1")
    assert argv[at - 2 : at] == ("--entrypoint", "sh")
    assert argv[at + 1 : at + 4] == ("-c", wheels.CONTAINER_PRELUDE, "sh")
    assert argv[at + 4 :] == ("python3", "-m", "pip", "wheel", "/w/src")


AUDIT = {"version": 1, "pure": False, "overall_tag": "manylinux_2_31_x86_64", "external_libs": {}}


def test_audit_clean_wheel():
    name = "mini_llm-0.1.0-py3-none-manylinux_2_31_x86_64.whl"
    assert not wheels.audit_problems(AUDIT, name, "auto", [])
    assert not wheels.audit_problems(AUDIT, name, "manylinux_2_31_x86_64", [])
    assert wheels.wheel_tags("a-1-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl") == [
        "manylinux_2_17_x86_64",
        "manylinux2014_x86_64",
    ]


def test_audit_problems():
    audit = {
        **AUDIT,
        "pure": True,
        "external_libs": {"libcudart.so.13": None, "libfoo.so.1": "/usr/lib/libfoo.so.1"},
    }
    problems = wheels.audit_problems(
        audit, "a-1-py3-none-linux_x86_64.whl", "auto", ["libcudart.so.*"]
    )
    assert problems == [
        "wheel has no manylinux tag (linux_x86_64)",
        "auditwheel sees a pure-Python wheel: the native libraries are missing",
        "external library libfoo.so.1 is neither grafted nor excluded",
    ]
    wrong = wheels.audit_problems(
        AUDIT, "a-1-py3-none-manylinux_2_31_x86_64.whl", "manylinux_2_28_x86_64", []
    )
    assert wrong == ["wheel is tagged manylinux_2_31_x86_64, expected manylinux_2_28_x86_64"]


def test_build_argv_uv_keeps_the_session_python():
    argv = wheels.build_argv("uv", "/src", "/raw", "/b", python="/py")
    assert argv == (
        "uv",
        "build",
        "--wheel",
        "--python",
        "/py",
        "-Cbuild-dir=/b",
        "--out-dir",
        "/raw",
        "/src",
    )


def test_install_argv_targets_the_venv_interpreter():
    assert wheels.install_argv("uv", "/py", "/v/bin/python", ["w.whl", "numpy"]) == (
        "uv",
        "pip",
        "install",
        "--quiet",
        "--python",
        "/v/bin/python",
        "w.whl",
        "numpy",
    )
    pip = wheels.install_argv("pip", "/py", "/v/bin/python", ["w.whl"])
    assert pip == ("/py", "-m", "pip", "--python", "/v/bin/python", "install", "-q", "w.whl")
    assert wheels.install_argv("build", "/py", "/v", ["w"])[:3] == ("/py", "-m", "pip")


def test_build_requires_ranges_reach_scikit_build_core():
    env = wheels.build_env(
        ccache_dir=None, jobs=2, cuda_home=None, pins=("cmake>=3.26,<4", "ninja")
    )
    assert env["SKBUILD_CMAKE_VERSION"] == "<4,>=3.26"
    assert env["SKBUILD_NINJA_VERSION"] == ">=0"


STAMPABLE = '[build-system]\nversion = "9"\n\n[project]\nname = "demo"\nversion = "0.1.0"\n'


def test_stamp_version_rewrites_only_the_project_version():
    stamped = wheels.stamp_version(STAMPABLE, "0.26.dev4")
    assert wheels.static_version(stamped) == "0.26.dev4"
    assert 'version = "9"' in stamped  # another table's key of the same name stays
    assert wheels.stamp_version(stamped, "0.1.0") == STAMPABLE


def test_stamp_version_needs_a_static_version_line():
    dynamic = '[project]\nname = "demo"\ndynamic = ["version"]\n'
    with pytest.raises(PipelineError, match='no static \\[project\\].version.*"pyproject"'):
        wheels.stamp_version(dynamic, "1.0")
    assert wheels.static_version(dynamic) == ""


def test_reproducible_build_env_maps_the_checkout_out():
    env = wheels.build_env(
        ccache_dir=None,
        jobs=2,
        cuda_home=None,
        base_dir="/work/x",
        epoch=1767323045,
        map_prefix={"CXXFLAGS": "-O2", "CMAKE_ARGS": "-DFOO=1"},
    )
    assert env["SOURCE_DATE_EPOCH"] == "1767323045"
    assert env["CFLAGS"] == "-ffile-prefix-map=/work/x=."
    assert env["CXXFLAGS"] == "-O2 -ffile-prefix-map=/work/x=."  # the host's flags are kept
    assert env["CMAKE_ARGS"] == "-DFOO=1 -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON"
    plain = wheels.build_env(ccache_dir=None, jobs=2, cuda_home=None, base_dir="/work/x")
    assert not {"SOURCE_DATE_EPOCH", "CFLAGS", "CMAKE_ARGS"} & set(plain)


def member(name, crc=1, size=10, when=(1980, 1, 1, 0, 0, 0), mode=0o644 << 16):
    """One zip member as wheel_differences compares it."""
    return (name, crc, size, when, mode)


def test_identical_members_have_no_differences():
    members = [member("a/x.py"), member("a/lib.so", crc=2)]
    assert not wheels.wheel_differences(members, list(members))


def test_every_kind_of_difference_is_named():
    first = [member("a.py"), member("lib.so", crc=2), member("b.py"), member("c.py"), member("d")]
    second = [
        member("lib.so", crc=3, size=11),
        member("a.py"),
        member("b.py", when=(2026, 12, 1, 10, 0, 0)),
        member("c.py", mode=0o755 << 16),
        member("e"),
    ]
    assert wheels.wheel_differences(first, second) == [
        "d only in the first build",
        "e only in the rebuild",
        "b.py: timestamps differ (1980-01-01 00:00:00 vs 2026-12-01 10:00:00)",
        "c.py: file modes differ (644 vs 755)",
        "lib.so: contents differ (10 vs 11 bytes)",
        "the members are stored in a different order",
    ]


def test_build_env_is_exactly_the_build_environment():
    host_flags = {"CFLAGS": "-O2", "CMAKE_ARGS": "-DX=1"}
    env = wheels.build_env(
        ccache_dir="/c",
        jobs=3,
        cuda_home="/usr/local/cuda",
        pins=["cmake>=3.26,<4", "ninja>=1.11"],
        base_dir="/src",
        epoch=1700000000,
        map_prefix=host_flags,
    )
    assert env == {
        "CMAKE_BUILD_PARALLEL_LEVEL": "3",
        "SOURCE_DATE_EPOCH": "1700000000",
        "CFLAGS": "-O2 -ffile-prefix-map=/src=.",
        "CXXFLAGS": "-ffile-prefix-map=/src=.",
        "CMAKE_ARGS": "-DX=1 -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON",
        "SKBUILD_CMAKE_VERSION": "<4,>=3.26",
        "SKBUILD_NINJA_VERSION": ">=1.11",
        "CCACHE_DIR": "/c",
        "CCACHE_NOHASHDIR": "1",
        "CCACHE_BASEDIR": "/src",
        "CMAKE_C_COMPILER_LAUNCHER": "ccache",
        "CMAKE_CXX_COMPILER_LAUNCHER": "ccache",
        "CMAKE_CUDA_COMPILER_LAUNCHER": "ccache",
        "CUDACXX": "/usr/local/cuda/bin/nvcc",
        "CUDA_HOME": "/usr/local/cuda",
    }
    # No cache, no toolkit, no mapping: parallelism alone (and no base dir: no prefix map).
    assert wheels.build_env(ccache_dir=None, jobs=1, cuda_home=None) == {
        "CMAKE_BUILD_PARALLEL_LEVEL": "1"
    }
    unmapped = wheels.build_env(ccache_dir="/c", jobs=1, cuda_home=None, map_prefix={})
    assert "CCACHE_BASEDIR" not in unmapped and "CFLAGS" not in unmapped
    assert (
        wheels.build_env(ccache_dir=None, jobs=1, cuda_home=None, base_dir="/s", map_prefix={})[
            "CFLAGS"
        ]
        == "-ffile-prefix-map=/s=."
    )


AUTO = """
[project]
name = "demo"
source = "s"
package = "demo"
cli = "demo"
distribution = "demo"
[variants.vulkan]
distribution = "demo-vulkan"
[variants.cu128]
distribution = "demo-cu128"
cuda = "12.8"
"""


def test_choose_variant_says_what_it_picked_and_why(make_config, mlc):
    first = config.load(make_config(AUTO, source=False), env={})
    picked, why = wheels.choose_variant(first, "auto", None)
    # No cpu variant: the first one stands in.
    assert (picked.name, why) == ("vulkan", "auto: no nvcc on this host, picked 'vulkan'")
    picked, why = wheels.choose_variant(mlc, "auto", "11.8")
    assert (picked.name, why) == ("cpu", "auto: nvcc 11.8 matches no variant, picked 'cpu'")
    picked, why = wheels.choose_variant(mlc, "auto", "13.0")
    assert (picked.name, why) == ("cu130", "auto: nvcc 13.0 found, picked 'cu130'")
    assert wheels.choose_variant(mlc, "cu128", "12.8")[1] == "variant 'cu128' as requested"
    with pytest.raises(PipelineError) as failed:
        wheels.choose_variant(mlc, "cu128", None, ("a", "b"))
    assert str(failed.value) == (
        "variant 'cu128' needs the CUDA 12.8 toolkit but none was found (looked at: a, b; a "
        "toolkit has bin/nvcc and include/cuda_runtime.h); install it, fix CUDA_HOME, or pick "
        "--variant cpu."
    )


def test_compile_record_reads_only_well_formed_object_lines():
    log = "\n".join(
        [
            "# ninja log v5",
            "10\t20\t100\ta.obj\th",  # MSVC's object files count too
            "x\t30\t100\tb.o\th",  # a malformed start
            "10\ty\t100\tc.o\th",  # a malformed end
            "10\t30\tz\td.o\th",  # a malformed mtime
            "10\t40\t100",  # no output
            "15\t2500\t99\te.o\th",  # older than this run
            "12\t1500\t100\tf.o",  # no hash: still a compile of this run
        ]
    )
    assert wheels.compile_record(log, since_ns=100) == {"units": 2, "seconds": 1.49}
    assert wheels.compile_record(log, since_ns=99) == {"units": 3, "seconds": 2.49}
    assert wheels.compile_record(log) == {"units": 3, "seconds": 2.49}
    assert wheels.compile_record("#10\t20\t100\ta.o\th") == {"units": 0, "seconds": None}
