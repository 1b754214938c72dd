"""The Console dock never swallows input, and runs pasted LLM answers' code (offscreen Qt)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from pytestqt.qtbot import QtBot

from workbench.gui.console import ConsoleDock
from workbench.gui.main_window import MainWindow
from workbench.sandbox import RuntimeType, SandboxResult

ANSWER = (
    "Sure! Here's how you'd compute it:\n\n```python\nvalue = 6 * 7\nprint('value is', value)\n"
    "```\n\nLet me know if you'd like more.\n"
)


def console_text(dock: ConsoleDock) -> str:
    return str(dock.console._control.toPlainText())


def type_and_enter(qtbot: QtBot, dock: ConsoleDock, text: str) -> SandboxResult:
    """Type ``text`` at the console's prompt and press Enter, as a person does."""
    control = dock.console._control
    control.setFocus()
    qtbot.waitUntil(lambda: not dock.console._executing, timeout=10_000)
    qtbot.waitUntil(lambda: console_text(dock).rstrip().endswith("]:"), timeout=10_000)
    control.moveCursor(QTextCursor.MoveOperation.End)  # to the prompt
    qtbot.keyClicks(control, text)
    assert dock.console.input_buffer == text
    with qtbot.waitSignal(dock.sig_result, timeout=30_000) as blocker:
        qtbot.keyClick(control, Qt.Key.Key_Return)
    result: SandboxResult = blocker.args[0]
    return result


def test_first_input_without_a_session_starts_one(qtbot: QtBot, window: MainWindow) -> None:
    dock = window.console_dock
    assert window.sessions_panel.session is None  # the default: Fresh runs
    qtbot.waitUntil(lambda: "type code to start a live session" in console_text(dock))
    result = type_and_enter(qtbot, dock, "print(6*7)")
    assert result.success and result.stdout == "42\n"
    qtbot.waitUntil(lambda: "42" in console_text(dock))
    session = window.sessions_panel.session
    assert session is not None and session.runtime is RuntimeType.PYTHON
    assert result.session_id == session.session_id
    text = console_text(dock)
    assert f"started a live python session {session.session_id[:8]} for this input" in text
    assert text.count("Console bound to") == 0  # one line says it, not two
    # The next cell runs in the same interpreter, without another session.
    assert type_and_enter(qtbot, dock, "print(6*7 + 1)").session_id == session.session_id


def test_the_toolbar_runtime_decides_the_new_session(qtbot: QtBot, window: MainWindow) -> None:
    dock = window.console_dock
    window.runtime_combo.setCurrentIndex(window.runtime_combo.findData("javascript"))
    result = type_and_enter(qtbot, dock, "6 * 7")
    assert result.runtime is RuntimeType.JAVASCRIPT and result.display_value == "42"
    assert "started a live javascript session" in console_text(dock)


def test_a_pasted_answer_runs_its_code_in_the_console(qtbot: QtBot, window: MainWindow) -> None:
    dock = window.console_dock
    with qtbot.waitSignal(dock.sig_result, timeout=30_000) as blocker:
        dock.execute(ANSWER)
    result: SandboxResult = blocker.args[0]
    assert result.success and result.stdout == "value is 42\n"
    qtbot.waitUntil(lambda: "value is 42" in console_text(dock))
    text = console_text(dock)
    assert "[Ran the python block of the pasted answer.]" in text
    assert "SyntaxError" not in text
    session = window.sessions_panel.session
    assert session is not None and result.session_id == session.session_id


def test_an_answer_in_two_languages_runs_nothing_in_the_console(
    qtbot: QtBot, window: MainWindow
) -> None:
    dock = window.console_dock
    answer = "Python:\n```python\nprint('py')\n```\nJavaScript:\n```js\nconsole.log('js');\n```\n"
    with qtbot.assertNotEmitted(dock.sig_result, wait=500):
        dock.execute(answer)
        qtbot.waitUntil(lambda: "1 python block and 1 javascript block" in console_text(dock))
    assert "Nothing was run" in console_text(dock)
    assert window.sessions_panel.session is None  # no session started for it


def test_a_console_that_cannot_start_a_session_says_what_to_do(qtbot: QtBot) -> None:
    # A dock on its own (no window to start sessions from) refuses in words.
    dock = ConsoleDock()
    qtbot.addWidget(dock)
    try:
        with qtbot.assertNotEmitted(dock.sig_result, wait=300):
            dock.execute("print(6*7)")
            qtbot.waitUntil(lambda: "not bound to a live session" in console_text(dock))
        assert "Create or select one" in console_text(dock)
    finally:
        dock.shutdown()
