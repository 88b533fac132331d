"""docker-build: the builder/development/ci/production images, tagged, labelled, pushed."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Mapping

from mlc_ci import files, host, images
from mlc_ci.config import Config, Variant, require_source
from mlc_ci.errors import PipelineError
from mlc_ci.plan import cache, docker
from mlc_ci.report import Artifact, sha256_of
from mlc_ci.run import Context, Step, capture
from mlc_ci.sessions import wheel_steps
from mlc_ci.sessions.base import Plan, SessionDef

# A per-run name in the build context, so concurrent runs never remove each other's copy.
CA_IN_CONTEXT = ".mlc-ci-ca-{pid}.crt"


# Once per process: the dry run a real run plans first must show the very same build commands.
STARTED = int(time.time())
RUN_ID = uuid.uuid4().hex[:12]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the docker-build session."""
    parser.add_argument(
        "target", nargs="?", default="all", help="production, development, ci, builder or all"
    )
    parser.add_argument("--variant", help="cpu, cu128, cu130, vulkan, ...")
    parser.add_argument(
        "--push", action="store_true", help="push every tag (also MLC_CI_PUSH=1; never from a PR)"
    )
    parser.add_argument("--platform", default="", help="e.g. linux/amd64")
    parser.add_argument("--cache-from", default="", help="BuildKit cache source")
    parser.add_argument("--cache-to", default="", help="BuildKit cache export (buildx only)")
    parser.add_argument(
        "--secret", action="append", default=[], help="id=NAME,src=FILE (e.g. id=pip_index)"
    )
    parser.add_argument("--image", default="", help="image name (default: [image].name)")
    parser.add_argument(
        "--save",
        action="store_true",
        help="also write each image as a `docker save` archive for the next CI job (also "
        "MLC_CI_SAVE_IMAGES=1) into MLC_CI_IMAGES_DIR (default: <dist>/images)",
    )
    parser.add_argument(
        "--no-local-ccache",
        action="store_true",
        help="compile with an empty local ccache (only the shared cache, [cache].remote, hits);"
        " the compile step always runs, never taken from the layer cache",
    )


def builder_of(config: Config, dry_run: bool) -> tuple[str, str]:
    """The builder to use and a note on how it was chosen (a dry run reads the engine too, so
    it shows the real run's commands, unless there is no engine to read)."""
    try:
        facts = host.require_engine(config.image.docker)
        chosen = docker.choose_builder(
            config.image.builder, bool(facts["buildx"]), facts["client_major"], True
        )
    except PipelineError as exc:
        # A host without a usable engine or CLI (a missing tool, not a wrong input) still gets
        # the plan, with the reason a run would stop, as a missing nvcc does.
        if not dry_run:
            raise
        chosen = config.image.builder if config.image.builder != "auto" else "buildkit"
        return chosen, f"builder {chosen} (dry run: {str(exc).rstrip('.')})"
    return chosen, f"builder {chosen} via {config.image.docker}"


def check_secrets(values: list[str]) -> None:
    """The file of each --secret id=NAME,src=FILE exists: checked before the first step (in a
    dry run too); the engine would refuse it only at the first build, in its own words. (With
    type=env, src names a variable, as env= does: nothing to check here.)"""
    for value in values:
        fields = dict(part.partition("=")[::2] for part in value.split(","))
        source = fields.get("src") or fields.get("source")
        if source and fields.get("type") != "env" and not Path(source).is_file():
            raise PipelineError(
                f"--secret {value}: {Path(source).absolute()} is not a file; point src= at the "
                "file that holds the secret, or leave this --secret out."
            )


def _context_paths(config: Config) -> dict[str, str]:
    """SOURCE_DIR and CONFIG relative to the build context (the current directory)."""
    context = Path.cwd()
    paths = {}
    for key, path in (("SOURCE_DIR", config.source_dir), ("CONFIG", config.path)):
        rel = os.path.relpath(path, context)
        if rel.startswith(".."):
            raise PipelineError(
                f"{path} is outside the build context {context}; run from a directory that "
                "contains both the toolkit and the source."
            )
        paths[key] = Path(rel).as_posix()
    return paths


def ca_steps(env: Mapping[str, str], build_args: dict[str, str]) -> tuple[list[Step], list[Step]]:
    """The Dockerfile reads the extra CA (MLC_CI_CA_BUNDLE) from the build context; a copy
    puts it there (named in `build_args`) and is removed afterwards."""
    if not ca_bundle(env):
        return [], []
    ca_copy = CA_IN_CONTEXT.format(pid=os.getpid())
    build_args["CA_BUNDLE"] = ca_copy
    return (
        [Step("copy the extra CA into the context", action=copy_ca(env, ca_copy))],
        [Step("remove the CA copy", action=files.remover(ca_copy))],
    )


def _versions(config: Config, env: Mapping[str, str]):
    """This checkout's ref and commit (the image tags), and the source project's version.

    The images carry the source's version and commit (a submodule's, for MLC-LLM); the builder
    stamps that version, since the build context has no git history.
    """
    local = host.git_facts(".") if Path(".git").exists() else {}
    git = docker.git_context(env, local, STARTED)
    source = wheel_steps.source_version(config, env)
    git = dataclasses.replace(
        git, version=source.semver or git.version, revision=source.revision, night=source.night
    )
    return git, source, local.get("version_note", "")


def plan(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> Plan:
    """Build each requested target; push its tags when asked (never from a pull request)."""
    targets = docker.select_targets(args.target)
    variant = config.variant(args.variant)
    if args.image:
        config = _with_image(config, args.image)
    # A dry run too: it shows what a run would do, and a run stops here first.
    require_source(config)
    check_secrets(args.secret)
    builder, how = builder_of(config, args.dry_run)
    git, source, version_note = _versions(config, env)
    if args.image:  # an explicit --image is the whole name: no namespace moves it
        git = dataclasses.replace(git, namespace="")
    build = _Build(config, variant, git, _options(args, config, builder))
    build.args["SOURCE_VERSION"] = source.pep440
    build.args["BUILD_EPOCH"] = "" if source.epoch is None else str(source.epoch)
    steps, cleanup = ca_steps(env, build.args)
    steps += _engine_checks(config, variant, build.state, targets)
    notes = [how, f"variant {variant.name}, targets {', '.join(targets)}"]
    if version_note:
        notes.append(version_note)
    wanted = args.push or env.get("MLC_CI_PUSH", "").lower() in ("1", "true", "yes")
    pushing = wanted and not git.is_pull_request
    if wanted and not pushing:
        notes.append("not pushing: pull-request builds never push")
    shared = wheel_steps.cache_use(config, env)
    if shared.mode != "off":
        # The URL (it may hold a password) reaches the builder as a BuildKit secret, never as
        # a build argument or a layer; the mode is a plain argument.
        secret = build.state / "ccache_remote"
        build.opts = dataclasses.replace(
            build.opts, secrets=(*build.opts.secrets, f"id=ccache_remote,src={secret}")
        )
        build.args["CACHE_MODE"] = shared.mode
        steps.append(Step("connect the shared compile cache", action=_cache_secret(shared, secret)))
        cleanup.append(Step("remove the cache secret", action=files.remover(secret)))
        notes.append(f"shared compile cache: {shared.mode} ({shared.why})")
    if args.no_local_ccache:
        build.args["LOCAL_CCACHE"] = "0"
        # A layer cached by an earlier build would measure nothing: a fresh value per run makes
        # the compile step (and only the steps after it) run again.
        build.args["COMPILE_RUN"] = RUN_ID
    archives = _archives(args, config, env)
    if archives is not None:
        notes.append(f"saving the images to {archives} for the next CI job")
    steps += _target_steps(build, targets, pushing, archives)
    data = {"variant": variant.name, "targets": list(targets), "builder": builder, "push": pushing}
    # Where the source label points: the repository that built it (GITHUB_REPOSITORY), else
    # [project].url.
    data["source_url"] = git.repository_url or config.project.url
    return Plan(f"docker-build-{variant.name}", steps, data, cleanup, notes)


def _options(args: argparse.Namespace, config: Config, builder: str) -> docker.BuildOptions:
    return docker.BuildOptions(
        docker=config.image.docker,
        builder=builder,
        dockerfile=os.path.relpath(config.root / config.image.dockerfile),
        context=".",
        network=config.image.network,
        platform=args.platform,
        cache_from=args.cache_from,
        cache_to=args.cache_to,
        secrets=tuple(args.secret),
    )


class _Build:
    """The per-target steps of one docker-build run."""

    def __init__(self, config: Config, variant: Variant, git: docker.GitContext, opts) -> None:
        self.config, self.variant, self.git, self.opts = config, variant, git, opts
        self.labels = docker.labels(config, git)
        self.args = docker.build_args(config, variant, _context_paths(config), self.labels)
        self.state = Path(".cache/mlc-ci/docker").resolve()

    def first_tag(self, target: str) -> str:
        """The tag that names the target's image in the report (and in its archive)."""
        return docker.image_tags(self.config, self.variant, target, self.git)[0]

    def steps(self, target: str, pushing: bool) -> list[Step]:
        """Build and inspect one target, then push its tags and read the digest."""
        tags = docker.image_tags(self.config, self.variant, target, self.git)
        iid = str(self.state / f"{self.variant.name}-{target}.iid")
        docker_bin = self.config.image.docker
        steps = [
            Step(
                f"build {target}",
                docker.build_argv(self.opts, target, tags, self.args, iid),
                env=docker.build_env(self.opts.builder),
                tee=True,
                save_as=f"log-{target}",
            ),
            Step(
                f"inspect {target}",
                action=_inspect(self.config, target, tags, iid, self.labels),
                reads=((docker_bin, "image", "inspect"),),
            ),
        ]
        if not pushing:
            return steps
        # Only the commit's own tag: version, branch and latest tags move by promotion after
        # integration and trivy passed (`python -m mlc_ci promote`, run by the release job).
        steps += [
            Step(
                f"push {tag}",
                docker.push_argv(docker_bin, tag),
                retries=3,
                tee=True,
                save_as=f"push-{tag}",
                on_fail="the registry's answer is above; check `docker login` and the registry",
            )
            for tag in tags
            if docker.is_immutable(tag)
        ]
        digest = _digest(self.config, target)
        steps.append(
            Step(f"digest of {target}", action=digest, reads=((docker_bin, "image", "inspect"),))
        )
        return steps


def _archives(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> Path | None:
    """Where --save (MLC_CI_SAVE_IMAGES=1) writes the image archives; None without it."""
    if args.save or env.get("MLC_CI_SAVE_IMAGES", "").lower() in ("1", "true", "yes"):
        return images.images_dir(config.wheel.dist_dir, env)
    return None


def _target_steps(build: "_Build", targets, pushing: bool, archives: Path | None) -> list[Step]:
    """Each target's build (and push), then its archive when the images are saved."""
    steps = [Step("check the images directory", action=_images_dir(archives))] if archives else []
    for target in targets:
        steps += build.steps(target, pushing)
        if archives is not None:
            where = (archives, images.archive_name(build.variant.name, target))
            steps += _save_steps(build.config.image.docker, target, build.first_tag(target), where)
    return steps


def _images_dir(directory: Path):
    def action(ctx: Context) -> None:
        del ctx
        files.ensure_dir(directory, "images directory (MLC_CI_IMAGES_DIR)")

    return action


def _save_steps(docker_bin: str, target: str, tag: str, where: tuple[Path, str]) -> list[Step]:
    """`docker save` of the target's first tag to a partial file, then hashed, renamed and
    recorded in the image's details (the verify stage loads it from there)."""
    directory, name = where
    partial = directory / f".{name}.partial"
    return [
        Step(
            f"save {target}",
            (docker_bin, "save", "--output", str(partial), tag),
            on_fail=f"nothing was written to {directory / name}",
        ),
        Step(f"record the {target} archive", action=_record_archive(target, partial, name)),
    ]


def _record_archive(target: str, partial: Path, name: str):
    def action(ctx: Context) -> None:
        art = next(a for a in ctx["artifacts"] if a.details["target"] == target)
        art.details["archive"] = name
        art.details["archive_sha256"] = sha256_of(partial)
        art.details["archive_size"] = partial.stat().st_size
        partial.replace(partial.with_name(name))

    return action


def _cache_secret(use: cache.CacheUse, secret: Path):
    """Probe the shared cache and hand its URL to the build (empty when it does not answer)."""
    connect = wheel_steps.connect_cache(use)

    def action(ctx: Context) -> None:
        connect(ctx)
        reachable = ctx["report"]["shared_cache"]["reachable"]
        secret.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(use.remote if reachable else "")

    return action


def ca_bundle(env: Mapping[str, str]) -> str:
    """The extra CA bundle image builds and builder containers trust (MLC_CI_CA_BUNDLE; '' for
    none): the one reader of that variable."""
    return env.get("MLC_CI_CA_BUNDLE", "")


def copy_ca(env: Mapping[str, str], target: str):
    """Copy MLC_CI_CA_BUNDLE to `target`; one line when it is not a file."""
    source = ca_bundle(env)

    def action(ctx: Context) -> None:
        del ctx
        if not Path(source).is_file():
            raise PipelineError(
                f"MLC_CI_CA_BUNDLE={source} is not a file; point it at a PEM CA bundle."
            )
        shutil.copyfile(source, target)

    return action


def _with_image(config: Config, name: str) -> Config:
    return dataclasses.replace(config, image=dataclasses.replace(config.image, name=name))


def _engine_checks(config: Config, variant: Variant, state: Path, targets) -> list[Step]:
    """Before any build: the bootstrapped bases are there, and so is the disk space."""
    engine = config.image.docker
    return [
        Step(
            "check base images",
            action=_check_bases(config, variant, state),
            reads=((engine, "image", "inspect"),),
        ),
        Step("check free disk", action=_check_disk(config, targets), reads=((engine, "info"),)),
    ]


def _check_disk(config: Config, targets):
    def action(ctx: Context) -> None:
        del ctx
        found = host.docker_free_bytes(config.image.docker)
        if found is None:
            print("      note: the engine's data root is not on this host; free disk not checked")
            return
        free, root = found
        problem = docker.disk_problem(free, targets, config.image.size_budget_mb, root)
        if problem:
            raise PipelineError(problem)

    return action


def _check_bases(config: Config, variant: Variant, state: Path):
    def action(ctx: Context) -> None:
        del ctx
        state.mkdir(parents=True, exist_ok=True)
        for image in dict.fromkeys(filter(None, (variant.builder_image, variant.runtime_image))):
            if image.startswith("mlc-ci/") and not host.image_present(config.image.docker, image):
                raise PipelineError(
                    f"base image {image} is not in the engine; make it with "
                    f"`docker/bootstrap-base.sh {image}` (no registry needed)."
                )

    return action


def _inspect(config: Config, target: str, tags: list[str], iidfile: str, labels: dict[str, str]):
    def action(ctx: Context) -> None:
        image_id = Path(iidfile).read_text(encoding="utf-8").strip()
        raw = capture((config.image.docker, "image", "inspect", image_id))
        (info,) = json.loads(raw)
        log = ctx.get(f"log-{target}", "")
        ctx.setdefault("artifacts", []).append(
            Artifact(
                name=tags[0],
                path="",
                size=int(info.get("Size", 0)),
                sha256=image_id.removeprefix("sha256:"),
                details={
                    "kind": "image",
                    "target": target,
                    "id": image_id,
                    "tags": tags,
                    "promote": [t for t in tags if not docker.is_immutable(t)],
                    "labels": labels if target == "production" else {},
                    "cached_steps": docker.cached_steps(log),
                    # The builder's `ccache --show-stats`, when its wheel build ran (None: cached).
                    "ccache": cache.show_stats(log),
                    "digest": "",
                },
            )
        )

    return action


def _digest(config: Config, target: str):
    def action(ctx: Context) -> None:
        art = next(a for a in ctx["artifacts"] if a.details["target"] == target)
        raw = capture(
            (
                config.image.docker,
                "image",
                "inspect",
                "--format",
                "{{json .RepoDigests}}",
                art.details["id"],
            )
        )
        digests = json.loads(raw) or []
        art.details["digest"] = digests[0].split("@", 1)[1] if digests else ""
        art.details["repo_digests"] = digests

    return action


DEFINITION = SessionDef(
    "docker-build", "build the builder/development/ci/production images", add_arguments, plan
)
