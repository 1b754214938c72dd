"""Start the desktop workbench: ``wasm-workbench`` (no arguments) or ``wasm-workbench gui``."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

__all__ = ["SMOKE_TEST_TIMEOUT_S", "icon_path", "main", "missing_display"]

#: How long ``gui --smoke-test`` waits for the runtimes (a first start compiles them).
SMOKE_TEST_TIMEOUT_S = 600


def missing_display() -> str | None:
    """Why no window can open here, or None if one can.

    Qt aborts the process when it can't reach a display, so this is checked
    first and explained in words.
    """
    if sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM"):
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            return (
                "No display is available (neither DISPLAY nor WAYLAND_DISPLAY is set), so "
                "the workbench window can't open. Run code from the command line with "
                "'wasm-workbench run FILE', or start a desktop session (or Xvfb) first."
            )
    return None


def icon_path() -> Path:
    """The application icon (``resources/icons/wasm-workbench.png``)."""
    from workbench.sandbox._resources import data_path

    return data_path("resources") / "icons" / "wasm-workbench.png"


def main(argv: list[str] | None = None, *, smoke_test: bool = False) -> int:
    """Open the main window and run the Qt event loop until it closes.

    Parameters
    ----------
    argv
        Arguments for QApplication (``sys.argv`` by default).
    smoke_test
        Open the window, wait until both runtimes are ready, close it and exit:
        0 if all went well, 1 if they failed or weren't ready within
        :data:`SMOKE_TEST_TIMEOUT_S`. Prints a line with the seconds since start
        when the window is visible and when the runtimes are ready (the desktop
        bundle's smoke test and ``benchmarks/bench_bundle.py`` read them).

    Returns
    -------
    int
        The exit status: 0, or 2 without a display, 4 where guests can't run
        safely (the reason is shown in a dialog first).
    """
    started = time.perf_counter()
    problem = missing_display()
    if problem is None:
        # Before Qt tries the xcb plugin and aborts with its generic message.
        from .qt_libraries import xcb_problem

        problem = xcb_problem()
    if problem is not None:
        print(f"wasm-workbench: {problem}", file=sys.stderr)
        return 2
    from PySide6.QtGui import QGuiApplication, QIcon
    from PySide6.QtWidgets import QApplication, QMessageBox

    from workbench.sandbox import UnsupportedPlatformError, check_platform

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else None
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("WASM Workbench")
    app.setOrganizationName("wasm-workbench")
    # The window manager matches the window to wasm-workbench.desktop by this name
    # (Wayland app id, X11 WM_CLASS), which gives it the icon and name in the dock.
    QGuiApplication.setDesktopFileName("wasm-workbench")
    icon = icon_path()
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    try:
        check_platform()
    except UnsupportedPlatformError as exc:
        # A bundle started from a file manager has no terminal to print to.
        QMessageBox.critical(None, "WASM Workbench can't run here", str(exc))
        return 4

    from .main_window import MainWindow

    window = MainWindow()
    window.show_on_screen()  # where it was last time; maximised on a first start
    if smoke_test:
        _watch_smoke_test(app, window, started)
    window.prepare_runtimes()
    return int(app.exec())


def _watch_smoke_test(app: object, window: object, started: float) -> None:
    """Report when the window is visible and close it once the runtimes are ready."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow

    assert isinstance(app, QApplication) and isinstance(window, MainWindow)

    def say(text: str) -> None:
        print(f"smoke-test: {text} after {time.perf_counter() - started:.3f} s", flush=True)

    state = {"visible": False, "ready": False}

    def finish_when_done() -> None:
        if state["visible"] and state["ready"]:
            window.close()
            app.exit(0)

    def visible() -> None:
        # Exposed: the window system shows it (the first paint can follow).
        handle = window.windowHandle()
        if window.isVisible() and handle is not None and handle.isExposed():
            say("window visible")
            state["visible"] = True
            finish_when_done()
        else:
            QTimer.singleShot(10, window, visible)

    def ready() -> None:
        say("runtimes ready")
        state["ready"] = True
        finish_when_done()

    def failed(exc: BaseException) -> None:
        print(f"smoke-test: the runtimes failed: {exc}", file=sys.stderr, flush=True)
        window.close()
        app.exit(1)

    def too_slow() -> None:
        print(
            f"smoke-test: the runtimes were not ready within {SMOKE_TEST_TIMEOUT_S} s; "
            f"the status bar says: {window.statusBar().currentMessage()!r}",
            file=sys.stderr,
            flush=True,
        )
        window.close()
        app.exit(1)

    QTimer.singleShot(0, window, visible)
    window.sig_runtimes_ready.connect(ready)
    window.sig_runtimes_failed.connect(failed)
    QTimer.singleShot(SMOKE_TEST_TIMEOUT_S * 1000, window, too_slow)
