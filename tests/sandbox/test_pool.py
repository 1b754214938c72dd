"""The warm-instance pool: refills wait for a quiet moment unless the pool runs low."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from workbench.sandbox import ExecutionPolicy, RuntimeType, SandboxEngine, _pool
from workbench.sandbox._instance import InstanceShape
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


DEPTH = DEFER_ABOVE[JS] + 4


@pytest.fixture
def full_pool(
    engine: SandboxEngine, workspace_root: Path
) -> Iterator[tuple[InstancePool, InstanceShape]]:
    """A pool of its own, DEPTH deep for JS, filled and started."""
    workspace = workspace_root / "ws"
    workspace.mkdir()
    pool = InstancePool(engine, depth={JS: DEPTH})
    shape = instance_shape(JS, workspace, ExecutionPolicy())
    try:
        pool.fill(shape)
        assert wait_for(lambda: pool.warm_count(shape) == DEPTH, 20)
        yield pool, shape
    finally:
        pool.close()


def test_refills_wait_for_a_quiet_moment_unless_the_pool_runs_low(
    full_pool: tuple[InstancePool, InstanceShape], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_pool, "REFILL_QUIET_SECONDS", 2.0)
    pool, shape = full_pool
    depth = DEPTH

    def idle() -> int:  # started or starting
        return len(pool._idle.get(shape, ()))

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


def test_only_the_policy_in_use_stays_warm(engine: SandboxEngine, workspace_root: Path) -> None:
    from workbench.sandbox import create_sandbox

    small = ExecutionPolicy(memory_bytes=64 * 1024 * 1024)
    large = ExecutionPolicy(memory_bytes=256 * 1024 * 1024)
    with create_sandbox(JS, policy=small, workspace_root=workspace_root) as sandbox:
        assert sandbox.execute("1").success
        first = next(iter(sandbox._shapes))
        assert wait_for(lambda: sandbox.pool.warm_count(first) > 0, 10)
        # Another memory limit is another kind of instance: the first kind's idle
        # instances go, and only the new one is kept warm.
        assert sandbox.execute("1", policy=large).success
        assert first not in sandbox._shapes and len(sandbox._shapes) == 1
        assert sandbox.pool.warm_count(first) == 0
        second = next(iter(sandbox._shapes))
        assert wait_for(lambda: sandbox.pool.warm_count(second) > 0, 10)
        # A policy that differs only in fuel or time uses the same instances.
        assert sandbox.execute("1", policy=large.with_updates(fuel_budget=10**9)).success
        assert sandbox._shapes == {second}


def test_a_refill_waiting_for_quiet_does_not_bring_back_a_discarded_shape(
    full_pool: tuple[InstancePool, InstanceShape], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_pool, "REFILL_QUIET_SECONDS", 0.5)
    pool, shape = full_pool
    pool.acquire(shape).close()
    pool.refill_later(shape)  # waits for 0.5 s without a taken instance
    time.sleep(0.1)
    pool.discard(shape)  # e.g. the sandbox moved to another policy
    time.sleep(1.0)
    assert shape not in pool._idle
