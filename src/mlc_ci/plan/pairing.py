"""The runtime-pairing gate (pure): every library the wheel's shared objects need, and every
symbol they import, comes from the wheel, the manylinux system, or the paired runtime wheel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from mlc_ci.plan.wheels import matches

_SHOWN = 3  # unresolved symbols named per library


@dataclass(frozen=True)
class SharedObject:
    """One library's dynamic linking facts."""

    path: str
    soname: str
    needed: tuple[str, ...]
    undefined: frozenset[str]  # strong undefined dynamic symbols
    exported: frozenset[str]  # defined, default-visibility dynamic symbols

    @property
    def name(self) -> str:
        """The file name."""
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Facts:
    """What the gate reads: the wheel's libraries (`package`: its own, `grafted`: auditwheel's
    copies), the pair's, the host's system libraries by soname, and the rules."""

    package: Sequence[SharedObject]
    grafted: Sequence[SharedObject]
    pair: Sequence[SharedObject]
    system: Mapping[str, SharedObject | None]
    allowed_system: frozenset[str]
    pair_libraries: tuple[str, ...]  # globs of what the pair provides ([pair].libraries)
    excluded: tuple[str, ...]  # other excludes: external, not checked (libcudart from CUDA)
    pair_label: str  # "tiny-runtime 0.1.0"


def check(facts: Facts) -> tuple[list[str], list[dict]]:
    """Problems (one sentence each) and the compatibility table, a row per package library."""
    own = {lib.soname: lib for lib in (*facts.package, *facts.grafted)}
    own.update({lib.name: lib for lib in (*facts.package, *facts.grafted)})
    pair = {lib.soname: lib for lib in facts.pair} | {lib.name: lib for lib in facts.pair}
    problems: list[str] = []
    rows = []
    for lib in facts.package:
        kinds: dict[str, str] = {}
        for needed in lib.needed:
            kinds[needed] = _kind(needed, own, pair, facts)
            if kinds[needed] == "missing from the pair":
                problems.append(
                    f"{lib.name} needs {needed}, which {facts.pair_label} does not provide"
                )
            elif kinds[needed] == "unknown":
                problems.append(
                    f"{lib.name} needs {needed}, which is neither in the wheel, nor a manylinux "
                    f"system library, nor provided by {facts.pair_label}"
                )
        row = {"library": lib.name, "needs": kinds, "imports": len(lib.undefined)}
        unchecked = [
            n
            for n, kind in kinds.items()
            if kind in ("excluded", "missing from the pair", "unknown")
        ]
        if unchecked:
            row["unresolved"] = None  # a provider is outside what the gate can read
        else:
            exported = _exports(lib, own, pair, facts.system)
            missing = sorted(lib.undefined - exported)
            row["unresolved"] = missing
            if missing:
                problems.append(_symbol_problem(lib, missing, pair, facts.pair_label))
        rows.append(row)
    return problems, rows


def _kind(needed: str, own, pair, facts: Facts) -> str:
    if needed in own:
        return "wheel"
    if needed in pair:
        return "pair"
    if matches(needed, facts.pair_libraries):
        return "missing from the pair"
    if needed in facts.allowed_system:
        return "system"
    if matches(needed, facts.excluded):
        return "excluded"
    return "unknown"


def _exports(lib: SharedObject, own, pair, system) -> frozenset[str]:
    """Everything the libraries loaded with `lib` export (NEEDED, transitively)."""
    seen: set[str] = set()
    todo = list(lib.needed)
    exported: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        found = own.get(name) or pair.get(name) or system.get(name)
        if found is not None:
            exported |= found.exported
            todo.extend(found.needed)
    return frozenset(exported)


def _symbol_problem(lib: SharedObject, missing: list[str], pair, label: str) -> str:
    shown = ", ".join(missing[:_SHOWN]) + (
        f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
    )
    from_pair = [n for n in lib.needed if n in pair]
    if from_pair:
        return f"{lib.name} needs {shown} from {from_pair[0]}, which {label} does not export"
    return f"{lib.name} needs {shown}, which none of its libraries ({', '.join(lib.needed)}) export"


def required_version(requires_dist: Iterable[str], wheel: str, pair: str) -> tuple[str, str]:
    """The exact version of `pair` the wheel requires, or '' and the problem."""
    wanted = canonicalize_name(pair)
    for line in requires_dist:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) != wanted:
            continue
        pins = [s.version for s in requirement.specifier if s.operator in ("==", "===")]
        if len(pins) == 1 and len(requirement.specifier) == 1 and "*" not in pins[0]:
            return pins[0], ""
        return "", (
            f"{wheel} requires {line.strip()}, not one exact version; pin the runtime it was "
            f"built against ({pair}==<version>)"
        )
    return "", (
        f"{wheel} declares no Requires-Dist on {pair}; add `{pair}==<version>` to its "
        "[project].dependencies, or set [pair].version"
    )
