"""The action emulations (tools/rehearsal/actions.py, artifacts.py) on this host: a bare git
mirror made here, temp job directories, the host as the job's machine."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pytest

from tests.conftest import GIT_IDENTITY
from tools.rehearsal.actions import BASE_PATH, PINS, run_action
from tools.rehearsal.machine import HostMachine
from tools.rehearsal.model import (
    ActionCall,
    Event,
    ImageStandIn,
    JobRun,
    RehearsalError,
    Shared,
    StepResult,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[3]
REPOSITORY = "mlc-ci/mlc-ci"


def _git(cwd: Path, *args: str) -> str:
    env = {"PATH": BASE_PATH, "HOME": str(cwd), **GIT_IDENTITY}
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _repo(path: Path, files: Mapping[str, str]) -> str:
    """A repository at path with one commit of files; its sha."""
    path.mkdir(parents=True, exist_ok=True)
    if not (path / ".git").exists():
        _git(path, "init", "-q", "-b", "main")
    for name, text in files.items():
        (path / name).write_text(text, encoding="utf-8")
    _git(path, "add", *files)  # not -A: a gitlink without its directory would go
    _git(path, "commit", "-q", "-m", "c")
    return _git(path, "rev-parse", "HEAD")


def _mirror(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    _git(source.parent, "clone", "-q", "--bare", str(source), str(target))
    return target


@dataclass
class World:
    """The mirrors of a test, and its jobs (each a fresh root on this host)."""

    tmp: Path
    shared: Shared
    first: str  # tagged v0.1
    head: str  # main
    jobs: int = 0

    def job(self, permissions: Mapping[str, str] | None = None) -> JobRun:
        """A new job's directories, with the token permissions given."""
        self.jobs += 1
        root = self.tmp / "jobs" / str(self.jobs)
        for sub in ("work", "temp", "toolcache", "home"):
            (root / sub).mkdir(parents=True)
        return JobRun("job", "job", root, HostMachine(), permissions=dict(permissions or {}))

    def run(
        self,
        action: str,
        inputs: Mapping[str, str],
        job: JobRun,
        event: Event | None = None,
        shared: Shared | None = None,
    ) -> StepResult:
        """The pinned action with these inputs (a push to main unless another event)."""
        uses = f"{action}@{PINS[action].sha}"
        event = event or Event("push", "refs/heads/main", self.head, REPOSITORY)
        return run_action(ActionCall(uses, dict(inputs), job, shared or self.shared, event))


@pytest.fixture(name="world")
def fixture_world(tmp_path: Path) -> World:
    """A repository (a tag on its first commit, a second on main, a submodule `sub` whose own
    submodule is `inner`), its bare mirror, and mirrors of the submodules by URL path."""
    inner = _repo(tmp_path / "src" / "inner", {"inner.txt": "inner\n"})
    (tmp_path / "src" / "sub").mkdir(parents=True)
    _git(tmp_path / "src" / "sub", "init", "-q", "-b", "main")
    _git(tmp_path / "src" / "sub", "update-index", "--add", "--cacheinfo", f"160000,{inner},inner")
    gitmodules = '[submodule "{0}"]\n\tpath = {0}\n\turl = https://github.com/owner/{1}\n'
    sub = _repo(tmp_path / "src" / "sub", {".gitmodules": gitmodules.format("inner", "inner")})
    main = tmp_path / "src" / "main"
    first = _repo(main, {"a.txt": "one\n"})
    _git(main, "tag", "-a", "v0.1", "-m", "v0.1")
    _git(main, "update-index", "--add", "--cacheinfo", f"160000,{sub},sub")
    head = _repo(main, {"a.txt": "two\n", ".gitmodules": gitmodules.format("sub", "sub.git")})
    mirrors = tmp_path / "mirrors"
    _mirror(tmp_path / "src" / "sub", mirrors / "owner" / "sub.git")
    _mirror(tmp_path / "src" / "inner", mirrors / "owner" / "inner.git")
    shared = Shared(tmp_path / "shared", _mirror(main, tmp_path / "mirror.git"), mirrors)
    shared.root.mkdir()
    return World(tmp_path, shared, first, head)


# --- dispatch ----------------------------------------------------------------------------------


def test_pins_are_the_fixture_s_actions() -> None:
    pinned = tomllib.loads((ROOT / "tests/fixtures/actions.toml").read_text(encoding="utf-8"))
    assert {a["uses"]: (a["tag"], a["sha"]) for a in pinned["action"]} == {
        name: (pin.tag, pin.sha) for name, pin in PINS.items()
    }


def test_unknown_action_changed_sha_and_unknown_input_stop_in_one_line(world: World) -> None:
    job = world.job()
    event = Event("push", "refs/heads/main", world.head)
    calls = {
        "no emulation of the action actions/setup-node@": ("actions/setup-node@" + "1" * 40, {}),
        "checked against v7.0.1 (3d3c42e)": ("actions/checkout@" + "a" * 40, {}),
        "unknown input fetch_depth": (
            f"actions/checkout@{PINS['actions/checkout'].sha}",
            {"fetch_depth": "0"},
        ),
    }
    for expected, (uses, inputs) in calls.items():
        with pytest.raises(RehearsalError) as caught:
            run_action(ActionCall(uses, inputs, job, world.shared, event))
        assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_a_changed_sha_asks_for_a_recheck(world: World) -> None:
    with pytest.raises(RehearsalError, match=r"must be re-checked .*tests/fixtures/actions\.toml"):
        uses = "docker/login-action@" + "b" * 40
        run_action(
            ActionCall(uses, {}, world.job(), world.shared, Event("push", "refs/heads/main", ""))
        )


# --- actions/checkout --------------------------------------------------------------------------


def test_checkout_default_is_one_commit_no_tags_and_credentials_until_the_post_step(
    world: World,
) -> None:
    job = world.job()
    result = world.run("actions/checkout", {}, job)
    work = job.workspace
    assert not result.error, result.log
    assert result.outputs["commit"] == world.head == _git(work, "rev-parse", "HEAD")
    assert _git(work, "rev-parse", "--is-shallow-repository") == "true"
    assert _git(work, "tag") == "" and _git(work, "rev-list", "--count", "HEAD") == "1"
    assert _git(work, "rev-parse", "--abbrev-ref", "HEAD") == "main"  # -B main, as the action
    assert _git(work, "remote", "get-url", "origin") == f"https://github.com/{REPOSITORY}"
    header = _git(work, "config", "--get", "http.https://github.com/.extraheader")
    assert header.startswith("AUTHORIZATION: basic ")
    # safe.directory went to a temporary global config only; nothing of it is left.
    assert not (job.home / ".gitconfig").exists() and list(job.temp.iterdir())
    assert result.post is not None
    result.post(True)
    assert subprocess.run(
        ["git", "config", "--get", "http.https://github.com/.extraheader"], cwd=work, check=False
    ).returncode
    assert not list(job.temp.glob("git-credentials-*"))


def test_checkout_full_history_has_tags_and_no_persisted_credentials(world: World) -> None:
    job = world.job()
    inputs = {"fetch-depth": "0", "persist-credentials": "false"}
    result = world.run("actions/checkout", inputs, job)
    work = job.workspace
    assert not result.error, result.log
    assert _git(work, "rev-parse", "--is-shallow-repository") == "false"
    assert _git(work, "tag") == "v0.1" and _git(work, "rev-list", "--count", "HEAD") == "2"
    assert "extraheader" not in _git(work, "config", "--list", "--show-origin")
    assert result.post is None and not list(job.temp.iterdir())


def test_checkout_of_a_pull_request_and_of_a_tag_is_detached(world: World) -> None:
    for ref, sha in (("refs/pull/7/merge", world.head), ("refs/tags/v0.1", world.first)):
        job = world.job()
        event = Event("pull_request" if "pull" in ref else "push", ref, sha, REPOSITORY)
        result = world.run("actions/checkout", {"persist-credentials": "false"}, job, event)
        assert not result.error, result.log
        assert _git(job.workspace, "rev-parse", "--abbrev-ref", "HEAD") == "HEAD"
        assert _git(job.workspace, "rev-parse", "HEAD") == sha


def test_checkout_submodules_from_the_mirror_directory(world: World) -> None:
    job = world.job()
    inputs = {"submodules": "true", "persist-credentials": "false"}
    result = world.run("actions/checkout", inputs, job)
    assert not result.error, result.log
    sub = job.workspace / "sub"
    # The action passes its fetch-depth (1) to `submodule update`: a shallow submodule.
    assert _git(sub, "rev-parse", "--is-shallow-repository") == "true"
    assert not (sub / "inner" / "inner.txt").exists()  # `true` is one level only
    # The URL as .gitmodules writes it; the mirror came in through the environment only.
    assert _git(sub, "remote", "get-url", "origin") == "https://github.com/owner/sub.git"
    job = world.job()
    inputs = {"submodules": "recursive", "fetch-depth": "0", "persist-credentials": "false"}
    result = world.run("actions/checkout", inputs, job)
    assert not result.error, result.log
    assert (job.workspace / "sub" / "inner" / "inner.txt").read_text(encoding="utf-8") == "inner\n"
    assert _git(job.workspace / "sub", "rev-parse", "--is-shallow-repository") == "false"


def test_a_declared_stand_in_tree_takes_the_submodule_s_place(world: World) -> None:
    # A tree at another commit than the pin (as where the pin cannot be had), with its own
    # submodule checked out: copied in whole, never fetched, and named in the result.
    tree = world.tmp / "standin"
    _git(world.tmp, "clone", "-q", str(world.tmp / "src" / "sub"), str(tree))
    other = _repo(tree, {"extra.txt": "stand-in\n"})
    mirrors = f"url.file://{world.shared.submodules_from}/.insteadOf=https://github.com/"
    _git(tree, "-c", mirrors, "-c", "protocol.file.allow=always", "submodule", "update", "--init")
    inner = _repo(tree / "inner", {"inner.txt": "moved\n"})  # a nested stand-in: not its pin
    shared = Shared(world.shared.root, world.shared.mirror, standins={"sub": tree})  # no mirrors
    job = world.job()
    inputs = {"submodules": "recursive", "persist-credentials": "false"}
    result = world.run("actions/checkout", inputs, job, shared=shared)
    assert not result.error, result.log
    sub = job.workspace / "sub"
    assert _git(sub, "rev-parse", "HEAD") == other
    assert (sub / "extra.txt").read_text(encoding="utf-8") == "stand-in\n"
    assert (sub / "inner" / "inner.txt").exists()
    pin = _git(job.workspace, "rev-parse", "HEAD:sub")
    assert result.stand_ins == [
        f"sub: the tree of {tree} at {other[:12]} in place of the pin {pin[:12]}; "
        f"not at their pins: inner at {inner[:12]}"
    ]
    # The job's edits stay in its copy.
    (sub / "extra.txt").write_text("edited\n", encoding="utf-8")
    assert (tree / "extra.txt").read_text(encoding="utf-8") == "stand-in\n"


def test_checkout_submodules_without_mirrors_go_to_github(world: World) -> None:
    shared = Shared(world.shared.root, world.shared.mirror)
    inputs = {"submodules": "true", "persist-credentials": "false"}
    result = world.run("actions/checkout", inputs, world.job(), shared=shared)
    assert result.error.startswith("The process 'git' failed")
    assert "https://github.com/owner/sub.git" in result.log  # git's own error, for the engine


# --- actions/setup-python ----------------------------------------------------------------------


def _pythons(root: Path, *versions: str) -> Path:
    for version in versions:
        binary = root / version / "bin"
        binary.mkdir(parents=True)
        for name in ("python3", f"python{version.rsplit('.', 1)[0]}", "nox"):
            (binary / name).write_text(f"#!/bin/sh\necho {version}\n", encoding="utf-8")
            (binary / name).chmod(0o755)
        # What the host installed into its interpreter since: never part of a job's copy.
        site = root / version / "lib" / f"python{version.rsplit('.', 1)[0]}" / "site-packages"
        site.mkdir(parents=True)
        (site / "host_only.py").write_text("", encoding="utf-8")
    return root


def test_setup_python_puts_the_last_version_first(world: World, monkeypatch) -> None:
    pythons = _pythons(world.tmp / "pyenv", "3.11.9", "3.12.1", "3.12.7")
    monkeypatch.setenv("MLC_CI_REHEARSAL_PYTHONS", str(pythons))
    job = world.job()
    result = world.run("actions/setup-python", {"python-version": "3.11\n3.12\n"}, job)
    assert not result.error, result.log
    cached = job.tool_cache / "Python" / "3.12.7" / "x64"
    assert (cached / "bin" / "python3.12").samefile(pythons / "3.12.7" / "bin" / "python3.12")
    assert not (cached / "bin" / "nox").exists()
    assert not list((cached / "lib" / "python3.12" / "site-packages").iterdir())
    assert result.outputs["python-version"] == "3.12.7"
    assert result.env["pythonLocation"] == result.env["Python3_ROOT_DIR"] == str(cached)
    assert result.env["PKG_CONFIG_PATH"] == f"{cached}/lib/pkgconfig"
    assert result.path.index(f"{cached}/bin") < result.path.index(f"{cached}")
    path = ":".join([*result.path, BASE_PATH])
    for name in ("python", "python3", "python3.12"):
        done = subprocess.run(
            [name], env={"PATH": path}, capture_output=True, text=True, check=True
        )
        assert done.stdout.strip() == "3.12.7"
    assert result.outputs["python-path"].endswith("/python")


def test_setup_python_missing_version_fails_with_the_action_s_message(
    world: World, monkeypatch
) -> None:
    monkeypatch.setenv("MLC_CI_REHEARSAL_PYTHONS", str(_pythons(world.tmp / "pyenv", "3.12.7")))
    result = world.run("actions/setup-python", {"python-version": "3.12\n3.99"}, world.job())
    assert result.error.startswith("The version '3.99' with architecture 'x64' was not found for")
    assert "versions-manifest.json" in result.log


# --- actions/cache -----------------------------------------------------------------------------


def _cached(world: World, job: JobRun, key: str, event: Event | None = None, **more: str):
    inputs = {"path": ".cache/ccache", "key": key, **more}
    return world.run("actions/cache", inputs, job, event)


def test_cache_miss_saves_in_the_post_step_and_the_next_job_hits(world: World) -> None:
    job = world.job()
    miss = _cached(world, job, "ccache-Linux-1")
    assert not miss.error and "cache-hit" not in miss.outputs  # unset on a miss, as the action
    (job.workspace / ".cache" / "ccache").mkdir(parents=True)
    (job.workspace / ".cache" / "ccache" / "obj").write_text("o", encoding="utf-8")
    assert "Cache saved with key: ccache-Linux-1" in miss.post(True).log
    job = world.job()
    hit = _cached(world, job, "ccache-Linux-1")
    assert hit.outputs["cache-hit"] == "true"
    assert (job.workspace / ".cache" / "ccache" / "obj").read_text(encoding="utf-8") == "o"
    assert "not saving cache" in hit.post(True).log
    job = world.job()
    stale = _cached(world, job, "ccache-Linux-2", **{"restore-keys": "ccache-Linux-"})
    assert stale.outputs["cache-hit"] == "false" and (job.workspace / ".cache/ccache/obj").exists()
    assert "Skipped" in stale.post(False).log  # post-if: success()


def test_a_pull_request_sees_main_s_cache_but_main_not_a_pull_request_s(world: World) -> None:
    pull = Event("pull_request", "refs/pull/3/merge", world.head, REPOSITORY, base_ref="main")
    job = world.job()
    (job.workspace / ".cache" / "ccache").mkdir(parents=True)
    _cached(world, job, "from-main").post(True)
    _cached(world, job, "from-pr", pull).post(True)
    assert _cached(world, world.job(), "from-main", pull).outputs["cache-hit"] == "true"
    assert "cache-hit" not in _cached(world, world.job(), "from-pr").outputs
    tag = Event("push", "refs/tags/v0.1", world.first, REPOSITORY)
    assert "cache-hit" not in _cached(world, world.job(), "from-pr", tag).outputs


# --- actions/upload-artifact, actions/download-artifact ----------------------------------------


def _tree(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_upload_root_hidden_files_excludes_and_bytes(world: World) -> None:
    job = world.job()
    _tree(job.workspace, {"dist/a.whl": "12345", "reports/r.json": "{}", "reports/.h": "x"})
    _tree(job.workspace, {"dist/skip.txt": "s"})
    store = world.shared.artifacts
    both = world.run(
        "actions/upload-artifact", {"name": "both", "path": "dist/\nreports/\n!dist/skip.txt"}, job
    )
    # Two search paths: their least common ancestor (the workspace) is the root.
    assert _files(store / "both") == {"dist/a.whl", "reports/r.json"}
    assert both.artifacts_out == {"both": 7} and len(both.outputs["artifact-digest"]) == 64
    assert both.outputs["artifact-url"].endswith(f"/artifacts/{both.outputs['artifact-id']}")
    world.run("actions/upload-artifact", {"name": "one-dir", "path": "reports/"}, job)
    assert _files(store / "one-dir") == {"r.json"}  # one search path: the root itself
    inputs = {"name": "hidden", "path": "reports/", "include-hidden-files": "true"}
    world.run("actions/upload-artifact", inputs, job)
    assert _files(store / "hidden") == {"r.json", ".h"}
    world.run("actions/upload-artifact", {"name": "file", "path": "dist/a.whl"}, job)
    assert _files(store / "file") == {"a.whl"}


def test_upload_overwrite_and_if_no_files_found(world: World) -> None:
    job = world.job()
    _tree(job.workspace, {"reports/r.json": "{}"})
    world.run("actions/upload-artifact", {"name": "r", "path": "reports/"}, job)
    again = world.run("actions/upload-artifact", {"name": "r", "path": "reports/"}, job)
    assert again.error.startswith("Failed to CreateArtifact") and "(409) Conflict" in again.error
    inputs = {"name": "r", "path": "reports/", "overwrite": "true"}
    assert not world.run("actions/upload-artifact", inputs, job).error
    inputs = {"name": "none", "path": "nothing/", "if-no-files-found": "error"}
    result = world.run("actions/upload-artifact", inputs, job)
    assert result.error == (
        "No files were found with the provided path: nothing/. No artifacts will be uploaded."
    )
    inputs["if-no-files-found"] = "warn"
    assert not world.run("actions/upload-artifact", inputs, job).error
    assert not (world.shared.artifacts / "none").exists()


def test_download_by_name_pattern_and_merge_multiple(world: World) -> None:
    job = world.job()
    _tree(job.workspace, {"a/x.whl": "xx", "b/y.whl": "yyy", "c/r.json": "{}"})
    for name, path in (("wheels-cpu", "a/"), ("wheels-cu128", "b/"), ("report", "c/")):
        world.run("actions/upload-artifact", {"name": name, "path": path}, job)
    job = world.job()
    merged = world.run(
        "actions/download-artifact",
        {"pattern": "wheels-*", "merge-multiple": "true", "path": "."},
        job,
    )
    assert _files(job.workspace) == {"x.whl", "y.whl"}
    assert merged.artifacts_in == {"wheels-cpu": 2, "wheels-cu128": 3}
    assert merged.outputs["download-path"] == str(job.workspace)
    job = world.job()
    world.run("actions/download-artifact", {"pattern": "wheels-*", "path": "out"}, job)
    assert _files(job.workspace) == {"out/wheels-cpu/x.whl", "out/wheels-cu128/y.whl"}
    job = world.job()
    world.run("actions/download-artifact", {"name": "report"}, job)
    assert _files(job.workspace) == {"r.json"}
    missing = world.run("actions/download-artifact", {"name": "nope"}, job)
    assert missing.error == "Unable to download artifact(s): Artifact 'nope' not found"
    # A brace list names exact artifacts, as minimatch expands it.
    job = world.job()
    inputs = {"pattern": "{report,wheels-cpu}", "merge-multiple": "true"}
    chosen = world.run("actions/download-artifact", inputs, job)
    assert set(chosen.artifacts_in) == {"report", "wheels-cpu"}


def test_upload_pages_artifact_is_a_tar_named_github_pages(world: World) -> None:
    job = world.job()
    _tree(job.workspace, {"site/index.html": "<p>", "site/.nojekyll": ""})
    result = world.run("actions/upload-pages-artifact", {"path": "site"}, job)
    assert not result.error, result.log
    assert _files(world.shared.artifacts / "github-pages") == {"artifact.tar"}
    assert result.outputs["artifact_id"]
    denied = world.run("actions/deploy-pages", {}, world.job({"pages": "write"}))
    assert denied.error == 'Ensure GITHUB_TOKEN has permission "id-token: write".'


# --- login, code scanning ----------------------------------------------------------------------


def test_docker_login_needs_a_password(world: World) -> None:
    inputs = {"registry": "ghcr.io", "username": "", "password": ""}
    result = world.run("docker/login-action", inputs, world.job())
    assert result.error == "Username and password required"
    inputs["username"] = "someone"
    assert world.run("docker/login-action", inputs, world.job()).error == "Password required"


def test_upload_sarif_from_a_fork_is_refused_with_403(world: World) -> None:
    job = world.job({"contents": "read", "security-events": "write"})
    missing = world.run("github/codeql-action/upload-sarif", {"sarif_file": "reports/trivy"}, job)
    assert missing.error == "Path does not exist: reports/trivy"
    _tree(job.workspace, {"reports/trivy/image.sarif": "{}"})
    fork = Event("pull_request", "refs/pull/1/merge", world.head, REPOSITORY, fork=True)
    inputs = {"sarif_file": "reports/trivy", "category": "trivy"}
    result = world.run("github/codeql-action/upload-sarif", inputs, job, fork)
    assert result.error == "Resource not accessible by integration" and "403" in result.log


def test_a_declared_image_stand_in_is_written_into_the_checkout_and_named(world: World) -> None:
    reference = "quay.io/pypa/manylinux_2_28_x86_64@sha256:" + "4" * 64
    pushed = "127.0.0.1:5000/rehearsal-standin/manylinux@sha256:" + "a" * 64
    main = world.tmp / "src" / "main"
    (main / ".github").mkdir()
    head = _repo(main, {"pipeline.toml": f'image = "{reference}"\n', ".github/ci.yml": reference})
    _git(main, "push", "-q", str(world.shared.mirror), "main")
    stand_in = ImageStandIn(reference, "mlc-ci/standin:1", pushed)
    shared = Shared(world.shared.root, world.shared.mirror, images={reference: stand_in})
    job = world.job()
    event = Event("push", "refs/heads/main", head, REPOSITORY)
    result = world.run("actions/checkout", {"persist-credentials": "false"}, job, event, shared)
    assert not result.error, result.log
    assert result.stand_ins == [stand_in.record(["pipeline.toml"])]
    assert (job.workspace / "pipeline.toml").read_text(encoding="utf-8") == f'image = "{pushed}"\n'
    assert (job.workspace / ".github/ci.yml").read_text(encoding="utf-8") == reference
    assert result.outputs["commit"] == head  # the rehearsed commit, not a new one
