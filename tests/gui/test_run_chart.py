"""The run chart's axes: what pyqtgraph shows for no run, one run and many."""

from __future__ import annotations

import time

import pytest
from pytestqt.qtbot import QtBot

from workbench.gui.run_chart import RunChart
from workbench.sandbox import ExecutionPolicy, RunHistory, RunRecord, RuntimeType

SESSION = "chart-test"


def record(index: int, fuel: int, ms: float, *, success: bool = True) -> RunRecord:
    return RunRecord(
        run_id=f"run-{index}",
        started_at=time.time(),
        session_id=SESSION,
        code="print(1)",
        runtime=RuntimeType.PYTHON,
        policy=ExecutionPolicy(),
        outcome="succeeded" if success else "failed (exit code 1)",
        success=success,
        fuel_consumed=fuel,
        fuel_budget=2_000_000_000,
        duration_ms=ms,
    )


@pytest.fixture
def chart(qtbot: QtBot) -> tuple[RunChart, RunHistory]:
    history = RunHistory()
    widget = RunChart(history)
    qtbot.addWidget(widget)
    widget.resize(500, 250)
    widget.show()
    widget.set_session(SESSION)
    return widget, history


def ranges(widget: RunChart) -> tuple[list[float], list[float], list[float]]:
    """(runs axis, fuel axis in millions, time axis in seconds) as drawn."""
    runs, fuel = widget.plot.getPlotItem().vb.viewRange()
    return runs, fuel, widget.time_view.viewRange()[1]


def test_one_run_is_drawn_on_axes_that_start_at_zero(
    chart: tuple[RunChart, RunHistory], qtbot: QtBot
) -> None:
    widget, history = chart
    history.add(record(1, fuel=12_000_000, ms=35.0))
    qtbot.waitUntil(lambda: len(widget.points()) == 1)
    runs, fuel, seconds = ranges(widget)
    assert runs[0] >= 0 and runs[0] < 1 < runs[1] <= 2  # run 1, inside, not at an edge
    assert fuel[0] == 0 and 12 < fuel[1] < 12 * 1.5  # the point near the top, not centred
    # Before: pyqtgraph centred the point in a unit window, -0.465 s to 0.535 s.
    assert seconds[0] == 0 and 0.035 < seconds[1] < 0.035 * 1.5


def test_no_run_shows_empty_axes_from_zero(chart: tuple[RunChart, RunHistory]) -> None:
    widget, _history = chart
    runs, fuel, seconds = ranges(widget)
    assert runs[0] >= 0 and fuel == [0, 1] and seconds == [0, 1]


def test_many_runs_fit_and_both_value_axes_still_start_at_zero(
    chart: tuple[RunChart, RunHistory], qtbot: QtBot
) -> None:
    widget, history = chart
    for i in range(1, 31):
        history.add(record(i, fuel=i * 1_000_000, ms=100.0 + i, success=i % 7 != 0))
    qtbot.waitUntil(lambda: len(widget.points()) == 30)
    runs, fuel, seconds = ranges(widget)
    assert runs[0] < 1 and 30 < runs[1] < 31
    assert fuel[0] == 0 and fuel[1] > 30
    assert seconds[0] == 0 and seconds[1] > 0.130
