"""The rehearsal runs a workflow file as GitHub would, on runner-like containers: a fixture
workflow's jobs find only what the hosted image and their own steps give them, and the terms
that stopped ci.yml on GitHub (a depth-1 checkout, one Python per job, an empty Docker engine,
artifacts that travel to every downloader) show here as they would there.

GitHub's runners and its artifact service cannot be reached from these machines: the jobs run
in the stand-ins of tools/rehearsal (runner image from runners/ubuntu-24.04.toml, actions by
their documented behaviour), which is what these tests exercise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.rehearsal.container import runner_image

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised by the 3.10 unit session
    import tomli as tomllib

pytestmark = [pytest.mark.rehearsal, pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[2]
DOCKER = os.environ.get("MLC_CI_DOCKER", "/usr/bin/docker")
PINS = {
    entry["uses"]: entry["sha"]
    for entry in tomllib.loads((ROOT / "tests/fixtures/actions.toml").read_text("utf-8"))["action"]
}

WORKFLOW = """
on:
  push:
    tags: ["v*"]
  pull_request:
jobs:
  # What a hosted runner does not have, unless the job's own steps put it there.
  bare:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@{checkout}
        with:
          persist-credentials: false
      - uses: actions/setup-python@{setup_python}
        with:
          python-version: "3.12"
      - run: |
          for tool in nvcc python3.10 python3.13 x86_64-w64-mingw32-g++ wine64 pyenv; do
            if command -v "$tool"; then echo "unexpected: $tool"; exit 1; fi
          done
          python --version | grep -q "^Python 3.12"
          test -z "$(ls -A ~/.cache 2>/dev/null)"
          test -z "$(docker image ls -q)"
          if python -c "import nox" 2>/dev/null; then echo "unexpected: nox"; exit 1; fi
          # What a step loads is there for the next step of the same job only.
          printf 'x' > f && tar -cf one.tar f && docker import one.tar made:here >/dev/null
      - run: test "$(docker image ls -q | wc -l)" = 1
  # actions/checkout's default depth: one commit, no tags (the toolkit's version rule fails).
  shallow:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@{checkout}
      - run: git describe --tags
  # Only the Pythons setup-python listed: a session needing another stops.
  one-python:
    needs: [shallow]
    if: ${{{{ !cancelled() && !failure() }}}}
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/setup-python@{setup_python}
        with:
          python-version: "3.12"
      - run: python3.13 --version
  images:
    runs-on: ubuntu-24.04
    steps:
      - run: mkdir -p dist/images && head -c 300000 /dev/urandom > dist/images/prod.tar
      - uses: actions/upload-artifact@{upload}
        with:
          name: images-cpu
          path: dist/
  release:
    needs: [images]
    if: startsWith(github.ref, 'refs/tags/v')
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/download-artifact@{download}
        with:
          merge-multiple: true
          path: .
      - run: test -f images/prod.tar
"""


@pytest.fixture(name="repo", scope="module")
def fixture_repo(tmp_path_factory) -> Path:
    """A repository with two commits and a tag, whose workflow is the fixture above."""
    repo = tmp_path_factory.mktemp("repo")
    workflow = repo / ".github" / "workflows" / "ci.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(
        WORKFLOW.format(
            checkout=PINS["actions/checkout"],
            setup_python=PINS["actions/setup-python"],
            upload=PINS["actions/upload-artifact"],
            download=PINS["actions/download-artifact"],
        ),
        encoding="utf-8",
    )
    ident = ["-c", "user.name=rehearsal", "-c", "user.email=rehearsal@localhost"]
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        [*ident, "commit", "-qm", "one"],
        [*ident, "tag", "-a", "v0.1.0", "-m", "v0.1.0"],
        [*ident, "commit", "-q", "--allow-empty", "-m", "two"],
    ):
        subprocess.run(["git", *args], cwd=repo, check=True)
    return repo


def rehearse(repo: Path, reports: Path, *args: str) -> tuple[int, dict, str]:
    """`python -m tools.rehearsal` in the fixture repository; (exit status, report, output)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLC_CI_DOCKER": DOCKER}
    done = subprocess.run(
        [sys.executable, "-m", "tools.rehearsal", "--reports", str(reports), *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    event = args[args.index("--event") + 1]
    path = reports / f"rehearsal-{event}.json"
    report = json.loads(path.read_text("utf-8")) if path.exists() else {}
    return done.returncode, report, done.stdout + done.stderr


def jobs(report: dict) -> dict[str, dict]:
    """The report's jobs by name."""
    return {job["name"]: job for job in report["jobs"]}


def test_a_pull_request_meets_github_s_terms(repo: Path, tmp_path: Path) -> None:
    status, report, output = rehearse(repo, tmp_path, "--event", "pull_request", "--fork")
    assert status == 1, output
    by_name = jobs(report)
    # Nothing of this host reached the job; the image is the runner data file's.
    assert by_name["bare"]["verdict"] == "passed", output
    assert by_name["bare"]["image_id"] == runner_image("ubuntu-24.04", DOCKER)
    # A depth-1 checkout has no tag to describe, as on GitHub.
    assert by_name["shallow"]["verdict"] == "failed"
    describe = [s for s in by_name["shallow"]["steps"] if s["name"] == "git describe --tags"]
    assert describe[0]["outcome"] == "failure" and "No names found" in describe[0]["error"]
    # ... and the job after it is skipped by its `!failure()`.
    assert by_name["one-python"]["verdict"] == "skipped"
    assert by_name["release"]["verdict"] == "skipped"  # not a tag
    assert report["counts"]["failed"] == 1


def test_run_past_failures_shows_each_job_s_own_verdict(repo: Path, tmp_path: Path) -> None:
    _, report, output = rehearse(
        repo, tmp_path, "--event", "pull_request", "--fork", "--run-past-failures"
    )
    one = jobs(report)["one-python"]
    assert one["forced"] and one["verdict"] == "failed", output
    assert "python3.13" in one["steps"][-1]["error"]  # bash's "command not found"


def test_a_tag_s_release_downloads_every_artifact(repo: Path, tmp_path: Path) -> None:
    _, report, output = rehearse(repo, tmp_path, "--event", "tag", "--tag", "v0.2.0")
    release = jobs(report)["release"]
    assert release["verdict"] == "passed", output
    # merge-multiple without a pattern takes the image archives too: their bytes are recorded.
    assert release["artifacts_in"] == {"images-cpu": 300000}
