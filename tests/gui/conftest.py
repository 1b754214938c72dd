"""GUI test set-up: offscreen Qt on PySide6, and no QThread left running after a test.

``QT_QPA_PLATFORM=offscreen`` is set at import (dangerzone's ``tests/gui/conftest.py``)
so the tests run without a display; export ``QT_QPA_PLATFORM=xcb`` (or your
platform) to watch them. ``PYTEST_QT_API`` is set here too, but pytest-qt reads it in
``pytest_configure``, which runs before this file is imported unless ``tests/gui``
is named on the command line; ``qt_api = "pyside6"`` in the pytest configuration
is the reliable setting.
"""

from __future__ import annotations

import os
import traceback
import weakref
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYTEST_QT_API", "pyside6")

import pytest
from PySide6.QtCore import QSettings, QThread
from pytestqt.qtbot import QtBot

from workbench.sandbox import SandboxEngine

if TYPE_CHECKING:
    from workbench.gui.main_window import MainWindow

#: How long a thread may take to finish on its own after the test (its
#: ``finished -> quit`` connections are queued, so they need the event loop).
_GRACE_MS = 1000


@pytest.fixture(autouse=True)
def _dangling_qthreads(monkeypatch: pytest.MonkeyPatch, qtbot: QtBot) -> Iterator[None]:
    """Fail a test that leaves a QThread running, naming where it was started.

    napari's ``_dangling_qthreads``: `QThread.start` is wrapped to remember the
    caller; after the test, threads still running after a short grace period
    are quit and reported.
    """
    started: weakref.WeakKeyDictionary[QThread, str] = weakref.WeakKeyDictionary()
    base_start = QThread.start

    def start_and_remember(
        self: QThread, priority: QThread.Priority = QThread.Priority.InheritPriority
    ) -> None:
        started[self] = "".join(traceback.format_stack(limit=8)[:-1])
        base_start(self, priority)

    monkeypatch.setattr(QThread, "start", start_and_remember)
    yield

    def running() -> list[tuple[QThread, str]]:
        alive = []
        for thread, where in list(started.items()):
            # A thread deleted with deleteLater() has no C++ object left.
            with suppress(RuntimeError):
                if thread.isRunning():
                    alive.append((thread, where))
        return alive

    with suppress(qtbot.TimeoutError):
        qtbot.waitUntil(lambda: not running(), timeout=_GRACE_MS)
    dangling = running()
    for thread, _ in dangling:
        with suppress(RuntimeError):
            thread.quit()
            thread.wait(2000)
    if dangling:
        places = "\n".join(where for _, where in dangling)
        pytest.fail(
            f"{len(dangling)} QThread(s) were still running after the test. "
            "Stop and wait for every thread a test starts.\nStarted at:\n" + places
        )


@pytest.fixture
def window(qtbot: QtBot, engine: SandboxEngine, tmp_path: Path) -> Iterator[MainWindow]:
    """A main window with its own settings and history files, shown offscreen."""
    from workbench.gui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings, history_path=tmp_path / "history.json")
    qtbot.addWidget(win)
    win.show()
    yield win
    if win.running:
        win.stop()
        qtbot.waitUntil(lambda: not win.running, timeout=10_000)
    win.close()
