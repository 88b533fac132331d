"""The workflow and the artifact contract of plan/rehearsal.py say the same thing.

`rehearse` runs the jobs from the contract; GitHub runs them from ci.yml. If the two drift, a
rehearsal proves nothing, so every stage's downloads, uploads and job environment are compared
here, and the contract itself is checked: no job relies on what another job left on its runner,
everything a session consumes is produced by a session of an earlier stage, uploaded by that
stage and downloaded by the consumer's job, and image archives reach only the jobs that load
them.
"""

from __future__ import annotations

import fnmatch
import subprocess

import pytest
import yaml

from mlc_ci import config
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
    assert len(downloads) == len(plan.DOWNLOADS[stage])
    for step, (field, path) in zip(downloads, plan.DOWNLOADS[stage]):
        # The names the plan gives, merged into `path`; skipped when there are none (a blank
        # pattern would download every artifact of the run).
        assert "name" not in step["with"]
        assert step["with"]["pattern"] == f"${{{{ matrix.{field} }}}}"
        assert step["if"] == f"matrix.{field} != ''"
        assert step["with"]["merge-multiple"] is True and step["with"]["path"] == path


@pytest.mark.parametrize("stage", matrix.STAGES)
def test_uploads_match_the_contract(stage_jobs, stage):
    step, *images = uses(stage_jobs[stage], "actions/upload-artifact")
    assert step["with"]["name"] == "${{ matrix.artifact }}"
    assert tuple(step["with"]["path"].split()) == plan.UPLOADS[stage]
    assert step["with"]["if-no-files-found"] == "error" and step["with"]["overwrite"] is True
    # docker-build's image archives, an artifact of their own after a passing build.
    assert len(images) == (stage == "build")
    for step in images:
        assert step["if"] == "matrix.images_artifact != ''"
        assert step["with"]["name"] == "${{ matrix.images_artifact }}"
        assert tuple(step["with"]["path"].split()) == plan.IMAGES_UPLOAD
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


@pytest.fixture(name="root_matrix", scope="module")
def fixture_root_matrix():
    """The matrix of the root pipeline.toml for a push to main (the GPU runner included)."""
    cfg = config.load(ROOT / "pipeline.toml", env={})
    listing = nox_sessions(*matrix.STAGES)
    return matrix.build(listing, "self-hosted,gpu", axis=matrix.variant_axis(cfg))


def downloaded(entry):
    """The artifact names an entry's download steps take."""
    return [name for field, _ in plan.DOWNLOADS["verify"] for name in pattern_of(entry, field)]


def pattern_of(entry, field):
    """The names of one download field, each an exact name (no pattern character)."""
    names = matrix.pattern_names(entry[field])
    assert all(matrix.PLAIN_NAME.fullmatch(name) for name in names), entry[field]
    return names


def test_image_archives_reach_only_the_jobs_that_load_them(root_matrix):
    images = {e["images_artifact"]: e["variant"] for e in root_matrix["build"]}
    images.pop("", None)
    assert set(images.values()) == {"cpu", "cu128"}
    verify = {e["name"]: e for e in root_matrix["verify"]}
    assert {e["session"] for e in verify.values()} == {"integration", "trivy", "gpu-smoke"}
    for entry in [*verify.values(), *root_matrix["release"]]:
        took = downloaded(entry)
        assert not set(pattern_of(entry, "download")) & set(images), entry["name"]
        if entry["session"] in ("integration", "trivy"):
            # Its own variant's archives, no other variant's.
            mine = [name for name, variant in images.items() if variant == entry["variant"]]
            assert pattern_of(entry, "download_images") == mine and mine, entry["name"]
        else:  # release, gpu-smoke
            assert not set(took) & set(images), entry["name"]
            assert entry["download_images"] == ""


def test_every_job_downloads_the_artifacts_its_session_consumes(root_matrix):
    built = root_matrix["build"]
    for entry in [*root_matrix["verify"], *root_matrix["release"]]:
        contract = plan.CONTRACT[entry["session"]]
        wanted = [
            p.format(variant=entry["variant"] or "*", python="3.12") for p in contract.consumes
        ]
        took = downloaded(entry)
        for pattern in wanted:
            images = pattern.startswith(plan.IMAGES_UPLOAD)
            # The build jobs (of its variant, for a variant's job) that write such a file.
            producers = [
                b["images_artifact" if images else "artifact"]
                for b in built
                if b["variant"] == entry["variant"] or not entry["variant"]
                for made in plan.CONTRACT[b["session"]].produces
                if fnmatch.fnmatch(made.format(variant=b["variant"], python="3.12"), pattern)
            ]
            assert set(producers) & set(took), (entry["name"], pattern, producers)


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
                assert uploaded(wanted, theirs), wanted
            assert plan.DOWNLOADS[mine], f"{consumer} consumes {wanted} but downloads nothing"


def uploaded(path, stage, session=""):
    """Whether a stage's artifact takes the file: under an upload path and under no `!` one;
    image archives in the images artifact, which only IMAGE_SESSIONS' jobs upload."""
    if path.startswith(plan.IMAGES_UPLOAD):
        return stage == "build" and (not session or session in matrix.IMAGE_SESSIONS)
    paths = plan.UPLOADS[stage]
    left_out = [p[1:] for p in paths if p.startswith("!")]
    taken = [p for p in paths if not p.startswith("!")]
    return not any(path.startswith(p) for p in left_out) and any(
        path == p or path.startswith(p) or fnmatch.fnmatch(p, path) for p in taken
    )


def test_every_product_is_uploaded_by_its_stage():
    stages = stage_of_sessions()
    for session, contract in plan.CONTRACT.items():
        for made in map(filled, contract.produces):
            assert uploaded(made, stages[session], session), made
    # The images artifact is the build stage's only; its main artifact leaves the archives out.
    assert not uploaded("dist/images/docker-cpu-ci.tar", "verify")
    assert "!dist/images/" in plan.UPLOADS["build"] and uploaded("dist/x.whl", "build")


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
