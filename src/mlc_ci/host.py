"""Read-only probes of the host: toolkits and tools that decide what a session can do."""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from mlc_ci.errors import PipelineError
from mlc_ci.plan import cache, version_rules
from mlc_ci.plan.version_rules import Declared
from mlc_ci.plan.versions import (
    SourceVersion,
    build_version,
    ignored_note,
    is_nightly_build,
    nightly_date,
    normalised_pep440,
)
from mlc_ci.plan.wheels import parse_nvcc_version
from mlc_ci.run import capture
from mlc_ci.versioning import git_version, is_shallow, shallow_error


def cuda_home(env: Mapping[str, str]) -> str | None:
    """The CUDA toolkit: CUDA_HOME / CUDA_PATH, else nvcc on PATH, else /usr/local/cuda.

    An explicit CUDA_HOME is authoritative: when it holds no toolkit there is none.
    """
    explicit = env.get("CUDA_HOME") or env.get("CUDA_PATH")
    candidates = [explicit] if explicit else []
    nvcc = shutil.which("nvcc", path=env.get("PATH"))
    if nvcc and not explicit:
        candidates.append(str(Path(nvcc).resolve().parent.parent))
    if not explicit:
        candidates.append("/usr/local/cuda")
    for home in candidates:
        # A wrapper script on PATH (/usr/local/bin/nvcc) is not a toolkit: require headers.
        bin_dir = Path(home or ".") / "bin"
        if home and ((bin_dir / "nvcc").is_file() or (bin_dir / "nvcc.exe").is_file()):
            if (Path(home) / "include" / "cuda_runtime.h").is_file():
                return str(Path(home))
    return None


def nvcc_version(home: str | None) -> str | None:
    """'13.0' for the toolkit at `home`; None when there is none or it does not answer."""
    if not home:
        return None
    try:
        return parse_nvcc_version(capture((f"{home}/bin/nvcc", "--version")))
    except PipelineError:
        return None


def has_tool(name: str, env: Mapping[str, str]) -> bool:
    """True when `name` is on the PATH of `env`."""
    return shutil.which(name, path=env.get("PATH")) is not None


def jobs(env: Mapping[str, str]) -> int:
    """Build parallelism: MLC_CI_JOBS, else the CPUs this process may use."""
    value = env.get("MLC_CI_JOBS", "").strip()
    if not value:
        return max(1, len(os.sched_getaffinity(0)))
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise PipelineError(
            f"MLC_CI_JOBS (environment) is {value!r}; set it to a whole number of parallel "
            "compile jobs >= 1, or unset it to use every CPU."
        )
    return int(value)


def cuda_places(env: Mapping[str, str]) -> list[str]:
    """Where cuda_home() looks for a toolkit, in words (for the message when none is found)."""
    for name in ("CUDA_HOME", "CUDA_PATH"):
        if env.get(name):
            return [f"{name}={env[name]}"]
    return ["nvcc on PATH", "/usr/local/cuda"]


def docker_facts(docker: str) -> dict[str, object]:
    """What the docker CLI and engine can do: buildx present, client major version, engine up."""
    facts: dict[str, object] = {"buildx": False, "client_major": None, "engine": False, "error": ""}
    try:
        version = capture((docker, "--version"))
    except PipelineError as exc:
        facts["error"] = str(exc)
        return facts
    match = re.search(r"version (\d+)\.", version)
    facts["client_major"] = int(match.group(1)) if match else None
    try:
        capture((docker, "buildx", "version"))
        facts["buildx"] = True
    except PipelineError:
        pass
    try:
        capture((docker, "version", "--format", "{{.Server.Version}}"))
        facts["engine"] = True
    except PipelineError as exc:
        facts["error"] = str(exc)
    return facts


def require_engine(docker: str) -> dict[str, object]:
    """docker_facts, with one clear line when the CLI or the engine is missing."""
    facts = docker_facts(docker)
    if facts["client_major"] is None and facts["error"]:
        raise PipelineError(f"no Docker engine is reachable: {facts['error']}")
    if not facts["engine"]:
        raise PipelineError(
            f"no Docker engine is reachable through `{docker}` "
            f"({str(facts['error']).rstrip('.')}); start dockerd "
            "(`scripts/ci-services.sh start docker`) or set DOCKER_HOST."
        )
    return facts


def image_present(docker: str, image: str) -> bool:
    """True when the engine has `image` locally."""
    try:
        capture((docker, "image", "inspect", "--format", "{{.Id}}", image))
    except PipelineError:
        return False
    return True


def git_facts(repo: str) -> dict[str, Any]:
    """ref, sha and SemVer version of the checkout, as docker/metadata-action would see them."""
    fix = "run inside a git checkout with at least one commit"
    sha = capture(("git", "-C", repo, "rev-parse", "HEAD"), fix=fix).strip()
    try:
        ref = capture(("git", "-C", repo, "symbolic-ref", "-q", "HEAD")).strip()
    except PipelineError:
        try:
            tag = capture(("git", "-C", repo, "describe", "--exact-match", "--tags", "HEAD"))
            ref = f"refs/tags/{tag.strip()}"
        except PipelineError:
            ref = ""
    epoch = int(capture(("git", "-C", repo, "log", "-1", "--format=%ct"), fix=fix).strip())
    version = git_version(Path(repo))
    return {
        "ref": ref,
        "sha": sha,
        "version": version.semver,
        "commit_epoch": epoch,
        "version_note": ignored_note(version),
    }


def find_wine(env: Mapping[str, str]) -> str | None:
    """A 64-bit wine loader: wine64 / wine on PATH, else Debian's /usr/lib/wine/wine64."""
    for name in ("wine64", "wine"):
        found = shutil.which(name, path=env.get("PATH"))
        if found:
            return found
    debian = Path("/usr/lib/wine/wine64")
    return str(debian) if debian.is_file() else None


def cache_reachable(url: str, timeout: float = 3.0) -> str:
    """'' when the remote compile cache answers, else why not (a read of the network)."""
    scheme, host, port = cache.endpoint(url)
    if scheme == "file":
        path = Path(urllib.parse.urlsplit(url).path)
        return "" if path.is_dir() and os.access(path, os.W_OK) else f"{path} is no writable dir"
    if scheme == "redis+unix":
        path = urllib.parse.urlsplit(url).path
        return "" if Path(path).exists() else f"no socket at {path}"
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            if scheme != "redis":
                return ""
            conn.settimeout(timeout)
            password = cache.redis_password(url)
            if password:
                conn.sendall(f"AUTH {password}\r\n".encode())
                if not conn.recv(128).startswith(b"+OK"):
                    return "the redis server refused the password"
            conn.sendall(b"PING\r\n")
            answer = conn.recv(128)
    except OSError as exc:
        return f"{host}:{port} does not answer ({exc.strerror or exc})"
    return (
        "" if answer.startswith(b"+PONG") else f"{host}:{port} is no redis server ({answer[:40]!r})"
    )


def source_version(  # pylint: disable=too-many-arguments
    source: Path,
    rule: str,
    env: Mapping[str, str],
    declared: Declared,
    installer: str = "pip",
    tag_repo: Path | None = None,
) -> SourceVersion:
    """The version to build `source` at ([project].version `rule`; `declared`: what its
    pyproject.toml says), its commit and SOURCE_DATE_EPOCH.

    MLC_CI_SOURCE_VERSION wins for a static version (a build without the git history, such as
    the Docker builder, which gets it from the host); SOURCE_DATE_EPOCH overrides the time.
    `installer` (pip or uv) fills the isolated environment that asks the backend. `tag_repo`
    ([release].version_from = "tag"): the repository whose release tag at HEAD is the version.
    A nightly build (versions.is_nightly_build) of the git rule takes the night's version.
    """
    epoch = epoch_override(env)
    pyproject = source / "pyproject.toml"
    pkg_info = source / "PKG-INFO"
    given = env.get("MLC_CI_SOURCE_VERSION", "").strip()
    if given:
        if declared.dynamic:
            raise version_rules.given_refusal(declared, str(pyproject))
        pep = normalised_pep440(given, "MLC_CI_SOURCE_VERSION (environment)")
        return SourceVersion(pep, "", "", epoch, "MLC_CI_SOURCE_VERSION (environment)")
    rule = version_rules.choose_rule(rule, declared, pkg_info.is_file(), str(pyproject))
    if rule == "git":
        return _git_source_version(source, epoch, pkg_info.is_file(), (env, tag_repo))
    if tag_repo is not None:
        raise PipelineError(
            f'[release].version_from = "tag" stamps the release tag\'s version into {pyproject}, '
            f'but the "{rule}" rule builds the version written there and never stamps it; set '
            '[project].version = "git", or [release].version_from = "source" (a release tag '
            "must then equal the source's version)."
        )
    commit = _commit(source)
    if epoch is None:
        epoch, epoch_origin = version_rules.build_epoch(
            commit[1] if commit else None,
            pkg_info.stat().st_mtime if pkg_info.is_file() else None,
            None if commit or pkg_info.is_file() else newest_file(source),
        )
    else:
        epoch_origin = "SOURCE_DATE_EPOCH (environment)"
    revision = commit[0] if commit else ""
    if rule == "pyproject":
        pep = normalised_pep440(declared.static, f"the version in {pyproject}")
        origin = "pyproject.toml ([project].version)"
    elif pkg_info.is_file():
        text = pkg_info.read_text(encoding="utf-8", errors="replace")
        pep = normalised_pep440(
            version_rules.pkg_info_version(text, str(pkg_info)), f"the Version: in {pkg_info}"
        )
        origin = "PKG-INFO (an unpacked sdist)"
    elif declared.dynamic:
        if commit and "setuptools_scm" in declared.provider and is_shallow(source):
            raise shallow_error(source, "build from its sdist")
        pep = normalised_pep440(
            backend_version(source, installer), f"the version {declared.provider} computes"
        )
        origin = f"the backend ({declared.provider}, prepare_metadata_for_build_wheel)"
    else:
        pep = normalised_pep440(declared.static, f"the version in {pyproject}")
        origin = "the backend (the static [project].version of pyproject.toml)"
    return SourceVersion(pep, "", revision, epoch, origin, kept=True, epoch_origin=epoch_origin)


def _git_source_version(
    source: Path, epoch: int | None, sdist: bool, build: tuple[Mapping[str, str], Path | None]
) -> SourceVersion:
    """The "git" rule: the version of the git repository holding `source`, unless a release
    tag of `tag_repo` is at its HEAD; a nightly build's version moves every night."""
    env, tag_repo = build
    try:
        shallow = is_shallow(source)
    except PipelineError as exc:
        sdist_fix = ' (an unpacked sdist: "backend" reads its PKG-INFO)' if sdist else ""
        raise PipelineError(
            f"{source} is in no git checkout, so its version cannot come from git; build from "
            'a clone, set MLC_CI_SOURCE_VERSION, or set [project].version = "backend"'
            f'{sdist_fix} or "pyproject".'
        ) from exc
    if shallow:
        raise shallow_error(source, "set MLC_CI_SOURCE_VERSION")
    _refuse_unpopulated_submodule(source)
    version = git_version(source)
    revision, commit_time = capture(
        ("git", "-C", str(source), "log", "-1", "--format=%H %ct")
    ).split()
    where = f"{version.tag} + {version.distance}" if version.tag else "no v* tag"
    origin = f"git ({where}, {revision[:7]})"
    if version.ignored_tags:
        origin += f"; {ignored_note(version)}"
    released = _released(tag_repo)
    night = ""
    if is_nightly_build(env):
        today = datetime.now(timezone.utc).strftime("%Y%m%d")
        night = nightly_date(env.get("MLC_CI_NIGHTLY_DATE", ""), today)
    chosen, decided = build_version(version, released, night)
    if decided.startswith("release tag"):
        origin = f"the {decided} of {tag_repo} (the source is {version.public}: {origin})"
    elif decided:
        origin = f"{decided}, counted from {origin}"
    return SourceVersion(
        chosen.public,
        chosen.semver,
        revision,
        int(commit_time) if epoch is None else epoch,
        origin,
        epoch_origin="the commit time" if epoch is None else "SOURCE_DATE_EPOCH (environment)",
        night=night,
    )


def _released(tag_repo: Path | None):
    """The git version of the repository whose release tags are authoritative (None: none is)."""
    if tag_repo is None:
        return None
    if is_shallow(tag_repo):
        raise shallow_error(tag_repo, "set MLC_CI_SOURCE_VERSION")
    return git_version(tag_repo)


def _commit(source: Path) -> tuple[str, int] | None:
    """The commit and commit time of the checkout holding `source` (None outside any)."""
    try:
        said = capture(("git", "-C", str(source), "log", "-1", "--format=%H %ct")).split()
    except PipelineError:
        return None
    return (said[0], int(said[1])) if len(said) == 2 and said[1].isdigit() else None


def newest_file(source: Path) -> tuple[int, str] | None:
    """The newest source file under `source` (mtime, relative path), build trees and what the
    wheel sessions write left out (version_rules.NOT_SOURCES)."""
    times = []
    for root, dirs, names in os.walk(source):
        dirs[:] = [d for d in dirs if d not in version_rules.NOT_SOURCES]
        for name in names:
            path = Path(root, name)
            relative = path.relative_to(source)
            if version_rules.counts_for_epoch(relative) and not path.is_symlink():
                times.append((path.stat().st_mtime, relative.as_posix()))
    return version_rules.newest(times)


def backend_version(source: Path, installer: str) -> str:
    """The version the project's PEP 517 backend writes (prepare_metadata_for_build_wheel in
    an isolated environment, run in a subprocess so the read is echoed and recorded)."""
    said = capture(
        (sys.executable, "-m", "mlc_ci.backend_version", str(source), installer),
        fix="the backend could not compute the version (setuptools_scm needs a git checkout "
        "with its tags, or an sdist's PKG-INFO); build from a full clone or from the sdist",
    )
    answers = [line for line in said.splitlines() if line.startswith("Version: ")]
    return answers[-1].removeprefix("Version: ") if answers else ""


def _refuse_unpopulated_submodule(source: Path) -> None:
    """A submodule path filled without its own .git would take the superproject's version.

    A source that is an ordinary subdirectory (mini-llm here) takes the repository's version on
    purpose; one that the superproject records as a gitlink has a history of its own.
    """
    # No path read back from git: its output is decoded as text, so a checkout path that is not
    # UTF-8 would no longer match `source`. The prefix only counts levels; the entry is looked
    # up from the parent directory, by the name the OS gave.
    real = source.resolve()
    prefix = capture(("git", "-C", str(real), "rev-parse", "--show-prefix")).strip().strip("/")
    if not prefix:
        return
    top = real.parents[prefix.count("/")]
    entry = capture(
        ("git", "--literal-pathspecs", "-C", str(real.parent), "ls-files", "--stage", "--")
        + (real.name,)
    )
    if entry.startswith("160000 "):
        raise PipelineError(
            f"{source} is a submodule of {top} but not a git checkout of its own, so git would "
            "give the superproject's version; check it out with `git submodule update --init "
            "--recursive`, or set MLC_CI_SOURCE_VERSION."
        )


def epoch_override(env: Mapping[str, str]) -> int | None:
    """SOURCE_DATE_EPOCH from the environment, checked (None when unset)."""
    raw = env.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()):
        raise PipelineError(
            f"SOURCE_DATE_EPOCH (environment) is {raw!r}; use seconds since 1970 (e.g. "
            "`git log -1 --format=%ct`) or unset it."
        )
    return int(raw)


def gpus(env: Mapping[str, str]) -> list[str]:
    """The GPUs `nvidia-smi -L` lists ([] without nvidia-smi, a driver or a GPU)."""
    smi = shutil.which("nvidia-smi", path=env.get("PATH"))
    if not smi:
        return []
    try:
        listed = capture((smi, "-L"))
    except PipelineError:
        return []
    return [line.strip() for line in listed.splitlines() if line.startswith("GPU ")]


def python_for(version: str, env: Mapping[str, str]) -> str | None:
    """The interpreter `python<version>` on PATH that runs and is that version (None when
    there is none: a pyenv shim of a version pyenv does not select does not count)."""
    found = shutil.which(f"python{version}", path=env.get("PATH"))
    if not found:
        return None
    try:
        said = capture((found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"))
    except PipelineError:
        return None
    return found if said.strip() == version else None


def nvidia_driver(env: Mapping[str, str]) -> str:
    """The NVIDIA driver version nvidia-smi reports ("" without nvidia-smi or a driver)."""
    smi = shutil.which("nvidia-smi", path=env.get("PATH"))
    if not smi:
        return ""
    try:
        said = capture((smi, "--query-gpu=driver_version", "--format=csv,noheader"))
    except PipelineError:
        return ""
    return said.strip().splitlines()[0].strip() if said.strip() else ""


def last_change_epoch(path: Path, env: Mapping[str, str]) -> int | None:
    """SOURCE_DATE_EPOCH for a subproject with a version of its own (the pair): the time of the
    last commit that changed `path`, so an unchanged subproject rebuilds byte for byte at every
    commit. An explicit SOURCE_DATE_EPOCH wins; None outside a git checkout."""
    override = epoch_override(env)
    if override is not None:
        return override
    try:
        said = capture(("git", "-C", str(path), "log", "-1", "--format=%ct", "--", "."))
    except PipelineError:
        return None
    return int(said.strip()) if said.strip().isdigit() else None


def docker_free_bytes(docker: str) -> tuple[int, str] | None:
    """Free bytes on the engine's data root and that directory, or None when it is not on this
    host (a remote engine) or cannot be read."""
    try:
        root = capture((docker, "info", "--format", "{{.DockerRootDir}}")).strip()
        return shutil.disk_usage(root).free, root
    except (PipelineError, OSError):
        return None
