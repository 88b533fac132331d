"""GitHub Actions expressions (`${{ }}`), as docs.github.com "Evaluate expressions in workflows
and actions" describes them: literals, context access, object filters, the operators, loose
comparison, and the built-in and status-check functions.

A small tokenizer feeds a recursive-descent parser that builds tuples (`_Node`); the evaluator
walks them. Anything outside that subset stops the rehearsal with a one-line RehearsalError.
"""

from __future__ import annotations

import json
import math
import operator
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

from tools.rehearsal.model import RehearsalError

# ("lit", value) ("ctx", name) ("index", base, key node | None for `*`) ("not", node)
# ("op", "||" "&&" "==" "!=" "<" "<=" ">" ">=", left, right) ("call", name, args)
# ("text", parts): an `if:` with text around its `${{ }}`, which GitHub reads as a string.
_Node = tuple[Any, ...]

_CONTEXTS = frozenset(
    "github env vars secrets matrix needs steps runner job strategy inputs".split()
)
_STATUS_FUNCTIONS = frozenset({"success", "failure", "cancelled", "always"})
_EMPTY_BY_DEFAULT = frozenset({"secrets", "vars"})  # GitHub gives {} when none are set
_KEYWORDS = {"true": True, "false": False, "null": None, "NaN": math.nan, "Infinity": math.inf}
_NUMBER = r"(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
_TOKEN = re.compile(
    rf"\s*(?:(?P<num>-?{_NUMBER})|(?P<str>'(?:[^']|'')*')|(?P<name>[A-Za-z_][A-Za-z0-9_-]*)"
    r"|(?P<op><=|>=|==|!=|&&|\|\||[()\[\].,!<>*]))"
)
_NUMERIC_TEXT = re.compile(rf"[+-]?{_NUMBER}")  # strings that convert to a number
# One `${{ }}`: a `}}` inside a quoted string does not close it.
_EXPRESSION = re.compile(r"\$\{\{((?:[^'}]|'[^']*'|\}(?!\}))*)\}\}")
_LEVELS = (("||",), ("&&",), ("==", "!="), ("<", "<=", ">", ">="))  # loosest first
_RELATIONS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class Status:
    """What the status functions see."""

    failed: bool = False  # an earlier step (a step's if) / a needed job (a job's if) failed
    cancelled: bool = False


@dataclass(frozen=True)
class Contexts:
    """The context values an expression reads, the status, and hashFiles where available."""

    values: Mapping[str, Any]
    status: Status = Status()
    hash_files: Callable[[Sequence[str]], str] | None = None


class _Failure(Exception):
    """What is wrong, without the expression, which _guard() adds for the one-line error."""


class _Filtered(list[Any]):
    """The result of `*`: later property and index look-ups map over its items."""


def _parse_number(text: str) -> float:
    digits = text.lstrip("+-")
    if digits[:2].lower() != "0x":
        return float(text)
    return float(int(digits, 16)) * (-1 if text.startswith("-") else 1)


def _tokenize(expr: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while expr[pos:].strip():
        match = _TOKEN.match(expr, pos)
        if not match:
            rest = expr[pos:].lstrip()
            if rest.startswith('"'):
                raise _Failure("quotes a string with double quotes (GitHub needs single quotes)")
            raise _Failure(f"has a syntax error at `{rest[:20]}`")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens + [("end", "")]


class _Parser:
    """Recursive descent over the tokens, one method per precedence tier."""

    def __init__(self, expr: str) -> None:
        self.tokens = _tokenize(expr)
        self.pos = 0

    def parse(self) -> _Node:
        """The whole expression's tree."""
        node = self._binary(0)
        if self.tokens[self.pos][0] != "end":
            raise self._unexpected()
        return node

    def _take(self, *texts: str) -> str:
        kind, text = self.tokens[self.pos]
        if kind != "op" or text not in texts:
            return ""
        self.pos += 1
        return text

    def _expect(self, text: str) -> None:
        if not self._take(text):
            raise self._unexpected()

    def _unexpected(self) -> _Failure:
        text = self.tokens[self.pos][1]
        return _Failure(f"has a syntax error at {f'`{text}`' if text else 'its end'}")

    def _binary(self, level: int) -> _Node:
        if level == len(_LEVELS):
            return self._unary()
        node = self._binary(level + 1)
        while op := self._take(*_LEVELS[level]):  # left-associative
            node = ("op", op, node, self._binary(level + 1))
        return node

    def _unary(self) -> _Node:
        if self._take("!"):
            return ("not", self._unary())
        node = self._primary()
        while step := self._take(".", "["):
            if self._take("*"):
                node = ("index", node, None)
            elif step == "[":
                node = ("index", node, self._binary(0))
            elif self.tokens[self.pos][0] == "name":
                node = ("index", node, ("lit", self.tokens[self.pos][1]))
                self.pos += 1
            else:
                raise self._unexpected()
            if step == "[":
                self._expect("]")
        return node

    def _primary(self) -> _Node:
        kind, text = self.tokens[self.pos]
        if self._take("("):
            node = self._binary(0)
            self._expect(")")
            return node
        if kind not in ("num", "str", "name"):
            raise self._unexpected()
        self.pos += 1
        if kind != "name":
            return ("lit", _parse_number(text) if kind == "num" else text[1:-1].replace("''", "'"))
        if self._take("("):
            return self._call(text)
        if text in _KEYWORDS:
            return ("lit", _KEYWORDS[text])
        if text.lower() not in _CONTEXTS:
            known = ", ".join(sorted(_CONTEXTS))
            raise _Failure(f"reads context `{text}`, which does not exist (contexts: {known})")
        return ("ctx", text.lower())

    def _call(self, name: str) -> _Node:
        args: list[_Node] = []
        while not self._take(")"):
            if args:
                self._expect(",")
            args.append(self._binary(0))
        if name.lower() not in _FUNCTIONS:
            known = ", ".join(sorted(spec[0] for spec in _FUNCTIONS.values()))
            raise _Failure(
                f"calls `{name}`, which this rehearsal does not implement (implemented: {known})"
            )
        shown, low, high, _ = _FUNCTIONS[name.lower()]
        if not low <= len(args) <= high:
            wanted = f"{low}" if low == high else f"{low} or more" if high > 2 else f"{low}-{high}"
            count = f"{len(args)} argument{'s' * (len(args) != 1)}"
            raise _Failure(f"calls `{shown}` with {count}; it takes {wanted}")
        return ("call", name.lower(), tuple(args))


def _kind(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return "null" if value is None else "bool"
    if isinstance(value, (int, float, str)):
        return "string" if isinstance(value, str) else "number"
    return "array" if isinstance(value, (list, tuple)) else "object"


def _number(value: Any) -> float:
    """GitHub's to-number: null 0, booleans 1/0, numeric strings ('' is 0), all else NaN."""
    kind = _kind(value)
    if kind in ("null", "bool", "number"):
        return float(value or 0)
    text = value.strip() or "0" if kind == "string" else ""
    return _parse_number(text) if _NUMERIC_TEXT.fullmatch(text) else math.nan


def _str(value: Any) -> str:
    """GitHub's to-string for function arguments (arrays and objects are not converted)."""
    kind = _kind(value)
    if kind == "number":
        if math.isnan(value) or math.isinf(value):
            return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
        if float(value).is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g").replace("e", "E")  # like the runner's .NET "G15"
    if kind == "bool":
        return "true" if value else "false"
    return value if kind == "string" else ""


def _text(value: Any) -> str:
    """To-string for interpolation, where arrays and objects appear as their JSON."""
    return _to_json(value) if _kind(value) in ("array", "object") else _str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 3, not 3.0, as GitHub writes numbers
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return [_plain(item) for item in value] if isinstance(value, (list, tuple)) else value


def _to_json(value: Any) -> str:
    return json.dumps(_plain(value), indent=2, ensure_ascii=False)


def _from_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise _Failure(f"gives fromJSON text that is not JSON ({error})") from None


def _truthy(value: Any) -> bool:
    """GitHub's truthiness: false, 0, -0, '', null and NaN are false; all else is true."""
    kind = _kind(value)
    if kind == "number":
        return value != 0 and not math.isnan(value)
    return kind in ("array", "object") or bool(value)


def _equal(left: Any, right: Any) -> bool:
    kinds = _kind(left), _kind(right)
    if kinds == ("string", "string"):
        return bool(left.lower() == right.lower())
    if kinds[0] == kinds[1] and kinds[0] in ("array", "object"):
        return left is right  # the same instance only, as documented
    return _number(left) == _number(right)  # NaN (arrays, objects too) equals nothing


def _compare(op: str, left: Any, right: Any) -> bool:
    if op in ("==", "!="):
        return _equal(left, right) == (op == "==")
    if _kind(left) == _kind(right) == "string":
        return bool(_RELATIONS[op](left.lower(), right.lower()))
    return bool(_RELATIONS[op](_number(left), _number(right)))  # NaN: always false


def _lookup(base: Any, key: Any) -> Any:
    """`base[key]` / `base.key`: case-insensitive keys; anything missing is null."""
    if isinstance(base, _Filtered):
        found = (_lookup(item, key) for item in base)
        return _Filtered(item for item in found if item is not None)
    if isinstance(base, Mapping):
        name = _str(key)
        if name in base:
            return base[name]
        return next((v for k, v in base.items() if str(k).lower() == name.lower()), None)
    if isinstance(base, (list, tuple)):
        index = _number(key)
        return base[int(index)] if index.is_integer() and 0 <= index < len(base) else None
    return None


def _wildcard(base: Any) -> _Filtered:
    items = list(base) if isinstance(base, _Filtered) else [base]  # `a.*.*` flattens again
    return _Filtered(
        child
        for item in items
        if isinstance(item, (Mapping, list, tuple))
        for child in (item.values() if isinstance(item, Mapping) else item)
    )


def _format(args: list[Any], _: Contexts) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group() in ("{{", "}}"):
            return match.group()[0]
        if match.group(1) is None or int(match.group(1)) >= len(args) - 1:
            raise _Failure(f"gives format `{args[0]}`, which its arguments do not fill")
        return _str(args[int(match.group(1)) + 1])

    return re.sub(r"\{\{|\}\}|\{([0-9]+)\}|[{}]", replace, _str(args[0]))


def _hash_files(args: list[Any], contexts: Contexts) -> str:
    if contexts.hash_files is None:
        raise _Failure("calls hashFiles, which is not available here (no workspace)")
    return contexts.hash_files([_str(arg) for arg in args])


def _join(args: list[Any], _: Contexts) -> str:
    separator = _str(args[1]) if len(args) > 1 else ","
    if isinstance(args[0], (list, tuple)):
        return separator.join(_str(item) for item in args[0])
    return _str(args[0])


def _contains(args: list[Any], _: Contexts) -> bool:
    search, item = args
    if isinstance(search, (list, tuple)):
        return any(_equal(element, item) for element in search)
    return _str(item).lower() in _str(search).lower()


def _affix(method: str) -> Callable[[list[Any], Contexts], bool]:
    """startsWith / endsWith: both arguments as strings, without case."""
    return lambda args, _: bool(getattr(_str(args[0]).lower(), method)(_str(args[1]).lower()))


_MANY = 1 << 16
# lower-case name: (name as documented, fewest arguments, most arguments, implementation)
_FUNCTIONS: dict[str, tuple[str, int, int, Callable[[list[Any], Contexts], Any]]] = {
    "contains": ("contains", 2, 2, _contains),
    "startswith": ("startsWith", 2, 2, _affix("startswith")),
    "endswith": ("endsWith", 2, 2, _affix("endswith")),
    "format": ("format", 1, _MANY, _format),
    "join": ("join", 1, 2, _join),
    "tojson": ("toJSON", 1, 1, lambda a, _: _to_json(a[0])),
    "fromjson": ("fromJSON", 1, 1, lambda a, _: _from_json(_str(a[0]))),
    "hashfiles": ("hashFiles", 1, _MANY, _hash_files),
    "success": ("success", 0, 0, lambda _, c: not c.status.failed and not c.status.cancelled),
    "failure": ("failure", 0, 0, lambda _, c: c.status.failed),
    "cancelled": ("cancelled", 0, 0, lambda _, c: c.status.cancelled),
    "always": ("always", 0, 0, lambda _, c: True),
}


def _context(name: str, contexts: Contexts) -> Any:
    value = _lookup(contexts.values, name)
    return {} if value is None and name in _EMPTY_BY_DEFAULT else value


def _operation(node: _Node, contexts: Contexts) -> Any:
    left = _eval(node[2], contexts)
    if node[1] in ("&&", "||"):  # short-circuit; the result is an operand, not a bool
        return left if _truthy(left) == (node[1] == "||") else _eval(node[3], contexts)
    return _compare(node[1], left, _eval(node[3], contexts))


def _index(node: _Node, contexts: Contexts) -> Any:
    base = _eval(node[1], contexts)
    return _wildcard(base) if node[2] is None else _lookup(base, _eval(node[2], contexts))


_EVALUATORS: dict[str, Callable[[_Node, Contexts], Any]] = {
    "lit": lambda node, _: node[1],
    "ctx": lambda node, contexts: _context(node[1], contexts),
    "index": _index,
    "not": lambda node, contexts: not _truthy(_eval(node[1], contexts)),
    "op": _operation,
    "call": lambda n, c: _FUNCTIONS[n[1]][3]([_eval(arg, c) for arg in n[2]], c),
    "text": lambda node, contexts: "".join(_text(_eval(p, contexts)) for p in node[1]),
}


def _eval(node: _Node, contexts: Contexts) -> Any:
    return _EVALUATORS[node[0]](node, contexts)


def _guard(source: str, action: Callable[[], Any]) -> Any:
    try:
        return action()
    except _Failure as failure:
        raise RehearsalError(f"expression `{' '.join(source.split())}` {failure}") from None


def _split(text: str) -> list[str]:
    """Text and `${{ }}` sources by turns: text at even indexes, sources at odd ones."""
    pieces = _EXPRESSION.split(text)
    if any("${{" in piece for piece in pieces[::2]):
        raise RehearsalError(f"`{' '.join(text.split())}` has a `${{{{` without its `}}}}`")
    return pieces


def _whole(text: str) -> str | None:
    """The source of a text that is exactly one `${{ }}` (spaces around it aside)."""
    pieces = _split(text.strip())
    return pieces[1] if len(pieces) == 3 and pieces[0] == pieces[2] == "" else None


def evaluate(expression: str, contexts: Contexts) -> Any:
    """The value of one expression (the text inside `${{ }}`)."""
    return _guard(expression, lambda: _eval(_Parser(expression).parse(), contexts))


def interpolate(text: str, contexts: Contexts) -> str:
    """Text with every `${{ expr }}` replaced by its value as a string."""
    pieces = _split(text)
    return "".join(_text(evaluate(p, contexts)) if i % 2 else p for i, p in enumerate(pieces))


def interpolate_value(value: Any, contexts: Contexts) -> Any:
    """A YAML value with its expressions evaluated; a string that is one whole `${{ }}` gives
    the expression's value as it is (a list, a number ...), not its text."""
    if isinstance(value, str):
        source = _whole(value)
        return interpolate(value, contexts) if source is None else evaluate(source, contexts)
    if isinstance(value, Mapping):
        return {
            interpolate_value(key, contexts): interpolate_value(item, contexts)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [interpolate_value(item, contexts) for item in value]
    return value


def _calls(node: Any) -> Iterator[str]:
    if isinstance(node, tuple):
        if node and node[0] == "call":
            yield node[1]
        for item in node:
            yield from _calls(item)


def _condition_tree(source: str) -> _Node:
    whole, pieces = _whole(source), _split(source)
    if whole is not None or len(pieces) == 1:
        node = _Parser(source if whole is None else whole).parse()
    else:  # text around `${{ }}`: GitHub makes it a format(), a string
        parts = [_Parser(p).parse() if i % 2 else ("lit", p) for i, p in enumerate(pieces)]
        node = ("text", tuple(parts))
    if _STATUS_FUNCTIONS.isdisjoint(_calls(node)):
        node = ("op", "&&", ("call", "success", ()), node)
    return node


def condition(text: str | bool | None, contexts: Contexts) -> bool:
    """An `if:`. As GitHub reads one: a whole `${{ }}` is unwrapped; text around `${{ }}`
    makes a string (true when not empty); without a status function the condition is
    `success() && (...)`; None is success(); a YAML boolean is `success() && value`."""
    if isinstance(text, bool):
        # A YAML boolean is `success() && value`, as any condition without a status function.
        return text and not contexts.status.failed and not contexts.status.cancelled
    source = "success()" if text is None else str(text).strip()
    return _truthy(_guard(source, lambda: _eval(_condition_tree(source), contexts)))
