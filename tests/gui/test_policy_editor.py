"""The policy editor, driven through its real widgets on offscreen Qt."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtWidgets import QLineEdit, QTableWidget, QTableWidgetItem
from pytestqt.qtbot import QtBot

from workbench.gui.policy_editor import PolicyEditor, format_human, parse_human
from workbench.sandbox import ExecutionPolicy, Mount, PolicyError, list_presets, load_policy

# ---- Helpers


@pytest.fixture
def editor(qtbot: QtBot, tmp_path: Path) -> PolicyEditor:
    widget = PolicyEditor(presets_dir=tmp_path / "presets")
    qtbot.addWidget(widget)
    widget.resize(700, 900)
    widget.show()
    return widget


def line(editor: PolicyEditor, name: str) -> QLineEdit:
    widget = editor.editors[name]
    assert isinstance(widget, QLineEdit)
    return widget


def table(editor: PolicyEditor, name: str) -> QTableWidget:
    widget = editor.editors[name]
    assert isinstance(widget, QTableWidget)
    return widget


def type_into(qtbot: QtBot, editor: PolicyEditor, name: str, text: str) -> None:
    """Replace a line edit's text the way a person does: select all, then type."""
    edit = line(editor, name)
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, text)


def set_cell(grid: QTableWidget, row: int, column: int, text: str) -> None:
    # setItem emits itemChanged, as an edit in the cell does.
    grid.setItem(row, column, QTableWidgetItem(text))


def choose_preset(editor: PolicyEditor, name: str) -> None:
    editor.preset_combo.setCurrentIndex(editor.preset_combo.findData(name))


# ---- The generated form


def test_one_row_per_model_field(editor: PolicyEditor) -> None:
    fields = ExecutionPolicy.model_fields
    assert list(editor.editors) == list(fields)
    assert editor.form.rowCount() == len(fields)
    for name, info in fields.items():
        assert editor.row_labels[name].text() == info.title
        widget = editor.editors[name]
        assert widget.accessibleName() == info.title
        assert info.description
        assert info.description in widget.toolTip()


def test_tooltips_give_the_range_in_human_units(editor: PolicyEditor) -> None:
    assert "Allowed: 1 M to 1 T." in editor.editors["fuel_budget"].toolTip()
    assert "Allowed: 32 MiB to 4 GiB." in editor.editors["memory_bytes"].toolTip()
    assert "Allowed: 0.05 s to 3600 s." in editor.editors["timeout_seconds"].toolTip()


def test_every_control_has_a_tooltip_and_an_accessible_name(editor: PolicyEditor) -> None:
    from PySide6.QtWidgets import QAbstractButton, QComboBox, QPlainTextEdit

    controls = editor.findChildren(QAbstractButton) + editor.findChildren(QComboBox)
    controls += editor.findChildren(QLineEdit) + editor.findChildren(QTableWidget)
    controls += editor.findChildren(QPlainTextEdit)
    # Qt's own internal children (scroll bars' buttons, header parts) have qt_ names.
    controls = [c for c in controls if not c.objectName().startswith("qt_")]
    assert len(controls) >= len(ExecutionPolicy.model_fields) + 6
    for control in controls:
        assert control.accessibleName(), control
        assert control.toolTip(), control


def test_starts_on_the_default_preset(editor: PolicyEditor) -> None:
    assert editor.current_preset() == "default"
    assert editor.policy() == load_policy("default")
    assert line(editor, "fuel_budget").text() == "2 B"
    assert line(editor, "memory_bytes").text() == "128 MiB"
    assert line(editor, "timeout_seconds").text() == "30 s"
    assert editor.diff_lines() == []


# ---- Human units


@pytest.mark.parametrize(
    ("field", "text", "value", "shown"),
    [
        ("fuel_budget", "2.5 B", 2_500_000_000, "2.5 B"),
        ("fuel_budget", "500 M", 500_000_000, "500 M"),
        ("fuel_budget", "1 T", 10**12, "1 T"),
        ("fuel_budget", "12 k", 12_000, "12 k"),
        ("fuel_budget", "2b", 2_000_000_000, "2 B"),
        ("fuel_budget", "2,345,678,901", 2_345_678_901, "2,345,678,901"),
        ("fuel_budget", "999", 999, "999"),
        ("memory_bytes", "128 MiB", 128 * 2**20, "128 MiB"),
        ("memory_bytes", "64 KiB", 64 * 2**10, "64 KiB"),
        ("memory_bytes", "1 GiB", 2**30, "1 GiB"),
        ("memory_bytes", "1.5 GiB", 3 * 2**29, "1.5 GiB"),
        ("memory_bytes", "1 GB", 10**9, "1 GB"),
        ("stdout_max_bytes", "100 KB", 100_000, "100 KB"),
        ("stdout_max_bytes", "1_048_577", 1_048_577, "1,048,577 B"),
        ("stderr_max_bytes", "0", 0, "0 B"),
        ("workspace_max_bytes", "4096 bytes", 4096, "4 KiB"),
        ("timeout_seconds", "30 s", 30.0, "30 s"),
        ("timeout_seconds", "500 ms", 0.5, "500 ms"),
        ("timeout_seconds", "70ms", 0.07, "70 ms"),
        ("timeout_seconds", "2 min", 120.0, "120 s"),
        ("timeout_seconds", "1.25", 1.25, "1.25 s"),
        ("max_open_files", "1,000", 1000, "1,000"),
        ("workspace_max_files", "10000", 10_000, "10,000"),
    ],
)
def test_human_units_round_trip(field: str, text: str, value: float, shown: str) -> None:
    parsed = parse_human(field, text)
    assert parsed == value
    assert type(parsed) is ExecutionPolicy.model_fields[field].annotation
    assert format_human(field, parsed) == shown
    assert parse_human(field, shown) == value


@pytest.mark.parametrize(
    ("field", "text", "words"),
    [
        ("fuel_budget", "", "no value given"),
        ("fuel_budget", "lots", "is not a number"),
        ("fuel_budget", "-5 B", "is not a number"),
        ("fuel_budget", "1,5 B", "is not a number"),
        ("fuel_budget", "2 X", "unknown unit 'X'"),
        ("fuel_budget", "0.5", "not a whole number of instructions"),
        ("memory_bytes", "64 MiBs", "unknown unit"),
        ("memory_bytes", "1.1 MiB", "not a whole number of bytes"),
        ("timeout_seconds", "5 hours", "unknown unit"),
        ("max_open_files", "1.5", "not a whole number"),
        ("max_open_files", "5 k", "unknown unit"),
    ],
)
def test_human_units_errors_name_the_field(field: str, text: str, words: str) -> None:
    with pytest.raises(ValueError, match=r"^" + field + ":") as info:
        parse_human(field, text)
    assert words in str(info.value)
    assert "Enter " in str(info.value)  # and says what to type instead


def test_parse_human_refuses_non_numeric_fields() -> None:
    with pytest.raises(ValueError, match="not a numeric policy setting"):
        parse_human("env", "1")


# ---- Inline validation


def test_typing_a_fuel_budget_emits_the_new_policy(qtbot: QtBot, editor: PolicyEditor) -> None:
    with qtbot.waitSignal(
        editor.sig_policy_changed,
        check_params_cb=lambda policy: policy.fuel_budget == 5_000_000_000,
        timeout=2000,
    ):
        type_into(qtbot, editor, "fuel_budget", "5 B")
    assert editor.policy().fuel_budget == 5_000_000_000
    assert not editor.has_problems()
    assert editor.problem_label.text() == ""


@pytest.mark.parametrize(
    ("field", "text", "allowed"),
    [
        ("fuel_budget", "1 k", "Allowed: 1 M to 1 T."),
        ("memory_bytes", "10 MiB", "Allowed: 32 MiB to 4 GiB."),
    ],
)
def test_out_of_range_shows_the_field_and_range_and_emits_nothing(
    qtbot: QtBot, editor: PolicyEditor, field: str, text: str, allowed: str
) -> None:
    before = editor.policy()
    with qtbot.assertNotEmitted(editor.sig_policy_changed):
        type_into(qtbot, editor, field, text)
    message = editor.problem_label.text()
    assert message.startswith(f"{field}:")
    assert allowed in message
    assert editor.problem_label.isVisible()
    assert editor.editors[field].property("invalid") is True
    assert "border" in editor.editors[field].styleSheet()
    others = [name for name in editor.editors if name != field]
    assert all(not editor.editors[name].property("invalid") for name in others)
    assert not editor.save_button.isEnabled()
    assert editor.policy() == before  # the last valid policy stays in use


def test_fixing_the_value_clears_the_mark_and_emits(qtbot: QtBot, editor: PolicyEditor) -> None:
    type_into(qtbot, editor, "memory_bytes", "10 MiB")
    assert editor.editors["memory_bytes"].property("invalid") is True
    with qtbot.waitSignal(
        editor.sig_policy_changed,
        check_params_cb=lambda policy: policy.memory_bytes == 64 * 2**20,
        timeout=2000,
    ):
        type_into(qtbot, editor, "memory_bytes", "64 MiB")
    assert editor.editors["memory_bytes"].property("invalid") is False
    assert editor.editors["memory_bytes"].styleSheet() == ""
    assert editor.problem_label.text() == ""
    assert editor.save_button.isEnabled()


def test_unreadable_text_is_shown_and_emits_nothing(qtbot: QtBot, editor: PolicyEditor) -> None:
    with qtbot.assertNotEmitted(editor.sig_policy_changed):
        type_into(qtbot, editor, "timeout_seconds", "soon")
    assert editor.problem_label.text().startswith("timeout_seconds: 'soon' is not a number")
    assert editor.editors["timeout_seconds"].property("invalid") is True


# ---- Presets and the diff


def test_conservative_preset_loads_and_the_diff_follows_edits(
    qtbot: QtBot, editor: PolicyEditor
) -> None:
    conservative = load_policy("conservative")
    with qtbot.waitSignal(
        editor.sig_policy_changed,
        check_params_cb=lambda policy: policy == conservative,
        timeout=2000,
    ):
        choose_preset(editor, "conservative")
    assert editor.current_preset() == "conservative"
    assert editor.policy() == conservative
    assert line(editor, "fuel_budget").text() == "500 M"
    assert line(editor, "memory_bytes").text() == "64 MiB"
    assert line(editor, "timeout_seconds").text() == "5 s"
    assert editor.diff_lines() == []
    assert editor.diff_view.toPlainText() == ""

    with qtbot.waitSignal(editor.sig_policy_changed, timeout=2000):
        type_into(qtbot, editor, "timeout_seconds", "12 s")
    assert editor.diff_lines() == ["timeout_seconds: 5 s -> 12 s"]
    assert editor.diff_view.toPlainText() == "timeout_seconds: 5 s -> 12 s"
    assert "conservative" in editor.diff_title.text()


def test_presets_are_listed_shipped_first(editor: PolicyEditor) -> None:
    assert editor.preset_names() == list(list_presets())


def test_load_preset_by_name_and_unknown_name(qtbot: QtBot, editor: PolicyEditor) -> None:
    with qtbot.waitSignal(editor.sig_policy_changed, timeout=2000):
        editor.load_preset("document-processing")
    assert editor.preset_combo.currentData() == "document-processing"
    assert editor.policy() == load_policy("document-processing")
    with pytest.raises(PolicyError, match="No policy preset named 'nope'"):
        editor.load_preset("nope")


def test_choosing_a_preset_drops_invalid_edits(qtbot: QtBot, editor: PolicyEditor) -> None:
    type_into(qtbot, editor, "fuel_budget", "1 k")
    assert editor.has_problems()
    choose_preset(editor, "conservative")
    assert not editor.has_problems()
    assert editor.editors["fuel_budget"].property("invalid") is False
    assert line(editor, "fuel_budget").text() == "500 M"


# ---- Saving presets


def test_save_as_preset_writes_a_file_load_policy_reads_back(
    qtbot: QtBot, editor: PolicyEditor, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    type_into(qtbot, editor, "fuel_budget", "7 B")
    monkeypatch.setattr(editor, "_ask_preset_name", lambda: "mine")
    target = tmp_path / "presets" / "mine.toml"
    with qtbot.waitSignal(
        editor.sig_preset_saved, check_params_cb=lambda path: path == str(target), timeout=2000
    ):
        editor.save_button.click()
    assert target.exists()
    assert load_policy(target) == editor.policy()
    assert load_policy(target).fuel_budget == 7_000_000_000
    # The new preset is listed after the shipped ones, chosen, and nothing differs.
    assert editor.preset_names() == [*list_presets(), "mine"]
    assert editor.current_preset() == "mine"
    assert editor.diff_lines() == []
    assert "mine.toml" in editor.status_label.text()


def test_saving_over_a_file_keeps_its_comments(
    qtbot: QtBot, editor: PolicyEditor, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "presets"
    folder.mkdir()
    target = folder / "team.toml"
    target.write_text(
        '# Hand-written: agreed with the team on Monday.\ndescription = "Team limits"\n'
        "# Fuel for the nightly jobs.\nfuel_budget = 3_000_000_000\n",
        encoding="utf-8",
    )
    widget = PolicyEditor(presets_dir=folder)
    qtbot.addWidget(widget)
    assert widget.preset_names()[-1] == "team"
    widget.load_preset("team")
    assert line(widget, "fuel_budget").text() == "3 B"
    type_into(qtbot, widget, "timeout_seconds", "9 s")
    monkeypatch.setattr(widget, "_ask_preset_name", lambda: "team")
    with qtbot.waitSignal(widget.sig_preset_saved, timeout=2000):
        widget.save_as_preset()
    text = target.read_text(encoding="utf-8")
    assert "# Hand-written: agreed with the team on Monday." in text
    assert "# Fuel for the nightly jobs." in text
    assert 'description = "Team limits"' in text
    assert load_policy(target) == widget.policy()
    assert load_policy(target).timeout_seconds == 9.0


@pytest.mark.parametrize("name", ["../x", "a/b", "..", "x\\y"])
def test_a_preset_name_with_a_path_is_refused(
    qtbot: QtBot,
    editor: PolicyEditor,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    name: str,
) -> None:
    monkeypatch.setattr(editor, "_ask_preset_name", lambda: name)
    with qtbot.assertNotEmitted(editor.sig_preset_saved):
        assert editor.save_as_preset() is None
    assert "can't contain '/', '\\' or '..'" in editor.status_label.text()
    assert not any(tmp_path.rglob("*.toml"))


def test_a_shipped_preset_name_is_refused(
    editor: PolicyEditor, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(editor, "_ask_preset_name", lambda: "default")
    assert editor.save_as_preset() is None
    assert "shipped" in editor.status_label.text()
    assert not any(tmp_path.rglob("*.toml"))


def test_cancelling_the_name_dialog_writes_nothing(
    editor: PolicyEditor, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(editor, "_ask_preset_name", lambda: None)
    assert editor.save_as_preset() is None
    assert not any(tmp_path.rglob("*.toml"))


def test_saving_is_refused_while_the_form_is_invalid(
    qtbot: QtBot, editor: PolicyEditor, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    type_into(qtbot, editor, "fuel_budget", "1 k")
    monkeypatch.setattr(editor, "_ask_preset_name", lambda: "mine")
    assert editor.save_as_preset() is None
    assert "Fix the problem" in editor.status_label.text()
    assert not any(tmp_path.rglob("*.toml"))


# ---- env, env_allowlist, argv, mounts


def test_env_rows_make_the_env_dict(qtbot: QtBot, editor: PolicyEditor) -> None:
    grid = table(editor, "env")
    with qtbot.assertNotEmitted(editor.sig_policy_changed):
        editor.add_buttons["env"].click()  # a blank row changes nothing yet
    assert grid.rowCount() == 1
    set_cell(grid, 0, 0, "GREETING")
    with qtbot.waitSignal(
        editor.sig_policy_changed,
        check_params_cb=lambda policy: policy.env == {"GREETING": "hello world"},
        timeout=2000,
    ):
        set_cell(grid, 0, 1, "hello world")
    assert editor.diff_lines() == ["env: (none) -> GREETING=hello world"]
    grid.selectRow(0)
    with qtbot.waitSignal(
        editor.sig_policy_changed, check_params_cb=lambda policy: policy.env == {}, timeout=2000
    ):
        editor.remove_buttons["env"].click()
    assert grid.rowCount() == 0


def test_bad_env_rows_are_shown_and_emit_nothing(qtbot: QtBot, editor: PolicyEditor) -> None:
    grid = table(editor, "env")
    editor.add_buttons["env"].click()
    with qtbot.assertNotEmitted(editor.sig_policy_changed):
        set_cell(grid, 0, 1, "value without a name")
    assert "env: row 1 has a value but no name" in editor.problem_label.text()
    assert grid.property("invalid") is True
    with qtbot.assertNotEmitted(editor.sig_policy_changed):
        set_cell(grid, 0, 0, "PYTHONPATH")
    assert editor.problem_label.text().startswith("env:")
    assert "refused" in editor.problem_label.text()


def test_allowlist_is_comma_separated(qtbot: QtBot, editor: PolicyEditor) -> None:
    with qtbot.waitSignal(
        editor.sig_policy_changed,
        check_params_cb=lambda policy: policy.env_allowlist == ["HOME", "LANG"],
        timeout=2000,
    ):
        type_into(qtbot, editor, "env_allowlist", "HOME, LANG,")
    editor.set_policy(editor.policy())
    assert line(editor, "env_allowlist").text() == "HOME, LANG"


def test_argv_is_split_like_a_shell(qtbot: QtBot, editor: PolicyEditor) -> None:
    with qtbot.waitSignal(
        editor.sig_policy_changed,
        check_params_cb=lambda policy: policy.argv == ["--name", "Ada Lovelace", "-v"],
        timeout=2000,
    ):
        type_into(qtbot, editor, "argv", "--name 'Ada Lovelace' -v")
    editor.set_policy(editor.policy())
    assert line(editor, "argv").text() == "--name 'Ada Lovelace' -v"
    with qtbot.assertNotEmitted(editor.sig_policy_changed):
        type_into(qtbot, editor, "argv", "'unclosed")
    assert "argv: No closing quotation" in editor.problem_label.text()


def test_mounts_rows_can_be_added_by_hand(qtbot: QtBot, editor: PolicyEditor) -> None:
    grid = table(editor, "mounts")
    editor.add_buttons["mounts"].click()
    set_cell(grid, 0, 0, "/srv/shared")
    with qtbot.waitSignal(
        editor.sig_policy_changed,
        check_params_cb=lambda policy: (
            policy.mounts == [Mount(host_path="/srv/shared", guest_path="/data/shared")]
        ),
        timeout=2000,
    ):
        set_cell(grid, 0, 1, "/data/shared")
    assert editor.diff_lines() == ["mounts: (none) -> /srv/shared at /data/shared"]


def test_mounts_table_and_folder_picker(
    qtbot: QtBot, editor: PolicyEditor, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = tmp_path / "my data"
    data.mkdir()
    monkeypatch.setattr(editor, "_ask_directory", lambda: str(data))
    grid = table(editor, "mounts")
    expected = [Mount(host_path=str(data), guest_path="/data/my_data")]
    with qtbot.waitSignal(
        editor.sig_policy_changed,
        check_params_cb=lambda policy: policy.mounts == expected,
        timeout=2000,
    ):
        editor.mount_folder_button.click()
    assert grid.rowCount() == 1
    with qtbot.waitSignal(
        editor.sig_policy_changed,
        check_params_cb=lambda policy: policy.mounts[0].guest_path == "/data/input",
        timeout=2000,
    ):
        set_cell(grid, 0, 1, "/data/input")
    with qtbot.assertNotEmitted(editor.sig_policy_changed):
        set_cell(grid, 0, 1, "/app/escape")
    assert "mounts.0.guest_path" in editor.problem_label.text()
    assert "reserved" in editor.problem_label.text()
    assert grid.property("invalid") is True


def test_set_policy_fills_every_editor(qtbot: QtBot, editor: PolicyEditor, tmp_path: Path) -> None:
    policy = ExecutionPolicy(
        fuel_budget=3_500_000_000,
        memory_bytes=256 * 2**20,
        timeout_seconds=0.25,
        env={"A": "1", "B": "two"},
        env_allowlist=["HOME"],
        argv=["x y", "z"],
        mounts=[Mount(host_path=str(tmp_path), guest_path="/data/in")],
    )
    with qtbot.waitSignal(
        editor.sig_policy_changed, check_params_cb=lambda p: p == policy, timeout=2000
    ):
        editor.set_policy(policy)
    assert line(editor, "fuel_budget").text() == "3.5 B"
    assert line(editor, "timeout_seconds").text() == "250 ms"
    assert table(editor, "env").rowCount() == 2
    assert table(editor, "mounts").item(0, 1).text() == "/data/in"  # type: ignore[union-attr]
    # Reading the form back changes nothing, so nothing is emitted.
    with qtbot.assertNotEmitted(editor.sig_policy_changed):
        editor._revalidate()
    assert editor.policy() == policy


# ---- set_fuel_budget


def test_set_fuel_budget_updates_the_field_and_emits(qtbot: QtBot, editor: PolicyEditor) -> None:
    with qtbot.waitSignal(
        editor.sig_policy_changed,
        check_params_cb=lambda policy: policy.fuel_budget == 750_000_000,
        timeout=2000,
    ):
        editor.set_fuel_budget(750_000_000)
    assert line(editor, "fuel_budget").text() == "750 M"
    assert editor.diff_lines() == ["fuel_budget: 2 B -> 750 M"]


def test_set_fuel_budget_out_of_range_raises_and_changes_nothing(
    qtbot: QtBot, editor: PolicyEditor
) -> None:
    with qtbot.assertNotEmitted(editor.sig_policy_changed), pytest.raises(PolicyError):
        editor.set_fuel_budget(5)
    assert line(editor, "fuel_budget").text() == "2 B"
