"""Declared image stand-ins: parsed, written into the checkout's own files, named per job."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.rehearsal import images
from tools.rehearsal.model import ImageStandIn, RehearsalError

pytestmark = pytest.mark.unit

MANYLINUX = "quay.io/pypa/manylinux_2_28_x86_64@sha256:" + "4" * 64
PUSHED = "127.0.0.1:5000/rehearsal-standin/quay-io-pypa-manylinux-2-28-x86-64@sha256:" + "a" * 64


def test_a_reference_is_replaced_only_where_it_stands_whole():
    text = (
        'a = "ubuntu:22.04"\nFROM ubuntu:22.04 AS x\nb = "ubuntu:22.04.1"\nc = "my/ubuntu:22.04"\n'
    )
    out, count = images.rewrite(text, "ubuntu:22.04", "R@sha256:1")
    assert count == 2
    assert out.splitlines() == [
        'a = "R@sha256:1"',
        "FROM R@sha256:1 AS x",
        'b = "ubuntu:22.04.1"',
        'c = "my/ubuntu:22.04"',
    ]


def test_apply_rewrites_the_project_files_never_the_workflow_and_records_where(tmp_path: Path):
    stand_in = ImageStandIn(MANYLINUX, "mlc-ci/manylinux-standin:2_28", PUSHED)
    files = {
        "pipeline.toml": f'image = "{MANYLINUX}"\n',
        "docker/Dockerfile": "FROM scratch\n",
        ".github/workflows/ci.yml": f"# {MANYLINUX}\n",
        "tests/unit/test_x.py": f'REF = "{MANYLINUX}"\n',
        "tests/fixtures/builds.toml": f'image = "{MANYLINUX}"\n',
        "src/pkg/images.py": f'DEFAULT = "{MANYLINUX}"\n',
        "logo.toml": None,
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            (tmp_path / name).write_bytes(b"\x89PNG\xff\xfe")  # not text: left alone
        else:
            (tmp_path / name).write_text(text, encoding="utf-8")
    used = images.apply([*files, "3rdparty/sub"], tmp_path, {MANYLINUX: stand_in})
    assert used == [
        f"image {MANYLINUX}: mlc-ci/manylinux-standin:2_28 as {PUSHED} (in pipeline.toml)"
    ]
    assert (tmp_path / "pipeline.toml").read_text(encoding="utf-8") == f'image = "{PUSHED}"\n'
    # The workflow, the tests (fixtures included) and code are run as they are.
    for name in (".github/workflows/ci.yml", "tests/unit/test_x.py", "tests/fixtures/builds.toml"):
        assert MANYLINUX in (tmp_path / name).read_text(encoding="utf-8"), name
    assert MANYLINUX in (tmp_path / "src/pkg/images.py").read_text(encoding="utf-8")
    # A stand-in no file names is not claimed.
    assert images.apply(["docker/Dockerfile"], tmp_path, {MANYLINUX: stand_in}) == []


@pytest.mark.parametrize("value", ["ubuntu:22.04", "=x", "a b=c", "ubuntu:22.04=$(id)"])
def test_a_malformed_stand_in_is_one_line_with_the_expected_shape(value: str):
    with pytest.raises(RehearsalError, match="expected REF=LOCAL"):
        images.parse([value])


def test_a_missing_local_image_is_named_before_anything_is_pushed(tmp_path: Path):
    # A docker that knows no image: the stand-in's local image is named with the fix.
    docker = tmp_path / "docker"
    docker.write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")
    docker.chmod(0o755)
    with pytest.raises(RehearsalError, match="mlc-ci/nothing:1 is not in this Docker engine"):
        images.push("ubuntu:22.04", "mlc-ci/nothing:1", str(docker))


@pytest.mark.parametrize(
    "name, read",
    [
        ("pipeline.toml", True),
        ("examples/mini-llm/pipeline.toml", True),
        ("docker/Dockerfile", True),
        ("docker/Dockerfile.cuda", True),
        ("tools/rehearsal/standins/manylinux.Dockerfile", False),
        ("tests/fixtures/mlc-llm-upstream-builds.toml", False),
        ("README.md", False),
        ("src/mlc_ci/config.py", False),
    ],
)
def test_only_build_inputs_get_the_stand_ins(name: str, read: bool):
    assert images.build_input(name) is read
