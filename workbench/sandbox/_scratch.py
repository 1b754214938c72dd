"""Scratch workspaces: the folder a sandbox without a session works in, and its end.

``create_sandbox()`` without a session id is a one-off: its workspace is a
scratch folder, ``<root>/.scratch/<id>/workspace``, removed when the sandbox
closes. The sessions root therefore holds sessions only (``.scratch`` is not a
valid session id, so it is never listed as one). To keep what a fresh run
wrote, make the scratch workspace a session first
(:meth:`~workbench.sandbox.Sandbox.keep_as_session`).

Why removal on close rather than one shared scratch area with a size or age
bound: a fresh run's files belong to that run, so they should live exactly as
long as its sandbox; a bound would delete files at a moment nobody chose, and
one area shared by concurrent runs would let one run see another's files.

Each scratch folder holds an ``owner.lock`` that its process keeps locked
(``flock`` on POSIX, ``msvcrt.locking`` on Windows) while the sandbox is open.
The operating system releases the lock when the process ends, however it ends,
so a later sandbox in the same root can tell a crashed process's leftovers from
a live sandbox's folder: :func:`sweep` removes scratch folders whose lock it can
take. It never looks outside ``<root>/.scratch``, so it can't touch a session.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import sys
import threading
import time
from pathlib import Path

from ._errors import WorkspaceError
from ._storage import remove_host_folder

__all__ = ["KEEP_FILE", "LOCK_FILE", "SCRATCH_DIR", "ScratchFolder", "sweep"]

log = logging.getLogger("workbench.sandbox")

#: The folder inside a sessions root that holds scratch workspaces.
SCRATCH_DIR = ".scratch"
LOCK_FILE = "owner.lock"
#: A scratch folder holding this file is kept: neither close nor a sweep removes
#: it. It is written when keeping the folder as a session failed, so what the run
#: wrote is not lost with the sandbox; the file says why and what to do.
KEEP_FILE = "KEPT-README.txt"
#: A scratch folder younger than this is never swept: its owner may still be
#: between creating the folder and locking it.
SWEEP_GRACE_SECONDS = 60.0

_swept: set[Path] = set()
_swept_lock = threading.Lock()


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        # flock, not lockf: flock locks belong to the open file, so a second open
        # in the same process (a sweep here) conflicts with a live sandbox's lock.
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True


class ScratchFolder:
    """One scratch folder, locked by this process until :meth:`remove` or :meth:`release`.

    Usage::

        scratch = ScratchFolder.create(root, sandbox_id)
        scratch.workspace          # <root>/.scratch/<id>/workspace
        scratch.remove()           # the folder and everything in it; idempotent
    """

    def __init__(self, folder: Path, fd: int) -> None:
        self.folder = folder
        self.workspace = folder / "workspace"
        self._fd: int | None = fd
        self._lock = threading.Lock()

    @classmethod
    def create(cls, root: Path, name: str) -> ScratchFolder:
        """Make ``<root>/.scratch/<name>/workspace`` and lock it for this process."""
        folder = root / SCRATCH_DIR / name
        for attempt in range(3):
            try:
                (folder / "workspace").mkdir(parents=True)
                break
            except FileNotFoundError:
                # Another sandbox removed the empty .scratch between our two mkdirs.
                if attempt == 2:
                    raise
        fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        if not _try_lock(fd):  # a fresh random name: nobody else can hold it
            os.close(fd)
            raise OSError(f"could not lock the new scratch folder {folder}")
        return cls(folder, fd)

    @property
    def active(self) -> bool:
        """Whether the folder is still this object's (not yet removed or released)."""
        return self._fd is not None

    def release(self) -> None:
        """Unlock and forget the folder without deleting it (it is someone else's now)."""
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def relock(self) -> None:
        """Take the folder back after :meth:`release` (a move that failed)."""
        fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        _try_lock(fd)
        with self._lock:
            self._fd = fd

    def mark_kept(self, reason: str) -> None:
        """Keep the folder for good: :meth:`remove` and :func:`sweep` leave it.

        Writes :data:`KEEP_FILE` (``reason`` and where the files are). Raises
        OSError if it can't be written (then the folder is removed as usual).
        """
        (self.folder / KEEP_FILE).write_text(
            f"{reason}\n\nThe files of that run are in {self.workspace}.\n"
            "WASM Workbench never removes this folder: copy what you need, then delete it.\n",
            encoding="utf-8",
        )

    def remove(self) -> None:
        """Delete the folder and everything in it, never following links. Idempotent.

        Never raises: a folder that can't be deleted now (a file still open on
        Windows) is left to a later :func:`sweep`. A folder marked with
        :meth:`mark_kept` is only unlocked.
        """
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.close(fd)  # Windows can't delete an open file
        if _is_kept(self.folder):
            log.warning("left the scratch workspace %s: it is marked kept", self.folder)
            return
        try:
            remove_host_folder(self.folder)
        except (OSError, WorkspaceError) as exc:
            # WorkspaceError: something still wrote there (an instance of the
            # closing sandbox that was still starting); the next sweep removes it.
            log.warning("could not remove the scratch workspace %s: %s", self.folder, exc)
            return
        with contextlib.suppress(OSError):
            self.folder.parent.rmdir()  # the last one out removes .scratch too


def sweep(root: Path, *, force: bool = False) -> list[Path]:
    """Remove scratch folders under ``root`` that no live process owns.

    Runs once per root in a process unless ``force``; returns the folders
    removed. A folder is removed only when its ``owner.lock`` can be locked (its
    process has ended) or it has no lock file, and only after
    :data:`SWEEP_GRACE_SECONDS` since it last changed. Errors are logged, never
    raised.
    """
    scratch = root / SCRATCH_DIR
    key = scratch.resolve() if scratch.exists() else scratch
    with _swept_lock:
        if key in _swept and not force:
            return []
        _swept.add(key)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(scratch))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        folder = Path(entry.path)
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
            if now - entry.stat(follow_symlinks=False).st_mtime < SWEEP_GRACE_SECONDS:
                continue
            if _is_kept(folder) or not _owner_gone(folder / LOCK_FILE):
                continue
            remove_host_folder(folder)
        except OSError as exc:
            log.warning("could not remove the leftover scratch workspace %s: %s", folder, exc)
            continue
        removed.append(folder)
    if removed:
        log.info("removed %d leftover scratch workspace(s) in %s", len(removed), scratch)
        with contextlib.suppress(OSError):
            scratch.rmdir()
    return removed


def _is_kept(folder: Path) -> bool:
    """Whether ``folder`` holds a :data:`KEEP_FILE` (a regular file, not a link)."""
    try:
        return stat.S_ISREG((folder / KEEP_FILE).lstat().st_mode)
    except OSError:
        return False


def _owner_gone(lock_path: Path) -> bool:
    """Whether no process holds ``lock_path`` (a missing lock file counts as gone)."""
    flags = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(lock_path, flags)
    except FileNotFoundError:
        return True
    try:
        return _try_lock(fd)  # closing the file below releases the lock again
    finally:
        os.close(fd)
