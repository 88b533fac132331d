"""Runs a workflow's jobs for one event as GitHub does: needs, `if:`, matrices, steps.

Each job (each matrix combination) gets a fresh machine from `machines`; `run:` steps run
in its shell with GitHub's file commands, `uses:` steps go to the action emulations.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Union

from tools.rehearsal import expressions as ex
from tools.rehearsal.actions import run_action
from tools.rehearsal.model import (
    ActionCall,
    Completed,
    Event,
    JobRun,
    Machine,
    RehearsalError,
    Shared,
    StepResult,
)
from tools.rehearsal.records import (
    FAILED,
    NOT_RUNNABLE,
    PASSED,
    WALL,
    JobRecord,
    StepRecord,
    limit_of,
    wall_of,
)
from tools.rehearsal.workflow import Job, Workflow

BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # colour codes (FORCE_COLOR) out of a reason
STATUS_FUNCTIONS = re.compile(r"\b(success|failure|cancelled|always)\s*\(", re.IGNORECASE)
# GitHub's shells on Linux runners (docs: "jobs.<job_id>.steps[*].shell").
SHELLS = {
    None: ["bash", "-e", "{0}"],
    "bash": ["bash", "--noprofile", "--norc", "-eo", "pipefail", "{0}"],
    "sh": ["sh", "-e", "{0}"],
    "python": ["python", "{0}"],
}
# A machine for a runs-on label, or the reason no job of that label can run here.
MachineFactory = Callable[[str, Path], Union[Machine, str]]


@dataclass
class Run:
    """One rehearsal of one event: what every job needs to know, and what the jobs did."""

    workflow: Workflow
    event: Event
    shared: Shared
    machines: MachineFactory
    run_past_failures: bool = False
    network_env: Mapping[str, str] = field(default_factory=dict)
    only: frozenset[str] = frozenset()  # job keys to run (empty: all); the rest are skipped
    records: list[JobRecord] = field(default_factory=list)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # needs.<job>
    failed: set[str] = field(default_factory=set)  # jobs that failed, for failure()

    def github(self) -> dict[str, Any]:
        """The github context (and the event payload the workflow reads)."""
        event = self.event
        payload: dict[str, Any] = {"repository": {"full_name": event.repository}}
        if event.name == "pull_request":
            payload["pull_request"] = {
                "number": 1,
                "head": {"repo": {"fork": event.fork}},
                "base": {"ref": event.base_ref or event.default_branch},
            }
        return {
            "event_name": event.name,
            "event": payload,
            "ref": event.ref,
            "ref_name": event.ref_name,
            "ref_type": event.ref_type,
            "sha": event.sha,
            "repository": event.repository,
            "repository_owner": event.repository.split("/", maxsplit=1)[0],
            "actor": event.actor,
            "server_url": "https://github.com",
            "api_url": "https://api.github.com",
            "base_ref": event.base_ref if event.name == "pull_request" else "",
            "head_ref": "rehearsal" if event.name == "pull_request" else "",
            "run_id": "1",
            "run_number": "1",
            "workflow": "ci",
        }

    def secrets(self) -> dict[str, str]:
        """A fork's pull request gets no secrets but the read-only GITHUB_TOKEN."""
        secrets = {} if self.event.fork else dict(self.shared.secrets)
        secrets["GITHUB_TOKEN"] = "rehearsal-token" + ("-read-only" if self.event.fork else "")
        return secrets

    def contexts(self, **more: Any) -> dict[str, Any]:
        """The contexts every expression of this run sees."""
        base = {
            "github": self.github(),
            "vars": dict(self.shared.variables),
            "secrets": self.secrets(),
            "needs": {},
            "inputs": {},
        }
        return {**base, **more}

    def hash_files(self, workspace: Path) -> Callable[[Any], str]:
        """hashFiles() over the job's workspace: '' when nothing matches (as documented)."""

        def digest(patterns: Any) -> str:
            files = sorted(
                {p for pattern in patterns for p in workspace.glob(pattern) if p.is_file()}
            )
            if not files:
                return ""
            total = hashlib.sha256()
            for path in files:
                total.update(hashlib.sha256(path.read_bytes()).digest())
            return total.hexdigest()

        return digest

    def play(self) -> list[JobRecord]:
        """Every job of the workflow in `needs` order."""
        for job in self.workflow.order():
            self._job(job)
        return self.records

    # --- jobs -----------------------------------------------------------------------------

    def _needs(self, job: Job) -> dict[str, Any]:
        return {
            key: self.results.get(key, {"result": "skipped", "outputs": {}}) for key in job.needs
        }

    def _ancestors_failed(self, job: Job) -> bool:
        seen, todo = set(), list(job.needs)
        while todo:
            key = todo.pop()
            if key in self.failed:
                return True
            if key not in seen:
                seen.add(key)
                todo.extend(self.workflow.job(key).needs)
        return False

    def _should_run(self, job: Job) -> tuple[bool, bool]:
        """(runs, forced): the job's `if:` as GitHub evaluates it, and as it would be had every
        earlier job passed (--run-past-failures)."""
        needs = self._needs(job)
        cond = job.spec.get("if")
        text = cond if isinstance(cond, str) else ""
        implicit = cond is None or not STATUS_FUNCTIONS.search(text)

        def evaluate(needs: dict[str, Any], failed: bool) -> bool:
            # A skipped needed job makes the implicit success() false, not only a failed one.
            if implicit and any(n["result"] != "success" for n in needs.values()):
                return False
            ctx = ex.Contexts(self.contexts(needs=needs), ex.Status(failed=failed))
            return ex.condition(cond, ctx)

        real = evaluate(needs, self._ancestors_failed(job))
        if real or not self.run_past_failures:
            return real, False
        passed = {k: {**v, "result": "success"} for k, v in needs.items()}
        return evaluate(passed, False), True

    def _job(self, job: Job) -> None:
        runs, forced = self._should_run(job)
        selected = not self.only or job.key in self.only
        if not runs or not selected:
            # A name made of the matrix has no matrix here: the job's key stands in.
            name = ex.interpolate(str(job.spec.get("name", job.key)), self._static(job)).strip()
            record = JobRecord(job.key, name or job.key, str(job.spec.get("runs-on", "")))
            record.reason = "" if selected else "not selected (--only)"
            self.records.append(record)
            self.results[job.key] = {"result": "skipped", "outputs": {}}
            return
        ctx = self.contexts(needs=self._needs(job))
        combos = matrix(job, ex.Contexts(ctx))
        outcome: dict[str, Any] = {"result": "success", "outputs": {}}
        for index, values in enumerate(combos):
            record = self._combination(job, values, index, len(combos))
            record.forced = forced
            self.records.append(record)
            outcome["outputs"].update(record.outputs)
            if record.result == "failure":
                outcome["result"] = "failure"
        if outcome["result"] == "failure":
            self.failed.add(job.key)
        self.results[job.key] = outcome

    def _static(self, job: Job) -> ex.Contexts:
        return ex.Contexts(self.contexts(needs=self._needs(job), matrix={}))

    def _combination(self, job: Job, values: dict[str, Any], index: int, total: int) -> JobRecord:
        ctx = self.contexts(
            needs=self._needs(job),
            matrix=values,
            strategy={"job-index": index, "job-total": total, "fail-fast": False},
        )
        static = ex.Contexts(ctx)
        default_name = job.key + (f" ({', '.join(map(str, values.values()))})" if values else "")
        name = ex.interpolate(str(job.spec.get("name", default_name)), static)
        runs_on = ex.interpolate_value(job.spec.get("runs-on", ""), static)
        label = " ".join(runs_on) if isinstance(runs_on, list) else str(runs_on)
        record = JobRecord(job.key, name, label)
        concurrency = job.spec.get("concurrency")
        if isinstance(concurrency, dict):
            record.concurrency = ex.interpolate(str(concurrency.get("group", "")), static)
        environment = job.spec.get("environment")
        record.environment = str(
            environment.get("name") if isinstance(environment, dict) else environment or ""
        )
        root = self.shared.root.parent / "jobs" / f"{len(self.records):02d}-{job.key}"
        for sub in ("work", "temp", "toolcache", "home"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        print(f"rehearsal: {name} ({label}) ...", flush=True)
        machine = self.machines(label, root)
        if isinstance(machine, str):
            record.verdict, record.result, record.reason = NOT_RUNNABLE, "failure", machine
            return record
        started = time.monotonic()
        try:
            record.image_id = machine.image_id
            if machine.runner.equivalent:  # said in the table, under the job
                record.stand_ins.append(f"runs-on {label}: {machine.runner.equivalent}")
            _JobSteps(self, job, record, JobRun(job.key, name, root, machine), ctx).run()
        finally:
            machine.stop()
            record.seconds = round(time.monotonic() - started, 1)
            print(f"rehearsal: {name}: {record.verdict} in {record.seconds:.0f} s", flush=True)
        return record


def matrix(job: Job, ctx: ex.Contexts) -> list[dict[str, Any]]:
    """The job's matrix combinations, as GitHub expands axes, `exclude` and `include`."""
    strategy = job.spec.get("strategy")
    if not strategy or "matrix" not in strategy:
        return [{}]
    spec = ex.interpolate_value(strategy["matrix"], ctx)
    if not isinstance(spec, dict):
        raise RehearsalError(f"job `{job.key}`: strategy.matrix is not a mapping: {spec!r}")
    axes = {k: v for k, v in spec.items() if k not in ("include", "exclude")}
    combos = [dict(zip(axes, vals)) for vals in itertools.product(*axes.values())] if axes else []
    for drop in spec.get("exclude") or ():
        combos = [c for c in combos if any(c.get(k) != v for k, v in drop.items())]
    originals = [dict(c) for c in combos]
    for extra in spec.get("include") or ():
        hits = [
            i
            for i, original in enumerate(originals)
            if all(original.get(k, v) == v for k, v in extra.items() if k in axes)
        ]
        for i in hits:
            combos[i].update({k: v for k, v in extra.items() if k not in originals[i]})
        if not hits:
            combos.append(dict(extra))
    return combos


def read_file_command(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV: `name=value` lines and `name<<DELIMITER` blocks."""
    values: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            values[key] = "\n".join(lines[i + 1 : end])
            i = end + 1
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
        i += 1
    return values


class _JobSteps:
    """The steps of one job on its machine."""

    def __init__(self, run: Run, job: Job, record: JobRecord, job_run: JobRun, ctx: dict) -> None:
        self.run_, self.job, self.record, self.job_run = run, job, record, job_run
        self.ctx = ctx
        self.steps: dict[str, dict[str, Any]] = {}
        self.failed = False
        self.posts: list[tuple[str, Callable[[bool], StepResult]]] = []
        permissions = job.spec.get("permissions", run.workflow.permissions)
        job_run.permissions = permissions if isinstance(permissions, dict) else {}
        self.deadline = time.monotonic() + 60 * float(job.spec.get("timeout-minutes", 360))

    def runner_env(self) -> dict[str, str]:
        """What every hosted runner's step sees without the workflow asking."""
        event, jr = self.run_.event, self.job_run
        github, runner = self.ctx["github"], jr.machine.runner
        event_path = jr.temp / "event.json"
        event_path.write_text(json.dumps(github["event"]), encoding="utf-8")
        env = {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "HOME": str(jr.home),
            "GITHUB_WORKSPACE": str(jr.workspace),
            "GITHUB_EVENT_NAME": event.name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_REF": event.ref,
            "GITHUB_REF_NAME": event.ref_name,
            "GITHUB_REF_TYPE": event.ref_type,
            "GITHUB_SHA": event.sha,
            "GITHUB_REPOSITORY": event.repository,
            "GITHUB_REPOSITORY_OWNER": github["repository_owner"],
            "GITHUB_ACTOR": event.actor,
            "GITHUB_SERVER_URL": github["server_url"],
            "GITHUB_API_URL": github["api_url"],
            "GITHUB_BASE_REF": github["base_ref"],
            "GITHUB_HEAD_REF": github["head_ref"],
            "GITHUB_JOB": self.job.key,
            "GITHUB_RUN_ID": "1",
            "GITHUB_RUN_NUMBER": "1",
            "RUNNER_OS": runner.os,
            "RUNNER_ARCH": "X64",
            "RUNNER_ENVIRONMENT": "github-hosted",
            "RUNNER_TEMP": str(jr.temp),
            "RUNNER_TOOL_CACHE": str(jr.tool_cache),
            "ImageOS": runner.image_os,
        }
        return {**env, **runner.env, **self.run_.network_env}

    def contexts(self, env: Mapping[str, str]) -> ex.Contexts:
        """The contexts of a step: the run's, plus env, steps, runner, job."""
        jr = self.job_run
        values = {
            **self.ctx,
            "env": dict(env),
            "steps": self.steps,
            "runner": {
                "os": jr.machine.runner.os,
                "arch": "X64",
                "temp": str(jr.temp),
                "tool_cache": str(jr.tool_cache),
                "environment": "github-hosted",
            },
            "job": {"status": "failure" if self.failed else "success"},
        }
        status = ex.Status(failed=self.failed, cancelled=time.monotonic() > self.deadline)
        return ex.Contexts(values, status, self.run_.hash_files(jr.workspace))

    def run(self) -> None:
        """Every step, the post steps, the job's outputs and its verdict."""
        wf, spec = self.run_.workflow, self.job.spec
        env = {}
        for layer in (wf.env, spec.get("env") or {}):
            ctx = self.contexts(env)
            env.update({k: ex.interpolate(str(v), ctx) for k, v in layer.items()})
        self.job_run.env = env
        for index, step in enumerate(self.job.steps, 1):
            self._step(index, step)
        for name, post in reversed(self.posts):
            result = post(not self.failed)
            self._record(f"Post {name}", result, 0.0)
        outputs = spec.get("outputs") or {}
        ctx = self.contexts(self.job_run.env)
        self.record.outputs = {k: ex.interpolate(str(v), ctx) for k, v in outputs.items()}
        walls = [s.wall for s in self.record.steps if s.outcome == "failure"]
        if not self.failed:
            self.record.verdict, self.record.result = PASSED, "success"
        else:
            self.record.result = "failure"
            self.record.verdict = WALL if walls and walls[0] else FAILED
            first = next(s for s in self.record.steps if s.outcome == "failure")
            self.record.reason = f"wall: {first.wall}" if first.wall else first.error
            if first.limit:  # the equivalent lacks what the job needs; the label may not
                self.record.verdict = NOT_RUNNABLE
                self.record.reason = f"the local equivalent cannot run it: {first.limit}"

    def _step(self, index: int, step: Mapping[str, Any]) -> None:
        name = str(step.get("name") or step.get("uses") or step.get("run", "")).splitlines()[0]
        job_env = dict(self.job_run.env)
        ctx = self.contexts(job_env)
        name = ex.interpolate(name, ctx)
        step_id = str(step.get("id") or f"__step{index}")
        if not ex.condition(step.get("if"), ctx):
            self.steps[step_id] = {"outputs": {}, "outcome": "skipped", "conclusion": "skipped"}
            self.record.steps.append(StepRecord(name, "skipped"))
            return
        env = {
            **job_env,
            **{k: ex.interpolate(str(v), ctx) for k, v in (step.get("env") or {}).items()},
        }
        started = time.monotonic()
        if "uses" in step:
            inputs = {
                k: _as_input(ex.interpolate_value(v, ctx))
                for k, v in (step.get("with") or {}).items()
            }
            result = run_action(
                ActionCall(
                    str(step["uses"]), inputs, self.job_run, self.run_.shared, self.run_.event
                )
            )
            if result.post:
                self.posts.append((name, result.post))
        else:
            result = self._shell(index, step, env, ctx)
        ok = self._record(name, result, time.monotonic() - started)
        self.steps[step_id] = {
            "outputs": dict(result.outputs),
            "outcome": "success" if ok else "failure",
            "conclusion": "success" if ok else "failure",
        }

    def _record(self, name: str, result: StepResult, seconds: float) -> bool:
        ok = not result.error
        self.job_run.env.update(result.env)
        self.job_run.path[:0] = result.path
        self.record.artifacts_in.update(result.artifacts_in)
        self.record.artifacts_out.update(result.artifacts_out)
        self.record.stand_ins += result.stand_ins
        wall = "" if ok else wall_of(result.log)
        limits = self.job_run.machine.runner.limits
        limit = "" if ok or wall else limit_of(result.log, limits)
        self.record.steps.append(
            StepRecord(
                name, "success" if ok else "failure", round(seconds, 1), wall, result.error, limit
            )
        )
        if result.log:
            log = self.job_run.root / "logs.txt"
            with log.open("a", encoding="utf-8") as out:
                out.write(f"##[group]{name}\n{result.log}\n##[endgroup]\n")
        if not ok:
            self.failed = True
        return ok

    def _shell(
        self, index: int, step: Mapping[str, Any], env: dict[str, str], ctx: ex.Contexts
    ) -> StepResult:
        jr, wf = self.job_run, self.run_.workflow
        script = jr.temp / f"step{index}.sh"
        script.write_text(ex.interpolate(str(step["run"]), ctx) + "\n", encoding="utf-8")
        defaults = {
            **(wf.defaults.get("run") or {}),
            **((self.job.spec.get("defaults") or {}).get("run") or {}),
        }
        shell = step.get("shell", defaults.get("shell"))
        template = SHELLS.get(shell) or (shell.split() if shell and "{0}" in shell else None)
        if template is None:
            return StepResult(error=f"shell `{shell}` is not one this rehearsal models")
        files = {
            name: jr.temp / f"{name.lower()}_{index}"
            for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY")
        }
        for path in files.values():
            path.write_text("", encoding="utf-8")
        full = {**self.runner_env(), **env, **{k: str(v) for k, v in files.items()}}
        full["PATH"] = ":".join([*jr.path, BASE_PATH])
        cwd = jr.workspace / str(
            step.get("working-directory", defaults.get("working-directory", "."))
        )
        timeout = self.deadline - time.monotonic()
        if "timeout-minutes" in step:
            timeout = min(timeout, 60 * float(step["timeout-minutes"]))
        done = jr.machine.exec(
            [part.replace("{0}", str(script)) for part in template],
            env=full,
            cwd=cwd,
            timeout=max(timeout, 1),
        )
        return self._collect(files, done)

    def _collect(self, files: dict[str, Path], done: Completed) -> StepResult:
        """A shell step's result: its log, exit, and what it wrote into the file commands."""
        result = StepResult(log=done.output)
        result.outputs = read_file_command(files["GITHUB_OUTPUT"])
        result.env = read_file_command(files["GITHUB_ENV"])
        result.path = list(reversed(files["GITHUB_PATH"].read_text(encoding="utf-8").split()))
        summary = files["GITHUB_STEP_SUMMARY"].read_text(encoding="utf-8")
        if summary:
            with (self.job_run.root / "summary.md").open("a", encoding="utf-8") as out:
                out.write(summary)
        if done.timed_out:
            result.error = "timed out (timeout-minutes)"
        elif done.returncode:
            plain = ANSI.sub("", done.output)
            last = [line for line in plain.splitlines() if line.strip()][-1:] or [""]
            result.error = f"exit code {done.returncode}: {last[0][:200]}"
        return result


def _as_input(value: Any) -> str:
    """An action input as the runner passes it: a string, booleans lower-case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
