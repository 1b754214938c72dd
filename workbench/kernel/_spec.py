"""Kernelspecs for "WASM Python", "WASM Python (scientific)" and "WASM JavaScript".

``wasm-workbench kernel install [--user | --sys-prefix | --prefix DIR]``
writes one folder per kernel (``kernel.json``) and hands it to
jupyter_client's ``KernelSpecManager.install_kernel_spec``, so JupyterLab,
Notebook, nbclient and qtconsole find it like any other kernel.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from workbench.sandbox import RuntimeType
from workbench.sandbox._resources import bundle_root

__all__ = ["KERNELS", "install_kernelspecs", "kernelspec", "uninstall_kernelspecs"]

#: Kernel name -> (runtime, display name).
KERNELS: dict[str, tuple[RuntimeType, str]] = {
    "wasm-python": (RuntimeType.PYTHON, "WASM Python"),
    "wasm-python-sci": (RuntimeType.PYTHON_SCI, "WASM Python (scientific)"),
    "wasm-javascript": (RuntimeType.JAVASCRIPT, "WASM JavaScript"),
}


def kernelspec(name: str, extra_args: list[str] | None = None) -> dict[str, Any]:
    """The ``kernel.json`` of kernel ``name`` (``extra_args`` are kernel options)."""
    runtime, display = KERNELS[name]
    # The desktop bundle's executable has no ``-m``; its ``kernel run`` is the
    # same entry point as ``python -m workbench.kernel``.
    launcher = (
        [sys.executable, "kernel", "run"]
        if bundle_root() is not None
        else [sys.executable, "-m", "workbench.kernel"]
    )
    argv = [
        *launcher,
        "--runtime",
        runtime.value,
        *(extra_args or []),
        "-f",
        "{connection_file}",
    ]
    return {
        "argv": argv,
        "display_name": display,
        "language": runtime.value,
        # Interrupts arrive as interrupt_request messages and cancel the running
        # turn; a signal would reach the host process, not the guest.
        "interrupt_mode": "message",
        "metadata": {"debugger": False, "wasm_workbench": {"runtime": runtime.value}},
    }


def install_kernelspecs(
    *,
    user: bool = False,
    prefix: str | None = None,
    extra_args: list[str] | None = None,
    names: list[str] | None = None,
) -> dict[str, str]:
    """Install the kernelspecs; return ``{name: installed folder}``.

    Parameters
    ----------
    user
        Install for the current user (``jupyter --data-dir``).
    prefix
        Install under this prefix (``sys.prefix`` for ``--sys-prefix``).
    extra_args
        Kernel options recorded in every spec (``--policy``, ``--set``...).
    names
        Which kernels (default: all of them).
    """
    from jupyter_client.kernelspec import KernelSpecManager

    manager = KernelSpecManager()
    installed: dict[str, str] = {}
    for name in names or list(KERNELS):
        if name not in KERNELS:
            raise ValueError(f"unknown kernel {name!r}; choose from {', '.join(KERNELS)}")
        with tempfile.TemporaryDirectory() as temp:
            folder = Path(temp) / name
            folder.mkdir()
            (folder / "kernel.json").write_text(
                json.dumps(kernelspec(name, extra_args), indent=1), encoding="utf-8"
            )
            installed[name] = manager.install_kernel_spec(
                str(folder), kernel_name=name, user=user, prefix=prefix
            )
    return installed


def uninstall_kernelspecs(names: list[str] | None = None) -> list[str]:
    """Remove installed kernelspecs (wherever jupyter_client finds them)."""
    from jupyter_client.kernelspec import KernelSpecManager

    manager = KernelSpecManager()
    removed = []
    found = manager.find_kernel_specs()
    for name in names or list(KERNELS):
        if name in found:
            manager.remove_kernel_spec(name)
            removed.append(name)
    return removed
