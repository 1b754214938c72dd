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

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

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
        self,
        sandbox: Sandbox | Session,
        code: str,
        policy: ExecutionPolicy,
        token: str,
        *,
        profile: bool = False,
        figure_svg: bool = False,
    ) -> None:
        super().__init__()
        self.sandbox = sandbox
        self.code = code
        self.policy = policy
        self.token = token
        #: Record a fuel profile: the result's ``profile`` then says where the fuel went.
        self.profile = profile
        #: Have the guest render figures as SVG too (the Plots dock saves them).
        self.figure_svg = figure_svg
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
            result = self.sandbox.execute(
                self.code,
                policy=self.policy,
                on_output=self._on_output,
                profile=self.profile,
                figure_svg=self.figure_svg,
            )
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


class _WorkerThread(QThread):
    """A QThread that owns its worker and frees it on the GUI thread once it has ended.

    Why: a worker created in Python is owned by Python, so it is deleted (the C++
    object too) wherever its last Python reference goes. The callers drop theirs
    in the slot that receives the result, on the GUI thread, while the worker's
    own thread may still be returning from ``run`` or emitting; a reference held
    by a frame or a callback can also end on the worker's thread or any other.
    Deleting a QObject while another thread uses it is a use-after-free: it showed
    up as SIGSEGV/SIGBUS/"malloc(): unaligned tcache chunk" aborts in
    ``QObject::~QObject`` at random points of the GUI tests. The Qt recipe of
    ``finished -> worker.deleteLater`` made it worse: it gave the worker a second,
    C++ owner that deleted it on its thread while Python could still delete it on
    another. So there is one owner: this thread object holds the worker and lets
    go of it only after the thread has ended, on the GUI thread.
    """

    def __init__(self, worker: QObject) -> None:
        # A child of the application, not of the widget that asked: a widget may be
        # deleted (a window closed) while the thread runs, and deleting a running
        # QThread aborts the process.
        app = QCoreApplication.instance()
        if app is None:
            raise RuntimeError("Create the QApplication before starting worker threads.")
        super().__init__(app)
        self._worker: QObject | None = worker
        # Emitted on the worker's thread; this object lives on the GUI thread, so
        # the slot is queued to the GUI thread.
        self.finished.connect(self._release)

    @Slot()
    def _release(self) -> None:
        self.wait()  # `finished` comes just before the thread's last clean-up
        worker, self._worker = self._worker, None
        if worker is not None and shiboken6.isValid(worker):
            # Delete the C++ object here and now, not wherever the last Python
            # reference happens to go (a caller, a frame, the garbage collector on
            # any thread): what is left is a Python shell anyone may drop later.
            shiboken6.delete(worker)
        self.deleteLater()


def start_in_thread(worker: QObject) -> QThread:
    """Move ``worker`` to a new QThread, start it, and clean both up when done.

    The worker must have a ``run`` slot and ``sig_finished``/``sig_errored``
    signals; either one ends the thread (superqt's ``new_worker_qthread``
    recipe). The thread keeps the worker alive until it has ended and then
    frees it on the GUI thread, so callers may drop their references whenever
    they like, and the widget that started it may go first (see
    :class:`_WorkerThread`). Call it on the GUI thread.
    """
    thread = _WorkerThread(worker)
    worker.moveToThread(thread)
    thread.started.connect(worker.run)  # type: ignore[attr-defined]
    worker.sig_finished.connect(thread.quit)  # type: ignore[attr-defined]
    worker.sig_errored.connect(thread.quit)  # type: ignore[attr-defined]
    thread.start()
    return thread
