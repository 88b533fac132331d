"""Wheel SBOMs: which wheels install here, the cyclonedx-py commands, CycloneDX checks, keeping."""

from __future__ import annotations

import json
import sys

import pytest
from packaging.tags import sys_tags

from mlc_ci import sboms
from mlc_ci.errors import PipelineError

pytestmark = pytest.mark.unit

SUPPORTED = {str(tag) for tag in sys_tags()}


def test_names():
    assert sboms.sbom_name("a-1-py3-none-any.whl") == "a-1-py3-none-any.whl.cdx.json"
    assert sboms.distribution("Mini_LLM_cpu-0.1.0-py3-none-any.whl") == "mini-llm-cpu"


def test_installable_by_tags():
    assert sboms.installable("demo-1.0-py3-none-any.whl", SUPPORTED)
    assert not sboms.installable("demo-1.0-py3-none-win_amd64.whl", SUPPORTED)
    with pytest.raises(PipelineError, match="is not a wheel file name"):
        sboms.installable("demo.whl", SUPPORTED)


def test_commands():
    assert sboms.venv_argv("py", "/v") == ("py", "-m", "venv", "--clear", "--without-pip", "/v")
    assert sboms.install_argv("py", "/v/bin/python", "/d/w.whl", "/d") == (
        "py",
        "-m",
        "pip",
        "--python",
        "/v/bin/python",
        "install",
        "--quiet",
        "--find-links",
        "/d",
        "/d/w.whl",
    )
    assert sboms.cyclonedx_argv("/v/bin/python", "/o.json") == (
        "cyclonedx-py",
        "environment",
        "--output-reproducible",
        "--output-format",
        "JSON",
        "--output-file",
        "/o.json",
        "/v/bin/python",
    )


def test_fixture_cyclonedx_is_accepted(root):
    text = (root / "tests" / "fixtures" / "trivy" / "image.cdx.json").read_text(encoding="utf-8")
    assert sboms.check_cyclonedx(text, "image.cdx.json") == 1
    assert sboms.check_cyclonedx(text, "image.cdx.json", expect="LibSSL3") == 1
    with pytest.raises(PipelineError, match="mini-llm is not among its components"):
        sboms.check_cyclonedx(text, "image.cdx.json", expect="mini-llm")


@pytest.mark.parametrize(
    "doc, fragment",
    [
        ("{", "not JSON"),
        ({"bomFormat": "SPDX"}, "bomFormat is not CycloneDX"),
        ({"bomFormat": "CycloneDX"}, "no specVersion"),
        ({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": {}}, "not a list"),
        ({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [1]}, "not a list"),
    ],
)
def test_bad_cyclonedx_is_one_clear_error(doc, fragment):
    text = doc if isinstance(doc, str) else json.dumps(doc)
    with pytest.raises(PipelineError, match=f"malformed CycloneDX SBOM x.json: .*{fragment}"):
        sboms.check_cyclonedx(text, "x.json")


def test_keep_replaces_through_a_temporary_name(tmp_path):
    source = tmp_path / "a.json"
    source.write_text("new", encoding="utf-8")
    target = tmp_path / "out" / "b.json"
    target.parent.mkdir()
    target.write_text("old", encoding="utf-8")
    assert sboms.keep(source, target) == target
    assert target.read_text(encoding="utf-8") == "new"
    assert [p.name for p in target.parent.iterdir()] == ["b.json"]


def test_wheel_steps_then_keep_a_checked_sbom(tmp_path):
    wheel = tmp_path / "dist" / "demo_cpu-1.0-py3-none-any.whl"
    stage, out = tmp_path / "stage", tmp_path / "reports" / "sbom"
    steps = sboms.wheel_steps([wheel], stage, out, sys.executable)
    assert [s.title for s in steps] == [
        f"sbom venv for {wheel.name}",
        f"install {wheel.name}",
        f"cyclonedx-py for {wheel.name}",
        f"check and keep SBOM of {wheel.name}",
    ]
    venv_python = str(stage / wheel.name / "venv" / "bin" / "python")
    assert steps[1].argv[4] == venv_python and steps[1].argv[-2:] == (str(wheel.parent), str(wheel))
    raw = stage / wheel.name / "cdx.json"
    assert steps[2].argv[-3:] == ("--output-file", str(raw), venv_python)
    assert steps[1].env == steps[2].env == {"PYTHONPATH": ""}
    raw.parent.mkdir(parents=True)
    bom = {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"name": "demo-cpu"}]}
    raw.write_text(json.dumps(bom), encoding="utf-8")
    ctx = {}
    steps[3].action(ctx)
    kept = out / f"{wheel.name}.cdx.json"
    assert json.loads(kept.read_text(encoding="utf-8")) == bom
    (item,) = ctx["artifacts"]
    assert item.details == {
        "kind": "sbom",
        "format": "cyclonedx",
        "subject": wheel.name,
        "components": 1,
    }
    raw.write_text(json.dumps({**bom, "components": []}), encoding="utf-8")
    with pytest.raises(PipelineError, match="demo-cpu is not among its components"):
        steps[3].action({})
