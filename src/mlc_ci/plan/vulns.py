"""The vulnerability gate (pure): severity policy, .trivyignore, trivy's JSON report, the
verdict, its summary and the SARIF check.

The gate is ours, computed from trivy's JSON report (SchemaVersion 2: Results[].Vulnerabilities[]
with VulnerabilityID, PkgName, InstalledVersion, FixedVersion, Severity, Status), so the same
report file explains every pass and every failure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable, Sequence

from mlc_ci.config import SEVERITIES
from mlc_ci.errors import PipelineError

SARIF_VERSION = "2.1.0"


TOP_FINDINGS = 10


# Statuses trivy documents for vulnerabilities that have no fix (its --ignore-unfixed set).
UNFIXED_STATUSES = ("affected", "will_not_fix", "fix_deferred", "end_of_life")


_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Policy:
    """What fails the gate: findings at or above `threshold` that no rule sets aside."""

    threshold: str
    ignore_unfixed: bool

    @property
    def severities(self) -> tuple[str, ...]:
        """The gated levels, lowest first (as trivy's --severity takes them)."""
        return SEVERITIES[_RANK[self.threshold] :]


@dataclass(frozen=True)
class IgnoreEntry:
    """One line of a .trivyignore file: a finding ID, optionally with `exp:YYYY-MM-DD`."""

    id: str
    line: int
    expires: date | None = None

    def expired(self, today: date) -> bool:
        """Trivy drops an entry once its date has begun (UTC), so expired means exp <= today."""
        return self.expires is not None and self.expires <= today


@dataclass(frozen=True)
class Finding:
    """One vulnerability in one installed package."""

    id: str
    package: str
    installed: str
    severity: str
    fixed_version: str = ""
    status: str = ""
    target: str = ""
    title: str = ""

    @property
    def fixed(self) -> bool:
        """True when a fix exists: trivy's Status says so, or (older reports) a FixedVersion."""
        if self.status:
            return self.status == "fixed"
        return bool(self.fixed_version)


@dataclass
class GateResult:  # pylint: disable=too-many-instance-attributes
    """Every finding, sorted into what the policy did with it."""

    policy: Policy
    findings: list[Finding] = field(default_factory=list)
    blocking: list[Finding] = field(default_factory=list)
    ignored: list[Finding] = field(default_factory=list)
    unfixed: list[Finding] = field(default_factory=list)
    below: list[Finding] = field(default_factory=list)
    expired: list[IgnoreEntry] = field(default_factory=list)
    unused: list[IgnoreEntry] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when nothing blocks."""
        return not self.blocking

    def verdict(self, finding: Finding) -> str:
        """What the policy made of one finding."""
        for name, group in (
            ("blocking", self.blocking),
            ("ignored", self.ignored),
            ("unfixed", self.unfixed),
        ):
            if any(item is finding for item in group):
                return name
        return "below"


def parse_severity(text: str) -> str:
    """'HIGH' or 'HIGH,CRITICAL' -> 'HIGH': the lowest level named is the gate's threshold."""
    names = [part.strip().upper() for part in text.split(",") if part.strip()]
    if not names:
        raise PipelineError(
            f"no severity in '{text}'; use one or more of {','.join(SEVERITIES)} (e.g. HIGH)."
        )
    for name in names:
        if name not in _RANK:
            raise PipelineError(
                f"unknown severity '{name}'; use one or more of {','.join(SEVERITIES)} "
                "(the lowest one named is the gate's threshold)."
            )
    return min(names, key=_RANK.__getitem__)


def make_policy(severity: str, ignore_unfixed: bool) -> Policy:
    """The gate's policy from a severity text and the ignore-unfixed switch."""
    return Policy(parse_severity(severity), ignore_unfixed)


def parse_ignore(text: str, source: str) -> list[IgnoreEntry]:
    """Entries of a .trivyignore: one ID per line, `#` comments, optional `exp:YYYY-MM-DD`.

    Trivy skips a line with a bad date with only a warning; here it is an error, since a typo
    would otherwise turn a temporary exception into a permanent one or drop it unseen.
    """
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        expires = None
        for word in fields[1:]:
            if word.startswith("exp:"):
                expires = _parse_date(word[4:], f"{source}:{number}")
        entries.append(IgnoreEntry(fields[0], number, expires))
    return entries


def _parse_date(text: str, where: str) -> date:
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError as exc:
        raise PipelineError(
            f"{where}: expiry 'exp:{text}' is not a date; write it as exp:YYYY-MM-DD."
        ) from exc


def load_report(text: str, source: str) -> list[Finding]:
    """Findings of a trivy JSON report (SchemaVersion 2); a clear error when it is not one."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _malformed(source, f"not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise _malformed(source, "the top level is not an object")
    if data.get("SchemaVersion") != 2:
        raise _malformed(
            source, f"SchemaVersion is {data.get('SchemaVersion')!r}, mlc-ci reads version 2"
        )
    # Trivy leaves out (or nulls) empty lists; anything else must be a list.
    results = data.get("Results")
    results = [] if results is None else results
    if not isinstance(results, list):
        raise _malformed(source, "Results is not a list")
    findings = []
    for index, result in enumerate(results):
        if not isinstance(result, dict):
            raise _malformed(source, f"Results[{index}] is not an object")
        vulns = result.get("Vulnerabilities")
        vulns = [] if vulns is None else vulns
        if not isinstance(vulns, list):
            raise _malformed(source, f"Results[{index}].Vulnerabilities is not a list")
        for number, vuln in enumerate(vulns):
            where = f"Results[{index}].Vulnerabilities[{number}]"
            findings.append(_finding(vuln, str(result.get("Target", "")), where, source))
    return findings


def _finding(vuln: Any, target: str, where: str, source: str) -> Finding:
    if not isinstance(vuln, dict):
        raise _malformed(source, f"{where} is not an object")
    # Trivy documents these four as always filled.
    for key in ("VulnerabilityID", "PkgName", "InstalledVersion", "Severity"):
        if not isinstance(vuln.get(key), str) or not vuln[key]:
            raise _malformed(source, f"{where} has no {key}")
    if vuln["Severity"] not in _RANK:
        raise _malformed(source, f"{where} has unknown Severity {vuln['Severity']!r}")
    return Finding(
        id=vuln["VulnerabilityID"],
        package=vuln["PkgName"],
        installed=vuln["InstalledVersion"],
        severity=vuln["Severity"],
        fixed_version=str(vuln.get("FixedVersion") or ""),
        status=str(vuln.get("Status") or ""),
        target=target,
        title=str(vuln.get("Title") or ""),
    )


def _malformed(source: str, detail: str) -> PipelineError:
    return PipelineError(
        f"malformed trivy report {source}: {detail}; re-run the scan "
        "(the gate reads `trivy image --format json` output)."
    )


def evaluate(
    findings: Sequence[Finding], policy: Policy, ignores: Sequence[IgnoreEntry], today: date
) -> GateResult:
    """Sort findings: ignored (live .trivyignore entry), unfixed (when set aside), below the
    threshold, or blocking. Expired entries ignore nothing and are reported."""
    live = {entry.id for entry in ignores if not entry.expired(today)}
    result = GateResult(policy, list(findings))
    result.expired = [entry for entry in ignores if entry.expired(today)]
    threshold = _RANK[policy.threshold]
    for finding in findings:
        if finding.id in live:
            result.ignored.append(finding)
        elif policy.ignore_unfixed and not finding.fixed:
            result.unfixed.append(finding)
        elif _RANK[finding.severity] < threshold:
            result.below.append(finding)
        else:
            result.blocking.append(finding)
    seen = {finding.id for finding in findings}
    result.unused = [e for e in ignores if e.id not in seen and not e.expired(today)]
    return result


def ranked(findings: Iterable[Finding]) -> list[Finding]:
    """Worst first: severity, then fixable before unfixed, then ID and package."""
    return sorted(findings, key=lambda f: (-_RANK[f.severity], not f.fixed, f.id, f.package))


def describe(finding: Finding) -> str:
    """'CRITICAL CVE-2019-18224 in libidn2-0 2.0.5-1 (fixed in 2.0.5-1+deb10u1)'."""
    fix = f"fixed in {finding.fixed_version}" if finding.fixed_version else "no fix yet"
    return f"{finding.severity} {finding.id} in {finding.package} {finding.installed} ({fix})"


def gate_error(result: GateResult, image: str, ignore_file: str) -> str:
    """The one line a failed gate exits with: the count and the worst finding."""
    count = len(result.blocking)
    noun = "finding remains" if count == 1 else "findings remain"
    return (
        f"trivy gate failed for {image}: {count} {noun} at {result.policy.threshold} or above "
        f"(worst: {describe(ranked(result.blocking)[0])}); update the image, or accept "
        f"the risk in {ignore_file} with an exp:YYYY-MM-DD date"
    )


def counts(result: GateResult) -> dict[str, dict[str, int]]:
    """Per severity, worst first: found, ignored, unfixed set aside, blocking."""
    table = {}
    for level in reversed(SEVERITIES):
        table[level] = {
            name: sum(1 for f in group if f.severity == level)
            for name, group in (
                ("found", result.findings),
                ("ignored", result.ignored),
                ("unfixed", result.unfixed),
                ("blocking", result.blocking),
            )
        }
    return table


def summary_rows(result: GateResult, top: int = TOP_FINDINGS) -> list[list[str]]:
    """The top findings (blocking first, then by severity) as table rows."""
    order = ranked(result.blocking) + ranked(
        f for f in result.findings if not any(f is b for b in result.blocking)
    )
    return [
        [
            f.severity,
            f.id,
            f.package,
            f.installed,
            f.fixed_version or "-",
            result.verdict(f),
        ]
        for f in order[:top]
    ]


def notes(result: GateResult, ignore_file: str) -> list[str]:
    """What the ignore file did not do: expired entries, entries that matched nothing."""
    lines = [
        f"{ignore_file}:{e.line}: {e.id} expired on {e.expires}; it no longer ignores anything "
        "(renew the date after review, or remove the line)"
        for e in result.expired
    ]
    lines += [
        f"{ignore_file}:{e.line}: {e.id} matched no finding (remove it when it is obsolete)"
        for e in result.unused
    ]
    return lines


def report_data(result: GateResult, image: str) -> dict[str, Any]:
    """What the session report records about the gate."""
    return {
        "image": image,
        "threshold": result.policy.threshold,
        "ignore_unfixed": result.policy.ignore_unfixed,
        "passed": result.passed,
        "counts": counts(result),
        "blocking": [describe(f) for f in ranked(result.blocking)],
        "expired_ignores": [f"{e.id} exp:{e.expires}" for e in result.expired],
        "unused_ignores": [e.id for e in result.unused],
    }


def check_sarif(text: str, source: str) -> int:
    """Sanity of a SARIF log for code scanning: version 2.1.0, runs with a driver and results.

    Returns the number of results."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _bad_sarif(source, f"not JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("version") != SARIF_VERSION:
        found = data.get("version") if isinstance(data, dict) else None
        raise _bad_sarif(source, f"version is {found!r}, not {SARIF_VERSION}")
    runs = data.get("runs")
    if not isinstance(runs, list) or not runs:
        raise _bad_sarif(source, "it has no runs")
    total = 0
    for index, run in enumerate(runs):
        driver = run.get("tool", {}).get("driver", {}) if isinstance(run, dict) else {}
        if not isinstance(driver, dict) or not driver.get("name"):
            raise _bad_sarif(source, f"runs[{index}] has no tool.driver.name")
        results = run.get("results")
        if not isinstance(results, list):
            raise _bad_sarif(source, f"runs[{index}] has no results list")
        for number, item in enumerate(results):
            if not isinstance(item, dict) or not item.get("ruleId"):
                raise _bad_sarif(source, f"runs[{index}].results[{number}] has no ruleId")
            if not isinstance(item.get("message"), dict) or "text" not in item["message"]:
                raise _bad_sarif(source, f"runs[{index}].results[{number}] has no message.text")
        total += len(results)
    return total


def _bad_sarif(source: str, detail: str) -> PipelineError:
    return PipelineError(
        f"malformed SARIF {source}: {detail}; GitHub code scanning would reject it "
        "(re-run `trivy convert --format sarif`)."
    )
