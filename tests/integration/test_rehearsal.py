"""`rehearse` with a broken hand-off: the verify job fails, in one line that names the cause.

The rehearsal runs two jobs of the pull-request workflow in fresh clones of HEAD, as GitHub
would: docker-build (cpu), whose artifact loses its image archives on the way (`--drop`), then
integration (cpu) on an engine from which the build's images were removed. Nothing is pushed
(a pull request); the images are named under a repository of their own, so removing them
leaves every other test's images alone. The full pull-request and tag rehearsals run in
.ci/run.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.cli_runner import run_cli

pytestmark = pytest.mark.integration

CONFIG = "examples/mini-llm/pipeline.toml"


def test_a_verify_job_without_the_image_artifact_fails_in_one_line(tmp_path):
    result = run_cli(
        *("rehearse", "--config", CONFIG, "--event", "pull_request"),
        *("--only", "docker-build (cpu)", "--only", "integration (cpu)"),
        *("--drop", "dist/images/*", "--workdir", str(tmp_path / "work")),
        reports=tmp_path / "reports",
    )
    assert result.returncode != 0, result.explain()
    errors = [line for line in result.stderr.splitlines() if line.startswith("mlc-ci: error:")]
    assert len(errors) == 1, result.explain()
    (error,) = errors
    assert error.startswith("mlc-ci: error: integration (cpu) failed: the engine has no "), error
    assert "docker-cpu-builder.tar is missing; download the docker-build artifact" in error
    report = json.loads((tmp_path / "reports" / "rehearsal-pull_request.json").read_text())
    rows = {row["name"]: row for row in report["data"]["jobs"]}
    assert set(rows) == {"docker-build (cpu)", "integration (cpu)"}
    build, verify = rows["docker-build (cpu)"], rows["integration (cpu)"]
    assert build["status"] == "passed" and verify["status"] == "failed"
    # The build's artifact kept its report and lost only the archives; nothing was pushed.
    assert build["files_out"] >= 1
    assert verify["files_in"] == build["files_out"]
    artifact = tmp_path / "work" / "artifacts" / "docker-build-cpu"
    assert not (artifact / "dist" / "images").exists()
    built = json.loads((artifact / "reports" / "docker-build-cpu.json").read_text())
    images = [a["details"] for a in built["artifacts"] if a["details"].get("kind") == "image"]
    assert images and all(image["digest"] == "" for image in images)
    assert all(image["archive"] for image in images)  # saved, then lost on the way
    assert re.search(
        r"^integration \(cpu\)\s+here\s+nox -s integration -- --variant cpu", result.stdout, re.M
    )
