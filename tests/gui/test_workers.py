"""Worker threads: who deletes a worker, when, and on which thread (offscreen Qt)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shiboken6
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from workbench.gui.workers import FunctionWorker, start_in_thread

# Many short workers whose references end at random moments, as in the GUI: the
# result slot drops its reference on the GUI thread while another Python thread
# (standing for a frame, a callback or the garbage collector) still holds one
# and lets go a little later. When whoever dropped the last reference deleted
# the worker, this crashed the process (SIGSEGV/SIGBUS or a malloc abort) in
# nearly every run; in the test suite it showed up as rare crashes anywhere.
_STRESS = textwrap.dedent(
    """
    import os, queue, random, sys, threading, time
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QObject, QTimer, Slot
    from PySide6.QtWidgets import QApplication
    from workbench.gui.workers import FunctionWorker, start_in_thread

    COUNT = int(sys.argv[1])
    random.seed(7)
    app = QApplication([])
    held = queue.SimpleQueue()

    def holder():
        while True:
            item = held.get()
            if item is None:
                return
            time.sleep(random.random() * 0.0005)
            del item

    threading.Thread(target=holder, daemon=True).start()

    class Owner(QObject):
        def __init__(self):
            super().__init__()
            self.worker = None
            self.done = 0

        def next(self):
            if self.done == COUNT:
                held.put(None)
                QTimer.singleShot(200, app.quit)  # the last threads end
                return
            worker = FunctionWorker(lambda: None)
            worker.sig_finished.connect(self.finished)
            self.worker = worker
            start_in_thread(worker)

        @Slot(object)
        def finished(self, _value):
            self.done += 1
            held.put(self.worker)
            self.worker = None
            self.next()

    owner = Owner()
    QTimer.singleShot(0, owner.next)
    app.exec()
    print("finished", owner.done)
    """
)


def test_workers_survive_references_dropped_anywhere(tmp_path: Path) -> None:
    script = tmp_path / "stress.py"
    script.write_text(_STRESS, "utf-8")
    run = subprocess.run(
        [sys.executable, str(script), "1000"],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout}\n{run.stderr}"
    assert "finished 1000" in run.stdout


class _Receiver(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.values: list[object] = []

    def take(self, value: object) -> None:
        self.values.append(value)


def test_the_thread_deletes_its_worker_once_it_has_ended(qtbot: QtBot) -> None:
    receiver = _Receiver()
    worker = FunctionWorker(lambda: 42)
    worker.sig_finished.connect(receiver.take)
    thread = start_in_thread(worker)
    qtbot.waitUntil(lambda: receiver.values == [42])
    # The caller still holds the worker: the thread deletes its C++ object anyway,
    # on the GUI thread after it ended, and the thread object goes too.
    qtbot.waitUntil(lambda: not shiboken6.isValid(worker))
    qtbot.waitUntil(lambda: not shiboken6.isValid(thread))
    assert worker.function() == 42  # the Python side stays usable


def test_a_failing_worker_is_cleaned_up_too(qtbot: QtBot) -> None:
    receiver = _Receiver()

    def fail() -> None:
        raise ValueError("no")

    worker = FunctionWorker(fail)
    worker.sig_errored.connect(receiver.take)
    thread = start_in_thread(worker)
    qtbot.waitUntil(lambda: len(receiver.values) == 1)
    assert isinstance(receiver.values[0], ValueError)
    qtbot.waitUntil(lambda: not shiboken6.isValid(worker))
    qtbot.waitUntil(lambda: not shiboken6.isValid(thread))


def test_the_widget_that_started_a_worker_may_go_first(qtbot: QtBot) -> None:
    # A window closed (and deleted) while its worker runs: the thread must not be
    # deleted with it (a running QThread's deletion aborts the process).
    release = threading.Event()
    widget = QWidget()
    receiver = _Receiver()
    worker = FunctionWorker(lambda: release.wait(10))
    worker.sig_finished.connect(receiver.take)
    thread = start_in_thread(worker)
    qtbot.waitUntil(thread.isRunning)
    shiboken6.delete(widget)
    release.set()
    qtbot.waitUntil(lambda: receiver.values == [True])
    qtbot.waitUntil(lambda: not shiboken6.isValid(thread))
