"""Which rule gives a source project its version, and the build time of a source without git.

Pure: the texts of pyproject.toml and PKG-INFO and the times of files come in, decisions and
one-line refusals go out (host.source_version does the reading).
"""

from __future__ import annotations

import email.parser
import sys
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Iterable

from mlc_ci.errors import PipelineError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised by the 3.10 unit session
    import tomli as tomllib

# Never counted for a source tree's newest file: build trees, caches, VCS data, and what the
# wheel sessions write into the source themselves (so a rebuild keeps the first build's time).
NOT_SOURCES = (
    ".git",
    ".hg",
    ".svn",
    "build",
    "dist",
    "wheelhouse",
    ".cache",
    "__pycache__",
    ".mlc-ci-edits.json",
    "config.cmake",
)


@dataclass(frozen=True)
class Declared:
    """What a pyproject.toml says about its version."""

    static: str = ""  # [project].version ('' when there is none)
    dynamic: bool = False  # "version" is in [project].dynamic
    provider: str = ""  # who computes a dynamic version, in words


def declared(pyproject: str, where: str = "pyproject.toml") -> Declared:
    """The version facts of a pyproject.toml's text (`where` names the file in a refusal)."""
    try:
        data = tomllib.loads(pyproject)
    except tomllib.TOMLDecodeError as exc:
        raise PipelineError(f"{where} is not valid TOML ({exc}); fix the file.") from exc
    project = _table(data.get("project"))
    static = project.get("version")
    dynamic = project.get("dynamic")
    is_dynamic = isinstance(dynamic, list) and "version" in dynamic
    return Declared(
        static if isinstance(static, str) else "",
        is_dynamic,
        _provider(data) if is_dynamic else "",
    )


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _provider(data: dict[str, Any]) -> str:
    """scikit-build-core's metadata provider, setuptools_scm, else the backend's name."""
    tool = _table(data.get("tool"))
    provider = _table(_table(_table(tool.get("scikit-build")).get("metadata")).get("version"))
    if isinstance(provider.get("provider"), str):
        return provider["provider"]
    if "setuptools_scm" in tool:
        return "setuptools_scm"
    backend = _table(data.get("build-system")).get("build-backend")
    return f"the {backend} backend" if isinstance(backend, str) else "the build backend"


def choose_rule(configured: str, facts: Declared, sdist: bool, where: str) -> str:
    """The rule a build takes ("git", "pyproject" or "backend") for [project].version
    `configured`; `sdist`: the source is an unpacked sdist (it has PKG-INFO); `where`: the
    pyproject.toml, for the refusals (one per case, each with a fix that works)."""
    if not facts.dynamic and not facts.static and not sdist:
        raise PipelineError(
            f'{where} has neither a [project].version nor dynamic = ["version"]; add a '
            'version = "0.1.0" line (the "git" rule stamps over it) or declare the version '
            "dynamic with the backend's provider."
        )
    if configured == "auto":
        return "backend" if facts.dynamic or sdist else "git"
    if facts.dynamic and configured in ("git", "pyproject"):
        reads = (
            "stamps the git version into a static [project].version line"
            if configured == "git"
            else "builds the static [project].version"
        )
        raise PipelineError(
            f'[project].version = "{configured}" {reads}, but {where} declares '
            f'dynamic = ["version"] ({facts.provider} computes it, and the file is never '
            f'patched); set [project].version = "backend" (or remove the key) to build the '
            "version the backend computes."
        )
    return configured


def given_refusal(facts: Declared, where: str) -> PipelineError:
    """MLC_CI_SOURCE_VERSION for a source whose version its backend computes."""
    return PipelineError(
        f"MLC_CI_SOURCE_VERSION (environment) would be stamped into {where}, whose version is "
        f"dynamic ({facts.provider} computes it) and never patched; unset MLC_CI_SOURCE_VERSION "
        "to build the version the backend computes."
    )


def pkg_info_version(text: str, where: str) -> str:
    """The `Version:` of an sdist's PKG-INFO (core metadata)."""
    version = email.parser.HeaderParser().parsestr(text).get("Version", "")
    if not str(version).strip():
        raise PipelineError(
            f"{where} has no Version: field, so this unpacked sdist has no version; unpack the "
            "sdist again (`python -m build --sdist` writes it) or set MLC_CI_SOURCE_VERSION."
        )
    return str(version).strip()


def counts_for_epoch(relative: PurePath) -> bool:
    """True when a file of the source tree (path relative to it) dates the source."""
    return not any(part in NOT_SOURCES for part in relative.parts)


def newest(times: Iterable[tuple[float, str]]) -> tuple[int, str] | None:
    """The newest of (mtime, path) pairs, as whole seconds (None when there are none)."""
    found = max(times, default=None)
    return None if found is None else (int(found[0]), found[1])


def build_epoch(
    commit: int | None, pkg_info: float | None, newest_file: tuple[int, str] | None
) -> tuple[int | None, str]:
    """SOURCE_DATE_EPOCH of a source and where it came from: an unpacked sdist's PKG-INFO mtime
    (when the sdist was made; an sdist unpacked inside some other checkout is not that
    checkout's commit), else its commit's time, else its newest file's mtime."""
    if pkg_info is not None:
        return int(pkg_info), "the mtime of PKG-INFO (the sdist's creation)"
    if commit is not None:
        return commit, "the commit time"
    if newest_file is not None:
        return newest_file[0], f"the mtime of the newest source file ({newest_file[1]})"
    return None, "nothing: the source has no files"
