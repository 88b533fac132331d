"""The runtime-pairing gate on real ELF libraries (compiled here with the host's g++) and real
wheel metadata: a runtime that lacks an export, a missing runtime library, an unknown library,
a loose or missing requirement, and a smoke venv holding the wrong runtime version."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
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
    assert len(problems) == 1
    assert problems[0].startswith("libother.so needs libstray.so, which is neither in the wheel")


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


def install(site: Path, dist: str, files: dict[str, Path]) -> None:
    """A distribution in `site`: its files and a RECORD listing them (as pip leaves it)."""
    info = site / f"{dist}.dist-info"
    info.mkdir(parents=True)
    lines = [f"{info.name}/METADATA,,"]
    for member, library in files.items():
        (site / member).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(library, site / member)
        lines.append(f"{member},sha256=x,1")
    (info / "RECORD").write_text("\n".join(lines) + "\n")


def wheel_of(path: Path, members: list[str]) -> str:
    """A wheel whose members are the given paths (the gate reads only its member names)."""
    with zipfile.ZipFile(path, "w") as archive:
        for member in members:
            archive.writestr(member, b"")
    return str(path)


@pytest.fixture(name="venv_gate")
def fixture_venv_gate(make_config, tmp_path, monkeypatch):
    """The gate of a demo-cpu wheel whose libdemo.so needs tiny-runtime's libtiny_runtime.so
    and libffi_x.so, which it excludes and the `ffi-x` wheel holds; the smoke venv's site."""
    monkeypatch.chdir(tmp_path)
    text = (
        "[project]\nname = 'demo'\nsource = 'src-tree'\ndistribution = 'demo'\n"
        "version = 'pyproject'\n[wheel]\nauditwheel_exclude = ['libffi_x.so']\n"
        "[pair]\ndistribution = 'tiny-runtime'\nsource = 'rt'\n"
        "libraries = ['libtiny_runtime.so']\n[variants.cpu]\ndistribution = 'demo-cpu'\n"
    )
    cfg = config.load(make_config(text), env={})
    variant = cfg.variant("cpu")
    layout = wheel_steps.Layout(cfg, variant, None)
    site = layout.venv / "lib" / "python3.12" / "site-packages"
    built = tmp_path / "built"
    built.mkdir()
    runtime = compile_library(built / "libtiny_runtime.so", PAIR_FULL, "libtiny_runtime.so")
    ffi = compile_library(
        built / "libffi_x.so", 'extern "C" int ffi_c() { return 3; }\n', "libffi_x.so"
    )
    code = MAIN.replace("pair_b();\nextern", 'pair_b();\nextern "C" int ffi_c();\nextern')
    code = code.replace("pair_a() + pair_b()", "pair_a() + pair_b() + ffi_c()")
    demo = compile_library(
        built / "libdemo.so", code, "libdemo.so", f"-L{built}", "-ltiny_runtime", "-lffi_x"
    )
    install(site, "demo_cpu-1.0", {"demo/libdemo.so": demo})
    install(site, "tiny_runtime-0.1.0", {"tiny_runtime/libtiny_runtime.so": runtime})
    install(site, "ffi_x-2.0", {"ffi_x/lib/libffi_x.so": ffi})
    ctx = {
        "repaired": wheel_of(tmp_path / "demo_cpu-1.0-py3-none-any.whl", ["demo/libdemo.so"]),
        "pair": wheel_of(tmp_path / "tiny_runtime-0.1.0.whl", ["tiny_runtime/libtiny_runtime.so"]),
        "report": {"pairing": {"required": "0.1.0"}},
    }
    return pair_steps.gate_step(cfg, variant, layout, "keep"), ctx, site, runtime


def test_the_venv_gate_checks_an_excluded_library_against_the_wheel_that_holds_it(venv_gate):
    gate, ctx, _, _ = venv_gate
    gate.action(ctx)
    row = ctx["report"]["pairing"]["libraries"][0]
    assert row["needs"] == {
        "libtiny_runtime.so": "pair",
        "libffi_x.so": "installed",
        **{
            n: "system"
            for n in row["needs"]
            if n.startswith(("libc.", "libstdc++", "libm.", "libgcc"))
        },
    }
    assert row["providers"]["libffi_x.so"] == "ffi_x 2.0"
    assert row["providers"]["libtiny_runtime.so"] == "tiny-runtime 0.1.0"
    assert row["unresolved"] == [] and row["unchecked"] == []


def test_the_venv_gate_fails_on_a_second_copy_of_the_runtime_naming_both_wheels(venv_gate):
    gate, ctx, site, runtime = venv_gate
    install(site, "other_llm-3.0", {"other_llm/libs/libtiny_runtime.so": runtime})
    with pytest.raises(PipelineError) as info:
        gate.action(ctx)
    message = str(info.value)
    assert "libtiny_runtime.so is installed twice" in message
    assert "other_llm 3.0" in message and "tiny-runtime 0.1.0" in message


def test_the_venv_gate_names_a_symbol_the_excluded_library_lacks(venv_gate, tmp_path):
    gate, ctx, site, _ = venv_gate
    short = compile_library(
        tmp_path / "short.so", 'extern "C" int other() { return 0; }\n', "libffi_x.so"
    )
    shutil.copy(short, site / "ffi_x/lib/libffi_x.so")
    with pytest.raises(PipelineError) as info:
        gate.action(ctx)
    message = str(info.value)
    assert "libdemo.so needs ffi_c" in message and "libffi_x.so (ffi_x 2.0)" in message
    assert "libtiny_runtime.so (tiny-runtime 0.1.0)" in message  # searched too
