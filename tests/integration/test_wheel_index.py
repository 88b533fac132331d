"""The wheel index end to end: two nightlies and a release of mini-llm (cpu and cu130).

A scratch clone of this repository builds both variants three times: at HEAD (nightly 1), one
commit later (nightly 2, published on top of nightly 1's tree) and at a v0.1.0 tag (the release,
through `release --index-dir`). Each publish rehearses uv and pip against the new tree; the tree
is then served by `python -m http.server` on 127.0.0.1 and checked over HTTP, and copies of it
are corrupted to show the health check catches each fault.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import explain
from tests.integration.cli_runner import in_clone as mlc_ci
from tests.integration.cli_runner import scratch_clone

VARIANTS = ("cpu", "cu130")
GIT = ("git", "-c", "user.name=mlc-ci test", "-c", "user.email=test@example.invalid")


def build_all(work: Path, phase: str) -> None:
    """Both variants' wheels into dist-<phase>, their reports in reports-<phase>: each publish
    gets only its own build, as a fresh CI job would."""
    for variant in VARIANTS:
        argv = ("wheels-linux", "--variant", variant, "--out", str(work / f"dist-{phase}"))
        built = mlc_ci(work, *argv, reports=f"reports-{phase}")
        assert built.returncode == 0, explain(built)


def nightly(work: Path, tree: Path, phase: str) -> tuple[str, ...]:
    """`index build` arguments that publish the build of `phase` as a nightly."""
    return (
        "index",
        "build",
        "--channel",
        "nightly",
        "--index-dir",
        str(tree),
        "--dist",
        str(work / f"dist-{phase}"),
    )


def report(work: Path, reports: str, name: str) -> dict:
    """A session report the run wrote."""
    return json.loads((work / reports / f"{name}.json").read_text())


@pytest.fixture(name="assets", scope="module")
def fixture_assets(tmp_path_factory):
    """Where the release's wheels are downloaded from: the index's assets directory, served
    on 127.0.0.1 as GitHub would serve release assets ([index].files_url)."""
    base = tmp_path_factory.mktemp("index")
    url, server = serve(base / "index-assets")
    try:
        yield base, url
    finally:
        stop(server)


@pytest.fixture(name="published", scope="module")
def fixture_published(assets) -> dict:
    """The clone and its index after two nightlies and one release.

    Nightly 1 goes through `index build`, nightly 2 through `release --nightly` (what the
    scheduled workflow runs); the release links its wheels at a files_url (assets beside the
    tree), the nightlies keep theirs in the tree.
    """
    if not shutil.which("nvcc") and not Path("/usr/local/cuda/bin/nvcc").is_file():
        pytest.skip("no CUDA toolkit (nvcc) on this host: the cu130 variant cannot build")
    base, files_url = assets
    work, tree = base / "repo", base / "index"
    scratch_clone(work)
    reports = {}
    for number in (1, 2):
        if number == 2:
            subprocess.run(
                (*GIT, "-C", str(work), "commit", "-q", "--allow-empty", "-m", "n2"), check=True
            )
        build_all(work, f"nightly{number}")
        command = nightly(work, tree, f"nightly{number}")
        if number == 2:
            command = ("release", "--nightly", *command[4:])  # --index-dir DIR --dist DIR
        done = mlc_ci(work, *command, reports=f"reports-nightly{number}")
        assert done.returncode == 0, explain(done)
        name = "index-nightly" if number == 1 else "release-nightly"
        reports[number] = report(work, f"reports-nightly{number}", name)
    subprocess.run(
        (*GIT, "-C", str(work), "commit", "-q", "--allow-empty", "-m", "release"), check=True
    )
    subprocess.run(("git", "-C", str(work), "tag", "v0.1.0"), check=True)
    build_all(work, "release")
    released = mlc_ci(
        work,
        *("release", "--tag", "v0.1.0", "--index-dir", str(tree)),
        *("--dist", str(work / "dist-release"), "--files-url", files_url),
        reports="reports-release",
    )
    assert released.returncode == 0, explain(released)
    reports["release"] = report(work, "reports-release", "release")
    return {"work": work, "tree": tree, "reports": reports, "files_url": files_url}


def versions(tree: Path, channel: str, project: str) -> list[str]:
    """The versions the state lists for `project` on `channel`."""
    state = json.loads((tree / "index-state.json").read_text())
    return [
        f["version"] for f in state["files"] if f["channel"] == channel and f["project"] == project
    ]


def test_both_nightlies_are_kept_and_both_resolvers_pick_the_newest(published):
    tree, second = published["tree"], published["reports"][2]
    for variant in VARIANTS:
        kept = versions(tree, "nightly", f"mini-llm-{variant}")
        assert len(kept) == 2 and all(".dev" in v for v in kept), kept
        rehearsed = second["data"]["rehearsal"][variant]
        newest = {f"mini-llm-{variant}": max(kept, key=lambda v: int(v.rsplit("dev", 1)[1]))}
        newest["tiny-runtime"] = "0.1.0"  # the pair, at its own version
        assert rehearsed["expected"] == rehearsed["uv"] == rehearsed["pip"] == newest


def test_the_release_is_on_stable_and_resolves_there(published):
    tree, release = published["tree"], published["reports"]["release"]
    for variant in VARIANTS:
        assert versions(tree, "stable", f"mini-llm-{variant}") == ["0.1.0"]
        rehearsed = release["data"]["rehearsal"][variant]
        expected = {f"mini-llm-{variant}": "0.1.0", "tiny-runtime": "0.1.0"}
        assert rehearsed["uv"] == rehearsed["pip"] == expected
    assert (tree / "stable/cu130/simple/tiny-runtime/index.html").is_file()
    # The release's wheels are linked where they are downloaded from, not kept in the tree.
    page = (tree / "stable/cpu/simple/mini-llm-cpu/index.html").read_text()
    assert f'href="{published["files_url"]}mini_llm_cpu-0.1.0-' in page
    assert not list((tree / "files").glob("mini_llm_cpu-0.1.0-*"))
    assets = sorted(p.name for p in (tree.parent / "index-assets").iterdir())
    assert len(assets) == 6 and sum(name.endswith(".metadata") for name in assets) == 3


def test_publishing_the_same_nightly_again_changes_nothing(published):
    work, tree = published["work"], published["tree"]
    before = (tree / "index-state.json").read_bytes()
    again = mlc_ci(work, *nightly(work, tree, "nightly2"), reports="reports-nightly2")
    assert again.returncode == 0, explain(again)
    assert (tree / "index-state.json").read_bytes() == before


def test_a_scheduled_run_on_a_tagged_commit_publishes_no_nightly(published):
    # The scheduled run of a commit that is a release tag builds that release: no nightly.
    work, tree = published["work"], published["tree"]
    before = (tree / "index-state.json").read_bytes()
    done = mlc_ci(work, *nightly(work, tree, "release"), reports="reports-release")
    assert done.returncode == 0, explain(done)
    assert "0.1.0 is a release, not a nightly: nothing to publish" in done.stdout
    assert (tree / "index-state.json").read_bytes() == before  # nothing was published


def serve(directory: Path):
    """`python -m http.server` for `directory` on a free 127.0.0.1 port: (URL, process)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    directory.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(  # pylint: disable=consider-using-with
        (sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"),
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    for _ in range(100):
        try:
            with urllib.request.urlopen(url, timeout=2):
                break
        except OSError:
            time.sleep(0.1)
    return url, server


def stop(server: subprocess.Popen) -> None:
    """Stop a server `serve` started."""
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(name="served")
def fixture_served(published):
    """The tree behind `python -m http.server` on 127.0.0.1."""
    url, server = serve(published["tree"])
    try:
        yield url
    finally:
        stop(server)


def test_the_health_check_passes_over_http(published, served):
    checked = mlc_ci(published["work"], "index", "check", served)
    assert checked.returncode == 0, explain(checked)
    # Two nightlies of two variants and the pair, in the tree; the release's two wheels and the
    # pair from the assets server: 8 downloads, each hashed and its metadata compared.
    assert f"index check: {served}: 8 files, hashes and metadata match" in checked.stdout


def corrupted(published, tmp_path: Path, damage) -> subprocess.CompletedProcess:
    """`index check` on a damaged copy of the tree."""
    copy = tmp_path / "copy"
    shutil.copytree(published["tree"], copy)
    damage(copy)
    return mlc_ci(published["work"], "index", "check", str(copy))


def test_the_health_check_catches_a_corrupted_hash(published, tmp_path):
    def damage(copy: Path) -> None:
        wheel = next((copy / "files").glob("mini_llm_cu130-0.0.0.dev*.whl"))
        wheel.write_bytes(wheel.read_bytes()[:-1])

    checked = corrupted(published, tmp_path, damage)
    assert checked.returncode == 1
    assert (
        "mini_llm_cu130-0.0.0.dev" in checked.stdout
        and "does not match its #sha256=" in checked.stdout
    )


def test_the_health_check_catches_a_missing_metadata_file(published, tmp_path):
    def damage(copy: Path) -> None:
        next((copy / "files").glob("tiny_runtime-*.metadata")).unlink()

    checked = corrupted(published, tmp_path, damage)
    assert checked.returncode == 1 and "core metadata (PEP 658)" in checked.stdout


def test_the_health_check_catches_a_stale_nightly(published):
    checked = mlc_ci(
        published["work"], "index", "check", str(published["tree"]), "--max-age-days", "0.000001"
    )
    assert checked.returncode == 1
    for variant in VARIANTS:
        assert f"the newest {variant} nightly is" in checked.stdout
