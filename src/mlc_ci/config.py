"""Typed pipeline configuration: pipeline.toml, validated, with MLC_CI_* environment overrides.

Precedence, highest first: command-line flags (applied by the sessions), environment variables
(ENV_OVERRIDES below), the pipeline.toml file, the defaults of the dataclasses here.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from mlc_ci.errors import PipelineError
from mlc_ci.plan.cache import scheme_problem, url_for_display

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised by the 3.10 unit session
    import tomli as tomllib

DEFAULT_CONFIG = "pipeline.toml"
FRONTENDS = ("pip", "build", "uv")
BUILDERS = ("auto", "buildx", "buildkit")
SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
SCHEMA = 1
# auditwheel's platform tags: its policies (manylinux_X_Y, the PEP 600 aliases, musllinux) for
# the architectures it repairs, or linux_<arch> (no repair) or auto.
_ARCH = r"(x86_64|i686|aarch64|ppc64le|s390x|armv7l|riscv64|loongarch64)"
PLAT_RE = re.compile(
    rf"auto|linux_{_ARCH}|manylinux_\d+_\d+_{_ARCH}|manylinux(1|2010|2014)_{_ARCH}"
    rf"|musllinux_\d+_\d+_{_ARCH}"
)
CMAKE_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# CMake variables scikit-build-core owns: it drops them from CMAKE_ARGS with a warning.
BACKEND_OWNED = ("CMAKE_BUILD_TYPE", "CMAKE_INSTALL_PREFIX")
# The one placeholder a config value may hold, and the keys that take it.
PLACEHOLDERS = {"delvewheel_add_path": ("{cuda_home}",)}
# [project].build_requires: the build tools whose version scikit-build-core picks for the build.
BUILD_TOOLS = {"cmake": "SKBUILD_CMAKE_VERSION", "ninja": "SKBUILD_NINJA_VERSION"}

ConfigValue = typing.Union[bool, int, str]


@dataclass(frozen=True)
class Project:
    """The source project: where it is and what it ships."""

    name: str
    source: str
    distribution: str  # default: `name` (filled in by load)
    package: str = ""
    cli: str = ""
    description: str = ""
    url: str = ""
    license: str = ""
    build_requires: tuple[str, ...] = ()
    # Cargo manifests (relative to the source) the build compiles: preflight checks cargo and
    # that their crates resolve offline (MLC_CI_WAIVE=cargo|crates waives a check).
    cargo_manifests: tuple[str, ...] = ()
    # "git": the version of the git repository holding the source, stamped into its
    # pyproject.toml for the build; "pyproject": the version written there, as it is;
    # "backend": the version the project's backend writes (its provider, or an unpacked sdist's
    # PKG-INFO), never stamped; "auto": "backend" for a dynamic version or an sdist, else "git".
    version: str = "auto"


VERSION_SOURCES = ("auto", "git", "pyproject", "backend")


@dataclass(frozen=True)
class Python:
    """Python versions of the test matrix."""

    versions: tuple[str, ...] = ("3.10", "3.11", "3.12", "3.13")
    default: str = "3.12"


@dataclass(frozen=True)
class Lint:
    """What the lint session checks."""

    paths: tuple[str, ...] = ("src", "tests", "noxfile.py")


@dataclass(frozen=True)
class ContainerBuild:
    """wheels-linux --container: the builder image the project's backend runs in."""

    linux_wheels: bool = False  # build in it unless --no-container (CI's Linux wheels)
    image: str = "quay.io/pypa/manylinux_2_28_x86_64"  # a variant's manylinux_image wins
    base: str = ""  # where a missing image is made from (docker/Dockerfile's toolchain stage)
    python: str = "python3"  # the image's interpreter that drives pip
    # Dockerfile lines (RUN/ENV/ARG/WORKDIR) baked onto the image, before the variant's.
    setup: tuple[str, ...] = ()


@dataclass(frozen=True)
class Wheel:  # pylint: disable=too-many-instance-attributes
    """How wheels are built, repaired and verified."""

    frontend: str = "pip"
    plat: str = "auto"
    ccache_dir: str = ".cache/ccache"
    mingw_toolchain: str = ""
    dist_dir: str = "dist"
    tests: str = ""  # the source's own pytest suite (relative to it), run in the ci image
    auditwheel_exclude: tuple[str, ...] = ()
    expected_files: tuple[str, ...] = ()
    # Libraries the project ships itself although their sonames are excluded (globs over paths).
    packed: tuple[str, ...] = ()
    # Paths (globs) the stray-build-file rule lets through (MLC-LLM's static archives).
    allow_files: tuple[str, ...] = ()
    # A build compiled for the build host's CPU (-march=native) crashes on older ones; true
    # lets such a wheel through verification.
    allow_host_codegen: bool = False
    smoke: tuple[str, ...] = ()
    # Requires-Dist the smoke venv leaves out, by name (MLC-LLM: torch, which no smoke imports);
    # a variant's smoke_requires adds what its own checks need.
    smoke_skip: tuple[str, ...] = ()
    # One wheel per Python of [python].versions (C extensions: cp3XY-cp3XY), one for all
    # (py3-none, abi3), or "auto": what the backend's own settings say (plan/pythons.py).
    per_python: typing.Union[bool, str] = "auto"


@dataclass(frozen=True)
class Image:
    """The container image and the engine that builds it."""

    name: str = ""
    default_branch: str = "main"
    docker: str = "docker"
    builder: str = "auto"
    network: str = "host"
    dockerfile: str = "docker/Dockerfile"
    toolchain: tuple[str, ...] = ()
    size_budget_mb: dict[str, int] = field(default_factory=dict)
    # The variants that get images (docker-build, integration, trivy); default: the default one.
    variants: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scan:
    """Vulnerability scan policy."""

    severity: str = "HIGH,CRITICAL"
    ignore_unfixed: bool = True
    ignore_file: str = ".trivyignore"


@dataclass(frozen=True)
class Cache:
    """The shared compile cache: a ccache remote storage URL, and whether this host writes."""

    remote: str = ""
    read_only: bool = False


@dataclass(frozen=True)
class Pair:
    """The runtime wheel the project's wheel pairs with (MLC-LLM: TVM's runtime wheel).

    The project's wheel excludes `libraries` from its repair and requires the pair's
    distribution at exactly the version it was built against. With `source` (relative to
    [project].source) the pipeline builds the pair too; without, it comes from its channel only:
    a PEP 503 index (`index`) or a flat page of wheel links (`find_links`, as mlc.ai/wheels).
    """

    distribution: str = ""
    source: str = ""
    index: str = ""
    find_links: str = ""
    libraries: tuple[str, ...] = ()
    # The exact version, for a wheel that declares no Requires-Dist on the pair (MLC-LLM's).
    version: str = ""

    @property
    def enabled(self) -> bool:
        """True when the project's wheel pairs with a runtime wheel."""
        return bool(self.distribution)


@dataclass(frozen=True)
class Release:
    """Where releases go, and which version a release tag gives."""

    github: bool = True
    index_url: str = "https://upload.pypi.org/legacy/"
    gpu_runner: str = "self-hosted,gpu"
    # "source": a release tag must equal the version the source builds at; "tag": a release
    # tag of the repository holding pipeline.toml, at the built commit, is the version of every
    # wheel and image built there (the git rule stamps it; MLC-LLM's submodule pin is recorded).
    version_from: str = "source"
    # The distribution names the project holds on index_url: a wheel of a variant with
    # `pypi = true` under another name is refused before anything is uploaded.
    pypi_names: tuple[str, ...] = ()


VERSIONS_FROM = ("source", "tag")


@dataclass(frozen=True)
class Index:
    """The wheel index (plan/index.py): where users read it and where its wheels are stored."""

    # Where the tree is served (GitHub Pages); `index select` prints install lines under it.
    url: str = ""
    # Where the wheels are downloaded from (release assets); "" keeps them inside the tree.
    files_url: str = ""
    max_age_days: int = 3
    # The GitHub release whose assets hold the nightly wheels (with a files_url).
    nightly_release: str = "nightly"


@dataclass(frozen=True)
class WindowsCuda:
    """NVIDIA's Windows network installer, which wheels-windows runs where the host's CUDA is
    not the variant's: its URL, its sha256, and the subpackages to install (without the
    `_<major.minor>` suffix the installer wants)."""

    installer: str = ""
    sha256: str = ""
    components: tuple[str, ...] = ()


@dataclass(frozen=True)
class Variant:  # pylint: disable=too-many-instance-attributes
    """One backend build: config.cmake entries, images, repair rules, smoke checks."""

    name: str
    distribution: str
    config: dict[str, ConfigValue] = field(default_factory=dict)
    # CMake definitions passed through the backend (CMAKE_ARGS), for a project that takes its
    # options on the command line (-DGGML_CUDA=ON) rather than from a config.cmake.
    cmake_define: dict[str, ConfigValue] = field(default_factory=dict)
    # Entries that replace `config`'s in Windows builds (MLC-LLM: NCCL exists for Linux only).
    windows_config: dict[str, ConfigValue] = field(default_factory=dict)
    cuda: str = ""
    builder_image: str = ""
    runtime_image: str = ""
    toolchain: tuple[str, ...] = ()
    auditwheel_exclude: tuple[str, ...] = ()
    delvewheel_exclude: tuple[str, ...] = ()
    delvewheel_add_path: tuple[str, ...] = ()
    expected_files: tuple[str, ...] = ()
    smoke: tuple[str, ...] = ()
    smoke_requires: tuple[str, ...] = ()
    manylinux_image: str = ""
    container_setup: tuple[str, ...] = ()
    windows: bool = True
    # The pair's distribution for this variant (MLC-LLM: mlc-ai-nightly-cu128); "" = [pair]'s.
    pair_distribution: str = ""
    # gpu-smoke's strict device checks on a GPU host (default: the variant's smoke commands).
    gpu_smoke: tuple[str, ...] = ()
    windows_cuda: WindowsCuda = field(default_factory=WindowsCuda)
    # The variant's wheels (and its built pair's) go to [release].index_url (PyPI): opt-in.
    pypi: bool = False

    @property
    def is_cuda(self) -> bool:
        """True when the variant compiles CUDA code."""
        return bool(self.cuda)

    def on_windows(self) -> Variant:
        """The variant as a Windows build sees it: `windows_config` over `config`."""
        if not self.windows_config:
            return self
        return dataclasses.replace(self, config={**self.config, **self.windows_config})


@dataclass(frozen=True)
class Config:  # pylint: disable=too-many-instance-attributes
    """The resolved pipeline configuration."""

    path: Path
    project: Project
    variants: dict[str, Variant]
    python: Python = Python()
    lint: Lint = Lint()
    wheel: Wheel = Wheel()
    container: ContainerBuild = ContainerBuild()
    image: Image = Image()
    scan: Scan = Scan()
    release: Release = Release()
    cache: Cache = Cache()
    pair: Pair = Pair()
    index: Index = Index()
    schema: int = 1
    default_variant: str = ""
    # MLC_CI_VARIANT as given ("" when unset), the one place it is read: wheels-linux builds
    # `auto` when neither it nor --variant names one.
    variant_requested: str = ""
    # "section.key" -> the MLC_CI_* variable that set it: messages name who set a value.
    from_env: dict[str, str] = field(default_factory=dict)

    def set_by(self, key: str) -> str:
        """Who set `key` ("section.key"): the variable, or the key in this file."""
        var = self.from_env.get(key)
        section, _, name = key.partition(".")
        return f"{var} (environment)" if var else f"[{section}].{name} in {self.path}"

    @property
    def root(self) -> Path:
        """The directory of pipeline.toml; relative paths in it start here."""
        return self.path.parent

    @property
    def source_dir(self) -> Path:
        """The source project's directory."""
        return (self.root / self.project.source).resolve()

    @property
    def pair_source(self) -> Path | None:
        """The pair's source directory when the pipeline builds it."""
        if not self.pair.source:
            return None
        return (self.source_dir / self.pair.source).resolve()

    def pair_distribution(self, variant: Variant) -> str:
        """The distribution `variant`'s wheel pairs with ('' when it pairs with none)."""
        return variant.pair_distribution or self.pair.distribution

    def variant(self, name: str | None = None) -> Variant:
        """The named variant (or the default one); a clear error when it is not configured."""
        name = name or self.default_variant
        if name not in self.variants:
            known = ", ".join(self.variants)
            raise PipelineError(
                f"unknown variant '{name}' in {self.path}; pick one of: {known} "
                "(or add a [variants.<name>] table)."
            )
        return self.variants[name]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view, as printed by `python -m mlc_ci config`."""
        data = dataclasses.asdict(self)
        data["path"] = str(self.path)
        data["source_dir"] = str(self.source_dir)
        data["cache"]["remote"] = url_for_display(self.cache.remote)  # no password on screen
        return data


# Environment variable -> (section, key). MLC_CI_CONFIG and MLC_CI_VARIANT are handled apart.
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "MLC_CI_SOURCE": ("project", "source"),
    "MLC_CI_PLAT": ("wheel", "plat"),
    "MLC_CI_CONTAINER": ("container", "linux_wheels"),
    "MLC_CI_CCACHE_DIR": ("wheel", "ccache_dir"),
    "MLC_CI_DIST_DIR": ("wheel", "dist_dir"),
    "MLC_CI_IMAGE": ("image", "name"),
    "MLC_CI_DOCKER": ("image", "docker"),
    "MLC_CI_BUILDER": ("image", "builder"),
    "MLC_CI_NETWORK": ("image", "network"),
    "MLC_CI_SCAN_SEVERITY": ("scan", "severity"),
    "MLC_CI_CACHE_REMOTE": ("cache", "remote"),
    "MLC_CI_CACHE_READ_ONLY": ("cache", "read_only"),
    "MLC_CI_INDEX_URL": ("index", "url"),
    "MLC_CI_INDEX_FILES_URL": ("index", "files_url"),
    "MLC_CI_RELEASE_GITHUB": ("release", "github"),
}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")

_SECTIONS: dict[str, type] = {
    "project": Project,
    "python": Python,
    "lint": Lint,
    "wheel": Wheel,
    "container": ContainerBuild,
    "image": Image,
    "scan": Scan,
    "release": Release,
    "cache": Cache,
    "pair": Pair,
    "index": Index,
}


def config_named(explicit: str | None, env: Mapping[str, str]) -> bool:
    """Whether a pipeline.toml is given (--config or MLC_CI_CONFIG) or ./pipeline.toml exists.

    An empty --config counts as given: `load` refuses it rather than fall back to another file.
    """
    return explicit is not None or bool(_env_config(env)) or Path(DEFAULT_CONFIG).is_file()


def _env_config(env: Mapping[str, str]) -> str:
    """MLC_CI_CONFIG, blank counting as unset: a workflow's `${{ vars.X }}` of an unset
    variable expands to "", which means "no choice made", as for the MLC_CI_* overrides."""
    value = env.get("MLC_CI_CONFIG", "")
    return value if value.strip() else ""


def config_path(
    explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] = os.environ
) -> Path:
    """Which pipeline.toml to read: the flag, else MLC_CI_CONFIG, else ./pipeline.toml."""
    if explicit is not None and not str(explicit).strip():
        # `--config "$UNSET_VAR"`: falling back to ./pipeline.toml would build another project.
        raise PipelineError(
            "--config is empty; pass the path of a pipeline.toml (e.g. --config "
            "examples/mini-llm/pipeline.toml), or leave --config out for ./pipeline.toml."
        )
    chosen = explicit or _env_config(env) or DEFAULT_CONFIG
    try:
        return Path(chosen).resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop before Python 3.13
        raise PipelineError(
            f"cannot resolve the configuration path {chosen} ({exc}); point --config or "
            "MLC_CI_CONFIG at a pipeline.toml file."
        ) from exc


def load(
    explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] = os.environ
) -> Config:
    """Read, override from the environment and validate the pipeline configuration."""
    path = config_path(explicit, env)
    fix = "point --config or MLC_CI_CONFIG at a pipeline.toml file"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PipelineError(
            f"no pipeline configuration at {path}; run from the repository root, or pass "
            "--config / set MLC_CI_CONFIG to a pipeline.toml."
        ) from exc
    except IsADirectoryError as exc:
        raise PipelineError(f"{path} is a directory, not a pipeline.toml; {fix}.") from exc
    except UnicodeDecodeError as exc:
        raise PipelineError(
            f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 TOML."
        ) from exc
    except OSError as exc:
        raise PipelineError(f"cannot read {path} ({exc.strerror or exc}); {fix}.") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PipelineError(f"{path}: malformed TOML: {exc}; fix the file.") from exc
    except RecursionError as exc:
        raise PipelineError(
            f"{path} nests arrays or tables too deeply to read; flatten the file."
        ) from exc
    return parse(raw, path, env)


def _env_value(var: str, value: str, section: str, key: str) -> Any:
    """An override's value, as the field's type (booleans from 1/0, true/false, yes/no)."""
    if typing.get_type_hints(_SECTIONS[section]).get(key) is not bool:
        return value
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise PipelineError(f"{var} (environment) is {value!r}; set it to 1 or 0 (true/false).")


class _Blame:
    """Who set a value: pipeline.toml, or an MLC_CI_* variable that overrode it."""

    def __init__(self, path: Path, overrides: Mapping[str, str]) -> None:
        self.path = path
        self.overrides = overrides  # "section.key" -> variable name

    def __call__(self, where: str) -> str:
        var = self.overrides.get(where)
        return f"{var} (environment)" if var else f"{self.path}: '{where}'"


def parse(raw: dict[str, Any], path: Path, env: Mapping[str, str] = os.environ) -> Config:
    """Turn the TOML document into a Config (pure apart from the env mapping it is given)."""
    _refuse_pyproject(raw, path)
    raw = {key: (dict(val) if isinstance(val, dict) else val) for key, val in raw.items()}
    overrides: dict[str, str] = {}
    for var, (section, key) in ENV_OVERRIDES.items():
        if env.get(var, "").strip():  # blank counts as unset (what a workflow expression gives)
            if "\x00" in env[var]:
                raise PipelineError(f"{var} (environment) holds a NUL byte; fix its value.")
            if not isinstance(raw.setdefault(section, {}), dict):
                raise PipelineError(
                    f"{path}: '{section}' must be a table for {var} to override "
                    f"{section}.{key}; write it as [{section}]."
                )
            raw[section][key] = _env_value(var, env[var], section, key)
            overrides[f"{section}.{key}"] = var
    blame = _Blame(path, overrides)
    allowed = set(_SECTIONS) | {"schema", "variants"}
    _reject_unknown(raw, allowed, "", path)
    schema = _typed(raw.get("schema", SCHEMA), int, "schema", blame)
    if schema != SCHEMA:
        raise PipelineError(
            f"{path}: schema {schema} is not supported; this mlc-ci reads schema = {SCHEMA}."
        )
    if "project" not in raw:
        raise PipelineError(
            f"{path}: missing [project] table; add one with at least 'name' and 'source'."
        )
    project_raw = raw["project"]
    # The distribution is the project's name unless it says otherwise (most projects ship one).
    if (
        isinstance(project_raw, dict)
        and "distribution" not in project_raw
        and "name" in project_raw
    ):
        raw["project"] = {**project_raw, "distribution": project_raw["name"]}
    sections = {
        name: _build(cls, raw.get(name, {}), name, blame) for name, cls in _SECTIONS.items()
    }
    variants_raw = raw.get("variants", {})
    if not isinstance(variants_raw, dict) or not variants_raw:
        raise PipelineError(f"{path}: no [variants.<name>] tables; define at least one variant.")
    # A project with one build per variant needs no distribution of its own per variant.
    project_name = sections["project"].distribution
    variants = {
        name: _build(
            Variant, {"distribution": project_name, **body, "name": name}, f"variants.{name}", blame
        )
        for name, body in _tables(variants_raw, "variants", path).items()
    }
    _check_distinct(variants, path)
    sections["wheel"] = _resolve_paths(sections["wheel"], path.parent, overrides)
    default_variant = env.get("MLC_CI_VARIANT") or next(iter(variants))
    config = Config(
        path=path,
        variants=variants,
        schema=schema,
        default_variant=default_variant,
        variant_requested=env.get("MLC_CI_VARIANT", ""),
        from_env=dict(overrides),
        **sections,
    )
    _check_values(config, blame)
    _check_source_inside(config, blame)
    if default_variant not in variants:
        raise PipelineError(
            f"unknown variant '{default_variant}' from MLC_CI_VARIANT (environment); {path} "
            f"defines: {', '.join(variants)} (set MLC_CI_VARIANT to one of them, or unset it)."
        )
    return config


# [project] keys of PEP 621 that a pipeline.toml's [project] table does not have.
_PEP621_ONLY = {
    "dependencies",
    "optional-dependencies",
    "requires-python",
    "dynamic",
    "readme",
    "authors",
    "maintainers",
    "classifiers",
    "keywords",
    "urls",
    "scripts",
    "gui-scripts",
    "entry-points",
}


def _refuse_pyproject(raw: Mapping[str, Any], path: Path) -> None:
    """A project's pyproject.toml passed as --config: say so, not "remove [build-system]"."""
    project = raw.get("project")
    pep621 = isinstance(project, dict) and bool(_PEP621_ONLY & set(project))
    if path.name != "pyproject.toml" and not pep621 and not {"build-system", "tool"} & set(raw):
        return
    near = next(
        (
            d / DEFAULT_CONFIG
            for d in (path.parent, *path.parents)
            if (d / DEFAULT_CONFIG).is_file()
        ),
        None,
    )
    example = f" (e.g. {near or 'examples/mini-llm/pipeline.toml'})"
    raise PipelineError(
        f"{path} is a Python project's pyproject.toml, not a pipeline.toml; pass --config the "
        f"pipeline.toml whose [project].source points at that project{example}."
    )


def _check_distinct(variants: Mapping[str, Variant], path: Path) -> None:
    """Two variants building one distribution would overwrite each other's wheels."""
    seen: dict[str, str] = {}
    for name, variant in variants.items():
        other = seen.setdefault(variant.distribution, name)
        if other != name:
            raise PipelineError(
                f"{path}: variants {other} and {name} both build {variant.distribution}; give "
                f"each its own 'distribution' (e.g. {variant.distribution}-{name})."
            )


def _resolve_paths(wheel: Wheel, root: Path, overrides: Mapping[str, str]) -> Wheel:
    """Directories from pipeline.toml are relative to it; from the environment, to the cwd."""
    values = {}
    for key in ("dist_dir", "ccache_dir"):
        if "\x00" in getattr(wheel, key):
            raise PipelineError(f"'wheel.{key}' holds a NUL byte; fix the path.")
        value = Path(getattr(wheel, key))
        base = Path.cwd() if f"wheel.{key}" in overrides else root
        values[key] = str(value if value.is_absolute() else (base / value).resolve())
    return dataclasses.replace(wheel, **values)


def _tables(data: Any, where: str, path: Path) -> dict[str, dict[str, Any]]:
    if not all(isinstance(v, dict) for v in data.values()):
        raise PipelineError(f"{path}: every entry under [{where}] must be a table.")
    return data


def _reject_unknown(data: Mapping[str, Any], allowed: set[str], where: str, path: Path) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        name = f"{where}.{unknown[0]}" if where else unknown[0]
        raise PipelineError(
            f"{path}: unknown key '{name}'; known keys here are {', '.join(sorted(allowed))} "
            "(fix the spelling or remove it)."
        )


def _build(cls: type, data: Any, where: str, blame: _Blame) -> Any:
    """Instantiate dataclass `cls` from a TOML table, checking keys and value types."""
    if not isinstance(data, dict):
        raise PipelineError(f"{blame.path}: '{where}' must be a table.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _reject_unknown(data, set(fields), where, blame.path)
    values = {}
    for name, value in data.items():
        values[name] = _typed(value, hints[name], f"{where}.{name}", blame)
    missing = [
        name
        for name, spec in fields.items()
        if name not in values
        and spec.default is dataclasses.MISSING
        and spec.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise PipelineError(f"{blame.path}: missing key '{where}.{missing[0]}'; add it.")
    return cls(**values)


def _typed(  # pylint: disable=too-many-return-statements  # one return per TOML type
    value: Any, hint: Any, where: str, blame: _Blame
) -> Any:
    """Check one value against the field's type; tuples come from TOML arrays."""
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where, blame)
    origin = typing.get_origin(hint)
    if origin is tuple:
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(value)
        return _wrong(where, "an array of strings", value, blame)
    if origin is dict:
        value_hint = typing.get_args(hint)[1]
        if not isinstance(value, dict):
            return _wrong(where, "a table", value, blame)
        return {k: _typed(v, value_hint, f"{where}.{k}", blame) for k, v in value.items()}
    if origin is typing.Union:
        if isinstance(value, typing.get_args(hint)):
            return value
        names = [{bool: "boolean", int: "integer", str: "string"}[a] for a in typing.get_args(hint)]
        expected = f"a {', '.join(names[:-1])} or {names[-1]}"
        return _wrong(where, expected, value, blame)
    if hint is int and isinstance(value, bool):
        return _wrong(where, "an integer", value, blame)
    if hint is bool and isinstance(value, str) and where in blame.overrides:
        return _wrong(where, "true or false", value, blame)
    if isinstance(value, hint):
        return value
    return _wrong(where, f"a {hint.__name__}", value, blame)


def _wrong(where: str, expected: str, value: Any, blame: _Blame) -> Any:
    raise PipelineError(f"{blame(where)} must be {expected}, not {value!r}; fix the value.")


def _bad(blame: _Blame, where: str, problem: str) -> PipelineError:
    return PipelineError(f"{blame(where)} {problem}.")


def _check_values(config: Config, blame: _Blame) -> None:
    """Enumerated values and cross-field rules the types cannot express."""
    checks = [
        ("wheel.frontend", config.wheel.frontend, FRONTENDS),
        ("image.builder", config.image.builder, BUILDERS),
        ("project.version", config.project.version, VERSION_SOURCES),
        ("release.version_from", config.release.version_from, VERSIONS_FROM),
    ]
    for where, value, allowed in checks:
        if value not in allowed:
            raise _bad(blame, where, f"is '{value}'; use one of: {', '.join(allowed)}")
    _check_release(config, blame)
    if config.wheel.per_python not in (True, False, "auto"):
        raise _bad(
            blame, "wheel.per_python", f'is {config.wheel.per_python!r}; use true, false or "auto"'
        )
    for level in config.scan.severity.split(","):
        if level.strip().upper() not in SEVERITIES:
            raise _bad(
                blame,
                "scan.severity",
                f"names unknown severity '{level}'; use a comma-separated subset of "
                f"{','.join(SEVERITIES)}",
            )
    if not PLAT_RE.fullmatch(config.wheel.plat):
        raise _bad(
            blame,
            "wheel.plat",
            f"is '{config.wheel.plat}', not an auditwheel platform; use auto, "
            "manylinux_X_Y_<arch> (e.g. manylinux_2_28_x86_64), musllinux_X_Y_<arch> or "
            "linux_<arch>",
        )
    if "\x00" in config.project.source:
        raise _bad(blame, "project.source", "holds a NUL byte; fix the path")
    if not config.project.distribution.strip():
        raise _bad(blame, "project.distribution", "is empty; set the distribution's name")
    problem = scheme_problem(config.cache.remote)
    if problem:
        raise _bad(blame, "cache.remote", problem)
    for requirement in config.project.build_requires:
        build_tool_pin(requirement, blame("project.build_requires"))
    _check_commands(config.wheel.smoke, "wheel.smoke", blame)
    _check_setup(config.container.setup, "container.setup", blame)
    _check_pair(config.pair, blame)
    _check_index(config.index, blame)
    _check_image_variants(config, blame)
    for variant in config.variants.values():
        _check_variant(variant, blame)
        if variant.pair_distribution and not config.pair.enabled:
            raise _bad(
                blame,
                f"variants.{variant.name}.pair_distribution",
                "is set, but there is no [pair] table; add [pair] with its libraries",
            )


def _check_release(config: Config, blame: _Blame) -> None:
    if config.release.version_from == "tag" and config.project.version in ("pyproject", "backend"):
        raise _bad(
            blame,
            "release.version_from",
            f'is "tag", which stamps the release tag\'s version, but [project].version = '
            f'"{config.project.version}" never stamps one; set [project].version = "git", or '
            'version_from = "source"',
        )


def _check_image_variants(config: Config, blame: _Blame) -> None:
    for name in config.image.variants:
        if name not in config.variants:
            raise _bad(
                blame,
                "image.variants",
                f"names '{name}', which is no [variants.<name>] table; use one of "
                f"{', '.join(config.variants)}",
            )


def _check_index(index: Index, blame: _Blame) -> None:
    for key in ("url", "files_url"):
        value = getattr(index, key)
        if value and not re.fullmatch(r"(https?|file)://\S+", value):
            raise _bad(blame, f"index.{key}", f"is '{value}', not an http(s):// or file:// URL")
    if index.max_age_days < 1:
        raise _bad(blame, "index.max_age_days", f"is {index.max_age_days}; use a whole number >= 1")


def _check_pair(pair: Pair, blame: _Blame) -> None:
    if not (pair.enabled or pair.source or pair.index or pair.find_links or pair.libraries):
        return
    if not pair.enabled:
        raise _bad(blame, "pair.distribution", "is missing; name the runtime wheel it pairs with")
    if not pair.libraries:
        raise _bad(
            blame,
            "pair.libraries",
            "is empty; list the libraries the pair provides (they are excluded from the wheel)",
        )
    if [bool(pair.source), bool(pair.index), bool(pair.find_links)].count(True) != 1:
        raise _bad(
            blame,
            "pair",
            "needs exactly one of 'source' (the pipeline builds it), 'index' (a PEP 503 index) "
            "and 'find_links' (a flat page of wheel links)",
        )
    for key in ("index", "find_links"):
        value = getattr(pair, key)
        if value and not re.fullmatch(r"(https?|file)://\S+", value):
            raise _bad(blame, f"pair.{key}", f"is '{value}', not an http(s):// or file:// URL")


def _check_variant(variant: Variant, blame: _Blame) -> None:
    where = f"variants.{variant.name}"
    if not variant.distribution.strip():
        raise _bad(blame, f"{where}.distribution", "is empty; set the variant's distribution")
    _check_setup(variant.container_setup, f"{where}.container_setup", blame)
    for table in ("config", "windows_config", "cmake_define"):
        for key, value in getattr(variant, table).items():
            if not CMAKE_NAME_RE.fullmatch(key):
                raise _bad(
                    blame,
                    f"{where}.{table}",
                    f"has key {key!r}, which is not a CMake variable name (letters, digits, _)",
                )
            # One argument of CMAKE_ARGS; config.cmake's quoted strings may span lines.
            multiline = isinstance(value, str) and ("\n" in value or "\x00" in value)
            if table == "cmake_define" and key in BACKEND_OWNED:
                raise _bad(
                    blame,
                    f"{where}.cmake_define",
                    f"sets {key}, which scikit-build-core sets itself and drops from CMAKE_ARGS; "
                    "remove it (the build type is the backend's cmake.build-type setting)",
                )
            if table == "cmake_define" and multiline:
                raise _bad(
                    blame,
                    f"{where}.{table}.{key}",
                    "holds a line break or NUL byte, which no CMake definition can carry; "
                    "write the value on one line",
                )
    if variant.windows_config and not variant.windows:
        raise _bad(
            blame,
            f"{where}.windows_config",
            "is set, but the variant is not built for Windows (windows = false); remove it",
        )
    _check_commands(variant.smoke, f"{where}.smoke", blame)
    _check_commands(variant.gpu_smoke, f"{where}.gpu_smoke", blame)
    _check_windows_cuda(variant, blame)
    for key, allowed in PLACEHOLDERS.items():
        for entry in getattr(variant, key):
            rest = entry
            for name in allowed:
                rest = rest.replace(name, "")
            if "{" in rest or "}" in rest:
                raise _bad(
                    blame,
                    f"{where}.{key}",
                    f"entry {entry!r} has a brace that is not one of the placeholders "
                    f"{', '.join(allowed)}; remove it",
                )


def _check_windows_cuda(variant: Variant, blame: _Blame) -> None:
    where = f"variants.{variant.name}.windows_cuda"
    spec = variant.windows_cuda
    if spec == WindowsCuda():
        return
    if not variant.cuda or not variant.windows:
        raise _bad(
            blame,
            where,
            'is set, but the variant builds no CUDA for Windows (it needs cuda = "X.Y" and '
            "windows = true); remove it",
        )
    if not re.fullmatch(r"https://\S+\.exe", spec.installer):
        raise _bad(
            blame,
            f"{where}.installer",
            f"is '{spec.installer}'; give the https:// URL of NVIDIA's Windows installer (.exe)",
        )
    if not re.fullmatch(r"[0-9a-f]{64}", spec.sha256):
        raise _bad(
            blame,
            f"{where}.sha256",
            "is not 64 lowercase hex digits; give the installer's sha256 "
            "(certutil -hashfile <installer> SHA256)",
        )
    if not spec.components or any(not re.fullmatch(r"[a-z_]+", c) for c in spec.components):
        raise _bad(
            blame,
            f"{where}.components",
            "must name the installer's subpackages without their version suffix "
            '(e.g. ["nvcc", "cudart", "cublas_dev"])',
        )


# The Dockerfile instructions a setup line may be: nothing that changes the base (FROM),
# the user the build runs as (USER) or what runs (ENTRYPOINT/CMD).
SETUP_INSTRUCTIONS = ("RUN", "ENV", "ARG", "WORKDIR")


def _check_setup(lines: tuple[str, ...], where: str, blame: _Blame) -> None:
    for line in lines:
        word = line.split(maxsplit=1)[0] if line.strip() else ""
        if word not in SETUP_INSTRUCTIONS or "\n" in line:
            raise _bad(
                blame,
                where,
                f"has {line!r}; each entry is one Dockerfile line starting with "
                f"{', '.join(SETUP_INSTRUCTIONS)}",
            )


def _check_commands(commands: tuple[str, ...], where: str, blame: _Blame) -> None:
    """Smoke commands are shell words (shlex), never templates; each must split."""
    for command in commands:
        try:
            words = shlex.split(command)
        except ValueError as exc:
            problem = f"command {command!r} does not split ({exc}); fix its quoting"
            raise _bad(blame, where, problem) from exc
        if not words:
            raise _bad(blame, where, "has an empty command; remove it")


def build_tool_pin(requirement: str, where: str) -> tuple[str, str]:
    """'cmake>=3.26' -> ('SKBUILD_CMAKE_VERSION', '>=3.26'); other tools are refused."""
    # pylint: disable=import-outside-toplevel  # packaging is needed only when pins exist
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(requirement)
    except InvalidRequirement as exc:
        raise PipelineError(f"{where}: {requirement!r} is not a requirement ({exc}).") from exc
    name = req.name.lower()
    if name not in BUILD_TOOLS or req.extras or req.url or req.marker:
        raise PipelineError(
            f"{where}: {requirement!r} is not supported; list only version ranges of "
            f"{' and '.join(BUILD_TOOLS)} (e.g. 'cmake>=3.26'), which scikit-build-core applies."
        )
    return BUILD_TOOLS[name], str(req.specifier) or ">=0"


def require_source(config: Config) -> Path:
    """The source directory, checked to have the project's build shape."""
    source = config.source_dir
    if not source.is_dir() and "project.source" in config.from_env:
        raise PipelineError(
            f"source directory {source} (from MLC_CI_SOURCE, environment) does not exist; "
            "point MLC_CI_SOURCE at the source, or unset it."
        )
    if not source.is_dir():
        raise PipelineError(
            f"source directory {source} does not exist; set [project].source in {config.path}, "
            "or point MLC_CI_SOURCE / --config at another source."
        )
    if not any(source.iterdir()) and _is_submodule(source):
        raise PipelineError(
            f"submodule {source} is not initialised; run `git submodule update --init "
            "--recursive`, or point MLC_CI_SOURCE / --config at another source."
        )
    for name in ("CMakeLists.txt", "pyproject.toml"):
        if not (source / name).is_file():
            raise PipelineError(
                f"{source} has no {name}, so it is not an MLC-LLM-shaped project; point "
                "MLC_CI_SOURCE / --config at a source with CMakeLists.txt and pyproject.toml."
            )
    return source


def repository_root(directory: Path) -> Path | None:
    """The top of the git checkout (a .git directory, or a submodule's .git file) holding
    `directory`; None outside any."""
    return next((d for d in (directory, *directory.parents) if (d / ".git").exists()), None)


def _check_source_inside(config: Config, blame: _Blame) -> None:
    """[project].source must be inside the repository holding pipeline.toml (its directory when
    it is in none): the image build copies it from the checkout (its context), and a CI job
    checks out only that repository, so a path out of it works on one machine only."""
    repo = repository_root(config.root)
    top = repo or config.root
    source = config.source_dir
    if source == top or top in source.parents:
        return
    where = f"the repository {top}" if repo else f"{top} (in no git checkout)"
    value = config.project.source
    var = config.from_env.get("project.source")
    if var:
        said, fix = f"{blame('project.source')} sets 'project.source' to", f"{var} there"
    else:
        said, fix = blame("project.source") + " is", "'project.source' there (relative)"
    raise PipelineError(
        f"{said} {value!r}, which is {source}, outside {where} that holds {config.path.name}; "
        f"put the source inside it (e.g. as a git submodule) and point {fix}"
        + (", or unset it." if var else ".")
    )


def _is_submodule(directory: Path) -> bool:
    """True when a .gitmodules above `directory` registers it as a submodule path."""
    for parent in directory.parents:
        gitmodules = parent / ".gitmodules"
        if gitmodules.is_file():
            rel = directory.relative_to(parent).as_posix()
            text = gitmodules.read_text(encoding="utf-8")
            return any(
                line.split("=", 1)[1].strip() == rel
                for line in text.splitlines()
                if line.strip().startswith("path") and "=" in line
            )
    return False
