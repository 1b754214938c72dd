"""The warm-instance pool: refills wait for a quiet moment unless the pool runs low."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from workbench.sandbox import ExecutionPolicy, RuntimeType, SandboxEngine, _pool
from workbench.sandbox._pool import DEFER_ABOVE, InstancePool
from workbench.sandbox._sandbox import instance_shape

JS = RuntimeType.JAVASCRIPT


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_refills_wait_for_a_quiet_moment_unless_the_pool_runs_low(
    engine: SandboxEngine, workspace_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_pool, "REFILL_QUIET_SECONDS", 2.0)
    workspace = workspace_root / "ws"
    workspace.mkdir()
    depth = DEFER_ABOVE[JS] + 4
    pool = InstancePool(engine, depth={JS: depth})
    shape = instance_shape(JS, workspace, ExecutionPolicy())

    def idle() -> int:  # started or starting
        return len(pool._idle.get(shape, ()))

    try:
        pool.fill(shape)
        assert wait_for(lambda: pool.warm_count(shape) == depth, 20)

        # One taken, plenty left: the refill waits until nobody took one for 2 s,
        # so a burst of runs doesn't share the CPU with start-ups.
        taken_at = time.monotonic()
        pool.acquire(shape).close()
        pool.refill_later(shape)
        time.sleep(0.5)
        if time.monotonic() - taken_at < 1.5:  # a badly stalled machine proves nothing
            assert idle() == depth - 1
        assert wait_for(lambda: idle() == depth, 10)
        assert time.monotonic() - taken_at >= 2.0

        # Down to DEFER_ABOVE: the refill starts at once, quiet or not.
        assert wait_for(lambda: pool.warm_count(shape) == depth, 20)
        for _ in range(depth - DEFER_ABOVE[JS]):
            pool.acquire(shape).close()
        taken_at = time.monotonic()
        pool.refill_later(shape)
        assert wait_for(lambda: idle() == depth, 10)
        assert time.monotonic() - taken_at < 2.0
        assert wait_for(lambda: pool.warm_count(shape) == depth, 20)
    finally:
        pool.close()


def test_a_sandbox_dropped_without_close_gives_back_its_warm_instances(
    engine: SandboxEngine, workspace_root: Path
) -> None:
    import gc

    from workbench.sandbox import create_sandbox

    sandbox = create_sandbox(JS, workspace_root=workspace_root)
    assert sandbox.execute("1").success
    pool = sandbox.pool
    shape = next(iter(sandbox._shapes))
    assert wait_for(lambda: pool.warm_count(shape) > 0, 10)
    del sandbox
    gc.collect()
    # The pool's own thread discards them (a finalizer must not take the pool's lock).
    assert wait_for(lambda: shape not in pool._idle, 5)
