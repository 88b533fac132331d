"""Which installed distribution provides the package, whatever its variant suffix."""

from __future__ import annotations

from importlib import metadata
from typing import Optional


def find_distribution(package: str) -> Optional[str]:
    """The distribution (e.g. mini-llm-cpu) whose files include `package`, or None."""
    lookup = getattr(metadata, "packages_distributions", None)
    if lookup is not None:
        candidates = sorted(set(lookup().get(package, [])))
    else:  # Python 3.9: no packages_distributions(); read the RECORD of each distribution.
        candidates = sorted(
            {
                dist.metadata["Name"]
                for dist in metadata.distributions()
                if any(str(f).startswith(f"{package}/") for f in (dist.files or []))
            }
        )
    return candidates[0] if candidates else None


def package_version(package: str) -> str:
    """Version of the distribution providing `package`; "unknown" when it is not installed."""
    name = find_distribution(package)
    if name is None:
        return "unknown"
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"
