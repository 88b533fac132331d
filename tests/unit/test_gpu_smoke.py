"""gpu-smoke's refusals, each one line: no GPU, no CUDA wheel, a CUDA-less variant, a lenient
device check. (On a GPU host it passes; see README, "GPU smoke".)"""

from __future__ import annotations

import contextlib
import io
import os

from mlc_ci import cli, host
from tests.conftest import MINIMAL

CUDA = """
[variants.cu130]
distribution = "demo-cu130"
cuda = "13.0"
config = { USE_CUDA = true }
smoke = ["python -m demo check-device cuda --allow-missing"]
gpu_smoke = ["python -m demo check-device cuda"]
"""


def run(make_config, tmp_path, *args, extra=""):
    """gpu-smoke in-process with dist/ under tmp_path; (status, stderr lines)."""
    path = make_config(MINIMAL + CUDA + extra)
    err = io.StringIO()
    argv = ["gpu-smoke", "--config", str(path), "--dist", str(tmp_path / "dist"), *args]
    with contextlib.redirect_stderr(err):
        status = cli.main(argv, out=io.StringIO())
    return status, [line for line in err.getvalue().splitlines() if line.strip()]


def test_without_a_cuda_wheel_one_line(make_config, tmp_path):
    (tmp_path / "dist").mkdir()
    status, lines = run(make_config, tmp_path)
    assert status != 0 and len(lines) == 1
    assert "no CUDA wheel (demo-cu130) in" in lines[0] and "--variant cu130" in lines[0]


def test_a_variant_without_cuda_is_refused(make_config, tmp_path):
    (tmp_path / "dist").mkdir()
    status, lines = run(make_config, tmp_path, "--variant", "cpu")
    assert status != 0 and lines == [
        "mlc-ci: error: variant 'cpu' is not a CUDA variant; gpu-smoke checks one of cu130."
    ]


def test_a_lenient_device_check_is_refused(make_config, tmp_path):
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "demo_cu130-1.0-py3-none-manylinux_2_31_x86_64.whl").write_bytes(b"")
    text = CUDA.replace('gpu_smoke = ["python -m demo check-device cuda"]', "")
    path = make_config(MINIMAL + text)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = cli.main(["gpu-smoke", "--config", str(path), "--dist", str(tmp_path / "dist")])
    assert status != 0 and "set its gpu_smoke without --allow-missing" in err.getvalue()


def test_without_a_gpu_it_fails_in_one_line(make_config, tmp_path, monkeypatch):
    if host.gpus({"PATH": os.environ.get("PATH", "")}):
        monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # this host has a GPU: hide it
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "demo_cu130-1.0-py3-none-manylinux_2_31_x86_64.whl").write_bytes(b"")
    monkeypatch.setenv("MLC_CI_REPORTS_DIR", str(tmp_path / "reports"))
    status, lines = run(make_config, tmp_path)
    assert status != 0
    assert lines[-1] == (
        "mlc-ci: error: no GPU here: nvidia-smi lists none (or is missing); run gpu-smoke on a "
        "host with an NVIDIA GPU and its driver (the workflow's GPU runner)."
    )
