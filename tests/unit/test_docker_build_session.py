"""docker-build planning as users run it: dry runs, pushes, PR refusal, CA copy, engine probes."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os

import pytest

from mlc_ci import host
from mlc_ci.errors import PipelineError
from mlc_ci.run import Runner
from mlc_ci.sessions import docker_build
from tests.conftest import ROOT, load_mini_llm

pytestmark = pytest.mark.unit


def args(**kw):
    """Parsed docker-build arguments."""
    base = {
        "target": "all",
        "variant": None,
        "push": False,
        "platform": "",
        "cache_from": "",
        "cache_to": "",
        "secret": [],
        "image": "",
        "no_local_ccache": False,
        "save": False,
        "dry_run": True,
    }
    return argparse.Namespace(**{**base, **kw})


# A dry run reads the engine through the configured CLI: these tests plan with one that is not
# there, so what they see does not depend on this host's Docker (test_real_plan_checks_the_engine
# plays the CLIs that are).
NO_ENGINE = {"MLC_CI_DOCKER": "/nonexistent/mlc-ci-test/docker"}


@pytest.fixture(name="mini")
def fixture_mini(root, monkeypatch):
    monkeypatch.chdir(root)
    return load_mini_llm(env=NO_ENGINE)


def titles(plan):
    """Step titles of a plan."""
    return [s.title for s in plan.steps]


def test_all_targets_in_build_order(mini):
    plan = docker_build.plan(args(), mini, {})
    builds = [t for t in titles(plan) if t.startswith("build ")]
    assert builds == ["build builder", "build development", "build ci", "build production"]
    assert plan.notes[0].startswith("builder buildkit (dry run: ")
    build = next(s for s in plan.steps if s.title == "build production")
    assert build.env == {"DOCKER_BUILDKIT": "1"}
    assert "SOURCE_DIR=examples/mini-llm" in build.argv
    assert "CONFIG=examples/mini-llm/pipeline.toml" in build.argv
    assert build.argv[build.argv.index("-f") + 1] == "docker/Dockerfile"


def test_the_report_says_where_the_source_label_points(mini):
    assert docker_build.plan(args(), mini, {}).data["source_url"] == mini.project.url
    ci = docker_build.plan(args(), mini, {"GITHUB_REPOSITORY": "o/r"})
    assert ci.data["source_url"] == "https://github.com/o/r"


def test_push_from_flag_or_environment(mini):
    plan = docker_build.plan(args(target="production", push=True), mini, {})
    assert any(t.startswith("push ghcr.io/mlc-ai/mini-llm:") for t in titles(plan))
    assert "digest of production" in titles(plan)
    push = next(s for s in plan.steps if s.title.startswith("push "))
    assert push.retries == 3
    env_plan = docker_build.plan(args(target="ci"), mini, {"MLC_CI_PUSH": "1"})
    assert env_plan.data["push"] is True


def test_pull_requests_never_push(mini):
    env = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_REF": "refs/pull/7/merge"}
    plan = docker_build.plan(args(target="production", push=True), mini, env)
    assert not any(t.startswith("push ") for t in titles(plan))
    assert "not pushing: pull-request builds never push" in plan.notes
    build = next(s for s in plan.steps if s.title == "build production")
    assert "ghcr.io/mlc-ai/mini-llm:pr-7-cpu" in build.argv


def test_image_override_and_bad_reference(mini):
    plan = docker_build.plan(args(target="ci", image="127.0.0.1:5000/it/mini"), mini, {})
    build = next(s for s in plan.steps if s.title == "build ci")
    assert any(a.startswith("127.0.0.1:5000/it/mini:") for a in build.argv)
    with pytest.raises(PipelineError, match="'Bad/Name' is not an image name"):
        docker_build.plan(args(target="ci", image="Bad/Name"), mini, {})


def test_unknown_target(mini):
    with pytest.raises(PipelineError, match="unknown target 'prod'"):
        docker_build.plan(args(target="prod"), mini, {})


def test_ca_bundle_is_copied_into_the_context_and_removed(mini, tmp_path, root):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    plan = docker_build.plan(args(target="ci"), mini, {"MLC_CI_CA_BUNDLE": str(ca)})
    build = next(s for s in plan.steps if s.title == "build ci")
    copy = docker_build.CA_IN_CONTEXT.format(pid=os.getpid())
    assert f"CA_BUNDLE={copy}" in build.argv
    runner = Runner(out=io.StringIO())
    runner.run(plan.steps[0])
    assert (root / copy).read_text() == ca.read_text()
    runner.run(plan.cleanup[0])
    assert not (root / copy).exists()
    missing = docker_build.plan(args(target="ci"), mini, {"MLC_CI_CA_BUNDLE": str(tmp_path / "x")})
    with pytest.raises(PipelineError, match="is not a file"):
        runner.run(missing.steps[0])


def test_missing_local_base_image_names_the_bootstrap(mini, tmp_path):
    """A one-line shell stand-in plays a docker CLI that has no images."""
    del mini  # only its chdir to the repository root
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\necho 'No such image' >&2\nexit 1\n")
    fake.chmod(0o755)
    cfg = load_mini_llm(env={"MLC_CI_DOCKER": str(fake)})
    plan = docker_build.plan(args(target="ci"), cfg, {})
    with pytest.raises(PipelineError, match="docker/bootstrap-base.sh mlc-ci/debian:bookworm"):
        Runner(out=io.StringIO()).run(plan.steps[0])


def fake_docker(tmp_path, version, buildx, server):
    """A shell stand-in for the docker CLI: `--version`, `buildx version`, `version`."""
    script = tmp_path / "docker"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "--version" ]; then echo "Docker version {version}, build x"; exit 0; fi\n'
        f'if [ "$1" = "buildx" ]; then exit {0 if buildx else 1}; fi\n'
        f'if [ "$1" = "version" ]; then echo 20.10.24; exit {0 if server else 1}; fi\n'
        "exit 1\n"
    )
    script.chmod(0o755)
    return str(script)


def test_docker_facts_and_builder_choice(tmp_path):
    facts = host.docker_facts(fake_docker(tmp_path, "20.10.24+dfsg1", False, True))
    assert facts == {"buildx": False, "client_major": 20, "engine": True, "error": ""}
    facts = host.docker_facts(fake_docker(tmp_path, "28.2.2", True, False))
    assert facts["buildx"] is True and facts["engine"] is False and facts["client_major"] == 28
    facts = host.docker_facts(str(tmp_path / "absent"))
    assert facts["client_major"] is None and "absent` does not exist" in facts["error"]


def test_real_plan_checks_the_engine(mini, tmp_path):
    del mini  # only its chdir to the repository root
    no_engine = fake_docker(tmp_path, "20.10.24", False, False)
    cfg = load_mini_llm(env={"MLC_CI_DOCKER": no_engine})
    with pytest.raises(PipelineError, match="no Docker engine is reachable"):
        docker_build.plan(args(dry_run=False), cfg, {})
    new_cli = fake_docker(tmp_path, "28.2.2", False, True)
    cfg = load_mini_llm(env={"MLC_CI_DOCKER": new_cli})
    with pytest.raises(PipelineError, match="has no buildx plugin"):
        docker_build.plan(args(dry_run=False), cfg, {})
    # The dry run on that host (this machine kind's first `docker`) shows the plan and the
    # reason a run would stop, as it does without an engine.
    shown = docker_build.plan(args(), cfg, {})
    assert "build production" in titles(shown)
    assert "no buildx plugin" in shown.notes[0] and "MLC_CI_DOCKER" in shown.notes[0]
    cfg = load_mini_llm(env={"MLC_CI_DOCKER": str(tmp_path / "absent")})
    with pytest.raises(PipelineError, match="absent` does not exist"):
        docker_build.plan(args(dry_run=False), cfg, {})


def test_inspect_records_the_image(mini, tmp_path):
    """A shell stand-in answers `docker image inspect` with the engine's JSON shape."""
    del mini  # only its chdir to the repository root
    script = tmp_path / "docker"
    info = json.dumps([{"Id": "sha256:abc", "Size": 1234, "RepoDigests": []}])
    script.write_text(f"#!/bin/sh\necho '{info}'\n")
    script.chmod(0o755)
    cfg = load_mini_llm(env={"MLC_CI_DOCKER": str(script)})
    iid = tmp_path / "x.iid"
    iid.write_text("sha256:abc\n")
    inspect = docker_build._inspect  # pylint: disable=protected-access
    action = inspect(cfg, "ci", ["r:ci"], str(iid), {})
    ctx = {"log-ci": "#5 CACHED\n#6 CACHED\n"}
    action(ctx)
    (art,) = ctx["artifacts"]
    assert (art.size, art.sha256, art.details["cached_steps"]) == (1234, "abc", 2)


def test_shared_cache_reaches_the_build_as_a_secret_never_an_argument(mini, monkeypatch):
    del mini  # only its chdir to the repository root
    monkeypatch.chdir(ROOT)
    url = "redis://:s3cret@127.0.0.1:6379/4"
    cfg = load_mini_llm(env={**NO_ENGINE, "MLC_CI_CACHE_REMOTE": url})
    plan = docker_build.plan(args(target="builder", no_local_ccache=True), cfg, {})
    build = next(s for s in plan.steps if s.title == "build builder")
    text = " ".join(build.argv)
    assert "s3cret" not in text and "--secret id=ccache_remote,src=" in text
    assert "CACHE_MODE=read-write" in text and "LOCAL_CCACHE=0" in text
    order = [s.title for s in plan.steps]
    assert order.index("connect the shared compile cache") < order.index("build builder")
    assert any("shared compile cache: read-write" in n for n in plan.notes)
    tagged = docker_build.plan(
        args(target="builder"), cfg, {"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/tags/v1.0.0"}
    )
    tag_build = next(s for s in tagged.steps if s.title == "build builder")
    assert "ccache_remote" not in " ".join(tag_build.argv)


def test_a_dry_run_without_an_engine_says_why(mini, tmp_path):
    missing = str(tmp_path / "no-docker")
    mini = dataclasses.replace(mini, image=dataclasses.replace(mini.image, docker=missing))
    plan = docker_build.plan(args(), mini, {})
    assert plan.notes[0].startswith("builder buildkit (dry run: ")
    assert f"`{missing}` does not exist or cannot be run" in plan.notes[0]


def test_a_real_run_without_an_engine_is_refused(mini, tmp_path):
    missing = str(tmp_path / "no-docker")
    mini = dataclasses.replace(mini, image=dataclasses.replace(mini.image, docker=missing))
    with pytest.raises(PipelineError, match="does not exist or cannot be run"):
        docker_build.builder_of(mini, dry_run=False)
