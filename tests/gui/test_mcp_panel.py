"""The workbench runs the MCP server and shows what agents do with it.

A real HTTP server started from the panel, a real agent (the SDK's client on
another thread), and the Sessions dock's agent view following it live.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QPlainTextEdit
from pytestqt.qtbot import QtBot

from workbench.gui.main_window import MainWindow
from workbench.gui.mcp_panel import McpController, McpPanel, McpSessionsView
from workbench.sandbox import SandboxEngine

TOKEN = "gui-test-token-" + "z" * 20
LONG = 60_000


def agent(url: str, results: list[dict[str, Any]], started: threading.Event) -> None:
    """An MCP client: one quick call, then a runaway loop someone must stop."""

    async def work() -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(120, read=300)) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            first = await client.call_tool("execute_code", {"code": "print('hi from agent')"})
            results.append(first.structured_content or {})
            started.set()
            runaway = await client.call_tool(
                # Sleeping, so it spends no fuel: it runs until a person stops it
                # (the deadline is 30 s), however fast the machine. A counting loop
                # ran out of the default 2 B fuel before the test looked on an idle one.
                "execute_code",
                {"code": "import time\nwhile True:\n    time.sleep(0.05)"},
            )
            results.append(runaway.structured_content or {})

    anyio.run(work)


@pytest.fixture
def watched(qtbot: QtBot, engine: SandboxEngine) -> Iterator[tuple[McpPanel, McpSessionsView]]:
    controller = McpController()
    panel = McpPanel(controller)
    view = McpSessionsView()
    view.set_controller(controller)
    qtbot.addWidget(panel)
    qtbot.addWidget(view)
    yield panel, view
    controller.shutdown()


def test_start_watch_stop_a_runaway_call_and_stop_the_server(
    qtbot: QtBot, watched: tuple[McpPanel, McpSessionsView]
) -> None:
    panel, view = watched
    controller = panel.controller
    panel.port.setValue(0)
    panel.token.setText(TOKEN)
    with qtbot.waitSignal(
        controller.sig_state_changed, check_params_cb=lambda s: s == "running", timeout=LONG
    ):
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    url = controller.url
    assert url is not None and url.startswith("http://127.0.0.1:")
    assert f"Serving {url}" in panel.status.text()
    assert panel.start_button.text() == "Stop MCP server"
    assert not panel.host.isEnabled()  # settings are fixed while serving
    config = json.loads(panel.config.toPlainText())
    entry = config["mcpServers"]["wasm-workbench"]
    assert entry["url"] == url and entry["headers"]["Authorization"] == f"Bearer {TOKEN}"

    results: list[dict[str, Any]] = []
    first_done = threading.Event()
    thread = threading.Thread(target=agent, args=(url, results, first_done))
    thread.start()
    try:
        qtbot.waitUntil(lambda: view.tree.topLevelItemCount() == 1, timeout=LONG)
        view.tree.setCurrentItem(view.tree.topLevelItem(0))
        managed = view.selected()
        assert managed is not None
        # The first call's result and output are there to read.
        qtbot.waitUntil(
            lambda: "--- stdout ---\nhi from agent" in view.details.toPlainText(), timeout=LONG
        )
        assert "python run succeeded" in view.details.toPlainText()
        # The runaway call shows as running; a person stops it.
        qtbot.waitUntil(
            lambda: "while True" in view.details.toPlainText() and view.stop_button.isEnabled(),
            timeout=LONG,
        )
        item = view.tree.topLevelItem(0)
        assert item is not None
        qtbot.waitUntil(lambda: item.text(3) == "running" and item.text(4) == "2", timeout=LONG)
        with qtbot.waitSignal(view.sig_workspace_requested) as opened:
            qtbot.mouseClick(view.workspace_button, Qt.MouseButton.LeftButton)
        assert opened.args[0].session_id == managed.id
        assert opened.args[0].workspace == managed.workspace
        qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not thread.is_alive(), timeout=LONG)
    finally:
        if thread.is_alive() and view.selected() is not None:
            view.stop_selected()
        thread.join(LONG / 1000)
    assert results[0]["stdout"] == "hi from agent\n"
    assert results[1]["trap_kind"] == "cancelled"
    qtbot.waitUntil(lambda: "cancelled on request" in view.details.toPlainText(), timeout=LONG)
    details = view.details.toPlainText()
    assert "Fuel" in details and "memory" in details  # metrics
    assert not view.stop_button.isEnabled()
    # The agent disconnected: its session ended with its MCP session, and stays
    # listed as ended so its calls can still be read.
    qtbot.waitUntil(lambda: view.tree.topLevelItem(0).text(3) == "ended", timeout=LONG)
    assert "(ended)" in view.details.toPlainText()
    assert "cancelled on request" in view.details.toPlainText()
    assert not view.workspace_button.isEnabled()  # its workspace was deleted
    assert not managed.workspace.exists()
    qtbot.mouseClick(view.details_button, Qt.MouseButton.LeftButton)
    window = view.details_window
    assert window is not None and window.isVisible()
    assert window.findChild(QPlainTextEdit).toPlainText() == view.details.toPlainText()
    window.close()
    with qtbot.waitSignal(
        controller.sig_state_changed, check_params_cb=lambda s: s == "stopped", timeout=LONG
    ):
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert panel.status.text() == "Stopped." and controller.url is None
    assert panel.host.isEnabled()


def test_a_public_address_gets_a_token_and_bad_settings_are_reported(
    qtbot: QtBot, watched: tuple[McpPanel, McpSessionsView]
) -> None:
    panel, _view = watched
    panel.host.setText("0.0.0.0")
    settings = panel.settings()
    assert settings.token and panel.token.text() == settings.token
    panel.host.setText("127.0.0.1")
    panel.token.setText("short")
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert "Could not run the MCP server" in panel.status.text()
    assert panel.controller.state == "stopped"


def test_client_configurations(watched: tuple[McpPanel, McpSessionsView]) -> None:
    panel, _view = watched
    panel.token.setText(TOKEN)
    texts = []
    for index in range(panel.config_kind.count()):
        panel.config_kind.setCurrentIndex(index)
        texts.append(json.loads(panel.config.toPlainText())["mcpServers"]["wasm-workbench"])
    assert texts[0]["type"] == "http" and texts[0]["url"].endswith(":8765/mcp")
    assert texts[1]["command"] == "npx" and f"Authorization:Bearer {TOKEN}" in texts[1]["args"]
    assert texts[2]["args"][:3] == ["-m", "workbench", "mcp"]


def test_main_window_has_the_mcp_dock(qtbot: QtBot, engine: SandboxEngine, tmp_path: Path) -> None:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings, history_path=tmp_path / "history.json")
    qtbot.addWidget(win)
    win.show()
    assert win.mcp_dock.windowTitle() == "MCP Server"
    assert win.mcp_dock.toggleViewAction() in win.menuBar().actions()[-2].menu().actions()
    assert win.agent_sessions.controller is win.mcp_dock.controller
    win.close()
