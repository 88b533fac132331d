"""Build prerequisites checked before the build (pure): which checks exist, and which the user
waived with MLC_CI_WAIVE to build as far as the build goes without them."""

from __future__ import annotations

from mlc_ci.errors import PipelineError

# name -> what it checks. The build of a source with [project].cargo_manifests runs cargo.
CHECKS = {
    "cargo": "cargo is installed (the build runs it)",
    "crates": "the crates of each cargo manifest resolve offline (vendored or in the cargo cache)",
}
WAIVE_VARIABLE = "MLC_CI_WAIVE"


def waived(value: str) -> frozenset[str]:
    """The checks MLC_CI_WAIVE names (comma-separated); an unknown name is refused."""
    names = frozenset(part.strip() for part in value.split(",") if part.strip())
    unknown = sorted(names - set(CHECKS))
    if unknown:
        raise PipelineError(
            f"{WAIVE_VARIABLE} names {', '.join(unknown)}, which is no preflight check; "
            f"use {', '.join(CHECKS)} (comma-separated), or unset it."
        )
    return names


def missing_cargo(manifests: tuple[str, ...], source: str) -> str:
    """The one line for a host without cargo."""
    return (
        f"the build runs cargo ({', '.join(manifests)} in {source}), and cargo is not installed; "
        f"install Rust (rustup), or set {WAIVE_VARIABLE}=cargo to build as far as it goes."
    )


def crates_fix() -> str:
    """What a failed offline crates check adds to its line."""
    return f"or set {WAIVE_VARIABLE}=crates to build as far as it goes"
