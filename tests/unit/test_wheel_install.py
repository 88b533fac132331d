"""The smoke venv for real: made without pip, filled by the frontend's installer (pip or uv)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from mlc_ci import config
from mlc_ci.errors import StepFailed
from mlc_ci.run import Runner
from mlc_ci.sessions import wheel_steps

pytestmark = pytest.mark.unit

DIST_INFO = "demo_cpu-1.0.dist-info"
FILES = {
    "demo/__init__.py": "VALUE = 42\n",
    "demo/__main__.py": "import sys\nimport demo\nsys.exit(0 if demo.VALUE == 42 else 3)\n",
    f"{DIST_INFO}/METADATA": "Metadata-Version: 2.1\nName: demo-cpu\nVersion: 1.0\n",
    f"{DIST_INFO}/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
    "Tag: py3-none-any\n",
}


def make_wheel(directory: Path) -> Path:
    """A minimal valid pure wheel (RECORD with sha256 entries) of the demo package."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "demo_cpu-1.0-py3-none-any.whl"
    record = io.StringIO()
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in FILES.items():
            data = text.encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.write(f"{name},sha256={digest.decode()},{len(data)}\n")
            archive.writestr(name, data)
        record.write(f"{DIST_INFO}/RECORD,,\n")
        archive.writestr(f"{DIST_INFO}/RECORD", record.getvalue())
    return path


def smoke(make_config, tmp_path, monkeypatch, frontend: str, command: str):
    """Run the real smoke steps of the cpu variant on the hand-made wheel."""
    from tests.conftest import MINIMAL  # pylint: disable=import-outside-toplevel

    text = MINIMAL + f'\n[wheel]\nfrontend = "{frontend}"\nsmoke = [{json.dumps(command)}]\n'
    cfg = config.load(make_config(text), env={})
    variant = cfg.variant("cpu")
    monkeypatch.chdir(tmp_path)
    layout = wheel_steps.Layout(cfg, variant, None)
    layout.empty.mkdir(parents=True)
    runner = Runner(out=io.StringIO())
    runner.context = {"repaired": str(make_wheel(tmp_path / "repaired"))}
    runner.run_all(wheel_steps.smoke_steps(cfg, variant, layout, "kept"))
    return layout


@pytest.mark.parametrize("frontend", ["pip", "uv"])
def test_wheel_installs_into_a_venv_without_pip(make_config, tmp_path, monkeypatch, frontend):
    layout = smoke(make_config, tmp_path, monkeypatch, frontend, "python -m demo")
    assert not (layout.venv / "bin" / "pip").exists()
    installed = list(layout.venv.glob("lib/python*/site-packages/demo/__init__.py"))
    assert len(installed) == 1


def test_failing_smoke_command_stops_the_session(make_config, tmp_path, monkeypatch):
    with pytest.raises(StepFailed, match="kept"):
        smoke(make_config, tmp_path, monkeypatch, "uv", 'python -c "import demo, sys; sys.exit(5)"')


def test_smoke_command_with_braces_runs_as_written(make_config, tmp_path, monkeypatch):
    """Commands are never templates: a dict literal and a lone brace reach Python as written."""
    command = """python -c 'import demo, sys; print("}"); sys.exit({"v": demo.VALUE}["v"] - 42)'"""
    layout = smoke(make_config, tmp_path, monkeypatch, "uv", command)
    assert layout.venv.is_dir()
