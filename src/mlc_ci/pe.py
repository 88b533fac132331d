"""Reading Windows DLLs (pefile) and the DLLs Windows itself provides (delvewheel's list): the
facts the runtime-pairing gate decides on for a Windows wheel."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Iterable

import pefile

from mlc_ci.errors import PipelineError
from mlc_ci.plan.pairing import SharedObject


def read(data: bytes, path: str) -> SharedObject:
    """The imports (per DLL, delay-loaded ones too) and exports of a DLL; names lower-cased,
    as Windows matches DLL names without case."""
    try:
        image = pefile.PE(data=data, fast_load=True)
        image.parse_data_directories(
            directories=[
                pefile.DIRECTORY_ENTRY[f"IMAGE_DIRECTORY_ENTRY_{kind}"]
                for kind in ("IMPORT", "DELAY_IMPORT", "EXPORT")
            ]
        )
    except pefile.PEFormatError as exc:
        raise PipelineError(f"cannot read {path} as a Windows DLL ({exc}).") from exc
    bound: dict[str, set[str]] = {}
    for table in ("DIRECTORY_ENTRY_IMPORT", "DIRECTORY_ENTRY_DELAY_IMPORT"):
        for entry in getattr(image, table, []):
            names = bound.setdefault(entry.dll.decode("ascii", "replace").lower(), set())
            # An import by ordinal has no name to check; every named one is checked.
            names.update(i.name.decode("ascii", "replace") for i in entry.imports if i.name)
    exports = getattr(image, "DIRECTORY_ENTRY_EXPORT", None)
    exported = frozenset(
        s.name.decode("ascii", "replace") for s in (exports.symbols if exports else ()) if s.name
    )
    name = PurePosixPath(path.replace("\\", "/")).name.lower()
    return SharedObject(
        path,
        name,
        tuple(bound),
        frozenset(n for names in bound.values() for n in names),
        exported,
        bound=tuple((dll, frozenset(names)) for dll, names in bound.items()),
    )


def system_names(names: Iterable[str]) -> frozenset[str]:
    """Those of `names` that Windows or the interpreter provides (delvewheel's lists: the
    DLLs it never grafts, the API sets, the Visual C++ runtime)."""
    # pylint: disable-next=import-outside-toplevel,protected-access
    from delvewheel import _dll_list as listed

    known = listed.ignore_names_x64
    patterns = (*listed.ignore_regexes, listed.vc_redist)
    return frozenset(n for n in names if n in known or any(p.fullmatch(n) for p in patterns))
