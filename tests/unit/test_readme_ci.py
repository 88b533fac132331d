"""README's "Running the tests" block and .ci/run's test commands are the same lines."""

from __future__ import annotations

import re

CI_MARKER = "# Keep these lines equal to the block under"


def readme_test_block(text: str) -> list[str]:
    """The first ```bash block after the "## Running the tests" heading."""
    section = text.split("\n## Running the tests\n", 1)[1]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, "README's Running the tests section has no ```bash block"
    return [line for line in match.group(1).splitlines() if line.strip()]


def ci_test_commands(text: str) -> list[str]:
    """.ci/run's commands after its marker comment, comments and blank lines left out."""
    tail = text.split(CI_MARKER, 1)[1].split("\n", 1)[1]
    return [line.strip() for line in tail.splitlines() if line.strip() and not line.startswith("#")]


def test_ci_runs_exactly_the_readme_commands(root):
    readme = readme_test_block((root / "README.md").read_text(encoding="utf-8"))
    ci = ci_test_commands((root / ".ci" / "run").read_text(encoding="utf-8"))
    assert ci == readme


def test_the_extraction_sees_a_drift():
    readme = "x\n## Running the tests\n\n```bash\nnox -s lint unit\nnox -s a\n```\n"
    ci = f"set -e\n{CI_MARKER} README\nnox -s lint unit\n# why\nnox -s b\n"
    assert readme_test_block(readme) == ["nox -s lint unit", "nox -s a"]
    assert ci_test_commands(ci) == ["nox -s lint unit", "nox -s b"]
