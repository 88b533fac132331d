"""The paired runtime wheel ([pair]): built beside the project's wheel or fetched from its
channel, required exactly, installed first, and checked by the pairing gate."""

from __future__ import annotations

import csv
import email.parser
import re
import shutil
import sys
import zipfile
from pathlib import Path
from typing import Callable, Mapping

from packaging.utils import canonicalize_name

from mlc_ci import elf, host
from mlc_ci.config import Config, Variant
from mlc_ci.errors import PipelineError
from mlc_ci.plan import pairing, wheels
from mlc_ci.run import Context, Ref, Step
from mlc_ci.sessions import wheel_steps
from mlc_ci.sessions.wheel_steps import Layout, locate

# A shared library by its name in a wheel: libx.so, libx.so.1.2.
LIBRARY = re.compile(r"\.so(\.\d+)*$")


class PairLayout:
    """Staging of the pair, beside the project wheel's."""

    def __init__(self, layout: Layout) -> None:
        self.root = layout.stage / "pair"
        self.raw = self.root / "raw"
        self.repaired = self.root / "repaired"
        self.cmake_build = layout.cmake_build.with_name(layout.cmake_build.name + "-pair")


RepairFor = wheel_steps.RepairFor


def build_steps(  # pylint: disable=too-many-arguments
    config: Config,
    variant: Variant,
    layout: Layout,
    build: tuple[Mapping[str, str], wheel_steps.BuildArgv],
    repair: tuple[RepairFor, Mapping[str, str]],
    keep: str,
    *,
    env: Mapping[str, str],
    tidy: Callable[[str, str], Step] | None = None,
) -> list[Step]:
    """Build and repair the pair from [pair].source; `build`: the environment and the command
    of the project's own build (host or container); `repair`: the platform's repair command
    and its environment; `env`: the user's (an explicit SOURCE_DATE_EPOCH there wins);
    `tidy`: a step on the repaired wheel (by context key, keep)."""
    where = PairLayout(layout)
    build_env, build_argv = build
    name = config.pair_distribution(variant)
    repair_for, repair_env = repair
    # The pair ships at its own version: built at its own last change, it is the same file at
    # every commit that leaves it alone, so an index that already holds it accepts it again.
    epoch = host.last_change_epoch(config.pair_source, env) if config.pair_source else None
    if epoch is not None:
        build_env = {**build_env, "SOURCE_DATE_EPOCH": str(epoch)}
        repair_env = {**repair_env, "SOURCE_DATE_EPOCH": str(epoch)}
    return [
        Step(f"prepare {name} staging", action=_clean(where)),
        Step(
            f"build {name} wheel",
            build_argv(str(config.pair_source), str(where.raw), str(where.cmake_build), build_env),
            env=build_env,
        ),
        Step(f"locate built {name} wheel", action=locate(where.raw, "pair_wheel")),
        Step(
            f"repair {name}",
            repair_for(str(where.repaired), Ref("pair_wheel")),
            env=repair_env,
            on_fail=keep,
        ),
        Step(f"locate repaired {name} wheel", action=locate(where.repaired, "pair")),
        *([tidy("pair", keep)] if tidy else []),
        Step(f"check the {name} wheel", action=_check_pair_wheel(config, variant)),
    ]


def channel_steps(
    config: Config, variant: Variant, layout: Layout, keep: str, requirement: str | Ref = ""
) -> list[Step]:
    """Fetch the exact pair (`requirement`, else the one the wheel requires) from its channel
    alone, never another index: a flat page with --no-index --find-links, a PEP 503 index
    with --index-url."""
    where = PairLayout(layout)
    name = config.pair_distribution(variant)
    channel = pairing.channel_args(config.pair.index, config.pair.find_links)
    download = (
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary",
        ":all:",
        *channel,
        "--dest",
        str(where.repaired),
        requirement or Ref("pair_requirement"),
    )
    return [
        Step(f"prepare {name} staging", action=_clean(where)),
        Step(f"download {name} from {channel[-1]}", download, on_fail=keep),
        Step(f"locate the {name} wheel", action=locate(where.repaired, "pair")),
    ]


def fetch_first(config: Config, variant: Variant, layout: Layout, keep: str) -> list[Step]:
    """With [pair].version and a channel, the pair is fetched before the compile: a version
    the channel lacks (upstream keeps only its newest nightlies) stops the run in one line
    before an hour of compiling. [] when the pair is built or its version comes from the
    wheel (fetched after the build, `after_build`)."""
    if config.pair_source or not config.pair.version:
        return []
    pinned = f"{config.pair_distribution(variant)}=={config.pair.version}"
    return channel_steps(config, variant, layout, keep, pinned)


def after_build(config: Config, variant: Variant, layout: Layout, keep: str) -> list[Step]:
    """The pair's steps once the wheel is built: its exact requirement checked, then the pair
    fetched when `fetch_first` did not."""
    steps = [requirement_step(config, variant, keep)]
    if not config.pair_source and not config.pair.version:
        steps += channel_steps(config, variant, layout, keep)
    return steps


def requirement_step(config: Config, variant: Variant, keep: str) -> Step:
    """The wheel's exact Requires-Dist on the pair (and, when built, the built pair's version)."""

    def action(ctx: Context) -> None:
        name = config.pair_distribution(variant)
        wheel = Path(ctx["repaired"]).name
        version, problem = pairing.required_version(_requires_dist(ctx["repaired"]), wheel, name)
        if problem and config.pair.version and "declares no Requires-Dist" in problem:
            version, problem = config.pair.version, ""  # the configured pin stands in
        if not problem and "pair" in ctx:
            beside = wheels.wheel_version(Path(ctx["pair"]).name)
            if beside != version:
                how, fix = (
                    ("built with it", "pin the version the runtime's pyproject.toml declares")
                    if config.pair_source
                    else ("[pair].version fetched", "make [pair].version the version it requires")
                )
                problem = (
                    f"{wheel} requires {name}=={version}, but the {name} {how} is {beside}; {fix}"
                )
        if problem:
            raise PipelineError(f"{problem}; {keep}.")
        ctx["pair_requirement"] = f"{name}=={version}"
        ctx.setdefault("report", {})["pairing"] = {"pair": name, "required": version}

    return Step(
        f"check the wheel requires {config.pair_distribution(variant)} exactly", action=action
    )


def gate_step(
    config: Config, variant: Variant, layout: Layout, keep: str, dirs: tuple[str, ...] = ()
) -> Step:
    """NEEDED libraries and undefined symbols of the wheel's libraries against the smoke venv;
    `dirs`: where the host's system and excluded libraries are (elf.host_dirs)."""

    def action(ctx: Context) -> None:
        name = config.pair_distribution(variant)
        site = _site_packages(layout.venv)
        installed = _installed_version(site, name)
        required = ctx["report"]["pairing"]["required"]
        wheel = Path(ctx["repaired"]).name
        if installed != required:
            raise PipelineError(
                f"the smoke venv holds {name} {installed or '(none)'}, but {wheel} requires "
                f"{name}=={required}; {keep}."
            )
        own = [site / member for member in _libraries(ctx["repaired"])]
        pair = [site / member for member in _libraries(ctx["pair"])]
        labels = (f"{variant.distribution} (this wheel)", f"{name} {installed}")
        facts = _facts(config, variant, (own, pair), labels, (site, dirs or elf.SYSTEM_DIRS))
        problems, rows = pairing.check(facts)
        ctx["report"]["pairing"].update(installed=installed, libraries=rows)
        if problems:
            raise PipelineError(f"runtime pairing failed: {'; '.join(problems)}; {keep}.")
        print(f"      pairing: {len(rows)} libraries checked against {name} {installed}")
        for row in rows:
            if row["unchecked"]:
                print(
                    f"      pairing: {row['library']}: {len(row['unresolved'])} symbols not "
                    f"found; {', '.join(row['unchecked'])} (excluded) is not on this host and "
                    "may define them"
                )

    return Step(
        f"check the pairing with {config.pair_distribution(variant)} (libraries, symbols)",
        action=action,
    )


def _facts(config: Config, variant: Variant, paths, labels, where) -> pairing.Facts:
    site, dirs = where
    own, pair = ([elf.read(p) for p in group] for group in paths)
    package = [lib for lib in own if ".libs/" not in lib.path.replace("\\", "/")]
    grafted = [lib for lib in own if lib not in package]
    allowed = elf.system_libraries(config.wheel.plat if config.wheel.plat != "auto" else "")
    excluded = tuple(
        x for x in wheels.repair_excludes(config, variant) if x not in config.pair.libraries
    )
    skip = {
        canonicalize_name(variant.distribution),
        canonicalize_name(config.pair_distribution(variant)),
    }
    installed = _reached(site, skip, [n for lib in (*own, *pair) for n in lib.needed])
    system: dict[str, pairing.SharedObject | None] = {}
    todo = [n for lib in (*own, *pair, *(i.library for i in installed)) for n in lib.needed]
    while todo:
        soname = todo.pop()
        if soname in system or not (soname in allowed or wheels.matches(soname, excluded)):
            continue
        found = elf.find_system(soname, dirs)
        system[soname] = elf.read(found) if found else None
        todo.extend(system[soname].needed if system[soname] else ())
    return pairing.Facts(
        package,
        grafted,
        pair,
        system,
        allowed,
        config.pair.libraries,
        excluded,
        labels[1],
        installed=installed,
        wheel_label=labels[0],
    )


def _reached(site: Path, skip: set[str], needed: list[str]) -> list[pairing.Installed]:
    """The libraries of the venv's other distributions that `needed` reaches, by soname
    (transitively): only those are read whole (a torch venv holds gigabytes of them)."""
    by_name: dict[str, list[tuple[str, Path]]] = {}
    for label, path in _distribution_libraries(site, skip):
        for key in dict.fromkeys((elf.soname_of(path), path.name)):
            by_name.setdefault(key, []).append((label, path))
    reached: list[pairing.Installed] = []
    seen: set[str] = set()
    while needed:
        name = needed.pop()
        if name in seen:
            continue
        seen.add(name)
        for label, path in by_name.get(name, []):
            library = elf.read(path)
            reached.append(pairing.Installed(label, library))
            needed.extend(library.needed)
    return reached


def _distribution_libraries(site: Path, skip: set[str]):
    """(distribution label, path) of every shared library a distribution's RECORD lists."""
    for info in sorted(site.glob("*.dist-info")):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        record = info / "RECORD"
        if canonicalize_name(name) in skip or not record.is_file():
            continue
        for row in csv.reader(record.read_text(encoding="utf-8").splitlines()):
            if row and LIBRARY.search(row[0]) and (site / row[0]).is_file():
                yield f"{name} {version}", site / row[0]


def _clean(where: PairLayout):
    def action(_ctx: Context) -> None:
        for directory in (where.raw, where.repaired):
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)

    return action


def _check_pair_wheel(config: Config, variant: Variant):
    def action(ctx: Context) -> None:
        name = config.pair_distribution(variant)
        wheel = Path(ctx["pair"]).name
        with zipfile.ZipFile(ctx["pair"]) as archive:
            names = archive.namelist()
        problems = wheels.content_problems(names, (), (), name)
        provided = [n for n in names if wheels.matches(n.rsplit("/", 1)[-1], config.pair.libraries)]
        if not provided:
            problems.append(
                f"it holds none of [pair].libraries ({', '.join(config.pair.libraries)})"
            )
        if problems:
            raise PipelineError(f"{wheel} failed verification: {'; '.join(problems)}.")

    return action


def _requires_dist(wheel: str) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        message = email.parser.Parser().parsestr(archive.read(metadata).decode("utf-8"))
    return message.get_all("Requires-Dist") or []


def _libraries(wheel: str) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return [n for n in archive.namelist() if LIBRARY.search(n)]


def _site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if not found:
        raise PipelineError(f"the smoke venv {venv} has no lib/python3*/site-packages.")
    return found[0]


def _installed_version(site: Path, distribution: str) -> str:
    wanted = canonicalize_name(distribution)
    for info in site.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        if canonicalize_name(name) == wanted:
            return version
    return ""
