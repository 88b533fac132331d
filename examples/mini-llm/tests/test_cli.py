"""`python -m mini_llm` as a user runs it: a fresh interpreter per command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import mini_llm


def run(*args: str) -> subprocess.CompletedProcess:
    """Run `python -m mini_llm ARGS` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "mini_llm", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_help_lists_commands():
    """The help text names every command."""
    result = run("--help")
    assert result.returncode == 0
    for command in ("version", "build-info", "check-device"):
        assert command in result.stdout


def test_version_prints_distribution_and_native_versions():
    """The installed distribution name (with its variant suffix) and the native versions."""
    result = run("version")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first == f"{mini_llm.distribution_name()} {mini_llm.__version__}"
    assert second.startswith(f"libmini_llm {mini_llm.native_version()}")


def test_build_info_is_json():
    """build-info prints the JSON the native library returns."""
    result = run("build-info")
    assert result.returncode == 0
    assert json.loads(result.stdout) == mini_llm.build_info()


def test_check_device_cpu():
    """The CPU check runs the computation and checks it."""
    result = run("check-device", "cpu")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("check_device: cpu ok tokens=")


def test_check_device_cuda_matches_build():
    """The CUDA check reports what the build and the machine allow, never a traceback."""
    result = run("check-device", "cuda")
    assert "Traceback" not in result.stderr
    assert result.stdout.startswith("check_device: ")
    if not mini_llm.build_info()["backends"]["cuda"]:
        assert result.returncode == 2
        assert result.stdout.strip() == "check_device: cuda not built into this wheel"
        assert run("check-device", "cuda", "--allow-missing").returncode == 2
    elif result.returncode == 1:
        assert result.stdout.startswith("check_device: no CUDA device (")
        assert run("check-device", "cuda", "--allow-missing").returncode == 0
    else:
        assert result.returncode == 0, result.stdout
        assert result.stdout.startswith("check_device: cuda ok ")


@pytest.mark.skipif(
    not mini_llm.build_info()["backends"]["cuda"], reason="CPU-only build: no CUDA library"
)
def test_missing_cuda_runtime_is_no_device(monkeypatch):
    """Without a loadable CUDA runtime the check says "no CUDA device", exit 1."""
    monkeypatch.setenv("MINI_LLM_CUDART", "libcudart-missing.so.0")
    result = run("check-device", "cuda")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("check_device: no CUDA device (CUDA runtime not found")


def test_tokenize_and_score_commands():
    """The text commands print what the library computes."""
    assert run("tokenize", "Hello world").stdout.split() == [
        str(i) for i in mini_llm.tokenize("Hello world")
    ]
    assert float(run("score", "Hello world").stdout) == pytest.approx(
        mini_llm.score("Hello world"), abs=1e-6
    )


def test_unknown_command_is_a_usage_error():
    """An unknown command is argparse's usage error, exit 2."""
    result = run("bogus")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
