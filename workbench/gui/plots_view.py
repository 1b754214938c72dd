"""The Plots dock: the figures of the last run, side by side, to zoom, save and copy.

A python-sci run's figures (``plt.show()``, and figures still open at its end)
arrive in :attr:`SandboxResult.figures`: rendered by the guest, handed over
through the runtime's host call, checked by the host (PNG signature, pixel size
from the header) and capped per figure and per run before they get here. The
view only decodes them into pixmaps, on the GUI thread, after the run has
finished: nothing here waits for wasm.

* Thumbnails of every figure, in order, wrapping as the dock's width allows.
* Below them the selected figure, fitted to the space or at 100 %, zoomed in
  and out; *Open larger* (or a double click) shows it in a window of its own.
* *Save...* writes the bytes the guest rendered to a file the person chooses:
  the PNG, or the SVG when the run has one (the workbench's runs ask the guest
  for it, ``figure_svg``: matplotlib's SVG backend, real vector graphics). The
  dialog offers SVG only then; otherwise the button's tooltip and the status
  line say why not. The SVG is saved, never rendered here. The name offered is
  ours (``figure-<n>.png``) in the folder last saved to, never the guest's.
  *Copy* puts the image on the clipboard (Qt offers it as ``image/png`` and the
  platform's image formats).

Editor runs and Console cells both fill it: what the last run drew is shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, QSize, Qt, Signal, Slot
from PySide6.QtGui import QAction, QIcon, QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QFileDialog,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStyle,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from workbench.sandbox import Figure, SandboxResult

if TYPE_CHECKING:
    from .main_window import MainWindow

__all__ = ["FigureViewer", "PlotsView", "install_plots_dock"]

#: Side of a thumbnail, in pixels.
THUMBNAIL_SIZE = 128
#: Largest image decoded for display (width x height x 4 bytes): a header that
#: claims more is named, not decoded (the host already capped the file's size).
MAX_DECODED_BYTES = 256 * 1024 * 1024
#: Zoom steps of the viewer (factor per step) and its range.
ZOOM_STEP = 1.25
ZOOM_RANGE = (0.05, 8.0)
#: File filters by figure format.
_FILTERS = {"png": "PNG image (*.png)", "svg": "SVG image (*.svg)"}

EMPTY_TEXT = (
    "No figures yet.\n\n"
    "Figures appear here when a run draws them with matplotlib (or seaborn, pandas "
    "plotting): plt.show(), or figures still open when the code ends. They are drawn "
    "by the python-sci runtime, which Auto picks when the code imports matplotlib, "
    "numpy, pandas ... (or choose it in the toolbar). Nothing needs saving to a file."
)
#: Why a figure has no SVG to save (the caps dropped it, or nobody asked for one).
NO_SVG_CAPS = (
    "No SVG of this figure: it didn't fit the run's figure caps (8 MiB each, 32 MiB in "
    "all with the PNGs). Save the PNG, or draw fewer points."
)
NO_SVG_NOT_ASKED = (
    "No SVG of this figure: the run that drew it rendered PNG only (runs from the "
    "editor and the Console render both)."
)
TRUNCATED_TEXT = (
    "Some figures were left out: a run keeps at most 50 figures, 8 MiB each and 32 MiB "
    "in all. Draw fewer, or smaller ones (a lower dpi)."
)


def decode_figure(figure: Figure) -> QImage | None:
    """The figure as an image, or None if it can't or shouldn't be decoded.

    The pixel size comes from the host's reading of the header; an image that
    would take more than :data:`MAX_DECODED_BYTES` to decode is not decoded.
    """
    if figure.width * figure.height * 4 > MAX_DECODED_BYTES:
        return None
    # The format is named so Qt's PNG reader alone looks at the bytes. PySide
    # takes it as str (its stubs say bytes, which it refuses at run time).
    image = QImage.fromData(figure.data, figure.format.upper())  # type: ignore[arg-type]
    return None if image.isNull() else image


class FigureViewer(QScrollArea):
    """One figure, fitted to the viewport or at a zoom factor (1.0 is 100 %)."""

    # ---- Signals

    #: Emitted with the zoom factor now shown (after fit, 100 %, in or out).
    sig_zoom_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        #: None: fit to the viewport; else the zoom factor.
        self._zoom: float | None = None
        self.label = QLabel(self)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setWidget(self.label)
        self.setWidgetResizable(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setAccessibleName("Figure")

    # ---- Public API

    @property
    def image(self) -> QImage | None:
        """The image shown (None: a message instead)."""
        return self._image

    @property
    def fitted(self) -> bool:
        """True while the image is fitted to the viewport."""
        return self._zoom is None

    def zoom(self) -> float:
        """The zoom factor shown (1.0 is 100 %)."""
        if self._image is None:
            return 1.0
        if self._zoom is not None:
            return self._zoom
        space = self.viewport().size()
        width, height = max(1, self._image.width()), max(1, self._image.height())
        return max(ZOOM_RANGE[0], min(space.width() / width, space.height() / height))

    def set_image(self, image: QImage | None, message: str = "") -> None:
        """Show ``image`` fitted (or ``message`` when there is no image)."""
        self._image = image
        self._zoom = None
        if image is None:
            self.label.setPixmap(QPixmap())
            self.label.setText(message)
        self._render()

    def fit(self) -> None:
        """Fit the image to the viewport (and keep it fitted as the view resizes)."""
        self._zoom = None
        self._render()

    def actual_size(self) -> None:
        """Show the image at 100 % (one image pixel per screen pixel)."""
        self.set_zoom(1.0)

    def zoom_in(self) -> None:
        """Zoom in one step."""
        self.set_zoom(self.zoom() * ZOOM_STEP)

    def zoom_out(self) -> None:
        """Zoom out one step."""
        self.set_zoom(self.zoom() / ZOOM_STEP)

    def set_zoom(self, factor: float) -> None:
        """Show the image at ``factor`` (kept within :data:`ZOOM_RANGE`)."""
        self._zoom = max(ZOOM_RANGE[0], min(ZOOM_RANGE[1], factor))
        self._render()

    # ---- Qt overrides

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Keep a fitted image fitted as the view resizes."""
        super().resizeEvent(event)
        if self._zoom is None:
            self._render()

    # ---- Internals

    def _render(self) -> None:
        if self._image is None:
            self.setWidgetResizable(True)
            return
        factor = self.zoom()
        size = QSize(
            max(1, round(self._image.width() * factor)),
            max(1, round(self._image.height() * factor)),
        )
        pixmap = QPixmap.fromImage(self._image)
        if size != pixmap.size():
            pixmap = pixmap.scaled(
                size,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        self.label.setText("")
        self.label.setPixmap(pixmap)
        # Fitted, the label follows the viewport; zoomed, it has the image's size
        # and the scroll bars move over it.
        self.setWidgetResizable(self._zoom is None)
        if self._zoom is not None:
            self.label.resize(pixmap.size())
        self.sig_zoom_changed.emit(factor)


class PlotsView(QWidget):
    """The last run's figures: thumbnails, a viewer, and save / copy / zoom."""

    # ---- Signals

    #: Emitted with the number of figures shown after :meth:`set_figures`.
    sig_figures_changed = Signal(int)
    #: Emitted with the path a figure was saved to.
    sig_figure_saved = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.figures: list[Figure] = []
        self._images: list[QImage | None] = []
        self._windows: list[QDialog] = []
        self._truncated = False
        #: Where the save dialog opens (the folder last saved to).
        self.save_folder = Path.home()
        style = self.style()
        # A tool bar: in a narrow dock the actions that don't fit go to its
        # extension menu (>>) instead of widening the right column.
        self.tools = QToolBar("Figure", self)
        self.tools.setIconSize(QSize(16, 16))
        self.tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)

        def action(text: str, tip: str, icon: QStyle.StandardPixmap | None = None) -> QAction:
            made = QAction(text, self)
            made.setToolTip(tip)
            if icon is not None:
                made.setIcon(style.standardIcon(icon))
            self.tools.addAction(made)
            return made

        self.fit_action = action("Fit", "Fit the figure to the view")
        self.actual_action = action("100 %", "Show the figure at its real size")
        self.zoom_out_action = action("-", "Zoom out")
        self.zoom_in_action = action("+", "Zoom in")
        self.save_action = action(
            "Save...",
            "Save the figure as PNG or SVG",
            QStyle.StandardPixmap.SP_DialogSaveButton,
        )
        self.copy_action = action("Copy", "Copy the figure to the clipboard")
        self.larger_action = action(
            "Open larger", "Show the figure in a window of its own (or double-click it)"
        )

        self.status = QLabel(self)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        self.empty = QLabel(EMPTY_TEXT, self)
        self.empty.setTextFormat(Qt.TextFormat.PlainText)
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.empty.setAccessibleName("No figures")

        self.thumbnails = QListWidget(self)
        self.thumbnails.setViewMode(QListView.ViewMode.IconMode)
        self.thumbnails.setFlow(QListView.Flow.LeftToRight)
        self.thumbnails.setWrapping(True)
        self.thumbnails.setResizeMode(QListView.ResizeMode.Adjust)
        self.thumbnails.setMovement(QListView.Movement.Static)
        self.thumbnails.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self.thumbnails.setSpacing(4)
        self.thumbnails.setUniformItemSizes(True)
        self.thumbnails.setAccessibleName("Figures of the last run")
        self.thumbnails.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.viewer = FigureViewer(self)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(self.thumbnails)
        self.splitter.addWidget(self.viewer)
        # One row of thumbnails above, the rest for the figure (the person can drag).
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([THUMBNAIL_SIZE + 48, 4 * THUMBNAIL_SIZE])

        layout = QVBoxLayout(self)
        layout.addWidget(self.tools)
        layout.addWidget(self.status)
        layout.addWidget(self.empty, 1)
        layout.addWidget(self.splitter, 1)

        self.fit_action.triggered.connect(self.viewer.fit)
        self.actual_action.triggered.connect(self.viewer.actual_size)
        self.zoom_in_action.triggered.connect(self.viewer.zoom_in)
        self.zoom_out_action.triggered.connect(self.viewer.zoom_out)
        self.larger_action.triggered.connect(lambda: self.open_larger())
        self.save_action.triggered.connect(lambda: self.save_current())
        self.copy_action.triggered.connect(lambda: self.copy_figure())
        self.thumbnails.currentRowChanged.connect(self._show_row)
        self.thumbnails.itemDoubleClicked.connect(lambda _item: self.open_larger())
        self.thumbnails.customContextMenuRequested.connect(self._context_menu)
        self.viewer.sig_zoom_changed.connect(self._update_status)
        self.set_figures([])

    # ---- Public API

    @property
    def current_index(self) -> int:
        """Position of the selected figure in :attr:`figures` (-1: none)."""
        return self.thumbnails.currentRow()

    def show_result(self, result: SandboxResult) -> None:
        """Show the figures of ``result`` (a run without figures clears the view)."""
        self.set_figures(result.figures, truncated=result.figures_truncated)

    def set_figures(self, figures: list[Figure], *, truncated: bool = False) -> None:
        """Show ``figures`` (checked and capped by the sandbox), the first one selected."""
        self.figures = list(figures)
        self._images = [decode_figure(figure) for figure in self.figures]
        self._truncated = truncated
        self.thumbnails.clear()
        for figure, image in zip(self.figures, self._images, strict=True):
            item = QListWidgetItem(f"Figure {figure.index}")
            formats = f"{figure.format.upper()}, {figure.size_bytes:,} bytes"
            if figure.svg is not None:
                formats += f"; SVG, {figure.svg_bytes:,} bytes"
            item.setToolTip(
                f"Figure {figure.index}: {figure.width} x {figure.height} px, {formats}"
            )
            if image is not None:
                thumb = image.scaled(
                    THUMBNAIL_SIZE,
                    THUMBNAIL_SIZE,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
                item.setIcon(QIcon(QPixmap.fromImage(thumb)))
            self.thumbnails.addItem(item)
        has = bool(self.figures)
        self.empty.setVisible(not has)
        self.splitter.setVisible(has)
        for made in self.tools.actions():
            made.setEnabled(has)
        if has:
            self.thumbnails.setCurrentRow(0)
        else:
            self.viewer.set_image(None)
        self._update_status()
        self.sig_figures_changed.emit(len(self.figures))

    def select(self, index: int) -> None:
        """Select the figure at position ``index`` (from 0)."""
        self.thumbnails.setCurrentRow(index)

    def save_figure(self, index: int, path: str | Path, *, svg: bool | None = None) -> Path:
        """Write figure ``index`` (from 0) to ``path``, as the guest rendered it.

        ``svg=None`` saves the SVG when ``path`` ends in ``.svg`` and the figure
        has one, the PNG otherwise; the suffix of the format written is added
        if ``path`` lacks it. Returns the path written.

        Raises
        ------
        OSError
            If the file can't be written.
        ValueError
            If ``svg=True`` and the figure has no SVG (the message says why).
        """
        figure = self.figures[index]
        target = Path(path)
        if svg is None:
            svg = target.suffix.lower() == ".svg" and figure.svg is not None
        if svg and figure.svg is None:
            raise ValueError(self.no_svg_reason(index))
        suffix, data = (".svg", figure.svg) if svg else (f".{figure.format}", figure.data)
        assert data is not None
        if target.suffix.lower() != suffix:
            target = target.with_name(f"{target.name}{suffix}")
        target.write_bytes(data)
        self.save_folder = target.parent
        self.sig_figure_saved.emit(str(target))
        return target

    def save_current(self) -> Path | None:
        """Ask where to save the selected figure, then save it; None if cancelled."""
        index = self.current_index
        if index < 0:
            return None
        figure = self.figures[index]
        start = self.save_folder
        filters = [_FILTERS.get(figure.format, f"{figure.format.upper()} (*.{figure.format})")]
        if figure.svg is not None:
            filters.append(_FILTERS["svg"])
        chosen, chosen_filter = QFileDialog.getSaveFileName(
            self,
            "Save figure",
            str(start / f"figure-{figure.index}.{figure.format}"),
            ";;".join(filters),
        )
        if not chosen:
            return None
        # The SVG filter, or a name ending in .svg, saves the SVG.
        svg = figure.svg is not None and (
            chosen_filter == _FILTERS["svg"] or chosen.lower().endswith(".svg")
        )
        try:
            return self.save_figure(index, chosen, svg=svg)
        except OSError as exc:
            self.status.setText(f"Could not save the figure: {exc}. Choose another folder.")
            return None

    def no_svg_reason(self, index: int) -> str:
        """Why figure ``index`` (from 0) has no SVG to save ("" if it has one)."""
        if self.figures[index].svg is not None:
            return ""
        return NO_SVG_CAPS if self._truncated else NO_SVG_NOT_ASKED

    def copy_figure(self, index: int | None = None) -> bool:
        """Put figure ``index`` (default: the selected one) on the clipboard."""
        index = self.current_index if index is None else index
        if not 0 <= index < len(self.figures):
            return False
        image = self._images[index]
        if image is None:
            return False
        figure = self.figures[index]
        # setImage, not setMimeData(QMimeData()): the clipboard outlives Python,
        # and a QMimeData made in Python crashes the process at exit when Qt's
        # clipboard deletes it (its wrapper calls into a finalized interpreter).
        # Qt offers the image as image/png (and the platform's formats) itself.
        QApplication.clipboard().setImage(image)
        self.status.setText(f"Figure {figure.index} copied to the clipboard.")
        return True

    def open_larger(self, index: int | None = None) -> QDialog | None:
        """Show figure ``index`` (default: the selected one) in a window of its own."""
        index = self.current_index if index is None else index
        if not 0 <= index < len(self.figures):
            return None
        figure = self.figures[index]
        dialog = QDialog(self.window())
        dialog.setWindowTitle(f"Figure {figure.index} ({figure.width} x {figure.height} px)")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        viewer = FigureViewer(dialog)
        viewer.set_image(self._images[index], _undecoded(figure))
        layout = QVBoxLayout(dialog)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(viewer)
        screen = self.screen().availableGeometry().size() if self.screen() else QSize(1280, 800)
        dialog.resize(
            min(figure.width + 24, int(screen.width() * 0.9)),
            min(figure.height + 24, int(screen.height() * 0.9)),
        )
        self._windows.append(dialog)
        dialog.destroyed.connect(lambda *_: self._forget(dialog))
        dialog.show()
        return dialog

    # ---- Internals

    def _forget(self, dialog: QDialog) -> None:
        if dialog in self._windows:
            self._windows.remove(dialog)

    @Slot(int)
    def _show_row(self, row: int) -> None:
        if 0 <= row < len(self.figures):
            self.viewer.set_image(self._images[row], _undecoded(self.figures[row]))
        self._update_status()

    def _update_status(self, *_args: object) -> None:
        if not self.figures:
            self.status.setText(TRUNCATED_TEXT if self._truncated else "")
            self.status.setVisible(self._truncated)
            return
        count = len(self.figures)
        text = f"{count} figure{'s' if count != 1 else ''}"
        index = self.current_index
        if 0 <= index < count:
            figure = self.figures[index]
            shown = "fitted" if self.viewer.fitted else "zoom"
            text += (
                f"; figure {figure.index}: {figure.width} x {figure.height} px, "
                f"{shown} {self.viewer.zoom() * 100:.0f} %"
            )
            reason = self.no_svg_reason(index)
            self.save_action.setToolTip(
                "Save the figure as PNG or SVG"
                if not reason
                else f"Save the figure as PNG. {reason}"
            )
            if reason:
                text += "\n" + reason
        if self._truncated:
            text += "\n" + TRUNCATED_TEXT
        self.status.setText(text)
        self.status.setVisible(True)

    def _context_menu(self, position: QPoint) -> None:
        item = self.thumbnails.itemAt(position)
        if item is None:
            return
        self.thumbnails.setCurrentItem(item)
        menu = QMenu(self)
        menu.addAction("Open larger", lambda: self.open_larger())
        menu.addAction("Save...", lambda: self.save_current())
        menu.addAction("Copy", lambda: self.copy_figure())
        menu.exec(self.thumbnails.viewport().mapToGlobal(position))


def _undecoded(figure: Figure) -> str:
    return (
        f"Figure {figure.index} ({figure.width} x {figure.height} px) is too large to show "
        "here. Save it and open it in an image viewer."
    )


def install_plots_dock(window: MainWindow) -> QDockWidget:
    """Add the Plots dock to ``window``, tabbed with Result; fill it after every run.

    Editor runs (``sig_execution_finished``) and Console cells (the console
    dock's ``sig_result``) both show their figures; a run that drew figures
    brings the dock to the front.
    """
    view = PlotsView(window)
    dock = QDockWidget("Plots", window)
    dock.setObjectName("plots-dock")
    dock.setWidget(view)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    window.tabifyDockWidget(window.result_dock, dock)
    window.result_dock.raise_()

    def after_run(result: SandboxResult) -> None:
        view.show_result(result)
        if result.figures:
            dock.show()
            dock.raise_()

    window.sig_execution_finished.connect(after_run)
    console = getattr(window, "console_dock", None)
    if console is not None:
        console.sig_result.connect(after_run)
    for action in window.menuBar().actions():
        menu = action.menu()
        if action.text().replace("&", "") == "View" and isinstance(menu, QMenu):
            menu.addAction(dock.toggleViewAction())
    return dock
