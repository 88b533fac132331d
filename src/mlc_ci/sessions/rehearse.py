"""rehearse: the CI workflow of one event, every job on this host the way GitHub runs it.

`python -m mlc_ci rehearse --config examples/mini-llm/pipeline.toml --event pull_request`
makes the plan job's matrix for that pipeline.toml, then runs its stages in order:

- every job in a fresh clone of HEAD (of the tag, for `--event tag`), with the job environment
  of its stage and only the artifacts its matrix entry names (plan/rehearsal.py holds the
  contract);
- each job's artifacts (docker-build's image archives in one of their own) are copied out of
  its clone, which is then removed; `--drop GLOB` loses matching files of every artifact on the
  way (a broken hand-off);
- the images of the build stage are removed from the engine before verify, so a verify job
  sees only what it downloaded;
- a job this host cannot run runs its local equivalent (wheels-windows with --cross mingw) or is
  listed as not runnable, with the reason;
- for a tag, the registry is read before and after the release job: no mutable tag before,
  each one at the digest integration verified after.

The table (job, command, seconds, artifacts in and out, status) ends the run, and
reports/rehearsal-<event>.json records it. Everything is pushed and published to loopback
services only: the registry of `--registry`, the [release].index_url of the pipeline.toml and a
GitHub stand-in at `--github-api` (scripts/ci-services.sh starts all three).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any, Mapping, Sequence, TextIO

from mlc_ci import host, net
from mlc_ci import report as report_mod
from mlc_ci.config import Config
from mlc_ci.errors import PipelineError
from mlc_ci.plan import matrix as ci_matrix
from mlc_ci.plan import rehearsal as plan
from mlc_ci.plan.versions import from_tag
from mlc_ci.run import Context, Runner, Step, capture
from mlc_ci.sessions import trivy as trivy_session
from mlc_ci.sessions.base import Plan

LOOPBACK = ("127.0.0.1", "localhost", "::1")
REGISTRY = re.compile(r"(127\.0\.0\.1|localhost|\[::1\])(:\d+)?")
ERROR_PREFIX = "mlc-ci: error: "  # how cli.main prints a session's one-line error
TAIL = 40  # lines of a failed job's log printed when jobs run side by side
# Variables of this host that a runner of the same kind would have too; every other MLC_CI_*
# and GITHUB_* variable of the caller stays out of the jobs, as on a fresh runner.
HOST_VARS = (
    "MLC_CI_DOCKER",
    "MLC_CI_CA_BUNDLE",
    "MLC_CI_STRICT_SKIPS",
    "MLC_CI_TEST_ENV",
    "MLC_CI_TRIVY",
    "MLC_CI_JOBS",
    "MLC_CI_DEBUG",
)
MANIFESTS = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `rehearse`."""
    parser.add_argument("--event", choices=plan.EVENTS, required=True, help="what GitHub saw")
    parser.add_argument("--tag", default="", help="the v* tag of --event tag (made in a mirror)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="run only this job, or this stage's jobs (repeat)",
    )
    parser.add_argument(
        "--drop", action="append", default=[], help="leave files matching GLOB out of artifacts"
    )
    parser.add_argument("--jobs", type=int, default=1, help="jobs of one stage side by side")
    parser.add_argument(
        "--reuse", default="", help="an earlier rehearsal's report: its passed gate jobs count"
    )
    parser.add_argument(
        "--registry", default="127.0.0.1:5000", help="the local registry images are pushed to"
    )
    parser.add_argument("--github-api", default="", help="a local GitHub stand-in (tag event)")
    parser.add_argument("--github-token", default="rehearsal", help="the stand-in's token")
    parser.add_argument("--workdir", default="", help="clones, logs, artifacts (.rehearsal/EVENT)")


def _loopback(url: str, what: str, fix: str) -> None:
    try:
        host_part = urllib.parse.urlsplit(url if "//" in url else f"//{url}").hostname or ""
    except ValueError:
        host_part = ""
    if host_part not in LOOPBACK:
        raise PipelineError(f"{what} {url} is not on this machine; {fix}.")


def _check_args(args: argparse.Namespace, config: Config) -> None:
    """What can be refused before any clone or build."""
    if args.jobs < 1:
        raise PipelineError(f"--jobs {args.jobs}: run at least 1 job at a time.")
    if args.event == "tag":
        if not args.tag:
            raise PipelineError("--event tag needs --tag vX.Y.Z (the tag the run is for).")
        from_tag(args.tag)  # its own message for a tag that is not vX.Y.Z
    elif args.tag:
        raise PipelineError(f"--tag is for --event tag; drop it for --event {args.event}.")
    _loopback(args.registry, "--registry", "rehearse against a local registry")
    if not REGISTRY.fullmatch(args.registry):
        raise PipelineError(
            f"--registry {args.registry}: give the registry as host:port (127.0.0.1:5000), "
            "without a scheme or a path."
        )
    if args.github_api:
        _loopback(args.github_api, "--github-api", "point it at a local GitHub stand-in")
        if not args.github_api.startswith(("http://", "https://")):
            raise PipelineError(
                f"--github-api {args.github_api}: give its URL (http://127.0.0.1:8091)."
            )
    if args.event == "tag" and config.release.index_url:
        _loopback(
            config.release.index_url,
            f"[release].index_url of {config.path}",
            "a rehearsal publishes only locally: rehearse a pipeline.toml whose index is local",
        )


def _probe(config: Config, env: Mapping[str, str], repo: Path, event: str):
    """The plan job's matrix for the event, what this host can run, the commit to rehearse."""
    listing = capture(
        ("nox", "--list", "--json", "-t", *ci_matrix.STAGES),
        cwd=repo,
        fix="install nox (pip install nox) and run from the repository root",
    )
    sha = capture(("git", "-C", str(repo), "rev-parse", "HEAD")).strip()
    facts = plan.Facts(
        mingw=host.has_tool("x86_64-w64-mingw32-g++-posix", env),
        trivy=bool(trivy_session.trivy_override(env)) or host.has_tool("trivy", env),
        gpus=len(host.gpus(env)),
    )
    matrix = ci_matrix.build(
        ci_matrix.parse_listing(listing),
        config.release.gpu_runner,
        # As the plan job decides: no GPU runner for a pull request (fork code never reaches
        # a machine that outlives the job); pushes to the default branch and tags get it.
        pull_request=event == "pull_request",
        axis=ci_matrix.variant_axis(config),
        pythons=config.python.versions,
    )
    return matrix, facts, sha


def plan_rehearsal(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> Plan:
    """Mirror HEAD, then one step per stage (its jobs), the registry checks, the table."""
    _check_args(args, config)
    repo = Path.cwd()
    _committed(repo, config.path)
    matrix, facts, sha = _probe(config, env, repo, args.event)
    workdir = Path(args.workdir or repo / ".rehearsal" / args.event).resolve()
    if workdir.exists() and not workdir.is_dir():
        raise PipelineError(f"--workdir {workdir} is a file; name a directory.")
    # The served index tree, kept between rehearsals (the pages job's site), in the repository's
    # own .rehearsal/ whatever --workdir says.
    pages = repo / ".rehearsal" / "pages"
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    target = plan.Target(
        config=os.path.relpath(config.path, repo),
        # A repository of its own per rehearsal: the registry keeps what earlier runs pushed.
        namespace=f"{args.registry}/rehearsal-{stamp}-{os.getpid()}",
        repository=f"local/{config.project.name}",
        github_api=args.github_api,
        github_token=args.github_token,
        previous=str(pages) if pages.is_dir() else "NEW",
    )
    event = plan.Event(args.event, sha, args.tag, config.image.default_branch)
    jobs = plan.plan_jobs(matrix, event, target, facts, args.only)
    reused = _reused(args.reuse, jobs, sha, workdir)
    pairs = [(job, _row(job, reused.get(job.name, ""))) for job in jobs]
    work = _Work(workdir, repo, event, args, config.image.docker)
    work.pages = pages
    notes = [f"{args.event} of {sha[:12]}" + (f" tagged {args.tag}" if args.tag else "")]
    if capture(("git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no")).strip():
        notes.append("the working tree has uncommitted changes: the jobs run HEAD without them")
    notes += [
        f"{job.name}: {' '.join(job.argv)}" + (f" ({job.runs}: {job.reason})" if job.reason else "")
        for job in jobs
    ]
    rows = [row for _, row in pairs]
    data = {"event": args.event, "sha": sha, "tag": args.tag, "workdir": str(workdir), "jobs": rows}
    table = Step("the rehearsal's table", action=lambda ctx: _print_table(rows, sys.stdout))
    return Plan(f"rehearsal-{args.event}", _steps(work, pairs), data, cleanup=[table], notes=notes)


def _steps(work: "_Work", pairs: list[tuple[plan.Job, dict[str, Any]]]) -> list[Step]:
    """The mirror, each stage's jobs, and around them the engine and registry steps."""
    # A tag's release job and a default-branch push's both move image tags: the registry is
    # read around them.
    promotes = work.event.name in ("tag", "push")
    git = ("git", "-C", str(work.mirror_dir))
    mirror = Step(
        f"mirror {work.event.sha[:12]} into {work.workdir}",
        action=work.mirror,
        reads=(("git", "clone", "--quiet", "--bare"), (*git, "tag"), (*git, "rev-parse")),
    )
    steps = [mirror]
    for stage in ci_matrix.STAGES:
        staged = [(job, row) for job, row in pairs if job.stage == stage]
        runs = any(job.runnable for job, _ in staged)
        if stage == "verify" and runs:
            steps.append(
                Step(
                    "remove the build stage's images from the engine",
                    action=work.unload,
                    reads=((work.docker, "image", "inspect"), (work.docker, "image", "rm")),
                )
            )
        if stage == "release" and promotes and runs:
            steps.append(
                Step("registry: no mutable tag before the release job", action=work.before)
            )
        if any(row["status"] == "pending" or row.get("artifact_dir") for _, row in staged):
            clones = (("git", "clone", "--quiet", "--no-checkout"), ("git", "-C"))
            steps.append(
                Step(
                    f"stage {stage}: {len(staged)} job(s)", action=work.stage(staged), reads=clones
                )
            )
        if stage == "release" and promotes and runs:
            steps.append(
                Step("registry: each promoted tag at its verified digest", action=work.after)
            )
    return steps


def _committed(repo: Path, config: Path) -> None:
    """The jobs clone HEAD: what the rehearsal plans from must be what they get."""
    for path in (config, repo / "noxfile.py"):
        rel = os.path.relpath(path, repo)
        if rel.startswith(".."):
            raise PipelineError(
                f"{path} is outside the repository {repo}, whose HEAD the jobs clone; rehearse "
                "a pipeline.toml of the repository, from its root."
            )
        changed = capture(("git", "-C", str(repo), "status", "--porcelain", "--", rel)).strip()
        if changed:
            raise PipelineError(
                f"{rel} is not committed as it is here, and the jobs run HEAD's; commit it "
                "(or stash the change) before rehearsing."
            )


def _reused(path: str, jobs: Sequence[plan.Job], sha: str, workdir: Path) -> dict[str, str]:
    if not path:
        return {}
    fix = "pass the reports/rehearsal-<event>.json of an earlier rehearsal"
    try:
        earlier = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PipelineError(
            f"--reuse {path}: cannot read it as a rehearsal report ({exc}); {fix}."
        ) from exc
    data = earlier.get("data") if isinstance(earlier, dict) else None
    rows = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise PipelineError(f"--reuse {path} is not a rehearsal report (no job rows); {fix}.")
    if Path(str(data.get("workdir", ""))).resolve() == workdir:
        raise PipelineError(
            f"--reuse {path} is this rehearsal's own earlier run, whose artifacts it is about "
            "to clear; reuse the other event's rehearsal, or give another --workdir."
        )
    return plan.reuse(jobs, data, sha)


def _row(job: plan.Job, reused_from: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": job.name,
        "stage": job.stage,
        "runs": job.runs,
        "argv": list(job.argv),
        "artifact": job.artifact,
        "status": "pending" if job.runnable else "not run",
        "reason": job.reason,
        "seconds": 0.0,
    }
    if reused_from:
        row.update(runs=plan.REUSED, status="passed", artifact_dir=reused_from)
        row["reason"] = "passed in the earlier rehearsal of this commit (--reuse)"
    return row


def _print_table(rows: Sequence[dict[str, Any]], out: TextIO) -> None:
    for row in rows:
        if row["status"] == "pending":  # the workflow's `!failure()`: later stages never start
            row.update(status="not run", reason="an earlier stage failed")
    print("\n" + report_mod.table(plan.table_rows(rows), plan.TABLE_HEADERS), file=out, flush=True)


class _Work:
    """The rehearsal's I/O: the mirror, the job clones, artifacts, the engine, the registry."""

    def __init__(self, workdir: Path, repo: Path, event: plan.Event, args, docker: str) -> None:
        self.workdir, self.repo, self.event, self.args, self.docker = (
            workdir,
            repo,
            event,
            args,
            docker,
        )
        self.mirror_dir = workdir / "origin.git"
        self.artifacts = workdir / "artifacts"
        self.before_tags: dict[str, list[str]] = {}
        self.pages = workdir.parent / "pages"

    # --- set-up --------------------------------------------------------------------------

    def mirror(self, ctx: Context) -> None:
        """A bare clone of the repository (never the caller's), tagged for a tag event."""
        del ctx
        if self.workdir.exists():
            if not (self.workdir / ".mlc-ci-rehearsal").is_file() and any(self.workdir.iterdir()):
                raise PipelineError(
                    f"--workdir {self.workdir} is not empty and not a rehearsal's; pick another."
                )
            shutil.rmtree(self.workdir)
        self.workdir.mkdir(parents=True)
        (self.workdir / ".mlc-ci-rehearsal").write_text("", encoding="utf-8")
        capture(("git", "clone", "--quiet", "--bare", str(self.repo), str(self.mirror_dir)))
        if self.event.tag:
            git = ("git", "-C", str(self.mirror_dir))
            found = capture((*git, "tag", "--list", self.event.tag)).strip()
            if found:
                at = capture((*git, "rev-parse", f"{self.event.tag}^{{commit}}")).strip()
                if at != self.event.sha:
                    raise PipelineError(
                        f"tag {self.event.tag} already names {at[:12]}, not HEAD "
                        f"{self.event.sha[:12]}; rehearse another tag."
                    )
            else:
                capture((*git, "tag", self.event.tag, self.event.sha))

    # --- jobs ----------------------------------------------------------------------------

    def stage(self, staged: list[tuple[plan.Job, dict[str, Any]]]):
        """The step action of one stage: its jobs, up to --jobs at once; failed if any did."""

        def action(ctx: Context) -> None:
            del ctx
            for job, row in staged:
                if row.get("artifact_dir"):
                    self._take_artifact(job, Path(row["artifact_dir"]), row)
            pending = [(job, row) for job, row in staged if row["status"] == "pending"]
            side_by_side = self.args.jobs > 1 and len(pending) > 1
            runners = [Runner(env=self._env(job)) for job, _ in pending]
            pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.args.jobs)
            futures = [
                pool.submit(self._job, job, row, runner, side_by_side)
                for (job, row), runner in zip(pending, runners)
            ]
            try:
                for future in futures:
                    future.result()
            except BaseException:  # Ctrl-C, SIGTERM: no job outlives the rehearsal
                for runner in runners:
                    runner.stop()
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
            failed = [row for _, row in staged if row["status"] == "failed"]
            if failed:
                raise PipelineError(
                    "; ".join(f"{row['name']} failed: {row['error']}" for row in failed)
                )

        return action

    def _job(self, job: plan.Job, row: dict[str, Any], runner: Runner, side_by_side: bool) -> None:
        slug = job.artifact
        clone = self.workdir / "jobs" / slug
        log = self.workdir / "logs" / f"{slug}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        print(f"-- {job.name}: {' '.join(job.argv)}", flush=True)
        try:
            with log.open("w", encoding="utf-8") as handle:
                runner.out = handle if side_by_side else _Tee(handle, sys.stdout)
                self._checkout(clone, job.shallow)
                row["files_in"] = self._download(job, clone) if job.downloads else 0
                runner.check_stopped()
                runner.run(Step(job.name, job.argv, cwd=str(clone)))
                made = _files(clone, job.uploads) + _files(clone, job.images_uploads)
                missing = plan.missing_products(job, made)
                if missing:
                    raise PipelineError(
                        f"its artifact lacks {', '.join(missing)} (the session's contract)"
                    )
                row["status"] = "passed"
        except PipelineError as exc:
            row.update(status="failed", error=_cause(log) or str(exc))
        finally:
            if clone.is_dir():
                try:
                    row["files_out"] = self._upload(job, clone, row["status"] == "passed")
                    row["artifact_dir"] = str(self.artifacts / job.artifact)
                except PipelineError as exc:
                    if row["status"] != "failed":  # the job's own cause comes first
                        row.update(status="failed", error=str(exc))
                shutil.rmtree(clone, ignore_errors=True)
            row["seconds"] = round(time.monotonic() - start, 1)
            row["log"] = str(log)
        print(f"-- {job.name}: {row['status']} in {row['seconds']:.0f}s", flush=True)
        if side_by_side and row["status"] == "failed":
            lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
            print("\n".join(f"   | {line}" for line in lines[-TAIL:]), flush=True)

    def _checkout(self, clone: Path, shallow: bool = False) -> None:
        """The job's workspace, as actions/checkout makes it: the event's commit, and where the
        workflow keeps the action's default fetch-depth, only that commit (a depth-1 fetch of
        it by name over file://, as the action fetches it from GitHub)."""
        shutil.rmtree(clone, ignore_errors=True)
        clone.parent.mkdir(parents=True, exist_ok=True)
        ref = self.event.tag or self.event.sha
        if not shallow:
            capture(("git", "clone", "--quiet", "--no-checkout", str(self.mirror_dir), str(clone)))
            capture(("git", "-C", str(clone), "checkout", "--quiet", "--detach", ref))
            return
        clone.mkdir()
        git = ("git", "-C", str(clone))
        capture((*git, "init", "--quiet"))
        capture((*git, "remote", "add", "origin", self.mirror_dir.resolve().as_uri()))
        capture((*git, "fetch", "--quiet", "--depth", "1", "origin", ref))
        capture((*git, "checkout", "--quiet", "--detach", "FETCH_HEAD"))

    def _env(self, job: plan.Job) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("GITHUB_", "MLC_CI_", "RUNNER_", "NOX_")) or key in HOST_VARS
        }
        # The rehearsal's own nox session venv is not the job's.
        env.pop("VIRTUAL_ENV", None)
        if job.stage == "gate":
            # The gate needs no engine, and on GitHub it gets the runner's own first `docker`:
            # so here too (on this machine kind a CLI without buildx), with no MLC_CI_DOCKER.
            env.pop("MLC_CI_DOCKER", None)
        env.update({key: value for key, value in job.env.items() if value})
        return env

    def _download(self, job: plan.Job, clone: Path) -> int:
        """The stage's actions/download-artifact steps with merge-multiple: the artifacts so
        far that the job's fields name, each step's into its path."""
        found = self.artifacts.iterdir() if self.artifacts.is_dir() else ()
        available = sorted(p.name for p in found if p.is_dir())
        count = 0
        for field, into in plan.DOWNLOADS[job.stage]:
            for name in plan.matching(getattr(job, field), available):
                artifact = self.artifacts / name
                for path in sorted(p for p in artifact.rglob("*") if p.is_file()):
                    target = clone / into / path.relative_to(artifact)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target)
                    count += 1
        return count

    def _upload(self, job: plan.Job, clone: Path, passed: bool) -> int:
        """actions/upload-artifact with overwrite: the stage's paths, and after a passing
        docker-build its image archives as an artifact of their own (rooted at IMAGES_DIR, as
        upload-artifact roots a one-directory artifact); no file at all fails the job
        (if-no-files-found: error); --drop then loses files on the way."""
        count = self._store(job.artifact, clone, _files(clone, job.uploads))
        if passed and job.images_artifact:
            images = _files(clone, job.images_uploads)
            count += self._store(job.images_artifact, clone, images, plan.IMAGES_DIR)
        if passed and job.stage == "release" and (clone / "site").is_dir():
            self._deploy(clone / "site")  # the pages job: only after a release that passed
        return count

    def _store(self, artifact: str, clone: Path, found: list[str], root: str = "") -> int:
        """One artifact of `found` (paths in the clone), its files relative to `root`."""
        target = self.artifacts / artifact
        shutil.rmtree(target, ignore_errors=True)
        if not found:
            raise PipelineError(f"no files for artifact {artifact} (if-no-files-found: error)")
        kept = [p for p in found if not plan.dropped(p, self.args.drop)]
        for name in kept:
            inside = target / (Path(name).relative_to(root) if root else Path(name))
            inside.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(clone / name, inside)
        return len(kept)

    def _deploy(self, site: Path) -> None:
        """The pages job: the index tree the release job wrote replaces the served one, which
        the next tag rehearsal reads back as its previous tree."""
        pages = self.pages
        staged = pages.with_name("pages.new")
        shutil.rmtree(staged, ignore_errors=True)
        shutil.copytree(site, staged)
        shutil.rmtree(pages, ignore_errors=True)
        staged.rename(pages)
        print(f"      pages: the index tree is now {pages}", flush=True)

    def _take_artifact(self, job: plan.Job, source: Path, row: dict[str, Any]) -> None:
        """A reused job's artifact, from the earlier rehearsal's."""
        if not source.is_dir():
            raise PipelineError(
                f"--reuse: the artifact of {job.name} ({source}) is gone; rehearse without "
                "--reuse."
            )
        target = self.artifacts / job.artifact
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)
        row["artifact_dir"] = str(target)
        row["files_out"] = sum(1 for p in target.rglob("*") if p.is_file())

    # --- the engine and the registry -----------------------------------------------------

    def _images(self) -> list[dict[str, Any]]:
        found = []
        for path in sorted(self.artifacts.glob("*/reports/docker-build-*.json")):
            data = report_mod.read(path)
            found += [
                art["details"]
                for art in data.get("artifacts", [])
                if art.get("details", {}).get("kind") == "image"
            ]
        return found

    def unload(self, ctx: Context) -> None:
        """Untag every image the build stage made: a verify job has only the hand-off."""
        del ctx
        for image in self._images():
            present = [tag for tag in image["tags"] if host.image_present(self.docker, tag)]
            if present:
                capture((self.docker, "image", "rm", *present))
                print(f"      removed {', '.join(present)}", flush=True)

    def before(self, ctx: Context) -> None:
        """Each pushed image's repository before release: none of its mutable tags yet."""
        del ctx
        every = self._images()
        if not every:
            print("      no docker-build report: no image tags to move", flush=True)
            return
        images = [image for image in every if image.get("digest")]
        if not images:
            raise PipelineError(
                "the build stage pushed no image (no digest in its docker-build reports); a tag "
                "rehearsal pushes every image to --registry."
            )
        for image in images:
            repo = image["tags"][0].rpartition(":")[0]
            self.before_tags[repo] = _registry_tags(repo)
        problems = plan.early_tags(images, self.before_tags)
        if problems:
            raise PipelineError("; ".join(problems))
        print(f"      no mutable tag in {', '.join(sorted(self.before_tags))}", flush=True)

    def after(self, ctx: Context) -> None:
        """Every promoted tag now names the digest the verify stage tested."""
        del ctx
        images = [image for image in self._images() if image.get("digest")]
        after = {ref: _manifest_digest(ref) for image in images for ref in image.get("promote", [])}
        problems = plan.promotion_problems(images, after)
        if problems:
            raise PipelineError("; ".join(problems))
        print(f"      {len(after)} tag(s) at their verified digests", flush=True)


def _cause(log: Path) -> str:
    """The session's own one-line error in a job's log (nox's last words say less)."""
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    errors = [line for line in lines if line.startswith(ERROR_PREFIX)]
    return errors[-1][len(ERROR_PREFIX) :].strip() if errors else ""


class _Tee:
    """A text stream writing to a log file and the terminal."""

    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        """Write to each stream."""
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        """Flush each stream."""
        for stream in self.streams:
            stream.flush()


def _files(root: Path, patterns: Sequence[str]) -> list[str]:
    """Paths (relative, '/'-separated) under `root` that the upload patterns take; a `!`
    pattern leaves out that file, or what is under that directory."""
    found = []
    for pattern in patterns:
        path = root / pattern
        if pattern.startswith("!"):
            continue  # left out below
        if pattern.endswith("/") and path.is_dir():
            found += [p.relative_to(root).as_posix() for p in path.rglob("*") if p.is_file()]
        elif path.is_file():
            found.append(pattern)
    left_out = [p[1:].rstrip("/") for p in patterns if p.startswith("!")]
    return sorted(
        {name for name in found if not any(name == x or name.startswith(f"{x}/") for x in left_out)}
    )


def _registry(ref: str) -> tuple[str, str]:
    """127.0.0.1:5000/ns/name -> ("http://127.0.0.1:5000", "ns/name")."""
    registry, _, path = ref.partition("/")
    return f"http://{registry}", path


def _registry_tags(repo: str) -> list[str]:
    base, path = _registry(repo)
    answer = _registry_call(f"{base}/v2/{path}/tags/list", repo)
    if answer.status == 404:
        return []
    if answer.status != 200:
        raise PipelineError(f"the registry answered {answer.status} for {repo}'s tags.")
    return list(json.loads(answer.body).get("tags") or [])


def _manifest_digest(ref: str) -> str:
    repo, _, tag = ref.rpartition(":")
    base, path = _registry(repo)
    url = f"{base}/v2/{path}/manifests/{tag}"
    answer = _registry_call(url, ref, method="HEAD", headers={"Accept": MANIFESTS})
    if answer.status == 404:
        return ""
    if answer.status != 200:
        raise PipelineError(f"the registry answered {answer.status} for {ref}.")
    return answer.headers.get("Docker-Content-Digest", "")


def _registry_call(url: str, what: str, **options) -> net.Answer:
    """One request to the rehearsal's local registry (no retries: it is on this machine)."""
    try:
        return net.request(url, timeout=30, retries=0, **options)
    except net.Unreachable as exc:
        raise PipelineError(f"the registry of {what} does not answer ({exc.reason}).") from None
