"""The workspace file browser: a tree of one session's ``/app`` folder and a preview.

Everything goes through a :class:`~workbench.sandbox.StorageAdapter`, which
validates every path and never follows a link, so this widget never touches the
workspace folder directly. File names and contents come from untrusted guest
code: they are shown only in plain-text widgets (tree cells, ``QPlainTextEdit``,
plain-text labels, table cells), control and bidi-override characters in names
are escaped, and tooltips that carry a name are HTML-escaped first.

Layout: buttons on top, the tree (Name, Size, Modified, State) on the left, the
preview (a ``QStackedWidget``: message, text, image or CSV table) on the right,
and a plain-text status line at the bottom for notes and storage errors.

Usage::

    browser = FileBrowser()
    browser.set_workspace(storage, session_id)
    browser.refresh(result.files_created, result.files_modified)   # after a run
    browser.sig_open_in_editor_requested.connect(editor_open)
    browser.sig_workspace_changed.connect(on_files_changed)
"""

from __future__ import annotations

import contextlib
import csv
import html
import io
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QEvent,
    QModelIndex,
    QObject,
    QSize,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QFont,
    QFontDatabase,
    QImageReader,
    QPixmap,
    QResizeEvent,
    QStandardItem,
    QStandardItemModel,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGridLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from workbench.sandbox import FileInfo, SandboxError, StorageAdapter
from workbench.sandbox._policy import format_bytes

__all__ = [
    "CSV_MAX_ROWS",
    "IMAGE_SUFFIXES",
    "KIND_ROLE",
    "MAX_SHOWN_ENTRIES",
    "PATH_ROLE",
    "PREVIEW_MAX_BYTES",
    "PREVIEW_READ_LIMIT",
    "FileBrowser",
]

#: Role of the Name column whose data is the entry's workspace path ("data/out.csv").
PATH_ROLE = Qt.ItemDataRole.UserRole
#: Role of the Name column whose data is the entry's kind ("file", "dir", "symlink", "other").
KIND_ROLE = Qt.ItemDataRole.UserRole + 1

#: Most bytes of a text file shown in the preview.
PREVIEW_MAX_BYTES = 256 * 1024
#: Largest file read for a preview at all. ``read_file`` refuses files over its
#: ``max_bytes`` rather than returning a prefix, so text files between
#: PREVIEW_MAX_BYTES and this are read whole and cut; bigger ones are not previewed.
PREVIEW_READ_LIMIT = 16 * 1024 * 1024
#: Largest text file sent to the editor on double-click.
EDITOR_READ_LIMIT = 4 * 1024 * 1024
#: Rows of a CSV file shown in the table.
CSV_MAX_ROWS = 500
#: Columns of a CSV file shown in the table.
CSV_MAX_COLUMNS = 200
#: Characters of one CSV cell shown.
CSV_MAX_CELL = 1000
#: Entries put in the tree; a guest can create far more than a tree view handles well.
MAX_SHOWN_ENTRIES = 20_000
#: Images bigger than this many pixels are decoded scaled down (decompression bombs).
MAX_IMAGE_PIXELS = 4096 * 4096
#: File name endings previewed as images.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".svg"})

_COLUMNS = ("Name", "Size", "Modified", "State")
_NAME, _SIZE, _MODIFIED, _STATE = range(4)
_COLUMN_TIPS = (
    "File or folder name; folders expand",
    "Size of the file",
    "When the file was last changed",
    "'new' or 'changed' by the last run",
)
_GUEST_ROOT = "/app/"

#: Characters escaped in displayed names: C0/C1 controls, zero-width and bidi controls
#: (which could make "evil\u202egnp.exe" look like "evilexe.png").
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_TEXT_CONTROLS = re.compile(rb"[\x01-\x08\x0e-\x1a\x1c-\x1f\x7f]")


def _safe_text(untrusted: str) -> str:
    """``untrusted`` with control, zero-width and bidi characters shown as escapes."""
    return _UNSAFE_CHARS.sub(lambda m: f"\\u{ord(m.group()):04x}", untrusted)


def _plain_tooltip(untrusted: str) -> str:
    """A tooltip showing ``untrusted`` literally (tooltips otherwise guess rich text)."""
    return "<qt>" + html.escape(_safe_text(untrusted)) + "</qt>"


def _normalize(path: str) -> str:
    """A result path ("/app/data/x" or "data/x") as the relative path list_files uses."""
    if path.startswith(_GUEST_ROOT):
        path = path[len(_GUEST_ROOT) :]
    return path.strip("/")


def _looks_binary(untrusted_data: bytes) -> bool:
    """Whether a file's first bytes look like binary data rather than text."""
    sample = untrusted_data[:8192]
    if b"\x00" in sample:
        return True
    return len(_TEXT_CONTROLS.findall(sample)) > max(8, len(sample) // 20)


def _format_time(seconds: float, *, full: bool = False) -> str:
    """A short time for the Modified column: the time of day today, else the date.

    ``full`` gives date and time (the cell's tooltip). The short form keeps the
    column narrow, so the names beside it have room.
    """
    try:
        when = datetime.fromtimestamp(seconds)
    except (OverflowError, OSError, ValueError):
        return "?"
    if full:
        return when.strftime("%Y-%m-%d %H:%M:%S")
    return when.strftime("%H:%M" if when.date() == datetime.now().date() else "%Y-%m-%d")


class _ImageView(QLabel):
    """A label that shows a pixmap scaled down to fit, never up."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap = QPixmap()
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(1, 1)

    def set_image(self, pixmap: QPixmap) -> None:
        self._pixmap = pixmap
        self._rescale()

    def image(self) -> QPixmap:
        """The full-size pixmap being shown (null when none)."""
        return self._pixmap

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap.isNull():
            self.clear()
            return
        size = self._pixmap.size()
        if size.width() > self.width() or size.height() > self.height():
            size = size.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        self.setPixmap(
            self._pixmap.scaled(
                size.expandedTo(QSize(1, 1)),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )


class FileBrowser(QWidget):
    """A tree of one session's workspace with a preview pane and file actions.

    Bind it with :meth:`set_workspace`, call :meth:`refresh` after each run with
    the run's ``files_created`` / ``files_modified`` (shown bold, "new" /
    "changed"). Selecting a file previews it; double-clicking a text file emits
    :attr:`sig_open_in_editor_requested`. Add, Export, Rename, Delete and Reset
    buttons (and dropping host files on the tree) change the workspace through
    the storage adapter and then emit :attr:`sig_workspace_changed`. Storage
    errors appear in :attr:`status_label`; they are never raised.
    """

    # ---- Signals

    # Emitted after the browser changed files in the workspace.
    sig_workspace_changed = Signal()
    # Emitted with (path, text) when a text file is double-clicked, so the main
    # window can open it in the editor. ``path`` is relative to the workspace.
    sig_open_in_editor_requested = Signal(str, str)

    # Preview pages, in stack order.
    PAGE_MESSAGE, PAGE_TEXT, PAGE_IMAGE, PAGE_TABLE = range(4)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._storage: StorageAdapter | None = None
        self._session_id: str | None = None
        self._entries: dict[str, FileInfo] = {}
        self._created: set[str] = set()
        self._modified: set[str] = set()
        self._build()
        self._update_actions()

    # ---- Construction

    def _build(self) -> None:
        self.add_button = self._button(
            "Add file...", "Copy files from this computer into the workspace root", self._on_add
        )
        self.export_button = self._button(
            "Export...", "Save the selected file to a folder on this computer", self._on_export
        )
        self.rename_button = self._button(
            "Rename...", "Rename or move the selected file or folder", self._on_rename
        )
        self.delete_button = self._button(
            "Delete", "Delete the selected file, link or folder (asks first)", self._on_delete
        )
        self.reset_button = self._button(
            "Reset workspace", "Delete everything in the workspace (asks first)", self._on_reset
        )
        self.refresh_button = self._button(
            "Refresh", "Reload the list of files", lambda: self._reload()
        )
        # Two rows of three, so the dock stays narrow beside the editor.
        buttons = QGridLayout()
        for index, button in enumerate(
            (
                self.add_button,
                self.export_button,
                self.rename_button,
                self.delete_button,
                self.reset_button,
                self.refresh_button,
            )
        ):
            buttons.addWidget(button, index // 3, index % 3)

        self.model = QStandardItemModel(0, len(_COLUMNS), self)
        self.model.setHorizontalHeaderLabels(list(_COLUMNS))
        for column, tip in enumerate(_COLUMN_TIPS):
            self.model.setHeaderData(
                column, Qt.Orientation.Horizontal, tip, Qt.ItemDataRole.ToolTipRole
            )
        self.tree = QTreeView(self)
        self.tree.setModel(self.model)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.setUniformRowHeights(True)
        self.tree.setAccessibleName("Workspace files")
        self.tree.setAccessibleDescription(
            "Files of the session's workspace (/app); select one to preview it, "
            "double-click a text file to open it in the editor, drop files here to add them"
        )
        self.tree.setToolTip("Workspace files (/app); drop files here to add them")
        header = self.tree.header()
        header.setStretchLastSection(False)
        # Names first: _fit_columns gives Name the room its names need and the rest
        # of the width; Size, Modified and State take their content's width.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.tree.expanded.connect(lambda _index: self._fit_columns())
        self.tree.selectionModel().currentChanged.connect(self._on_current_changed)
        self.tree.doubleClicked.connect(self._on_double_clicked)
        self.tree.setAcceptDrops(True)
        self.tree.viewport().setAcceptDrops(True)
        self.tree.viewport().installEventFilter(self)

        self.preview_message = QLabel(self)
        self.preview_message.setTextFormat(Qt.TextFormat.PlainText)
        self.preview_message.setWordWrap(True)
        self.preview_message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_message.setAccessibleName("Preview message")
        self.text_preview = QPlainTextEdit(self)
        self.text_preview.setReadOnly(True)
        self.text_preview.setUndoRedoEnabled(False)
        self.text_preview.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text_preview.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text_preview.setAccessibleName("Text preview")
        self.image_preview = _ImageView(self)
        self.image_preview.setAccessibleName("Image preview")
        self.table_preview = QTableWidget(self)
        self.table_preview.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table_preview.setAccessibleName("CSV preview")
        self.preview = QStackedWidget(self)
        for page in (
            self.preview_message,
            self.text_preview,
            self.image_preview,
            self.table_preview,
        ):
            self.preview.addWidget(page)
        self.preview.setAccessibleName("File preview")
        self.preview_note = QLabel(self)
        self.preview_note.setTextFormat(Qt.TextFormat.PlainText)
        self.preview_note.setWordWrap(True)
        self.preview_note.setAccessibleName("Preview note")
        self.preview_note.hide()
        preview_box = QWidget(self)
        preview_layout = QVBoxLayout(preview_box)
        preview_layout.setContentsMargins(0, 0, 0, 0)
        preview_layout.addWidget(self.preview_note)
        preview_layout.addWidget(self.preview, 1)

        # The preview sits under the tree: the dock is tall and narrow.
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.tree)
        splitter.addWidget(preview_box)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)

        self.status_label = QLabel(self)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label.setAccessibleName("File browser status")

        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status_label)
        self._clear_preview()

    def _button(self, text: str, tip: str, slot: Any) -> QPushButton:
        button = QPushButton(text, self)
        button.setToolTip(tip)
        button.setAccessibleName(text.rstrip("."))
        button.setAccessibleDescription(tip)
        button.clicked.connect(slot)
        return button

    # ---- Public API

    def set_workspace(self, storage: StorageAdapter | None, session_id: str | None) -> None:
        """Show the workspace of ``session_id`` in ``storage``; ``None`` clears the view."""
        if storage is None or session_id is None:
            storage, session_id = None, None
        self._storage = storage
        self._session_id = session_id
        self._created.clear()
        self._modified.clear()
        self.status_label.clear()
        self._entries = {}
        self.model.removeRows(0, self.model.rowCount())
        self._clear_preview()
        if storage is not None:
            self._reload()
        self._update_actions()

    def workspace(self) -> tuple[StorageAdapter | None, str | None]:
        """The ``(storage, session_id)`` shown, or ``(None, None)``."""
        return self._storage, self._session_id

    def refresh(self, created: Iterable[str] = (), modified: Iterable[str] = ()) -> None:
        """Reload the listing; mark ``created`` as "new" and ``modified`` as "changed".

        Paths may be relative ("data/out.csv") or guest paths ("/app/data/out.csv"),
        as a run's ``files_created`` / ``files_modified`` are.
        """
        self._created = {_normalize(p) for p in created}
        self._modified = {_normalize(p) for p in modified} - self._created
        self._reload()

    def selected_path(self) -> str | None:
        """Workspace path of the selected entry, or ``None``."""
        index = self.tree.currentIndex()
        if not index.isValid():
            return None
        path = index.siblingAtColumn(_NAME).data(PATH_ROLE)
        return path if isinstance(path, str) else None

    def select_path(self, path: str) -> bool:
        """Select (and preview) the entry at ``path``; False if it isn't listed."""
        index = self._index_of(_normalize(path))
        if not index.isValid():
            return False
        parent = index.parent()
        while parent.isValid():
            self.tree.expand(parent)
            parent = parent.parent()
        self.tree.setCurrentIndex(index)
        self.tree.scrollTo(index)
        return True

    def add_files(self, host_paths: Sequence[str]) -> list[str]:
        """Copy host files into the workspace root; return the names added.

        Folders are skipped; a name already in the workspace is replaced only
        after confirmation. Emits :attr:`sig_workspace_changed` if anything was added.
        """
        storage, sid = self._storage, self._session_id
        if storage is None or sid is None or not host_paths:
            return []
        added: list[str] = []
        problems: list[str] = []
        for host in host_paths:
            source = Path(host)
            name = source.name
            if not source.is_file():
                problems.append(
                    f"{str(source)!r} is not a regular file, so it was not added. "
                    "Add the files inside a folder one by one."
                )
                continue
            if name in self._entries and not self._confirm(
                f"The workspace already has {_safe_text(name)!r}. Replace it?"
            ):
                continue
            try:
                storage.write_file(sid, name, source.read_bytes())
            except (SandboxError, OSError) as exc:
                problems.append(str(exc))
                continue
            added.append(name)
        if added:
            self._reload()
            self.select_path(added[-1])
        done = f"Added {', '.join(map(repr, added))}." if added else ""
        self._set_status(" ".join([done, *problems]).strip(), error=bool(problems))
        if added:
            self.sig_workspace_changed.emit()
        return added

    # ---- Dialogs (small so tests can replace them)

    def _ask_files_to_add(self) -> list[str]:
        paths, _filter = QFileDialog.getOpenFileNames(self, "Add files to the workspace")
        return list(paths)

    def _ask_export_folder(self) -> str | None:
        folder = QFileDialog.getExistingDirectory(self, "Export to folder")
        return folder or None

    def _ask_new_name(self, old: str) -> str | None:
        # The old (guest-made) name goes into the line edit, which is plain text;
        # the label stays fixed because QInputDialog labels guess rich text.
        text, ok = QInputDialog.getText(
            self,
            "Rename",
            "New name (a path with '/' moves it, relative to the workspace):",
            QLineEdit.EchoMode.Normal,
            old,
        )
        return text if ok and text else None

    def _confirm(self, question: str) -> bool:
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Workspace files")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(question)
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        return box.exec() == QMessageBox.StandardButton.Yes

    # ---- Listing

    def _reload(self) -> None:
        """Rebuild the tree from storage, keeping expanded folders and the selection."""
        storage, sid = self._storage, self._session_id
        selected = self.selected_path()
        expanded = self._expanded_paths()
        self.model.removeRows(0, self.model.rowCount())
        self._entries = {}
        if storage is None or sid is None:
            self._clear_preview()
            self._update_actions()
            return
        try:
            untrusted_infos = storage.list_files(sid)
        except (SandboxError, OSError) as exc:
            self._clear_preview()
            self._set_status(str(exc), error=True)
            self._update_actions()
            return
        shown = untrusted_infos[:MAX_SHOWN_ENTRIES]
        self._entries = {info.path: info for info in shown}
        self._build_tree(shown)
        marked = self._created | self._modified
        for path in marked:
            # Open the folders that hold what the last run touched.
            parts = path.split("/")[:-1]
            expanded.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        for path in sorted(expanded):
            index = self._index_of(path)
            if index.isValid():
                self.tree.expand(index)
        if len(untrusted_infos) > len(shown):
            self._set_status(
                f"Showing the first {len(shown):,} of {len(untrusted_infos):,} entries. "
                "Delete or reset files in the workspace to see the rest.",
                error=False,
            )
        if selected is None or not self.select_path(selected):
            self._clear_preview()
        self._fit_columns()
        self._update_actions()

    def _fit_columns(self) -> None:
        """Size the columns, names first.

        Size, Modified and State get their content's width. Name gets what its
        longest visible name needs (up to the view's width) and stretches over the
        rest; when the view is too narrow for all four, the other columns move out
        of sight behind a horizontal scroll bar rather than the names being cut.
        """
        header = self.tree.header()
        others = 0
        for column in (_SIZE, _MODIFIED, _STATE):
            width = max(header.sectionSizeHint(column), self.tree.sizeHintForColumn(column))
            header.resizeSection(column, width)
            others += width
        available = self.tree.viewport().width()
        needed = max(header.sectionSizeHint(_NAME), self.tree.sizeHintForColumn(_NAME))
        header.resizeSection(_NAME, max(available - others, min(needed, available)))

    def _build_tree(self, untrusted_infos: Sequence[FileInfo]) -> None:
        # Folder nodes by path; "" is the root. A folder missing from the listing
        # (e.g. cut off by the entry limit) is created implicitly.
        folders: dict[str, QStandardItem] = {"": self.model.invisibleRootItem()}
        by_path = {info.path: info for info in untrusted_infos}
        for info in untrusted_infos:
            parent = info.path.rpartition("/")[0]
            while parent and parent not in by_path:
                by_path[parent] = FileInfo(parent, 0, 0.0, "dir")
                parent = parent.rpartition("/")[0]
        children: dict[str, list[FileInfo]] = {}
        for info in by_path.values():
            children.setdefault(info.path.rpartition("/")[0], []).append(info)
        stack = [""]
        while stack:
            folder_path = stack.pop()
            parent_item = folders[folder_path]
            entries = sorted(
                children.get(folder_path, []),
                key=lambda i: (i.kind != "dir", i.path.rpartition("/")[2].lower()),
            )
            for info in entries:
                row = self._row(info)
                parent_item.appendRow(row)
                if info.kind == "dir" and info.path not in folders:
                    folders[info.path] = row[0]
                    stack.append(info.path)

    def _row(self, info: FileInfo) -> list[QStandardItem]:
        name = _safe_text(info.path.rpartition("/")[2])
        if info.kind == "symlink":
            name += " (link)"
        elif info.kind == "other":
            name += " (special)"
        size = format_bytes(info.size) if info.kind == "file" else ""
        state = ""
        if info.path in self._created:
            state = "new"
        elif info.path in self._modified:
            state = "changed"
        texts = [name, size, _format_time(info.modified) if info.modified else "", state]
        items = []
        for text in texts:
            item = QStandardItem(text)
            item.setEditable(False)
            item.setDropEnabled(False)
            if state:
                font = QFont(item.font())
                font.setBold(True)
                item.setFont(font)
            items.append(item)
        items[_NAME].setData(info.path, PATH_ROLE)
        items[_NAME].setData(info.kind, KIND_ROLE)
        items[_NAME].setToolTip(_plain_tooltip("/app/" + info.path))
        items[_SIZE].setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if info.kind == "file":
            items[_SIZE].setToolTip(f"{info.size:,} bytes")
        if info.modified:
            items[_MODIFIED].setToolTip(_format_time(info.modified, full=True))
        return items

    def _index_of(self, path: str) -> QModelIndex:
        """Index (Name column) of the entry at ``path``, or an invalid index."""
        if not path:
            return QModelIndex()
        parent = QModelIndex()
        prefix = ""
        for part in path.split("/"):
            prefix = f"{prefix}/{part}" if prefix else part
            for row in range(self.model.rowCount(parent)):
                index = self.model.index(row, _NAME, parent)
                if index.data(PATH_ROLE) == prefix:
                    parent = index
                    break
            else:
                return QModelIndex()
        return parent

    def _expanded_paths(self) -> set[str]:
        expanded: set[str] = set()
        stack = [QModelIndex()]
        while stack:
            parent = stack.pop()
            for row in range(self.model.rowCount(parent)):
                index = self.model.index(row, _NAME, parent)
                if self.model.hasChildren(index) and self.tree.isExpanded(index):
                    expanded.add(str(index.data(PATH_ROLE)))
                    stack.append(index)
        return expanded

    # ---- Preview

    @Slot(QModelIndex, QModelIndex)
    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._update_actions()
        self._preview(current)

    def _preview(self, index: QModelIndex) -> None:
        self._clear_preview()
        storage, sid = self._storage, self._session_id
        if not index.isValid() or storage is None or sid is None:
            return
        name_index = index.siblingAtColumn(_NAME)
        path = str(name_index.data(PATH_ROLE))
        kind = name_index.data(KIND_ROLE)
        shown = repr(_safe_text(path))
        if kind == "dir":
            self._show_message(f"Folder {shown}. Select a file in it to preview it.")
            return
        if kind == "symlink":
            self._show_message(f"{shown} is a symbolic link made by the guest.")
            self._set_status(
                f"{shown} is a symbolic link made inside the workspace; the workbench never "
                "follows links, so it is not opened. Delete it if you don't need it.",
                error=True,
            )
            return
        if kind != "file":
            self._show_message(f"{shown} is a pipe, socket or device; it can't be previewed.")
            return
        info = self._entries.get(path)
        if info is not None and info.size > PREVIEW_READ_LIMIT:
            self._show_message(
                f"{shown} is {info.size:,} bytes, too big to preview. "
                "Export it to open it with another program."
            )
            return
        try:
            untrusted_data = storage.read_file(sid, path, max_bytes=PREVIEW_READ_LIMIT)
        except (SandboxError, OSError) as exc:
            self._show_message(f"{shown} can't be previewed.")
            self._set_status(str(exc), error=True)
            return
        self.status_label.clear()
        suffix = Path(path).suffix.lower()
        if suffix in IMAGE_SUFFIXES and self._show_image(untrusted_data):
            return
        if _looks_binary(untrusted_data):
            self._show_message(f"Binary file, {len(untrusted_data):,} bytes.")
            return
        if suffix == ".csv" and self._show_csv(untrusted_data):
            return
        self._show_text(untrusted_data)

    def _show_text(self, untrusted_data: bytes) -> None:
        cut = len(untrusted_data) > PREVIEW_MAX_BYTES
        text = untrusted_data[:PREVIEW_MAX_BYTES].decode("utf-8", errors="replace")
        self.text_preview.setPlainText(text)
        self.preview.setCurrentIndex(self.PAGE_TEXT)
        if cut:
            self._set_note(
                f"Showing the first {format_bytes(PREVIEW_MAX_BYTES)} of "
                f"{len(untrusted_data):,} bytes. Export the file to see all of it."
            )

    def _show_image(self, untrusted_data: bytes) -> bool:
        buffer = QBuffer()
        buffer.setData(QByteArray(untrusted_data))
        buffer.open(QBuffer.OpenModeFlag.ReadOnly)
        reader = QImageReader(buffer)
        size = reader.size()
        if size.isValid() and size.width() * size.height() > MAX_IMAGE_PIXELS:
            reader.setScaledSize(size.scaled(4096, 4096, Qt.AspectRatioMode.KeepAspectRatio))
        image = reader.read()
        buffer.close()
        if image.isNull():
            if not _looks_binary(untrusted_data):
                return False  # e.g. an SVG without the svg image plugin: show as text
            self._show_message(
                f"Image file, {len(untrusted_data):,} bytes, that can't be decoded "
                f"({reader.errorString()}). Export it to open it with another program."
            )
            return True
        self.image_preview.set_image(QPixmap.fromImage(image))
        self.preview.setCurrentIndex(self.PAGE_IMAGE)
        self._set_note(f"Image, {size.width()} x {size.height()} pixels.")
        return True

    def _show_csv(self, untrusted_data: bytes) -> bool:
        text = untrusted_data.decode("utf-8-sig", errors="replace")
        rows: list[list[str]] = []
        more = False
        try:
            for row in csv.reader(io.StringIO(text, newline="")):
                if len(rows) == CSV_MAX_ROWS:
                    more = True
                    break
                rows.append(row)
        except csv.Error as exc:
            self._set_status(f"Shown as text: the file is not valid CSV ({exc}).", error=False)
            return False
        columns = min(max((len(r) for r in rows), default=0), CSV_MAX_COLUMNS)
        table = self.table_preview
        table.setRowCount(len(rows))
        table.setColumnCount(columns)
        for r, row in enumerate(rows):
            for c, cell in enumerate(row[:columns]):
                table.setItem(r, c, QTableWidgetItem(cell[:CSV_MAX_CELL]))
        self.preview.setCurrentIndex(self.PAGE_TABLE)
        if more:
            self._set_note(f"Showing the first {CSV_MAX_ROWS} rows. Export the file to see all.")
        return True

    def _show_message(self, text: str) -> None:
        self.preview_message.setText(text)
        self.preview.setCurrentIndex(self.PAGE_MESSAGE)

    def _set_note(self, text: str) -> None:
        self.preview_note.setText(text)
        self.preview_note.setVisible(bool(text))

    def _clear_preview(self) -> None:
        self.text_preview.clear()
        self.image_preview.set_image(QPixmap())
        self.table_preview.clear()
        self.table_preview.setRowCount(0)
        self.table_preview.setColumnCount(0)
        self._set_note("")
        self._show_message("Select a file to preview it." if self._storage else "No workspace.")

    def _set_status(self, text: str, *, error: bool) -> None:
        self.status_label.setText(text)
        # A dynamic property, so a theme's style sheet can colour errors
        # (``QLabel[error="true"]``); the text itself stays plain.
        self.status_label.setProperty("error", error)

    # ---- Actions

    def _update_actions(self) -> None:
        bound = self._storage is not None
        path = self.selected_path()
        kind = self._entries[path].kind if path in self._entries else None
        self.add_button.setEnabled(bound)
        self.reset_button.setEnabled(bound)
        self.refresh_button.setEnabled(bound)
        self.export_button.setEnabled(bound and kind == "file")
        self.rename_button.setEnabled(bound and kind is not None)
        self.delete_button.setEnabled(bound and kind is not None)
        self.tree.viewport().setAcceptDrops(bound)

    @Slot()
    def _on_add(self) -> None:
        self.add_files(self._ask_files_to_add())

    @Slot()
    def _on_export(self) -> None:
        storage, sid, path = self._storage, self._session_id, self.selected_path()
        if storage is None or sid is None or path is None:
            return
        folder = self._ask_export_folder()
        if not folder:
            return
        name = path.rpartition("/")[2]
        # The name comes from the guest: it must name one file directly in the folder.
        if name in ("", ".", "..") or any(c in name for c in "/\\\x00") or ":" in name[:2]:
            self._set_status(
                f"{_safe_text(name)!r} can't be used as a file name here. "
                "Rename it in the workspace first, then export it.",
                error=True,
            )
            return
        target = Path(folder) / name
        if (target.exists() or target.is_symlink()) and not self._confirm(
            f"{str(target)!r} already exists. Replace it?"
        ):
            return
        try:
            target.write_bytes(storage.read_file(sid, path))
        except (SandboxError, OSError) as exc:
            self._set_status(str(exc), error=True)
            return
        self._set_status(f"Exported {_safe_text(path)!r} to {str(target)!r}.", error=False)

    @Slot()
    def _on_rename(self) -> None:
        storage, sid, path = self._storage, self._session_id, self.selected_path()
        if storage is None or sid is None or path is None:
            return
        folder, _sep, old = path.rpartition("/")
        new = self._ask_new_name(old)
        if not new or new == old:
            return
        target = _normalize(new) if "/" in new else (f"{folder}/{new}" if folder else new)
        try:
            storage.rename_file(sid, path, target)
        except (SandboxError, OSError) as exc:
            self._set_status(str(exc), error=True)
            return
        self._rename_marks(path, target)
        self._reload()
        self.select_path(target)
        self._set_status(f"Renamed {_safe_text(path)!r} to {_safe_text(target)!r}.", error=False)
        self.sig_workspace_changed.emit()

    @Slot()
    def _on_delete(self) -> None:
        storage, sid, path = self._storage, self._session_id, self.selected_path()
        if storage is None or sid is None or path is None:
            return
        info = self._entries.get(path)
        what = "the folder and everything in it" if info and info.kind == "dir" else "it"
        if not self._confirm(f"Delete {_safe_text(path)!r}? This removes {what} for good."):
            return
        try:
            storage.delete_file(sid, path)
        except (SandboxError, OSError) as exc:
            self._set_status(str(exc), error=True)
            return
        self._reload()
        self._set_status(f"Deleted {_safe_text(path)!r}.", error=False)
        self.sig_workspace_changed.emit()

    @Slot()
    def _on_reset(self) -> None:
        storage, sid = self._storage, self._session_id
        if storage is None or sid is None:
            return
        if not self._confirm(
            "Delete every file in this session's workspace? The session itself stays."
        ):
            return
        try:
            storage.reset(sid)
        except (SandboxError, OSError) as exc:
            self._set_status(str(exc), error=True)
            return
        self._created.clear()
        self._modified.clear()
        self._reload()
        self._set_status("The workspace is empty.", error=False)
        self.sig_workspace_changed.emit()

    def _rename_marks(self, old: str, new: str) -> None:
        for marks in (self._created, self._modified):
            if old in marks:
                marks.discard(old)
                marks.add(new)

    @Slot(QModelIndex)
    def _on_double_clicked(self, index: QModelIndex) -> None:
        storage, sid = self._storage, self._session_id
        name_index = index.siblingAtColumn(_NAME)
        if storage is None or sid is None or name_index.data(KIND_ROLE) != "file":
            return
        path = str(name_index.data(PATH_ROLE))
        try:
            untrusted_data = storage.read_file(sid, path, max_bytes=EDITOR_READ_LIMIT)
        except (SandboxError, OSError) as exc:
            self._set_status(
                f"{exc} (The editor opens text files up to {format_bytes(EDITOR_READ_LIMIT)}.)",
                error=True,
            )
            return
        if _looks_binary(untrusted_data) or (
            Path(path).suffix.lower() in IMAGE_SUFFIXES - {".svg"}
        ):
            self._set_status(
                f"{_safe_text(path)!r} is not a text file, so it can't be opened in the editor. "
                "Export it to open it with another program.",
                error=False,
            )
            return
        self.sig_open_in_editor_requested.emit(
            path, untrusted_data.decode("utf-8", errors="replace")
        )

    # ---- Qt overrides

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Accept host files dropped on the tree and add them to the workspace."""
        if watched is self.tree.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_columns()
        if watched is self.tree.viewport() and self._storage is not None:
            if isinstance(event, (QDragEnterEvent, QDragMoveEvent)):
                if self._local_files(event):
                    event.acceptProposedAction()
                    return True
            elif isinstance(event, QDropEvent):
                files = self._local_files(event)
                if files:
                    event.acceptProposedAction()
                    self.add_files(files)
                    return True
        return super().eventFilter(watched, event)

    @staticmethod
    def _local_files(event: QDropEvent) -> list[str]:
        mime = event.mimeData()
        if mime is None or not mime.hasUrls():
            return []
        files: list[str] = []
        for url in mime.urls():
            if url.isLocalFile():
                with contextlib.suppress(ValueError):
                    files.append(url.toLocalFile())
        return files
