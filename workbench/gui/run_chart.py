"""A chart of fuel and wall time over the runs of the current session.

People tune a policy by running the same code again and again; the trend shows
whether a change helped. Drawn with pyqtgraph (fuel on the left axis, time on
the right one), fed by the workbench's :class:`~workbench.sandbox.RunHistory`
and filtered to the session that runs the next code.

Runs with a fuel profile (Run with profile) are ringed; clicking a ring emits
:attr:`RunChart.sig_profile_requested` with the run's id, and the window opens
that run's profile.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from workbench.sandbox import RunHistory, RunRecord

__all__ = ["RunChart"]

#: How many of the latest runs are drawn.
MAX_POINTS = 200
FUEL_COLOR = "#1565c0"
TIME_COLOR = "#ef6c00"
FAILED_COLOR = "#c62828"
PROFILE_COLOR = "#6a1b9a"
#: Space above the highest point, as a share of its value.
HEADROOM = 0.15
#: The value axes' tops before any run (fuel in millions, time in seconds).
EMPTY_FUEL_MILLIONS = 1.0
EMPTY_SECONDS = 1.0
#: Up to this many runs, every run gets a tick of its own.
MAX_UNIT_TICKS = 12


class RunChart(QWidget):
    """Fuel used (left axis) and wall time (right axis) per run of one session."""

    # ---- Signals

    #: Emitted with the number of runs drawn after every redraw.
    sig_redrawn = Signal(int)
    #: Emitted when a profiled run's ring is clicked. Contains the run's id.
    sig_profile_requested = Signal(str)

    def __init__(self, history: RunHistory, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history = history
        self.session_id: str | None = None
        self._records: list[RunRecord] = []
        self._profiled: set[str] = set()
        self.plot = pg.PlotWidget(self, background=None)
        self.plot.setAccessibleName("Fuel and time over this session's runs")
        self.plot.setToolTip(
            "Each point is one run of the current session: fuel used (blue, left axis, "
            "red when the run failed) and wall time (orange, right axis). "
            "A ringed point has a fuel profile: click it to open the profile"
        )
        self.plot.setMinimumHeight(150)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "run")
        item.setLabel("left", "fuel, millions", color=FUEL_COLOR)
        item.showAxis("right")
        item.setLabel("right", "time", units="s", color=TIME_COLOR)
        # Time gets a view box of its own, sharing the x axis (pyqtgraph's
        # MultiplePlotAxes recipe).
        self.time_view = pg.ViewBox()
        # Above the plot (and its fuel curve): both axes scale to their own data,
        # so similar trends draw on the same pixels.
        self.time_view.setZValue(item.zValue() + 10)
        item.scene().addItem(self.time_view)
        item.getAxis("right").linkToView(self.time_view)
        self.time_view.setXLink(item)
        item.vb.sigResized.connect(self._sync_views)
        self.fuel_curve = item.plot(
            [], [], pen=pg.mkPen(FUEL_COLOR, width=2), symbol="o", symbolSize=6
        )
        self.time_curve = pg.PlotDataItem(
            [],
            [],
            pen=pg.mkPen(TIME_COLOR, width=2, style=pg.QtCore.Qt.PenStyle.DashLine),
            symbol="t",
            symbolSize=6,
            symbolBrush=TIME_COLOR,
        )
        self.time_view.addItem(self.time_curve)
        # Profiled runs: a ring around their fuel point, clickable.
        self.profile_marks = pg.ScatterPlotItem(
            symbol="o",
            size=15,
            pen=pg.mkPen(PROFILE_COLOR, width=2),
            brush=pg.mkBrush(0, 0, 0, 0),
            hoverable=True,
            tip=None,
        )
        self.profile_marks.setZValue(20)
        item.addItem(self.profile_marks)
        # Clicks are read from the scene: the time axis' view box lies above the
        # plot, and its points would take a click meant for a ring.
        self.plot.scene().sigMouseClicked.connect(self._scene_clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        history.subscribe(self._history_changed)
        self.destroyed.connect(lambda *_: history.unsubscribe(self._history_changed))
        self.redraw()

    # ---- Public API

    def set_session(self, session_id: str | None) -> None:
        """Draw the runs of ``session_id`` (the fresh-run sandbox has one too)."""
        self.session_id = session_id
        self.redraw()

    def set_profiled(self, run_ids: set[str]) -> None:
        """Ring the runs whose ids are in ``run_ids`` (runs that have a profile to open)."""
        self._profiled = set(run_ids)
        self._draw_marks()

    def profiled_points(self) -> list[tuple[int, str]]:
        """(position on the runs axis, run id) of every ringed run drawn."""
        return [
            (n, record.run_id)
            for n, record in enumerate(self._records, start=1)
            if record.run_id in self._profiled
        ]

    def points(self) -> list[tuple[int, float]]:
        """(fuel consumed, wall time in ms) of every run drawn, oldest first."""
        return [(record.fuel_consumed, record.duration_ms) for record in self._records]

    def redraw(self) -> None:
        """Read the history again and redraw."""
        records = [r for r in self.history if r.session_id == self.session_id]
        self._records = records[-MAX_POINTS:]
        xs = list(range(1, len(self._records) + 1))
        brushes = [FUEL_COLOR if r.success else FAILED_COLOR for r in self._records]
        self.fuel_curve.setData(
            xs, [r.fuel_consumed / 1e6 for r in self._records], symbolBrush=brushes
        )
        self.time_curve.setData(xs, [r.duration_ms / 1000 for r in self._records])
        self._draw_marks()
        self._set_ranges()
        self._sync_views()
        self.sig_redrawn.emit(len(self._records))

    # ---- Internals

    def _history_changed(self, _event: str, _index: int) -> None:
        self.redraw()

    def _draw_marks(self) -> None:
        marks = self.profiled_points()
        self.profile_marks.setData(
            [n for n, _ in marks],
            [self._records[n - 1].fuel_consumed / 1e6 for n, _ in marks],
            data=[run_id for _, run_id in marks],
        )

    def _scene_clicked(self, event: Any) -> None:  # pyqtgraph's MouseClickEvent
        if event.button() != Qt.MouseButton.LeftButton:
            return
        where = self.profile_marks.mapFromScene(event.scenePos())
        for point in self.profile_marks.pointsAt(where):
            run_id = point.data()
            if isinstance(run_id, str):
                self.sig_profile_requested.emit(run_id)
                return

    def _set_ranges(self) -> None:
        # Set by hand: pyqtgraph's auto range puts one point in the middle of a
        # unit-wide window (time from -0.5 to 0.5 s). Both value axes start at 0,
        # so a run twice as costly draws twice as high on either axis, and the
        # runs axis keeps room for at least one run.
        fuel_top = max((r.fuel_consumed for r in self._records), default=0) / 1e6
        time_top = max((r.duration_ms for r in self._records), default=0.0) / 1000
        vb = self.plot.getPlotItem().vb
        vb.disableAutoRange()
        self.time_view.disableAutoRange()
        vb.setRange(
            xRange=(0.5, max(1, len(self._records)) + 0.5),
            yRange=(0.0, _headroom(fuel_top, EMPTY_FUEL_MILLIONS)),
            padding=0,
        )
        self.time_view.setRange(yRange=(0.0, _headroom(time_top, EMPTY_SECONDS)), padding=0)
        # Runs are whole numbers: no "1.5" ticks while there are few of them.
        bottom = self.plot.getPlotItem().getAxis("bottom")
        if len(self._records) <= MAX_UNIT_TICKS:
            bottom.setTickSpacing(1, 1)
        else:
            bottom.setTickSpacing()  # pyqtgraph's own spacing

    def _sync_views(self) -> None:
        item = self.plot.getPlotItem()
        self.time_view.setGeometry(item.vb.sceneBoundingRect())
        self.time_view.linkedViewChanged(item.vb, self.time_view.XAxis)


def _headroom(top: float, empty: float) -> float:
    """The top of a value axis that starts at 0: the largest value plus a margin."""
    return top * (1 + HEADROOM) if top > 0 else empty
