"""The corpus of bad inputs (bad_inputs.toml): one clear line, a non-zero exit, nothing lost.

Every case runs the real CLI (`mlc_ci.cli.main`, in this process for speed; the subprocess
tests in test_cli.py cover the entry point itself) in a workspace with a verified wheel in
dist/ and its passing report, and checks that no file there changed or went missing.
docs/bad-inputs.md is rendered from the same corpus, so the table cannot drift:
`python -m tests.unit.test_bad_inputs > docs/bad-inputs.md` rewrites it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from mlc_ci import cli
from tests.conftest import MINIMAL, ROOT
from tests.gates import tomllib

CORPUS = Path(__file__).with_name("bad_inputs.toml")
DOC = ROOT / "docs" / "bad-inputs.md"
WHEEL = "demo_cpu-0.1.0-py3-none-manylinux_2_31_x86_64.whl"
CLASSES = (
    "validate before building",
    "no traceback",
    "the real cause",
    "release safety",
    "wheel index",
    "rehearsal",
)

# MINIMAL (project and cpu variant) plus what the release and Windows cases need.
BASE = "schema = 1\n" + MINIMAL + """
[wheel]
frontend = "uv"
smoke = ["python -m demo --help"]

[release]
github = false
index_url = ""

[variants.cu130]
distribution = "demo-cu130"
cuda = "13.0"
config = { USE_CUDA = true }
windows = false
"""


def corpus() -> list[dict[str, Any]]:
    """The cases, in file order."""
    return tomllib.loads(CORPUS.read_text(encoding="utf-8"))["case"]


def _fill(value: Any, ws: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{ws}", str(ws))
    if isinstance(value, list):
        return [_fill(v, ws) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ws) for k, v in value.items()}
    return value


def workspace(ws: Path, case: dict[str, Any]) -> None:
    """BASE (with the case's replacements), a source tree, a verified wheel and its report."""
    text = BASE
    for old, new in case.get("replace", []):
        assert old in text, f"{case['id']}: {old!r} is not in BASE"
        text = text.replace(old, new)
    raw = text.encode("utf-8")
    if case.get("latin1"):
        raw = raw.replace(b'name = "demo"', b'name = "d\xe9mo"')
    (ws / "pipeline.toml").write_bytes(raw)
    tree = ws / "src-tree"
    tree.mkdir()
    (tree / "CMakeLists.txt").write_text("project(demo)\ninclude(config.cmake OPTIONAL)\n")
    (tree / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0.1.0"\n')
    dist = ws / "dist"
    dist.mkdir()
    wheel = dist / WHEEL
    wheel.write_bytes(b"a verified wheel")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (dist / "SHA256SUMS").write_text(f"{digest}  {WHEEL}\n")
    artifact = {"name": WHEEL, "path": str(wheel), "size": 16, "sha256": digest}
    artifact["details"] = {"kind": "wheel", "variant": "cpu"}
    report = {"session": "wheels-linux-demo-cpu", "status": "passed", "artifacts": [artifact]}
    (ws / "reports").mkdir()
    (ws / "reports" / "wheels-linux-demo-cpu.json").write_text(json.dumps(report))
    for name, content in _fill(case.get("files", {}), ws).items():
        (ws / name).parent.mkdir(parents=True, exist_ok=True)
        (ws / name).write_text(content)
    for name, target in case.get("symlinks", {}).items():
        (ws / name).symlink_to(ws / target)
    for name in case.get("remove", []):
        (ws / name).unlink()


def snapshot(ws: Path) -> dict[str, tuple[str, int]]:
    """Every regular file under ws: sha256 and mode."""
    found = {}
    for path in sorted(ws.rglob("*")):
        if path.is_file() and not path.is_symlink():
            stat = path.stat()
            found[str(path.relative_to(ws))] = (
                hashlib.sha256(path.read_bytes()).hexdigest(),
                stat.st_mode,
            )
    return found


@pytest.mark.parametrize("case", corpus(), ids=lambda case: case["id"])
def test_bad_input(case, tmp_path, monkeypatch, capsys):
    ws = tmp_path / "ws"
    ws.mkdir()
    workspace(ws, case)
    for name in list(os.environ):
        if name.startswith("MLC_CI_") or name in ("CUDA_HOME", "CUDA_PATH", "DOCKER_HOST"):
            monkeypatch.delenv(name)
    for name, value in _fill(case.get("env", {}), ws).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(ws)
    before = snapshot(ws)
    try:
        status = cli.main(_fill(case["args"], ws))
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    out, err = capsys.readouterr()
    assert status != 0, out + err
    assert status == case.get("exit", status), out + err
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    expect = _fill(case["expect"], ws)
    if case.get("usage"):
        assert lines[0].startswith(case["usage"]) and expect in lines[-1], err
    else:
        assert len(lines) == 1 and lines[0].startswith("mlc-ci: error: "), err
        assert expect in lines[0], err
    after = snapshot(ws)
    assert {k: v for k, v in after.items() if k in before} == before, "a file changed"
    for name in set(after) - set(before):
        assert name.startswith("reports/"), f"{name} was written"
        assert json.loads((ws / name).read_text())["status"] in ("failed", "interrupted"), name


def test_every_case_has_a_known_class_and_a_unique_id():
    cases = corpus()
    assert len({case["id"] for case in cases}) == len(cases)
    assert {case["class"] for case in cases} == set(CLASSES)


def render() -> str:
    """docs/bad-inputs.md from the corpus."""
    lines = [
        "# Bad inputs and what each gets",
        "",
        "Rendered from `tests/unit/bad_inputs.toml` by `python -m tests.unit.test_bad_inputs`;",
        "`tests/unit/test_bad_inputs.py` runs every row. Each one exits non-zero with one",
        "`mlc-ci: error:` line (argparse errors: the session's usage and the error) holding the",
        "text shown, prints no traceback, and leaves `dist/`, `reports/` and the source tree as",
        "they were (a failed run adds only its own failure record under `reports/`).",
    ]
    for kind in CLASSES:
        lines += ["", f"## {kind.capitalize()}", "", "| input | the line says |", "|---|---|"]
        for case in corpus():
            if case["class"] == kind:
                said = case["expect"].replace("|", "\\|").replace("{ws}", "<dir>")
                lines.append(f"| {case['input']} | `{said}` |")
    return "\n".join(lines) + "\n"


def test_the_docs_table_is_the_corpus():
    assert (
        DOC.read_text(encoding="utf-8") == render()
    ), "docs/bad-inputs.md is stale: python -m tests.unit.test_bad_inputs > docs/bad-inputs.md"


if __name__ == "__main__":
    print(render(), end="")
