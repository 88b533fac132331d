"""The release session end to end through the CLI: real git, real files, a GitHub stand-in.

GitHub's REST API cannot be reached from build machines; publishing runs against
tests/unit/github_standin.py, a local HTTP server implementing the documented release endpoints.
The index upload against a real pypiserver is in tests/integration/test_release_index.py.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlc_ci import cli, config, report
from mlc_ci.errors import PipelineError
from mlc_ci.plan.release import report_key
from mlc_ci.sessions import release as release_session
from tests.conftest import MINIMAL
from tests.unit.github_standin import StandIn

pytestmark = pytest.mark.unit

WHEEL = "demo_cpu-0.1.0-py3-none-manylinux_2_31_x86_64.whl"
CUDA_WHEEL = "demo_cu130-0.1.0-py3-none-manylinux_2_31_x86_64.whl"
# MINIMAL with the cpu variant opted in to the package index, under a name the project holds,
# and a cu130 variant that is not.
PYPI = (
    MINIMAL.replace("[variants.cpu]\n", "[variants.cpu]\npypi = true\n")
    + '\n[variants.cu130]\ndistribution = "demo-cu130"\n'
    + '\n[release]\npypi_names = ["demo-cpu"]\n'
)
COMMITS = ("feat: first", "fix(core): second", "ci: third", "plain subject")


def git(repo, *args):
    """Run git in `repo` as a fixed identity."""
    subprocess.run(
        ("git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args),
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture(name="repo")
def fixture_repo(tmp_path):
    """A git history: v0.0.9, then four commits, then tag v0.1.0."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "commit", "-q", "--allow-empty", "-m", "chore: start")
    git(repo, "tag", "v0.0.9")
    for subject in COMMITS:
        git(repo, "commit", "-q", "--allow-empty", "-m", subject)
    git(repo, "tag", "v0.1.0")
    return repo


# The wheel report of MINIMAL's project (tests/conftest.py), as wheels-linux names it.
REPORT = report_key("wheels-linux", "demo", "cpu")


@pytest.fixture(name="built")
def fixture_built(tmp_path):
    """dist/ with one wheel and reports/ with its passed wheels-linux report."""
    dist, reports = tmp_path / "dist", tmp_path / "reports"
    dist.mkdir()
    path = dist / WHEEL
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("demo/__init__.py", "")
    passed = report.SessionReport(REPORT, status="passed")
    passed.artifacts.append(report.artifact(path, kind="wheel", variant="cpu"))
    report.write(passed, reports)
    return dist, reports


def run(make_config, repo, built, *extra, env=None, monkeypatch=None, text=PYPI):
    """`python -m mlc_ci release` in-process; returns (status, stdout)."""
    dist, reports = built
    for key in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL", "MLC_CI_PUBLISH"):
        monkeypatch.delenv(key, raising=False)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLC_CI_REPORTS_DIR", str(reports.parent / "out-reports"))
    out = io.StringIO()
    argv = ["release", "--config", str(make_config(text)), "--repo", str(repo)]
    argv += ["--dist", str(dist), "--reports", str(reports), *extra]
    return cli.main(argv, out=out), out.getvalue()


def test_without_publish_it_writes_notes_and_sums_and_says_what_it_skipped(
    make_config, repo, built, monkeypatch
):
    status, out = run(make_config, repo, built, "--tag", "v0.1.0", monkeypatch=monkeypatch)
    assert status == 0, out
    dist, reports = built
    sums = (dist / "SHA256SUMS").read_text(encoding="utf-8")
    assert sums.endswith(f"  {WHEEL}\n")
    notes = (dist / "RELEASE_NOTES.md").read_text(encoding="utf-8")
    assert "## Changes since v0.0.9" in notes and "chore: start" not in notes
    assert notes.index("### Features") < notes.index("### Bug fixes") < notes.index("### CI")
    assert "- plain subject (" in notes
    assert "not done (no --publish): GitHub release on $GITHUB_REPOSITORY" in out
    assert "would read https://pypi.org/simple/ and upload the wheels it lacks: " in out
    assert "twine upload --repository-url https://upload.pypi.org/legacy/" in out
    assert "--skip-existing" in out  # twine allows it for PyPI
    assert f"no docker-build report in {reports}" in out
    saved = json.loads((reports.parent / "out-reports" / "release.json").read_text())
    assert saved["status"] == "passed" and saved["data"]["dry_run"] is False
    assert saved["data"]["not_done"][0].startswith("not done (no --publish)")
    assert {a["name"] for a in saved["artifacts"]} == {WHEEL, "SHA256SUMS", "RELEASE_NOTES.md"}


def test_plan_and_dry_run_print_the_same_and_write_nothing(make_config, repo, built, monkeypatch):
    dist, reports = built
    monkeypatch.setenv("MLC_CI_REPORTS_DIR", str(reports.parent / "out-reports"))
    config_path = str(make_config())
    common = ["--config", config_path, "--tag", "v0.1.0", "--repo", str(repo)]
    common += ["--dist", str(dist), "--reports", str(reports)]
    before = sorted(p for p in reports.parent.rglob("*") if ".git" not in p.parts)
    printed = []
    for argv in (["plan", "release", "--", *common], ["release", "--dry-run", *common]):
        out = io.StringIO()
        assert cli.main(argv, out=out) == 0, out.getvalue()
        printed.append(out.getvalue())
    assert printed[0] == printed[1] and "not done (no --publish)" in printed[0]
    assert sorted(p for p in reports.parent.rglob("*") if ".git" not in p.parts) == before
    assert not (dist / "SHA256SUMS").exists()


def test_untagged_head_lists_commits_up_to_head(make_config, repo, built, monkeypatch):
    git(repo, "tag", "-d", "v0.1.0")
    git(repo, "commit", "-q", "--allow-empty", "-m", "perf: not yet tagged")
    status, out = run(make_config, repo, built, "--tag", "v0.1.0", monkeypatch=monkeypatch)
    assert status == 0, out
    notes = (built[0] / "RELEASE_NOTES.md").read_text(encoding="utf-8")
    assert "- not yet tagged (" in notes and "- first (" in notes
    assert "Tag v0.1.0 is not in git yet: changes up to HEAD." in notes


def test_version_mismatch_is_refused_in_one_line(make_config, repo, built, monkeypatch, capsys):
    status, _ = run(make_config, repo, built, "--tag", "v0.2.0", monkeypatch=monkeypatch)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1
    assert err[0].startswith("mlc-ci: error: refusing to release v0.2.0: ")
    assert f"{WHEEL} is version 0.1.0, the tag says 0.2.0" in err[0]
    assert not (built[0] / "SHA256SUMS").exists()


def test_failed_verification_is_refused(make_config, repo, built, monkeypatch, capsys):
    _, reports = built
    path = reports / f"{REPORT}.json"
    data = json.loads(path.read_text())
    data["status"] = "failed"
    path.write_text(json.dumps(data))
    status, _ = run(make_config, repo, built, "--tag", "v0.1.0", monkeypatch=monkeypatch)
    assert status == 2 and f"{REPORT}.json says 'failed'" in capsys.readouterr().err


def test_broken_report_is_one_line(make_config, repo, built, monkeypatch, capsys):
    (built[1] / "docker-build-cpu.json").write_text("{not json")
    status, _ = run(make_config, repo, built, "--tag", "v0.1.0", monkeypatch=monkeypatch)
    assert status == 2 and "docker-build-cpu.json is not valid JSON" in capsys.readouterr().err


def test_images_are_checked_and_listed(make_config, repo, built, monkeypatch):
    digest = "sha256:" + "d" * 64
    image = report.Artifact(
        "ghcr.io/o/demo:0.1.0-cpu",
        "",
        100,
        "e" * 64,
        {
            "kind": "image",
            "target": "production",
            "tags": ["ghcr.io/o/demo:0.1.0-cpu"],
            "digest": digest,
            "labels": {"org.opencontainers.image.version": "0.1.0"},
        },
    )
    built_image = report.SessionReport("docker-build-cpu", status="passed", artifacts=[image])
    report.write(built_image, built[1])
    status, out = run(make_config, repo, built, "--tag", "v0.1.0", monkeypatch=monkeypatch)
    assert status == 0, out
    notes = (built[0] / "RELEASE_NOTES.md").read_text(encoding="utf-8")
    assert f"docker pull ghcr.io/o/demo@{digest}" in notes
    assert "not done (no --publish)" in out


def test_publish_without_token_fails_after_writing_notes(
    make_config, repo, built, monkeypatch, capsys
):
    status, _ = run(
        make_config, repo, built, "--tag", "v0.1.0", "--publish", monkeypatch=monkeypatch
    )
    err = capsys.readouterr().err
    assert status == 2 and "--publish was given but GITHUB_TOKEN is not set" in err
    assert (built[0] / "RELEASE_NOTES.md").exists()


def test_publish_to_github_twice_is_one_release(make_config, repo, built, monkeypatch):
    with StandIn("tok") as api:
        env = {"GITHUB_TOKEN": "tok", "GITHUB_REPOSITORY": "o/r", "GITHUB_API_URL": api.url}
        for _ in range(2):
            status, out = run(
                make_config, repo, built, "--tag", "v0.1.0", "--publish", "--index-url", "",
                env=env, monkeypatch=monkeypatch,
            )  # fmt: skip
            assert status == 0, out
        (release,) = api.releases_named("v0.1.0")
        assert release["name"] == "demo 0.1.0" and release["prerelease"] is False
        assert "### Features" in release["body"]
        assert sorted(a["name"] for a in api.state.assets_of(release["id"])) == [
            "SHA256SUMS",
            WHEEL,
        ]
    saved = json.loads((built[1].parent / "out-reports" / "release.json").read_text())
    assert saved["data"]["github_release"].endswith("/o/r/releases/tag/v0.1.0")
    assert "not_done" not in saved["data"]


def test_publish_with_bad_token_is_one_line(make_config, repo, built, monkeypatch, capsys):
    with StandIn("tok") as api:
        env = {"GITHUB_TOKEN": "wrong", "GITHUB_REPOSITORY": "o/r", "GITHUB_API_URL": api.url}
        status, _ = run(
            make_config, repo, built, "--tag", "v0.1.0", "--publish", env=env,
            monkeypatch=monkeypatch,
        )  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "401" in err[0] and "wrong" not in err[0]


def test_ci_tag_push_publishes_via_environment(make_config, repo, built, monkeypatch):
    with StandIn("tok") as api:
        env = {
            "GITHUB_TOKEN": "tok",
            "GITHUB_REPOSITORY": "o/r",
            "GITHUB_API_URL": api.url,
            "GITHUB_REF_TYPE": "tag",
            "GITHUB_REF_NAME": "v0.1.0",
            "MLC_CI_PUBLISH": "1",
        }
        status, out = run(
            make_config, repo, built, "--index-url", "", env=env, monkeypatch=monkeypatch
        )
        assert status == 0, out
        assert len(api.releases_named("v0.1.0")) == 1


class _Index(BaseHTTPRequestHandler):
    """A PEP 503 simple page for one project; the real index is tested against pypiserver."""

    pages: dict = {}

    def do_GET(self):  # pylint: disable=invalid-name
        """The page of the path, or its status when it is an int."""
        page = self.pages.get(self.path, 404)
        status, body = (page, b"") if isinstance(page, int) else (200, page.encode())
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # pylint: disable=arguments-differ
        """Quiet."""


@pytest.fixture(name="simple")
def fixture_simple():
    """A stand-in for an index's simple API (read-only), on 127.0.0.1."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    _Index.pages = {}
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple/", _Index.pages
    server.shutdown()
    server.server_close()


def plan_args(built, repo, **extra):
    """Parsed release arguments."""
    dist, reports = built
    base = {"tag": "v0.1.0", "publish": True, "dist": str(dist), "reports": str(reports)}
    base |= {"index_url": "http://127.0.0.1:9/", "simple_url": None, "repo": str(repo)}
    return argparse.Namespace(dry_run=False, **{**base, **extra})


PUBLISH_ENV = {"GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "o/r"}


def test_publish_uploads_what_the_index_lacks(make_config, repo, built, simple):
    cfg = config.load(make_config(PYPI), env={})
    url, pages = simple
    plan = release_session.plan(plan_args(built, repo, simple_url=url), cfg, PUBLISH_ENV)
    (upload,) = [s for s in plan.steps if s.title.startswith("upload wheels")]
    assert upload.argv[-1] == str(built[0] / WHEEL) and "--skip-existing" not in upload.argv
    assert upload.retries == 0
    digest = report.sha256_of(built[0] / WHEEL)
    pages["/simple/demo-cpu/"] = f'<a href="/p/{WHEEL}#sha256={digest}">{WHEEL}</a>'
    plan = release_session.plan(plan_args(built, repo, simple_url=url), cfg, PUBLISH_ENV)
    assert not [s for s in plan.steps if s.title.startswith("upload wheels")]
    assert f"{WHEEL} is already on the index: not uploaded again" in plan.notes


def test_index_clash_stops_before_publishing(make_config, repo, built, simple):
    cfg = config.load(make_config(PYPI), env={})
    url, pages = simple
    pages["/simple/demo-cpu/"] = f'<a href="/p/{WHEEL}#sha256={"0" * 64}">{WHEEL}</a>'
    with pytest.raises(PipelineError, match="with different content"):
        release_session.plan(plan_args(built, repo, simple_url=url), cfg, PUBLISH_ENV)


def test_index_errors_are_one_line(make_config, repo, built, simple):
    cfg = config.load(make_config(PYPI), env={})
    url, pages = simple
    pages["/simple/demo-cpu/"] = 403
    env = {**PUBLISH_ENV, "TWINE_USERNAME": "u", "TWINE_PASSWORD": "p"}
    with pytest.raises(PipelineError, match="the index answered 403 for"):
        release_session.plan(plan_args(built, repo, simple_url=url), cfg, env)
    with pytest.raises(PipelineError, match="cannot read http://127.0.0.1:9/simple/demo-cpu/"):
        release_session.plan(plan_args(built, repo), cfg, PUBLISH_ENV)


def test_publishing_needs_the_tag_in_git(make_config, repo, built, monkeypatch, capsys):
    git(repo, "tag", "-d", "v0.1.0")
    with StandIn("tok") as api:
        env = {"GITHUB_TOKEN": "tok", "GITHUB_REPOSITORY": "o/r", "GITHUB_API_URL": api.url}
        status, _ = run(
            make_config, repo, built, "--tag", "v0.1.0", "--publish", "--index-url", "",
            env=env, monkeypatch=monkeypatch,
        )  # fmt: skip
        assert not api.state.log
    assert status == 2 and "tag v0.1.0 is not in this checkout" in capsys.readouterr().err


def test_a_default_branch_push_only_moves_the_image_tags(make_config, repo, built, monkeypatch):
    image = report.Artifact(
        "ghcr.io/o/demo:sha-0123456-cpu",
        "",
        100,
        "e" * 64,
        {
            "kind": "image",
            "target": "production",
            "tags": ["ghcr.io/o/demo:sha-0123456-cpu"],
            "digest": "sha256:" + "d" * 64,
            "promote": ["ghcr.io/o/demo:main-cpu", "ghcr.io/o/demo:latest-cpu"],
        },
    )
    report.write(report.SessionReport("docker-build-cpu", "passed", artifacts=[image]), built[1])
    push = {"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main"}
    status, out = run(make_config, repo, built, "--dry-run", env=push, monkeypatch=monkeypatch)
    assert status == 0, out
    assert "== release-branch (dry run) ==" in out
    assert "promote ghcr.io/o/demo:main-cpu, ghcr.io/o/demo:latest-cpu" in out
    assert "GitHub release" not in out and "upload wheels" not in out
    status, out = run(make_config, repo, built, env=push, monkeypatch=monkeypatch)
    assert status == 0, out
    assert "not done (no --publish): promote ghcr.io/o/demo:main-cpu" in out
    assert not (built[0] / "SHA256SUMS").exists()  # nothing of a release is written
    other = {"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/develop"}
    status, _ = run(make_config, repo, built, env=other, monkeypatch=monkeypatch)
    assert status != 0  # another branch is no release: it needs a tag


def add_wheel(built, name, variant):
    """Another verified wheel in dist/ (its own passed wheels-linux report)."""
    dist, reports = built
    path = dist / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("demo/__init__.py", "")
    passed = report.SessionReport(report_key("wheels-linux", "demo", variant), status="passed")
    passed.artifacts.append(report.artifact(path, kind="wheel", variant=variant))
    report.write(passed, reports)


def test_only_the_variants_that_opt_in_go_to_the_index(make_config, repo, built, simple):
    add_wheel(built, CUDA_WHEEL, "cu130")
    cfg = config.load(make_config(PYPI), env={})
    url, _ = simple
    plan = release_session.plan(plan_args(built, repo, simple_url=url), cfg, PUBLISH_ENV)
    (upload,) = [s for s in plan.steps if s.title.startswith("upload wheels")]
    assert [a for a in upload.argv if a.endswith(".whl")] == [str(built[0] / WHEEL)]
    # Both still ship with the GitHub release.
    assert any(CUDA_WHEEL in note for note in plan.notes)
    nobody = config.load(make_config(PYPI.replace("pypi = true\n", "")), env={})
    plan = release_session.plan(plan_args(built, repo, simple_url=url), nobody, PUBLISH_ENV)
    assert not [s for s in plan.steps if s.title.startswith("upload wheels")]


def test_a_name_the_project_does_not_hold_is_refused_before_anything(
    make_config, repo, built, monkeypatch, capsys
):
    add_wheel(built, CUDA_WHEEL, "cu130")
    opted = PYPI.replace(
        'distribution = "demo-cu130"\n', 'distribution = "demo-cu130"\npypi = true\n'
    )
    with StandIn("tok") as api:
        env = {"GITHUB_TOKEN": "tok", "GITHUB_REPOSITORY": "o/r", "GITHUB_API_URL": api.url}
        status, _ = run(
            make_config, repo, built, "--tag", "v0.1.0", "--publish", env=env,
            monkeypatch=monkeypatch, text=opted,
        )  # fmt: skip
        assert not api.state.log  # not even the GitHub release
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "demo-cu130" in err[0] and "pypi_names" in err[0]
    assert not (built[0] / "SHA256SUMS").exists()
