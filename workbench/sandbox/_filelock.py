"""A cross-process lock on a file, with the standard library only.

Used around compiling a runtime into the shared module cache: two processes
preparing the same runtime at once (the GUI and ``wasm-workbench runtimes
--prepare``, or two test runs) must not both spend a compile. The lock is
advisory and held by the open file: the operating system releases it when the
process ends, so a crash never leaves a stale lock behind (no "lock file left
over" state to clean up).

POSIX uses ``fcntl.flock``; Windows locks the file's first byte with
``msvcrt.locking``.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO

__all__ = ["FileLock"]

#: How often a blocking acquire retries on Windows (msvcrt has no blocking wait).
_POLL_SECONDS = 0.05


class FileLock:
    """An exclusive lock on ``path`` shared by every process on this machine.

    Usage::

        lock = FileLock(cache / "python-sci.lock")
        with lock:
            ...  # only one process at a time gets here

    The file is created if needed and left in place (removing it would race with
    a process about to lock it). Not re-entrant; one thread at a time.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None
        self._guard = threading.Lock()

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock; with ``blocking=False`` return False if another holds it.

        Raises
        ------
        OSError
            If the lock file can't be created or opened.
        """
        with self._guard:
            if self._file is not None:
                raise RuntimeError(f"{self.path} is already locked by this object")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = self.path.open("a+b")
            try:
                while not _try_lock(handle):
                    if not blocking:
                        handle.close()
                        return False
                    if sys.platform != "win32":
                        _lock_blocking(handle)
                        break
                    time.sleep(_POLL_SECONDS)
            except BaseException:
                handle.close()
                raise
            self._file = handle
            return True

    def release(self) -> None:
        """Give the lock back (nothing happens if it isn't held)."""
        with self._guard:
            handle, self._file = self._file, None
        if handle is None:
            return
        try:
            _unlock(handle)
        finally:
            handle.close()

    @property
    def locked(self) -> bool:
        """Whether this object holds the lock."""
        return self._file is not None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


if sys.platform == "win32":
    import msvcrt

    def _try_lock(handle: IO[bytes]) -> bool:
        handle.seek(0)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _lock_blocking(handle: IO[bytes]) -> None:  # pragma: no cover - polled instead
        while not _try_lock(handle):
            time.sleep(_POLL_SECONDS)

    def _unlock(handle: IO[bytes]) -> None:
        handle.seek(0)
        with contextlib.suppress(OSError):
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(handle: IO[bytes]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _lock_blocking(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)

    def _unlock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
