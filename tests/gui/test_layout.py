"""The main window's default layout: dock grouping, column sizes, and what persists.

Sizes are checked at the screen sizes users have (1280x800, 1600x1000,
1920x1080) on the real window, offscreen; the pictures themselves were looked at
under Xvfb (see docs/make_screenshots.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QApplication, QDockWidget, QStyle, QTabBar
from pytestqt.qtbot import QtBot

from workbench.gui.file_browser import FileBrowser
from workbench.gui.main_window import LAYOUT_VERSION, MainWindow
from workbench.sandbox import DiskStorage, RuntimeType, SandboxEngine

LEFT = Qt.DockWidgetArea.LeftDockWidgetArea
RIGHT = Qt.DockWidgetArea.RightDockWidgetArea
BOTTOM = Qt.DockWidgetArea.BottomDockWidgetArea
SIZES = [(1280, 800), (1600, 1000), (1920, 1080)]
#: A typical name of a file a run writes.
TYPICAL_NAME = "sales_report.csv"


def open_window(qtbot: QtBot, settings_path: Path, size: tuple[int, int]) -> MainWindow:
    """A window with the settings at ``settings_path``, shown at ``size``, laid out."""
    settings = QSettings(str(settings_path), QSettings.Format.IniFormat)
    win = MainWindow(settings, history_path=settings_path.parent / "history.json")
    qtbot.addWidget(win)
    win.resize(*size)
    win.show()
    qtbot.waitExposed(win)
    QApplication.processEvents()  # the default layout is applied once the window shows
    return win


@pytest.fixture
def sized(
    request: pytest.FixtureRequest, qtbot: QtBot, engine: SandboxEngine, tmp_path: Path
) -> Iterator[MainWindow]:
    """A first start of the window at the size given by the test's parameter."""
    win = open_window(qtbot, tmp_path / "settings.ini", request.param)
    yield win
    win.close()


def fill_workspace(win: MainWindow, root: Path) -> None:
    """Show a workspace holding a few files a typical run leaves, one of them new."""
    storage = DiskStorage(root)
    storage.create("ws")
    for name in (TYPICAL_NAME, "data.json", "plot.png"):
        storage.write_file("ws", name, b"x" * 2000)
    storage.write_file("ws", "out/summary.txt", b"done\n")
    win.file_browser.set_workspace(storage, "ws")
    win.file_browser.refresh(created=[TYPICAL_NAME])
    QApplication.processEvents()


@pytest.mark.parametrize("sized", SIZES, indirect=True, ids=lambda s: "x".join(map(str, s)))
def test_files_name_column_comes_first(sized: MainWindow, tmp_path: Path) -> None:
    fill_workspace(sized, tmp_path / "storage")
    browser = sized.file_browser
    header = browser.tree.header()
    name_width = header.sectionSize(0)
    assert all(name_width > header.sectionSize(column) for column in (1, 2, 3))
    # The typical name shows whole (bold: the last run created it).
    row = next(
        browser.model.index(r, 0)
        for r in range(browser.model.rowCount())
        if browser.model.index(r, 0).data() == TYPICAL_NAME
    )
    font = row.data(Qt.ItemDataRole.FontRole)
    assert font is not None and font.bold()
    needed = QFontMetrics(font).horizontalAdvance(TYPICAL_NAME)
    assert needed < browser.tree.visualRect(row).width()
    # ...and every column is in view: no sideways scrolling at these sizes.
    assert sum(header.sectionSize(c) for c in range(4)) <= browser.tree.viewport().width()


def test_names_win_over_the_other_columns_when_the_view_is_narrow(
    qtbot: QtBot, tmp_path: Path
) -> None:
    storage = DiskStorage(tmp_path)
    storage.create("ws")
    long_name = "a_rather_long_file_name_an_llm_chose.csv"
    storage.write_file("ws", long_name, b"x")
    browser = FileBrowser()
    qtbot.addWidget(browser)
    browser.resize(300, 400)
    browser.show()
    browser.set_workspace(storage, "ws")
    QApplication.processEvents()
    header = browser.tree.header()
    needed = browser.tree.fontMetrics().horizontalAdvance(long_name)
    assert header.sectionSize(0) > needed
    # Size, Modified and State moved out of sight, behind a horizontal scroll bar.
    assert browser.tree.horizontalScrollBar().maximum() > 0
    browser.resize(900, 400)
    QApplication.processEvents()
    # With room to spare, Name stretches and nothing scrolls.
    assert browser.tree.horizontalScrollBar().maximum() == 0
    viewport = browser.tree.viewport().width()
    assert sum(header.sectionSize(c) for c in range(4)) == viewport


@pytest.mark.parametrize("sized", SIZES[:2], indirect=True, ids=lambda s: "x".join(map(str, s)))
def test_sessions_list_needs_no_sideways_scrolling(qtbot: QtBot, sized: MainWindow) -> None:
    panel = sized.sessions_panel
    panel.new_session(RuntimeType.JAVASCRIPT)
    panel.new_session(RuntimeType.JAVASCRIPT)
    panel.list.setCurrentRow(0)  # back to fresh runs
    QApplication.processEvents()
    assert panel.list.count() >= 3
    widest = max(
        panel.list.visualItemRect(panel.list.item(row)).width() for row in range(panel.list.count())
    )
    texts = [panel.list.item(row).text() for row in range(panel.list.count())]
    needed = max(panel.list.fontMetrics().horizontalAdvance(text) for text in texts)
    assert needed < panel.list.viewport().width(), texts
    assert widest <= panel.list.viewport().width()
    assert panel.list.horizontalScrollBar().maximum() == 0
    # The list has room for more than a handful of sessions.
    assert panel.list.viewport().height() > 8 * panel.list.sizeHintForRow(0)


def test_competing_docks_are_tabs(window: MainWindow) -> None:
    assert set(window.tabifiedDockWidgets(window.sessions_dock)) == {
        window.agent_sessions_dock,
        window.mcp_dock,
    }
    assert set(window.tabifiedDockWidgets(window.result_dock)) == {
        window.plots_dock,
        window.policy_dock,
        window.variables_dock,
    }
    assert set(window.tabifiedDockWidgets(window.output_dock)) == {
        window.history_dock,
        window.console_dock,
        window.batch_dock,
        window.profile_dock,
    }
    # Files stays in view under the Sessions tabs: pick a session, see its files.
    assert window.tabifiedDockWidgets(window.files_dock) == []
    assert window.dockWidgetArea(window.files_dock) == LEFT
    assert window.dockWidgetArea(window.agent_sessions_dock) == LEFT
    assert window.dockWidgetArea(window.mcp_dock) == LEFT  # beside the sessions it serves
    assert window.dockWidgetArea(window.result_dock) == RIGHT
    assert window.dockWidgetArea(window.output_dock) == BOTTOM
    # The Agent sessions view is the one the MCP server reports to.
    assert window.agent_sessions_dock.widget() is window.agent_sessions
    assert window.agent_sessions.controller is window.mcp_dock.controller


@pytest.mark.parametrize("sized", SIZES, indirect=True, ids=lambda s: "x".join(map(str, s)))
def test_the_editor_gets_a_fair_share(sized: MainWindow) -> None:
    width, height = sized.width(), sized.height()
    editor = sized.tabs
    assert editor.width() >= 0.46 * width
    assert editor.height() >= 0.5 * height
    # The side columns run the full height; Output sits under the editor only.
    files = sized.files_dock.geometry()
    output = sized.output_dock.geometry()
    assert files.right() < output.left()
    assert output.right() < sized.result_dock.geometry().left()
    assert sized.files_dock.height() > 0.45 * height
    # Nothing in the window needs more than the smallest size we support.
    assert sized.minimumSizeHint().width() <= 1280
    assert sized.minimumSizeHint().height() <= 800


def dock_tab_bars(win: MainWindow) -> dict[str, QTabBar]:
    """The tab bar of each group of tabbed docks, by the title of its first tab."""
    titles = {dock.windowTitle() for dock in win.findChildren(QDockWidget)}
    bars = {}
    for bar in win.findChildren(QTabBar):
        texts = [bar.tabText(i) for i in range(bar.count())]
        if bar.isVisible() and texts and set(texts) <= titles:
            bars[texts[0]] = bar
    return bars


@pytest.mark.parametrize("sized", SIZES, indirect=True, ids=lambda s: "x".join(map(str, s)))
def test_dock_tab_titles_are_read_whole(sized: MainWindow) -> None:
    bars = dock_tab_bars(sized)
    assert {"Sessions", "Result", "Output"} <= set(bars)
    for first, bar in bars.items():
        metrics = QFontMetrics(bar.font())
        padding = bar.style().pixelMetric(QStyle.PixelMetric.PM_TabBarTabHSpace, None, bar)
        for i in range(bar.count()):
            text = bar.tabText(i)
            # Qt elides a title ("Res…") when its tab is narrower than this.
            needed = metrics.horizontalAdvance(text) + padding
            assert bar.tabRect(i).width() >= needed, (first, text, bar.tabRect(i).width())
        last = bar.tabRect(bar.count() - 1)
        assert last.right() < bar.width(), (first, "tabs scroll")


def test_first_raised_tabs_are_where_runs_show(window: MainWindow) -> None:
    QApplication.processEvents()
    for shown in (window.sessions_dock, window.result_dock, window.output_dock):
        assert not shown.visibleRegion().isEmpty(), shown.windowTitle()
    hidden_docks = (
        window.agent_sessions_dock,
        window.mcp_dock,
        window.policy_dock,
        window.console_dock,
    )
    for hidden in hidden_docks:
        assert hidden.visibleRegion().isEmpty(), hidden.windowTitle()


def move_docks_around(win: MainWindow) -> None:
    """What a user does: sessions to the right, Files floating, History closed."""
    win.addDockWidget(RIGHT, win.sessions_dock)
    win.files_dock.setFloating(True)
    win.history_dock.close()
    QApplication.processEvents()


def test_a_layout_saved_from_this_default_wins(
    qtbot: QtBot, engine: SandboxEngine, tmp_path: Path
) -> None:
    first = open_window(qtbot, tmp_path / "settings.ini", (1600, 1000))
    move_docks_around(first)
    first.close()
    second = open_window(qtbot, tmp_path / "settings.ini", (1600, 1000))
    assert second.dockWidgetArea(second.sessions_dock) == RIGHT
    assert second.files_dock.isFloating()
    assert not second.history_dock.isVisible()
    second.close()


def test_a_layout_saved_from_an_older_default_is_replaced(
    qtbot: QtBot, engine: SandboxEngine, tmp_path: Path
) -> None:
    first = open_window(qtbot, tmp_path / "settings.ini", (1600, 1000))
    move_docks_around(first)
    first.close()
    # What the previous default (before LAYOUT_VERSION) saved: the state without a version.
    first.settings.setValue("window/state", first.saveState())
    first.settings.sync()
    assert LAYOUT_VERSION > 0
    second = open_window(qtbot, tmp_path / "settings.ini", (1600, 1000))
    assert second.dockWidgetArea(second.sessions_dock) == LEFT
    assert not second.files_dock.isFloating()
    assert second.history_dock.isVisible()
    assert set(second.tabifiedDockWidgets(second.sessions_dock)) == {
        second.agent_sessions_dock,
        second.mcp_dock,
    }
    # The window's size is still the user's.
    assert second.size().toTuple() == (1600, 1000)
    second.close()


def test_a_layout_saved_before_the_plots_dock_keeps_it_in_view(
    qtbot: QtBot, engine: SandboxEngine, tmp_path: Path
) -> None:
    first = open_window(qtbot, tmp_path / "settings.ini", (1600, 1000))
    move_docks_around(first)
    # What this version's default saved before the Plots dock existed.
    first.removeDockWidget(first.plots_dock)
    first.close()
    second = open_window(qtbot, tmp_path / "settings.ini", (1600, 1000))
    assert second.dockWidgetArea(second.sessions_dock) == RIGHT  # the user's layout stays
    assert not second.plots_dock.isHidden() and not second.plots_dock.isFloating()
    assert second.dockWidgetArea(second.plots_dock) == RIGHT
    second.close()


def test_reset_layout_brings_every_dock_back(qtbot: QtBot, window: MainWindow) -> None:
    window.resize(1600, 1000)
    move_docks_around(window)
    window.agent_sessions_dock.close()
    assert window.reset_layout_action in window.menuBar().actions()[-2].menu().actions()
    window.reset_layout_action.trigger()
    QApplication.processEvents()
    for dock in window.findChildren(QDockWidget):
        assert not dock.isFloating(), dock.windowTitle()
        assert not dock.isHidden(), dock.windowTitle()
    assert window.dockWidgetArea(window.sessions_dock) == LEFT
    assert window.tabifiedDockWidgets(window.output_dock) == [
        window.history_dock,
        window.console_dock,
        window.batch_dock,
        window.profile_dock,
    ]
    assert window.tabs.width() >= 0.46 * window.width()


def test_toolbar_actions_have_standard_icons(window: MainWindow) -> None:
    for action in (
        window.run_action,
        window.run_profile_action,
        window.stop_action,
        window.extract_action,
    ):
        assert not action.icon().isNull(), action.text()
