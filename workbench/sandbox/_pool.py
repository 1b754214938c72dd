"""Warm instances: interpreter start-up kept out of the user's path.

A fresh CPython costs ~60 ms and ~250 M fuel to start, QuickJS ~3 ms. The pool
keeps a few instances per :class:`~._instance.InstanceShape` started ahead of
time and starts a replacement in the background each time one is taken. Every
execution still gets an instance no earlier code has touched; start-up fuel is
reported apart and never charged to the user's budget.

Background start-ups share :attr:`SandboxEngine.startup_slots`, so refills can't
swamp the machine; a start-up the user is waiting for doesn't queue behind them.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import weakref
from collections import deque
from pathlib import Path

from ._engine import SandboxEngine
from ._instance import Instance, InstanceShape, InstanceState
from ._result import RuntimeType
from ._runtimes import new_instance

__all__ = ["DEFAULT_DEPTH", "InstancePool", "close_all_instances"]

log = logging.getLogger("workbench.sandbox.pool")

#: Warm instances kept per shape, by runtime. A started CPython costs ~4 MB of RSS
#: (its memory image is copy-on-write) and ~60 ms of CPU: four absorb a burst of
#: runs while two cores refill. A QuickJS instance costs ~0.3 MB and ~3 ms.
DEFAULT_DEPTH = {RuntimeType.PYTHON: 4, RuntimeType.JAVASCRIPT: 4}

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
        self._refills: queue.SimpleQueue[tuple[InstanceShape, int | None] | None] = (
            queue.SimpleQueue()
        )
        self._refiller: threading.Thread | None = None
        _live_pools.add(self)

    def acquire(self, shape: InstanceShape) -> Instance:
        """A never-used instance for ``shape``: warm if one is ready, else started now.

        Call :meth:`fill` once the instance's turn is over: a refill started
        during the turn would compete with it for the CPU.
        """
        with self._lock:
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
            if self._refiller is None or not self._refiller.is_alive():
                self._refiller = threading.Thread(
                    target=self._refill_loop, name="wasm-pool-refill", daemon=True
                )
                self._refiller.start()
        self._refills.put((shape, depth))

    def _refill_loop(self) -> None:
        while True:
            item = self._refills.get()
            if item is None:
                return
            shape, depth = item
            with self._lock:
                wanted = shape in self._wanted
            if not wanted:
                continue  # discarded while the request waited
            try:
                self.fill(shape, depth)
            except Exception:  # a failed refill only costs the next caller a cold start
                log.exception("refilling the instance pool failed")

    def fill(self, shape: InstanceShape, depth: int | None = None) -> None:
        """Start instances in the background until ``depth`` are idle or starting."""
        target = self.depth.get(shape.runtime, 0) if depth is None else depth
        if not Path(shape.workspace).is_dir():
            return  # the workspace is gone; an instance could not mount it
        with self._lock:
            if self._closed:
                return
            self._wanted.add(shape)
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
