"""Where the program's data folders (wasm/, policies/, resources/, vendor/) live.

In a source checkout they are the top-level folders of the repository; in an
installed wheel they are shipped inside the package as ``workbench/_data/<name>``
(see ``[tool.hatch.build.targets.wheel.force-include]`` in pyproject.toml).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["data_path", "driver_source"]

_KNOWN = ("wasm", "policies", "resources", "vendor")


def data_path(name: str) -> Path:
    """Absolute path of the data folder ``name``.

    Raises
    ------
    FileNotFoundError
        If the folder is in neither place (a broken install).
    """
    if name not in _KNOWN:
        raise ValueError(f"unknown data folder {name!r}")
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
