"""`python -m tools.rehearsal`: rehearse .github/workflows/ci.yml for one event, job by job.

Each job runs in a fresh container of the runner-image stand-in of its `runs-on` label, with a
Docker engine of its own; the workspace is a checkout of HEAD made by the checkout emulation
from a bare mirror. The report goes to reports/rehearsal-<event>.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Mapping

from tools.rehearsal import images, records
from tools.rehearsal.engine import Run
from tools.rehearsal.model import Event, ImageStandIn, Machine, RehearsalError, Shared
from tools.rehearsal.workflow import load, triggered

EVENTS = ("pull_request", "push", "tag", "schedule", "workflow_dispatch")
# The network plumbing of this machine (PyPI through a TLS-inspecting proxy whose CA is in the
# host's trust store): the one thing of the host a job gets, so that PyPI answers as on GitHub.
CA_FILE = Path("/etc/ssl/certs/ca-certificates.crt")
CA_VARIABLES = (
    "SSL_CERT_FILE",
    "PIP_CERT",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "NODE_EXTRA_CA_CERTS",
)


def network_env(host: Mapping[str, str]) -> dict[str, str]:
    """The CA variables this host's clients use, pointed at CA_FILE, for every job; where there
    are any, MLC_CI_CA_BUNDLE too, since image builds see the trust store only through it (as
    .ci/run exports it): without it a job's `docker build` cannot reach PyPI through the proxy."""
    network = {name: str(CA_FILE) for name in CA_VARIABLES if host.get(name)}
    if network:
        network["MLC_CI_CA_BUNDLE"] = str(CA_FILE)
    return network


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        if "=" not in value:
            raise RehearsalError(f"{flag} {value!r}: expected NAME=VALUE")
        key, val = value.split("=", 1)
        pairs[key] = val
    return pairs


def standins(values: list[str]) -> dict[str, Path]:
    """--submodule-standin PATH=DIR: each DIR a git work tree."""
    found = {}
    for path, tree in _pairs(values, "--submodule-standin").items():
        where = Path(tree).resolve()
        if not (where / ".git").exists():
            raise RehearsalError(
                f"--submodule-standin {path}={tree}: {where} is not a git work tree; "
                "prepare the tree first (a checkout of the submodule with its own submodules)"
            )
        found[path.strip("/")] = where
    return found


def shared_for(
    args: argparse.Namespace, root: Path, mirror: Path, pushed: Mapping[str, ImageStandIn]
) -> Shared:
    """What every job of the run shares, from the command line (pushed: the image stand-ins,
    already in the loopback registry)."""
    return Shared(
        root,
        mirror,
        args.submodules_from.resolve() if args.submodules_from else None,
        standins=standins(args.submodule_standin),
        secrets=_pairs(args.secret, "--secret"),
        variables=_pairs(args.var, "--var"),
        images=dict(pushed),
    )


def pushed_images(args: argparse.Namespace) -> dict[str, ImageStandIn]:
    """The declared image stand-ins, pushed to the loopback registry (after every declared
    stand-in was checked: nothing is pushed for a command line that stops)."""
    wanted = images.parse(args.image_standin)
    standins(args.submodule_standin)
    docker = os.environ.get("MLC_CI_DOCKER", "docker")
    return {ref: images.push(ref, local, docker) for ref, local in wanted.items()}


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m tools.rehearsal", description=__doc__)
    parser.add_argument("--workflow", type=Path, default=Path(".github/workflows/ci.yml"))
    parser.add_argument("--event", choices=EVENTS, default="pull_request")
    parser.add_argument("--fork", action="store_true", help="a pull request from a fork")
    parser.add_argument("--tag", default="", help="the tag a `tag` event pushes (vX.Y.Z)")
    parser.add_argument("--branch", default="main", help="the branch a push goes to")
    parser.add_argument("--repository", default="mlc-ci/mlc-ci", help="owner/name it runs in")
    parser.add_argument("--var", action="append", default=[], help="a repository variable")
    parser.add_argument("--secret", action="append", default=[], help="a secret NAME=VALUE")
    parser.add_argument("--submodules-from", type=Path, help="bare mirrors of submodule URLs")
    parser.add_argument(
        "--submodule-standin",
        action="append",
        default=[],
        help="PATH=DIR: a prepared work tree checked out at submodule PATH (a declared stand-in)",
    )
    parser.add_argument(
        "--image-standin",
        action="append",
        default=[],
        help="REF=LOCAL: the local image LOCAL, pushed to the loopback registry, in place of the "
        "image REF the repository's files name (a declared stand-in for a walled registry)",
    )
    parser.add_argument("--run-past-failures", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated job keys to run (plan,gate)")
    parser.add_argument("--host", action="store_true", help="run jobs on this host (tests)")
    parser.add_argument("--allow-walls", action="store_true", help="walls do not fail the run")
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    parser.add_argument("--keep", action="store_true", help="keep the job directories")
    return parser.parse_args(argv)


def _git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RehearsalError(f"git {' '.join(args)}: {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout.strip()


def event_of(args: argparse.Namespace, sha: str) -> Event:
    """The rehearsed event: HEAD as the pushed commit or the pull request's merge result."""
    if args.event == "tag":
        if not args.tag:
            raise RehearsalError("--event tag needs --tag vX.Y.Z (the tag the push creates)")
        return Event("push", f"refs/tags/{args.tag}", sha, args.repository)
    if args.event == "pull_request":
        return Event(
            "pull_request",
            "refs/pull/1/merge",
            sha,
            args.repository,
            fork=args.fork,
            base_ref="main",
        )
    return Event(args.event, f"refs/heads/{args.branch}", sha, args.repository)


def machines(args: argparse.Namespace, shared: Shared):
    """The machine factory: a runner-like container per job (or this host for tests)."""
    # pylint: disable=import-outside-toplevel  # docker only where containers run
    from tools.rehearsal import container
    from tools.rehearsal.machine import HostMachine

    docker = os.environ.get("MLC_CI_DOCKER", "docker")

    def factory(label: str, root: Path) -> Machine | str:
        if "self-hosted" in label.split():
            return f"runs-on `{label}`: a self-hosted runner, none here"
        if args.host:
            return HostMachine()
        # A label without a data file (macos-*, another Windows) has no stand-in here.
        if not (container.RUNNERS / f"{label}.toml").is_file():
            return f"runs-on `{label}`: no runner image or declared local equivalent here"
        spec = container.runner_spec(label)
        image = container.runner_image(label, docker)
        # setup-python's interpreters are clean copies in the job's tool cache: the host's
        # pyenv is not visible to a job.
        mounts = [shared.root] + ([CA_FILE] if CA_FILE.exists() else [])
        if shared.submodules_from:
            mounts.append(shared.submodules_from)
        mounts += shared.standins.values()
        return container.ContainerMachine.start(
            image,
            root,
            mounts,
            docker=docker,
            name=f"mlc-ci-rehearsal-{root.name}-{os.getpid()}",
            runner=spec.runner,
        )

    return factory


def main(argv: list[str] | None = None) -> int:
    """Rehearse; 1 when a job failed (or hit a wall without --allow-walls)."""
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        workflow = load(args.workflow)
        repo = Path(_git("rev-parse", "--show-toplevel"))
        sha = _git("rev-parse", "HEAD", cwd=repo)
        if _git("status", "--porcelain", "--untracked-files=no", cwd=repo):
            print(f"rehearsal: note: HEAD ({sha[:7]}) is rehearsed; uncommitted changes are not")
        event = event_of(args, sha)
        if not triggered(workflow, event):
            raise RehearsalError(f"{args.workflow} does not run on {args.event} ({event.ref})")
        pushed = pushed_images(args)
        with tempfile.TemporaryDirectory(prefix="mlc-ci-rehearsal-", dir="/var/tmp") as tmp:
            root = Path(tmp) / "shared"
            mirror = root / "mirror.git"
            _git("clone", "--quiet", "--bare", str(repo), str(mirror))
            if args.event == "tag":
                _git("tag", "-f", args.tag, sha, cwd=mirror)
            shared = shared_for(args, root, mirror, pushed)
            network = network_env(os.environ)
            run = Run(
                workflow,
                event,
                shared,
                machines(args, shared),
                args.run_past_failures,
                network,
                frozenset(filter(None, args.only.split(","))),
            )
            jobs = run.play()
            report = args.reports / f"rehearsal-{args.event}.json"
            extra = {"sha": sha, "ref": event.ref, "fork": event.fork}
            records.write(report, args.event, jobs, extra)
            if args.keep:
                # The previous rehearsal's directories of this event make way for this one's.
                kept = args.reports / f"rehearsal-{args.event}-jobs"
                shutil.rmtree(kept, ignore_errors=True)
                kept.mkdir(parents=True)
                # Moved, not copied: the jobs' tool caches and checkouts are gigabytes (a
                # rename where both are on one filesystem).
                for child in Path(tmp).iterdir():
                    shutil.move(str(child), str(kept / child.name))
    except RehearsalError as exc:
        print(f"rehearsal: error: {exc}", file=sys.stderr)
        return 2
    print(records.table(jobs))
    print(f"rehearsal: report {report}")
    bad = {records.FAILED} | (set() if args.allow_walls else {records.WALL})
    return 1 if any(job.verdict in bad for job in jobs) else 0


if __name__ == "__main__":
    sys.exit(main())
