"""The session registry on its own: ownership, caps, expiry, cancellation."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from workbench.mcp import ClientError, EventKind, RegistryEvent, SessionRegistry
from workbench.sandbox import ExecutionPolicy, RuntimeType, SandboxEngine, TrapKind


@pytest.fixture
def registry(engine: SandboxEngine, workspace_root: Path) -> SessionRegistry:
    made = SessionRegistry(
        policy=ExecutionPolicy(),
        workspace_root=workspace_root,
        max_sessions_per_client=3,
        max_sessions=5,
        idle_timeout_seconds=100,
    )
    yield made
    made.close_all()


def test_owners_only_reach_their_sessions(registry: SessionRegistry) -> None:
    mine = registry.create("a", RuntimeType.PYTHON)
    assert registry.get("a", mine.id) is mine
    for owner, sid in (("b", mine.id), ("a", "nope"), ("a", ""), ("a", None), ("a", 3)):
        with pytest.raises(ClientError, match=r"no session|non-empty"):
            registry.get(owner, sid)
    with pytest.raises(ClientError):
        registry.destroy("b", mine.id)
    assert registry.find(mine.id) is mine  # still there


def test_default_sessions_per_owner_and_language(registry: SessionRegistry) -> None:
    py = registry.default("a", RuntimeType.PYTHON)
    assert registry.default("a", RuntimeType.PYTHON) is py
    assert registry.default("a", None) is py  # the last default used
    js = registry.default("a", RuntimeType.JAVASCRIPT)
    assert js is not py and registry.default("a", None) is js
    assert registry.default("b", RuntimeType.PYTHON) is not py
    with pytest.raises(ClientError, match="runs python, not javascript"):
        registry.resolve("a", py.id, RuntimeType.JAVASCRIPT)


def test_session_caps(registry: SessionRegistry) -> None:
    for _ in range(3):
        registry.create("a", RuntimeType.PYTHON)
    with pytest.raises(ClientError, match="already has 3 sessions"):
        registry.create("a", RuntimeType.PYTHON)
    registry.create("b", RuntimeType.PYTHON)
    registry.create("b", RuntimeType.PYTHON)
    with pytest.raises(ClientError, match="as many sessions as it allows"):
        registry.create("c", RuntimeType.PYTHON)


def test_idle_sessions_expire_and_their_workspaces_go(registry: SessionRegistry) -> None:
    events: list[RegistryEvent] = []
    registry.add_listener(events.append)
    old = registry.create("a", RuntimeType.PYTHON)
    fresh = registry.create("a", RuntimeType.PYTHON)
    folder = old.workspace.parent
    assert folder.is_dir()
    now = time.monotonic()
    old.last_used = now - 101
    assert registry.expire_idle(now) == [old.id]
    assert registry.find(old.id) is None and registry.find(fresh.id) is fresh
    assert not folder.exists()
    assert [e.kind for e in events] == [
        EventKind.SESSION_CREATED,
        EventKind.SESSION_CREATED,
        EventKind.SESSION_ENDED,
    ]


def test_a_running_session_never_expires(registry: SessionRegistry) -> None:
    managed = registry.create("a", RuntimeType.PYTHON)
    started = threading.Event()
    registry.add_listener(lambda e: e.kind is EventKind.CALL_STARTED and started.set())
    results = []
    worker = threading.Thread(
        target=lambda: results.append(
            registry.execute(managed, "while True:\n    pass", registry.policy)
        )
    )
    worker.start()
    assert started.wait(60)
    assert registry.expire_idle(time.monotonic() + 10_000) == []
    registry.cancel(managed)
    worker.join(60)
    assert results[0].trap_kind is TrapKind.CANCELLED
    assert managed.calls[-1].result is results[0] and managed.current is None


def test_end_owner_keeps_workspaces_when_asked(engine: SandboxEngine, workspace_root: Path) -> None:
    registry = SessionRegistry(
        policy=ExecutionPolicy(), workspace_root=workspace_root, keep_workspaces=True
    )
    managed = registry.create("a", RuntimeType.PYTHON)
    managed.session.write_file("kept.txt", "yes")
    assert registry.end_owner("a") == 1
    assert (managed.workspace / "kept.txt").read_text() == "yes"
    assert registry.sessions() == []
