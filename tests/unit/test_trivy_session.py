"""The trivy session's plan and its Python steps on real files (no engine, no trivy).

The reports the steps read are the fixtures in tests/fixtures/trivy, which follow trivy's
documented JSON and SARIF output. Where a test needs `docker` to answer an image query, a small
stand-in script plays it at the process boundary (the test says so).
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat

import pytest

from mlc_ci import cli, config
from mlc_ci import report as report_mod
from mlc_ci.errors import PipelineError
from mlc_ci.plan import trivy as plan_trivy
from mlc_ci.sessions import registry
from mlc_ci.sessions import trivy as session

pytestmark = pytest.mark.unit

IMAGE_TOML = '\n[image]\nname = "reg.example/demo"\n'
SLUG = "reg.example-demo-production"


@pytest.fixture(name="cfg")
def fixture_cfg(make_config):
    from tests.conftest import MINIMAL  # pylint: disable=import-outside-toplevel

    return config.load(make_config(MINIMAL + IMAGE_TOML), env={})


@pytest.fixture(name="fixtures")
def fixture_fixtures(root):
    return root / "tests" / "fixtures" / "trivy"


@pytest.fixture(name="env")
def fixture_env(tmp_path, fixtures):
    """A PATH without trivy, the stand-in trivy named by MLC_CI_TRIVY, reports in tmp.

    The reports hold what docker-build records for the cpu variant's images.
    """
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    built = {
        "status": "passed",
        "artifacts": [
            {
                "name": f"reg.example/demo:{t}",
                "details": {"kind": "image", "target": t, "tags": [f"reg.example/demo:{t}"]},
            }
            for t in ("ci", "production")
        ],
    }
    report_mod.write_json(built, tmp_path / "reports" / "docker-build-cpu.json")
    return {
        "PATH": str(empty),
        "HOME": str(tmp_path / "home"),
        "MLC_CI_TRIVY": str(fixtures / "fake_trivy.py"),
        "MLC_CI_REPORTS_DIR": str(tmp_path / "reports"),
    }


def args(**kw):
    """Parsed trivy arguments."""
    base = {
        "image": None,
        "target": None,
        "variant": None,
        "severity": None,
        "ignore_unfixed": None,
        "offline": False,
        "cache_dir": None,
        "dist": None,
        "sbom_only": False,
        "dry_run": False,
    }
    return argparse.Namespace(**{**base, **kw})


def steps_by_title(plan):
    """Map step title -> step."""
    return {step.title: step for step in plan.steps + plan.cleanup}


def executable(path, text):
    """Write an executable script."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def staged(plan, fixtures, raw="report-findings.json"):
    """Put what the three trivy steps write into the plan's staging directory."""
    step = steps_by_title(plan)["trivy convert (cyclonedx)"]
    stage = step.cwd
    shutil.copyfile(fixtures / raw, f"{stage}/{SLUG}.json")
    shutil.copyfile(fixtures / "report.sarif", f"{stage}/{SLUG}.sarif")
    shutil.copyfile(fixtures / "image.cdx.json", f"{stage}/{SLUG}.cdx.json")


def run_actions(plan, ctx, *titles):
    """Run the Python steps named, in order."""
    steps = steps_by_title(plan)
    for title in titles:
        steps[title].action(ctx)
    return ctx


GATE = "gate: HIGH and above"
PUBLISH = "check and keep reports"
PREPARE = "prepare staging and ignore file"


# --- the plan ----------------------------------------------------------------------------------


def test_dry_run_plan_without_trivy(cfg, tmp_path, monkeypatch, env):
    monkeypatch.chdir(tmp_path)
    del env["MLC_CI_TRIVY"]
    plan = session.plan(args(dry_run=True), cfg, env)
    assert plan.report_name == f"trivy-{SLUG}"
    load = f"load the images the engine lacks (from {tmp_path / 'dist' / 'images'})"
    assert [s.title for s in plan.steps] == [
        PREPARE,
        load,  # a fresh runner's engine gets the image from docker-build's archive
        "inspect image",
        "docker save",
        "trivy image (json)",
        "trivy convert (sarif)",
        "trivy convert (cyclonedx)",
        PUBLISH,
        GATE,
    ]
    assert plan.notes[0].startswith("scanner: none (dry run: ")  # why depends on the engine
    assert plan_trivy.INSTALL_HINT in plan.notes[0]
    assert plan.notes[1] == "gate: HIGH and above; findings without a fix set aside"
    assert any("no wheels in" in note for note in plan.notes)
    steps = steps_by_title(plan)
    assert steps["docker save"].argv[-1] == "reg.example/demo:production"
    scan = steps["trivy image (json)"]
    assert scan.argv[:2] == ("trivy", "image") and scan.cwd.endswith(SLUG)
    assert scan.argv[-2:] == ("--cache-dir", str(tmp_path / "home" / ".cache" / "trivy"))
    assert plan.data["image"] == "reg.example/demo:production" and plan.data["threshold"] == "HIGH"


def test_flags_override_the_policy(cfg, tmp_path, monkeypatch, env):
    monkeypatch.chdir(tmp_path)
    plan = session.plan(
        args(
            image="other:1",
            severity="critical",
            ignore_unfixed=False,
            offline=True,
            cache_dir="db-cache",
        ),
        cfg,
        env,
    )
    assert plan.report_name == "trivy-other-1"
    assert plan.data["threshold"] == "CRITICAL" and plan.data["ignore_unfixed"] is False
    assert plan.notes[1] == "gate: CRITICAL and above"
    assert f"offline: trivy database from {tmp_path / 'db-cache'}" in plan.notes
    steps = steps_by_title(plan)
    assert steps["trivy image (json)"].argv[-3:] == (
        "--skip-db-update",
        "--skip-java-db-update",
        "--offline-scan",
    )
    assert "CRITICAL" in steps["trivy convert (sarif)"].argv
    assert "gate: CRITICAL and above" in steps


def test_target_names_the_image(cfg, tmp_path, monkeypatch, env):
    monkeypatch.chdir(tmp_path)
    plan = session.plan(args(target="ci"), cfg, env)
    assert plan.data["image"] == "reg.example/demo:ci"
    with pytest.raises(PipelineError, match="has no 'development' image"):
        session.plan(args(target="development"), cfg, env)


def test_target_needs_a_docker_build_report(cfg, tmp_path, monkeypatch, env):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reports" / "docker-build-cpu.json").write_text("{broken")
    with pytest.raises(PipelineError, match="is not valid JSON"):
        session.plan(args(), cfg, env)
    (tmp_path / "reports" / "docker-build-cpu.json").write_text('{"status": "failed"}')
    with pytest.raises(PipelineError, match="docker-build that failed"):
        session.plan(args(), cfg, env)
    (tmp_path / "reports" / "docker-build-cpu.json").unlink()
    with pytest.raises(PipelineError, match="does not exist; run `nox -s docker-build -- all"):
        session.plan(args(), cfg, env)


def test_bad_severity_fails_before_anything_runs(cfg, env):
    with pytest.raises(PipelineError, match="unknown severity 'SEVERE'"):
        session.plan(args(severity="SEVERE"), cfg, env)


# --- finding the scanner -----------------------------------------------------------------------


def test_scanner_from_path_then_env(cfg, tmp_path, monkeypatch, env):
    monkeypatch.chdir(tmp_path)
    del env["MLC_CI_TRIVY"]
    trivy_bin = executable(tmp_path / "empty-bin" / "trivy", "#!/bin/sh\n")
    plan = session.plan(args(), cfg, env)
    assert plan.data["scanner"] == [str(trivy_bin)]
    assert plan.notes[0] == f"scanner: {trivy_bin}"
    env["MLC_CI_TRIVY"] = str(tmp_path / "nowhere" / "trivy")
    with pytest.raises(PipelineError, match="MLC_CI_TRIVY is .* not an executable"):
        session.plan(args(), cfg, env)


def test_no_trivy_and_no_engine_is_one_clear_error(tmp_path, env):
    del env["MLC_CI_TRIVY"]
    layout = session.Layout("img:1", tmp_path)
    with pytest.raises(PipelineError) as info:
        session.find_scanner(str(tmp_path / "no-docker"), env, layout, "/c", False, False)
    text = str(info.value)
    assert text.startswith("no trivy to scan with: trivy is not on PATH")
    assert "no-docker` does not exist" in text and "MLC_CI_TRIVY" in text
    assert "\n" not in text


STAND_IN_DOCKER = """#!/bin/sh
# Stand-in for `docker` at the process boundary: answers the two image queries the session asks.
if [ "$1 $2" = "image ls" ]; then printf '%s' "$LISTING"; exit 0; fi
if [ "$1 $2" = "image inspect" ] && [ "$3" = "mine/trivy:1" ]; then echo '[{}]'; exit 0; fi
echo "Error response from daemon: No such image: $3" >&2
exit 1
"""


def test_local_trivy_image_is_used_only_when_the_engine_has_it(tmp_path, env, monkeypatch):
    """`docker` is a stand-in script here; the real engine is exercised by the integration tests."""
    docker = str(executable(tmp_path / "docker", STAND_IN_DOCKER))
    del env["MLC_CI_TRIVY"]
    layout = session.Layout("img:1", tmp_path)
    monkeypatch.setenv("LISTING", "aquasec/trivy:<none>\naquasec/trivy:0.58.1\n")
    scanner = session.find_scanner(docker, env, layout, "/c", True, False)
    assert scanner.argv[:5] == (docker, "run", "--rm", "--user", f"{os.getuid()}:{os.getgid()}")
    assert scanner.argv[-1] == "aquasec/trivy:0.58.1" and "none" in scanner.argv
    assert f"{layout.stage}:{layout.stage}" in scanner.argv and "/c:/c" in scanner.argv
    assert scanner.how == "scanner: container image aquasec/trivy:0.58.1 (no trivy binary on PATH)"
    env["MLC_CI_TRIVY_IMAGE"] = "mine/trivy:1"
    assert session.find_scanner(docker, env, layout, "/c", False, False).argv[-1] == (
        "mine/trivy:1"
    )
    env["MLC_CI_TRIVY_IMAGE"] = "other/trivy:2"
    with pytest.raises(PipelineError, match="No such image: other/trivy:2"):
        session.find_scanner(docker, env, layout, "/c", False, False)
    del env["MLC_CI_TRIVY_IMAGE"]
    monkeypatch.setenv("LISTING", "")
    with pytest.raises(PipelineError, match="the engine has no aquasec/trivy image; install"):
        session.find_scanner(docker, env, layout, "/c", False, False)


@pytest.mark.parametrize(
    "explicit, env, expected",
    [
        ("x", {"TRIVY_CACHE_DIR": "/t"}, "{tmp}/x"),
        (None, {"TRIVY_CACHE_DIR": "/t"}, "/t"),
        (None, {"XDG_CACHE_HOME": "/xdg", "HOME": "/h"}, "/xdg/trivy"),
        (None, {"HOME": "/h"}, "/h/.cache/trivy"),
    ],
)
def test_cache_dir_precedence(tmp_path, monkeypatch, explicit, env, expected):
    monkeypatch.chdir(tmp_path)
    assert session._cache_dir(explicit, env) == expected.format(  # pylint: disable=protected-access
        tmp=tmp_path
    )


# --- staging -----------------------------------------------------------------------------------


def test_prepare_parses_and_copies_the_ignore_file(cfg, tmp_path, monkeypatch, env):
    monkeypatch.chdir(tmp_path)
    (cfg.root / ".trivyignore").write_text("CVE-2023-0286 exp:2099-01-01\n", encoding="utf-8")
    plan = session.plan(args(cache_dir="cache"), cfg, env)
    ctx = run_actions(plan, {}, PREPARE)
    assert [e.id for e in ctx["ignores"]] == ["CVE-2023-0286"]
    stage = tmp_path / ".cache" / "mlc-ci" / "trivy" / SLUG
    assert (stage / "ignorefile").read_text(encoding="utf-8").startswith("CVE-2023-0286")
    assert (tmp_path / "cache").is_dir()


def test_prepare_without_ignore_file_writes_an_empty_one(cfg, tmp_path, monkeypatch, env):
    monkeypatch.chdir(tmp_path)
    plan = session.plan(args(), cfg, env)
    ctx = run_actions(plan, {}, PREPARE)
    assert not ctx["ignores"]
    assert (tmp_path / ".cache" / "mlc-ci" / "trivy" / SLUG / "ignorefile").read_text() == ""


def test_bad_expiry_date_fails_before_the_scan(cfg, tmp_path, monkeypatch, env):
    monkeypatch.chdir(tmp_path)
    (cfg.root / ".trivyignore").write_text("CVE-1 exp:2025-02-30\n", encoding="utf-8")
    plan = session.plan(args(), cfg, env)
    with pytest.raises(PipelineError, match=r"\.trivyignore:1: expiry 'exp:2025-02-30'"):
        run_actions(plan, {}, PREPARE)


def test_offline_needs_a_seeded_database(cfg, tmp_path, monkeypatch, env):
    monkeypatch.chdir(tmp_path)
    plan = session.plan(args(offline=True, cache_dir="seed"), cfg, env)
    with pytest.raises(PipelineError) as info:
        run_actions(plan, {}, PREPARE)
    assert "--offline needs trivy's vulnerability database" in str(info.value)
    assert "db/trivy.db is missing" in str(info.value) and "--download-db-only" in str(info.value)
    for name in ("db/trivy.db", "db/metadata.json"):
        (tmp_path / "seed" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "seed" / name).write_text("x", encoding="utf-8")
    run_actions(plan, {}, PREPARE)


# --- keeping reports and the gate --------------------------------------------------------------


def test_failed_gate_keeps_every_report_then_names_the_worst(
    cfg, tmp_path, monkeypatch, env, fixtures, capsys
):
    monkeypatch.chdir(tmp_path)
    plan = session.plan(args(), cfg, env)
    ctx = run_actions(plan, {"image_json": '[{"Id": "sha256:feed"}]'}, PREPARE)
    staged(plan, fixtures)
    run_actions(plan, ctx, PUBLISH)
    reports = tmp_path / "reports"
    assert sorted(p.relative_to(reports).as_posix() for p in reports.rglob("*")) == [
        "docker-build-cpu.json",
        "sbom",
        f"sbom/{SLUG}.cdx.json",
        "trivy",
        f"trivy/{SLUG}.json",
        f"trivy/{SLUG}.sarif",
    ]
    assert [a.details["kind"] for a in ctx["artifacts"]] == ["trivy-json", "sarif", "sbom"]
    data = ctx["report"]["trivy"]
    assert data["image_id"] == "sha256:feed" and data["sarif_results"] == 1
    assert data["counts"]["CRITICAL"]["blocking"] == 1 and data["passed"] is False
    out = capsys.readouterr().out
    assert "6 findings, 2 blocking (gate: HIGH and above, unfixed set aside)" in out
    assert "top findings:" in out and "CVE-2022-3602" in out
    with pytest.raises(PipelineError) as info:
        run_actions(plan, ctx, GATE)
    assert info.value.exit_code == 1
    assert "2 findings remain at HIGH or above (worst: CRITICAL CVE-2022-3602" in str(info.value)


def test_ignore_file_passes_the_gate_and_expired_entries_are_noted(
    cfg, tmp_path, monkeypatch, env, fixtures, capsys
):
    monkeypatch.chdir(tmp_path)
    ignore = cfg.root / ".trivyignore"
    ignore.write_text("CVE-2022-3602 exp:2099-12-31\nCVE-2023-0286\n", encoding="utf-8")
    plan = session.plan(args(), cfg, env)
    ctx = run_actions(plan, {}, PREPARE)
    staged(plan, fixtures)
    run_actions(plan, ctx, PUBLISH, GATE)
    assert ctx["report"]["trivy"]["passed"] is True
    ignore.write_text("CVE-2022-3602 exp:2020-01-01\nCVE-2023-0286\n", encoding="utf-8")
    ctx = run_actions(plan, {}, PREPARE)
    staged(plan, fixtures)
    run_actions(plan, ctx, PUBLISH)
    assert ".trivyignore:1: CVE-2022-3602 expired on 2020-01-01" in capsys.readouterr().out
    with pytest.raises(PipelineError, match="1 finding remains"):
        run_actions(plan, ctx, GATE)


def test_unfixed_findings_block_with_no_ignore_unfixed(cfg, tmp_path, monkeypatch, env, fixtures):
    monkeypatch.chdir(tmp_path)
    (cfg.root / ".trivyignore").write_text("CVE-2022-3602\nCVE-2023-0286\n", encoding="utf-8")
    plan = session.plan(args(ignore_unfixed=False), cfg, env)
    ctx = run_actions(plan, {}, PREPARE)
    staged(plan, fixtures)
    run_actions(plan, ctx, PUBLISH)
    with pytest.raises(PipelineError, match="worst: HIGH CVE-2022-3715 in bash .*no fix yet"):
        run_actions(plan, ctx, GATE)


def test_clean_report_passes(cfg, tmp_path, monkeypatch, env, fixtures, capsys):
    monkeypatch.chdir(tmp_path)
    plan = session.plan(args(), cfg, env)
    ctx = run_actions(plan, {}, PREPARE)
    staged(plan, fixtures, raw="report-clean.json")
    run_actions(plan, ctx, PUBLISH, GATE)
    assert "0 findings, 0 blocking" in capsys.readouterr().out
    assert ctx["report"]["trivy"]["image_id"] == ""


def test_malformed_report_fails_and_keeps_nothing(cfg, tmp_path, monkeypatch, env, fixtures):
    monkeypatch.chdir(tmp_path)
    plan = session.plan(args(), cfg, env)
    ctx = run_actions(plan, {}, PREPARE)
    staged(plan, fixtures)
    stage = steps_by_title(plan)["trivy image (json)"].cwd
    with open(f"{stage}/{SLUG}.json", "w", encoding="utf-8") as handle:
        handle.write('{"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{}]}]}')
    with pytest.raises(PipelineError, match="malformed trivy report .* has no VulnerabilityID"):
        run_actions(plan, ctx, PUBLISH)
    assert [p.name for p in (tmp_path / "reports").iterdir()] == ["docker-build-cpu.json"]


def test_gate_never_passes_without_a_scan(cfg, tmp_path, monkeypatch, env):
    monkeypatch.chdir(tmp_path)
    plan = session.plan(args(), cfg, env)
    with pytest.raises(PipelineError, match="cannot pass unscanned"):
        run_actions(plan, {}, GATE)


def test_cleanup_removes_the_tarball(cfg, tmp_path, monkeypatch, env):
    monkeypatch.chdir(tmp_path)
    plan = session.plan(args(), cfg, env)
    run_actions(plan, {}, PREPARE)
    tarball = steps_by_title(plan)["docker save"].argv[3]
    with open(tarball, "w", encoding="utf-8") as handle:
        handle.write("layers")
    run_actions(plan, {}, "remove image tarball", "remove image tarball")
    assert not os.path.exists(tarball)


# --- wheel SBOMs -------------------------------------------------------------------------------


def test_sbom_only_needs_a_wheel(cfg, tmp_path, monkeypatch, env):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PipelineError, match="no wheel in .*dist can be described here"):
        session.plan(args(sbom_only=True), cfg, env)


def test_wheels_get_sbom_steps_and_foreign_ones_a_note(cfg, tmp_path, monkeypatch, env):
    monkeypatch.chdir(tmp_path)
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "demo_cpu-1.0-py3-none-any.whl").write_bytes(b"")
    (dist / "demo_cpu-1.0-py3-none-win_amd64.whl").write_bytes(b"")
    plan = session.plan(args(sbom_only=True), cfg, env)
    assert plan.report_name == "sbom" and plan.data["wheels"] == ["demo_cpu-1.0-py3-none-any.whl"]
    assert plan.notes == [
        "no SBOM here for demo_cpu-1.0-py3-none-win_amd64.whl: it does not install on this "
        "platform (its own platform's run describes it)"
    ]
    assert len(plan.steps) == 4
    full = session.plan(args(), cfg, env)
    titles = [s.title for s in full.steps]
    # SBOMs come after the reports are kept and before the verdict.
    assert titles.index(PUBLISH) < titles.index("cyclonedx-py for demo_cpu-1.0-py3-none-any.whl")
    assert titles[-1] == GATE


def test_command_line_flags():
    parser = cli.build_parser(registry())
    parsed = parser.parse_args(
        ["trivy", "--target", "ci", "--severity", "CRITICAL", "--no-ignore-unfixed", "--offline"]
    )
    assert (parsed.target, parsed.severity, parsed.ignore_unfixed, parsed.offline) == (
        "ci",
        "CRITICAL",
        False,
        True,
    )
    assert parser.parse_args(["trivy"]).ignore_unfixed is None
    with pytest.raises(SystemExit):
        parser.parse_args(["trivy", "--image", "a:1", "--target", "ci"])
