"""Reading ELF shared objects (pyelftools) and the manylinux system-library lists (auditwheel's
policy data): the facts the runtime-pairing gate decides on."""

from __future__ import annotations

import io
import json
import re
from importlib import resources
from pathlib import Path, PurePosixPath

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from mlc_ci.errors import PipelineError
from mlc_ci.plan.pairing import SharedObject

# Where the host's system libraries live (Debian/Ubuntu multiarch, then the classic paths).
SYSTEM_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64")


def read(path: Path) -> SharedObject:
    """The dynamic section and dynamic symbol table of `path`."""
    try:
        with path.open("rb") as stream:
            elf = ELFFile(stream)
            soname, needed, _ = _dynamic(elf, path.name)
            undefined, exported = set(), set()
            symbols = elf.get_section_by_name(".dynsym")
            for symbol in symbols.iter_symbols() if symbols else ():
                if not symbol.name:
                    continue
                bind = symbol["st_info"]["bind"]
                if symbol["st_shndx"] == "SHN_UNDEF":
                    if bind == "STB_GLOBAL":
                        undefined.add(symbol.name)
                elif bind in ("STB_GLOBAL", "STB_WEAK", "STB_GNU_UNIQUE") and symbol["st_other"][
                    "visibility"
                ] in ("STV_DEFAULT", "STV_PROTECTED"):
                    exported.add(symbol.name)
    except (OSError, ELFError) as exc:
        raise PipelineError(f"cannot read {path} as an ELF shared object ({exc}).") from exc
    return SharedObject(str(path), soname, needed, frozenset(undefined), frozenset(exported))


def _dynamic(elf: ELFFile, name: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(DT_SONAME or `name`, DT_NEEDED, the RUNPATH/RPATH directories) of the dynamic section."""
    soname, needed, search = name, [], []
    for section in elf.iter_sections():
        if not isinstance(section, DynamicSection):
            continue
        for tag in section.iter_tags():
            kind = tag.entry.d_tag
            if kind == "DT_NEEDED":
                needed.append(tag.needed)
            elif kind == "DT_SONAME":
                soname = tag.soname
            elif kind in ("DT_RUNPATH", "DT_RPATH"):
                search += getattr(tag, kind[3:].lower()).split(":")
    return soname, tuple(needed), tuple(d for d in search if d)


def links(data: bytes, name: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(DT_SONAME or the file's name, DT_NEEDED, the RUNPATH/RPATH directories) of a library."""
    try:
        return _dynamic(ELFFile(io.BytesIO(data)), PurePosixPath(name).name)
    except ELFError as exc:
        raise PipelineError(f"cannot read {name} as an ELF shared object ({exc}).") from exc


def comments(data: bytes, name: str) -> tuple[str, ...]:
    """The strings of the `.comment` section (the compilers that built the objects: "GCC: (Debian
    10.2.1-6) 10.2.1 20210110"), each once, in order."""
    try:
        section = ELFFile(io.BytesIO(data)).get_section_by_name(".comment")
    except ELFError as exc:
        raise PipelineError(f"cannot read {name} as an ELF shared object ({exc}).") from exc
    if section is None:
        return ()
    strings = (part.decode("utf-8", "replace") for part in section.data().split(b"\0"))
    return tuple(dict.fromkeys(text for text in strings if text))


def soname_of(path: Path) -> str:
    """DT_SONAME of `path` (its file name when it has none); the symbol table is not read."""
    try:
        with path.open("rb") as stream:
            return _dynamic(ELFFile(stream), path.name)[0]
    except (OSError, ELFError) as exc:
        raise PipelineError(f"cannot read {path} as an ELF shared object ({exc}).") from exc


def host_dirs(cuda_home: str | None) -> tuple[str, ...]:
    """Where the host's libraries are: the system's, then the CUDA toolkit's (its stubs stand
    for the driver's libcuda.so.1, which a build host without a GPU lacks)."""
    if not cuda_home:
        return SYSTEM_DIRS
    lib = ("lib64", "lib", "targets/x86_64-linux/lib")
    toolkit = [f"{cuda_home}/{d}" for d in lib] + [f"{cuda_home}/{d}/stubs" for d in lib]
    return (*SYSTEM_DIRS, *toolkit)


def find_system(soname: str, dirs: tuple[str, ...] = SYSTEM_DIRS) -> Path | None:
    """The host's copy of a system library, by soname."""
    for directory in dirs:
        candidate = Path(directory) / soname
        if candidate.is_file():
            return candidate
    return None


def system_libraries(tag: str) -> frozenset[str]:
    """The libraries the manylinux policy of platform tag `tag` lets a wheel take from the system
    (every policy's list for a tag no policy names, e.g. linux_x86_64)."""
    policies = json.loads(
        (resources.files("auditwheel.policy") / "manylinux-policy.json").read_text("utf-8")
    )
    match = re.match(r"manylinux_\d+_\d+|manylinux\d+", tag)  # manylinux_2_31_x86_64 -> _2_31
    name = match.group(0) if match else ""
    chosen = [p for p in policies if name and (p["name"] == name or name in p.get("aliases", []))]
    return frozenset(lib for p in chosen or policies for lib in p["lib_whitelist"])
