"""The fuel bar's label is readable on every fill, on a light and on a dark palette.

Measured on what Qt draws: the bar is rendered once with its label and once
without; the pixels that differ are the label, and the pixels under them in the
second image are what it is drawn on. The strongest label pixel over each
background must reach WCAG AA contrast (4.5:1).
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QProgressBar, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from workbench.gui.fuel_bar import DARK, LIGHT, MIN_CONTRAST, FuelBar, contrast_ratio

STATUSES = ["efficient", "moderate", "warning", "critical", "exhausted"]


def dark_palette() -> QPalette:
    palette = QPalette(QColor("#2b2b2b"))
    palette.setColor(QPalette.ColorRole.WindowText, QColor("#eeeeee"))
    palette.setColor(QPalette.ColorRole.Text, QColor("#eeeeee"))
    palette.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    return palette


def label_contrast(bar: QProgressBar) -> dict[str, float]:
    """Contrast of the drawn label against each background it crosses, by background colour."""
    with_text = bar.grab().toImage()
    bar.setTextVisible(False)
    without = bar.grab().toImage()
    bar.setTextVisible(True)
    best: dict[str, float] = defaultdict(float)
    for y in range(with_text.height()):
        for x in range(with_text.width()):
            ink, under = with_text.pixelColor(x, y), without.pixelColor(x, y)
            if ink != under:
                name = under.name()
                best[name] = max(best[name], contrast_ratio(ink, under))
    return dict(best)


def host(qtbot: QtBot, palette: QPalette | None) -> QWidget:
    box = QWidget()
    qtbot.addWidget(box)
    QVBoxLayout(box)
    if palette is not None:
        box.setPalette(palette)
    box.resize(360, 60)
    box.show()
    return box


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
@pytest.mark.parametrize("status", STATUSES)
def test_the_label_reads_on_the_fill_and_on_the_groove(
    qtbot: QtBot, status: str, dark: bool
) -> None:
    box = host(qtbot, dark_palette() if dark else None)
    bar = FuelBar(box)
    box.layout().addWidget(bar)
    # Half full: the label crosses from the fill onto the groove.
    bar.set_usage(0.5, status)
    qtbot.waitExposed(box)
    scheme = DARK if dark else LIGHT
    assert bar.scheme() is scheme
    measured = label_contrast(bar)
    fill, groove = QColor(scheme.fills[status]).name(), QColor(scheme.groove).name()
    assert fill in measured and groove in measured, measured  # the label crosses both
    assert measured[fill] >= MIN_CONTRAST, (status, measured)
    assert measured[groove] >= MIN_CONTRAST, (status, measured)


def test_the_old_dark_fill_under_default_text_fails_the_same_measure(qtbot: QtBot) -> None:
    # What the Result dock drew before: default (black) text on a deep fill.
    box = host(qtbot, None)
    bar = QProgressBar(box)
    box.layout().addWidget(bar)
    bar.setRange(0, 1000)
    bar.setValue(900)
    bar.setFormat("90.0% of the fuel budget")
    bar.setStyleSheet("QProgressBar::chunk { background: #c62828; }")
    qtbot.waitExposed(box)
    measured = label_contrast(bar)
    assert measured["#c62828"] < MIN_CONTRAST


def test_the_scheme_follows_a_palette_change_around_it(qtbot: QtBot) -> None:
    box = host(qtbot, None)
    bar = FuelBar(box)
    box.layout().addWidget(bar)
    bar.set_usage(1.0, "exhausted")
    assert bar.colors()[1] == QColor(LIGHT.fills["exhausted"])
    box.setPalette(dark_palette())
    qtbot.waitUntil(lambda: bar.scheme() is DARK and DARK.text in bar.styleSheet())
    assert bar.colors() == (
        QColor(DARK.text),
        QColor(DARK.fills["exhausted"]),
        QColor(DARK.groove),
    )


def test_every_scheme_colour_pair_meets_the_minimum() -> None:
    for scheme in (LIGHT, DARK):
        text = QColor(scheme.text)
        assert contrast_ratio(text, QColor(scheme.groove)) >= MIN_CONTRAST
        for status in STATUSES:
            assert contrast_ratio(text, QColor(scheme.fills[status])) >= MIN_CONTRAST, status


def test_usage_is_clamped_and_unknown_statuses_fall_back(qtbot: QtBot) -> None:
    bar = FuelBar()
    qtbot.addWidget(bar)
    bar.set_usage(1.7, "no-such-status")
    assert bar.value() == bar.maximum()
    assert bar.format() == "170.0% of the fuel budget"
    assert bar.colors()[1] == QColor(bar.scheme().fills["efficient"])
