"""The main window, driven like a person would, on the real sandbox (offscreen Qt)."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QModelIndex, QSettings, Qt, QTimer
from PySide6.QtGui import QColor
from pytestqt.qtbot import QtBot

from workbench.gui.file_browser import PATH_ROLE
from workbench.gui.main_window import MainWindow
from workbench.sandbox import RuntimeType, SandboxEngine, SandboxResult, TrapKind, _vendor


def run(qtbot: QtBot, win: MainWindow, code: str, timeout: int = 20_000) -> SandboxResult:
    win.editor.setPlainText(code)
    with qtbot.waitSignal(win.sig_execution_finished, timeout=timeout) as blocker:
        win.run_action.trigger()
    result: SandboxResult = blocker.args[0]
    return result


def test_type_code_and_run(qtbot: QtBot, window: MainWindow) -> None:
    window.editor.setFocus()
    qtbot.keyClicks(window.editor, "print('hello from the workbench')")
    with qtbot.waitSignal(window.sig_execution_finished, timeout=20_000) as blocker:
        qtbot.keyClick(window.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    result = blocker.args[0]
    assert result.success
    assert window.output.toPlainText() == "hello from the workbench\n"
    assert "succeeded" in window.status_label.text()
    assert window.fuel_bar.value() >= 0
    assert "of the fuel budget" in window.fuel_bar.format()
    assert window.run_action.isEnabled() and not window.stop_action.isEnabled()


def test_output_streams_while_running(qtbot: QtBot, window: MainWindow) -> None:
    window.editor.setPlainText(
        "import time\nprint('first', flush=True)\ntime.sleep(1.0)\nprint('second')"
    )
    window.run_action.trigger()
    qtbot.waitUntil(lambda: "first" in window.output.toPlainText(), timeout=20_000)
    assert window.running  # shown while the run goes on, not only at the end
    assert "second" not in window.output.toPlainText()
    qtbot.waitUntil(lambda: not window.running, timeout=20_000)
    assert window.output.toPlainText() == "first\nsecond\n"


def test_stop_ends_a_runaway_run(qtbot: QtBot, window: MainWindow) -> None:
    window.policy_editor.set_policy(
        window.policy().with_updates(fuel_budget=10**12, timeout_seconds=600)
    )
    window.editor.setPlainText("while True:\n    pass")
    window.run_action.trigger()
    qtbot.waitUntil(lambda: window.stop_action.isEnabled(), timeout=5_000)
    time.sleep(0.3)
    asked = time.monotonic()
    with qtbot.waitSignal(window.sig_execution_finished, timeout=5_000) as blocker:
        window.stop_action.trigger()
    assert blocker.args[0].trap_kind is TrapKind.CANCELLED
    assert time.monotonic() - asked < 2  # the benchmark measures ~5 ms; this catches a hang
    assert "cancelled" in window.status_label.text()


def test_gui_stays_responsive_during_a_long_run(qtbot: QtBot, window: MainWindow) -> None:
    window.policy_editor.set_policy(window.policy().with_updates(fuel_budget=10**12))
    # ~2.5 s of wasm on this machine: long enough to see a stalled loop, short
    # enough not to cost the suite seconds it spends on nothing else.
    window.editor.setPlainText("x = 0\nfor i in range(1_000_000):\n    x += i")
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    with qtbot.waitSignal(window.sig_execution_finished, timeout=60_000) as blocker:
        window.run_action.trigger()
    timer.stop()
    assert blocker.args[0].success
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) > 20  # the run lasted long enough to measure
    # Wasm on the GUI thread would stall the loop for the whole run. Half the run
    # (at most 0.5 s) tells that apart from a busy machine's scheduling hiccups
    # (~200 ms seen on 2 cores at load 10).
    run_seconds = blocker.args[0].duration_ms / 1000
    assert run_seconds > 0.3
    limit = min(0.5, run_seconds / 2)
    assert max(gaps) < limit, f"the event loop stalled for {max(gaps) * 1000:.0f} ms"


def test_keep_just_the_code_is_one_undoable_step(qtbot: QtBot, window: MainWindow) -> None:
    llm = (
        "Sure! Here is the script:\n\n```python\nprint('from the fence')\n```\n\n"
        "Run it with:\n```bash\npython script.py\n```\n"
    )
    window.editor.setPlainText(llm)
    assert window.extract_action.isEnabled()
    window.extract_action.trigger()
    assert window.editor.toPlainText() == "print('from the fence')"
    window.editor.undo()
    assert window.editor.toPlainText() == llm
    result = run(qtbot, window, "print('from the fence')")
    assert result.stdout == "from the fence\n"


def test_runtime_is_picked_from_the_language(qtbot: QtBot, window: MainWindow) -> None:
    result = run(qtbot, window, "const n = [1, 2, 3].map(x => x * 2);\nconsole.log(n.join(','));")
    assert result.runtime is RuntimeType.JAVASCRIPT
    assert window.output.toPlainText() == "2,4,6\n"
    window.runtime_combo.setCurrentIndex(window.runtime_combo.findData("python"))
    result = run(qtbot, window, "print(1)")
    assert result.runtime is RuntimeType.PYTHON


def test_auto_picks_the_scientific_runtime_for_data_code(window: MainWindow) -> None:
    assert window.runtime_combo.currentData() == "auto"
    assert window.runtime_for("import pandas as pd\nprint(pd)") is RuntimeType.PYTHON_SCI
    assert window.runtime_for("import json\nprint(1)") is RuntimeType.PYTHON
    assert window.runtime_combo.findData("python-sci") >= 0  # choosable by name too


def test_errors_show_guidance_and_stderr(qtbot: QtBot, window: MainWindow) -> None:
    result = run(qtbot, window, "total = 1\nprint(totl)")
    assert not result.success
    assert window.guidance_label.isVisible()
    assert window.guidance_label.text().startswith("NameError")
    assert window.guidance_label.textFormat() is Qt.TextFormat.PlainText
    assert "NameError" in window.output.toPlainText()


def test_truncation_banner(qtbot: QtBot, window: MainWindow) -> None:
    window.preset_combo.setCurrentIndex(window.preset_combo.findData("conservative"))
    run(qtbot, window, "for _ in range(3000):\n    print('x' * 99)")
    assert window.truncation_banner.isVisible()
    assert "kept 100 KiB of 293 KiB" in window.truncation_banner.text()


def test_apply_suggested_budget(qtbot: QtBot, window: MainWindow) -> None:
    window.preset_combo.setCurrentIndex(window.preset_combo.findData("conservative"))
    result = run(qtbot, window, "x = 0\nwhile True:\n    x += 1")
    assert result.trap_kind is TrapKind.OUT_OF_FUEL
    # A full bar in the exhausted colour, its label on a fill it reads on.
    assert window.fuel_bar.value() == window.fuel_bar.maximum()
    assert window.fuel_bar.colors()[1] == QColor(window.fuel_bar.scheme().fills["exhausted"])
    assert window.apply_budget_button.isEnabled()
    qtbot.mouseClick(window.apply_budget_button, Qt.MouseButton.LeftButton)
    assert result.fuel_analysis is not None
    assert window.policy().fuel_budget == result.fuel_analysis.suggested_budget > 500_000_000


def test_settings_persist(qtbot: QtBot, engine: SandboxEngine, tmp_path: Path) -> None:
    path = str(tmp_path / "persist.ini")
    first = MainWindow(QSettings(path, QSettings.Format.IniFormat))
    qtbot.addWidget(first)
    first.preset_combo.setCurrentIndex(first.preset_combo.findData("conservative"))
    first.runtime_combo.setCurrentIndex(first.runtime_combo.findData("javascript"))
    first.dark_action.trigger()
    first.close()
    second = MainWindow(QSettings(path, QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    assert second.preset_combo.currentData() == "conservative"
    assert second.runtime_combo.currentData() == "javascript"
    assert second.dark_action.isChecked()
    second.close()


def test_runtimes_are_prepared_in_the_background(qtbot: QtBot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.sig_runtimes_ready, timeout=120_000):
        window.prepare_runtimes()
        # Until then a Run is refused in words (it would block the GUI thread on
        # the first start, which downloads the vendored packages).
        window.editor.setPlainText("print('too early')")
        window.run_action.trigger()
        assert not window.running
        assert "Still preparing the runtimes" in window.statusBar().currentMessage()
    assert window.statusBar().currentMessage() == "Runtimes ready."
    # The Python guest mounts (unpacked stdlib, vendored packages) were built off
    # the GUI thread, so creating a Python sandbox now costs nothing.
    assert _vendor._auto_bundle is not None
    # The scratch sandboxes exist now and their pools warm up: the first run
    # finds a started interpreter.
    sandbox = window._sandboxes[RuntimeType.PYTHON]
    qtbot.waitUntil(
        lambda: sandbox.pool.warm_count(next(iter(sandbox._shapes))) > 0, timeout=20_000
    )
    assert run(qtbot, window, "print('warm')").warm_start


def test_about_and_shortcuts(window: MainWindow, engine: SandboxEngine) -> None:
    about = window.about_text()
    for spec in engine.specs.values():
        assert spec.sha256 in about
    assert "wasmtime-py 49" in about and str(engine.cache_root) in about
    shortcuts = window.shortcuts_text()
    assert "Ctrl+Return" in shortcuts and "Run" in shortcuts


def test_empty_editor_runs_nothing(qtbot: QtBot, window: MainWindow) -> None:
    with qtbot.assertNotEmitted(window.sig_execution_started):
        window.run_action.trigger()
    assert "Nothing to run" in window.statusBar().currentMessage()


@pytest.mark.parametrize(
    "code",
    [
        "a = 1\nb = 2\nraise ValueError('line three')",
        "let a = 1;\nlet b = 2;\nthrow new Error('line three');",
    ],
)
def test_clicking_a_traceback_line_jumps_to_the_code(
    qtbot: QtBot, window: MainWindow, code: str
) -> None:
    run(qtbot, window, code)
    window.editor.moveCursor(window.editor.textCursor().MoveOperation.Start)
    doc = window.output.document()
    block = next(
        doc.findBlockByNumber(i)
        for i in range(doc.blockCount())
        if "<code>" in doc.findBlockByNumber(i).text()
    )
    rect = window.output.blockBoundingGeometry(block).translated(window.output.contentOffset())
    qtbot.mouseClick(
        window.output.viewport(), Qt.MouseButton.LeftButton, pos=rect.center().toPoint()
    )
    assert window.editor.textCursor().blockNumber() == 2  # line 3


def test_runs_are_recorded_and_can_run_again(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    run(qtbot, window, "print('first run')")
    assert len(window.history) == 1
    record = window.history[0]
    assert record.code == "print('first run')" and record.success
    window.editor.setPlainText("something else")
    with qtbot.waitSignal(window.sig_execution_finished, timeout=20_000) as blocker:
        window.history_panel.sig_rerun_requested.emit(record)
    assert blocker.args[0].stdout == "first run\n"
    assert window.editor.toPlainText() == "print('first run')"
    assert len(window.history) == 2
    window.close()  # saves the history beside the settings
    again = MainWindow(
        QSettings(str(tmp_path / "other.ini"), QSettings.Format.IniFormat),
        history_path=window.history_path,
    )
    qtbot.addWidget(again)
    assert [r.code for r in again.history] == ["print('first run')"] * 2
    again.close()


def test_toolbar_preset_and_policy_dock_agree(qtbot: QtBot, window: MainWindow) -> None:
    window.preset_combo.setCurrentIndex(window.preset_combo.findData("conservative"))
    assert window.policy_editor.current_preset() == "conservative"
    assert window.policy().fuel_budget == 500_000_000
    window.policy_editor.load_preset("document-processing")
    assert window.preset_combo.currentData() == "document-processing"
    result = run(qtbot, window, "print(1)")
    assert result.fuel_budget == 20_000_000_000


def test_live_session_keeps_state_and_fresh_runs_do_not(qtbot: QtBot, window: MainWindow) -> None:
    panel = window.sessions_panel
    session = panel.new_session(RuntimeType.PYTHON)
    assert session is not None and panel.session is session
    assert not window.runtime_combo.isEnabled()  # a session has one runtime
    run(qtbot, window, "import math\nx = 41")
    result = run(qtbot, window, "print(x + 1, round(math.pi, 2))")
    assert result.success and result.session_id == session.session_id
    assert window.output.toPlainText() == "42 3.14\n"
    assert "2 runs" in panel.list.item(1).text()
    panel.list.setCurrentRow(0)  # back to fresh runs
    assert panel.session is None and window.runtime_combo.isEnabled()
    assert not run(qtbot, window, "print(x)").success  # a fresh interpreter
    panel.list.setCurrentRow(1)  # the session again, same interpreter
    assert run(qtbot, window, "print(x)").stdout == "41\n"


def test_session_trap_says_state_was_lost(qtbot: QtBot, window: MainWindow) -> None:
    window.policy_editor.load_preset("conservative")
    window.sessions_panel.new_session(RuntimeType.JAVASCRIPT)
    run(qtbot, window, "var kept = 1;")
    result = run(qtbot, window, "while (true) {}")
    assert result.state_lost
    assert "state was lost" in window.status_label.text()


def test_destroy_session(qtbot: QtBot, window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    panel = window.sessions_panel
    session = panel.new_session(RuntimeType.PYTHON)
    assert session is not None
    run(qtbot, window, "open('/app/a.txt', 'w').write('a')")
    monkeypatch.setattr(panel, "_confirm", lambda question: False)
    panel.destroy_selected()
    assert panel.session is session and session.workspace.exists()
    monkeypatch.setattr(panel, "_confirm", lambda question: True)
    with qtbot.waitSignal(panel.sig_session_changed, check_params_cb=lambda s: s is None):
        panel.destroy_selected()
    assert not session.workspace.exists()
    ids = [panel.list.item(r).data(Qt.ItemDataRole.UserRole) for r in range(panel.list.count())]
    assert session.session_id not in ids


def _listed(window: MainWindow) -> dict[str, str]:
    """Paths shown in the Files dock -> their State column ("new", "changed", "")."""
    model = window.file_browser.model
    found: dict[str, str] = {}

    def walk(parent: object) -> None:
        for row in range(model.rowCount(parent)):  # type: ignore[arg-type]
            index = model.index(row, 0, parent)  # type: ignore[arg-type]
            path = index.data(PATH_ROLE)
            state = model.index(row, model.columnCount() - 1, parent).data() or ""  # type: ignore[arg-type]
            if path:
                found[path] = state
            walk(index)

    walk(QModelIndex())
    return found


def test_files_dock_follows_runs_and_sessions(qtbot: QtBot, window: MainWindow) -> None:
    run(
        qtbot,
        window,
        "import os\nos.makedirs('/app/out', exist_ok=True)\n"
        "open('/app/out/report.txt', 'w').write('done')",
    )
    listed = _listed(window)
    assert "out/report.txt" in listed and listed["out/report.txt"] == "new"
    session = window.sessions_panel.new_session(RuntimeType.PYTHON)
    assert session is not None
    assert _listed(window) == {}  # the session's own, empty workspace
    run(qtbot, window, "open('/app/mine.csv', 'w').write('a,b\\n1,2\\n')")
    assert _listed(window) == {"mine.csv": "new"}
    with qtbot.waitSignal(window.file_browser.sig_open_in_editor_requested):
        window.file_browser.sig_open_in_editor_requested.emit("mine.csv", "a,b\n1,2\n")
    assert window.editor.toPlainText() == "a,b\n1,2\n"


def test_calibrate_sets_the_budget_from_the_measured_fuel(qtbot: QtBot, window: MainWindow) -> None:
    window.policy_editor.load_preset("conservative")  # 500 M: too small for this code
    code = "total = 0\nfor i in range(300_000):\n    total += i\nprint(total)"
    window.editor.setPlainText(code)
    window.margin_spin.setValue(50)
    runs: list[SandboxResult] = []
    window.sig_execution_finished.connect(runs.append)
    with qtbot.waitSignal(window.sig_calibrated, timeout=90_000) as blocker:
        qtbot.mouseClick(window.calibrate_button, Qt.MouseButton.LeftButton)
    # Calibrate profiles its run; 600,000 events don't fit the preset's 5 s, so
    # the fuel is measured again without the profile, and the budget comes from that.
    profiled, measured = runs
    assert profiled.trap_kind is TrapKind.DEADLINE and profiled.profile is not None
    assert measured.profile is None
    assert "measuring again without the profile" in window.output.toPlainText()
    assert blocker.args[0].dominant_line is None
    assert measured.success and measured.fuel_budget == 10**12
    budget = window.policy().fuel_budget
    assert budget >= measured.fuel_consumed * 1.5
    assert budget <= measured.fuel_consumed * 1.5 * 2.5  # rounded up to a nice number only
    assert "Calibrated" in window.statusBar().currentMessage()
    result = run(qtbot, window, code)  # the next run uses the calibrated budget
    assert result.success and result.fuel_budget == budget
    assert result.fuel_analysis is not None
    assert result.fuel_analysis.status in ("efficient", "moderate")


def test_variables_dock_follows_the_session(qtbot: QtBot, window: MainWindow) -> None:
    panel = window.variables_panel
    assert panel.rows() == [] and "live sessions" in panel.status.text()
    session = window.sessions_panel.new_session(RuntimeType.PYTHON)
    assert session is not None
    qtbot.waitUntil(lambda: not panel.busy, timeout=10_000)
    with qtbot.waitSignal(panel.sig_refreshed, timeout=20_000):
        run(qtbot, window, "count = 3\nnames = ['ada', 'bob']\nclass Box:\n    pass\nbox = Box()")
    assert panel.rows() == [
        ("Box", "type", "", "", "class Box"),
        ("box", "Box", "", "", "<Box>"),
        ("count", "int", "", "", "3"),
        ("names", "list", "2", "", "['ada', 'bob']"),
    ]
    assert panel.status.text() == "4 variables"
    qtbot.keyClicks(panel.filter, "NA")
    assert [row[0] for row in panel.rows()] == ["names"]
    panel.clear_filter()
    # Back to fresh runs: nothing to show; the session again: its variables.
    window.sessions_panel.list.setCurrentRow(0)
    assert panel.rows() == []
    with qtbot.waitSignal(panel.sig_refreshed, timeout=20_000):
        window.sessions_panel.list.setCurrentRow(1)
    assert len(panel.rows()) == 4


def test_variables_dock_lists_javascript_bindings(qtbot: QtBot, window: MainWindow) -> None:
    panel = window.variables_panel
    window.sessions_panel.new_session(RuntimeType.JAVASCRIPT)
    qtbot.waitUntil(lambda: not panel.busy, timeout=10_000)
    with qtbot.waitSignal(panel.sig_refreshed, timeout=20_000):
        run(qtbot, window, "const total = 7; let label = 'x';")
    assert panel.rows() == [
        ("label", "string", "1", "", '"x"'),
        ("total", "number", "", "", "7"),
    ]


def test_run_chart_shows_the_current_sessions_runs(qtbot: QtBot, window: MainWindow) -> None:
    chart = window.run_chart
    assert chart.points() == []
    run(qtbot, window, "print(1)")
    run(qtbot, window, "print(sum(range(10000)))")
    fresh = chart.points()
    assert len(fresh) == 2
    assert fresh[1][0] > fresh[0][0] > 0  # fuel: the loop costs more
    assert all(ms > 0 for _fuel, ms in fresh)
    session = window.sessions_panel.new_session(RuntimeType.PYTHON)
    assert session is not None
    assert chart.points() == []  # a new session has no runs yet
    assert window.chart_title.text() == f"Runs of session {session.session_id[:8]}"
    with qtbot.waitSignal(chart.sig_redrawn, check_params_cb=lambda n: n == 1, timeout=20_000):
        run(qtbot, window, "x = 1")
    window.sessions_panel.list.setCurrentRow(0)
    assert chart.points() == fresh


def test_recent_files(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert window.recent_files() == [] and not window.recent_menu.isEnabled()
    first, second = tmp_path / "first.py", tmp_path / "second.js"
    first.write_text("print('first')\n")
    second.write_text("console.log('second')\n")
    window.open_file(str(first))
    window.open_file(str(second))
    window.open_file(str(first))  # moves to the top, no duplicate
    assert window.recent_files() == [str(first.resolve()), str(second.resolve())]
    titles = [a.text() for a in window.recent_menu.actions() if a.text()]
    assert titles[:2] == ["&1  first.py", "&2  second.js"]
    saved = tmp_path / "saved.py"
    window.editor.path = saved
    window.save()
    assert window.recent_files()[0] == str(saved.resolve())
    # The list survives a restart (QSettings).
    window.settings.sync()
    again = MainWindow(window.settings, history_path=tmp_path / "history.json")
    qtbot.addWidget(again)
    assert again.recent_files() == window.recent_files()
    # A file that vanished is dropped with a message, and the editor keeps its text.
    second.unlink()
    shown: list[str] = []
    monkeypatch.setattr(
        "workbench.gui.main_window.QMessageBox.information",
        lambda _parent, _title, text: shown.append(text),
    )
    window.editor.setPlainText("kept")
    window.recent_menu.actions()[2].trigger()
    assert shown and "no longer there" in shown[0]
    assert window.editor.toPlainText() == "kept"
    assert str(second.resolve()) not in window.recent_files()
    window.clear_recent_files()
    assert window.recent_files() == [] and not window.recent_menu.isEnabled()
    again.close()


def test_fresh_runs_workspace_is_not_listed_as_a_session(qtbot: QtBot, window: MainWindow) -> None:
    run(qtbot, window, "open('/app/scratch.txt', 'w').write('x')")
    panel = window.sessions_panel
    panel.refresh()
    ids = [panel.list.item(r).data(Qt.ItemDataRole.UserRole) for r in range(panel.list.count())]
    assert "workbench-scratch" not in ids
    assert "scratch.txt" in _listed(window)


def test_editor_tabs(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = window.editor
    assert window.tabs.count() == 1 and window.tabs.tabText(0) == "untitled 1"
    first.insertPlainText("print('one')")  # as typed: the tab is marked modified
    assert window.tabs.tabText(0) == "untitled 1 *"
    window.new_tab_action.trigger()
    assert window.tabs.count() == 2 and window.editor is not first
    result = run(qtbot, window, "print('two')")  # Run runs the current tab
    assert result.stdout == "two\n"
    window.tabs.setCurrentIndex(0)
    with qtbot.waitSignal(window.sig_execution_finished, timeout=20_000) as blocker:
        window.run_action.trigger()
    assert blocker.args[0].stdout == "one\n"
    # The find bar searches the current tab.
    window.tabs.setCurrentIndex(1)
    assert window.find_bar.editor is window.editor
    # Files: one tab each; opening one again shows its tab.
    script = tmp_path / "script.js"
    script.write_text("console.log('file')\n")
    window.open_file(str(script))
    assert window.tabs.count() == 3 and window.tabs.tabText(2) == "script.js"
    assert window.editor.language == "javascript" and window.editor.path == script.resolve()
    window.tabs.setCurrentIndex(0)
    window.open_file(str(script))
    assert window.tabs.count() == 3 and window.tabs.currentIndex() == 2
    # Closing a tab with unsaved changes asks first.
    asked: list[str] = []
    monkeypatch.setattr(window, "_confirm_discard", lambda title: asked.append(title) or False)
    assert not window.close_tab(0)
    assert asked == ["untitled 1"] and window.tabs.count() == 3
    monkeypatch.setattr(window, "_confirm_discard", lambda title: True)
    assert window.close_tab(0)
    # Saving clears the mark.
    window.tabs.setCurrentIndex(window.tabs.count() - 1)
    window.editor.selectAll()
    window.editor.insertPlainText("console.log('changed')\n")
    assert window.tabs.tabText(window.tabs.currentIndex()) == "script.js *"
    window.save()
    assert script.read_text() == "console.log('changed')\n"
    assert window.tabs.tabText(window.tabs.currentIndex()) == "script.js"
    # The last tab closed leaves an empty one.
    while window.tabs.count() > 1:
        window.close_tab(0)
    window.close_current_tab()
    assert window.tabs.count() == 1 and window.editor.toPlainText() == ""


def test_tabs_and_unsaved_text_come_back_after_a_restart(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(
        "workbench.gui.main_window.QMessageBox.warning",
        lambda _parent, _title, text: warnings.append(text),
    )
    saved = tmp_path / "saved.py"
    saved.write_text("print('on disk')\n")
    window.editor.setPlainText("draft = 1  # never saved")
    window.open_file(str(saved))
    window.open_file(str(tmp_path / "missing.py"))  # refused: no tab for it
    assert len(warnings) == 1 and "missing.py" in warnings[0]
    window.save_settings()
    again = MainWindow(window.settings, history_path=tmp_path / "history.json")
    qtbot.addWidget(again)
    texts = [editor.toPlainText() for editor in again.editors()]
    assert texts == ["draft = 1  # never saved", "print('on disk')\n"]
    assert again.tabs.tabText(0).endswith(" *")  # still unsaved
    assert again.editors()[1].path == saved.resolve()
    assert again.tabs.currentIndex() == 1
    again.close()


def test_workspace_files_open_in_their_own_tab(qtbot: QtBot, window: MainWindow) -> None:
    window.editor.setPlainText("print('mine')")
    window.file_browser.sig_open_in_editor_requested.emit("data/table.csv", "a,b\n1,2\n")
    assert window.tabs.count() == 2
    assert window.tabs.tabText(1) == "/app/data/table.csv"
    assert window.editor.toPlainText() == "a,b\n1,2\n"
    assert window.editors()[0].toPlainText() == "print('mine')"


def test_a_run_shows_the_output_tab(qtbot: QtBot, window: MainWindow) -> None:
    window.console_dock.raise_()
    run(qtbot, window, "print('where is it')")
    assert not window.output_dock.visibleRegion().isEmpty()
    assert window.console_dock.visibleRegion().isEmpty()


@pytest.mark.parametrize(
    "stored",
    ["not json", "{}", '[1, {"text": 5}, {"path": 7}, {"path": "/nowhere/gone.py"}]'],
)
def test_damaged_tab_settings_give_one_empty_tab(
    qtbot: QtBot, tmp_path: Path, engine: SandboxEngine, stored: str
) -> None:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("editor/tabs", stored)
    win = MainWindow(settings, history_path=tmp_path / "history.json")
    qtbot.addWidget(win)
    assert [editor.toPlainText() for editor in win.editors()] == [""]
    win.close()
