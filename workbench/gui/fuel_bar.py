"""The Result dock's fuel bar: the share of the budget used, coloured by status.

Its label ("42.0% of the fuel budget") is drawn across the whole bar, over the
filled part and the empty part alike, in one colour (a style sheet's
``::chunk`` rule makes Qt draw it that way). So each scheme below picks fills
light or dark enough that one text colour reads on all of them and on the
groove: dark text on light tints when the palette is light, white text on deep
shades when it is dark, each at least :data:`MIN_CONTRAST` (WCAG AA for body
text). The scheme follows the widget's palette, so a dark desktop theme gets
the dark one; the workbench's own *Dark theme* switches the editor only.

Usage::

    bar = FuelBar()
    bar.set_usage(0.42, "efficient")
    bar.colors()      # the text, fill and groove colours drawn now
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QProgressBar, QWidget

__all__ = ["FuelBar", "Scheme", "contrast_ratio"]

#: The least contrast between the label and anything it is drawn on.
MIN_CONTRAST = 4.5
#: Steps of the bar: 0.1 % each.
STEPS = 1000
# Events after which the palette around the bar may differ.
_RESTYLE_EVENTS = (
    QEvent.Type.ParentChange,
    QEvent.Type.PaletteChange,
    QEvent.Type.ApplicationPaletteChange,
)


@dataclass(frozen=True)
class Scheme:
    """The colours of the bar for one kind of palette."""

    text: str
    groove: str
    border: str
    #: Fill colour by fuel status (see :data:`workbench.sandbox.FuelStatus`).
    fills: dict[str, str]


LIGHT = Scheme(
    text="#1b1b1b",
    groove="#fafafa",
    border="#9e9e9e",
    fills={
        "efficient": "#81c784",
        "moderate": "#aed581",
        "warning": "#ffd54f",
        "critical": "#ffb74d",
        "exhausted": "#e57373",
    },
)
DARK = Scheme(
    text="#ffffff",
    groove="#1e1e1e",
    border="#757575",
    fills={
        "efficient": "#2e7d32",
        "moderate": "#33691e",
        "warning": "#7a5c00",
        "critical": "#a84300",
        "exhausted": "#c62828",
    },
)


def contrast_ratio(first: QColor, second: QColor) -> float:
    """WCAG 2 contrast ratio of two colours: 1 (none) to 21 (black on white)."""

    def luminance(color: QColor) -> float:
        def channel(value: float) -> float:
            return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

        return (
            0.2126 * channel(color.redF())
            + 0.7152 * channel(color.greenF())
            + 0.0722 * channel(color.blueF())
        )

    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


class FuelBar(QProgressBar):
    """Fuel used against the budget, with a label that stays readable on either palette."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setRange(0, STEPS)
        self.setTextVisible(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setAccessibleName("Fuel used against the budget")
        self._status = "efficient"
        self._watched: QWidget | None = None
        self._watch_parent()
        self._restyle()

    # ---- Public API

    def set_usage(self, share: float, status: str | None) -> None:
        """Show ``share`` of the budget used (1.0 is all of it) in the colour of ``status``."""
        self.setValue(max(0, min(STEPS, int(share * STEPS))))
        self.setFormat(f"{share:.1%} of the fuel budget")
        self._status = status if status in LIGHT.fills else "efficient"
        self._restyle()

    def scheme(self) -> Scheme:
        """The colour scheme for the widget's current palette."""
        # The surroundings' palette: the bar's own one carries its style sheet's groove.
        parent = self.parentWidget()
        palette = parent.palette() if parent is not None else QGuiApplication.palette()
        window = palette.color(QPalette.ColorRole.Window)
        return DARK if window.lightness() < 128 else LIGHT

    def colors(self) -> tuple[QColor, QColor, QColor]:
        """(label, fill, groove) colours the bar is drawn with now."""
        scheme = self.scheme()
        return (
            QColor(scheme.text),
            QColor(scheme.fills[self._status]),
            QColor(scheme.groove),
        )

    # ---- Qt overrides

    def event(self, event: QEvent) -> bool:
        """Pick the scheme again when the palette around the bar changes."""
        handled = super().event(event)
        if event.type() in _RESTYLE_EVENTS:
            self._watch_parent()
            self._restyle()
        return handled

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Follow the parent's palette: the style sheet keeps it from reaching the bar."""
        if watched is self._watched and event.type() == QEvent.Type.PaletteChange:
            self._restyle()
        return False

    # ---- Internals

    def _watch_parent(self) -> None:
        parent = self.parentWidget()
        if parent is self._watched:
            return
        if self._watched is not None:
            self._watched.removeEventFilter(self)
        self._watched = parent
        if parent is not None:
            parent.installEventFilter(self)

    def _restyle(self) -> None:
        scheme = self.scheme()
        sheet = (
            f"QProgressBar {{ color: {scheme.text}; background: {scheme.groove}; "
            f"border: 1px solid {scheme.border}; border-radius: 3px; text-align: center; }}"
            f"QProgressBar::chunk {{ background: {scheme.fills[self._status]}; }}"
        )
        # Setting an equal sheet again would send another PaletteChange: skip it.
        if sheet != self.styleSheet():
            self.setStyleSheet(sheet)
