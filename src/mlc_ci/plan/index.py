"""The wheel index, as data: its state, the merge rules, the pages, the health rules.

The tree under an index root (`--index-dir`, or where GitHub Pages serves it):

    index-state.json                      every file ever published (the state, schema 1)
    <channel>/<variant>/simple/index.html            PEP 503 project list
    <channel>/<variant>/simple/<project>/index.html  links with #sha256=, PEP 592/658/714 data
    files/<wheel>, files/<wheel>.metadata            when the wheels live in the tree

Channels: `nightly` holds dev versions (every build kept), `stable` the tagged releases. Nothing
is ever removed: a bad file is yanked (PEP 592), so a pin keeps resolving.
"""

from __future__ import annotations

import dataclasses
import html
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any, Iterable, Mapping, Sequence

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from mlc_ci.errors import PipelineError

STATE = "index-state.json"
SCHEMA = 1
CHANNELS = ("nightly", "stable")
FILES = "files"
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Entry:  # pylint: disable=too-many-instance-attributes
    """One published wheel: where it is listed, what it hashes to, what pip may read first."""

    filename: str
    project: str
    version: str
    channel: str
    variants: tuple[str, ...]
    sha256: str
    metadata_sha256: str
    requires_python: str
    url: str  # relative to the index root (files/<name>) or absolute
    published: str  # ISO 8601, UTC
    yanked: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The state file's form."""
        data = dataclasses.asdict(self)
        data["variants"] = list(self.variants)
        return data

    @property
    def platform(self) -> str:
        """linux, windows or macos, from the wheel's platform tag."""
        tags = parse_wheel_filename(self.filename)[3]
        platforms = {tag.platform for tag in tags}
        if any(p.startswith("win") for p in platforms):
            return "windows"
        if any(p.startswith("macosx") for p in platforms):
            return "macos"
        return "linux"


def channel_of(version: str) -> str:
    """nightly for a dev version, stable otherwise."""
    return "nightly" if Version(version).is_devrelease else "stable"


def parse_state(data: Any, where: str) -> list[Entry]:
    """The entries of a state file; one line naming the problem when it is not one."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise PipelineError(
            f"{where} is not an mlc-ci index state (schema {SCHEMA}); point --previous at the "
            f"root of an index tree, or leave it out to start a new index."
        )
    fields = {f.name for f in dataclasses.fields(Entry)}
    entries = []
    for number, item in enumerate(data.get("files") or []):
        if not isinstance(item, dict) or set(item) - fields or not _well_formed(item):
            raise PipelineError(
                f"{where}: entry {number} is malformed; restore the file from the last "
                "published tree."
            )
        entries.append(Entry(**{**item, "variants": tuple(item["variants"])}))
    return entries


def _well_formed(item: Mapping[str, Any]) -> bool:
    """Every field of an Entry, typed, with a wheel name and a version that parse."""
    strings = [f.name for f in dataclasses.fields(Entry) if f.name not in ("variants", "yanked")]
    if not all(isinstance(item.get(key), str) for key in strings):
        return False
    variants = item.get("variants")
    if not isinstance(variants, list) or not all(isinstance(v, str) for v in variants):
        return False
    if not (item.get("yanked") is None or isinstance(item.get("yanked"), str)):
        return False
    try:
        parse_wheel_filename(item["filename"])
        Version(item["version"])
    except (InvalidVersion, ValueError):
        return False
    return item["channel"] in CHANNELS


def render_state(entries: Sequence[Entry]) -> dict[str, Any]:
    """The state file's JSON document, entries in a stable order."""
    ordered = sorted(entries, key=lambda e: (e.channel, e.project, Version(e.version), e.filename))
    return {"schema": SCHEMA, "files": [e.to_json() for e in ordered]}


def merge(
    previous: Sequence[Entry], new: Sequence[Entry], paired: Iterable[str] = ()
) -> list[Entry]:
    """The state after publishing `new` on top of `previous`; refuses what would mislead pip.

    A file already listed on the channel with the same hash is a re-run: it changes nothing but
    may add variants (a pair serves several). Another hash is refused (a published file never
    changes). The project's own files must be on the channel their version belongs to, and a
    nightly must sort above every earlier version of its project, so `--pre` resolves the newest.
    The pair's files (`paired`) go on whatever channel pairs with them, at their own versions.
    """
    pairs = {canonicalize_name(name) for name in paired}
    state = {(e.channel, e.filename): e for e in previous}
    hashes = {e.filename: e.sha256 for e in previous}
    problems = []
    added = []
    for entry in new:
        hashes.setdefault(entry.filename, entry.sha256)  # two builds of one name in one batch
        if hashes[entry.filename] != entry.sha256:
            problems.append(
                f"{entry.filename} is already in the index with another sha256 "
                f"({hashes[entry.filename][:12]} vs {entry.sha256[:12]}); a published file "
                "never changes: build a new version"
            )
            continue
        old = state.get((entry.channel, entry.filename))
        if old is not None:
            variants = tuple(dict.fromkeys((*old.variants, *entry.variants)))
            state[(entry.channel, entry.filename)] = dataclasses.replace(old, variants=variants)
        elif entry.project not in pairs:
            added.append(entry)
            state[(entry.channel, entry.filename)] = entry
        else:
            state[(entry.channel, entry.filename)] = entry
    problems += _order_problems(previous, added)
    if problems:
        raise PipelineError("; ".join(problems) + ".")
    return list(state.values())


def already_nightly(
    previous: Sequence[Entry], new: Sequence[Entry]
) -> tuple[list[Entry], list[str]]:
    """A scheduled run on a commit whose nightly is already published rebuilds the same
    version (on another runner, maybe not byte for byte): the published files stand. The new
    entries to publish (the same bytes again are kept: the merge may add variants), and the
    names left out."""
    published = {e.filename: e.sha256 for e in previous if e.channel == "nightly"}
    kept = [
        e for e in new if e.channel != "nightly" or published.get(e.filename, e.sha256) == e.sha256
    ]
    return kept, sorted(e.filename for e in new if e not in kept)


def _order_problems(previous: Sequence[Entry], added: Sequence[Entry]) -> list[str]:
    problems = []
    for entry in added:
        if entry.channel != channel_of(entry.version):
            problems.append(
                f"{entry.filename} has version {entry.version}, which belongs on the "
                f"{channel_of(entry.version)} channel, not {entry.channel}"
            )
            continue
        if entry.channel != "nightly":
            continue
        same = [e for e in previous if e.project == entry.project]
        if any(
            e.channel == "nightly" and Version(e.version) == Version(entry.version) for e in same
        ):
            continue  # another file of a nightly already published (a variant added later)
        newest = max((Version(e.version) for e in same), default=None)
        if newest is not None and Version(entry.version) <= newest:
            problems.append(
                f"nightly {entry.filename} ({entry.version}) does not sort above {newest}, "
                f"already published for {entry.project}; pip would not pick it"
            )
    return problems


def yank(entries: Sequence[Entry], project: str, version: str, reason: str) -> list[Entry]:
    """Every file of `project` at `version` marked yanked (PEP 592); nothing is deleted."""
    name = canonicalize_name(project)
    try:
        wanted = Version(version)
    except InvalidVersion as exc:
        raise PipelineError(
            f"'{version}' is not a version (PEP 440); name the one to yank."
        ) from exc
    hits = [e for e in entries if e.project == name and Version(e.version) == wanted]
    if not hits:
        raise PipelineError(
            f"the index has no {name} {version}; check `index-state.json` for the published "
            "versions."
        )
    return [dataclasses.replace(e, yanked=reason or "yanked") if e in hits else e for e in entries]


def pages(entries: Sequence[Entry]) -> dict[str, str]:
    """Every page of the tree: relative path -> HTML."""
    out: dict[str, str] = {}
    groups: dict[tuple[str, str], dict[str, list[Entry]]] = {}
    for entry in entries:
        for variant in entry.variants:
            groups.setdefault((entry.channel, variant), {}).setdefault(entry.project, [])
            groups[(entry.channel, variant)][entry.project].append(entry)
    for (channel, variant), projects in sorted(groups.items()):
        base = f"{channel}/{variant}/simple"
        out[f"{base}/index.html"] = _page(
            "Simple index", [(f"{p}/", p, {}) for p in sorted(projects)]
        )
        for project, files in sorted(projects.items()):
            out[f"{base}/{project}/index.html"] = project_page(project, files)
    out["index.html"] = _page(
        "mlc-ci wheel index",
        [(f"{c}/{v}/simple/", f"{c}/{v}", {}) for c, v in sorted(groups)],
    )
    return out


def project_page(project: str, files: Iterable[Entry]) -> str:
    """A PEP 503 page: hashes, Requires-Python, core metadata (PEP 658 and 714), yanks."""
    links = []
    for entry in sorted(files, key=lambda e: (Version(e.version), e.filename)):
        href = entry.url if "://" in entry.url else f"../../../../{entry.url}"
        attrs = {"data-dist-info-metadata": f"sha256={entry.metadata_sha256}"}
        attrs["data-core-metadata"] = attrs["data-dist-info-metadata"]
        if entry.requires_python:
            attrs["data-requires-python"] = entry.requires_python
        if entry.yanked is not None:
            attrs["data-yanked"] = entry.yanked
        links.append((f"{href}#sha256={entry.sha256}", entry.filename, attrs))
    return _page(f"Links for {project}", links)


def _page(title: str, links: Sequence[tuple[str, str, Mapping[str, str]]]) -> str:
    lines = [
        "<!DOCTYPE html>",
        '<html><head><meta name="pypi:repository-version" content="1.1">',
        f"<title>{html.escape(title)}</title></head>",
        f"<body><h1>{html.escape(title)}</h1>",
    ]
    for href, text, attrs in links:
        extra = "".join(f' {k}="{html.escape(v)}"' for k, v in attrs.items())
        lines.append(f'<a href="{html.escape(href)}"{extra}>{html.escape(text)}</a><br>')
    lines.append("</body></html>")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Link:
    """One anchor of a project page, as pip reads it."""

    href: str
    text: str
    sha256: str
    metadata_sha256: str
    requires_python: str
    yanked: str | None


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[Link] = []
        self._open: dict[str, str | None] | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open, self._text = dict(attrs), ""

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag != "a" or self._open is None:
            return
        attrs, self._open = self._open, None
        href, _, fragment = (attrs.get("href") or "").partition("#")
        metadata = attrs.get("data-core-metadata") or attrs.get("data-dist-info-metadata") or ""
        self.links.append(
            Link(
                href=href,
                text=self._text.strip(),
                sha256=fragment.removeprefix("sha256=") if fragment.startswith("sha256=") else "",
                metadata_sha256=metadata.removeprefix("sha256="),
                requires_python=attrs.get("data-requires-python") or "",
                yanked=attrs.get("data-yanked"),
            )
        )


def parse_page(text: str) -> list[Link]:
    """The anchors of a PEP 503 page."""
    parser = _Anchors()
    parser.feed(text)
    return parser.links


def link_problems(link: Link, page: str) -> list[str]:
    """What a link lacks that this index always writes."""
    problems = []
    if not _HEX64.fullmatch(link.sha256):
        problems.append(f"{page}: the link to {link.text} has no #sha256= fragment")
    if not _HEX64.fullmatch(link.metadata_sha256):
        problems.append(f"{page}: the link to {link.text} has no core-metadata hash")
    return problems


def stale(entries: Sequence[Entry], now: datetime, max_age_days: float) -> list[str]:
    """Variants whose newest nightly is older than `max_age_days` (none is fine: no nightly)."""
    problems = []
    newest: dict[str, datetime] = {}
    for entry in entries:
        if entry.channel != "nightly":
            continue
        when = published_at(entry)
        for variant in entry.variants:
            newest[variant] = max(newest.get(variant, when), when)
    for variant, when in sorted(newest.items()):
        if now - when > timedelta(days=max_age_days):
            age = (now - when).total_seconds() / 86400
            problems.append(
                f"the newest {variant} nightly is {age:.1f} days old (limit {max_age_days:g}); "
                "the scheduled build has not published since"
            )
    return problems


def published_at(entry: Entry) -> datetime:
    """When the entry was published (an aware datetime)."""
    try:
        when = datetime.fromisoformat(entry.published.replace("Z", "+00:00"))
    except ValueError as exc:
        raise PipelineError(
            f"{entry.filename} has a malformed publish time {entry.published!r} in the index "
            "state; restore the state from the last published tree."
        ) from exc
    if when.tzinfo is None:
        raise PipelineError(f"{entry.filename}'s publish time has no time zone in the state.")
    return when


def gaps(
    entries: Sequence[Entry],
    expected: Mapping[str, Sequence[str]],
    own: Iterable[str] | None = None,
) -> list[str]:
    """Variants missing from the newest version of a channel, per platform.

    Only the newest version counts: a variant added later never had the older ones. The
    projects are the variants' own (one distribution per variant), so versions are compared
    across projects of one channel. `expected` maps a platform to the variants that build it
    (from the config: `windows = false` has no Windows wheel); without it, every variant seen.
    `own` names the variants' distributions (the pair, at its own versions, is left out).
    """
    projects = None if own is None else {canonicalize_name(name) for name in own}
    live = [e for e in entries if e.yanked is None and (projects is None or e.project in projects)]
    seen = {v for e in live for v in e.variants}
    problems = []
    for channel in CHANNELS:
        for platform in sorted({e.platform for e in live if e.channel == channel}):
            mine = [e for e in live if e.channel == channel and e.platform == platform]
            newest = max(Version(e.version) for e in mine)
            have = {v for e in mine if Version(e.version) == newest for v in e.variants}
            wanted = set(expected.get(platform, seen)) & seen
            missing = sorted(wanted - have)
            if missing:
                problems.append(
                    f"{channel} {newest} has {platform} wheels for {', '.join(sorted(have))} "
                    f"but none for {', '.join(missing)}"
                )
    return problems


def expected_resolution(
    entries: Sequence[Entry], variant: str, channel: str, projects: Sequence[str]
) -> dict[str, str]:
    """What a resolver must pick on `channel` for `variant`: the newest unyanked version."""
    picked = {}
    for project in projects:
        versions = [
            Version(e.version)
            for e in entries
            if e.project == project
            and e.channel == channel
            and variant in e.variants
            and e.yanked is None
        ]
        if versions:
            picked[project] = str(max(versions))
    return picked


def parse_resolution(report: Mapping[str, Any]) -> dict[str, str]:
    """name -> version from pip's `install --dry-run --report` JSON."""
    found = {}
    for item in report.get("install") or []:
        meta = item.get("metadata") or {}
        if meta.get("name") and meta.get("version"):
            found[str(canonicalize_name(meta["name"]))] = str(Version(meta["version"]))
    return found


_UV_LINE = re.compile(r"^\s*\+\s*([A-Za-z0-9._-]+)==(\S+)\s*$", re.M)


def parse_uv_resolution(output: str) -> dict[str, str]:
    """name -> version from `uv pip install --dry-run` ("+ name==version" lines)."""
    found = {}
    for name, version in _UV_LINE.findall(output):
        try:
            found[str(canonicalize_name(name))] = str(Version(version))
        except InvalidVersion:
            continue
    return found


def resolution_problem(
    resolver: str, where: str, expected: Mapping[str, str], got: Mapping[str, str]
) -> str | None:
    """One line when the resolver did not pick exactly the expected builds."""
    wrong = {name: got.get(name) for name, version in expected.items() if got.get(name) != version}
    if not wrong:
        return None
    said = ", ".join(
        f"{name} {got_version or 'nothing'} (expected {expected[name]})"
        for name, got_version in wrong.items()
    )
    return f"{resolver} resolved {said} from {where}"


def _driver_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def select_variant(
    variants: Mapping[str, str],
    driver: str,
    table: Mapping[str, Mapping[str, str]],
    system: str,
) -> tuple[str, str]:
    """The variant to install on a host, and why: the newest CUDA variant whose toolkit the
    driver meets (NVIDIA's minimum per toolkit, per system), else the CPU build.

    `variants` maps a name to its CUDA version ("" for none); `driver` is nvidia-smi's
    driver_version ("" without an NVIDIA driver).
    """
    fallback = "cpu" if "cpu" in variants else next((n for n, c in variants.items() if not c), "")
    fits = []
    for name, cuda in variants.items():
        minimum = (table.get(cuda) or {}).get(system, "") if cuda else ""
        if minimum and driver and _driver_key(driver) >= _driver_key(minimum):
            fits.append(
                (_driver_key(cuda), name, f"driver {driver} meets CUDA {cuda}'s minimum {minimum}")
            )
    best = max(fits, default=None)
    if best is not None:
        return best[1], best[2]
    if not fallback:
        raise PipelineError(
            "no variant fits this host (no CUDA variant its driver meets, and no CPU variant); "
            "pass --variant."
        )
    if not driver:
        return fallback, "no NVIDIA driver found (nvidia-smi)"
    return fallback, f"driver {driver} is older than every CUDA variant's minimum"


def pin_problem(
    report: Mapping[str, Any], project: str, pair: str, version: str | None
) -> str | None:
    """One line when the resolved wheel does not require the resolved pair at exactly its
    version (from its metadata in pip's --report)."""
    for item in report.get("install") or []:
        meta = item.get("metadata") or {}
        if canonicalize_name(str(meta.get("name", ""))) != project:
            continue
        for line in meta.get("requires_dist") or []:
            try:
                requirement = Requirement(str(line))
            except InvalidRequirement:
                continue
            pins = [str(spec.version) for spec in requirement.specifier if spec.operator == "=="]
            if canonicalize_name(requirement.name) == pair and pins == [version]:
                return None
        return f"{project} does not require {pair}=={version}, the pair the index serves beside it"
    return None
