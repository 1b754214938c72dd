"""Shared test set-up: isolated cache/data/config folders and the real engine.

The compiled-module cache is per test run unless WASM_WORKBENCH_CACHE_DIR is
already set (developers can point it at a warm cache to skip the ~10 s compile).
Data and config folders are always fresh, so no test sees a user's sessions.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_BASE = Path(tempfile.mkdtemp(prefix="wasm-workbench-tests-"))
os.environ.setdefault("WASM_WORKBENCH_CACHE_DIR", str(_BASE / "cache"))
os.environ["WASM_WORKBENCH_DATA_DIR"] = str(_BASE / "data")
os.environ["WASM_WORKBENCH_CONFIG_DIR"] = str(_BASE / "config")

from workbench.sandbox import (  # noqa: E402
    RuntimeType,
    SandboxEngine,
    get_engine,
)


@pytest.fixture(scope="session")
def engine() -> SandboxEngine:
    """The process-wide engine with both runtimes compiled or loaded."""
    eng = get_engine()
    for runtime in RuntimeType:
        eng.module(runtime)
    return eng


@pytest.fixture
def workspace_root(tmp_path: Path) -> Iterator[Path]:
    """A fresh folder for session workspaces."""
    root = tmp_path / "sessions"
    root.mkdir()
    yield root
