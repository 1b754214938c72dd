"""The per-session audit log: written off the caller's thread, never breaking a run."""

from __future__ import annotations

import gc
import threading
import warnings
from pathlib import Path

from workbench.sandbox._events import AuditLog


def test_a_failing_audit_write_is_logged_and_does_not_hang(tmp_path: Path) -> None:
    # The log's path is a folder: every write fails. The writer thread used to
    # wait for itself in that case, and every later flush waited for it forever.
    folder = tmp_path / "audit.jsonl"
    folder.mkdir()
    audit = AuditLog(folder)
    audit.append({"event": "execution.start"})
    done = threading.Event()
    reader = threading.Thread(target=lambda: (audit.read(), done.set()), daemon=True)
    reader.start()
    assert done.wait(10), "flushing the audit log hung"
    good = AuditLog(tmp_path / "good.jsonl")
    good.append({"event": "execution.start"})
    assert good.read() == [{"event": "execution.start"}]
    good.close()


def test_a_dropped_log_closes_its_file_quietly(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    audit.append({"event": "execution.start"})
    assert audit.read() == [{"event": "execution.start"}]  # the file is open now
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        del audit
        gc.collect()
