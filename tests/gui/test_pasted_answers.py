"""Run on a pasted LLM answer runs its code, not its prose (offscreen Qt, real sandbox)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QApplication, QToolButton
from pytestqt.qtbot import QtBot

from workbench.gui.main_window import MainWindow
from workbench.sandbox import RuntimeType, SandboxResult

ANSWER = (
    "Sure! Here's a script that prints the answer:\n"
    "\n"
    "```python\n"
    "answer = 6 * 7\n"
    "print(f'The answer is {answer}')\n"
    "```\n"
    "\n"
    "Save it as `answer.py` and run it with `python answer.py`. Hope this helps!\n"
)


def paste(qtbot: QtBot, win: MainWindow, text: str) -> None:
    """Put ``text`` in the editor the way a person does: through the clipboard."""
    QApplication.clipboard().setText(text)
    win.editor.clear()
    win.editor.setFocus()
    qtbot.keyClick(win.editor, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert win.editor.toPlainText() == text


def press_run(qtbot: QtBot, win: MainWindow) -> None:
    """Click the toolbar's Run button."""
    buttons = [
        button
        for button in win.findChildren(QToolButton)
        if button.defaultAction() is win.run_action and button.isVisible()
    ]
    assert buttons, "no visible Run button"
    qtbot.mouseClick(buttons[0], Qt.MouseButton.LeftButton)


def run_pasted(qtbot: QtBot, win: MainWindow, text: str) -> SandboxResult:
    paste(qtbot, win, text)
    with qtbot.waitSignal(win.sig_execution_finished, timeout=20_000) as blocker:
        press_run(qtbot, win)
    result: SandboxResult = blocker.args[0]
    return result


def test_run_on_a_pasted_answer_runs_its_python_block(qtbot: QtBot, window: MainWindow) -> None:
    result = run_pasted(qtbot, window, ANSWER)
    assert result.success, result.stderr
    assert result.runtime is RuntimeType.PYTHON
    output = window.output.toPlainText()
    assert output == (
        "Ran the python block of the pasted answer; "
        "Keep just the code (Ctrl+Shift+K) to edit it.\n"
        "The answer is 42\n"
    )
    assert "SyntaxError" not in output + result.stderr
    assert window.editor.toPlainText() == ANSWER  # the text is left as it was
    # The history keeps what ran, so Rerun runs the code, not the prose.
    assert window.history[-1].code == ("answer = 6 * 7\nprint(f'The answer is {answer}')")


def test_a_javascript_answer_runs_in_javascript(qtbot: QtBot, window: MainWindow) -> None:
    answer = (
        "You can do it like this:\n\n```js\nconst xs = [1, 2, 3].map(x => x * 2);\n"
        "console.log(xs.join(','));\n```\nThat prints the doubled list.\n"
    )
    result = run_pasted(qtbot, window, answer)
    assert result.success and result.runtime is RuntimeType.JAVASCRIPT
    assert window.output.toPlainText().endswith("\n2,4,6\n")
    assert "the javascript block" in window.output.toPlainText()


def test_two_languages_run_nothing_and_say_why(qtbot: QtBot, window: MainWindow) -> None:
    answer = (
        "In Python:\n\n```python\nprint('py')\n```\n\nOr in JavaScript:\n\n"
        "```javascript\nconsole.log('js');\n```\n"
    )
    paste(qtbot, window, answer)
    with qtbot.assertNotEmitted(window.sig_execution_started, wait=300):
        press_run(qtbot, window)
    assert not window.running
    output = window.output.toPlainText()
    assert "1 python block and 1 javascript block" in output
    assert "Nothing was run" in output and "Runtime" in output
    assert window.editor.toPlainText() == answer
    # Naming the language in the toolbar settles it.
    window.runtime_combo.setCurrentIndex(window.runtime_combo.findData("javascript"))
    with qtbot.waitSignal(window.sig_execution_finished, timeout=20_000) as blocker:
        press_run(qtbot, window)
    assert blocker.args[0].stdout == "js\n"


def test_an_answer_without_runnable_code_runs_nothing(qtbot: QtBot, window: MainWindow) -> None:
    answer = "Install it first:\n\n```bash\npip install requests\n```\n"
    paste(qtbot, window, answer)
    with qtbot.assertNotEmitted(window.sig_execution_started, wait=300):
        press_run(qtbot, window)
    output = window.output.toPlainText()
    assert "no Python or JavaScript code to run" in output
    assert "Nothing was run" in output
    assert "Nothing was run" in window.statusBar().currentMessage()


def test_run_selection_inside_a_fence_runs_that_selection(qtbot: QtBot, window: MainWindow) -> None:
    answer = (
        "Two versions:\n\n```python\nprint('python version')\n```\n\n"
        "```js\nconsole.log('first js line');\nconsole.log('second js line');\n```\n"
    )
    paste(qtbot, window, answer)
    # Select the first line of the JavaScript block (line 8 of the text).
    cursor = window.editor.textCursor()
    cursor.movePosition(QTextCursor.MoveOperation.Start)
    cursor.movePosition(QTextCursor.MoveOperation.Down, n=7)
    cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor)
    window.editor.setTextCursor(cursor)
    assert window.editor.textCursor().selectedText() == "console.log('first js line');"
    with qtbot.waitSignal(window.sig_execution_finished, timeout=20_000) as blocker:
        window.run_selection_action.trigger()
    result: SandboxResult = blocker.args[0]
    assert result.runtime is RuntimeType.JAVASCRIPT  # the fence's language, under Auto
    assert window.output.toPlainText() == "first js line\n"


def test_a_traceback_line_leads_into_the_answers_block(qtbot: QtBot, window: MainWindow) -> None:
    answer = "Here you go:\n\n```python\n\nx = 1\nprint(x / 0)\n```\nEnjoy!\n"
    result = run_pasted(qtbot, window, answer)
    assert not result.success and "ZeroDivisionError" in result.stderr
    assert 'File "<code>", line 2' in result.stderr
    assert window.jump_to_traceback_line('  File "<code>", line 2, in <module>')
    assert window.editor.textCursor().block().text() == "print(x / 0)"


def test_code_without_fences_and_a_script_with_fences_in_a_string_run_as_they_are(
    qtbot: QtBot, window: MainWindow
) -> None:
    script = 'doc = """\n```python\nprint(1)\n```\n"""\nprint(doc.count("```"))\n'
    result = run_pasted(qtbot, window, script)
    assert result.success and result.stdout == "2\n"
    assert "pasted answer" not in window.output.toPlainText()
    result = run_pasted(qtbot, window, "print('plain')\n")
    assert window.output.toPlainText() == "plain\n"
