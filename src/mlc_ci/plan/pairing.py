"""The runtime-pairing gate (pure): every library the wheel's shared objects need, and every
symbol they import, comes from the wheel, the paired runtime wheel, another installed wheel, or
the platform (the manylinux policy's system libraries, Windows' own DLLs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from mlc_ci.plan.wheels import matches

_SHOWN = 3  # unresolved symbols named per library
_PROBLEMS = ("missing from the pair", "unknown")  # kinds that are a problem of their own


@dataclass(frozen=True)
class SharedObject:
    """One library's dynamic linking facts."""

    path: str
    soname: str
    needed: tuple[str, ...]
    undefined: frozenset[str]  # strong undefined dynamic symbols
    exported: frozenset[str]  # defined, default-visibility dynamic symbols
    # A DLL's imports, each bound to the DLL that must export it (PE); () for ELF, whose
    # symbols any loaded library may define.
    bound: tuple[tuple[str, frozenset[str]], ...] = ()

    @property
    def name(self) -> str:
        """The file name."""
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Installed:
    """A library that another distribution of the smoke venv holds (its label: "name version")."""

    distribution: str
    library: SharedObject


@dataclass(frozen=True)
class Facts:  # pylint: disable=too-many-instance-attributes
    """What the gate reads: the wheel's libraries (`package`: its own, `grafted`: auditwheel's
    copies), the pair's, the host's system libraries by soname, and the rules."""

    package: Sequence[SharedObject]
    grafted: Sequence[SharedObject]
    pair: Sequence[SharedObject]
    system: Mapping[str, SharedObject | None]
    allowed_system: frozenset[str]
    pair_libraries: tuple[str, ...]  # globs of what the pair provides ([pair].libraries)
    excluded: tuple[str, ...]  # other excludes: another wheel of the venv or the host provides
    pair_label: str  # "tiny-runtime 0.1.0"
    # Libraries of the venv's other distributions that the wheel's libraries reach (by soname).
    installed: Sequence[Installed] = ()
    wheel_label: str = "the wheel"

    def providers(self) -> dict[str, dict[str, SharedObject]]:
        """Every soname (and file name) of the venv -> {distribution label: its library}."""
        found: dict[str, dict[str, SharedObject]] = {}
        groups = [(self.wheel_label, lib) for lib in (*self.package, *self.grafted)]
        groups += [(self.pair_label, lib) for lib in self.pair]
        groups += [(item.distribution, item.library) for item in self.installed]
        for label, lib in groups:
            for key in dict.fromkeys((lib.soname, lib.name)):
                found.setdefault(key, {}).setdefault(label, lib)
        return found


def check(facts: Facts) -> tuple[list[str], list[dict]]:
    """Problems (one sentence each) and the compatibility table, a row per package library."""
    own = {lib.soname: lib for lib in (*facts.package, *facts.grafted)}
    own.update({lib.name: lib for lib in (*facts.package, *facts.grafted)})
    pair = {lib.soname: lib for lib in facts.pair} | {lib.name: lib for lib in facts.pair}
    venv = facts.providers()
    problems = _twice(facts, venv)
    rows = []
    for lib in facts.package:
        kinds: dict[str, str] = {}
        providers: dict[str, str] = {}
        for needed in lib.needed:
            kinds[needed], providers[needed] = _kind(needed, (own, pair, venv), facts)
            if kinds[needed] == "missing from the pair":
                problems.append(
                    f"{lib.name} needs {needed}, which {facts.pair_label} does not provide"
                )
            elif kinds[needed] == "unknown":
                problems.append(
                    f"{lib.name} needs {needed}, which is neither in the wheel, nor a system "
                    f"library of the platform, nor provided by {facts.pair_label} or another "
                    "installed wheel"
                )
        if lib.bound:
            missing = _unbound(lib, (own, pair, venv), kinds)
        else:
            missing = sorted(lib.undefined - _exports(lib, own, pair, venv, facts.system))
        # An excluded library that nothing here holds (the GPU driver on a build host) may
        # define what is left: listed, not decided. A library from nowhere is a problem above.
        unread = [n for n, kind in kinds.items() if kind == "excluded, not on this host"]
        undecided = unread or [n for n, kind in kinds.items() if kind in _PROBLEMS]
        rows.append(
            {
                "library": lib.name,
                "needs": kinds,
                "providers": providers,
                "imports": len(lib.undefined),
                "unresolved": missing,
                "unchecked": unread,
            }
        )
        if missing and not undecided:
            problems.append(_symbol_problem(lib, missing, kinds, providers))
    return problems, rows


def _twice(facts: Facts, venv: Mapping[str, Mapping[str, SharedObject]]) -> list[str]:
    """A soname the wheel's libraries load that two distributions of the venv hold: two copies
    of one runtime in a process (MLC-LLM's crash on import, mlc-llm#3500)."""
    wanted = {n for lib in (*facts.package, *facts.grafted, *facts.pair) for n in lib.needed}
    wanted |= {lib.soname for lib in facts.pair}
    problems = []
    for soname in sorted(wanted):
        holders = sorted(
            {
                label
                for label, lib in venv.get(soname, {}).items()
                if lib.soname == soname and not _vendored(lib)
            }
        )
        if len(holders) > 1:
            problems.append(
                f"{soname} is installed twice, by {' and by '.join(holders)}: two copies of one "
                "runtime in a process crash on import; keep one (exclude it from the other "
                "wheel's repair, or uninstall that wheel)"
            )
    return problems


def _vendored(lib: SharedObject) -> bool:
    """A repair tool's private copy (auditwheel, delvewheel: `<name>.libs/`), loaded by that
    wheel's libraries alone under a name of its own (mangled with its contents' hash)."""
    return ".libs/" in lib.path.replace("\\", "/")


def _kind(needed: str, maps, facts: Facts) -> tuple[str, str]:
    """How `needed` is provided, and by whom (a distribution label, "system" or ""); the first
    rule that holds decides."""
    own, pair, venv = maps
    others = sorted(label for label in venv.get(needed, {}) if label != facts.wheel_label)
    excluded = matches(needed, facts.excluded)
    rules = (
        (needed in own, ("wheel", facts.wheel_label)),
        (needed in pair, ("pair", facts.pair_label)),
        (matches(needed, facts.pair_libraries), ("missing from the pair", "")),
        (bool(others), ("installed", others[0] if others else "")),
        (needed in facts.allowed_system, ("system", "system")),
        (excluded and facts.system.get(needed) is not None, ("excluded", "system")),
        (excluded, ("excluded, not on this host", "")),
    )
    return next((result for hit, result in rules if hit), ("unknown", ""))


def _unbound(lib: SharedObject, maps, kinds: Mapping[str, str]) -> list[str]:
    """A DLL's imports that the DLL they are bound to does not export; imports from Windows'
    own DLLs are not readable here and not checked (their kind says so)."""
    own, pair, venv = maps
    missing: set[str] = set()
    for dll, names in lib.bound:
        provider = own.get(dll) or pair.get(dll) or next(iter(venv.get(dll, {}).values()), None)
        if provider is not None and kinds.get(dll) != "system":
            missing |= names - provider.exported
    return sorted(missing)


def _exports(lib: SharedObject, own, pair, venv, system) -> frozenset[str]:
    """Everything the libraries loaded with `lib` export (NEEDED, transitively)."""
    seen: set[str] = set()
    todo = list(lib.needed)
    exported: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        held = venv.get(name, {})
        found = own.get(name) or pair.get(name) or next(iter(held.values()), None)
        found = found or system.get(name)
        if found is not None:
            exported |= found.exported
            todo.extend(found.needed)
    return frozenset(exported)


def _symbol_problem(lib: SharedObject, missing: list[str], kinds, providers) -> str:
    shown = ", ".join(missing[:_SHOWN]) + (
        f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
    )
    # The runtimes that should have defined them: the pair's, another wheel's, an excluded one.
    runtimes = [n for n, kind in kinds.items() if kind in ("pair", "installed", "excluded")]
    if len(runtimes) == 1:
        return (
            f"{lib.name} needs {shown} from {runtimes[0]}, which {providers[runtimes[0]]} "
            "does not export"
        )
    if runtimes:
        named = ", ".join(f"{n} ({providers[n]})" for n in runtimes)
        return f"{lib.name} needs {shown}, which none of {named} exports"
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


def channel_args(index: str, find_links: str) -> tuple[str, ...]:
    """pip's arguments for the pair's channel alone (the URL last): a flat page of wheel links
    is no PEP 503 index (pip would ask it for /<project>/ and find nothing)."""
    if find_links:
        return ("--no-index", "--find-links", find_links)
    return ("--index-url", index)
