"""The Windows pairing gate on real DLLs (cross-compiled here with MinGW-w64) read from real
wheel archives: imports bound to the paired runtime's DLL must be among its exports."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from mlc_ci import config, pe
from mlc_ci.errors import PipelineError
from mlc_ci.plan import windows
from mlc_ci.sessions import dll_pairing

pytestmark = pytest.mark.unit

FULL = 'extern "C" __declspec(dllexport) int rt_a() { return 1; }\n' + (
    'extern "C" __declspec(dllexport) int rt_b() { return 2; }\n'
)
SHORT = 'extern "C" __declspec(dllexport) int rt_a() { return 1; }\n'
MAIN = (
    'extern "C" int rt_a();\nextern "C" int rt_b();\n'
    'extern "C" __declspec(dllexport) int run() { return rt_a() + rt_b(); }\n'
)


def dll(out: Path, code: str, *link: str) -> Path:
    """A DLL from `code`, cross-compiled with the MinGW-w64 the wheels-windows session uses."""
    if not shutil.which(windows.MINGW_CXX):
        pytest.skip(f"no MinGW-w64 ({windows.MINGW_CXX}) here")  # declared where expected
    source = out.with_suffix(".cc")
    source.write_text(code)
    link_flags = ("-static-libgcc", "-static-libstdc++")  # only Windows' own DLLs besides ours
    subprocess.run(
        (windows.MINGW_CXX, "-shared", "-o", str(out), str(source), *link_flags, *link),
        check=True,
    )
    return out


def wheel(path: Path, members: dict[str, Path]) -> str:
    """An archive holding `members` (the gate reads only the DLLs of a wheel)."""
    with zipfile.ZipFile(path, "w") as archive:
        for member, source in members.items():
            archive.write(source, member)
    return str(path)


@pytest.fixture(name="built")
def fixture_built(tmp_path):
    """rt.dll in two builds (full, and one lacking rt_b) and main.dll importing both."""
    full, short = tmp_path / "full", tmp_path / "short"
    full.mkdir()
    short.mkdir()
    dll(full / "rt.dll", FULL)
    dll(short / "rt.dll", SHORT)
    main = dll(tmp_path / "main.dll", MAIN, str(full / "rt.dll"))
    return {"full": full / "rt.dll", "short": short / "rt.dll", "main": main}


@pytest.fixture(name="gate")
def fixture_gate(make_config, tmp_path, monkeypatch):
    """The gate of demo-cpu, paired with `rt` (rt.dll)."""
    monkeypatch.chdir(tmp_path)
    text = (
        "[project]\nname = 'demo'\nsource = 'src-tree'\ndistribution = 'demo'\n"
        "version = 'pyproject'\n[pair]\ndistribution = 'rt'\nsource = 'rt'\n"
        "libraries = ['rt.dll']\n[variants.cpu]\ndistribution = 'demo-cpu'\n"
    )
    cfg = config.load(make_config(text), env={})
    return dll_pairing.gate_step(cfg, cfg.variant("cpu"), "nothing was copied")


def run(gate, tmp_path, main: Path, runtime: Path) -> dict:
    """The gate on a wheel holding `main` and a pair wheel holding `runtime`; its context."""
    ctx = {
        "repaired": wheel(
            tmp_path / "demo_cpu-1.0-py3-none-win_amd64.whl", {"demo/main.dll": main}
        ),
        "pair": wheel(tmp_path / "rt-1.0-py3-none-win_amd64.whl", {"rt/rt.dll": runtime}),
        "report": {"pairing": {"required": "1.0"}},
    }
    gate.action(ctx)
    return ctx


def test_a_matching_runtime_passes_and_windows_own_dlls_are_system(gate, built, tmp_path):
    ctx = run(gate, tmp_path, built["main"], built["full"])
    row = ctx["report"]["pairing"]["libraries"][0]
    assert row["library"] == "main.dll" and row["needs"]["rt.dll"] == "pair"
    assert row["providers"]["rt.dll"] == "rt 1.0"
    assert row["needs"]["kernel32.dll"] == "system" and row["unresolved"] == []


def test_a_runtime_without_an_export_fails_naming_dll_and_function(gate, built, tmp_path):
    with pytest.raises(PipelineError) as info:
        run(gate, tmp_path, built["main"], built["short"])
    message = str(info.value)
    assert "main.dll needs rt_b from rt.dll, which rt 1.0 does not export" in message
    assert "nothing was copied" in message


def test_a_dll_is_read_with_its_bound_imports(built):
    main = pe.read(built["main"].read_bytes(), "w/demo/Main.DLL")
    assert main.soname == "main.dll" and "rt.dll" in main.needed
    assert dict(main.bound)["rt.dll"] == {"rt_a", "rt_b"} and "run" in main.exported
    with pytest.raises(PipelineError, match="cannot read x.dll as a Windows DLL"):
        pe.read(b"MZ not a PE", "x.dll")
    assert pe.system_names(["kernel32.dll", "api-ms-win-crt-runtime-l1-1-0.dll", "rt.dll"]) == {
        "kernel32.dll",
        "api-ms-win-crt-runtime-l1-1-0.dll",
    }
