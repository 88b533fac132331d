"""Promotion as planned: which tags move, to which digest, with which skopeo command.

The copy itself runs against the local registry in tests/integration/test_docker_image.py.
"""

from __future__ import annotations

import io
import json

import pytest

from mlc_ci.errors import PipelineError
from mlc_ci.plan import docker
from mlc_ci.run import Runner
from mlc_ci.sessions import promote

DIGEST = "sha256:" + "d" * 64


def write(reports, name, status="passed", images=()):
    """A docker-build report with the given image details."""
    reports.mkdir(parents=True, exist_ok=True)
    artifacts = [{"name": d["tags"][0], "details": {"kind": "image", **d}} for d in images]
    (reports / name).write_text(json.dumps({"status": status, "artifacts": artifacts}))


def image(tags, digest=DIGEST):
    """Image details as docker-build records them."""
    return {
        "target": "production",
        "tags": tags,
        "promote": [t for t in tags if not docker.is_immutable(t)],
        "digest": digest,
    }


def test_only_the_commits_tag_is_immutable():
    assert docker.is_immutable("ghcr.io/o/mini:sha-0123456-cpu")
    assert docker.is_immutable("127.0.0.1:5000/x:sha-0123456-cpu-ci")
    for tag in ("ghcr.io/o/mini:1.2.3-cpu", "ghcr.io/o/mini:latest-cpu", "r:5000/x:main-cpu"):
        assert not docker.is_immutable(tag)


def test_each_mutable_tag_is_copied_from_the_tested_digest(tmp_path):
    tags = [
        "ghcr.io/o/mini:1.2.3-cpu",
        "ghcr.io/o/mini:latest-cpu",
        "ghcr.io/o/mini:sha-0123456-cpu",
    ]
    local = ["127.0.0.1:5000/it/mini:main-cpu", "127.0.0.1:5000/it/mini:sha-0123456-cpu"]
    write(tmp_path, "docker-build-cpu.json", images=[image(tags)])
    write(tmp_path, "docker-build-cu128.json", images=[image(local), image(local, "")])
    steps, notes = promote.promote_steps(tmp_path)
    promoted = [s.title for s in steps if s.title.startswith("promote ")]
    assert promoted == [
        "promote ghcr.io/o/mini:1.2.3-cpu",
        "promote ghcr.io/o/mini:latest-cpu",
        "promote 127.0.0.1:5000/it/mini:main-cpu",  # the image without a digest was not pushed
    ]
    # Each copy is followed by a check that the tag names the tested manifest.
    assert [s.title for s in steps][1::2][:3] == [
        "check ghcr.io/o/mini:1.2.3-cpu",
        "check ghcr.io/o/mini:latest-cpu",
        "check 127.0.0.1:5000/it/mini:main-cpu",
    ]
    assert steps[0].argv == (
        "skopeo",
        "copy",
        "--all",
        f"docker://ghcr.io/o/mini@{DIGEST}",
        "docker://ghcr.io/o/mini:1.2.3-cpu",
    )
    assert "--dest-tls-verify=false" in steps[4].argv  # a loopback registry speaks HTTP
    assert steps[4].argv[-2] == f"docker://127.0.0.1:5000/it/mini@{DIGEST}"
    assert notes == ["promotes 3 tag(s) by digest"]
    runner = Runner(out=io.StringIO())
    runner.run(steps[-1], 1, 1)
    assert runner.context["report"]["promoted"]["ghcr.io/o/mini:latest-cpu"] == DIGEST


def test_image_references_with_a_registry_port():
    assert docker.repository_of("127.0.0.1:5000/x") == "127.0.0.1:5000/x"
    assert docker.repository_of("127.0.0.1:5000/x:sha-0123456-cpu") == "127.0.0.1:5000/x"
    assert docker.repository_of(f"ghcr.io/o/m@{DIGEST}") == "ghcr.io/o/m"
    assert docker.inspect_argv("127.0.0.1:5000/x:t")[3] == "--tls-verify=false"
    assert not docker.is_immutable("ghcr.io/o/m:sha-fix-cpu")  # a branch named sha-fix


def test_a_failed_build_is_never_promoted(tmp_path):
    write(tmp_path, "docker-build-cpu.json", status="failed", images=[image(["r/x:1.0-cpu"])])
    with pytest.raises(PipelineError, match="records a docker-build that failed"):
        promote.promote_steps(tmp_path)


def test_nothing_pushed_is_one_line(tmp_path):
    write(tmp_path, "docker-build-cpu.json", images=[image(["r/x:1.0-cpu"], digest="")])
    args = type("Args", (), {"reports": str(tmp_path)})()
    with pytest.raises(PipelineError, match="no pushed image with tags to promote"):
        promote.plan(args, None, {})
