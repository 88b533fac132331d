"""Benchmark the pipeline on examples/mini-llm; writes reports/bench.json and reports/bench.md.

    MLC_CI_DOCKER=/usr/bin/docker MLC_CI_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \\
        nox -s bench -- [--reps 3] [--only image,wheel,remote,sizes,nox,critical] [--out reports/]

(or `python -m benchmarks.run ...` from the repository root with the toolkit installed)

Sections (run in this order, the Docker ones last):
  nox       `nox -R -s lint` and `nox -R -s unit-3.12` vs the same commands run directly
  wheel     wheels-linux with an empty ccache vs with a warm one (CMake build dir removed), and
            a re-run that keeps the build dir
  overhead  a real third-party sdist (MLC_CI_BENCH_PROJECT, default boost-histogram==1.8.1):
            raw `pip wheel` + `auditwheel repair` vs wheels-linux, cold and warm
  remote    the compile phase cold vs remote-warm: an empty local ccache each time, the shared
            cache (redis at MLC_CI_BENCH_REDIS, default 127.0.0.1:6379, database 15) filled by
            an untimed build first
  image     production image: cold (BuildKit cache pruned) / no-op / Python change / C++ change
  sizes     `docker-build all` (cache pruned first): sizes per target, no compiler in production
  critical  every session of `nox --list --json -t gate build verify release` that can run
            here, then the matrix's critical path (longest session per stage) vs serial

Everything runs in a scratch copy of the checkout (tracked and untracked files that git does
not ignore, plus .git), so the checkout's sources, reports, dist/ and caches are untouched; the
images are named mlc-ci-bench/mini-llm so no tag of a real build moves. `--patch FILE` measures
a proposed change to the pipeline on that copy. A step that takes more than a minute is measured
once; shorter ones --reps times (min/median/max). Docker runs wait for other builds to finish
and are taken again when one overlapped them; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from benchmarks import bench
from benchmarks.overhead import section_overhead

REPO = Path(__file__).resolve().parent.parent
SECTIONS = ("nox", "wheel", "overhead", "remote", "image", "sizes", "critical")
REDIS = os.environ.get("MLC_CI_BENCH_REDIS", "127.0.0.1:6379")
CONFIG = "examples/mini-llm/pipeline.toml"
PY_FILE = "examples/mini-llm/python/mini_llm/_reference.py"
CPP_FILE = "examples/mini-llm/cpp/mini_llm.cc"
IMAGE = "mlc-ci-bench/mini-llm"
TARGETS = ("builder", "development", "ci", "production")
LONG_S = 60.0
# dash's `command -v` looks up only its first argument, hence the loop.
COMPILERS = ("gcc", "cc", "g++", "c++", "clang", "clang++")
COMPILER_PROBE = f'for c in {" ".join(COMPILERS)}; do command -v "$c"; done; true'
# Other processes whose Docker builds would share the engine's CPUs and BuildKit cache.
FOREIGN = ("docker build", "mlc_ci integration", "buildx build")

PLAN_SNIPPET = """
import argparse, json, os, sys
from mlc_ci import config
from mlc_ci.sessions import lint, unit
cfg = config.load(None, dict(os.environ))
steps = list(lint.plan(argparse.Namespace(fix=False), cfg, os.environ).steps)
ns = argparse.Namespace(python=sys.argv[1], pytest_args=[], reports_subdir="")
steps += unit.plan(ns, cfg, os.environ).steps
print(json.dumps([[s.title, list(s.argv), s.cwd, dict(s.env)] for s in steps if s.argv]))
"""


class BenchError(RuntimeError):
    """A measurement could not be taken; the message says which and why."""


@dataclass
class Result:
    """One finished command."""

    seconds: float
    returncode: int
    output: str
    concurrent: list[str]


def pyenv_bins() -> list[str]:
    """bin/ of the newest pyenv CPython 3.10..3.13 (what nox's unit matrix needs on PATH)."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    bins = []
    for minor in ("3.10", "3.11", "3.12", "3.13"):
        found = sorted(
            root.glob(f"{minor}.*"), key=lambda p: [int(x) for x in re.findall(r"\d+", p.name)]
        )
        if found and (found[-1] / "bin").is_dir():
            bins.append(str(found[-1] / "bin"))
    return bins


def make_scratch(repo: Path, dest: Path, tree: str = "worktree") -> None:
    """Copy the checkout into dest, with .git: the working tree's tracked and untracked (not
    ignored) files, or with tree="head" the committed files of HEAD only."""
    if tree == "head":
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ("git", "-C", str(repo), "archive", "--format=tar", "HEAD"),
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(("tar", "-x", "-C", str(dest)), input=archive, check=True)
    else:
        listed = subprocess.run(
            (
                "git",
                "-C",
                str(repo),
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ),
            check=True,
            capture_output=True,
        ).stdout.decode()
        for rel in filter(None, listed.split("\0")):
            source, target = repo / rel, dest / rel
            if source.is_dir():  # an uninitialised submodule: an empty directory, as in a checkout
                target.mkdir(parents=True, exist_ok=True)
            elif source.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    shutil.copytree(repo / ".git", dest / ".git", dirs_exist_ok=True)


def _ancestors(pid: int) -> set[int]:
    seen = set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return seen


def foreign_builds() -> list[str]:
    """Command lines of Docker builds and integration runs that are not ours."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(word in cmd for word in FOREIGN) and os.getpid() not in _ancestors(int(proc.name)):
            found.append(cmd.strip()[:160])
    return found


class Bench:
    """Runs commands in the scratch copy, times them, keeps their logs."""

    def __init__(self, args: argparse.Namespace, scratch: Path) -> None:
        self.args, self.scratch = args, scratch
        # Under .cache/, which git and docker/Dockerfile.dockerignore ignore: the benchmark's
        # own files must not change the build context it measures.
        self.work = scratch / ".cache" / "mlc-ci-bench"
        self.logs = self.work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        path = [*pyenv_bins(), os.environ.get("PATH", "")]
        self.env = {**os.environ, "PATH": os.pathsep.join(path), "UV_PYTHON_DOWNLOADS": "never"}
        for key in (
            "MLC_CI_CONFIG",
            "MLC_CI_REPORTS_DIR",
            "MLC_CI_CCACHE_DIR",
            "MLC_CI_PUSH",
            "VIRTUAL_ENV",
        ):
            self.env.pop(key, None)
        self.env.setdefault("MLC_CI_DOCKER", args.docker)
        self.nox = [args.nox_python, "-m", "nox"]
        self.durations: dict[str, float] = {}
        self.docker_all: dict[str, Any] | None = None
        self.installed: set[str] = set()
        self.last: Result | None = None
        self.notes: list[str] = []  # runs measured once, overlapped or discarded
        self.failed_logs: list[Path] = []  # kept in --out when the scratch copy goes

    @property
    def reps(self) -> int:
        """Repetitions of a step under a minute (--reps)."""
        return self.args.reps

    # -- running ---------------------------------------------------------------------------
    def run(
        self,
        argv: list[str],
        log: str,
        env: dict[str, str] | None = None,
        check: bool = True,
        cwd: str | None = None,
        timeout: float | None = None,
    ) -> Result:
        """Run argv (in the scratch copy unless cwd); output goes to <work>/logs/<log>.log."""
        full_env = {**self.env, **(env or {})}
        seen: set[str] = set()
        done = threading.Event()

        def watch() -> None:
            while not done.wait(2.0):
                seen.update(foreign_builds())

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        start = time.monotonic()
        with open(self.logs / f"{log}.log", "w+", encoding="utf-8") as handle:
            handle.write("$ " + " ".join(argv) + "\n")
            handle.flush()
            try:
                returncode = subprocess.run(
                    argv,
                    cwd=cwd or self.scratch,
                    env=full_env,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    check=False,
                    timeout=timeout,
                ).returncode
            except subprocess.TimeoutExpired:
                returncode = 124
            seconds = time.monotonic() - start
            handle.seek(0)
            output = handle.read()
        done.set()
        watcher.join()
        print(f"    {log}: {seconds:.1f}s rc={returncode}", flush=True)
        if returncode:
            self.failed_logs.append(self.logs / f"{log}.log")
        if seen:
            self.notes.append(f"{log} overlapped another build: {sorted(seen)[0][:60]}...")
        if check and returncode != 0:
            tail = "\n".join(output.splitlines()[-25:])
            raise BenchError(f"{' '.join(argv)} failed (rc={returncode}):\n{tail}")
        self.last = Result(seconds, returncode, output, sorted(seen))
        return self.last

    def repeat(
        self,
        label: str,
        once: Callable[[int], float],
        setup: Callable[[int], None] | None = None,
        docker: bool = False,
    ) -> list[float]:
        """`once` up to --reps times; one run is enough when it takes over a minute.

        With docker=True each run waits until no other Docker build runs, and a run that
        overlapped another build is discarded and taken again (once).
        """
        values: list[float] = []
        for index in range(self.reps):
            for attempt in (1, 2):
                if docker:
                    self.wait_for_quiet()
                if setup:
                    setup(index)
                value = once(index)
                busy = self.last.concurrent if (docker and self.last) else []
                if not busy or attempt == 2:
                    break
                self.notes.append(
                    f"{label} #{index + 1} discarded ({value:.1f}s, another build overlapped: "
                    f"{busy[0][:60]}...)"
                )
                print(f"    {label}: another build overlapped, measuring again", flush=True)
            values.append(value)
            if values[0] > LONG_S:
                print(f"    {label}: over a minute, measured once", flush=True)
                if self.reps > 1:
                    self.notes.append(f"{label}: over a minute ({value:.0f}s), measured once")
                break
        return values

    def nox_session(
        self, session: str, *posargs: str, env=None, log: str = "", timeout: float | None = None
    ) -> Result:
        """`nox -R -s session -- posargs` after an untimed install of its venv."""
        if session not in self.installed:
            self.run([*self.nox, "-r", "--install-only", "-s", session], f"install-{session}")
            self.installed.add(session)
        argv = [*self.nox, "-R", "-s", session]
        if posargs:
            argv += ["--", *posargs]
        return self.run(argv, log or f"nox-{session}", env=env, check=False, timeout=timeout)

    def venv_bin(self, session: str) -> Path:
        """bin/ of a nox session's venv in the scratch copy (created when missing)."""
        if session not in self.installed:
            self.run([*self.nox, "-r", "--install-only", "-s", session], f"install-{session}")
            self.installed.add(session)
        return self.scratch / ".nox" / re.sub(r"[^\w-]", "-", session) / "bin"

    def wait_for_quiet(self) -> dict[str, Any]:
        """Wait (up to --wait-docker seconds) until no other Docker build runs."""
        start = time.monotonic()
        first = foreign_builds()
        while foreign_builds() and time.monotonic() - start < self.args.wait_docker:
            time.sleep(10)
        waited = round(time.monotonic() - start, 1)
        left = foreign_builds()
        if first:
            print(f"    waited {waited}s for other builds: {first[:3]}", flush=True)
        return {"waited_s": waited, "busy_at_start": bool(first), "busy_after_wait": left}

    def prune(self) -> None:
        """Drop the BuildKit cache, cache mounts (ccache, pip) included."""
        self.run([self.args.docker, "builder", "prune", "-af"], "prune")


def _report(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _step_seconds(report: dict[str, Any], prefix: str) -> float | None:
    for step in report.get("steps", []):
        if step["title"].startswith(prefix):
            return step["seconds"]
    return None


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _direct(b: Bench, steps: list, env: dict[str, str], index: int, failures: list[str]) -> float:
    """The plan's commands one after another, stopping at the first failure like the session."""
    total = 0.0
    for title, argv, cwd, step_env in steps:
        log = f"direct-{title.split()[0]}-{index}"
        res = b.run(argv, log, env={**env, **step_env}, check=False, cwd=cwd)
        total += res.seconds
        if res.returncode:
            failures.append(f"direct {title} exited {res.returncode} (rep {index})")
            break
    return total


# -- sections ------------------------------------------------------------------------------------
def section_nox(b: Bench) -> dict[str, Any]:
    """nox with reused venvs vs the same commands in the lint venv, interleaved."""
    lint_bin = b.venv_bin("lint")
    formatted = []
    if b.args.format_scratch:  # the project's own fix command, on the scratch copy only
        fix = b.nox_session("lint", "--fix", log="format-scratch")
        formatted = [
            f"the scratch copy was formatted first with `nox -s lint -- --fix` "
            f"(exit {fix.returncode}), so black and isort findings do not cut the lint run short"
        ]
    b.venv_bin("unit-3.12")
    plan = b.run([str(lint_bin / "python"), "-c", PLAN_SNIPPET, "3.12"], "plan-lint-unit")
    steps = json.loads(plan.output.splitlines()[-1])
    direct_env = {
        "PATH": f"{lint_bin}{os.pathsep}{b.env['PATH']}",
        "VIRTUAL_ENV": str(lint_bin.parent),
    }
    times: dict[str, list[float]] = {
        k: [] for k in ("nox_lint", "nox_unit", "direct_lint", "direct_unit")
    }
    failures = []
    for index in range(b.reps):
        for session, key in (("lint", "nox_lint"), ("unit-3.12", "nox_unit")):
            res = b.nox_session(session, log=f"nox-{session}-{index}")
            times[key].append(res.seconds)
            if res.returncode:
                failures.append(f"nox -s {session} exited {res.returncode} (rep {index})")
        for key, chosen in (("direct_lint", steps[:-1]), ("direct_unit", steps[-1:])):
            times[key].append(_direct(b, chosen, direct_env, index, failures))
    times["nox_total"] = [a + c for a, c in zip(times["nox_lint"], times["nox_unit"])]
    times["direct_total"] = [a + c for a, c in zip(times["direct_lint"], times["direct_unit"])]
    figures = {k: bench.summarize(v) for k, v in times.items()}
    b.durations["lint"] = figures["nox_lint"]["median"]
    b.durations["unit-3.12"] = figures["nox_unit"]["median"]
    overhead = bench.ratio(figures["nox_total"]["median"], figures["direct_total"]["median"])
    notes = [
        "nox -R (reused venvs, no installs) with Python 3.12; direct = the lint and unit plans' "
        "argv (black, isort, pylint, shellcheck, hadolint, actionlint, zizmor; pytest with the "
        "unit session's coverage/JUnit args) run in the lint venv, interleaved with the nox "
        "runs; like the session, the direct run stops at the first failing command",
        "nox_total counts two nox invocations (lint, unit-3.12), one more start-up than "
        "`nox -s lint unit-3.12`",
        *formatted,
    ] + failures
    return {
        "figures": figures,
        "ratios": {"nox/direct": overhead},
        "targets": [bench.target("nox lint+unit-3.12 / direct", overhead, 1.2)],
        "notes": notes,
    }


def section_wheel(b: Bench) -> dict[str, Any]:
    """wheels-linux with an empty ccache vs a warm one; the CMake build dir removed each time."""
    venv = b.venv_bin("wheels-linux")
    env = {"PATH": f"{venv}{os.pathsep}{b.env['PATH']}", "VIRTUAL_ENV": str(venv.parent)}
    argv = [str(venv / "python"), "-m", "mlc_ci", "wheels-linux", "--config", CONFIG]
    argv += ["--variant", "cpu", "--out", str(b.work / "dist")]
    caches = b.work / "ccache"
    runs: dict[str, list[dict[str, Any]]] = {}

    def build(label: str, index: int, ccache: Path) -> float:
        reports = b.work / "reports" / f"wheel-{label}-{index}"
        run_env = {**env, "MLC_CI_CCACHE_DIR": str(ccache), "MLC_CI_REPORTS_DIR": str(reports)}
        res = b.run(argv, f"wheel-{label}-{index}", env=run_env)
        report = _report(reports / "wheels-linux-mini-llm-cpu.json")
        ccache_stats = report["data"].get("ccache")
        compile_s = report["data"]["compile"]["seconds"]
        runs.setdefault(label, []).append(
            {
                "seconds": round(res.seconds, 3),
                "session_s": report["seconds"],
                "build_step_s": _step_seconds(report, "build "),
                "compile_s": compile_s if label != "rerun" else None,
                "steps": {step["title"]: step["seconds"] for step in report["steps"]},
                "ccache": ccache_stats if isinstance(ccache_stats, dict) else None,
                "load": _load(),
            }
        )
        return res.seconds

    def fresh(index: int, label: str) -> Path:
        if label != "rerun":  # a re-run of the session keeps its CMake build directory
            shutil.rmtree(b.scratch / ".cache/mlc-ci/cmake-build", ignore_errors=True)
        path = caches / f"{label}-{index}" if label == "cold" else caches / "warm"
        if label == "cold":
            shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)
        return path

    cold = b.repeat("wheel cold", lambda i: build("cold", i, fresh(i, "cold")))
    shutil.rmtree(caches / "warm", ignore_errors=True)
    build("prime", 0, fresh(0, "warm"))  # fills the warm cache; not a figure
    runs.pop("prime", None)
    warm = b.repeat("wheel warm", lambda i: build("warm", i, fresh(i, "warm")))
    rerun = b.repeat("wheel rerun", lambda i: build("rerun", i, fresh(i, "rerun")))
    figures = {
        "cold": bench.summarize(cold),
        "warm_ccache": bench.summarize(warm),
        "rerun": bench.summarize(rerun),
    }
    rate = [r["ccache"]["hit_rate"] for r in runs["warm"] if r["ccache"]]
    build_cold = [r["build_step_s"] for r in runs["cold"]]
    build_warm = [r["build_step_s"] for r in runs["warm"]]
    figures["cold_build_step"] = bench.summarize(build_cold)
    figures["warm_build_step"] = bench.summarize(build_warm)
    for label in ("cold", "warm"):
        spans = [r["compile_s"] for r in runs[label] if r["compile_s"] is not None]
        if spans:
            figures[f"{label}_compile"] = bench.summarize(spans)
    warm_ratio = bench.ratio(figures["warm_ccache"]["median"], figures["cold"]["median"])
    saved = figures["cold"]["median"] - figures["warm_ccache"]["median"]
    costs = bench.step_medians([r["steps"] for r in runs["warm"]])
    return {
        "figures": figures,
        "runs": runs,
        "ratios": {
            "warm/cold": warm_ratio,
            "rerun/cold": bench.ratio(figures["rerun"]["median"], figures["cold"]["median"]),
            "warm/cold (compile)": bench.ratio(
                figures.get("warm_compile", {}).get("median"),
                figures.get("cold_compile", {}).get("median"),
            ),
            "warm/cold (build step)": bench.ratio(
                figures["warm_build_step"]["median"], figures["cold_build_step"]["median"]
            ),
        },
        "ccache_hit_rate": min(rate) if rate else None,
        "targets": [
            bench.target("wheel: warm ccache / cold", warm_ratio, 0.30),
        ],
        "notes": [
            f"ccache hit rate of the warm runs (session report): {min(rate) if rate else None}",
            f"ccache saved {saved:.1f}s of {figures['cold']['median']:.1f}s; the largest steps "
            "of a warm run: "
            + ", ".join(f"{title} {sec:.1f}s" for title, sec in list(costs.items())[:4]),
            "python -m mlc_ci wheels-linux --variant cpu in the wheels-linux nox venv; every run "
            "removes .cache/mlc-ci/cmake-build; cold = an empty MLC_CI_CCACHE_DIR, warm = one "
            "primed by an untimed build; pip's and uv's download caches are warm in both",
            "rerun (not a target): warm ccache and the CMake build directory kept, as when the "
            "session runs again on the same machine",
            "cold_compile / warm_compile: ninja's wall time on object files (the wheel report's "
            "`compile`, read from .ninja_log), the part of the build ccache can save",
        ],
    }


def _flush_redis(database: int) -> None:
    host, port = REDIS.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(f"SELECT {database}\r\nFLUSHDB\r\n".encode())
        conn.recv(64)


def section_remote(b: Bench) -> dict[str, Any]:
    """Compile phase with an empty local ccache: no shared cache vs a filled shared cache."""
    venv = b.venv_bin("wheels-linux")
    remote = f"redis://{REDIS}/15"
    _flush_redis(15)
    argv = [str(venv / "python"), "-m", "mlc_ci", "wheels-linux", "--config", CONFIG]
    argv += ["--variant", "cpu", "--out", str(b.work / "dist")]
    runs: dict[str, list[dict[str, Any]]] = {}

    def build(label: str, index: int, shared: str, mode: str) -> float:
        shutil.rmtree(b.scratch / ".cache/mlc-ci/cmake-build", ignore_errors=True)
        reports = b.work / "reports" / f"remote-{label}-{index}"
        env = {
            "PATH": f"{venv}{os.pathsep}{b.env['PATH']}",
            "VIRTUAL_ENV": str(venv.parent),
            "MLC_CI_CCACHE_DIR": str(b.work / "ccache" / f"remote-{label}-{index}"),
            "MLC_CI_REPORTS_DIR": str(reports),
            "MLC_CI_CACHE_REMOTE": shared,
            "MLC_CI_CACHE_MODE": mode,
        }
        b.run(argv, f"remote-{label}-{index}", env=env)
        report = _report(reports / "wheels-linux-mini-llm-cpu.json")
        compile_s = report["data"]["compile"]["seconds"]
        runs.setdefault(label, []).append(
            {"compile_s": compile_s, "ccache": report["data"]["ccache"]}
        )
        return compile_s or 0.0

    cold = b.repeat("remote cold", lambda i: build("cold", i, "", ""))
    build("prime", 0, remote, "read-write")  # fills the shared cache; not a figure
    runs.pop("prime", None)
    warm = b.repeat("remote warm", lambda i: build("warm", i, remote, "read-only"))
    figures = {"cold_compile": bench.summarize(cold), "remote_warm_compile": bench.summarize(warm)}
    ratio = bench.ratio(figures["remote_warm_compile"]["median"], figures["cold_compile"]["median"])
    rates = [r["ccache"]["remote"]["hit_rate"] for r in runs["warm"]]
    return {
        "figures": figures,
        "runs": runs,
        "ratios": {"remote-warm/cold (compile)": ratio},
        "remote_hit_rate": min((r for r in rates if r is not None), default=None),
        "targets": [bench.target("compile: remote-warm / cold (empty local ccache)", ratio, 0.10)],
        "notes": [
            f"remote hit rate of the warm runs (ccache's remote counters): {rates}",
            "compile = ninja's wall time on object files (the wheel report's `compile`, from "
            ".ninja_log); every run starts with an empty local ccache and no CMake build "
            "directory, as on a fresh runner",
        ],
    }


def section_image(b: Bench) -> dict[str, Any]:
    """Production image: cold, no-op, one-line Python change, one-line C++ change."""
    quiet = b.wait_for_quiet()
    venv = b.venv_bin("docker-build")
    argv = [str(venv / "python"), "-m", "mlc_ci", "docker-build", "production"]
    argv += ["--config", CONFIG, "--image", IMAGE]
    attempts: dict[str, dict[int, dict[str, Any]]] = {}  # a retried run replaces its first try
    originals = {p: (b.scratch / p).read_text(encoding="utf-8") for p in (PY_FILE, CPP_FILE)}

    def build(label: str, index: int) -> float:
        reports = b.work / "reports" / f"image-{label}-{index}"
        res = b.run(argv, f"image-{label}-{index}", env={"MLC_CI_REPORTS_DIR": str(reports)})
        report = _report(reports / "docker-build-cpu.json")
        (art,) = [a for a in report["artifacts"] if a["details"]["target"] == "production"]
        attempts.setdefault(label, {})[index] = {
            "seconds": round(res.seconds, 3),
            "build_step_s": _step_seconds(report, "build production"),
            "cached_steps": art["details"]["cached_steps"],
            "ccache": bench.parse_ccache_show_stats(res.output),
            "compiled": bench.compiled_units(res.output),
            "concurrent": res.concurrent,
            "load": _load(),
        }
        return res.seconds

    def change(path: str) -> Callable[[int], None]:
        def setup(index: int) -> None:
            token = int(time.time() * 1000) + index
            with open(b.scratch / path, "a", encoding="utf-8") as handle:
                handle.write(bench.one_line_change(path, token))

        return setup

    try:
        cold = b.repeat("image cold", lambda i: build("cold", i), lambda i: b.prune(), True)
        noop = b.repeat("image no-op", lambda i: build("noop", i), docker=True)
        python = b.repeat(
            "image python", lambda i: build("python_change", i), change(PY_FILE), True
        )
        cpp = b.repeat("image c++", lambda i: build("cpp_change", i), change(CPP_FILE), True)
    finally:
        for path, text in originals.items():
            (b.scratch / path).write_text(text, encoding="utf-8")
    runs = {label: list(by_index.values()) for label, by_index in attempts.items()}
    figures = {
        "cold": bench.summarize(cold),
        "noop": bench.summarize(noop),
        "python_change": bench.summarize(python),
        "cpp_change": bench.summarize(cpp),
    }
    ratios = {
        k: bench.ratio(figures[k]["median"], figures["cold"]["median"])
        for k in ("noop", "python_change", "cpp_change")
    }
    concurrent = sorted({c for rs in runs.values() for r in rs for c in r["concurrent"]})
    notes = [
        "python -m mlc_ci docker-build production (BuildKit via /usr/bin/docker 20.10); cold = "
        "after `docker builder prune -af` (ccache and pip cache mounts dropped too)",
        f"changes: one code line appended to {PY_FILE} / {CPP_FILE}, unique per repetition",
    ]
    if concurrent:
        notes.append(f"other Docker builds overlapped kept measurements: {concurrent[:3]}")
    return {
        "figures": figures,
        "runs": runs,
        "ratios": {f"{k}/cold": v for k, v in ratios.items()},
        "machine_quiet": quiet,
        "targets": _image_targets(ratios, runs),
        "notes": notes,
    }


def _image_targets(ratios: dict[str, float | None], runs: dict[str, list]) -> list[dict]:
    def most_misses(label: str) -> int | None:
        misses = [(r["ccache"] or {}).get("misses") for r in runs[label]]
        return max((m for m in misses if m is not None), default=None)

    return [
        bench.target("image: Python change / cold", ratios["python_change"], 0.10),
        bench.target("image: no-op / cold", ratios["noop"], 0.03),
        bench.target(
            "image: C++ change, translation units recompiled (ccache misses, max)",
            most_misses("cpp_change"),
            1,
            "==",
        ),
        bench.target(
            "image: Python change, translation units recompiled (ccache misses, max)",
            most_misses("python_change"),
            0,
            "==",
        ),
    ]


def docker_build_all(b: Bench) -> dict[str, Any]:
    """`nox -R -s docker-build -- all` from a pruned cache; shared by sizes and critical."""
    if b.docker_all is None:
        argv = ("docker-build", "all", "--config", CONFIG, "--image", IMAGE)

        def once(index: int) -> float:
            res = b.nox_session(*argv, log=f"nox-docker-build-all-{index}")
            if res.returncode:
                raise BenchError(f"docker-build all failed; see {b.logs}/nox-docker-build-all.log")
            return res.seconds

        values = b.repeat("docker-build all", once, lambda i: b.prune(), docker=True)
        b.durations["docker-build"] = bench.summarize(values)["median"]
        report = _report(b.scratch / "reports/docker-build-cpu.json")
        b.docker_all = {"seconds": values, "report": report}
    return b.docker_all


def section_sizes(b: Bench) -> dict[str, Any]:
    """Image sizes per target from the docker-build report; compilers in production."""
    built = docker_build_all(b)
    arts = {a["details"]["target"]: a for a in built["report"]["artifacts"]}
    sizes = {t: arts[t]["size"] for t in TARGETS if t in arts}
    probe = b.run(
        [b.args.docker, "run", "--rm", "--network", "host", "--entrypoint", "sh"]
        + [arts["production"]["details"]["id"], "-c", COMPILER_PROBE],
        "probe-compilers",
    )
    compilers = [line for line in probe.output.splitlines()[1:] if line.strip()]
    ratios = bench.size_ratios(sizes)
    targets = [bench.target("production: compilers found", len(compilers), 0, "==")]
    budgets = _budgets()
    for name, limit in budgets.items():
        if name in sizes:
            mb = round(sizes[name] / 1e6, 1)
            targets.append(bench.target(f"{name} size MB (budget in pipeline.toml)", mb, limit))
    return {
        "sizes": sizes,
        "ratios": ratios,
        "compilers_in_production": compilers,
        "targets": targets,
        "notes": [
            "sizes are `docker image inspect` .Size (uncompressed, base image included) of the "
            "`nox -s docker-build -- all` run; production probed with `command -v` for "
            f"{', '.join(COMPILERS)}",
        ],
    }


def _budgets() -> dict[str, float]:
    try:
        import tomllib  # pylint: disable=import-outside-toplevel
    except ImportError:  # Python 3.10: no budgets rather than a dependency
        return {}
    data = tomllib.loads((REPO / CONFIG).read_text(encoding="utf-8"))
    return dict(data.get("image", {}).get("size_budget_mb", {}))


class _Sessions:
    """How each session of the listing is measured here (or why it is not)."""

    def __init__(self, b: Bench) -> None:
        self.b = b
        self.ccache = b.work / "ccache"
        self.failed: list[str] = []

    def measure(self, session: str) -> list[float] | str:
        """Durations of `session`, or the reason it was not measured."""
        if session == "lint" or session.startswith("unit-"):
            return self.b.repeat(session, self.timed(session))
        how = {
            "wheels-linux": self.wheels_linux,
            "wheels-windows": self.wheels_windows,
            "docker-build": lambda: docker_build_all(self.b)["seconds"],
            "integration": self.integration,
            "trivy": self.trivy,
        }.get(session)
        return how() if how else "it publishes a tagged release"

    def wheels_linux(self) -> list[float]:
        """Cold, as on a fresh runner (the workflow restores no ccache)."""
        once = self.timed("wheels-linux", "--config", CONFIG, "--variant", "cpu", cold_ccache=True)
        return self.b.repeat("wheels-linux", once, setup=self.cold_build_dir)

    def wheels_windows(self) -> list[float]:
        """The MinGW cross-build (no ccache in that session)."""
        once = self.timed("wheels-windows", "--config", CONFIG, "--cross", "mingw")
        return self.b.repeat("wheels-windows", once, setup=self.cold_build_dir)

    def integration(self) -> list[float]:
        """Against the images of the `docker-build all` run."""
        docker_build_all(self.b)
        once = self.timed("integration", "--config", CONFIG)
        return self.b.repeat("integration", once, docker=True)

    def trivy(self) -> list[float] | str:
        """Only with a scanner; the session never passes without one."""
        if not (shutil.which("trivy") or os.environ.get("MLC_CI_TRIVY")):
            return "no trivy scanner on this host"
        docker_build_all(self.b)
        return self.b.repeat(
            "trivy", self.timed("trivy", "--config", CONFIG, "--target", "production")
        )

    def cold_build_dir(self, index: int) -> None:
        """A fresh runner: no CMake build directory, no ccache."""
        del index
        shutil.rmtree(self.b.scratch / ".cache/mlc-ci/cmake-build", ignore_errors=True)

    def timed(self, session: str, *posargs: str, cold_ccache=False) -> Callable[[int], float]:
        """One `nox -R -s session -- posargs`, failing when the session fails."""

        def once(index: int) -> float:
            env = None
            if cold_ccache:
                path = self.ccache / f"critical-{session}-{index}-{time.time_ns()}"
                env = {"MLC_CI_CCACHE_DIR": str(path)}
            log = f"critical-{session}-{index}"
            res = self.b.nox_session(session, *posargs, env=env, log=log, timeout=3600)
            if res.returncode:  # counted, but said: a failed session may have stopped early
                self.failed.append(f"{session} exited {res.returncode} ({log}.log)")
            return res.seconds

        return once


def section_critical(b: Bench) -> dict[str, Any]:
    """Every session that can run here, then the matrix critical path vs serial."""
    listing = b.run([*b.nox, "--list", "--json", "-t", *bench.STAGES], "nox-list")
    entries = json.loads(listing.output.splitlines()[-1])
    stages = bench.stage_sessions(entries)
    notes, durations, measured_here = [], dict(b.durations), {}
    sessions = _Sessions(b)
    for entry in entries:
        session = entry["session"]
        if session in durations:
            continue
        try:
            values = sessions.measure(session)
        except BenchError as exc:
            values = str(exc).splitlines()[0]
        if isinstance(values, str):
            notes.append(f"{session}: not measured, {values}")
            continue
        measured_here[session] = bench.summarize(values)
        durations[session] = measured_here[session]["median"]
    notes += [f"failed, duration still counted: {failure}" for failure in sessions.failed]
    for session in ("lint", "unit-3.12"):
        if session in b.durations:
            notes.append(f"{session}: median of the nox section's `nox -R -s {session}` runs")
    if "docker-build" in durations:
        notes.append("docker-build: `all` from a pruned BuildKit cache, as on a fresh runner")
    notes.append(
        "durations are nox runs with reused venvs (-R) on this machine (2 CPUs); a CI job adds "
        "runner start, checkout, venv install and artifact transfer"
    )
    path = bench.critical_path(stages, durations)
    return {
        "figures": measured_here,
        "durations": durations,
        "path": path,
        "targets": [],
        "notes": notes,
    }


RUNNERS = {
    "nox": section_nox,
    "wheel": section_wheel,
    "overhead": section_overhead,
    "remote": section_remote,
    "image": section_image,
    "sizes": section_sizes,
    "critical": section_critical,
}


def machine(args: argparse.Namespace) -> dict[str, Any]:
    """Where the figures were taken."""
    info = {"cpus": os.cpu_count(), "system": platform.platform(), "load_at_start": _load()}
    try:
        info["docker"] = subprocess.run(
            (args.docker, "version", "--format", "{{.Server.Version}}"),
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        info["docker"] = "unavailable"
    sha = subprocess.run(
        ("git", "-C", str(REPO), "rev-parse", "--short", "HEAD"),
        capture_output=True,
        text=True,
        check=False,
    )
    info["commit"] = sha.stdout.strip()
    info["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    return info


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line of the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions per figure (default 3)")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}"
    )
    parser.add_argument("--out", default=str(REPO / "reports"), help="where bench.json/.md go")
    parser.add_argument("--scratch", help="reuse this scratch directory (kept afterwards)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary scratch copy")
    parser.add_argument(
        "--tree",
        choices=("worktree", "head"),
        default="worktree",
        help="what to copy: the working tree (default) or the committed HEAD",
    )
    parser.add_argument(
        "--patch",
        action="append",
        default=[],
        help="apply this diff (git apply) to the scratch copy first; repeatable",
    )
    parser.add_argument(
        "--format-scratch",
        action="store_true",
        help="apply `nox -s lint -- --fix` to the scratch copy before the nox section",
    )
    parser.add_argument("--docker", default=os.environ.get("MLC_CI_DOCKER", "docker"))
    parser.add_argument(
        "--nox-python",
        default=next((f"{p}/python" for p in pyenv_bins() if "/3.12" in p), sys.executable),
        help="interpreter that runs nox (its venvs for lint use it; default: pyenv 3.12)",
    )
    parser.add_argument(
        "--wait-docker", type=float, default=1200, help="seconds to wait for other builds"
    )
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown or args.reps < 1:
        parser.error(f"unknown section(s) {unknown}" if unknown else "--reps must be >= 1")
    args.only = [s for s in SECTIONS if s in only]
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sections; merge them into reports/bench.json and render bench.md."""
    args = parse_args(argv)
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="mlc-ci-bench-")).resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    print(f"scratch copy: {scratch}", flush=True)
    make_scratch(REPO, scratch, args.tree)
    for patch in args.patch:  # a proposed pipeline change, measured without touching the checkout
        subprocess.run(("git", "-C", str(scratch), "apply", str(Path(patch).resolve())), check=True)
    out = Path(args.out)
    previous = out / "bench.json"
    result = json.loads(previous.read_text(encoding="utf-8")) if previous.is_file() else {}
    result.setdefault("sections", {})
    result["machine"] = machine(args)
    result["reps"] = args.reps
    result["machine"]["tree"] = args.tree + "".join(f" + {Path(p).name}" for p in args.patch)
    b = Bench(args, scratch)
    failed = []
    try:
        for name in args.only:
            print(f"== {name}", flush=True)
            started = time.strftime("%Y-%m-%d %H:%M:%S")
            seen = len(b.notes)
            try:
                section = RUNNERS[name](b)
            except BenchError as exc:
                failed.append(name)
                section = {"error": str(exc), "notes": [f"failed: {str(exc).splitlines()[0]}"]}
            section.setdefault("notes", []).extend(b.notes[seen:])
            section["measured_at"] = started
            result["sections"][name] = section
            _write(out, result)
    finally:
        if not (args.scratch or args.keep):
            _keep_failed_logs(b, out / "bench-logs")
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"logs: {b.logs}", flush=True)
    print((out / "bench.md").read_text(encoding="utf-8"))
    if failed:
        print(f"failed sections: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _keep_failed_logs(b: Bench, target: Path) -> None:
    """Copy the logs of failed runs out of the scratch copy before it is removed."""
    for log in b.failed_logs:
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(log, target / log.name)
    if b.failed_logs:
        print(f"logs of failed runs: {target}", flush=True)


def _write(out: Path, result: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "bench.md").write_text(bench.render_markdown(result), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
