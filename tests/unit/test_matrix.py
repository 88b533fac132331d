"""The CI matrix: nox sessions grouped by stage, runners from platform tags."""

from __future__ import annotations

import json

import pytest

from mlc_ci import config
from mlc_ci.errors import PipelineError
from mlc_ci.plan import matrix
from tests.conftest import MINIMAL, nox_listing, nox_sessions, run_mlc_ci

pytestmark = pytest.mark.unit


def entry(session, *tags, python=None, name=None):
    """One item of `nox --list --json`."""
    return {
        "session": session,
        "name": name or session,
        "description": "d",
        "python": python,
        "tags": list(tags),
        "call_spec": {},
    }


LISTING = [
    entry("lint", "gate", "linux"),
    entry("unit-3.12", "gate", "linux", python="3.12", name="unit"),
    entry("wheels-linux", "build", "linux", "cuda"),
    entry("wheels-windows", "build", "windows"),
    entry("trivy", "verify", "linux", "docker"),
    entry("release", "release", "linux"),
]


def test_sessions_grouped_by_stage_in_order():
    stages = matrix.build(LISTING, "self-hosted,gpu")
    assert list(stages) == ["gate", "build", "verify", "release"]
    assert [e["session"] for e in stages["gate"]] == ["lint", "unit-3.12"]
    assert stages["gate"][1] == {
        "session": "unit-3.12",
        "name": "unit-3.12",
        "python": "3.12",
        "pythons": "",
        "runner": "ubuntu-24.04",
        "variant": "",
        "artifact": "unit-3.12",
        "images_artifact": "",
        "download": "",
        "download_images": "",
    }
    runners = {e["session"]: e["runner"] for e in stages["build"]}
    assert runners == {"wheels-linux": ["self-hosted", "gpu"], "wheels-windows": "windows-2022"}


def test_pull_requests_never_get_the_self_hosted_runner():
    stages = matrix.build(LISTING, "self-hosted,gpu", pull_request=True)
    runners = {e["session"]: e["runner"] for e in stages["build"]}
    assert runners == {"wheels-linux": "ubuntu-24.04", "wheels-windows": "windows-2022"}
    # A session that needs the GPU runner is left out: a fork's code never reaches it.
    gpu_only = [entry("gpu-only", "verify", "cuda")]
    assert matrix.build(gpu_only, "gpu", pull_request=True)["verify"] == []
    assert matrix.build(gpu_only, "gpu")["verify"][0]["runner"] == "gpu"
    assert matrix.is_pull_request({"GITHUB_EVENT_NAME": "pull_request"})
    assert not matrix.is_pull_request({"GITHUB_EVENT_NAME": "push"})
    assert not matrix.is_pull_request({})


@pytest.mark.parametrize(
    ("labels", "runner"),
    [("self-hosted-gpu", "self-hosted-gpu"), (" self-hosted , gpu ", ["self-hosted", "gpu"])],
)
def test_gpu_labels(labels, runner):
    assert matrix.gpu_runner(labels) == runner


def test_empty_stage_is_an_empty_list():
    stages = matrix.build([entry("lint", "gate", "linux")], "gpu")
    assert stages["release"] == [] and "release=[]" in matrix.render(stages, "github")


@pytest.mark.parametrize(
    ("item", "labels", "fragment"),
    [
        (entry("x", "linux"), "gpu", "needs exactly one stage tag"),
        (entry("x", "gate", "build", "linux"), "gpu", "(has: gate, build)"),
        (entry("x", "gate"), "gpu", "has no platform tag"),
    ],
)
def test_bad_tags_are_one_line(item, labels, fragment):
    with pytest.raises(PipelineError) as err:
        matrix.build([item], labels)
    assert fragment in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("text", ["not json", '{"session": "x"}', "[1, 2]"])
def test_listing_must_be_noxs(text):
    with pytest.raises(PipelineError, match="nox --list --json"):
        matrix.parse_listing(text)


def test_github_output_lines_round_trip():
    stages = matrix.build(LISTING, "self-hosted,gpu")
    lines = matrix.render(stages, "github").splitlines()
    assert [line.split("=", 1)[0] for line in lines] == list(matrix.STAGES)
    assert all(" " not in line for line in lines)  # one compact line per output
    assert {k: json.loads(v) for k, v in (line.split("=", 1) for line in lines)} == stages
    assert json.loads(matrix.render(stages)) == stages


def cli(*args, stdin="", env=None):
    """`python -m mlc_ci ARGS` from the repository root (outside any CI event unless given)."""
    return run_mlc_ci(*args, env={"GITHUB_EVENT_NAME": None, **(env or {})}, stdin=stdin)


def test_matrix_command_from_the_real_noxfile():
    listing = nox_listing(*matrix.STAGES)
    proc = cli("matrix", "--nox-json", "-", stdin=listing)
    assert proc.returncode == 0, proc.stderr
    stages = json.loads(proc.stdout)
    listed = {item["session"] for item in json.loads(listing)}
    assert {e["session"] for entries in stages.values() for e in entries} == listed
    built = [e["artifact"] for e in stages["build"]]
    assert len(built) > 1
    assert stages["release"] == [
        {
            "session": "release",
            "name": "release",
            "python": None,
            "pythons": "",
            "runner": "ubuntu-24.04",
            "variant": "",
            "artifact": "release",
            "images_artifact": "",
            # Every build job's wheels and reports, by exact name.
            "download": "{" + ",".join(built) + "}",
            "download_images": "",
            "cuda": "",
            "bases": "",
        }
    ]


def test_matrix_command_on_a_pull_request():
    listing = json.dumps([entry("wheels-linux", "build", "linux", "cuda")])
    proc = cli("matrix", "--nox-json", "-", "--format", "github", stdin=listing,
               env={"GITHUB_EVENT_NAME": "pull_request"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert '"runner":"ubuntu-24.04"' in proc.stdout.splitlines()[1]


def test_matrix_command_missing_file_is_one_line(tmp_path):
    proc = cli("matrix", "--nox-json", str(tmp_path / "none.json"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("mlc-ci: error: cannot read the nox listing")


def test_mermaid_diagram_lists_every_session_per_stage():
    text = matrix.render(matrix.build(LISTING, "self-hosted,gpu"), "mermaid")
    lines = text.splitlines()
    assert (
        lines[0] == "flowchart LR"
        and lines[-1] == "  plan --> gate --> build --> verify --> release"
    )
    assert '    build0["nox -s wheels-linux (self-hosted, gpu)"]' in lines
    assert '    gate1["nox -s unit-3.12 (ubuntu-24.04)"]' in lines
    assert lines.count("  end") == len(matrix.STAGES)


def test_the_variant_axis_of_the_root_profile(root):
    """MLC-LLM's release shape: every Linux variant, the Windows ones, the image variants; all
    build jobs on hosted runners (compiling CUDA needs no GPU)."""
    cfg = config.load(root / "pipeline.toml", env={})
    stages = matrix.build(
        nox_sessions(*matrix.STAGES), "self-hosted,gpu", axis=matrix.variant_axis(cfg)
    )
    jobs = {e["name"]: e for entries in stages.values() for e in entries}
    for session, variants in (
        ("wheels-linux", ["cpu", "cu128", "cu130", "vulkan"]),
        ("wheels-windows", ["cpu", "cu128", "vulkan"]),
        ("docker-build", ["cpu", "cu128"]),
        ("integration", ["cpu", "cu128"]),
        ("trivy", ["cpu", "cu128"]),
    ):
        names = [n for n, e in jobs.items() if e["session"] == session]
        assert names == [f"{session} ({v})" for v in variants]
        assert [jobs[n]["artifact"] for n in names] == [f"{session}-{v}" for v in variants]
        images = [f"{session}-{v}-images" if session == "docker-build" else "" for v in variants]
        assert [jobs[n]["images_artifact"] for n in names] == images
    for variant in ("cpu", "cu128"):
        for session in ("integration", "trivy"):
            job = jobs[f"{session} ({variant})"]
            assert job["download"] == (
                f"{{wheels-linux-{variant},wheels-windows-{variant},docker-build-{variant}}}"
            )
            assert job["download_images"] == f"docker-build-{variant}-images"
    for variant in ("cu128", "cu130"):
        smoke = jobs[f"gpu-smoke ({variant})"]
        assert (smoke["download"], smoke["download_images"]) == (f"wheels-linux-{variant}", "")
    assert all(e["runner"] in ("ubuntu-24.04", "windows-2022") for e in stages["build"])
    artifacts = [
        name
        for entries in stages.values()
        for e in entries
        for name in (e["artifact"], e["images_artifact"])
        if name
    ]
    assert len(artifacts) == len(set(artifacts))


def test_build_jobs_are_told_what_a_hosted_runner_lacks(root):
    """A host build of a CUDA variant gets its toolkit version, a container build none (its
    setup installs CUDA); a session that builds from a bootstrapped base gets that base."""
    mini = config.load(root / "examples/mini-llm/pipeline.toml", env={})
    provided = matrix.provision(mini)
    assert provided[("wheels-linux", "cu130")] == {"cuda": "13.0", "bases": ""}
    assert provided[("wheels-linux", "cpu")] == {"cuda": "", "bases": ""}
    # Its builder and runtime are one base, named once; Docker Hub's CUDA images are not local.
    assert provided[("docker-build", "cpu")]["bases"] == "mlc-ci/debian:bookworm"
    assert provided[("docker-build", "cu130")]["bases"] == ""
    in_container = config.load(
        root / "examples/mini-llm/pipeline.toml", env={"MLC_CI_CONTAINER": "1"}
    )
    assert matrix.provision(in_container)[("wheels-linux", "cu130")] == {
        "cuda": "",
        "bases": "mlc-ci/debian:bullseye",
    }
    mlc = config.load(root / "pipeline.toml", env={})
    assert matrix.provision(mlc)[("wheels-linux", "cu128")] == {"cuda": "", "bases": ""}
    stages = matrix.with_provision(
        matrix.build(LISTING, "self-hosted,gpu", axis={"wheels-linux": ["cpu", "cu130"]}), provided
    )
    assert [
        (e["variant"], e["cuda"]) for e in stages["build"] if e["session"] == "wheels-linux"
    ] == [
        ("cpu", ""),
        ("cu130", "13.0"),
    ]
    assert all({"cuda", "bases"} <= set(e) for entries in stages.values() for e in entries)


def test_image_variants_must_be_variants(make_config):
    text = MINIMAL + '\n[image]\nvariants = ["cpu", "rocm"]\n'
    with pytest.raises(PipelineError, match="'image.variants' names 'rocm', which is no"):
        config.load(make_config(text), env={})


@pytest.mark.parametrize(
    ("env", "allowed"),
    [
        ({}, True),  # a local listing shows every job
        ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main"}, True),
        ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/tags/v0.2.0"}, True),
        ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/develop"}, False),
        ({"GITHUB_EVENT_NAME": "pull_request", "GITHUB_REF": "refs/pull/1/merge"}, False),
        ({"GITHUB_EVENT_NAME": "schedule", "GITHUB_REF": "refs/heads/main"}, False),
    ],
)
def test_the_gpu_runner_only_for_pushes_to_main_and_tags(env, allowed):
    assert matrix.gpu_allowed(env, "main") is allowed


def test_gpu_smoke_runs_per_cuda_variant_on_the_gpu_runner_or_not_at_all(root):
    cfg = config.load(root / "pipeline.toml", env={})
    listing = nox_sessions(*matrix.STAGES)
    axis = matrix.variant_axis(cfg)
    pushed = matrix.build(listing, "self-hosted,gpu", axis=axis)["verify"]
    smoke = [e for e in pushed if e["session"] == "gpu-smoke"]
    assert [e["name"] for e in smoke] == ["gpu-smoke (cu128)", "gpu-smoke (cu130)"]
    assert all(e["runner"] == ["self-hosted", "gpu"] for e in smoke)
    for labels, no_gpu in (("self-hosted,gpu", True), ("", False)):  # a PR; no GPU runner
        verify = matrix.build(listing, labels, pull_request=no_gpu, axis=axis)["verify"]
        assert "gpu-smoke" not in {e["session"] for e in verify}


def test_the_runner_follows_the_platform_tags_in_their_order():
    gpu = ["self-hosted", "gpu"]
    assert matrix.runner_for("s", ["cuda", "linux"], gpu) == gpu
    assert matrix.runner_for("s", ["cuda", "linux"], None) == "ubuntu-24.04"
    assert matrix.runner_for("s", ["cuda"], None) is None
    assert matrix.runner_for("s", ["windows", "linux"], None) == "windows-2022"
    assert matrix.runner_for("s", ("linux",), "gpu") == "ubuntu-24.04"
    with pytest.raises(PipelineError) as caught:
        matrix.runner_for("odd", ["gate"], gpu)
    assert str(caught.value) == (
        "nox session 'odd' has no platform tag for a runner; tag it linux, windows or cuda in "
        "noxfile.py."
    )


def test_the_stage_and_listing_errors_are_exact():
    assert matrix.stage_of("s", ["linux", "verify"]) == "verify"
    with pytest.raises(PipelineError) as caught:
        matrix.stage_of("s", ["release", "gate"])
    assert str(caught.value) == (
        "nox session 's' needs exactly one stage tag of gate, build, verify, release (has: gate, "
        "release); fix its tags in noxfile.py."
    )
    with pytest.raises(PipelineError) as caught:
        matrix.stage_of("s", [])
    assert "(has: none)" in str(caught.value)
    with pytest.raises(PipelineError) as caught:
        matrix.parse_listing('[{"session": "a"}, {"name": "b"}]')
    assert str(caught.value) == (
        "the nox listing is not a list of sessions; pass the output of `nox --list --json`."
    )
    with pytest.raises(PipelineError) as caught:
        matrix.parse_listing('{"session": "a"}')
    assert "not a list of sessions" in str(caught.value)
    with pytest.raises(PipelineError) as caught:
        matrix.parse_listing("nope")
    assert str(caught.value).startswith("the nox listing is not JSON (")
    assert str(caught.value).endswith("); pass the output of `nox --list --json`.")
    assert matrix.parse_listing('[{"session": "a"}]') == [{"session": "a"}]


def test_gpu_labels_and_events():
    assert matrix.gpu_runner(" self-hosted , gpu ,") == ["self-hosted", "gpu"]
    assert matrix.gpu_runner("gpu") == "gpu"
    assert matrix.gpu_runner(" , ") is None
    assert matrix.gpu_allowed({}, "main")
    assert matrix.gpu_allowed(
        {"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main"}, "main"
    )
    assert matrix.gpu_allowed({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/tags/v1"}, "main")
    assert not matrix.gpu_allowed(
        {"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/dev"}, "main"
    )
    assert not matrix.gpu_allowed(
        {"GITHUB_EVENT_NAME": "schedule", "GITHUB_REF": "refs/heads/main"}, "main"
    )
    assert matrix.is_pull_request({"GITHUB_EVENT_NAME": "pull_request_target"})
    assert not matrix.is_pull_request({})


def test_wheel_jobs_set_up_every_python_with_the_workflows_own_last():
    """A cp3XY project builds and smokes one wheel per [python].versions entry, and with CI set
    a missing interpreter is refused: the wheel jobs get them all, `python` staying 3.12."""
    stages = matrix.build(LISTING, "", pythons=("3.12", "3.10", "3.11", "3.13"))
    wheels = {e["session"]: e["pythons"] for e in stages["build"]}
    assert wheels["wheels-linux"].splitlines() == ["3.10", "3.11", "3.13", "3.12"]
    assert wheels["wheels-windows"] == wheels["wheels-linux"]
    # The other jobs set up their own Python only.
    assert {e["pythons"] for e in stages["gate"] + stages["verify"] + stages["release"]} == {""}
    assert matrix.setup_pythons([]) == ""


def test_downloads_name_artifacts_exactly():
    assert matrix.names_pattern([]) == ""
    # A one-element brace list stays literal in minimatch: one name is given as it is.
    assert matrix.names_pattern(["wheels-linux-cu128"]) == "wheels-linux-cu128"
    assert matrix.names_pattern(["a", "unit-3.12", "a"]) == "{a,unit-3.12}"
    for names in ([], ["a"], ["a", "unit-3.12"]):
        assert matrix.pattern_names(matrix.names_pattern(names)) == names
    with pytest.raises(PipelineError) as caught:
        matrix.names_pattern(["wheels-linux-cu*"])
    assert str(caught.value) == (
        "artifact name 'wheels-linux-cu*' has characters download-artifact would read as a "
        "pattern; name sessions and variants with letters, digits, '.', '_' and '-'."
    )


def test_a_job_downloads_only_what_it_reads():
    listing = [
        entry("lint", "gate", "linux"),
        entry("wheels-linux", "build", "linux"),
        entry("docker-build", "build", "linux"),
        entry("sdist", "build", "linux"),
        entry("integration", "verify", "linux"),
        entry("gpu-smoke", "verify", "linux"),
        entry("report", "verify", "linux"),
        entry("release", "release", "linux"),
    ]
    axis = {name: ["cpu", "cu128"] for name in ("wheels-linux", "docker-build", "integration")} | {
        "gpu-smoke": ["cu128"]
    }
    stages = matrix.build(listing, "", axis=axis)
    jobs = {e["name"]: e for entries in stages.values() for e in entries}
    assert all(jobs[n]["download"] == "" for n in ("lint", "wheels-linux (cpu)", "sdist"))
    assert jobs["integration (cu128)"]["download"] == "{wheels-linux-cu128,docker-build-cu128}"
    assert jobs["integration (cu128)"]["download_images"] == "docker-build-cu128-images"
    assert (
        jobs["gpu-smoke (cu128)"]["download"],
        jobs["gpu-smoke (cu128)"]["download_images"],
    ) == (
        "wheels-linux-cu128",
        "",
    )
    # A session without a variant reads every build job's artifacts, and loads no image.
    assert jobs["report"]["download"] == (
        "{wheels-linux-cpu,wheels-linux-cu128,docker-build-cpu,docker-build-cu128,sdist}"
    )
    assert jobs["report"]["download_images"] == ""
    assert jobs["release"]["download"] == jobs["report"]["download"]
    # No build job: nothing to download (a blank pattern would download every artifact).
    bare = matrix.build(
        [entry("integration", "verify", "linux"), entry("release", "release", "linux")], ""
    )
    assert [(e["download"], e["download_images"]) for e in bare["verify"] + bare["release"]] == [
        ("", ""),
        ("", ""),
    ]
