"""Run with profile in the real window: the Profile tab, the gutter, compare, the chart link.

Every run here is a real profiled run on the real runtimes (offscreen Qt); the
pure helpers (line matching, compact fuel) are checked on their own at the end.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QModelIndex, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QTextCursor
from PySide6.QtWidgets import QApplication, QScrollArea
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from workbench.gui.main_window import MainWindow
from workbench.gui.profile_view import (
    CHEAPER_COLOR,
    DEARER_COLOR,
    LINE_ROLE,
    ProfiledRun,
    ProfileView,
    compact_fuel,
    map_lines,
)
from workbench.sandbox import (
    FuelProfile,
    ProfileFunction,
    ProfileLine,
    RuntimeType,
    SandboxResult,
    TrapKind,
)

#: The hot loop is line 4; the call on line 7 runs it.
HOT = """def work(n):
    total = 0
    for i in range(n):
        total += i * i
    return total

print(work({n}))
"""
HOT_LINE = 4


def run_profiled(qtbot: QtBot, win: MainWindow, code: str) -> SandboxResult:
    win.editor.setPlainText(code)
    with qtbot.waitSignal(win.sig_execution_finished, timeout=60_000) as blocker:
        win.run_profile_action.trigger()
    result: SandboxResult = blocker.args[0]
    return result


def row_of(view: ProfileView, line: int, function: str) -> QModelIndex:
    """The Lines table's (proxy) index of ``line`` in ``function``, first column."""
    proxy = view.lines_proxy
    column = view.lines_model.column_of("Function")
    for row in range(proxy.rowCount()):
        index = proxy.index(row, 0)
        if index.data(LINE_ROLE) == line and proxy.index(row, column).data() == function:
            return index
    raise AssertionError(f"line {line} of {function} is not in the table")


def test_run_with_profile_fills_the_table_and_the_gutter(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    view = window.profile_view
    assert window.run_profile_action.shortcut().toString() == "Ctrl+Alt+Return"
    result = run_profiled(qtbot, window, HOT.format(n=3000))
    assert result.success and result.profile is not None
    assert view.current() is not None and view.current().run_id == result.execution_id
    assert window.profile_dock.isVisible() and not window.profile_dock.visibleRegion().isEmpty()
    # The table: the hot loop line is on top (sorted by its own fuel, most first).
    top = view.lines_proxy.index(0, 0)
    assert top.data(LINE_ROLE) == HOT_LINE
    assert view.lines_proxy.index(0, view.lines_model.column_of("Code")).data() == "total += i * i"
    assert view.lines_stack.currentWidget() is view.lines_table
    functions = [
        view.functions_proxy.index(r, 0).data() for r in range(view.functions_proxy.rowCount())
    ]
    assert "work" in functions and "<module>" in functions
    # The gutter: fuel per line beside the hot line, the strongest strip on it.
    heat = window.editor.line_heat()
    hottest = max(heat, key=lambda line: heat[line].share)
    assert hottest == HOT_LINE and heat[HOT_LINE].share == 1.0
    own = sum(item.self_fuel for item in result.profile.lines if item.line == HOT_LINE)
    assert heat[HOT_LINE].label == compact_fuel(own) and own > 1_000_000
    assert "3,000 times" in heat[HOT_LINE].tooltip
    # Clicking a row moves the editor's cursor to its line.
    window.editor.go_to_line(1)
    index = row_of(view, 2, "work")
    rect = view.lines_table.visualRect(index)
    qtbot.mouseClick(view.lines_table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.editor.textCursor().blockNumber() + 1 == 2
    assert window.editor.hasFocus() or QApplication.focusWidget() is window.editor
    # The filter keeps the rows that mention the text, in any column.
    qtbot.keyClicks(view.filter_edit, "return")
    assert view.lines_proxy.rowCount() == 1
    assert view.lines_proxy.index(0, 0).data(LINE_ROLE) == 5
    view.filter_edit.clear()
    # Export through the core's exporters.
    view.export("json", tmp_path / "run.profile.json")
    view.export("speedscope", tmp_path / "run.speedscope.json")
    view.export("chrome", tmp_path / "run.trace.json")
    data = json.loads((tmp_path / "run.profile.json").read_text())
    assert data["total_fuel"] == result.profile.total_fuel
    speedscope = json.loads((tmp_path / "run.speedscope.json").read_text())
    assert speedscope["$schema"].startswith("https://www.speedscope.app/")
    assert json.loads((tmp_path / "run.trace.json").read_text())["traceEvents"]
    # An edit that moves lines takes the heat out of the gutter; the table stays.
    cursor = QTextCursor(window.editor.document())
    cursor.insertText("# a comment\n")
    assert window.editor.line_heat() == {}
    assert view.lines_proxy.rowCount() > 0


def test_compare_shows_which_lines_got_dearer_and_the_chart_opens_profiles(
    qtbot: QtBot, window: MainWindow
) -> None:
    view = window.profile_view
    window.resize(1400, 900)
    first = run_profiled(qtbot, window, HOT.format(n=1000))
    # The second version does three times the work, one line lower (a comment moved it).
    second = run_profiled(qtbot, window, "# three times the work\n" + HOT.format(n=3000))
    assert first.profile is not None and second.profile is not None
    assert [run.run_id for run in view.runs()] == [first.execution_id, second.execution_id]
    change_column = view.lines_model.column_of("Change")
    assert view.lines_table.isColumnHidden(change_column)  # no comparison yet
    view.compare_combo.setCurrentIndex(view.compare_combo.findData(first.execution_id))
    assert view.compared() is not None and view.compared().run_id == first.execution_id
    assert not view.lines_table.isColumnHidden(change_column)
    index = row_of(view, HOT_LINE + 1, "work")
    change = index.siblingAtColumn(change_column)
    assert change.data().startswith("+")  # dearer
    assert change.data(Qt.ItemDataRole.ForegroundRole) == QColor(DEARER_COLOR)
    old = sum(i.self_fuel for i in first.profile.lines if i.line == HOT_LINE)
    new = sum(i.self_fuel for i in second.profile.lines if i.line == HOT_LINE + 1)
    assert change.data(Qt.ItemDataRole.UserRole) == new - old
    assert "dearer" in view.compare_label.text()
    comment = [i for i in second.profile.lines if i.line == 1]
    assert not comment  # a comment never runs: no row, nothing to compare
    # The run chart rings both profiled runs; clicking the first ring opens its profile.
    chart = window.run_chart
    assert [run_id for _, run_id in chart.profiled_points()] == [
        first.execution_id,
        second.execution_id,
    ]
    window.result_dock.raise_()
    scroll = window.result_dock.widget()
    assert isinstance(scroll, QScrollArea)
    scroll.ensureWidgetVisible(chart)
    QApplication.processEvents()
    item = chart.plot.getPlotItem()
    scene_point = item.vb.mapViewToScene(QPointF(1, first.fuel_consumed / 1e6))
    pos = chart.plot.mapFromScene(scene_point)
    with qtbot.waitSignal(view.sig_run_shown, timeout=5_000) as blocker:
        qtbot.mouseClick(chart.plot.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pos))
    assert blocker.args == [first.execution_id]
    assert view.current() is not None and view.current().run_id == first.execution_id
    assert not window.profile_dock.visibleRegion().isEmpty()
    # The editor holds the second version now: the first run's heat stays out of it.
    assert window.editor.line_heat() == {}


def test_javascript_profile_shows_functions_and_says_it_has_no_lines(
    qtbot: QtBot, window: MainWindow
) -> None:
    window.runtime_combo.setCurrentIndex(window.runtime_combo.findData("javascript"))
    code = (
        "function fib(n) {\n  return n < 2 ? n : fib(n - 1) + fib(n - 2);\n}\n"
        "const twice = (x) => 2 * x;\nconsole.log(twice(fib(12)));\n"
    )
    result = run_profiled(qtbot, window, code)
    assert result.success and result.profile is not None
    assert result.profile.detail == "function" and not result.profile.lines
    view = window.profile_view
    # Functions in their table ...
    assert view.functions_stack.currentIndex() == 0
    model = view.functions_model
    names = {model.index(row, 0).data() for row in range(model.rowCount())}
    assert {"fib", "twice"} <= names
    # ... and no lines, said in words.
    assert view.lines_stack.currentWidget() is view.lines_empty
    assert "No per-line data" in view.lines_empty.text()
    assert "note above" in view.lines_empty.text()
    assert "per function" in view.note_label.text() and view.note_label.isVisibleTo(view)
    assert f"{result.profile.events:,} events" in view.summary_label.text()


def test_a_session_turn_can_be_profiled(qtbot: QtBot, window: MainWindow) -> None:
    session = window.sessions_panel.new_session(RuntimeType.PYTHON)
    assert session is not None
    window.editor.setPlainText("data = list(range(500))")
    with qtbot.waitSignal(window.sig_execution_finished, timeout=20_000):
        window.run_action.trigger()
    result = run_profiled(qtbot, window, "total = 0\nfor x in data:\n    total += x\n")
    assert result.profile is not None and result.session_id == session.session_id
    current = window.profile_view.current()
    assert current is not None and current.where == f"session {session.session_id[:8]}"
    assert window.editor.line_heat()[3].share == 1.0


def test_a_profiled_run_that_times_out_says_why(qtbot: QtBot, window: MainWindow) -> None:
    window.profile_dock.close()
    window.policy_editor.set_policy(window.policy().with_updates(timeout_seconds=0.5))
    result = run_profiled(qtbot, window, "while True:\n    pass\n")
    assert result.trap_kind is TrapKind.DEADLINE and result.profile is not None
    view = window.profile_view
    assert window.profile_dock.isVisible()  # closed before: the profile brings it back
    assert "raise the timeout" in view.note_label.text()
    assert "raise the timeout" in window.statusBar().currentMessage()
    heat = window.editor.line_heat()  # the loop, up to the trap
    assert set(heat) == {1, 2} and max(item.share for item in heat.values()) == 1.0


def test_calibrate_names_the_dominant_line_and_shows_its_profile(
    qtbot: QtBot, window: MainWindow
) -> None:
    window.profile_dock.close()
    window.editor.setPlainText(HOT.format(n=3000))
    window.margin_spin.setValue(50)
    runs: list[SandboxResult] = []
    window.sig_execution_finished.connect(runs.append)
    with qtbot.waitSignal(window.sig_calibrated, timeout=60_000) as blocker:
        qtbot.mouseClick(window.calibrate_button, Qt.MouseButton.LeftButton)
    calibration = blocker.args[0]
    (measured,) = runs  # one run: profiled, and the budget comes from its fuel
    assert measured.success and measured.profile is not None
    assert calibration.dominant_line == HOT_LINE
    assert window.policy().fuel_budget == calibration.budget >= measured.fuel_consumed * 1.5
    # The dominant line beside the suggested budget, in the status bar and the Output.
    message = window.statusBar().currentMessage()
    assert message.startswith("Calibrated") and f"Line {HOT_LINE}, `total += i * i`," in message
    assert "3,000 times" in message
    assert calibration.message in window.output.toPlainText()
    # The Profile tab (closed before) shows the calibration run's profile, the gutter its heat.
    assert window.profile_dock.isVisible()
    current = window.profile_view.current()
    assert current is not None and current.run_id == measured.execution_id
    heat = window.editor.line_heat()
    assert max(heat, key=lambda line: heat[line].share) == HOT_LINE


def test_lines_match_across_an_edit() -> None:
    old = "a = 1\nb = 2\nc = 3\n"
    new = "# new\na = 1\nb = 20\nc = 3\n"
    mapping = map_lines(old, new)
    assert mapping[2] == 1 and mapping[4] == 3
    assert 3 not in mapping and 1 not in mapping  # changed and added lines: no counterpart


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (456, "456"),
        (4_910, "4.9 k"),
        (12_802_750, "13 M"),
        (999_600, "1.0 M"),
        (2_100_000_000, "2.1 B"),
    ],
)
def test_compact_fuel(count: int, text: str) -> None:
    assert compact_fuel(count) == text


def synthetic_run(number: int, code: str, own: dict[int, int]) -> ProfiledRun:
    """A profiled run built by hand (no runtime): ``own`` is the fuel per line of ``f``."""
    lines = [
        ProfileLine(
            line=line,
            function="f",
            text=code.split("\n")[line - 1].strip(),
            self_fuel=fuel,
            total_fuel=fuel,
            hits=1,
        )
        for line, fuel in own.items()
    ]
    functions = [
        ProfileFunction(
            name="f",
            kind="user",
            first_line=1,
            calls=1,
            self_fuel=sum(own.values()),
            total_fuel=sum(own.values()),
        ),
        ProfileFunction(name="json", kind="library", calls=2, self_fuel=10, total_fuel=10),
    ]
    profile = FuelProfile(
        runtime="python",
        total_fuel=sum(own.values()),
        run_fuel=sum(own.values()),
        lines=lines,
        functions=functions,
    )
    return ProfiledRun(f"run-{number}", profile, code, number=number, remark="Said why.")


def test_models_pass_the_model_tester_and_compare_by_matched_lines(
    qtbot: QtBot, qtmodeltester: ModelTester
) -> None:
    view = ProfileView()
    qtbot.addWidget(view)
    old_code = "def f():\n    a = 1\n    b = 2\n"
    new_code = "def f():\n    # first\n    a = 1\n    b = 3\n"
    view.add_run(synthetic_run(1, old_code, {2: 100, 3: 50}))
    view.add_run(synthetic_run(2, new_code, {3: 40, 4: 70}))
    assert view.compare_with("run-1")
    qtmodeltester.check(view.lines_model)
    qtmodeltester.check(view.functions_model)
    column = view.lines_model.column_of("Change")
    changes = {
        view.lines_model.index(row, 0).data(LINE_ROLE): view.lines_model.index(row, column)
        for row in range(view.lines_model.rowCount())
    }
    assert changes[3].data(Qt.ItemDataRole.UserRole) == -60  # a = 1: cheaper
    assert changes[3].data(Qt.ItemDataRole.ForegroundRole) == QColor(CHEAPER_COLOR)
    assert changes[4].data() == "new"  # b = 3 was changed: no counterpart
    assert view.note_label.text() == "Said why."
    library = view.functions_model.index(1, 0)
    assert library.data() == "[json]" and library.data(Qt.ItemDataRole.FontRole).italic()
    assert not view.compare_with("run-2")  # not with itself
