"""A job's machine: a runner-like container with a Docker engine of its own.

The runner image is made from data alone (runners/<label>.toml: a base image and the Debian
packages standing in for GitHub's hosted image), never from the host's files. Each job gets a
fresh container from it that shares the host's network and sees the job's root (read-write)
and the shared directories (read-only) at their host paths; its engine keeps its images under
the job's root, so a job sees neither the host's images nor another job's.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from tools.rehearsal.model import Completed, RehearsalError, Runner

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the 3.10 sessions
    import tomli as tomllib

RUNNERS = Path(__file__).resolve().parent / "runners"
IMAGE_REPOSITORY = "mlc-ci-rehearsal/runner"
ENGINE_TIMEOUT = 60.0  # seconds the job's engine gets to answer `docker info`
# A hosted runner's root may do anything, and the job's engine needs most of it. An engine that
# cannot grant every capability (a sandbox whose bounding set lacks CAP_SYS_RESOURCE) refuses
# --privileged ("unable to apply caps"); it gets the rest of what --privileged grants instead.
PRIVILEGED = ("--privileged",)
ALMOST_PRIVILEGED = (
    *("--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE", "--device-cgroup-rule", "a *:* rwm"),
    *("--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined"),
    *("--security-opt", "systempaths=unconfined"),
)
# A Debian package name (Policy 5.6.1): anything else could carry shell into the RUN line.
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+")
# Archive fields end up in the Dockerfile's RUN lines too: plain names and absolute paths only.
_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_PATH = re.compile(r"/[A-Za-z0-9_./-]*")
_SHA512 = re.compile(r"[0-9a-f]{128}")
DOWNLOADS = Path.home() / ".cache" / "mlc-ci" / "rehearsal"


@dataclass(frozen=True)
class Archive:
    """A tarball the image unpacks (a runtime Debian packages too old): fetched on the host by
    URL, checked against its sha512, so the data file still decides every byte."""

    name: str
    url: str
    sha512: str
    into: str
    strip: int = 1
    links: tuple[tuple[str, str], ...] = ()  # (link, target)

    def fetch(self, directory: Path) -> None:
        """The verified tarball as directory/<name>.tgz (downloaded once per sha512)."""
        cached = DOWNLOADS / f"{self.sha512[:16]}-{self.name}.tgz"
        if not cached.is_file():
            try:
                with urllib.request.urlopen(self.url, timeout=120) as response:
                    body = response.read()
            except OSError as exc:
                raise RehearsalError(f"cannot fetch {self.url}: {exc}") from exc
            if hashlib.sha512(body).hexdigest() != self.sha512:
                raise RehearsalError(f"{self.url} does not have the sha512 its data file names")
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_bytes(body)
        shutil.copyfile(cached, directory / f"{self.name}.tgz")

    @property
    def dockerfile(self) -> str:
        """The lines that unpack it."""
        links = "".join(f" && ln -sf {target} {link}" for link, target in self.links)
        return (
            f"COPY {self.name}.tgz /tmp/\n"
            f"RUN mkdir -p {self.into} && tar -xzf /tmp/{self.name}.tgz -C {self.into} "
            f"--strip-components={self.strip} --no-same-owner && rm /tmp/{self.name}.tgz{links}\n"
        )


def _archive(raw: object) -> Archive | None:
    if not isinstance(raw, dict):
        return None
    links = raw.get("links", {})
    fields = (raw.get("name"), raw.get("sha512"), raw.get("into"))
    if not (
        all(isinstance(f, str) for f in fields)
        and _NAME.fullmatch(fields[0])
        and _SHA512.fullmatch(fields[1])
        and _PATH.fullmatch(fields[2])
        and str(raw.get("url", "")).startswith("https://")
        and isinstance(raw.get("strip", 1), int)
        and isinstance(links, dict)
        and all(
            _PATH.fullmatch(k) and isinstance(v, str) and _PATH.fullmatch("/" + v)
            for k, v in links.items()
        )
    ):
        return None
    return Archive(
        raw["name"],
        raw["url"],
        raw["sha512"],
        raw["into"],
        raw.get("strip", 1),
        tuple(links.items()),
    )


def _docker(docker: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([docker, *args], capture_output=True, text=True, check=False)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


@dataclass(frozen=True)
class RunnerSpec:
    """A runner image as its data file describes it."""

    label: str
    path: Path
    tag: str  # names the data file's bytes: an edit there makes a new image
    base: str
    packages: tuple[str, ...]
    archives: tuple[Archive, ...] = ()
    runner: Runner = Runner()

    @property
    def dockerfile(self) -> str:
        """The image's Dockerfile: base, packages and archives are its only inputs."""
        packages = " \\\n      ".join(self.packages)
        return (
            f"FROM {self.base}\n"
            "ARG DEBIAN_FRONTEND=noninteractive\n"
            "RUN apt-get update -q \\\n"
            f" && apt-get install -y -q --no-install-recommends \\\n      {packages} \\\n"
            " && rm -rf /var/lib/apt/lists/*\n"
        ) + "".join(archive.dockerfile for archive in self.archives)

    def write_context(self, directory: Path) -> None:
        """Make directory the build context: the Dockerfile and the verified archives only."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "Dockerfile").write_text(self.dockerfile, encoding="utf-8")
        for archive in self.archives:
            archive.fetch(directory)


def _read(path: Path) -> tuple[bytes, dict]:
    raw = path.read_bytes()
    try:
        return raw, tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RehearsalError(f"{path}: {exc}") from exc


def _runner(path: Path, data: dict) -> Runner:
    """runner.os, ImageOS, environment and the equivalent note of a data file."""
    env, limits = data.get("env", {}), data.get("limits", [])
    fields = (data.get("os", "Linux"), data.get("image_os", "ubuntu24"), data.get("equivalent", ""))
    if not (
        all(isinstance(f, str) for f in fields)
        and fields[0] in ("Linux", "Windows", "macOS")
        and isinstance(env, dict)
        and all(re.fullmatch(r"[A-Z][A-Z0-9_]*", k) and isinstance(v, str) for k, v in env.items())
        and isinstance(limits, list)
        and all(isinstance(limit, str) and _compiles(limit) for limit in limits)
    ):
        raise RehearsalError(
            f"{path}: os is Linux, Windows or macOS; image_os and equivalent are strings; env "
            "maps upper-case names to strings; limits is a list of regular expressions"
        )
    return Runner(fields[0], fields[1], dict(env), fields[2], tuple(limits))


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def runner_spec(label: str, *, runners: Path = RUNNERS) -> RunnerSpec:
    """Read runners/<label>.toml; `extends = "<label>"` adds its packages and archives to that
    file's (a local equivalent built on another stand-in)."""
    path = runners / f"{label}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in runners.glob("*.toml"))) or "none"
        raise RehearsalError(f"no runner image for runs-on '{label}' in {runners} (known: {known})")
    raw, data = _read(path)
    parent = data.get("extends")
    if parent is not None:
        if (
            not isinstance(parent, str)
            or parent == label
            or not (runners / f"{parent}.toml").is_file()
        ):
            raise RehearsalError(f"{path}: extends names no other data file in {runners}")
        above = runner_spec(parent, runners=runners)
        raw += above.tag.encode()  # the parent's tag names its whole chain of files
        data = {
            **data,
            "base": data.get("base", above.base),
            "packages": [*above.packages, *data.get("packages", [])],
        }
        inherited = above.archives
    else:
        inherited = ()
    base, packages = data.get("base"), data.get("packages")
    if not (
        isinstance(base, str)
        and isinstance(packages, list)
        and packages
        and all(isinstance(p, str) and _PACKAGE.fullmatch(p) for p in packages)
    ):
        raise RehearsalError(f"{path}: needs base (an image) and packages (Debian package names)")
    archives = [_archive(item) for item in data.get("archives", [])]
    if None in archives:
        raise RehearsalError(
            f"{path}: each [[archives]] needs name, an https url, sha512 (hex), into (a path), "
            "and may have strip and links"
        )
    tag = f"{IMAGE_REPOSITORY}:{label}-{hashlib.sha256(raw).hexdigest()[:12]}"
    own = tuple(a for a in archives if a)
    return RunnerSpec(label, path, tag, base, tuple(packages), inherited + own, _runner(path, data))


def runner_image(label: str, docker: str, *, runners: Path = RUNNERS) -> str:
    """The id of the runner image for `runs-on: label`, built first if its tag is missing."""
    spec = runner_spec(label, runners=runners)
    if _docker(docker, "image", "inspect", spec.tag).returncode != 0:
        # No registry may be reachable: a missing base is named here, not pulled by the build.
        if _docker(docker, "image", "inspect", spec.base).returncode != 0:
            raise RehearsalError(
                f"{spec.path}: base image {spec.base} is missing "
                "(docker/bootstrap-base.sh makes mlc-ci/debian:bookworm)"
            )
        with tempfile.TemporaryDirectory(prefix="mlc-ci-runner-") as context:
            spec.write_context(Path(context))
            build = _docker(docker, "build", "--network", "host", "-t", spec.tag, context)
        if build.returncode != 0:
            raise RehearsalError(
                f"building {spec.tag} from {spec.path} failed: {_last_line(build.stderr)}"
            )
    return _docker(docker, "image", "inspect", "-f", "{{.Id}}", spec.tag).stdout.strip()


def _run_args(name: str, mounts: Sequence[str], image: str, privilege: Sequence[str]) -> list[str]:
    return [
        *("run", "-d", "--network", "host", "--name", name, *privilege),
        "--init",  # reaps what dockerd and the job's commands leave behind
        *(arg for mount in mounts for arg in ("--mount", mount)),
        *(image, "sleep", "infinity"),
    ]


def _mount(source: Path, target: str, readonly: bool = False) -> str:
    """A --mount value; CSV-quoted, since a path may hold a comma. --mount (unlike -v) refuses a
    missing source instead of creating it on the host."""
    fields = ["type=bind", f"source={source}", f"target={target}"] + ["readonly"] * readonly
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


class ContainerMachine:
    """A job's commands run in its own container, with its own Docker engine."""

    def __init__(
        self, name: str, docker: str, job_root: Path, image_id: str, runner: Runner = Runner()
    ) -> None:
        self.name = name
        self.runner = runner
        self.docker = docker
        self.job_root = job_root
        self.image_id = image_id
        self._stopped = False

    @property
    def docker_data(self) -> Path:
        """The engine's /var/lib/docker: a host directory, since overlay2 cannot nest in the
        container's own overlay filesystem."""
        return self.job_root / "docker-data"

    @classmethod
    def start(
        cls,
        image: str,
        job_root: Path,
        ro_mounts: Sequence[Path],
        docker: str,
        name: str,
        *,
        runner: Runner = Runner(),
    ) -> ContainerMachine:
        """Start the container from image and the job's engine in it."""
        job_root = job_root.resolve()
        machine = cls(name, docker, job_root, image, runner)
        try:
            machine.docker_data.mkdir()
        except FileExistsError as exc:
            raise RehearsalError(
                f"{exc.filename} exists: a machine of this job still runs"
            ) from exc
        mounts = [_mount(job_root, str(job_root))]
        mounts += [_mount(path.resolve(), str(path.resolve()), True) for path in ro_mounts]
        mounts.append(_mount(machine.docker_data, "/var/lib/docker"))
        run = _docker(docker, *_run_args(name, mounts, image, PRIVILEGED))
        if "unable to apply caps" in run.stderr:
            _docker(docker, "rm", "-f", name)
            run = _docker(docker, *_run_args(name, mounts, image, ALMOST_PRIVILEGED))
        if run.returncode != 0:
            if "is already in use" not in run.stderr:  # that container is not ours to remove
                _docker(docker, "rm", "-f", name)  # one that failed to start stays created
            machine.docker_data.rmdir()
            raise RehearsalError(f"could not start {name} from {image}: {_last_line(run.stderr)}")
        machine.image_id = _docker(docker, "inspect", "-f", "{{.Image}}", name).stdout.strip()
        machine._start_engine()
        return machine

    def _start_engine(self) -> None:
        log = self.job_root / "dockerd.log"
        # /sys and the cgroup mounts are read-only unless --privileged; the engine writes there
        # (a no-op when privileged). No iptables and no bridge: the container shares the host's
        # network, whose rules and interfaces are the host engine's.
        script = (
            "exec >>\"$0\" 2>&1; for m in /sys $(awk '$3 ~ /^cgroup2?$/ {print $2}' /proc/mounts)"
            '; do mount -o remount,bind,rw "$m"; done'
            "; exec dockerd --iptables=false --ip6tables=false --bridge=none"
        )
        _docker(self.docker, "exec", "-d", self.name, "sh", "-c", script, str(log))
        deadline = time.monotonic() + ENGINE_TIMEOUT
        while _docker(self.docker, "exec", self.name, "docker", "info").returncode != 0:
            if time.monotonic() > deadline:
                self.stop()
                raise RehearsalError(
                    f"the Docker engine in {self.name} did not answer within "
                    f"{ENGINE_TIMEOUT:.0f} s; see {log}"
                )
            time.sleep(0.5)

    def exec(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        timeout: float | None = None,
    ) -> Completed:
        """Run argv with exactly env (`env -i`: nothing of the image's ENV) in cwd."""
        command = [self.docker, "exec", "-w", str(cwd), self.name]
        if timeout is not None:
            # Inside, so that the command dies with the timeout (killing the CLI would not
            # stop it); -k for a command that ignores SIGTERM.
            command += ["timeout", "-k", "10", f"{timeout:.3f}"]
        command += ["env", "-i", "--", *(f"{key}={value}" for key, value in env.items()), *argv]
        started = time.monotonic()
        try:
            proc = subprocess.run(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                check=False,
                timeout=None if timeout is None else timeout + 30,  # in case the CLI hangs
            )
        except subprocess.TimeoutExpired as exc:
            return Completed(124, (exc.stdout or b"").decode("utf-8", "replace"), timed_out=True)
        output = proc.stdout.decode("utf-8", "replace")
        # 124: timeout's TERM ended it; 137: its KILL did. The clock tells them from a
        # command's own exit status.
        if timeout is not None and proc.returncode in (124, 137):
            if time.monotonic() - started >= timeout:
                return Completed(124, output, timed_out=True)
        return Completed(proc.returncode, output)

    def stop(self) -> None:
        """Stop the engine and the container; remove docker-data. A second call does nothing."""
        if self._stopped:
            return
        self._stopped = True
        # The engine first, so that it stops its containers and unmounts its layers itself
        # (at most 30 s); then the container deletes what the engine wrote, which belongs to
        # its root, so that a host user without privileges can remove the directory.
        wait = 'kill "$p" && for _ in $(seq 150); do kill -0 "$p" || exit 0; sleep 0.2; done'
        script = f"p=$(cat /var/run/docker.pid 2>/dev/null) && {wait}"
        _docker(self.docker, "exec", self.name, "sh", "-c", script)
        _docker(
            self.docker, "exec", self.name, "find", "/var/lib/docker", "-mindepth", "1", "-delete"
        )
        _docker(self.docker, "rm", "-f", self.name)
        if self.docker_data.exists():
            shutil.rmtree(self.docker_data)
