"""The rehearsal's GitHub Actions expressions: literals, operators, coercion, functions, object
filters, interpolation, `if:` conditions, the one-line errors, and every expression of ci.yml."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from tools.rehearsal.expressions import (
    Contexts,
    Status,
    condition,
    evaluate,
    interpolate,
    interpolate_value,
)
from tools.rehearsal.model import RehearsalError

ROOT = Path(__file__).resolve().parents[3]
VALUES: dict[str, Any] = {
    "github": {
        "event_name": "push",
        "ref": "refs/heads/main",
        "Event": {"issue": {"labels": [{"name": "bug"}, {"name": "help wanted"}, {"id": 3}]}},
    },
    "needs": {"plan": {"result": "success"}, "gate": {"result": "failure"}},
    "matrix": {"session": "unit", "python": None, "list": [1, 2], "obj": {"a": 1}},
    "env": {"COUNT": "3", "EMPTY": ""},
}
CTX = Contexts(VALUES)


def _ev(expression: str, contexts: Contexts = CTX) -> Any:
    return evaluate(expression, contexts)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("null", None),
        ("true", True),
        ("false", False),
        ("711", 711),
        ("-9.2", -9.2),
        ("0xff", 255),
        ("-2.99e-2", -0.0299),
        ("'It''s open source!'", "It's open source!"),
        ("''", ""),
        ("  'spaces'  ", "spaces"),
    ],
)
def test_literals(expression: str, expected: Any) -> None:
    assert _ev(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("github.event_name", "push"),
        ("github['event_name']", "push"),
        ("GITHUB.Event_Name", "push"),  # contexts and keys are case-insensitive
        ("github.event.issue.labels[1].name", "help wanted"),
        ("github['ev' == 'ev' && 'EVENT'].issue.labels[0]['NAME']", "bug"),
        ("matrix.list[1]", 2),
        ("matrix.list['1']", 2),  # the index converts to a number
        ("matrix.list[5]", None),
        ("matrix.list[-1]", None),
        ("github.missing.deeper", None),  # a missing property is null, not an error
        ("matrix.session.length", None),  # no properties on strings
        ("steps.build.outputs.x", None),  # an absent allowed context is null
        ("secrets", {}),  # secrets and vars are {} when none are set
        ("vars.ANY", None),
        ('fromJSON(\'{"a": {"b": 5}}\').A.B', 5),  # postfix on a call's result
        ("(matrix.obj).a", 1),
    ],
)
def test_context_access(expression: str, expected: Any) -> None:
    assert _ev(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("github.event.issue.labels.*.name", ["bug", "help wanted"]),  # items without it skipped
        ("needs.*.result", ["success", "failure"]),
        ("needs.*['RESULT']", ["success", "failure"]),
        ("needs[*].result", ["success", "failure"]),
        ("matrix.list.*", [1, 2]),
        ("matrix.session.*", []),
        ("fromJSON('[[1,2],[3]]').*.*", [1, 2, 3]),  # a second * flattens one level more
        ("fromJSON('[[1,2],[3]]').*[0]", [1, 3]),
        ("contains(needs.*.result, 'FAILURE')", True),
        ("join(github.event.issue.labels.*.name, ', ')", "bug, help wanted"),
    ],
)
def test_object_filter(expression: str, expected: Any) -> None:
    assert _ev(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("!true", False),
        ("!0", True),
        ("!!'x'", True),
        ("!null", True),
        ("!matrix.obj", False),  # objects are truthy
        ("1 < 2", True),
        ("2 <= 2", True),
        ("3 > 2", True),
        ("2 >= 3", False),
        ("'a' == 'A'", True),  # strings compare without case
        ("'abc' < 'ABD'", True),
        ("'b' > 'A'", True),
        ("1 != 2", True),
        ("'x' && 'y'", "y"),  # && and || give an operand, not a bool
        ("'' && 'y'", ""),
        ("0 || 'y'", "y"),
        ("'x' || 'y'", "x"),
        ("null || null", None),
        ("false || 0", 0),
        ("true || 1 == 2 && false", True),  # && binds tighter than ||
        ("(true || false) && false", False),
        ("!false && false", False),  # ! binds tighter than &&
        ("1 < 2 == true", True),  # < binds tighter than ==
        ("false == 1 < 2", False),
        ("'a' == 'a' && 'b'", "b"),  # == binds tighter than &&
        ("github.event_name == 'pull_request' && '1' || ''", ""),
        ("github.event_name == 'push' && '1' || ''", "1"),
    ],
)
def test_operators(expression: str, expected: Any) -> None:
    assert _ev(expression) == expected


def test_short_circuit_skips_the_right_operand() -> None:
    assert _ev("false && hashFiles('x')") is False
    assert _ev("true || fromJSON('not json')") is True


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("null == 0", True),
        ("null == false", True),
        ("null == ''", True),
        ("null == null", True),
        ("true == 1", True),
        ("false == 0", True),
        ("true == 2", False),
        ("'1' == 1", True),
        ("' 1.5 ' == 1.5", True),
        ("'0x10' == 16", True),
        ("'' == 0", True),
        ("'' == false", True),
        ("'true' == true", False),  # 'true' is not a number: NaN
        ("'abc' == 0", False),
        ("'1e2' == 100", True),
        ("env.COUNT > 2", True),
        ("env.COUNT < '10'", False),  # two strings: compared as text
        ("env.EMPTY == 0", True),
        ("NaN == NaN", False),
        ("NaN != NaN", True),
        ("'x' < 1", False),  # NaN in a relation: always false
        ("'x' >= 1", False),
        ("null < 1", True),
        ("false < true", True),
        ("matrix.obj == matrix.obj", True),  # the same instance
        ("fromJSON('{}') == fromJSON('{}')", False),  # equal content, other instances
        ("matrix.list == matrix.list", True),
        ("fromJSON('[]') == 0", False),  # arrays become NaN
        ("matrix.obj == ''", False),
        ("matrix.obj < matrix.obj", False),
        ("matrix.obj != 1", True),
    ],
)
def test_loose_comparison(expression: str, expected: bool) -> None:
    assert _ev(expression) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("contains('Hello world', 'LLO')", True),
        ("contains('Hello world', 'xyz')", False),
        ('contains(fromJSON(\'["push", "pull_request"]\'), github.event_name)', True),
        ("contains(fromJSON('[1, 2]'), '2')", True),  # array items compare loosely
        ("contains(fromJSON('[1, 2]'), 3)", False),
        ("contains('abc true', true)", True),  # the item as a string
        ("contains(matrix.obj, 'a')", False),
        ("startsWith('Hello world', 'he')", True),
        ("startsWith(github.ref, 'refs/tags/')", False),
        ("STARTSWITH('Hello', 'x')", False),  # function names are case-insensitive
        ("endsWith('Hello world', 'LD')", True),
        ("endsWith(12, 2)", True),
        ("format('Hello {0} {1} {2}', 'Mona', 'the', 'Octocat')", "Hello Mona the Octocat"),
        ("format('{{Hello {0} {1} {2}!}}', 'Mona', 'the', 'Octocat')", "{Hello Mona the Octocat!}"),
        ("format('{0}{0} {1}', 'a', null)", "aa "),
        ("format('{{0}}', 'a')", "{0}"),
        ("format('{1} {0}', 1.5, true)", "true 1.5"),
        ("format('no args')", "no args"),
        ("join(fromJSON('[\"a\", 1, true, null]'))", "a,1,true,"),
        ("join(matrix.list, ' | ')", "1 | 2"),
        ("join('text', '-')", "text"),
        ("join(null)", ""),
        ("toJSON(matrix.obj)", '{\n  "a": 1\n}'),
        ("toJSON(fromJSON('[1, \"x\", null, 1.5]'))", '[\n  1,\n  "x",\n  null,\n  1.5\n]'),
        ("toJSON('x')", '"x"'),
        ("toJSON(3)", "3"),
        ("toJSON(fromJSON('{}'))", "{}"),
        ("fromJSON('true')", True),
        ("fromJSON('3') == 3", True),
        ("fromJSON(' null ')", None),
        ('fromJSON(\'{"include": [{"a": 1}]}\').include[0].a', 1),
        ("tojson(fromjson('[]'))", "[]"),
    ],
)
def test_functions(expression: str, expected: Any) -> None:
    assert _ev(expression) == expected


def test_hash_files_passes_the_patterns() -> None:
    seen: list[list[str]] = []

    def hash_files(patterns: Any) -> str:
        seen.append(list(patterns))
        return "abc123"

    contexts = Contexts(VALUES, hash_files=hash_files)
    assert _ev("hashFiles('**/a.lock', 'b') != ''", contexts) is True
    assert seen == [["**/a.lock", "b"]]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (Status(), {"success": True, "failure": False, "cancelled": False, "always": True}),
        (Status(failed=True), {"success": False, "failure": True, "cancelled": False}),
        (Status(cancelled=True), {"success": False, "failure": False, "cancelled": True}),
    ],
)
def test_status_functions(status: Status, expected: dict[str, bool]) -> None:
    contexts = Contexts(VALUES, status=status)
    assert {name: _ev(f"{name}()", contexts) for name in expected} == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text", "plain text"),
        ("", ""),
        ("nox -s ${{ matrix.session }}", "nox -s unit"),
        ("${{ null }}|${{ true }}|${{ false }}", "|true|false"),
        ("${{ 1.5 }} ${{ 3 }} ${{ -0 }} ${{ 0xff }} ${{ 1e20 }}", "1.5 3 0 255 1E+20"),
        ("${{ NaN }} ${{ Infinity }}", "NaN Infinity"),
        ("a${{ matrix.obj }}b", 'a{\n  "a": 1\n}b'),
        ("${{ matrix.list }}", "[\n  1,\n  2\n]"),
        ("${{ format('}}') }}", "}"),  # a `}}` in a quoted string does not close the expression
        ("${{\n  github.event_name == 'push'\n  && 'multi' }} line", "multi line"),
        ("${{ matrix.session }}}", "unit}"),
    ],
)
def test_interpolate(text: str, expected: str) -> None:
    assert interpolate(text, CTX) == expected


def test_interpolate_value_keeps_a_whole_expression_raw() -> None:
    contexts = Contexts({"needs": {"plan": {"outputs": {"gate": '[{"session": "lint"}]'}}}})
    value = {
        "include": "${{ fromJSON(needs.plan.outputs.gate) }}",
        "text": "x ${{ 1 }}",
        "flag": " ${{ true }} ",
        "items": ["${{ 2 }}", 3, None, {"${{ 'key' }}": False}],
    }
    assert interpolate_value(value, contexts) == {
        "include": [{"session": "lint"}],
        "text": "x 1",
        "flag": True,
        "items": [2, 3, None, {"key": False}],
    }


FAILED = Contexts(VALUES, status=Status(failed=True))
CANCELLED = Contexts(VALUES, status=Status(cancelled=True))


@pytest.mark.parametrize(
    ("text", "contexts", "expected"),
    [
        (None, CTX, True),
        (None, FAILED, False),
        (True, CTX, True),
        (True, FAILED, False),  # a YAML boolean is success() && value too
        (False, CTX, False),
        ("true", CTX, True),
        ("true", FAILED, False),  # implicit success() &&
        ("true", CANCELLED, False),
        ("always()", FAILED, True),
        ("always() && false", FAILED, False),
        ("failure()", FAILED, True),
        ("failure()", CTX, False),
        ("cancelled()", CANCELLED, True),
        ("${{ !cancelled() && !failure() }}", CTX, True),
        ("${{ !cancelled() && !failure() }}", FAILED, False),
        ("${{ !cancelled() && !failure() }}", CANCELLED, False),
        ("!cancelled()", FAILED, True),  # a status function turns the implicit success() off
        ("github.event_name == 'push'", CTX, True),
        ("${{ github.event_name == 'pull_request' }}", CTX, False),
        ("${{ false }}", CTX, False),
        ("${{ false }} && false", CTX, True),  # text around ${{ }}: a non-empty string
        ("${{ false }} && false", FAILED, False),
        ("${{ '' }}", CTX, False),
        ("0", CTX, False),
        ("-0", CTX, False),
        ("NaN", CTX, False),
        ("''", CTX, False),
        ("null", CTX, False),
        ("matrix.obj", CTX, True),
        ("'false'", CTX, True),
        ("needs.plan.result == 'success' && matrix.session", CTX, True),
    ],
)
def test_condition(text: str | bool | None, contexts: Contexts, expected: bool) -> None:
    assert condition(text, contexts) is expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("foo(1)", "expression `foo(1)` calls `foo`, which this rehearsal does not implement"),
        ("toJson(1) && fromjsonx('1')", "calls `fromjsonx`"),
        ("bar.baz", "reads context `bar`, which does not exist"),
        ("success", "reads context `success`"),
        ('"double"', 'expression `"double"` quotes a string with double quotes'),
        ('github.ref == "x"', "double quotes"),
        ("'unterminated", "syntax error"),
        ("1 ==", "expression `1 ==` has a syntax error at its end"),
        ("(1", "syntax error at its end"),
        ("1 2", "syntax error at `2`"),
        ("github.", "syntax error"),
        ("github.'x'", "syntax error at `'x'`"),
        ("matrix.list[0", "syntax error"),
        ("contains(1,)", "syntax error at `)`"),
        ("a || b", "reads context `a`"),
        ("1 + 2", "syntax error at `+ 2`"),
        ("", "syntax error at its end"),
        ("contains('a')", "calls `contains` with 1 argument; it takes 2"),
        ("join()", "calls `join` with 0 arguments; it takes 1-2"),
        ("format()", "it takes 1 or more"),
        ("success(1)", "calls `success` with 1 argument; it takes 0"),
        ("fromJSON('{nope')", "gives fromJSON text that is not JSON"),
        ("format('{0}')", "gives format `{0}`, which its arguments do not fill"),
        ("format('{x}', 1)", "which its arguments do not fill"),
        ("format('a}b', 1)", "which its arguments do not fill"),
        ("hashFiles('x')", "hashFiles, which is not available here"),
        ("github\n  .x ==\n 1 +", "expression `github .x == 1 +`"),  # one line
    ],
)
def test_errors_are_one_line(expression: str, message: str) -> None:
    with pytest.raises(RehearsalError) as caught:
        evaluate(expression, CTX)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: interpolate("a ${{ b.c }}", CTX), "reads context `b`"),
        (lambda: interpolate("a ${{ 'x }}", CTX), "`a ${{ 'x }}` has a `${{` without its `}}`"),
        (lambda: interpolate_value(["${{ nope() }}"], CTX), "calls `nope`"),
        (lambda: condition("foo == 1", CTX), "expression `foo == 1` reads context `foo`"),
        (lambda: condition("${{ x }} && y", CTX), "reads context `x`"),
        (lambda: condition("${{ 1 }", CTX), "without its `}}`"),
    ],
)
def test_errors_from_templates_and_conditions(call: Any, message: str) -> None:
    with pytest.raises(RehearsalError, match=None) as caught:
        call()
    assert message in str(caught.value)


def test_unknown_context_is_an_error_only_when_read() -> None:
    assert _ev("true || matrix.x", Contexts({"unknown": {}})) is True


def test_nan_and_negative_zero_are_numbers() -> None:
    assert math.isnan(_ev("NaN"))
    assert _ev("-0") == 0


def _strings(node: Any, key: Any = None) -> Iterator[tuple[Any, Any]]:
    """(key, value) of every `if:` and every string with `${{` in a loaded workflow."""
    if isinstance(node, dict):
        for name, item in node.items():
            yield from _strings(item, name)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item, key)
    elif key == "if" or (isinstance(node, str) and "${{" in node):
        yield key, node


def _ci_contexts(event_name: str, status: Status) -> Contexts:
    entry = {
        "session": "wheels-linux",
        "variant": "cpu",
        "pythons": "3.10\n3.12",
        "python": None,
        "artifact": "wheels-linux-cpu",
        "download": "*-cpu",
        "name": "wheels-linux (cpu)",
        "runner": "ubuntu-24.04",
    }
    plan = {stage: json.dumps([entry]) for stage in ("gate", "build", "verify", "release")}
    github = {
        "event_name": event_name,
        "event": {"pull_request": {"number": 7, "head": {"repo": {"fork": True}}}},
        "ref": "refs/pull/7/merge",
        "ref_type": "branch",
        "ref_name": "7/merge",
        "server_url": "https://github.com",
        "repository": "mlc-ci/mlc-ci",
        "repository_owner": "mlc-ci",
        "actor": "octocat",
        "sha": "0123456789abcdef0123456789abcdef01234567",
    }
    needs = {job: {"result": "success", "outputs": {}} for job in ("gate", "build", "verify")}
    needs["plan"] = {"result": "success", "outputs": plan}
    needs["release"] = {"result": "skipped", "outputs": {}}
    values = {
        "github": github,
        "matrix": entry,
        "needs": needs,
        "runner": {"os": "Linux"},
        "vars": {},
        "secrets": {},
        "steps": {},
    }
    return Contexts(values, status=status, hash_files=lambda patterns: "")


@pytest.mark.parametrize("event_name", ["pull_request", "push", "schedule"])
@pytest.mark.parametrize("status", [Status(), Status(failed=True), Status(cancelled=True)])
def test_every_expression_of_ci_yml_evaluates(event_name: str, status: Status) -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text("utf-8"))
    found = list(_strings(workflow))
    contexts = _ci_contexts(event_name, status)
    conditions = [value for key, value in found if key == "if"]
    assert len(conditions) >= 10 and len(found) > len(conditions)
    for key, value in found:
        if key == "if":
            assert isinstance(condition(value, contexts), bool)
        else:
            interpolate_value(value, contexts)
    include = interpolate_value(workflow["jobs"]["build"]["strategy"]["matrix"], contexts)
    assert include["include"][0]["session"] == "wheels-linux"


def test_ci_yml_conditions_decide_as_github_would() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text("utf-8"))
    jobs = workflow["jobs"]
    pull, failed = _ci_contexts("pull_request", Status()), _ci_contexts(
        "pull_request", FAILED.status
    )
    assert condition(jobs["build"]["if"], pull) is True
    assert condition(jobs["build"]["if"], failed) is False
    assert condition(jobs["release"]["if"], pull) is False  # vars has no release repository
    assert condition(jobs["pages"]["if"], pull) is False  # needs.release.result is skipped
    env = next(s for s in jobs["build"]["steps"] if s.get("name", "").startswith("nox -s"))["env"]
    assert interpolate_value(env["MLC_CI_PUSH"], pull) == ""
    assert interpolate_value(env["MLC_CI_IMAGE_NAMESPACE"], pull) == "ghcr.io/mlc-ci"
    assert interpolate_value(workflow["concurrency"]["group"], pull) == "ci-7"
    assert interpolate_value(workflow["concurrency"]["cancel-in-progress"], pull) is True
