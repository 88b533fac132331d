"""The workflow stays a thin image of the noxfile: drift between them fails here.

Every nox session reaches a job through the plan job's matrix, every job but `plan` runs only
`nox -s` for its matrix entry, and every action is pinned to a full commit SHA.
"""

from __future__ import annotations

import datetime
import re

import pytest
import yaml

from mlc_ci import config
from mlc_ci.plan import matrix, rehearsal
from tests.conftest import nox_sessions
from tests.gates import tomllib

pytestmark = pytest.mark.unit

LONGPATHS = "git config --system core.longpaths true"
INSTALL_NOX = "python -m pip install -r requirements-ci.txt"
RUN_SESSION = 'nox -s "$SESSION" -- ${VARIANT:+--variant "$VARIANT"}'
SERVICES = (
    "sudo apt-get update -q\n"
    "sudo apt-get install -y -q --no-install-recommends docker-registry redis-server skopeo \\\n"
    "  debootstrap debian-archive-keyring\n"
    "python -m pip install pypiserver\n"
    "scripts/ci-services.sh start registry pypi redis github\n"
    "# The image tests build from the bootstrapped Debian base, as on .ci/run's machine,\n"
    "# and the wheel-index tests compile mini-llm's cu130 kernel with nvcc.\n"
    "sudo docker/bootstrap-base.sh mlc-ci/debian:bookworm\n"
    "scripts/install-cuda-linux.sh 13.0"
)
# A build job makes what the plan says the hosted image lacks (matrix.cuda, matrix.bases).
CUDA = 'scripts/install-cuda-linux.sh "$CUDA"'
BASES = (
    "sudo apt-get update -q\n"
    "sudo apt-get install -y -q --no-install-recommends debootstrap debian-archive-keyring\n"
    'for base in $BASES; do sudo docker/bootstrap-base.sh "$base"; done'
)
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


@pytest.fixture(name="workflow", scope="module")
def fixture_workflow():
    from tests.conftest import ROOT  # pylint: disable=import-outside-toplevel

    text = (ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    # PyYAML follows YAML 1.1, where the key `on` is the boolean True.
    data = yaml.safe_load(text)
    data["on"] = data.pop(True, data.get("on"))
    return {"text": text, "data": data}


@pytest.fixture(name="sessions")
def fixture_sessions():
    return nox_sessions()


def jobs(workflow):
    """name -> job."""
    return workflow["data"]["jobs"]


def steps_of(job):
    """The `run:` scripts and `uses:` references of a job."""
    return [s.get("run", "").strip() for s in job["steps"]], [
        s["uses"] for s in job["steps"] if "uses" in s
    ]


def test_every_nox_session_reaches_a_stage_job(workflow, sessions):
    # `nox --list --json` without -t: a session lacking a stage tag would vanish from CI.
    stages = matrix.build(sessions, "self-hosted,gpu")
    planned = {entry["session"] for entries in stages.values() for entry in entries}
    assert planned == {item["session"] for item in sessions}
    assert set(jobs(workflow)) == {"plan", *matrix.STAGES, "pages"}


def test_plan_job_produces_one_output_per_stage(workflow):
    plan = jobs(workflow)["plan"]
    runs, _ = steps_of(plan)
    script = "\n".join(runs)
    tags = " ".join(matrix.STAGES)
    assert f"nox --list --json -t {tags} > nox-sessions.json" in script
    assert (
        "python -m mlc_ci matrix --nox-json nox-sessions.json --format github "
        '>> "$GITHUB_OUTPUT"' in script
    )
    assert plan["outputs"] == {
        stage: f"${{{{ steps.matrix.outputs.{stage} }}}}" for stage in matrix.STAGES
    }


@pytest.mark.parametrize("stage", matrix.STAGES)
def test_stage_job_runs_only_its_matrix_session(workflow, stage):
    job = jobs(workflow)[stage]
    assert job["strategy"]["matrix"] == {
        "include": f"${{{{ fromJSON(needs.plan.outputs.{stage}) }}}}"
    }
    assert job["runs-on"] == "${{ matrix.runner }}"
    assert "plan" in ([job["needs"]] if isinstance(job["needs"], str) else job["needs"])
    runs, _ = steps_of(job)
    # verify's integration job first starts the services its tests use, as .ci/run does.
    services = [SERVICES] if stage == "verify" else []
    # build's Windows jobs turn long paths on before the recursive submodule checkout.
    longpaths = [LONGPATHS] if stage == "build" else []
    provision = [CUDA, BASES] if stage == "build" else []
    assert [r for r in runs if r] == [*longpaths, *provision, *services, INSTALL_NOX, RUN_SESSION]
    if longpaths:
        assert job["steps"][0] == {"if": "runner.os == 'Windows'", "run": LONGPATHS}
        assert job["steps"][1]["uses"].startswith("actions/checkout@")
    (session_step,) = [s for s in job["steps"] if s.get("run") == RUN_SESSION]
    assert session_step["env"]["SESSION"] == "${{ matrix.session }}"
    assert session_step["env"]["VARIANT"] == "${{ matrix.variant }}"
    assert job["name"] == "${{ matrix.name }}"  # e.g. "wheels-linux (cu128)"
    uploads = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    # One artifact per job, named per (session, variant): no two jobs of a run share a name;
    # a build job's image archives (docker-build's) go into a second one.
    images = ["${{ matrix.images_artifact }}"] if stage == "build" else []
    assert [u["with"]["name"] for u in uploads] == ["${{ matrix.artifact }}", *images]


def test_stages_run_in_order(workflow):
    order = ["plan", *matrix.STAGES]
    for before, after in zip(order[1:], order[2:]):
        assert before in jobs(workflow)[after]["needs"], (before, after)


def test_every_action_is_pinned_to_a_commit_sha(workflow):
    uses = re.findall(r"uses:\s*(\S+)(.*)", workflow["text"])
    assert uses
    for ref, comment in uses:
        assert PINNED.match(ref), ref
        assert re.match(r"\s+# v\d", comment), f"{ref} needs a '# vX' comment"


def test_every_pin_is_a_checked_node24_release(workflow, root):
    # tests/fixtures/actions.toml records each pin as checked in the action's own repository
    # (README, "Pinned actions"): a bump of ci.yml alone, Dependabot's included, fails here.
    checked = tomllib.loads((root / "tests/fixtures/actions.toml").read_text(encoding="utf-8"))
    table = {a["uses"]: a for a in checked["action"]}
    pins = re.findall(r"uses:\s*(\S+)@(\S+)(.*)", workflow["text"])
    for action, sha, comment in pins:
        tag = re.match(r"\s+# (v\d+\.\d+\.\d+)(\s|$)", comment)
        assert re.fullmatch(r"[0-9a-f]{40}", sha) and tag, f"{action}: `@<sha> # vX.Y.Z`"
        assert action in table, f"{action} is missing from tests/fixtures/actions.toml"
        assert (sha, tag.group(1)) == (table[action]["sha"], table[action]["tag"]), action
    assert {action for action, _, _ in pins} == set(table), "actions.toml lists an unused action"
    for action, entry in table.items():
        assert entry["runtime"] in ("node24", "composite"), action
        # A composite is as current as what it calls: those are recorded pinned too.
        assert ("calls" in entry) == (entry["runtime"] == "composite"), action
        for call in entry.get("calls", ()):
            assert re.fullmatch(r"[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", call), call
        assert isinstance(entry["checked"], datetime.date), action
    readme = (root / "README.md").read_text(encoding="utf-8")
    rows = {
        f"| {a} | {e['tag']} | {e['sha']} | {e['runtime']} | {e['checked'].isoformat()} |"
        for a, e in table.items()
    }
    assert rows <= set(readme.splitlines()), "README's 'Pinned actions' table is out of date"


def test_hosted_jobs_run_on_ubuntu_24_04(workflow):
    # ubuntu-22.04 is retired on 2027-04-17; the matrix picks the runner of every stage job.
    runs_on = {name: job["runs-on"] for name, job in jobs(workflow).items()}
    assert runs_on["plan"] == runs_on["pages"] == matrix.RUNNERS["linux"] == "ubuntu-24.04"
    assert "ubuntu-22.04" not in workflow["text"]
    assert "ubuntu-22.04" not in matrix.RUNNERS.values()


def test_dependabot_updates_actions_and_pip(root):
    data = yaml.safe_load((root / ".github" / "dependabot.yml").read_text(encoding="utf-8"))
    assert data["version"] == 2
    updates = {u["package-ecosystem"]: u for u in data["updates"]}
    assert set(updates) == {"github-actions", "pip"}
    for update in updates.values():
        assert update["directory"] == "/" and update["schedule"]["interval"] == "weekly"
    # One pull request for all the actions: pins that move together are reviewed together.
    assert updates["github-actions"]["groups"]["actions"]["patterns"] == ["*"]


def test_least_privilege_and_safe_checkout(workflow):
    data = workflow["data"]
    assert data["permissions"] == {}
    assert data["concurrency"]["group"]
    for name, job in jobs(workflow).items():
        assert "permissions" in job and job["timeout-minutes"] <= 240, name
        assert set(job["permissions"].values()) <= {"read", "write"}
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, name
    writes = {
        name: sorted(k for k, v in job["permissions"].items() if v == "write")
        for name, job in jobs(workflow).items()
    }
    assert writes == {
        "plan": [],
        "gate": [],
        "build": ["packages"],
        "verify": ["security-events"],
        "release": ["contents", "id-token", "packages"],
        "pages": ["id-token", "pages"],
    }


def test_triggers_and_publishing_guard(workflow):
    on = workflow["data"]["on"]
    assert on["push"] == {"branches": ["main", "develop"], "tags": ["v*"]}
    assert {"pull_request", "schedule", "workflow_dispatch"} <= set(on)
    release = jobs(workflow)["release"]
    assert "(github.event_name == 'push' && startsWith(github.ref, 'refs/tags/v'))" in release["if"]
    assert "|| github.event_name == 'schedule'" in release["if"]  # the nightly channel
    # a push to main: its release job only promotes the branch and latest image tags
    assert "|| (github.event_name == 'push' && github.ref == 'refs/heads/main'))" in release["if"]
    # The build jobs push the commit's tags; the release job promotes the others. Both log in,
    # never for a pull request; the gate and verify jobs need no registry (the hand-off).
    for name in ("build", "release"):
        login = [
            s for s in jobs(workflow)[name]["steps"] if "docker/login-action" in s.get("uses", "")
        ]
        assert len(login) == 1 and "github.event_name != 'pull_request'" in login[0]["if"], name
    for name in ("plan", "gate", "verify", "pages"):
        assert "docker/login-action" not in str(jobs(workflow)[name]), name


def test_artifacts_and_sarif(workflow):
    for stage in matrix.STAGES:
        _, uses = steps_of(jobs(workflow)[stage])
        assert any(u.startswith("actions/upload-artifact@") for u in uses), stage
        for step in jobs(workflow)[stage]["steps"]:
            if step.get("uses", "").startswith("actions/upload-artifact@"):
                # Re-runs replace the artifact; a job that wrote nothing fails visibly.
                assert step["with"]["overwrite"] is True, stage
                assert step["with"]["if-no-files-found"] == "error", stage
    for stage in ("verify", "release"):
        _, uses = steps_of(jobs(workflow)[stage])
        assert any(u.startswith("actions/download-artifact@") for u in uses), stage
    _, uses = steps_of(jobs(workflow)["verify"])
    assert any(u.startswith("github/codeql-action/upload-sarif@") for u in uses)


def test_readme_diagram_is_generated_from_the_noxfile(root):
    gpu = config.load(root / "pipeline.toml", env={}).release.gpu_runner
    cfg = config.load(root / "pipeline.toml", env={})
    axis = matrix.variant_axis(cfg)
    diagram = matrix.mermaid(matrix.build(nox_sessions(*matrix.STAGES), gpu, axis=axis))
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert f"```mermaid\n{diagram}\n```" in readme, (
        "README.md's workflow diagram is out of date; replace its mermaid block with the output "
        "of `nox --list --json -t gate build verify release | python -m mlc_ci matrix "
        "--nox-json - --format mermaid`"
    )


def test_wheel_jobs_restore_ccache_but_never_for_a_tag(workflow, root):
    (step,) = [s for s in jobs(workflow)["build"]["steps"] if "actions/cache@" in s.get("uses", "")]
    cfg = config.load(root / "pipeline.toml", env={})
    assert str((root / step["with"]["path"]).resolve()) == cfg.wheel.ccache_dir
    assert "matrix.artifact" in step["with"]["key"] and "github.sha" in step["with"]["key"]
    assert "github.ref_type != 'tag'" in step["if"] and "wheels-" in step["if"]


def test_the_index_is_deployed_only_after_a_release_job_that_passed(workflow):
    release, pages = jobs(workflow)["release"], jobs(workflow)["pages"]
    (session,) = [s for s in release["steps"] if s.get("run") == RUN_SESSION]
    assert session["env"]["MLC_CI_INDEX_DIR"] == "site"
    assert session["env"]["MLC_CI_NIGHTLY"] == "${{ github.event_name == 'schedule' && '1' || '' }}"
    (upload,) = [s for s in release["steps"] if "upload-pages-artifact" in s.get("uses", "")]
    assert upload["with"]["path"] == "site" and "site/index-state.json" in upload["if"]
    assert pages["needs"] == ["release"] and "needs.release.result == 'success'" in pages["if"]
    assert "startsWith(github.ref, 'refs/tags/v') || github.event_name == 'schedule'" in pages["if"]
    runs, uses = steps_of(pages)
    assert not any(runs) and [u.split("@")[0] for u in uses] == ["actions/deploy-pages"]
    assert pages["environment"]["name"] == "github-pages"


def test_verify_provisions_its_scanner_and_services(workflow):
    steps = jobs(workflow)["verify"]["steps"]
    (setup,) = [s for s in steps if s.get("uses", "").startswith("aquasecurity/setup-trivy@")]
    assert setup["if"] == "matrix.session == 'trivy'" and setup["with"]["version"].startswith("v")
    (services,) = [s for s in steps if s.get("run") == SERVICES + "\n"]
    assert services["if"] == "matrix.session == 'integration'"


def test_wheel_and_verify_jobs_take_the_matrix_pythons(workflow):
    """setup-python reads the matrix's `pythons` (every [python].versions entry) where a job
    builds or tests per-Python wheels; the gate's unit jobs keep their own one Python."""
    defined = workflow["data"]["jobs"]
    for job in ("build", "verify"):
        (setup,) = [s for s in defined[job]["steps"] if "setup-python" in s.get("uses", "")]
        assert setup["with"]["python-version"].startswith("${{ matrix.pythons ||"), job
    (gate,) = [s for s in defined["gate"]["steps"] if "setup-python" in s.get("uses", "")]
    assert "pythons" not in gate["with"]["python-version"]


def test_ci_installs_pinned_tools_from_one_file(workflow, root):
    """nox and uv come from requirements-ci.txt, exact pins Dependabot bumps: a new release of
    either cannot change a run. .ci/run installs the same file."""
    installs = [line.strip() for line in workflow["text"].splitlines() if "pip install" in line]
    assert not [line for line in installs if re.search(r"\b(nox|uv)\b", line)], installs
    for name in ("plan", *matrix.STAGES):
        assert "-r requirements-ci.txt" in str(jobs(workflow)[name]["steps"]), name
    pins = [
        line.split("#", 1)[0].strip()
        for line in (root / "requirements-ci.txt").read_text(encoding="utf-8").splitlines()
    ]
    pins = [pin for pin in pins if pin]
    assert {pin.split("==")[0] for pin in pins} == {"nox", "uv"}
    assert all(re.fullmatch(r"[a-z]+==[0-9][0-9.]*", pin) for pin in pins), pins
    assert "-r requirements-ci.txt" in (root / ".ci" / "run").read_text(encoding="utf-8")


def test_only_the_owning_repository_publishes(workflow):
    """A fork (no MLC_CI_RELEASE_REPOSITORY variable) builds and tests on every event, and its
    schedule and tags publish nothing into its own namespace."""
    release = jobs(workflow)["release"]
    assert "&& vars.MLC_CI_RELEASE_REPOSITORY == github.repository" in release["if"]
    assert "vars.MLC_CI_RELEASE_REPOSITORY" not in str(jobs(workflow)["build"].get("if"))


def test_a_tag_release_is_never_cancelled_by_another_release(workflow):
    """GitHub keeps one pending run per concurrency group and cancels an older pending one: a
    tag's release has a group of its own; the schedule and main share one."""
    group = jobs(workflow)["release"]["concurrency"]
    assert group["cancel-in-progress"] is False
    assert "github.ref_type == 'tag' && github.ref_name" in group["group"]


def test_sarif_upload_is_skipped_for_a_forks_pull_request(workflow):
    (upload,) = [
        s
        for s in jobs(workflow)["verify"]["steps"]
        if s.get("uses", "").startswith("github/codeql-action/upload-sarif@")
    ]
    assert "github.event.pull_request.head.repo.fork" in upload["if"]
    assert upload["if"].strip().startswith("always()")


def test_the_rehearsal_checks_out_at_the_depth_the_workflow_does(workflow):
    """actions/checkout fetches one commit unless fetch-depth says otherwise; the rehearsal
    gives exactly the stages that keep that default a depth-1 clone."""
    defaults = set()
    for stage in matrix.STAGES:
        (checkout,) = [
            s for s in jobs(workflow)[stage]["steps"] if "actions/checkout" in s.get("uses", "")
        ]
        if "fetch-depth" not in checkout.get("with", {}):
            defaults.add(stage)
    assert defaults == set(rehearsal.SHALLOW_STAGES)
