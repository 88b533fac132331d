"""One run per checkout and session at a time: an exclusive lock on .cache/locks/<name>.lock.

Two runs of one session share dist/, the scratch and the report, so the second would fail
verifying the first one's files. The lock is an OS lock on an open file (flock; msvcrt on
Windows), so it goes when its process dies, however it dies. The file holds the pid and command
line of its run, for the message of the one refused, and is removed when the run ends.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from pathlib import Path
from typing import IO, Iterator, Sequence

from mlc_ci.errors import PipelineError

LOCKS = Path(".cache") / "locks"
_WINDOWS_BYTE = 1 << 20


def _try_lock(handle: IO[str]) -> bool:
    """Take the lock without waiting; False when another process holds it."""
    try:
        if sys.platform == "win32":
            import msvcrt  # pylint: disable=import-outside-toplevel,import-error

            # A byte past the text: a locked range cannot be read, and the holder must be.
            handle.seek(_WINDOWS_BYTE)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl  # pylint: disable=import-outside-toplevel

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # BlockingIOError (flock), PermissionError (msvcrt): held elsewhere
        return False
    return True


@contextlib.contextmanager
def held(name: str, argv: Sequence[str], root: Path = Path(".")) -> Iterator[Path]:
    """Hold the lock of `name` under `root` while the block runs; refuse at once, naming the
    holder, when another process has it. The file goes when the block ends."""
    path = root / LOCKS / f"{name}.lock"
    handle = _take(path, name)
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}: {shlex.join(argv)}\n")
        handle.flush()
        yield path
    finally:
        if sys.platform != "win32":  # removed while held, so no process can lock it meanwhile
            _remove(path)
        handle.close()  # releases the lock
        if sys.platform == "win32":  # an open file cannot be removed: fails if taken again
            _remove(path)


def _take(path: Path, name: str) -> IO[str]:
    """The open, locked lock file (a new one when the holder removed it as we opened it)."""
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # "a+": never truncate a file another process holds; it is rewritten once ours.
            handle = open(path, "a+", encoding="utf-8")  # pylint: disable=consider-using-with
        except OSError as exc:
            raise PipelineError(
                f"cannot create the run lock {path} ({exc.strerror or exc}); make "
                f"{path.parent} writable."
            ) from exc
        if not _try_lock(handle):
            handle.seek(0)
            holder = handle.read().strip() or "pid unknown: it is starting"
            handle.close()
            raise PipelineError(
                f"another `{name}` run ({holder}) holds this checkout ({path}); wait for it to "
                "finish or stop it, then run again."
            )
        if _same_file(handle, path):
            return handle
        handle.close()


def _same_file(handle: IO[str], path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(handle.fileno()), path.stat())
    except OSError:  # removed by the run that held it
        return False


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
