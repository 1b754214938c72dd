"""Kernel tests: kernelspecs installed in a temporary Jupyter data folder.

Kernels run as real processes started by jupyter_client from those specs, as
JupyterLab or nbclient would start them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from _jupyter import Client

_JUPYTER = Path(tempfile.mkdtemp(prefix="wasm-workbench-jupyter-"))
os.environ["JUPYTER_DATA_DIR"] = str(_JUPYTER / "data")
os.environ["JUPYTER_PATH"] = str(_JUPYTER / "data")
os.environ["JUPYTER_CONFIG_DIR"] = str(_JUPYTER / "config")
os.environ["JUPYTER_RUNTIME_DIR"] = str(_JUPYTER / "runtime")
# The platformdirs layout (and no DeprecationWarning from jupyter_core about
# the coming switch to it).
os.environ["JUPYTER_PLATFORM_DIRS"] = "1"


@pytest.fixture(scope="session")
def kernelspecs() -> dict[str, str]:
    """Both kernelspecs, installed for the "user" (the temporary data folder).

    Generous fuel so that "interrupt an infinite loop" is about the interrupt,
    not the fuel budget.
    """
    from workbench.kernel import install_kernelspecs

    return install_kernelspecs(
        user=True, extra_args=["--set", "fuel_budget=1e12", "--set", "timeout_seconds=600"]
    )


@pytest.fixture(scope="module")
def python_kernel(kernelspecs: dict[str, str]) -> Iterator[Client]:
    client = Client("wasm-python")
    yield client
    client.close()


@pytest.fixture(scope="module")
def sci_kernel(kernelspecs: dict[str, str], sci_engine: object) -> Iterator[Client]:
    """The python-sci kernel (its runtime compiled once per test run, before the tests)."""
    client = Client("wasm-python-sci")
    yield client
    client.close()


@pytest.fixture(scope="module")
def js_kernel(kernelspecs: dict[str, str]) -> Iterator[Client]:
    client = Client("wasm-javascript")
    yield client
    client.close()
