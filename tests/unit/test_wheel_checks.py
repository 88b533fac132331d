"""Per-variant CMake definitions, the host-codegen check, the top-level layout of a wheel (on
real zip files) and reports keyed by project and variant (through the real report writer)."""

from __future__ import annotations

import io
import json
import re
import shlex
import zipfile

import pytest

from mlc_ci import cli, config, report
from mlc_ci.errors import PipelineError
from mlc_ci.plan import release as rel
from mlc_ci.plan import wheels
from mlc_ci.sessions import release as release_session
from tests.conftest import MINIMAL

pytestmark = pytest.mark.unit


def test_definitions_become_cmake_arguments_the_host_can_override():
    args = wheels.define_args({"GGML_CUDA": True, "NATIVE": False, "N": 3, "FLAGS": "-O2 -g"})
    assert args == ("-DGGML_CUDA=ON", "-DNATIVE=OFF", "-DN=3", "-DFLAGS=-O2 -g")
    env = wheels.with_cmake_args({"CCACHE_DIR": "/c"}, {"CMAKE_ARGS": "-DN=4"}, args)
    # The backend splits CMAKE_ARGS with shlex; the host's own value comes last and wins.
    assert shlex.split(env["CMAKE_ARGS"]) == [*args, "-DN=4"]
    assert env["CCACHE_DIR"] == "/c"
    assert "CMAKE_ARGS" not in wheels.with_cmake_args({}, {}, ())


def load(make_config, variant: str):
    """MINIMAL with `variant` appended to its cpu variant, loaded."""
    return config.load(make_config(MINIMAL + variant), env={})


@pytest.mark.parametrize(
    "table, problem",
    [
        ('cmake_define = { "-DGGML_CUDA" = true }', "not a CMake variable name"),
        ("cmake_define = { GGML_CUDA = [1] }", "'variants.cpu.cmake_define.GGML_CUDA' must be"),
        ('cmake_define = { CMAKE_BUILD_TYPE = "Debug" }', "scikit-build-core sets itself"),
        ('cmake_define = { FLAGS = "-O2\\n-g" }', "holds a line break"),
    ],
)
def test_bad_definitions_are_refused_at_load(make_config, table, problem):
    with pytest.raises(PipelineError, match=re.escape(problem)):
        load(make_config, f"{table}\n")


def test_the_plan_shows_the_definitions(make_config, capsys):
    path = make_config(MINIMAL + "cmake_define = { DEMO_FAST = true }\n")
    assert cli.main(["wheels-linux", "--config", str(path), "--variant", "cpu", "--dry-run"]) == 0
    assert "CMake definitions (CMAKE_ARGS): -DDEMO_FAST=ON" in capsys.readouterr().out


def test_the_dry_run_refuses_a_config_table_the_source_never_reads(make_config, capsys):
    path = make_config()
    (path.parent / "src-tree" / "CMakeLists.txt").write_text("project(demo)\n")
    argv = ["wheels-linux", "--config", str(path), "--variant", "cpu", "--dry-run"]
    assert cli.main(argv, out=io.StringIO()) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "never reads config.cmake" in error[0]
    assert "[variants.cpu].cmake_define" in error[0]


def compile_commands(*commands: str) -> str:
    """A compile_commands.json as CMake writes it, one entry per command."""
    return json.dumps(
        [
            {"directory": "/b", "command": command, "file": f"/src/lib/{n}.c"}
            for n, command in enumerate(commands)
        ]
    )


def test_host_codegen_names_the_flag_and_the_file():
    text = compile_commands(
        "gcc -O3 -march=x86-64-v2 -o CMakeFiles/fast.dir/lib/0.c.o -c /src/lib/0.c",
        "gcc -O3 '-march=native' -o CMakeFiles/fast.dir/lib/1.c.o -c /src/lib/1.c",
        "nvcc -arch=native -c /src/lib/2.c",
        "gcc -march=native -mtune=native -c /src/lib/3.c",
    )
    found = wheels.host_codegen(text, "/src")
    assert found == [
        ("-march=native", "lib/1.c (target fast)"),
        ("-arch=native", "lib/2.c"),
        ("-march=native", "lib/3.c"),
        ("-mtune=native", "lib/3.c"),
    ]
    problem = wheels.host_codegen_problem(found, "cpu")
    assert "-march=native compiles lib/1.c (target fast) and 1 more" in problem
    assert "[variants.cpu].cmake_define" in problem and "allow_host_codegen" in problem
    assert not wheels.host_codegen(compile_commands("gcc -march=x86-64-v3 -c a.c"))
    with pytest.raises(PipelineError, match="not valid JSON"):
        wheels.host_codegen("[{")


def members(tmp_path, names: list[str]) -> list[str]:
    """The member names of a real wheel (zip) holding `names`."""
    path = tmp_path / "demo_cpu-1.0-py3-none-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, b"")
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


GOOD = [
    "demo/__init__.py",
    "demo/lib/libdemo.so",
    "demo.libs/libgomp-a34b3233.so.1",
    "demo_cpu-1.0.data/scripts/demo",
    "demo_cpu-1.0.dist-info/METADATA",
    "demo_cpu-1.0.dist-info/RECORD",
    "_demo_native.py",
]


def test_a_wheel_installs_only_its_packages_libs_and_metadata(tmp_path):
    assert not wheels.content_problems(members(tmp_path, GOOD), (), (), "demo-cpu")
    stray = ["lib/libdemo.so", "include/demo.h", "share/demo/x.cmake", "tests/__init__.py"]
    stray += ["blobs/model.bin", "demo_cpu-1.0.data/lib/x"]
    problems = wheels.content_problems(members(tmp_path, GOOD + stray), (), (), "demo-cpu")
    assert [p.split(" (")[0] for p in problems] == [
        "top-level folder blobs/",
        "demo_cpu-1.0.data/lib/ is no wheel data scheme",
        "top-level folder include/",
        "top-level folder lib/",
        "top-level folder share/",
        "top-level folder tests/",
    ]
    assert "no Python package" in problems[0] and "an install-tree folder" in problems[2]
    assert "'lib/*' in [wheel].allow_files" in problems[3]


def test_allow_files_lets_a_named_folder_through(tmp_path):
    names = members(tmp_path, [*GOOD, "share/demo/a.txt", "share/demo/b.txt", "lib/x.so"])
    allowed = ["share/*", "lib/x.so"]
    assert not wheels.content_problems(names, (), (), "demo-cpu", allowed=allowed)
    left = wheels.content_problems(names, (), (), "demo-cpu", allowed=["share/demo/a.txt"])
    assert [p.split(" (")[0] for p in left] == ["top-level folder lib/", "top-level folder share/"]


def wheel_report(reports, project: str, wheel) -> None:
    """A passing wheels-linux report of `project`'s cpu variant, written by the real writer."""
    name = rel.report_key("wheels-linux", project, "cpu")
    passed = report.SessionReport(name, status="passed")
    passed.artifacts.append(report.artifact(wheel, kind="wheel", variant="cpu"))
    report.write(passed, reports)


def test_two_projects_keep_their_reports_and_each_release_verifies_its_own(tmp_path):
    reports = tmp_path / "reports"
    files = {}
    for project, dist in (("mini-llm", "mini_llm_cpu"), ("other app", "other_cpu")):
        folder = tmp_path / project
        folder.mkdir()
        wheel = folder / f"{dist}-0.1.0-py3-none-manylinux_2_28_x86_64.whl"
        wheel.write_bytes(project.encode())
        wheel_report(reports, project, wheel)
        files[project] = [rel.WheelFile(wheel.name, wheel.stat().st_size, report.sha256_of(wheel))]
    assert sorted(p.name for p in reports.iterdir()) == [
        "wheels-linux-mini-llm-cpu.json",
        "wheels-linux-other-app-cpu.json",
    ]
    loaded = release_session.load_reports(reports)
    for project, wheel in files.items():
        own = rel.own_reports(loaded, project, ["cpu"])
        assert not rel.verification_problems(wheel, rel.verified_wheels(own))
    # Unfiltered, the other project's report is a stale one: what release refused before.
    assert rel.verification_problems(files["mini-llm"], rel.verified_wheels(loaded))
