"""The MCP server in the workbench: start and stop it, and watch what agents run.

* :class:`McpController` owns the HTTP server (:class:`workbench.mcp.HttpServer`,
  uvicorn on a thread of its own). Starting and stopping happen in a worker
  QThread. Registry events (sessions created and ended, calls started and
  finished) happen on the server's worker threads, which are plain Python
  threads: they only put events in a queue, and a timer on the GUI thread emits
  them as Qt signals. (Emitting Qt signals from short-lived non-Qt threads
  makes Qt adopt them; their teardown at thread exit crashed now and then.)
* :class:`McpPanel` (the "MCP Server" dock): address, port, token, Start/Stop,
  and ready-to-paste client configurations.
* :class:`McpSessionsView` (the "Agent sessions" dock, a tab beside Sessions): the
  agents' sessions, live.
  Select one to read its calls (code, outcome, output, metrics), open its
  workspace in the Files dock, or stop a runaway call.

:func:`install_mcp_dock` wires all three into the main window.
"""

from __future__ import annotations

import contextlib
import datetime
import queue
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDockWidget,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.mcp import (
    CallRecord,
    EventKind,
    HttpServer,
    ManagedSession,
    McpSettings,
    RegistryEvent,
    SessionRegistry,
    claude_desktop_config,
    claude_desktop_remote_config,
    config_text,
    generate_token,
    http_client_config,
    is_loopback,
)
from workbench.sandbox import ExecutionPolicy, Session

from .workers import FunctionWorker, start_in_thread

if TYPE_CHECKING:
    from .main_window import MainWindow

__all__ = ["McpController", "McpDock", "McpPanel", "McpSessionsView", "install_mcp_dock"]

#: How often registry events are taken from the queue to the GUI, in milliseconds.
EVENT_POLL_MS = 100
#: Characters of a call's stdout/stderr shown in the details.
DETAIL_OUTPUT_CHARS = 4000

STOPPED, STARTING, RUNNING, STOPPING = "stopped", "starting", "running", "stopping"
_STOPPED_NOTE = "MCP server stopped: start it in the MCP Server tab."


class McpController(QObject):
    """Starts and stops the HTTP MCP server off the GUI thread and relays its events."""

    # ---- Signals

    #: Emitted with the new state: "stopped", "starting", "running" or "stopping".
    sig_state_changed = Signal(str)
    #: Emitted with a message when starting or stopping failed.
    sig_error = Signal(str)
    #: Emitted on the GUI thread with each RegistryEvent of the server (polled).
    sig_event = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.server: HttpServer | None = None
        self.registry: SessionRegistry | None = None
        self.state = STOPPED
        self._worker: FunctionWorker | None = None
        self._thread: QThread | None = None
        self._events: queue.SimpleQueue[RegistryEvent] = queue.SimpleQueue()
        self._listener = self._events.put
        self._poll = QTimer(self)
        self._poll.setInterval(EVENT_POLL_MS)
        self._poll.timeout.connect(self.deliver_events)

    @property
    def url(self) -> str | None:
        """The endpoint while the server runs."""
        return self.server.url if self.server is not None and self.state == RUNNING else None

    @property
    def token(self) -> str | None:
        """The bearer token of the current server."""
        return self.server.settings.token if self.server is not None else None

    def start(self, settings: McpSettings) -> None:
        """Start serving with ``settings`` (in a worker thread); see sig_state_changed."""
        if self.state != STOPPED:
            return
        try:
            server = HttpServer(settings)
        except ValueError as exc:
            self.sig_error.emit(str(exc))
            return
        self.server = server
        self.registry = server.registry
        server.registry.add_listener(self._listener)
        self._poll.start()
        self._set_state(STARTING)
        self._run(server.start, self._started)

    def stop(self) -> None:
        """Stop serving (in a worker thread); the server's sessions end."""
        server = self.server
        if server is None or self.state != RUNNING:
            return
        self._set_state(STOPPING)
        self._run(server.stop, self._stop_done)

    def shutdown(self) -> None:
        """Stop now, waiting for it (the window is closing)."""
        thread = self._thread
        if thread is not None:
            with contextlib.suppress(RuntimeError):  # already ended and released
                thread.quit()
                thread.wait(20_000)
        if self.server is not None:
            self.server.stop()
        self._stopped()

    @Slot()
    def deliver_events(self) -> None:
        """Emit the registry events queued since the last call (on the GUI thread)."""
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            self.sig_event.emit(event)

    def _run(self, function: Callable[[], Any], on_done: Callable[[object], None]) -> None:
        worker = FunctionWorker(function)
        worker.sig_finished.connect(on_done)
        worker.sig_errored.connect(self._failed)
        self._worker = worker
        self._thread = start_in_thread(worker)
        self._thread.finished.connect(self._thread_done)

    @Slot(object)
    def _started(self, _url: object) -> None:
        self._set_state(RUNNING)

    @Slot(object)
    def _stop_done(self, _none: object) -> None:
        self._stopped()

    @Slot()
    def _thread_done(self) -> None:
        self._thread = None
        self._worker = None

    @Slot(object)
    def _failed(self, exc: BaseException) -> None:
        self.sig_error.emit(str(exc))
        if self.server is not None:
            self.server.stop()
        self._stopped()

    def _stopped(self) -> None:
        if self.registry is not None:
            self.registry.remove_listener(self._listener)
        self._poll.stop()
        self.deliver_events()
        self.server = None
        self._set_state(STOPPED)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.sig_state_changed.emit(state)


class McpPanel(QWidget):
    """The MCP Server dock: where it listens, Start/Stop, and client configurations."""

    def __init__(
        self,
        controller: McpController,
        policy_source: Callable[[], ExecutionPolicy] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.policy_source = policy_source or ExecutionPolicy
        self.host = QLineEdit("127.0.0.1", self)
        self.host.setAccessibleName("MCP host")
        self.host.setToolTip(
            "127.0.0.1 serves this computer only. Any other address needs a bearer token."
        )
        self.port = QSpinBox(self)
        self.port.setRange(0, 65535)
        self.port.setValue(8765)
        self.port.setAccessibleName("MCP port")
        self.port.setToolTip("TCP port; 0 picks a free one.")
        self.token = QLineEdit(self)
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("none (loopback only)")
        self.token.setAccessibleName("MCP bearer token")
        self.generate = QPushButton("Generate", self)
        self.generate.setToolTip("Make a new random bearer token")
        self.generate.clicked.connect(lambda: self.token.setText(generate_token()))
        self.show_token = QCheckBox("Show", self)
        self.show_token.toggled.connect(
            lambda on: self.token.setEchoMode(
                QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password
            )
        )
        self.idle = QSpinBox(self)
        self.idle.setRange(1, 24 * 60)
        self.idle.setValue(30)
        self.idle.setSuffix(" min")
        self.idle.setToolTip("An agent's session unused this long ends; its workspace is deleted.")
        self.keep = QCheckBox("Keep workspaces of ended sessions", self)
        self.start_button = QPushButton("Start MCP server", self)
        self.start_button.setAccessibleName("Start or stop the MCP server")
        self.start_button.clicked.connect(self.toggle)
        self.status = QLabel("Stopped.", self)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setAccessibleName("MCP server status")
        self.config_kind = QComboBox(self)
        self.config_kind.addItems(
            [
                "Generic HTTP client (this server)",
                "Claude Desktop (via mcp-remote, this server)",
                "Claude Desktop (its own stdio server)",
            ]
        )
        self.config_kind.currentIndexChanged.connect(self.update_config)
        # Sized by a short prefix, not the longest entry, so the dock fits a narrow column.
        self.config_kind.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.config_kind.setMinimumContentsLength(16)
        self.config = QPlainTextEdit(self)
        self.config.setReadOnly(True)
        self.config.setAccessibleName("MCP client configuration")
        self.copy = QPushButton("Copy", self)
        self.copy.clicked.connect(
            lambda: QGuiApplication.clipboard().setText(self.config.toPlainText())
        )
        token_row = QHBoxLayout()
        token_row.addWidget(self.token)
        token_row.addWidget(self.show_token)
        token_row.addWidget(self.generate)
        form = QFormLayout()
        form.addRow("Host", self.host)
        form.addRow("Port", self.port)
        form.addRow("Token", token_row)
        form.addRow("Idle timeout", self.idle)
        form.addRow(self.keep)  # across both columns: the dock stays narrow
        config_row = QHBoxLayout()
        config_row.addWidget(self.config_kind, 1)
        config_row.addWidget(self.copy)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.start_button)
        layout.addWidget(self.status)
        config_label = QLabel("Client configuration (paste into the client's settings):", self)
        config_label.setWordWrap(True)
        layout.addWidget(config_label)
        layout.addLayout(config_row)
        layout.addWidget(self.config, 1)
        controller.sig_state_changed.connect(self._state_changed)
        controller.sig_error.connect(self._error)
        self.update_config()

    # ---- Public API

    def settings(self) -> McpSettings:
        """Settings from the fields; a token is generated when the host needs one."""
        host = self.host.text().strip() or "127.0.0.1"
        token = self.token.text().strip() or None
        if token is None and not is_loopback(host):
            token = generate_token()
            self.token.setText(token)
        return McpSettings(
            policy=self.policy_source(),
            host=host,
            port=self.port.value(),
            token=token,
            idle_timeout_seconds=self.idle.value() * 60.0,
            keep_workspaces=self.keep.isChecked(),
        )

    @Slot()
    def toggle(self) -> None:
        """Start the server, or stop it when it runs."""
        if self.controller.state == RUNNING:
            self.controller.stop()
            return
        try:
            settings = self.settings()
        except ValueError as exc:
            self._error(str(exc))
            return
        self.controller.start(settings)

    @Slot()
    def update_config(self) -> None:
        """Show the configuration chosen in the combo box for the current server."""
        url = self.controller.url or (
            f"http://{self.host.text().strip() or '127.0.0.1'}:{self.port.value()}/mcp"
        )
        token = self.controller.token or (self.token.text().strip() or None)
        index = self.config_kind.currentIndex()
        if index == 0:
            config = http_client_config(url, token)
        elif index == 1:
            config = claude_desktop_remote_config(url, token)
        else:
            config = claude_desktop_config()
        self.config.setPlainText(config_text(config))

    # ---- Internals

    @Slot(str)
    def _state_changed(self, state: str) -> None:
        editable = state == STOPPED
        for field in (self.host, self.port, self.token, self.generate, self.idle, self.keep):
            field.setEnabled(editable)
        self.start_button.setEnabled(state in (STOPPED, RUNNING))
        self.start_button.setText("Stop MCP server" if state == RUNNING else "Start MCP server")
        if state == RUNNING:
            auth = "bearer token required" if self.controller.token else "no token (loopback)"
            self.status.setText(f"Serving {self.controller.url} ({auth}).")
        elif state == STOPPED:
            self.status.setText("Stopped.")
        else:
            self.status.setText(f"{state.capitalize()}...")
        self.update_config()

    @Slot(str)
    def _error(self, message: str) -> None:
        self.status.setText(f"Could not run the MCP server: {message}")


class McpSessionsView(QWidget):
    """Agents' sessions of the MCP server, live: calls, results, Stop, workspace.

    Sessions that ended (the agent disconnected, or they idled out) stay listed
    as "ended", so their calls can still be read, until the server starts again.
    """

    # ---- Signals

    #: Emitted with a Session whose workspace should be shown in the Files dock.
    sig_workspace_requested = Signal(object)

    #: Ended sessions kept listed at most.
    MAX_ENDED = 50

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller: McpController | None = None
        self._known: dict[str, ManagedSession] = {}
        self._ended: list[str] = []
        # The dock is titled "Agent sessions"; this line says where they come from.
        self.title = QLabel(_STOPPED_NOTE, self)
        self.title.setWordWrap(True)
        self.title.setAccessibleName("Agent sessions title")
        self.tree = QTreeWidget(self)
        self.tree.setAccessibleName("Agent sessions")
        self.tree.setHeaderLabels(["Session", "Language", "Client", "State", "Calls"])
        self.tree.setRootIsDecorated(False)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.currentItemChanged.connect(lambda *_: self.show_details())
        self.tree.itemDoubleClicked.connect(lambda *_: self.open_details_window())
        self.details = QPlainTextEdit(self)
        self.details.setReadOnly(True)
        self.details.setAccessibleName("Agent call details")
        self.details.setPlaceholderText("Select an agent session to read its calls.")
        #: A larger window following the selected session (Details..., double-click).
        self.details_window: QDialog | None = None
        self._window_text: QPlainTextEdit | None = None
        self.details_button = QPushButton("Details...", self)
        self.details_button.setToolTip("Read this session's calls in a larger window")
        self.details_button.clicked.connect(self.open_details_window)
        self.stop_button = QPushButton("Stop call", self)
        self.stop_button.setToolTip("Stop the call this agent session is running")
        self.stop_button.clicked.connect(self.stop_selected)
        self.workspace_button = QPushButton("Open workspace", self)
        self.workspace_button.setToolTip("Show this session's /app in the Files dock")
        self.workspace_button.clicked.connect(self.open_workspace)
        buttons = QHBoxLayout()
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.workspace_button)
        buttons.addWidget(self.details_button)
        lower = QWidget(self)
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addLayout(buttons)
        lower_layout.addWidget(self.details, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(self.tree)
        self.splitter.addWidget(lower)
        self.splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)  # default margins: it fills a dock of its own
        layout.addWidget(self.title)
        layout.addWidget(self.splitter, 1)
        self._update_buttons()

    # ---- Public API

    def set_controller(self, controller: McpController) -> None:
        """Follow ``controller``'s server."""
        self.controller = controller
        controller.sig_event.connect(self._event)
        controller.sig_state_changed.connect(self._state_changed)

    def sessions(self) -> list[ManagedSession]:
        """The sessions listed (live and ended), oldest first."""
        return list(self._known.values())

    def is_ended(self, managed: ManagedSession) -> bool:
        """Whether ``managed`` has ended (it stays listed to be read)."""
        return managed.id in self._ended

    def selected(self) -> ManagedSession | None:
        """The selected agent session."""
        item = self.tree.currentItem()
        if item is None:
            return None
        return self._known.get(item.data(0, Qt.ItemDataRole.UserRole))

    @Slot()
    def refresh(self) -> None:
        """Update the list from the server's registry, keeping the selection."""
        registry = self._registry()
        live = {m.id: m for m in registry.sessions()} if registry is not None else {}
        for sid, managed in live.items():
            self._known.setdefault(sid, managed)
        for sid in self._known:
            if sid not in live and sid not in self._ended:
                self._ended.append(sid)
        while len(self._ended) > self.MAX_ENDED:
            self._known.pop(self._ended.pop(0), None)
        current = self.selected()
        self.tree.blockSignals(True)
        self.tree.clear()
        for managed in self._known.values():
            item = QTreeWidgetItem(_row(managed, ended=self.is_ended(managed)))
            item.setData(0, Qt.ItemDataRole.UserRole, managed.id)
            item.setToolTip(0, f"Session {managed.id}\nWorkspace {managed.workspace}")
            self.tree.addTopLevelItem(item)
            if current is not None and managed.id == current.id:
                self.tree.setCurrentItem(item)
        self.tree.blockSignals(False)
        self.show_details()

    @Slot()
    def show_details(self) -> None:
        """Show the selected session's calls, newest first."""
        managed = self.selected()
        self._update_buttons()
        if managed is None:
            self.details.clear()
            return
        calls = list(managed.calls)
        if managed.current is not None:
            calls.append(managed.current)
        ended = " (ended)" if self.is_ended(managed) else ""
        lines = [
            f"Session {managed.id}{ended} ({managed.language.value}), "
            f"client {_client(managed.owner)}",
            f"Workspace: {managed.workspace}",
            "",
        ]
        if not calls:
            lines.append("No calls yet.")
        for call in reversed(calls):
            lines.extend(_describe_call(call))
            lines.append("")
        text = "\n".join(lines)
        self.details.setPlainText(text)
        if self._window_text is not None and self.details_window is not None:
            self._window_text.setPlainText(text)
            self.details_window.setWindowTitle(f"Agent session {managed.id[:8]}")

    @Slot()
    def open_details_window(self) -> QDialog | None:
        """Show the selected session's calls in a larger window that follows it live."""
        if self.selected() is None:
            return None
        if self.details_window is None:
            window = QDialog(self)
            window.resize(760, 560)
            text = QPlainTextEdit(window)
            text.setReadOnly(True)
            text.setAccessibleName("Agent call details (window)")
            QVBoxLayout(window).addWidget(text)
            self.details_window = window
            self._window_text = text
        self.show_details()
        self.details_window.show()
        self.details_window.raise_()
        return self.details_window

    @Slot()
    def stop_selected(self) -> None:
        """Stop the selected session's running call."""
        managed = self.selected()
        registry = self._registry()
        if managed is not None and registry is not None:
            registry.cancel(managed)

    @Slot()
    def open_workspace(self) -> None:
        """Ask for the selected session's workspace in the Files dock."""
        managed = self.selected()
        if managed is not None and not self.is_ended(managed):
            session: Session = managed.session
            self.sig_workspace_requested.emit(session)

    # ---- Internals

    def _registry(self) -> SessionRegistry | None:
        return self.controller.registry if self.controller is not None else None

    def _update_buttons(self) -> None:
        managed = self.selected()
        self.stop_button.setEnabled(managed is not None and managed.current is not None)
        self.workspace_button.setEnabled(managed is not None and not self.is_ended(managed))
        self.details_button.setEnabled(managed is not None)

    @Slot(object)
    def _event(self, event: RegistryEvent) -> None:
        if event.kind in (EventKind.SESSION_CREATED, EventKind.SESSION_ENDED):
            self.refresh()
            return
        managed = self._known.get(event.session_id)
        if managed is None:
            self.refresh()
            return
        for index in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(index)
            if item is not None and item.data(0, Qt.ItemDataRole.UserRole) == event.session_id:
                for column, text in enumerate(_row(managed, ended=self.is_ended(managed))):
                    item.setText(column, text)
                break
        selected = self.selected()
        if selected is not None and selected.id == event.session_id:
            self.show_details()

    @Slot(str)
    def _state_changed(self, state: str) -> None:
        controller = self.controller
        if state == STARTING:  # a new server: forget the last one's sessions
            self._known.clear()
            self._ended.clear()
        if state == RUNNING and controller is not None:
            self.title.setText(f"MCP server at {controller.url}")
        else:
            self.title.setText(_STOPPED_NOTE if state == STOPPED else f"MCP server {state}")
        self.refresh()


def _client(owner: str) -> str:
    return "stdio" if owner == "stdio" else owner.removeprefix("http:")[:8]


def _row(managed: ManagedSession, *, ended: bool) -> list[str]:
    state = "ended" if ended else "running" if managed.current is not None else "idle"
    return [
        managed.id[:8],
        managed.language.value,
        _client(managed.owner),
        state,
        str(len(managed.calls) + (managed.current is not None)),
    ]


def _describe_call(call: CallRecord) -> list[str]:
    when = datetime.datetime.fromtimestamp(call.started).strftime("%H:%M:%S")
    lines = [f"[{when}] {'running...' if call.running else 'finished'}"]
    lines += ["  " + line for line in call.code.splitlines()[:40]]
    result = call.result
    if call.error is not None:
        lines.append(f"Refused: {call.error}")
    if result is not None:
        lines.append(result.summary())  # outcome, limits hit, fuel, memory, time, first fix
        if result.files_created or result.files_modified:
            changed = ", ".join(result.files_created + result.files_modified)
            lines.append(f"Files changed in /app: {changed}")
        for name in ("stdout", "stderr"):
            text: str = getattr(result, name)
            if text:
                shown = text[:DETAIL_OUTPUT_CHARS]
                lines.append(f"--- {name} ---\n{shown}")
    return lines


class McpDock(QDockWidget):
    """The "MCP Server" dock, holding its panel and controller."""

    def __init__(self, panel: McpPanel, parent: QWidget | None = None) -> None:
        super().__init__("MCP Server", parent)
        self.setObjectName("mcp-dock")
        # Scrolled, so the form doesn't set the least height of the tab group it
        # shares with Sessions (the Files dock below keeps its share at 1280x800).
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(panel)
        self.setWidget(scroll)
        self.panel = panel
        self.controller = panel.controller


def install_mcp_dock(window: MainWindow) -> McpDock:
    """Add the MCP Server dock to ``window``; wire its Agent sessions and Files docks to it.

    ``window.closeEvent`` must call ``dock.controller.shutdown()``.
    """
    controller = McpController(window)
    panel = McpPanel(controller, policy_source=window.policy_editor.policy, parent=window)
    view: McpSessionsView = window.agent_sessions
    view.set_controller(controller)

    def show_workspace(session: Session) -> None:
        window.file_browser.set_workspace(session.storage, session.session_id)
        window.files_dock.raise_()

    view.sig_workspace_requested.connect(show_workspace)
    dock = McpDock(panel, window)
    # Beside the Agent sessions it reports to (MainWindow._place_docks has the layout).
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
    window.tabifyDockWidget(window.agent_sessions_dock, dock)
    window.result_dock.raise_()
    return dock
