"""Structured events: to the ``logging`` system and to a JSON-lines audit log.

Every event is one JSON object with ``time``, ``event`` and ``session_id``.
Events never carry guest output beyond :data:`EXCERPT_CHARS` characters, and
code only as its SHA-256, so an audit log can't be used to smuggle data out or
grow without bound because of what a guest printed.

Events emitted (``event`` field):

``session.created`` / ``session.reopened`` / ``session.restarted`` /
``session.reset`` / ``session.destroyed`` / ``session.pruned``
    Session life cycle; ``restarted`` says why (trap, policy change, reset).
``execution.start``
    ``code_sha256``, ``code_bytes``, ``runtime``, ``fuel_budget``.
``execution.complete``
    ``success``, ``trap_kind``, ``exit_code``, ``fuel_consumed``, ``duration_ms``,
    ``limits_hit`` (list), ``stderr_excerpt`` (bounded).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import threading
import time
from pathlib import Path
from typing import IO, Any

__all__ = ["EXCERPT_CHARS", "AuditLog", "code_digest", "emit", "excerpt"]

log = logging.getLogger("workbench.sandbox.events")

#: Longest piece of guest output an event may carry.
EXCERPT_CHARS = 200
#: An audit log is rotated (renamed to .1) past this size.
MAX_AUDIT_BYTES = 8 * 1024 * 1024

_write_lock = threading.Lock()


class _AuditWriter:
    """Appends audit lines on a background thread, off the execution's path.

    Opening, writing and flushing a log file per event cost more than a small
    live turn. Lines are queued in order and written within :attr:`delay`
    seconds; :meth:`flush` waits for everything queued (logs flush before they
    are read or closed, and at interpreter exit). A killed process loses at most
    the last fraction of a second of events, never a line's integrity.
    """

    delay = 0.05

    def __init__(self) -> None:
        self._queue: list[tuple[AuditLog, dict[str, Any]]] = []
        self._cond = threading.Condition()
        self._writing = False
        self._thread: threading.Thread | None = None

    def put(self, audit: AuditLog, record: dict[str, Any]) -> None:
        # The record is serialized by the writer thread; callers hand over a
        # fresh dict and never touch it again.
        with self._cond:
            self._queue.append((audit, record))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="wasm-workbench-audit", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def flush(self) -> None:
        """Write everything queued now; return when it is written."""
        with self._cond:
            batch, self._queue = self._queue, []
            while self._writing:
                self._cond.wait()
            self._writing = True
        try:
            _write_batch(batch)
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
            time.sleep(self.delay)  # let a turn's events arrive and go in one batch
            self.flush()


def _write_batch(batch: list[tuple[AuditLog, dict[str, Any]]]) -> None:
    by_log: dict[int, tuple[AuditLog, list[str]]] = {}
    for audit, record in batch:
        line = json.dumps(record, ensure_ascii=True, default=str) + "\n"
        by_log.setdefault(id(audit), (audit, []))[1].append(line)
    for audit, lines in by_log.values():
        audit.write_lines(lines)


_writer = _AuditWriter()
atexit.register(_writer.flush)


def code_digest(code: str) -> str:
    """SHA-256 of the code as UTF-8 (surrogates escaped)."""
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


def excerpt(untrusted_text: str, limit: int = EXCERPT_CHARS) -> str:
    """At most ``limit`` characters of guest text, control characters replaced."""
    text = untrusted_text[-limit:] if len(untrusted_text) > limit else untrusted_text
    return "".join(ch if ch.isprintable() or ch in "\n\t" else "\ufffd" for ch in text)


class AuditLog:
    """A JSON-lines file of one session's events (append-only, size-bounded).

    The file stays open between events (one open per event would cost more than
    a live turn); :meth:`close` releases it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._discarded = False

    def append(self, record: dict[str, Any]) -> None:
        """Queue one event; it reaches the file within a fraction of a second."""
        _writer.put(self, record)

    def write_lines(self, lines: list[str]) -> None:
        """Append ``lines`` now (the background writer calls this)."""
        with _write_lock:
            if self._discarded:
                return
            try:
                if self._file is None:
                    self._file = self.path.open("a", encoding="utf-8")
                if self._file.tell() > MAX_AUDIT_BYTES:
                    self._file.close()
                    self.path.replace(self.path.with_suffix(".jsonl.1"))
                    self._file = self.path.open("a", encoding="utf-8")
                self._file.write("".join(lines))
                self._file.flush()
            except (OSError, ValueError) as exc:  # auditing must never break an execution
                log.warning("could not write the audit log %s: %s", self.path, exc)
                self._drop_file()  # not close(): it waits for the writer, maybe this thread

    def close(self) -> None:
        """Write what is queued, then close the file (reopened on the next event)."""
        _writer.flush()
        with _write_lock:
            if self._file is not None:
                try:
                    self._file.close()
                finally:
                    self._file = None

    def discard(self) -> None:
        """Drop queued and later events: the file's folder is being deleted.

        Waits for nothing, so it is safe in a finalizer on any thread.
        """
        self._discarded = True
        self._drop_file()

    def __del__(self) -> None:
        # Nothing can write any more (queued events hold a reference): close the
        # file of a log whose owner was dropped without close().
        self._drop_file()

    def _drop_file(self) -> None:
        """Close the file without flushing or locking; errors are ignored."""
        file, self._file = self._file, None
        if file is not None:
            try:  # noqa: SIM105 - contextlib may be gone when __del__ runs at exit
                file.close()
            except (OSError, ValueError):
                pass

    def read(self) -> list[dict[str, Any]]:
        """Every event in the current file (skips lines a crash cut short)."""
        _writer.flush()
        events = []
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        for line in lines:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events


def emit(event: str, session_id: str | None, audit: AuditLog | None = None, **fields: Any) -> None:
    """Record one event in the log (INFO) and, if given, the session's audit log."""
    record = {"time": time.time(), "event": event, "session_id": session_id, **fields}
    if log.isEnabledFor(logging.INFO):  # don't serialize for a disabled logger
        log.info("%s", json.dumps(record, ensure_ascii=True, default=str))
    if audit is not None:
        audit.append(record)
