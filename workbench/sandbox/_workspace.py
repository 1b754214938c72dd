"""Host-side views of a workspace: snapshots for change lists, and disk usage.

Walks never follow symbolic links (a guest can create links that point
anywhere; the host must not look through them) and stop after
:data:`MAX_SCAN_ENTRIES` entries, so a workspace with millions of files costs a
bounded amount of time.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MAX_SCAN_ENTRIES", "Snapshot", "WorkspaceDiff", "diff", "scan"]

MAX_SCAN_ENTRIES = 50_000


@dataclass(frozen=True)
class Snapshot:
    """Files in a workspace: relative POSIX path -> (size, mtime_ns)."""

    files: dict[str, tuple[int, int]]
    entries: int
    total_bytes: int
    complete: bool


@dataclass(frozen=True)
class WorkspaceDiff:
    """What changed between two snapshots."""

    created: list[str]
    modified: list[str]
    deleted: list[str]


def scan(root: Path, limit: int = MAX_SCAN_ENTRIES) -> Snapshot:
    """Walk ``root`` without following links; count files, folders and bytes."""
    files: dict[str, tuple[int, int]] = {}
    entries = 0
    total = 0
    complete = True
    stack = [(root, "")]
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
                    stack.append((Path(entry.path), rel + "/"))
                elif stat.S_ISREG(info.st_mode):
                    files[rel] = (info.st_size, info.st_mtime_ns)
                    total += info.st_size
                else:
                    files[rel] = (0, info.st_mtime_ns)
    return Snapshot(files=files, entries=entries, total_bytes=total, complete=complete)


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
