"""delvewheel's `.load-order-*` file sorted in a repaired wheel, RECORD remade to match."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest

from mlc_ci.errors import PipelineError
from mlc_ci.plan import windows
from mlc_ci.run import Context
from mlc_ci.sessions import load_order

pytestmark = pytest.mark.unit

ORDER = "demo.libs/.load-order-demo-1.0"
RECORD = "demo-1.0.dist-info/RECORD"
DATE = (2026, 1, 2, 3, 4, 6)


def repaired(path: Path, names: list[str], record: bool = True) -> Path:
    """A wheel laid out as delvewheel writes one: package, libs with the load-order, RECORD."""
    members = {
        "demo/__init__.py": b"import os\n",
        "demo.libs/libstdc++-6.dll": b"MZ" + bytes(64),
        ORDER: "".join(f"{n}\n" for n in names).encode(),
    }
    lines = [windows.record_entry(name, data) for name, data in members.items()]
    if record:
        members[RECORD] = ("\r\n".join([*lines, f"{RECORD},,"]) + "\r\n").encode()
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            wheel.writestr(info, data)
    return path


def test_two_repairs_listing_the_dlls_in_two_orders_become_one_file(tmp_path):
    names = ["libwinpthread-1-576f.dll", "libgcc_s_seh-1.dll", "libstdc++-6.dll"]
    first = repaired(tmp_path / "a.whl", names)
    second = repaired(tmp_path / "b.whl", names[::-1])
    assert first.read_bytes() != second.read_bytes()
    assert load_order.sort_in(first) and load_order.sort_in(second)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as wheel:
        assert wheel.read(ORDER).decode().split() == sorted(names)
        assert [i.filename for i in wheel.infolist()] == [
            "demo/__init__.py",
            "demo.libs/libstdc++-6.dll",
            ORDER,
            RECORD,
        ]
        assert {i.date_time for i in wheel.infolist()} == {DATE}
        assert {i.external_attr for i in wheel.infolist()} == {0o644 << 16}
        rows = {row[0]: row for row in csv.reader(io.StringIO(wheel.read(RECORD).decode()))}
        for name in ("demo/__init__.py", "demo.libs/libstdc++-6.dll", ORDER):
            assert rows[name][1:] == windows.record_entry(name, wheel.read(name)).split(",")[1:]
        assert wheel.read(RECORD).count(b"\r\n") == 4  # the other lines keep their endings


def test_a_wheel_without_a_load_order_is_left_byte_for_byte(tmp_path):
    wheel = tmp_path / "plain.whl"
    with zipfile.ZipFile(wheel, "w") as out:
        out.writestr("demo/__init__.py", b"")
    before = wheel.read_bytes()
    assert not load_order.sort_in(wheel)
    assert wheel.read_bytes() == before


def test_a_damaged_wheel_stops_in_one_sentence_and_stays_as_it_was(tmp_path):
    no_record = repaired(tmp_path / "n.whl", ["b.dll", "a.dll"], record=False)
    before = no_record.read_bytes()
    with pytest.raises(PipelineError, match="no .dist-info/RECORD"):
        load_order.sort_in(no_record)
    assert no_record.read_bytes() == before
    broken = tmp_path / "broken.whl"
    broken.write_bytes(b"not a zip")
    ctx: Context = {"repaired": str(broken)}
    with pytest.raises(PipelineError, match="cannot sort the DLL list in broken.whl.*repair it"):
        load_order.sort_step("repaired", "nothing was copied").action(ctx)
    assert broken.read_bytes() == b"not a zip"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.whl", "n.whl"]


def test_record_lines_are_remade_only_for_the_member():
    record = b"a.py,sha256=x,1\nb/.load-order-b-1,sha256=y,2\nb-1.dist-info/RECORD,,\n"
    out = windows.record_with(record, "b/.load-order-b-1", b"z\n").decode().splitlines()
    assert out[0] == "a.py,sha256=x,1" and out[2] == "b-1.dist-info/RECORD,,"
    assert out[1] == windows.record_entry("b/.load-order-b-1", b"z\n")
    with pytest.raises(PipelineError, match="does not list c/.load-order"):
        windows.record_with(record, "c/.load-order-c-1", b"")


def test_load_order_members_and_sorting():
    assert windows.is_load_order("x.libs/.load-order-x-1.0")
    assert not windows.is_load_order("x.libs/load-order.dll")
    assert windows.sorted_load_order(b"b.dll\na.dll\n") == b"a.dll\nb.dll\n"
    assert (
        windows.record_entry("f", b"") == "f,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0"
    )
