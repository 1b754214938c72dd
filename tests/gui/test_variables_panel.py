"""The Variables dock with live data: a python-sci session's DataFrames and arrays."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from workbench.gui.variables import SHAPE_COLUMN, VariablesPanel
from workbench.sandbox import ExecutionPolicy, RuntimeType, SandboxEngine, Session, create_session

pytestmark = pytest.mark.slow

HEAVY = ExecutionPolicy().with_updates(fuel_budget=60_000_000_000, timeout_seconds=600)


@pytest.fixture
def session(sci_engine: SandboxEngine, workspace_root: Path) -> Iterator[Session]:
    with create_session(
        runtime=RuntimeType.PYTHON_SCI, workspace_root=workspace_root, policy=HEAVY
    ) as s:
        yield s


def test_shape_column_tooltip_and_detail_pane(qtbot: QtBot, session: Session) -> None:
    result = session.execute(
        "import numpy as np, pandas as pd\n"
        "sales = pd.DataFrame({'region': ['north', 'south', 'east'], 'units': [120, 80, 95]})\n"
        "grid = np.zeros((2, 3))\n"
        "label = 'q3'\n"
    )
    assert result.success, result.stderr
    panel = VariablesPanel()
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.sig_refreshed, timeout=60_000):
        panel.set_session(session)
    rows = {row[0]: row for row in panel.rows()}
    assert rows["sales"] == (
        "sales",
        "pandas.DataFrame",
        "3",
        "3 \u00d7 2 \u00b7 str, int64",
        "region, units",
    )
    assert rows["grid"][3] == "2 \u00d7 3 \u00b7 float64"
    assert rows["label"][3] == ""  # no shape for plain values
    assert not panel.table.isColumnHidden(SHAPE_COLUMN)
    # The first rows: in every cell's tooltip, and in the detail pane when selected.
    index = panel.proxy.index(list(rows).index("sales"), 3)
    tooltip = index.data(Qt.ItemDataRole.ToolTipRole)
    assert "columns: region: str, units: int64" in tooltip and "north" in tooltip
    assert tooltip.startswith("<pre>")  # escaped guest text, never guessed as rich text
    assert panel.detail.isHidden()
    assert panel.select("sales")
    assert not panel.detail.isHidden()
    text = panel.detail.toPlainText()
    assert text.startswith("sales: pandas.DataFrame, 3 \u00d7 2")
    assert text.splitlines()[-3:] == ["0   north    120", "1   south     80", "2    east     95"]
    # A refresh keeps the selection, and the detail follows the new values.
    assert session.execute("sales['units'] = sales['units'] * 2").success
    with qtbot.waitSignal(panel.sig_refreshed, timeout=60_000):
        panel.refresh()
    assert panel.detail.toPlainText().splitlines()[-1] == "2    east    190"
    assert panel.select("label")
    assert panel.detail.isHidden()  # nothing more to show for a string
    # Guest text that looks like markup stays text.
    assert session.execute("label = '<b>bold</b>'").success
    with qtbot.waitSignal(panel.sig_refreshed, timeout=60_000):
        panel.refresh()
    row = [r[0] for r in panel.rows()].index("label")
    assert "&lt;b&gt;" in panel.proxy.index(row, 4).data(Qt.ItemDataRole.ToolTipRole)


def test_without_arrays_or_tables_the_shape_column_leaves_the_room_to_values(
    qtbot: QtBot, engine: SandboxEngine, workspace_root: Path
) -> None:
    with create_session(runtime=RuntimeType.PYTHON, workspace_root=workspace_root) as plain:
        assert plain.execute("scores = [3, 5, 8]\nlabel = 'q3'").success
        panel = VariablesPanel()
        qtbot.addWidget(panel)
        with qtbot.waitSignal(panel.sig_refreshed, timeout=60_000):
            panel.set_session(plain)
        assert {row[0] for row in panel.rows()} == {"scores", "label"}
        assert panel.table.isColumnHidden(SHAPE_COLUMN)
