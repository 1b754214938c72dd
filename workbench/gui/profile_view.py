"""The Profile dock: where a profiled run's fuel went, line by line and per function.

A run started with Run with profile returns a :class:`~workbench.sandbox.FuelProfile`
in its result. The window keeps each one as a :class:`ProfiledRun` (the profile, the
code it describes and where that code sits in the editor) and hands it to
:class:`ProfileView`, which shows:

- a summary: the fuel the code spent, the profiler's own fuel removed, the run's
  total, and the profile's note when it lacks detail (a JavaScript profile has
  functions but no lines: the view says so instead of showing an empty table);
- the top lines and functions in two sortable tables with one filter box; library
  code comes collapsed by module (``[json]``), as the core records it; clicking a
  row asks the window to show that line in the editor;
- "Compare with": an earlier profiled run, with the change in fuel per line and per
  function (cheaper in green, dearer in red). Lines are matched through a diff of
  the two runs' code, so a line keeps its counterpart when lines above it moved;
- export through the core's own exporters: the profile as JSON, speedscope's format
  and Chrome's trace-event format.

:func:`line_heat` turns a profile into the editor gutter's heat strip. Profiles are
kept in memory, the latest :data:`MAX_KEPT_PROFILES` of them; everything shown comes
from the host's fuel readings, and guest-named text (function names, source lines)
is shown as plain text only.
"""

from __future__ import annotations

import datetime
import difflib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.sandbox import FuelProfile, ProfileFunction, ProfileLine

from .editor import LineHeat

__all__ = [
    "LINE_ROLE",
    "MAX_KEPT_PROFILES",
    "SORT_ROLE",
    "ExportKind",
    "ProfileView",
    "ProfiledRun",
    "compact_fuel",
    "line_heat",
    "map_lines",
]

#: How many profiled runs the view keeps (and "Compare with" offers), newest last.
MAX_KEPT_PROFILES = 50
#: Item data role holding a cell's raw value, the one the tables sort by.
SORT_ROLE = Qt.ItemDataRole.UserRole
#: Item data role holding the 1-based line (in the code that ran) a row points at; 0: none.
LINE_ROLE = Qt.ItemDataRole.UserRole + 1
#: The widest a text column (code, function, module) starts, in pixels.
MAX_NAME_COLUMN_WIDTH = 320
CHEAPER_COLOR = "#2e7d32"
DEARER_COLOR = "#c62828"
LIBRARY_COLOR = "#6a6a6a"
#: The export formats: the profile itself, speedscope's, Chrome's trace events.
ExportKind = Literal["json", "speedscope", "chrome"]
_EXPORT_FILTERS: dict[str, tuple[str, str]] = {
    "json": ("Fuel profile (*.profile.json)", ".profile.json"),
    "speedscope": ("speedscope profile (*.speedscope.json)", ".speedscope.json"),
    "chrome": ("Chrome trace events (*.trace.json)", ".trace.json"),
}


def compact_fuel(count: int) -> str:
    """Fuel in a few characters for the gutter: ``"456"``, ``"4.9 k"``, ``"13 M"``, ``"2.1 B"``."""
    units = (("", 1), ("k", 10**3), ("M", 10**6), ("B", 10**9), ("T", 10**12))
    step = 0
    while step + 1 < len(units) and abs(count) >= units[step + 1][1]:
        step += 1
    value = count / units[step][1]
    # Rounding may reach the next unit ("999.6 k" shows as "1000 k"): say "1.0 M".
    if abs(value) >= 999.5 and step + 1 < len(units):
        step += 1
        value = count / units[step][1]
    if step == 0:
        return str(count)
    return f"{value:.1f} {units[step][0]}" if abs(value) < 9.95 else f"{value:.0f} {units[step][0]}"


def _signed_fuel(delta: int) -> str:
    """``"+1.2 M"``, ``"-340 k"`` (a true minus sign), ``"0"``: a change in fuel with its sign."""
    if delta == 0:
        return "0"
    return ("+" if delta > 0 else "\u2212") + compact_fuel(abs(delta))


@dataclass(frozen=True)
class ProfiledRun:
    """One profiled run as the window keeps it.

    Parameters
    ----------
    run_id : str
        The result's ``execution_id`` (also the run history's ``run_id``).
    profile : FuelProfile
        What the core recorded.
    code : str
        The code that ran: the profile's line numbers are its lines.
    line_offset : int
        The editor line of the code's line 1, minus 1 (a selection or one block
        of a pasted answer ran).
    started_at : float
        When the run started, in seconds since the epoch.
    where : str
        ``"fresh runs"`` or ``"session 1a2b3c4d"``.
    number : int
        Its place among the window's profiled runs, from 1.
    remark : str
        What the window adds to the profile's own note (why the run stopped early).
    """

    run_id: str
    profile: FuelProfile
    code: str
    line_offset: int = 0
    started_at: float = 0.0
    where: str = "fresh runs"
    number: int = 0
    remark: str = ""

    @property
    def label(self) -> str:
        """``"#3 16:40:12 python, fresh runs: for i in range(n):"`` for lists and titles."""
        when = datetime.datetime.fromtimestamp(self.started_at).strftime("%H:%M:%S")
        first = next((line.strip() for line in self.code.splitlines() if line.strip()), "")
        if len(first) > 40:
            first = first[:39] + "\u2026"
        return f"#{self.number} {when} {self.profile.runtime}, {self.where}: {first}"


def map_lines(old_code: str, new_code: str) -> dict[int, int]:
    """Match the lines of ``new_code`` to those of ``old_code`` (1-based, new -> old).

    Lines are matched by a diff, so a line keeps its counterpart when lines above
    it were added or removed; a line that is new or changed has none.
    """
    old_lines = [line.rstrip() for line in old_code.split("\n")]
    new_lines = [line.rstrip() for line in new_code.split("\n")]
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    mapping: dict[int, int] = {}
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            mapping[block.b + k + 1] = block.a + k + 1
    return mapping


def line_heat(run: ProfiledRun) -> dict[int, LineHeat]:
    """The gutter heat of ``run``, keyed by editor line.

    Each line shows its own fuel (calls it made to profiled functions and
    library modules excluded: their lines and rows carry that), coloured by its
    share of the hottest line's; the tooltip adds the fuel with calls, the share
    of the profile and the hits.
    """
    own: dict[int, int] = {}
    total: dict[int, int] = {}
    hits: dict[int, int] = {}
    for item in run.profile.lines:
        own[item.line] = own.get(item.line, 0) + item.self_fuel
        # Two entries on one line (a lambda in a statement) nest: the larger total holds both.
        total[item.line] = max(total.get(item.line, 0), item.total_fuel)
        hits[item.line] = max(hits.get(item.line, 0), item.hits)
    hottest = max(own.values(), default=0)
    profiled = max(1, run.profile.total_fuel)
    heat: dict[int, LineHeat] = {}
    for line, fuel in own.items():
        tooltip = (
            f"Line {line}: {fuel:,} fuel on the line itself "
            f"({100 * fuel / profiled:.1f} % of the profile), "
            f"{total[line]:,} with the calls it made; ran {hits[line]:,} "
            f"time{'s' if hits[line] != 1 else ''}."
        )
        share = fuel / hottest if hottest else 0.0
        heat[line + run.line_offset] = LineHeat(compact_fuel(fuel), share, tooltip)
    return heat


# ---- Table models


@dataclass(frozen=True)
class _Column:
    title: str
    value: Callable[[Any], Any]
    text: Callable[[Any], str] | None = None
    numeric: bool = True
    tip: str = ""


@dataclass
class _Row:
    """One table row: a profile entry and, when comparing, its change."""

    item: ProfileLine | ProfileFunction
    line: int  # the line to show in the editor (0: none)
    delta: int | None = None  # fuel against the compared run; None: no counterpart
    compared: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class _ProfileTableModel(QAbstractTableModel):
    """Rows of a profile (lines or functions) for a QTableView; read-only."""

    def __init__(self, columns: Sequence[_Column], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.rows: list[_Row] = []
        self.delta_column = next(
            (n for n, c in enumerate(self.columns) if c.title.startswith("Change")), -1
        )

    def column_of(self, title: str) -> int:
        """The index of the column titled ``title``."""
        return next(n for n, column in enumerate(self.columns) if column.title == title)

    def set_rows(self, rows: list[_Row]) -> None:
        """Replace every row."""
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    # ---- Qt overrides

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        """The number of rows (none under a valid parent: this is a flat table)."""
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        """The number of columns."""
        return 0 if parent.isValid() else len(self.columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        """Column titles and their tooltips."""
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.columns):
            return None
        column = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return column.tip or None
        return None

    def data(
        self,
        index: QModelIndex | QPersistentModelIndex,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        """Display text, raw sort values, the row's line, colours and alignment."""
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        row = self.rows[index.row()]
        column = self.columns[index.column()]
        is_delta = index.column() == self.delta_column
        if role == Qt.ItemDataRole.DisplayRole:
            if is_delta:
                if not row.compared:
                    return ""
                return "new" if row.delta is None else _signed_fuel(row.delta)
            value = column.value(row)
            return column.text(value) if column.text else str(value)
        if role == SORT_ROLE:
            if is_delta:
                return row.delta if row.delta is not None else 0
            return column.value(row)
        if role == LINE_ROLE:
            return row.line
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if column.numeric:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole:
            if is_delta and row.delta:
                return QColor(CHEAPER_COLOR if row.delta < 0 else DEARER_COLOR)
            if isinstance(row.item, ProfileFunction) and row.item.kind == "library":
                return QColor(LIBRARY_COLOR)
            return None
        if role == Qt.ItemDataRole.FontRole and isinstance(row.item, ProfileFunction):
            if row.item.kind == "library":
                font = QFont()
                font.setItalic(True)
                return font
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            if is_delta and row.compared:
                return _delta_words(row.delta, row.extra.get("against", ""))
            # Names come from the guest: tooltips (which Qt may read as rich text)
            # never carry them.
            if row.line:
                return "Click to show this line in the editor"
            if isinstance(row.item, ProfileFunction) and row.item.kind == "library":
                return "A library module: all of its code, collapsed into one row"
            return None
        return None


def _delta_words(delta: int | None, against: str) -> str:
    if delta is None:
        return f"No counterpart in {against}: the line is new or was changed."
    if delta == 0:
        return f"The same fuel as in {against}."
    words = "cheaper" if delta < 0 else "dearer"
    return f"{abs(delta):,} fuel {words} than in {against}."


def _percent(value: float) -> str:
    return f"{value:.1f} %"


# ---- The view


class ProfileView(QWidget):
    """The Profile dock's contents: summary, top lines and functions, compare, export.

    Usage::

        view = ProfileView()
        view.add_run(ProfiledRun(result.execution_id, result.profile, code, number=1))
        view.sig_line_requested.connect(lambda run_id, line: editor.go_to_line(line))
    """

    # ---- Signals

    sig_line_requested = Signal(str, int)
    """
    A row was clicked: show its line in the editor.

    Parameters
    ----------
    run_id : str
        The run whose profile the row belongs to.
    line : int
        The editor's 1-based line (the run's line offset added).
    """

    sig_run_shown = Signal(str)
    """
    The view now shows another run's profile (a new run, or one picked from the chart).

    Parameters
    ----------
    run_id : str
        The run shown.
    """

    sig_runs_changed = Signal()
    """A profiled run was added (or the oldest dropped): the set of profiled runs changed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runs: list[ProfiledRun] = []
        self._current: ProfiledRun | None = None
        self._against: ProfiledRun | None = None
        self.setAccessibleName("Fuel profile")

        self.summary_label = self._label("Fuel profile", "No profile yet. Use Run with profile.")
        self.note_label = self._label("Profile note", "")
        self.note_label.setStyleSheet("background: #fff3cd; color: #5c4400; padding: 4px;")
        self.note_label.hide()
        self.compare_label = self._label("Comparison", "")

        self.run_combo = QComboBox(self)
        self.run_combo.setAccessibleName("Profiled run")
        self.run_combo.setToolTip("The profiled run shown (the latest comes first)")
        self.run_combo.currentIndexChanged.connect(self._run_chosen)
        self.compare_combo = QComboBox(self)
        self.compare_combo.setAccessibleName("Compare with")
        self.compare_combo.setToolTip(
            "Another profiled run to compare with: the Change columns say which lines and "
            "functions got cheaper (green) or dearer (red)"
        )
        self.compare_combo.currentIndexChanged.connect(self._compare_chosen)
        self.filter_edit = QLineEdit(self)
        self.filter_edit.setPlaceholderText("Filter")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setAccessibleName("Filter")
        self.filter_edit.setToolTip("Show only rows containing this text (any column)")
        self.export_buttons: dict[str, QPushButton] = {}
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Run", self))
        controls.addWidget(self.run_combo, 1)
        controls.addWidget(QLabel("Compare with", self))
        controls.addWidget(self.compare_combo, 1)
        controls.addWidget(self.compare_label, 2)
        # The filter and the export buttons sit beside the Lines/Functions tabs.
        corner = QWidget(self)
        corner_layout = QHBoxLayout(corner)
        corner_layout.setContentsMargins(0, 0, 0, 2)
        corner_layout.addWidget(self.filter_edit)
        for kind, text, tip in (
            ("json", "JSON...", "Save the profile as JSON (lines, functions, call stacks)"),
            (
                "speedscope",
                "speedscope...",
                "Save a flame graph for speedscope.app, weighted by fuel",
            ),
            (
                "chrome",
                "Trace...",
                "Save Chrome trace events (Perfetto, chrome://tracing); 1 us is 1 instruction",
            ),
        ):
            button = QPushButton(text, self)
            button.setToolTip(tip)
            button.setAccessibleName(f"Export {kind}")
            button.setEnabled(False)
            button.clicked.connect(lambda _checked=False, k=kind: self.choose_export(k))
            corner_layout.addWidget(button)
            self.export_buttons[kind] = button

        self.lines_model = _ProfileTableModel(
            [
                _Column("Line", lambda r: r.item.line, tip="Line of the code that ran"),
                _Column(
                    "Own fuel",
                    lambda r: r.item.self_fuel,
                    lambda v: f"{v:,}",
                    tip="Fuel spent on the line itself, not in the functions it called",
                ),
                _Column(
                    "%",
                    lambda r: r.extra["share"],
                    _percent,
                    tip="Own fuel, as a share of the fuel the profile attributes",
                ),
                _Column(
                    "Change",
                    lambda r: r.delta,
                    tip="Own fuel against the compared run (green: cheaper, red: dearer)",
                ),
                _Column(
                    "With calls",
                    lambda r: r.item.total_fuel,
                    lambda v: f"{v:,}",
                    tip="Fuel spent while the line ran, calls included",
                ),
                _Column("Hits", lambda r: r.item.hits, lambda v: f"{v:,}"),
                _Column("Code", lambda r: r.item.text, numeric=False),
                _Column("Function", lambda r: r.item.function, numeric=False),
            ],
            self,
        )
        self.functions_model = _ProfileTableModel(
            [
                _Column(
                    "Function",
                    lambda r: r.item.name if r.item.kind == "user" else f"[{r.item.name}]",
                    numeric=False,
                    tip="Your functions by name; library code collapsed into [module] rows",
                ),
                _Column("Line", lambda r: r.item.first_line, lambda v: str(v) if v else ""),
                _Column("Calls", lambda r: r.item.calls, lambda v: f"{v:,}"),
                _Column(
                    "Own fuel",
                    lambda r: r.item.self_fuel,
                    lambda v: f"{v:,}",
                    tip="Fuel spent in the function's own code",
                ),
                _Column(
                    "With calls",
                    lambda r: r.item.total_fuel,
                    lambda v: f"{v:,}",
                    tip="Fuel from entry to exit, callees included",
                ),
                _Column(
                    "%",
                    lambda r: r.extra["share"],
                    _percent,
                    tip="With calls, as a share of the fuel the profile attributes",
                ),
                _Column(
                    "Change",
                    lambda r: r.delta,
                    tip="Fuel with calls against the compared run (green: cheaper, red: dearer)",
                ),
            ],
            self,
        )
        self.lines_table, self.lines_proxy = self._table(self.lines_model, "Lines", sort_column=1)
        self.functions_table, self.functions_proxy = self._table(
            self.functions_model, "Functions", sort_column=4
        )
        self.lines_empty = self._label("No line data", "")
        self.functions_empty = self._label("No function data", "")
        self.lines_stack = self._stack(self.lines_table, self.lines_empty)
        self.functions_stack = self._stack(self.functions_table, self.functions_empty)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.lines_stack, "Lines")
        self.tabs.addTab(self.functions_stack, "Functions")
        self.tabs.setCornerWidget(corner, Qt.Corner.TopRightCorner)
        self.filter_edit.textChanged.connect(self._filter)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.note_label)
        layout.addLayout(controls)
        layout.addWidget(self.tabs, 1)
        self._show(None)

    # ---- Public API

    def runs(self) -> list[ProfiledRun]:
        """The profiled runs kept, oldest first."""
        return list(self._runs)

    def run(self, run_id: str) -> ProfiledRun | None:
        """The kept profiled run ``run_id``, if any."""
        return next((run for run in self._runs if run.run_id == run_id), None)

    def current(self) -> ProfiledRun | None:
        """The run whose profile is shown."""
        return self._current

    def compared(self) -> ProfiledRun | None:
        """The run compared with, if any."""
        return self._against

    def add_run(self, run: ProfiledRun) -> None:
        """Keep ``run`` (dropping the oldest past :data:`MAX_KEPT_PROFILES`) and show it."""
        self._runs = [r for r in self._runs if r.run_id != run.run_id] + [run]
        del self._runs[:-MAX_KEPT_PROFILES]
        if self._against is not None and self.run(self._against.run_id) is None:
            self._against = None
        self._fill_run_combo()
        self.sig_runs_changed.emit()
        self.show_run(run.run_id)

    def show_run(self, run_id: str) -> bool:
        """Show the profile of ``run_id``; False if it isn't kept.

        A comparison stays on when the compared run is still another run.
        """
        run = self.run(run_id)
        if run is None:
            return False
        if self._against is not None and self._against.run_id == run_id:
            self._against = None
        self._show(run)
        self.sig_run_shown.emit(run_id)
        return True

    def compare_with(self, run_id: str | None) -> bool:
        """Compare the shown profile with the kept run ``run_id`` (None: stop comparing)."""
        against = self.run(run_id) if run_id is not None else None
        if run_id is not None and (against is None or against is self._current):
            return False
        self._against = against
        self._show(self._current)
        return True

    def export(self, kind: ExportKind, path: Path) -> None:
        """Write the shown profile to ``path`` in the ``kind`` format.

        Raises
        ------
        ValueError
            If no profile is shown.
        OSError
            If the file can't be written.
        """
        run = self._current
        if run is None:
            raise ValueError("No profile to export: run the code with Run with profile first.")
        if kind == "json":
            data = run.profile.to_json_dict()
        elif kind == "speedscope":
            data = run.profile.to_speedscope(name=f"fuel profile {run.run_id[:8]}")
        else:
            data = run.profile.to_chrome_trace()
        path.write_text(json.dumps(data), encoding="utf-8")

    @Slot()
    def choose_export(self, kind: ExportKind) -> None:
        """Ask where to save the shown profile in the ``kind`` format, then save it."""
        run = self._current
        if run is None:
            return
        name_filter, suffix = _EXPORT_FILTERS[kind]
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the fuel profile", f"run-{run.run_id[:8]}{suffix}", name_filter
        )
        if not path:
            return
        try:
            self.export(kind, Path(path))
        except OSError as exc:
            QMessageBox.warning(
                self,
                "Could not export the profile",
                f"Could not write {path}: {exc}.\nCheck the folder exists and is writable.",
            )

    # ---- Internals

    def _label(self, name: str, text: str) -> QLabel:
        # Guest-named text (functions, source lines) is shown as plain text only.
        label = QLabel(text, self)
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setAccessibleName(name)
        return label

    def _table(
        self, model: _ProfileTableModel, name: str, sort_column: int
    ) -> tuple[QTableView, QSortFilterProxyModel]:
        proxy = QSortFilterProxyModel(self)
        proxy.setSourceModel(model)
        proxy.setSortRole(SORT_ROLE)
        proxy.setFilterKeyColumn(-1)
        proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        table = QTableView(self)
        table.setModel(proxy)
        table.setAccessibleName(name)
        table.setSortingEnabled(True)
        table.sortByColumn(sort_column, Qt.SortOrder.DescendingOrder)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 6)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        table.clicked.connect(self._row_clicked)
        table.activated.connect(self._row_clicked)
        return table, proxy

    def _stack(self, table: QTableView, empty: QLabel) -> QStackedWidget:
        stack = QStackedWidget(self)
        stack.addWidget(table)
        empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty.setMargin(12)
        stack.addWidget(empty)
        return stack

    def _fill_run_combo(self) -> None:
        for combo in (self.run_combo, self.compare_combo):
            combo.blockSignals(True)
        self.run_combo.clear()
        for run in reversed(self._runs):
            self.run_combo.addItem(run.label, run.run_id)
        self.compare_combo.clear()
        self.compare_combo.addItem("(nothing)", None)
        for run in reversed(self._runs):
            if run is not self._current:
                self.compare_combo.addItem(run.label, run.run_id)
        self.run_combo.setCurrentIndex(
            self.run_combo.findData(self._current.run_id) if self._current else -1
        )
        against = self._against.run_id if self._against is not None else None
        self.compare_combo.setCurrentIndex(max(0, self.compare_combo.findData(against)))
        self.compare_combo.setEnabled(self.compare_combo.count() > 1)
        for combo in (self.run_combo, self.compare_combo):
            combo.blockSignals(False)

    def _show(self, run: ProfiledRun | None) -> None:
        self._current = run
        self._fill_run_combo()
        for button in self.export_buttons.values():
            button.setEnabled(run is not None)
        if run is None:
            self.lines_model.set_rows([])
            self.functions_model.set_rows([])
            self.lines_empty.setText("No profile yet. Run with profile (Ctrl+Alt+Enter) fills it.")
            self.functions_empty.setText(self.lines_empty.text())
            self.lines_stack.setCurrentIndex(1)
            self.functions_stack.setCurrentIndex(1)
            return
        profile = run.profile
        self.summary_label.setText(_summary(run))
        note = " ".join(text for text in (profile.note, run.remark) if text)
        self.note_label.setText(note)
        self.note_label.setVisible(bool(note))
        against = self._against
        self.lines_model.set_rows(_line_rows(run, against))
        self.functions_model.set_rows(_function_rows(run, against))
        for table, model in (
            (self.lines_table, self.lines_model),
            (self.functions_table, self.functions_model),
        ):
            table.setColumnHidden(model.delta_column, against is None)
        self.compare_label.setText(_comparison(run, against) if against is not None else "")
        detail = (
            "See the note above." if note else "The run spent no fuel in code the profiler follows."
        )
        if profile.lines:
            self.lines_stack.setCurrentIndex(0)
        else:
            self.lines_empty.setText(f"No per-line data for this run. {detail}")
            self.lines_stack.setCurrentIndex(1)
        if profile.functions:
            self.functions_stack.setCurrentIndex(0)
        else:
            self.functions_empty.setText(f"No per-function data for this run. {detail}")
            self.functions_stack.setCurrentIndex(1)
        for table, model in (
            (self.lines_table, self.lines_model),
            (self.functions_table, self.functions_model),
        ):
            table.resizeColumnsToContents()
            # Long code or qualified names don't push the other columns out of view.
            for number, column in enumerate(model.columns[:-1]):
                if not column.numeric:
                    table.setColumnWidth(
                        number, min(table.columnWidth(number), MAX_NAME_COLUMN_WIDTH)
                    )

    @Slot(int)
    def _run_chosen(self, index: int) -> None:
        run_id = self.run_combo.itemData(index)
        if isinstance(run_id, str) and (self._current is None or run_id != self._current.run_id):
            self.show_run(run_id)

    @Slot(int)
    def _compare_chosen(self, index: int) -> None:
        run_id = self.compare_combo.itemData(index)
        self.compare_with(run_id if isinstance(run_id, str) else None)

    @Slot(str)
    def _filter(self, text: str) -> None:
        for proxy in (self.lines_proxy, self.functions_proxy):
            proxy.setFilterFixedString(text)

    @Slot(QModelIndex)
    def _row_clicked(self, index: QModelIndex) -> None:
        run = self._current
        line = index.data(LINE_ROLE)
        if run is not None and isinstance(line, int) and line > 0:
            self.sig_line_requested.emit(run.run_id, line + run.line_offset)


def _summary(run: ProfiledRun) -> str:
    profile = run.profile
    head = f"Profile of run {run.label}"
    if profile.detail == "none":
        return f"{head}\nThe run used {profile.run_fuel:,} fuel ({compact_fuel(profile.run_fuel)})."
    removed = (
        f"; the profiler's own {compact_fuel(profile.overhead_fuel)} was removed"
        if profile.overhead_fuel
        else ""
    )
    return (
        f"{head}\n{profile.total_fuel:,} fuel ({compact_fuel(profile.total_fuel)}) in the code "
        f"over {profile.events:,} events{removed}. "
        f"The run's fuel: {profile.run_fuel:,}."
    )


def _comparison(run: ProfiledRun, against: ProfiledRun) -> str:
    new, old = run.profile.total_fuel, against.profile.total_fuel
    delta = new - old
    if delta == 0:
        verdict = "the same fuel"
    else:
        words = "cheaper" if delta < 0 else "dearer"
        share = f" ({100 * abs(delta) / old:.1f} %)" if old else ""
        verdict = f"{compact_fuel(abs(delta))} {words}{share}"
    return (
        f"Against #{against.number}: {compact_fuel(old)} \u2192 {compact_fuel(new)} "
        f"in the code, {verdict}."
    )


def _line_rows(run: ProfiledRun, against: ProfiledRun | None) -> list[_Row]:
    total = max(1, run.profile.total_fuel)
    old: dict[tuple[str, int], int] = {}
    mapping: dict[int, int] = {}
    if against is not None:
        mapping = map_lines(against.code, run.code)
        for item in against.profile.lines:
            key = (item.function, item.line)
            old[key] = old.get(key, 0) + item.self_fuel
    rows = []
    for item in run.profile.lines:
        row = _Row(item=item, line=item.line, extra={"share": 100 * item.self_fuel / total})
        if against is not None:
            row.compared = True
            row.extra["against"] = f"#{against.number}"
            counterpart = mapping.get(item.line)
            if counterpart is not None:
                row.delta = item.self_fuel - old.get((item.function, counterpart), 0)
        rows.append(row)
    return rows


def _function_rows(run: ProfiledRun, against: ProfiledRun | None) -> list[_Row]:
    total = max(1, run.profile.total_fuel)
    old: dict[tuple[str, str], int] = {}
    if against is not None:
        for item in against.profile.functions:
            old[(item.kind, item.name)] = item.total_fuel
    rows = []
    for item in run.profile.functions:
        line = item.first_line if item.kind == "user" else 0
        row = _Row(item=item, line=line, extra={"share": 100 * item.total_fuel / total})
        if against is not None:
            row.compared = True
            row.extra["against"] = f"#{against.number}"
            previous = old.get((item.kind, item.name))
            row.delta = item.total_fuel - previous if previous is not None else None
        rows.append(row)
    return rows
