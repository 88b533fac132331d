"""The CI matrix from `nox --list --json` (pure): one entry per session, grouped by stage.

Each session carries exactly one stage tag (gate -> build -> verify -> release) and a platform
tag that picks its runner: cuda -> the self-hosted GPU label(s) of [release].gpu_runner,
windows -> windows-2022, linux -> ubuntu-24.04 (in that order of precedence). Pull requests never
get the self-hosted runner: code from a fork must not run on a machine that outlives the job, so
their cuda sessions run on the hosted runner of their other platform tag.

Sessions that take `--variant` are expanded over the variants they apply to (`variant_axis`):
one job per (session, variant), named `wheels-linux (cu128)`, running
`nox -s wheels-linux -- --variant cu128`. The axis lives here, not in a nox parametrisation:
the noxfile cannot see --config, and plain `nox -s wheels-linux` stays one build.

Each job uploads one artifact named after it (`docker-build-cu128`: its dist/ and reports/);
docker-build's image archives go apart, into `docker-build-cu128-images`. A verify or release
job downloads exact artifact names (`download`, `download_images`), never a glob that could
take another variant's images.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable, Mapping, Union

from mlc_ci.config import Config
from mlc_ci.errors import PipelineError

STAGES = ("gate", "build", "verify", "release")
# Sessions whose plans need every [python].versions interpreter on PATH (a cp3XY wheel per
# Python, a smoke test per Python; the per-Python integration test): their jobs set them all up.
ALL_PYTHONS = ("wheels-linux", "wheels-windows", "integration")
DEFAULT_PYTHON = "3.12"  # the interpreter the workflow runs nox with (ci.yml)
RUNNERS = {"windows": "windows-2022", "linux": "ubuntu-24.04"}
PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")
# docker-build saves its images into dist/images (MLC_CI_SAVE_IMAGES=1), over 20 GB a variant
# by the root profile's size budgets: an artifact of their own, downloaded only by the sessions
# that load the images.
IMAGE_SESSIONS = ("docker-build",)
LOADS_IMAGES = ("integration", "trivy")
# The build sessions a verify session reads, where not all of its variant's.
READS = {"gpu-smoke": ("wheels-linux",)}
# download-artifact matches `pattern` with minimatch: a name of these characters is itself.
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# A base no registry holds: docker/bootstrap-base.sh makes it (`mlc-ci/debian:<suite>`).
LOCAL_BASE = re.compile(r"mlc-ci/debian:([a-z]+)")

Runner = Union[str, list]
Entry = dict[str, Any]


def gpu_runner(labels: str) -> Runner | None:
    """[release].gpu_runner as `runs-on` takes it: "self-hosted,gpu" -> ["self-hosted", "gpu"];
    "" (a repository without a GPU runner) -> None."""
    parts = [part.strip() for part in labels.split(",") if part.strip()]
    if not parts:
        return None
    return parts if len(parts) > 1 else parts[0]


def gpu_allowed(env: Mapping[str, str], default_branch: str) -> bool:
    """Whether this run may use the GPU runner: pushes to the default branch and tags only
    (outside GitHub Actions, a listing shows every job)."""
    event = env.get("GITHUB_EVENT_NAME", "")
    if not event:
        return True
    ref = env.get("GITHUB_REF", "")
    return event == "push" and (
        ref == f"refs/heads/{default_branch}" or ref.startswith("refs/tags/")
    )


def is_pull_request(env: Mapping[str, str]) -> bool:
    """True in a GitHub Actions run triggered by a pull request."""
    return env.get("GITHUB_EVENT_NAME", "") in PULL_REQUEST_EVENTS


def runner_for(name: str, tags: Iterable[str], gpu: Runner | None) -> Runner | None:
    """The runner of a session from its platform tags (no GPU runner: the hosted one; a
    session tagged cuda alone then gets none, and is left out)."""
    tags = set(tags)
    if "cuda" in tags and gpu is not None:
        return gpu
    for platform, runner in RUNNERS.items():
        if platform in tags:
            return runner
    if "cuda" in tags:
        return None
    raise PipelineError(
        f"nox session '{name}' has no platform tag for a runner; tag it linux, windows or cuda "
        "in noxfile.py."
    )


def stage_of(name: str, tags: Iterable[str]) -> str:
    """The one stage tag of a session."""
    stages = [stage for stage in STAGES if stage in set(tags)]
    if len(stages) != 1:
        found = ", ".join(stages) or "none"
        raise PipelineError(
            f"nox session '{name}' needs exactly one stage tag of {', '.join(STAGES)} "
            f"(has: {found}); fix its tags in noxfile.py."
        )
    return stages[0]


def parse_listing(text: str) -> list[Entry]:
    """`nox --list --json` output, checked to be a list of sessions."""
    try:
        listing = json.loads(text)
    except ValueError as exc:
        raise PipelineError(
            f"the nox listing is not JSON ({exc}); pass the output of `nox --list --json`."
        ) from exc
    if not isinstance(listing, list) or not all(
        isinstance(item, dict) and "session" in item for item in listing
    ):
        raise PipelineError(
            "the nox listing is not a list of sessions; pass the output of `nox --list --json`."
        )
    return listing


def variant_axis(config: Config) -> dict[str, list[str]]:
    """The variants each `--variant` session runs over: wheels-linux over all of them,
    wheels-windows over those with `windows = true`, the image sessions over [image].variants
    (default: the default variant)."""
    images = list(config.image.variants) or [config.default_variant]
    return {
        "wheels-linux": list(config.variants),
        "wheels-windows": [name for name, v in config.variants.items() if v.windows],
        "docker-build": images,
        "integration": images,
        "trivy": images,
        "gpu-smoke": [name for name, v in config.variants.items() if v.is_cuda],
    }


def build(
    listing: Iterable[Entry],
    gpu_labels: str,
    pull_request: bool = False,
    axis: Mapping[str, list[str]] | None = None,
    pythons: Iterable[str] = (),
) -> dict[str, list[Entry]]:
    """Stage -> [{session, python, pythons, runner, name, variant, artifact, images_artifact,
    download, download_images}], in the order nox lists the sessions; a session on the variant
    `axis` gets one entry per variant; one of ALL_PYTHONS gets `pythons` ([python].versions for
    setup-python), the others "". `pull_request`: no GPU runner for this run (a pull request, or
    another event than a push to the default branch or a tag), so sessions tagged cuda alone are
    left out. The downloads: see `downloads`."""
    gpu = None if pull_request else gpu_runner(gpu_labels)
    matrix: dict[str, list[Entry]] = {stage: [] for stage in STAGES}
    for item in listing:
        session, tags = item["session"], item.get("tags") or []
        stage, runner = stage_of(session, tags), runner_for(session, tags, gpu)
        if runner is None:
            continue
        base = {
            "session": session,
            "python": item.get("python"),
            "pythons": setup_pythons(pythons) if session in ALL_PYTHONS else "",
            "runner": runner,
        }
        variants = (axis or {}).get(session) or [""]
        for variant in variants:
            # Unique per job: artifacts of one workflow run cannot share a name.
            artifact = f"{session}-{variant}" if variant else session
            matrix[stage].append(
                {
                    **base,
                    # The job's name: the session (unit-3.12), with its variant.
                    "name": f"{session} ({variant})" if variant else session,
                    "variant": variant,
                    "artifact": artifact,
                    "images_artifact": f"{artifact}-images" if session in IMAGE_SESSIONS else "",
                    "download": "",
                    "download_images": "",
                }
            )
    return downloads(matrix)


def provision(config: Config) -> dict[tuple[str, str], Entry]:
    """What a build job installs or makes on a hosted runner before its session, per (session,
    variant): `cuda`, the toolkit a host build of a CUDA variant compiles with ("" when the
    build runs in the container, whose setup installs its own), and `bases`, the local bases
    (LOCAL_BASE, space-separated) the session builds from, which only bootstrap-base.sh makes."""

    def local(*images: str) -> str:
        return " ".join(dict.fromkeys(i for i in images if LOCAL_BASE.fullmatch(i)))

    container = config.container
    found: dict[tuple[str, str], Entry] = {}
    for name, variant in config.variants.items():
        found[("wheels-linux", name)] = {
            "cuda": "" if container.linux_wheels else variant.cuda,
            "bases": local(container.base) if container.linux_wheels else "",
        }
        found[("docker-build", name)] = {
            "cuda": "",
            "bases": local(variant.builder_image, variant.runtime_image),
        }
    return found


def with_provision(
    matrix: dict[str, list[Entry]], provided: Mapping[tuple[str, str], Entry]
) -> dict[str, list[Entry]]:
    """Every entry with its `cuda` and `bases` (both "" where `provision` names nothing)."""
    for entries in matrix.values():
        for entry in entries:
            entry.update(
                provided.get((entry["session"], entry["variant"]), {"cuda": "", "bases": ""})
            )
    return matrix


def downloads(matrix: dict[str, list[Entry]]) -> dict[str, list[Entry]]:
    """Fill in what each verify and release job downloads, as download-artifact `pattern`s of
    exact names (`names_pattern`): `download` the build artifacts it reads (wheels and reports),
    `download_images` the image archives it loads. A verify job of a variant reads that
    variant's build artifacts (gpu-smoke only its READS), and only LOADS_IMAGES sessions get
    that variant's images; the release job reads every build artifact and no image archive."""
    built = matrix["build"]
    for entry in matrix["verify"]:
        mine = [b for b in built if not entry["variant"] or b["variant"] == entry["variant"]]
        reads = READS.get(entry["session"])
        entry["download"] = names_pattern(
            b["artifact"] for b in mine if reads is None or b["session"] in reads
        )
        if entry["session"] in LOADS_IMAGES:
            entry["download_images"] = names_pattern(
                b["images_artifact"] for b in mine if b["images_artifact"]
            )
    for entry in matrix["release"]:
        entry["download"] = names_pattern(b["artifact"] for b in built)
    return matrix


def names_pattern(names: Iterable[str]) -> str:
    """download-artifact's `pattern` for exactly these artifact names: one name as it is,
    several as a brace list (`{a,b}`, which its minimatch expands), none as ""."""
    listed = list(dict.fromkeys(names))
    for name in listed:
        if not PLAIN_NAME.fullmatch(name):
            raise PipelineError(
                f"artifact name '{name}' has characters download-artifact would read as a "
                "pattern; name sessions and variants with letters, digits, '.', '_' and '-'."
            )
    if len(listed) > 1:
        return "{" + ",".join(listed) + "}"
    return listed[0] if listed else ""


def pattern_names(pattern: str) -> list[str]:
    """The artifact names a `names_pattern` pattern stands for."""
    if pattern.startswith("{") and pattern.endswith("}"):
        return pattern[1:-1].split(",")
    return [pattern] if pattern else []


def setup_pythons(versions: Iterable[str]) -> str:
    """actions/setup-python's `python-version` for a job that needs every version: one per line,
    the workflow's own interpreter last (the action makes the last one `python`)."""
    listed = list(dict.fromkeys(versions))
    ordered = [v for v in listed if v != DEFAULT_PYTHON] + [DEFAULT_PYTHON]
    return "\n".join(ordered) if listed else ""


def render(matrix: dict[str, list[Entry]], fmt: str = "json") -> str:
    """JSON for people, `stage=<json>` lines for $GITHUB_OUTPUT, or a mermaid diagram."""
    if fmt == "github":
        return "\n".join(
            f"{stage}={json.dumps(matrix[stage], separators=(',', ':'))}" for stage in STAGES
        )
    if fmt == "mermaid":
        return mermaid(matrix)
    return json.dumps(matrix, indent=2)


def mermaid(matrix: dict[str, list[Entry]]) -> str:
    """The workflow as a mermaid flowchart: plan, then one box per stage with its jobs."""
    lines = [
        "flowchart LR",
        '  plan["plan: nox --list --json, python -m mlc_ci matrix"]',
    ]
    for stage in STAGES:
        lines.append(f"  subgraph {stage}")
        for index, entry in enumerate(matrix[stage]):
            runner = entry["runner"]
            where = ", ".join(runner) if isinstance(runner, list) else runner
            command = f"nox -s {entry['session']}"
            if entry.get("variant"):
                command += f" -- --variant {entry['variant']}"
            lines.append(f'    {stage}{index}["{command} ({where})"]')
        lines.append("  end")
    lines.append("  plan --> " + " --> ".join(STAGES))
    return "\n".join(lines)
