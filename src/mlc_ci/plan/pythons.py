"""Which Pythons a wheel serves (pure): its tag, the backend's settings, one wheel or one each.

A `py3-none-<platform>` wheel installs on every Python 3, a `cp3XY-abi3-<platform>` one on
CPython 3.XY and newer, a `cp3XY-cp3XY-<platform>` one (a C extension module built against one
interpreter's headers) on CPython 3.XY only: that project gets one wheel per Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion

from mlc_ci.errors import PipelineError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

UNIVERSAL, ABI3, CPYTHON = "py3", "abi3", "cpython"
FIX_KEY = "[wheel].per_python"


@dataclass(frozen=True)
class Api:
    """What a wheel's tag binds it to: `kind` (py3, abi3 or cpython) and `python`, the CPython
    it was built for (cpython) or the oldest it runs on (abi3); '' for py3."""

    kind: str
    python: str = ""

    def runs_on(self, version: str) -> bool:
        """Whether a wheel of this API installs on Python `version` ("3.11")."""
        if self.kind == UNIVERSAL:
            return True
        if self.kind == ABI3:
            return _key(version) >= _key(self.python)
        return version == self.python


@dataclass(frozen=True)
class Decision:
    """One wheel per Python (`per_python`), the API expected of the wheels (None: not known
    before the first build), and why, for the plan's notes."""

    per_python: bool
    api: Api | None
    why: str


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _cp_version(interpreter: str) -> str:
    """'cp312' -> '3.12' ('' for anything else)."""
    match = re.fullmatch(r"cp3(\d+)", interpreter)
    return f"3.{match[1]}" if match else ""


def tag_api(wheel_name: str) -> Api:
    """The API of a wheel from its file name (PEP 427 tags)."""
    try:
        _, _, _, tags = parse_wheel_filename(wheel_name)
    except (InvalidWheelFilename, InvalidVersion) as exc:
        raise PipelineError(f"{wheel_name} is not a valid wheel file name ({exc}).") from exc
    if all(tag.abi == "none" and tag.interpreter.startswith("py") for tag in tags):
        return Api(UNIVERSAL)
    abi3 = [_cp_version(tag.interpreter) for tag in tags if tag.abi == "abi3"]
    if abi3 and all(abi3):
        return Api(ABI3, min(abi3, key=_key))
    versions = {_cp_version(tag.interpreter) for tag in tags}
    if len(versions) == 1 and all(versions):
        return Api(CPYTHON, versions.pop())
    shown = ".".join(sorted(f"{t.interpreter}-{t.abi}" for t in tags))
    raise PipelineError(
        f"{wheel_name} is tagged {shown}: neither py3-none, cp3XY-abi3 nor cp3XY-cp3XY; build "
        "a CPython wheel."
    )


def declared_api(pyproject: str) -> Api | None:
    """What the source's build backend is set to make, when its settings say so before a build:
    scikit-build-core's `wheel.py-api` ("py3" -> py3, "cp38" -> abi3 from 3.8, unset -> one
    per CPython). None for another backend (its wheel's tag tells, after the first build)."""
    try:
        data = tomllib.loads(pyproject)
    except tomllib.TOMLDecodeError:
        return None  # the build reports a broken pyproject.toml in its own words
    backend = str(_get(data, "build-system", "build-backend") or "")
    if not backend.startswith("scikit_build_core"):
        return None
    api = str(_get(data, "tool", "scikit-build", "wheel", "py-api") or "")
    if api.startswith("py"):
        return Api(UNIVERSAL)
    if _cp_version(api):
        return Api(ABI3, _cp_version(api))
    return Api(CPYTHON)


def _get(data: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, Mapping) else None
    return data


def decide(setting: bool | str, declared: Api | None) -> Decision:
    """One wheel per Python or one for all, from [wheel].per_python and the backend's settings."""
    if setting is True:
        return Decision(True, Api(CPYTHON), f"{FIX_KEY} = true: one wheel per Python")
    if setting is False:
        return Decision(False, None, f"{FIX_KEY} = false: one wheel for every Python")
    if declared is None:
        return Decision(
            False,
            None,
            "one wheel (the backend states no Python tag; the first wheel's tag is "
            "checked against every Python it is smoke-tested on)",
        )
    if declared.kind == CPYTHON:
        why = "the backend makes cp3XY-cp3XY wheels (scikit-build-core, no wheel.py-api)"
        return Decision(True, declared, f"one wheel per Python: {why}")
    if declared.kind == ABI3:
        why = f"wheel.py-api = cp{declared.python.replace('.', '')}"
        return Decision(False, declared, f"one abi3 wheel for Python >= {declared.python} ({why})")
    return Decision(False, declared, "one py3-none wheel for every Python (wheel.py-api = py3)")


def smoke_pythons(
    decision: Decision, found: Iterable[tuple[str, str]]
) -> tuple[list[tuple[str, str]], list[str]]:
    """The other Pythons (version, interpreter) the wheel goes on, and the versions an abi3
    wheel leaves out (older than its minimum)."""
    kept, older = [], []
    api = decision.api
    for version, interpreter in found:
        if api is not None and api.kind == ABI3 and not api.runs_on(version):
            older.append(version)
        else:
            kept.append((version, interpreter))
    return kept, older


def tag_problem(decision: Decision, wheel_name: str, python: str, others: Iterable[str]) -> str:
    """Why a wheel built with Python `python` does not fit the plan ('' when it does): a
    per-Python build must give that Python's own wheel; one wheel for all must install on
    every other Python it is smoke-tested on."""
    api = tag_api(wheel_name)
    if decision.per_python:
        if api.kind != CPYTHON:
            return (
                f"{wheel_name} is a {api.kind} wheel, which serves every Python, but the plan "
                f"builds one per Python; set {FIX_KEY} = false"
            )
        if api.python != python:
            return f"{wheel_name} is for CPython {api.python}, but it was built with {python}"
        return ""
    missed = [version for version in others if not api.runs_on(version)]
    if not missed:
        return ""
    if api.kind == CPYTHON:
        fix = f"set {FIX_KEY} = true to build one wheel per Python"
    else:
        fix = f"narrow [python].versions (or MLC_CI_SMOKE_PYTHONS) to {api.python} and newer"
    return (
        f"{wheel_name} installs on CPython {api.python}"
        + (" and newer" if api.kind == ABI3 else " only")
        + f", not on Python {', '.join(missed)} of the smoke list; {fix}"
    )
