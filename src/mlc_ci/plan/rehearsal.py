"""A local rehearsal of the CI workflow (pure): which jobs run, how, and what they hand on.

The matrix is the plan job's (`plan/matrix.py`); this module adds what GitHub adds around each
job: the event's variables, the job environment of its stage, the artifacts a stage uploads and
downloads, and what this host can run. The artifact contract is data here, and
tests/unit/test_workflow_contract.py holds .github/workflows/ci.yml to it:

- gate and build jobs start from the checkout alone (they download nothing);
- verify and release jobs download the artifacts their matrix entry names exactly (`download`:
  wheels and reports, into the checkout; `download_images`: image archives, into dist/images),
  merged: a verify job its variant's, the release job every build job's but no image archive;
- each job uploads its artifact (named per session and variant) from the paths of its stage,
  docker-build's image archives apart into `<artifact>-images`.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from mlc_ci.errors import PipelineError
from mlc_ci.plan.matrix import STAGES, Entry, pattern_names

EVENTS = ("pull_request", "push", "tag")
HERE, LOCAL, NOT_RUNNABLE, NOT_FOR_EVENT, REUSED = (
    "here",
    "local equivalent",
    "not runnable here",
    "not for this event",
    "reused",
)
# Where docker-build's image archives are (MLC_CI_SAVE_IMAGES=1): the images artifact holds
# this directory's files at its root (upload-artifact roots a one-directory artifact there), so
# it is downloaded into it.
IMAGES_DIR = "dist/images"
IMAGES_UPLOAD = (f"{IMAGES_DIR}/",)
# What the workflow's upload-artifact step of each stage takes (a `!` path is left out).
UPLOADS: dict[str, tuple[str, ...]] = {
    "gate": ("dist/", "reports/"),
    "build": ("dist/", "reports/", f"!{IMAGES_DIR}/"),
    "verify": ("reports/",),
    "release": (
        "dist/SHA256SUMS",
        "dist/RELEASE_NOTES.md",
        "reports/release.json",
        "reports/release-nightly.json",
        "reports/release-branch.json",
    ),
}
# The download-artifact steps of each stage: the matrix field whose names it downloads, and
# where to (each step runs only when its field names something).
DOWNLOADS: dict[str, tuple[tuple[str, str], ...]] = {
    "gate": (),
    "build": (),
    "verify": (("download", "."), ("download_images", IMAGES_DIR)),
    "release": (("download", "."),),
}
# The stages whose actions/checkout step keeps the action's default fetch-depth of 1 in ci.yml
# (tests/unit/test_workflow.py holds the two equal): their jobs get a depth-1 clone here too.
SHALLOW_STAGES = ("gate",)
# What a rehearsal's job gets that the workflow's session step does not set itself: GitHub's
# own variables of every runner, the rehearsed pipeline.toml, and the local stand-ins for
# trusted publishing and for GitHub. Everything else of stage_env() is the workflow's step env
# (tests/unit/test_workflow_contract.py compares the two).
NOT_IN_WORKFLOW = frozenset(
    {
        "CI",
        "GITHUB_EVENT_NAME",
        "GITHUB_REF",
        "GITHUB_REF_NAME",
        "GITHUB_REF_TYPE",
        "GITHUB_SHA",
        "GITHUB_REPOSITORY",
        "GITHUB_BASE_REF",
        "GITHUB_API_URL",
        "GITHUB_SERVER_URL",
        "MLC_CI_RELEASE_GITHUB",
        "TWINE_USERNAME",
        "TWINE_PASSWORD",
    }
)
PR_NUMBER = 1  # the pull request a pull_request rehearsal pretends to be


@dataclass(frozen=True)
class Contract:
    """What a session reads from earlier jobs' artifacts and what it writes into its own
    ({variant} and {python} are the job's)."""

    consumes: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()


CONTRACT: dict[str, Contract] = {
    "lint": Contract(produces=("reports/lint.json",)),
    "unit": Contract(produces=("reports/unit-{python}.json", "reports/unit-{python}/junit.xml")),
    # Per-project reports: reports/<session>-<project>-<variant>.json (release.report_key).
    "wheels-linux": Contract(produces=("reports/wheels-linux-*-{variant}.json", "dist/*.whl")),
    "wheels-windows": Contract(produces=("reports/wheels-windows-*-{variant}.json", "dist/*.whl")),
    "docker-build": Contract(
        produces=("reports/docker-build-{variant}.json", "dist/images/docker-{variant}-*.tar")
    ),
    "integration": Contract(
        consumes=("reports/docker-build-{variant}.json", "dist/images/docker-{variant}-*.tar"),
        produces=("reports/integration-{variant}.json", "reports/integration-{variant}/junit.xml"),
    ),
    "trivy": Contract(
        consumes=("reports/docker-build-{variant}.json", "dist/images/docker-{variant}-*.tar"),
        produces=("reports/trivy-*.json",),
    ),
    "gpu-smoke": Contract(
        consumes=("reports/wheels-linux-*-{variant}.json", "dist/*.whl"),
        produces=("reports/gpu-smoke-*-{variant}.json",),
    ),
    "release": Contract(
        consumes=("reports/wheels-linux-*.json", "dist/*.whl"),
        produces=("reports/release*.json",),
    ),
}


@dataclass(frozen=True)
class Event:
    """The GitHub event a rehearsal stands for."""

    name: str  # pull_request | push | tag
    sha: str
    tag: str = ""
    branch: str = "main"

    def github_env(self, repository: str) -> dict[str, str]:
        """The variables GitHub sets on every runner of such a run."""
        if self.name == "pull_request":
            ref, ref_name, ref_type = f"refs/pull/{PR_NUMBER}/merge", f"{PR_NUMBER}/merge", "branch"
        elif self.name == "tag":
            ref, ref_name, ref_type = f"refs/tags/{self.tag}", self.tag, "tag"
        else:
            ref, ref_name, ref_type = f"refs/heads/{self.branch}", self.branch, "branch"
        env = {
            "CI": "true",
            "GITHUB_EVENT_NAME": "pull_request" if self.name == "pull_request" else "push",
            "GITHUB_REF": ref,
            "GITHUB_REF_NAME": ref_name,
            "GITHUB_REF_TYPE": ref_type,
            "GITHUB_SHA": self.sha,
            "GITHUB_REPOSITORY": repository,
        }
        if self.name == "pull_request":
            env["GITHUB_BASE_REF"] = self.branch
        return env


@dataclass(frozen=True)
class Target:
    """Where the rehearsal's jobs push and publish: loopback services only."""

    config: str  # the pipeline.toml, relative to the checkout
    namespace: str  # MLC_CI_IMAGE_NAMESPACE, e.g. 127.0.0.1:5000/rehearsal-<id>
    repository: str = "local/rehearsal"
    github_api: str = ""  # a local GitHub stand-in; "" publishes no GitHub release
    github_token: str = ""
    previous: str = "NEW"  # the index tree the release job reads back


@dataclass(frozen=True)
class Facts:
    """What this host can run (from the probe)."""

    mingw: bool = False
    trivy: bool = False
    gpus: int = 0


@dataclass
class Job:  # pylint: disable=too-many-instance-attributes
    """One job of the rehearsal: the matrix entry, how it runs here, its artifacts."""

    stage: str
    name: str
    session: str
    artifact: str
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    runs: str = HERE
    reason: str = ""
    variant: str = ""
    python: str | None = None
    images_artifact: str = ""  # docker-build's: its image archives
    download: str = ""  # the artifacts it downloads into the checkout (exact names)
    download_images: str = ""  # the image archives it downloads into IMAGES_DIR

    @property
    def downloads(self) -> bool:
        """Whether the job's stage downloads artifacts of earlier jobs."""
        return bool(DOWNLOADS[self.stage])

    @property
    def shallow(self) -> bool:
        """Whether its checkout is a depth-1 clone (actions/checkout's default), as in ci.yml."""
        return self.stage in SHALLOW_STAGES

    @property
    def uploads(self) -> tuple[str, ...]:
        """The paths its artifact is made of."""
        return UPLOADS[self.stage]

    @property
    def images_uploads(self) -> tuple[str, ...]:
        """The paths its images artifact is made of (none without one)."""
        return IMAGES_UPLOAD if self.images_artifact else ()

    @property
    def runnable(self) -> bool:
        """Whether a process runs for it here."""
        return self.runs in (HERE, LOCAL)

    def contract(self) -> Contract:
        """The session's contract, with this job's variant and python filled in."""
        found = CONTRACT.get(self.session.split("-3.")[0] if self.python else self.session)
        if found is None:
            return Contract()
        fill = {"variant": self.variant, "python": self.python or ""}
        return Contract(
            tuple(p.format(**fill) for p in found.consumes),
            tuple(p.format(**fill) for p in found.produces),
        )


def job_argv(entry: Entry, *extra: str) -> tuple[str, ...]:
    """The job's command, exactly as the workflow runs it (plus a local equivalent's flags)."""
    argv: tuple[str, ...] = ("nox", "-s", entry["session"])
    tail = (("--variant", entry["variant"]) if entry.get("variant") else ()) + extra
    return argv + (("--", *tail) if tail else ())


def stage_env(stage: str, event: Event, target: Target) -> dict[str, str]:
    """The workflow's environment for the session step of a stage, for this event."""
    env = event.github_env(target.repository)
    if stage != "gate":
        # The gate checks this repository itself (its lint paths and the toolkit's tests);
        # every later stage builds and ships the project of the rehearsed pipeline.toml.
        env["MLC_CI_CONFIG"] = target.config
    if stage == "build":
        env.update(
            MLC_CI_PUSH="" if event.name == "pull_request" else "1",
            MLC_CI_IMAGE_NAMESPACE=target.namespace,
            MLC_CI_SAVE_IMAGES="1",
            # The workflow gives tags no shared cache (a blank); other events its secret,
            # which a rehearsal does not have.
            MLC_CI_CACHE_REMOTE=" " if event.name == "tag" else "",
        )
    if stage == "release":
        publish = bool(target.github_api)
        env.update(
            # As the workflow: the release job always publishes; without a stand-in, to the
            # local index and registry only, never to GitHub.
            MLC_CI_PUBLISH="1",
            # GitHub's job uploads through trusted publishing (its id-token); the local index
            # takes any credentials, and twine asks for some.
            TWINE_USERNAME="rehearsal",
            TWINE_PASSWORD="rehearsal",
            MLC_CI_INDEX_DIR="site",
            MLC_CI_NIGHTLY="",
            MLC_CI_INDEX_PREVIOUS=target.previous,
        )
        if not publish:
            env["MLC_CI_RELEASE_GITHUB"] = "0"
        else:
            env.update(
                MLC_CI_INDEX_FILES_URL=(
                    f"{target.github_api.rstrip('/')}/{target.repository}/releases/download/"
                    f"{event.tag}"
                ),
                GITHUB_TOKEN=target.github_token,
                GITHUB_API_URL=target.github_api,
                GITHUB_SERVER_URL=target.github_api,
                # The local stand-in receives the release even where pipeline.toml turns
                # GitHub releases off (its index_url is loopback, too).
                MLC_CI_RELEASE_GITHUB="1",
            )
    return env


def _how(entry: Entry, facts: Facts) -> tuple[str, str, tuple[str, ...]]:
    """How a matrix entry runs here: (runs, reason, extra flags)."""
    runner = entry["runner"]
    labels = runner if isinstance(runner, list) else [runner]
    if "self-hosted" in labels:
        if facts.gpus:
            return HERE, "", ()
        return NOT_RUNNABLE, f"needs the self-hosted runner {', '.join(labels)}: no GPU here", ()
    if labels[0].startswith("windows"):
        if facts.mingw:
            return LOCAL, f"{labels[0]} (MSVC) -> MinGW-w64 cross build", ("--cross", "mingw")
        return (
            NOT_RUNNABLE,
            f"needs {labels[0]}; no MinGW-w64 here (apt-get install g++-mingw-w64-x86-64-posix)",
            (),
        )
    if entry["session"] == "trivy" and not facts.trivy:
        return NOT_RUNNABLE, "no trivy scanner here (install trivy, or set MLC_CI_TRIVY)", ()
    return HERE, "", ()


def plan_jobs(
    matrix: Mapping[str, Sequence[Entry]],
    event: Event,
    target: Target,
    facts: Facts,
    only: Iterable[str] = (),
) -> list[Job]:
    """Every job of the matrix for this event, in stage order; `only` keeps the named jobs
    and every job of a named stage (gate, build, verify, release)."""
    wanted = set(only)
    known = {entry["name"] for stage in STAGES for entry in matrix.get(stage, [])}
    unknown = sorted(wanted - known - set(STAGES))
    if unknown:
        raise PipelineError(
            f"--only names no job or stage of this matrix: {', '.join(unknown)}; pick from "
            f"{', '.join([*STAGES, *sorted(known)])}."
        )
    jobs = []
    for stage in STAGES:
        env = stage_env(stage, event, target)
        for entry in matrix.get(stage, []):
            if wanted and entry["name"] not in wanted and stage not in wanted:
                continue
            runs, reason, extra = _how(entry, facts)
            if stage == "release" and event.name == "pull_request":
                runs, reason = NOT_FOR_EVENT, "a pull request publishes nothing and moves no tag"
            jobs.append(
                Job(
                    stage=stage,
                    name=entry["name"],
                    session=entry["session"],
                    artifact=entry["artifact"],
                    argv=job_argv(entry, *extra),
                    env={**env, "SESSION": entry["session"], "VARIANT": entry["variant"]},
                    runs=runs,
                    reason=reason,
                    variant=entry["variant"],
                    python=entry.get("python"),
                    images_artifact=entry.get("images_artifact", ""),
                    download=entry.get("download", "") if DOWNLOADS[stage] else "",
                    download_images=entry.get("download_images", "") if DOWNLOADS[stage] else "",
                )
            )
    return jobs


def reuse(jobs: Sequence[Job], earlier: Mapping[str, Any], sha: str) -> dict[str, str]:
    """Gate jobs an earlier rehearsal of the same commit passed with the same command:
    {job name: its artifact directory there}. Only the gate qualifies: its jobs check the
    checkout alone, so another event cannot change what they see."""
    if earlier.get("sha") != sha:
        return {}
    passed = {
        row["name"]: row
        for row in earlier.get("jobs", [])
        if row.get("status") == "passed" and row.get("stage") == "gate"
    }
    found = {}
    for job in jobs:
        row = passed.get(job.name)
        if job.stage == "gate" and row and tuple(row.get("argv", ())) == job.argv:
            found[job.name] = str(row.get("artifact_dir", ""))
    return {name: where for name, where in found.items() if where}


def matching(pattern: str, names: Iterable[str]) -> list[str]:
    """The artifact names a download step's pattern takes ("" takes none: the step is skipped)."""
    wanted = pattern_names(pattern)
    return [name for name in names if any(fnmatch.fnmatchcase(name, w) for w in wanted)]


def dropped(path: str, patterns: Sequence[str]) -> bool:
    """Whether an artifact file is lost by `--drop` (a glob on its path in the job's checkout,
    dist/images/... for an image archive too)."""
    return any(fnmatch.fnmatch(path, pattern) for pattern in patterns)


def missing_products(job: Job, present: Iterable[str]) -> list[str]:
    """The patterns of the job's contract that no file of its artifact matches."""
    files = list(present)
    return [
        pattern
        for pattern in job.contract().produces
        if not any(fnmatch.fnmatch(name, pattern) for name in files)
    ]


def early_tags(
    images: Sequence[Mapping[str, Any]], before: Mapping[str, Sequence[str]]
) -> list[str]:
    """Mutable tags the registry already holds before the release job (there must be none:
    a tag moves only after the gates). `before`: repository -> its tags then."""
    return [
        f"{ref} existed before the release job ran"
        for image in images
        for ref in image.get("promote", [])
        if ref.rpartition(":")[2] in before.get(ref.rpartition(":")[0], ())
    ]


def promotion_problems(images: Sequence[Mapping[str, Any]], after: Mapping[str, str]) -> list[str]:
    """Promoted tags that do not name the digest the gates verified after the release job.

    `images`: the docker-build report's image details (digest, promote); `after`: ref -> the
    digest the registry gives for it ("" when it has no such tag)."""
    return [
        f"{ref} names {after.get(ref, '')[:19] or 'nothing'} after the release job, not the "
        f"verified {str(image.get('digest'))[:19]}"
        for image in images
        for ref in image.get("promote", [])
        if after.get(ref, "") != image.get("digest")
    ]


TABLE_HEADERS = ["job", "runs", "command", "seconds", "in", "out", "status"]


def table_rows(rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """The rehearsal's table, one row per job: how it ran, its command, seconds, the files it
    downloaded, its artifact, its status (with the reason, for a job that did not run)."""
    return [
        [
            row["name"],
            row["runs"],
            " ".join(row["argv"]),
            f"{row['seconds']:.0f}" if row.get("seconds") else "-",
            str(row["files_in"]) if row.get("files_in") else "-",
            f"{row['artifact']} ({row['files_out']})" if row.get("files_out") else "-",
            row["status"] + (f": {row['reason']}" if row.get("reason") else ""),
        ]
        for row in rows
    ]
