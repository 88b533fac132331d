"""A synthetic wheel with the shape of MLC-LLM's cpu wheel, from the committed facts table
(tests/fixtures/mlc-llm-cpu-wheel.toml): the same paths, NEEDED entries and RUNPATH, with stub
libraries compiled here (gcc) in place of upstream's code."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

from tests.gates import tomllib

FACTS_PATH = Path(__file__).parent / "fixtures" / "mlc-llm-cpu-wheel.toml"
FACTS: dict[str, Any] = tomllib.loads(FACTS_PATH.read_text(encoding="utf-8"))


def dist_info() -> str:
    """The wheel's .dist-info directory name."""
    wheel = FACTS["wheel"]
    return f"{wheel['distribution'].replace('-', '_')}-{wheel['version']}.dist-info"


def wheel_name() -> str:
    """The unrepaired wheel's file name."""
    wheel = FACTS["wheel"]
    return f"{wheel['distribution'].replace('-', '_')}-{wheel['version']}-{wheel['tag']}.whl"


def member_names() -> list[str]:
    """Every member of the wheel, in the order it is written."""
    files = FACTS["files"]
    names = [*files["python"], *(lib["path"] for lib in FACTS["library"]), *files["archives"]]
    info = dist_info()
    return [*names, f"{info}/METADATA", f"{info}/WHEEL", f"{info}/RECORD"]


def _metadata() -> str:
    wheel = FACTS["wheel"]
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {wheel['distribution']}",
        f"Version: {wheel['version']}",
        f"Requires-Python: {wheel['requires_python']}",
        *(f"Requires-Dist: {req}" for req in wheel["requires_dist"]),
    ]
    return "\n".join(lines) + "\n"


def _compile(target: Path, library: dict[str, Any], search: list[Path]) -> None:
    """A stub shared library named by its soname, with the table's NEEDED and RUNPATH."""
    source = target.with_suffix(".c")
    symbol = target.name.split(".")[0].replace("-", "_")
    source.write_text(f"int {symbol}_stub(void) {{ return 1; }}\n", encoding="utf-8")
    argv = ["gcc", "-shared", "-fPIC", "-o", str(target), str(source)]
    argv += [f"-Wl,-soname,{target.name}", "-Wl,--no-as-needed", "-Wl,--enable-new-dtags"]
    argv += [f"-L{directory}" for directory in search]
    argv += [f"-l:{soname}" for soname in library.get("needed", ())]
    if library.get("runpath"):
        argv.append(f"-Wl,-rpath,{library['runpath']}")
    subprocess.run(argv, check=True, capture_output=True, text=True)
    source.unlink()


def build(work: Path) -> tuple[Path, Path]:
    """Compile the stubs and write the wheel under `work`: (the wheel, the directory holding the
    libraries other wheels provide, e.g. libtvm_ffi.so)."""
    tree, provided = work / "tree", work / "provided"
    provided.mkdir(parents=True)
    for entry in FACTS["provided"]:
        _compile(provided / entry["soname"], {}, [])
    packed = {lib["path"] for lib in FACTS["library"]}
    dirs = sorted({tree / Path(path).parent for path in packed})
    for directory in dirs:
        directory.mkdir(parents=True, exist_ok=True)
    # The table lists each library after the ones it links against.
    for library in FACTS["library"]:
        target = tree / library["path"]
        if "copy_of" in library:
            shutil.copyfile(tree / library["copy_of"], target)
        else:
            _compile(target, library, [*dirs, provided])
    for path in FACTS["files"]["archives"]:
        (tree / path).write_bytes(b"!<arch>\n")
    for path in FACTS["files"]["python"]:
        (tree / path).write_text('"""stub"""\n', encoding="utf-8")
    info = dist_info()
    (tree / info).mkdir()
    (tree / info / "METADATA").write_text(_metadata(), encoding="utf-8")
    (tree / info / "WHEEL").write_text(
        "Wheel-Version: 1.0\nGenerator: mlc-ci tests\nRoot-Is-Purelib: false\n"
        f"Tag: {FACTS['wheel']['tag']}\n",
        encoding="utf-8",
    )
    wheel = work / wheel_name()
    record = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in member_names()[:-1]:
            data = (tree / name).read_bytes()
            archive.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{name},sha256={digest.decode()},{len(data)}")
        record.append(f"{info}/RECORD,,")
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel, provided
