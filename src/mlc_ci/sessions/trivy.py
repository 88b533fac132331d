"""trivy: scan an image from the local engine, gate on severity, keep JSON, SARIF and SBOMs.

The image is exported with `docker save` (no registry), scanned once into JSON, converted to
SARIF (code scanning) and CycloneDX (image SBOM); each wheel in dist/ gets a CycloneDX SBOM of
its dependency set. The gate reads the JSON report; it never passes when no scanner ran.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

from packaging.tags import sys_tags

from mlc_ci import files, images
from mlc_ci import report as report_mod
from mlc_ci import sboms
from mlc_ci.config import Config
from mlc_ci.errors import PipelineError
from mlc_ci.plan import trivy as plan_trivy
from mlc_ci.plan import vulns
from mlc_ci.plan.commands import nox_line
from mlc_ci.report import artifact
from mlc_ci.run import Context, Step, capture
from mlc_ci.sessions.base import Plan, SessionDef, config_flag

DEFAULT_TARGET = "production"
WHEEL_PLACEHOLDER = "<wheel from wheels-linux>"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the trivy session."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--image", help="image reference the local engine has")
    which.add_argument(
        "--target",
        help="scan the image of this target recorded in reports/docker-build-<variant>.json "
        f"(default: {DEFAULT_TARGET})",
    )
    parser.add_argument(
        "--variant", help="whose docker-build report names the image (default: the default)"
    )
    parser.add_argument(
        "--severity", help="gate threshold, e.g. HIGH or HIGH,CRITICAL (default: [scan].severity)"
    )
    parser.add_argument(
        "--ignore-unfixed",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="set aside findings with no fix (default: [scan].ignore_unfixed)",
    )
    parser.add_argument(
        "--offline", action="store_true", help="use the pre-seeded database in --cache-dir only"
    )
    parser.add_argument(
        "--cache-dir", help="trivy's cache (default: $TRIVY_CACHE_DIR or ~/.cache/trivy)"
    )
    parser.add_argument("--dist", help="wheels to describe with SBOMs (default: [wheel].dist_dir)")
    parser.add_argument(
        "--sbom-only", action="store_true", help="only the wheels' SBOMs (no image, no trivy)"
    )


class Layout:
    """Where one scan stages its files and where they are kept (all absolute)."""

    def __init__(self, image: str, reports_dir: Path) -> None:
        self.slug = plan_trivy.image_slug(image)
        self.stage = Path(".cache/mlc-ci/trivy").resolve() / self.slug
        self.tarball = self.stage / f"{self.slug}.tar"
        self.raw = self.stage / f"{self.slug}.json"
        self.sarif = self.stage / f"{self.slug}.sarif"
        self.cdx = self.stage / f"{self.slug}{sboms.SUFFIX}"
        # trivy reads the ignore file from here: inside the one mounted directory, and not
        # named .trivyignore, so the JSON scan (run here) does not pick it up by default.
        self.ignore = self.stage / "ignorefile"
        self.reports = reports_dir / "trivy"
        self.sbom = reports_dir / "sbom"


@dataclass(frozen=True)
class Scanner:
    """How trivy is started: a binary, or `docker run` of a local trivy image."""

    argv: tuple[str, ...]
    how: str


def plan(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> Plan:
    """Save, scan, convert and keep the reports, the wheels' SBOMs, then the gate
    (with --sbom-only: the wheels' SBOMs alone, no image and no trivy)."""
    reports_dir = report_mod.reports_root(env).resolve()
    dist = Path(args.dist or config.wheel.dist_dir).resolve()
    wheels, notes = _wheels(dist, config_flag(args), args.sbom_only and args.dry_run)
    sbom_steps = sboms.wheel_steps(
        wheels, Path(".cache/mlc-ci/sbom").resolve(), reports_dir / "sbom", sys.executable
    )
    data = {"dist": str(dist), "wheels": [w.name for w in wheels]}
    if args.sbom_only:
        if not wheels:
            raise PipelineError(
                f"no wheel in {dist} can be described here; build one with "
                f"{nox_line('wheels-linux', config=config_flag(args))}, or pass --dist DIR."
            )
        return Plan("sbom", sbom_steps, data, [], notes)
    policy = vulns.make_policy(
        args.severity or config.scan.severity,
        config.scan.ignore_unfixed if args.ignore_unfixed is None else args.ignore_unfixed,
    )
    image, pending = args.image, False
    if not image:
        image, pending = _built_image(config, args, reports_dir, notes)
    layout = Layout(image, reports_dir)
    cache_dir = _cache_dir(args.cache_dir, env)
    scanner = find_scanner(config.image.docker, env, layout, cache_dir, args.offline, args.dry_run)
    ignore_file = config.root / config.scan.ignore_file
    notes = [
        scanner.how,
        f"gate: {policy.threshold} and above"
        + ("; findings without a fix set aside" if policy.ignore_unfixed else ""),
        *(["offline: trivy database from " + cache_dir] if args.offline else []),
        *notes,
    ]
    data.update(
        image=image,
        scanner=list(scanner.argv),
        threshold=policy.threshold,
        ignore_unfixed=policy.ignore_unfixed,
        offline=args.offline,
        cache_dir=cache_dir,
        ignore_file=str(ignore_file),
    )
    docker = config.image.docker
    steps = [
        Step(
            "prepare staging and ignore file",
            action=_prepare(layout, ignore_file, cache_dir, args.offline),
        ),
        *_load(config, args, (reports_dir, pending), env),
        Step(
            "inspect image",
            plan_trivy.inspect_argv(docker, image),
            capture=True,
            save_as="image_json",
            on_fail=f"the engine has no image {image}; build it with "
            f"{nox_line('docker-build', config=config_flag(args))}, or pass --image REF of an "
            "image that `docker image ls` shows",
        ),
        Step("docker save", plan_trivy.save_argv(docker, image, str(layout.tarball))),
        Step(
            "trivy image (json)",
            plan_trivy.scan_argv(
                scanner.argv, str(layout.tarball), str(layout.raw), cache_dir, args.offline
            ),
            cwd=str(layout.stage),
        ),
        Step(
            "trivy convert (sarif)",
            plan_trivy.sarif_argv(
                scanner.argv, str(layout.raw), str(layout.sarif), policy, str(layout.ignore)
            ),
            cwd=str(layout.stage),
        ),
        Step(
            "trivy convert (cyclonedx)",
            plan_trivy.cyclonedx_argv(scanner.argv, str(layout.raw), str(layout.cdx)),
            cwd=str(layout.stage),
        ),
        Step("check and keep reports", action=_publish(layout, image, policy, ignore_file)),
        # SBOMs before the verdict, so a failed gate still leaves every artifact behind.
        *sbom_steps,
        Step(f"gate: {policy.threshold} and above", action=_gate(image, ignore_file)),
    ]
    cleanup = [Step("remove image tarball", action=files.remover(layout.tarball))]
    return Plan(f"trivy-{layout.slug}", steps, data, cleanup, notes)


def trivy_override(env: Mapping[str, str]) -> str:
    """The trivy binary MLC_CI_TRIVY names ('' when unset): the one reader of that variable."""
    return env.get("MLC_CI_TRIVY", "")


def find_scanner(
    docker: str,
    env: Mapping[str, str],
    layout: Layout,
    cache_dir: str,
    offline: bool,
    dry_run: bool,
) -> Scanner:
    """MLC_CI_TRIVY, else trivy on PATH, else a trivy image the engine already has."""
    path = env.get("PATH")
    chosen = trivy_override(env)
    if chosen:
        found = shutil.which(chosen, path=path)
        if not found:
            raise PipelineError(
                f"MLC_CI_TRIVY is '{chosen}', which is not an executable; point it at the "
                "trivy binary, or unset it to use trivy from PATH."
            )
        return Scanner((found,), f"scanner: {found} (MLC_CI_TRIVY)")
    found = shutil.which("trivy", path=path)
    if found:
        return Scanner((found,), f"scanner: {found}")
    image, why = local_trivy_image(docker, env)
    if not image and dry_run:
        return Scanner(("trivy",), f"scanner: none (dry run: {why}; {plan_trivy.INSTALL_HINT})")
    if not image:
        raise PipelineError(f"no trivy to scan with: {why}; {plan_trivy.INSTALL_HINT}.")
    user = f"{os.getuid()}:{os.getgid()}"
    argv = plan_trivy.container_prefix(
        docker, image, (str(layout.stage), cache_dir), str(layout.stage), user, offline
    )
    return Scanner(argv, f"scanner: container image {image} (no trivy binary on PATH)")


def local_trivy_image(docker: str, env: Mapping[str, str]) -> tuple[str | None, str]:
    """A trivy image the engine has (never pulled): MLC_CI_TRIVY_IMAGE, else aquasec/trivy."""
    wanted = env.get("MLC_CI_TRIVY_IMAGE")
    try:
        if wanted:
            capture(plan_trivy.inspect_argv(docker, wanted))
            return wanted, ""
        listing = capture(
            (
                docker,
                "image",
                "ls",
                "--format",
                "{{.Repository}}:{{.Tag}}",
                plan_trivy.CONTAINER_REPOSITORY,
            )
        )
    except PipelineError as exc:
        detail = str(exc).rstrip(".")
        return None, f"trivy is not on PATH and no trivy image could be found ({detail})"
    image = plan_trivy.pick_container_image(listing)
    if image:
        return image, ""
    return (
        None,
        f"trivy is not on PATH and the engine has no {plan_trivy.CONTAINER_REPOSITORY} image",
    )


def _cache_dir(explicit: str | None, env: Mapping[str, str]) -> str:
    """--cache-dir, else TRIVY_CACHE_DIR, else trivy's own default ($XDG_CACHE_HOME/trivy)."""
    if explicit or env.get("TRIVY_CACHE_DIR"):
        return str(Path(explicit or env["TRIVY_CACHE_DIR"]).resolve())
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    return str(Path(base, "trivy").resolve())


def _wheels(dist: Path, given: str | None, stand_in: bool) -> tuple[list[Path], list[str]]:
    """The wheels in dist/ this interpreter can install, and a note for each it cannot
    (`stand_in`: a placeholder for them when there are none, for a dry run of the SBOMs alone;
    `given`: the user's --config, kept in the command the notes name)."""
    found = sorted(dist.glob("*.whl")) if dist.is_dir() else []
    build = nox_line("wheels-linux", config=given)
    if not found and stand_in:
        return [dist / WHEEL_PLACEHOLDER], [
            f"dry run: no wheel in {dist} yet; {WHEEL_PLACEHOLDER} stands for each wheel "
            f"{build} will build (a run needs them first, or --dist DIR)"
        ]
    if not found:
        return [], [f"no wheels in {dist}: no wheel SBOMs (build them with {build})"]
    supported = {str(tag) for tag in sys_tags()}
    wheels = [w for w in found if sboms.installable(w.name, supported)]
    notes = [
        f"no SBOM here for {w.name}: it does not install on this platform (its own platform's "
        "run describes it)"
        for w in found
        if w not in wheels
    ]
    return wheels, notes


def _prepare(layout: Layout, ignore_file: Path, cache_dir: str, offline: bool):
    """Fresh staging; the ignore file parsed (a bad date fails before the long scan)."""

    def action(ctx: Context) -> None:
        shutil.rmtree(layout.stage, ignore_errors=True)
        layout.stage.mkdir(parents=True)
        if offline:
            missing = [
                name
                for name in plan_trivy.OFFLINE_DB_FILES
                if not (Path(cache_dir) / name).is_file()
            ]
            if missing:
                raise PipelineError(
                    f"--offline needs trivy's vulnerability database in {cache_dir} but "
                    f"{missing[0]} is missing; seed it where a registry can be reached with "
                    f"`trivy --cache-dir {cache_dir} image --download-db-only` and copy the "
                    "directory here, or drop --offline."
                )
        else:
            # Created here, not by `docker run -v`, which would create it owned by root.
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
        text = ignore_file.read_text(encoding="utf-8") if ignore_file.is_file() else ""
        ctx["ignores"] = vulns.parse_ignore(text, ignore_file.name)
        layout.ignore.write_text(text, encoding="utf-8")

    return action


def _publish(layout: Layout, image: str, policy: vulns.Policy, ignore_file: Path):
    """Check the three outputs, keep them, print the summary, remember the gate's result."""

    def action(ctx: Context) -> None:
        findings = vulns.load_report(layout.raw.read_text(encoding="utf-8"), str(layout.raw))
        sarif_results = vulns.check_sarif(
            layout.sarif.read_text(encoding="utf-8"), str(layout.sarif)
        )
        components = sboms.check_cyclonedx(layout.cdx.read_text(encoding="utf-8"), str(layout.cdx))
        today = datetime.now(timezone.utc).date()
        result = vulns.evaluate(findings, policy, ctx.get("ignores", []), today)
        kept = [
            (layout.raw, layout.reports / f"{layout.slug}.json", {"kind": "trivy-json"}),
            (layout.sarif, layout.reports / f"{layout.slug}.sarif", {"kind": "sarif"}),
            (
                layout.cdx,
                layout.sbom / sboms.sbom_name(layout.slug),
                {"kind": "sbom", "format": "cyclonedx", "components": components},
            ),
        ]
        for source, target, details in kept:
            sboms.keep(source, target)
            ctx.setdefault("artifacts", []).append(artifact(target, subject=image, **details))
        data = vulns.report_data(result, image)
        data.update(
            image_id=plan_trivy.image_id(ctx.get("image_json", "")), sarif_results=sarif_results
        )
        ctx.setdefault("report", {}).update(trivy=data)
        ctx["gate"] = result
        print(summary(result, image, ignore_file.name), flush=True)

    return action


def summary(result: vulns.GateResult, image: str, ignore_name: str) -> str:
    """The terminal summary: counts per severity, the top findings, ignore-file notes."""
    counts = vulns.counts(result)
    rows = [[level, *map(str, c.values())] for level, c in counts.items()]
    lines = [
        f"\ntrivy: {image}: {len(result.findings)} findings, {len(result.blocking)} blocking "
        f"(gate: {result.policy.threshold} and above"
        + (", unfixed set aside)" if result.policy.ignore_unfixed else ")"),
        report_mod.table(rows, ["severity", "found", "ignored", "unfixed", "blocking"]),
    ]
    top = vulns.summary_rows(result)
    if top:
        headers = ["severity", "id", "package", "installed", "fixed in", "verdict"]
        lines += ["\ntop findings:", report_mod.table(top, headers)]
    lines += [f"note: {line}" for line in vulns.notes(result, ignore_name)]
    return "\n".join(lines)


def _gate(image: str, ignore_file: Path):
    def action(ctx: Context) -> None:
        result = ctx.get("gate")
        if result is None:
            raise PipelineError(f"no scan result for {image}; the gate cannot pass unscanned.")
        if not result.passed:
            raise PipelineError(
                vulns.gate_error(result, image, ignore_file.name) + ".", exit_code=1
            )

    return action


def _load(config: Config, args: argparse.Namespace, reports: tuple[Path, bool], env):
    """With --target (the image from docker-build's report): load it from its archive when
    this engine lacks it, as on a fresh CI runner (`reports`: the directory, and whether a dry
    run comes before docker-build wrote its report there)."""
    if args.image:
        return []
    reports_dir, pending = reports
    variant = config.variant(args.variant)
    target = args.target or DEFAULT_TARGET
    saved = [] if pending else images.saved_images(reports_dir, variant.name, config_flag(args))
    details = [d for d in saved if d["target"] == target]
    where = images.images_dir(config.wheel.dist_dir, env)
    return [images.load_step(config.image.docker, details, where)]


def _built_image(
    config: Config, args: argparse.Namespace, reports_dir: Path, notes: list[str]
) -> tuple[str, bool]:
    """The image of --target from docker-build's report, and whether it is a placeholder (a dry
    run before that build, which `notes` then says)."""
    variant = config.variant(args.variant).name
    target = args.target or DEFAULT_TARGET
    given = config_flag(args)
    if not images.not_built_yet(reports_dir, variant, args.dry_run):
        return _target_image(target, reports_dir, (variant, given)), False
    image = images.placeholder(target)
    notes.append(
        f"dry run: {images.report_path(reports_dir, variant)} does not exist yet, so {image} "
        f"stands for the image {images.build_command(variant, given)} will build (a run needs "
        "it first, or --image REF)"
    )
    return image, True


def _target_image(target: str, reports_dir: Path, built_by: tuple[str, str | None]) -> str:
    """The image docker-build recorded for `target` of the variant (`built_by`: the variant's
    name and the user's --config)."""
    variant, given = built_by
    built = images.built_images(reports_dir, variant, given)
    if target not in built:
        raise PipelineError(
            f"docker-build's report for '{variant}' has no '{target}' image (it has "
            f"{', '.join(sorted(built)) or 'none'}); build it with "
            f"{nox_line('docker-build', target, '--variant', variant, config=given)} or pass "
            "--image REF."
        )
    return built[target]


DEFINITION = SessionDef(
    "trivy", "scan an image with trivy and gate on severity", add_arguments, plan
)
