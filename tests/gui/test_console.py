"""The Console dock: a Jupyter console sharing the editor's live interpreter (offscreen Qt)."""

from __future__ import annotations

import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from workbench.gui.console import ConsoleDock
from workbench.gui.main_window import MainWindow
from workbench.sandbox import RuntimeType, SandboxResult, TrapKind


def editor_run(qtbot: QtBot, win: MainWindow, code: str) -> SandboxResult:
    win.editor.setPlainText(code)
    with qtbot.waitSignal(win.sig_execution_finished, timeout=20_000) as blocker:
        win.run_action.trigger()
    result: SandboxResult = blocker.args[0]
    return result


def console_run(qtbot: QtBot, dock: ConsoleDock, code: str) -> SandboxResult:
    with qtbot.waitSignal(dock.sig_result, timeout=20_000) as blocker:
        dock.execute(code)
    result: SandboxResult = blocker.args[0]
    return result


def console_text(dock: ConsoleDock) -> str:
    return str(dock.console._control.toPlainText())


def test_console_shares_the_interpreter_with_the_editor(qtbot: QtBot, window: MainWindow) -> None:
    dock = window.console_dock
    qtbot.waitUntil(lambda: "no session bound yet" in console_text(dock))
    session = window.sessions_panel.new_session(RuntimeType.PYTHON)
    assert session is not None
    qtbot.waitUntil(lambda: "Console bound to python session" in console_text(dock))
    # Run a file from the editor, inspect its variables in the console...
    editor_run(qtbot, window, "import math\nradius = 2\narea = math.pi * radius ** 2")
    result = console_run(qtbot, dock, "round(area, 3)")
    assert result.success and result.session_id == session.session_id
    qtbot.waitUntil(lambda: "12.566" in console_text(dock))
    # ... and the other way round.
    console_run(qtbot, dock, "from_console = radius * 10\nprint('set from the console')")
    qtbot.waitUntil(lambda: "set from the console" in console_text(dock))
    assert editor_run(qtbot, window, "print(from_console)").stdout == "20\n"
    # Same workspace too.
    console_run(qtbot, dock, "open('/app/note.txt', 'w').write('hi')")
    assert session.read_file("note.txt") == b"hi"
    # The GUI thread never ran wasm: results came from the kernel's thread.
    assert dock.kernel_thread._thread is not threading.main_thread()


def test_console_errors_and_completions(qtbot: QtBot, window: MainWindow) -> None:
    dock = window.console_dock
    window.sessions_panel.new_session(RuntimeType.PYTHON)
    failed = console_run(qtbot, dock, "1 / 0")
    assert not failed.success
    qtbot.waitUntil(lambda: "ZeroDivisionError: division by zero" in console_text(dock))
    console_run(qtbot, dock, "import math")
    replies: list[dict] = []
    dock.client.shell_channel.message_received.connect(
        lambda msg: replies.append(msg) if msg["msg_type"] == "complete_reply" else None
    )
    dock.client.complete("math.sq")
    qtbot.waitUntil(lambda: bool(replies), timeout=10_000)
    assert replies[0]["content"]["matches"] == ["sqrt"]


def test_stop_interrupts_a_console_cell(qtbot: QtBot, window: MainWindow) -> None:
    dock = window.console_dock
    window.policy_editor.load_preset("default")
    window.sessions_panel.new_session(RuntimeType.PYTHON)
    console_run(qtbot, dock, "kept = 1")
    with qtbot.waitSignal(dock.sig_result, timeout=30_000) as blocker:
        dock.execute("import time\nwhile True:\n    time.sleep(0.05)")
        qtbot.waitUntil(lambda: window.stop_action.isEnabled(), timeout=10_000)
        window.stop_action.trigger()
    result: SandboxResult = blocker.args[0]
    assert result.trap_kind is TrapKind.CANCELLED
    qtbot.waitUntil(lambda: "cancelled on request" in console_text(dock))
    qtbot.waitUntil(lambda: not window.stop_action.isEnabled(), timeout=10_000)
    assert console_run(qtbot, dock, "print('alive')").success


def test_switching_sessions_rebinds_and_keeps_history(qtbot: QtBot, window: MainWindow) -> None:
    dock = window.console_dock
    panel = window.sessions_panel
    first = panel.new_session(RuntimeType.PYTHON)
    console_run(qtbot, dock, "marker = 'first'")
    second = panel.new_session(RuntimeType.JAVASCRIPT)
    assert first is not None and second is not None
    qtbot.waitUntil(lambda: "Console bound to javascript session" in console_text(dock))
    qtbot.waitUntil(lambda: dock.console.language_name == "javascript", timeout=10_000)
    result = console_run(qtbot, dock, "const answer = 6 * 7;\nanswer")
    assert result.session_id == second.session_id and result.display_value == "42"
    # Input history survives the switch (Up arrow brings back earlier cells).
    assert "marker = 'first'" in dock.console._history
    dock.console._control.setFocus()
    qtbot.keyClick(dock.console._control, Qt.Key.Key_Up)
    # Back to the first session: its interpreter kept its state.
    panel.list.setCurrentRow(panel.list.count() - 1)
    for row in range(panel.list.count()):
        if panel.list.item(row).data(Qt.ItemDataRole.UserRole) == first.session_id:
            panel.list.setCurrentRow(row)
    assert panel.session is first
    assert console_run(qtbot, dock, "marker").display_value == "'first'"


def test_restart_gives_a_fresh_interpreter_in_the_same_workspace(
    qtbot: QtBot, window: MainWindow
) -> None:
    dock = window.console_dock
    window.sessions_panel.new_session(RuntimeType.PYTHON)
    console_run(qtbot, dock, "open('/app/kept.txt', 'w').write('x')\nvalue = 1")
    dock.restart()
    result = console_run(qtbot, dock, "'value' in globals(), open('/app/kept.txt').read()")
    assert result.display_value == "(False, 'x')"


def test_closing_a_console_stops_its_only_iopub_thread(qtbot: QtBot) -> None:
    """A console has one IOPub thread, and closing it stops that thread and finishes its
    gc task (ipykernel leaves the task pending: "Task was destroyed but it is pending!")."""

    def iopub_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "IOPub"}

    before = iopub_threads()
    for _ in range(5):  # the kernel thread and this one both used to create one
        dock = ConsoleDock()
        thread = dock.kernel.iopub_thread
        dock.shutdown()
        assert not thread.thread.is_alive()
        task = thread._event_pipe_gc_task
        assert task is not None and task.done()
        assert iopub_threads() <= before
        dock.deleteLater()
