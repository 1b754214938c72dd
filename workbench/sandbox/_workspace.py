"""Host-side views of a workspace: snapshots for change lists, and disk usage.

Walks never follow symbolic links (a guest can create links that point
anywhere; the host must not look through them) and stop after
:data:`MAX_SCAN_ENTRIES` entries, so a workspace with millions of files costs a
bounded amount of time.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ._links import remove_escaping_links

log = logging.getLogger("workbench.sandbox.workspace")

__all__ = ["MAX_SCAN_ENTRIES", "Snapshot", "WorkspaceDiff", "diff", "scan", "scan_after_run"]

MAX_SCAN_ENTRIES = 50_000


@dataclass(frozen=True)
class Snapshot:
    """Files in a workspace: relative POSIX path -> (size, mtime_ns)."""

    files: dict[str, tuple[int, int]]
    entries: int
    total_bytes: int
    complete: bool
    #: The symbolic links among ``files`` (the guest's own; never followed).
    links: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorkspaceDiff:
    """What changed between two snapshots."""

    created: list[str]
    modified: list[str]
    deleted: list[str]


def scan(root: Path, limit: int = MAX_SCAN_ENTRIES) -> Snapshot:
    """Walk ``root`` without following links; count files, folders and bytes."""
    files: dict[str, tuple[int, int]] = {}
    links: list[str] = []
    entries = 0
    total = 0
    complete = True
    # Plain strings, not Paths: this runs twice per turn, and building a Path per
    # folder was a third of a session turn's scan.
    stack: list[tuple[str, str]] = [(os.fspath(root), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            iterator = os.scandir(folder)
        except OSError:
            continue
        with iterator:
            for entry in iterator:
                entries += 1
                if entries > limit:
                    complete = False
                    stack.clear()
                    break
                rel = f"{prefix}{entry.name}"
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(info.st_mode):
                    stack.append((entry.path, rel + "/"))
                elif stat.S_ISREG(info.st_mode):
                    files[rel] = (info.st_size, info.st_mtime_ns)
                    total += info.st_size
                else:
                    files[rel] = (0, info.st_mtime_ns)
                    if stat.S_ISLNK(info.st_mode):
                        links.append(rel)
    return Snapshot(
        files=files, entries=entries, total_bytes=total, complete=complete, links=tuple(links)
    )


def scan_after_run(root: Path) -> tuple[Snapshot, list[str]]:
    """Scan ``root`` after the guest ran, removing links that lead out of it first.

    The backstop of :mod:`._links`: returns the snapshot (without the removed
    links) and the removed links' paths, for the result.
    """
    snap = scan(root)
    if not snap.links:
        return snap, []
    removed = remove_escaping_links(root, snap.links)
    if not removed:
        return snap, []
    log.warning("removed %d link(s) leading out of %s: %s", len(removed), root, removed[:10])
    return scan(root), removed


def diff(before: Snapshot, after: Snapshot) -> WorkspaceDiff:
    """Files created, modified (size or mtime changed) and deleted, sorted."""
    created = sorted(set(after.files) - set(before.files))
    deleted = sorted(set(before.files) - set(after.files))
    modified = sorted(
        name
        for name in set(before.files) & set(after.files)
        if before.files[name] != after.files[name]
    )
    return WorkspaceDiff(created=created, modified=modified, deleted=deleted)
