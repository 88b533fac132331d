"""The test gates themselves: markers from directories, skips that fail in CI.

Each case runs real pytest in a subprocess on a small test tree under tmp_path, with the gate
hooks of tests/gates.py loaded as a plugin, the way tests/conftest.py loads them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.gates import kind_of, strict_skips

FAILING = "def test_fails():\n    assert 1 == 2\n"
PASSING = "def test_passes():\n    assert 1 + 1 == 2\n"
SKIPPING = "import pytest\n\n\ndef test_skips():\n    pytest.skip('no widget here')\n"


def run_tree(tmp_path: Path, files: dict[str, str], *args: str, env: dict | None = None):
    """Write `files` under tmp_path and run pytest there with the gates plugin."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    full = {k: v for k, v in os.environ.items() if k not in ("CI", "MLC_CI_STRICT_SKIPS")}
    full["PYTHONPATH"] = str(ROOT)
    full.pop("MLC_CI_TEST_ENV", None)
    full.update(env or {})
    argv = (sys.executable, "-m", "pytest", "-p", "tests.gates", "-p", "no:cacheprovider", *args)
    return subprocess.run(argv, cwd=tmp_path, env=full, capture_output=True, text=True, check=False)


def test_unmarked_failing_file_cannot_drop_out_of_the_unit_selection(tmp_path):
    proc = run_tree(tmp_path, {"tests/unit/test_nomark.py": FAILING}, "-m", "unit", "tests/unit")
    assert proc.returncode == 1, proc.stdout
    assert "1 failed" in proc.stdout and "deselected" not in proc.stdout


def test_directory_decides_the_marker(tmp_path):
    files = {"tests/unit/test_u.py": PASSING, "tests/integration/test_i.py": PASSING}
    proc = run_tree(tmp_path, files, "-m", "integration", "tests")
    assert proc.returncode == 0, proc.stdout
    assert "1 passed, 1 deselected" in proc.stdout


def test_test_outside_the_two_directories_is_refused(tmp_path):
    proc = run_tree(tmp_path, {"tests/test_top.py": PASSING}, "tests")
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert "outside tests/unit, tests/integration and tests/rehearsal" in proc.stderr


def test_skip_fails_the_run_in_ci(tmp_path):
    proc = run_tree(tmp_path, {"tests/unit/test_s.py": SKIPPING}, "tests", env={"CI": "true"})
    assert proc.returncode == 1, proc.stdout
    assert "UNEXPECTED SKIP (local): tests/unit/test_s.py::test_skips: no widget here" in (
        proc.stdout
    )


def test_skip_outside_ci_is_only_reported(tmp_path):
    proc = run_tree(tmp_path, {"tests/unit/test_s.py": SKIPPING}, "tests", env={"CI": "false"})
    assert proc.returncode == 0, proc.stdout
    assert "1 skipped" in proc.stdout and "UNEXPECTED" not in proc.stdout


def test_declared_skip_passes_in_its_environment_and_is_listed(tmp_path):
    files = {
        "tests/unit/test_s.py": SKIPPING,
        "tests/expected_skips.toml": '[lab]\n"tests/unit/test_s.py::test_skips" = "no widget"\n',
    }
    env = {"CI": "true", "MLC_CI_TEST_ENV": "lab"}
    proc = run_tree(tmp_path, files, "tests", env=env)
    assert proc.returncode == 0, proc.stdout
    assert "expected skip (lab): tests/unit/test_s.py::test_skips: no widget here" in proc.stdout
    other = run_tree(tmp_path, {}, "tests", env={"CI": "true", "MLC_CI_TEST_ENV": "elsewhere"})
    assert other.returncode == 1, other.stdout


def test_a_failing_run_keeps_its_own_status(tmp_path):
    files = {"tests/unit/test_s.py": SKIPPING, "tests/unit/test_f.py": FAILING}
    proc = run_tree(tmp_path, files, "tests", env={"CI": "1"})
    assert proc.returncode == 1 and "UNEXPECTED SKIP" in proc.stdout


def test_kind_of_and_strictness_rules(tmp_path):
    assert kind_of(tmp_path, tmp_path / "tests" / "unit" / "test_a.py") == "unit"
    assert kind_of(tmp_path, tmp_path / "tests" / "integration" / "x" / "test_b.py") == (
        "integration"
    )
    assert kind_of(tmp_path, tmp_path / "tests" / "test_c.py") is None
    assert kind_of(tmp_path / "elsewhere", tmp_path / "tests" / "unit" / "test_a.py") is None
    assert strict_skips({"CI": "true"}) and strict_skips({"MLC_CI_STRICT_SKIPS": "1"})
    assert not strict_skips({"CI": "false"}) and not strict_skips({"CI": "0"})
    assert not strict_skips({})


def test_repository_declares_only_skips_that_exist(root):
    """Every declared expected skip names a real test, so the file cannot hide a renamed one."""
    from tests.gates import tomllib  # pylint: disable=import-outside-toplevel

    data = tomllib.loads((root / "tests" / "expected_skips.toml").read_text(encoding="utf-8"))
    for environment, table in data.items():
        for nodeid, why in table.items():
            path, _, name = nodeid.partition("::")
            assert why.strip(), f"[{environment}] {nodeid} gives no reason"
            assert f"def {name}(" in (root / path).read_text(encoding="utf-8"), nodeid
