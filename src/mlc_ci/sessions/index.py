"""index: the static wheel index per variant (`python -m mlc_ci index build|check|select|yank`).

build merges the verified wheels of the last wheel runs into the previous tree, stages the new
tree beside the old one, rehearses `uv pip install` and `pip install` from it for every variant,
and only then swaps it in. release --index-dir runs the same steps on the stable channel.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Mapping, Sequence, TextIO

from packaging.utils import canonicalize_name

from mlc_ci import host, index_tree
from mlc_ci.config import Config, tomllib
from mlc_ci.errors import PipelineError
from mlc_ci.plan import index as idx
from mlc_ci.plan import publish as pub
from mlc_ci.plan import release as rel
from mlc_ci.plan.wheels import wheel_version
from mlc_ci.report import read, reports_root, sha256_of
from mlc_ci.run import Context, Step
from mlc_ci.sessions.base import Plan

# The resolvers read only the tree: no user or site configuration adds another index.
NEW = "NEW"  # --previous NEW: the first publish of a new index
ISOLATED = {
    "PIP_CONFIG_FILE": os.devnull,
    "UV_NO_CONFIG": "1",
    "PIP_NO_INPUT": "1",
    **dict.fromkeys(
        ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "UV_INDEX_URL", "UV_INDEX"),
        "",
    ),
    **dict.fromkeys(("UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX", "UV_FIND_LINKS"), ""),
}


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `index build`."""
    parser.add_argument("--index-dir", required=True, help="the index tree to write (its root)")
    parser.add_argument(
        "--previous",
        help="the previous tree: a directory, its served URL, or NEW for a new index (default: "
        "--index-dir when it holds a tree, else [index].url)",
    )
    parser.add_argument("--channel", choices=idx.CHANNELS, required=True)
    parser.add_argument("--dist", help="directory with the wheels (default: [wheel].dist_dir)")
    parser.add_argument(
        "--reports", help="directory with the wheel reports (default: $MLC_CI_REPORTS_DIR)"
    )
    parser.add_argument(
        "--files-url", help="where the wheels are downloaded from ([index].files_url)"
    )


@dataclass(frozen=True)
class Target:
    """Where one publish goes: the tree, its previous state, the channel, the wheels' home."""

    root: Path
    previous: str  # a directory, a served URL, or NEW for a new, empty index
    channel: str
    files_url: str = ""  # "" keeps the wheels in the tree; else they are assets beside it

    @property
    def stage(self) -> Path:
        """Where the new tree is written before the swap."""
        return index_tree.stage_path(self.root)

    @property
    def view(self) -> Path:
        """The pages the resolvers read (the stage itself when the wheels live in the tree)."""
        return (
            self.stage.with_name(self.stage.name + "-rehearsal") if self.files_url else self.stage
        )

    @property
    def assets(self) -> Path | None:
        """With a files_url: this run's wheels and .metadata files, to upload beside the wheels."""
        return self.root.with_name(self.root.name + "-assets") if self.files_url else None


def target(
    config: Config, args: argparse.Namespace, channel: str, env: Mapping[str, str]
) -> Target:
    """The publish target from --index-dir, --previous (MLC_CI_INDEX_PREVIOUS) and --files-url,
    with the config's."""
    root = Path(args.index_dir).resolve()
    given = args.previous or env.get("MLC_CI_INDEX_PREVIOUS", "").strip()
    previous = given or _default_previous(config, root, env)
    files_url = config.index.files_url if args.files_url is None else args.files_url
    if "://" in previous and not files_url:
        raise PipelineError(
            f"the previous index {previous} is a URL, whose files/ cannot be carried over; set "
            "[index].files_url (where the wheels are stored) or pass --previous DIR."
        )
    return Target(root, previous, channel, files_url)


def _default_previous(config: Config, root: Path, env: Mapping[str, str]) -> str:
    """The tree itself when it holds a state; else the served index: [index].url, or on GitHub
    Actions the repository's Pages site; else the (empty) tree."""
    if (root / idx.STATE).is_file():
        return str(root)
    return config.index.url or pages_url(env) or str(root)


def pages_url(env: Mapping[str, str]) -> str:
    """https://<owner>.github.io/<name> of GITHUB_REPOSITORY in a GitHub Actions run, else ""."""
    if env.get("GITHUB_ACTIONS") != "true" or "/" not in env.get("GITHUB_REPOSITORY", ""):
        return ""
    owner, name = env["GITHUB_REPOSITORY"].split("/", 1)
    return f"https://{owner.lower()}.github.io/{name}"


def build_plan(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> Plan:
    """`index build`: collect, merge, stage, rehearse, swap."""
    dist = Path(args.dist or config.wheel.dist_dir).resolve()
    reports = reports_root(env, args.reports).resolve()
    where = target(config, args, args.channel, env)
    steps, cleanup, notes = index_steps(config, (dist, reports), where)
    data = {"index": str(where.root), "channel": args.channel, "dist": str(dist)}
    return Plan(f"index-{args.channel}", steps, data, cleanup=cleanup, notes=notes)


def index_steps(
    config: Config, inputs: tuple[Path, Path], where: Target
) -> tuple[list[Step], list[Step], list[str]]:
    """The steps that publish the verified wheels into the tree `where` describes."""
    dist, reports = inputs
    variants = _built_variants(config, reports)
    steps = [
        Step(f"read the previous index ({where.previous})", action=_previous(where)),
        Step("collect the verified wheels", action=_collect(config, dist, reports, where.channel)),
        Step("merge and stage the new tree", action=_stage(where)),
    ]
    venv = Path(".cache/mlc-ci/index/resolver").resolve()
    if variants:
        venv_argv = (sys.executable, "-m", "venv", "--clear", str(venv))
        steps.append(Step("clean resolver venv", venv_argv))
    for variant in variants:
        steps += _rehearsal(config, variant, where, venv)
    steps.append(Step(f"put the new tree in place at {where.root}", action=_swap(where)))
    cleanup = [Step("remove the staged tree", action=_discard(where))]
    notes = [f"index: {where.root} ({where.channel} channel), previous state from {where.previous}"]
    if where.assets is not None:
        notes.append(f"wheels are linked at {where.files_url}; this run's go to {where.assets}")
    if not variants:
        notes.append(f"no passing Linux wheel report in {reports}: nothing is rehearsed")
    return steps, cleanup, notes


def _built_variants(config: Config, reports: Path) -> list[str]:
    """Variants with a Linux wheel report: the resolvers run on this (Linux) host."""
    return [
        name
        for name in config.variants
        if (reports / f"{rel.report_key('wheels-linux', config.project.name, name)}.json").is_file()
    ]


def _owners(config: Config) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Project -> variants, for the project's own wheels and for the pair's (built here)."""
    own: dict[str, list[str]] = {}
    paired: dict[str, list[str]] = {}
    for variant in config.variants.values():
        own.setdefault(canonicalize_name(variant.distribution), []).append(variant.name)
        if config.pair_source:
            pair = canonicalize_name(config.pair_distribution(variant))
            paired.setdefault(pair, []).append(variant.name)
    return own, paired


def _collect(config: Config, dist: Path, reports: Path, channel: str):
    def action(ctx: Context) -> None:
        loaded = {
            path.stem: read(path)
            for pattern in ("wheels-linux-*.json", "wheels-windows-*.json")
            for path in sorted(reports.glob(pattern))
        }
        loaded = rel.own_reports(loaded, config.project.name, config.variants)
        verified = {
            name: v for name, v in rel.verified_wheels(loaded).items() if v.status == "passed"
        }
        if not verified:
            raise PipelineError(
                f"no passing wheel report in {reports}; run the wheel sessions first (or pass "
                "--reports)."
            )
        own, paired = _owners(config)
        published = index_tree.now_utc()
        found = []
        for name, info in sorted(verified.items()):
            path = dist / name
            if not path.is_file() or sha256_of(path) != info.sha256:
                raise PipelineError(
                    f"{name} ({info.report}) is not in {dist} with the sha256 its report "
                    "records; rebuild it or pass --dist."
                )
            if pub.project_of(name) not in own and pub.project_of(name) not in paired:
                raise PipelineError(
                    f"{name} belongs to no variant of {config.path}; remove it from the reports."
                )
            found.append(path)
        mine = [p for p in found if pub.project_of(p.name) in own]
        versions = sorted({wheel_version(p.name) for p in mine})
        if len(versions) > 1:
            raise PipelineError(
                f"the wheel reports in {reports} hold builds of several versions "
                f"({', '.join(versions)}); one publish is one commit's build: rebuild every "
                "variant from one commit, or remove the stale reports."
            )
        if channel == "nightly" and versions and idx.channel_of(versions[0]) != "nightly":
            # A scheduled run on a tagged commit builds the release: it is no nightly.
            print(f"      note: {versions[0]} is a release, not a nightly: nothing to publish")
            ctx["index_new"], ctx["index_paired"] = [], sorted(paired)
            return
        built = {v for p in mine for v in own[pub.project_of(p.name)]}
        new = []
        for path in found:
            project = pub.project_of(path.name)
            # The pair is listed beside the variants that pair with it in this publish.
            variants = own.get(project) or [v for v in paired[project] if v in built]
            if variants:
                entry = index_tree.entry_for(path, channel, variants, "", published)
                new.append((path, entry))
        ctx["index_new"] = new
        ctx["index_paired"] = sorted(paired)

    return action


def _previous(where: Target):
    def action(ctx: Context) -> None:
        index_tree.recover(where.root)
        fresh = where.previous == NEW
        ctx["index_previous"] = [] if fresh else index_tree.read_state(where.previous)

    return action


def _stage(where: Target):
    def action(ctx: Context) -> None:
        new = []
        local = {}
        for path, (entry, metadata) in ctx["index_new"]:
            if where.files_url:
                url = f"{where.files_url.rstrip('/')}/{path.name}"
                entry = idx.dataclasses.replace(entry, url=url)
            new.append(entry)
            local[path.name] = (path, metadata)
        new, kept_out = idx.already_nightly(ctx["index_previous"], new)
        for name in kept_out:
            print(f"      note: {name} is already a published nightly; it stays as published")
            del local[name]
        entries = idx.merge(ctx["index_previous"], new, ctx["index_paired"])
        previous_dir = Path(where.previous) if "://" not in where.previous else None
        if where.previous == NEW:
            previous_dir = None
        if where.assets is not None:
            index_tree.discard(where.assets)
        index_tree.stage_tree(where.stage, entries, local, (previous_dir, where.assets))
        if where.assets is not None:
            index_tree.rehearsal_view(where.view, entries, local, where.assets)
        ctx["index_entries"] = entries
        ctx.setdefault("report", {})["index"] = {
            "root": str(where.root),
            "channel": where.channel,
            "files": len(entries),
            "new": sorted(local),
            "already_published": kept_out,
            "assets": str(where.assets or ""),
        }

    return action


def _rehearsal(config: Config, name: str, where: Target, venv: Path) -> list[Step]:
    """uv and pip resolve the variant's distribution from the new tree, in a clean venv."""
    channel = where.channel
    variant = config.variants[name]
    url = (where.view / channel / name / "simple").as_uri()
    python = str(venv / "bin" / "python")
    dist = variant.distribution
    uv_pre = ("--prerelease", "allow") if channel == "nightly" else ()
    pip_pre = ("--pre",) if channel == "nightly" else ()
    key = name.replace("-", "_")
    # Only the tree's own files are resolved (--no-deps): the project's PyPI dependencies
    # are not the index's business; the pair it pins is named, and its pin checked.
    wanted = (dist, *_pair_of(config, name))
    uv = ("uv", "pip", "install", "--dry-run", "--no-cache", "--no-deps", "--python", python)
    pip = (python, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed")
    pip += ("--no-deps", "--no-cache-dir", "--disable-pip-version-check", "--report", "-")
    return [
        Step(
            f"uv resolves {dist} ({channel})",
            (*uv, "--index-url", url, *uv_pre, *wanted),
            env=ISOLATED,
            tee=True,
            save_as=f"uv_{key}",
        ),
        Step(
            f"pip resolves {dist} ({channel})",
            (*pip, "--index-url", url, *pip_pre, *wanted),
            env=ISOLATED,
            capture=True,
            save_as=f"pip_{key}",
        ),
        Step(
            f"check both picked the newest {name} build",
            action=_check_resolution(config, name, channel, (url, key)),
        ),
    ]


def _pair_of(config: Config, name: str) -> tuple[str, ...]:
    """The pair the variant's wheel pins, when the pipeline builds it (it is in the tree)."""
    return (config.pair_distribution(config.variants[name]),) if config.pair_source else ()


def _check_resolution(config: Config, name: str, channel: str, where: tuple[str, str]):
    url, key = where
    variant = config.variants[name]
    projects = [canonicalize_name(n) for n in (variant.distribution, *_pair_of(config, name))]

    def action(ctx: Context) -> None:
        expected = idx.expected_resolution(ctx["index_entries"], name, channel, projects)
        got_uv = idx.parse_uv_resolution(ctx[f"uv_{key}"])
        try:
            pip_report = json.loads(ctx[f"pip_{key}"])
        except ValueError as exc:
            raise PipelineError(f"pip's --report for {name} is not JSON ({exc}).") from exc
        got_pip = idx.parse_resolution(pip_report)
        problems = [
            p
            for p in (
                idx.resolution_problem("uv", url, expected, got_uv),
                idx.resolution_problem("pip", url, expected, got_pip),
            )
            if p
        ]
        if len(projects) == 2 and not problems:
            pin = idx.pin_problem(pip_report, projects[0], projects[1], expected.get(projects[1]))
            problems += [pin] if pin else []
        if problems:
            raise PipelineError("; ".join(problems) + "; nothing was published.")
        rehearsed = ctx.setdefault("report", {}).setdefault("rehearsal", {})
        rehearsed[name] = {"uv": got_uv, "pip": got_pip, "expected": expected}

    return action


def _swap(where: Target):
    def action(ctx: Context) -> None:
        del ctx
        index_tree.swap_in(where.stage, where.root)
        if where.view != where.stage:
            index_tree.discard(where.view)

    return action


def _discard(where: Target):
    def action(ctx: Context) -> None:
        del ctx
        index_tree.discard(where.stage)
        index_tree.discard(where.view)

    return action


def check(source: str, config: Config | None, max_age_days: float, out: TextIO) -> int:
    """`index check`: every problem on its own line, then one summary line; 1 when any."""
    expected: dict[str, Sequence[str]] = {}
    own = None
    if config is not None:
        expected = {
            "linux": list(config.variants),
            "windows": [n for n, v in config.variants.items() if v.windows],
        }
        own = [v.distribution for v in config.variants.values()]
    problems, checked = index_tree.check(source, expected, max_age_days, own)
    for problem in problems:
        print(f"index check: {problem}", file=out)
    if problems:
        raise PipelineError(
            f"the index at {source} has {len(problems)} problem(s) (listed above); republish "
            "the affected files or yank them.",
            exit_code=1,
        )
    print(f"index check: {source}: {checked} files, hashes and metadata match", file=out)
    return 0


def driver_table() -> dict[str, dict[str, str]]:
    """NVIDIA's minimum driver per CUDA toolkit (data/cuda_drivers.toml)."""
    text = resources.files("mlc_ci").joinpath("data/cuda_drivers.toml").read_text("utf-8")
    return tomllib.loads(text)["cuda"]


def select(config: Config, args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    """`index select`: the variant for this host, its index URL and the install commands."""
    system = "windows" if platform.system() == "Windows" else "linux"
    candidates = {
        name: v.cuda for name, v in config.variants.items() if system == "linux" or v.windows
    }
    driver = args.driver if args.driver is not None else host.nvidia_driver(env)
    name, why = idx.select_variant(candidates, driver, driver_table(), system)
    base = args.index_url or config.index.url
    if not base:
        raise PipelineError(
            f"no index URL: set [index].url in {config.path} (where the tree is served) or pass "
            "--index-url."
        )
    url = f"{base.rstrip('/')}/{args.channel}/{name}/simple"
    dist = config.variants[name].distribution
    pre = " --pre" if args.channel == "nightly" else ""
    print(f"variant: {name} ({why})", file=out)
    print(f"index: {url}", file=out)
    print(f"pip install{pre} --extra-index-url {url} {dist}", file=out)
    uv_pre = " --prerelease allow" if args.channel == "nightly" else ""
    print(f"uv pip install{uv_pre} --index {url} {dist}", file=out)
    return 0


def yank(root: Path, what: tuple[str, str, str], out: TextIO) -> int:
    """`index yank`: mark a version yanked in the tree at `root` (pages and state rewritten)."""
    project, version, reason = what
    entries = idx.yank(index_tree.read_state(str(root)), project, version, reason)
    stage = index_tree.stage_path(root)
    try:
        index_tree.stage_tree(stage, entries, {}, (root, None))
        index_tree.swap_in(stage, root)
    finally:
        index_tree.discard(stage)
    print(f"index: yanked {project} {version} in {root} ({reason})", file=out)
    return 0
