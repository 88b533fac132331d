"""The byte-for-byte comparison of --check-reproducible, on real zip files."""

from __future__ import annotations

import zipfile

import pytest

from mlc_ci.errors import PipelineError
from mlc_ci.sessions import reproducible


def wheel(path, when=(2026, 1, 2, 3, 4, 6), library=b"\x7fELF same"):
    """A small wheel-shaped zip."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("demo/__init__.py", when), "")
        archive.writestr(zipfile.ZipInfo("demo/libdemo.so", when), library)
    return str(path)


def test_identical_wheels_are_reproducible(tmp_path):
    ctx = {"repaired": wheel(tmp_path / "a.whl"), "rebuilt": wheel(tmp_path / "b.whl")}
    reproducible._compare("keep")(ctx)  # pylint: disable=protected-access
    record = ctx["report"]["reproducible"]
    assert record["reproducible"] is True and record["differences"] == []
    assert record["sha256"][0] == record["sha256"][1]


def test_a_difference_fails_and_is_recorded(tmp_path):
    ctx = {
        "repaired": wheel(tmp_path / "a.whl"),
        "rebuilt": wheel(tmp_path / "b.whl", when=(2026, 12, 1, 0, 0, 0), library=b"\x7fELF else"),
    }
    with pytest.raises(PipelineError, match="a.whl is not reproducible: .*libdemo.so: contents"):
        reproducible._compare("keep")(ctx)  # pylint: disable=protected-access
    record = ctx["report"]["reproducible"]
    assert record["reproducible"] is False
    assert record["differences"] == [
        "demo/__init__.py: timestamps differ (2026-01-02 03:04:06 vs 2026-12-01 00:00:00)",
        "demo/libdemo.so: contents differ (9 vs 9 bytes)",
    ]
