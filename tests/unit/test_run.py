"""The runner with real processes: echo, dry-run, placeholders, retries, missing tools."""

from __future__ import annotations

import io
import os
import re
import sys
import threading
import time

import pytest

from mlc_ci.errors import PipelineError, StepFailed
from mlc_ci.run import Ref, Runner, Step, capture

pytestmark = pytest.mark.unit
PY = sys.executable


def test_runs_commands_and_prints_progress():
    out = io.StringIO()
    runner = Runner(out=out)
    runner.run_all(
        [Step("hello", (PY, "-c", "print('hi')")), Step("noop", action=lambda ctx: None)]
    )
    text = out.getvalue()
    assert "[1/2] hello" in text and "[2/2] noop" in text and "ok in" in text
    assert [r.status for r in runner.results] == ["ok", "ok"]


def test_dry_run_runs_nothing(tmp_path):
    marker = tmp_path / "touched"
    out = io.StringIO()
    runner = Runner(dry_run=True, out=out)
    runner.run_all([Step("touch", (PY, "-c", f"open({str(marker)!r}, 'w')"), env={"A": "b c"})])
    assert not marker.exists()
    assert runner.results[0].status == "planned"
    assert "A='b c'" in out.getvalue()


def test_placeholders_come_from_earlier_steps():
    runner = Runner(out=io.StringIO())

    def set_value(ctx):
        ctx["value"] = "42"

    runner.run_all(
        [
            Step("set", action=set_value),
            Step(
                "echo",
                (PY, "-c", "import sys; print(sys.argv[1])", Ref("value")),
                capture=True,
                save_as="echoed",
            ),
        ]
    )
    assert runner.context["echoed"].strip() == "42"
    assert "42" in runner.results[1].command


def test_unknown_placeholder_is_named_and_recorded():
    runner = Runner(out=io.StringIO())
    with pytest.raises(PipelineError, match="needs 'wheel'"):
        runner.run(Step("x", ("echo", Ref("wheel"))))
    assert [(r.title, r.status, r.command) for r in runner.results] == [
        ("x", "failed", "echo '{wheel}'")
    ]


@pytest.mark.parametrize(
    "code", ['import sys; print({"a": 1}["a"])', "print('}')", "print('{value}')", "print('{')"]
)
def test_braces_in_plain_arguments_are_never_templates(code):
    runner = Runner(out=io.StringIO())
    runner.context["value"] = "substituted"
    runner.run(Step("py", (PY, "-c", code), capture=True, save_as="out"))
    assert "substituted" not in runner.context["out"] and runner.results[0].status == "ok"


def test_failure_names_the_step_and_hint():
    runner = Runner(out=io.StringIO())
    step = Step("fail", (PY, "-c", "import sys; sys.exit(3)"), on_fail="do the fix")
    with pytest.raises(StepFailed, match="'fail' failed with exit status 3.*do the fix"):
        runner.run(step)
    assert runner.results[0].status == "failed"


def test_captured_failure_shows_last_line():
    code = "import sys; print('first'); print('the reason', file=sys.stderr); sys.exit(1)"
    with pytest.raises(StepFailed, match="the reason"):
        Runner(out=io.StringIO()).run(Step("fail", (PY, "-c", code), capture=True))


def test_retries_with_backoff_then_succeeds(tmp_path):
    counter = tmp_path / "n"
    code = (
        "import pathlib, sys; p = pathlib.Path(sys.argv[1]);"
        "n = int(p.read_text() or 0) if p.exists() else 0;"
        "p.write_text(str(n + 1)); sys.exit(0 if n >= 2 else 1)"
    )
    delays = []
    runner = Runner(out=io.StringIO(), sleep=delays.append)
    result = runner.run(Step("flaky", (PY, "-c", code, str(counter)), retries=3))
    assert result.attempts == 3 and delays == [2.0, 4.0]


def test_retries_exhausted():
    delays = []
    runner = Runner(out=io.StringIO(), sleep=delays.append)
    with pytest.raises(StepFailed):
        runner.run(Step("down", (PY, "-c", "raise SystemExit(1)"), retries=2))
    assert delays == [2.0, 4.0] and runner.results[0].attempts == 3


def test_missing_tool_has_install_hint():
    with pytest.raises(
        PipelineError, match="`auditwheel` was not found on PATH; pip install auditwheel"
    ):
        Runner(out=io.StringIO(), env={"PATH": "/nonexistent"}).run(
            Step("x", ("auditwheel", "show"))
        )
    with pytest.raises(PipelineError, match="install frobnicate or put it on PATH"):
        Runner(out=io.StringIO()).run(Step("x", ("frobnicate",)))


def test_path_prefix_and_cwd(tmp_path):
    runner = Runner(out=io.StringIO())
    step = Step(
        "where",
        (PY, "-c", "import os; print(os.getcwd()); print(os.environ['PATH'].split(os.pathsep)[0])"),
        cwd=str(tmp_path),
        path_prefix="/opt/first",
        capture=True,
        save_as="where",
    )
    runner.run(step)
    cwd, first = runner.context["where"].split()
    assert cwd == str(tmp_path) and first == "/opt/first"
    assert 'PATH=/opt/first:"$PATH"' in step.command_text()


def test_capture():
    assert capture((PY, "-c", "print('x')")).strip() == "x"
    with pytest.raises(PipelineError, match="failed: boom; fix it"):
        capture((PY, "-c", "import sys; sys.exit('boom')"), fix="fix it")
    with pytest.raises(PipelineError, match="not found on PATH"):
        capture(("no-such-tool-xyz",))


def test_failure_names_a_known_cause_and_keeps_the_tail():
    code = (
        "import sys\n"
        "print('compiling')\n"
        "print('ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] failed')\n"
        "sys.exit(1)\n"
    )
    runner = Runner(out=io.StringIO())
    with pytest.raises(StepFailed) as info:
        runner.run(Step("pip", (PY, "-c", code)))
    message = str(info.value)
    assert "set MLC_CI_CA_BUNDLE" in message and PY not in message
    assert runner.results[0].tail[-1].startswith("ssl.SSLCertVerificationError")


def test_failure_without_a_known_cause_shows_the_last_line():
    code = (
        "import sys; print('step one', flush=True); "
        "print('the last word', file=sys.stderr, flush=True); sys.exit(4)"
    )
    with pytest.raises(StepFailed, match="exit status 4: the last word"):
        Runner(out=io.StringIO()).run(Step("x", (PY, "-c", code)))


def test_output_that_is_not_utf8_is_no_traceback():
    code = "import sys; sys.stdout.buffer.write(b'\\xff\\xfe bad bytes\\n'); sys.exit(1)"
    with pytest.raises(StepFailed, match="bad bytes"):
        Runner(out=io.StringIO()).run(Step("x", (PY, "-c", code)))


def test_stop_ends_the_running_step_from_another_thread(tmp_path):
    # A rehearsal interrupted while jobs run side by side: no job may outlive it.
    runner = Runner(out=io.StringIO())
    child = tmp_path / "child.pid"
    script = f"import os, time; open({str(child)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    failed: list[BaseException] = []

    def run() -> None:
        try:
            runner.run(Step("sleeps", (sys.executable, "-c", script)))
        except StepFailed as exc:
            failed.append(exc)

    worker = threading.Thread(target=run)
    started = time.monotonic()
    worker.start()
    while not (child.is_file() and child.read_text()) and time.monotonic() - started < 30:
        time.sleep(0.05)
    runner.stop()
    worker.join(timeout=30)
    assert not worker.is_alive() and time.monotonic() - started < 30
    assert failed and "step 'sleeps' failed" in str(failed[0])
    assert not runner.live
    # and no step starts after it (a job that was still cloning when the interrupt came)
    with pytest.raises(StepFailed, match="stopped: the run was interrupted"):
        runner.run(Step("after", (sys.executable, "-c", "pass")))


def test_an_environment_the_steps_share_is_shown_once():
    """Consecutive build steps share a long environment: it is printed once, each command
    without it, while each step's recorded command stays whole (the report, the plan check)."""
    build = {"CMAKE_BUILD_PARALLEL_LEVEL": "2", "SOURCE_DATE_EPOCH": "100", "CCACHE_DIR": "/c"}
    steps = [
        Step("configure", ("cmake", "-S", "."), env=build, path_prefix="/opt/tools"),
        Step("between", action=lambda ctx: None),
        Step("build", ("cmake", "--build", "."), env=build, path_prefix="/opt/tools"),
        Step(
            "pair",
            ("cmake", "--build", "p"),
            env={**build, "SOURCE_DATE_EPOCH": "200"},
            path_prefix="/opt/tools",
        ),
        Step("show", ("auditwheel", "show", "w.whl")),
    ]
    out = io.StringIO()
    runner = Runner(dry_run=True, out=out)
    runner.run_all(steps)
    text = out.getvalue()
    assert text.count("CCACHE_DIR=/c") == 1 and text.count('PATH=/opt/tools:"$PATH"') == 1
    echoed = [line for line in text.splitlines() if line.lstrip().startswith("$ ")]
    assert len(echoed) == len(steps) and not any("=" in line for line in echoed)
    # the step whose environment differs says how, before its command
    pair = text[text.index("[4/5] pair") : text.index("$ cmake --build p")]
    assert "SOURCE_DATE_EPOCH=200" in pair
    # a step that adds none says so: the environment above does not carry over
    assert text[text.index("[5/5] show") : text.index("$ auditwheel")].count("\n") > 1
    assert [r.command for r in runner.results] == [s.command_text() for s in steps]
    assert "CCACHE_DIR=/c" in runner.results[2].command


class Terminal(io.StringIO):
    """What a terminal is to the runner: a stream that says it is a TTY."""

    def isatty(self) -> bool:
        return True


NINJA = (
    "import sys\n"
    "print('[1/3] Building CXX object a.o')\n"
    "print('warning: unused variable')\n"
    "print('[2/3] Building CXX object b.o')\n"
    "print('[3/3] Linking CXX shared library lib.so')\n"
    "print('-- Installing: lib.so')\n"
    "sys.exit(1)\n"
)


def test_ninja_progress_on_a_terminal_is_one_updating_line():
    out = Terminal()
    runner = Runner(out=out, env={"PATH": os.environ["PATH"]}, previous={"build": 600.0})
    with pytest.raises(StepFailed):
        runner.run(Step("build", (PY, "-c", NINJA)))
    text = out.getvalue()
    assert text.count("\r") >= 3 and "[3/3]" in text
    assert "[1/3] Building CXX object a.o\n" not in text  # drawn in place, not a line each
    assert "warning: unused variable\n" in text  # any other line is printed as it is
    # the last unit's progress line stays, and what follows starts on a line of its own
    assert re.search(r"\[3/3\] 100%[^\r\n]*\n-- Installing: lib\.so\n", text)
    # what is kept for the failure message and the report is the output as printed
    assert runner.results[0].tail == [
        "[1/3] Building CXX object a.o",
        "warning: unused variable",
        "[2/3] Building CXX object b.o",
        "[3/3] Linking CXX shared library lib.so",
        "-- Installing: lib.so",
    ]


@pytest.mark.parametrize("out_env", [(io.StringIO, {}), (Terminal, {"CI": "true"})])
def test_ninja_lines_stay_plain_in_ci_and_when_piped(out_env):
    make_out, env = out_env
    out = make_out()
    with pytest.raises(StepFailed):
        Runner(out=out, env={"PATH": os.environ["PATH"], **env}).run(
            Step("build", (PY, "-c", NINJA))
        )
    assert "\r" not in out.getvalue()
    assert "[1/3] Building CXX object a.o\nwarning: unused variable\n[2/3]" in out.getvalue()
