"""The progress line of a long build on a terminal (pure)."""

from __future__ import annotations

import pytest

from mlc_ci.plan import progress

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (44.6, "45s"), (59.4, "59s"), (60, "1m00s"), (125, "2m05s"), (3720, "1h02m")],
)
def test_clock(seconds, text):
    assert progress.clock(seconds) == text


@pytest.mark.parametrize(
    "line", ["-- Configuring done", "[0/0] nothing", "warning: [1/2] in the middle", "", "\n"]
)
def test_other_lines_are_no_progress(line):
    assert progress.progress_text(line, 10.0) is None


def test_without_a_last_run_the_rate_estimates_what_is_left():
    text = progress.progress_text("[3/10] Building CXX object a.o\n", 30.0)
    assert text.startswith("      [3/10] 30% 30s") and "1m10s left" in text
    assert text.endswith("Building CXX object a.o")


def test_the_last_runs_time_estimates_what_is_left():
    text = progress.progress_text("  [3/10] Building CXX object a.o", 30.0, previous=600.0)
    assert "9m30s left" in text and "10m00s" in text


def test_a_run_slower_than_the_last_falls_back_to_the_rate():
    text = progress.progress_text("[5/10] Linking", 120.0, previous=100.0)
    assert "2m00s left" in text and "1m40s" not in text


def test_the_line_never_wraps():
    line = "[1/2] Building CXX object " + "very/long/path/" * 20 + "a.o"
    text = progress.progress_text(line, 1.0, width=60)
    assert len(text) == 59 and text.startswith("      [1/2] 50% 1s")


def test_only_the_last_unit_is_finished():
    assert progress.finished("[7/7] Linking CXX shared library lib.so\n")
    assert not progress.finished("[6/7] Linking CXX shared library lib.so")
    assert not progress.finished("-- Installing: lib.so")
