"""Print the version a project's PEP 517 backend writes into its wheel's metadata.

host.backend_version runs it in a subprocess through the runner (so it is echoed and recorded):
`python -m mlc_ci.backend_version SOURCE INSTALLER`. The backend runs as a build would run it,
in an isolated environment with the project's build requirements, through
`prepare_metadata_for_build_wheel` (a backend without that hook builds the wheel instead).
"""

from __future__ import annotations

import email.parser
import os
import sys
import tempfile
from pathlib import Path

from build import BuildBackendException, BuildException, ProjectBuilder
from build.env import DefaultIsolatedEnv


def metadata_version(source: str, installer: str) -> str:
    """The `Version:` of the wheel metadata the backend of `source` prepares."""
    with DefaultIsolatedEnv(installer=installer) as env:  # type: ignore[arg-type]
        builder = ProjectBuilder.from_isolated_env(env, source)
        env.install(builder.build_system_requires)
        env.install(builder.get_requires_for_build("wheel"))
        with tempfile.TemporaryDirectory(prefix="mlc-ci-metadata-") as out:
            dist_info = Path(builder.metadata_path(out))
            text = (dist_info / "METADATA").read_text(encoding="utf-8")
    return str(email.parser.HeaderParser().parsestr(text).get("Version", "")).strip()


def main(argv: list[str]) -> int:
    """SOURCE INSTALLER -> one line `Version: X` on stdout; the backend's output on stderr."""
    source, installer = argv
    # The hooks and installers write to fd 1; only the answer may reach the caller's stdout.
    answer = os.dup(1)
    os.dup2(2, 1)
    try:
        version = metadata_version(source, installer)
    except (BuildBackendException, BuildException) as exc:
        print(f"the backend could not prepare the metadata: {exc}", file=sys.stderr)
        return 1
    if not version:
        print("the backend's metadata has no Version: field", file=sys.stderr)
        return 1
    os.write(answer, f"Version: {version}\n".encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
