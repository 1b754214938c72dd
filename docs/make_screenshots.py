"""Render screenshots of the workbench's main views into docs/screenshots/ (offscreen).

Run: ``python docs/make_screenshots.py`` for all of them, or name the ones to render
(``python docs/make_screenshots.py profile``). Uses the real sandbox: each picture
shows an actual run. The README embeds the files this writes.
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


#: The pictures, by the names the command line takes.
SHOTS = (
    "run-succeeded",
    "error-guidance",
    "live-session",
    "out-of-fuel-dark",
    "profile",
    "plots",
)

#: The code of the profile picture: its hot loop is line 5.
PROFILE_CODE = """def is_prime(n):
    if n < 2:
        return False
    for d in range(2, int(n ** 0.5) + 1):
        if n % d == 0:
            return False
    return True


def count_primes(limit):
    return sum(1 for n in range(limit) if is_prime(n))


words = sorted({"alpha", "beta", "gamma", "delta"})
print(count_primes(LIMIT), words[0])
"""


def run_and_wait(
    window: object, code: str, *, profile: bool = False, timeout_ms: int = 150_000
) -> None:
    """Run ``code`` in the window (with a fuel profile if asked) and wait for the result."""
    from workbench.gui.main_window import MainWindow

    assert isinstance(window, MainWindow)
    window.editor.setPlainText(code)
    loop = QEventLoop()
    window.sig_execution_finished.connect(lambda _result: loop.quit())
    (window.run_profile_action if profile else window.run_action).trigger()
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
    # Auto picks python-sci (an earlier picture may have left the toolbar at Python).
    window.runtime_combo.setCurrentIndex(window.runtime_combo.findData("auto"))
    # The first python-sci instance imports numpy, pandas and pyplot as it starts.
    run_and_wait(window, PLOTS_CODE, timeout_ms=300_000)
    window.grab().save(str(OUT / "plots.png"))


def main() -> int:
    """Render the screenshots; print the files written."""
    from workbench.gui.examples import load_examples
    from workbench.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    wanted = set(sys.argv[1:]) or set(SHOTS)
    unknown = wanted - set(SHOTS)
    if unknown:
        print(f"Unknown screenshots: {', '.join(sorted(unknown))}; choose from {', '.join(SHOTS)}")
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    settings = QSettings(tempfile.mktemp(suffix=".ini"), QSettings.Format.IniFormat)
    # A history of its own: the pictures show these runs only, and the user's
    # history (in the config folder) is left alone.
    window = MainWindow(settings, history_path=Path(tempfile.mkdtemp()) / "history.json")
    window.resize(1400, 860)
    window.show()
    examples = {e.path.name: e for e in load_examples()}

    if "run-succeeded" in wanted:
        window.load_example(examples["csv_report.py"])
        run_and_wait(window, window.editor.toPlainText())
        window.grab().save(str(OUT / "run-succeeded.png"))

    if "error-guidance" in wanted:
        window.load_example(examples["missing_package.py"])
        run_and_wait(window, window.editor.toPlainText())
        window.grab().save(str(OUT / "error-guidance.png"))

    if "live-session" in wanted:
        live_session(window)

    if "out-of-fuel-dark" in wanted:
        window.load_example(examples["infinite_loop.py"])
        run_and_wait(window, window.editor.toPlainText())
        window.dark_action.trigger()
        QApplication.processEvents()
        window.grab().save(str(OUT / "out-of-fuel-dark.png"))

    if "profile" in wanted:
        # Two profiled runs, the second doing twice the work, compared line by line.
        from PySide6.QtCore import Qt

        if window.dark_action.isChecked():
            window.dark_action.trigger()
        # Profiling costs no fuel but much wall time (a host call per event).
        window.policy_editor.set_policy(window.policy().with_updates(timeout_seconds=120))
        run_and_wait(window, PROFILE_CODE.replace("LIMIT", "1000"), profile=True)
        run_and_wait(window, PROFILE_CODE.replace("LIMIT", "2000"), profile=True)
        view = window.profile_view
        first = view.runs()[0].run_id
        view.compare_combo.setCurrentIndex(view.compare_combo.findData(first))
        window.resizeDocks([window.profile_dock], [330], Qt.Orientation.Vertical)
        window.editor.go_to_line(5)
        QApplication.processEvents()
        window.grab().save(str(OUT / "profile.png"))

    if "plots" in wanted:
        if window.dark_action.isChecked():
            window.dark_action.trigger()
        render_plots(window)
    window.close()
    app.processEvents()
    for name in sorted(f"{shot}.png" for shot in wanted):
        print(OUT / name)
    return 0


def live_session(window: object) -> None:
    """A live session: the Variables dock and the chart of its runs."""
    from workbench.gui.main_window import MainWindow
    from workbench.sandbox import RuntimeType

    assert isinstance(window, MainWindow)
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


if __name__ == "__main__":
    sys.exit(main())
