"""The Plots dock, through the real window running real python-sci code (offscreen Qt)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import xml.etree.ElementTree as ET

import pytest
from PySide6.QtCore import QBuffer, QIODevice
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog
from pytestqt.qtbot import QtBot

from workbench.gui.main_window import MainWindow
from workbench.gui.plots_view import EMPTY_TEXT, PlotsView
from workbench.sandbox import Figure, RuntimeType, SandboxEngine, SandboxResult

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Two figures: one shown with plt.show(), one still open when the code ends.
TWO_FIGURES = """\
import matplotlib.pyplot as plt
plt.plot([1, 3, 2])
plt.title("first")
plt.show()
plt.figure(figsize=(3, 2), dpi=100)
plt.bar(["a", "b"], [2, 5])
print("drawn")
"""


def run(qtbot: QtBot, win: MainWindow, code: str, timeout: int = 300_000) -> SandboxResult:
    win.editor.setPlainText(code)
    with qtbot.waitSignal(win.sig_execution_finished, timeout=timeout) as blocker:
        win.run_action.trigger()
    result: SandboxResult = blocker.args[0]
    return result


def plots(win: MainWindow) -> PlotsView:
    view = win.plots_dock.widget()
    assert isinstance(view, PlotsView)
    return view


def test_the_dock_is_a_tab_beside_result_and_says_how_figures_get_there(
    window: MainWindow,
) -> None:
    view = plots(window)
    assert window.plots_dock in window.tabifiedDockWidgets(window.result_dock)
    assert window.plots_dock.toggleViewAction() in window.menuBar().actions()[-2].menu().actions()
    assert view.empty.text() == EMPTY_TEXT and "python-sci" in EMPTY_TEXT
    assert "plt.show()" in EMPTY_TEXT
    assert not view.empty.isHidden() and view.splitter.isHidden()
    assert not view.save_action.isEnabled() and not view.copy_action.isEnabled()


def test_a_python_sci_run_shows_its_figures_to_zoom_save_and_copy(
    qtbot: QtBot, window: MainWindow, sci_engine: SandboxEngine, tmp_path: Path
) -> None:
    window.policy_editor.set_policy(
        window.policy().with_updates(fuel_budget=60_000_000_000, timeout_seconds=300)
    )
    result = run(qtbot, window, TWO_FIGURES)
    assert result.success, result.stderr
    assert result.runtime is RuntimeType.PYTHON_SCI  # Auto: the code imports matplotlib
    view = plots(window)
    # Both figures, side by side as thumbnails, the first selected and shown.
    assert view.thumbnails.count() == 2 and len(view.figures) == 2
    assert [view.thumbnails.item(i).text() for i in range(2)] == ["Figure 1", "Figure 2"]
    assert not view.thumbnails.item(1).icon().isNull()
    assert view.current_index == 0 and view.empty.isHidden()
    QApplication.processEvents()
    assert not window.plots_dock.visibleRegion().isEmpty()  # brought to the front
    assert view.viewer.image is not None
    assert view.viewer.image.size().toTuple() == (result.figures[0].width, 480)
    assert "2 figures" in view.status.text()

    # Zoom: 100 %, a step in, fit again.
    view.select(1)
    assert view.viewer.image.size().toTuple() == (300, 200)
    view.actual_action.trigger()
    assert view.viewer.zoom() == 1.0
    assert view.viewer.label.pixmap().size().toTuple() == (300, 200)
    view.zoom_in_action.trigger()
    assert view.viewer.label.pixmap().width() == 375 and "zoom 125 %" in view.status.text()
    view.fit_action.trigger()
    assert view.viewer.fitted and "fitted" in view.status.text()

    # Save writes the PNG the guest rendered; the name offered is ours.
    saved = view.save_figure(0, tmp_path / "plot")
    assert saved == tmp_path / "plot.png"
    data = saved.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and data == result.figures[0].data
    loaded = QImage(str(saved))
    assert not loaded.isNull() and loaded.width() == result.figures[0].width

    # The workbench asked for SVG: each figure has one, vector graphics with its text.
    assert all(figure.svg is not None for figure in result.figures)
    assert view.no_svg_reason(0) == "" and "No SVG" not in view.status.text()
    svg_path = view.save_figure(0, tmp_path / "plot.svg")
    assert svg_path == tmp_path / "plot.svg"
    root = ET.fromstring(svg_path.read_bytes())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.find(".//{http://www.w3.org/2000/svg}path") is not None
    assert b"first" in svg_path.read_bytes()  # the figure's title

    offered: list[str] = []
    filters: list[str] = []

    def choose(_parent: object, _title: str, start: str, _filter: str) -> tuple[str, str]:
        offered.append(start)
        filters.append(_filter)
        return str(tmp_path / "chosen.png"), _filter.split(";;")[0]

    view.select(1)
    original = QFileDialog.getSaveFileName
    QFileDialog.getSaveFileName = staticmethod(choose)  # type: ignore[assignment]
    try:
        view.save_action.trigger()
    finally:
        QFileDialog.getSaveFileName = original  # type: ignore[method-assign]
    assert Path(offered[0]) == tmp_path / "figure-2.png"  # where the last save went
    assert filters[0] == "PNG image (*.png);;SVG image (*.svg)"
    assert QImage(str(tmp_path / "chosen.png")).size().toTuple() == (300, 200)

    # Choosing the SVG filter saves the SVG, under the name given plus .svg.
    def choose_svg(_parent: object, _title: str, start: str, _filter: str) -> tuple[str, str]:
        return str(tmp_path / "vector"), "SVG image (*.svg)"

    QFileDialog.getSaveFileName = staticmethod(choose_svg)  # type: ignore[assignment]
    try:
        view.save_action.trigger()
    finally:
        QFileDialog.getSaveFileName = original  # type: ignore[method-assign]
    assert (tmp_path / "vector.svg").read_bytes() == result.figures[1].svg

    # Copy: the clipboard holds the image (the platform offers it as PNG).
    view.copy_action.trigger()
    assert QApplication.clipboard().mimeData().hasImage()
    assert QApplication.clipboard().image().size().toTuple() == (300, 200)

    # A larger view in a window of its own.
    dialog = view.open_larger()
    assert isinstance(dialog, QDialog) and dialog.isVisible()
    assert "300 x 200" in dialog.windowTitle()
    dialog.close()

    # The next run without figures clears the view: it shows the last run's.
    result = run(qtbot, window, "import matplotlib\nprint(matplotlib.__name__)")
    assert result.success and result.figures == []
    assert view.thumbnails.count() == 0 and not view.empty.isHidden()


def test_figures_are_checked_before_they_are_decoded(qtbot: QtBot, tmp_path: Path) -> None:
    view = PlotsView()
    qtbot.addWidget(view)
    # A header claiming a huge image is named, not decoded; a save still writes the
    # bytes under our name, with the figure's own suffix.
    huge = Figure(index=1, data=PNG_SIGNATURE + b"\0" * 32, width=60_000, height=60_000)
    view.set_figures([huge], truncated=True)
    assert view.viewer.image is None
    assert "too large to show" in view.viewer.label.text()
    assert "left out" in view.status.text()
    assert not view.copy_figure()
    assert view.save_figure(0, tmp_path / "x.svg") == tmp_path / "x.svg.png"
    # It has no SVG, and the view says why: here the caps (the run was truncated).
    assert "didn't fit the run's figure caps" in view.status.text()
    assert "didn't fit" in view.save_action.toolTip()
    with pytest.raises(ValueError, match="No SVG"):
        view.save_figure(0, tmp_path / "y.svg", svg=True)


def test_save_offers_svg_only_when_the_figure_has_one(qtbot: QtBot, tmp_path: Path) -> None:
    view = PlotsView()
    qtbot.addWidget(view)
    image = QImage(20, 10, QImage.Format.Format_RGB32)
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    png = bytes(buffer.data().data())
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>'
    view.set_figures(
        [
            Figure(index=1, data=png, width=20, height=10),
            Figure(index=2, data=png, width=20, height=10, svg=svg),
        ]
    )
    filters: list[str] = []

    def choose(_parent: object, _title: str, _start: str, _filter: str) -> tuple[str, str]:
        filters.append(_filter)
        return "", ""

    original = QFileDialog.getSaveFileName
    QFileDialog.getSaveFileName = staticmethod(choose)  # type: ignore[assignment]
    try:
        view.save_action.trigger()
        view.select(1)
        view.save_action.trigger()
    finally:
        QFileDialog.getSaveFileName = original  # type: ignore[method-assign]
    assert filters == ["PNG image (*.png)", "PNG image (*.png);;SVG image (*.svg)"]
    view.select(0)
    assert "rendered PNG only" in view.status.text()
    assert "rendered PNG only" in view.save_action.toolTip()
    view.select(1)
    assert "No SVG" not in view.status.text()
    assert view.save_action.toolTip() == "Save the figure as PNG or SVG"


@pytest.mark.parametrize("count", [0, 3])
def test_the_view_fits_a_narrow_dock(qtbot: QtBot, count: int) -> None:
    image = QImage(40, 30, QImage.Format.Format_RGB32)
    image.fill(0xFF3366)
    from PySide6.QtCore import QBuffer, QByteArray

    raw = QByteArray()
    buffer = QBuffer(raw)
    buffer.open(QBuffer.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    figures = [Figure(index=i + 1, data=raw.data(), width=40, height=30) for i in range(count)]
    view = PlotsView()
    qtbot.addWidget(view)
    view.set_figures(figures)
    assert view.minimumSizeHint().width() <= 325  # the right column's least width
    assert view.thumbnails.count() == count


def test_a_console_cell_drawing_a_figure_starts_python_sci_and_fills_the_view(
    qtbot: QtBot, window: MainWindow, sci_engine: SandboxEngine
) -> None:
    window.policy_editor.set_policy(
        window.policy().with_updates(fuel_budget=60_000_000_000, timeout_seconds=300)
    )
    # Fresh runs selected and Auto in the toolbar: the first input starts a live
    # session, python-sci because the input imports matplotlib.
    assert window.sessions_panel.session is None and window.chosen_runtime() is None
    dock = window.console_dock
    with qtbot.waitSignal(dock.sig_result, timeout=300_000) as blocker:
        dock.execute("import matplotlib.pyplot as plt\nplt.plot([2, 1])\nplt.show()")
    result: SandboxResult = blocker.args[0]
    session = window.sessions_panel.session
    assert session is not None and session.runtime is RuntimeType.PYTHON_SCI
    assert result.success and result.session_id == session.session_id
    assert "python-sci session" in window.windowTitle()  # selecting it raised before
    view = plots(window)
    qtbot.waitUntil(lambda: view.thumbnails.count() == 1)
    assert view.figures[0].data == result.figures[0].data
    # The Console asks for SVG for the dock's Save, and shows the PNG itself.
    assert view.figures[0].svg is not None and view.no_svg_reason(0) == ""


def test_copying_a_figure_leaves_a_clean_exit(tmp_path: Path) -> None:
    """Qt's clipboard outlives Python: what Copy puts there must not crash the exit.

    A QMimeData made in Python was deleted by Qt's clipboard after the interpreter
    had finalized, and the process ended with SIGSEGV (exit 139) instead of 0.
    """
    script = tmp_path / "copy_and_exit.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            from PySide6.QtCore import QBuffer
            from PySide6.QtGui import QImage
            from PySide6.QtWidgets import QApplication
            from workbench.gui.plots_view import PlotsView
            from workbench.sandbox import Figure

            app = QApplication(sys.argv)
            image = QImage(40, 30, QImage.Format.Format_ARGB32)
            image.fill(0xFF3366CC)
            buffer = QBuffer()
            buffer.open(QBuffer.OpenModeFlag.WriteOnly)
            image.save(buffer, "PNG")
            png = bytes(buffer.data().data())
            view = PlotsView()
            view.set_figures([Figure(index=1, data=png, width=40, height=30)])
            assert view.copy_figure(0)
            assert QApplication.clipboard().image().size().toTuple() == (40, 30)
            print("copied")
            """
        )
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.stdout.strip() == "copied", done.stderr
    assert done.returncode == 0, done.stderr
