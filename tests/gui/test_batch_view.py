"""The Batch view, offscreen, driving the real evaluate() and the real main window."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from pytestqt.qtbot import QtBot

from workbench.gui.batch_view import BatchView
from workbench.sandbox import EvalSummary, ExecutionPolicy, FailureCause, RuntimeType

if TYPE_CHECKING:
    from workbench.gui.main_window import MainWindow
    from workbench.sandbox import SandboxEngine

PROBLEM = {
    "task_id": "T/add",
    "prompt": "def add(a, b):\n",
    "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
    "entry_point": "add",
}
SAMPLES = [
    {"task_id": "T/add", "completion": "    return a + b\n"},
    {"task_id": "T/add", "completion": "    return a * b\n"},
    {"task_id": "T/add", "completion": "    return b + a\n"},
]


def files(tmp_path: Path) -> tuple[Path, Path]:
    problems = tmp_path / "problems.jsonl"
    problems.write_text(json.dumps(PROBLEM) + "\n", encoding="utf-8")
    samples = tmp_path / "samples.jsonl"
    samples.write_text(
        json.dumps(SAMPLES[0])
        + "\nnot json\n"
        + "".join(json.dumps(s) + "\n" for s in SAMPLES[1:]),
        encoding="utf-8",
    )
    return problems, samples


def policy() -> ExecutionPolicy:
    return ExecutionPolicy(fuel_budget=300_000_000, timeout_seconds=60)


def visible_rows(view: BatchView) -> list[str]:
    return [
        view.table.item(row, 2).text()
        for row in range(view.table.rowCount())
        if not view.table.isRowHidden(row)
    ]


def test_batch_view_runs_filters_and_opens_a_sample(
    qtbot: QtBot, engine: object, tmp_path: Path
) -> None:
    view = BatchView(policy)
    qtbot.addWidget(view)
    problems, samples = files(tmp_path)
    assert not view.run_button.isEnabled()
    view.set_files(problems, samples)
    assert "1 problems" in view.files_label.text() and "1 malformed" in view.files_label.text()
    with qtbot.waitSignal(view.sig_finished, timeout=120_000) as finished:
        view.run_button.click()
        assert view.running and not view.run_button.isEnabled()
    summary: EvalSummary = finished.args[0]
    assert summary.passed == 2 and summary.failures == {FailureCause.ASSERTION: 1}
    assert not view.running and view.run_button.isEnabled()
    assert "pass@1: 0.6667" in view.summary_label.text()
    assert view.progress.value() == 3
    assert sorted(visible_rows(view)) == ["assertion", "passed", "passed"]
    view.failures_only.setChecked(True)
    assert visible_rows(view) == ["assertion"]
    failed_row = next(r for r in range(view.table.rowCount()) if not view.table.isRowHidden(r))
    assert view.table.item(failed_row, 1).text() == "line 3"  # after the malformed line 2
    view.table.selectRow(failed_row)
    with qtbot.waitSignal(view.sig_open_requested) as opened:
        view.open_selected()
    program, language, title = opened.args
    assert language == "python" and title == "T/add (line 3)"
    assert program == PROBLEM["prompt"] + SAMPLES[1]["completion"] + "\n" + PROBLEM["test"] + (
        "\ncheck(add)\n"
    )


def test_the_main_window_has_a_batch_dock_that_opens_tabs(window: MainWindow) -> None:
    view = window.batch_dock.widget()
    assert isinstance(view, BatchView)
    tabs = window.tabs.count()
    view.sig_open_requested.emit("print('x')\n", "python", "T/1 (line 1)")
    assert window.tabs.count() == tabs + 1
    assert window.tabs.currentWidget().toPlainText() == "print('x')\n"


#: Passes only in CPython 3.15: the runtime the problem ran in decides the result.
VERSION_PROBLEM = {
    "task_id": "T/version",
    "prompt": "import sys\n\ndef minor():\n",
    "test": "def check(candidate):\n    assert candidate() == 15, candidate()\n",
    "entry_point": "minor",
}


def test_the_runtime_chooser_runs_problems_without_a_language_in_python_sci(
    qtbot: QtBot, sci_engine: SandboxEngine, window: MainWindow, tmp_path: Path
) -> None:
    view = window.batch_dock.widget()
    assert isinstance(view, BatchView)
    assert view.runtime is RuntimeType.PYTHON  # HumanEval's files are Python
    problems = tmp_path / "problems.jsonl"
    problems.write_text(json.dumps(VERSION_PROBLEM) + "\n", encoding="utf-8")
    samples = tmp_path / "samples.jsonl"
    samples.write_text(
        json.dumps({"task_id": "T/version", "completion": "    return sys.version_info[1]\n"})
        + "\n",
        encoding="utf-8",
    )
    view.set_files(problems, samples)
    with qtbot.waitSignal(view.sig_finished, timeout=120_000) as finished:
        view.run_button.click()
        assert not view.runtime_combo.isEnabled()  # not while the batch runs
    assert finished.args[0].failures == {FailureCause.ASSERTION: 1}  # CPython 3.12
    assert "12" in view.table.item(0, 5).text()

    view.runtime_combo.setCurrentIndex(view.runtime_combo.findData("python-sci"))
    assert view.runtime is RuntimeType.PYTHON_SCI
    assert view.table.rowCount() == 0  # the problems were read again, results cleared
    with qtbot.waitSignal(view.sig_finished, timeout=180_000) as finished:
        view.run_button.click()
    assert finished.args[0].passed == 1
    # Opened in the editor, the sample runs where the batch ran it.
    window.runtime_combo.setCurrentIndex(window.runtime_combo.findData("auto"))
    view.table.selectRow(0)
    view.open_selected()
    assert window.tabs.currentWidget().toPlainText().startswith("import sys")
    assert window.runtime_combo.currentData() == "python-sci"
    with qtbot.waitSignal(window.sig_execution_finished, timeout=120_000) as ran:
        window.run_code()
    assert ran.args[0].success and ran.args[0].runtime is RuntimeType.PYTHON_SCI


def test_set_runtime_refuses_an_unknown_name(qtbot: QtBot) -> None:
    view = BatchView(policy)
    qtbot.addWidget(view)
    view.set_runtime("javascript")
    assert view.runtime is RuntimeType.JAVASCRIPT
    with pytest.raises(ValueError, match="ruby"):
        view.set_runtime("ruby")
    assert view.runtime is RuntimeType.JAVASCRIPT
