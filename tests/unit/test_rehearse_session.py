"""`rehearse` for real on a small repository of its own: clones, artifacts, reuse, a broken
hand-off and what it refuses.

The repository's noxfile has one session per stage that writes what the artifact contract says
it produces (no toolchain, no venv), so a whole rehearsal takes seconds; the integration session
fails in one line when the wheel it consumes is missing. tests/integration/test_rehearsal.py and
.ci/run rehearse the real mini-llm workflow.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlc_ci import cli
from tests.conftest import MINIMAL

pytestmark = pytest.mark.unit

NOXFILE = """
import json
import os
import pathlib
import sys

import nox

nox.options.default_venv_backend = "none"


def write(*paths):
    for path in paths:
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(path).write_text("{}", encoding="utf-8")


def seen(path):  # the files of dist/ and reports/ the job started with, into `path`
    found = [p.as_posix() for top in ("dist", "reports") for p in pathlib.Path(top).rglob("*")]
    write(path); pathlib.Path(path).write_text(json.dumps(sorted(found)), encoding="utf-8")


@nox.session(tags=["gate", "linux"])
def lint(session):
    names = ("MLC_CI_PROBE", "GITHUB_EVENT_NAME", "CI", "MLC_CI_DOCKER")
    probe = {name: os.environ.get(name) for name in names}
    probe["shallow"] = pathlib.Path(".git/shallow").is_file()
    write("reports/lint.json"); pathlib.Path("reports/lint.json").write_text(json.dumps(probe))


@nox.session(name="wheels-linux", tags=["build", "linux"])
def wheels_linux(session):
    variant = session.posargs[-1]
    write(f"reports/wheels-linux-demo-{variant}.json", f"dist/demo_{variant}-0.1.0-py3-none-any.whl")
    pathlib.Path(f"reports/wheels-linux-demo-{variant}.json").write_text(
        json.dumps({"shallow": pathlib.Path(".git/shallow").is_file()})
    )


@nox.session(tags=["verify", "linux", "docker"])
def integration(session):
    variant = session.posargs[-1]
    if not list(pathlib.Path("dist").glob("*.whl")):
        print("mlc-ci: error: no wheel in dist/; download the build artifact.")
        sys.exit(2)
    seen(f"reports/integration-{variant}.json")
    write(f"reports/integration-{variant}/junit.xml")


@nox.session(tags=["release", "linux"])
def release(session):
    seen("reports/release.json")
    write("dist/SHA256SUMS", "dist/RELEASE_NOTES.md")
"""


@pytest.fixture(name="repo")
def fixture_repo(make_config, tmp_path, monkeypatch) -> Path:
    """A committed repository with the noxfile above and a pipeline.toml; the cwd."""
    # A local index: a tag rehearsal refuses to publish anywhere else.
    config = make_config(MINIMAL + '\n[release]\nindex_url = "http://127.0.0.1:8080/"\n')
    (tmp_path / "noxfile.py").write_text(NOXFILE, encoding="utf-8")
    git = ("git", "-c", "user.name=t", "-c", "user.email=t@example.invalid")
    subprocess.run(("git", "init", "-q", "-b", "main", str(tmp_path)), check=True)
    subprocess.run((*git, "-C", str(tmp_path), "add", "-A"), check=True)
    subprocess.run((*git, "-C", str(tmp_path), "commit", "-qm", "demo"), check=True)
    monkeypatch.chdir(tmp_path)
    # `nox` as the jobs find it on PATH: this interpreter's.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("MLC_CI_REPORTS_DIR", raising=False)
    monkeypatch.setenv("MLC_CI_PROBE", "from the caller")  # must not reach a job
    return config


def rehearse(config: Path, *args: str) -> tuple[int, dict]:
    """Run the CLI in-process; the exit status and the rehearsal's report."""
    code = cli.main(["rehearse", "--config", str(config), *args])
    event = args[args.index("--event") + 1]
    path = Path("reports") / f"rehearsal-{event}.json"
    return code, json.loads(path.read_text(encoding="utf-8"))


def rows(report: dict) -> dict[str, dict]:
    """The report's job rows by name."""
    return {row["name"]: row for row in report["data"]["jobs"]}


def test_a_pull_request_runs_every_stage_in_fresh_clones(repo, capsys):
    code, report = rehearse(repo, "--event", "pull_request", "--jobs", "2")
    out = capsys.readouterr().out
    assert code == 0, out
    found = rows(report)
    assert found["lint"]["status"] == "passed" and found["lint"]["files_in"] == 0
    assert found["wheels-linux (cpu)"]["files_out"] == 2
    # verify downloads its variant's artifacts (*-cpu): the wheel job's two files, not lint's
    assert found["integration (cpu)"]["files_in"] == 2
    assert found["release"]["status"] == "not run"
    assert found["release"]["reason"] == "a pull request publishes nothing and moves no tag"
    work = Path(report["data"]["workdir"])
    assert not (work / "jobs" / "lint").exists()  # each clone is removed after its job
    assert (work / "artifacts" / "wheels-linux-cpu" / "dist").is_dir()
    seen = json.loads((work / "artifacts" / "lint" / "reports" / "lint.json").read_text())
    # The caller's MLC_CI_* stays out; the event's variables are in, as on a runner. A gate
    # job's checkout is a depth-1 clone (ci.yml keeps actions/checkout's default there); a build
    # job's has the history its version needs (fetch-depth: 0).
    # The gate gets the runner's first `docker`, not the host's MLC_CI_DOCKER, as on GitHub.
    assert seen == {
        "MLC_CI_PROBE": None,
        "GITHUB_EVENT_NAME": "pull_request",
        "CI": "true",
        "MLC_CI_DOCKER": None,
        "shallow": True,
    }
    built = work / "artifacts" / "wheels-linux-cpu" / "reports" / "wheels-linux-demo-cpu.json"
    assert json.loads(built.read_text(encoding="utf-8")) == {"shallow": False}
    log = (work / "logs" / "lint.log").read_text(encoding="utf-8")
    assert "nox -s lint" in log
    assert report["status"] == "passed"
    assert "not run: a pull request publishes nothing and moves no tag" in out  # the table


def test_a_broken_hand_off_fails_the_verify_job_in_one_line(repo, capsys):
    code, report = rehearse(repo, "--event", "pull_request", "--drop", "dist/*")
    err = capsys.readouterr().err
    assert code != 0
    errors = [line for line in err.splitlines() if line.startswith("mlc-ci: error:")]
    assert errors == [
        "mlc-ci: error: integration (cpu) failed: no wheel in dist/; download the build artifact."
    ]
    found = rows(report)
    assert found["wheels-linux (cpu)"]["files_out"] == 1  # the report; the wheel was dropped
    assert found["release"]["status"] == "not run"


def test_reuse_takes_the_gate_of_the_same_commit(repo, capsys):
    assert rehearse(repo, "--event", "pull_request")[0] == 0
    code, report = rehearse(
        repo, "--event", "push", "--reuse", "reports/rehearsal-pull_request.json", "--only", "lint"
    )
    assert code == 0, capsys.readouterr().out
    (lint,) = report["data"]["jobs"]
    assert lint["runs"] == "reused" and lint["status"] == "passed" and lint["files_out"] == 1


def test_a_job_that_writes_nothing_fails_its_upload(repo, capsys):
    noxfile = Path("noxfile.py")
    text = noxfile.read_text(encoding="utf-8")
    lint = (
        'write("reports/lint.json"); '
        'pathlib.Path("reports/lint.json").write_text(json.dumps(probe))'
    )
    noxfile.write_text(text.replace(lint, "pass"), encoding="utf-8")
    subprocess.run(
        ("git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qam", "x"),
        check=True,
    )
    code, report = rehearse(repo, "--event", "pull_request")
    assert code != 0
    lint = rows(report)["lint"]
    assert lint["status"] == "failed"
    assert "its artifact lacks reports/lint.json" in lint["error"]
    assert rows(report)["wheels-linux (cpu)"]["reason"] == "an earlier stage failed"
    assert "mlc-ci: error: lint failed" in capsys.readouterr().err


def test_unknown_job_and_a_foreign_workdir_are_refused(repo, tmp_path, capsys):
    assert cli.main(["rehearse", "--config", str(repo), "--event", "push", "--only", "x"]) == 2
    assert "--only names no job or stage of this matrix: x" in capsys.readouterr().err
    foreign = tmp_path / "elsewhere"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    argv = ["rehearse", "--config", str(repo), "--event", "push", "--workdir", str(foreign)]
    assert cli.main(argv) != 0
    assert "is not empty and not a rehearsal's; pick another" in capsys.readouterr().err
    assert (foreign / "keep.txt").read_text() == "mine"


def test_a_tag_that_names_another_commit_is_refused(repo, capsys):
    git = ("git", "-c", "user.name=t", "-c", "user.email=t@example.invalid")
    subprocess.run(("git", "tag", "v0.1.0"), check=True)
    subprocess.run((*git, "commit", "-q", "--allow-empty", "-m", "next"), check=True)
    argv = ["rehearse", "--config", str(repo), "--event", "tag", "--tag", "v0.1.0"]
    assert cli.main(argv) != 0
    assert "tag v0.1.0 already names" in capsys.readouterr().err


def test_side_by_side_a_failed_job_prints_its_last_lines(repo, capsys):
    noxfile = Path("noxfile.py")
    text = noxfile.read_text(encoding="utf-8")
    failing = 'variant = session.posargs[-1]\n    if variant == "gpu":\n        sys.exit("broken")'
    noxfile.write_text(text.replace("variant = session.posargs[-1]", failing, 1), encoding="utf-8")
    with repo.open("a", encoding="utf-8") as handle:
        handle.write('\n[variants.gpu]\ndistribution = "demo-gpu"\n')
    dry_run = ["rehearse", "--config", str(repo), "--event", "push", "--dry-run"]
    # The plan must be HEAD's, which the jobs clone: an uncommitted pipeline.toml is refused.
    assert cli.main(dry_run) != 0
    assert "pipeline.toml is not committed as it is here" in capsys.readouterr().err
    subprocess.run(
        ("git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qam", "x"),
        check=True,
    )
    # Any other change is only named: the jobs run HEAD without it.
    source = Path("src-tree/CMakeLists.txt")
    source.write_text(source.read_text(encoding="utf-8") + "# local\n", encoding="utf-8")
    shown = io.StringIO()
    assert cli.main(dry_run, shown) == 0
    assert "the working tree has uncommitted changes" in shown.getvalue()
    code = cli.main(["rehearse", "--config", str(repo), "--event", "push", "--jobs", "2"])
    captured = capsys.readouterr()
    assert code != 0
    assert "-- wheels-linux (gpu): failed" in captured.out and "   | broken" in captured.out
    assert "-- wheels-linux (cpu): passed" in captured.out
    assert "wheels-linux (gpu) failed" in captured.err


def test_reuse_needs_a_readable_report_and_its_artifacts(repo, capsys):
    argv = ["rehearse", "--config", str(repo), "--event", "push"]
    assert cli.main([*argv, "--reuse", "nope.json"]) != 0
    assert "--reuse nope.json: cannot read it as a rehearsal report" in capsys.readouterr().err
    assert rehearse(repo, "--event", "pull_request")[0] == 0
    report = Path("reports/rehearsal-pull_request.json")
    data = json.loads(report.read_text(encoding="utf-8"))
    for row in data["data"]["jobs"]:
        row["artifact_dir"] = str(Path("gone") / row["name"])
    report.write_text(json.dumps(data), encoding="utf-8")
    assert cli.main([*argv, "--reuse", str(report), "--only", "lint"]) != 0
    assert "--reuse: the artifact of lint" in capsys.readouterr().err


DOCKER_BUILD = """

@nox.session(name="docker-build", tags=["build", "linux", "docker"])
def docker_build(session):
    import json
    variant = session.posargs[-1]
    image = {"kind": "image", "target": "production", "id": "sha256:" + "1" * 64,
             "tags": ["127.0.0.1:5000/x/demo:sha-0000000-" + variant], "digest": "",
             "promote": ["127.0.0.1:5000/x/demo:0.1.0-" + variant]}
    art = {"name": image["tags"][0], "path": "", "size": 1, "sha256": "1" * 64, "details": image}
    write(f"dist/images/docker-{variant}-production.tar", f"reports/docker-build-{variant}.json")
    report = {"session": f"docker-build-{variant}", "status": "passed", "artifacts": [art]}
    pathlib.Path(f"reports/docker-build-{variant}.json").write_text(json.dumps(report))
"""


def _with_docker_build() -> None:
    """The repository's noxfile gains the docker-build session above (committed)."""
    noxfile = Path("noxfile.py")
    noxfile.write_text(noxfile.read_text(encoding="utf-8") + DOCKER_BUILD, encoding="utf-8")
    subprocess.run(
        ("git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qam", "x"),
        check=True,
    )


def test_image_archives_travel_apart_to_the_jobs_that_load_them(repo, capsys):
    _with_docker_build()
    code, report = rehearse(repo, "--event", "pull_request")
    assert code == 0, capsys.readouterr().out
    work = Path(report["data"]["workdir"])
    artifacts = work / "artifacts"
    # The report in docker-build-cpu, the archive alone (at the root) in docker-build-cpu-images.
    assert not (artifacts / "docker-build-cpu" / "dist").exists()
    assert (artifacts / "docker-build-cpu" / "reports" / "docker-build-cpu.json").is_file()
    images = artifacts / "docker-build-cpu-images"
    assert [p.name for p in images.iterdir()] == ["docker-cpu-production.tar"]
    assert rows(report)["docker-build (cpu)"]["files_out"] == 2
    # integration gets its variant's build artifacts and the archives back in dist/images.
    integration = artifacts / "integration-cpu" / "reports" / "integration-cpu.json"
    assert json.loads(integration.read_text(encoding="utf-8")) == [
        "dist/demo_cpu-0.1.0-py3-none-any.whl",
        "dist/images",
        "dist/images/docker-cpu-production.tar",
        "reports/docker-build-cpu.json",
        "reports/wheels-linux-demo-cpu.json",
    ]


def test_the_release_job_downloads_the_build_artifacts_only(repo, capsys):
    code, report = rehearse(repo, "--event", "push")
    assert code == 0, capsys.readouterr().out
    work = Path(report["data"]["workdir"])
    release = work / "artifacts" / "release" / "reports" / "release.json"
    # Neither the gate's nor the verify jobs' reports: the wheels and reports of the build.
    assert json.loads(release.read_text(encoding="utf-8")) == [
        "dist/demo_cpu-0.1.0-py3-none-any.whl",
        "reports/wheels-linux-demo-cpu.json",
    ]
    assert rows(report)["release"]["files_in"] == 2


def test_a_tag_whose_build_pushed_nothing_stops_before_release(repo, capsys):
    _with_docker_build()
    code, report = rehearse(repo, "--event", "tag", "--tag", "v0.1.0")
    assert code != 0
    assert "the build stage pushed no image" in capsys.readouterr().err
    found = rows(report)
    assert found["docker-build (cpu)"]["status"] == "passed"
    assert found["integration (cpu)"]["status"] == "passed"
    assert found["release"]["status"] == "not run"


def test_a_file_as_workdir_and_a_report_of_another_shape_are_refused(repo, tmp_path, capsys):
    argv = ["rehearse", "--config", str(repo), "--event", "push"]
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    assert cli.main([*argv, "--workdir", str(tmp_path / "a-file")]) != 0
    assert "is a file; name a directory" in capsys.readouterr().err
    (tmp_path / "list.json").write_text("[1, 2]", encoding="utf-8")
    assert cli.main([*argv, "--reuse", str(tmp_path / "list.json")]) != 0
    assert "is not a rehearsal report (no job rows)" in capsys.readouterr().err
    assert rehearse(repo, "--event", "push", "--only", "lint")[0] == 0
    assert cli.main([*argv, "--reuse", "reports/rehearsal-push.json"]) != 0
    assert "is this rehearsal's own earlier run" in capsys.readouterr().err
