"""benchmarks/bench.py: statistics, targets, log parsing, critical path and the markdown."""

from __future__ import annotations

import pytest

from benchmarks import bench

pytestmark = pytest.mark.unit

# `ccache --show-stats` (4.7) as BuildKit's plain progress prints it inside the builder stage.
SHOW_STATS = """\
#14 61.20 Cacheable calls:    3 /    4 (75.00%)
#14 61.20   Hits:             2 /    3 (66.67%)
#14 61.20     Direct:         2 /    2 (100.0%)
#14 61.20     Preprocessed:   0 /    2 ( 0.00%)
#14 61.20   Misses:           1 /    3 (33.33%)
#14 61.20 Uncacheable calls:  1 /    4 (25.00%)
#14 61.20 Local storage:
#14 61.20   Cache size (GB): 0.00 / 5.00 ( 0.00%)
#14 61.20   Hits:             9 /    9 (100.0%)
#14 61.20   Misses:           0 /    9 ( 0.00%)
"""


def test_summarize_gives_min_median_max():
    fig = bench.summarize([3.0, 1.0, 2.0, 10.0])
    assert (fig["n"], fig["min"], fig["median"], fig["max"]) == (4, 1.0, 2.5, 10.0)
    assert fig["values"] == [3.0, 1.0, 2.0, 10.0]


def test_summarize_rejects_nothing():
    with pytest.raises(ValueError):
        bench.summarize([])


@pytest.mark.parametrize(
    ("num", "den", "expected"),
    [(1.0, 4.0, 0.25), (2.0, 3.0, 0.6667), (None, 3.0, None), (1.0, 0.0, None), (1.0, None, None)],
)
def test_ratio(num, den, expected):
    assert bench.ratio(num, den) == expected


@pytest.mark.parametrize(
    ("value", "limit", "op", "met"),
    [
        (0.05, 0.10, "<=", True),
        (0.11, 0.10, "<=", False),
        (1, 1, "==", True),
        (3, 1, "==", False),
        (0.97, 0.95, ">=", True),
        (None, 0.10, "<=", None),
    ],
)
def test_target(value, limit, op, met):
    result = bench.target("t", value, limit, op)
    assert result == {"name": "t", "value": value, "op": op, "limit": limit, "met": met}


def test_target_rejects_unknown_operator():
    with pytest.raises(ValueError, match="operator"):
        bench.target("t", 1, 1, "<")


def test_step_medians_largest_first():
    runs = [{"build": 8.0, "venv": 6.0, "repair": 1.0}, {"build": 10.0, "venv": 7.0}]
    medians = bench.step_medians(runs)
    assert list(medians) == ["build", "venv", "repair"]
    assert medians == {"build": 9.0, "venv": 6.5, "repair": 1.0}


def test_strip_docker_prefix():
    assert bench.strip_docker_prefix("#14 61.20   Hits: 2") == "  Hits: 2"
    assert bench.strip_docker_prefix("#7 CACHED") == "CACHED"
    assert bench.strip_docker_prefix("plain line") == "plain line"


def test_ccache_stats_take_the_cacheable_block_not_local_storage():
    stats = bench.parse_ccache_show_stats("noise\n" + SHOW_STATS)
    assert stats == {"cacheable_calls": 3, "hits": 2, "misses": 1, "direct": 2, "preprocessed": 0}


def test_ccache_stats_of_the_last_block_win():
    first = SHOW_STATS.replace("Misses:           1", "Misses:           7")
    assert bench.parse_ccache_show_stats(first + SHOW_STATS)["misses"] == 1


def test_ccache_stats_without_calls_are_zero_and_a_cached_step_has_none():
    empty = "#14 3.1 Local storage:\n#14 3.1   Cache size (GB): 0.00 / 5.00 ( 0.00%)\n"
    assert bench.parse_ccache_show_stats(empty) == dict.fromkeys(
        ("cacheable_calls", "hits", "misses", "direct", "preprocessed"), 0
    )
    assert bench.parse_ccache_show_stats("#14 CACHED\n") is None


def test_compiled_units_are_unique_and_ordered():
    log = (
        "#14 20.1 [1/7] Building CXX object 3rdparty/tiny-runtime/CMakeFiles/t.dir/src/t.cc.o\n"
        "#14 20.9 [2/7] Building CXX object CMakeFiles/mini_llm.dir/cpp/mini_llm.cc.o\n"
        "#14 21.0 [1/7] Building CXX object 3rdparty/tiny-runtime/CMakeFiles/t.dir/src/t.cc.o\n"
        "#14 21.5 [4/7] Linking CXX shared library lib/libmini_llm.so\n"
        "[1/2] Building CUDA object CMakeFiles/mini_llm_cuda.dir/cpp/cuda/saxpy.cu.o\n"
    )
    assert bench.compiled_units(log) == [
        "3rdparty/tiny-runtime/CMakeFiles/t.dir/src/t.cc.o",
        "CMakeFiles/mini_llm.dir/cpp/mini_llm.cc.o",
        "CMakeFiles/mini_llm_cuda.dir/cpp/cuda/saxpy.cu.o",
    ]


def test_one_line_change_is_code_and_unique():
    cpp = bench.one_line_change("cpp/mini_llm.cc", 7)
    assert cpp.count("\n") == 1 and "constexpr int kMlcCiBench7 = 7" in cpp
    assert not cpp.lstrip().startswith("//")  # a comment would be a preprocessed ccache hit
    assert bench.one_line_change("a/b.py", 7) == "_MLC_CI_BENCH_7 = 7\n"
    assert bench.one_line_change("a/b.py", 8) != bench.one_line_change("a/b.py", 7)
    with pytest.raises(ValueError):
        bench.one_line_change("CMakeLists.txt", 1)


LISTING = [
    {"session": "lint", "tags": ["gate", "linux"]},
    {"session": "unit-3.12", "tags": ["gate", "linux"]},
    {"session": "wheels-linux", "tags": ["build", "linux", "cuda"]},
    {"session": "docker-build", "tags": ["build", "linux", "docker"]},
    {"session": "integration", "tags": ["verify", "linux", "docker"]},
    {"session": "release", "tags": ["release", "linux"]},
    {"session": "untagged", "tags": None},
]


def test_stage_sessions_groups_by_stage_tag_in_order():
    assert bench.stage_sessions(LISTING) == {
        "gate": ["lint", "unit-3.12"],
        "build": ["wheels-linux", "docker-build"],
        "verify": ["integration"],
        "release": ["release"],
    }


def test_critical_path_sums_the_longest_session_per_stage():
    stages = bench.stage_sessions(LISTING)
    durations = {"lint": 50.0, "unit-3.12": 30.0, "wheels-linux": 40.0, "docker-build": 200.0}
    durations["integration"] = 60.0
    path = bench.critical_path(stages, durations)
    assert path["critical_path_s"] == 310.0
    assert path["serial_s"] == 380.0
    assert path["ratio"] == round(310 / 380, 4)
    assert path["missing"] == ["release"]
    gate, build, release = path["stages"][0], path["stages"][1], path["stages"][3]
    assert (gate["longest"], gate["seconds"], gate["serial_seconds"]) == ("lint", 50.0, 80.0)
    assert build["longest"] == "docker-build" and build["measured"] == [
        "docker-build",
        "wheels-linux",
    ]
    assert (release["longest"], release["seconds"], release["measured"]) == (None, 0.0, [])


def test_critical_path_of_nothing_measured():
    path = bench.critical_path({"gate": ["lint"]}, {})
    assert (path["critical_path_s"], path["serial_s"], path["ratio"]) == (0.0, 0.0, None)


def test_size_ratios():
    sizes = {"builder": 1000, "development": 1500, "ci": 250, "production": 200}
    assert bench.size_ratios(sizes) == {
        "ci/builder": 0.25,
        "production/builder": 0.2,
        "development/builder": 1.5,
    }
    assert bench.size_ratios({"ci": 1})["ci/builder"] is None


def test_render_markdown_has_every_table():
    stages = bench.stage_sessions(LISTING)
    result = {
        "machine": {"cpus": 2},
        "sections": {
            "image": {
                "figures": {"cold": bench.summarize([200.0]), "noop": bench.summarize([1, 2, 3])},
                "targets": [
                    bench.target("no-op / cold", 0.01, 0.03),
                    bench.target("x", None, 1, "=="),
                ],
                "notes": ["cold measured once"],
                "ratios": {"noop/cold": 0.01},
            },
            "sizes": {"sizes": {"builder": 700_000_000, "production": 190_000_000}},
            "critical": {"path": bench.critical_path(stages, {"lint": 12.5, "release": 3.0})},
        },
    }
    text = bench.render_markdown(result)
    assert text.startswith("# mlc-ci benchmark") and text.endswith("\n")
    assert "cpus: 2" in text
    assert "| image | cold | 1 | 200.0 | 200.0 | 200.0 |" in text
    assert "| image | noop | 3 | 1 | 2 | 3 |" in text
    assert "| no-op / cold | 0.01 | <= 0.03 | yes |" in text
    assert "| image | noop/cold | 0.01 |" in text
    assert "| x | n/a | == 1 | n/a |" in text
    assert "| production | 190.0 | 0.271 |" in text
    assert "| gate | lint | lint | 12.5 |" in text
    assert "| **matrix total** |  |  | **15.5** |" in text
    assert "Not measured: unit-3.12, wheels-linux, docker-build, integration." in text
    assert "- image: cold measured once" in text


def test_render_markdown_of_an_empty_result():
    assert bench.render_markdown({}) == "# mlc-ci benchmark (examples/mini-llm)\n"
