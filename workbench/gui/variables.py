"""The Variables dock: what a live session's interpreter holds, Spyder-style.

Rows come from :meth:`workbench.sandbox.Session.variables`, which asks the guest
itself: every type name, size and preview is plain text made inside the sandbox
by builtins only, with a size cap. The host never unpickles or evaluates guest
data, and the listing runs in a worker thread (it is a short call into wasm), so
the GUI thread never waits for it.

numpy arrays and pandas DataFrames/Series (python-sci sessions) also have a
shape and dtype (the Shape column) and their first rows, made in the guest the
same way: in the row's tooltip and in the detail pane under the table when the
row is selected.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QItemSelection, QSortFilterProxyModel, Qt, Signal, Slot
from PySide6.QtGui import QFontDatabase, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from workbench.sandbox import Session, VariableInfo

from .workers import FunctionWorker, start_in_thread

__all__ = ["VariablesPanel"]

COLUMNS = ("Name", "Type", "Size", "Shape", "Value")
SHAPE_COLUMN = COLUMNS.index("Shape")
#: Where each row keeps its VariableInfo (on the Name item).
_INFO_ROLE = Qt.ItemDataRole.UserRole + 1
_NO_SESSION = "Variables show here for live sessions. Start one in the Sessions dock."


class VariablesPanel(QWidget):
    """A filterable table of the current session's variables."""

    # ---- Signals

    #: Emitted with the list of VariableInfo after a refresh finished.
    sig_refreshed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self._worker: FunctionWorker | None = None
        self._again = False
        self._asked: Session | None = None
        self.filter = QLineEdit(self)
        self.filter.setPlaceholderText("Filter by name")
        self.filter.setAccessibleName("Filter variables by name")
        self.filter.setClearButtonEnabled(True)
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(list(COLUMNS))
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterKeyColumn(0)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = QTableView(self)
        self.table.setModel(self.proxy)
        self.table.setAccessibleName("Variables")
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        # Shapes with many dtypes are long: a fixed start width the user can change
        # (the whole text is in the tooltip), so the Value column keeps room.
        header.setSectionResizeMode(SHAPE_COLUMN, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(SHAPE_COLUMN, 120)
        header.setStretchLastSection(True)
        self.table.setWordWrap(False)  # one line per variable; the rest is elided
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        # The first rows of the selected array/DataFrame/Series: guest text, shown
        # as plain text in a fixed-width font so the table's columns line up.
        self.detail = QPlainTextEdit(self)
        self.detail.setReadOnly(True)
        self.detail.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.detail.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.detail.setAccessibleName("Variable detail")
        self.detail.hide()
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.detail)
        self.splitter.setChildrenCollapsible(False)
        self.status = QLabel(_NO_SESSION, self)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Variables status")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.filter)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.status)

    # ---- Public API

    @property
    def busy(self) -> bool:
        """Whether a refresh is running."""
        return self._worker is not None

    def set_session(self, session: Session | None) -> None:
        """Show ``session``'s variables (None: fresh runs, which keep none)."""
        self.session = session
        self._show([])
        if session is None:
            self.status.setText(_NO_SESSION)
            return
        self.refresh()

    def refresh(self) -> None:
        """Ask the session's interpreter for its variables (in a worker thread)."""
        session = self.session
        if session is None:
            return
        if self._worker is not None:
            self._again = True  # one more when the current one ends
            return
        self.status.setText("Reading variables...")
        # Bound slots (not lambdas): queued back to the GUI thread.
        worker = FunctionWorker(session.variables)
        worker.sig_finished.connect(self._loaded)
        worker.sig_errored.connect(self._failed)
        self._worker = worker
        self._asked = session
        start_in_thread(worker)

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """What the table shows, in view order: name, type, size, shape, value."""
        out = []
        for row in range(self.proxy.rowCount()):
            cells = [self.proxy.index(row, column).data() for column in range(len(COLUMNS))]
            name, kind, size, shape, value = ("" if cell is None else str(cell) for cell in cells)
            out.append((name, kind, size, shape, value))
        return out

    def select(self, name: str) -> bool:
        """Select the row of variable ``name`` (its detail shows); False if not listed."""
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, 0).data() == name:
                self.table.selectRow(row)
                return True
        return False

    # ---- Internals

    @Slot(object)
    def _loaded(self, rows: list[VariableInfo]) -> None:
        session, self._asked, self._worker = self._asked, None, None
        if session is not None and session is self.session:
            self._show(rows)
            if not session.interpreter_running:
                self.status.setText("No interpreter is running yet: run some code.")
            else:
                self.status.setText(f"{len(rows)} variables")
            self.sig_refreshed.emit(rows)
        self._maybe_again()

    @Slot(object)
    def _failed(self, exc: BaseException) -> None:
        session, self._asked, self._worker = self._asked, None, None
        if session is not None and session is self.session:
            self._show([])
            self.status.setText(f"Could not read the variables: {exc}")
            self.sig_refreshed.emit([])
        self._maybe_again()

    def _maybe_again(self) -> None:
        if self._again:
            self._again = False
            self.refresh()

    def _show(self, rows: list[VariableInfo]) -> None:
        selected = self.table.selectionModel().selectedRows(0)
        keep = selected[0].data() if selected else None
        self.model.removeRows(0, self.model.rowCount())
        self._show_detail(None)
        for info in rows:
            size = QStandardItem()
            if info.size is not None:
                size.setData(info.size, Qt.ItemDataRole.DisplayRole)
            name = QStandardItem(info.name)
            name.setData(info, _INFO_ROLE)
            items = [name, QStandardItem(info.type), size, QStandardItem(info.shape_text())]
            value = QStandardItem(info.preview)
            items.append(value)
            tip = _tooltip(_detail_text(info) if info.head else info.preview)
            for item in items:
                item.setToolTip(tip)
            self.model.appendRow(items)
        # Only arrays and tables have a shape: without one the column would take
        # the room of the values (the dock is narrow), so it shows only then.
        self.table.setColumnHidden(SHAPE_COLUMN, not any(info.shape_text() for info in rows))
        if isinstance(keep, str):
            self.select(keep)  # the same variable stays selected across refreshes

    @Slot(QItemSelection, QItemSelection)
    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = self.table.selectionModel().selectedRows(0)
        info = indexes[0].data(_INFO_ROLE) if indexes else None
        self._show_detail(info if isinstance(info, VariableInfo) else None)

    def _show_detail(self, info: VariableInfo | None) -> None:
        if info is None or not info.head:
            self.detail.clear()
            self.detail.hide()
            return
        self.detail.setPlainText(_detail_text(info))
        self.detail.show()

    @Slot()
    def clear_filter(self) -> None:
        """Show every variable again."""
        self.filter.clear()


def _detail_text(info: VariableInfo) -> str:
    """Name, type and shape, the columns with their dtypes, then the first rows."""
    lines = [f"{info.name}: {info.type}, {info.shape_text()}"]
    if info.columns:
        lines.append(f"columns: {info.columns}")
    lines += ["", info.head]
    return "\n".join(lines)


def _tooltip(untrusted_text: str) -> str:
    """Guest text as a tooltip: escaped (Qt would guess rich text), fixed-width."""
    return "<pre>" + html.escape(untrusted_text) + "</pre>"
