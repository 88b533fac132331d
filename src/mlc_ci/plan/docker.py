"""Pure planning for images: targets, build arguments, the exact docker commands, git context."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from mlc_ci.config import Config, Variant
from mlc_ci.errors import PipelineError
from mlc_ci.plan import docker_meta

# Build order: builder first so the other targets reuse its cache.
TARGETS = ("builder", "development", "ci", "production")
SUFFIX = {"production": "", "development": "-dev", "ci": "-ci", "builder": "-builder"}
BUILDERS = ("buildx", "buildkit")


def select_targets(name: str) -> tuple[str, ...]:
    """`all` or one target name -> the targets to build, in build order."""
    if name == "all":
        return TARGETS
    if name not in TARGETS:
        raise PipelineError(f"unknown target '{name}'; use one of {', '.join(TARGETS)} or all.")
    return (name,)


@dataclass(frozen=True)
class GitContext:
    """Where the build comes from, as docker/metadata-action sees it."""

    ref: str
    sha: str
    event: str
    version: str
    pr_number: int | None = None
    created_epoch: int | None = None
    now_epoch: int = 0
    revision: str = ""  # the source project's commit, when it is not this checkout's
    # The registry namespace the images go to instead of [image].name's (a fork's own, in CI).
    namespace: str = ""
    # The repository that builds the image (GitHub Actions), for the source label.
    repository_url: str = ""
    night: str = ""  # YYYYMMDD of a nightly build: a scheduled build's nightly-YYYYMMDD tag

    @property
    def is_pull_request(self) -> bool:
        """Pull-request builds never push."""
        return self.event in ("pull_request", "pull_request_target")


def git_context(env: Mapping[str, str], local: Mapping[str, Any], now_epoch: int) -> GitContext:
    """The GitHub Actions environment when present, else the local checkout's facts.

    `local` holds `ref`, `sha` and `version` read from git by the caller.
    """
    ref = env.get("GITHUB_REF") or local.get("ref", "")
    sha = env.get("GITHUB_SHA") or local.get("sha", "")
    event = env.get("GITHUB_EVENT_NAME") or "push"
    match = re.fullmatch(r"refs/pull/(\d+)/(merge|head)", ref)
    epoch = env.get("SOURCE_DATE_EPOCH", "")
    if epoch and not epoch.isdigit():
        raise PipelineError(f"SOURCE_DATE_EPOCH='{epoch}' is not a number of seconds; fix it.")
    return GitContext(
        ref=ref,
        sha=sha,
        event=event,
        version=local.get("version", ""),
        pr_number=int(match.group(1)) if match else None,
        # The commit time by default: rebuilding a commit then gives the same labels (and layers).
        created_epoch=int(epoch) if epoch else local.get("commit_epoch"),
        now_epoch=now_epoch,
        namespace=env.get("MLC_CI_IMAGE_NAMESPACE", "").strip(),
        repository_url=_repository_url(env),
    )


def _repository_url(env: Mapping[str, str]) -> str:
    repository = env.get("GITHUB_REPOSITORY", "").strip()
    server = (env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    return f"{server}/{repository}" if repository else ""


def image_name(configured: str, namespace: str) -> str:
    """[image].name, moved to `namespace` (e.g. ghcr.io/<the repository's owner>) when one is
    given: a fork's token can push only under its own owner. Registry paths are lowercase."""
    if not namespace:
        return configured
    return f"{namespace.rstrip('/').lower()}/{configured.rsplit('/', 1)[-1]}"


def image_tags(config: Config, variant: Variant, target: str, git: GitContext) -> list[str]:
    """Tags of one target: metadata-action rules, the variant and the target's suffix."""
    if not config.image.name:
        raise PipelineError(f"{config.path} sets no [image].name; set it (ghcr.io/<owner>/<name>).")
    return docker_meta.compute_tags(
        image_name(config.image.name, git.namespace),
        ref=git.ref,
        sha=git.sha,
        event=git.event,
        default_branch=config.image.default_branch,
        pr_number=git.pr_number,
        suffix=SUFFIX[target],
        variant=variant.name,
        date=git.night or None,
    )


def labels(config: Config, git: GitContext) -> dict[str, str]:
    """The OCI labels of every image of this build. `source` is the repository that built it
    when GITHUB_REPOSITORY says (GHCR links the package to it), else [project].url; `url` is
    always [project].url."""
    return docker_meta.compute_labels(
        title=config.project.name,
        description=config.project.description,
        source_url=git.repository_url or config.project.url,
        project_url=config.project.url,
        version=git.version,
        created_epoch=git.created_epoch,
        revision=git.revision or git.sha,
        licenses=config.project.license,
        now_epoch=git.now_epoch,
    )


def build_args(
    config: Config, variant: Variant, paths: Mapping[str, str], label_values: Mapping[str, str]
) -> dict[str, str]:
    """--build-arg values of docker/Dockerfile; `paths` has SOURCE_DIR and CONFIG (in context)."""
    args = {
        "SOURCE_DIR": paths["SOURCE_DIR"],
        "CONFIG": paths["CONFIG"],
        "VARIANT": variant.name,
        "CUDA_VERSION": variant.cuda,
        "BUILD_TYPE": "Release",
        "TOOLCHAIN": " ".join(dict.fromkeys((*config.image.toolchain, *variant.toolchain))),
        "CLI": config.project.cli,
    }
    if variant.builder_image:
        args["BASE_IMAGE"] = variant.builder_image
    if variant.runtime_image:
        args["RUNTIME_IMAGE"] = variant.runtime_image
    names = ("title", "description", "version", "revision", "created", "licenses")
    for name in names:
        args[name.upper()] = label_values[docker_meta.LABEL_PREFIX + name]
    args["SOURCE_URL"] = label_values[docker_meta.LABEL_PREFIX + "source"]
    args["URL"] = label_values[docker_meta.LABEL_PREFIX + "url"]
    return args


@dataclass(frozen=True)
class BuildOptions:
    """How to invoke the builder for one target."""

    docker: str
    builder: str
    dockerfile: str
    context: str
    network: str
    platform: str = ""
    cache_from: str = ""
    cache_to: str = ""
    secrets: tuple[str, ...] = ()


def build_argv(
    opts: BuildOptions, target: str, tags: Iterable[str], args: Mapping[str, str], iidfile: str
) -> tuple[str, ...]:
    """The docker build command for one target."""
    if opts.builder not in BUILDERS:
        raise PipelineError(f"unknown builder '{opts.builder}'; use buildx or buildkit.")
    if opts.cache_to and opts.builder != "buildx":
        raise PipelineError(
            "--cache-to needs docker buildx; install the buildx plugin or drop --cache-to."
        )
    argv = (
        [opts.docker, "buildx", "build", "--load"]
        if opts.builder == "buildx"
        else [opts.docker, "build"]
    )
    argv += ["--progress=plain", "-f", opts.dockerfile]
    if target:  # a Dockerfile of one stage has none to name
        argv += ["--target", target]
    if opts.network:
        argv += ["--network", opts.network]
    if opts.platform:
        argv += ["--platform", opts.platform]
    if opts.cache_from:
        argv += ["--cache-from", opts.cache_from]
    if opts.cache_to:
        argv += ["--cache-to", opts.cache_to]
    for secret in opts.secrets:
        argv += ["--secret", secret]
    for tag in tags:
        argv += ["-t", validate_ref(tag)]
    for key, value in args.items():
        argv += ["--build-arg", f"{key}={value}"]
    return (*argv, "--iidfile", iidfile, opts.context)


_REPOSITORY = re.compile(
    r"(?:(?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+(?::\d+)?/)?"  # registry host[:port]/
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)


def validate_ref(ref: str) -> str:
    """`repository:tag` checked against the OCI distribution grammar before anything is built."""
    repository, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        raise PipelineError(f"'{ref}' has no tag; images are referenced as repository:tag.")
    if not _REPOSITORY.fullmatch(repository):
        raise PipelineError(
            f"'{repository}' is not a valid image repository: use lowercase letters, digits and "
            "separators (. _ -), with an optional registry host[:port]/ prefix."
        )
    docker_meta.validate_tag(tag)
    return ref


def build_env(builder: str) -> dict[str, str]:
    """The engine's own BuildKit is switched on by DOCKER_BUILDKIT=1."""
    return {"DOCKER_BUILDKIT": "1"} if builder == "buildkit" else {}


def push_argv(docker: str, tag: str) -> tuple[str, ...]:
    """Push one tag."""
    return (docker, "push", tag)


def is_immutable(tag: str) -> bool:
    """A tag that names one commit's build (`sha-<7 hex>` plus suffixes): the only kind a build
    job pushes. Every other tag (version, branch, latest, nightly) moves by promotion, after the
    gates."""
    return re.match(r"sha-[0-9a-f]{7}(-|$)", tag.rpartition(":")[2]) is not None


def repository_of(image: str) -> str:
    """`host[:port]/path` of `host[:port]/path[:tag][@digest]` (a port is not a tag)."""
    name = image.partition("@")[0]
    head, slash, last = name.rpartition("/")
    return f"{head}{slash}{last.partition(':')[0]}"


# Registries on this host speak plain HTTP (docker treats them as insecure by default too).
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def _plain_http(repository: str) -> tuple[str, ...]:
    """skopeo's flag for a loopback registry (the host without its port); none elsewhere."""
    host = re.sub(r":\d+$", "", repository.split("/", 1)[0])
    return ("--tls-verify=false",) if host in LOOPBACK else ()


def promote_argv(image: str, digest: str, tag: str) -> tuple[str, ...]:
    """skopeo copies the manifest `image@digest` to `tag` on the registry side (no pull, no
    rebuild); a loopback registry speaks plain HTTP. skopeo writes an unchanged manifest as it
    is, so the tag keeps the digest; `inspect_argv` checks that afterwards (--preserve-digests
    needs skopeo 1.6, newer than Ubuntu 22.04's)."""
    repository = repository_of(image)
    tls = tuple(f"--{side}-tls-verify=false" for side in ("src", "dest") if _plain_http(repository))
    return ("skopeo", "copy", "--all", *tls, f"docker://{repository}@{digest}", f"docker://{tag}")


def inspect_argv(tag: str) -> tuple[str, ...]:
    """The raw manifest a tag names (its sha256 is the digest)."""
    return ("skopeo", "inspect", "--raw", *_plain_http(repository_of(tag)), f"docker://{tag}")


def cached_steps(output: str) -> int:
    """Steps BuildKit took from its cache (`#12 CACHED` lines of --progress=plain)."""
    return len(re.findall(r"(?m)^#\d+ CACHED\s*$", output))


def choose_builder(
    configured: str, buildx_ok: bool, client_major: int | None, engine_ok: bool
) -> str:
    """buildx when present; else the engine's BuildKit through a CLI that still has it.

    Docker CLI 23+ routes `docker build` to buildx, so without the plugin it cannot use
    BuildKit at all; older CLIs (Debian's 20.10) build with BuildKit when DOCKER_BUILDKIT=1.
    """
    if not engine_ok:
        raise PipelineError(
            "no Docker engine is reachable; start dockerd (or Docker Desktop) or set DOCKER_HOST."
        )
    if configured == "buildx" or (configured == "auto" and buildx_ok):
        if not buildx_ok:
            raise PipelineError(
                "builder 'buildx' was requested but `docker buildx` is not installed; install "
                "the buildx plugin or set MLC_CI_BUILDER=buildkit."
            )
        return "buildx"
    if client_major is not None and client_major >= 23:
        raise PipelineError(
            f"this docker CLI ({client_major}.x) has no buildx plugin, so it cannot build with "
            "BuildKit; install docker-buildx, or set MLC_CI_DOCKER to a CLI that builds with "
            "DOCKER_BUILDKIT=1 (e.g. Debian's /usr/bin/docker)."
        )
    return "buildkit"


def disk_problem(free_bytes: int, targets: Sequence[str], budgets: Mapping[str, int], where: str):
    """One line when `where` has less room than the targets' size budgets need, or None.

    The need is the sum of the budgets of the targets being built plus the largest budget
    again, for the build cache and the layers of the image being replaced.
    """
    if not budgets:
        return None
    need_mb = sum(budgets.get(t, 0) for t in targets) + max(budgets.values())
    free_mb = free_bytes // (1 << 20)
    if free_mb >= need_mb:
        return None
    return (
        f"only {free_mb / 1024:.1f} GiB are free on {where} (Docker's data root); building "
        f"{', '.join(targets)} needs about {need_mb / 1024:.1f} GiB ([image].size_budget_mb); "
        "free space with `docker builder prune` and `docker image prune`, or build fewer targets."
    )
