"""The actions that keep files between jobs: upload-artifact, download-artifact, the Pages
pair (upload-pages-artifact, deploy-pages) and cache, with the @actions/glob path search they
share; actions.py dispatches to them. Their files are copied here, on the host.

An artifact of the run is the directory `Shared.artifacts/<name>/` holding its files as its
zip would (paths relative to the artifact's root, no permissions); its id and digest sit in
`Shared.root/artifacts-meta/<name>.json`. A cache entry is a tar of workspace-relative paths
and a JSON record (key, version, scope, time) in `Shared.cache`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import shutil
import sys
import tarfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from tools.rehearsal.model import StepResult

if TYPE_CHECKING:  # actions.py imports this module; Step is only a type here
    from tools.rehearsal.actions import Step

UPLOAD_INPUTS = frozenset(
    "name path if-no-files-found retention-days compression-level overwrite "
    "include-hidden-files archive".split()
)
DOWNLOAD_INPUTS = frozenset(
    "name artifact-ids path pattern merge-multiple github-token repository run-id "
    "skip-decompress digest-mismatch".split()
)
UPLOAD_ARTIFACT = "actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f"
# @actions/artifact's path-and-artifact-name-validation: what NTFS would refuse.
BAD_IN_PATHS = {'"': "Double quote", ":": "Colon", "<": "Less than", ">": "Greater than"}
BAD_IN_PATHS |= {"|": "Vertical bar", "*": "Asterisk", "?": "Question mark"}
BAD_IN_PATHS |= {"\r": "Carriage return", "\n": "Line feed"}
BAD_IN_NAMES = BAD_IN_PATHS | {"\\": "Backslash", "/": "Forward slash"}
GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class _Pattern:
    negate: bool
    regex: str
    dir_only: bool  # a trailing slash: only directories match (their contents implicitly)
    search_path: str  # the literal segments before the first wildcard

    def hit(self, item: str, is_dir: bool, descendants: bool) -> bool:
        """Whether the pattern matches the item (or, implicitDescendants, a directory above)."""
        if re.fullmatch(self.regex, item) and (is_dir or not self.dir_only):
            return True
        parent = os.path.dirname(item)
        while descendants and parent != item:
            if re.fullmatch(self.regex, parent):
                return True
            item, parent = parent, os.path.dirname(parent)
        return False


@dataclass(frozen=True)
class Search:
    """What a set of patterns found, and the search paths the root rule works from."""

    matches: list[Path]
    search_paths: list[str]


def _segment(text: str) -> str:
    """One path segment of a glob as a regex: * and ? stay within the segment; dot files match
    (@actions/glob runs minimatch with dot: true)."""
    out, i = "", 0
    while i < len(text):
        char, close = text[i], text.find("]", i + 2)
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[" and close > 0:
            body = text[i + 1 : close]
            out += "[" + ("^" + body[1:] if body.startswith("!") else body) + "]"
            i = close
        else:
            out += re.escape(char)
        i += 1
    return out


def _parse(line: str, cwd: Path, home: Path) -> _Pattern | None:
    """An @actions/glob pattern line: `#` comments, `!` excludes, `~` home, relative to cwd."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    negate = False
    while line.startswith("!"):
        negate, line = not negate, line[1:].strip()
    if line.startswith("~"):
        line = str(home) + line[1:]
    full = os.path.normpath(os.path.join(cwd, line))
    parts = full.split("/")[1:]
    literal = []
    for part in parts:
        if GLOB_CHARS.search(part):
            break
        literal.append(part)
    regex = "".join("(?:/.*)?" if part == "**" else "/" + _segment(part) for part in parts)
    return _Pattern(negate, regex or "/", line.endswith("/"), "/" + "/".join(literal))


def _walk(root: str, hidden: bool) -> Iterator[tuple[Path, bool]]:
    """Everything under root, following symbolic links (broken ones left out); without hidden,
    no item whose name starts with a dot, nor anything below one (excludeHiddenFiles)."""
    stack, seen = [Path(root)], set()
    while stack:
        item = stack.pop()
        if (not hidden and item.name.startswith(".")) or not item.exists():
            continue
        if item.is_dir():
            yield item, True
            real = os.path.realpath(item)
            if real not in seen:  # a link cycle is walked once
                seen.add(real)
                stack.extend(sorted(item.iterdir(), reverse=True))
        else:
            yield item, False


def _has_ancestor(path: str, candidates: set[str]) -> bool:
    child, parent = path, os.path.dirname(path)
    while parent != child:
        if parent in candidates:
            return True
        child, parent = parent, os.path.dirname(parent)
    return False


def search(lines: list[str], cwd: Path, home: Path, *, descendants: bool, hidden: bool) -> Search:
    """@actions/glob: each item under the search paths is matched by the patterns in order
    (an include adds it, a later `!` pattern drops it again)."""
    patterns = [p for p in (_parse(line, cwd, home) for line in lines) if p]
    candidates = {p.search_path for p in patterns if not p.negate}
    roots: list[str] = []
    for pattern in patterns:  # getSearchPaths: in order, none below another candidate
        if not pattern.negate and pattern.search_path not in roots:
            if not _has_ancestor(pattern.search_path, candidates):
                roots.append(pattern.search_path)
    matches = []
    for root in roots:
        for item, is_dir in _walk(root, hidden):
            verdict = False
            for pattern in patterns:
                if pattern.hit(str(item), is_dir, descendants):
                    verdict = not pattern.negate
            if verdict:
                matches.append(item)
    return Search(matches, roots)


def _root(found: Search, files: list[Path]) -> Path:
    """The artifact's root directory (src/shared/search.ts of upload-artifact): with several
    search paths, their least common ancestor; one file named exactly by its pattern, its
    directory; otherwise the one search path. (`dist/` plus `reports/` keep both names; a
    lone `reports/` drops it.)"""
    if len(found.search_paths) > 1:
        return Path(os.path.commonpath(found.search_paths))
    if len(files) == 1 and found.search_paths[0] == str(files[0]):
        return files[0].parent
    return Path(found.search_paths[0])


def _copy_in(files: list[tuple[Path, str]], dest: Path) -> tuple[int, str]:
    """Copy the files (contents only: the zip keeps no permissions) and return their bytes and
    a sha256 over the sorted entries (name, size, contents), the artifact's digest here."""
    total, digest = 0, hashlib.sha256()
    for source, name in sorted(files, key=lambda pair: pair[1]):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        size = source.stat().st_size
        digest.update(f"{name}\0{size}\0".encode())
        with source.open("rb") as reader, target.open("wb") as writer:
            while chunk := reader.read(1 << 20):
                digest.update(chunk)
                writer.write(chunk)
        total += size
    return total, digest.hexdigest()


def _number(step: Step, name: str, low: int, high: int) -> int | None:
    """retention-days / compression-level: parseInt, with the action's messages."""
    text = step.input(name)
    if not text:
        return None
    match = re.match(r"\s*[-+]?\d+", text)
    if not match:
        step.fail(f"Invalid {name}")
    value = int(match.group())
    if name == "compression-level" and not low <= value <= high:
        step.fail("Invalid compression-level. Valid values are 0-9")
    return value


def _store(
    step: Step, name: str, entries: list[tuple[Path, str]], overwrite: bool, retention: int | None
) -> tuple[int, str, int]:
    """Validate the names as @actions/artifact does, then store the artifact (replacing one of
    that name only with overwrite); its bytes, digest and id."""
    checks = [(name, "artifact name", BAD_IN_NAMES)]
    checks += [(rel, "path for one of the files in artifact", BAD_IN_PATHS) for _, rel in entries]
    for text, what, bad in checks:
        for char, label in bad.items():
            if char in text:
                step.fail(
                    f"The {what} is not valid: {text}. Contains the following character: {label}"
                )
    if name in ("", ".", ".."):
        step.fail(f"The artifact name is not valid: {name}")
    shared = step.call.shared
    if (shared.artifacts / name).exists():
        if not overwrite:
            step.fail(
                "Failed to CreateArtifact: Received non-retryable error: Failed request: (409) "
                "Conflict: an artifact with this name already exists on the workflow run"
            )
        step.info(f"Artifact '{name}' deleted")
    staging = shared.root / "artifacts-staging" / uuid.uuid4().hex
    size, digest = _copy_in(entries, staging)
    shutil.rmtree(shared.artifacts / name, ignore_errors=True)
    shared.artifacts.mkdir(parents=True, exist_ok=True)
    staging.rename(shared.artifacts / name)
    artifact_id = int(hashlib.sha256(f"{name}\0{digest}".encode()).hexdigest()[:10], 16)
    meta = {"id": artifact_id, "size": size, "digest": digest, "retention-days": retention}
    (shared.root / "artifacts-meta").mkdir(parents=True, exist_ok=True)
    (shared.root / "artifacts-meta" / f"{name}.json").write_text(json.dumps(meta), encoding="utf-8")
    return size, digest, artifact_id


def upload(step: Step) -> StepResult:
    """actions/upload-artifact (v4+): one immutable artifact per name in the run."""
    call, job = step.call, step.call.job
    name, lines = step.input("name", "artifact"), step.lines_of("path")
    if not lines:
        step.fail("Input required and not supplied: path")
    overwrite, hidden = step.flag("overwrite", False), step.flag("include-hidden-files", False)
    archive, mode = step.flag("archive", True), step.input("if-no-files-found", "warn")
    if mode not in ("warn", "error", "ignore"):
        step.fail(
            f"Unrecognized if-no-files-found input. Provided: {mode}. "
            "Available options: warn,error,ignore"
        )
    retention = _number(step, "retention-days", 1, 90)
    _number(step, "compression-level", 0, 9)
    found = search(lines, job.workspace, job.home, descendants=True, hidden=hidden)
    files = [path for path in found.matches if not path.is_dir()]
    if not files:
        message = f"No files were found with the provided path: {step.input('path')}. "
        message += "No artifacts will be uploaded."
        if mode == "error":
            step.fail(message)
        step.info(("Warning: " if mode == "warn" else "") + message)
        return StepResult()
    step.info(f"With the provided path, there will be {len(files)} file(s) uploaded")
    if not archive:
        if len(files) > 1:
            step.fail(
                "When 'archive' is set to false, only a single file can be uploaded. "
                f"Found {len(files)} files to upload."
            )
        name = files[0].name  # an unarchived artifact is named after its file
    entries = [(path, os.path.relpath(path, _root(found, files))) for path in files]
    size, digest, artifact_id = _store(step, name, entries, overwrite, retention)
    run_id = job.env.get("GITHUB_RUN_ID", "1")
    url = (
        f"https://github.com/{call.event.repository}/actions/runs/{run_id}/artifacts/{artifact_id}"
    )
    step.info(
        f"Artifact {name} has been successfully uploaded! Final size is {size} bytes. "
        f"Artifact ID is {artifact_id}"
    )
    outputs = {"artifact-id": str(artifact_id), "artifact-url": url, "artifact-digest": digest}
    return StepResult(outputs=outputs, artifacts_out={name: size})


def download(step: Step) -> StepResult:
    """actions/download-artifact (v4+), from this run's artifacts."""
    call, job = step.call, step.call.job
    name, pattern = step.input("name"), step.input("pattern")
    merge = step.flag("merge-multiple", False)
    mismatch = step.input("digest-mismatch") or "error"
    if mismatch not in ("ignore", "info", "warn", "error"):
        step.fail(
            f"Unable to download artifact(s): Invalid value for 'digest-mismatch': '{mismatch}'. "
            "Valid options are: ignore, info, warn, error"
        )
    given = step.input("path") or str(job.workspace)
    given = str(job.home) + given[1:] if given.startswith("~") else given
    resolved = Path(os.path.normpath(job.workspace / given))
    store = call.shared.artifacts
    available = sorted(p.name for p in store.iterdir() if p.is_dir()) if store.is_dir() else []
    if name:
        if name not in available:
            step.fail(f"Unable to download artifact(s): Artifact '{name}' not found")
        chosen = [name]
    else:  # every artifact of the run, or those whose name matches the pattern
        chosen = [n for n in available if not pattern or _minimatch(n, pattern)]
    sizes = {}
    for artifact in chosen:
        # One artifact, a name, or merge-multiple: straight into path; else path/<name>/.
        single = name or merge or len(chosen) == 1
        dest = resolved if single else resolved / artifact
        files = [p for p in (store / artifact).rglob("*") if p.is_file()]
        sizes[artifact], _ = _copy_in(
            [(p, str(p.relative_to(store / artifact))) for p in files], dest
        )
        step.info(f"- {artifact} ({sizes[artifact]} bytes) into {dest}")
    step.info(f"Total of {len(chosen)} artifact(s) downloaded")
    return StepResult(outputs={"download-path": str(resolved)}, artifacts_in=sizes)


def upload_pages(step: Step) -> StepResult:
    """actions/upload-pages-artifact, a composite: tar the directory on the machine (the
    action's own tar options), then upload-artifact that one file."""
    job = step.call.job
    path, name = step.input("path", "_site/"), step.input("name", "github-pages")
    tar = job.temp / "artifact.tar"
    hidden = [] if step.input("include-hidden-files", "false") == "true" else ["--exclude=.[^/]*"]
    argv = ["tar", "--dereference", "--hard-dereference", "--directory", path, "-cvf", str(tar)]
    done = step.exec([*argv, "--exclude=.git", "--exclude=.github", *hidden, "."], check=None)
    if done.returncode:
        step.fail(f"Process completed with exit code {done.returncode}.")
    inputs = {"name": name, "path": str(tar), "if-no-files-found": "error"}
    inputs["retention-days"] = step.input("retention-days", "1")
    result = upload(step.nested(UPLOAD_ARTIFACT, inputs))
    result.outputs = {"artifact_id": result.outputs.get("artifact-id", "")}
    return result


def deploy_pages(step: Step) -> StepResult:
    """actions/deploy-pages: the permissions and the artifact it needs, then the Pages API."""
    call = step.call
    if not step.granted("id-token"):  # core.getIDToken fails without the permission
        step.fail('Ensure GITHUB_TOKEN has permission "id-token: write".')
    name = step.input("artifact_name") or "github-pages"
    step.info(f'Fetching artifact metadata for "{name}" in this workflow run')
    if not (call.shared.artifacts / name).is_dir():
        step.fail(
            f'No artifacts named "{name}" were found for this workflow run. Ensure artifacts are '
            "uploaded with actions/upload-artifact@v4 or later."
        )
    if not step.granted("pages"):
        step.fail(
            f"Failed to create deployment (status: 403) with build version {call.event.sha}. "
            'Ensure GITHUB_TOKEN has permission "pages: write".'
        )
    step.api("POST", f"https://api.github.com/repos/{call.event.repository}/pages/deployments")
    owner, repo = call.event.repository.split("/")
    return StepResult(outputs={"page_url": f"https://{owner}.github.io/{repo}/"})


# --- actions/cache ------------------------------------------------------------------------------


def _cache_scopes(step: Step) -> list[str]:
    """Caches a run may restore: its own ref's, a pull request's base branch's, the default
    branch's (docs: "Restrictions for accessing a cache"); a tag sees its own and the default's."""
    event = step.call.event
    scopes = [event.ref]
    if event.name == "pull_request" and event.base_ref:
        scopes.append(f"refs/heads/{event.base_ref}")
    scopes.append(f"refs/heads/{event.default_branch}")
    return list(dict.fromkeys(scopes))


def _cache_find(store: Path, scopes: list[str], version: str, keys: list[str]) -> dict | None:
    """Docs "Cache key matching": per scope (current first), the exact key, then the newest
    entry whose key starts with the key, then with each restore key in order."""
    entries = [json.loads(p.read_text(encoding="utf-8")) for p in store.glob("*.json")]
    for scope in scopes:
        mine = [e for e in entries if e["scope"] == scope and e["version"] == version]
        exact = [e for e in mine if e["key"] == keys[0]]
        if exact:
            return exact[0]
        for prefix in keys:
            hits = [e for e in mine if e["key"].startswith(prefix)]
            if hits:
                return max(hits, key=lambda e: e["created"])
    return None


def cache(step: Step) -> StepResult:
    """actions/cache: restore now, save in the post step."""
    call, job = step.call, step.call.job
    key, paths = step.input("key"), step.lines_of("path")
    for name, value in (("path", paths), ("key", key)):
        if not value:
            step.fail(f"Input required and not supplied: {name}")
    if len(key) > 512:  # @actions/cache checkKey
        step.fail(f"Key Validation Error: {key} cannot be larger than 512 characters.")
    if "," in key:
        step.fail(f"Key Validation Error: {key} cannot contain commas.")
    restore_keys = step.lines_of("restore-keys")
    # The cache version: a hash of the paths (and compression), so other paths never match.
    version = hashlib.sha256("|".join([*paths, "tar"]).encode()).hexdigest()
    store = call.shared.cache
    store.mkdir(parents=True, exist_ok=True)
    found = _cache_find(store, _cache_scopes(step), version, [key, *restore_keys])
    result = StepResult()
    if found is None:
        if step.input("fail-on-cache-miss").lower() == "true":
            step.fail(
                "Failed to restore cache entry. Exiting as fail-on-cache-miss is set. "
                f"Input key: {key}"
            )
        # `cache-hit` stays unset on a miss (actions/cache#1466, kept by the action).
        step.info(f"Cache not found for input keys: {', '.join([key, *restore_keys])}")
    else:
        exact = found["key"].casefold() == key.casefold()  # isExactKeyMatch
        result.outputs["cache-hit"] = "true" if exact else "false"
        if step.input("lookup-only").lower() != "true":
            # Members are named relative to the workspace (`../` for paths outside it), which
            # the "data" filter (3.14's default) refuses; the archive is this module's own.
            trusted = {"filter": "fully_trusted"} if sys.version_info >= (3, 12) else {}
            with tarfile.open(store / found["archive"]) as archive:
                archive.extractall(job.workspace, **trusted)
        step.info(f"Cache restored from key: {found['key']}")
    matched = found["key"] if found else ""
    result.post = lambda ok: _cache_save(step.fresh(), ok, key, matched, paths, version)
    return result


def _cache_save(
    step: Step, ok: bool, key: str, matched: str, paths: list[str], version: str
) -> StepResult:
    """The post step (post-if: success()): save under the key unless it was an exact hit."""
    call, job = step.call, step.call.job
    if not ok:
        step.info("Skipped: the post step runs only if the job succeeded (post-if: success())")
    elif matched.casefold() == key.casefold():
        step.info(f"Cache hit occurred on the primary key {key}, not saving cache.")
    else:
        found = search(paths, job.workspace, job.home, descendants=False, hidden=True)
        store, scope = call.shared.cache, call.event.ref
        name = hashlib.sha256(f"{scope}\0{version}\0{key}".encode()).hexdigest()[:32]
        if not found.matches:
            step.info(
                "[warning]Path Validation Error: Path(s) specified in the action for caching "
                "do(es) not exist, hence no cache is being saved."
            )
        elif (store / f"{name}.json").exists():
            step.info(
                f"[warning]Failed to save: Unable to reserve cache with key {key}, another job "
                "may be creating this cache."
            )
        else:
            partial = store / f".{name}.{uuid.uuid4().hex}.tar"
            with tarfile.open(partial, "w") as archive:
                for path in found.matches:  # named relative to the workspace, as the action does
                    archive.add(path, arcname=os.path.relpath(path, job.workspace))
            partial.rename(store / f"{name}.tar")
            entry = {"key": key, "version": version, "scope": scope, "archive": f"{name}.tar"}
            entry["created"] = time.time_ns()
            (store / f"{name}.json").write_text(json.dumps(entry), encoding="utf-8")
            step.info(f"Cache saved with key: {key}")
    return StepResult(log="\n".join(step.lines))


def _minimatch(name: str, pattern: str) -> bool:
    """download-artifact's filter (minimatch, default options): `{a,b}` expands to each
    alternative, then each is a glob."""
    match = re.search(r"\{([^{}]*)\}", pattern)
    if match is None:
        return fnmatch.fnmatchcase(name, pattern)
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return any(_minimatch(name, head + part + tail) for part in match.group(1).split(","))
