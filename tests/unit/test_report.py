"""Reports: atomic JSON, artifacts with digests, the terminal table."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys

import pytest

from mlc_ci import cli, report
from mlc_ci.plan import notes
from mlc_ci.run import StepResult

pytestmark = pytest.mark.unit


def test_artifact_and_json_round_trip(tmp_path):
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    wheel.write_bytes(b"x" * 2048)
    art = report.artifact(wheel, variant="cpu")
    assert art.sha256 == hashlib.sha256(b"x" * 2048).hexdigest() and art.size == 2048
    rep = report.SessionReport("wheels-linux-cpu", status="passed", artifacts=[art])
    rep.steps.append(StepResult("build", "pip wheel .", "ok", 1.5, 1, 0))
    path = report.write(rep, tmp_path / "reports")
    data = json.loads(path.read_text())
    assert data["artifacts"][0]["details"] == {"variant": "cpu"}
    assert data["steps"][0]["title"] == "build"
    assert [p.name for p in (tmp_path / "reports").iterdir()] == ["wheels-linux-cpu.json"]


def test_failed_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "r.json"
    target.write_text("old")
    with pytest.raises(TypeError):
        report.write_json({1j: 1}, target)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (10, "10 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        ((1 << 20) - 1, "1024.0 KiB"),
        (1 << 20, "1.0 MiB"),
        (5 << 20, "5.0 MiB"),
        (1 << 30, "1.0 GiB"),
        (3 << 40, "3072.0 GiB"),
    ],
)
def test_human_size(size, text):
    assert notes.human_size(size) == text


def test_render_table(tmp_path):
    wheel = tmp_path / "w.whl"
    wheel.write_bytes(b"abc")
    rep = report.SessionReport("lint", status="failed", seconds=2.0, error="black would reformat")
    rep.steps.append(StepResult("black", "black --check .", "failed", 1.0, 1, 1))
    rep.artifacts.append(report.artifact(wheel))
    out = io.StringIO()
    report.render(rep, out)
    text = out.getvalue()
    assert "== lint: failed in 2.0s ==" in text
    assert "black  failed  1.0s" in text
    assert "w.whl" in text
    assert "black would reformat" not in text  # the CLI prints the error, once (test below)


def test_a_dry_run_summary_has_no_time():
    """Two dry runs of one plan print the same text (the time taken to plan varies)."""
    texts = []
    for seconds in (0.04, 0.12):
        out = io.StringIO()
        report.render(report.SessionReport("lint", status="planned", seconds=seconds), out)
        texts.append(out.getvalue())
    assert texts[0] == texts[1] == "\n== lint: planned ==\n"


def test_step_seconds_come_from_the_steps_that_passed(tmp_path):
    rep = report.SessionReport("wheels-linux-cpu", status="failed")
    rep.steps += [
        StepResult("build", "uv build", "ok", 312.5, 1, 0),
        StepResult("repair", "auditwheel repair", "failed", 2.0, 1, 1),
        StepResult("locate", "(python) locate", "ok", 0.0, 1),
    ]
    path = report.write(rep, tmp_path)
    assert report.step_seconds(path) == {"build": 312.5}
    assert not report.step_seconds(tmp_path / "none.json")
    path.write_text('{"status": "passed", "steps": [{"title": 1}, "x"], "artifacts": []}')
    assert not report.step_seconds(path)
    path.write_text("{not json")
    assert not report.step_seconds(path)


def test_a_failed_session_prints_its_error_once(tmp_path, make_config, monkeypatch, capsys):
    """The summary table marks the failure; the error itself is the CLI's one last line."""
    monkeypatch.chdir(tmp_path)  # no tests/unit here: the unit session's pytest fails
    monkeypatch.setenv("MLC_CI_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    out = io.StringIO()
    argv = ["unit", "--config", str(make_config()), "--python", "9.9", "--", "-p", "no:cov", "--co"]
    assert cli.main(argv, out=out) != 0
    error = json.loads((tmp_path / "reports" / "unit-9.9.json").read_text())["error"]
    assert error and "pytest tests/unit" in error
    printed = out.getvalue() + capsys.readouterr().err
    assert printed.count(error) == 1
    assert "== unit-9.9: failed" in out.getvalue()
