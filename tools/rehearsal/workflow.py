"""The workflow file as data: its triggers, jobs and steps, read as GitHub reads them.

Only reading happens here (pure); the engine evaluates the expressions when it runs a job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from tools.rehearsal.model import Event, RehearsalError

# The job keys the engine acts on; any other key stops the rehearsal (it would be ignored
# silently otherwise, and GitHub would not ignore it).
JOB_KEYS = frozenset(
    {
        "name",
        "needs",
        "if",
        "runs-on",
        "timeout-minutes",
        "permissions",
        "strategy",
        "steps",
        "env",
        "outputs",
        "defaults",
        "environment",
        "concurrency",
        "continue-on-error",
    }
)
STEP_KEYS = frozenset(
    {
        "id",
        "name",
        "if",
        "uses",
        "with",
        "run",
        "shell",
        "env",
        "working-directory",
        "timeout-minutes",
        "continue-on-error",
    }
)


@dataclass(frozen=True)
class Job:
    """One job of the workflow, its values as written (expressions not yet evaluated)."""

    key: str
    spec: Mapping[str, Any]

    @property
    def needs(self) -> tuple[str, ...]:
        """The jobs this one needs."""
        needs = self.spec.get("needs", ())
        return (needs,) if isinstance(needs, str) else tuple(needs)

    @property
    def steps(self) -> list[Mapping[str, Any]]:
        """The steps as written."""
        return list(self.spec.get("steps", ()))


@dataclass(frozen=True)
class Workflow:
    """A parsed workflow file."""

    path: Path
    triggers: Mapping[str, Any]
    env: Mapping[str, Any] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    permissions: Any = None
    concurrency: Any = None
    jobs: tuple[Job, ...] = ()

    def job(self, key: str) -> Job:
        """The job of that key."""
        for job in self.jobs:
            if job.key == key:
                return job
        raise RehearsalError(f"{self.path}: no job `{key}`")

    def order(self) -> list[Job]:
        """The jobs so that each comes after those it needs (as written where free)."""
        done: list[Job] = []
        names = {job.key for job in self.jobs}
        pending = list(self.jobs)
        while pending:
            ready = [job for job in pending if all(n in {d.key for d in done} for n in job.needs)]
            if not ready:
                cycle = ", ".join(job.key for job in pending)
                raise RehearsalError(f"{self.path}: the needs of {cycle} form a cycle")
            for job in ready:
                unknown = set(job.needs) - names
                if unknown:
                    raise RehearsalError(
                        f"{self.path}: job `{job.key}` needs `{sorted(unknown)[0]}`, "
                        "which is not a job of this workflow"
                    )
                done.append(job)
                pending.remove(job)
        return done


def load(path: Path) -> Workflow:
    """Read a workflow file; anything this rehearsal would not act on stops it in one line."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RehearsalError(f"cannot read workflow {path}: {exc}".splitlines()[0]) from exc
    if not isinstance(data, dict) or "jobs" not in data:
        raise RehearsalError(f"{path} is not a workflow (no `jobs:`)")
    # YAML 1.1 reads the bare key `on` as true.
    triggers = data.get("on", data.get(True))
    if isinstance(triggers, str):
        triggers = {triggers: None}
    elif isinstance(triggers, list):
        triggers = {name: None for name in triggers}
    jobs = []
    for key, spec in data["jobs"].items():
        extra = set(spec) - JOB_KEYS
        if extra:
            raise RehearsalError(
                f"{path}: job `{key}` uses `{sorted(extra)[0]}`, "
                "which this rehearsal does not model"
            )
        for index, step in enumerate(spec.get("steps", ()), 1):
            extra = set(step) - STEP_KEYS
            if extra:
                raise RehearsalError(
                    f"{path}: step {index} of job `{key}` uses `{sorted(extra)[0]}`, "
                    "which this rehearsal does not model"
                )
        jobs.append(Job(key, spec))
    return Workflow(
        path=path,
        triggers=triggers or {},
        env=data.get("env") or {},
        defaults=data.get("defaults") or {},
        permissions=data.get("permissions"),
        concurrency=data.get("concurrency"),
        jobs=tuple(jobs),
    )


def _glob(pattern: str) -> str:
    """GitHub's filter-pattern syntax as a regex: `*` stops at `/`, `**` does not, `?` and `+`
    quantify the character before them, `[...]` is a class."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char in "?+":
            out.append(char)
        elif char == "[":
            end = pattern.find("]", i)
            out.append(pattern[i : end + 1] if end > i else re.escape(char))
            i = end if end > i else i
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _matches(patterns: Any, value: str) -> bool:
    """Whether value passes the filter; a later `!pattern` excludes what an earlier one took."""
    result = False
    for pattern in [patterns] if isinstance(patterns, str) else patterns:
        negate = pattern.startswith("!")
        if re.fullmatch(_glob(pattern[1:] if negate else pattern), value):
            result = not negate
    return result


def triggered(workflow: Workflow, event: Event) -> bool:
    """Whether the workflow runs on this event (branch and tag filters of push, branches of
    pull_request as GitHub documents them)."""
    if event.name not in workflow.triggers:
        return False
    spec = workflow.triggers[event.name] or {}
    if event.name == "push":
        kind = "tags" if event.ref_type == "tag" else "branches"
        if kind in spec:
            return _matches(spec[kind], event.ref_name)
        # With only the other filter given, this kind of ref does not trigger.
        other = "branches" if kind == "tags" else "tags"
        return other not in spec and f"{other}-ignore" not in spec
    if event.name == "pull_request" and "branches" in spec:
        return _matches(spec["branches"], event.base_ref or event.default_branch)
    return True
