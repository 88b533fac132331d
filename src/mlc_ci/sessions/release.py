"""release: versions agree, artifacts verified, SHA256SUMS and notes written, then publish.

Publishing (a GitHub release with the wheels and SHA256SUMS as assets, then the wheels to a
package index with twine) happens only with --publish (or MLC_CI_PUBLISH=1) and without
--dry-run; otherwise the run checks everything, writes the notes and SHA256SUMS, prints what it
would publish and says what it did not do.
"""

from __future__ import annotations

import argparse
import base64
import shlex
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from mlc_ci import files as atomic
from mlc_ci import github, net
from mlc_ci.config import Config
from mlc_ci.errors import PipelineError
from mlc_ci.plan import notes as release_notes
from mlc_ci.plan import publish as pub
from mlc_ci.plan import release as rel
from mlc_ci.plan.versions import Version, from_tag, is_nightly_build
from mlc_ci.report import artifact, read, reports_root, sha256_of
from mlc_ci.run import Context, Ref, Step
from mlc_ci.sessions import index as index_session
from mlc_ci.sessions import promote as promote_session
from mlc_ci.sessions.base import Plan, SessionDef

TRUE = ("1", "true", "yes", "on")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the release session."""
    parser.add_argument("--tag", help="release tag vX.Y.Z (default: the pushed tag in CI)")
    parser.add_argument(
        "--publish", action="store_true", help="publish (also MLC_CI_PUBLISH=1); needs a token"
    )
    parser.add_argument("--dist", help="directory with the wheels (default: [wheel].dist_dir)")
    parser.add_argument(
        "--reports", help="directory with the build reports (default: $MLC_CI_REPORTS_DIR)"
    )
    parser.add_argument("--index-url", help="upload URL of the index ([release].index_url)")
    parser.add_argument(
        "--simple-url", help="the index's simple API (default: derived from the upload URL)"
    )
    parser.add_argument("--repo", default=".", help="git checkout the notes read (default: .)")
    parser.add_argument(
        "--index-dir",
        help="also publish the wheels to this index tree (also MLC_CI_INDEX_DIR; stable channel)",
    )
    parser.add_argument(
        "--nightly",
        action="store_true",
        help="publish the build to the index's nightly channel instead (also MLC_CI_NIGHTLY=1): "
        "no tag, notes or package index",
    )
    parser.add_argument(
        "--previous", help="the previous index tree (directory, URL or NEW; see `index build`)"
    )
    parser.add_argument(
        "--files-url", help="where the index's wheels are downloaded from ([index].files_url)"
    )


def plan(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> Plan:
    """Check, write SHA256SUMS and notes, then publish what the decision allows."""
    if getattr(args, "index_dir", None) is None and env.get("MLC_CI_INDEX_DIR", "").strip():
        args.index_dir = env["MLC_CI_INDEX_DIR"].strip()
    # The builds of a scheduled run are nightlies (plan/versions.py), and so is its release.
    if getattr(args, "nightly", False) or is_nightly_build(env):
        return _nightly_plan(args, config, env)
    if not args.tag and rel.default_branch_push(env, config.image.default_branch):
        return _branch_plan(args, env)
    if args.dry_run and not rel.given_tag(args.tag, env):
        # A dry run before tagging: the plan with a placeholder; a run refuses without a tag.
        tag, version = rel.PLACEHOLDER_TAG, rel.PLACEHOLDER_VERSION
    else:
        tag = rel.tag_from_env(args.tag, env)
        version = from_tag(tag)
    # --dry-run prints the plan and writes nothing, like every session's; a rehearsal that
    # checks and writes the notes and SHA256SUMS is a run without --publish.
    dry_run = args.dry_run
    dist = Path(args.dist or config.wheel.dist_dir).resolve()
    reports = reports_root(env, args.reports).resolve()
    index_url = config.release.index_url if args.index_url is None else args.index_url
    simple = args.simple_url or pub.simple_url(index_url)
    decision = pub.publishing(
        publish=args.publish or env.get("MLC_CI_PUBLISH", "").lower() in TRUE,
        github_enabled=config.release.github,
        token=env.get("GITHUB_TOKEN", ""),
        repository=env.get("GITHUB_REPOSITORY", ""),
        index_url=index_url,
    )
    wheels = sorted(dist.glob("*.whl"))
    assets = [*wheels, dist / "SHA256SUMS"] if wheels else []
    # Only the variants that opt in go to the package index, under names the project holds.
    for_index, index_notes = _index_wheels(config, wheels, index_url)
    steps = _local_steps(
        args.repo,
        config,
        (tag, version),
        (dist, wheels, reports),
        env,
        decision.github or decision.index,
    )
    notes = [
        f"tag {tag}: wheels {version.pep440}, images {version.semver}"
        + (" (prerelease)" if version.is_prerelease else ""),
        *index_notes,
    ]
    if tag == rel.PLACEHOLDER_TAG:
        notes.append(
            f"dry run without a release tag: {tag} stands for it; a run needs one: " + rel.NO_TAG
        )
    if decision.blocker:
        steps.append(Step("check publishing credentials", action=_fail(decision.blocker)))
    index = _index(args, config, (dist, reports), env)
    steps += index[0]
    notes += index[2]
    # With a files_url the index links each wheel's .metadata beside it: release assets too.
    assets += [index[3] / f"{w.name}.metadata" for w in wheels] if index[3] else []
    steps += _promotion(reports, decision.github or decision.index, notes)
    if decision.github:
        title = f"{config.project.name} {version.pep440}"
        steps.append(
            Step(
                f"GitHub release {tag} on {env['GITHUB_REPOSITORY']}",
                action=_github(env, tag, title, version.is_prerelease, assets),
            )
        )
    if decision.index and for_index:
        steps += _upload(for_index, (index_url, simple), env, notes)
    if decision.left_out and not decision.blocker:
        steps.append(
            Step(f"nothing published ({decision.reason})", action=_left_out(decision.not_done))
        )
    notes += _plan_lines(decision, env, tag, version, assets, (index_url, simple, for_index))
    if not any(reports.glob("docker-build*.json")):
        notes.append(f"no docker-build report in {reports}: this release has no images")
    data = {"tag": tag, "dry_run": dry_run, "dist": str(dist), "reports": str(reports)}
    return Plan("release", steps, data, cleanup=index[1], notes=notes)


def _upload(
    wheels: Sequence[Path], index: tuple[str, str], env: Mapping[str, str], notes: list[str]
) -> list[Step]:
    """The twine upload of the wheels the index lacks (notes on those it has).

    A read-only probe, like the host probes of other sessions: what the index already has
    decides what to upload, so a re-run after a partial upload completes it."""
    index_url, simple = index
    upload, present = pub.upload_split(_local_wheels(wheels), _listed(simple, wheels, env))
    notes += present
    paths = {path.name: path for path in wheels}
    return [_twine_step(index_url, [paths[w.name] for w in upload])] if upload else []


def _index_wheels(
    config: Config, wheels: Sequence[Path], index_url: str
) -> tuple[list[Path], list[str]]:
    """The wheels for the package index (those of the variants with `pypi = true`, and of the
    pair built with them), and a note on the ones left out; a name the project does not hold
    ([release].pypi_names) is refused here, before anything is published."""
    if not index_url or not wheels:
        return [], []
    opted = [variant for variant in config.variants.values() if variant.pypi]
    names = [variant.distribution for variant in opted]
    if config.pair_source:
        names += [config.pair_distribution(variant) for variant in opted]
    upload, rest = pub.index_choice(
        [path.name for path in wheels], names, config.release.pypi_names, index_url
    )
    others = ", ".join(v.name for v in config.variants.values() if not v.pypi) or "none"
    notes = (
        [f"not for {index_url} (variants without pypi = true: {others}): {', '.join(rest)}"]
        if rest
        else []
    )
    return [path for path in wheels if path.name in upload], notes


def _promotion(reports: Path, publishing: bool, notes: list[str]) -> list[Step]:
    """The image tags moved to the tested digests when publishing (named in the plan else)."""
    steps, _ = promote_session.promote_steps(reports)
    if not steps or publishing:
        return steps
    tags = [s.title.removeprefix("promote ") for s in steps if s.title.startswith("promote ")]
    notes.append(f"not done (no --publish): promote {', '.join(tags)}")
    return []


def _branch_plan(args: argparse.Namespace, env: Mapping[str, str]) -> Plan:
    """A push to the default branch publishes nothing: once the gates passed, its branch and
    `latest` image tags move to the tested digests (with --publish, as for a tag)."""
    reports = reports_root(env, args.reports).resolve()
    publish = args.publish or env.get("MLC_CI_PUBLISH", "").lower() in TRUE
    notes = [f"a push to {env.get('GITHUB_REF', '')}: no release, only the image tags move"]
    steps = _promotion(reports, publish, notes)
    if not steps and not any("not done" in note for note in notes):
        notes.append(f"nothing to promote: no pushed image in {reports}/docker-build-*.json")
    return Plan("release-branch", steps, {"reports": str(reports)}, notes=notes)


def _nightly_plan(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> Plan:
    """The verified build onto the index's nightly channel; with --publish and a files_url,
    its wheels and .metadata files go to the fixed GitHub release that holds the nightlies."""
    if not args.index_dir:
        raise PipelineError(
            "--nightly publishes to the wheel index: pass --index-dir DIR (or set "
            "MLC_CI_INDEX_DIR)."
        )
    if args.tag:
        raise PipelineError("--nightly publishes no tag: leave out --tag (or --nightly).")
    dist = Path(args.dist or config.wheel.dist_dir).resolve()
    reports = reports_root(env, args.reports).resolve()
    where = index_session.target(config, args, "nightly", env)
    steps, cleanup, notes = index_session.index_steps(config, (dist, reports), where)
    publish = args.publish or env.get("MLC_CI_PUBLISH", "").lower() in TRUE
    tag = config.index.nightly_release
    if where.assets is not None and publish:
        if not (env.get("GITHUB_TOKEN") and env.get("GITHUB_REPOSITORY")):
            raise PipelineError(
                "publishing nightly assets needs GITHUB_TOKEN and GITHUB_REPOSITORY (the "
                "workflow sets both); leave out --publish to rehearse."
            )
        title = f"{config.project.name} nightly builds"
        steps.append(
            Step(
                f"upload this build's wheels to the GitHub release {tag}",
                action=_github_dir(env, (tag, title), where.assets),
            )
        )
    elif where.assets is not None:
        notes.append(f"not done (no --publish): upload {where.assets} to the release {tag}")
    steps += _promotion(reports, publish, notes)
    data = {"nightly": True, "index": str(where.root), "dist": str(dist)}
    return Plan("release-nightly", steps, data, cleanup=cleanup, notes=notes)


def _github_dir(env: Mapping[str, str], release: tuple[str, str], directory: Path):
    """Every file of `directory` (known only once the index is staged) as release assets."""
    tag, title = release

    def action(ctx: Context) -> None:
        assets = sorted(p for p in directory.iterdir() if p.is_file())
        ctx["notes_text"] = (
            f"{title}: every nightly is kept; install them from the wheel index, where they are "
            'listed with their hashes (see the README, "Wheel index").'
        )
        _github(env, tag, title, True, assets)(ctx)

    return action


def _index(args: argparse.Namespace, config: Config, inputs: tuple[Path, Path], env):
    """With --index-dir: the release's wheels onto the stable channel of that tree; the steps,
    their cleanup, notes, and the directory of the .metadata assets (None without one)."""
    if not getattr(args, "index_dir", None):
        return [], [], [], None
    where = index_session.target(config, args, "stable", env)
    return (*index_session.index_steps(config, inputs, where), where.assets)


def _local_steps(repo, config: Config, release, files, env, publishing) -> list[Step]:
    """Everything before publishing: checks, commit history, SHA256SUMS and notes."""
    tag, version = release
    dist, wheels, reports = files
    project = config.project.name
    # A pair the pipeline builds ships with the release, at its own version.
    paired = tuple(
        dict.fromkeys(config.pair_distribution(v) for v in config.variants.values())
        if config.pair_source
        else ()
    )
    owned = (config.project.distribution, *(v.distribution for v in config.variants.values()))
    # Another project's wheel reports in the same reports/ are no business of this release.
    found = (dist, wheels, reports, (project, tuple(config.variants)))
    check = _collect(tag, version, found, (*owned, *paired), paired)
    return [
        Step("check versions, ownership and verification", action=check),
        Step(
            "list release tags",
            ("git", "tag", "--list", "v*"),
            cwd=repo,
            capture=True,
            save_as="git_tags",
        ),
        Step("find the previous release tag", action=_choose_range(tag, publishing)),
        Step(
            "commits since the previous tag",
            ("git", "log", "--no-merges", f"--format={release_notes.LOG_FORMAT}", Ref("log_range")),
            cwd=repo,
            capture=True,
            save_as="git_log",
        ),
        Step("write SHA256SUMS and release notes", action=_write(project, dist, _repo_url(env))),
    ]


def _twine_step(index_url: str, wheels: Sequence[Path]) -> Step:
    skip = pub.supports_skip_existing(index_url)
    return Step(
        f"upload wheels to {index_url}",
        _twine_argv(index_url, wheels),
        # Retrying is safe only where twine can skip what an interrupted try uploaded.
        retries=2 if skip else 0,
        on_fail="twine's message is above; check TWINE_USERNAME/TWINE_PASSWORD and the index "
        "URL (a re-run uploads only what the index does not have yet)",
    )


def _twine_argv(index_url: str, wheels: Sequence[Path]) -> tuple[str, ...]:
    skip = ("--skip-existing",) if pub.supports_skip_existing(index_url) else ()
    return (
        sys.executable,
        "-m",
        "twine",
        "upload",
        "--repository-url",
        index_url,
        "--non-interactive",
        *skip,
        *map(str, wheels),
    )


def _local_wheels(wheels: Sequence[Path]) -> list[rel.WheelFile]:
    return [rel.WheelFile(p.name, p.stat().st_size, sha256_of(p)) for p in wheels]


def _listed(simple: str, wheels: Sequence[Path], env: Mapping[str, str]) -> dict[str, str]:
    """File name -> sha256 of what the index lists for the wheels' projects."""
    listed: dict[str, str] = {}
    for project in sorted({pub.project_of(p.name) for p in wheels}):
        listed.update(pub.index_files(_simple_page(f"{simple.rstrip('/')}/{project}/", env)))
    return listed


def _simple_page(url: str, env: Mapping[str, str]) -> str:
    """A PEP 503 project page ('' when the project is not on the index yet)."""
    headers = {"Accept": "text/html", "User-Agent": "mlc-ci"}
    if env.get("TWINE_USERNAME") and env.get("TWINE_PASSWORD"):
        # Private indexes often need the upload credentials to read as well.
        pair = f"{env['TWINE_USERNAME']}:{env['TWINE_PASSWORD']}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    try:
        answer = net.request(url, headers=headers, timeout=60, retries=2)
    except net.Unreachable as exc:
        raise PipelineError(
            f"cannot read {url} ({exc.reason}); check the index URL, or pass --simple-url "
            "with the index's simple API."
        ) from None
    if answer.status == 404:
        return ""
    if answer.status != 200:
        raise PipelineError(
            f"the index answered {answer.status} for {url}; check --simple-url and the "
            "TWINE_USERNAME/TWINE_PASSWORD credentials."
        )
    return answer.body.decode("utf-8", "replace")


def _plan_lines(decision, env, tag, version, assets, index) -> list[str]:
    """What publishing would do, so a run that does not publish shows the whole plan."""
    if decision.github or decision.index:
        return []
    index_url, simple, wheels = index
    api = env.get("GITHUB_API_URL") or github.DEFAULT_API_URL
    repo = env.get("GITHUB_REPOSITORY") or "$GITHUB_REPOSITORY"
    names = ", ".join(path.name for path in assets) or "none"
    lines = list(decision.not_done)
    if any("GitHub" in line for line in decision.not_done):
        lines.append(
            f"would create or update the GitHub release {tag} of {repo} at {api} "
            f"(prerelease: {'yes' if version.is_prerelease else 'no'}) and replace its "
            f"assets: {names}"
        )
    if wheels and any("upload" in line for line in decision.not_done):
        lines.append(
            f"would read {simple} and upload the wheels it lacks: "
            + shlex.join(_twine_argv(index_url, wheels))
        )
    return lines


def load_reports(directory: Path) -> dict[str, dict[str, Any]]:
    """Every JSON report in `directory` by name (no directory: none)."""
    reports = {}
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        if path.stem == "release":
            continue
        reports[path.stem] = read(path)
    return reports


def _collect(
    tag: str, version: Version, found: tuple, distributions: Sequence[str], paired: Sequence[str]
):
    dist, wheels, reports_dir, (project, variants) = found

    def action(ctx: Context) -> None:
        if dist.exists() and not dist.is_dir():
            raise PipelineError(f"{dist} ([wheel].dist_dir or --dist) is a file, not a directory.")
        reports = rel.own_reports(load_reports(reports_dir), project, variants)
        files = [rel.WheelFile(p.name, p.stat().st_size, sha256_of(p)) for p in wheels]
        images, image_problems = rel.images_from(reports)
        manifest = rel.Manifest(tag, version, files, images)
        stale = (
            []
            if wheels or not (dist / "SHA256SUMS").exists()
            else [
                f"{dist / 'SHA256SUMS'} is left from an earlier release (dist/ has no wheels); "
                "remove it"
            ]
        )
        problems = [
            *rel.ownership_problems(files, distributions),
            *stale,
            *rel.version_problems(version, files, images, paired),
            *rel.verification_problems(files, rel.verified_wheels(reports)),
            *image_problems,
        ]
        rel.check(manifest, problems)
        ctx["manifest"] = manifest

    return action


def _choose_range(tag: str, publishing: bool):
    def action(ctx: Context) -> None:
        tags = ctx["git_tags"].split()
        previous = release_notes.previous_tag(tags, tag)
        end = tag
        if tag not in tags and publishing:
            # GitHub would create a missing tag on the default branch's head: maybe not the
            # commit that was built.
            raise PipelineError(
                f"tag {tag} is not in this checkout; tag the commit that was built, push the "
                "tag, then publish."
            )
        if tag not in tags:
            # Notes are often reviewed before the tag is pushed: list what HEAD would release.
            end = "HEAD"
            ctx["manifest"].notes.append(f"Tag {tag} is not in git yet: changes up to HEAD.")
        ctx["previous_tag"] = previous
        ctx["log_range"] = release_notes.log_range(previous, end)

    return action


def _write(project: str, dist: Path, repo_url: str):
    sums, notes_file = dist / "SHA256SUMS", dist / "RELEASE_NOTES.md"

    def action(ctx: Context) -> None:
        manifest: rel.Manifest = ctx["manifest"]
        commits = release_notes.parse_log(ctx["git_log"])
        written = []
        if manifest.wheels:
            atomic.write_text(sums, rel.sha256sums((w.name, w.sha256) for w in manifest.wheels))
            written.append(artifact(sums, kind="checksums"))
        text = release_notes.release_notes(
            project, manifest, commits, ctx["previous_tag"], repo_url=repo_url
        )
        atomic.write_text(notes_file, text)
        ctx["notes_text"] = text
        arts = ctx.setdefault("artifacts", [])
        arts += [artifact(sums.parent / w.name, kind="wheel") for w in manifest.wheels]
        arts += [*written, artifact(notes_file, kind="notes")]
        ctx.setdefault("report", {}).update(
            version={"pep440": manifest.version.pep440, "semver": manifest.version.semver},
            prerelease=manifest.version.is_prerelease,
            previous_tag=ctx["previous_tag"],
            commits=len(commits),
            images=[{"name": i.name, "digest": i.digest, "pull": i.pull} for i in manifest.images],
            notes=str(notes_file),
        )

    return action


def _fail(message: str):
    def action(ctx: Context) -> None:
        del ctx
        raise PipelineError(message)

    return action


def _github(env: Mapping[str, str], tag: str, title: str, prerelease: bool, assets):
    def action(ctx: Context) -> None:
        client = github.Client(
            env["GITHUB_TOKEN"],
            env["GITHUB_REPOSITORY"],
            env.get("GITHUB_API_URL") or github.DEFAULT_API_URL,
        )
        release = client.publish(tag, title, ctx["notes_text"], prerelease, assets)
        ctx.setdefault("report", {})["github_release"] = release.get("html_url", "")

    return action


def _left_out(not_done: Sequence[str]):
    def action(ctx: Context) -> None:
        ctx.setdefault("report", {})["not_done"] = list(not_done)

    return action


def _repo_url(env: Mapping[str, str]) -> str:
    if env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL") or "https://github.com"
        return f"{server.rstrip('/')}/{env['GITHUB_REPOSITORY']}"
    return ""


DEFINITION = SessionDef(
    "release", "version, checksums, notes and publishing of a release", add_arguments, plan
)
