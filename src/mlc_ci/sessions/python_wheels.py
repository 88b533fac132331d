"""One wheel per Python for a C extension (cp3XY-cp3XY): the builds, their checks, their keys.

The session's own Python builds first, exactly as a py3-none build does; each other Python of
[python].versions found on PATH then builds into its own directories (sharing ccache), and its
wheel is repaired, verified and smoke-tested on that interpreter alone before anything is
published.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from mlc_ci.config import Config, Variant
from mlc_ci.errors import PipelineError
from mlc_ci.plan import pythons
from mlc_ci.run import Context, Step
from mlc_ci.sessions import wheel_steps
from mlc_ci.sessions.wheel_steps import Layout

OWN = f"{sys.version_info.major}.{sys.version_info.minor}"
# What a per-Python wheel's artifact keeps of its own verification (the rest is the run's).
VERIFIED = ("grafted", "excluded", "duplicates")


@dataclass(frozen=True)
class Pythons:
    """The decision and the other Pythons (version, interpreter) the wheels go on."""

    decision: pythons.Decision
    others: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]

    @property
    def per_python(self) -> bool:
        """One wheel per Python."""
        return self.decision.per_python

    @property
    def built(self) -> tuple[str, ...]:
        """The Pythons a wheel is built for ((), one wheel for all)."""
        return (OWN, *(v for v, _ in self.others)) if self.per_python else ()


@dataclass(frozen=True)
class Build:
    """What the per-Python steps take from the session: the variant, the staging layout, the
    build environment and the steps that repair and verify one wheel in a layout."""

    config: Config
    variant: Variant
    layout: Layout
    build_env: Mapping[str, str]
    verify: Callable[[Layout], list[Step]]


def choose(config: Config, env: Mapping[str, str], container: bool) -> Pythons:
    """One wheel per Python or one for all ([wheel].per_python, else the source's backend
    settings), and the other Pythons it concerns; a container build makes one wheel only."""
    pyproject = config.source_dir / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8") if pyproject.is_file() else ""
    decision = pythons.decide(config.wheel.per_python, pythons.declared_api(text))
    if decision.per_python and container:
        raise PipelineError(
            f"{config.set_by('wheel.per_python')}: {decision.why}, but --container builds with "
            "the builder image's one Python ([container].python); build on the host "
            "(--no-container, or MLC_CI_CONTAINER=0), or set [wheel].per_python = false."
        )
    found, note = wheel_steps.python_matrix(config, env, decision.per_python)
    kept, older = pythons.smoke_pythons(decision, found)
    # A py3-none build is as it always was: nothing to say about it.
    abi3 = decision.api is not None and decision.api.kind == pythons.ABI3
    notes = [decision.why] if decision.per_python or abi3 else []
    notes += [note] if note else []
    if older:
        notes.append(
            f"Python {', '.join(older)} is older than the abi3 wheel's minimum "
            f"{decision.api.python if decision.api else ''}: not smoke-tested there"
        )
    return Pythons(decision, tuple(kept), tuple(notes))


def tag_check(per: Pythons, directory: Path, python: str) -> Step:
    """The wheel just built in `directory` fits the plan: a per-Python build gives that Python's
    own wheel, one wheel for all installs on every Python it is smoke-tested on."""
    others = [version for version, _ in per.others]

    def action(ctx: Context) -> None:
        del ctx
        found = sorted(directory.glob("*.whl"))
        if len(found) != 1:
            raise PipelineError(f"expected one wheel in {directory}, found {len(found)}.")
        problem = pythons.tag_problem(per.decision, found[0].name, python, others)
        if problem:
            raise PipelineError(f"{problem}; nothing was copied to dist/.")

    label = f" (Python {python})" if per.per_python else ""
    return Step(f"check the wheel's Python tag{label}", action=action)


def for_python(layout: Layout, version: str) -> Layout:
    """The layout of the wheel of Python `version`: its own raw and repaired directories under
    the run's (so `prepare` clears them), and its own CMake tree (a configure caches the
    interpreter); the ccache directory stays shared."""
    mine = copy.copy(layout)
    mine.raw = layout.raw / f"python{version}"
    mine.repaired = layout.repaired / f"python{version}"
    mine.cmake_build = layout.cmake_build.with_name(f"{layout.cmake_build.name}-python{version}")
    return mine


def insert_builds(steps: list[Step], per: Pythons, build: Build) -> None:
    """After the session Python's build: its tag check, then (per Python) the other builds.
    One wheel whose tag the backend's settings declared (mini-llm's py3) needs no check."""
    if not per.per_python and (not per.others or per.decision.api is not None):
        return
    config, variant, layout = build.config, build.variant, build.layout
    at = [s.title for s in steps].index(f"build {variant.distribution} wheel") + 1
    added = [tag_check(per, layout.raw, OWN)]
    for version, interpreter in per.others if per.per_python else ():
        mine = for_python(layout, version)
        argv = wheel_steps.host_build(config, interpreter)(
            str(config.source_dir), str(mine.raw), str(mine.cmake_build), build.build_env
        )
        added.append(
            Step(
                f"build {variant.distribution} wheel (Python {version})",
                argv,
                env=build.build_env,
            )
        )
    steps[at:at] = added


def keep(version: str) -> Step:
    """Remember the verified wheel of `version` and its own verification record (the next
    Python's steps reuse the "wheel" and "repaired" keys)."""

    def action(ctx: Context) -> None:
        ctx[f"repaired-{version}"] = ctx["repaired"]
        report = ctx.get("report", {})
        record = {name: report[name] for name in VERIFIED if name in report}
        ctx[f"verified-repaired-{version}"] = {**record, "python": version}

    return Step(f"keep the verified Python {version} wheel", action=action)


def other_wheels(per: Pythons, build: Build, keep_on_fail: str) -> list[Step]:
    """Each other Python's wheel: located, tag-checked, repaired and verified as the first one,
    smoke-tested in a venv of that Python alone, and kept for publishing."""
    steps: list[Step] = []
    for python in per.others if per.per_python else ():
        version = python[0]
        mine = for_python(build.layout, version)
        own = [
            Step("locate built wheel", action=wheel_steps.locate(mine.raw, "wheel")),
            *build.verify(mine),
        ]
        steps += [_titled(step, version) for step in own]
        steps.insert(len(steps) - len(own) + 1, tag_check(per, mine.raw, version))
        steps += wheel_steps.smoke_steps(
            build.config, build.variant, build.layout, keep_on_fail, python=python
        )
        steps.append(keep(version))
    return steps


def _titled(step: Step, version: str) -> Step:
    return dataclasses.replace(step, title=f"{step.title} (Python {version})")
