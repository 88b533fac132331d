"""The release session publishing a real wheel to a real pypiserver on 127.0.0.1.

A tiny project is built with `python -m build`, verified by a wheels-linux report, released with
`python -m mlc_ci release --publish` (twine upload to pypiserver, started here on a free port
with no authentication), then fetched back with `pip download` and `pip index`. The GitHub half
of publishing goes to tests/unit/github_standin.py, a local stand-in for GitHub's REST API,
because GitHub cannot be reached from build machines. Needs `pip install pypiserver twine build
setuptools`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from mlc_ci import report
from mlc_ci.plan.release import report_key
from tests.unit.github_standin import StandIn

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NAME, VERSION = "mlcci-release-probe", "0.1.0"
# The wheel report of the release's pipeline.toml ([project].name "probe"), as wheels-linux
# names it.
REPORT = report_key("wheels-linux", "probe", "cpu")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    """True once the server answers HTTP at `url`."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(name="index")
def fixture_index(tmp_path):
    """pypiserver on a free loopback port, uploads without authentication; yields its URL."""
    packages = tmp_path / "packages"
    packages.mkdir()
    port = free_port()
    server = shutil.which("pypi-server")
    command = [server] if server else [sys.executable, "-m", "pypiserver"]
    command += ["run", "-p", str(port), "-i", "127.0.0.1", "-a", ".", "-P", "."]
    command += ["--disable-fallback", str(packages)]
    log = (tmp_path / "pypiserver.log").open("w")
    with subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT) as proc:
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while not answers(url + "/"):
                assert proc.poll() is None, (tmp_path / "pypiserver.log").read_text()
                assert time.monotonic() < deadline, "pypiserver did not answer within 30 s"
                time.sleep(0.2)
            yield url, packages
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            log.close()


def build_probe(tmp_path: Path, name: str, variant: str) -> Path:
    """A real wheel of a tiny setuptools project `name` in tmp_path/dist, and the passed
    wheels-linux report of `variant` that verified it."""
    project = tmp_path / f"project-{variant}"
    package = name.replace("-", "_")
    (project / package).mkdir(parents=True)
    (project / package / "__init__.py").write_text("ANSWER = 42\n")
    (project / "pyproject.toml").write_text(
        "[build-system]\n"
        'requires = ["setuptools>=61"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name}"\nversion = "{VERSION}"\n'
        'description = "mlc-ci release test probe"\n'
    )
    dist = tmp_path / "dist"
    proc = subprocess.run(
        (sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)),
        cwd=project,
        check=False,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, f"python -m build failed:\n{proc.stdout}{proc.stderr}"
    (wheel,) = dist.glob(f"{package}-*.whl")
    passed = report.SessionReport(report_key("wheels-linux", "probe", variant), status="passed")
    passed.artifacts.append(report.artifact(wheel, kind="wheel", variant=variant))
    report.write(passed, tmp_path / "reports")
    return wheel


@pytest.fixture(name="built")
def fixture_built(tmp_path):
    """A real wheel from a tiny setuptools project, and its passed wheels-linux report."""
    wheel = build_probe(tmp_path, NAME, "cpu")
    reports = tmp_path / "reports"
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (
        ("init", "-q"),
        ("commit", "-q", "--allow-empty", "-m", "feat: the probe"),
        ("tag", "v0.1.0"),
    ):
        subprocess.run(
            ("git", "-c", "user.name=t", "-c", "user.email=t@e", *args), cwd=repo, check=True
        )
    return wheel, reports, repo


# The release's pipeline.toml: the cpu variant goes to the index, under a name the project holds.
PIPELINE = (
    '[project]\nname = "probe"\nsource = "."\npackage = "p"\ncli = "p"\n'
    f'distribution = "{NAME}"\n\n[release]\npypi_names = ["{NAME}"]\n\n'
    f'[variants.cpu]\ndistribution = "{NAME}"\npypi = true\n'
)


def release(index_url, built, api_url, tmp_path, pipeline=PIPELINE):
    """`python -m mlc_ci release --publish` against the index and the GitHub stand-in."""
    wheel, reports, repo = built
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "GITHUB_TOKEN": "tok",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_API_URL": api_url,
        "TWINE_USERNAME": "anyone",
        "TWINE_PASSWORD": "anything",
        "MLC_CI_REPORTS_DIR": str(tmp_path / "out-reports"),
    }
    config = tmp_path / "pipeline.toml"
    config.write_text(pipeline)
    return subprocess.run(
        (sys.executable, "-m", "mlc_ci", "release", "--config", str(config), "--tag", "v0.1.0")
        + ("--publish", "--index-url", index_url + "/", "--repo", str(repo))
        + ("--dist", str(wheel.parent), "--reports", str(reports)),
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def pip(*args, cwd):
    """pip ignoring the machine's pip configuration (no find-links, no other index)."""
    return subprocess.run(
        (sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", *args),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout


def test_release_uploads_to_pypiserver_and_reruns_cleanly(index, built, tmp_path):
    url, packages = index
    wheel = built[0]
    with StandIn("tok") as api:
        first = release(url, built, api.url, tmp_path)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "twine" in first.stdout and "upload wheels to" in first.stdout
        # A re-run (say, after a network error half-way) uploads only what the index lacks.
        second = release(url, built, api.url, tmp_path)
        assert second.returncode == 0, second.stdout + second.stderr
        assert f"{wheel.name} is already on the index: not uploaded again" in second.stdout
        assert "upload wheels to" not in second.stdout
        (github_release,) = api.releases_named("v0.1.0")
        names = sorted(a["name"] for a in api.state.assets_of(github_release["id"]))
        assert names == sorted([wheel.name, "SHA256SUMS"])
    assert [p.name for p in packages.iterdir()] == [wheel.name]
    fetched = tmp_path / "fetched"
    pip("download", "--no-deps", "--index-url", f"{url}/simple/", "--dest", str(fetched),
        f"{NAME}=={VERSION}", cwd=tmp_path)  # fmt: skip
    (got,) = fetched.iterdir()
    assert got.read_bytes() == wheel.read_bytes()
    listing = pip("index", "versions", "--index-url", f"{url}/simple/", NAME, cwd=tmp_path)
    assert f"{NAME} ({VERSION})" in listing


def test_same_name_other_bytes_is_refused_before_publishing(index, built, tmp_path):
    url, _ = index
    wheel, reports, _ = built
    with StandIn("tok") as api:
        assert release(url, built, api.url, tmp_path).returncode == 0
        # Rebuilt with other bytes under the same name (and verified again): the index keeps
        # the first file forever, so the release must stop before it touches GitHub.
        with zipfile.ZipFile(wheel, "a") as archive:
            archive.comment = b"rebuilt"
        passed = report.SessionReport(REPORT, status="passed")
        passed.artifacts.append(report.artifact(wheel, kind="wheel", variant="cpu"))
        report.write(passed, reports)
        before = list(api.state.log)
        rerun = release(url, built, api.url, tmp_path)
        assert rerun.returncode == 2, rerun.stdout + rerun.stderr
        assert "with different content" in rerun.stderr and "Traceback" not in rerun.stderr
        assert api.state.log == before


CUDA = f"{NAME}-cu130"  # a variant whose wheels the index never gets
WITH_CUDA = PIPELINE + f'\n[variants.cu130]\ndistribution = "{CUDA}"\n'


def test_only_the_opted_in_variant_reaches_the_index(index, built, tmp_path):
    url, packages = index
    cuda = build_probe(tmp_path, CUDA, "cu130")
    with StandIn("tok") as api:
        done = release(url, built, api.url, tmp_path, WITH_CUDA)
        assert done.returncode == 0, done.stdout + done.stderr
        (github_release,) = api.releases_named("v0.1.0")
        assets = {a["name"] for a in api.state.assets_of(github_release["id"])}
        assert cuda.name in assets  # the GitHub release still has every wheel
    assert [p.name for p in packages.iterdir()] == [built[0].name]


def test_a_name_the_project_does_not_hold_is_refused_before_any_upload(index, built, tmp_path):
    url, packages = index
    build_probe(tmp_path, CUDA, "cu130")
    opted = WITH_CUDA + "pypi = true\n"  # cu130 opts in, but the project does not hold its name
    with StandIn("tok") as api:
        refused = release(url, built, api.url, tmp_path, opted)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert CUDA in refused.stderr and "Traceback" not in refused.stderr
        assert not api.state.log
    assert not list(packages.iterdir())
