"""Shared test set-up: isolated cache/data/config folders and the real engine.

The compiled-module cache is per test run unless WASM_WORKBENCH_CACHE_DIR is
already set (developers can point it at a warm cache to skip the compiles: ~10 s
for the small runtimes, over a minute for python-sci). Under pytest-xdist the
controller imports this file before it starts the workers, which inherit its
environment: all workers share the run's cache, and a compile one of them is
doing makes the others wait for its file (the engine's cross-process lock).
Data and config folders are always fresh (one set per process), so no test sees
a user's sessions.
"""

from __future__ import annotations

import gc
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_BASE = Path(tempfile.mkdtemp(prefix="wasm-workbench-tests-"))
os.environ.setdefault("WASM_WORKBENCH_CACHE_DIR", str(_BASE / "cache"))
os.environ["WASM_WORKBENCH_DATA_DIR"] = str(_BASE / "data")
os.environ["WASM_WORKBENCH_CONFIG_DIR"] = str(_BASE / "config")
# python-sci instances import numpy, pandas and pyplot while they start (~10 B fuel,
# seconds of CPU each): tests that need a module import it themselves.
os.environ.setdefault("WASM_WORKBENCH_SCI_PRELOAD", "")
# A suite started in the background by a non-interactive shell (`cmd &`) inherits
# SIGINT ignored, and so would every process a test starts: the tests that stop a
# CLI run or a server with SIGINT (Ctrl+C) would wait for it in vain.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

from workbench.sandbox import (  # noqa: E402
    RuntimeType,
    SandboxEngine,
    get_engine,
)
from workbench.sandbox._pool import DEFAULT_DEPTH  # noqa: E402
from workbench.sandbox._sandbox import shared_pool  # noqa: E402

#: The small runtimes; python-sci (a ~75 s compile the first time) is compiled
#: before the first test (see ``pytest_collection_finish``).
SMALL_RUNTIMES = (RuntimeType.PYTHON, RuntimeType.JAVASCRIPT)

#: Warm instances the shared pool keeps per shape during the tests. The
#: product's depth (12 CPython, 16 QuickJS: :data:`workbench.sandbox._pool.DEFAULT_DEPTH`)
#: is for bursts of runs in one workspace; a test makes a sandbox in a fresh
#: workspace, runs once or twice and closes it, so nearly all of those start-ups
#: were thrown away: a quarter of a sandbox test's CPU, taken from the other
#: worker. Two still keep every next run warm; tests of the depth itself ask for
#: the product's with ``product_pool_depth``.
TEST_POOL_DEPTH = {RuntimeType.PYTHON: 2, RuntimeType.JAVASCRIPT: 2, RuntimeType.PYTHON_SCI: 1}


@pytest.fixture(autouse=True)
def _collect_garbage_between_tests() -> Iterator[None]:
    """Collect each test's cyclic garbage at its end, while nothing else runs.

    Left to the collector's own timing, objects of earlier tests (windows,
    consoles, sandboxes whose instance threads ended) were collected in the
    middle of a later test, on its thread, while other threads of that test
    were in wasm or in a console kernel request; the suite then crashed
    (SIGSEGV) or hung in "Garbage-collecting" at the same test each run. Set up
    before the test's other fixtures, this runs after their teardown.
    """
    yield
    gc.collect()


@pytest.fixture(autouse=True, scope="session")
def _shallow_shared_pool() -> None:
    """Keep :data:`TEST_POOL_DEPTH` warm instances per shape in this process."""
    shared_pool(get_engine()).depth.update(TEST_POOL_DEPTH)


@pytest.fixture
def product_pool_depth() -> Iterator[dict[RuntimeType, int]]:
    """The shared pool at the product's depth for one test, then shallow again."""
    depth = shared_pool(get_engine()).depth
    depth.update(DEFAULT_DEPTH)
    yield depth
    depth.update(TEST_POOL_DEPTH)


@pytest.fixture(scope="session")
def engine() -> SandboxEngine:
    """The process-wide engine with the small runtimes compiled or loaded."""
    eng = get_engine()
    for runtime in SMALL_RUNTIMES:
        eng.module(runtime)
    return eng


#: Test modules that are one long subprocess each (a wheel built and installed
#: into a fresh venv: minutes; mypy without a cache: about two): run first, so
#: the other worker fills that time with the rest instead of idling at the end
#: of the run, and a lint or type error shows before the other tests.
RUN_FIRST = ("test_packaging.py", "test_quality.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the :data:`RUN_FIRST` modules to the front (order kept otherwise)."""
    items.sort(key=lambda item: item.path.name not in RUN_FIRST)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Compile python-sci before the first test runs, once per test run.

    The workbench window, ``wasm-workbench mcp`` and other faces compile it in a
    background thread when it isn't cached: done in the middle of the suite,
    that compile (over a minute on both cores) would run beside timing-sensitive
    tests, and each MCP subprocess would start one of its own. Here, outside any
    test, the per-test timeout doesn't cover it either. Point
    WASM_WORKBENCH_CACHE_DIR at a lasting folder to pay it only once.

    Then everything alive (modules, test modules, Qt's and pydantic's classes,
    the engine: ~80,000 objects, all kept until the end of the run) is frozen
    out of the collector's way, so the collection after each test (see
    ``_collect_garbage_between_tests``) looks only at what tests made: it took
    ~55 ms of CPU per test before, over a minute and a half per run.
    """
    if session.config.option.collectonly or not session.items:
        return
    get_engine().module(RuntimeType.PYTHON_SCI)
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def sci_engine(engine: SandboxEngine) -> SandboxEngine:
    """The engine with python-sci ready too: compiled at most once per test run.

    The module cache is the run's (see above), so every process of the run,
    CLI subprocesses included, loads the one compiled file.
    """
    engine.module(RuntimeType.PYTHON_SCI)
    return engine


@pytest.fixture
def workspace_root(tmp_path: Path) -> Iterator[Path]:
    """A fresh folder for session workspaces."""
    root = tmp_path / "sessions"
    root.mkdir()
    yield root
