"""matplotlib backend of WASM Workbench's python-sci runtime: figures go to the host.

The runtime selects it with ``MPLBACKEND=module://_wb_figures``. Drawing is
matplotlib's own Agg. ``plt.show()`` renders every open figure to PNG and hands
it to the host through the runtime's host call (``_host.call``), then closes it;
figures still open when a run ends are sent the same way (the guest driver
calls :func:`flush` after each run). Nothing is written to a file, and the guest
never names a path: the host decides where figures go and caps their size.
"""

import io

from matplotlib import _pylab_helpers
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase

#: What the host answers: ok, or full (a size cap was reached; stop sending).
_OK = b"ok"


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
            buffer = io.BytesIO()
            manager.canvas.figure.savefig(buffer, format="png")
            if _call(b"figure/png\n" + buffer.getvalue()) != _OK:
                break
    finally:
        _pylab_helpers.Gcf.destroy_all()


def show(*args, **kwargs):
    """``plt.show()``: hand the open figures to the host (there is no window)."""
    flush()
