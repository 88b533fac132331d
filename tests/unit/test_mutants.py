"""The mutants tool: mutmut's verdicts, the score (timeouts are not kills) and its gate."""

from __future__ import annotations

import argparse

import pytest

from mlc_ci.errors import PipelineError
from mlc_ci.plan import mutants
from mlc_ci.sessions import mutants as mutants_session

RESULTS = """
    mlc_ci.plan.cache.x_decide__mutmut_1: killed
    mlc_ci.plan.cache.x_decide__mutmut_2: killed
    mlc_ci.plan.cache.x_decide__mutmut_3: survived
    mlc_ci.plan.cache.x_decide__mutmut_4: timeout
    mlc_ci.plan.cache.x_decide__mutmut_5: no tests
    mlc_ci.plan.cache.x_decide__mutmut_6: skipped
    mlc_ci.plan.cache.x_decide__mutmut_7: caught by type check
"""


def test_the_score_counts_only_kills():
    score = mutants.parse_results(RESULTS)
    assert (score.killed, score.counted) == (3, 6)
    assert score.percent == pytest.approx(50.0)
    assert score.alive() == {
        "no tests": ["mlc_ci.plan.cache.x_decide__mutmut_5"],
        "survived": ["mlc_ci.plan.cache.x_decide__mutmut_3"],
        "timeout": ["mlc_ci.plan.cache.x_decide__mutmut_4"],
    }


def test_the_gate():
    score = mutants.parse_results(RESULTS)
    assert mutants.gate(score, 50) == ""
    assert mutants.gate(score, 90) == (
        "mutation score 50.0 % (3 of 6 killed) is below 90 %; the 3 mutants left alive are in "
        "reports/mutants.json (`mutmut show <name>` prints one)."
    )
    assert mutants.gate(score, 50.5).startswith(
        "mutation score 50.0 % (3 of 6 killed) is below 50.5 %"
    )
    assert mutants.gate(mutants.parse_results(""), 90) == (
        "mutmut ran no mutant; check [tool.mutmut] in pyproject.toml and the selection."
    )
    partial = mutants.parse_results(RESULTS + "    m.x__mutmut_9: not checked\n")
    assert (
        mutants.gate(partial, 50)
        == "1 mutants were not checked (mutmut stopped early); run it again."
    )
    assert mutants.gate(partial, 50, complete=False) == ""


def test_an_unknown_line_is_refused():
    with pytest.raises(ValueError, match="unexpected line in mutmut's results: 'Running...'"):
        mutants.parse_results("Running...\n")


def plan_of(**kw):
    """The mutants plan for these flags (a dry run), with MLC_CI_JOBS=3."""
    base = {"fail_under": 90.0, "jobs": None, "names": [], "dry_run": True}
    return mutants_session.plan(argparse.Namespace(**{**base, **kw}), None, {"MLC_CI_JOBS": "3"})


def test_the_plan_runs_mutmut_then_reads_every_verdict():
    plan = plan_of(names=["mlc_ci.plan.cache*"])
    run, results, score = plan.steps
    assert run.argv == ("mutmut", "run", "--max-children", "3", "mlc_ci.plan.cache*")
    assert results.argv == ("mutmut", "results", "--all", "true") and results.capture
    ctx = {"mutmut_results": RESULTS}
    with pytest.raises(PipelineError, match="mutation score 50.0 %"):
        score.action(ctx)
    assert ctx["report"]["alive"]["survived"] == ["mlc_ci.plan.cache.x_decide__mutmut_3"]
    assert ctx["report"]["counts"]["killed"] == 2


@pytest.mark.parametrize(
    "kw, said",
    [
        ({"jobs": 0}, "--jobs is 0; give 1 or more mutants at a time."),
        ({"fail_under": 101.0}, "--fail-under is 101; give a percentage, 0 to 100."),
    ],
)
def test_bad_flags_are_one_line(kw, said):
    with pytest.raises(PipelineError) as err:
        plan_of(**kw)
    assert str(err.value) == said
