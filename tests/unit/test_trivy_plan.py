"""Trivy planning: severity policy, .trivyignore, report parsing, the gate, SARIF, commands.

The reports are fixtures in tests/fixtures/trivy that follow trivy's documented JSON
(SchemaVersion 2) and SARIF 2.1.0 output.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from mlc_ci.errors import PipelineError
from mlc_ci.plan import trivy, vulns

pytestmark = pytest.mark.unit

TODAY = date(2025, 3, 1)


@pytest.fixture(name="fixtures")
def fixture_fixtures(root):
    return root / "tests" / "fixtures" / "trivy"


@pytest.fixture(name="findings")
def fixture_findings(fixtures):
    path = fixtures / "report-findings.json"
    return vulns.load_report(path.read_text(encoding="utf-8"), str(path))


def report(*found, schema=2):
    """A minimal trivy JSON report with one result holding the vulnerabilities `found`."""
    return json.dumps(
        {"SchemaVersion": schema, "Results": [{"Target": "t", "Vulnerabilities": list(found)}]}
    )


def vuln(**kw):
    """One vulnerability with the four always-filled fields."""
    base = {
        "VulnerabilityID": "CVE-1",
        "PkgName": "p",
        "InstalledVersion": "1",
        "Severity": "HIGH",
    }
    return {**base, **kw}


# --- severity policy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, threshold",
    [
        ("HIGH,CRITICAL", "HIGH"),
        ("critical", "CRITICAL"),
        ("CRITICAL, medium", "MEDIUM"),
        ("UNKNOWN", "UNKNOWN"),
    ],
)
def test_the_lowest_named_severity_is_the_threshold(text, threshold):
    assert vulns.parse_severity(text) == threshold


def test_policy_expands_to_the_gated_levels():
    policy = vulns.make_policy("HIGH", True)
    assert policy.severities == ("HIGH", "CRITICAL") and policy.ignore_unfixed


@pytest.mark.parametrize("text, fragment", [("HIHG", "unknown severity 'HIHG'"), (" , ", "no sev")])
def test_bad_severity_is_one_clear_error(text, fragment):
    with pytest.raises(PipelineError, match=fragment) as info:
        vulns.parse_severity(text)
    assert "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL" in str(info.value)


# --- .trivyignore ------------------------------------------------------------------------------


def test_ignore_file_format():
    text = (
        "# Accept the risk\nCVE-2018-14618\n\n  # indented comment\n"
        "CVE-2019-14697 exp:2023-01-01\nAVD-DS-0002 some words exp:2030-12-31\n"
    )
    entries = vulns.parse_ignore(text, ".trivyignore")
    assert [(e.id, e.line, e.expires) for e in entries] == [
        ("CVE-2018-14618", 2, None),
        ("CVE-2019-14697", 5, date(2023, 1, 1)),
        ("AVD-DS-0002", 6, date(2030, 12, 31)),
    ]


def test_expiry_is_reached_on_the_day_itself():
    entry = vulns.IgnoreEntry("CVE-1", 1, date(2025, 3, 1))
    assert entry.expired(date(2025, 3, 1)) and not entry.expired(date(2025, 2, 28))
    assert not vulns.IgnoreEntry("CVE-2", 2).expired(TODAY)


@pytest.mark.parametrize("word", ["exp:2025-13-01", "exp:tomorrow", "exp:2025-1-1", "exp:"])
def test_bad_expiry_date_names_the_line(word):
    with pytest.raises(PipelineError, match=r"\.trivyignore:3: expiry .* exp:YYYY-MM-DD"):
        vulns.parse_ignore(f"# c\nCVE-1\nCVE-2 {word}\n", ".trivyignore")


# --- report parsing ----------------------------------------------------------------------------


def test_fixture_report_is_read_whole(findings):
    assert len(findings) == 6
    first = findings[0]
    assert (first.id, first.package, first.installed, first.fixed_version, first.status) == (
        "CVE-2023-0286",
        "libssl3",
        "3.0.2-0ubuntu1.7",
        "3.0.2-0ubuntu1.8",
        "fixed",
    )
    assert first.target.endswith("(ubuntu 22.04)") and first.title.startswith("openssl")
    assert findings[-1].target == "Python" and findings[-1].package == "setuptools"


def test_clean_report_with_null_and_missing_vulnerabilities(fixtures):
    text = (fixtures / "report-clean.json").read_text(encoding="utf-8")
    assert not vulns.load_report(text, "clean.json")
    assert not vulns.load_report(json.dumps({"SchemaVersion": 2}), "empty.json")


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("{not json", "not JSON"),
        ("[]", "top level is not an object"),
        (report(vuln(), schema=1), "SchemaVersion is 1"),
        (json.dumps({"SchemaVersion": 2, "Results": {}}), "Results is not a list"),
        (json.dumps({"SchemaVersion": 2, "Results": ["x"]}), r"Results\[0\] is not an object"),
        (
            json.dumps({"SchemaVersion": 2, "Results": [{"Vulnerabilities": {}}]}),
            "Vulnerabilities is not a list",
        ),
        (report("x"), r"Vulnerabilities\[0\] is not an object"),
        (report(vuln(), vuln(PkgName="")), r"Vulnerabilities\[1\] has no PkgName"),
        (report(vuln(VulnerabilityID=None)), "has no VulnerabilityID"),
        (report(vuln(Severity="SEVERE")), "unknown Severity 'SEVERE'"),
    ],
)
def test_malformed_report_is_one_clear_error(text, fragment):
    with pytest.raises(PipelineError, match=fragment) as info:
        vulns.load_report(text, "out.json")
    assert str(info.value).startswith("malformed trivy report out.json: ")


def test_a_finding_keeps_every_field_and_each_required_one_is_checked():
    full = vuln(FixedVersion="2", Status="fixed", Title="bad", Extra=1)
    assert vulns.load_report(report(full), "r.json") == [
        vulns.Finding("CVE-1", "p", "1", "HIGH", "2", "fixed", "t", "bad")
    ]
    bare = vulns.load_report(report(vuln(FixedVersion=None, Title=None)), "r.json")[0]
    assert (bare.fixed_version, bare.status, bare.title) == ("", "", "")
    no_target = json.dumps({"SchemaVersion": 2, "Results": [{"Vulnerabilities": [vuln()]}]})
    assert vulns.load_report(no_target, "r.json")[0].target == ""
    for key in ("VulnerabilityID", "PkgName", "InstalledVersion", "Severity"):
        for bad in ("", 7):
            with pytest.raises(PipelineError) as info:
                vulns.load_report(report(vuln(**{key: bad})), "r.json")
            assert str(info.value) == (
                f"malformed trivy report r.json: Results[0].Vulnerabilities[0] has no {key}; "
                "re-run the scan (the gate reads `trivy image --format json` output)."
            )
    nulls = json.dumps({"SchemaVersion": 2, "Results": [{"Vulnerabilities": None}, {}]})
    assert not vulns.load_report(nulls, "r.json")
    assert not vulns.load_report(json.dumps({"SchemaVersion": 2, "Results": None}), "r.json")
    with pytest.raises(PipelineError) as info:
        vulns.load_report(json.dumps({"SchemaVersion": "2"}), "r.json")
    assert "SchemaVersion is '2', mlc-ci reads version 2;" in str(info.value)


@pytest.mark.parametrize(
    "status, fixed_version, fixed",
    [
        ("fixed", "2", True),
        ("affected", "", False),
        ("will_not_fix", "", False),
        ("", "2", True),  # reports before Status existed: a fixed version means a fix
        ("", "", False),
    ],
)
def test_fixed_comes_from_status_then_fixed_version(status, fixed_version, fixed):
    finding = vulns.Finding("CVE-1", "p", "1", "HIGH", fixed_version, status)
    assert finding.fixed is fixed


# --- the gate ----------------------------------------------------------------------------------


def test_gate_fails_on_fixed_critical_and_sets_aside_the_rest(findings):
    result = vulns.evaluate(findings, vulns.make_policy("HIGH", True), [], TODAY)
    assert not result.passed
    assert sorted(f.id for f in result.blocking) == ["CVE-2022-3602", "CVE-2023-0286"]
    assert sorted(f.id for f in result.unfixed) == ["CVE-2016-2781", "CVE-2022-3715"]
    assert sorted(f.id for f in result.below) == ["CVE-2022-40897", "CVE-2022-48303"]
    message = vulns.gate_error(result, "img:prod", ".trivyignore")
    assert "2 findings remain at HIGH or above" in message
    assert "worst: CRITICAL CVE-2022-3602 in libssl3 3.0.2-0ubuntu1.7 (fixed in" in message


def test_gate_passes_when_nothing_reaches_the_threshold(findings):
    below = [f for f in findings if f.severity in ("MEDIUM", "LOW")]
    result = vulns.evaluate(below, vulns.make_policy("HIGH", True), [], TODAY)
    assert result.passed and not result.blocking


def test_live_ignore_entries_pass_the_gate(findings):
    ignores = vulns.parse_ignore("CVE-2022-3602 exp:2025-03-02\nCVE-2023-0286\n", "f")
    result = vulns.evaluate(findings, vulns.make_policy("HIGH", True), ignores, TODAY)
    assert result.passed
    assert sorted(f.id for f in result.ignored) == ["CVE-2022-3602", "CVE-2023-0286"]
    assert not result.expired and not result.unused


def test_expired_ignore_entry_ignores_nothing_and_is_noted(findings):
    ignores = vulns.parse_ignore("CVE-2023-0286\nCVE-2022-3602 exp:2025-03-01\nCVE-9\n", "f")
    result = vulns.evaluate(findings, vulns.make_policy("HIGH", True), ignores, TODAY)
    assert not result.passed and [f.id for f in result.blocking] == ["CVE-2022-3602"]
    lines = vulns.notes(result, ".trivyignore")
    assert lines[0].startswith(".trivyignore:2: CVE-2022-3602 expired on 2025-03-01;")
    assert lines[1] == ".trivyignore:3: CVE-9 matched no finding (remove it when it is obsolete)"
    assert vulns.report_data(result, "img")["expired_ignores"] == ["CVE-2022-3602 exp:2025-03-01"]


def test_unfixed_findings_block_when_not_set_aside(findings):
    result = vulns.evaluate(findings, vulns.make_policy("HIGH", False), [], TODAY)
    assert "CVE-2022-3715" in [f.id for f in result.blocking] and not result.unfixed
    one = [f for f in findings if f.id == "CVE-2022-3715"]
    only = vulns.evaluate(one, vulns.make_policy("HIGH", False), [], TODAY)
    message = vulns.gate_error(only, "img", ".trivyignore")
    assert "1 finding remains" in message and "(no fix yet)" in message


def test_threshold_low_gates_everything_fixable(findings):
    result = vulns.evaluate(findings, vulns.make_policy("LOW", True), [], TODAY)
    assert len(result.blocking) == 4 and not result.below


def test_counts_rows_and_report_data(findings):
    ignores = vulns.parse_ignore("CVE-2023-0286\n", "f")
    result = vulns.evaluate(findings, vulns.make_policy("HIGH", True), ignores, TODAY)
    table = vulns.counts(result)
    assert list(table) == ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"]
    assert table["HIGH"] == {"found": 2, "ignored": 1, "unfixed": 1, "blocking": 0}
    assert table["CRITICAL"]["blocking"] == 1
    rows = vulns.summary_rows(result, top=3)
    assert rows[0] == [
        "CRITICAL",
        "CVE-2022-3602",
        "libssl3",
        "3.0.2-0ubuntu1.7",
        "3.0.2-0ubuntu1.8",
        "blocking",
    ]
    assert [r[5] for r in rows] == ["blocking", "ignored", "unfixed"]
    assert vulns.summary_rows(result)[-1][4:] == ["-", "unfixed"]
    data = vulns.report_data(result, "img")
    assert data["passed"] is False and data["threshold"] == "HIGH"
    assert data["blocking"] == [vulns.describe(result.blocking[0])]


def test_verdict_of_a_finding_below_the_threshold(findings):
    result = vulns.evaluate(findings, vulns.make_policy("CRITICAL", True), [], TODAY)
    medium = next(f for f in findings if f.severity == "MEDIUM")
    assert result.verdict(medium) == "below"


def test_ranked_puts_fixable_first_within_a_severity():
    unfixed = vulns.Finding("CVE-1", "a", "1", "HIGH", status="affected")
    fixable = vulns.Finding("CVE-2", "b", "1", "HIGH", "2", "fixed")
    low = vulns.Finding("CVE-0", "c", "1", "LOW", "2", "fixed")
    assert vulns.ranked([low, unfixed, fixable]) == [fixable, unfixed, low]


# --- SARIF -------------------------------------------------------------------------------------


def test_fixture_sarif_is_sane(fixtures):
    assert vulns.check_sarif((fixtures / "report.sarif").read_text(encoding="utf-8"), "s") == 1


def sarif(**run):
    """A SARIF log with one run overridden by `run`."""
    base = {"tool": {"driver": {"name": "Trivy"}}, "results": []}
    return json.dumps({"version": "2.1.0", "runs": [{**base, **run}]})


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("nope", "not JSON"),
        (json.dumps({"version": "2.0.0", "runs": []}), "version is '2.0.0', not 2.1.0"),
        ("[]", "version is None"),
        (json.dumps({"version": "2.1.0", "runs": []}), "it has no runs"),
        (sarif(tool={}), r"runs\[0\] has no tool.driver.name"),
        (sarif(results=None), r"runs\[0\] has no results list"),
        (sarif(results=[{"message": {"text": "x"}}]), r"results\[0\] has no ruleId"),
        (sarif(results=[{"ruleId": "CVE-1"}]), r"results\[0\] has no message.text"),
    ],
)
def test_bad_sarif_is_one_clear_error(text, fragment):
    with pytest.raises(PipelineError, match=fragment) as info:
        vulns.check_sarif(text, "x.sarif")
    message = str(info.value)
    assert message.startswith("malformed SARIF x.sarif: ")
    assert message.endswith(
        "; GitHub code scanning would reject it (re-run `trivy convert --format sarif`)."
    )


def test_sarif_results_are_counted_over_every_run():
    result = {"ruleId": "CVE-1", "message": {"text": "x"}}
    run = {"tool": {"driver": {"name": "Trivy"}}, "results": [result]}
    two = {"version": "2.1.0", "runs": [run, {**run, "results": [result, result]}]}
    assert vulns.check_sarif(json.dumps(two), "x.sarif") == 3
    broken = {"version": "2.1.0", "runs": [run, {**run, "results": [result, "text"]}]}
    with pytest.raises(PipelineError, match=r"x.sarif: runs\[1\].results\[1\] has no ruleId;"):
        vulns.check_sarif(json.dumps(broken), "x.sarif")
    nameless = {"version": "2.1.0", "runs": [run, "not a run"]}
    with pytest.raises(PipelineError, match=r"x.sarif: runs\[1\] has no tool.driver.name;"):
        vulns.check_sarif(json.dumps(nameless), "x.sarif")


def test_empty_sarif_run_is_fine():
    assert vulns.check_sarif(sarif(), "x.sarif") == 0


# --- names and commands ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image, slug",
    [
        ("ghcr.io/mlc-ai/mlc-llm:production", "ghcr.io-mlc-ai-mlc-llm-production"),
        ("localhost:5000/a/b@sha256:abc", "localhost-5000-a-b-sha256-abc"),
        ("::", "image"),
    ],
)
def test_image_slug(image, slug):
    assert trivy.image_slug(image) == slug


def test_scan_command_online_and_offline():
    online = trivy.scan_argv(("trivy",), "/s/i.tar", "/s/i.json", "/c", offline=False)
    assert online[:8] == (
        "trivy",
        "image",
        "--input",
        "/s/i.tar",
        "--format",
        "json",
        "--output",
        "/s/i.json",
    )
    assert "--list-all-pkgs" in online and online[-2:] == ("--cache-dir", "/c")
    assert not set(trivy.OFFLINE_FLAGS) & set(online)
    offline = trivy.scan_argv(("trivy",), "/s/i.tar", "/s/i.json", "/c", offline=True)
    assert offline[-4:] == ("/c", "--skip-db-update", "--skip-java-db-update", "--offline-scan")


def test_convert_commands():
    policy = vulns.make_policy("MEDIUM", True)
    argv = trivy.sarif_argv(("t",), "r.json", "r.sarif", policy, "/s/ignorefile")
    assert argv == (
        "t",
        "convert",
        "--format",
        "sarif",
        "--severity",
        "MEDIUM,HIGH,CRITICAL",
        "--ignorefile",
        "/s/ignorefile",
        "--output",
        "r.sarif",
        "r.json",
    )
    assert trivy.cyclonedx_argv(("t",), "r.json", "r.cdx.json") == (
        "t",
        "convert",
        "--format",
        "cyclonedx",
        "--output",
        "r.cdx.json",
        "r.json",
    )


def test_docker_commands():
    assert trivy.save_argv("docker", "img:1", "/s/i.tar") == (
        "docker",
        "save",
        "--output",
        "/s/i.tar",
        "img:1",
    )
    assert trivy.inspect_argv("podman", "img:1") == ("podman", "image", "inspect", "img:1")


def test_container_prefix_mounts_each_path_once_and_cuts_the_network_offline():
    argv = trivy.container_prefix(
        "docker", "aquasec/trivy:0.58.1", ("/s", "/c", "/s"), "/s", "1000:1000", offline=True
    )
    assert argv == (
        "docker",
        "run",
        "--rm",
        "--user",
        "1000:1000",
        "--workdir",
        "/s",
        "--network",
        "none",
        "--volume",
        "/s:/s",
        "--volume",
        "/c:/c",
        "aquasec/trivy:0.58.1",
    )
    online = trivy.container_prefix("docker", "t:1", ("/s",), "/s", "0:0", offline=False)
    assert "--network" not in online


def test_pick_container_image_skips_untagged():
    assert trivy.pick_container_image("aquasec/trivy:<none>\naquasec/trivy:0.58.1\n") == (
        "aquasec/trivy:0.58.1"
    )
    assert trivy.pick_container_image("\n") is None


def test_image_id_from_inspect_output():
    assert trivy.image_id('[{"Id": "sha256:abc"}]') == "sha256:abc"
    assert trivy.image_id("") == "" and trivy.image_id("[]") == ""


def test_the_report_data_has_every_key(findings):
    ignores = vulns.parse_ignore("CVE-2023-0286\nCVE-1999-1\n", "f")
    result = vulns.evaluate(findings, vulns.make_policy("HIGH", True), ignores, TODAY)
    data = vulns.report_data(result, "img:1")
    assert list(data) == [
        "image",
        "threshold",
        "ignore_unfixed",
        "passed",
        "counts",
        "blocking",
        "expired_ignores",
        "unused_ignores",
    ]
    assert (data["image"], data["threshold"], data["ignore_unfixed"]) == ("img:1", "HIGH", True)
    assert data["passed"] is False and data["unused_ignores"] == ["CVE-1999-1"]
    assert data["counts"] == vulns.counts(result)
    assert data["blocking"] == [vulns.describe(f) for f in vulns.ranked(result.blocking)]
