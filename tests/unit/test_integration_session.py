"""The integration session's plan: which images it hands to pytest, and how it says so.

Reports are real files in tmp_path in docker-build's shape; the plan is parsed with the real
CLI parser. No engine is needed: nothing here runs pytest.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from mlc_ci import cli, config, images
from mlc_ci.errors import PipelineError
from mlc_ci.sessions import integration, registry

pytestmark = pytest.mark.unit


def image_artifact(target: str, *tags: str) -> dict:
    """One image entry of a docker-build report."""
    return {
        "name": tags[0],
        "path": "",
        "size": 1,
        "sha256": "ab",
        "details": {"kind": "image", "target": target, "id": "sha256:ab", "tags": list(tags)},
    }


def write_report(reports: Path, variant: str = "cpu", status: str = "passed", artifacts=None):
    """A docker-build report as the session writes it."""
    reports.mkdir(parents=True, exist_ok=True)
    path = reports / f"docker-build-{variant}.json"
    if artifacts is None:
        artifacts = [
            image_artifact("builder", "r/x:main-cpu-builder", "r/x:sha-1-cpu-builder"),
            image_artifact("production", "r/x:main-cpu", "r/x:latest-cpu"),
            {"name": "w.whl", "path": "dist/w.whl", "size": 1, "sha256": "cd", "details": {}},
        ]
    path.write_text(json.dumps({"status": status, "artifacts": artifacts}), encoding="utf-8")
    return path


@pytest.fixture(name="cfg")
def fixture_cfg(make_config):
    return config.load(make_config(), env={})


def parse(cfg: config.Config, *argv: str):
    """Arguments of `python -m mlc_ci integration ARGV`, through the real parser."""
    return cli.build_parser(registry()).parse_args(
        ["integration", "--config", str(cfg.path), *argv]
    )


# --- images_from_flags ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, expected",
    [
        ([], {}),
        (["r/x:1"], {"production": "r/x:1"}),
        (["production=r/x:1"], {"production": "r/x:1"}),
        (
            ["ci=r/x:ci", "development=r/x:dev", "builder=sha256:ab"],
            {"ci": "r/x:ci", "development": "r/x:dev", "builder": "sha256:ab"},
        ),
        (["127.0.0.1:5000/x:1"], {"production": "127.0.0.1:5000/x:1"}),
        (["ci=r/x:1", "ci=r/x:1"], {"ci": "r/x:1"}),
    ],
)
def test_images_from_flags(values, expected):
    assert integration.images_from_flags(values) == expected


@pytest.mark.parametrize(
    "values, message",
    [
        (["prod=r/x:1"], "--image prod=r/x:1: use TARGET=REF with TARGET one of builder, "),
        (["ci="], "--image ci=: use TARGET=REF"),
        (["=r/x:1"], "use TARGET=REF"),
        (["ci=r/x:1", "ci=r/x:2"], r"--image names two ci images \(r/x:1 and r/x:2\); keep one"),
    ],
)
def test_images_from_flags_errors(values, message):
    with pytest.raises(PipelineError, match=message):
        integration.images_from_flags(values)


# --- the report reader the session uses -------------------------------------------------------


def test_images_from_report_takes_each_image_target_first_tag(tmp_path):
    report = json.loads(write_report(tmp_path).read_text(encoding="utf-8"))
    assert images.from_report(report) == {
        "builder": "r/x:main-cpu-builder",
        "production": "r/x:main-cpu",
    }
    assert images.from_report({}) == {}


# --- plan -------------------------------------------------------------------------------------


def test_plan_from_the_docker_build_report(cfg, tmp_path):
    reports = tmp_path / "reports"
    path = write_report(reports)
    plan = integration.plan(parse(cfg), cfg, {"MLC_CI_REPORTS_DIR": str(reports)})
    engine, load, step = plan.steps
    assert engine.title == "check the Docker engine" and engine.action is not None
    assert load.title.startswith("load the images the engine lacks (from ")
    assert step.argv == (
        "python",
        "-m",
        "pytest",
        "tests/integration",
        "-m",
        "integration",
        f"--junitxml={reports}/integration-cpu/junit.xml",
    )
    assert json.loads(step.env["MLC_CI_IMAGES"]) == {
        "builder": "r/x:main-cpu-builder",
        "production": "r/x:main-cpu",
    }
    assert step.env["MLC_CI_CONFIG"] == str(cfg.path)
    assert step.env["MLC_CI_VARIANT"] == "cpu"
    assert step.env["MLC_CI_DOCKER_REPORT"] == str(path.resolve())
    assert plan.report_name == "integration-cpu"
    assert plan.data == {
        "images": {"builder": "r/x:main-cpu-builder", "production": "r/x:main-cpu"},
        "variant": "cpu",
        "source": str(path),
    }
    assert plan.notes == [
        f"images from {path}: builder=r/x:main-cpu-builder, production=r/x:main-cpu"
    ]


def test_plan_with_image_flags_reads_no_report(cfg, tmp_path):
    args = parse(cfg, "--image", "ci=r/x:ci", "--image", "r/x:prod", "--", "-k", "smoke")
    plan = integration.plan(args, cfg, {"MLC_CI_REPORTS_DIR": str(tmp_path / "none")})
    _, step = plan.steps
    assert json.loads(step.env["MLC_CI_IMAGES"]) == {"ci": "r/x:ci", "production": "r/x:prod"}
    assert "MLC_CI_DOCKER_REPORT" not in step.env
    assert step.argv[-2:] == ("-k", "smoke")
    assert plan.data["source"] == "--image"


def test_plan_variant_from_flag_or_environment(make_config, tmp_path):
    from tests.conftest import MINIMAL  # pylint: disable=import-outside-toplevel

    text = MINIMAL + '\n[variants.cu130]\ndistribution = "demo-cu130"\ncuda = "13.0"\n'
    cfg = config.load(make_config(text), env={})
    reports = tmp_path / "reports"
    write_report(reports, "cu130")
    env = {"MLC_CI_REPORTS_DIR": str(reports)}
    by_flag = integration.plan(parse(cfg, "--variant", "cu130"), cfg, env)
    # MLC_CI_VARIANT is read where the configuration is loaded (config.py), nowhere else.
    from_env = config.load(cfg.path, env={"MLC_CI_VARIANT": "cu130"})
    by_env = integration.plan(parse(from_env), from_env, env)
    for plan in (by_flag, by_env):
        assert plan.steps[-1].env["MLC_CI_VARIANT"] == "cu130"
        assert plan.steps[-1].env["MLC_CI_DOCKER_REPORT"].endswith("docker-build-cu130.json")
    with pytest.raises(PipelineError, match="unknown variant 'rocm'"):
        integration.plan(parse(cfg, "--variant", "rocm"), cfg, env)


@pytest.mark.parametrize(
    "write, message",
    [
        (
            lambda reports: None,
            # The hint keeps --config: the build must be of the same pipeline.toml.
            "does not exist; run `nox -s docker-build -- all --variant cpu --config .*pipeline",
        ),
        (
            lambda reports: write_report(reports, status="failed"),
            "records a docker-build that failed",
        ),
        (
            lambda reports: write_report(reports, artifacts=[]),
            "lists no images; run `nox -s docker-build",
        ),
        (
            lambda reports: (reports / "docker-build-cpu.json").write_text("{", encoding="utf-8"),
            "is not valid JSON",
        ),
    ],
)
def test_plan_without_usable_images_says_how_to_get_them(cfg, tmp_path, write, message):
    reports = tmp_path / "reports"
    reports.mkdir()
    write(reports)
    with pytest.raises(PipelineError, match=message):
        integration.plan(parse(cfg), cfg, {"MLC_CI_REPORTS_DIR": str(reports)})


def test_dry_run_through_the_cli_prints_the_pytest_command(cfg, monkeypatch, capsys):
    monkeypatch.delenv("MLC_CI_VARIANT", raising=False)
    out = io.StringIO()
    code = cli.main(
        ["plan", "integration", "--", "--config", str(cfg.path), "--image", "r/x:1"], out=out
    )
    assert code == 0, capsys.readouterr().err
    text = out.getvalue()
    assert 'MLC_CI_IMAGES=\'{"production": "r/x:1"}\'' in text
    assert "python -m pytest tests/integration -m integration" in text
    assert "images from --image: production=r/x:1" in text


def test_bad_image_flag_is_one_line_through_the_cli(cfg, capsys):
    code = cli.main(["integration", "--config", str(cfg.path), "--image", "nope=r/x:1"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "mlc-ci: error: --image nope=r/x:1: use TARGET=REF with TARGET one of builder, "
        "development, ci, production."
    ]
