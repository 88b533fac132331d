"""Reports are records: atomic 0644 writes, failed runs kept apart, SIGTERM restores the tree."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlc_ci import files, report, source_edits
from mlc_ci.errors import PipelineError
from tests.conftest import TOOLKIT_PATH


def test_atomic_write_is_0644_and_replaces(tmp_path):
    target = files.write_text(tmp_path / "a" / "x.json", "one\n")
    files.write_text(target, "two\n")
    assert target.read_text() == "two\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]


def test_a_failed_write_leaves_the_old_file_and_no_partial(tmp_path):
    """A real write failure: the kernel's file-size limit (EFBIG), as a full disk would."""
    target = tmp_path / "SHA256SUMS"
    target.write_text("old\n")
    code = textwrap.dedent(f"""
        import resource, signal, sys
        from pathlib import Path
        from mlc_ci import files
        from mlc_ci.errors import PipelineError
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
        try:
            files.write_text(Path({str(target)!r}), "x" * 50000)
        except PipelineError as exc:
            print(exc)
            sys.exit(2)
        """)
    env = {**os.environ, "PYTHONPATH": TOOLKIT_PATH}
    proc = subprocess.run(
        (sys.executable, "-c", code), env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2, proc.stderr
    assert "cannot write" in proc.stdout and "File too large" in proc.stdout
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["SHA256SUMS"]


def test_ensure_dir_refuses_a_file(tmp_path):
    (tmp_path / "dist").write_text("")
    with pytest.raises(PipelineError, match="dist is a file, not a directory"):
        files.ensure_dir(tmp_path / "dist", "output directory")


def test_a_failing_run_never_replaces_a_passing_report(tmp_path):
    passing = report.write(report.SessionReport("wheels-linux-cpu", status="passed"), tmp_path)
    failed = report.write(
        report.SessionReport("wheels-linux-cpu", status="failed", error="boom"), tmp_path
    )
    assert failed == tmp_path / "failed" / "wheels-linux-cpu.json"
    assert json.loads(passing.read_text())["status"] == "passed"
    assert json.loads(failed.read_text())["error"] == "boom"
    again = report.write(report.SessionReport("wheels-linux-cpu", status="passed"), tmp_path)
    assert again == passing


def test_without_a_passing_record_the_failure_is_the_record(tmp_path):
    first = report.write(report.SessionReport("lint", status="interrupted"), tmp_path)
    assert first == tmp_path / "lint.json"
    assert report.write(report.SessionReport("lint", status="failed"), tmp_path) == first


@pytest.mark.parametrize(
    "text",
    ["[]", '{"artifacts": {}}', '{"artifacts": [1]}', '{"status": 3}', '{"data": []}'],
)
def test_report_of_the_wrong_shape_is_one_line(tmp_path, text):
    path = tmp_path / "wheels-linux-cpu.json"
    path.write_text(text)
    with pytest.raises(PipelineError, match="wrong JSON shape"):
        report.read(path)


def test_journal_recovers_an_interrupted_edit(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("name = 'demo'\n")
    cmake = tmp_path / "config.cmake"
    source_edits.begin(tmp_path, {str(pyproject): "name = 'demo'\n", str(cmake): None})
    pyproject.write_text("name = 'demo-cpu'\n")
    cmake.write_text("set(X ON)\n")
    assert source_edits.recover(tmp_path) == sorted([str(pyproject), str(cmake)])
    assert pyproject.read_text() == "name = 'demo'\n" and not cmake.exists()
    assert not source_edits.journal_path(tmp_path).exists()
    assert not source_edits.recover(tmp_path)
    source_edits.journal_path(tmp_path).write_text("[")
    with pytest.raises(PipelineError, match="is damaged"):
        source_edits.recover(tmp_path)


BACKEND = """
import os, time


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    if os.environ.get("DEMO_BUILD") == "slow":
        open(os.environ["DEMO_MARKER"], "w").close()
        time.sleep(float(os.environ["DEMO_SLEEP"]))
    raise RuntimeError("the demo backend builds nothing")
"""

PIPELINE = """
[project]
name = "demo"
source = "proj"
distribution = "demo"
version = "pyproject"

[wheel]
frontend = "pip"

[variants.cpu]
distribution = "demo-cpu"
config = { USE_CUDA = false }
"""

PYPROJECT = (
    '[build-system]\nrequires = []\nbuild-backend = "demo_backend"\nbackend-path = ["."]\n\n'
    '[project]\nname = "demo"\nversion = "1.0"\n'
)


@pytest.fixture(name="project")
def fixture_project(tmp_path):
    """A source tree whose build backend sleeps (DEMO_BUILD=slow) or fails at once."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "CMakeLists.txt").write_text("project(demo)\ninclude(config.cmake OPTIONAL)\n")
    (proj / "pyproject.toml").write_text(PYPROJECT)
    (proj / "demo_backend.py").write_text(BACKEND)
    (tmp_path / "pipeline.toml").write_text(PIPELINE)
    return tmp_path


def _start(project: Path, slow: bool, sleep: float = 90) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": TOOLKIT_PATH,
        "MLC_CI_REPORTS_DIR": str(project / "reports"),
        "DEMO_BUILD": "slow" if slow else "fast",
        "DEMO_MARKER": str(project / "building"),
        "DEMO_SLEEP": str(sleep),
        "PATH": os.pathsep.join((str(Path(sys.executable).parent), os.environ["PATH"])),
    }
    argv = (sys.executable, "-m", "mlc_ci", "wheels-linux", "--config", "pipeline.toml")
    return subprocess.Popen(
        argv,
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_until_building(proc: subprocess.Popen, project: Path, limit: float = 60) -> None:
    """Until the backend's build is running (it leaves a marker file), with the run alive."""
    deadline = time.monotonic() + limit
    while not (project / "building").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the build never started"
        time.sleep(0.1)


def test_sigterm_restores_the_source_tree_and_records_the_interruption(project):
    proj = project / "proj"
    proc = _start(project, slow=True)
    _wait_until_building(proc, project)
    assert (proj / "config.cmake").exists()
    assert 'name = "demo-cpu"' in (proj / "pyproject.toml").read_text()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == (
        "mlc-ci: terminated (SIGTERM); the source tree was restored"
    )
    assert (proj / "pyproject.toml").read_text() == PYPROJECT
    assert not (proj / "config.cmake").exists()
    assert not source_edits.journal_path(proj).exists()
    record = json.loads((project / "reports" / "wheels-linux-demo-cpu.json").read_text())
    assert record["status"] == "interrupted"
    assert record["steps"][-1]["title"] == "restore source tree"
    assert "interrupted" in [s["status"] for s in record["steps"]]


def test_the_next_run_repairs_a_tree_a_killed_run_left(project):
    proj = project / "proj"
    # The build's own processes outlive a SIGKILL of the run: keep their sleep short.
    proc = _start(project, slow=True, sleep=10)
    _wait_until_building(proc, project)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its build: no restore step can run
    proc.communicate(timeout=60)
    assert 'name = "demo-cpu"' in (proj / "pyproject.toml").read_text()
    again = _start(project, slow=False)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 1, err
    assert "restored" in out and "an earlier run was stopped before it" in out
    assert (proj / "pyproject.toml").read_text() == PYPROJECT
    assert not (proj / "config.cmake").exists()


def test_a_renamed_pyproject_without_journal_is_refused(project):
    proj = project / "proj"
    (proj / "pyproject.toml").write_text(PYPROJECT.replace('"demo"', '"demo-cpu"'))
    proc = _start(project, slow=False)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert err.strip().splitlines() == [
        f"mlc-ci: error: {proj / 'pyproject.toml'} names 'demo-cpu', the distribution of variant "
        "'cpu', not [project].distribution 'demo': an earlier run was stopped before restoring "
        "it; restore the file (`git checkout -- pyproject.toml`)."
    ]
    assert 'name = "demo-cpu"' in (proj / "pyproject.toml").read_text()


def test_config_entries_for_a_project_without_config_cmake_are_refused(project):
    proj = project / "proj"
    (proj / "CMakeLists.txt").write_text("project(demo)\n")
    proc = _start(project, slow=False)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "never reads config.cmake" in err and "cmake_define" in err
    assert (proj / "pyproject.toml").read_text() == PYPROJECT
