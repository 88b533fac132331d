"""plan/rehearsal.py: the jobs of a rehearsal, their environment, reuse and the registry rules."""

from __future__ import annotations

import pytest

from mlc_ci.errors import PipelineError
from mlc_ci.plan import rehearsal as plan

pytestmark = pytest.mark.unit

SHA = "0123456789abcdef0123456789abcdef01234567"


def entry(session, runner="ubuntu-24.04", variant="", python=None):
    """A matrix entry as plan/matrix.py makes it."""
    name = f"{session} ({variant})" if variant else session
    artifact = f"{session}-{variant}" if variant else session
    return {
        "session": session,
        "python": python,
        "runner": runner,
        "name": name,
        "variant": variant,
        "artifact": artifact,
    }


MATRIX = {
    "gate": [entry("lint"), entry("unit-3.12", python="3.12")],
    "build": [
        entry("wheels-linux", variant="cpu"),
        entry("wheels-windows", runner="windows-2022", variant="cpu"),
        entry("docker-build", variant="cpu"),
    ],
    "verify": [
        entry("integration", variant="cpu"),
        entry("trivy", variant="cpu"),
        entry("gpu-smoke", runner=["self-hosted", "gpu"], variant="cu130"),
    ],
    "release": [entry("release")],
}
TARGET = plan.Target(
    config="examples/mini-llm/pipeline.toml",
    namespace="127.0.0.1:5000/rehearsal-1",
    repository="local/mini-llm",
    github_api="http://127.0.0.1:8091",
    github_token="tok",
)


def jobs(event="tag", facts=plan.Facts(mingw=True), only=()):
    """The planned jobs of MATRIX by name."""
    return {
        j.name: j
        for j in plan.plan_jobs(MATRIX, plan.Event(event, SHA, "v1.2.3"), TARGET, facts, only)
    }


def test_commands_are_the_workflows_and_a_windows_job_cross_builds_here():
    found = jobs()
    assert found["lint"].argv == ("nox", "-s", "lint")
    assert found["unit-3.12"].argv == ("nox", "-s", "unit-3.12")
    assert found["wheels-linux (cpu)"].argv == (
        "nox",
        "-s",
        "wheels-linux",
        "--",
        "--variant",
        "cpu",
    )
    windows = found["wheels-windows (cpu)"]
    assert windows.runs == plan.LOCAL
    assert windows.argv[-4:] == ("--variant", "cpu", "--cross", "mingw")


def test_what_cannot_run_here_is_listed_with_its_reason():
    found = jobs(facts=plan.Facts())
    assert found["wheels-windows (cpu)"].runs == plan.NOT_RUNNABLE
    assert "MinGW" in found["wheels-windows (cpu)"].reason
    assert found["trivy (cpu)"].runs == plan.NOT_RUNNABLE and "trivy" in found["trivy (cpu)"].reason
    assert found["gpu-smoke (cu130)"].runs == plan.NOT_RUNNABLE
    assert "self-hosted, gpu" in found["gpu-smoke (cu130)"].reason
    with_gpu = jobs(facts=plan.Facts(mingw=True, trivy=True, gpus=1))
    assert all(job.runnable for job in with_gpu.values())


def test_release_runs_for_a_tag_and_a_default_branch_push_only():
    assert jobs("tag")["release"].runnable and jobs("push")["release"].runnable
    release = jobs("pull_request")["release"]
    assert release.runs == plan.NOT_FOR_EVENT and not release.runnable


def test_stage_environments_follow_the_workflow():
    found = jobs("pull_request")
    gate, build = found["lint"].env, found["docker-build (cpu)"].env
    assert gate["GITHUB_EVENT_NAME"] == "pull_request" and gate["GITHUB_REF"] == "refs/pull/1/merge"
    assert "MLC_CI_CONFIG" not in gate  # the gate checks the repository itself
    assert build["MLC_CI_CONFIG"] == TARGET.config
    assert build["MLC_CI_PUSH"] == "" and build["MLC_CI_SAVE_IMAGES"] == "1"
    assert build["MLC_CI_IMAGE_NAMESPACE"] == TARGET.namespace
    tagged = jobs("tag")
    assert tagged["docker-build (cpu)"].env["MLC_CI_PUSH"] == "1"
    release = tagged["release"].env
    assert release["GITHUB_REF"] == "refs/tags/v1.2.3" and release["GITHUB_REF_TYPE"] == "tag"
    assert release["MLC_CI_PUBLISH"] == "1" and release["GITHUB_API_URL"] == TARGET.github_api
    assert release["MLC_CI_INDEX_FILES_URL"].endswith("/local/mini-llm/releases/download/v1.2.3")
    assert release["SESSION"] == "release" and release["VARIANT"] == ""


def test_without_a_github_stand_in_nothing_goes_to_github():
    target = plan.Target(config="p.toml", namespace="127.0.0.1:5000/x")
    (release,) = [
        j
        for j in plan.plan_jobs(MATRIX, plan.Event("tag", SHA, "v1.2.3"), target, plan.Facts())
        if j.session == "release"
    ]
    # It publishes as the workflow's job does, to the local index and registry, but never
    # to GitHub.
    assert release.env["MLC_CI_PUBLISH"] == "1" and release.env["MLC_CI_RELEASE_GITHUB"] == "0"
    assert "GITHUB_TOKEN" not in release.env and "GITHUB_API_URL" not in release.env


def test_only_keeps_named_jobs_and_refuses_unknown_ones():
    assert set(jobs(only=["lint", "release"])) == {"lint", "release"}
    with pytest.raises(PipelineError, match="--only names no job or stage of this matrix: nope"):
        jobs(only=["nope"])


def test_only_takes_a_stage_for_all_its_jobs():
    assert set(jobs(only=["gate"])) == {"lint", "unit-3.12"}
    assert set(jobs(only=["verify", "lint"])) == {
        "lint",
        "integration (cpu)",
        "trivy (cpu)",
        "gpu-smoke (cu130)",
    }


def test_contract_fills_variant_and_python():
    found = jobs()
    assert found["unit-3.12"].contract().produces == (
        "reports/unit-3.12.json",
        "reports/unit-3.12/junit.xml",
    )
    integration = found["integration (cpu)"].contract()
    assert integration.consumes[0] == "reports/docker-build-cpu.json"
    assert found["integration (cpu)"].downloads and not found["lint"].downloads
    assert found["integration (cpu)"].uploads == ("reports/",)
    assert found["integration (cpu)"].images_uploads == ()


def test_missing_products_and_drop():
    job = jobs()["docker-build (cpu)"]
    made = ["reports/docker-build-cpu.json", "dist/images/docker-cpu-ci.tar"]
    assert plan.missing_products(job, made) == []
    assert plan.missing_products(job, made[:1]) == ["dist/images/docker-cpu-*.tar"]
    assert plan.dropped("dist/images/docker-cpu-ci.tar", ["dist/images/*"])
    assert not plan.dropped("reports/docker-build-cpu.json", ["dist/images/*"])


def test_reuse_takes_passed_gate_jobs_of_the_same_commit_only():
    planned = list(jobs().values())
    rows = [
        {
            "name": "lint",
            "stage": "gate",
            "status": "passed",
            "argv": ["nox", "-s", "lint"],
            "artifact_dir": "/a/lint",
        },
        {
            "name": "unit-3.12",
            "stage": "gate",
            "status": "failed",
            "argv": ["nox", "-s", "unit-3.12"],
            "artifact_dir": "/a/unit",
        },
        {
            "name": "wheels-linux (cpu)",
            "stage": "build",
            "status": "passed",
            "argv": ["nox", "-s", "wheels-linux", "--", "--variant", "cpu"],
            "artifact_dir": "/a/w",
        },
    ]
    assert plan.reuse(planned, {"sha": SHA, "jobs": rows}, SHA) == {"lint": "/a/lint"}
    assert plan.reuse(planned, {"sha": "f" * 40, "jobs": rows}, SHA) == {}
    rows[0]["argv"] = ["nox", "-s", "lint", "--", "--fix"]
    assert plan.reuse(planned, {"sha": SHA, "jobs": rows}, SHA) == {}


IMAGE = {
    "tags": ["127.0.0.1:5000/r/app:sha-0123456-cpu"],
    "digest": "sha256:" + "a" * 64,
    "promote": ["127.0.0.1:5000/r/app:1.2.3-cpu", "127.0.0.1:5000/r/app:latest-cpu"],
}


def test_no_mutable_tag_may_exist_before_the_release_job():
    assert plan.early_tags([IMAGE], {"127.0.0.1:5000/r/app": ["sha-0123456-cpu"]}) == []
    assert plan.early_tags([IMAGE], {"127.0.0.1:5000/r/app": ["sha-0123456-cpu", "1.2.3-cpu"]}) == [
        "127.0.0.1:5000/r/app:1.2.3-cpu existed before the release job ran"
    ]


def test_each_promoted_tag_must_name_the_verified_digest():
    good = {ref: IMAGE["digest"] for ref in IMAGE["promote"]}
    assert plan.promotion_problems([IMAGE], good) == []
    bad = {**good, "127.0.0.1:5000/r/app:latest-cpu": "sha256:" + "b" * 64}
    (problem,) = plan.promotion_problems([IMAGE], bad)
    assert problem.startswith("127.0.0.1:5000/r/app:latest-cpu names sha256:bbbbbbbbbbbb")
    (missing,) = plan.promotion_problems([IMAGE], {IMAGE["promote"][0]: IMAGE["digest"]})
    assert "latest-cpu names nothing" in missing


def test_table_rows_say_why_a_job_did_not_run():
    rows = [
        {
            "name": "trivy (cpu)",
            "runs": plan.NOT_RUNNABLE,
            "argv": ["nox", "-s", "trivy"],
            "artifact": "trivy-cpu",
            "status": "not run",
            "reason": "no trivy scanner here",
        },
        {
            "name": "lint",
            "runs": plan.HERE,
            "argv": ["nox", "-s", "lint"],
            "artifact": "lint",
            "status": "passed",
            "seconds": 61.4,
            "files_in": 0,
            "files_out": 1,
        },
    ]
    trivy, lint = plan.table_rows(rows)
    assert trivy[3:] == ["-", "-", "-", "not run: no trivy scanner here"]
    assert lint == ["lint", "here", "nox -s lint", "61", "-", "lint (1)", "passed"]


RUNNER = {"CI": "true", "GITHUB_SHA": "abc", "GITHUB_REPOSITORY": "local/mini-llm"}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            plan.Event("pull_request", "abc"),
            {
                "GITHUB_EVENT_NAME": "pull_request",
                "GITHUB_REF": "refs/pull/1/merge",
                "GITHUB_REF_NAME": "1/merge",
                "GITHUB_REF_TYPE": "branch",
                "GITHUB_BASE_REF": "main",
            },
        ),
        (
            plan.Event("tag", "abc", tag="v1.2.3"),
            {
                "GITHUB_EVENT_NAME": "push",
                "GITHUB_REF": "refs/tags/v1.2.3",
                "GITHUB_REF_NAME": "v1.2.3",
                "GITHUB_REF_TYPE": "tag",
            },
        ),
        (
            plan.Event("push", "abc", branch="dev"),
            {
                "GITHUB_EVENT_NAME": "push",
                "GITHUB_REF": "refs/heads/dev",
                "GITHUB_REF_NAME": "dev",
                "GITHUB_REF_TYPE": "branch",
            },
        ),
    ],
)
def test_github_env_is_what_a_runner_of_that_event_sees(event, expected):
    assert event.github_env("local/mini-llm") == {**RUNNER, **expected}


def test_each_stage_gets_exactly_the_workflow_environment():
    push = plan.Event("push", "abc")
    tag = plan.Event("tag", "abc", tag="v1.2.3")
    runner = push.github_env("local/mini-llm")
    assert plan.stage_env("gate", push, TARGET) == runner
    config = {**runner, "MLC_CI_CONFIG": "examples/mini-llm/pipeline.toml"}
    assert plan.stage_env("verify", push, TARGET) == config
    assert plan.stage_env("build", push, TARGET) == {
        **config,
        "MLC_CI_PUSH": "1",
        "MLC_CI_IMAGE_NAMESPACE": "127.0.0.1:5000/rehearsal-1",
        "MLC_CI_SAVE_IMAGES": "1",
        "MLC_CI_CACHE_REMOTE": "",
    }
    pull = plan.Event("pull_request", "abc")
    built = plan.stage_env("build", pull, TARGET)
    assert (built["MLC_CI_PUSH"], built["MLC_CI_CACHE_REMOTE"]) == ("", "")
    assert plan.stage_env("build", tag, TARGET)["MLC_CI_CACHE_REMOTE"] == " "
    release = {
        **tag.github_env("local/mini-llm"),
        "MLC_CI_CONFIG": "examples/mini-llm/pipeline.toml",
        "MLC_CI_PUBLISH": "1",
        "TWINE_USERNAME": "rehearsal",
        "TWINE_PASSWORD": "rehearsal",
        "MLC_CI_INDEX_DIR": "site",
        "MLC_CI_NIGHTLY": "",
        "MLC_CI_INDEX_PREVIOUS": "NEW",
    }
    assert plan.stage_env("release", tag, TARGET) == {
        **release,
        "MLC_CI_INDEX_FILES_URL": ("http://127.0.0.1:8091/local/mini-llm/releases/download/v1.2.3"),
        "GITHUB_TOKEN": "tok",
        "GITHUB_API_URL": "http://127.0.0.1:8091",
        "GITHUB_SERVER_URL": "http://127.0.0.1:8091",
        "MLC_CI_RELEASE_GITHUB": "1",
    }
    local = plan.Target(
        config="examples/mini-llm/pipeline.toml", namespace="n", repository="local/mini-llm"
    )
    assert plan.stage_env("release", tag, local) == {
        **release,
        "MLC_CI_RELEASE_GITHUB": "0",
    }


def test_each_job_carries_its_entry_stage_and_environment_exactly():
    found = jobs(event="pull_request")
    assert [j.stage for j in found.values()] == [
        "gate",
        "gate",
        "build",
        "build",
        "build",
        "verify",
        "verify",
        "verify",
        "release",
    ]
    trivy = found["trivy (cpu)"]
    assert (trivy.session, trivy.artifact, trivy.variant, trivy.python) == (
        "trivy",
        "trivy-cpu",
        "cpu",
        None,
    )
    env = plan.stage_env("verify", plan.Event("pull_request", SHA, "v1.2.3"), TARGET)
    assert trivy.env == {**env, "SESSION": "trivy", "VARIANT": "cpu"}
    assert found["unit-3.12"].python == "3.12"
    assert found["lint"].download == "" and found["release"].download == ""
    release = found["release"]
    assert (release.runs, release.reason) == (
        plan.NOT_FOR_EVENT,
        "a pull request publishes nothing and moves no tag",
    )
    assert jobs(event="tag")["release"].runs == plan.HERE


def test_a_job_downloads_exactly_what_its_entry_names():
    names = {"download": "{wheels-linux-cpu,docker-build-cpu}", "download_images": "d-images"}
    matrix = {
        "gate": [{**entry("lint"), **names}],
        "build": [
            {**entry("docker-build", variant="cpu"), "images_artifact": "docker-build-cpu-images"}
        ],
        "verify": [{**entry("integration", variant="cpu"), **names}],
        "release": [{**entry("release"), "download": "{wheels-linux-cpu,docker-build-cpu}"}],
    }
    event = plan.Event("push", SHA, "")
    found = {j.stage: j for j in plan.plan_jobs(matrix, event, TARGET, plan.Facts(mingw=True))}
    lint, build, verify, release = (found[stage] for stage in plan.STAGES)
    assert (lint.download, lint.download_images) == ("", "")  # the gate downloads nothing
    assert (verify.download, verify.download_images) == tuple(names.values())
    assert (release.download, release.download_images) == (names["download"], "")
    # docker-build's archives travel apart from its artifact.
    assert build.uploads == ("dist/", "reports/", "!dist/images/")
    assert build.images_uploads == ("dist/images/",) and verify.images_uploads == ()
    assert plan.DOWNLOADS["verify"] == (("download", "."), ("download_images", "dist/images"))


def test_a_download_takes_the_names_of_its_pattern_only():
    available = ["docker-build-cpu", "docker-build-cpu-images", "wheels-linux-cpu", "lint"]
    assert plan.matching("{wheels-linux-cpu,docker-build-cpu}", available) == [
        "docker-build-cpu",
        "wheels-linux-cpu",
    ]
    assert plan.matching("docker-build-cpu-images", available) == ["docker-build-cpu-images"]
    assert plan.matching("", available) == []  # the workflow skips a step without names


def test_only_lists_what_it_could_have_named():
    with pytest.raises(PipelineError) as caught:
        jobs(only=["nope", "lint", "also-not"])
    unknown, choices = str(caught.value).split("; pick from ")
    assert unknown.endswith(": also-not, nope")
    assert set(choices.rstrip(".").split(", ")) == {
        *("gate", "build", "verify", "release"),
        *("docker-build (cpu)", "gpu-smoke (cu130)", "integration (cpu)", "lint"),
        *("trivy (cpu)", "unit-3.12", "wheels-linux (cpu)", "wheels-windows (cpu)"),
    }


def test_a_wrong_promoted_tag_is_named_with_both_digests():
    bad = {IMAGE["promote"][0]: "sha256:" + "b" * 64}
    verified = IMAGE["digest"][:19]
    assert plan.promotion_problems([IMAGE], bad) == [
        f"127.0.0.1:5000/r/app:1.2.3-cpu names sha256:bbbbbbbbbbbb after the release job, not "
        f"the verified {verified}",
        f"127.0.0.1:5000/r/app:latest-cpu names nothing after the release job, not the verified "
        f"{verified}",
    ]
    assert plan.promotion_problems([{"digest": "sha256:x"}], {}) == []  # nothing to promote


def test_reuse_needs_the_rows_command_and_artifact():
    planned = list(jobs().values())
    row = {"name": "lint", "stage": "gate", "status": "passed", "artifact_dir": "/a/lint"}
    assert not plan.reuse(planned, {"sha": SHA, "jobs": [row]}, SHA)  # no argv: not the same
    del row["artifact_dir"]
    row["argv"] = ["nox", "-s", "lint"]
    assert not plan.reuse(planned, {"sha": SHA, "jobs": [row]}, SHA)  # no artifact to take
    assert not plan.reuse(planned, {"sha": SHA}, SHA)  # an earlier run without jobs
