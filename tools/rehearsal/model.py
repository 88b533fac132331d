"""The data the rehearsal's parts hand each other: the event, a job's run and a step's result.

The engine (engine.py) walks the workflow; a job runs on a Machine (machine.py: a runner-like
container with its own Docker engine, or the host for tests); `uses:` steps go to the
emulations of actions.py, `run:` steps to the machine's shell. Every path in a JobRun is a
host path that the machine sees at the same path, so both sides read and write the same files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Protocol, Sequence


class RehearsalError(Exception):
    """Stops the rehearsal with one line (an unknown `uses:`, an expression outside the
    implemented subset, a workflow this rehearsal cannot read)."""


@dataclass(frozen=True)
class Completed:
    """What a command on a machine did."""

    returncode: int
    output: str  # stdout and stderr together, as a job log shows them
    timed_out: bool = False


@dataclass(frozen=True)
class Runner:
    """What a runner image tells the job about itself (runner.os, RUNNER_OS, ImageOS, its
    environment), and the local equivalent it is, where it only stands in for one."""

    os: str = "Linux"
    image_os: str = "ubuntu24"
    env: Mapping[str, str] = field(default_factory=dict)
    equivalent: str = ""  # set: the label's jobs run on a declared local equivalent
    # Patterns of the messages by which a job shows it needs what the equivalent lacks (MSVC
    # for a project without a MinGW build): a step that stops on one is `not runnable` there.
    limits: tuple[str, ...] = ()


class Machine(Protocol):
    """Where a job's commands run."""

    image_id: str  # the runner image's id ("host" for the host machine of the tests)
    runner: Runner

    def exec(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        timeout: float | None = None,
    ) -> Completed:
        """Run argv with exactly env (nothing inherited) in cwd."""

    def stop(self) -> None:
        """Stop the machine and its Docker engine; remove what it made outside its root."""


@dataclass(frozen=True)
class Event:
    """The event a rehearsal plays and the repository it happens in."""

    name: str  # pull_request, push, schedule, workflow_dispatch
    ref: str  # refs/heads/main, refs/tags/v1.2.3, refs/pull/1/merge
    sha: str
    repository: str = "mlc-ci/mlc-ci"
    actor: str = "rehearsal"
    default_branch: str = "main"
    fork: bool = False  # a pull_request from a fork: no secrets, a read-only token
    base_ref: str = ""  # pull_request only

    @property
    def ref_type(self) -> str:
        """`tag` or `branch`, as github.ref_type."""
        return "tag" if self.ref.startswith("refs/tags/") else "branch"

    @property
    def ref_name(self) -> str:
        """The short name of the ref, as github.ref_name."""
        return self.ref.split("/", 2)[2] if self.ref.count("/") >= 2 else self.ref


@dataclass
class JobRun:
    """One job (one matrix combination) as it runs: its directories and its changing state."""

    job_id: str  # the workflow's key
    name: str  # the display name after interpolation
    root: Path  # everything of this job lives under it
    machine: Machine
    env: dict[str, str] = field(default_factory=dict)  # job env plus GITHUB_ENV additions
    path: list[str] = field(default_factory=list)  # GITHUB_PATH additions, newest first
    permissions: Mapping[str, str] = field(default_factory=dict)

    @property
    def workspace(self) -> Path:
        """GITHUB_WORKSPACE."""
        return self.root / "work"

    @property
    def temp(self) -> Path:
        """RUNNER_TEMP (and the step scripts and file commands)."""
        return self.root / "temp"

    @property
    def tool_cache(self) -> Path:
        """RUNNER_TOOL_CACHE."""
        return self.root / "toolcache"

    @property
    def home(self) -> Path:
        """HOME: empty at the start, as the runner's own caches are not modelled."""
        return self.root / "home"


@dataclass(frozen=True)
class ImageStandIn:
    """A declared image stand-in: the reference it replaces, the local image, and where that
    was pushed (the loopback registry, by digest)."""

    reference: str  # as the repository's files write it
    local: str  # the image in the host's engine
    pushed: str  # 127.0.0.1:5000/...@sha256:..., what the files say instead

    def record(self, files: list[str]) -> str:
        """The job's stand-in line."""
        return f"image {self.reference}: {self.local} as {self.pushed} (in {', '.join(files)})"


@dataclass(frozen=True)
class Shared:
    """What outlives one job: artifacts, the actions cache, the mirror checkouts come from."""

    root: Path
    mirror: Path  # a bare repository holding the rehearsed commit (and tags)
    submodules_from: Path | None = None  # a directory of bare mirrors named like the URLs' paths
    secrets: Mapping[str, str] = field(default_factory=dict)
    variables: Mapping[str, str] = field(default_factory=dict)
    # Declared stand-ins: submodule path -> a prepared working tree checked out in its place
    # (where a pin or a blob of it cannot be had here); the job's record names each one used.
    standins: Mapping[str, Path] = field(default_factory=dict)
    # Declared image stand-ins (images.py): reference -> the local image pushed in its place.
    images: Mapping[str, ImageStandIn] = field(default_factory=dict)

    @property
    def artifacts(self) -> Path:
        """The run's artifacts, one directory per name."""
        return self.root / "artifacts"

    @property
    def cache(self) -> Path:
        """The repository's actions cache."""
        return self.root / "actions-cache"


@dataclass(frozen=True)
class ActionCall:
    """One `uses:` step: the action as pinned, its inputs after interpolation."""

    uses: str  # owner/repo[/path]@sha
    inputs: Mapping[str, str]
    job: JobRun
    shared: Shared
    event: Event


@dataclass
class StepResult:
    """What a step did; `error` is set when it failed (its one-line reason)."""

    outputs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    log: str = ""
    error: str = ""
    artifacts_in: dict[str, int] = field(default_factory=dict)  # artifact name -> bytes
    artifacts_out: dict[str, int] = field(default_factory=dict)
    # An action's post step (actions/cache saves there); called at the end of the job with
    # whether the job has succeeded so far.
    post: Callable[[bool], "StepResult"] | None = None
    stand_ins: list[str] = field(default_factory=list)  # declared stand-ins this step used
