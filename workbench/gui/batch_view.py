"""The Batch view: evaluate a samples file in the background, see pass@k and failures.

Open a problems file and a samples file, choose the runtime of problems that
don't name one (HumanEval's files don't), Run: the core's :func:`evaluate` runs
on a worker thread (the GUI thread never runs wasm) with the policy of the
Policy dock, and each result arrives by signal. The view shows progress, pass@k
and the failures by cause, filters the failed samples, and opens one in the
editor as the program a person would run (prompt, completion, test, check), so
it can be rerun there under another policy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.sandbox import (
    EvalProblem,
    EvalSample,
    EvalSummary,
    ExecutionPolicy,
    RuntimeType,
    SampleResult,
    assemble_program,
    evaluate,
    load_problems,
    load_samples,
)

from .workers import start_in_thread

if TYPE_CHECKING:
    from .main_window import MainWindow

__all__ = ["BatchView", "BatchWorker", "install_batch_dock"]

COLUMNS = ("Task", "Sample", "Result", "Fuel", "Time", "Error")
KS = (1, 10, 100)
#: The runtimes a problem without a ``language`` can run in, as the toolbar names them.
RUNTIMES = (
    ("Python", RuntimeType.PYTHON),
    ("Python (scientific)", RuntimeType.PYTHON_SCI),
    ("JavaScript", RuntimeType.JAVASCRIPT),
)


class BatchWorker(QObject):
    """Runs one evaluation on a worker thread; :meth:`stop` ends it early."""

    # ---- Signals

    #: Emitted with each SampleResult as it finishes.
    sig_result = Signal(object)
    #: Emitted with the EvalSummary when the evaluation is over (or stopped).
    sig_finished = Signal(object)
    #: Emitted with the exception if the evaluation could not run.
    sig_errored = Signal(object)

    def __init__(
        self,
        problems: dict[str, EvalProblem],
        samples: Path,
        policy: ExecutionPolicy,
    ) -> None:
        super().__init__()
        self.problems = problems
        self.samples = samples
        self.policy = policy
        self._stop = threading.Event()

    @Slot()
    def run(self) -> None:
        """Evaluate (in the worker thread)."""
        try:
            with evaluate(self.problems, self.samples, policy=self.policy, ks=KS) as run:
                for result in run:
                    self.sig_result.emit(result)
                    if self._stop.is_set():
                        break
                summary = run.summary()
        except Exception as exc:
            self.sig_errored.emit(exc)
            return
        self.sig_finished.emit(summary)

    def stop(self) -> None:
        """Stop after the sample that is running (from any thread)."""
        self._stop.set()


class BatchView(QWidget):
    """Open a samples file, run it in the background, inspect the results."""

    # ---- Signals

    #: Emitted to open a sample in the editor.
    #:
    #: Parameters: the program (prompt, completion, test and check), its runtime
    #: (``"python"``, ``"python-sci"`` or ``"javascript"``) and a tab title.
    sig_open_requested = Signal(str, str, str)
    #: Emitted with the EvalSummary when a run ends.
    sig_finished = Signal(object)

    def __init__(
        self, policy: Callable[[], ExecutionPolicy], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._policy = policy
        self._problems: dict[str, EvalProblem] = {}
        self._samples: dict[int, EvalSample] = {}
        self._results: list[SampleResult] = []
        self._worker: BatchWorker | None = None
        self.problems_path: Path | None = None
        self.samples_path: Path | None = None

        style = self.style()
        self.problems_button = QPushButton("Problems…", self)
        self.problems_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon))
        self.problems_button.clicked.connect(self._choose_problems)
        self.samples_button = QPushButton("Samples…", self)
        self.samples_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon))
        self.samples_button.clicked.connect(self._choose_samples)
        self.run_button = QPushButton("Run", self)
        self.run_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.run_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaStop))
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setEnabled(False)
        self.runtime_combo = QComboBox(self)
        for label, runtime in RUNTIMES:
            self.runtime_combo.addItem(label, runtime.value)
        self.runtime_combo.setToolTip(
            "The runtime of problems that don't name one in a 'language' field "
            "(HumanEval's files don't). Python (scientific) is CPython 3.15: the fastest "
            "for plain Python too."
        )
        self.runtime_combo.setAccessibleName("Runtime of the problems")
        self.runtime_combo.currentIndexChanged.connect(self._runtime_changed)
        runtime_label = QLabel("Runtime", self)
        runtime_label.setBuddy(self.runtime_combo)
        self.files_label = QLabel("Open a problems file and a samples file (JSONL).", self)
        self.files_label.setTextFormat(Qt.TextFormat.PlainText)
        self.progress = QProgressBar(self)
        self.summary_label = QLabel("", self)
        self.summary_label.setTextFormat(Qt.TextFormat.PlainText)
        self.summary_label.setWordWrap(True)
        self.failures_only = QCheckBox("Failed samples only", self)
        self.failures_only.toggled.connect(self._apply_filter)
        self.open_button = QPushButton("Open in editor", self)
        self.open_button.clicked.connect(self.open_selected)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(
            len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch
        )
        self.table.verticalHeader().hide()
        self.table.cellDoubleClicked.connect(lambda row, _column: self._open_row(row))

        top = QHBoxLayout()
        for widget in (self.problems_button, self.samples_button, self.run_button):
            top.addWidget(widget)
        top.addWidget(self.stop_button)
        top.addWidget(self.progress, 1)
        filters = QHBoxLayout()
        filters.addWidget(self.failures_only)
        filters.addStretch(1)
        filters.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        # The runtime goes with the files (it decides how their problems are read),
        # on their row: the top one is as wide as the window's minimum allows.
        chosen = QHBoxLayout()
        chosen.addWidget(self.files_label, 1)
        chosen.addWidget(runtime_label)
        chosen.addWidget(self.runtime_combo)
        layout.addLayout(top)
        layout.addLayout(chosen)
        layout.addWidget(self.summary_label)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        self._update_buttons()

    # ---- Public API

    @property
    def runtime(self) -> RuntimeType:
        """The runtime of problems that don't name one."""
        return RuntimeType(self.runtime_combo.currentData())

    def set_runtime(self, runtime: RuntimeType | str) -> None:
        """Choose the runtime of problems that don't name one (reloads the problems).

        Raises
        ------
        ValueError
            If ``runtime`` is not a runtime's name.
        """
        index = self.runtime_combo.findData(RuntimeType(runtime).value)
        self.runtime_combo.setCurrentIndex(index)

    def set_files(self, problems: str | Path, samples: str | Path) -> None:
        """Load a problems file and a samples file (malformed lines are counted, skipped)."""
        self.problems_path, self.samples_path = Path(problems), Path(samples)
        self._problems, bad_problems = load_problems(self.problems_path, self.runtime.value)
        samples_list, bad_samples = load_samples(self.samples_path)
        self._samples = {s.index: s for s in samples_list}
        skipped = len(bad_problems) + len(bad_samples)
        self.files_label.setText(
            f"{self.problems_path.name}: {len(self._problems)} problems; "
            f"{self.samples_path.name}: {len(samples_list)} samples"
            + (f" ({skipped} malformed lines skipped)" if skipped else "")
        )
        self._clear_results()
        self._update_buttons()

    def start(self) -> None:
        """Run the loaded samples under the current policy, in the background."""
        if self._worker is not None or not self._samples or self.samples_path is None:
            return
        self._clear_results()
        runnable = sum(1 for s in self._samples.values() if s.task_id in self._problems)
        self.progress.setRange(0, runnable)
        self.progress.setValue(0)
        # The file itself goes to evaluate(): a result's sample_index is then the
        # sample's line number less one, the key of self._samples.
        worker = BatchWorker(self._problems, self.samples_path, self._policy())
        worker.sig_result.connect(self._add_result)
        worker.sig_finished.connect(self._finished)
        worker.sig_errored.connect(self._errored)
        self._worker = worker
        self.summary_label.setText("Running…")
        start_in_thread(worker)
        self._update_buttons()

    def stop(self) -> None:
        """Stop the run after the samples under way."""
        if self._worker is not None:
            self._worker.stop()

    @property
    def running(self) -> bool:
        """Whether an evaluation runs."""
        return self._worker is not None

    def open_selected(self) -> None:
        """Open the selected sample's program in the editor."""
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self._open_row(rows[0].row())

    # ---- Internals

    def _choose_problems(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open problems", "", "JSONL (*.jsonl *.jsonl.gz *.gz);;All files (*)"
        )
        if path:
            self.problems_path = Path(path)
            if self.samples_path is not None:
                self.set_files(self.problems_path, self.samples_path)
            else:
                self.files_label.setText(f"{self.problems_path.name}: now open a samples file.")

    def _choose_samples(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open samples", "", "JSONL (*.jsonl *.jsonl.gz);;All files (*)"
        )
        if path and self.problems_path is not None:
            self.set_files(self.problems_path, path)
        elif path:
            self.samples_path = Path(path)
            self.files_label.setText(f"{self.samples_path.name}: now open a problems file.")

    def _runtime_changed(self) -> None:
        # The problems' runtime is fixed when they are read: read them again.
        if self._worker is None and self.problems_path is not None and self.samples_path:
            self.set_files(self.problems_path, self.samples_path)

    def _clear_results(self) -> None:
        self._results = []
        self.table.setRowCount(0)
        self.summary_label.setText("")
        self.progress.setValue(0)

    @Slot(object)
    def _add_result(self, result: SampleResult) -> None:
        self._results.append(result)
        row = self.table.rowCount()
        self.table.insertRow(row)
        line = result.sample_index + 1
        outcome = "passed" if result.passed else (result.cause or "failed")
        cells = (
            result.task_id,
            f"line {line}",
            outcome,
            f"{result.fuel / 1e6:.1f} M",
            f"{result.duration_ms:.0f} ms",
            result.error,
        )
        for column, text in enumerate(cells):
            item = QTableWidgetItem(str(text))
            item.setData(Qt.ItemDataRole.UserRole, len(self._results) - 1)
            self.table.setItem(row, column, item)
        self.table.setRowHidden(row, self.failures_only.isChecked() and result.passed)
        self.progress.setValue(len(self._results))

    @Slot(object)
    def _finished(self, summary: EvalSummary) -> None:
        self._worker = None
        self.summary_label.setText(summary.text())
        self._update_buttons()
        self.sig_finished.emit(summary)

    @Slot(object)
    def _errored(self, exc: BaseException) -> None:
        self._worker = None
        self.summary_label.setText(f"The evaluation could not run: {exc}")
        self._update_buttons()

    def _apply_filter(self) -> None:
        only_failed = self.failures_only.isChecked()
        for row in range(self.table.rowCount()):
            result = self._result_at(row)
            self.table.setRowHidden(row, only_failed and result is not None and result.passed)

    def _result_at(self, row: int) -> SampleResult | None:
        item = self.table.item(row, 0)
        if item is None:
            return None
        index = item.data(Qt.ItemDataRole.UserRole)
        return self._results[index] if isinstance(index, int) else None

    def _open_row(self, row: int) -> None:
        result = self._result_at(row)
        if result is None:
            return
        original = self._samples.get(result.sample_index)
        problem = self._problems.get(result.task_id)
        if original is None or problem is None:
            return
        program = assemble_program(problem, original.completion)
        title = f"{result.task_id} (line {original.index + 1})"
        self.sig_open_requested.emit(program, problem.language.value, title)

    def _update_buttons(self) -> None:
        running = self._worker is not None
        self.run_button.setEnabled(not running and bool(self._samples))
        self.stop_button.setEnabled(running)
        self.problems_button.setEnabled(not running)
        self.samples_button.setEnabled(not running)
        self.runtime_combo.setEnabled(not running)


def install_batch_dock(window: MainWindow) -> QDockWidget:
    """Add the Batch dock to ``window``, beside History, with its policy from the Policy dock.

    A sample opened from it becomes a new editor tab, to be rerun there, with the
    toolbar's runtime set to the one the sample ran in.
    """
    view = BatchView(window.policy_editor.policy, window)

    def open_in_editor(program: str, runtime_name: str, title: str) -> None:
        runtime = RuntimeType(runtime_name)
        window.new_tab(program, title=title, language=runtime.language)
        if window.runtime_combo.isEnabled():  # not while a session (one runtime) is open
            window.runtime_combo.setCurrentIndex(window.runtime_combo.findData(runtime.value))

    view.sig_open_requested.connect(open_in_editor)
    dock = QDockWidget("Batch", window)
    dock.setObjectName("batch-dock")
    dock.setWidget(view)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
    window.tabifyDockWidget(window.history_dock, dock)
    return dock
