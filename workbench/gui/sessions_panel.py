"""The Sessions dock: fresh runs, or a live session whose interpreter keeps its state.

Sessions live in the core (:mod:`workbench.sandbox._sessions`); this panel lists
them, creates, opens, destroys and prunes them, and tells the window which one
runs the next code (``None`` means a fresh interpreter for every run).

*New session* starts a session in the runtime chosen beside it (every runtime
the core has, python-sci included), whatever the toolbar says.
"""

from __future__ import annotations

import datetime
from datetime import timedelta

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.sandbox import (
    ExecutionPolicy,
    RuntimeType,
    SandboxError,
    Session,
    SessionInfo,
    create_session,
    delete_session,
    list_sessions,
    open_session,
    prune_sessions,
)

__all__ = ["SessionsPanel"]

#: Sessions unused this long are removed by "Prune old sessions".
PRUNE_AFTER = timedelta(days=7)
_FRESH = "__fresh__"
#: How the runtime list names each runtime, and what its tooltip says about it
#: (a runtime missing here is listed under its own name).
RUNTIME_CHOICES: dict[RuntimeType, tuple[str, str]] = {
    RuntimeType.PYTHON: ("Python", "CPython 3.12 and its standard library; starts in ms"),
    RuntimeType.PYTHON_SCI: (
        "Python (scientific)",
        "CPython 3.15 with numpy, pandas, scipy, scikit-learn, statsmodels and matplotlib; "
        "figures appear in the Plots dock. Starts in seconds (its first use compiles it)",
    ),
    RuntimeType.JAVASCRIPT: ("JavaScript", "QuickJS-NG; starts in ms"),
}


class SessionsPanel(QWidget):
    """Lists sessions; the selected one (or fresh runs) receives the next run."""

    # ---- Signals

    #: Emitted with the Session that runs the next code, or None for fresh runs.
    sig_session_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self._policy: ExecutionPolicy | None = None
        self.list = QListWidget(self)
        self.list.setAccessibleName("Sessions")
        self.list.setToolTip(
            "Fresh runs start a new interpreter every time; a live session keeps its "
            "variables, imports and files between runs."
        )
        self.list.currentItemChanged.connect(self._selection_changed)
        # The runtime of the next new session, then the button that starts it.
        self.runtime_choice = QComboBox(self)
        self.runtime_choice.setAccessibleName("Runtime of a new session")
        self.runtime_choice.setToolTip("The runtime a new session runs its code in")
        for runtime in RuntimeType:
            label, tip = RUNTIME_CHOICES.get(runtime, (runtime.value, ""))
            self.runtime_choice.addItem(label, runtime.value)
            self.runtime_choice.setItemData(
                self.runtime_choice.count() - 1, tip, Qt.ItemDataRole.ToolTipRole
            )
        self.new_button = self._button(
            "New session", "Start a live session in the runtime chosen beside this button"
        )
        self.destroy_button = self._button(
            "Destroy", "Delete the selected session: its interpreter, workspace and history"
        )
        self.prune_button = self._button(
            "Prune old", f"Delete sessions unused for {PRUNE_AFTER.days} days (open ones are kept)"
        )
        self.status = QLabel(self)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Sessions status")
        self.new_button.clicked.connect(lambda: self.new_session(self.chosen_runtime()))
        self.runtime_choice.currentIndexChanged.connect(self._runtime_chosen)
        self.destroy_button.clicked.connect(self.destroy_selected)
        self.prune_button.clicked.connect(self.prune)
        buttons = QHBoxLayout()
        buttons.addWidget(self.runtime_choice, 1)
        buttons.addWidget(self.new_button)
        more = QHBoxLayout()
        more.addWidget(self.destroy_button)
        more.addWidget(self.prune_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        layout.addLayout(more)
        layout.addWidget(self.status)
        self._runtime_chosen()
        self.refresh()

    def _button(self, text: str, tip: str) -> QPushButton:
        button = QPushButton(text, self)
        button.setToolTip(tip)
        button.setAccessibleName(text)
        return button

    # ---- Public API

    def chosen_runtime(self) -> RuntimeType:
        """The runtime *New session* starts (chosen in the list beside it)."""
        return RuntimeType(self.runtime_choice.currentData())

    def choose_runtime(self, runtime: RuntimeType) -> None:
        """Preselect ``runtime`` for the next *New session*."""
        index = self.runtime_choice.findData(runtime.value)
        if index >= 0:
            self.runtime_choice.setCurrentIndex(index)

    def set_policy(self, policy: ExecutionPolicy) -> None:
        """The policy new sessions start with (each run still passes its own)."""
        self._policy = policy

    def refresh(self) -> None:
        """Reload the list from the sessions on disk, keeping the selection."""
        current = self.session.session_id if self.session is not None else _FRESH
        self.list.blockSignals(True)
        self.list.clear()
        fresh = QListWidgetItem("Fresh runs (a new interpreter each run)")
        fresh.setData(Qt.ItemDataRole.UserRole, _FRESH)
        self.list.addItem(fresh)
        try:
            infos = list_sessions()
        except SandboxError as exc:
            infos = []
            self.status.setText(str(exc))
        for info in sorted(infos, key=lambda i: i.last_used, reverse=True):
            item = QListWidgetItem(_describe(info))
            item.setData(Qt.ItemDataRole.UserRole, info.session_id)
            item.setToolTip(_details(info))
            self.list.addItem(item)
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == current:
                self.list.setCurrentRow(row)
        self.list.blockSignals(False)
        self.destroy_button.setEnabled(self.session is not None)

    @Slot()
    def new_session(self, runtime: RuntimeType) -> Session | None:
        """Create a live session and make it current."""
        try:
            session = create_session(runtime, policy=self._policy)
        except SandboxError as exc:
            self.status.setText(f"Could not create a session: {exc}")
            return None
        self._use(session)
        self.refresh()
        self.status.setText(f"New {runtime.value} session: its interpreter keeps state.")
        return session

    @Slot()
    def destroy_selected(self) -> None:
        """Delete the current session after confirmation."""
        session = self.session
        if session is None or not self._confirm(
            f"Delete session {session.session_id[:8]}? Its interpreter, workspace and saved "
            "globals are removed."
        ):
            return
        self._use(None)
        try:
            delete_session(session.session_id)
        except SandboxError as exc:
            self.status.setText(f"Could not delete the session: {exc}")
        self.refresh()

    @Slot()
    def prune(self) -> None:
        """Delete sessions unused for :data:`PRUNE_AFTER` (never open ones)."""
        try:
            result = prune_sessions(max_age=PRUNE_AFTER)
        except SandboxError as exc:
            self.status.setText(f"Could not prune: {exc}")
            return
        self.status.setText(
            f"Pruned {len(result.deleted)} sessions, freed {result.bytes_freed / 1e6:.1f} MB."
        )
        self.refresh()

    # ---- Internals

    @Slot()
    def _runtime_chosen(self, *_args: object) -> None:
        label = self.runtime_choice.currentText()
        self.new_button.setToolTip(f"Start a live {label} session: its interpreter keeps state")

    def _confirm(self, question: str) -> bool:
        answer = QMessageBox.question(self, "WASM Workbench", question)
        return answer == QMessageBox.StandardButton.Yes

    def _use(self, session: Session | None) -> None:
        if session is self.session:
            return
        self.session = session
        self.destroy_button.setEnabled(session is not None)
        self.sig_session_changed.emit(session)

    @Slot(QListWidgetItem, QListWidgetItem)
    def _selection_changed(self, item: QListWidgetItem | None, _previous: object) -> None:
        if item is None:
            return
        session_id = item.data(Qt.ItemDataRole.UserRole)
        if session_id == _FRESH:
            self._use(None)
            return
        try:
            self._use(open_session(session_id))
        except SandboxError as exc:
            self.status.setText(f"Could not open the session: {exc}")


def _describe(info: SessionInfo) -> str:
    """One short row: "python 1a2b3c4d · 3 runs · 14:05" (the date if not today).

    Short enough for the Sessions dock beside the editor; the tooltip has the rest.
    """
    last_used = datetime.datetime.fromtimestamp(info.last_used)
    today = last_used.date() == datetime.date.today()
    when = last_used.strftime("%H:%M" if today else "%Y-%m-%d")
    runs = "1 run" if info.turns == 1 else f"{info.turns} runs"
    return f"{info.runtime.value} {info.session_id[:8]} \u00b7 {runs} \u00b7 {when}"


def _details(info: SessionInfo) -> str:
    when = datetime.datetime.fromtimestamp(info.last_used).strftime("%Y-%m-%d %H:%M")
    return f"Session {info.session_id}\n{info.runtime.value}, {info.turns} runs, last used {when}"
