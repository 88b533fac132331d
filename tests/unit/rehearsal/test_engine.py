"""The engine runs a workflow file as GitHub does (fixture workflows on this host's shell)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tools.rehearsal import expressions as ex
from tools.rehearsal.engine import Run, matrix, read_file_command
from tools.rehearsal.machine import HostMachine
from tools.rehearsal.model import Event, RehearsalError, Runner, Shared
from tools.rehearsal.records import FAILED, NOT_RUNNABLE, PASSED, SKIPPED, WALL, wall_of
from tools.rehearsal.workflow import Job, load, triggered

pytestmark = pytest.mark.unit

PR = Event("pull_request", "refs/pull/1/merge", "0" * 40, fork=True, base_ref="main")


# A local equivalent as runners/windows-2022.toml declares one: Windows to the workflow, an
# environment of its own, and a note the table prints under the job.
EQUIVALENT = Runner(
    "Windows",
    "win22",
    {"MLC_CI_CROSS": "mingw"},
    "MinGW cross build, not Windows",
    ("sets no \\[wheel\\]\\.mingw_toolchain",),
)


def _play(tmp_path: Path, text: str, event: Event = PR, **options) -> dict:
    path = tmp_path / "ci.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    shared = Shared(tmp_path / "shared", tmp_path / "mirror.git")
    shared.root.mkdir()

    def machines(label: str, _root: Path):
        if label == "windows-2022":
            return HostMachine(EQUIVALENT)
        return HostMachine() if label.startswith("ubuntu") else f"no {label} here"

    run = Run(load(path), event, shared, machines, **options)
    return {record.name: record for record in run.play()}


CHAIN = """
on: [pull_request]
jobs:
  plan:
    runs-on: ubuntu-24.04
    outputs:
      list: ${{ steps.m.outputs.list }}
    steps:
      - id: m
        run: |
          echo 'list=[{"n": "a"}, {"n": "b"}]' >> "$GITHUB_OUTPUT"
          echo "FROM_ENV=set" >> "$GITHUB_ENV"
          mkdir -p "$RUNNER_TEMP/bin" && echo "$RUNNER_TEMP/bin" >> "$GITHUB_PATH"
      - run: test "$FROM_ENV" = set && case ":$PATH:" in *"$RUNNER_TEMP/bin"*) ;; *) exit 1;; esac
  gate:
    needs: plan
    name: gate ${{ matrix.n }}
    runs-on: ubuntu-24.04
    strategy:
      matrix:
        include: ${{ fromJSON(needs.plan.outputs.list) }}
    steps:
      - run: printf '\\033[31mcolour\\033[0m\\n' && test "${{ matrix.n }}" = a
  build:
    needs: [plan, gate]
    if: ${{ !cancelled() && !failure() }}
    runs-on: ubuntu-24.04
    steps:
      - run: "true"
  report:
    needs: gate
    if: always()
    runs-on: ubuntu-24.04
    steps:
      - if: failure()
        run: echo never
      - if: always() && github.event.pull_request.head.repo.fork
        run: echo fork
"""


def test_needs_outputs_matrix_and_status_functions(tmp_path: Path) -> None:
    jobs = _play(tmp_path, CHAIN)
    assert jobs["plan"].verdict == PASSED and jobs["plan"].steps_run == 2
    # The matrix came from the plan job's output; one combination fails its own test.
    assert jobs["gate a"].verdict == PASSED
    assert jobs["gate b"].verdict == FAILED and jobs["gate b"].reason == "exit code 1: colour"
    # !failure() sees the failed ancestor: the job is skipped, as on GitHub.
    assert jobs["build"].verdict == SKIPPED
    # always() runs; a step-level failure() is about this job's steps, not the needs.
    assert [s.outcome for s in jobs["report"].steps] == ["skipped", "success"]


def test_run_past_failures_forces_later_jobs(tmp_path: Path) -> None:
    jobs = _play(tmp_path, CHAIN, run_past_failures=True)
    assert jobs["build"].verdict == PASSED and jobs["build"].forced
    assert not jobs["plan"].forced


def test_a_skipped_need_skips_the_implicit_success(tmp_path: Path) -> None:
    jobs = _play(
        tmp_path,
        """
        on: pull_request
        jobs:
          a:
            if: github.event_name == 'push'
            runs-on: ubuntu-24.04
            steps: [{run: "true"}]
          b:
            needs: a
            runs-on: ubuntu-24.04
            steps: [{run: "true"}]
        """,
    )
    assert jobs["a"].verdict == SKIPPED and jobs["b"].verdict == SKIPPED


def test_runners_without_a_machine_are_listed_with_their_reason(tmp_path: Path) -> None:
    jobs = _play(
        tmp_path,
        """
        on: pull_request
        jobs:
          gpu:
            runs-on: [self-hosted, gpu]
            steps: [{run: "true"}]
        """,
    )
    assert jobs["gpu"].verdict == NOT_RUNNABLE and "self-hosted gpu" in jobs["gpu"].reason


WALLED = """
on: pull_request
jobs:
  walled:
    runs-on: ubuntu-24.04
    steps:
      - run: 'echo "curl: (6) Could not resolve host: ghcr.io"; exit 6'
  touched-then-failed:
    runs-on: ubuntu-24.04
    steps:
      - run: 'echo "curl: (6) Could not resolve host: ghcr.io"'
      - run: 'echo "error: the wheel is not manylinux"; exit 1'
"""


def test_a_wall_is_the_error_that_stopped_the_step(tmp_path: Path) -> None:
    jobs = _play(tmp_path, WALLED)
    assert jobs["walled"].verdict == WALL and jobs["walled"].reason == "wall: ghcr.io"
    assert jobs["touched-then-failed"].verdict == FAILED


def test_wall_of_reads_only_the_end_of_the_log() -> None:
    assert wall_of("fatal: unable to access 'https://github.com/x/y/': ...") == "github.com"
    early = "Could not resolve host: quay.io\n" + "later line\n" * 30 + "error: other"
    assert wall_of(early) == ""
    assert wall_of("Could not resolve host: example.org") == ""


def _session_log(failing_output: str, steps_ran: int) -> str:
    """A failed mlc-ci session's log: the failing command's output, then its summary table (a
    row per step that ran) and error line, then nox's lines."""
    rows = "".join(f"step number {i:<30}  ok      0.1s   1\n" for i in range(steps_ran))
    return (
        "[4/40] bake the setup\n"
        f"{failing_output}"
        "      failed in 3.7s\n"
        "report: reports/wheels-linux-mlc-llm-cpu.json\n\n"
        "== wheels-linux-mlc-llm-cpu: failed in 20.4s ==\n"
        "step                 status  time   tries\n"
        "-------------------  ------  -----  -----\n"
        f"{rows}"
        "bake the setup       failed  3.7s   1\n"
        "mlc-ci: error: step 'bake the setup' failed with exit status 1: executor failed\n"
        "nox > Command python -m mlc_ci wheels-linux --variant cpu failed with exit code 1\n"
        "nox > Session wheels-linux failed.\n"
    )


def test_a_session_s_summary_table_does_not_push_its_wall_out_of_the_tail() -> None:
    walled = "#5 0.110 curl: (6) Could not resolve host: sh.rustup.rs\n#5 ERROR: executor failed\n"
    for steps in (3, 45):  # how far the session got does not matter
        assert wall_of(_session_log(walled, steps)) == "sh.rustup.rs"
    # A wall the command met early, then its own failure: that failure stopped it.
    compiled = walled + "".join(f"src/x.cc:{i}: error: no member\n" for i in range(30))
    assert wall_of(_session_log(compiled, 3)) == ""


def test_an_expression_outside_the_subset_stops_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(RehearsalError) as err:
        _play(
            tmp_path,
            """
            on: pull_request
            jobs:
              a:
                if: nosuchfunction(github.ref)
                runs-on: ubuntu-24.04
                steps: [{run: "true"}]
            """,
        )
    assert "nosuchfunction" in str(err.value) and "\n" not in str(err.value)


def test_an_unmodelled_job_key_stops_the_rehearsal(tmp_path: Path) -> None:
    path = tmp_path / "ci.yml"
    path.write_text("on: push\njobs:\n  a:\n    runs-on: x\n    services: {}\n", encoding="utf-8")
    with pytest.raises(RehearsalError, match="services"):
        load(path)


@pytest.mark.parametrize(
    ("ref", "runs"),
    [
        ("refs/tags/v1.2.3", True),
        ("refs/tags/nightly", False),
        ("refs/heads/main", True),
        ("refs/heads/feature/x", False),
    ],
)
def test_push_filters(tmp_path: Path, ref: str, runs: bool) -> None:
    path = tmp_path / "ci.yml"
    path.write_text(
        "on:\n  push:\n    branches: [main]\n    tags: ['v*']\njobs: {}\n", encoding="utf-8"
    )
    assert triggered(load(path), Event("push", ref, "0" * 40)) is runs


def test_matrix_axes_exclude_and_include() -> None:
    job = Job(
        "j",
        {
            "strategy": {
                "matrix": {
                    "os": ["a", "b"],
                    "py": ["3.10", "3.12"],
                    "exclude": [{"os": "b", "py": "3.10"}],
                    "include": [{"os": "a", "extra": "x"}, {"os": "c", "py": "3.13"}],
                }
            }
        },
    )
    combos = matrix(job, ex.Contexts({}))
    assert {"os": "a", "py": "3.10", "extra": "x"} in combos
    assert {"os": "b", "py": "3.10"} not in combos
    assert combos[-1] == {"os": "c", "py": "3.13"} and len(combos) == 4


def test_file_commands_read_heredoc_blocks(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_text("a=1\nb<<EOF\nline 1\nline=2\nEOF\nc=x=y\n", encoding="utf-8")
    assert read_file_command(path) == {"a": "1", "b": "line 1\nline=2", "c": "x=y"}


def test_only_runs_the_selected_jobs_and_says_why_the_others_did_not(tmp_path: Path) -> None:
    jobs = _play(tmp_path, CHAIN, only=frozenset({"plan"}))
    assert jobs["plan"].verdict == PASSED
    # Its name is made of the matrix, which an unselected job never gets: the key stands in.
    assert jobs["gate"].verdict == SKIPPED and jobs["gate"].reason == "not selected (--only)"


def test_a_local_equivalent_is_windows_to_the_workflow_and_named_in_the_record(tmp_path):
    jobs = _play(
        tmp_path,
        """
        on: [pull_request]
        jobs:
          win:
            runs-on: windows-2022
            steps:
              - if: runner.os == 'Windows'
                run: test "$RUNNER_OS" = Windows && test "$ImageOS" = win22
              - if: runner.os != 'Windows'
                run: exit 1
              - run: test "$MLC_CI_CROSS" = mingw
          mac:
            runs-on: macos-14
            steps:
              - run: "true"
        """,
    )
    assert jobs["win"].verdict == PASSED and jobs["win"].steps_run == 2
    assert jobs["win"].stand_ins == ["runs-on windows-2022: MinGW cross build, not Windows"]
    assert jobs["mac"].verdict == NOT_RUNNABLE and jobs["mac"].reason == "no macos-14 here"


def test_a_job_the_equivalent_cannot_run_is_not_runnable_and_says_why(tmp_path):
    jobs = _play(
        tmp_path,
        """
        on: [pull_request]
        jobs:
          msvc-only:
            runs-on: windows-2022
            steps:
              - run: |
                  echo "mlc-ci: error: pipeline.toml sets no [wheel].mingw_toolchain; point it"
                  exit 2
          broken:
            runs-on: windows-2022
            steps:
              - run: echo "undefined reference to foo" && exit 1
        """,
    )
    assert jobs["msvc-only"].verdict == NOT_RUNNABLE
    assert jobs["msvc-only"].reason == (
        "the local equivalent cannot run it: "
        "mlc-ci: error: pipeline.toml sets no [wheel].mingw_toolchain; point it"
    )
    # Any other stop on the equivalent is the job's own failure.
    assert jobs["broken"].verdict == FAILED
