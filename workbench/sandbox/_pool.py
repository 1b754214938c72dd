"""Warm instances: interpreter start-up kept out of the user's path.

A fresh CPython costs ~45 ms and ~140 M fuel to start, QuickJS ~2 ms. The pool
keeps a few instances per :class:`~._instance.InstanceShape` started ahead of
time and starts a replacement in the background each time one is taken. Every
execution still gets an instance no earlier code has touched; start-up fuel is
reported apart and never charged to the user's budget. With interpreter images
(:mod:`._image`) a CPython instance is a copy made in a few milliseconds and no
fuel, once its shape has an image; the pool still starts them ahead, so no run
waits even that long.

Background start-ups share :attr:`SandboxEngine.startup_slots`, so refills can't
swamp the machine; a start-up the user is waiting for doesn't queue behind them.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
import weakref
from collections import deque
from pathlib import Path

from ._engine import SandboxEngine
from ._instance import Instance, InstanceShape, InstanceState
from ._result import RuntimeType
from ._runtimes import new_instance

__all__ = ["DEFAULT_DEPTH", "InstancePool", "close_all_instances"]

log = logging.getLogger("workbench.sandbox.pool")

#: Warm instances kept per shape, by runtime. Twenty back-to-back runs are the
#: burst the benchmarks measure: a run must find a started instance, because a
#: start-up costs far more than a run. A started CPython costs ~4 MB of RSS (its
#: memory image is copy-on-write) and ~45 ms of CPU, two of which fit on two cores
#: at once: twelve keep most of such a burst warm, for ~48 MB per shape in use. A
#: QuickJS instance costs ~0.4 MB and ~2 ms: sixteen absorb a burst without a
#: refill competing with it.
#: A python-sci instance starts from its snapshot in ~20-30 ms but holds its own
#: copy of a ~100 MB memory image once a run touches it: two keep a session's
#: next run warm without holding hundreds of MB idle.
DEFAULT_DEPTH = {RuntimeType.PYTHON: 12, RuntimeType.JAVASCRIPT: 16, RuntimeType.PYTHON_SCI: 2}

#: A refill waits until no instance was taken for ``REFILL_QUIET_SECONDS`` while
#: more than ``DEFER_ABOVE`` instances of its shape are idle or starting: the runs
#: of a burst then don't share the two cores (and the GIL) with start-ups, which
#: made each one 3-5x slower. Once the pool is that low, refills start at once.
REFILL_QUIET_SECONDS = 0.01
DEFER_ABOVE = {RuntimeType.PYTHON: 2, RuntimeType.JAVASCRIPT: 4, RuntimeType.PYTHON_SCI: 1}

_live_pools: weakref.WeakSet[InstancePool] = weakref.WeakSet()


class InstancePool:
    """Never-used instances per shape, refilled in the background.

    Usage::

        pool = InstancePool(engine)
        instance = pool.acquire(shape)   # warm if one is ready, else started now
        outcome = instance.run(request)
        pool.discard(shape)              # when the shape won't be used again
    """

    def __init__(self, engine: SandboxEngine, depth: dict[RuntimeType, int] | None = None) -> None:
        self.engine = engine
        self.depth = dict(DEFAULT_DEPTH if depth is None else depth)
        self._idle: dict[InstanceShape, deque[Instance]] = {}
        #: Shapes somebody still uses: a refill queued before discard() is dropped.
        self._wanted: set[InstanceShape] = set()
        self._lock = threading.Lock()
        self._closed = False
        # Refills are made on this pool's own thread: starting an instance's thread
        # and waiting for it to run costs ~0.5 ms the caller shouldn't pay.
        self._refills: queue.SimpleQueue[tuple[str, InstanceShape, int | None] | None] = (
            queue.SimpleQueue()
        )
        self._refiller: threading.Thread | None = None
        self._last_acquire = 0.0
        _live_pools.add(self)

    def acquire(self, shape: InstanceShape) -> Instance:
        """A never-used instance for ``shape``: warm if one is ready, else started now.

        Call :meth:`fill` once the instance's turn is over: a refill started
        during the turn would compete with it for the CPU.
        """
        with self._lock:
            self._last_acquire = time.monotonic()
            idle = self._idle.setdefault(shape, deque())
            instance = None
            # Prefer an instance that finished starting; drop any that died.
            for candidate in list(idle):
                if candidate.state is InstanceState.DEAD:
                    idle.remove(candidate)
                elif candidate.state is InstanceState.READY:
                    idle.remove(candidate)
                    instance = candidate
                    break
            if instance is None and idle:
                instance = idle.popleft()
        if instance is None:
            instance = new_instance(self.engine, shape)
        return instance

    def refill_later(self, shape: InstanceShape, depth: int | None = None) -> None:
        """Ask the pool's thread to :meth:`fill` ``shape``; returns at once."""
        with self._lock:
            if self._closed:
                return
            self._wanted.add(shape)
            self._ensure_refiller()
        self._refills.put(("fill", shape, depth))

    def discard_later(self, shape: InstanceShape) -> None:
        """Ask the pool's thread to :meth:`discard` ``shape``; returns at once.

        Safe from a garbage-collection finalizer: it takes no lock (a finalizer
        may run on a thread that holds one).
        """
        self._refills.put(("discard", shape, None))

    def _ensure_refiller(self) -> None:
        # Called with self._lock held.
        if self._refiller is None or not self._refiller.is_alive():
            self._refiller = threading.Thread(
                target=self._refill_loop, name="wasm-pool-refill", daemon=True
            )
            self._refiller.start()

    def _refill_loop(self) -> None:
        while True:
            item = self._refills.get()
            if item is None:
                return
            action, shape, depth = item
            if action == "discard":
                self.discard(shape)
                continue
            with self._lock:
                wanted = shape in self._wanted
            if not wanted:
                continue  # discarded while the request waited
            try:
                self._wait_for_quiet(shape, depth)
                self.fill(shape, depth, only_if_wanted=True)
            except Exception:  # a failed refill only costs the next caller a cold start
                log.exception("refilling the instance pool failed")

    def _wait_for_quiet(self, shape: InstanceShape, depth: int | None) -> None:
        """Return once nobody took an instance for a while, or the pool runs low."""
        target = self.depth.get(shape.runtime, 0) if depth is None else depth
        low_water = min(target, DEFER_ABOVE.get(shape.runtime, 0))
        while True:
            with self._lock:
                if self._closed:
                    return
                idle = len(self._idle.get(shape, ()))
                quiet_for = time.monotonic() - self._last_acquire
            if idle <= low_water or quiet_for >= REFILL_QUIET_SECONDS:
                return
            time.sleep(REFILL_QUIET_SECONDS - quiet_for)

    def fill(
        self, shape: InstanceShape, depth: int | None = None, *, only_if_wanted: bool = False
    ) -> None:
        """Start instances in the background until ``depth`` are idle or starting.

        ``only_if_wanted``: not if ``shape`` was discarded meanwhile (a queued refill
        must not bring back instances nobody will use).
        """
        target = self.depth.get(shape.runtime, 0) if depth is None else depth
        if not Path(shape.workspace).is_dir():
            return  # the workspace is gone; an instance could not mount it
        with self._lock:
            if self._closed or (only_if_wanted and shape not in self._wanted):
                return
            self._wanted.add(shape)
            self._ensure_refiller()  # it also carries out discard_later()
            idle = self._idle.setdefault(shape, deque())
            while len(idle) < target:
                idle.append(new_instance(self.engine, shape, background=True))

    def warm_count(self, shape: InstanceShape) -> int:
        """How many idle instances of ``shape`` finished starting."""
        with self._lock:
            return sum(1 for i in self._idle.get(shape, ()) if i.state is InstanceState.READY)

    def discard(self, shape: InstanceShape) -> None:
        """Close the idle instances of ``shape``."""
        with self._lock:
            idle = self._idle.pop(shape, deque())
            self._wanted.discard(shape)
        for instance in idle:
            instance.close()

    def close(self) -> None:
        """Close every idle instance and stop refilling. Idempotent."""
        with self._lock:
            self._closed = True
            shapes = list(self._idle)
        self._refills.put(None)
        for shape in shapes:
            self.discard(shape)


def close_all_instances(timeout: float = 2.0) -> None:
    """Close every pool and running instance, and wait briefly for their threads.

    Registered with :mod:`atexit`: a wasmtime store still alive while the
    interpreter shuts down makes wasmtime print a panic, so stores are freed
    first.
    """
    for pool in list(_live_pools):
        pool.close()
    Instance.close_all(timeout)


atexit.register(close_all_instances)
