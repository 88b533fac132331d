"""scripts/newcomer-check.sh: what it refuses before cloning anything. The real check (a shallow
clone, CI=true, one Python, the host's first docker) runs in .ci/run."""

from __future__ import annotations

import subprocess


def run_check(root, tmp_path, *args: str, **env: str):
    """The script with a PATH of system directories only, and `env`."""
    return subprocess.run(
        ("bash", str(root / "scripts" / "newcomer-check.sh"), *args),
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_no_nox_is_one_line_naming_the_fix(root, tmp_path):
    done = run_check(root, tmp_path, NOX=str(tmp_path / "no-nox"))
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "no-nox" in line and "pip install nox" in line
    assert not list(tmp_path.iterdir())  # nothing cloned


def test_a_python_not_on_path_is_one_line_naming_it(root, tmp_path):
    nox = tmp_path / "nox"
    nox.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    nox.chmod(0o755)
    done = run_check(root, tmp_path, "3.99", NOX=str(nox))
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "python3.99" in line and "pyenv install 3.99" in line
