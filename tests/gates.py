"""pytest hooks that keep the test gates honest (loaded by tests/conftest.py).

- Markers come from directories: every test under tests/unit is marked `unit`, every test under
  tests/integration `integration`, so a file that forgets its `pytestmark` cannot drop out of
  `-m unit` / `-m integration`. A test outside those two directories is a usage error.
- Skips fail in CI: when CI (or MLC_CI_STRICT_SKIPS) is set, a skipped test fails the run unless
  tests/expected_skips.toml declares it expected for the environment named by MLC_CI_TEST_ENV
  (default `local`); the summary lists every expected skip that happened.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised by the 3.10 unit session
    import tomli as tomllib

KINDS = ("unit", "integration", "rehearsal")
EXPECTED_SKIPS = Path("tests") / "expected_skips.toml"
_STRICT_VARS = ("CI", "MLC_CI_STRICT_SKIPS")
_SKIP_KEY = pytest.StashKey[tuple[list[str], list[str]]]()


def kind_of(rootpath: Path, path: Path) -> str | None:
    """'unit' or 'integration' for a test file under tests/<kind>/, else None."""
    try:
        parts = path.resolve().relative_to(rootpath.resolve()).parts
    except ValueError:
        return None
    if len(parts) >= 3 and parts[0] == "tests" and parts[1] in KINDS:
        return parts[1]
    return None


def strict_skips(env: dict[str, str] | os._Environ = os.environ) -> bool:
    """True when skips must be declared: in CI, or when asked for."""
    return any(env.get(name, "").strip().lower() not in ("", "0", "false") for name in _STRICT_VARS)


def expected_skips(rootpath: Path, environment: str) -> dict[str, str]:
    """{test id: why} declared expected for `environment` in tests/expected_skips.toml."""
    path = rootpath / EXPECTED_SKIPS
    if not path.is_file():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    table = data.get(environment, {})
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise pytest.UsageError(f"{path}: [{environment}] must map test ids to reasons.")
    return dict(table)


@pytest.hookimpl(tryfirst=True)  # before the mark plugin deselects by -m
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test by its directory; refuse tests that live elsewhere."""
    stray = []
    for item in items:
        kind = kind_of(config.rootpath, item.path)
        if kind is None:
            stray.append(item.nodeid)
        else:
            item.add_marker(kind)
    if stray:
        raise pytest.UsageError(
            f"{stray[0]} is outside tests/unit, tests/integration and tests/rehearsal; "
            "move it into one of them "
            "(the directory decides its marker)."
        )


def _skip_reason(report: Any) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In strict mode, turn undeclared skips into a failed run."""
    del exitstatus
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or not strict_skips():
        return
    environment = os.environ.get("MLC_CI_TEST_ENV", "local")
    declared = expected_skips(session.config.rootpath, environment)
    expected, unexpected = [], []
    for report in reporter.stats.get("skipped", []):
        line = f"{report.nodeid}: {_skip_reason(report)}"
        (expected if report.nodeid in declared else unexpected).append(line)
    session.config.stash[_SKIP_KEY] = (expected, unexpected)
    if unexpected and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """List the expected skips and the ones that failed the run."""
    expected, unexpected = config.stash.get(_SKIP_KEY, ([], []))
    environment = os.environ.get("MLC_CI_TEST_ENV", "local")
    for line in expected:
        terminalreporter.write_line(f"expected skip ({environment}): {line}")
    for line in unexpected:
        terminalreporter.write_line(f"UNEXPECTED SKIP ({environment}): {line}", red=True)
    if unexpected:
        terminalreporter.write_line(
            f"{len(unexpected)} skip(s) not declared in {EXPECTED_SKIPS} under [{environment}]: "
            "a skipped test fails the run in CI; fix the cause or declare it there with why.",
            red=True,
        )
