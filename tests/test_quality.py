"""Repository quality gates, run as subprocesses: lint, format, types, import layers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """The tool installed next to this interpreter (the venv's), else the one on PATH."""
    local = BIN / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    assert found is not None, f"{name} is not installed; install the dev extras"
    return found


def check(*args: str, timeout: float = 300) -> None:
    proc = subprocess.run(
        args, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, (
        f"{' '.join(args)} exited with {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    )


@pytest.mark.slow
def test_ruff_check() -> None:
    check(tool("ruff"), "check", ".")


@pytest.mark.slow
def test_ruff_format() -> None:
    check(tool("ruff"), "format", "--check", ".")


@pytest.mark.slow
def test_mypy() -> None:
    check(sys.executable, "-m", "mypy")


@pytest.mark.slow
def test_import_contracts() -> None:
    check(tool("lint-imports"))


@pytest.mark.slow
def test_headless_layers_import_without_qt() -> None:
    code = (
        "import sys\n"
        "QT = ('PySide6', 'PyQt5', 'PyQt6', 'qtpy', 'qtconsole')\n"
        "for name in QT:\n"
        "    sys.modules[name] = None  # any import of it now raises ImportError\n"
        "import workbench.sandbox, workbench.cli, workbench.kernel, workbench.kernel._kernel\n"
        "import workbench.mcp\n"
        "workbench.cli.build_parser()\n"
        "loaded = [n for n in sys.modules if n.split('.')[0] in QT and sys.modules[n]]\n"
        "assert not loaded, loaded\n"
        "print('ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ok\n"
