"""matplotlib backend of WASM Workbench's python-sci runtime: figures go to the host.

The runtime selects it with ``MPLBACKEND=module://_wb_figures``. Drawing is
matplotlib's own Agg. ``plt.show()`` renders every open figure to PNG and hands
it to the host through the runtime's host call (``_host.call``), then closes it;
figures still open when a run ends are sent the same way (the guest driver
calls :func:`flush` after each run). Nothing is written to a file, and the guest
never names a path: the host decides where figures go and caps their size.

When the run asked for SVG the host answers a PNG with ``ok svg``: the same
figure is then rendered with matplotlib's SVG backend and sent as
``figure/svg``. Runs that didn't ask never pay for it.
"""

import io

from matplotlib import _pylab_helpers
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase

#: What the host answers: ok, ok svg (send this figure's SVG too), or full (a
#: size cap was reached; stop sending).
_OK = b"ok"
_OK_SVG = b"ok svg"


def _call(request):
    try:
        import _host
    except ImportError:
        return None
    try:
        return _host.call(request)
    except Exception:
        return None


def flush():
    """Send every open figure to the host, in order, and close them all."""
    managers = _pylab_helpers.Gcf.get_all_fig_managers()
    try:
        for manager in managers:
            figure = manager.canvas.figure
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png")
            answer = _call(b"figure/png\n" + buffer.getvalue())
            if answer == _OK_SVG:
                buffer = io.BytesIO()
                figure.savefig(buffer, format="svg")
                # A full answer drops only this SVG: the next PNG may still fit.
                _call(b"figure/svg\n" + buffer.getvalue())
            elif answer != _OK:
                break
    finally:
        _pylab_helpers.Gcf.destroy_all()


def show(*args, **kwargs):
    """``plt.show()``: hand the open figures to the host (there is no window)."""
    flush()
