"""The policy editor: every ExecutionPolicy field as a form row, with presets, diff and save.

The form is generated from ``ExecutionPolicy.model_fields``, so a field added to
the model gets a row here without touching this file (an unsupported field *type*
raises ``TypeError`` at construction, and the tests catch it). Numbers are shown
and typed in human units: fuel ``2.5 B``, sizes ``128 MiB``, times ``500 ms``.

Every edit rebuilds the policy with :meth:`ExecutionPolicy.create`. A valid
result is emitted with ``sig_policy_changed``; an invalid one is shown in a
plain-text label under the form, its field's editor is marked, and the last
valid policy stays in use.

Usage::

    editor = PolicyEditor(presets_dir=config_dir() / "policies")
    editor.sig_policy_changed.connect(window.use_policy)
    editor.load_preset("conservative")
    editor.set_fuel_budget(5_000_000_000)
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.sandbox import (
    ExecutionPolicy,
    Mount,
    PolicyError,
    config_dir,
    list_presets,
    load_policy,
)
from workbench.sandbox._policy import _bounds, format_value

__all__ = ["PolicyEditor", "format_human", "parse_human"]

# ---- Human units

_FUEL_UNITS: dict[str, int | Decimal] = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}
_FUEL_DISPLAY = (("T", 10**12), ("B", 10**9), ("M", 10**6), ("k", 10**3))
_BYTE_UNITS: dict[str, int | Decimal] = {
    "": 1,
    "b": 1,
    "byte": 1,
    "bytes": 1,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
}
_BYTE_DISPLAY = (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))
_DECIMAL_BYTE_DISPLAY = (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3))
_TIME_UNITS: dict[str, int | Decimal] = {
    "": 1,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "ms": Decimal("0.001"),
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
}
_COUNT_UNITS: dict[str, int | Decimal] = {"": 1}
_UNITS = {"fuel": _FUEL_UNITS, "bytes": _BYTE_UNITS, "seconds": _TIME_UNITS, "count": _COUNT_UNITS}
_HINTS = {
    "fuel": "a number of instructions with k, M, B or T (10^3, 10^6, 10^9, 10^12), "
    "e.g. '2.5 B' or '500 M'",
    "bytes": "a size such as '128 MiB', '64 KiB', '1 GB' (KB/MB/GB are powers of 1000) "
    "or a plain number of bytes",
    "seconds": "a time such as '30 s', '500 ms' or '2 min'",
    "count": "a whole number such as '128'",
}
_NOUNS = {"fuel": "instructions", "bytes": "bytes", "seconds": "seconds", "count": "items"}
# Thousands separators are accepted only where they group digits properly, so
# a European "1,5" is refused rather than read as 15.
_NUMBER = re.compile(
    r"^\s*(?P<number>(?:\d{1,3}(?:,\d{3})+|\d+(?:_\d+)*)(?:\.\d+)?|\.\d+)"
    r"\s*(?P<unit>[A-Za-z]*)\s*$"
)


def _kind(field: str) -> str:
    info = ExecutionPolicy.model_fields.get(field)
    if info is None or info.annotation not in (int, float):
        raise ValueError(f"{field!r} is not a numeric policy setting")
    if field.endswith("_bytes"):
        return "bytes"
    if field.startswith("fuel"):
        return "fuel"
    if field.endswith("_seconds"):
        return "seconds"
    return "count"


def _plain(number: Decimal) -> str:
    """A Decimal without exponent or trailing zeros: 50, 2.5, 0.05."""
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def parse_human(field: str, text: str) -> int | float:
    """Read a value of a numeric policy field typed in human units.

    ``fuel_budget`` takes k/M/B/T (10^3/6/9/12): ``"2.5 B"``; ``*_bytes`` fields
    take KiB/MiB/GiB/TiB (powers of 1024), KB/MB/GB/TB (powers of 1000) or plain
    bytes: ``"128 MiB"``; ``timeout_seconds`` takes s, ms or min: ``"500 ms"``;
    other counts are plain whole numbers. Units are case-insensitive and
    ``1,000`` / ``1_000`` grouping is accepted. The range is not checked here
    (:meth:`ExecutionPolicy.create` does that).

    Raises
    ------
    ValueError
        If the text is not a number with a known unit for ``field`` (the
        message names the field and gives examples), or ``field`` is not numeric.
    """
    kind = _kind(field)
    hint = _HINTS[kind]
    shown = text.strip()
    if not shown:
        raise ValueError(f"{field}: no value given. Enter {hint}.")
    match = _NUMBER.match(text)
    if match is None:
        raise ValueError(f"{field}: {shown!r} is not a number. Enter {hint}.")
    unit = match["unit"]
    scale = _UNITS[kind].get(unit.lower())
    if scale is None:
        raise ValueError(f"{field}: unknown unit {unit!r} in {shown!r}. Enter {hint}.")
    value = Decimal(match["number"].replace(",", "").replace("_", "")) * scale
    if ExecutionPolicy.model_fields[field].annotation is float:
        return float(value)
    if value != value.to_integral_value():
        raise ValueError(
            f"{field}: {shown!r} is not a whole number of {_NOUNS[kind]} ({_plain(value)}). "
            f"Enter {hint}."
        )
    return int(value)


def _scaled(value: int, table: tuple[tuple[str, int], ...]) -> str | None:
    # Exact only: a unit is used when the value is a whole number of thousandths
    # of it, so what is shown parses back to the same value.
    for index, (unit, scale) in enumerate(table):
        if value >= scale and (value * 1000) % scale == 0:
            mantissa = Decimal(value * 1000 // scale) / 1000
            if index == 0 or mantissa < 1000:
                return f"{_plain(mantissa)} {unit}"
    return None


def format_human(field: str, value: float) -> str:
    """Show a numeric policy value in the units :func:`parse_human` reads back exactly.

    ``"2.5 B"`` fuel, ``"128 MiB"`` (binary units first, then ``"1 GB"``), ``"30 s"``
    / ``"500 ms"``, ``"1,000"``. Values that no unit shows exactly fall back to
    grouped digits (``"1,048,577 B"``).
    """
    kind = _kind(field)
    if kind == "seconds":
        exact = Decimal(repr(float(value)))
        if 0 < exact < 1:
            return f"{_plain(exact * 1000)} ms"
        return f"{_plain(exact)} s"
    count = int(value)
    if kind == "fuel":
        return _scaled(count, _FUEL_DISPLAY) or f"{count:,}"
    if kind == "bytes":
        return (
            _scaled(count, _BYTE_DISPLAY) or _scaled(count, _DECIMAL_BYTE_DISPLAY) or f"{count:,} B"
        )
    return f"{count:,}"


# ---- Helpers

#: list[str] fields split like a shell command line rather than at commas.
_SHELL_SPLIT_FIELDS = frozenset({"argv"})
_INVALID_STYLE = "border: 2px solid #c62828;"
_SHIPPED_NOTE = "shipped with the workbench"


def _fields_named_in(message: str) -> list[str]:
    """Policy fields a PolicyError message is about ('fuel_budget: ...', 'mounts.0.x: ...')."""
    return [
        name
        for name in ExecutionPolicy.model_fields
        if re.search(rf"(?:^|\s){re.escape(name)}[.:]", message)
    ]


def _cell(table: QTableWidget, row: int, column: int) -> str:
    item = table.item(row, column)
    return item.text() if item is not None else ""


def _preset_name_problem(name: str, shipped: set[str], folder: Path) -> str | None:
    """Why ``name`` can't be a preset file name, or None if it can."""
    if not name:
        return "Enter a name for the preset, e.g. 'my-limits'."
    if "/" in name or "\\" in name or ".." in name or (os.altsep and os.altsep in name):
        return (
            f"The preset name {name!r} can't contain '/', '\\' or '..': it becomes a file "
            f"name in {folder}. Choose a plain name such as 'my-limits'."
        )
    if not re.fullmatch(r"[\w][\w .-]*", name):
        return (
            f"The preset name {name!r} has characters a file name can't safely hold. "
            "Use letters, digits, spaces, '-', '_' and '.'."
        )
    if name in shipped:
        return (
            f"{name!r} is a preset {_SHIPPED_NOTE} and can't be replaced. "
            "Choose another name, e.g. 'my-" + name + "'."
        )
    return None


class PolicyEditor(QWidget):
    """Edit an :class:`ExecutionPolicy`: a generated form, presets, a diff and save.

    ``presets_dir`` holds the user's presets (default: ``config_dir() / "policies"``);
    they are listed after the shipped ones. :meth:`policy` is always valid: while
    the form shows a problem it is the last valid policy.

    Usage::

        editor = PolicyEditor()
        editor.sig_policy_changed.connect(lambda policy: print(policy.fuel_budget))
        editor.load_preset("conservative")
    """

    # ---- Signals

    #: Emitted with the new, valid ExecutionPolicy whenever the form's policy changes
    #: (an edit, a preset chosen, set_policy, set_fuel_budget); not for invalid input.
    sig_policy_changed = Signal(object)
    #: Emitted after "Save as preset..." wrote a file. Contains the file's path.
    sig_preset_saved = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        presets_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(parent)
        self.presets_dir = (
            Path(presets_dir) if presets_dir is not None else config_dir() / "policies"
        )
        self._policy = ExecutionPolicy()
        self._preset_name: str | None = None
        self._preset_policy: ExecutionPolicy | None = None
        self._preset_paths: dict[str, Path] = {}
        self._shipped: set[str] = set()
        # True while the form is filled from a policy: table edits then are not the user's.
        self._loading = False
        self._problems: dict[str, str] = {}
        #: The input widget of each field, by field name (QLineEdit or QTableWidget).
        self.editors: dict[str, QWidget] = {}
        #: The label of each form row, by field name.
        self.row_labels: dict[str, QLabel] = {}
        #: The Add and Remove buttons of each table field, by field name.
        self.add_buttons: dict[str, QPushButton] = {}
        self.remove_buttons: dict[str, QPushButton] = {}
        self._tooltips: dict[str, str] = {}
        self._readers: dict[str, Callable[[], Any]] = {}
        self._writers: dict[str, Callable[[Any], None]] = {}
        self._build()
        self._reload_presets()
        if "default" in self._preset_paths:
            self.load_preset("default")
        else:
            self._fill(self._policy)
            self._update_diff()

    # ---- Building

    def _build(self) -> None:
        layout = QVBoxLayout(self)

        top = QHBoxLayout()
        top.addWidget(QLabel("Preset", self))
        self.preset_combo = QComboBox(self)
        self.preset_combo.setAccessibleName("Policy preset")
        self.preset_combo.setToolTip(
            "Load a preset's limits into the form. Presets shipped with the workbench come "
            "first, then yours."
        )
        self.preset_combo.currentIndexChanged.connect(self._preset_chosen)
        # Sized by a short name, not the longest preset, so the dock fits a narrow column.
        self.preset_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.preset_combo.setMinimumContentsLength(8)
        top.addWidget(self.preset_combo, 1)
        self.save_button = QPushButton("Save as preset...", self)
        self.save_button.setAccessibleName("Save as preset")
        self.save_button.setToolTip(
            f"Save the form's policy as a preset of your own (a TOML file in {self.presets_dir})"
        )
        self.save_button.clicked.connect(self.save_as_preset)
        top.addWidget(self.save_button)
        layout.addLayout(top)

        form_box = QWidget(self)
        self.form = QFormLayout(form_box)
        # In a narrow dock a field that doesn't fit beside its label goes under it,
        # instead of the whole form scrolling sideways.
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        for name, info in ExecutionPolicy.model_fields.items():
            editor, row = self._make_editor(name, info.annotation, info.title or name)
            tip = self._field_tooltip(name)
            self._tooltips[name] = tip
            editor.setToolTip(tip)
            editor.setAccessibleName(info.title or name)
            editor.setAccessibleDescription(info.description or "")
            label = QLabel(info.title or name, form_box)
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setToolTip(tip)
            label.setBuddy(editor)
            self.form.addRow(label, row)
            self.editors[name] = editor
            self.row_labels[name] = label
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(form_box)
        scroll.setAccessibleName("Policy settings")
        layout.addWidget(scroll, 1)

        self.problem_label = self._plain_label("Policy problems")
        self.problem_label.setStyleSheet("color: #c62828;")
        self.problem_label.setToolTip("What is wrong with the form; the last valid policy is used")
        self.problem_label.hide()
        layout.addWidget(self.problem_label)
        self.status_label = self._plain_label("Policy editor status")
        self.status_label.setToolTip("The result of the last preset action")
        layout.addWidget(self.status_label)

        self.diff_title = self._plain_label("Differences from the preset, title")
        self.diff_title.setToolTip("Fields whose values differ from the chosen preset")
        layout.addWidget(self.diff_title)
        self.diff_view = QPlainTextEdit(self)
        self.diff_view.setReadOnly(True)
        self.diff_view.setPlaceholderText("Same as the preset.")
        self.diff_view.setAccessibleName("Differences from the preset")
        self.diff_view.setToolTip("Fields that differ from the chosen preset: preset -> form")
        self.diff_view.setMaximumHeight(110)
        layout.addWidget(self.diff_view)

    def _plain_label(self, name: str) -> QLabel:
        # Field values and paths come from the user or from files: never rich text.
        label = QLabel("", self)
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setAccessibleName(name)
        return label

    def _field_tooltip(self, name: str) -> str:
        info = ExecutionPolicy.model_fields[name]
        lines = [info.description or ""]
        bounds = _bounds(name)
        if bounds is not None:
            low, high = bounds
            lines.append(f"Allowed: {format_value(name, low)} to {format_value(name, high)}.")
        if info.annotation in (int, float):
            lines.append(f"Enter {_HINTS[_kind(name)]}.")
        elif info.annotation == list[str]:
            if name in _SHELL_SPLIT_FIELDS:
                lines.append("Split like a shell command line; quote arguments with spaces.")
            else:
                lines.append("Comma-separated, e.g. HOME, LANG.")
        return "\n".join(line for line in lines if line)

    def _make_editor(self, name: str, annotation: Any, title: str) -> tuple[QWidget, QWidget]:
        """The input widget of a field and the widget its form row shows."""
        if annotation in (int, float):
            edit = self._line_edit(
                name,
                lambda: parse_human(name, self._line_text(name)),
                lambda value: format_human(name, value),
            )
            return edit, edit
        if annotation == list[str]:
            if name in _SHELL_SPLIT_FIELDS:
                edit = self._line_edit(name, lambda: self._split_shell(name), shlex.join)
            else:
                edit = self._line_edit(name, lambda: self._split_commas(name), ", ".join)
            return edit, edit
        if annotation == dict[str, str]:
            table, row, _ = self._table(name, title, ("Name", "Value"))
            self._readers[name] = lambda: self._read_pairs_as_dict(name, table)
            self._writers[name] = lambda value: self._fill_table(table, list(value.items()))
            return table, row
        if annotation == list[Mount]:
            table, row, buttons = self._table(name, title, ("Host folder", "Guest path"))
            folder = QPushButton("Add folder...", row)
            folder.setAccessibleName(f"Add a folder to {title}")
            folder.setToolTip("Pick a host folder; it is shown read-only under /data/<name>")
            folder.clicked.connect(lambda: self._add_mount_folder(table))
            buttons.insertWidget(1, folder)
            #: "Add folder..." of the mounts table (asks with :meth:`_ask_directory`).
            self.mount_folder_button = folder
            self._readers[name] = lambda: self._read_mounts(table)
            self._writers[name] = lambda value: self._fill_table(
                table, [(m.host_path, m.guest_path) for m in value]
            )
            return table, row
        raise TypeError(
            f"The policy editor has no editor for field {name!r} of type {annotation!r}; "
            "add one in workbench/gui/policy_editor.py."
        )

    def _line_edit(
        self, name: str, reader: Callable[[], Any], to_text: Callable[[Any], str]
    ) -> QLineEdit:
        edit = QLineEdit(self)
        edit.textEdited.connect(self._on_edited)
        self._readers[name] = reader
        self._writers[name] = lambda value: edit.setText(to_text(value))
        return edit

    def _table(
        self, name: str, title: str, headers: tuple[str, str]
    ) -> tuple[QTableWidget, QWidget, QHBoxLayout]:
        """A two-column table with Add and Remove buttons under it."""
        row = QWidget(self)
        box = QVBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        table = QTableWidget(0, 2, row)
        table.setHorizontalHeaderLabels(list(headers))
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        table.verticalHeader().setVisible(False)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setMinimumHeight(90)
        table.itemChanged.connect(self._on_edited)
        box.addWidget(table)
        buttons = QHBoxLayout()
        add = QPushButton("Add", row)
        add.setAccessibleName(f"Add a row to {title}")
        add.setToolTip(f"Add an empty row to {title}; double-click a cell to edit it")
        add.clicked.connect(lambda: self._add_row(table))
        remove = QPushButton("Remove", row)
        remove.setAccessibleName(f"Remove rows from {title}")
        remove.setToolTip(f"Remove the selected rows of {title} (the last row if none is selected)")
        remove.clicked.connect(lambda: self._remove_rows(table))
        self.add_buttons[name] = add
        self.remove_buttons[name] = remove
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        box.addLayout(buttons)
        return table, row, buttons

    # ---- Public API

    def policy(self) -> ExecutionPolicy:
        """The current valid policy (the last valid one while the form shows a problem)."""
        return self._policy

    def has_problems(self) -> bool:
        """Whether the form holds input that doesn't make a valid policy."""
        return bool(self._problems)

    def set_policy(self, policy: ExecutionPolicy) -> None:
        """Show ``policy`` in the form (dropping invalid edits); emit if it differs."""
        self._fill(policy)
        self._show_problems({}, [])
        self._accept(policy)

    def set_fuel_budget(self, value: int) -> None:
        """Put ``value`` in the fuel field and revalidate (emits if the form is then valid).

        Raises
        ------
        PolicyError
            If ``value`` is outside the allowed range (the form is left unchanged).
        """
        self._policy.with_updates(fuel_budget=value)
        self._writers["fuel_budget"](value)
        self._revalidate()

    def current_preset(self) -> str | None:
        """The name of the preset chosen in the combo, or None if there is none."""
        return self._preset_name

    def preset_names(self) -> list[str]:
        """Preset names in combo order: the shipped ones, then the user's."""
        return list(self._preset_paths)

    def load_preset(self, name: str) -> None:
        """Choose preset ``name``: load it into the form and emit if the policy changes.

        Raises
        ------
        PolicyError
            If there is no preset of that name.
        """
        if name not in self._preset_paths:
            raise PolicyError(
                f"No policy preset named {name!r}. "
                f"Presets: {', '.join(self._preset_paths) or 'none'}."
            )
        self._select_in_combo(name)
        self._apply_preset(name)

    def diff_lines(self) -> list[str]:
        """One line per field that differs from the chosen preset: 'field: old -> new'."""
        base = self._preset_policy
        if base is None:
            return []
        lines = []
        for name in ExecutionPolicy.model_fields:
            old, new = getattr(base, name), getattr(self._policy, name)
            if old != new:
                lines.append(f"{name}: {self._display(name, old)} -> {self._display(name, new)}")
        return lines

    @Slot()
    def save_as_preset(self) -> Path | None:
        """Ask for a name and save the policy as ``<name>.toml`` in ``presets_dir``.

        An existing file is edited in place (its comments survive). Returns the
        path written, or None if cancelled or refused (the reason is shown).
        """
        if self._problems:
            self._set_status("Fix the problem shown above before saving the preset.", error=True)
            return None
        answer = self._ask_preset_name()
        if answer is None:
            return None
        name = answer.strip()
        if name.lower().endswith(".toml"):
            name = name[: -len(".toml")]
        problem = _preset_name_problem(name, self._shipped, self.presets_dir)
        if problem is not None:
            self._set_status(problem, error=True)
            return None
        path = self.presets_dir / f"{name}.toml"
        description = None if path.exists() else "Saved from the WASM Workbench policy editor."
        try:
            self.presets_dir.mkdir(parents=True, exist_ok=True)
            self._policy.save_toml(path, description)
        except (OSError, ValueError) as exc:
            self._set_status(
                f"Could not save the preset to {path}: {exc}. "
                "Check that the folder is writable and the file is valid TOML.",
                error=True,
            )
            return None
        self._reload_presets()
        self._select_in_combo(name)
        self._preset_name = name
        self._preset_policy = self._policy
        self._update_diff()
        self._set_status(f"Saved the preset {name!r} to {path}.")
        self.sig_preset_saved.emit(str(path))
        return path

    # ---- Dialogs (small so that tests can replace them)

    def _ask_preset_name(self) -> str | None:
        current = self._preset_name if self._preset_name not in self._shipped else ""
        text, ok = QInputDialog.getText(
            self,
            "Save as preset",
            f"Name of the preset (saved as <name>.toml in {self.presets_dir}):",
            QLineEdit.EchoMode.Normal,
            current or "",
        )
        return text if ok else None

    def _ask_directory(self) -> str | None:
        folder = QFileDialog.getExistingDirectory(self, "Folder to show read-only to the guest")
        return folder or None

    # ---- Reading and writing the form

    def _fill(self, policy: ExecutionPolicy) -> None:
        self._loading = True
        try:
            for name in ExecutionPolicy.model_fields:
                self._writers[name](getattr(policy, name))
        finally:
            self._loading = False

    def _fill_table(self, table: QTableWidget, rows: list[tuple[str, str]]) -> None:
        loading, self._loading = self._loading, True
        try:
            table.setRowCount(0)
            for first, second in rows:
                row = table.rowCount()
                table.insertRow(row)
                table.setItem(row, 0, QTableWidgetItem(first))
                table.setItem(row, 1, QTableWidgetItem(second))
        finally:
            self._loading = loading

    def _line_text(self, name: str) -> str:
        edit = self.editors[name]
        assert isinstance(edit, QLineEdit)
        return edit.text()

    def _split_commas(self, name: str) -> list[str]:
        return [part.strip() for part in self._line_text(name).split(",") if part.strip()]

    def _split_shell(self, name: str) -> list[str]:
        try:
            return shlex.split(self._line_text(name))
        except ValueError as exc:
            raise ValueError(
                f"{name}: {exc}. Close the quote, or escape it with a backslash."
            ) from None

    def _read_pairs_as_dict(self, name: str, table: QTableWidget) -> dict[str, str]:
        result: dict[str, str] = {}
        for row in range(table.rowCount()):
            key, value = _cell(table, row, 0).strip(), _cell(table, row, 1)
            if not key and not value:
                continue  # a blank row just added
            if not key:
                raise ValueError(
                    f"{name}: row {row + 1} has a value but no name. "
                    "Enter the variable's name or remove the row."
                )
            if key in result:
                raise ValueError(f"{name}: {key!r} is set twice. Keep one row per variable.")
            result[key] = value
        return result

    def _read_mounts(self, table: QTableWidget) -> list[dict[str, str]]:
        mounts = []
        for row in range(table.rowCount()):
            host, guest = _cell(table, row, 0).strip(), _cell(table, row, 1).strip()
            if host or guest:
                mounts.append({"host_path": host, "guest_path": guest})
        return mounts

    def _display(self, name: str, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int | float | dict | list):
            return str(value)
        if isinstance(value, int | float):
            return format_human(name, value)
        if not value:
            return "(none)"
        if isinstance(value, dict):
            return ", ".join(f"{key}={item}" for key, item in value.items())
        if isinstance(value[0], Mount):
            return "; ".join(f"{m.host_path} at {m.guest_path}" for m in value)
        return shlex.join(value) if name in _SHELL_SPLIT_FIELDS else ", ".join(value)

    # ---- Validation

    @Slot()
    def _on_edited(self) -> None:
        if not self._loading:
            self._revalidate()

    def _revalidate(self) -> bool:
        """Build the policy from the form; emit it if valid and new, else show why not."""
        problems: dict[str, str] = {}
        values: dict[str, Any] = {}
        for name in ExecutionPolicy.model_fields:
            try:
                values[name] = self._readers[name]()
            except ValueError as exc:
                problems[name] = str(exc)
        if problems:
            self._show_problems(problems, list(problems.values()))
            return False
        try:
            policy = ExecutionPolicy.create(**values)
        except PolicyError as exc:
            message = str(exc)
            self._show_problems(dict.fromkeys(_fields_named_in(message), message), [message])
            return False
        self._show_problems({}, [])
        self._accept(policy)
        return True

    def _accept(self, policy: ExecutionPolicy) -> None:
        changed = policy != self._policy
        self._policy = policy
        self._update_diff()
        if changed:
            self.sig_policy_changed.emit(policy)

    def _show_problems(self, problems: dict[str, str], messages: list[str]) -> None:
        self._problems = problems
        for name, editor in self.editors.items():
            invalid = name in problems
            editor.setProperty("invalid", invalid)
            editor.setStyleSheet(_INVALID_STYLE if invalid else "")
            tip = self._tooltips[name]
            editor.setToolTip(f"{tip}\n\nProblem: {problems[name]}" if invalid else tip)
        if messages:
            self.problem_label.setText(
                "\n".join(messages) + "\nThe last valid policy stays in use until this is fixed."
            )
        else:
            self.problem_label.setText("")
        self.problem_label.setVisible(bool(messages))
        self.save_button.setEnabled(not messages)

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.status_label.setStyleSheet("color: #c62828;" if error else "")
        self.status_label.setText(text)

    # ---- Presets

    def _reload_presets(self) -> None:
        shipped = list_presets()
        self._shipped = set(shipped)
        paths = dict(shipped)
        if self.presets_dir.is_dir():
            for file in sorted(self.presets_dir.glob("*.toml")):
                # A user file named like a shipped preset is not listed; saving
                # refuses such names.
                paths.setdefault(file.stem, file)
        self._preset_paths = paths
        self.preset_combo.blockSignals(True)
        try:
            self.preset_combo.clear()
            for name, path in paths.items():
                label = name if name in self._shipped else f"{name} (yours)"
                self.preset_combo.addItem(label, name)
                where = _SHIPPED_NOTE if name in self._shipped else str(path)
                self.preset_combo.setItemData(
                    self.preset_combo.count() - 1, where, Qt.ItemDataRole.ToolTipRole
                )
            if self._preset_name is not None:
                self._select_in_combo(self._preset_name)
        finally:
            self.preset_combo.blockSignals(False)

    def _select_in_combo(self, name: str | None) -> None:
        index = self.preset_combo.findData(name) if name is not None else -1
        self.preset_combo.blockSignals(True)
        try:
            self.preset_combo.setCurrentIndex(index)
        finally:
            self.preset_combo.blockSignals(False)

    @Slot(int)
    def _preset_chosen(self, index: int) -> None:
        name = self.preset_combo.itemData(index)
        if isinstance(name, str):
            self._apply_preset(name)

    def _apply_preset(self, name: str) -> None:
        try:
            policy = load_policy(self._preset_paths[name])
        except PolicyError as exc:
            self._select_in_combo(self._preset_name)
            self._set_status(
                f"Could not load the preset {name!r}: {exc} Fix or delete the file, "
                "or choose another preset.",
                error=True,
            )
            return
        self._preset_name = name
        self._preset_policy = policy
        self._set_status("")
        self.set_policy(policy)

    def _update_diff(self) -> None:
        name = self._preset_name
        self.diff_title.setText(
            f"Differences from the preset {name!r}:" if name else "No preset chosen."
        )
        self.diff_view.setPlainText("\n".join(self.diff_lines()))

    # ---- Table rows

    def _add_row(self, table: QTableWidget, first: str = "", second: str = "") -> None:
        loading, self._loading = self._loading, True
        try:
            row = table.rowCount()
            table.insertRow(row)
            table.setItem(row, 0, QTableWidgetItem(first))
            table.setItem(row, 1, QTableWidgetItem(second))
        finally:
            self._loading = loading
        if first or second:
            self._revalidate()
        else:
            table.setCurrentCell(row, 0)
            item = table.item(row, 0)
            if item is not None:
                table.editItem(item)

    def _remove_rows(self, table: QTableWidget) -> None:
        rows = sorted({index.row() for index in table.selectedIndexes()}, reverse=True)
        if not rows and table.rowCount():
            rows = [table.rowCount() - 1]
        for row in rows:
            table.removeRow(row)
        self._revalidate()

    def _add_mount_folder(self, table: QTableWidget) -> None:
        folder = self._ask_directory()
        if not folder:
            return
        base = re.sub(r"[^\w.-]", "_", Path(folder).name) or "folder"
        self._add_row(table, folder, str(PurePosixPath("/data") / base))
