"""Known causes of failed steps, read from their output."""

from __future__ import annotations

import pytest

from mlc_ci.plan import diagnose


@pytest.mark.parametrize(
    ("output", "fragment"),
    [
        ("CMake Error at CMakeLists.txt:1:\n  CMake 3.26 or higher is required.", "cmake>=3.26"),
        ("-- Cargo is not found", "install it (rustup"),
        (
            "error: failed to get `serde` as a dependency\n attempting to make an HTTP request, "
            "but --offline was specified",
            "vendor them",
        ),
        ("ERROR: No matching distribution found for tvm-ffi", "has no tvm-ffi"),
        ("x.cc:1:10: fatal error: dlpack/dlpack.h: No such file or directory", "dlpack/dlpack.h"),
        ("nvcc fatal   : Unsupported gpu architecture 'compute_120'", "compute_120"),
        (
            'cannot repair "a.whl" to "manylinux_2_28_x86_64" ABI because of the presence of '
            "too-recent versioned symbols",
            "--container",
        ),
        ("usage: auditwheel\nauditwheel: error: cannot repair: no ELF", "auditwheel: cannot"),
        ("write error: No space left on device", "the disk is full"),
        ("FAIL Required test coverage of 90% not reached. Total coverage: 83.81%", "below the"),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "MLC_CI_CA_BUNDLE"),
    ],
)
def test_known_causes(output, fragment):
    assert fragment in diagnose.cause(output)


def test_the_last_cause_in_the_output_wins():
    output = "fatal error: a.h: No such file or directory\n...\nNo space left on device\n"
    assert diagnose.cause(output).startswith("the disk is full")


def test_unknown_output_has_no_cause_and_last_lines_skip_blanks():
    assert diagnose.cause("make: *** [all] Error 2") == ""
    assert diagnose.last_lines(["a", "", "b  ", " "], 2) == "a | b"
    assert diagnose.last_lines([]) == ""
