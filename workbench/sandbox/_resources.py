"""Where the program's data folders (wasm/, policies/, resources/, vendor/) live.

In a source checkout they are the top-level folders of the repository; in an
installed wheel they are shipped inside the package as ``workbench/_data/<name>``
(see ``[tool.hatch.build.targets.wheel.force-include]`` in pyproject.toml); in
the desktop bundle (``packaging/``, PyInstaller) they sit at the same place
under the bundle's own folder, ``<bundle>/workbench/_data/<name>``.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

__all__ = ["bundle_root", "data_path", "driver_source", "profiler_source", "program_command"]

_KNOWN = ("wasm", "policies", "resources", "vendor")


def bundle_root() -> Path | None:
    """The folder the desktop bundle unpacked into, or None when not running from one.

    PyInstaller sets ``sys.frozen`` and ``sys._MEIPASS`` (the folder holding the
    bundled Python, libraries and data: ``_internal/`` next to the executable of
    a folder bundle, a temporary folder for a one-file executable).
    """
    if not getattr(sys, "frozen", False):
        return None
    root = getattr(sys, "_MEIPASS", None)
    return Path(root) if root else Path(sys.executable).resolve().parent


def program_command() -> list[str]:
    """The command that starts this program again, for kernelspecs and MCP client configs.

    From the desktop bundle it is the bundle's executable itself (it takes the
    same subcommands as ``wasm-workbench``); otherwise this interpreter with
    ``-m workbench``, which works from a virtual environment without the
    ``wasm-workbench`` script on PATH.
    """
    if bundle_root() is not None:
        return [sys.executable]
    return [sys.executable, "-m", "workbench"]


def data_path(name: str) -> Path:
    """Absolute path of the data folder ``name``.

    Raises
    ------
    FileNotFoundError
        If the folder is in neither place (a broken install).
    """
    if name not in _KNOWN:
        raise ValueError(f"unknown data folder {name!r}")
    bundle = bundle_root()
    if bundle is not None:
        # Never fall back to a checkout found by walking up from a frozen module.
        bundled = bundle / "workbench" / "_data" / name
        if bundled.is_dir():
            return bundled
        raise FileNotFoundError(
            f"The data folder {name!r} is missing from this bundle (looked in {bundled}). "
            "Download the bundle again; its files must stay together."
        )
    installed = Path(str(resources.files("workbench"))) / "_data" / name
    if installed.is_dir():
        return installed
    checkout = Path(__file__).resolve().parents[2] / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"The data folder {name!r} is missing from this installation "
        f"(looked in {installed} and {checkout}). Reinstall wasm-workbench."
    )


_driver_source: str | None = None


def driver_source() -> str:
    """The Python guest driver's source, ``wasm/guest/python/driver.py`` (read once)."""
    global _driver_source
    if _driver_source is None:
        _driver_source = (data_path("wasm") / "guest" / "python" / "driver.py").read_text("utf-8")
    return _driver_source


_profiler_source: str | None = None


def profiler_source() -> str:
    """The guest half of the fuel profiler, ``wasm/guest/python/profiler.py`` (read once)."""
    global _profiler_source
    if _profiler_source is None:
        path = data_path("wasm") / "guest" / "python" / "profiler.py"
        _profiler_source = path.read_text("utf-8")
    return _profiler_source
