"""Atomic file replacement for the host's own files (metadata, caches, policies)."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

__all__ = ["atomic_write"]


def atomic_write(path: Path, data: bytes | bytearray) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new file.

    The bytes go to a uniquely named temporary file in the same folder, are
    flushed to disk, then renamed over ``path``. Concurrent writers can't mix
    their bytes, and a reader never sees a partial file under the real name.
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
