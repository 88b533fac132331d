"""The wheel index on disk and over HTTP: entries from wheels, the state, the atomic swap.

What the tree holds and the rules it follows are in plan/index.py; this module reads wheels,
reads and writes trees, and fetches pages for the health check.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import urllib.parse
import uuid
import zipfile
from datetime import datetime, timezone
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from mlc_ci import files, net
from mlc_ci.errors import PipelineError
from mlc_ci.plan import index as idx
from mlc_ci.plan.publish import project_of
from mlc_ci.plan.wheels import wheel_version


def now_utc() -> str:
    """The publish time of this run."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def core_metadata(wheel: Path) -> bytes:
    """The wheel's METADATA file, byte for byte (what PEP 658 serves beside it)."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = [
                n
                for n in archive.namelist()
                if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
            if len(names) != 1:
                raise PipelineError(f"{wheel.name} has no single .dist-info/METADATA; rebuild it.")
            return archive.read(names[0])
    except (zipfile.BadZipFile, OSError) as exc:
        raise PipelineError(f"{wheel} is not a readable wheel ({exc}); rebuild it.") from exc


def entry_for(  # pylint: disable=too-many-arguments
    wheel: Path, channel: str, variants: Sequence[str], files_url: str, published: str
) -> tuple[idx.Entry, bytes]:
    """The index entry of a wheel, and its core metadata."""
    metadata = core_metadata(wheel)
    headers = BytesHeaderParser().parsebytes(metadata)
    url = f"{files_url.rstrip('/')}/{wheel.name}" if files_url else f"{idx.FILES}/{wheel.name}"
    entry = idx.Entry(
        filename=wheel.name,
        project=project_of(wheel.name),
        version=wheel_version(wheel.name),
        channel=channel,
        variants=tuple(variants),
        sha256=_sha256(wheel.read_bytes()),
        metadata_sha256=_sha256(metadata),
        requires_python=str(headers.get("Requires-Python") or ""),
        url=url,
        published=published,
    )
    return entry, metadata


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_state(source: str) -> list[idx.Entry]:
    """The state of the tree at `source` (a directory or a URL); [] for a new, empty one."""
    if "://" in source:
        return idx.parse_state(_json(fetch(_join(source, idx.STATE), source)), source)
    root = Path(source)
    state = root / idx.STATE
    if not state.is_file():
        if root.is_dir() and any(root.iterdir()):
            raise PipelineError(
                f"{root} is not empty and holds no {idx.STATE}; it is not an index tree: pick "
                "an empty directory or the root of an earlier index."
            )
        return []
    return idx.parse_state(_json(state.read_bytes(), str(state)), str(state))


def _json(data: bytes, where: str = "the index state") -> object:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PipelineError(
            f"{where} is not JSON ({exc}); restore it from the last published tree."
        ) from exc


def _join(base: str, relative: str) -> str:
    return urllib.parse.urljoin(base.rstrip("/") + "/", relative)


def fetch(url: str, what: str = "") -> bytes:
    """GET `url` (http, https or file); one line naming it when it cannot be read."""
    try:
        answer = net.request(url, timeout=30, retries=0)
    except (net.Unreachable, ValueError) as exc:
        raise _unreadable(url, getattr(exc, "reason", "") or str(exc), what) from exc
    if answer.status != 200:
        raise _unreadable(url, f"HTTP {answer.status}", what)
    return answer.body


def _unreadable(url: str, cause: str, what: str) -> PipelineError:
    return PipelineError(
        f"cannot read {url} ({cause}){' for ' + what if what else ''}; check the URL "
        "and that the index is served."
    )


def stage_path(root: Path) -> Path:
    """Where this process stages the new tree: beside `root`, so the swap is a rename."""
    return root.with_name(f".{root.name}.new-{os.getpid()}")


def discard(path: Path) -> None:
    """Remove a staged tree (gone already is fine)."""
    shutil.rmtree(path, ignore_errors=True)


def stage_tree(
    stage: Path,
    entries: Sequence[idx.Entry],
    new_files: Mapping[str, tuple[Path, bytes]],
    where: tuple[Path | None, Path | None],
) -> Path:
    """Write the whole new tree at `stage` (not yet in place): pages and state, and the files.

    `where` is (the previous tree, to carry its files/ over; the directory this run's wheels
    and .metadata files go to: stage/files, or, with a files_url, an assets directory uploaded
    beside the wheels, which the tree then does not hold).
    """
    previous_root, files_dir = where
    files_dir = files_dir or stage / idx.FILES
    files.ensure_dir(stage.parent, "index directory's parent")
    discard(stage)
    try:
        if previous_root is not None and (previous_root / idx.FILES).is_dir():
            shutil.copytree(previous_root / idx.FILES, stage / idx.FILES, copy_function=_link)
        for name, (path, metadata) in new_files.items():
            files.ensure_dir(files_dir, "index files directory")
            if not (files_dir / name).exists():
                shutil.copy2(path, files_dir / name)
            files.write_bytes(files_dir / f"{name}.metadata", metadata)
        for relative, text in idx.pages(entries).items():
            files.write_text(stage / relative, text)
        files.write_text(stage / idx.STATE, json.dumps(idx.render_state(entries), indent=2) + "\n")
    except OSError as exc:
        discard(stage)
        raise PipelineError(
            f"cannot write the new index at {stage} ({exc.strerror or exc}); nothing was "
            "changed there: free space or pick another --index-dir."
        ) from exc
    except BaseException:
        discard(stage)
        raise
    return stage


def _link(source: str, target: str) -> None:
    """A hard link where the file system allows one (wheels never change), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def rehearsal_view(
    view: Path, entries: Sequence[idx.Entry], new: Iterable[str], files_dir: Path
) -> Path:
    """Pages where this run's files link into `files_dir` (file://), for the resolvers: with a
    files_url the published links point at assets that are not uploaded yet."""
    discard(view)
    local = {name: (files_dir / name).as_uri() for name in new}
    shown = [
        e if e.filename not in local else idx.dataclasses.replace(e, url=local[e.filename])
        for e in entries
    ]
    for relative, text in idx.pages(shown).items():
        files.write_text(view / relative, text)
    return view


def swap_in(stage: Path, root: Path) -> None:
    """Put the staged tree at `root`; the old tree is removed only once the new one is there."""
    # A name no earlier run used (a PID comes back, in containers especially).
    old = root.with_name(f".{root.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        if root.exists():
            os.replace(root, old)
        try:
            os.replace(stage, root)
        except OSError:
            if old.exists():
                os.replace(old, root)  # the previous tree comes back; nothing is lost
            raise
    except OSError as exc:
        raise PipelineError(
            f"cannot put the new index in place at {root} ({exc.strerror or exc}); the previous "
            "tree is unchanged: check the directory's permissions and run again."
        ) from exc
    shutil.rmtree(old, ignore_errors=True)


def recover(root: Path) -> None:
    """A run that died between the two renames of swap_in left only `.root.old-*`: restore it."""
    if root.exists():
        return
    leftovers = sorted(root.parent.glob(f".{root.name}.old-*")) if root.parent.is_dir() else []
    if leftovers:
        os.replace(leftovers[-1], root)


def base_url(source: str) -> str:
    """The tree's root as a URL (a directory becomes file://), ending in '/'."""
    if "://" in source:
        return source.rstrip("/") + "/"
    root = Path(source).resolve()
    if not root.is_dir():
        raise PipelineError(f"{source} is not a directory or URL of an index tree; pass its root.")
    return root.as_uri() + "/"


def check(
    source: str,
    expected: Mapping[str, Sequence[str]],
    max_age_days: float,
    own: Sequence[str] | None = None,
) -> tuple[list[str], int]:
    """Every problem of the tree at `source`, and how many files were verified.

    Each page of the state is read as pip reads it; each link's file and core metadata are
    downloaded and hashed, and the metadata compared with the wheel's own METADATA.
    """
    base = base_url(source)
    entries = read_state(base if "://" in source else source)
    problems: list[str] = []
    verified: dict[str, str | None] = {}
    groups: dict[tuple[str, str, str], list[idx.Entry]] = {}
    for entry in entries:
        for variant in entry.variants:
            groups.setdefault((entry.channel, variant, entry.project), []).append(entry)
    for (channel, variant, project), listed in sorted(groups.items()):
        page_url = _join(base, f"{channel}/{variant}/simple/{project}/index.html")
        try:
            links = idx.parse_page(fetch(page_url, "a project page").decode("utf-8", "replace"))
        except PipelineError as exc:
            problems.append(str(exc).rstrip("."))
            continue
        problems += _page_problems(page_url, links, listed)
        for link in links:
            url = urllib.parse.urljoin(page_url, link.href)
            if url not in verified:
                verified[url] = _file_problem(url, link)
            if verified[url]:
                problems.append(str(verified[url]))
    problems += idx.stale(entries, datetime.now(timezone.utc), max_age_days)
    problems += idx.gaps(entries, expected, own)
    return list(dict.fromkeys(problems)), len(verified)


def _page_problems(page: str, links: Sequence[idx.Link], listed: Sequence[idx.Entry]) -> list[str]:
    problems = [p for link in links for p in idx.link_problems(link, page)]
    shown = {link.text: link for link in links}
    for entry in listed:
        link = shown.get(entry.filename)
        if link is None:
            problems.append(f"{page} does not list {entry.filename}, which the state holds")
        elif link.sha256 != entry.sha256:
            problems.append(f"{page}: {entry.filename}'s #sha256= is not the state's")
        elif (link.yanked is None) != (entry.yanked is None):
            problems.append(f"{page}: {entry.filename}'s yank mark is not the state's")
    stray = sorted(set(shown) - {e.filename for e in listed})
    problems += [f"{page} lists {name}, which the state does not hold" for name in stray]
    return problems


def _file_problem(url: str, link: idx.Link) -> str | None:
    """What is wrong with one linked wheel and its .metadata (None when both match)."""
    try:
        data = fetch(url, link.text)
        metadata = fetch(url + ".metadata", f"{link.text}'s core metadata (PEP 658)")
    except PipelineError as exc:
        return str(exc).rstrip(".")
    if _sha256(data) != link.sha256:
        return f"{link.text} does not match its #sha256= ({_sha256(data)[:12]} downloaded)"
    if _sha256(metadata) != link.metadata_sha256:
        return f"{link.text}.metadata does not match the page's core-metadata hash"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inside = [
                archive.read(n)
                for n in archive.namelist()
                if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
    except zipfile.BadZipFile:
        return f"{link.text} is not a zip archive"
    if inside != [metadata]:
        return f"{link.text}.metadata is not the wheel's own METADATA"
    return None
