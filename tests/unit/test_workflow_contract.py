"""The workflow and the artifact contract of plan/rehearsal.py say the same thing.

`rehearse` runs the jobs from the contract; GitHub runs them from ci.yml. If the two drift, a
rehearsal proves nothing, so every stage's downloads, uploads and job environment are compared
here, and the contract itself is checked: no job relies on what another job left on its runner,
and everything a session consumes is produced by a session of an earlier stage, uploaded by
that stage and downloaded by the consumer's.
"""

from __future__ import annotations

import fnmatch
import subprocess

import pytest
import yaml

from mlc_ci.plan import matrix
from mlc_ci.plan import rehearsal as plan
from tests.conftest import ROOT, nox_sessions

pytestmark = pytest.mark.unit


@pytest.fixture(name="stage_jobs", scope="module")
def fixture_stage_jobs():
    text = (ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    return {
        name: job for name, job in yaml.safe_load(text)["jobs"].items() if name in matrix.STAGES
    }


def uses(job, action):
    """The steps of a job that use `action` (owner/name, any pinned version)."""
    return [s for s in job["steps"] if s.get("uses", "").startswith(f"{action}@")]


def session_step(job):
    """The step that runs the job's nox session."""
    (step,) = [s for s in job["steps"] if s.get("name", "").startswith("nox -s")]
    return step


@pytest.mark.parametrize("stage", matrix.STAGES)
def test_downloads_match_the_contract(stage_jobs, stage):
    downloads = uses(stage_jobs[stage], "actions/download-artifact")
    assert bool(downloads) is plan.DOWNLOADS[stage]
    for step in downloads:  # into the checkout, merged; verify: its variant's artifacts only
        assert "name" not in step["with"]
        pattern = "${{ matrix.download }}" if stage == "verify" else None
        assert step["with"].get("pattern") == pattern
        assert step["with"]["merge-multiple"] is True and step["with"]["path"] == "."


@pytest.mark.parametrize("stage", matrix.STAGES)
def test_uploads_match_the_contract(stage_jobs, stage):
    (step,) = uses(stage_jobs[stage], "actions/upload-artifact")
    assert step["with"]["name"] == "${{ matrix.artifact }}"
    assert tuple(step["with"]["path"].split()) == plan.UPLOADS[stage]
    assert step["with"]["if-no-files-found"] == "error" and step["with"]["overwrite"] is True


@pytest.mark.parametrize("stage", matrix.STAGES)
def test_job_environment_matches_the_rehearsals(stage_jobs, stage):
    # A tag published to a stand-in: the event for which the rehearsal sets the most.
    event = plan.Event("tag", "0" * 40, "v1.0.0")
    target = plan.Target("p.toml", "127.0.0.1:5000/x", github_api="http://127.0.0.1:8091")
    rehearsed = set(plan.stage_env(stage, event, target)) | {"SESSION", "VARIANT"}
    workflow = set(session_step(stage_jobs[stage]).get("env", {}))
    assert rehearsed - plan.NOT_IN_WORKFLOW == workflow


def test_no_job_relies_on_another_jobs_runner(stage_jobs):
    # Every job checks out afresh; the only state carried between jobs is an artifact (a
    # cache is a speed-up a cold job does without, and never restored for a tag).
    for name, job in stage_jobs.items():
        # Before the checkout, at most a git setting (build's Windows long paths).
        first = next(step for step in job["steps"] if "uses" in step)
        assert first["uses"].startswith("actions/checkout@"), name
        before = job["steps"][: job["steps"].index(first)]
        assert all(step["run"].startswith("git config ") for step in before), name
        for step in job["steps"]:
            assert "docker load" not in step.get("run", ""), name  # the session loads, checked


def stage_of_sessions():
    """session name (without its Python) -> its stage, from the noxfile's tags."""
    stages = {}
    for item in nox_sessions(*matrix.STAGES):
        name = item["session"].split("-3.")[0]
        stages[name] = matrix.stage_of(item["session"], item.get("tags") or [])
    return stages


def filled(pattern):
    """A contract pattern for the cpu variant on Python 3.12."""
    return pattern.format(variant="cpu", python="3.12")


def test_every_consumed_artifact_is_produced_by_an_earlier_stage():
    stages = stage_of_sessions()
    order = {stage: index for index, stage in enumerate(matrix.STAGES)}
    assert set(plan.CONTRACT) == set(stages)
    for consumer, contract in plan.CONTRACT.items():
        mine = stages[consumer]
        for wanted in map(filled, contract.consumes):
            producers = [
                producer
                for producer, theirs in plan.CONTRACT.items()
                for made in map(filled, theirs.produces)
                if fnmatch.fnmatch(wanted, made) or fnmatch.fnmatch(made, wanted)
            ]
            assert producers, f"{consumer} consumes {wanted}, which no session produces"
            for producer in producers:
                theirs = stages[producer]
                assert order[theirs] < order[mine], f"{consumer} needs {producer} first"
                assert any(wanted.startswith(path) for path in plan.UPLOADS[theirs]), wanted
            assert plan.DOWNLOADS[mine], f"{consumer} consumes {wanted} but downloads nothing"


def test_every_product_is_uploaded_by_its_stage():
    stages = stage_of_sessions()
    for session, contract in plan.CONTRACT.items():
        for made in map(filled, contract.produces):
            uploads = plan.UPLOADS[stages[session]]
            assert any(
                made == path or made.startswith(path) or fnmatch.fnmatch(path, made)
                for path in uploads
            ), made


def test_the_submodule_is_cloned_with_the_history_its_version_needs(root):
    """`shallow = true` would make `git submodule update` (and actions/checkout's recursive
    submodules) clone 3rdparty/mlc-llm at depth 1, without the tags its version is read from."""
    done = subprocess.run(
        (
            "git",
            "config",
            "-f",
            str(root / ".gitmodules"),
            "--get-regexp",
            r"submodule\..*\.shallow",
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and done.stdout == "", done.stdout
