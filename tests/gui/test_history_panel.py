"""The run history model and panel over the real core RunHistory (pytest-qt)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QModelIndex, Qt
from pytestqt.qtbot import QtBot

from workbench.gui.history import RECORD_ROLE, SORT_ROLE, RunHistoryModel, RunHistoryPanel
from workbench.sandbox import ExecutionPolicy, RuntimeType, SandboxResult, TrapKind
from workbench.sandbox._history import RunHistory, RunRecord

MIB = 1024 * 1024


def make_record(
    run_id: str,
    code: str = "print('hi')\n",
    started_at: float = 1_700_000_000.0,
    policy: ExecutionPolicy | None = None,
    **changes: object,
) -> RunRecord:
    values: dict[str, object] = {
        "execution_id": run_id,
        "runtime": RuntimeType.PYTHON,
        "success": True,
        "exit_code": 0,
        "stdout": "hi\n",
        "fuel_consumed": 2_500_000,
        "fuel_budget": 2_000_000_000,
        "memory_used_bytes": 18 * MIB,
        "duration_ms": 12.5,
        "startup_ms": 3.0,
    }
    values.update(changes)
    result = SandboxResult.model_validate(values)
    return RunRecord.from_result(
        code, policy or ExecutionPolicy(), result, preset="default", started_at=started_at
    )


@pytest.fixture
def history() -> RunHistory:
    history = RunHistory(max_runs=5)
    history.add(make_record("first", "x = 1\n", started_at=1_700_000_000.0))
    history.add(
        make_record(
            "second",
            "while True:\n    pass\n",
            started_at=1_700_000_060.0,
            policy=ExecutionPolicy(fuel_budget=500_000_000),
            success=False,
            exit_code=None,
            trap_kind=TrapKind.OUT_OF_FUEL,
            fuel_consumed=500_000_000,
            fuel_budget=500_000_000,
            duration_ms=900.0,
        )
    )
    history.add(make_record("third", "console.log(1)", started_at=1_700_000_120.0))
    return history


@pytest.fixture
def panel(qtbot: QtBot, history: RunHistory) -> RunHistoryPanel:
    panel = RunHistoryPanel(history)
    qtbot.addWidget(panel)
    panel.resize(800, 500)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


# ---- Model


def test_model_passes_the_model_tester(qtmodeltester, history: RunHistory) -> None:
    model = RunHistoryModel(history)
    qtmodeltester.check(model)
    history.add(make_record("fourth"))
    history.add(make_record("fifth"))
    history.add(make_record("sixth"))  # full: drops "first"
    history.remove("third")
    qtmodeltester.check(model)
    history.clear()
    qtmodeltester.check(model)
    assert model.rowCount() == 0


def test_model_tester_watches_live_changes(qtmodeltester, history: RunHistory) -> None:
    model = RunHistoryModel(history)
    # The tester stays connected and checks every signal as the history changes.
    qtmodeltester.check(model, force_py=True)
    for i in range(4):
        history.add(make_record(f"new-{i}"))
    history.remove("new-1")
    history.clear()
    history.add(make_record("again"))
    assert model.rowCount() == 1


def test_rows_are_newest_first(history: RunHistory) -> None:
    model = RunHistoryModel(history)
    assert model.rowCount() == 3
    assert model.columnCount() == 6
    assert [model.record(row).run_id for row in range(3)] == ["third", "second", "first"]
    assert [
        model.headerData(c, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole)
        for c in range(6)
    ] == ["Time", "Code", "Runtime", "Outcome", "Fuel", "Time ms"]


def test_model_roles(history: RunHistory) -> None:
    model = RunHistoryModel(history)
    row = model.row_of("second")
    assert row == 1

    def cell(column: int, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        return model.data(model.index(row, column), role)

    record = history.get("second")
    assert cell(RunHistoryModel.CODE) == "while True:"
    assert cell(RunHistoryModel.RUNTIME) == "python"
    assert cell(RunHistoryModel.OUTCOME) == "stopped: the fuel budget ran out"
    assert cell(RunHistoryModel.FUEL) == "500 M"
    assert cell(RunHistoryModel.DURATION) == "900.0"
    assert cell(RunHistoryModel.TIME) == record.started.strftime("%H:%M:%S")
    assert cell(0, Qt.ItemDataRole.ToolTipRole) == record.summary()
    assert cell(3, RECORD_ROLE) is record
    assert cell(RunHistoryModel.FUEL, SORT_ROLE) == 500_000_000
    assert model.data(QModelIndex()) is None
    assert not model.flags(model.index(row, 0)) & Qt.ItemFlag.ItemIsEditable


def test_rows_appear_as_runs_are_added(qtbot: QtBot, history: RunHistory) -> None:
    model = RunHistoryModel(history)

    def at_top(parent: QModelIndex, first: int, last: int) -> bool:
        return not parent.isValid() and (first, last) == (0, 0)

    with qtbot.waitSignal(model.rowsInserted, check_params_cb=at_top, timeout=1000):
        history.add(make_record("fourth", "print(4)"))
    assert model.rowCount() == 4
    assert model.data(model.index(0, RunHistoryModel.CODE)) == "print(4)"


def test_oldest_row_is_removed_when_the_history_is_full(qtbot: QtBot, history: RunHistory) -> None:
    model = RunHistoryModel(history)
    history.add(make_record("fourth"))
    history.add(make_record("fifth"))
    assert model.rowCount() == 5

    def last_row(parent: QModelIndex, first: int, last: int) -> bool:
        return (first, last) == (4, 4)

    with (
        qtbot.waitSignal(model.rowsRemoved, check_params_cb=last_row, timeout=1000),
        qtbot.waitSignal(model.rowsInserted, timeout=1000),
    ):
        history.add(make_record("sixth"))
    assert model.rowCount() == 5
    assert model.record(4).run_id == "second"
    assert model.record(0).run_id == "sixth"


def test_reset_on_load(qtbot: QtBot, history: RunHistory, tmp_path) -> None:
    model = RunHistoryModel(history)
    path = tmp_path / "history.json"
    history.save(path)
    history.clear()
    assert model.rowCount() == 0
    with qtbot.waitSignal(model.modelReset, timeout=1000):
        history.load(path)
    assert model.rowCount() == 3


def test_model_unsubscribes_when_destroyed(qtbot: QtBot, history: RunHistory) -> None:
    model = RunHistoryModel(history)
    with qtbot.waitSignal(model.destroyed, timeout=1000):
        model.deleteLater()
    history.add(make_record("after"))  # must not call into the deleted model
    assert len(history) == 4


# ---- Panel


def select(panel: RunHistoryPanel, *run_ids: str) -> None:
    panel.table.clearSelection()
    for run_id in run_ids:
        assert panel.select_run(run_id, add=True)


def test_panel_starts_sorted_newest_first_with_buttons_disabled(panel: RunHistoryPanel) -> None:
    proxy = panel.proxy
    ids = [proxy.data(proxy.index(r, 0), RECORD_ROLE).run_id for r in range(proxy.rowCount())]
    assert ids == ["third", "second", "first"]
    assert not panel.open_button.isEnabled()
    assert not panel.rerun_button.isEnabled()
    assert not panel.compare_button.isEnabled()
    assert panel.table.accessibleName()
    for widget in (panel.open_button, panel.rerun_button, panel.compare_button, panel.comparison):
        assert widget.toolTip()
        assert widget.accessibleName()


def test_sorting_by_fuel_is_numeric(panel: RunHistoryPanel, history: RunHistory) -> None:
    history.add(make_record("tiny", fuel_consumed=900))  # "900" sorts after "500 M" as text
    panel.table.sortByColumn(RunHistoryModel.FUEL, Qt.SortOrder.AscendingOrder)
    proxy = panel.proxy
    fuel = [proxy.data(proxy.index(r, 0), RECORD_ROLE).fuel_consumed for r in range(4)]
    assert fuel == sorted(fuel)


def test_open_code_button_emits_the_code(qtbot: QtBot, panel: RunHistoryPanel) -> None:
    select(panel, "second")
    assert panel.open_button.isEnabled()
    with qtbot.waitSignal(
        panel.sig_open_code_requested,
        check_params_cb=lambda code: code == "while True:\n    pass\n",
        timeout=1000,
    ):
        qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)


def test_run_again_emits_the_record(qtbot: QtBot, panel: RunHistoryPanel) -> None:
    select(panel, "first")
    expected = panel.history.get("first")
    with qtbot.waitSignal(
        panel.sig_rerun_requested,
        check_params_cb=lambda record: record is expected,
        timeout=1000,
    ):
        qtbot.mouseClick(panel.rerun_button, Qt.MouseButton.LeftButton)


def test_buttons_follow_the_selection(qtbot: QtBot, panel: RunHistoryPanel) -> None:
    select(panel, "first", "third")
    assert panel.compare_button.isEnabled()
    assert not panel.open_button.isEnabled()
    assert not panel.rerun_button.isEnabled()
    with (
        qtbot.assertNotEmitted(panel.sig_open_code_requested),
        qtbot.assertNotEmitted(panel.sig_rerun_requested),
    ):
        panel.open_selected_code()
        panel.rerun_selected()
    select(panel, "first", "second", "third")
    assert not panel.compare_button.isEnabled()
    select(panel, "third")
    assert not panel.compare_button.isEnabled()
    assert panel.open_button.isEnabled()


def test_compare_shows_the_differences(qtbot: QtBot, panel: RunHistoryPanel) -> None:
    select(panel, "second", "first")  # selection order doesn't matter: older is A
    qtbot.mouseClick(panel.compare_button, Qt.MouseButton.LeftButton)
    text = panel.comparison.toPlainText()
    lines = text.splitlines()
    assert lines[0].startswith("Metric")
    outcome = next(line for line in lines if line.startswith("Outcome"))
    assert outcome.split()[1:] == ["succeeded", "stopped:", "the", "fuel", "budget", "ran", "out"]
    assert any(
        line.startswith("Fuel used") and "2.5 M" in line and "500 M" in line for line in lines
    )
    assert any(line.startswith("Policy: Fuel budget") for line in lines)
    assert "Runtime" not in text
    assert panel.comparison.isReadOnly()


def test_compare_alike_runs_says_so(qtbot: QtBot, panel: RunHistoryPanel) -> None:
    panel.history.add(make_record("twin-a", started_at=1.0))
    panel.history.add(make_record("twin-b", started_at=2.0))
    select(panel, "twin-a", "twin-b")
    panel.compare_selected()
    assert "are alike" in panel.comparison.toPlainText()


def test_double_click_opens_code(qtbot: QtBot, panel: RunHistoryPanel) -> None:
    proxy_row = panel.proxy.mapFromSource(panel.model.index(panel.model.row_of("third"), 1))
    rect = panel.table.visualRect(proxy_row)
    assert rect.isValid()
    viewport = panel.table.viewport()
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=rect.center())
    with qtbot.waitSignal(
        panel.sig_open_code_requested,
        check_params_cb=lambda code: code == "console.log(1)",
        timeout=1000,
    ):
        qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=rect.center())


def test_buttons_update_when_selected_rows_go_away(panel: RunHistoryPanel) -> None:
    select(panel, "first", "second")
    assert panel.compare_button.isEnabled()
    panel.history.clear()
    assert not panel.compare_button.isEnabled()
    assert panel.proxy.rowCount() == 0
