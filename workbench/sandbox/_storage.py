"""Where session workspaces live, and every host-side file operation on them.

A guest sees its workspace at ``/app`` and can do anything there: create
symbolic links that point anywhere on the host (``/etc``, ``../../secret``),
swap a folder for a link while the host is working in it, or fill it with
deep trees. Every operation in this module is therefore written so that the
host never looks through a link the guest made:

* Paths given by a caller (an agent, the GUI) are split into components and
  checked first (:func:`_split_path`): no ``..``, no absolute paths other than
  ``/app/...``, no NUL or control characters, no backslashes or drive letters,
  at most :data:`MAX_PATH_LENGTH` characters and :data:`MAX_PATH_DEPTH` levels.
* On POSIX every component is then opened relative to the folder before it with
  ``os.open(name, O_NOFOLLOW | O_DIRECTORY, dir_fd=parent)``; a link anywhere on
  the way fails to open, and a guest swapping a folder for a link mid-operation
  only makes the operation fail. Where ``dir_fd`` or ``O_NOFOLLOW`` are missing
  (Windows) each component is checked with ``os.lstat`` before it is used; that
  leaves a short race between the check and the use, documented on
  :class:`_PathDir`.
* Walks (listing, usage, deletion, syncing) are iterative, never descend into a
  link, and keep a bounded number of folders open however deep the tree is.
* Writes go to a temporary file in the same folder and are moved over the real
  name with ``os.replace``, so a crash never leaves a half-written file.

Two backends implement :class:`StorageAdapter`:

* :class:`DiskStorage` (the default) keeps each workspace as a folder,
  ``root/<id>/workspace``; ``root/<id>`` itself is the session's metadata folder,
  which the guest never sees.
* :class:`SQLiteStorage` keeps every file of every session in one database,
  ``root/workspaces.sqlite3``, and materializes a session into a private
  temporary folder while it runs.

Usage::

    storage = DiskStorage(Path("~/.local/share/wasm-workbench/sessions").expanduser())
    storage.create(session_id)
    storage.write_file(session_id, "/app/data/in.csv", b"a,b")
    folder = storage.checkout(session_id)      # mount this at /app
    ...                                        # run guest code
    storage.checkin(session_id)                # after every turn
    storage.list_files(session_id, "**/*.csv")
    storage.checkin(session_id, final=True)    # when the session closes
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import logging
import os
import re
import secrets
import sqlite3
import stat
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Literal, Protocol, runtime_checkable

from ._errors import InvalidSessionIdError, PathOutsideWorkspaceError, WorkspaceError
from ._ids import validate_session_id
from ._links import move_keeps_links_inside, remove_escaping_links

__all__ = [
    "DEFAULT_MAX_READ",
    "DEFAULT_MAX_WRITE",
    "MAX_LIST_ENTRIES",
    "MAX_PATH_DEPTH",
    "MAX_PATH_LENGTH",
    "DiskStorage",
    "FileInfo",
    "FileKind",
    "SQLiteStorage",
    "StorageAdapter",
]

logger = logging.getLogger(__name__)

MIB = 1024 * 1024

#: Largest file :meth:`StorageAdapter.read_file` returns unless told otherwise.
DEFAULT_MAX_READ = 64 * MIB
#: Largest file :meth:`StorageAdapter.write_file` accepts unless told otherwise.
#: :class:`SQLiteStorage` also leaves guest files bigger than this out of its database.
DEFAULT_MAX_WRITE = 256 * MIB
#: Longest path (in characters) a caller may pass.
MAX_PATH_LENGTH = 1024
#: Most components (folders + name) a path may have.
MAX_PATH_DEPTH = 64
#: Most entries one :meth:`StorageAdapter.list_files` call returns.
MAX_LIST_ENTRIES = 100_000

FileKind = Literal["file", "dir", "symlink", "other"]

#: Where the guest sees its workspace; callers may pass guest paths like "/app/x".
_GUEST_ROOT = "/app"
#: The SQLite backend's database; session ids can't start with this name.
_DB_NAME = "workspaces.sqlite3"
#: Name of the workspace folder inside a DiskStorage session folder.
_WORKSPACE = "workspace"
#: Prefix of the temporary files atomic writes go through.
_TMP_PREFIX = ".wb-write-"
#: How many folder levels a walk keeps open; deeper ones are reopened from there.
_CACHED_DEPTH = 32
#: Files modified this close to a sync are re-read even if size and mtime match
#: (file systems with coarse timestamps can't tell two quick writes apart).
_RACY_NS = 2_000_000_000
_CHUNK = 1 * MIB

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_DRIVE = re.compile(r"[A-Za-z]:")

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_NOCTTY = getattr(os, "O_NOCTTY", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)

#: True where every folder operation can be done relative to an open folder
#: without following links (Linux, macOS, the BSDs); False on Windows.
_HAVE_DIR_FD = bool(
    _O_NOFOLLOW
    and _O_DIRECTORY
    and {os.open, os.stat, os.mkdir, os.rmdir, os.unlink, os.rename, os.utime} <= os.supports_dir_fd
    and os.scandir in os.supports_fd
    and os.utime in os.supports_follow_symlinks
)


@dataclass(frozen=True)
class FileInfo:
    """One entry of a workspace, as :meth:`StorageAdapter.list_files` reports it.

    Attributes
    ----------
    path
        POSIX path relative to the workspace root, e.g. ``"data/out.csv"``.
    size
        Size in bytes; 0 for folders, links and special files.
    modified
        Last modification, in seconds since the epoch.
    kind
        ``"file"``, ``"dir"``, ``"symlink"`` (a link the guest made; never
        followed) or ``"other"`` (a pipe, socket or device).
    """

    path: str
    size: int
    modified: float
    kind: FileKind


@runtime_checkable
class StorageAdapter(Protocol):
    """Where session workspaces live, and every host-side operation on them.

    Paths are relative POSIX paths (``"data/out.csv"``) or guest paths
    (``"/app/data/out.csv"``). Every method validates the session id and the
    path, never follows a symbolic link, and changes nothing when it refuses.

    Attributes
    ----------
    name
        Short backend name, e.g. ``"disk"`` or ``"sqlite"``.
    root
        Folder holding the per-session metadata folders.
    """

    name: str
    root: Path

    def create(self, session_id: str) -> None:
        """Create an empty workspace for ``session_id``; does nothing if it exists."""
        ...

    def exists(self, session_id: str) -> bool:
        """Whether ``session_id`` has a workspace."""
        ...

    def list_sessions(self) -> list[str]:
        """Ids of every session with a workspace, sorted."""
        ...

    def delete(self, session_id: str) -> int:
        """Remove the workspace and the metadata folder; return the bytes freed.

        Links inside are removed, never followed. Deleting a missing session
        returns 0.
        """
        ...

    def usage(self, session_id: str) -> tuple[int, int]:
        """``(bytes, entries)`` used by the workspace, without following links."""
        ...

    def meta_dir(self, session_id: str) -> Path:
        """Host folder for the session's own files (metadata, audit log, saved state).

        Never inside the folder :meth:`checkout` returns; created if missing.
        """
        ...

    def checkout(self, session_id: str) -> Path:
        """Host folder to mount at ``/app``.

        The same folder is returned on every call until ``checkin(final=True)``.
        """
        ...

    def checkin(self, session_id: str, *, final: bool = False) -> None:
        """Save what the guest changed in the checked-out folder.

        With ``final=True`` the folder is also released; the next
        :meth:`checkout` may return another one.
        """
        ...

    def read_file(self, session_id: str, path: str, *, max_bytes: int = DEFAULT_MAX_READ) -> bytes:
        """The bytes of a regular file; refuses links, folders and files over ``max_bytes``."""
        ...

    def write_file(
        self, session_id: str, path: str, data: bytes, *, max_bytes: int = DEFAULT_MAX_WRITE
    ) -> None:
        """Write ``data`` atomically, creating parent folders; refuses links and folders."""
        ...

    def delete_file(self, session_id: str, path: str) -> None:
        """Delete a file, a link (the link itself) or a folder with everything in it."""
        ...

    def rename_file(self, session_id: str, source: str, target: str) -> None:
        """Move ``source`` to ``target`` (which must not exist), creating parent folders."""
        ...

    def list_files(self, session_id: str, pattern: str = "**/*") -> list[FileInfo]:
        """Entries matching ``pattern`` (``*``, ``?``, ``**``), sorted by path."""
        ...

    def reset(self, session_id: str) -> None:
        """Empty the workspace; the session itself stays."""
        ...


# ---- Validation and messages


def _show(parts: tuple[str, ...]) -> str:
    """A workspace path for a message (quoted, with odd characters escaped)."""
    return repr("/".join(parts)) if parts else "the workspace root"


def _clip(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _session_id(untrusted_id: object) -> str:
    """Validate a session id and refuse names reserved for internal files."""
    sid = validate_session_id(untrusted_id)
    if sid.lower().startswith(_DB_NAME):
        raise InvalidSessionIdError(
            f"Session id {sid!r} is reserved for the workspace database. Choose another id."
        )
    return sid


def _session_folder(root: Path, sid: str) -> Path:
    folder = root / sid
    # validate_session_id already refuses separators and leading dots; check anyway
    # that the id can only ever name one folder directly inside the root.
    if folder.parent != root or folder.name != sid or sid in ("", ".", ".."):
        raise InvalidSessionIdError(
            f"Session id {sid!r} does not name a folder inside the storage root. Choose another id."
        )
    return folder


def _split_path(untrusted_path: object, *, what: str = "path") -> tuple[str, ...]:
    """Check a caller's workspace path and return its components.

    Accepts ``"data/out.csv"`` and ``"/app/data/out.csv"``; ``.`` and empty
    components are dropped. Raises :class:`PathOutsideWorkspaceError` for paths
    that could leave the workspace and :class:`WorkspaceError` for malformed ones.
    """
    if not isinstance(untrusted_path, str):
        raise WorkspaceError(
            f"A workspace {what} must be text, not {type(untrusted_path).__name__}. "
            "Pass it as a string, e.g. 'data/out.csv'."
        )
    shown = _clip(untrusted_path)
    if len(untrusted_path) > MAX_PATH_LENGTH:
        raise WorkspaceError(
            f"The {what} {shown} is {len(untrusted_path):,} characters long; the limit is "
            f"{MAX_PATH_LENGTH:,}. Use a shorter path."
        )
    if not untrusted_path:
        raise WorkspaceError(
            f"The {what} is empty. Give a path relative to the workspace, e.g. 'data/out.csv' "
            "or '/app/data/out.csv'."
        )
    if _CONTROL.search(untrusted_path):
        raise WorkspaceError(
            f"The {what} {shown} contains a control character (such as NUL or a newline). "
            "Remove it and try again."
        )
    if "\\" in untrusted_path:
        raise PathOutsideWorkspaceError(
            f"The {what} {shown} contains a backslash. Separate folders with '/', "
            "e.g. 'data/out.csv'."
        )
    text = untrusted_path
    if text.startswith("/"):
        if text != _GUEST_ROOT and not text.startswith(_GUEST_ROOT + "/"):
            raise PathOutsideWorkspaceError(
                f"The {what} {shown} is outside the workspace; absolute paths must start with "
                f"{_GUEST_ROOT}/. Use a path relative to the workspace or one under {_GUEST_ROOT}/."
            )
        text = text[len(_GUEST_ROOT) :]
    parts = tuple(part for part in text.split("/") if part not in ("", "."))
    if ".." in parts:
        raise PathOutsideWorkspaceError(
            f"The {what} {shown} contains '..', which could leave the workspace. "
            "Use a path without '..' components."
        )
    for part in parts:
        if _DRIVE.match(part) or (os.name == "nt" and ":" in part):
            raise PathOutsideWorkspaceError(
                f"The {what} {shown} contains a drive letter or ':'. Use a relative POSIX "
                "path, e.g. 'data/out.csv'."
            )
    if not parts:
        raise WorkspaceError(
            f"The {what} {shown} names the workspace itself, not an entry in it. "
            "Give a path below it, e.g. 'data/out.csv'."
        )
    if len(parts) > MAX_PATH_DEPTH:
        raise WorkspaceError(
            f"The {what} {shown} has {len(parts)} levels; the limit is {MAX_PATH_DEPTH}. "
            "Use fewer nested folders."
        )
    return parts


def _check_limit(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WorkspaceError(
            f"{name} must be a whole number of bytes, 0 or more; got {value!r}. "
            "Pass an int such as 1_000_000."
        )
    return value


def _link_error(parts: tuple[str, ...]) -> PathOutsideWorkspaceError:
    return PathOutsideWorkspaceError(
        f"{_show(parts)} is a symbolic link made inside the workspace (by the guest); the host "
        "never follows links, so it can't read, write, list or move anything through it. "
        "Use the real path of a file in the workspace, or delete the link with delete_file()."
    )


def _move_links_error(
    source: tuple[str, ...], target: tuple[str, ...]
) -> PathOutsideWorkspaceError:
    return PathOutsideWorkspaceError(
        f"Moving {_show(source)} to {_show(target)} would make a symbolic link in it lead "
        "out of the workspace. Move it somewhere else, or delete the link with delete_file() "
        "first."
    )


def _move_in_folder(
    folder: Path, top: _Dir, source: tuple[str, ...], target: tuple[str, ...]
) -> None:
    """Move ``source`` to ``target`` in the workspace ``folder`` (opened as ``top``).

    A move changes where the relative links inside it lead: refuse one that
    would make any link lead out (see :mod:`._links`), and remove any escaping
    link found afterwards all the same.
    """
    if not move_keeps_links_inside(folder, "/".join(source), "/".join(target)):
        raise _move_links_error(source, target)
    _fs_rename(top, source, target)
    removed = remove_escaping_links(folder)
    if removed:
        logger.warning("removed %d link(s) leading out of %s: %s", len(removed), folder, removed)


def _missing_error(parts: tuple[str, ...]) -> WorkspaceError:
    return WorkspaceError(
        f"{_show(parts)} does not exist in the workspace. Check the name with list_files()."
    )


def _not_folder_error(parts: tuple[str, ...]) -> WorkspaceError:
    return WorkspaceError(
        f"{_show(parts)} is a file, not a folder, so nothing can be inside it. "
        "Choose another path, or delete or rename that file first."
    )


def _is_folder_error(parts: tuple[str, ...]) -> WorkspaceError:
    return WorkspaceError(
        f"{_show(parts)} is a folder, not a file. Use list_files() to see what is in it, "
        "or choose another name."
    )


def _not_regular_error(parts: tuple[str, ...]) -> WorkspaceError:
    return WorkspaceError(
        f"{_show(parts)} is not a regular file (it is a pipe, socket or device). "
        "Only regular files can be read or replaced; delete it if it is in the way."
    )


def _too_big_error(parts: tuple[str, ...], size: int, limit: int) -> WorkspaceError:
    return WorkspaceError(
        f"{_show(parts)} is {size:,} bytes, over the read limit of {limit:,} bytes. "
        "Read a smaller file, or pass a larger max_bytes."
    )


def _exists_error(parts: tuple[str, ...]) -> WorkspaceError:
    return WorkspaceError(
        f"{_show(parts)} already exists. Delete it first, or choose another name."
    )


def _changed_error(parts: tuple[str, ...]) -> WorkspaceError:
    return WorkspaceError(
        f"{_show(parts)} changed while the host was working on it (code in the session is "
        "probably still running). Wait for it to finish, then try again."
    )


@contextlib.contextmanager
def _os_errors(action: str) -> Iterator[None]:
    """Turn an unexpected OSError into a two-part WorkspaceError."""
    try:
        yield
    except WorkspaceError:
        raise
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise WorkspaceError(
            f"Could not {action}: {reason}. Check free disk space and permissions, then try again."
        ) from exc


# ---- Stat helpers


def _is_link(st: os.stat_result) -> bool:
    """A symbolic link, or (on Windows) any reparse point such as a junction."""
    attributes = int(getattr(st, "st_file_attributes", 0))
    return stat.S_ISLNK(st.st_mode) or bool(attributes & stat.FILE_ATTRIBUTE_REPARSE_POINT)


def _is_real_dir(st: os.stat_result) -> bool:
    return stat.S_ISDIR(st.st_mode) and not _is_link(st)


def _kind(st: os.stat_result) -> FileKind:
    if _is_link(st):
        return "symlink"
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if stat.S_ISREG(st.st_mode):
        return "file"
    return "other"


def _file_bytes(st: os.stat_result) -> int:
    return st.st_size if stat.S_ISREG(st.st_mode) and not _is_link(st) else 0


# ---- Folder handles


class _Dir(ABC):
    """An opened folder of a workspace; names are resolved in it without following links.

    ``rel`` is the folder's path relative to the top of the walk, for messages.
    Handles are closed explicitly or with ``with``.
    """

    def __init__(self, rel: tuple[str, ...]) -> None:
        self.rel = rel

    @classmethod
    @abstractmethod
    def open_top(cls, path: Path, *, follow: bool = False) -> _Dir:
        """Open a host-owned folder as the top of a workspace.

        Only the last component is protected (``follow=False``); the rest of
        ``path`` is the host's own and may contain links (e.g. macOS ``/tmp``).
        Raises the plain ``OSError`` so callers can word the message.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the handle (idempotent)."""

    @abstractmethod
    def lstat(self, name: str) -> os.stat_result | None:
        """Stat ``name`` without following it; None if it doesn't exist."""

    @abstractmethod
    def child(self, name: str, *, create: bool = False) -> _Dir:
        """Open the real folder ``name``; refuse links and files; create it if asked."""

    @abstractmethod
    def scan(self) -> list[tuple[str, os.stat_result]]:
        """Names and link-stats of the entries (entries vanishing meanwhile are skipped)."""

    @abstractmethod
    def read(self, name: str, limit: int) -> bytes:
        """The bytes of the regular file ``name``, at most ``limit`` of them."""

    @abstractmethod
    def write(self, name: str, data: memoryview, *, durable: bool = True) -> None:
        """Replace or create the regular file ``name`` atomically."""

    @abstractmethod
    def unlink(self, name: str) -> None:
        """Remove a file, a link or a special file (never a folder)."""

    @abstractmethod
    def rmdir(self, name: str) -> None:
        """Remove the empty folder ``name``."""

    @abstractmethod
    def rename(self, name: str, target: _Dir, target_name: str) -> None:
        """Move ``name`` to ``target_name`` in the folder ``target``."""

    @abstractmethod
    def set_mtime(self, name: str, mtime_ns: int) -> None:
        """Set the access and modification time of ``name`` (not following links)."""

    def _open_failure(
        self, name: str, exc: OSError, want: Literal["folder", "file"]
    ) -> WorkspaceError:
        """Why opening ``name`` failed, worded for a person."""
        parts = (*self.rel, name)
        try:
            st = self.lstat(name)
        except OSError:
            st = None
        if st is None:
            return _missing_error(parts)
        if _is_link(st):
            return _link_error(parts)
        if want == "folder" and not stat.S_ISDIR(st.st_mode):
            return _not_folder_error(parts)
        if want == "file" and stat.S_ISDIR(st.st_mode):
            return _is_folder_error(parts)
        if want == "file" and not stat.S_ISREG(st.st_mode):
            return _not_regular_error(parts)
        reason = exc.strerror or str(exc)
        return WorkspaceError(
            f"Could not open {_show(parts)}: {reason}. Check permissions, then try again."
        )

    def _check_target(self, name: str) -> None:
        """Refuse to replace a link, a folder or a special file with a file."""
        st = self.lstat(name)
        if st is None:
            return
        parts = (*self.rel, name)
        if _is_link(st):
            raise _link_error(parts)
        if stat.S_ISDIR(st.st_mode):
            raise _is_folder_error(parts)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular_error(parts)

    def __enter__(self) -> _Dir:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _read_fd(fd: int, parts: tuple[str, ...], limit: int) -> bytes:
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        raise _is_folder_error(parts)
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular_error(parts)
    if info.st_size > limit:
        raise _too_big_error(parts, info.st_size, limit)
    chunks: list[bytes] = []
    total = 0
    # Read one byte past the limit: the guest may be growing the file right now.
    while total <= limit:
        chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > limit:
        raise _too_big_error(parts, max(total, os.fstat(fd).st_size), limit)
    return b"".join(chunks)


def _write_fd(fd: int, data: memoryview, durable: bool) -> None:
    offset = 0
    while offset < len(data):
        offset += os.write(fd, data[offset : offset + _CHUNK])
    if durable:
        os.fsync(fd)


def _tmp_name() -> str:
    return f"{_TMP_PREFIX}{secrets.token_hex(8)}.tmp"


class _FdDir(_Dir):
    """POSIX: an open folder descriptor; every call is ``*at(fd, name, NOFOLLOW)``.

    A guest that swaps a folder for a link between two operations only makes the
    next ``open(O_NOFOLLOW)`` fail: an open descriptor always stays on the real
    folder it was opened on.
    """

    _DIR_FLAGS = os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC

    def __init__(self, fd: int, rel: tuple[str, ...]) -> None:
        super().__init__(rel)
        self.fd = fd

    @classmethod
    def open_top(cls, path: Path, *, follow: bool = False) -> _FdDir:
        flags = cls._DIR_FLAGS & ~_O_NOFOLLOW if follow else cls._DIR_FLAGS
        return cls(os.open(path, flags), ())

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def lstat(self, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def child(self, name: str, *, create: bool = False) -> _FdDir:
        try:
            return _FdDir(os.open(name, self._DIR_FLAGS, dir_fd=self.fd), (*self.rel, name))
        except FileNotFoundError as exc:
            if not create:
                raise self._open_failure(name, exc, "folder") from None
        except OSError as exc:
            raise self._open_failure(name, exc, "folder") from None
        with contextlib.suppress(FileExistsError):  # made meanwhile: the open re-checks it
            os.mkdir(name, 0o777, dir_fd=self.fd)
        try:
            return _FdDir(os.open(name, self._DIR_FLAGS, dir_fd=self.fd), (*self.rel, name))
        except OSError as exc:
            raise self._open_failure(name, exc, "folder") from None

    def scan(self) -> list[tuple[str, os.stat_result]]:
        found: list[tuple[str, os.stat_result]] = []
        with os.scandir(self.fd) as entries:
            for entry in entries:
                try:
                    found.append((entry.name, entry.stat(follow_symlinks=False)))
                except OSError:
                    continue
        return found

    def read(self, name: str, limit: int) -> bytes:
        # O_NONBLOCK: opening a FIFO the guest made must not hang the host.
        flags = os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC | _O_NONBLOCK | _O_NOCTTY
        try:
            fd = os.open(name, flags, dir_fd=self.fd)
        except OSError as exc:
            raise self._open_failure(name, exc, "file") from None
        try:
            return _read_fd(fd, (*self.rel, name), limit)
        finally:
            os.close(fd)

    def write(self, name: str, data: memoryview, *, durable: bool = True) -> None:
        self._check_target(name)
        tmp = _tmp_name()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC
        fd = os.open(tmp, flags, 0o666, dir_fd=self.fd)
        try:
            try:
                _write_fd(fd, data, durable)
            finally:
                os.close(fd)
            # rename() replaces whatever is at ``name`` now (even a link the guest
            # just made) without following it.
            os.rename(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=self.fd)
            raise

    def unlink(self, name: str) -> None:
        os.unlink(name, dir_fd=self.fd)

    def rmdir(self, name: str) -> None:
        os.rmdir(name, dir_fd=self.fd)

    def rename(self, name: str, target: _Dir, target_name: str) -> None:
        assert isinstance(target, _FdDir)
        os.rename(name, target_name, src_dir_fd=self.fd, dst_dir_fd=target.fd)

    def set_mtime(self, name: str, mtime_ns: int) -> None:
        os.utime(name, ns=(mtime_ns, mtime_ns), dir_fd=self.fd, follow_symlinks=False)


class _PathDir(_Dir):
    """Fallback where ``dir_fd``/``O_NOFOLLOW`` are missing (Windows): lstat, then use.

    Every component is checked with ``os.lstat`` (links and junctions refused)
    right before it is used, and a file opened for reading is compared with what
    ``lstat`` saw. A guest that swaps a checked folder for a link in the
    microseconds between the check and the use can still win that race, so on
    these platforms don't run host file operations while guest code is running.
    """

    def __init__(self, path: Path, rel: tuple[str, ...]) -> None:
        super().__init__(rel)
        self.path = path

    @classmethod
    def open_top(cls, path: Path, *, follow: bool = False) -> _PathDir:
        st = os.stat(path) if follow else os.lstat(path)
        if _is_link(st) or not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, "not a real folder", str(path))
        return cls(Path(path), ())

    def close(self) -> None:
        pass

    def lstat(self, name: str) -> os.stat_result | None:
        try:
            return os.lstat(self.path / name)
        except FileNotFoundError:
            return None

    def child(self, name: str, *, create: bool = False) -> _PathDir:
        st = self.lstat(name)
        if st is None and create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(self.path / name)
            st = self.lstat(name)
        if st is None or not _is_real_dir(st):
            raise self._open_failure(name, FileNotFoundError(2, "missing"), "folder")
        return _PathDir(self.path / name, (*self.rel, name))

    def scan(self) -> list[tuple[str, os.stat_result]]:
        found: list[tuple[str, os.stat_result]] = []
        with os.scandir(self.path) as entries:
            for entry in entries:
                try:
                    found.append((entry.name, entry.stat(follow_symlinks=False)))
                except OSError:
                    continue
        return found

    def read(self, name: str, limit: int) -> bytes:
        parts = (*self.rel, name)
        st = self.lstat(name)
        if st is None or not stat.S_ISREG(st.st_mode) or _is_link(st):
            raise self._open_failure(name, FileNotFoundError(2, "missing"), "file")
        flags = os.O_RDONLY | _O_BINARY | _O_NOFOLLOW | _O_CLOEXEC | _O_NONBLOCK | _O_NOCTTY
        try:
            fd = os.open(self.path / name, flags)
        except OSError as exc:
            raise self._open_failure(name, exc, "file") from None
        try:
            opened = os.fstat(fd)
            if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
                raise _changed_error(parts)
            return _read_fd(fd, parts, limit)
        finally:
            os.close(fd)

    def write(self, name: str, data: memoryview, *, durable: bool = True) -> None:
        self._check_target(name)
        tmp = self.path / _tmp_name()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY | _O_NOFOLLOW | _O_CLOEXEC
        fd = os.open(tmp, flags, 0o666)
        try:
            try:
                _write_fd(fd, data, durable)
            finally:
                os.close(fd)
            os.replace(tmp, self.path / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def unlink(self, name: str) -> None:
        try:
            os.unlink(self.path / name)
        except (IsADirectoryError, PermissionError):
            st = self.lstat(name)
            if st is None or not _is_link(st):
                raise
            # A directory link or junction on Windows: rmdir removes the link only.
            os.rmdir(self.path / name)

    def rmdir(self, name: str) -> None:
        os.rmdir(self.path / name)

    def rename(self, name: str, target: _Dir, target_name: str) -> None:
        assert isinstance(target, _PathDir)
        os.rename(self.path / name, target.path / target_name)

    def set_mtime(self, name: str, mtime_ns: int) -> None:
        st = self.lstat(name)
        if st is not None and not _is_link(st):
            os.utime(self.path / name, ns=(mtime_ns, mtime_ns))


#: The handle type used on this platform.
_DIR_TYPE: type[_Dir] = _FdDir if _HAVE_DIR_FD else _PathDir


class _Opener:
    """Opens folders below a top folder by components, reusing recent handles.

    Keeps the handles of the last path's first :data:`_CACHED_DEPTH` levels open;
    deeper folders are reopened from there, so a guest's 10,000-level tree costs
    time, not file descriptors. The handle :meth:`get` returns is borrowed: it
    stays valid until the next :meth:`get` or :meth:`close`.
    """

    def __init__(self, top: _Dir) -> None:
        self._top = top
        self._chain: list[tuple[str, _Dir]] = []
        self._deep: tuple[tuple[str, ...], _Dir] | None = None

    def get(self, parts: tuple[str, ...], *, create: bool = False) -> _Dir:
        if self._deep is not None:
            if self._deep[0] == parts:
                return self._deep[1]
            self._deep[1].close()
            self._deep = None
        cached = parts[:_CACHED_DEPTH]
        common = 0
        while (
            common < len(self._chain)
            and common < len(cached)
            and self._chain[common][0] == cached[common]
        ):
            common += 1
        for _, handle in reversed(self._chain[common:]):
            handle.close()
        del self._chain[common:]
        current = self._chain[-1][1] if self._chain else self._top
        for name in cached[common:]:
            current = current.child(name, create=create)
            self._chain.append((name, current))
        if len(parts) <= _CACHED_DEPTH:
            return current
        handle = current
        try:
            for name in parts[_CACHED_DEPTH:]:
                deeper = handle.child(name, create=create)
                if handle is not current:
                    handle.close()
                handle = deeper
        except BaseException:
            if handle is not current:
                handle.close()
            raise
        self._deep = (parts, handle)
        return handle

    def close(self) -> None:
        if self._deep is not None:
            self._deep[1].close()
            self._deep = None
        for _, handle in reversed(self._chain):
            handle.close()
        self._chain.clear()


# ---- Folder operations shared by both backends


@contextlib.contextmanager
def _parent_of(top: _Dir, parts: tuple[str, ...], *, create: bool = False) -> Iterator[_Dir]:
    """The folder holding ``parts[-1]``, opened component by component from ``top``."""
    current = top
    try:
        for name in parts[:-1]:
            deeper = current.child(name, create=create)
            if current is not top:
                current.close()
            current = deeper
        yield current
    finally:
        if current is not top:
            current.close()


def _iter_tree(
    top: _Dir, start: tuple[str, ...] = (), *, max_depth: int | None = None
) -> Iterator[tuple[tuple[str, ...], os.stat_result]]:
    """Every entry below ``start`` as (components, link-stat); links are never entered.

    Folders that vanish or turn into links while walking are skipped.
    """
    opener = _Opener(top)
    try:
        pending = [start]
        while pending:
            folder = pending.pop()
            try:
                entries = opener.get(folder).scan()
            except (WorkspaceError, OSError):
                continue
            for name, st in entries:
                parts = (*folder, name)
                yield parts, st
                if _is_real_dir(st) and (max_depth is None or len(parts) - len(start) < max_depth):
                    pending.append(parts)
    finally:
        opener.close()


def _clear_tree(top: _Dir, start: tuple[str, ...] = ()) -> int:
    """Delete everything inside the folder ``start``; return the bytes of files removed.

    Links are removed, never entered. ``start`` itself stays.
    """
    freed = 0
    opener = _Opener(top)
    try:
        opener.get(start)
        stack: list[tuple[tuple[str, ...], bool]] = [(start, False)]
        while stack:
            parts, emptied = stack.pop()
            if emptied:
                if parts != start:
                    parent = opener.get(parts[:-1])
                    try:
                        parent.rmdir(parts[-1])
                    except FileNotFoundError:
                        pass
                    except OSError as exc:
                        raise _changed_error(parts) from exc
                continue
            try:
                folder = opener.get(parts)
            except WorkspaceError:
                if parts == start:
                    raise
                # It turned into a link or a file since it was listed: remove the entry.
                parent = opener.get(parts[:-1])
                st = parent.lstat(parts[-1])
                if st is not None and not _is_real_dir(st):
                    freed += _file_bytes(st)
                    parent.unlink(parts[-1])
                continue
            stack.append((parts, True))
            for name, st in folder.scan():
                if _is_real_dir(st):
                    stack.append(((*parts, name), False))
                    continue
                with contextlib.suppress(FileNotFoundError):
                    folder.unlink(name)
                    freed += _file_bytes(st)
    finally:
        opener.close()
    return freed


def _remove_folder(path: Path) -> int:
    """Delete a host-owned folder and everything in it, never following links."""
    try:
        top = _DIR_TYPE.open_top(path)
    except FileNotFoundError:
        return 0
    with top:
        freed = _clear_tree(top)
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(path)
    return freed


def remove_host_folder(path: Path) -> int:
    """Delete a folder the host owns (a scratch workspace) and return the bytes freed.

    Links inside are removed, never followed; a missing folder frees 0 bytes.
    """
    return _remove_folder(path)


#: What :func:`read_host_tree` returns: each folder (None) and regular file (its
#: bytes) below the folder read, by components, parents before their contents.
HostTree = tuple[tuple[tuple[str, ...], bytes | None], ...]


def read_host_tree(path: Path, max_bytes: int) -> HostTree | None:
    """Every folder and regular file below ``path``, without following links.

    None if anything else is there (a link, a special file), or if the files
    hold more than ``max_bytes`` together; an empty tuple if ``path`` is missing.
    """
    try:
        top = _DIR_TYPE.open_top(path)
    except FileNotFoundError:
        return ()
    entries: list[tuple[tuple[str, ...], bytes | None]] = []
    total = 0
    with top:
        for parts, st in _iter_tree(top):
            if _is_real_dir(st):
                entries.append((parts, None))
            elif stat.S_ISREG(st.st_mode) and not _is_link(st):
                total += st.st_size
                if total > max_bytes:
                    return None
                entries.append((parts, _fs_read(top, parts, max_bytes)))
            else:
                return None
    entries.sort(key=lambda entry: entry[0])
    return tuple(entries)


def write_host_tree(path: Path, tree: HostTree) -> None:
    """Create what :func:`read_host_tree` read below the folder ``path``.

    Entries already there are left alone, and nothing is written through a link
    or in place of one: a guest may have left anything in ``path`` earlier.
    """
    with _DIR_TYPE.open_top(path) as top:
        for parts, data in tree:
            try:
                with _parent_of(top, parts, create=True) as parent:
                    if parent.lstat(parts[-1]) is not None:
                        continue
                    if data is None:
                        parent.child(parts[-1], create=True).close()
                    else:
                        parent.write(parts[-1], memoryview(data), durable=False)
            except (WorkspaceError, OSError) as exc:
                logger.debug("not restoring %s: %s", _show(parts), exc)


def _tree_usage(top: _Dir, start: tuple[str, ...] = ()) -> tuple[int, int]:
    total = entries = 0
    for _, st in _iter_tree(top, start):
        entries += 1
        total += _file_bytes(st)
    return total, entries


def _fs_read(top: _Dir, parts: tuple[str, ...], limit: int) -> bytes:
    with _parent_of(top, parts) as parent:
        return parent.read(parts[-1], limit)


def _fs_write(top: _Dir, parts: tuple[str, ...], data: memoryview, *, durable: bool = True) -> None:
    # Refuse before creating anything: a link or file on the way, or a folder at the target.
    _check_writable(top, parts)
    with _parent_of(top, parts, create=True) as parent:
        parent.write(parts[-1], data, durable=durable)


def _check_writable(top: _Dir, parts: tuple[str, ...]) -> None:
    """Raise if ``parts`` can't be written, without changing anything."""
    current = top
    try:
        for index, name in enumerate(parts):
            st = current.lstat(name)
            if st is None:
                return  # everything from here on will be created
            if index == len(parts) - 1:
                current._check_target(name)
                return
            deeper = current.child(name)
            if current is not top:
                current.close()
            current = deeper
    finally:
        if current is not top:
            current.close()


def _fs_delete(top: _Dir, parts: tuple[str, ...]) -> int:
    with _parent_of(top, parts) as parent:
        name = parts[-1]
        st = parent.lstat(name)
        if st is None:
            raise _missing_error(parts)
        if not _is_real_dir(st):
            parent.unlink(name)
            return _file_bytes(st)
        try:
            freed = _clear_tree(top, parts)
        except PathOutsideWorkspaceError:
            # Swapped for a link since the lstat above: remove the link itself.
            parent.unlink(name)
            return 0
        try:
            parent.rmdir(name)
        except OSError as exc:
            raise _changed_error(parts) from exc
        return freed


def _fs_rename(top: _Dir, source: tuple[str, ...], target: tuple[str, ...]) -> None:
    if target[: len(source)] == source:
        raise WorkspaceError(
            f"Can't move {_show(source)} into itself ({_show(target)}). Choose a target outside it."
        )
    with _parent_of(top, source) as source_parent:
        st = source_parent.lstat(source[-1])
        if st is None:
            raise _missing_error(source)
        if _is_link(st):
            raise _link_error(source)
        _check_free(top, target)
        with _parent_of(top, target, create=True) as target_parent:
            if target_parent.lstat(target[-1]) is not None:
                raise _exists_error(target)
            source_parent.rename(source[-1], target_parent, target[-1])


def _check_free(top: _Dir, parts: tuple[str, ...]) -> None:
    """Raise unless ``parts`` doesn't exist and its parents are (or can become) folders."""
    current = top
    try:
        for index, name in enumerate(parts):
            st = current.lstat(name)
            if st is None:
                return
            if index == len(parts) - 1:
                raise _exists_error(parts)
            deeper = current.child(name)
            if current is not top:
                current.close()
            current = deeper
    finally:
        if current is not top:
            current.close()


def _fs_list(top: _Dir, pattern: tuple[str, ...]) -> list[FileInfo]:
    prefix = _literal_prefix(pattern)
    max_depth = None if "**" in pattern else len(pattern) - len(prefix)
    found: list[FileInfo] = []
    for parts, st in _iter_tree(top, prefix, max_depth=max_depth):
        if not _glob_match(pattern, parts):
            continue
        if len(found) >= MAX_LIST_ENTRIES:
            raise _too_many_error(pattern)
        kind = _kind(st)
        found.append(
            FileInfo(
                path="/".join(parts),
                size=st.st_size if kind == "file" else 0,
                modified=st.st_mtime,
                kind=kind,
            )
        )
    found.sort(key=lambda info: info.path)
    return found


def _too_many_error(pattern: tuple[str, ...]) -> WorkspaceError:
    return WorkspaceError(
        f"The pattern {'/'.join(pattern)!r} matches more than {MAX_LIST_ENTRIES:,} entries. "
        "Use a narrower pattern, e.g. 'data/*.csv'."
    )


# ---- Patterns


def _has_magic(part: str) -> bool:
    return any(char in part for char in "*?[")


def _literal_prefix(pattern: tuple[str, ...]) -> tuple[str, ...]:
    """Leading components without wildcards (never the last one): where a walk starts."""
    prefix: list[str] = []
    for part in pattern[:-1]:
        if _has_magic(part):
            break
        prefix.append(part)
    return tuple(prefix)


def _glob_match(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """Match components; ``*``, ``?`` and ``[...]`` stay within one name.

    ``**`` as a whole component matches any number of folders (``**/*.py`` finds
    ``a.py`` and ``src/b.py``); at the end it matches everything inside, as in
    git (``src/**`` lists what is in ``src``, not ``src`` itself).
    """
    reachable = {0}
    for index, part in enumerate(pattern):
        if part == "**":
            at_least = 1 if index == len(pattern) - 1 else 0
            reachable = set(range(min(reachable) + at_least, len(parts) + 1))
        else:
            reachable = {
                index + 1
                for index in reachable
                if index < len(parts) and fnmatch.fnmatchcase(parts[index], part)
            }
        if not reachable:
            return False
    return len(parts) in reachable


def _data_view(data: object, limit: int) -> memoryview:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise WorkspaceError(
            f"File data must be bytes, not {type(data).__name__}. "
            "Encode text first, e.g. text.encode('utf-8')."
        )
    view = memoryview(data).cast("B")
    if len(view) > limit:
        raise WorkspaceError(
            f"The data is {len(view):,} bytes, over the write limit of {limit:,} bytes. "
            "Nothing was written; write a smaller file or pass a larger max_bytes."
        )
    return view


# ---- Disk backend


class DiskStorage:
    """Workspaces as plain folders: ``root/<id>/workspace``, metadata in ``root/<id>``.

    The guest only ever sees ``workspace``; ``root/<id>`` holds the session's own
    files next to it. Stateless apart from the file system, so one instance can
    be shared by threads (operations on the same path from two threads race as
    they would on any folder).

    Usage::

        storage = DiskStorage(Path("sessions"))
        storage.create("demo")
        storage.write_file("demo", "notes/a.txt", b"hello")
        storage.checkout("demo")        # Path("sessions/demo/workspace")
    """

    name: str = "disk"
    _dir_type: ClassVar[type[_Dir]] = _DIR_TYPE

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(os.path.abspath(root))
        self.root.mkdir(parents=True, exist_ok=True)

    # ---- Sessions

    def create(self, session_id: str) -> None:
        """Create ``root/<id>/workspace``; does nothing if it exists."""
        sid = _session_id(session_id)
        with (
            _os_errors(f"create the workspace of session {sid!r}"),
            self._top() as top,
            top.child(sid, create=True) as meta,
        ):
            meta.child(_WORKSPACE, create=True).close()

    def exists(self, session_id: str) -> bool:
        """Whether ``root/<id>/workspace`` is a real folder."""
        sid = _session_id(session_id)
        try:
            st = os.lstat(_session_folder(self.root, sid) / _WORKSPACE)
        except OSError:
            return False
        return _is_real_dir(st)

    def list_sessions(self) -> list[str]:
        """Ids of every folder in ``root`` that holds a workspace, sorted."""
        found: list[str] = []
        with _os_errors("list the sessions"), os.scandir(self.root) as entries:
            for entry in entries:
                try:
                    if _session_id(entry.name) != entry.name:
                        continue
                except InvalidSessionIdError:
                    continue
                if self.exists(entry.name):
                    found.append(entry.name)
        return sorted(found)

    def delete(self, session_id: str) -> int:
        """Remove ``root/<id>`` with everything in it; never follows links."""
        sid = _session_id(session_id)
        folder = _session_folder(self.root, sid)
        with _os_errors(f"delete session {sid!r}"):
            try:
                st = os.lstat(folder)
            except FileNotFoundError:
                return 0
            if not _is_real_dir(st):
                raise WorkspaceError(
                    f"{str(folder)!r} is not a real folder, so session {sid!r} can't be "
                    "deleted safely. Remove it by hand."
                )
            return _remove_folder(folder)

    def usage(self, session_id: str) -> tuple[int, int]:
        """``(bytes of regular files, entries)`` in the workspace, links not followed."""
        sid = _session_id(session_id)
        with _os_errors(f"measure session {sid!r}"), self._workspace(sid) as top:
            return _tree_usage(top)

    def meta_dir(self, session_id: str) -> Path:
        """``root/<id>``: next to the workspace, not inside it. Created if missing."""
        sid = _session_id(session_id)
        with _os_errors(f"create the metadata folder of session {sid!r}"), self._top() as top:
            top.child(sid, create=True).close()
        return _session_folder(self.root, sid)

    def checkout(self, session_id: str) -> Path:
        """``root/<id>/workspace`` itself (always the same folder)."""
        sid = _session_id(session_id)
        with _os_errors(f"open session {sid!r}"), self._workspace(sid):
            pass
        return _session_folder(self.root, sid) / _WORKSPACE

    def checkin(self, session_id: str, *, final: bool = False) -> None:
        """Nothing to do: the guest works on the workspace folder directly."""
        _session_id(session_id)

    # ---- Files

    def read_file(self, session_id: str, path: str, *, max_bytes: int = DEFAULT_MAX_READ) -> bytes:
        """See :meth:`StorageAdapter.read_file`."""
        parts = _split_path(path)
        limit = _check_limit(max_bytes, "max_bytes")
        sid = _session_id(session_id)
        with _os_errors(f"read {_show(parts)}"), self._workspace(sid) as top:
            return _fs_read(top, parts, limit)

    def write_file(
        self, session_id: str, path: str, data: bytes, *, max_bytes: int = DEFAULT_MAX_WRITE
    ) -> None:
        """See :meth:`StorageAdapter.write_file`."""
        parts = _split_path(path)
        view = _data_view(data, _check_limit(max_bytes, "max_bytes"))
        sid = _session_id(session_id)
        with _os_errors(f"write {_show(parts)}"), self._workspace(sid) as top:
            _fs_write(top, parts, view)

    def delete_file(self, session_id: str, path: str) -> None:
        """See :meth:`StorageAdapter.delete_file`."""
        parts = _split_path(path)
        sid = _session_id(session_id)
        with _os_errors(f"delete {_show(parts)}"), self._workspace(sid) as top:
            _fs_delete(top, parts)

    def rename_file(self, session_id: str, source: str, target: str) -> None:
        """See :meth:`StorageAdapter.rename_file`."""
        source_parts = _split_path(source)
        target_parts = _split_path(target)
        sid = _session_id(session_id)
        folder = _session_folder(self.root, sid) / _WORKSPACE
        with _os_errors(f"move {_show(source_parts)}"), self._workspace(sid) as top:
            _move_in_folder(folder, top, source_parts, target_parts)

    def list_files(self, session_id: str, pattern: str = "**/*") -> list[FileInfo]:
        """See :meth:`StorageAdapter.list_files`."""
        parts = _split_path(pattern, what="pattern")
        sid = _session_id(session_id)
        with _os_errors(f"list session {sid!r}"), self._workspace(sid) as top:
            return _fs_list(top, parts)

    def reset(self, session_id: str) -> None:
        """See :meth:`StorageAdapter.reset`."""
        sid = _session_id(session_id)
        with _os_errors(f"empty session {sid!r}"), self._workspace(sid) as top:
            _clear_tree(top)

    def close(self) -> None:
        """Nothing to release; here for symmetry with :class:`SQLiteStorage`."""

    def __enter__(self) -> DiskStorage:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- Internals

    def _top(self) -> _Dir:
        return self._dir_type.open_top(self.root, follow=True)

    def _workspace(self, sid: str) -> _Dir:
        path = _session_folder(self.root, sid) / _WORKSPACE
        try:
            return self._dir_type.open_top(path)
        except FileNotFoundError:
            raise WorkspaceError(
                f"Session {sid!r} has no workspace in {str(self.root)!r}. "
                "Create it first, or check the session id."
            ) from None


# ---- SQLite backend

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    created_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    session TEXT NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('file', 'dir')),
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    data BLOB,
    PRIMARY KEY (session, path)
);
"""

_Row = tuple[str, int, int]  # kind, size, mtime_ns


def _subtree(parts: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """SQL matching ``parts`` and everything below it (all rows for the root).

    Uses a range instead of LIKE: every path below ``p`` sorts between ``p/``
    and ``p0`` (``'0'`` follows ``'/'``), and nothing needs escaping.
    """
    if not parts:
        return "", ()
    path = "/".join(parts)
    return " AND (path = ? OR (path >= ? AND path < ?))", (path, path + "/", path + "0")


def _storable(name: str) -> bool:
    """Whether a name the guest made can be stored (valid UTF-8 text)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class SQLiteStorage:
    """Every session's files in one SQLite database, ``root/workspaces.sqlite3``.

    The database holds each file's bytes, size, mtime and kind (``file`` or
    ``dir``). :meth:`checkout` materializes a session into a private temporary
    folder (mode 0700) that is reused across turns until ``checkin(final=True)``;
    :meth:`checkin` copies the guest's regular files and folders back in one
    transaction, so a crash in the middle leaves the previous state. Links the
    guest made are never stored or followed, and guest files over
    :data:`DEFAULT_MAX_WRITE` bytes are left out (with a log warning).

    While a session is checked out, file operations act on the folder (what the
    guest sees next turn) and on the database. One instance serializes its work
    with a lock and may be shared by threads; checkouts belong to the instance,
    so use one instance per root in a process. Close it (or use ``with``) to
    save and release every checked-out folder.

    Usage::

        with SQLiteStorage(Path("sessions")) as storage:
            storage.create("demo")
            folder = storage.checkout("demo")   # a private temp folder
            (folder / "x.txt").write_text("hi") # as the guest would
            storage.checkin("demo", final=True) # saved; folder removed
    """

    name: str = "sqlite"
    _dir_type: ClassVar[type[_Dir]] = _DIR_TYPE

    def __init__(
        self, root: str | os.PathLike[str], *, scratch_dir: str | os.PathLike[str] | None = None
    ) -> None:
        self.root = Path(os.path.abspath(root))
        self.root.mkdir(parents=True, exist_ok=True)
        self.database = self.root / _DB_NAME
        self._scratch = None if scratch_dir is None else Path(os.path.abspath(scratch_dir))
        self._lock = threading.RLock()
        self._checkouts: dict[str, Path] = {}
        self._closed = False
        # One connection guarded by the lock; isolation_level=None so that every
        # transaction is an explicit BEGIN IMMEDIATE ... COMMIT below.
        self._conn = sqlite3.connect(
            str(self.database), timeout=30.0, isolation_level=None, check_same_thread=False
        )
        try:
            self._conn.executescript(_SCHEMA)
        except BaseException:
            self._conn.close()
            raise

    # ---- Sessions

    def create(self, session_id: str) -> None:
        """Register the session and create its metadata folder; idempotent."""
        sid = _session_id(session_id)
        self.meta_dir(sid)
        with self._transaction(f"create session {sid!r}") as conn:
            conn.execute(
                "INSERT OR IGNORE INTO sessions (id, created_ns) VALUES (?, ?)",
                (sid, time.time_ns()),
            )

    def exists(self, session_id: str) -> bool:
        """Whether the database knows the session."""
        sid = _session_id(session_id)
        with self._lock:
            return self._known(sid)

    def list_sessions(self) -> list[str]:
        """Ids of every session in the database, sorted."""
        with self._lock:
            rows = self._db().execute("SELECT id FROM sessions").fetchall()
        return sorted(str(row[0]) for row in rows)

    def delete(self, session_id: str) -> int:
        """Remove the rows, the checked-out folder (unsaved) and the metadata folder."""
        sid = _session_id(session_id)
        with self._lock:
            folder = self._checkouts.pop(sid, None)
            freed = 0
            with self._transaction(f"delete session {sid!r}") as conn:
                if folder is None:
                    freed += self._db_usage(conn, sid)[0]
                conn.execute("DELETE FROM files WHERE session = ?", (sid,))
                conn.execute("DELETE FROM sessions WHERE id = ?", (sid,))
            with _os_errors(f"delete the files of session {sid!r}"):
                if folder is not None:
                    freed += _remove_folder(folder)
                meta = _session_folder(self.root, sid)
                with contextlib.suppress(FileNotFoundError):
                    if not _is_real_dir(os.lstat(meta)):
                        raise WorkspaceError(
                            f"{str(meta)!r} is not a real folder, so it was not deleted. "
                            "Remove it by hand."
                        )
                    freed += _remove_folder(meta)
            return freed

    def usage(self, session_id: str) -> tuple[int, int]:
        """``(bytes, entries)`` of the checked-out folder, else of the stored files."""
        sid = _session_id(session_id)
        with self._lock:
            self._require(sid)
            folder = self._checkouts.get(sid)
            if folder is not None:
                with _os_errors(f"measure session {sid!r}"), self._open(folder) as top:
                    return _tree_usage(top)
            return self._db_usage(self._db(), sid)

    def meta_dir(self, session_id: str) -> Path:
        """``root/<id>`` on disk; the guest never sees it. Created if missing."""
        sid = _session_id(session_id)
        with (
            _os_errors(f"create the metadata folder of session {sid!r}"),
            self._dir_type.open_top(self.root, follow=True) as top,
        ):
            top.child(sid, create=True).close()
        return _session_folder(self.root, sid)

    def checkout(self, session_id: str) -> Path:
        """Materialize the session into a private temp folder (reused until released)."""
        sid = _session_id(session_id)
        with self._lock:
            self._require(sid)
            folder = self._checkouts.get(sid)
            if folder is not None and os.path.isdir(folder):
                return folder
            with _os_errors(f"check out session {sid!r}"):
                folder = Path(tempfile.mkdtemp(prefix="wasm-workbench-ws-", dir=self._scratch))
                try:
                    os.chmod(folder, 0o700)
                    self._materialize(sid, folder)
                except BaseException:
                    _remove_folder(folder)
                    raise
            self._checkouts[sid] = folder
            return folder

    def checkin(self, session_id: str, *, final: bool = False) -> None:
        """Save the folder's regular files and folders in one transaction.

        Links are skipped, never followed. If saving fails, nothing in the
        database changes and the folder is kept, so checkin can be retried.
        """
        sid = _session_id(session_id)
        with self._lock:
            folder = self._checkouts.get(sid)
            if folder is None:
                return
            with self._open(folder) as top, self._transaction(f"save session {sid!r}") as conn:
                self._sync(conn, sid, top, ())
            if final:
                del self._checkouts[sid]
                with _os_errors(f"remove the checked-out folder of session {sid!r}"):
                    _remove_folder(folder)

    # ---- Files

    def read_file(self, session_id: str, path: str, *, max_bytes: int = DEFAULT_MAX_READ) -> bytes:
        """See :meth:`StorageAdapter.read_file`."""
        parts = _split_path(path)
        limit = _check_limit(max_bytes, "max_bytes")
        sid = _session_id(session_id)
        with self._lock:
            self._require(sid)
            folder = self._checkouts.get(sid)
            if folder is not None:
                with _os_errors(f"read {_show(parts)}"), self._open(folder) as top:
                    return _fs_read(top, parts, limit)
            conn = self._db()
            row = conn.execute(
                "SELECT kind, size FROM files WHERE session = ? AND path = ?",
                (sid, "/".join(parts)),
            ).fetchone()
            if row is None:
                raise _missing_error(parts)
            if row[0] != "file":
                raise _is_folder_error(parts)
            if int(row[1]) > limit:
                raise _too_big_error(parts, int(row[1]), limit)
            (data,) = conn.execute(
                "SELECT data FROM files WHERE session = ? AND path = ?", (sid, "/".join(parts))
            ).fetchone()
            return bytes(data or b"")

    def write_file(
        self, session_id: str, path: str, data: bytes, *, max_bytes: int = DEFAULT_MAX_WRITE
    ) -> None:
        """See :meth:`StorageAdapter.write_file`."""
        parts = _split_path(path)
        view = _data_view(data, _check_limit(max_bytes, "max_bytes"))
        sid = _session_id(session_id)
        with self._lock:
            self._require(sid)
            folder = self._checkouts.get(sid)
            if folder is not None:
                with _os_errors(f"write {_show(parts)}"), self._open(folder) as top:
                    _fs_write(top, parts, view)
                    with self._transaction(f"save {_show(parts)}") as conn:
                        self._sync(conn, sid, top, parts)
                return
            with self._transaction(f"write {_show(parts)}") as conn:
                self._db_make_parents(conn, sid, parts)
                kind = self._db_kind(conn, sid, parts)
                if kind == "dir":
                    raise _is_folder_error(parts)
                conn.execute(
                    "INSERT OR REPLACE INTO files (session, path, kind, size, mtime_ns, data) "
                    "VALUES (?, ?, 'file', ?, ?, ?)",
                    (sid, "/".join(parts), len(view), time.time_ns(), view),
                )

    def delete_file(self, session_id: str, path: str) -> None:
        """See :meth:`StorageAdapter.delete_file`."""
        parts = _split_path(path)
        sid = _session_id(session_id)
        with self._lock:
            self._require(sid)
            folder = self._checkouts.get(sid)
            if folder is not None:
                with _os_errors(f"delete {_show(parts)}"), self._open(folder) as top:
                    _fs_delete(top, parts)
                    with self._transaction(f"save {_show(parts)}") as conn:
                        self._sync(conn, sid, top, parts)
                return
            with self._transaction(f"delete {_show(parts)}") as conn:
                if self._db_kind(conn, sid, parts) is None:
                    raise _missing_error(parts)
                where, args = _subtree(parts)
                conn.execute(f"DELETE FROM files WHERE session = ?{where}", (sid, *args))

    def rename_file(self, session_id: str, source: str, target: str) -> None:
        """See :meth:`StorageAdapter.rename_file`."""
        source_parts = _split_path(source)
        target_parts = _split_path(target)
        sid = _session_id(session_id)
        with self._lock:
            self._require(sid)
            folder = self._checkouts.get(sid)
            if folder is not None:
                with _os_errors(f"move {_show(source_parts)}"), self._open(folder) as top:
                    _move_in_folder(folder, top, source_parts, target_parts)
                    with self._transaction(f"save {_show(target_parts)}") as conn:
                        self._sync(conn, sid, top, source_parts)
                        self._sync(conn, sid, top, target_parts)
                return
            if target_parts[: len(source_parts)] == source_parts:
                raise WorkspaceError(
                    f"Can't move {_show(source_parts)} into itself ({_show(target_parts)}). "
                    "Choose a target outside it."
                )
            with self._transaction(f"move {_show(source_parts)}") as conn:
                if self._db_kind(conn, sid, source_parts) is None:
                    raise _missing_error(source_parts)
                if self._db_kind(conn, sid, target_parts) is not None:
                    raise _exists_error(target_parts)
                self._db_make_parents(conn, sid, target_parts)
                old = "/".join(source_parts)
                new = "/".join(target_parts)
                where, args = _subtree(source_parts)
                conn.execute(
                    f"UPDATE files SET path = ? || substr(path, ?) WHERE session = ?{where}",
                    (new, len(old) + 1, sid, *args),
                )

    def list_files(self, session_id: str, pattern: str = "**/*") -> list[FileInfo]:
        """See :meth:`StorageAdapter.list_files`."""
        parts = _split_path(pattern, what="pattern")
        sid = _session_id(session_id)
        with self._lock:
            self._require(sid)
            folder = self._checkouts.get(sid)
            if folder is not None:
                with _os_errors(f"list session {sid!r}"), self._open(folder) as top:
                    return _fs_list(top, parts)
            where, args = _subtree(_literal_prefix(parts))
            rows = self._db().execute(
                f"SELECT path, kind, size, mtime_ns FROM files WHERE session = ?{where}",
                (sid, *args),
            )
            found: list[FileInfo] = []
            for path, kind, size, mtime_ns in rows:
                if not _glob_match(parts, tuple(str(path).split("/"))):
                    continue
                if len(found) >= MAX_LIST_ENTRIES:
                    raise _too_many_error(parts)
                is_file = kind == "file"
                found.append(
                    FileInfo(
                        path=str(path),
                        size=int(size) if is_file else 0,
                        modified=int(mtime_ns) / 1e9,
                        kind="file" if is_file else "dir",
                    )
                )
        found.sort(key=lambda info: info.path)
        return found

    def reset(self, session_id: str) -> None:
        """See :meth:`StorageAdapter.reset`."""
        sid = _session_id(session_id)
        with self._lock:
            self._require(sid)
            folder = self._checkouts.get(sid)
            if folder is not None:
                with _os_errors(f"empty session {sid!r}"), self._open(folder) as top:
                    _clear_tree(top)
            with self._transaction(f"empty session {sid!r}") as conn:
                conn.execute("DELETE FROM files WHERE session = ?", (sid,))

    # ---- Lifetime

    def close(self) -> None:
        """Save and release every checked-out folder, then close the database. Idempotent."""
        with self._lock:
            if self._closed:
                return
            first_error: WorkspaceError | None = None
            for sid in list(self._checkouts):
                try:
                    self.checkin(sid, final=True)
                except WorkspaceError as exc:  # keep releasing the others
                    logger.warning("Could not save session %r on close: %s", sid, exc)
                    first_error = first_error or exc
            self._closed = True
            self._conn.close()
            if first_error is not None:
                raise first_error

    def __enter__(self) -> SQLiteStorage:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- Internals

    def _db(self) -> sqlite3.Connection:
        if self._closed:
            raise WorkspaceError(
                f"The workspace database {str(self.database)!r} was closed. "
                "Create a new SQLiteStorage to use it again."
            )
        return self._conn

    @contextlib.contextmanager
    def _transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed if the block ends normally, else rolled back."""
        with self._lock:
            conn = self._db()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise WorkspaceError(
                    f"Could not {action}: the workspace database failed ({exc}). Nothing was "
                    "changed in it; check free disk space, then try again."
                ) from exc

    def _known(self, sid: str) -> bool:
        row = self._db().execute("SELECT 1 FROM sessions WHERE id = ?", (sid,)).fetchone()
        return row is not None

    def _require(self, sid: str) -> None:
        if not self._known(sid):
            raise WorkspaceError(
                f"Session {sid!r} has no workspace in {str(self.database)!r}. "
                "Create it first, or check the session id."
            )

    def _open(self, folder: Path) -> _Dir:
        try:
            return self._dir_type.open_top(folder)
        except FileNotFoundError:
            raise WorkspaceError(
                f"The checked-out folder {str(folder)!r} was removed. "
                "Check the session in (final=True) and out again."
            ) from None

    @staticmethod
    def _db_usage(conn: sqlite3.Connection, sid: str) -> tuple[int, int]:
        total, entries = conn.execute(
            "SELECT coalesce(sum(CASE WHEN kind = 'file' THEN size ELSE 0 END), 0), count(*) "
            "FROM files WHERE session = ?",
            (sid,),
        ).fetchone()
        return int(total), int(entries)

    @staticmethod
    def _db_kind(conn: sqlite3.Connection, sid: str, parts: tuple[str, ...]) -> str | None:
        row = conn.execute(
            "SELECT kind FROM files WHERE session = ? AND path = ?", (sid, "/".join(parts))
        ).fetchone()
        return None if row is None else str(row[0])

    def _db_make_parents(self, conn: sqlite3.Connection, sid: str, parts: tuple[str, ...]) -> None:
        """Add folder rows for the parents of ``parts``; refuse if one is a file."""
        now = time.time_ns()
        for index in range(1, len(parts)):
            kind = self._db_kind(conn, sid, parts[:index])
            if kind == "file":
                raise _not_folder_error(parts[:index])
            if kind is None:
                conn.execute(
                    "INSERT INTO files (session, path, kind, size, mtime_ns, data) "
                    "VALUES (?, ?, 'dir', 0, ?, NULL)",
                    (sid, "/".join(parts[:index]), now),
                )

    def _sync(self, conn: sqlite3.Connection, sid: str, top: _Dir, parts: tuple[str, ...]) -> None:
        """Make the rows at and below ``parts`` match the folder (inside a transaction).

        Regular files and folders are stored; links, special files and names
        that aren't valid UTF-8 are left out, and nothing below a link is read.
        Files whose size and mtime match their row are not read again.
        """
        started = time.time_ns()
        found: dict[tuple[str, ...], os.stat_result] = {}
        parent_exists = False
        if parts:
            try:
                with _parent_of(top, parts) as parent:
                    st = parent.lstat(parts[-1])
                parent_exists = True
            except WorkspaceError:
                st = None
            if st is not None and (_is_real_dir(st) or stat.S_ISREG(st.st_mode)):
                found[parts] = st
        if not parts or (parts in found and _is_real_dir(found[parts])):
            skipped: list[tuple[str, ...]] = []
            for entry_parts, st in _iter_tree(top, parts):
                if any(entry_parts[: len(bad)] == bad for bad in skipped):
                    continue
                if not _storable(entry_parts[-1]):
                    skipped.append(entry_parts)
                    logger.warning("Not saving %r: its name is not valid UTF-8", entry_parts[-1])
                    continue
                if _is_real_dir(st) or (stat.S_ISREG(st.st_mode) and not _is_link(st)):
                    found[entry_parts] = st
        where, args = _subtree(parts)
        existing: dict[str, _Row] = {
            str(path): (str(kind), int(size), int(mtime_ns))
            for path, kind, size, mtime_ns in conn.execute(
                f"SELECT path, kind, size, mtime_ns FROM files WHERE session = ?{where}",
                (sid, *args),
            )
        }
        keep: set[str] = set()
        opener = _Opener(top)
        try:
            for entry_parts, st in found.items():
                path = "/".join(entry_parts)
                old = existing.get(path)
                if _is_real_dir(st):
                    keep.add(path)
                    if old is None or old[0] != "dir":
                        conn.execute(
                            "INSERT OR REPLACE INTO files (session, path, kind, size, mtime_ns, "
                            "data) VALUES (?, ?, 'dir', 0, ?, NULL)",
                            (sid, path, st.st_mtime_ns),
                        )
                    continue
                racy = st.st_mtime_ns >= started - _RACY_NS
                if old == ("file", st.st_size, st.st_mtime_ns) and not racy:
                    keep.add(path)
                    continue
                try:
                    data = opener.get(entry_parts[:-1]).read(entry_parts[-1], DEFAULT_MAX_WRITE)
                except WorkspaceError as exc:
                    # Vanished, turned into a link, or too big: leave it out.
                    logger.warning("Not saving %r: %s", path, exc)
                    continue
                except OSError as exc:
                    logger.warning("Not saving %r: %s", path, exc)
                    continue
                keep.add(path)
                conn.execute(
                    "INSERT OR REPLACE INTO files (session, path, kind, size, mtime_ns, data) "
                    "VALUES (?, ?, 'file', ?, ?, ?)",
                    (sid, path, len(data), st.st_mtime_ns, data),
                )
        finally:
            opener.close()
        gone = [(sid, path) for path in existing if path not in keep]
        conn.executemany("DELETE FROM files WHERE session = ? AND path = ?", gone)
        if parent_exists:
            # The parents are real folders in the folder; make sure they are folder rows.
            now = time.time_ns()
            for index in range(1, len(parts)):
                path = "/".join(parts[:index])
                row = conn.execute(
                    "SELECT kind FROM files WHERE session = ? AND path = ?", (sid, path)
                ).fetchone()
                if row is None or row[0] != "dir":
                    conn.execute(
                        "INSERT OR REPLACE INTO files (session, path, kind, size, mtime_ns, "
                        "data) VALUES (?, ?, 'dir', 0, ?, NULL)",
                        (sid, path, now),
                    )

    def _materialize(self, sid: str, folder: Path) -> None:
        """Write every stored file and folder of ``sid`` into the empty ``folder``."""
        folders: list[tuple[tuple[str, ...], int]] = []
        with self._open(folder) as top:
            opener = _Opener(top)
            try:
                rows = self._db().execute(
                    "SELECT path, kind, mtime_ns, data FROM files WHERE session = ? ORDER BY path",
                    (sid,),
                )
                for path, kind, mtime_ns, data in rows:
                    parts = tuple(str(path).split("/"))
                    if any(part in ("", ".", "..") for part in parts):
                        logger.warning("Skipping malformed stored path %r", path)
                        continue
                    parent = opener.get(parts[:-1], create=True)
                    if kind == "dir":
                        parent.child(parts[-1], create=True).close()
                        folders.append((parts, int(mtime_ns)))
                    else:
                        parent.write(parts[-1], memoryview(data or b""), durable=False)
                        parent.set_mtime(parts[-1], int(mtime_ns))
                # Folder times last (deepest first): creating children changes them.
                for parts, mtime_ns in reversed(folders):
                    opener.get(parts[:-1]).set_mtime(parts[-1], mtime_ns)
            finally:
                opener.close()
