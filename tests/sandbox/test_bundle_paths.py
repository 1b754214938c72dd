"""What changes when the program runs from the desktop bundle (PyInstaller, ``sys.frozen``).

The bundle itself is built and exercised by ``packaging/smoke_test.py``; these
tests put the interpreter in the state PyInstaller's bootloader leaves it in
(``sys.frozen``, ``sys._MEIPASS``) and check the paths and commands derived from it.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from workbench.kernel import kernelspec
from workbench.mcp import claude_desktop_config
from workbench.sandbox import PackageError
from workbench.sandbox._resources import bundle_root, data_path, program_command
from workbench.sandbox._vendor import LockedPackage, _fetch_locked


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Pretend to run from a bundle unpacked in ``tmp_path / "bundle"``."""
    root = tmp_path / "bundle"
    (root / "workbench" / "_data" / "wasm").mkdir(parents=True)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(root), raising=False)
    return root


def test_not_a_bundle_here() -> None:
    assert bundle_root() is None
    assert program_command() == [sys.executable, "-m", "workbench"]
    # The checkout's folders.
    assert data_path("wasm") == Path(__file__).resolve().parents[2] / "wasm"


def test_data_comes_from_the_bundle(frozen: Path) -> None:
    assert bundle_root() == frozen
    assert data_path("wasm") == frozen / "workbench" / "_data" / "wasm"


def test_a_bundle_never_falls_back_to_a_checkout(frozen: Path) -> None:
    # policies/ exists in the checkout these tests run from, not in the bundle.
    with pytest.raises(FileNotFoundError, match="missing from this bundle"):
        data_path("policies")


def test_commands_that_start_the_bundle_again(frozen: Path) -> None:
    assert program_command() == [sys.executable]
    spec = kernelspec("wasm-python")
    assert spec["argv"][:5] == [sys.executable, "kernel", "run", "--runtime", "python"]
    entry = claude_desktop_config(policy="conservative")["mcpServers"]["wasm-workbench"]
    assert entry == {"command": sys.executable, "args": ["mcp", "--policy", "conservative"]}


def test_commands_outside_a_bundle() -> None:
    assert kernelspec("wasm-javascript")["argv"][:3] == [sys.executable, "-m", "workbench.kernel"]
    entry = claude_desktop_config()["mcpServers"]["wasm-workbench"]
    assert entry == {"command": sys.executable, "args": ["-m", "workbench", "mcp"]}


def _package(content: bytes) -> LockedPackage:
    return LockedPackage(
        name="demo",
        version="1.0",
        purpose="test",
        source="wheel",
        filename="demo-1.0-py3-none-any.whl",
        # Not PyPI's file host: a download attempt is refused without touching the network.
        url="https://example.invalid/demo-1.0-py3-none-any.whl",
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        top_level=("demo",),
    )


def test_vendored_files_shipped_with_the_bundle_are_used(frozen: Path, tmp_path: Path) -> None:
    package = _package(b"the wheel's bytes")
    shipped = frozen / "workbench" / "_data" / "vendor" / "downloads"
    shipped.mkdir(parents=True)
    copy = shipped / f"{package.sha256[:16]}-{package.filename}"
    copy.write_bytes(b"the wheel's bytes")
    assert _fetch_locked(package, tmp_path / "downloads") == copy


def test_an_altered_shipped_file_is_not_used(frozen: Path, tmp_path: Path) -> None:
    package = _package(b"the wheel's bytes")
    shipped = frozen / "workbench" / "_data" / "vendor" / "downloads"
    shipped.mkdir(parents=True)
    (shipped / f"{package.sha256[:16]}-{package.filename}").write_bytes(b"something else")
    # It falls through to a download, which refuses the (non-PyPI) URL.
    with pytest.raises(PackageError, match="Refusing to download"):
        _fetch_locked(package, tmp_path / "downloads")
