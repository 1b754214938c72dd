"""Start the desktop workbench: ``wasm-workbench`` (no arguments) or ``wasm-workbench gui``."""

from __future__ import annotations

import os
import sys

__all__ = ["main", "missing_display"]


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


def main(argv: list[str] | None = None) -> int:
    """Open the main window and run the Qt event loop until it closes."""
    problem = missing_display()
    if problem is None:
        # Before Qt tries the xcb plugin and aborts with its generic message.
        from .qt_libraries import xcb_problem

        problem = xcb_problem()
    if problem is not None:
        print(f"wasm-workbench: {problem}", file=sys.stderr)
        return 2
    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("WASM Workbench")
    app.setOrganizationName("wasm-workbench")
    window = MainWindow()
    window.show_on_screen()  # where it was last time; maximised on a first start
    window.prepare_runtimes()
    return int(app.exec())
