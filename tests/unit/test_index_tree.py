"""The wheel index on disk: staged and swapped in whole, read back, and checked file by file.

The wheels are small real zip archives with a .dist-info; the health check reads the tree
through file:// URLs as pip would (tests/integration/test_wheel_index.py serves it over HTTP).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from mlc_ci import index_tree
from mlc_ci.errors import PipelineError
from mlc_ci.plan import index as idx
from tests.unit.test_cli import run_cli


def make_wheel(directory: Path, name: str, version: str, tag: str = "manylinux_2_28_x86_64"):
    """A minimal wheel of `name` at `version` (METADATA with Requires-Python)."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{name.replace('-', '_')}-{version}"
    path = directory / f"{stem}-py3-none-{tag}.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name.replace('-', '_')}/__init__.py", "")
        archive.writestr(
            f"{stem}.dist-info/METADATA",
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nRequires-Python: >=3.10\n",
        )
        archive.writestr(f"{stem}.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    return path


def publish(root: Path, wheels, channel: str, variants=("cpu",)) -> list[idx.Entry]:
    """Stage and swap in `wheels` on `channel`, on top of the tree at `root`."""
    previous = index_tree.read_state(str(root))
    new, local = [], {}
    for wheel in wheels:
        entry, metadata = index_tree.entry_for(wheel, channel, variants, "", index_tree.now_utc())
        new.append(entry)
        local[wheel.name] = (wheel, metadata)
    entries = idx.merge(previous, new)
    stage = index_tree.stage_path(root)
    index_tree.stage_tree(stage, entries, local, (root if root.exists() else None, None))
    index_tree.swap_in(stage, root)
    return entries


@pytest.fixture(name="tree")
def fixture_tree(tmp_path: Path) -> Path:
    """Two nightlies and a release of mini-llm-cpu."""
    root = tmp_path / "index"
    publish(root, [make_wheel(tmp_path / "b1", "mini-llm-cpu", "0.1.0.dev1")], "nightly")
    publish(root, [make_wheel(tmp_path / "b2", "mini-llm-cpu", "0.1.0.dev2")], "nightly")
    publish(root, [make_wheel(tmp_path / "b3", "mini-llm-cpu", "0.1.0")], "stable")
    return root


def test_history_survives_and_the_entry_reads_the_wheel(tree):
    state = index_tree.read_state(str(tree))
    assert [(e.channel, e.version) for e in state] == [
        ("nightly", "0.1.0.dev1"),
        ("nightly", "0.1.0.dev2"),
        ("stable", "0.1.0"),
    ]
    assert {e.requires_python for e in state} == {">=3.10"}
    names = sorted(p.name for p in (tree / "files").iterdir())
    assert len(names) == 6 and sum(n.endswith(".metadata") for n in names) == 3
    assert not list(tree.parent.glob(".index.*"))  # nothing staged is left behind
    assert os.stat(tree / "index-state.json").st_mode & 0o777 == 0o644


def test_the_health_check_passes_on_a_good_tree(tree):
    problems, checked = index_tree.check(str(tree), {}, 3)
    assert not problems and checked == 3


def test_a_corrupted_wheel_fails_its_hash(tree):
    wheel = next((tree / "files").glob("*dev2*.whl"))
    data = wheel.read_bytes()
    wheel.unlink()  # a hard link of the build's file: replace it, never write through it
    wheel.write_bytes(data + b"x")
    problems, _ = index_tree.check(str(tree), {}, 3)
    assert any(f"{wheel.name} does not match its #sha256=" in p for p in problems), problems


def test_a_missing_metadata_file_is_named(tree):
    metadata = next((tree / "files").glob("*0.1.0-py3*.metadata"))
    metadata.unlink()
    problems, _ = index_tree.check(str(tree), {}, 3)
    assert any(f"cannot read {metadata.as_uri()}" in p for p in problems), problems


def test_metadata_that_is_not_the_wheels_own_is_named(tree):
    metadata = next((tree / "files").glob("*dev1*.metadata"))
    state = json.loads((tree / "index-state.json").read_text())
    metadata.unlink()
    metadata.write_bytes(b"Metadata-Version: 2.1\nName: other\n")
    # The page's hash is made to agree, so only the comparison with the wheel can catch it.
    for page in tree.glob("nightly/cpu/simple/mini-llm-cpu/index.html"):
        old = next(e["metadata_sha256"] for e in state["files"] if "dev1" in e["version"])
        new = index_tree.hashlib.sha256(metadata.read_bytes()).hexdigest()
        page.write_text(page.read_text().replace(old, new))
    problems, _ = index_tree.check(str(tree), {}, 3)
    assert any("is not the wheel's own METADATA" in p for p in problems), problems


def test_a_stale_nightly_fails_the_check(tree):
    problems, _ = index_tree.check(str(tree), {}, 1e-9)
    assert any("the newest cpu nightly is" in p for p in problems), problems


def test_a_page_that_lost_a_file_is_named(tree):
    page = tree / "nightly/cpu/simple/mini-llm-cpu/index.html"
    page.write_text("\n".join(l for l in page.read_text().splitlines() if "dev1" not in l))
    problems, _ = index_tree.check(str(tree), {}, 3)
    assert any("does not list mini_llm_cpu-0.1.0.dev1" in p for p in problems), problems


def test_yank_rewrites_the_pages_and_keeps_the_file(tree, tmp_path):
    proc = run_cli("index", "yank", str(tree), "mini-llm-cpu", "0.1.0.dev1", "--reason", "bad")
    assert proc.returncode == 0, proc.stderr
    page = (tree / "nightly/cpu/simple/mini-llm-cpu/index.html").read_text()
    assert 'data-yanked="bad"' in page and next((tree / "files").glob("*dev1*.whl"))
    assert not index_tree.check(str(tree), {}, 3)[0]
    del tmp_path


def test_a_directory_that_is_no_index_is_refused(tmp_path):
    (tmp_path / "stray.txt").write_text("x")
    with pytest.raises(PipelineError, match="holds no index-state.json; it is not an index tree"):
        index_tree.read_state(str(tmp_path))
    assert not index_tree.read_state(str(tmp_path / "new"))


def test_a_swap_that_died_halfway_is_recovered(tree):
    old = tree.with_name(".index.old-1")
    os.replace(tree, old)  # as if killed between the two renames
    index_tree.recover(tree)
    assert (tree / "index-state.json").is_file() and not old.exists()


def test_index_check_cli_is_one_summary_line_and_exit_1(tree):
    (next((tree / "files").glob("*.metadata"))).unlink()
    proc = run_cli("index", "check", str(tree), "--max-age-days", "3", cwd=tree.parent)
    assert proc.returncode == 1
    (line,) = [l for l in proc.stderr.splitlines() if l.startswith("mlc-ci: error:")]
    assert "has 1 problem(s)" in line and "index check: cannot read" in proc.stdout


def test_index_select_prints_the_variant_url_and_commands(root):
    proc = run_cli(
        "index",
        "select",
        "--config",
        "examples/mini-llm/pipeline.toml",
        "--driver",
        "580.95.05",
        "--index-url",
        "https://wheels.example.invalid/mini",
        "--channel",
        "nightly",
        cwd=root,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "variant: cu130 (driver 580.95.05 meets CUDA 13.0's minimum 580.65.06)",
        "index: https://wheels.example.invalid/mini/nightly/cu130/simple",
        "pip install --pre --extra-index-url "
        "https://wheels.example.invalid/mini/nightly/cu130/simple mini-llm-cu130",
        "uv pip install --prerelease allow --index "
        "https://wheels.example.invalid/mini/nightly/cu130/simple mini-llm-cu130",
    ]


def test_index_select_without_a_url_is_one_line(root):
    proc = run_cli(
        "index", "select", "--config", "examples/mini-llm/pipeline.toml", "--driver", "", cwd=root
    )
    assert proc.returncode == 2 and "no index URL: set [index].url" in proc.stderr


def test_a_swap_that_cannot_rename_is_one_line_and_keeps_the_tree(tree, tmp_path):
    stage = tmp_path / "no-such-stage"  # gone before the swap: the rename fails
    with pytest.raises(PipelineError, match="cannot put the new index in place"):
        index_tree.swap_in(stage, tree)
    assert (tree / "index-state.json").is_file()  # the previous tree came back
    assert not list(tree.parent.glob(".index.old-*"))
