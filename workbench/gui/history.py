"""The run history panel: a table of past runs over the core's :class:`RunHistory`.

The history itself is a plain Python collection in the headless core
(``workbench.sandbox._history``). :class:`RunHistoryModel` adapts it to Qt, as
napari's ``_base_item_model`` adapts its evented lists: it subscribes to the
history's ``inserting``/``inserted``/``removing``/``removed``/``resetting``/``reset``
notifications and turns each pair into ``beginInsertRows``/``endInsertRows`` and
friends. The model never changes the history.

Row order: **newest first**. Row 0 is the most recent run, which is where people
look; history index ``i`` is row ``len(history) - 1 - i``.

:class:`RunHistoryPanel` shows the model in a sortable table with "Open code",
"Run again" and "Compare" buttons and a plain-text area for comparisons.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from workbench.sandbox._history import RunHistory, RunRecord
from workbench.sandbox._policy import format_fuel

__all__ = ["RECORD_ROLE", "SORT_ROLE", "RunHistoryModel", "RunHistoryPanel", "format_comparison"]

#: Role whose data is the row's :class:`RunRecord`.
RECORD_ROLE = Qt.ItemDataRole.UserRole
#: Role whose data is a sortable key (a number for numeric columns).
SORT_ROLE = Qt.ItemDataRole.UserRole + 1

_AnyIndex = QModelIndex | QPersistentModelIndex


class RunHistoryModel(QAbstractTableModel):
    """A read-only table model over a :class:`RunHistory`, newest run first.

    Roles: ``DisplayRole`` short text per column, ``ToolTipRole`` the record's
    :meth:`RunRecord.summary`, ``RECORD_ROLE`` (``UserRole``) the
    :class:`RunRecord`, ``SORT_ROLE`` a key that sorts numbers as numbers.

    Usage::

        model = RunHistoryModel(history)
        view.setModel(model)
        history.add(record)   # row 0 appears in the view
    """

    # ---- Columns
    COLUMNS = ("Time", "Code", "Runtime", "Outcome", "Fuel", "Time ms")
    TIME, CODE, RUNTIME, OUTCOME, FUEL, DURATION = range(6)

    _TOOLTIPS = (
        "When the run started",
        "The first line of the code that ran",
        "The guest language",
        "How the run ended",
        "Fuel (instructions) the code used",
        "Wall-clock time of the run, in milliseconds",
    )

    def __init__(self, history: RunHistory, parent: Any = None) -> None:
        super().__init__(parent)
        self._history = history
        history.subscribe(self._on_history_event)
        self.destroyed.connect(lambda *_: history.unsubscribe(self._on_history_event))

    # ---- Public API

    @property
    def history(self) -> RunHistory:
        """The adapted history (the model never changes it)."""
        return self._history

    def record(self, row: int) -> RunRecord:
        """The record shown in ``row`` (0 is the newest)."""
        return self._history[len(self._history) - 1 - row]

    def row_of(self, run_id: str) -> int:
        """The row showing ``run_id``, or ``-1``."""
        index = self._history.index_of(run_id)
        return -1 if index < 0 else len(self._history) - 1 - index

    # ---- Qt overrides

    def rowCount(self, parent: _AnyIndex = QModelIndex()) -> int:  # noqa: B008
        """Number of runs (0 under any valid parent: this is a flat table)."""
        return 0 if parent.isValid() else len(self._history)

    def columnCount(self, parent: _AnyIndex = QModelIndex()) -> int:  # noqa: B008
        """Number of columns (0 under any valid parent)."""
        return 0 if parent.isValid() else len(self.COLUMNS)

    def data(self, index: _AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """The cell's text, tooltip, record or sort key for ``role``."""
        if not index.isValid() or not 0 <= index.row() < len(self._history):
            return None
        record = self.record(index.row())
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(record, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return record.summary()
        if role == RECORD_ROLE:
            return record
        if role == SORT_ROLE:
            return self._sort_key(record, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (self.FUEL, self.DURATION):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        """Column names and their tooltips."""
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._TOOLTIPS[section]
        return None

    def flags(self, index: _AnyIndex) -> Qt.ItemFlag:
        """Selectable and enabled; never editable."""
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled

    # ---- Internals

    def _on_history_event(self, event: str, index: int) -> None:
        # Called synchronously by the history, before and after each change, so
        # rowCount() is still the old count inside the begin* calls.
        count = len(self._history)
        if event == "inserting":
            row = count - index  # newest first; the count grows by one
            self.beginInsertRows(QModelIndex(), row, row)
        elif event == "inserted":
            self.endInsertRows()
        elif event == "removing":
            row = count - 1 - index
            self.beginRemoveRows(QModelIndex(), row, row)
        elif event == "removed":
            self.endRemoveRows()
        elif event == "resetting":
            self.beginResetModel()
        elif event == "reset":
            self.endResetModel()

    def _display(self, record: RunRecord, column: int) -> str | None:
        if column == self.TIME:
            return record.started.strftime("%H:%M:%S")
        if column == self.CODE:
            return record.excerpt
        if column == self.RUNTIME:
            return record.runtime.value
        if column == self.OUTCOME:
            return record.outcome
        if column == self.FUEL:
            return format_fuel(record.fuel_consumed)
        if column == self.DURATION:
            return f"{record.duration_ms:.1f}"
        return None

    def _sort_key(self, record: RunRecord, column: int) -> Any:
        if column == self.TIME:
            return record.started_at
        if column == self.FUEL:
            return record.fuel_consumed
        if column == self.DURATION:
            return record.duration_ms
        return self._display(record, column)


def format_comparison(a: RunRecord, b: RunRecord, rows: list[tuple[str, str, str]]) -> str:
    """Plain text for :meth:`RunHistory.compare` rows: one aligned line per metric."""
    header = (
        "Metric",
        f"A ({a.started.strftime('%H:%M:%S')})",
        f"B ({b.started.strftime('%H:%M:%S')})",
    )
    if not rows:
        return (
            f"Run A ({header[1][3:-1]}) and run B ({header[2][3:-1]}) are alike in outcome, "
            "code, cost and policy."
        )
    width0 = max(len(header[0]), *(len(r[0]) for r in rows))
    width1 = max(len(header[1]), *(len(r[1]) for r in rows))
    lines = [f"{header[0]:<{width0}}  {header[1]:<{width1}}  {header[2]}"]
    lines.append("-" * len(lines[0]))
    lines.extend(f"{m:<{width0}}  {va:<{width1}}  {vb}" for m, va, vb in rows)
    return "\n".join(lines)


class RunHistoryPanel(QWidget):
    """Past runs in a table, with Open code / Run again / Compare.

    Double-clicking a row (or pressing Enter on it) opens its code. "Compare" is
    enabled when exactly two rows are selected; it writes how they differ (older
    run as A, newer as B) into the plain-text area under the table.

    Usage::

        panel = RunHistoryPanel(history)
        panel.sig_open_code_requested.connect(editor.setPlainText)
        panel.sig_rerun_requested.connect(main_window.rerun)
    """

    # ---- Signals

    sig_open_code_requested = Signal(str)
    """
    Emitted when the user asks to open a run's code in the editor.

    Parameters
    ----------
    code: str
        The code of the run.
    """

    sig_rerun_requested = Signal(object)
    """
    Emitted when the user asks to run a past run again.

    Parameters
    ----------
    record: RunRecord
        The run; its ``code``, ``runtime``, ``policy`` and ``preset`` say how.
    """

    def __init__(self, history: RunHistory, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Run history")
        self._history = history
        self.model = RunHistoryModel(history, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)

        # ---- Table
        self.table = QTableView(self)
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(RunHistoryModel.TIME, Qt.SortOrder.DescendingOrder)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(RunHistoryModel.CODE, QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip("Past runs, newest first. Double-click a run to open its code.")
        self.table.setAccessibleName("Past runs")
        self.table.setAccessibleDescription(
            "One row per run: start time, first line of code, runtime, outcome, fuel, time."
        )

        # ---- Buttons
        self.open_button = QPushButton("Open code", self)
        self.open_button.setToolTip("Put the selected run's code in the editor")
        self.open_button.setAccessibleName("Open code of the selected run")
        self.rerun_button = QPushButton("Run again", self)
        self.rerun_button.setToolTip("Run the selected run's code again with the same policy")
        self.rerun_button.setAccessibleName("Run the selected run again")
        self.compare_button = QPushButton("Compare", self)
        self.compare_button.setToolTip("Select exactly two runs to see how they differ")
        self.compare_button.setAccessibleName("Compare the two selected runs")
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.rerun_button)
        buttons.addWidget(self.compare_button)
        buttons.addStretch(1)

        # ---- Comparison area (plain text only)
        self.comparison = QPlainTextEdit(self)
        self.comparison.setReadOnly(True)
        self.comparison.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.comparison.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.comparison.setPlaceholderText("Select two runs and press Compare.")
        self.comparison.setToolTip("How the two compared runs differ")
        self.comparison.setAccessibleName("Run comparison")

        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.table)
        top_layout.addLayout(buttons)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(top)
        splitter.addWidget(self.comparison)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        # ---- Wiring
        self.open_button.clicked.connect(self.open_selected_code)
        self.rerun_button.clicked.connect(self.rerun_selected)
        self.compare_button.clicked.connect(self.compare_selected)
        self.table.activated.connect(self._on_activated)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        for signal in (
            self.proxy.rowsInserted,
            self.proxy.rowsRemoved,
            self.proxy.modelReset,
            self.proxy.layoutChanged,
        ):
            signal.connect(self._update_buttons)
        self._update_buttons()

    # ---- Public API

    @property
    def history(self) -> RunHistory:
        """The history shown."""
        return self._history

    def selected_records(self) -> list[RunRecord]:
        """The selected runs, oldest first."""
        rows = self.table.selectionModel().selectedRows()
        records = [self.proxy.data(index, RECORD_ROLE) for index in rows]
        return sorted((r for r in records if r is not None), key=lambda r: r.started_at)

    def select_run(self, run_id: str, add: bool = False) -> bool:
        """Select the row of ``run_id`` (added to the selection if ``add``)."""
        row = self.model.row_of(run_id)
        if row < 0:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        flag = QItemSelectionModel.SelectionFlag
        flags = flag.Rows | (flag.Select if add else flag.ClearAndSelect)
        self.table.selectionModel().select(index, flags)
        return True

    # ---- Slots

    @Slot()
    def open_selected_code(self) -> None:
        """Emit :attr:`sig_open_code_requested` for the one selected run."""
        records = self.selected_records()
        if len(records) == 1:
            self.sig_open_code_requested.emit(records[0].code)

    @Slot()
    def rerun_selected(self) -> None:
        """Emit :attr:`sig_rerun_requested` for the one selected run."""
        records = self.selected_records()
        if len(records) == 1:
            self.sig_rerun_requested.emit(records[0])

    @Slot()
    def compare_selected(self) -> None:
        """Show how the two selected runs differ (older is A) in the comparison area."""
        records = self.selected_records()
        if len(records) != 2:
            return
        a, b = records
        try:
            rows = self._history.compare(a.run_id, b.run_id)
        except KeyError as exc:  # dropped from the history meanwhile
            self.comparison.setPlainText(f"Can't compare: {exc.args[0]}")
            return
        self.comparison.setPlainText(format_comparison(a, b, rows))

    # ---- Internals

    @Slot(QModelIndex)
    def _on_activated(self, index: QModelIndex) -> None:
        record = self.proxy.data(index, RECORD_ROLE)
        if record is not None:
            self.sig_open_code_requested.emit(record.code)

    @Slot(QItemSelection, QItemSelection)
    def _on_selection_changed(self, selected: QItemSelection, deselected: QItemSelection) -> None:
        self._update_buttons()

    @Slot()
    def _update_buttons(self) -> None:
        count = len(self.table.selectionModel().selectedRows())
        self.open_button.setEnabled(count == 1)
        self.rerun_button.setEnabled(count == 1)
        self.compare_button.setEnabled(count == 2)
