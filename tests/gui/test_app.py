"""Starting the workbench: the Windows refusal dialog, the icon, About, ``gui --smoke-test``."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from workbench.gui import app
from workbench.gui.main_window import MainWindow
from workbench.sandbox import SandboxEngine, cache_dir, config_dir


def test_windows_refusal_is_a_dialog(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bundle started from Explorer has no console: the reason must show in a window."""
    monkeypatch.setattr(platform, "system", lambda: "Windows")
    seen: list[str] = []

    def answer() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, answer)
            return
        seen.append(box.windowTitle() + "\n" + box.text())
        box.accept()

    QTimer.singleShot(0, answer)
    assert app.main([]) == 4
    assert seen, "no dialog was shown"
    assert "can't run here" in seen[0] and "GHSA-f2pq-268w-886c" in seen[0]
    # No main window was left behind.
    assert not any(isinstance(w, MainWindow) for w in QApplication.topLevelWidgets())


def test_the_icon_loads() -> None:
    assert not QIcon(str(app.icon_path())).isNull()


def test_about_says_how_it_is_installed(
    window: MainWindow, engine: SandboxEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    about = window.about_text()
    assert "Installed as: Python package" in about
    assert str(cache_dir()) in about and str(config_dir()) in about
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert f"Installed as: Desktop bundle (in {tmp_path})" in window.about_text()


@pytest.mark.slow
def test_gui_smoke_test_opens_and_closes_the_window(engine: SandboxEngine) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-m", "workbench", "gui", "--smoke-test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    # Either may come first: a cached runtime can be ready before the first expose.
    lines = result.stdout.splitlines()
    assert any(line.startswith("smoke-test: window visible after ") for line in lines)
    assert any(line.startswith("smoke-test: runtimes ready after ") for line in lines)
