"""Keep symbolic links in a workspace from pointing out of it.

A guest can't follow a link out of its preopened folders (wasmtime resolves every
path inside them), but the host can: a file manager, ``tar``, a backup or an editor
that later walks the workspace follows a link to ``../../../elsewhere`` without a
second thought. So no link whose target leads out of the workspace may ever exist
there. Two layers see to it:

:class:`LinkGuard`
    Used by the shadowed ``path_symlink``, ``path_link`` and ``path_rename`` (see
    :mod:`._hostcalls`). Before the call reaches wasmtime it works out what the
    workspace would look like afterwards and refuses the call (WASI ``EPERM``, a
    ``PermissionError`` in Python) if any link in it would then lead out. That
    covers a link made to escape later: renaming a link, or a folder holding
    relative links, changes where they lead; a new link can become a hop in
    another link's path.
:func:`remove_escaping_links`
    The backstop, run by the host after every run, turn, install and file
    operation: it removes any escaping link that got there some other way and
    names it in the result.

How a target is judged (:func:`resolve`): the way a host tool would follow it,
but never leaving the workspace. It starts in the link's folder and walks the
target one name at a time, ``..`` going up, following links it meets (at most
:data:`MAX_HOPS`, a loop counts as escaping), and names that don't exist yet
taken as written. It escapes if a step goes above the workspace root. Every
absolute target escapes, ``/app/data.csv`` included: the host resolves it from
its own root, where ``/app`` is not the workspace (wasmtime refuses absolute
targets from a guest anyway). On Windows drive and UNC forms count as absolute,
and a backslash separates names as the host would read it.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MAX_HOPS",
    "LinkGuard",
    "escaping_links",
    "is_absolute_target",
    "move_keeps_links_inside",
    "remove_escaping_links",
    "resolve",
]

#: Links followed while resolving one target before it counts as a loop (Linux: 40).
MAX_HOPS = 40
#: Entries walked when listing a workspace's links (as :data:`._workspace.MAX_SCAN_ENTRIES`).
MAX_WALK_ENTRIES = 50_000

Parts = tuple[str, ...]

_SEPARATORS = re.compile(r"[/\\]")
_DRIVE = re.compile(r"^[A-Za-z]:")


def is_absolute_target(target: str) -> bool:
    r"""Whether a link target is absolute on any host (``/x``, ``\\x``, ``C:x``)."""
    return target.startswith(("/", "\\")) or bool(_DRIVE.match(target))


def _split(path: str) -> list[str]:
    return [name for name in _SEPARATORS.split(path) if name not in ("", ".")]


class _View:
    """The links of a workspace as they are, or as they would be after one change."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.moved: tuple[Parts, Parts] | None = None  # (source, destination)
        self.added: tuple[Parts, str] | None = None  # (link, target)

    def real(self, parts: Parts) -> Parts | None:
        """Where ``parts`` of this view is on disk now (None: it doesn't exist there)."""
        if self.moved is not None:
            source, destination = self.moved
            if parts[: len(destination)] == destination:
                return source + parts[len(destination) :]
            if parts[: len(source)] == source:
                return None
        return parts

    def readlink(self, parts: Parts) -> str | None:
        """The target of the link at ``parts``, or None if there is no link there."""
        if self.added is not None and self.added[0] == parts:
            return self.added[1]
        real = self.real(parts)
        if real is None or not real:
            return None
        try:
            return os.readlink(self.root.joinpath(*real))
        except (OSError, ValueError):  # not a link, missing, or a name the OS refuses
            return None


def resolve(view: _View | Path, folder: Parts, target: str) -> Parts | None:
    """Where ``target``, read in the workspace folder ``folder``, leads.

    Returns the path inside the workspace (its names from the root), or None if
    it leads out (or loops). ``view`` is the workspace root on disk, or a view of
    it after a pending change.
    """
    if isinstance(view, Path):
        view = _View(view)
    if is_absolute_target(target):
        return None
    parts = list(folder)
    pending = list(reversed(_split(target)))
    hops = 0
    while pending:
        name = pending.pop()
        if name == ".":
            continue
        if name == "..":
            if not parts:
                return None
            parts.pop()
            continue
        parts.append(name)
        hop = view.readlink(tuple(parts))
        if hop is None:
            continue
        hops += 1
        if hops > MAX_HOPS or is_absolute_target(hop):
            return None
        parts.pop()
        pending.extend(reversed(_split(hop)))
    return tuple(parts)


def _links(root: Path, limit: int = MAX_WALK_ENTRIES) -> list[Parts]:
    """Every link under ``root`` (never followed), as paths from the root."""
    found: list[Parts] = []
    stack: list[tuple[Path, Parts]] = [(root, ())]
    seen = 0
    while stack:
        folder, rel = stack.pop()
        try:
            iterator = os.scandir(folder)
        except OSError:
            continue
        with iterator:
            for entry in iterator:
                seen += 1
                if seen > limit:
                    return found
                try:
                    mode = entry.stat(follow_symlinks=False).st_mode
                except OSError:
                    continue
                if stat.S_ISLNK(mode):
                    found.append((*rel, entry.name))
                elif stat.S_ISDIR(mode):
                    stack.append((Path(entry.path), (*rel, entry.name)))
    return found


def _escapes(view: _View, link: Parts, target: str) -> bool:
    return resolve(view, link[:-1], target) is None


def escaping_links(root: Path, candidates: Iterable[str] | None = None) -> list[str]:
    """The links under ``root`` that lead out of it, as sorted POSIX paths.

    ``candidates`` are the links to judge (POSIX paths from ``root``, as
    :attr:`._workspace.Snapshot.links` lists them); without it ``root`` is walked.
    """
    view = _View(root)
    found = _links(root) if candidates is None else [tuple(c.split("/")) for c in candidates]
    out = []
    for link in found:
        target = view.readlink(link)
        if target is not None and _escapes(view, link, target):
            out.append("/".join(link))
    return sorted(out)


def remove_escaping_links(root: Path, candidates: Iterable[str] | None = None) -> list[str]:
    """Remove every link under ``root`` that leads out of it; return their paths.

    The backstop behind :class:`LinkGuard`, run by the host after every run,
    turn, install and file move. Only the links go; what they point at is never
    touched. A link that can't be removed is still listed. ``candidates``: see
    :func:`escaping_links`.
    """
    removed = escaping_links(root, candidates)
    for rel in removed:
        with contextlib.suppress(OSError):
            os.unlink(root.joinpath(*rel.split("/")))
    return removed


def move_keeps_links_inside(root: Path, source: str, target: str) -> bool:
    """Whether moving ``source`` to ``target`` (paths in ``root``) leaves every link inside.

    For the host's own file operations (:mod:`._storage`), which move names
    within one workspace.
    """
    guard = LinkGuard()
    guard.add_preopen(root, writable=True)
    fd = LinkGuard.FIRST_PREOPEN_FD
    return guard.may_rename(fd, source, fd, target)


@dataclass
class _Root:
    """One preopened folder: where it is on the host, and whether the guest may write."""

    host: Path
    writable: bool


class LinkGuard:
    """Checks the guest's link-making calls against its writable preopens.

    A guest names a path as a directory fd plus a relative path. wasi-libc always
    passes a preopen's fd (it finds the preopen whose guest path is the longest
    prefix), so the guard knows the preopens by fd (wasmtime numbers them from 3
    in the order they were added) and refuses link calls on any other fd: an fd
    opened with ``path_open``, or a preopen fd the guest closed or renumbered,
    could name another folder than the guard thinks. Read-only preopens can't
    hold new links, so calls there are passed on (wasmtime refuses them).

    Examples
    --------
    >>> guard = LinkGuard()
    >>> guard.add_preopen(Path("/tmp/ws"), writable=True)  # fd 3, the guest's /app
    >>> guard.may_symlink(3, "../secret", "link")
    False
    """

    #: The first fd wasmtime gives a preopen (0-2 are stdin, stdout, stderr).
    FIRST_PREOPEN_FD = 3

    def __init__(self) -> None:
        self._roots: dict[int, _Root] = {}
        self._next_fd = self.FIRST_PREOPEN_FD
        #: The links in each writable root (None: not looked yet), kept up to date
        #: by the checks themselves so a turn walks the workspace at most once: in
        #: a turn, links appear only through the calls checked here.
        self._known: dict[int, set[Parts] | None] = {}

    # ---- Set-up (the instance's thread, before the guest starts)

    def add_preopen(self, host: Path | str, *, writable: bool) -> None:
        """Record the next preopen, in the order they are given to ``WasiConfig``."""
        fd = self._next_fd
        self._next_fd += 1
        self._roots[fd] = _Root(Path(host), writable)
        self._known[fd] = None

    @property
    def configured(self) -> bool:
        """Whether any preopen was recorded."""
        return bool(self._roots)

    def forget_links(self) -> None:
        """Forget the links known to exist; the next check walks the workspace again.

        Call it when a turn begins (the host may have changed the workspace) and
        after a checked call failed (the guard assumed it would succeed).
        """
        for fd in self._known:
            self._known[fd] = None

    # ---- The guest's fd table

    def fd_gone(self, fd: int) -> None:
        """The guest closed or renumbered ``fd``: link calls on it are refused from now."""
        self._roots.pop(fd, None)
        self._known.pop(fd, None)

    # ---- Checks (True: let wasmtime do it; False: refuse with EPERM)

    def may_symlink(self, fd: int, untrusted_target: str, untrusted_path: str) -> bool:
        """Whether a link at ``path`` (in ``fd``) to ``target`` may be made."""
        root = self._roots.get(fd)
        if root is None:
            return False
        if not root.writable:
            return True  # wasmtime refuses it
        link = self._entry(root, untrusted_path)
        if link is None:
            return False
        view = _View(root.host)
        view.added = (link, untrusted_target)
        known = self._links_in(fd, root)
        if not self._all_inside(view, [*known, link]):
            return False
        known.add(link)
        return True

    def may_link(
        self, old_fd: int, follow: bool, untrusted_old: str, new_fd: int, untrusted_new: str
    ) -> bool:
        """Whether a hard link ``new`` to ``old`` may be made (a link to a link copies it)."""
        old_root = self._roots.get(old_fd)
        new_root = self._roots.get(new_fd)
        if old_root is None or new_root is None:
            return False
        if not new_root.writable:
            return True
        source = self._entry(old_root, untrusted_old)
        if source is None:
            return False
        target = None if follow else _View(old_root.host).readlink(source)
        if target is None:
            return True  # a hard link to a file or folder: no new link to judge
        return self.may_symlink(new_fd, target, untrusted_new)

    def may_rename(self, old_fd: int, untrusted_old: str, new_fd: int, untrusted_new: str) -> bool:
        """Whether renaming ``old`` to ``new`` leaves every link leading inside."""
        old_root = self._roots.get(old_fd)
        new_root = self._roots.get(new_fd)
        if old_root is None or new_root is None:
            return False
        if not new_root.writable:
            return True
        if old_root.host != new_root.host:
            return True  # across preopens: wasmtime refuses it (EXDEV)
        source = self._entry(old_root, untrusted_old)
        destination = self._entry(new_root, untrusted_new)
        if source is None or destination is None:
            return False
        known = self._links_in(new_fd, new_root)
        if not known:
            return True  # no link to lead anywhere
        view = _View(new_root.host)
        view.moved = (source, destination)
        later = {moved for now in known if (moved := self._after_move(view, now)) is not None}
        if not self._all_inside(view, later):
            return False
        self._known[new_fd] = later
        return True

    # ---- Internals

    def _entry(self, root: _Root, untrusted_path: str) -> Parts | None:
        """The workspace path of the entry ``path`` names (its last name not followed)."""
        names = _split(untrusted_path)
        if not names or names[-1] == ".." or is_absolute_target(untrusted_path):
            return None
        folder = resolve(root.host, (), "/".join(names[:-1]))
        return None if folder is None else (*folder, names[-1])

    def _links_in(self, fd: int, root: _Root) -> set[Parts]:
        """The links in ``root`` (walked once, then kept up to date by the checks)."""
        known = self._known.get(fd)
        if known is None:
            known = self._known[fd] = set(_links(root.host))
        return known

    @staticmethod
    def _all_inside(view: _View, links: Iterable[Parts]) -> bool:
        """Whether each of ``links`` (paths in ``view``) that is a link leads inside."""
        for link in links:
            target = view.readlink(link)
            if target is not None and _escapes(view, link, target):
                return False
        return True

    @staticmethod
    def _after_move(view: _View, parts: Parts) -> Parts | None:
        """Where an entry now at ``parts`` is in ``view`` (None: replaced by the move)."""
        if view.moved is None:
            return parts
        source, destination = view.moved
        if parts[: len(source)] == source:
            return destination + parts[len(source) :]
        if parts[: len(destination)] == destination:
            return None
        return parts
