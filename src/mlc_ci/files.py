"""The one atomic file writer: a temporary name in the target's directory, then a rename.

A reader never sees half a file, a failed write (disk full, read-only) leaves nothing behind
and says so in one line, and what is written is mode 0644 (reports and checksums are read by
other users and by CI's artifact upload), not mkstemp's 0600.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

MODE = 0o644


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_dir(path: Path, what: str) -> Path:
    """Create `path` if needed; a clear error when it is a file or cannot be written."""
    # Imported here: errors is the only module this one needs, and run/report import files.
    from mlc_ci.errors import PipelineError  # pylint: disable=import-outside-toplevel

    if path.exists() and not path.is_dir():
        raise PipelineError(f"{what} {path} is a file, not a directory; move it or pick another.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PipelineError(
            f"cannot create {what} {path} ({exc.strerror or exc}); pick a writable directory."
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise PipelineError(f"{what} {path} is not writable; fix its permissions or pick another.")
    return path


def atomic(target: Path, fill: Callable[[str], None]) -> Path:
    """Fill a temporary file beside `target` (fill gets its path), then rename it into place."""
    from mlc_ci.errors import PipelineError  # pylint: disable=import-outside-toplevel

    ensure_dir(target.parent, "directory")
    handle, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(handle)
    try:
        fill(tmp)
        os.chmod(tmp, MODE)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise PipelineError(
            f"cannot write {target} ({exc.strerror or exc}); nothing was changed there: free "
            "space or pick another directory."
        ) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_text(target: Path, text: str) -> Path:
    """Write `text` (UTF-8) to `target` atomically."""
    return atomic(target, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_bytes(target: Path, data: bytes) -> Path:
    """Write `data` to `target` atomically."""
    return atomic(target, lambda tmp: Path(tmp).write_bytes(data))


def copy(source: Path, target: Path) -> Path:
    """Copy `source` to `target` atomically (timestamps kept)."""
    return atomic(target, lambda tmp: shutil.copy2(source, tmp))


def remover(path: Path | str) -> Callable[[object], None]:
    """A step action (it ignores the context) that removes `path`; already gone is fine."""

    def action(ctx: object) -> None:
        del ctx
        Path(path).unlink(missing_ok=True)

    return action
