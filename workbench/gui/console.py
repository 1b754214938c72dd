"""The Console dock: qtconsole's RichJupyterWidget on the workbench's live session.

The console and the editor share ONE interpreter and ONE workspace: the dock runs
the same wrapper kernel as the standalone Jupyter kernels
(:class:`workbench.kernel._kernel.WasmKernel`), in-process, bound to the
:class:`~workbench.sandbox.Session` selected in the Sessions dock. Run a file
from the editor and inspect its variables here, or define something here and
use it from the editor.

Threads: qtconsole's in-process client would call the kernel on the GUI thread
and wait for each reply. Here every shell request is handed to one kernel
thread instead (requests stay in order, as on a real kernel's shell channel);
the kernel runs the turn through the core, whose instance thread runs the wasm.
Replies and IOPub messages come back to the widget as queued Qt signals, so the
GUI thread never runs wasm and never waits for it. Interrupt (Ctrl+C in the
console, or Stop in the workbench) cancels the session's running turn from any
thread; Restart gives the session a fresh interpreter in the same workspace.
Switching sessions rebinds the kernel; the console's input history stays.

Input is never swallowed: with no session selected (the default, Fresh runs),
the first cell starts a live session of the toolbar's runtime and says so in
one line. Input that is a pasted LLM answer (prose around Markdown fences)
runs the way Run in the editor does: only its code (see
:func:`~workbench.sandbox.choose_code`), with a one-line note, or nothing
and a sentence saying why.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from collections.abc import Callable
from typing import Any, ClassVar

os.environ.setdefault("QT_API", "pyside6")  # qtconsole goes through qtpy

from ipykernel.inprocess.constants import INPROCESS_KEY
from ipykernel.inprocess.socket import DummySocket
from ipykernel.iostream import BackgroundSocket, IOPubThread
from jupyter_client.session import Session as JupyterSession
from jupyter_core.utils import run_sync
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QWidget
from qtconsole.inprocess import (
    QtInProcessKernelClient,
    QtInProcessKernelManager,
)
from qtconsole.rich_jupyter_widget import RichJupyterWidget
from traitlets import Any as AnyTrait
from traitlets import Instance, List, default

from workbench.kernel._kernel import WasmKernel
from workbench.sandbox import (
    RuntimeType,
    SandboxResult,
    Session,
    auto_runtime,
    choose_code,
    detect_language,
)

__all__ = ["ConsoleDock", "ConsoleKernel", "install_console"]

_STOP = object()

# A Markdown fence line (``` or ~~~, indented at most three spaces).
_FENCE = re.compile(r"^ {0,3}(?:`{3,}|~{3,})", re.MULTILINE)

#: What to do when a pasted answer can't run in the console (see choose_code).
_ANSWER_HINTS = {
    "no_code": "Nothing was run: paste Python or JavaScript code.",
    "mixed": "Nothing was run: paste the blocks of one language.",
    "wrong_language": "Nothing was run: select a session of the answer's language "
    "in the Sessions dock.",
    "empty": "",
}


class _IOPubThread(IOPubThread):
    """ipykernel's IOPub thread, stopped without leaving its gc task pending.

    ``IOPubThread.stop`` stops the loop and then cancels the event-pipe gc task
    without letting it run again, so the task is destroyed while still pending and
    asyncio prints "Task was destroyed but it is pending!" at exit, once per console.
    Here the task is cancelled on the IOPub thread and finishes first.
    """

    def stop(self) -> None:
        task = getattr(self, "_event_pipe_gc_task", None)
        if task is not None and self.thread.is_alive():
            finished = threading.Event()

            def cancel() -> None:
                task.add_done_callback(lambda _task: finished.set())
                task.cancel()

            self.io_loop.add_callback(cancel)
            finished.wait(5)
        super().stop()


class ConsoleKernel(WasmKernel):
    """The wrapper kernel with in-process sockets (ipykernel.inprocess's recipe)."""

    frontends: List[Any] = List()
    shell_stream = Instance(DummySocket, ())  # type: ignore[assignment]
    stdin_socket = Instance(DummySocket, ())
    _underlying_iopub_socket = Instance(DummySocket, ())
    iopub_thread = Instance(IOPubThread)
    iopub_socket = Instance(BackgroundSocket)
    log = AnyTrait()

    @default("iopub_thread")
    def _default_iopub_thread(self) -> IOPubThread:
        thread = _IOPubThread(self._underlying_iopub_socket, session=self.session)
        thread.start()
        return thread

    @default("iopub_socket")
    def _default_iopub_socket(self) -> BackgroundSocket:
        return self.iopub_thread.background_socket  # type: ignore[no-any-return]

    @default("session")
    def _default_session(self) -> JupyterSession:
        return JupyterSession(parent=self, key=INPROCESS_KEY)

    @default("log")
    def _default_log(self) -> Any:
        import logging

        return logging.getLogger("workbench.gui.console")

    #: Cells' figures come with SVG for the Plots dock's *Save as SVG*; the
    #: console itself shows the PNG (no guest SVG is rendered on the GUI thread).
    display_svg: ClassVar[bool] = False

    def __init__(self, **traits: Any) -> None:
        super().__init__(**traits)
        self.figure_svg = True
        self._underlying_iopub_socket.observe(self._io_dispatch, names=["message_sent"])
        # Create the IOPub thread now, on the constructing thread: a traitlets default
        # is not thread-safe, and the kernel thread and the GUI thread both reach for it
        # first (a race that started a second, never-stopped IOPub thread).
        self.iopub_socket  # noqa: B018

    def start(self) -> None:
        """Nothing to start: requests arrive through :class:`ConsoleKernelClient`."""

    @property
    def banner(self) -> str:  # type: ignore[override]
        """The kernel's banner; with no session, what the first input will do."""
        text: str = super().banner
        if self.sandbox_session is None:
            text += (
                "\nNo session bound yet: type code to start a live session of the toolbar's "
                "runtime, or select one in the Sessions dock."
            )
        return text

    async def do_execute(
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict[str, Any] | None = None,
        allow_stdin: bool = False,
        *,
        cell_meta: Any = None,
        cell_id: Any = None,
    ) -> dict[str, Any]:
        """Run a cell; a pasted LLM answer runs its code only, with a note saying so."""
        session = self.sandbox_session
        choice = choose_code(code, runtime=session.runtime if session is not None else None)
        if choice.answer and choice.problem:
            hint = _ANSWER_HINTS.get(choice.problem_kind, "")
            message = f"{choice.problem} {hint}".strip()
            return self._error_reply("NothingRun", message, [message], silent)
        if choice.answer and session is not None:
            if not silent:
                note = f"[Ran {choice.blocks_words} of the pasted answer.]\n"
                self._send_streams([("stdout", note)], self.get_parent("shell"))
            code = choice.code
        return await super().do_execute(
            code,
            silent,
            store_history,
            user_expressions,
            allow_stdin,
            cell_meta=cell_meta,
            cell_id=cell_id,
        )

    async def do_is_complete(self, code: str) -> dict[str, str]:
        """A pasted answer is complete once its fences are closed (prose never parses)."""
        fences = len(_FENCE.findall(code))
        if fences and choose_code(code).answer:
            return {"status": "incomplete" if fences % 2 else "complete", "indent": ""}
        return await super().do_is_complete(code)

    def _abort_queues(self, subshell_id: str | None = None) -> None:
        """Requests are not queued in a socket, so there is nothing to abort."""

    def pre_handler_hook(self) -> None:
        """No SIGINT handling: this kernel never runs on the main thread."""

    def post_handler_hook(self) -> None:
        """See :meth:`pre_handler_hook`."""

    def _io_dispatch(self, change: Any) -> None:
        # On the IOPub thread: hand each message to the frontends (queued signals).
        session = self.session
        assert session is not None
        _ident, msg = session.recv(self.iopub_socket.io_thread.socket, copy=False)
        for frontend in self.frontends:
            frontend.iopub_channel.call_handlers(msg)


class KernelThread:
    """One thread that runs the console's shell requests, in order."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="wasm-console-kernel", daemon=True)
        self._thread.start()

    def submit(self, job: Any) -> None:
        self._jobs.put(job)

    def stop(self, timeout: float = 5.0) -> None:
        self._jobs.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            try:
                job()
            except Exception:  # reported, never kills the thread
                import logging

                logging.getLogger("workbench.gui.console").exception("console request failed")


class ConsoleKernelClient(QtInProcessKernelClient):
    """Sends requests to the kernel thread instead of running them on the caller's."""

    kernel = Instance("workbench.gui.console.ConsoleKernel", allow_none=True)
    kernel_thread: KernelThread | None = None

    def _dispatch_to_kernel(self, msg: dict[str, Any]) -> None:
        kernel = self.kernel
        worker = self.kernel_thread
        if kernel is None or worker is None:
            raise RuntimeError("The console has no kernel.")

        def job() -> None:
            stream = kernel.shell_stream
            self.session.send(stream, msg)
            parts = stream.recv_multipart()
            run_sync(kernel.dispatch_shell)(parts)
            _idents, reply = self.session.recv(stream, copy=False)
            # Emitted on the kernel thread; the widget receives it queued.
            self.shell_channel.call_handlers(reply)

        worker.submit(job)


class ConsoleKernelManager(QtInProcessKernelManager):
    """Starts a :class:`ConsoleKernel`."""

    kernel = Instance("workbench.gui.console.ConsoleKernel", allow_none=True)
    client_class = "workbench.gui.console.ConsoleKernelClient"

    def start_kernel(self, **kwargs: Any) -> None:
        self.kernel = ConsoleKernel(parent=self, session=self.session)


class ConsoleDock(QDockWidget):
    """A dock with a Jupyter console bound to the current live session."""

    # ---- Signals

    #: Emitted with True when a console cell starts running, False when it ends.
    sig_busy = Signal(bool)
    #: Emitted with the SandboxResult of every console cell (on the GUI thread).
    sig_result = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Console", parent)
        self.setObjectName("console-dock")
        self.kernel_thread = KernelThread()
        self.manager = ConsoleKernelManager()
        self.manager.start_kernel()
        self.kernel: ConsoleKernel = self.manager.kernel  # type: ignore[assignment]
        self.client: ConsoleKernelClient = self.manager.client()
        self.client.kernel_thread = self.kernel_thread
        self.session: Session | None = None
        #: Starts a live session for input typed with none selected: called on the GUI
        #: thread with the runtime, returns the session (None: it could not start one).
        #: Set by :func:`install_console`; without it such input gets an error saying so.
        self.session_starter: Callable[[RuntimeType], Session | None] | None = None
        #: The runtime the toolbar names (None: Auto, the input decides).
        self.toolbar_runtime: Callable[[], RuntimeType | None] = lambda: None
        self._bound = False
        self._starting = False
        self.console = _ConsoleWidget(self)
        self.console.before_execute = self._before_execute
        self.console.setAccessibleName("Console")
        self.console.kernel_manager = self.manager
        self.console.kernel_client = self.client
        self.console.custom_interrupt = True
        self.console.custom_restart = True
        self.console.custom_interrupt_requested.connect(self.interrupt)
        self.console.custom_restart_requested.connect(self.restart)
        self.console.executing.connect(lambda _msg: self.sig_busy.emit(True))
        self.console.executed.connect(lambda _msg: self.sig_busy.emit(False))
        self._relay = _ResultRelay()
        self._relay.sig_result.connect(self.sig_result)
        self.kernel.add_result_listener(self._relay.sig_result.emit)
        self.client.start_channels()
        self.setWidget(self.console)
        self._closed = False

    # ---- Public API

    def bind(self, session: Session | None) -> None:
        """Run the console's cells in ``session`` (the editor's); None unbinds."""
        if self._bound and session is self.session:
            return
        self._bound = True
        self.session = session
        self.kernel_thread.submit(lambda: self.kernel.bind(session))
        if session is not None and self._starting:
            note = (
                f"No session was selected: started a live {session.runtime.value} session "
                f"{session.session_id[:8]} for this input; the editor's runs use it too."
            )
        elif session is None:
            note = (
                "Console: no live session yet. Type code to start one of the toolbar's "
                "runtime, or select one in the Sessions dock."
            )
        else:
            note = (
                f"Console bound to {session.runtime.value} session {session.session_id[:8]}: "
                "the same interpreter and workspace as the editor's runs."
            )
        # On a line of its own: the kernel's banner doesn't end with a newline.
        self.console._append_plain_text("\n" + note + "\n", before_prompt=True)
        # kernel_info updates the language and highlighting for the new session.
        self.client.kernel_info()

    def execute(self, code: str) -> None:
        """Run ``code`` as if typed in the console."""
        self.console.execute(code)

    def _before_execute(self, source: str) -> None:
        """With no session selected, start one for this input (on the GUI thread).

        Its runtime is the toolbar's; under Auto, the input's language (a pasted
        answer's fences first), as Run picks it, and python-sci for Python that
        imports the scientific stack. An answer that can't run starts nothing:
        the kernel says why.
        """
        if self.session is not None or self.session_starter is None or not source.strip():
            return
        chosen = self.toolbar_runtime()
        choice = choose_code(source, runtime=chosen)
        if choice.problem:
            return
        runtime = choice.runtime or detect_language(source) or RuntimeType.PYTHON
        if chosen is None:  # Auto: data code goes to the runtime that has numpy, pandas ...
            runtime = auto_runtime(runtime, choice.code) or runtime
        self._starting = True
        try:
            session = self.session_starter(runtime)  # binds through sig_session_changed
        finally:
            self._starting = False
        if session is not None and self.session is not session:
            self._starting = True
            try:
                self.bind(session)
            finally:
                self._starting = False

    @Slot()
    def interrupt(self) -> None:
        """Stop the running console cell (the session's running turn), even if queued."""
        self.kernel.interrupt(pending=bool(self.console._executing))

    @Slot()
    def restart(self) -> None:
        """Give the session a fresh interpreter; the workspace stays."""
        session = self.session
        if session is None:
            return
        self.kernel.interrupt()
        self.kernel_thread.submit(session.reset)
        self.console._append_plain_text(
            "Restarted: a fresh interpreter, the same workspace.\n", before_prompt=True
        )

    def shutdown(self) -> None:
        """Stop the kernel thread and the IOPub thread (at window close). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.kernel.interrupt()
        self.client.stop_channels()
        self.kernel_thread.stop()
        self.kernel.iopub_thread.stop()


class _ConsoleWidget(RichJupyterWidget):
    """qtconsole's widget, keeping the cells typed before its history arrives."""

    #: Called with each cell's source just before it is sent to the kernel.
    before_execute: Callable[[str], None] | None = None

    def _execute(self, source: str, hidden: bool) -> None:
        if not hidden and self.before_execute is not None:
            self.before_execute(source)
        super()._execute(source, hidden)

    def _set_history(self, history: list[str]) -> None:
        # qtconsole asks the kernel for its history when the channels start and
        # replaces its own list with the reply. A cell run before that reply is
        # handled is in the widget's list and would be lost: keep it.
        items = list(history)
        items += [cell for cell in self._history if cell not in items]
        super()._set_history(items)


class _ResultRelay(QObject):
    """Carries results from the kernel thread to the GUI thread (a queued signal)."""

    sig_result = Signal(object)


def install_console(window: QMainWindow) -> ConsoleDock:
    """Add the Console dock to the main window and wire it (the window's only hook).

    The window must have ``sessions_panel`` (its ``sig_session_changed``,
    ``session`` and ``new_session``), ``output_dock``, ``stop_action``,
    ``running`` and ``chosen_runtime()``.
    """
    dock = ConsoleDock(window)
    panel = window.sessions_panel  # type: ignore[attr-defined]

    dock.session_starter = panel.new_session
    dock.toolbar_runtime = window.chosen_runtime  # type: ignore[attr-defined]
    window.addDockWidget(window.dockWidgetArea(window.output_dock), dock)  # type: ignore[attr-defined]
    window.tabifyDockWidget(window.output_dock, dock)  # type: ignore[attr-defined]
    panel.sig_session_changed.connect(dock.bind)
    dock.bind(panel.session)
    stop = window.stop_action  # type: ignore[attr-defined]
    # Stop (which cancels the session's turn) also stops a console cell.
    dock.sig_busy.connect(lambda busy: stop.setEnabled(busy or window.running))  # type: ignore[attr-defined]
    stop.triggered.connect(dock.interrupt)
    dock.sig_result.connect(lambda result: _after_console_cell(window, result))
    for action in window.menuBar().actions():
        menu = action.menu()
        if action.text().replace("&", "") == "View" and isinstance(menu, QMenu):
            menu.addAction(dock.toggleViewAction())
    return dock


def _after_console_cell(window: QMainWindow, result: SandboxResult) -> None:
    """What the window does after an editor run, for a console cell too."""
    window.sessions_panel.refresh()  # type: ignore[attr-defined]
    variables = getattr(window, "variables_panel", None)
    if variables is not None:
        variables.refresh()
    files = getattr(window, "file_browser", None)
    if files is not None:
        files.refresh(created=result.files_created, modified=result.files_modified)
