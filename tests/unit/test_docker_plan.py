"""mlc_ci.plan.docker, rule by rule: targets, git context, tags, build arguments, argv, builder.

Pure functions, table-tested; the last test prints the real MLC-LLM cu128 plan through the CLI
(`python -m mlc_ci plan docker-build -- production --variant cu128`), no engine needed.
"""

from __future__ import annotations

import dataclasses
import io
import shlex
import subprocess

import pytest

from mlc_ci import cli, config
from mlc_ci.errors import PipelineError
from mlc_ci.plan import docker

pytestmark = pytest.mark.unit

SHA = "0123456789abcdef0123456789abcdef01234567"
LOCAL = {"ref": "refs/heads/main", "sha": SHA, "version": "1.2.3"}
IMAGE_TOML = """
[image]
name = "reg.example:5000/team/demo"
toolchain = ["cargo", "rustc"]

[variants.cu128]
distribution = "demo-cu128"
cuda = "12.8"
builder_image = "nvidia/cuda:12.8.1-devel-ubuntu22.04"
runtime_image = "nvidia/cuda:12.8.1-runtime-ubuntu22.04"
toolchain = ["rustc", "libvulkan-dev"]
"""
PROJECT_EXTRA = """distribution = "demo"
description = "a demo"
url = "https://x.example/demo"
license = "MIT"
"""
PATHS = {"SOURCE_DIR": "src-tree", "CONFIG": "pipeline.toml"}


@pytest.fixture(name="cfg")
def fixture_cfg(make_config):
    from tests.conftest import MINIMAL  # pylint: disable=import-outside-toplevel

    text = MINIMAL.replace('distribution = "demo"\n', PROJECT_EXTRA, 1) + IMAGE_TOML
    return config.load(make_config(text), env={})


def git(**env: str) -> docker.GitContext:
    """A GitContext from GitHub-style environment over the LOCAL checkout facts."""
    return docker.git_context(env, LOCAL, 1_700_000_000)


# --- select_targets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, targets",
    [
        ("all", ("builder", "development", "ci", "production")),
        ("builder", ("builder",)),
        ("development", ("development",)),
        ("ci", ("ci",)),
        ("production", ("production",)),
    ],
)
def test_select_targets(name, targets):
    assert docker.select_targets(name) == targets


@pytest.mark.parametrize("name", ["prod", "", "ALL", "Production", "dev"])
def test_select_targets_rejects_unknown_names(name):
    with pytest.raises(PipelineError, match=f"unknown target '{name}'; use one of builder, "):
        docker.select_targets(name)


# --- git_context ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, ("refs/heads/main", SHA, "push", None, False)),
        (
            {"GITHUB_REF": "refs/tags/v1.2.3", "GITHUB_SHA": "f" * 40},
            ("refs/tags/v1.2.3", "f" * 40, "push", None, False),
        ),
        (
            {"GITHUB_REF": "refs/pull/42/merge", "GITHUB_EVENT_NAME": "pull_request"},
            ("refs/pull/42/merge", SHA, "pull_request", 42, True),
        ),
        (
            {"GITHUB_REF": "refs/pull/7/head", "GITHUB_EVENT_NAME": "pull_request_target"},
            ("refs/pull/7/head", SHA, "pull_request_target", 7, True),
        ),
        (
            {"GITHUB_REF": "refs/heads/main", "GITHUB_EVENT_NAME": "schedule"},
            ("refs/heads/main", SHA, "schedule", None, False),
        ),
        # A branch that merely looks like a PR ref is not one.
        (
            {"GITHUB_REF": "refs/heads/pull/3/merge"},
            ("refs/heads/pull/3/merge", SHA, "push", None, False),
        ),
    ],
)
def test_git_context_prefers_the_actions_environment(env, expected):
    context = git(**env)
    got = (context.ref, context.sha, context.event, context.pr_number, context.is_pull_request)
    assert got == expected
    assert context.version == "1.2.3" and context.now_epoch == 1_700_000_000


def test_git_context_source_date_epoch():
    assert git().created_epoch is None
    assert git(SOURCE_DATE_EPOCH="1700000000").created_epoch == 1_700_000_000
    with pytest.raises(PipelineError, match="SOURCE_DATE_EPOCH='yesterday' is not a number"):
        git(SOURCE_DATE_EPOCH="yesterday")
    with pytest.raises(PipelineError, match="is not a number"):
        git(SOURCE_DATE_EPOCH="-5")


def test_git_context_without_local_facts():
    context = docker.git_context({}, {}, 0)
    assert (context.ref, context.sha, context.version, context.event) == ("", "", "", "push")


# --- image_tags and labels --------------------------------------------------------------------


@pytest.mark.parametrize(
    "target, env, tags",
    [
        ("production", {}, ["main-cpu", "latest-cpu", "sha-0123456-cpu"]),
        ("development", {}, ["main-cpu-dev", "latest-cpu-dev", "sha-0123456-cpu-dev"]),
        ("ci", {}, ["main-cpu-ci", "latest-cpu-ci", "sha-0123456-cpu-ci"]),
        ("builder", {}, ["main-cpu-builder", "latest-cpu-builder", "sha-0123456-cpu-builder"]),
        (
            "production",
            {"GITHUB_REF": "refs/heads/feature/x"},
            ["feature-x-cpu", "sha-0123456-cpu"],
        ),
        (
            "production",
            {"GITHUB_REF": "refs/pull/9/merge", "GITHUB_EVENT_NAME": "pull_request"},
            ["pr-9-cpu", "sha-0123456-cpu"],
        ),
        (
            "ci",
            {"GITHUB_REF": "refs/tags/v1.4.2"},
            ["1.4.2-cpu-ci", "1.4-cpu-ci", "1-cpu-ci", "latest-cpu-ci", "sha-0123456-cpu-ci"],
        ),
        (
            "production",
            {"GITHUB_REF": "refs/tags/v0.3.0"},
            ["0.3.0-cpu", "0.3-cpu", "latest-cpu", "sha-0123456-cpu"],
        ),
        (
            "production",
            {"GITHUB_REF": "refs/tags/v2.0.0-rc.1"},
            ["2.0.0-rc.1-cpu", "sha-0123456-cpu"],
        ),
        (
            "production",
            {"GITHUB_REF": "refs/heads/main", "GITHUB_EVENT_NAME": "schedule"},
            ["nightly-cpu", "sha-0123456-cpu"],
        ),
    ],
)
def test_image_tags_per_target(cfg, target, env, tags):
    got = docker.image_tags(cfg, cfg.variant("cpu"), target, git(**env))
    assert got == [f"reg.example:5000/team/demo:{tag}" for tag in tags]


def test_a_nightly_build_is_tagged_with_its_night(cfg):
    scheduled = git(GITHUB_REF="refs/heads/main", GITHUB_EVENT_NAME="schedule")
    got = docker.image_tags(
        cfg, cfg.variant("cpu"), "production", dataclasses.replace(scheduled, night="20261207")
    )
    assert "reg.example:5000/team/demo:nightly-20261207-cpu" in got
    assert "reg.example:5000/team/demo:nightly-cpu" in got


def test_image_tags_carry_the_variant(cfg):
    tags = docker.image_tags(cfg, cfg.variant("cu128"), "development", git())
    assert tags[0] == "reg.example:5000/team/demo:main-cu128-dev"


def test_image_tags_need_an_image_name(make_config):
    from tests.conftest import MINIMAL  # pylint: disable=import-outside-toplevel

    bare = config.load(make_config(MINIMAL), env={})
    with pytest.raises(PipelineError, match=r"sets no \[image\].name; set it"):
        docker.image_tags(bare, bare.variant(), "production", git())


def test_image_tags_of_a_detached_checkout_and_of_a_bad_ref(cfg):
    # No ref (a detached, untagged checkout): the commit's sha tag alone.
    context = docker.git_context({}, {"sha": SHA}, 0)
    (only,) = docker.image_tags(cfg, cfg.variant("cpu"), "production", context)
    assert only.endswith(f":sha-{SHA[:7]}-cpu")
    context = docker.git_context({"GITHUB_REF": "main"}, {"sha": SHA}, 0)
    with pytest.raises(PipelineError, match="pass the full Git ref"):
        docker.image_tags(cfg, cfg.variant("cpu"), "production", context)


def test_labels_from_config_and_git(cfg):
    labels = docker.labels(cfg, git(SOURCE_DATE_EPOCH="0"))
    prefix = "org.opencontainers.image."
    assert labels == {
        prefix + "title": "demo",
        prefix + "description": "a demo",
        prefix + "source": "https://x.example/demo",
        prefix + "url": "https://x.example/demo",
        prefix + "version": "1.2.3",
        prefix + "created": "1970-01-01T00:00:00Z",
        prefix + "revision": SHA,
        prefix + "licenses": "MIT",
    }
    assert docker.labels(cfg, git())[prefix + "created"] == "2023-11-14T22:13:20Z"


# --- build_args -------------------------------------------------------------------------------


def test_build_args_cpu(cfg):
    args = docker.build_args(cfg, cfg.variant("cpu"), PATHS, docker.labels(cfg, git()))
    assert args == {
        "SOURCE_DIR": "src-tree",
        "CONFIG": "pipeline.toml",
        "VARIANT": "cpu",
        "CUDA_VERSION": "",
        "BUILD_TYPE": "Release",
        "TOOLCHAIN": "cargo rustc",
        "CLI": "demo",
        "TITLE": "demo",
        "DESCRIPTION": "a demo",
        "VERSION": "1.2.3",
        "REVISION": SHA,
        "CREATED": "2023-11-14T22:13:20Z",
        "LICENSES": "MIT",
        "SOURCE_URL": "https://x.example/demo",
        "URL": "https://x.example/demo",
    }


def test_build_args_cuda_variant_sets_bases_and_merges_toolchains(cfg):
    args = docker.build_args(cfg, cfg.variant("cu128"), PATHS, docker.labels(cfg, git()))
    assert args["BASE_IMAGE"] == "nvidia/cuda:12.8.1-devel-ubuntu22.04"
    assert args["RUNTIME_IMAGE"] == "nvidia/cuda:12.8.1-runtime-ubuntu22.04"
    assert args["CUDA_VERSION"] == "12.8" and args["VARIANT"] == "cu128"
    # Project toolchain first, then the variant's, each package once.
    assert args["TOOLCHAIN"] == "cargo rustc libvulkan-dev"


# --- build_argv -------------------------------------------------------------------------------


def options(**overrides) -> docker.BuildOptions:
    """BuildOptions with test defaults."""
    base = {
        "docker": "/usr/bin/docker",
        "builder": "buildkit",
        "dockerfile": "docker/Dockerfile",
        "context": ".",
        "network": "host",
    }
    return docker.BuildOptions(**{**base, **overrides})


def test_build_argv_buildkit_in_order():
    argv = docker.build_argv(
        options(secrets=("id=pip_index,src=/run/pip",), cache_from="type=local,src=/c"),
        "ci",
        ["r.example/demo:main-cpu-ci", "r.example/demo:sha-0123456-cpu-ci"],
        {"VARIANT": "cpu", "DESCRIPTION": "it's a demo"},
        "/tmp/ci.iid",
    )
    assert shlex.join(argv) == (
        "/usr/bin/docker build --progress=plain -f docker/Dockerfile --target ci "
        "--network host --cache-from type=local,src=/c --secret id=pip_index,src=/run/pip "
        "-t r.example/demo:main-cpu-ci -t r.example/demo:sha-0123456-cpu-ci "
        "--build-arg VARIANT=cpu --build-arg 'DESCRIPTION=it'\"'\"'s a demo' "
        "--iidfile /tmp/ci.iid ."
    )


def test_build_argv_buildx_loads_and_exports_cache():
    argv = docker.build_argv(
        options(builder="buildx", platform="linux/amd64", cache_to="type=inline", network=""),
        "production",
        ["r.example/demo:x"],
        {},
        "p.iid",
    )
    assert argv[:4] == ("/usr/bin/docker", "buildx", "build", "--load")
    assert "--network" not in argv
    assert argv[argv.index("--platform") + 1] == "linux/amd64"
    assert argv[argv.index("--cache-to") + 1] == "type=inline"
    assert argv[-3:] == ("--iidfile", "p.iid", ".")


@pytest.mark.parametrize(
    "opts, tags, message",
    [
        (options(cache_to="type=local,dest=/c"), ["r/x:t"], "--cache-to needs docker buildx"),
        (options(builder="kaniko"), ["r/x:t"], "unknown builder 'kaniko'; use buildx or buildkit"),
        (options(), ["r/X:t"], "'r/X' is not a valid image repository"),
        (options(), ["r/x"], "'r/x' has no tag"),
        (options(), ["r/x:-t"], "'-t' is not a valid image tag"),
    ],
)
def test_build_argv_errors(opts, tags, message):
    with pytest.raises(PipelineError, match=message):
        docker.build_argv(opts, "ci", tags, {}, "x.iid")


# --- validate_ref -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ref",
    [
        "demo:1",
        "ghcr.io/mlc-ai/mlc-llm:main-cu128",
        "127.0.0.1:5000/mlc-ci-it/mini-llm:sha-0123456-cpu",
        "localhost:5000/a/b/c:v1.0.0_build",
        "reg.example/a__b/c-d.e:Tag_1.2-x",
        "a/b:" + "t" * 128,
    ],
)
def test_validate_ref_accepts(ref):
    assert docker.validate_ref(ref) == ref


@pytest.mark.parametrize(
    "ref, message",
    [
        ("demo", "has no tag"),
        ("127.0.0.1:5000/demo", "has no tag"),
        ("Demo:1", "is not a valid image repository"),
        ("ghcr.io/Org/demo:1", "is not a valid image repository"),
        ("reg/-demo:1", "is not a valid image repository"),
        ("reg/demo_:1", "is not a valid image repository"),
        ("reg//demo:1", "is not a valid image repository"),
        ("reg/demo:.tag", "is not a valid image tag"),
        ("reg/demo:t@g", "is not a valid image tag"),
        ("reg/demo:" + "t" * 129, "is not a valid image tag"),
        ("reg/demo:", "is not a valid image tag"),
    ],
)
def test_validate_ref_rejects(ref, message):
    with pytest.raises(PipelineError, match=message):
        docker.validate_ref(ref)


# --- small helpers ----------------------------------------------------------------------------


def test_build_env_and_push_argv():
    assert docker.build_env("buildkit") == {"DOCKER_BUILDKIT": "1"}
    assert not docker.build_env("buildx")
    assert docker.push_argv("docker", "r/x:t") == ("docker", "push", "r/x:t")


@pytest.mark.parametrize(
    "log, count",
    [
        ("", 0),
        ("#4 CACHED\n#5 [builder 2/9] RUN apt-get\n#5 DONE 3.1s\n#6 CACHED\n", 2),
        ("#12 CACHED   \n#13 CACHED\r\n", 2),
        # Only BuildKit's own step lines count, not a build log that prints the word.
        ("#7 0.1 CACHED\nCACHED\n# 8 CACHED\n#9 CACHED extra\n", 0),
    ],
)
def test_cached_steps(log, count):
    assert docker.cached_steps(log) == count


# --- choose_builder ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "configured, buildx_ok, client_major, chosen",
    [
        ("auto", True, 28, "buildx"),
        ("auto", True, 20, "buildx"),
        ("auto", False, 20, "buildkit"),
        ("auto", False, 22, "buildkit"),
        ("auto", False, None, "buildkit"),
        ("buildx", True, 20, "buildx"),
        ("buildkit", True, 20, "buildkit"),
        ("buildkit", False, 20, "buildkit"),
    ],
)
def test_choose_builder(configured, buildx_ok, client_major, chosen):
    assert docker.choose_builder(configured, buildx_ok, client_major, True) == chosen


@pytest.mark.parametrize(
    "configured, buildx_ok, client_major, engine_ok, message",
    [
        ("auto", True, 28, False, "no Docker engine is reachable"),
        ("buildx", False, 20, True, "`docker buildx` is not installed"),
        ("auto", False, 23, True, r"this docker CLI \(23.x\) has no buildx plugin"),
        ("auto", False, 28, True, "set MLC_CI_DOCKER to a CLI that builds with DOCKER_BUILDKIT=1"),
        ("buildkit", False, 28, True, "install docker-buildx"),
    ],
)
def test_choose_builder_errors(configured, buildx_ok, client_major, engine_ok, message):
    with pytest.raises(PipelineError, match=message):
        docker.choose_builder(configured, buildx_ok, client_major, engine_ok)


# --- the real MLC-LLM plan --------------------------------------------------------------------


def test_plan_docker_build_cu128_prints_the_real_mlc_llm_build(mlc_llm_config, monkeypatch, capsys):
    for var in (
        "MLC_CI_DOCKER",
        "MLC_CI_CA_BUNDLE",
        "MLC_CI_IMAGE",
        "MLC_CI_PUSH",
        "MLC_CI_VARIANT",
        "MLC_CI_SOURCE_VERSION",  # set by tests/conftest.py in a shallow checkout
    ):
        monkeypatch.delenv(var, raising=False)
    # No CLI there: the plan is the same whatever Docker this host has (the dry run says so).
    monkeypatch.setenv("MLC_CI_DOCKER", "/nonexistent/mlc-ci-test/docker")
    monkeypatch.setenv("GITHUB_REF", "refs/heads/main")
    monkeypatch.setenv("GITHUB_SHA", SHA)
    # The build context: the root pipeline.toml beside a checked-out stand-in of its submodule.
    monkeypatch.chdir(mlc_llm_config.parent)
    source = mlc_llm_config.parent / "3rdparty" / "mlc-llm"
    head = subprocess.run(
        ("git", "-C", str(source), "rev-parse", "HEAD"), check=True, capture_output=True, text=True
    ).stdout.strip()
    out = io.StringIO()
    code = cli.main(
        [
            "plan",
            "docker-build",
            "--",
            "production",
            "--variant",
            "cu128",
            "--config",
            "pipeline.toml",
        ],
        out=out,
    )
    assert code == 0, capsys.readouterr().err
    text = out.getvalue()
    lines = text.splitlines()
    (at,) = [i for i, line in enumerate(lines) if " build --progress=plain " in line]
    argv = shlex.split(lines[at].split("$", 1)[1])
    build_args = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--build-arg")
    # The step's environment is shown once, on the line above its command.
    assert lines[at - 1].split() == ["env:", "DOCKER_BUILDKIT=1"]
    assert argv[:2] == ["/nonexistent/mlc-ci-test/docker", "build"]
    assert argv[argv.index("--target") + 1] == "production"
    assert build_args["BASE_IMAGE"] == "nvidia/cuda:12.8.1-devel-ubuntu22.04"
    assert build_args["RUNTIME_IMAGE"] == "nvidia/cuda:12.8.1-runtime-ubuntu22.04"
    assert build_args["CUDA_VERSION"] == "12.8"
    # The image's cargo, then the variant's Vulkan headers, loader and shader compiler.
    assert build_args["TOOLCHAIN"] == "cargo rustc libvulkan-dev glslang-tools"
    assert build_args["CLI"] == "mlc_llm"
    assert build_args["SOURCE_DIR"] == "3rdparty/mlc-llm"
    assert build_args["VARIANT"] == "cu128"
    # The images carry the source's commit (the submodule's), not the checkout's.
    assert build_args["REVISION"] == head
    assert "ghcr.io/mlc-ai/mlc-llm:main-cu128" in argv
    assert "ghcr.io/mlc-ai/mlc-llm:sha-0123456-cu128" in argv
    assert "docker-build-cu128: planned" in text


def test_a_namespace_moves_the_images_to_the_repositorys_owner(cfg):
    context = docker.git_context(
        {
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_SHA": SHA,
            "MLC_CI_IMAGE_NAMESPACE": "ghcr.io/A-Fork",
        },
        LOCAL,
        0,
    )
    tags = docker.image_tags(cfg, cfg.variant("cpu"), "production", context)
    assert tags and all(t.startswith("ghcr.io/a-fork/") for t in tags), tags
    assert docker.image_name("ghcr.io/mlc-ai/mlc-llm", "") == "ghcr.io/mlc-ai/mlc-llm"
    assert docker.image_name("ghcr.io/mlc-ai/mlc-llm", "ghcr.io/Me/") == "ghcr.io/me/mlc-llm"


def test_too_little_disk_for_the_budgets_is_one_line_naming_what_to_free():
    budgets = {"ci": 1200, "production": 400, "development": 1500}
    targets = ("builder", "development", "ci", "production")
    assert docker.disk_problem(6 << 30, targets, budgets, "/var/lib/docker") is None
    problem = docker.disk_problem(2 << 30, targets, budgets, "/var/lib/docker")
    assert problem.startswith("only 2.0 GiB are free on /var/lib/docker (Docker's data root)")
    assert "needs about 4.5 GiB" in problem and "docker builder prune" in problem
    assert docker.disk_problem(0, targets, {}, "/x") is None  # no budgets, nothing to compare


def test_the_source_label_names_the_repository_that_built_the_image(cfg):
    env = {"GITHUB_REPOSITORY": "a-fork/mlc-ci", "GITHUB_SERVER_URL": "https://github.com"}
    built = docker.labels(cfg, docker.git_context(env, LOCAL, 0))
    assert built["org.opencontainers.image.source"] == "https://github.com/a-fork/mlc-ci"
    assert built["org.opencontainers.image.url"] == cfg.project.url
    local = docker.labels(cfg, docker.git_context({}, LOCAL, 0))
    assert local["org.opencontainers.image.source"] == cfg.project.url


@pytest.mark.parametrize(
    ("tag", "tls"),
    [
        ("127.0.0.1:5000/r/app:1", True),
        ("127.0.0.1/r/app:1", True),
        ("localhost:5000/app:1", True),
        ("[::1]:5000/app:1", True),
        ("localhost.example.com/app:1", False),  # a real host whose name starts like loopback
        ("127.0.0.10:5000/app:1", False),
        ("ghcr.io/o/app:1", False),
    ],
)
def test_only_a_loopback_registry_is_spoken_to_in_plain_http(tag, tls):
    flag = ("--tls-verify=false",) if tls else ()
    assert docker.inspect_argv(tag) == ("skopeo", "inspect", "--raw", *flag, f"docker://{tag}")
    digest = "sha256:" + "a" * 64
    sides = ("--src-tls-verify=false", "--dest-tls-verify=false") if tls else ()
    assert docker.promote_argv(tag, digest, tag + "-x") == (
        "skopeo",
        "copy",
        "--all",
        *sides,
        f"docker://{docker.repository_of(tag)}@{digest}",
        f"docker://{tag}-x",
    )


def test_the_builder_choice_messages_are_exact():
    with pytest.raises(PipelineError) as caught:
        docker.choose_builder("auto", True, 28, False)
    assert str(caught.value) == (
        "no Docker engine is reachable; start dockerd (or Docker Desktop) or set DOCKER_HOST."
    )
    with pytest.raises(PipelineError) as caught:
        docker.choose_builder("buildx", False, 20, True)
    assert str(caught.value) == (
        "builder 'buildx' was requested but `docker buildx` is not installed; install the buildx "
        "plugin or set MLC_CI_BUILDER=buildkit."
    )
    with pytest.raises(PipelineError) as caught:
        docker.choose_builder("auto", False, 23, True)
    assert str(caught.value) == (
        "this docker CLI (23.x) has no buildx plugin, so it cannot build with BuildKit; install "
        "docker-buildx, or set MLC_CI_DOCKER to a CLI that builds with DOCKER_BUILDKIT=1 (e.g. "
        "Debian's /usr/bin/docker)."
    )
    assert docker.choose_builder("auto", False, 22, True) == "buildkit"
    assert docker.choose_builder("auto", False, None, True) == "buildkit"
    assert docker.choose_builder("buildkit", True, 20, True) == "buildkit"
    assert docker.choose_builder("auto", True, 28, True) == "buildx"


def test_the_disk_need_is_the_targets_budgets_plus_the_largest_again():
    budgets = {"ci": 60 * 1024, "production": 40 * 1024}
    need = (60 + 40 + 60) * 1024 << 20
    assert docker.disk_problem(need, ["ci", "production", "builder"], budgets, "/d") is None
    assert docker.disk_problem(need - 1, ["ci", "production", "builder"], budgets, "/d")
    assert docker.disk_problem(need - (200 << 20), ["ci", "production"], budgets, "/d") == (
        "only 159.8 GiB are free on /d (Docker's data root); building ci, production needs "
        "about 160.0 GiB ([image].size_budget_mb); free space with `docker builder prune` and "
        "`docker image prune`, or build fewer targets."
    )
    # Free space counts in whole MiB: 1.5 MiB is 1 MiB.
    assert docker.disk_problem(3 << 19, ["a"], {"a": 1}, "/d").startswith("only 0.0 GiB")


def test_the_context_takes_the_commit_time_and_the_servers_url(cfg):
    context = docker.git_context(
        {"GITHUB_REPOSITORY": "o/r", "GITHUB_SERVER_URL": "https://ghe.example/"},
        {**LOCAL, "commit_epoch": 86400},
        7,
    )
    assert (context.created_epoch, context.now_epoch, context.event, context.pr_number) == (
        86400,
        7,
        "push",
        None,
    )
    assert context.repository_url == "https://ghe.example/o/r"
    assert docker.git_context({}, LOCAL, 7).created_epoch is None
    assert docker.git_context({"SOURCE_DATE_EPOCH": "5"}, LOCAL, 7).created_epoch == 5
    assert docker.git_context({"GITHUB_REPOSITORY": " "}, LOCAL, 7).repository_url == ""
    assert docker.labels(cfg, context)["org.opencontainers.image.created"] == "1970-01-02T00:00:00Z"
    pr = docker.git_context(
        {"GITHUB_REF": "refs/pull/12/merge", "GITHUB_EVENT_NAME": "pull_request"}, LOCAL, 0
    )
    assert pr.pr_number == 12 and pr.is_pull_request
    tags = docker.image_tags(cfg, cfg.variant("cpu"), "production", pr)
    assert tags == [
        "reg.example:5000/team/demo:pr-12-cpu",
        "reg.example:5000/team/demo:sha-0123456-cpu",
    ]
    assert docker.image_name("reg/o/demo", "GHCR.io/Fork/") == "ghcr.io/fork/demo"
