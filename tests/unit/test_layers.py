"""Layer rules read from the source (AST): where processes start, what plan/ imports, and
that no broad exception handler swallows a cause."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

SRC = ROOT / "src" / "mlc_ci"
BROAD = {"Exception", "BaseException"}
PROCESS_CALLS = (
    {("subprocess", name) for name in ("run", "Popen", "call", "check_call", "check_output")}
    | {
        ("os", name)
        for name in (
            "system",
            "popen",
            "posix_spawn",
            "posix_spawnp",
            "spawnv",
            "spawnve",
            "spawnl",
            "fork",
            "execv",
            "execve",
            "execvp",
            "execvpe",
            "execl",
            "execlp",
        )
    }
    | {("asyncio", "create_subprocess_exec"), ("asyncio", "create_subprocess_shell")}
)


def modules(*roots: Path) -> list[Path]:
    """Every .py file under the roots."""
    return sorted(p for root in roots for p in root.rglob("*.py"))


def process_starts(tree: ast.AST) -> list[str]:
    """`module.function` calls that start a process, and imports of subprocess/asyncio."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in PROCESS_CALLS:
                found.append(f"{node.value.id}.{node.attr} (line {node.lineno})")
        if isinstance(node, ast.ImportFrom) and node.module in ("subprocess", "asyncio"):
            found.append(f"from {node.module} import (line {node.lineno})")
    return found


def _aliases(tree: ast.AST) -> set[str]:
    """Names bound to a broad exception type (`E = Exception`, `ERRORS = (OSError, Exception)`)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _names(node.value) & BROAD:
            found |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return found


def _names(node: ast.AST | None) -> set[str]:
    """The exception names an `except` clause (or an alias's value) lists."""
    if node is None:
        return {"bare"}
    items = node.elts if isinstance(node, ast.Tuple) else [node]
    return {
        item.attr if isinstance(item, ast.Attribute) else getattr(item, "id", "") for item in items
    }


def _keeps_the_cause(handler: ast.ExceptHandler) -> bool:
    """An unconditional re-raise (bare, or a new error `from` the caught one), or a message
    that names the caught exception (its bound name is read in the handler)."""
    for statement in handler.body:
        if isinstance(statement, ast.Raise):
            cause = statement.cause
            if statement.exc is None or (
                handler.name and isinstance(cause, ast.Name) and cause.id == handler.name
            ):
                return True
    if handler.name:
        body = ast.Module(body=handler.body, type_ignores=[])
        return any(
            isinstance(node, ast.Name)
            and node.id == handler.name
            and isinstance(node.ctx, ast.Load)
            for node in ast.walk(body)
        )
    return False


def swallowing_handlers(tree: ast.AST) -> list[int]:
    """Lines of broad handlers (bare, Exception, BaseException, or an alias of them) that
    neither re-raise nor name the cause."""
    broad = BROAD | {"bare"} | _aliases(tree)
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and _names(node.type) & broad:
            if not _keeps_the_cause(node):
                lines.append(node.lineno)
    return lines


def found_outside(allowed: str, finder) -> dict[str, list[str]]:
    """What `finder` reports in every module of mlc_ci but `allowed` (a top-level module)."""
    offenders = {}
    for path in modules(SRC):
        if path.parent == SRC and path.name == allowed:
            continue
        found = finder(ast.parse(path.read_text(encoding="utf-8")))
        if found:
            offenders[str(path.relative_to(ROOT))] = found
    return offenders


def test_only_run_py_starts_processes():
    assert not found_outside("run.py", process_starts)


def http_clients(tree: ast.AST) -> list[str]:
    """Imports of an HTTP client (urllib.request, http.client, urllib3, requests)."""
    clients = ("urllib.request", "http.client", "urllib3", "requests")
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        found += [f"{name} (line {node.lineno})" for name in names if name.startswith(clients)]
    return found


def test_only_net_py_speaks_http():
    assert not found_outside("net.py", http_clients)
    assert http_clients(ast.parse("import urllib.parse\nimport urllib.request\n")) == [
        "urllib.request (line 2)"
    ]


def mlc_ci_imports(path: Path) -> set[str]:
    """The mlc_ci modules a module imports (`from mlc_ci.plan import notes`: mlc_ci.plan.notes)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mlc_ci"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if module_path(sub) else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("mlc_ci")}
    return found


def module_path(name: str) -> Path | None:
    """The source file of an mlc_ci module, None when `name` is no module."""
    base = SRC.parent.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def closure(name: str) -> set[str]:
    """Every mlc_ci module `name` imports, directly or through others."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        path = module_path(current)
        if current in seen or path is None:
            continue
        seen.add(current)
        todo += sorted(mlc_ci_imports(path))
    return seen - {name}


def test_plan_imports_no_side_effect_layer():
    """plan/ reaches (directly or through config) nothing that runs processes, prints reports,
    probes the host, writes files or speaks HTTP."""
    forbidden = (
        "mlc_ci.run",
        "mlc_ci.report",
        "mlc_ci.host",
        "mlc_ci.sessions",
        "mlc_ci.files",
        "mlc_ci.net",
        "mlc_ci.versioning",
    )
    offenders = {}
    for path in modules(SRC / "plan"):
        name = "mlc_ci.plan." + path.stem if path.stem != "__init__" else "mlc_ci.plan"
        bad = sorted(m for m in closure(name) if m.startswith(forbidden))
        if bad:
            offenders[path.name] = bad
    assert not offenders
    assert "mlc_ci.plan.versions" in closure("mlc_ci.plan.release")
    assert "mlc_ci.run" in closure("mlc_ci.versioning")


def environment_reads(tree: ast.AST) -> set[str]:
    """MLC_CI_* names a module reads: `env.get("MLC_CI_X")`, `env["MLC_CI_X"]`, and the like."""
    found = set()
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            if node.func.attr in ("get", "pop", "setdefault"):
                key = node.args[0]
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            if key.value.startswith("MLC_CI_"):
                found.add(key.value)
    return found


def test_each_mlc_ci_variable_has_one_reader():
    readers: dict[str, list[str]] = {}
    for path in modules(SRC):
        for name in environment_reads(ast.parse(path.read_text(encoding="utf-8"))):
            readers.setdefault(name, []).append(str(path.relative_to(SRC)))
    assert {name: where for name, where in readers.items() if len(where) > 1} == {}
    assert readers["MLC_CI_REPORTS_DIR"] == ["report.py"]
    assert environment_reads(ast.parse('env.get("MLC_CI_A")\nenv["MLC_CI_B"]\nenv["PATH"]')) == {
        "MLC_CI_A",
        "MLC_CI_B",
    }


def test_no_broad_handler_swallows_a_cause():
    offenders = {}
    for path in [*modules(SRC, ROOT / "benchmarks", ROOT / "tests", ROOT / "examples")]:
        lines = swallowing_handlers(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            offenders[str(path.relative_to(ROOT))] = lines
    noxfile = swallowing_handlers(ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8")))
    assert not offenders and not noxfile


def test_the_checks_see_what_they_look_for():
    code = (
        "import subprocess, os\n"
        "subprocess.run(['x'])\n"
        "os.system('x')\n"
        "try:\n    pass\nexcept Exception:\n    pass\n"
        "try:\n    pass\nexcept (ValueError, BaseException):\n    log()\n"
        "try:\n    pass\nexcept:\n    pass\n"
        "try:\n    pass\nexcept Exception as exc:\n    raise RuntimeError('x') from exc\n"
        "try:\n    pass\nexcept ValueError:\n    pass\n"
        "E = Exception\n"
        "try:\n    pass\nexcept E:\n    pass\n"
        "try:\n    pass\nexcept Exception:\n    if 0:\n        raise\n"
        "try:\n    pass\nexcept Exception:\n    raise SystemExit(1)\n"
        "try:\n    pass\nexcept Exception as exc:\n    print(f'failed: {exc}')\n"
        "try:\n    pass\nexcept BaseException:\n    cleanup()\n    raise\n"
    )
    tree = ast.parse(code)
    assert process_starts(tree) == ["subprocess.run (line 2)", "os.system (line 3)"]
    # Swallowed: `pass`, a log without the cause, bare, an alias, a conditional raise, and a
    # new error without `from`. Kept: `raise ... from exc`, a message naming it, a re-raise.
    assert swallowing_handlers(tree) == [6, 10, 14, 27, 31, 36]
