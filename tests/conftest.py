"""Shared fixtures: the repository root and small pipeline.toml files written to tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

MINIMAL = """
[project]
name = "demo"
source = "src-tree"
package = "demo"
cli = "demo"
distribution = "demo"

[variants.cpu]
distribution = "demo-cpu"
config = { USE_CUDA = false }
"""


@pytest.fixture(name="root")
def fixture_root() -> Path:
    """The mlc-ci repository root."""
    return ROOT


@pytest.fixture(name="make_config")
def fixture_make_config(tmp_path: Path):
    """Write a pipeline.toml (MINIMAL unless given) plus a source tree; return its path."""

    def make(text: str = MINIMAL, source: bool = True) -> Path:
        path = tmp_path / "pipeline.toml"
        path.write_text(text, encoding="utf-8")
        if source:
            tree = tmp_path / "src-tree"
            tree.mkdir(exist_ok=True)
            (tree / "CMakeLists.txt").write_text("project(demo)\n", encoding="utf-8")
            (tree / "pyproject.toml").write_text(
                '[build-system]\nrequires = []\n\n[project]\nname = "demo"\nversion = "1.0"\n',
                encoding="utf-8",
            )
        return path

    return make
