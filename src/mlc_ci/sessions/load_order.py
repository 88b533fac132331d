"""A delvewheel-repaired wheel rewritten with its `.load-order-*` file sorted, so that two
repairs of one wheel give one file (see windows.sorted_load_order)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from mlc_ci import files
from mlc_ci.errors import PipelineError
from mlc_ci.plan import windows
from mlc_ci.run import Context, Step


def sort_step(key: str, keep: str) -> Step:
    """Rewrite the wheel at ctx[key] in place (atomically); a wheel without the file is left
    as it is. `keep`: what stays where, for the error message."""

    def action(ctx: Context) -> None:
        wheel = Path(ctx[key])
        try:
            sort_in(wheel)
        except (OSError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
            raise PipelineError(
                f"cannot sort the DLL list in {wheel.name} ({exc}); {keep}: repair it again."
            ) from exc

    return Step("sort delvewheel's .load-order (one order for every repair)", action=action)


def sort_in(wheel: Path) -> bool:
    """Sort the `.load-order-*` member of `wheel` and remake its RECORD line; True if the
    wheel has one. Every other member keeps its bytes, date, mode and place."""
    with zipfile.ZipFile(wheel) as old:
        infos = old.infolist()
        orders = [info.filename for info in infos if windows.is_load_order(info.filename)]
        if not orders:
            return False
        sorted_ = {name: windows.sorted_load_order(old.read(name)) for name in orders}
        record = next((i.filename for i in infos if i.filename.endswith(".dist-info/RECORD")), "")
        if not record:
            raise PipelineError(f"{wheel.name} has no .dist-info/RECORD; repair it again.")
        record_data = old.read(record)
        for name, data in sorted_.items():
            record_data = windows.record_with(record_data, name, data)
        replaced = {**sorted_, record: record_data}

        def fill(tmp: str) -> None:
            # Always rewritten, sorted or not: both wheels of a reproducibility check go through
            # the same writer, so their containers agree as well as their members.
            with zipfile.ZipFile(tmp, "w") as new:
                for info in infos:
                    copy = zipfile.ZipInfo(info.filename, info.date_time)
                    copy.compress_type = info.compress_type
                    copy.external_attr = info.external_attr
                    copy.create_system = info.create_system
                    data = replaced[info.filename] if info.filename in replaced else None
                    new.writestr(copy, old.read(info) if data is None else data)

        files.atomic(wheel, fill)
    return True
