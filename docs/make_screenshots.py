"""Render screenshots of the workbench's main views into docs/screenshots/ (offscreen).

Run: ``python docs/make_screenshots.py``. Uses the real sandbox: each picture shows
an actual run. The README embeds the files this writes.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication

OUT = Path(__file__).resolve().parent / "screenshots"


def run_and_wait(window: object, code: str, timeout_ms: int = 60_000) -> None:
    """Run ``code`` in the window and wait for the result."""
    from workbench.gui.main_window import MainWindow

    assert isinstance(window, MainWindow)
    window.editor.setPlainText(code)
    loop = QEventLoop()
    window.sig_execution_finished.connect(lambda _result: loop.quit())
    window.run_action.trigger()
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    QApplication.processEvents()


#: Data code whose figures fill the Plots dock (python-sci, picked by Auto).
PLOTS_CODE = """\
import matplotlib.pyplot as plt
import numpy as np

x = np.linspace(0, 4 * np.pi, 200)
plt.plot(x, np.sin(x), label="sin")
plt.plot(x, np.cos(x), label="cos")
plt.legend()
plt.title("Two waves")
plt.show()

plt.figure(figsize=(4, 3))
plt.hist(np.random.default_rng(1).normal(size=500), bins=30)
plt.title("500 normal samples")
"""


def render_plots(window: object) -> None:
    """A python-sci run's figures in the Plots dock (``plots.png``)."""
    from workbench.gui.main_window import MainWindow

    assert isinstance(window, MainWindow)
    window.policy_editor.set_policy(
        window.policy().with_updates(fuel_budget=60_000_000_000, timeout_seconds=300)
    )
    # The first python-sci instance imports numpy, pandas and pyplot as it starts.
    run_and_wait(window, PLOTS_CODE, timeout_ms=300_000)
    window.grab().save(str(OUT / "plots.png"))


def main() -> int:
    """Render the screenshots; print the files written."""
    from workbench.gui.examples import load_examples
    from workbench.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    OUT.mkdir(parents=True, exist_ok=True)
    settings = QSettings(tempfile.mktemp(suffix=".ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    window.resize(1400, 860)
    window.show()
    examples = {e.path.name: e for e in load_examples()}

    window.load_example(examples["csv_report.py"])
    run_and_wait(window, window.editor.toPlainText())
    window.grab().save(str(OUT / "run-succeeded.png"))

    window.load_example(examples["missing_package.py"])
    run_and_wait(window, window.editor.toPlainText())
    window.grab().save(str(OUT / "error-guidance.png"))

    # A live session: the Variables dock and the chart of its runs.
    from workbench.sandbox import RuntimeType

    window.sessions_panel.new_session(RuntimeType.PYTHON)
    for code in (
        "import statistics\nscores = [3, 5, 8, 13, 21]",
        "mean = statistics.mean(scores)\n"
        "labels = {s: 'high' if s > mean else 'low' for s in scores}",
        "squares = [n * n for n in range(20000)]\ntotal = sum(squares)",
        "report = f'mean {mean:.1f}, total {total}'\nprint(report)",
    ):
        run_and_wait(window, code)
    window.variables_dock.raise_()
    loop = QEventLoop()
    window.variables_panel.sig_refreshed.connect(lambda _rows: loop.quit())
    window.variables_panel.refresh()
    QTimer.singleShot(10_000, loop.quit)
    loop.exec()
    while window.variables_panel.busy:  # a refresh queued behind the last one
        QApplication.processEvents()
    QApplication.processEvents()
    window.grab().save(str(OUT / "live-session.png"))
    window.sessions_panel.list.setCurrentRow(0)
    window.result_dock.raise_()

    window.load_example(examples["infinite_loop.py"])
    run_and_wait(window, window.editor.toPlainText())
    window.dark_action.trigger()
    QApplication.processEvents()
    window.grab().save(str(OUT / "out-of-fuel-dark.png"))
    window.dark_action.trigger()
    render_plots(window)
    window.close()
    app.processEvents()
    for name in sorted(p.name for p in OUT.glob("*.png")):
        print(OUT / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
