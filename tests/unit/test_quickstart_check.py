"""scripts/quickstart-check.sh: what it refuses before starting anything, and the README blocks it
runs. The real run (a fresh container, the README's lines verbatim) is in .ci/run."""

from __future__ import annotations

import re
import subprocess

import pytest

from mlc_ci import cli


def run_check(root, tmp_path, docker: str, **env):
    """Run the script with only `docker` and `env` from outside; it never reaches a network."""
    return subprocess.run(
        ("bash", str(root / "scripts" / "quickstart-check.sh")),
        env={"PATH": "/usr/bin:/bin", "MLC_CI_DOCKER": docker, "TMPDIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        check=False,
    )


def fake_docker(tmp_path, inspect_status: int):
    """A docker CLI whose `image inspect` exits with `inspect_status`; it logs every call."""
    path = tmp_path / "docker"
    path.write_text(
        f'#!/bin/sh\necho "$*" >> {tmp_path}/calls\n'
        f'[ "$1 $2" = "image inspect" ] && exit {inspect_status}\nexit 99\n',
        encoding="utf-8",
    )
    path.chmod(0o755)
    return str(path)


def test_no_docker_cli_is_one_line(root, tmp_path):
    done = run_check(root, tmp_path, str(tmp_path / "missing-docker"))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"quickstart-check: error: '{tmp_path / 'missing-docker'}' not found; install docker.io "
        "or set MLC_CI_DOCKER"
    ]


def test_a_missing_base_names_the_bootstrap(root, tmp_path):
    done = run_check(root, tmp_path, fake_docker(tmp_path, 1), MLC_CI_BASE_IMAGE="mlc-ci/x:y")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "quickstart-check: error: base image mlc-ci/x:y is missing; make it with "
        "docker/bootstrap-base.sh mlc-ci/x:y"
    ]
    assert (tmp_path / "calls").read_text(encoding="utf-8").split("\n")[0].startswith("image")


def test_a_missing_ca_bundle_is_refused_before_any_container(root, tmp_path):
    done = run_check(
        root, tmp_path, fake_docker(tmp_path, 0), MLC_CI_CA_BUNDLE=str(tmp_path / "none.pem")
    )
    assert done.returncode == 1
    assert "is not a file; point it at a PEM CA bundle" in done.stderr
    assert "create" not in (tmp_path / "calls").read_text(encoding="utf-8")


def test_the_readme_setup_is_three_commands_after_one_apt_line(root):
    text = (root / "README.md").read_text(encoding="utf-8")
    quickstart = text.split("\n## Quickstart\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", quickstart, re.S)[1]
    lines = [line for line in block.splitlines() if line.strip()]
    # Install (nox, uv and the toolkit itself), a plan through the toolkit's entry point, a build.
    assert len(lines) == 3
    assert "-e ." in lines[0] and lines[1].startswith(".venv/bin/mlc-ci plan ")
    prerequisites = text.split("\n## Prerequisites\n", 1)[1].split("\n## ", 1)[0]
    apt = re.search(r"```bash\n(.*?)```", prerequisites, re.S)[1]
    assert apt.strip().startswith("apt-get install -y")


def test_the_quickstart_says_where_a_sessions_options_go(root, capsys):
    """nox refuses an option it does not know before it reads the noxfile (a forgotten `--`),
    so the Quickstart says it, with the command that lists a session's own options."""
    text = (root / "README.md").read_text(encoding="utf-8")
    quickstart = text.split("\n## Quickstart\n", 1)[1].split("\n## ", 1)[0]
    assert "`nox -s wheels-linux -- --help`" in quickstart
    with pytest.raises(SystemExit) as done:
        cli.main(["wheels-linux", "--help"])
    assert done.value.code == 0
    assert "--variant" in capsys.readouterr().out
