"""The host as a machine: commands run here with exactly the job's environment.

Only the tests use it (fixture workflows whose steps need nothing but a shell); a rehearsal
runs each job in a runner-like container (container.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Mapping, Sequence

from tools.rehearsal.model import Completed, Runner


class HostMachine:
    """Runs a job's commands on this host."""

    image_id = "host"

    def __init__(self, runner: Runner | None = None) -> None:
        self.runner = runner or Runner()

    def exec(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        timeout: float | None = None,
    ) -> Completed:
        """Run argv with exactly env in cwd; output is stdout and stderr interleaved."""
        try:
            proc = subprocess.run(
                list(argv),
                env=dict(env),
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout or b""
            return Completed(124, out.decode("utf-8", "replace"), timed_out=True)
        return Completed(proc.returncode, proc.stdout.decode("utf-8", "replace"))

    def stop(self) -> None:
        """Nothing to stop."""
