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

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=True, default=str) + "\n"
        with _write_lock:
            try:
                if self._file is None:
                    self._file = self.path.open("a", encoding="utf-8")
                if self._file.tell() > MAX_AUDIT_BYTES:
                    self._file.close()
                    self.path.replace(self.path.with_suffix(".jsonl.1"))
                    self._file = self.path.open("a", encoding="utf-8")
                self._file.write(line)
                self._file.flush()
            except (OSError, ValueError) as exc:  # auditing must never break an execution
                log.warning("could not write the audit log %s: %s", self.path, exc)
                self.close()

    def close(self) -> None:
        """Close the file (reopened on the next event)."""
        with _write_lock:
            if self._file is not None:
                try:
                    self._file.close()
                finally:
                    self._file = None

    def read(self) -> list[dict[str, Any]]:
        """Every event in the current file (skips lines a crash cut short)."""
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
