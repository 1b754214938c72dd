"""The main window: paste code (or LLM output), run it in the sandbox, read the result.

Layout: the editor in the centre with Output, History, Console, Batch and
Profile in tabs under it; Sessions and Agent sessions (tabs) over Files on the
left; Result, Policy, Variables and MCP Server in tabs on the right. The side
columns run the full height of the window. Dock placement, the window geometry,
the theme and the last preset and runtime persist in QSettings (a layout saved
from an older default is replaced by the current default once; see
:data:`LAYOUT_VERSION`). Executions run on :class:`~.workers.ExecutionWorker`
threads; this window only reacts to their signals, so it stays responsive
whatever the guest does.
"""

from __future__ import annotations

import json
import re
import sys
import time
import uuid
from pathlib import Path

import shiboken6
from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QColor,
    QGuiApplication,
    QKeySequence,
    QMouseEvent,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QStyle,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from workbench import __version__
from workbench.sandbox import (
    CodeChoice,
    CompileProgress,
    DiskStorage,
    ExecutionPolicy,
    RunHistory,
    RunRecord,
    RuntimeType,
    Sandbox,
    SandboxResult,
    Session,
    TrapKind,
    add_vendor_progress_listener,
    auto_runtime,
    calibrate_budget,
    choose_code,
    config_dir,
    create_sandbox,
    default_workspace_root,
    detect_language,
    extract_code,
    get_engine,
    list_presets,
    outcome_words,
    remove_vendor_progress_listener,
    runtime_for_path,
)
from workbench.sandbox._engine import WASMTIME_VERSION, cache_dir
from workbench.sandbox._policy import format_bytes, format_fuel
from workbench.sandbox._resources import bundle_root
from workbench.sandbox._vendor import VendorProgress, python_guest_mounts

from .batch_view import install_batch_dock
from .console import install_console
from .editor import CodeEditor, FindBar
from .examples import Example, load_examples
from .file_browser import FileBrowser
from .fuel_bar import FuelBar
from .history import RunHistoryPanel
from .mcp_panel import McpSessionsView, install_mcp_dock
from .plots_view import install_plots_dock
from .policy_editor import PolicyEditor
from .profile_view import ProfiledRun, ProfileView, line_heat
from .run_chart import RunChart
from .sessions_panel import SessionsPanel
from .variables import VariablesPanel
from .workers import ExecutionWorker, FunctionWorker, start_in_thread

__all__ = ["MainWindow"]

#: Fuel for a calibration run: the largest budget a policy allows.
MAX_FUEL = 1_000_000_000_000
#: The smallest budget Calibrate sets.
MIN_CALIBRATED_FUEL = 10_000_000

# A reference to the user's code in a traceback line (CPython or QuickJS).
_TRACEBACK_LINE = re.compile(r'File "<code>", line (?P<py>\d+)|<code>:(?P<js>\d+)(?::\d+)?')

#: Session id of the workbench's scratch workspace (one per runtime).
SCRATCH_SESSION = "workbench-scratch"
#: Unsaved text longer than this is not kept between starts of the window.
MAX_KEPT_TAB_CHARS = 2_000_000
#: Version of the default dock layout, saved with the layout. A layout saved under
#: an older version was the old default or built on it: the current default
#: replaces it once. Raise it when the default layout changes.
LAYOUT_VERSION = 3
#: Width of the left (Sessions, Files) and right (Result...) columns in the default
#: layout: (share of the window's width, least, most) in pixels.
LEFT_COLUMN = (0.22, 325, 400)
RIGHT_COLUMN = (0.24, 325, 440)


def _language_of(path: Path) -> str | None:
    runtime = runtime_for_path(path)
    return runtime.value if runtime is not None else None


def _answer_line_offset(choice: CodeChoice) -> int:
    """Lines above the code of a one-block answer in the editor (0 when not one block)."""
    for block in choice.extracted.blocks:
        lines = block.code.split("\n")
        leading = next((n for n, line in enumerate(lines) if line.strip()), 0)
        if block.language is choice.runtime and block.code.strip() == choice.code.strip():
            return block.start_line - 1 + leading
    return 0


def _code_is_at(text: str, code: str, offset: int) -> bool:
    """Whether ``code`` is in ``text`` from line ``offset + 1`` (whitespace at the ends aside)."""
    lines = text.split("\n")[offset:]
    wanted = code.split("\n")
    return len(lines) >= len(wanted) and all(
        have.strip() == want.strip() for have, want in zip(lines, wanted, strict=False)
    )


def scratch_root() -> Path:
    """Where the fresh runs' workspace lives: beside the sessions, not among them."""
    return default_workspace_root().parent / "scratch"


#: How many files File > Open recent remembers.
MAX_RECENT_FILES = 10


class MainWindow(QMainWindow):
    """The workbench's main window."""

    # ---- Signals

    #: Emitted when an execution starts. Contains its token.
    sig_execution_started = Signal(str)
    #: Emitted with the SandboxResult when an execution ends (also after Stop).
    sig_execution_finished = Signal(object)
    #: Emitted with the exception when the sandbox itself failed to run code.
    sig_execution_errored = Signal(object)
    #: Emitted when both runtimes are compiled or loaded and ready.
    sig_runtimes_ready = Signal()
    #: Emitted with the exception when the runtimes could not be made ready.
    sig_runtimes_failed = Signal(object)
    #: Emitted with the Calibration (budget, dominant line, message) when Calibrate
    #: has set the fuel budget.
    sig_calibrated = Signal(object)

    def __init__(self, settings: QSettings | None = None, history_path: Path | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings("wasm-workbench", "WASM Workbench")
        #: Where the run history is kept between sessions of the workbench.
        self.history_path = history_path or config_dir() / "history.json"
        self._code = ""
        #: Editor line of the last run's line 1, minus 1 (a pasted answer's code block).
        self._line_offset = 0
        self._calibrating = False
        self.setWindowTitle("WASM Workbench")
        self._sandboxes: dict[RuntimeType, Sandbox] = {}
        self._worker: ExecutionWorker | None = None
        self._token = ""
        self._last_result: SandboxResult | None = None
        self._prepare_worker: FunctionWorker | None = None
        self._dark = False
        self._untitled = 0
        #: The editor tab the run in progress came from.
        self._run_editor: CodeEditor | None = None
        #: The editor tab each kept profile's code ran from (for the gutter and jumps).
        self._profile_editors: dict[str, CodeEditor] = {}
        self._profiles_made = 0

        self.tabs = QTabWidget(self)
        self.tabs.setTabsClosable(True)
        self.tabs.setMovable(True)
        self.tabs.setDocumentMode(True)
        self.tabs.setAccessibleName("Editor tabs")
        self.tabs.tabCloseRequested.connect(self.close_tab)
        self.find_bar = FindBar(self.new_tab(), self)
        self.find_bar.hide()
        self.tabs.currentChanged.connect(self._tab_changed)
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        layout.addWidget(self.find_bar)
        self.setCentralWidget(central)

        self._build_output_dock()
        self._build_history_dock()
        self._build_profile_dock()
        self._build_result_dock()
        self._build_policy_dock()
        self._build_sessions_dock()
        self._build_files_dock()
        self._build_agent_sessions_dock()
        self._build_variables_dock()
        self.mcp_dock = install_mcp_dock(self)
        self._build_actions()
        self._build_toolbar()
        self._build_menus()
        self.console_dock = install_console(self)  # Console dock (gui/console.py)
        self.batch_dock = install_batch_dock(self)  # Batch dock (gui/batch_view.py)
        self.plots_dock = install_plots_dock(self)  # Plots dock (gui/plots_view.py)
        self._place_docks()
        self.statusBar().showMessage("Ready")
        self._restore_settings()
        self._update_run_state(running=False)
        self._update_extract_action()

    # ---- Building

    def _build_output_dock(self) -> None:
        self.output = QPlainTextEdit(self)
        self.output.setReadOnly(True)
        self.output.setAccessibleName("Output")
        self.output.setToolTip("Click a traceback line to jump to that line in the editor")
        self.output.viewport().installEventFilter(self)
        self.output.setMaximumBlockCount(100_000)
        self.truncation_banner = QLabel(self)
        self.truncation_banner.setTextFormat(Qt.TextFormat.PlainText)
        self.truncation_banner.setStyleSheet("background: #fff3cd; color: #5c4400; padding: 4px;")
        self.truncation_banner.hide()
        box = QWidget(self)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.truncation_banner)
        layout.addWidget(self.output)
        dock = QDockWidget("Output", self)
        dock.setObjectName("output-dock")
        dock.setWidget(box)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        self.output_dock = dock
        self._stderr_format = QTextCharFormat()
        self._stderr_format.setForeground(QColor("#c62828"))
        self._stdout_format = QTextCharFormat()
        self._note_format = QTextCharFormat()
        self._note_format.setForeground(QColor("#6a6a6a"))
        self._note_format.setFontItalic(True)

    def _build_history_dock(self) -> None:
        self.history = RunHistory()
        self.history.load(self.history_path)
        self.history_panel = RunHistoryPanel(self.history, self)
        self.history_panel.sig_open_code_requested.connect(self._open_history_code)
        self.history_panel.sig_rerun_requested.connect(self.rerun)
        dock = QDockWidget("History", self)
        dock.setObjectName("history-dock")
        dock.setWidget(self.history_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        self.tabifyDockWidget(self.output_dock, dock)
        self.output_dock.raise_()
        self.history_dock = dock

    def _build_profile_dock(self) -> None:
        self.profile_view = ProfileView(self)
        self.profile_view.sig_line_requested.connect(self._go_to_profile_line)
        self.profile_view.sig_run_shown.connect(self._profile_shown)
        dock = QDockWidget("Profile", self)
        dock.setObjectName("profile-dock")
        dock.setWidget(self.profile_view)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        self.tabifyDockWidget(self.history_dock, dock)
        self.output_dock.raise_()
        self.profile_dock = dock

    def _build_result_dock(self) -> None:
        box = QWidget(self)
        layout = QVBoxLayout(box)
        self.status_label = self._plain_label("No run yet.", "Outcome")
        self.fuel_bar = FuelBar(self)
        self.fuel_label = self._plain_label("", "Fuel")
        self.suggestion_label = self._plain_label("", "Suggested fuel budget")
        self.apply_budget_button = QPushButton("Apply suggested budget", self)
        self.apply_budget_button.setToolTip(
            "Use the suggested fuel budget for the next runs (until you change the preset)."
        )
        self.apply_budget_button.clicked.connect(self.apply_suggested_budget)
        self.apply_budget_button.setEnabled(False)
        self.memory_label = self._plain_label("", "Memory")
        self.time_label = self._plain_label("", "Time")
        self.files_label = self._plain_label("", "Files changed")
        self.guidance_label = self._plain_label("", "Error guidance")
        self.guidance_label.setStyleSheet(
            "background: palette(alternate-base); padding: 6px; border-radius: 4px;"
        )
        self.chart_title = self._plain_label("Runs of fresh runs", "Chart title")
        self.run_chart = RunChart(self.history, self)
        self.run_chart.set_session(SCRATCH_SESSION)
        self.run_chart.sig_profile_requested.connect(self.open_profile)
        self.profile_view.sig_runs_changed.connect(
            lambda: self.run_chart.set_profiled({run.run_id for run in self.profile_view.runs()})
        )
        self.margin_spin = QSpinBox(self)
        self.margin_spin.setRange(0, 1000)
        self.margin_spin.setValue(50)
        self.margin_spin.setSuffix(" % margin")
        self.margin_spin.setAccessibleName("Calibration margin")
        self.margin_spin.setToolTip(
            "Calibrate sets the fuel budget to what the code used plus this"
        )
        self.calibrate_button = QPushButton("Calibrate", self)
        self.calibrate_button.setAccessibleName("Calibrate the fuel budget")
        self.calibrate_button.setToolTip(
            "Run the code once with a generous budget, measure its fuel, and set the budget "
            "to that plus the margin; then Run uses it"
        )
        self.calibrate_button.clicked.connect(self.calibrate)
        calibrate_row = QHBoxLayout()
        calibrate_row.addWidget(self.calibrate_button)
        calibrate_row.addWidget(self.margin_spin)
        for widget in (
            self.status_label,
            self.fuel_bar,
            self.fuel_label,
            self.suggestion_label,
            self.apply_budget_button,
            self.memory_label,
            self.time_label,
            self.chart_title,
            self.run_chart,
            self.files_label,
            self.guidance_label,
        ):
            layout.addWidget(widget)
            if widget is self.apply_budget_button:
                layout.addLayout(calibrate_row)
        layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidget(box)
        scroll.setWidgetResizable(True)  # long guidance scrolls instead of being cut
        dock = QDockWidget("Result", self)
        dock.setObjectName("result-dock")
        dock.setWidget(scroll)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.result_dock = dock

    def _build_policy_dock(self) -> None:
        self.policy_editor = PolicyEditor(self)
        self.policy_editor.sig_policy_changed.connect(self._policy_edited)
        dock = QDockWidget("Policy", self)
        dock.setObjectName("policy-dock")
        dock.setWidget(self.policy_editor)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.tabifyDockWidget(self.result_dock, dock)
        self.result_dock.raise_()
        self.policy_dock = dock

    def _build_sessions_dock(self) -> None:
        self.sessions_panel = SessionsPanel(self)
        self.sessions_panel.set_policy(self.policy_editor.policy())
        self.sessions_panel.sig_session_changed.connect(self._session_changed)
        dock = QDockWidget("Sessions", self)
        dock.setObjectName("sessions-dock")
        dock.setWidget(self.sessions_panel)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.sessions_dock = dock

    def _build_files_dock(self) -> None:
        self.file_browser = FileBrowser(self)
        self.file_browser.sig_open_in_editor_requested.connect(self._open_workspace_file)
        dock = QDockWidget("Files", self)
        dock.setObjectName("files-dock")
        dock.setWidget(self.file_browser)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.files_dock = dock
        self._bind_files(None)

    def _build_agent_sessions_dock(self) -> None:
        #: Sessions of agents using the workbench's MCP server (wired by install_mcp_dock).
        self.agent_sessions = McpSessionsView(self)
        dock = QDockWidget("Agent sessions", self)
        dock.setObjectName("agent-sessions-dock")
        dock.setWidget(self.agent_sessions)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.agent_sessions_dock = dock

    def _build_variables_dock(self) -> None:
        self.variables_panel = VariablesPanel(self)
        dock = QDockWidget("Variables", self)
        dock.setObjectName("variables-dock")
        dock.setWidget(self.variables_panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.tabifyDockWidget(self.policy_dock, dock)
        self.result_dock.raise_()
        self.variables_dock = dock

    def _place_docks(self) -> None:
        """Put every dock where the default layout has it, each tab group's first in front.

        The side columns take the full height (the corners belong to them), so the
        Output tabs sit under the editor only. Docks that are closed or floating
        come back. :meth:`_default_layout` sets their sizes.
        """
        left = Qt.DockWidgetArea.LeftDockWidgetArea
        right = Qt.DockWidgetArea.RightDockWidgetArea
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        for corner, area in (
            (Qt.Corner.TopLeftCorner, left),
            (Qt.Corner.BottomLeftCorner, left),
            (Qt.Corner.TopRightCorner, right),
            (Qt.Corner.BottomRightCorner, right),
        ):
            self.setCorner(corner, area)
        # Tab groups, top to bottom within an area: Sessions and Agent sessions
        # compete for the same strip, so they share one, with the MCP Server that
        # the agents' sessions come from; Files stays in view below. A column is
        # 325 px at 1280x800: each group holds at most what its tab titles need
        # to be read whole there (four on the right, three on the left).
        groups: list[tuple[Qt.DockWidgetArea, list[QDockWidget]]] = [
            (left, [self.sessions_dock, self.agent_sessions_dock, self.mcp_dock]),
            (left, [self.files_dock]),
            (
                right,
                [self.result_dock, self.plots_dock, self.policy_dock, self.variables_dock],
            ),
            (
                bottom,
                [
                    self.output_dock,
                    self.history_dock,
                    self.console_dock,
                    self.batch_dock,
                    self.profile_dock,
                ],
            ),
        ]
        for _area, docks in groups:
            for dock in docks:
                dock.setFloating(False)  # docked first: removing forgets a floating one
                self.removeDockWidget(dock)
        for area, docks in groups:
            self.addDockWidget(area, docks[0], Qt.Orientation.Vertical)
            for dock in docks[1:]:
                self.tabifyDockWidget(docks[0], dock)
            for dock in docks:
                dock.show()
            docks[0].raise_()  # Sessions, Files, Result and Output are in front

    def _bind_files(self, session: Session | None) -> None:
        """Show the workspace the next run uses: the session's, or the scratch one."""
        if session is not None:
            self.file_browser.set_workspace(session.storage, session.session_id)
        else:
            root = scratch_root()
            (root / SCRATCH_SESSION / "workspace").mkdir(parents=True, exist_ok=True)
            self.file_browser.set_workspace(DiskStorage(root), SCRATCH_SESSION)

    @Slot(str, str)
    def _open_workspace_file(self, path: str, text: str) -> None:
        self.new_tab(text, title=f"/app/{path}", language=_language_of(Path(path)))
        self.statusBar().showMessage(f"Opened /app/{path} from the workspace (not saved to disk).")

    @Slot(object)
    def _session_changed(self, session: Session | None) -> None:
        self._bind_files(session)
        self.variables_panel.set_session(session)
        sid = session.session_id if session is not None else None
        self.run_chart.set_session(sid if sid is not None else SCRATCH_SESSION)
        self.chart_title.setText(
            f"Runs of session {sid[:8]}" if sid is not None else "Runs of fresh runs"
        )
        if session is None:
            self.setWindowTitle("WASM Workbench")
            self.runtime_combo.setEnabled(True)
            self.statusBar().showMessage("Fresh runs: a new interpreter every time.")
            return
        self.setWindowTitle(
            f"{session.runtime.value} session {session.session_id[:8]} - WASM Workbench"
        )
        self.runtime_combo.setCurrentIndex(self.runtime_combo.findData(session.runtime.value))
        self.runtime_combo.setEnabled(False)  # a session has one runtime
        self.editor.set_language(session.runtime.language)  # python-sci is Python
        self.statusBar().showMessage(
            f"Live {session.runtime.value} session: variables and imports carry over."
        )

    def _plain_label(self, text: str, name: str) -> QLabel:
        # Guest-derived text is shown as plain text, never as auto-detected rich text.
        label = QLabel(text, self)
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setAccessibleName(name)
        return label

    def _build_actions(self) -> None:
        def action(
            text: str, shortcut: str | QKeySequence.StandardKey | None, tip: str, slot: object
        ) -> QAction:
            item = QAction(text, self)
            if shortcut is not None:
                item.setShortcut(QKeySequence(shortcut))
            item.setToolTip(f"{tip} ({item.shortcut().toString()})" if shortcut else tip)
            item.setStatusTip(tip)
            item.triggered.connect(slot)
            self.addAction(item)
            return item

        self.run_action = action(
            "Run", "Ctrl+Return", "Run the code in a fresh sandbox", self.run_code
        )
        self.run_profile_action = action(
            "Run with profile",
            "Ctrl+Alt+Return",
            "Run the code and record where its fuel went, line by line (Profile tab, "
            "editor gutter); a profiled run is slower in wall time, not in fuel",
            self.run_with_profile,
        )
        self.run_selection_action = action(
            "Run selection",
            "Ctrl+Shift+Return",
            "Run only the selected code",
            self.run_selection,
        )
        self.stop_action = action("Stop", "Ctrl+.", "Stop the running code", self.stop)
        self.extract_action = action(
            "Keep just the code",
            "Ctrl+Shift+K",
            "Replace pasted LLM output with the code in its Markdown fences (undoable)",
            self.keep_just_the_code,
        )
        self.new_tab_action = action(
            "New tab",
            QKeySequence.StandardKey.AddTab,
            "Open an empty editor tab",
            lambda: self.new_tab(),
        )
        self.close_tab_action = action(
            "Close tab",
            QKeySequence.StandardKey.Close,
            "Close the current tab",
            self.close_current_tab,
        )
        self.open_action = action(
            "Open...", QKeySequence.StandardKey.Open, "Open a file", self.choose_file
        )
        self.save_action = action("Save", QKeySequence.StandardKey.Save, "Save the code", self.save)
        self.save_as_action = action(
            "Save as...",
            QKeySequence.StandardKey.SaveAs,
            "Save the code under a new name",
            self.save_as,
        )
        self.find_action = action(
            "Find / replace",
            QKeySequence.StandardKey.Find,
            "Find and replace in the editor",
            self.show_find,
        )
        self.dark_action = action(
            "Dark theme", None, "Switch the editor's colours", self._toggle_dark
        )
        self.dark_action.setCheckable(True)
        self.reset_layout_action = action(
            "Reset layout",
            None,
            "Put every panel back where it starts, sized for the window",
            self.reset_layout,
        )
        self.about_action = action(
            "About WASM Workbench",
            None,
            "Runtimes, versions and the cache location",
            self.show_about,
        )
        self.shortcuts_action = action(
            "Keyboard shortcuts", None, "List the shortcuts", self.show_shortcuts
        )

    def _build_toolbar(self) -> None:
        bar = QToolBar("Run", self)
        bar.setObjectName("run-toolbar")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        style = self.style()
        for item, pixmap in (
            (self.run_action, QStyle.StandardPixmap.SP_MediaPlay),
            (self.run_profile_action, QStyle.StandardPixmap.SP_FileDialogDetailedView),
            (self.stop_action, QStyle.StandardPixmap.SP_MediaStop),
            (self.extract_action, QStyle.StandardPixmap.SP_FileDialogContentsView),
        ):
            item.setIcon(style.standardIcon(pixmap))
        bar.addAction(self.run_action)
        bar.addAction(self.run_profile_action)
        bar.addAction(self.stop_action)
        bar.addSeparator()
        self.runtime_combo = QComboBox(self)
        self.runtime_combo.addItem("Auto", "auto")
        self.runtime_combo.addItem("Python", RuntimeType.PYTHON.value)
        self.runtime_combo.addItem("Python (scientific)", RuntimeType.PYTHON_SCI.value)
        self.runtime_combo.addItem("JavaScript", RuntimeType.JAVASCRIPT.value)
        self.runtime_combo.setToolTip(
            "Guest runtime; Auto picks it from the code (Python that imports numpy, "
            "pandas, matplotlib ... runs in Python (scientific))"
        )
        self.runtime_combo.setAccessibleName("Runtime")
        bar.addWidget(QLabel(" Runtime ", self))
        bar.addWidget(self.runtime_combo)
        self.preset_combo = QComboBox(self)
        for name in list_presets():
            self.preset_combo.addItem(name, name)
        self.preset_combo.setToolTip("Policy preset: fuel, memory, timeout and output limits")
        self.preset_combo.setAccessibleName("Policy preset")
        self.preset_combo.currentIndexChanged.connect(self._preset_changed)
        bar.addWidget(QLabel(" Policy ", self))
        bar.addWidget(self.preset_combo)
        bar.addSeparator()
        bar.addAction(self.extract_action)
        self.addToolBar(bar)

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction(self.new_tab_action)
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.setToolTipsVisible(True)
        self._fill_recent_menu()
        for item in (self.save_action, self.save_as_action, self.close_tab_action):
            file_menu.addAction(item)
        edit_menu = menu.addMenu("&Edit")
        edit_menu.addAction(self.find_action)
        edit_menu.addAction(self.extract_action)
        run_menu = menu.addMenu("&Run")
        for item in (
            self.run_action,
            self.run_profile_action,
            self.run_selection_action,
            self.stop_action,
        ):
            run_menu.addAction(item)
        examples_menu = menu.addMenu("E&xamples")
        examples_menu.setToolTipsVisible(True)
        for example in load_examples():
            item = examples_menu.addAction(example.title)
            item.setToolTip(f"{example.path.name}, run under the {example.policy} preset")
            item.triggered.connect(lambda _checked=False, e=example: self.load_example(e))
        self.examples_menu = examples_menu
        view_menu = menu.addMenu("&View")
        view_menu.addAction(self.output_dock.toggleViewAction())
        view_menu.addAction(self.history_dock.toggleViewAction())
        view_menu.addAction(self.profile_dock.toggleViewAction())
        view_menu.addAction(self.policy_dock.toggleViewAction())
        view_menu.addAction(self.sessions_dock.toggleViewAction())
        view_menu.addAction(self.agent_sessions_dock.toggleViewAction())
        view_menu.addAction(self.files_dock.toggleViewAction())
        view_menu.addAction(self.result_dock.toggleViewAction())
        view_menu.addAction(self.variables_dock.toggleViewAction())
        view_menu.addAction(self.mcp_dock.toggleViewAction())
        view_menu.addAction(self.dark_action)
        view_menu.addAction(self.reset_layout_action)
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.about_action)

    # ---- Public API

    @property
    def running(self) -> bool:
        """Whether an execution is in progress."""
        return self._worker is not None

    def policy(self) -> ExecutionPolicy:
        """The policy the next run uses: the Policy dock's last valid policy."""
        return self.policy_editor.policy()

    def runtime_for(self, code: str) -> RuntimeType:
        """The runtime chosen in the combo box, or under Auto the one ``code`` needs.

        Auto detects the language, and sends Python that imports numpy, pandas,
        matplotlib ... to python-sci (see ``auto_runtime``).
        """
        chosen = self.chosen_runtime()
        if chosen is not None:
            return chosen
        language = detect_language(code) or RuntimeType.PYTHON
        return auto_runtime(language, code) or language

    def chosen_runtime(self) -> RuntimeType | None:
        """The runtime the toolbar names, or None when it says Auto."""
        choice = self.runtime_combo.currentData()
        return None if choice == "auto" else RuntimeType(choice)

    def prepare_runtimes(self) -> None:
        """Load or compile both runtimes in the background, showing progress."""
        engine = get_engine()

        def prepare() -> None:
            for runtime in RuntimeType:
                if engine.compiles_quickly(runtime):
                    engine.module(runtime, progress=self._report_progress)
                else:  # python-sci's first compile takes minutes: don't hold the others
                    engine.prepare_in_background(runtime, progress=self._report_progress)
            # Python guests also get the unpacked stdlib and the vendored packages,
            # built on first use (a download on the very first start): do it here,
            # not on the GUI thread when the first Python sandbox is created.
            add_vendor_progress_listener(self._report_progress)
            try:
                python_guest_mounts()
            finally:
                remove_vendor_progress_listener(self._report_progress)

        worker = FunctionWorker(prepare)
        worker.sig_finished.connect(self._runtimes_ready)
        worker.sig_errored.connect(self._runtimes_failed)
        self._prepare_worker = worker
        start_in_thread(worker)

    @Slot()
    def run_code(self) -> None:
        """Run the whole editor text (Ctrl+Enter).

        Pasted LLM output (prose around Markdown fences) runs the way
        ``wasm-workbench run answer.md`` does: only its code, chosen by
        :func:`~workbench.sandbox.choose_code`; the text stays as it is.
        """
        self._run(self.editor.toPlainText())

    @Slot()
    def run_with_profile(self) -> None:
        """Run the whole editor text with a fuel profile (Ctrl+Alt+Enter).

        Like Run, in a fresh sandbox or the current session; the result also
        says where the fuel went: the Profile tab lists the top lines and
        functions, and the editor's gutter shows each line's fuel.
        """
        self._run(self.editor.toPlainText(), profile=True)

    @Slot(str)
    def open_profile(self, run_id: str) -> bool:
        """Show the profile of run ``run_id`` in the Profile tab; False if it isn't kept."""
        if not self.profile_view.show_run(run_id):
            self.statusBar().showMessage("That run's profile is no longer kept.")
            return False
        self.profile_dock.show()
        self.profile_dock.raise_()
        return True

    @Slot()
    def run_selection(self) -> None:
        """Run the selected text, or the whole text if nothing is selected.

        A selection inside one fence of a pasted answer runs in that fence's
        language (when the toolbar says Auto).
        """
        cursor = self.editor.textCursor()
        selected = cursor.selectedText().replace("\u2029", "\n")
        if not selected:
            self.run_code()
            return
        first = self.editor.document().findBlock(cursor.selectionStart()).blockNumber() + 1
        last = self.editor.document().findBlock(cursor.selectionEnd()).blockNumber() + 1
        self._run(selected, language=self._fence_language(first, last), line_offset=first - 1)

    @Slot()
    def calibrate(self) -> None:
        """Run the code with a generous fuel budget and set the budget from what it used.

        The measuring run uses the policy's other limits (timeout, memory...) and
        the largest fuel budget a policy allows; its result shows as usual. It is
        profiled (fuel is the same, wall time longer), so the message names the
        line that dominates beside the budget and the Profile tab shows where the
        fuel went. A profiled run that runs out of time is measured again unprofiled.
        """
        code = self.editor.toPlainText()
        if not code.strip():
            self.statusBar().showMessage("Nothing to calibrate: the editor is empty.")
            return
        self._calibrate(code, profile=True)

    def _calibrate(self, code: str, *, profile: bool) -> None:
        self._calibrating = True
        self._run(code, policy=self.policy().with_updates(fuel_budget=MAX_FUEL), profile=profile)
        if not self.running:
            self._calibrating = False

    @Slot()
    def stop(self) -> None:
        """Stop the running execution; its result arrives as ``cancelled``."""
        for sandbox in self._sandboxes.values():
            sandbox.cancel()
        if self.sessions_panel.session is not None:
            self.sessions_panel.session.cancel()
        self.statusBar().showMessage("Stopping...")

    @Slot()
    def keep_just_the_code(self) -> None:
        """Replace LLM output (prose + fences) with its code, as one undoable edit."""
        extracted = extract_code(self.editor.toPlainText())
        if not extracted.fenced or not extracted.code:
            self.statusBar().showMessage(extracted.note or "No fenced code found.")
            return
        self.editor.replace_text_undoably(extracted.code)
        if extracted.language is not None:
            self.editor.set_language(extracted.language.value)
        self.statusBar().showMessage(f"{extracted.note} Undo (Ctrl+Z) brings the text back.")

    @Slot()
    def apply_suggested_budget(self) -> None:
        """Use the last result's suggested fuel budget for the next runs."""
        result = self._last_result
        if result is None or result.fuel_analysis is None:
            return
        budget = result.fuel_analysis.suggested_budget
        self.policy_editor.set_fuel_budget(budget)
        self.statusBar().showMessage(f"Fuel budget set to {format_fuel(budget)} for the next runs.")

    def load_example(self, example: Example) -> None:
        """Put an example in the editor, with its runtime and preset selected."""
        self.editor.replace_text_undoably(example.code())
        self.editor.set_language(example.runtime.language)
        self.runtime_combo.setCurrentIndex(self.runtime_combo.findData(example.runtime.value))
        index = self.preset_combo.findData(example.policy)
        if index >= 0:
            self.preset_combo.setCurrentIndex(index)
        self.statusBar().showMessage(f"Example: {example.title}. Run it with Ctrl+Enter.")

    @Slot(object)
    def rerun(self, record: RunRecord) -> None:
        """Run a past run's code again, in its runtime, with the current policy."""
        self.editor.replace_text_undoably(record.code)
        self.editor.set_language(record.runtime.language)
        self.runtime_combo.setCurrentIndex(self.runtime_combo.findData(record.runtime.value))
        self.run_code()

    @Slot(str)
    def _open_history_code(self, code: str) -> None:
        self.editor.replace_text_undoably(code)
        self.editor.setFocus()

    @Slot(str)
    def open_file(self, path: str) -> None:
        """Open a file in a tab (the one already showing it, or a new one)."""
        file = Path(path).resolve()
        for index, editor in enumerate(self.editors()):
            if editor.path == file:
                self.tabs.setCurrentIndex(index)
                self._remember_recent(file)
                return
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            QMessageBox.warning(
                self,
                "Could not open the file",
                f"Could not open {file}: {exc}.\nIs it a text file you can read?",
            )
            return
        current = self.editor
        if (
            current.path is None
            and not current.document().isModified()
            and not current.toPlainText()
        ):
            self.tabs.removeTab(self.tabs.indexOf(current))  # an untouched empty tab makes room
            current.deleteLater()
        self.new_tab(text, path=file, language=_language_of(file))
        self._remember_recent(file)

    # ---- Tabs

    @property
    def editor(self) -> CodeEditor:
        """The editor of the current tab (the code that Run runs)."""
        widget = self.tabs.currentWidget()
        assert isinstance(widget, CodeEditor)
        return widget

    def editors(self) -> list[CodeEditor]:
        """Every tab's editor, left to right."""
        found = [self.tabs.widget(index) for index in range(self.tabs.count())]
        return [editor for editor in found if isinstance(editor, CodeEditor)]

    def new_tab(
        self,
        text: str = "",
        *,
        path: Path | None = None,
        title: str | None = None,
        language: str | None = None,
    ) -> CodeEditor:
        """Open a tab with ``text`` and make it current."""
        editor = CodeEditor(self.tabs)
        if path is None and title is None:
            self._untitled += 1
            title = f"untitled {self._untitled}"
        editor.path = path
        editor.title = title or (path.name if path is not None else "untitled")
        if language is not None:
            editor.set_language(language)
        editor.set_dark(self._dark)
        if text:
            editor.setPlainText(text)
            editor.document().setModified(False)
        editor.textChanged.connect(self._update_extract_action)
        editor.sig_file_dropped.connect(self.open_file)
        editor.modificationChanged.connect(lambda _changed, e=editor: self._update_tab_title(e))
        index = self.tabs.addTab(editor, editor.title)
        self.tabs.setTabToolTip(index, str(path) if path is not None else editor.title)
        self.tabs.setCurrentIndex(index)
        editor.setFocus()
        return editor

    @Slot(int)
    def close_tab(self, index: int) -> bool:
        """Close a tab; unsaved changes are confirmed first. One tab always stays."""
        editor = self.tabs.widget(index)
        if not isinstance(editor, CodeEditor):
            return False
        if (
            editor.document().isModified()
            and editor.toPlainText().strip()
            and not self._confirm_discard(editor.title)
        ):
            return False
        self.tabs.removeTab(index)
        editor.deleteLater()
        if self.tabs.count() == 0:
            self.new_tab()
        return True

    @Slot()
    def close_current_tab(self) -> None:
        """Close the current tab (Ctrl+W)."""
        self.close_tab(self.tabs.currentIndex())

    def _confirm_discard(self, title: str) -> bool:
        answer = QMessageBox.question(
            self,
            "Close without saving?",
            f"{title} has changes that are not saved. Close it and lose them?",
        )
        return answer == QMessageBox.StandardButton.Yes

    def _update_tab_title(self, editor: CodeEditor) -> None:
        index = self.tabs.indexOf(editor)
        if index < 0:
            return
        modified = " *" if editor.document().isModified() else ""
        self.tabs.setTabText(index, editor.title + modified)
        self.tabs.setTabToolTip(index, str(editor.path) if editor.path else editor.title)

    @Slot(int)
    def _tab_changed(self, _index: int) -> None:
        if self.tabs.count() == 0:
            return
        self.find_bar.set_editor(self.editor)
        self._update_extract_action()
        if self.sessions_panel.session is None:
            self.setWindowTitle(f"{self.editor.title} - WASM Workbench")

    def recent_files(self) -> list[str]:
        """Files opened or saved lately, newest first (kept in the settings)."""
        value = self.settings.value("files/recent", [])
        if isinstance(value, str):  # QSettings returns a lone item as a plain string
            value = [value]
        if not isinstance(value, list):
            return []
        return [str(item) for item in value][:MAX_RECENT_FILES]

    def _remember_recent(self, file: Path) -> None:
        path = str(file.resolve())
        recent = [path] + [item for item in self.recent_files() if item != path]
        self.settings.setValue("files/recent", recent[:MAX_RECENT_FILES])
        self._fill_recent_menu()

    def _fill_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        recent = self.recent_files()
        for number, path in enumerate(recent, start=1):
            item = menu.addAction(f"&{number % 10}  {Path(path).name}")
            item.setToolTip(path)
            item.setStatusTip(path)
            item.triggered.connect(lambda _checked=False, p=path: self.open_recent(p))
        if recent:
            menu.addSeparator()
            menu.addAction("Clear the list", self.clear_recent_files)
        menu.setEnabled(bool(recent))

    def open_recent(self, path: str) -> None:
        """Open a file from File > Open recent; a file that is gone leaves the list."""
        if not Path(path).is_file():
            self.settings.setValue(
                "files/recent", [item for item in self.recent_files() if item != path]
            )
            self._fill_recent_menu()
            QMessageBox.information(
                self,
                "File not found",
                f"{path} is no longer there (moved or deleted); it was taken off the list.",
            )
            return
        self.open_file(path)

    @Slot()
    def clear_recent_files(self) -> None:
        """Forget the recent files."""
        self.settings.setValue("files/recent", [])
        self._fill_recent_menu()

    @Slot()
    def choose_file(self) -> None:
        """Ask for a file and open it."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Open code", "", "Code (*.py *.js *.mjs *.md *.txt);;All files (*)"
        )
        if path:
            self.open_file(path)

    @Slot()
    def save(self) -> None:
        """Save to the current file, or ask for a name."""
        editor = self.editor
        if editor.path is None:
            self.save_as()
            return
        try:
            editor.path.write_text(editor.toPlainText(), encoding="utf-8")
        except OSError as exc:
            QMessageBox.warning(self, "Could not save", f"Could not save {editor.path}: {exc}.")
            return
        editor.title = editor.path.name
        editor.document().setModified(False)
        self._update_tab_title(editor)
        self.statusBar().showMessage(f"Saved {editor.path}")
        self._remember_recent(editor.path)

    @Slot()
    def save_as(self) -> None:
        """Ask for a file name and save."""
        path, _ = QFileDialog.getSaveFileName(self, "Save code", "", "Code (*.py *.js)")
        if path:
            self.editor.path = Path(path).resolve()
            self.save()

    @Slot()
    def show_find(self) -> None:
        """Show the find/replace bar."""
        self.find_bar.show()
        self.find_bar.setFocus()

    @Slot()
    def show_about(self) -> None:
        """Runtimes in use with versions and SHA-256, wasmtime, the cache folder."""
        QMessageBox.about(self, "About WASM Workbench", self.about_text())

    def about_text(self) -> str:
        """The text of Help > About."""
        engine = get_engine()
        bundle = bundle_root()
        installed = (
            f"Desktop bundle (in {bundle}); it carries its own Python, Qt and runtimes"
            if bundle is not None
            else f"Python package (Python {sys.version.split()[0]}, {sys.prefix})"
        )
        lines = [
            f"WASM Workbench {__version__}",
            f"wasmtime-py {WASMTIME_VERSION}",
            f"Installed as: {installed}",
            "",
        ]
        for runtime, spec in engine.specs.items():
            lines.append(
                f"{runtime.value}: {spec.language_version} from {spec.distribution} "
                f"{spec.version}\n  sha256 {spec.sha256}"
            )
        lines += [
            "",
            f"Compiled-module cache: {engine.cache_root}",
            f"Caches (modules, Python stdlib, vendored packages): {cache_dir()}",
            f"Settings, presets and history: {config_dir()}",
        ]
        return "\n".join(lines)

    @Slot()
    def show_shortcuts(self) -> None:
        """List the keyboard shortcuts."""
        QMessageBox.information(self, "Keyboard shortcuts", self.shortcuts_text())

    def shortcuts_text(self) -> str:
        """One line per action that has a shortcut."""
        lines = []
        for item in self.actions():
            if not item.shortcut().isEmpty():
                lines.append(f"{item.shortcut().toString():>18}  {item.text()}")
        return "\n".join(lines)

    # ---- Running

    def _sandbox(self, runtime: RuntimeType) -> Sandbox:
        sandbox = self._sandboxes.get(runtime)
        if sandbox is None:
            sandbox = create_sandbox(
                runtime,
                policy=self.policy(),
                session_id=SCRATCH_SESSION,
                workspace_root=scratch_root(),
            )
            self._sandboxes[runtime] = sandbox
        return sandbox

    def _run(
        self,
        code: str,
        policy: ExecutionPolicy | None = None,
        *,
        language: RuntimeType | None = None,
        profile: bool = False,
        line_offset: int = 0,
    ) -> None:
        if self.running:
            self.statusBar().showMessage("A run is in progress; stop it first.")
            return
        if not code.strip():
            self.statusBar().showMessage("Nothing to run: the editor is empty.")
            return
        if self._prepare_worker is not None:
            self.statusBar().showMessage(
                "Still preparing the runtimes (only the first start takes long); "
                "run again in a moment."
            )
            return
        session = self.sessions_panel.session
        settled = session.runtime if session is not None else self.chosen_runtime() or language
        choice = choose_code(code, runtime=settled)
        if choice.problem:
            self._refuse_answer(choice.problem + self._answer_hint(choice.problem_kind))
            return
        code = choice.code
        runtime = settled or auto_runtime(choice.runtime, code) or self.runtime_for(code)
        target: Sandbox | Session
        try:
            policy = policy or self.policy()
            target = session if session is not None else self._sandbox(runtime)
        except Exception as exc:
            self._show_error(exc)
            return
        self._token = uuid.uuid4().hex
        self._code = code
        self._run_policy = policy
        self._line_offset = line_offset + (_answer_line_offset(choice) if choice.answer else 0)
        self._run_editor = self.editor
        self.output.clear()
        self.output_dock.raise_()  # a run's output is what the person wants to see now
        if choice.answer:
            self._write_note(
                f"Ran {choice.blocks_words} of the pasted answer; "
                "Keep just the code (Ctrl+Shift+K) to edit it."
            )
        self.truncation_banner.hide()
        # Figures come with SVG too, for the Plots dock's Save (the run pays the fuel).
        worker = ExecutionWorker(
            target, code, policy, self._token, profile=profile, figure_svg=True
        )
        worker.sig_output_ready.connect(self._drain_output)
        worker.sig_finished.connect(self._finished)
        worker.sig_errored.connect(self._errored)
        self._worker = worker
        self._update_run_state(running=True)
        profiling = " with a fuel profile" if profile else ""
        self.statusBar().showMessage(f"Running {runtime.value}{profiling}...")
        start_in_thread(worker)
        self.sig_execution_started.emit(self._token)

    def _answer_hint(self, kind: str) -> str:
        """What to do when a pasted answer can't run (see choose_code), in this window's terms."""
        session = self.sessions_panel.session
        if kind == "mixed":
            return (
                " Nothing was run. Choose Python or JavaScript under Runtime in the toolbar "
                "to run that language's blocks, or select the code of one block and use "
                "Run selection (Ctrl+Shift+Enter)."
            )
        if kind == "wrong_language" and session is not None:
            return (
                f" Nothing was run: this is a {session.runtime.value} session. Choose Fresh "
                "runs in the Sessions dock, or a session of the answer's language."
            )
        if kind == "wrong_language":
            return " Nothing was run. Set Runtime in the toolbar to Auto to run the answer's code."
        return " Nothing was run: paste Python or JavaScript code, or ask the model for some."

    def _refuse_answer(self, message: str) -> None:
        """Say in the Output why nothing ran (the editor text is left alone)."""
        self.output.clear()
        self.truncation_banner.hide()
        self.output_dock.raise_()
        self._write_note(message, self._stdout_format)  # the news, not an aside: full colour
        self.statusBar().showMessage(message)

    def _write_note(self, text: str, fmt: QTextCharFormat | None = None) -> None:
        """A line of the workbench's own in the Output, set apart from the program's."""
        cursor = self.output.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text + "\n", fmt or self._note_format)
        self.output.setTextCursor(cursor)

    def _fence_language(self, first_line: int, last_line: int) -> RuntimeType | None:
        """The language of the editor's fenced block holding lines first..last, if one does."""
        for block in extract_code(self.editor.toPlainText()).blocks:
            end = block.start_line + block.code.count("\n")
            if block.start_line <= first_line and last_line <= end:
                return block.language
        return None

    @Slot(str)
    def _drain_output(self, token: str) -> None:
        worker = self._worker
        if worker is None or token != self._token:
            return
        cursor = self.output.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        for stream, text in worker.take_output():
            fmt = self._stderr_format if stream == "stderr" else self._stdout_format
            cursor.insertText(text, fmt)
        self.output.setTextCursor(cursor)
        self.output.ensureCursorVisible()

    @Slot(str, object)
    def _finished(self, token: str, result: SandboxResult) -> None:
        if token != self._token:
            return  # a late result of an earlier run
        self._drain_output(token)
        self._worker = None
        self._last_result = result
        self._update_run_state(running=False)
        self.show_result(result)
        if self.sessions_panel.session is not None:
            self.sessions_panel.refresh()
            self.variables_panel.refresh()
        self.file_browser.refresh(created=result.files_created, modified=result.files_modified)
        self.history.add(
            RunRecord.from_result(
                self._code, self._run_policy, result, preset=self.preset_combo.currentData()
            )
        )
        self.statusBar().showMessage(result.summary().splitlines()[0])
        if result.profile is not None:
            self._keep_profile(result)
        if self._calibrating:
            self._calibrating = False
            self._finish_calibration(result)
        self.sig_execution_finished.emit(result)

    def _keep_profile(self, result: SandboxResult) -> None:
        """Hand a profiled run to the Profile tab, which shows it (and the gutter its heat)."""
        assert result.profile is not None
        self._profiles_made += 1
        session = result.session_id
        where = (
            f"session {session[:8]}"
            if session is not None and session != SCRATCH_SESSION
            else "fresh runs"
        )
        remark = ""
        if result.trap_kind is TrapKind.DEADLINE:
            remark = (
                "Profiling makes a run far slower in wall time (not in fuel): raise the "
                "timeout in the Policy tab to profile all of it."
            )
            self.statusBar().showMessage(f"The profiled run {result.trap_kind.words}. {remark}")
        run = ProfiledRun(
            run_id=result.execution_id,
            profile=result.profile,
            code=self._code,
            line_offset=self._line_offset,
            started_at=time.time() - result.duration_ms / 1000,
            where=where,
            number=self._profiles_made,
            remark=remark,
        )
        if self._run_editor is not None:
            self._profile_editors[run.run_id] = self._run_editor
        self.profile_view.add_run(run)
        kept = {item.run_id for item in self.profile_view.runs()}
        self._profile_editors = {
            key: editor for key, editor in self._profile_editors.items() if key in kept
        }
        self.profile_dock.show()  # the person asked for a profile: a closed tab comes back
        self.profile_dock.raise_()

    def _profile_editor(self, run_id: str) -> CodeEditor | None:
        """The editor tab run ``run_id`` ran from, if it is still open."""
        editor = self._profile_editors.get(run_id)
        if editor is None or not shiboken6.isValid(editor) or self.tabs.indexOf(editor) < 0:
            return None
        return editor

    @Slot(str)
    def _profile_shown(self, run_id: str) -> None:
        """Put the shown profile's heat in its editor's gutter, if the code is still there."""
        run = self.profile_view.run(run_id)
        for other in self.editors():
            other.clear_line_heat()
        editor = self._profile_editor(run_id)
        if run is None or editor is None:
            return
        if not _code_is_at(editor.toPlainText(), run.code, run.line_offset):
            self.statusBar().showMessage(
                f"The editor's code changed since run #{run.number}: its profile is in the "
                "Profile tab but not in the gutter."
            )
            return
        editor.set_line_heat(line_heat(run))

    @Slot(str, int)
    def _go_to_profile_line(self, run_id: str, line: int) -> None:
        """Show ``line`` in the editor tab the profiled run came from (else the current one)."""
        editor = self._profile_editor(run_id) or self.editor
        self.tabs.setCurrentWidget(editor)
        editor.go_to_line(line)
        editor.setFocus()

    def _finish_calibration(self, result: SandboxResult) -> None:
        if result.trap_kind is TrapKind.DEADLINE and result.profile is not None:
            # Profiling is slow in wall time, not in fuel: measure without it.
            self._calibrate(self._code, profile=False)
            if self.running:  # said after the new run has cleared the Output
                self._write_note(
                    "The profiled calibration run ran out of time (its profile is in the "
                    "Profile tab); measuring again without the profile."
                )
                return
        if result.trap_kind is not TrapKind.NONE:
            self.statusBar().showMessage(
                f"Calibration run {result.trap_kind.words}; the budget was not changed."
            )
            return
        calibration = calibrate_budget(
            result.fuel_consumed,
            self.margin_spin.value() / 100,
            profile=result.profile,
            min_budget=MIN_CALIBRATED_FUEL,
        )
        budget = min(MAX_FUEL, calibration.budget)
        self.policy_editor.set_fuel_budget(budget)
        message = f"{calibration.message} Run again with Ctrl+Enter."
        self._write_note(calibration.message)
        self.statusBar().showMessage(message)
        self.sig_calibrated.emit(calibration)

    @Slot(str, object)
    def _errored(self, token: str, exc: BaseException) -> None:
        if token != self._token:
            return
        self._calibrating = False
        self._worker = None
        self._update_run_state(running=False)
        self._show_error(exc)
        self.sig_execution_errored.emit(exc)

    def show_result(self, result: SandboxResult) -> None:
        """Fill the Result dock and the truncation banner from ``result``."""
        outcome = outcome_words(result.success, result.trap_kind, result.exit_code)
        status = f"{result.runtime.value}: {outcome}"
        if result.state_lost:
            status += "\nThe session's interpreter was restarted: its in-memory state was lost."
        self.status_label.setText(status)
        analysis = result.fuel_analysis
        share = result.fuel_consumed / result.fuel_budget if result.fuel_budget else 0.0
        self.fuel_bar.set_usage(share, analysis.status if analysis else None)
        self.fuel_label.setText(
            f"Fuel: {format_fuel(result.fuel_consumed)} of {format_fuel(result.fuel_budget)}"
            f" ({analysis.status if analysis else 'n/a'}); start-up "
            f"{format_fuel(result.startup_fuel)} not charged"
        )
        if analysis is not None:
            self.suggestion_label.setText(analysis.recommendation)
            self.apply_budget_button.setEnabled(analysis.suggested_budget != result.fuel_budget)
        self.memory_label.setText(
            f"Memory: {format_bytes(result.memory_used_bytes)} of "
            f"{format_bytes(result.memory_limit_bytes)}"
        )
        self.time_label.setText(
            f"Time: {result.duration_ms:.1f} ms"
            + (
                f" (instance start-up {result.startup_ms:.0f} ms, done ahead)"
                if result.warm_start
                else f" (+ start-up {result.startup_ms:.0f} ms)"
            )
        )
        changed = result.files_created + result.files_modified
        self.files_label.setText(f"Files changed: {', '.join(changed)}" if changed else "")
        guidance = result.error_guidance
        if guidance is not None:
            text = [f"{guidance.error_type}: {guidance.explanation}"]
            text += [f"- {fix}" for fix in guidance.fixes]
            if guidance.example:
                text += ["", "Example:", guidance.example]
            self.guidance_label.setText("\n".join(text))
            self.guidance_label.show()
        else:
            self.guidance_label.setText("")
            self.guidance_label.hide()
        banners = []
        for name in ("stdout", "stderr"):
            if getattr(result, f"{name}_truncated"):
                kept = format_bytes(len(getattr(result, f"{name}_bytes")))
                total = format_bytes(getattr(result, f"{name}_total_bytes"))
                banners.append(f"{name} was truncated: kept {kept} of {total}")
        self.truncation_banner.setText("; ".join(banners))
        self.truncation_banner.setVisible(bool(banners))

    def jump_to_traceback_line(self, text: str) -> bool:
        """Move the editor to the user-code line named in ``text``, if any.

        Understands CPython (``File "<code>", line 3``) and QuickJS
        (``<code>:3:12``) references; when the last run was one block of a
        pasted answer, the line is found inside that block. Returns whether it
        jumped.
        """
        match = _TRACEBACK_LINE.search(text)
        if match is None:
            return False
        line = int(match.group("py") or match.group("js")) + self._line_offset
        self.editor.go_to_line(line)
        self.editor.setFocus()
        return True

    # ---- Qt overrides

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Clicks on the output: follow traceback lines to the editor."""
        if (
            watched is self.output.viewport()
            and event.type() == QEvent.Type.MouseButtonRelease
            and isinstance(event, QMouseEvent)
            and event.button() == Qt.MouseButton.LeftButton
        ):
            cursor = self.output.cursorForPosition(event.position().toPoint())
            self.jump_to_traceback_line(cursor.block().text())
        return super().eventFilter(watched, event)

    # ---- Internals

    def _show_error(self, exc: BaseException) -> None:
        self.status_label.setText("The sandbox could not run the code.")
        self.guidance_label.setText(str(exc))
        self.guidance_label.show()
        self.statusBar().showMessage(str(exc).splitlines()[0] if str(exc) else repr(exc))

    def _update_run_state(self, *, running: bool) -> None:
        self.run_action.setEnabled(not running)
        self.run_profile_action.setEnabled(not running)
        self.run_selection_action.setEnabled(not running)
        self.stop_action.setEnabled(running)

    @Slot()
    def _update_extract_action(self) -> None:
        self.extract_action.setEnabled(
            "```" in self.editor.toPlainText() or "~~~" in self.editor.toPlainText()
        )

    @Slot()
    def _preset_changed(self) -> None:
        # The toolbar's quick switch; the Policy dock holds the details.
        name = self.preset_combo.currentData()
        if name and name != self.policy_editor.current_preset():
            self.policy_editor.load_preset(name)

    @Slot(object)
    def _policy_edited(self, policy: ExecutionPolicy) -> None:
        if hasattr(self, "sessions_panel"):
            self.sessions_panel.set_policy(policy)
        preset = self.policy_editor.current_preset()
        index = self.preset_combo.findData(preset)
        if index >= 0 and index != self.preset_combo.currentIndex():
            self.preset_combo.blockSignals(True)
            self.preset_combo.setCurrentIndex(index)
            self.preset_combo.blockSignals(False)

    @Slot()
    def _toggle_dark(self) -> None:
        self._dark = self.dark_action.isChecked()
        for editor in self.editors():
            editor.set_dark(self._dark)

    def _report_progress(self, event: CompileProgress | VendorProgress) -> None:
        # Called on the preparing thread: hand the text to the GUI thread.
        QTimer.singleShot(0, self, lambda: self.statusBar().showMessage(event.message))

    @Slot(object)
    def _runtimes_ready(self, _value: object) -> None:
        self._prepare_worker = None
        # Creating the sandboxes starts their warm instances now, so even the
        # first Run skips interpreter start-up.
        try:
            for runtime in RuntimeType:
                if get_engine().is_ready(runtime):
                    self._sandbox(runtime)
        except Exception as exc:
            self._show_error(exc)
            self.sig_runtimes_failed.emit(exc)
            return
        self.statusBar().showMessage("Runtimes ready.")
        self.sig_runtimes_ready.emit()

    @Slot(object)
    def _runtimes_failed(self, exc: BaseException) -> None:
        self._prepare_worker = None
        self._show_error(exc)
        self.sig_runtimes_failed.emit(exc)

    def _restore_settings(self) -> None:
        geometry = self.settings.value("window/geometry")
        self._geometry_restored = geometry is not None and self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        # restoreState refuses a layout saved under another LAYOUT_VERSION (an older
        # default, or one built on it): the current default replaces it, once.
        if state is None or not self.restoreState(state, LAYOUT_VERSION):
            QTimer.singleShot(0, self, self._default_layout)
        preset = self.settings.value("run/preset", "default")
        index = self.preset_combo.findData(preset)
        if index >= 0:
            self.preset_combo.setCurrentIndex(index)
        runtime = self.settings.value("run/runtime", "auto")
        index = self.runtime_combo.findData(runtime)
        if index >= 0:
            self.runtime_combo.setCurrentIndex(index)
        dark = self.settings.value("view/dark", False, type=bool)
        self.dark_action.setChecked(bool(dark))
        self._toggle_dark()
        self._restore_tabs()

    def _save_tabs(self) -> None:
        """Remember the open tabs, with the text of anything not saved to a file."""
        tabs = []
        for editor in self.editors():
            entry: dict[str, object] = {"title": editor.title, "language": editor.language}
            if editor.path is not None:
                entry["path"] = str(editor.path)
            unsaved = editor.path is None or editor.document().isModified()
            text = editor.toPlainText()
            if unsaved and text and len(text) <= MAX_KEPT_TAB_CHARS:
                entry["text"] = text
            elif editor.path is None:
                continue  # an empty (or huge) untitled tab: nothing worth keeping
            tabs.append(entry)
        self.settings.setValue("editor/tabs", json.dumps(tabs))
        self.settings.setValue("editor/current", self.tabs.currentIndex())

    def _restore_tabs(self) -> None:
        """Reopen the tabs of the last session of the window (unsaved text included)."""
        try:
            entries = json.loads(str(self.settings.value("editor/tabs", "[]")))
        except ValueError:
            entries = []
        if not isinstance(entries, list):
            return
        placeholder = self.editor
        restored = 0
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            path = Path(entry["path"]) if isinstance(entry.get("path"), str) else None
            language = entry.get("language")
            language = language if language in ("python", "javascript") else None
            text = entry.get("text")
            if isinstance(text, str):
                title = entry.get("title")
                editor = self.new_tab(
                    text,
                    path=path,
                    title=title if isinstance(title, str) else None,
                    language=language,
                )
                editor.document().setModified(True)
                self._update_tab_title(editor)
            elif path is not None and path.is_file():
                self.open_file(str(path))
            else:
                continue
            restored += 1
        if restored:
            self.tabs.removeTab(self.tabs.indexOf(placeholder))
            placeholder.deleteLater()
            current = self.settings.value("editor/current", 0, type=int)
            if isinstance(current, int) and 0 <= current < self.tabs.count():
                self.tabs.setCurrentIndex(current)

    def _default_layout(self) -> None:
        """Size the docks for the window: bounded side columns, the editor gets the rest.

        At 1280x800 that leaves the editor about half the width and height; on
        larger screens the side columns stop growing at their most.
        """
        width, height = self.width(), self.height()
        columns = [
            min(most, max(least, int(width * share)))
            for share, least, most in (LEFT_COLUMN, RIGHT_COLUMN)
        ]
        self.resizeDocks([self.sessions_dock, self.result_dock], columns, Qt.Orientation.Horizontal)
        self.resizeDocks(
            [self.sessions_dock, self.files_dock],
            [height * 2 // 5, height * 3 // 5],
            Qt.Orientation.Vertical,
        )
        self.resizeDocks([self.output_dock], [max(150, height * 3 // 10)], Qt.Orientation.Vertical)

    @Slot()
    def reset_layout(self) -> None:
        """Put every dock back where the default layout has it, sized for the window."""
        self._place_docks()
        self._default_layout()

    def show_on_screen(self) -> None:
        """Show the window as it was last time, or maximised on a first start.

        On a first start the window also takes the screen's available size, for
        window managers that don't maximise; the default layout sizes the docks
        for it.
        """
        if self._geometry_restored:
            self.show()
            return
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is not None:
            self.setGeometry(screen.availableGeometry())
        self.showMaximized()

    def save_settings(self) -> None:
        """Persist layout, theme, preset and runtime."""
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        self.settings.setValue("run/preset", self.preset_combo.currentData())
        self.settings.setValue("run/runtime", self.runtime_combo.currentData())
        self.settings.setValue("view/dark", self.dark_action.isChecked())
        self._save_tabs()
        self.settings.sync()
        try:
            self.history_path.parent.mkdir(parents=True, exist_ok=True)
            self.history.save(self.history_path)
        except OSError as exc:
            self.statusBar().showMessage(f"Could not save the run history: {exc}")

    def closeEvent(self, event: QCloseEvent) -> None:
        """Save settings, stop any run and release the sandboxes."""
        self.save_settings()
        self.console_dock.shutdown()
        self.mcp_dock.controller.shutdown()
        for sandbox in self._sandboxes.values():
            sandbox.close()
        if self.sessions_panel.session is not None:
            self.sessions_panel.session.close()
        super().closeEvent(event)
