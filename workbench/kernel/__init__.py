"""Jupyter kernels "WASM Python" and "WASM JavaScript": every cell runs in the sandbox.

Usage::

    wasm-workbench kernel install --user      # then pick "WASM Python" in JupyterLab

:mod:`._kernel` holds the wrapper kernel, :mod:`._launch` the standalone
process (which session and policy it uses), :mod:`._spec` the kernelspecs.
This package never imports Qt: the workbench's Console embeds the same kernel
class in-process (see ``workbench.gui.console``).
"""

from __future__ import annotations

import os
import sys

from ._launch import launch, open_kernel_session
from ._spec import KERNELS, install_kernelspecs, kernelspec, uninstall_kernelspecs

__all__ = [
    "KERNELS",
    "install_kernelspecs",
    "kernelspec",
    "launch",
    "main",
    "open_kernel_session",
    "uninstall_kernelspecs",
]


def main() -> None:
    """Process entry point: run the kernel, free every store, exit at once.

    As with the CLI, leaving through ``os._exit`` avoids native destructors
    racing wasmtime's worker threads at interpreter exit.
    """
    status = launch()
    from workbench.sandbox._pool import close_all_instances

    close_all_instances()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
