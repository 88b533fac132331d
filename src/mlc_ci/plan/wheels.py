"""Pure planning for wheel builds: config.cmake, build and repair commands, verification rules."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import posixpath
import re
import shlex
from pathlib import PurePosixPath
from typing import Any, Iterable, Mapping

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion

from mlc_ci.config import Config, ConfigValue, Variant, build_tool_pin
from mlc_ci.errors import PipelineError
from mlc_ci.plan.cache import remote_stats

MARKER = "# Written by mlc-ci"
STRAY_PATTERNS = (
    "*.pyc",
    "*/__pycache__/*",
    "*.o",
    "*.obj",
    "*.a",
    "*/CMakeFiles/*",
    "*.egg-info/*",
)


def cmake_value(value: ConfigValue) -> str:
    """TOML value -> config.cmake literal: booleans ON/OFF, strings quoted."""
    if isinstance(value, bool):
        return "ON" if value else "OFF"
    if isinstance(value, int):
        return str(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def config_cmake(variant: Variant) -> str:
    """The config.cmake the source's CMakeLists.txt reads (never the interactive generator)."""
    lines = [f"{MARKER} for variant '{variant.name}'; it is rewritten on every build."]
    lines += [f"set({key} {cmake_value(val)})" for key, val in variant.config.items()]
    return "\n".join(lines) + "\n"


# CMake writes compile_commands.json for the host-codegen check (Makefile and Ninja generators).
EXPORT_COMPILE_COMMANDS = "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"


def define_args(defines: Mapping[str, ConfigValue]) -> tuple[str, ...]:
    """[variants.<v>].cmake_define as -D arguments: booleans ON/OFF, the rest as written."""
    return tuple(
        f"-D{key}={cmake_value(value) if isinstance(value, bool) else value}"
        for key, value in defines.items()
    )


def with_cmake_args(
    env: Mapping[str, str], host_env: Mapping[str, str], args: Iterable[str]
) -> dict[str, str]:
    """`env` with `args` at the front of CMAKE_ARGS, which scikit-build-core (and other CMake
    backends) append to the configure line, each shell-quoted (the backend splits it with
    shlex). The CMAKE_ARGS already there (the host's own) come after them, so they win."""
    existing = env.get("CMAKE_ARGS", host_env.get("CMAKE_ARGS", ""))
    joined = " ".join(filter(None, (*map(shlex.quote, args), existing)))
    return {**env, "CMAKE_ARGS": joined} if joined else dict(env)


_PROJECT_TABLE = re.compile(r"(?ms)^\[project\]\s*$(.*?)(?=^\[|\Z)")


def _set_project_string(pyproject: str, key: str, value: str) -> str | None:
    """Rewrite the static string `key = ...` of the [project] table; None when it has none."""
    section = _PROJECT_TABLE.search(pyproject)
    if not section:
        raise PipelineError("the source pyproject.toml has no [project] table to rewrite.")
    body = section.group(1)
    pattern = rf'(?m)^({re.escape(key)}\s*=\s*)(["\']).*?\2'
    rewritten, count = re.subn(pattern, rf'\g<1>"{value}"', body, count=1)
    if not count:
        return None
    return pyproject[: section.start(1)] + rewritten + pyproject[section.end(1) :]


def _rewrite(pyproject: str, key: str, value: str, fix: str) -> str:
    rewritten = _set_project_string(pyproject, key, value)
    if rewritten is None:
        raise PipelineError(f"the source pyproject.toml has no static [project].{key}; {fix}.")
    return rewritten


def rename_distribution(pyproject: str, new_name: str) -> str:
    """Rewrite `name = ...` in the [project] table, as upstream does for mlc-llm-cu128 etc."""
    return _rewrite(
        pyproject, "name", new_name, "set one so the distribution can be renamed per variant"
    )


def stamp_version(pyproject: str, version: str) -> str:
    """Rewrite `version = ...` in the [project] table, as MLC-LLM's version.py does."""
    return _rewrite(
        pyproject,
        "version",
        version,
        'add a line to stamp the git version into (e.g. version = "0.0.0"), or set '
        '[project].version = "pyproject" to build the version it declares',
    )


def static_version(pyproject: str) -> str:
    """The static [project].version of a pyproject.toml ('' when there is none)."""
    return _project_string(pyproject, "version")


def distribution_name(pyproject: str) -> str:
    """The static [project].name of a pyproject.toml ('' when there is none)."""
    return _project_string(pyproject, "name")


def _project_string(pyproject: str, key: str) -> str:
    section = _PROJECT_TABLE.search(pyproject)
    pattern = rf'(?m)^{re.escape(key)}\s*=\s*(["\'])(.*?)\1'
    match = re.search(pattern, section.group(1)) if section else None
    return match.group(2) if match else ""


def build_argv(
    frontend: str, source: str, out_dir: str, build_dir: str, python: str = "python"
) -> tuple[str, ...]:
    """The project's own backend, driven by pip, build or uv, into out_dir."""
    setting = f"-Cbuild-dir={build_dir}"
    if frontend == "build":
        return (python, "-m", "build", "--wheel", setting, "--outdir", out_dir, source)
    if frontend == "uv":
        # uv fills the isolated build environment from its cache in a fraction of pip's time;
        # --python keeps the build on the interpreter the session runs.
        return ("uv", "build", "--wheel", "--python", python, setting, "--out-dir", out_dir, source)
    return (python, "-m", "pip", "wheel", "--no-deps", "-v", setting, "-w", out_dir, source)


def install_argv(
    frontend: str, python: str, target_python: str, requirements: Iterable[str]
) -> tuple[str, ...]:
    """Install into another interpreter's environment (a venv made --without-pip)."""
    if frontend == "uv":
        return ("uv", "pip", "install", "--quiet", "--python", target_python, *requirements)
    # pip >= 22.3 installs into the environment of --python, so the venv needs no pip of its own.
    return (python, "-m", "pip", "--python", target_python, "install", "-q", *requirements)


def build_env(  # pylint: disable=too-many-arguments
    *,
    ccache_dir: str | None,
    jobs: int,
    cuda_home: str | None,
    pins: Iterable[str] = (),
    base_dir: str = "",
    epoch: int | None = None,
    map_prefix: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment for the build: compiler launchers for ccache, parallelism, nvcc, the
    CMake/Ninja ranges of [project].build_requires (scikit-build-core provides a match), and
    what makes it reproducible: SOURCE_DATE_EPOCH (`epoch`), and with `map_prefix` (the host's
    CFLAGS/CXXFLAGS, extended) the checkout's path mapped out of the binaries."""
    env = {"CMAKE_BUILD_PARALLEL_LEVEL": str(jobs)}
    if epoch is not None:
        env["SOURCE_DATE_EPOCH"] = str(epoch)
    if map_prefix is not None and base_dir:
        flag = f"-ffile-prefix-map={base_dir}=."
        for name in ("CFLAGS", "CXXFLAGS"):
            env[name] = " ".join(filter(None, (map_prefix.get(name, ""), flag)))
        # Linked with the build tree's RPATH, then rewritten at install, a library keeps that
        # path's length in .dynstr; linking with the install RPATH leaves no trace of it.
        rpath = "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON"
        env["CMAKE_ARGS"] = " ".join(filter(None, (map_prefix.get("CMAKE_ARGS", ""), rpath)))
    for requirement in pins:
        variable, spec = build_tool_pin(requirement, "[project].build_requires")
        env[variable] = spec
    if ccache_dir:
        env["CCACHE_DIR"] = ccache_dir
        # Absolute paths differ between the host and the Docker builder; hashing relative
        # to the source keeps hits across both.
        env["CCACHE_NOHASHDIR"] = "1"
        if base_dir:
            # Paths under the checkout become relative, so another checkout (another runner,
            # a laptop) hits the same shared-cache entries.
            env["CCACHE_BASEDIR"] = base_dir
        for lang in ("C", "CXX", "CUDA"):
            env[f"CMAKE_{lang}_COMPILER_LAUNCHER"] = "ccache"
    if cuda_home:
        env["CUDACXX"] = f"{cuda_home}/bin/nvcc"
        env["CUDA_HOME"] = cuda_home
    return env


def repair_excludes(config: Config, variant: Variant) -> tuple[str, ...]:
    """Project-wide excludes, the variant's, then what the paired runtime wheel provides."""
    return tuple(
        dict.fromkeys(
            (*config.wheel.auditwheel_exclude, *variant.auditwheel_exclude, *config.pair.libraries)
        )
    )


def repair_argv(plat: str, excludes: Iterable[str], out_dir: str, wheel: str) -> tuple[str, ...]:
    """auditwheel repair with the variant's excludes (globs are matched by auditwheel)."""
    argv = ["auditwheel", "repair", "--plat", plat or "auto", "-w", out_dir]
    for pattern in excludes:
        argv += ["--exclude", pattern]
    return (*argv, wheel)


def parse_nvcc_version(text: str) -> str | None:
    """'Cuda compilation tools, release 13.0, V13.0.88' -> '13.0'."""
    match = re.search(r"release (\d+\.\d+)", text)
    return match.group(1) if match else None


def choose_variant(
    config: Config,
    requested: str | None,
    nvcc_version: str | None,
    looked: Iterable[str] = ("nvcc on PATH", "CUDA_HOME", "/usr/local/cuda"),
) -> tuple[Variant, str]:
    """Resolve `auto` and check a CUDA variant against the host's nvcc; returns (variant, why)."""
    if requested == "auto":
        for variant in config.variants.values():
            if variant.cuda and variant.cuda == nvcc_version:
                return variant, f"auto: nvcc {nvcc_version} found, picked '{variant.name}'"
        fallback = "cpu" if "cpu" in config.variants else next(iter(config.variants))
        reason = (
            f"nvcc {nvcc_version} matches no variant" if nvcc_version else "no nvcc on this host"
        )
        return config.variant(fallback), f"auto: {reason}, picked '{fallback}'"
    variant = config.variant(requested)
    if variant.cuda and nvcc_version is None:
        raise PipelineError(
            f"variant '{variant.name}' needs the CUDA {variant.cuda} toolkit but none was "
            f"found (looked at: {', '.join(looked)}; a toolkit has bin/nvcc and "
            "include/cuda_runtime.h); install it, fix CUDA_HOME, or pick --variant cpu."
        )
    if variant.cuda and variant.cuda != nvcc_version:
        raise PipelineError(
            f"variant '{variant.name}' needs CUDA {variant.cuda} but nvcc here is "
            f"{nvcc_version}; point CUDA_HOME at a {variant.cuda} toolkit or pick --variant auto."
        )
    return variant, f"variant '{variant.name}' as requested"


def parse_ccache_stats(text: str) -> dict[str, Any]:
    """Hits, misses and hit rate from `ccache --print-stats` (tab-separated key/value lines)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition("\t")
        if value.strip().isdigit():
            values[key.strip()] = int(value)
    hits = values.get("direct_cache_hit", 0) + values.get("preprocessed_cache_hit", 0)
    misses = values.get("cache_miss", 0)
    total = hits + misses
    return {
        "hits": hits,
        "misses": misses,
        "hit_rate": round(hits / total, 3) if total else None,
        "remote": remote_stats(values),
    }


def compile_record(ninja_log: str, since_ns: int = 0) -> dict[str, Any]:
    """Object files ninja wrote at or after `since_ns` and the wall time they took.

    `.ninja_log` (v5+) lines are `start_ms end_ms mtime_ns output hash`; the start and end are
    relative to each ninja run, so only the outputs of one run (selected by their mtime) span a
    meaningful interval. ccache's hits are written too, so a warm build counts the same units.
    """
    spans = []
    for line in ninja_log.splitlines():
        fields = line.split("\t")
        if line.startswith("#") or len(fields) < 4 or not fields[3].endswith((".o", ".obj")):
            continue
        if not (fields[0].isdigit() and fields[1].isdigit() and fields[2].isdigit()):
            continue
        if int(fields[2]) >= since_ns:
            spans.append((int(fields[0]), int(fields[1])))
    if not spans:
        return {"units": 0, "seconds": None}
    seconds = (max(end for _, end in spans) - min(start for start, _ in spans)) / 1000
    return {"units": len(spans), "seconds": seconds}


# Compiler flags that generate code for the build host's CPU (or GPU, nvcc's -arch=native):
# the wheel then fails with "illegal instruction" on an older machine.
HOST_CODEGEN_FLAGS = frozenset(
    {
        "-march=native",
        "-mtune=native",
        "-mcpu=native",
        "-arch=native",
        "--gpu-architecture=native",
        "-xHost",
    }
)


def host_codegen(compile_commands: str, source: str = "") -> list[tuple[str, str]]:
    """(flag, where) of each host-specific flag in a CMake compile_commands.json: `where` is
    the compiled file (relative to `source`) and its target."""
    try:
        entries = json.loads(compile_commands)
    except ValueError as exc:
        raise PipelineError(f"compile_commands.json is not valid JSON ({exc}).") from exc
    found = []
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict):
            continue
        words = entry.get("arguments") or _split(str(entry.get("command", "")))
        for flag in dict.fromkeys(w for w in words if w in HOST_CODEGEN_FLAGS):
            found.append((flag, _compiled(entry, words, source)))
    return found


def _split(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:  # an unbalanced quote: the words are still worth a look
        return command.split()


def _compiled(entry: Mapping[str, Any], words: list[str], source: str) -> str:
    """'cpp/demo.cc (target demo)' for a compile_commands.json entry (the target from its
    object's path: `output`, CMake 3.20+ with some generators, else the command's -o)."""
    file = str(entry.get("file", "?"))
    if source and file.startswith(source.rstrip("/") + "/"):
        file = file[len(source.rstrip("/")) + 1 :]
    output = entry.get("output") or next(
        (after for before, after in zip(words, words[1:]) if before == "-o"), ""
    )
    target = re.search(r"CMakeFiles/([^/]+)\.dir/", str(output))
    return f"{file} (target {target[1]})" if target else file


def host_codegen_problem(found: list[tuple[str, str]], variant: str) -> str:
    """One line for the build's host-specific flags: each flag, where it was first seen, the
    fix."""
    flags: dict[str, list[str]] = {}
    for flag, where in found:
        flags.setdefault(flag, []).append(where)
    seen = "; ".join(
        f"{flag} compiles {places[0]}" + (f" and {len(places) - 1} more" if len(places) > 1 else "")
        for flag, places in flags.items()
    )
    return (
        f"the build generated code for this host's CPU ({seen}): the wheel would crash with an "
        "illegal instruction on older machines; turn the project's native option off or pass "
        f"a portable baseline in [variants.{variant}].cmake_define (e.g. GGML_NATIVE = false, "
        'CMAKE_CXX_FLAGS = "-march=x86-64-v2"), or set [wheel].allow_host_codegen = true'
    )


def matches(name: str, patterns: Iterable[str]) -> bool:
    """True when `name` matches one of the glob `patterns`."""
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


def wheel_version(filename: str) -> str:
    """The version in a wheel's file name (PEP 427), normalised."""
    try:
        _, version, _, _ = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion) as exc:
        raise PipelineError(f"{filename} is not a valid wheel file name ({exc}).") from exc
    return str(version)


def wheel_tags(wheel_name: str) -> list[str]:
    """Platform tags of a wheel file name ('a-1-py3-none-x.y.whl' -> ['x', 'y'])."""
    return wheel_name.removesuffix(".whl").split("-")[-1].split(".")


def external_libraries(audit: Mapping[str, Any], tags: Iterable[str] = ()) -> list[str]:
    """Sonames from outside the wheel that its own platform tags do not allow, per
    `auditwheel show --json`.

    auditwheel's `external_libs` is computed for its strictest policy (manylinux_2_5), so it
    names libmvec.so.1, which manylinux_2_24 and newer allow. `policy_upgrades[<tag>]` lists
    what one stricter policy than the wheel meets would have to eliminate; a tag without an
    entry there needs nothing eliminated. Without a policy tag (linux_x86_64), or from an
    auditwheel without `policy_upgrades`, the strict list stands.
    """
    upgrades = audit.get("policy_upgrades")
    policies = [_policy_name(tag) for tag in tags if tag.startswith(("manylinux", "musllinux"))]
    if not policies or upgrades is None:
        return sorted(audit.get("external_libs", {}))
    return sorted(
        {lib for name in policies for lib in upgrades.get(name, {}).get("libs_to_eliminate", ())}
    )


def _policy_name(tag: str) -> str:
    """auditwheel's policy name for a tag: the PEP 600 spelling of a legacy alias."""
    legacy = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_(\w+)", tag)
    if not legacy:
        return tag
    major, minor = _LEGACY_GLIBC[legacy[1]]
    return f"manylinux_{major}_{minor}_{legacy[2]}"


def audit_problems(
    audit: Mapping[str, Any], wheel_name: str, plat: str, excludes: Iterable[str]
) -> list[str]:
    """Problems in a repaired wheel: a tag other than the expected one, libraries from outside
    the wheel that its tag does not allow and nothing excludes."""
    problems = []
    tags = wheel_tags(wheel_name)
    if plat not in ("", "auto"):
        if plat not in tags:
            problems.append(f"wheel is tagged {'.'.join(tags)}, expected {plat}")
    elif not any(tag.startswith(("manylinux", "musllinux")) for tag in tags):
        problems.append(f"wheel has no manylinux tag ({'.'.join(tags)})")
    if audit.get("pure"):
        problems.append("auditwheel sees a pure-Python wheel: the native libraries are missing")
    for lib in external_libraries(audit, tags):
        if not matches(lib, excludes):
            problems.append(f"external library {lib} is neither grafted nor excluded")
    return problems


def content_problems(  # pylint: disable=too-many-arguments
    names: list[str],
    expected: Iterable[str],
    excluded: Iterable[str],
    distribution: str,
    *,
    packed: Iterable[str] = (),
    allowed: Iterable[str] = (),
) -> list[str]:
    """check-wheel-contents style rules over the zip member names of a wheel.

    `packed`: paths (globs) of libraries the project ships itself even where their sonames are
    excluded from the repair (MLC-LLM's mlc_llm/lib/libtvm_runtime.so); each must be there.
    `allowed`: paths (globs) the stray-file rule lets through.
    """
    problems = []
    seen: set[str] = set()
    packed, allowed = tuple(packed), tuple(allowed)
    for name in names:
        if name in seen:
            problems.append(f"duplicate entry {name}")
        seen.add(name)
        if matches(name, STRAY_PATTERNS) and not matches(name, allowed):
            problems.append(f"stray build file {name}")
        if matches(PurePosixPath(name).name, excluded) and not matches(name, packed):
            problems.append(
                f"{name} is on the exclude list but was packed into the wheel (list it in "
                "[wheel].packed if the project ships it itself)"
            )
    for path in expected:
        if path not in seen:
            problems.append(f"expected file {path} is missing")
    for pattern in packed:
        if not any(matches(name, (pattern,)) for name in seen):
            problems.append(f"[wheel].packed names {pattern}, which the wheel lacks")
    problems += top_level_problems(names, allowed)
    dist_info = {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")}
    normalised = re.sub(r"[-_.]+", "_", distribution).lower()
    if not any(d.lower().startswith(normalised + "-") for d in dist_info):
        problems.append(f"no {normalised}-*.dist-info in the wheel (found {sorted(dist_info)})")
    return problems


# Where CMake's install() puts files without a DESTINATION under the package (and the test
# folders a package finder picks up): installed as they are, they land in site-packages itself.
INSTALL_TREE_DIRS = frozenset(
    {"bin", "sbin", "lib", "lib64", "libexec", "include", "share", "etc", "man", "doc", "docs"}
    | {"test", "tests", "cmake"}
)
# The directories of <name>.data/ the wheel spec defines (PEP 427).
DATA_SCHEMES = ("purelib", "platlib", "headers", "scripts", "data")


def top_level_problems(names: Iterable[str], allowed: Iterable[str] = ()) -> list[str]:
    """Top-level folders of a wheel that are not its own: a wheel installs its packages (a
    folder with Python files), `*.libs` folders, its `.dist-info` and `.data` (with the spec's
    schemes) and top-level modules into site-packages; an install-tree folder (lib/, include/,
    bin/, share/, tests/) or a folder without Python files would land there as it is.
    `allowed` (globs, [wheel].allow_files) lets a folder through when it matches `<folder>/`
    or every file in it does."""
    allowed = tuple(allowed)
    folders: dict[str, list[str]] = {}
    for name in names:
        top, slash, _ = name.partition("/")
        if slash:
            folders.setdefault(top, []).append(name)
    problems = []
    for top, members in sorted(folders.items()):
        if top.endswith((".dist-info", ".libs")):
            continue
        if top.endswith(".data"):
            schemes = sorted({m.split("/")[1] for m in members} - set(DATA_SCHEMES))
            problems += [
                f"{top}/{s}/ is no wheel data scheme ({', '.join(DATA_SCHEMES)})" for s in schemes
            ]
            continue
        package = any(m.endswith(".py") for m in members)
        if (package and top not in INSTALL_TREE_DIRS) or matches(f"{top}/", allowed):
            continue
        if all(matches(m, allowed) for m in members):
            continue
        why = "an install-tree folder" if top in INSTALL_TREE_DIRS else "no Python package"
        problems.append(
            f"top-level folder {top}/ ({len(members)} files, e.g. {members[0]}) is {why} and "
            "would be installed into site-packages as it is; install it under the package "
            f"(install(... DESTINATION <package>/...)), or list '{top}/*' in [wheel].allow_files"
        )
    return problems


LIBRARY_FILE = re.compile(r".*\.(so(\.[\w.]+)?|dll)$")

Links = tuple[str, tuple[str, ...], tuple[str, ...]]  # (soname, NEEDED, RUNPATH directories)


def unreachable_siblings(libraries: Mapping[str, Links], excluded: Iterable[str]) -> list[str]:
    """Libraries that need a library the wheel packs where their RUNPATH does not look.

    `libraries`: zip member -> its links. Only $ORIGIN-relative entries count (an absolute
    RUNPATH names the build host, not the installed wheel). A needed soname that is excluded
    from the repair comes from another wheel at run time (MLC-LLM's libtvm_runtime.so from the
    paired TVM wheel), so an unreachable packed copy of it is not a failure.
    """
    holders: dict[str, list[str]] = {}
    for path, (soname, _, _) in libraries.items():
        for name in dict.fromkeys((soname, PurePosixPath(path).name)):
            holders.setdefault(name, []).append(path)
    excluded = tuple(excluded)
    problems = []
    for path, (_, needed, search) in sorted(libraries.items()):
        reached = set(_origin_dirs(posixpath.dirname(path), search))
        for soname in needed:
            found = holders.get(soname, [])
            if not found or matches(soname, excluded):
                continue
            if not any(posixpath.normpath(posixpath.dirname(f)) in reached for f in found):
                looks = ":".join(search) or "no RUNPATH"
                problems.append(
                    f"{path} needs {soname}, which the wheel has at {', '.join(found)}, but its "
                    f"RUNPATH ({looks}) does not reach it"
                )
    return problems


def _origin_dirs(origin: str, search: Iterable[str]) -> Iterable[str]:
    """The wheel directories the $ORIGIN entries of a RUNPATH name."""
    for entry in search:
        for prefix in ("$ORIGIN", "${ORIGIN}"):
            if entry == prefix or entry.startswith(prefix + "/"):
                yield posixpath.normpath(posixpath.join(origin, entry[len(prefix) :].lstrip("/")))


def duplicate_libraries(members: Iterable[tuple[str, int, int]]) -> list[dict[str, Any]]:
    """Libraries packed more than once with the same bytes, from (name, CRC-32, size) of the
    zip members: [{"paths": [...], "size": bytes of one copy}], largest first."""
    groups: dict[tuple[int, int], list[str]] = {}
    for name, crc, size in members:
        if LIBRARY_FILE.fullmatch(name) and size:
            groups.setdefault((crc, size), []).append(name)
    found = [{"paths": sorted(p), "size": key[1]} for key, p in groups.items() if len(p) > 1]
    return sorted(found, key=lambda group: (-group["size"], group["paths"]))


def grafted(raw_names: Iterable[str], repaired_names: Iterable[str]) -> list[str]:
    """Libraries auditwheel copied into the wheel."""
    before = set(raw_names)
    return sorted(n for n in repaired_names if n not in before and ".so" in n)


def smoke_requirements(metadata: str, skip: Iterable[str]) -> tuple[list[str], list[str]]:
    """(the Requires-Dist a smoke venv installs, the ones `skip` leaves out) of a wheel's
    METADATA; requirements of extras are never installed."""
    skipped = {canonicalize_name(name) for name in skip}
    kept, left_out = [], []
    for line in metadata.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        text = line.split(":", 1)[1].strip()
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            raise PipelineError(
                f"the wheel's METADATA has a bad Requires-Dist {text!r}: {exc}."
            ) from exc
        if requirement.marker and "extra" in str(requirement.marker):
            continue
        (left_out if canonicalize_name(requirement.name) in skipped else kept).append(text)
    return kept, left_out


def smoke_argv(command: str, venv_bin: str) -> tuple[str, ...]:
    """A smoke command with `python` bound to the verification venv."""
    argv = shlex.split(command)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = f"{venv_bin}/python"
    return tuple(argv)


# PEP 600's legacy aliases and the glibc each one promises.
_LEGACY_GLIBC = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}

# Run inside the builder container before the backend: launchers naming a ccache the image lacks
# would fail CMake's configure, so the image decides whether ccache runs.
CONTAINER_PRELUDE = (
    "command -v ccache >/dev/null || unset CMAKE_C_COMPILER_LAUNCHER "
    'CMAKE_CXX_COMPILER_LAUNCHER CMAKE_CUDA_COMPILER_LAUNCHER; exec "$@"'
)


def plat_glibc(plat: str) -> tuple[int, int] | None:
    """The glibc a manylinux tag promises to need at most: manylinux_2_28_x86_64 -> (2, 28)."""
    match = re.fullmatch(r"manylinux_(\d+)_(\d+)_\w+", plat)
    if match:
        return int(match[1]), int(match[2])
    legacy = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_\w+", plat)
    return _LEGACY_GLIBC[legacy[1]] if legacy else None


def container_plat(
    configured: str, getconf: str, image: str, setting: str = "[wheel].plat", arch: str = "x86_64"
) -> str:
    """The tag of a wheel built in `image`: the image's glibc (`getconf GNU_LIBC_VERSION`)
    decides it; an explicit plat (`setting` names who set it) must not promise an older glibc
    than the image has."""
    match = re.fullmatch(r"glibc (\d+)\.(\d+)\S*", getconf.strip())
    if not match:
        raise PipelineError(
            f"the builder image {image} reports no glibc (getconf GNU_LIBC_VERSION printed "
            f"{getconf.strip()!r}); --container builds manylinux wheels in a glibc image "
            "(Debian, AlmaLinux, a manylinux image)."
        )
    found = int(match[1]), int(match[2])
    own = f"manylinux_{found[0]}_{found[1]}_{arch}"
    if configured in ("", "auto"):
        return own
    promised = plat_glibc(configured)
    if promised is None:
        raise PipelineError(
            f"{setting} is {configured}, not a manylinux tag; a --container build makes "
            f"manylinux wheels: set it to auto (here {own}) or a manylinux_X_Y_{arch} tag."
        )
    if found > promised:
        raise PipelineError(
            f"the builder image {image} has glibc {found[0]}.{found[1]}, newer than {configured} "
            f"allows ({promised[0]}.{promised[1]}); build in an image with an older glibc, or set "
            f"{setting} to {own}."
        )
    return configured


def expected_comment(version_line: str) -> str | None:
    """What GCC writes into `.comment` for the compiler whose `c++ --version` starts with
    `version_line` ("c++ (Debian 10.2.1-6) 10.2.1 20210110" -> "GCC: (Debian 10.2.1-6) 10.2.1
    20210110"); None for a compiler that is not GCC."""
    match = re.fullmatch(r"\S+ (\(.+\) \d+\.\d+.*)", version_line.strip())
    return f"GCC: {match[1]}" if match else None


def compiler_problems(found: Mapping[str, Iterable[str]], expected: str, image: str) -> list[str]:
    """Libraries (name -> their `.comment` strings) that the image's compiler did not build."""
    return [
        f"{name} was not compiled in {image}: its .comment has "
        f"{', '.join(strings) or 'nothing'}, not {expected!r}"
        for name, strings in found.items()
        if expected not in strings
    ]


def setup_dockerfile(base: str, lines: Iterable[str]) -> str:
    """The builder image with its setup lines ([container].setup, then the variant's
    container_setup) baked on, as root: a base may end as another user (the build itself runs
    as the caller's user)."""
    return "\n".join(
        [f"{MARKER}: the wheels-linux --container builder", f"FROM {base}", "USER root", *lines, ""]
    )


def setup_image(variant: str, dockerfile: str) -> str:
    """The local name of a baked builder: per variant, tagged by its Dockerfile's content, so an
    unchanged setup is built once and a changed one never reuses a stale image."""
    return f"mlc-ci/wheel-builder-{variant}:{hashlib.sha256(dockerfile.encode()).hexdigest()[:12]}"


def outermost(paths: Iterable[str]) -> list[str]:
    """The paths not inside another one of them (the bind mounts that cover them all)."""
    unique = sorted({str(PurePosixPath(p)) for p in paths})
    return [p for p in unique if not any(p.startswith(q.rstrip("/") + "/") for q in unique)]


def container_argv(  # pylint: disable=too-many-arguments
    docker: str,
    image: str,
    inner: Iterable[str],
    *,
    mounts: Iterable[str],
    env_names: Iterable[str],
    user: str,
    network: str = "host",
) -> tuple[str, ...]:
    """`inner` in a fresh builder container: each host path mounted at the same path (so the
    build's absolute paths, ccache's base dir and the prefix maps hold), run as the host's user
    (the outputs stay the caller's), and the environment passed by name only (a secret in it
    never appears in a command line)."""
    argv = [docker, "run", "--rm", "--network", network, "--user", user]
    for path in outermost(mounts):
        argv += ["--volume", f"{path}:{path}"]
    for name in sorted(set(env_names)):
        argv += ["--env", name]
    return (*argv, "--entrypoint", "sh", image, "-c", CONTAINER_PRELUDE, "sh", *inner)


# One zip member as the comparison sees it: name, CRC-32, size, timestamp, mode bits.
Member = tuple[str, int, int, tuple[int, ...], int]


def wheel_differences(first: list[Member], second: list[Member]) -> list[str]:
    """How two builds of one wheel differ, member by member ([] when they do not)."""
    problems = []
    a, b = {m[0]: m for m in first}, {m[0]: m for m in second}
    for name in sorted(a.keys() - b.keys()):
        problems.append(f"{name} only in the first build")
    for name in sorted(b.keys() - a.keys()):
        problems.append(f"{name} only in the rebuild")
    for name in sorted(a.keys() & b.keys()):
        (_, crc1, size1, time1, mode1), (_, crc2, size2, time2, mode2) = a[name], b[name]
        if crc1 != crc2:
            problems.append(f"{name}: contents differ ({size1} vs {size2} bytes)")
        elif time1 != time2:
            problems.append(f"{name}: timestamps differ ({_stamp(time1)} vs {_stamp(time2)})")
        elif mode1 != mode2:
            problems.append(f"{name}: file modes differ ({mode1 >> 16:o} vs {mode2 >> 16:o})")
    same = [m[0] for m in first if m[0] in b] == [m[0] for m in second if m[0] in a]
    if not same:
        problems.append("the members are stored in a different order")
    return problems


def _stamp(date_time: tuple[int, ...]) -> str:
    year, month, day, hour, minute, second = date_time
    return f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}"
