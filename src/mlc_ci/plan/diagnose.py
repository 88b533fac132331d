"""Known causes of failed build steps, read from their output (pure).

A failed step's final line names the cause when the output shows a known one, with the fix;
otherwise it shows the last line of output. The table is data: a pattern and a message, where
`{0}` is the pattern's first group.
"""

from __future__ import annotations

import re
from typing import Iterable

CAUSES: tuple[tuple[str, str], ...] = (
    (
        r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|invalid peer certificate",
        "TLS certificate verification failed (a TLS-inspecting proxy?); set MLC_CI_CA_BUNDLE to "
        "the CA bundle that signs it",
    ),
    (
        r"CMake (\d+\.\d+(?:\.\d+)?) or higher is required",
        "the source needs CMake >= {0}; pin it with [project].build_requires = "
        "['cmake>={0}'] (scikit-build-core then provides it) or install a newer CMake",
    ),
    (
        r"Cargo is not found|cargo: (?:command )?not found|could not find `cargo`",
        "the build needs cargo (Rust); install it (rustup, or apt-get install cargo)",
    ),
    (
        r"no matching package named `([^`]+)` found",
        "cargo cannot get the crate {0} (offline or crates.io unreachable, and neither vendored "
        "nor in the cargo cache); vendor the crates (`cargo vendor`) or fill the cargo cache on "
        "a connected host",
    ),
    (
        r"attempting to make an HTTP request, but --offline was specified"
        r"|failed to (?:get|download|query replaced source)[^\n]*crates"
        r"|index\.crates\.io|no matching package named",
        "cargo cannot get the crates (crates.io unreachable or offline, nothing vendored); "
        "vendor them (`cargo vendor`) or fill the cargo cache on a connected host",
    ),
    (
        r"No matching distribution found for ([^\s]+)|Because ([^\s]+) was not found in the "
        r"package registry",
        "the package index has no {0} (or cannot be reached); check PIP_INDEX_URL / "
        "UV_DEFAULT_INDEX and the network",
    ),
    (
        r"fatal error: ([\w./+-]+\.(?:h|hpp|hh|cuh)): No such file or directory",
        "the header {0} is missing; install the development package that provides it",
    ),
    (
        r"nvcc fatal\s*:\s*([^\n]+)",
        "nvcc refused: {0}; check CMAKE_CUDA_ARCHITECTURES and the toolkit version",
    ),
    (
        r"unsupported GNU version",
        "this nvcc does not support the host's gcc; point CUDAHOSTCXX at a supported compiler",
    ),
    (
        r"too-recent versioned symbols",
        "auditwheel: the libraries use glibc/libstdc++ symbols newer than [wheel].plat allows; "
        "build in an older-glibc container (--container) or choose a newer plat",
    ),
    (
        r"auditwheel: error: ([^\n]+)",
        "auditwheel: {0}",
    ),
    (
        r"Required test coverage of (\d+%) not reached",
        "branch coverage is below the required {0}; the table above lists the missed lines",
    ),
    (
        r"No space left on device",
        "the disk is full; free space (docker system prune, .cache/) and run again",
    ),
)

_COMPILED = tuple((re.compile(pattern), message) for pattern, message in CAUSES)
# Colour codes of tools that colour their output (twine, rich): noise in a one-line message.
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def cause(output: str) -> str:
    """The known cause the output shows ('' when none): the last match in the output wins,
    since the final error is the one that stopped the step."""
    best: tuple[int, str] = (-1, "")
    for pattern, message in _COMPILED:
        for match in pattern.finditer(output):
            if match.start() > best[0]:
                groups = [g for g in match.groups() if g] or [""]
                best = (match.start(), message.format(groups[0].strip()))
    return best[1]


def last_lines(lines: Iterable[str], count: int = 1) -> str:
    """The last `count` non-empty lines, joined with ' | ' (one line for a message)."""
    kept = [ANSI.sub("", line).strip() for line in lines if ANSI.sub("", line).strip()]
    return " | ".join(kept[-count:])
