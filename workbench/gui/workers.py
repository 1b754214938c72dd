"""Background work for the GUI: executions and runtime preparation off the GUI thread.

The GUI thread never runs wasm and never waits for it. An :class:`ExecutionWorker`
lives in its own ``QThread`` and calls the headless core there; the core hands the
turn to the instance's own thread and reports output through a plain callback,
which this module turns into Qt signals (the qtconsole ``call_handlers`` and
dangerzone ``ConvertTask`` pattern). Signals cross threads as queued connections.

Output is batched: the guest may write thousands of small chunks, so chunks are
collected under a lock and one ``sig_output_ready`` is emitted per batch; the
receiver drains them with :meth:`ExecutionWorker.take_output`.
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from workbench.sandbox import ExecutionPolicy, Sandbox, Session

__all__ = ["ExecutionWorker", "FunctionWorker", "start_in_thread"]


class ExecutionWorker(QObject):
    """Runs one execution on a sandbox; lives in its own QThread."""

    # ---- Signals

    #: Emitted when the execution starts. Contains the execution token.
    sig_started = Signal(str)
    #: Emitted when guest output is waiting in :meth:`take_output`. Contains the token.
    sig_output_ready = Signal(str)
    #: Emitted with the token and the SandboxResult when the execution ends.
    sig_finished = Signal(str, object)
    #: Emitted with the token and the exception when the host failed.
    sig_errored = Signal(str, object)

    def __init__(
        self, sandbox: Sandbox | Session, code: str, policy: ExecutionPolicy, token: str
    ) -> None:
        super().__init__()
        self.sandbox = sandbox
        self.code = code
        self.policy = policy
        self.token = token
        self._pending: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._signalled = False
        self._decoders = {
            name: codecs.getincrementaldecoder("utf-8")("replace") for name in ("stdout", "stderr")
        }

    # ---- Public API

    def take_output(self) -> list[tuple[str, str]]:
        """Return and clear the ``(stream, text)`` chunks received so far."""
        with self._lock:
            chunks = self._pending
            self._pending = []
            self._signalled = False
        return chunks

    # ---- Slots

    @Slot()
    def run(self) -> None:
        """Execute (called in the worker thread)."""
        self.sig_started.emit(self.token)
        try:
            result = self.sandbox.execute(self.code, policy=self.policy, on_output=self._on_output)
        except Exception as exc:  # reported to the GUI, which shows it in words
            self.sig_errored.emit(self.token, exc)
            return
        self.sig_finished.emit(self.token, result)

    # ---- Internals

    def _on_output(self, stream: str, chunk: bytes) -> None:
        # Called on the instance's thread, once per guest write.
        text = self._decoders[stream].decode(chunk)
        if not text:
            return
        with self._lock:
            self._pending.append((stream, text))
            if self._signalled:
                return
            self._signalled = True
        self.sig_output_ready.emit(self.token)


class FunctionWorker(QObject):
    """Runs a plain callable in a QThread (runtime preparation, file work)."""

    # ---- Signals

    #: Emitted with the callable's return value.
    sig_finished = Signal(object)
    #: Emitted with the exception if the callable raised.
    sig_errored = Signal(object)

    def __init__(self, function: Callable[[], Any]) -> None:
        super().__init__()
        self.function = function

    @Slot()
    def run(self) -> None:
        """Call the function (in the worker thread)."""
        try:
            value = self.function()
        except Exception as exc:
            self.sig_errored.emit(exc)
            return
        self.sig_finished.emit(value)


def start_in_thread(worker: QObject, parent: QObject) -> QThread:
    """Move ``worker`` to a new QThread, start it, and clean both up when done.

    The worker must have a ``run`` slot and ``sig_finished``/``sig_errored``
    signals; either one ends the thread (superqt's ``new_worker_qthread``
    recipe). The caller keeps a reference to ``worker`` until then.
    """
    thread = QThread(parent)
    worker.moveToThread(thread)
    thread.started.connect(worker.run)  # type: ignore[attr-defined]
    worker.sig_finished.connect(thread.quit)  # type: ignore[attr-defined]
    worker.sig_errored.connect(thread.quit)  # type: ignore[attr-defined]
    thread.finished.connect(worker.deleteLater)
    thread.finished.connect(thread.deleteLater)
    thread.start()
    return thread
