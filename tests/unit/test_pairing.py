"""The runtime-pairing gate on real ELF libraries (compiled here with the host's g++) and real
wheel metadata: a runtime that lacks an export, a missing runtime library, an unknown library,
a loose or missing requirement, and a smoke venv holding the wrong runtime version."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mlc_ci import config, elf
from mlc_ci.errors import PipelineError
from mlc_ci.plan import pairing
from mlc_ci.sessions import pair_steps, wheel_steps

PAIR_FULL = 'extern "C" int pair_a() { return 1; }\nextern "C" int pair_b() { return 2; }\n'
PAIR_SHORT = 'extern "C" int pair_a() { return 1; }\n'
MAIN = (
    'extern "C" int pair_a();\nextern "C" int pair_b();\n'
    'extern "C" int run() { return pair_a() + pair_b(); }\n'
)


def compile_library(out: Path, code: str, soname: str, *link: str) -> Path:
    """A shared library from `code`, with `soname`, linked against `link`."""
    if not shutil.which("g++"):
        pytest.fail("g++ is needed to compile the test libraries (apt-get install g++).")
    source = out.with_suffix(".cc")
    source.write_text(code)
    subprocess.run(
        ("g++", "-shared", "-fPIC", "-o", str(out), str(source), f"-Wl,-soname,{soname}", *link),
        check=True,
    )
    return out


@pytest.fixture(name="libs")
def fixture_libs(tmp_path: Path) -> dict[str, Path]:
    """libpair.so in two builds (full, and one lacking pair_b) and libmain.so linking it."""
    full, short = tmp_path / "full", tmp_path / "short"
    full.mkdir()
    short.mkdir()
    compile_library(full / "libpair.so", PAIR_FULL, "libpair.so")
    compile_library(short / "libpair.so", PAIR_SHORT, "libpair.so")
    main = compile_library(tmp_path / "libmain.so", MAIN, "libmain.so", f"-L{full}", "-lpair")
    return {"full": full / "libpair.so", "short": short / "libpair.so", "main": main}


def facts(main: Path, pair: list[Path], label: str = "pair 1.0") -> pairing.Facts:
    """The gate's input for libmain.so against `pair`, with the host's system libraries."""
    package = [elf.read(main)]
    allowed = elf.system_libraries("manylinux_2_31_x86_64")
    system = {}
    for name in ("libc.so.6", "libstdc++.so.6", "libm.so.6", "libgcc_s.so.1"):
        found = elf.find_system(name)
        system[name] = elf.read(found) if found else None
    return pairing.Facts(
        package, [], [elf.read(p) for p in pair], system, allowed, ("libpair.so",), (), label
    )


def test_a_matching_runtime_passes_with_a_table(libs):
    problems, rows = pairing.check(facts(libs["main"], [libs["full"]]))
    assert not problems and len(rows) == 1
    row = rows[0]
    assert row["library"] == "libmain.so" and row["needs"]["libpair.so"] == "pair"
    assert row["unresolved"] == [] and row["imports"] >= 2


def test_a_runtime_without_an_export_fails_naming_library_symbol_and_pair(libs):
    problems, rows = pairing.check(facts(libs["main"], [libs["short"]], "pair 0.9"))
    assert problems == ["libmain.so needs pair_b from libpair.so, which pair 0.9 does not export"]
    assert rows[0]["unresolved"] == ["pair_b"]


def test_a_pair_without_the_library_fails(libs):
    problems, _ = pairing.check(facts(libs["main"], []))
    assert problems == ["libmain.so needs libpair.so, which pair 1.0 does not provide"]


def test_a_library_from_nowhere_fails(libs, tmp_path):
    stray = compile_library(tmp_path / "libstray.so", PAIR_SHORT, "libstray.so")
    other = compile_library(
        tmp_path / "libother.so",
        MAIN,
        "libother.so",
        f"-L{libs['full'].parent}",
        "-lpair",
        "-Wl,--no-as-needed",  # keep the unused library in NEEDED
        str(stray),
    )
    problems, _ = pairing.check(facts(other, [libs["full"]]))
    assert problems == [
        "libother.so needs libstray.so, which is neither in the wheel, nor a manylinux system "
        "library, nor provided by pair 1.0"
    ]


@pytest.mark.parametrize(
    ("requires", "expected"),
    [
        (["tiny-runtime==0.1.0", "numpy"], ("0.1.0", "")),
        (["Tiny_Runtime (==0.1.0)"], ("0.1.0", "")),
        (["tiny-runtime>=0.1"], ("", "w.whl requires tiny-runtime>=0.1, not one exact version")),
        (["numpy"], ("", "w.whl declares no Requires-Dist on tiny-runtime")),
    ],
)
def test_the_requirement_must_be_exact(requires, expected):
    version, problem = pairing.required_version(requires, "w.whl", "tiny-runtime")
    assert version == expected[0] and problem.startswith(expected[1])


def test_the_wrong_runtime_version_in_the_smoke_venv_fails(make_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = (
        "[project]\nname = 'demo'\nsource = 'src-tree'\ndistribution = 'demo'\n"
        "version = 'pyproject'\n[pair]\ndistribution = 'tiny-runtime'\nsource = 'rt'\n"
        "libraries = ['libtiny_runtime.so']\n[variants.cpu]\ndistribution = 'demo-cpu'\n"
    )
    cfg = config.load(make_config(text), env={})
    variant = cfg.variant("cpu")
    layout = wheel_steps.Layout(cfg, variant, None)
    site = layout.venv / "lib" / "python3.12" / "site-packages"
    (site / "tiny_runtime-0.0.9.dist-info").mkdir(parents=True)
    ctx = {
        "repaired": "demo_cpu-1.0-py3-none-any.whl",
        "report": {"pairing": {"required": "0.1.0"}},
    }
    step = pair_steps.gate_step(cfg, variant, layout, "keep")
    with pytest.raises(PipelineError) as info:
        step.action(ctx)
    assert str(info.value) == (
        "the smoke venv holds tiny-runtime 0.0.9, but demo_cpu-1.0-py3-none-any.whl requires "
        "tiny-runtime==0.1.0; keep."
    )


def test_comments_name_the_compiler_once(tmp_path):
    library = compile_library(tmp_path / "liba.so", "int a() { return 1; }", "liba.so")
    found = elf.comments(library.read_bytes(), "liba.so")
    assert found and all(text.startswith("GCC: ") for text in found)
    assert len(found) == len(set(found))
    with pytest.raises(PipelineError, match=r"^cannot read x.so as an ELF shared object"):
        elf.comments(b"not an ELF file", "x.so")
