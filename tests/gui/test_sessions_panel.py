"""The Sessions dock lists sessions only: folders that aren't sessions stay out."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from workbench.gui.sessions_panel import SessionsPanel
from workbench.sandbox import (
    RuntimeType,
    SandboxEngine,
    create_sandbox,
    create_session,
    default_workspace_root,
    delete_session,
)

STRAY = "9d1c2b3a-4e5f-4a6b-8c7d-0e1f2a3b4c5d"


@pytest.fixture
def stray_folder() -> Iterator[Path]:
    """A fresh-run folder as older versions left them: a workspace, no session.json."""
    folder = default_workspace_root() / STRAY
    (folder / "workspace").mkdir(parents=True)
    (folder / "audit.jsonl").write_text("", encoding="utf-8")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def listed(panel: SessionsPanel) -> list[str]:
    return [
        panel.list.item(row).data(Qt.ItemDataRole.UserRole) for row in range(panel.list.count())
    ]


def test_the_sessions_list_shows_sessions_and_no_other_folder(
    qtbot: QtBot, engine: SandboxEngine, stray_folder: Path
) -> None:
    session = create_session(RuntimeType.PYTHON)
    try:
        # A fresh run in the same root leaves nothing to list either.
        with create_sandbox(RuntimeType.JAVASCRIPT, warm=False) as sandbox:
            assert sandbox.execute("console.log(1)").success
        panel = SessionsPanel()
        qtbot.addWidget(panel)
        ids = listed(panel)
        assert ids[0] == "__fresh__"
        assert session.session_id in ids
        assert STRAY not in ids and sandbox.session_id not in ids
        assert not (default_workspace_root() / sandbox.session_id).exists()
        assert stray_folder.is_dir()  # listed or not, never touched
    finally:
        delete_session(session.session_id)


def test_new_session_starts_the_runtime_chosen_beside_it(
    qtbot: QtBot, engine: SandboxEngine
) -> None:
    panel = SessionsPanel()
    qtbot.addWidget(panel)
    # Every runtime is offered, python-sci under a name that says what it has.
    offered = [panel.runtime_choice.itemData(i) for i in range(panel.runtime_choice.count())]
    assert offered == [runtime.value for runtime in RuntimeType]
    sci = panel.runtime_choice.findData(RuntimeType.PYTHON_SCI.value)
    assert panel.runtime_choice.itemText(sci) == "Python (scientific)"
    tip = panel.runtime_choice.itemData(sci, Qt.ItemDataRole.ToolTipRole)
    assert "pandas" in tip and "Plots" in tip

    panel.runtime_choice.setCurrentIndex(sci)
    assert panel.chosen_runtime() is RuntimeType.PYTHON_SCI
    assert "Python (scientific) session" in panel.new_button.toolTip()
    with qtbot.waitSignal(panel.sig_session_changed) as blocker:
        qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    session = blocker.args[0]
    try:
        assert session is panel.session and session.runtime is RuntimeType.PYTHON_SCI
        current = panel.list.currentItem()
        assert current.data(Qt.ItemDataRole.UserRole) == session.session_id
        assert current.text().startswith("python-sci ")
        assert "python-sci session" in panel.status.text()
        # Another runtime, chosen in code the way the window preselects one.
        panel.choose_runtime(RuntimeType.JAVASCRIPT)
        with qtbot.waitSignal(panel.sig_session_changed) as blocker:
            panel.new_button.click()
        js = blocker.args[0]
        assert js.runtime is RuntimeType.JAVASCRIPT and js is not session
        delete_session(js.session_id)
    finally:
        delete_session(session.session_id)
