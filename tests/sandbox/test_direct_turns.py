"""JavaScript turns run on the caller's thread when its native stack is big enough."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from workbench.sandbox import (
    ExecutionPolicy,
    RuntimeType,
    SandboxEngine,
    TrapKind,
    create_sandbox,
    create_session,
)
from workbench.sandbox._instance import DIRECT_MIN_STACK, _native_stack_size, caller_can_run_wasm

T = TypeVar("T")

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") and sys.platform != "darwin",
    reason="the stack size is only read on Linux and macOS; elsewhere turns are handed off",
)


def in_thread(function: Callable[[], T], stack_size: int = 0) -> T:
    """Call ``function`` on a new thread with ``stack_size`` bytes of stack (0: default)."""
    results: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            results.append(function())
        except BaseException as exc:
            errors.append(exc)

    previous = threading.stack_size(stack_size)
    try:
        thread = threading.Thread(target=target)
        thread.start()
    finally:
        threading.stack_size(previous)
    thread.join(60)
    if errors:
        raise errors[0]
    return results[0]


def output_threads(runtime: RuntimeType, workspace_root: Path) -> tuple[str, set[str]]:
    """Run a turn from this thread; return its name and the threads the output came from."""
    seen: set[str] = set()
    with create_session(runtime=runtime, workspace_root=workspace_root) as session:
        code = "print('x')" if runtime is RuntimeType.PYTHON else "console.log('x')"
        result = session.execute(
            code, on_output=lambda _stream, _data: seen.add(threading.current_thread().name)
        )
        assert result.stdout == "x\n"
    return threading.current_thread().name, seen


def test_the_stack_size_is_known_here() -> None:
    size = _native_stack_size()
    assert size is not None and size >= DIRECT_MIN_STACK  # the main thread: 8 MiB
    assert in_thread(caller_can_run_wasm)
    assert not in_thread(caller_can_run_wasm, stack_size=512 * 1024)


def test_javascript_runs_on_the_callers_thread(engine: SandboxEngine, workspace_root: Path) -> None:
    caller, seen = in_thread(lambda: output_threads(RuntimeType.JAVASCRIPT, workspace_root))
    assert seen == {caller}


def test_python_always_runs_on_its_instance_thread(
    engine: SandboxEngine, workspace_root: Path
) -> None:
    caller, seen = in_thread(lambda: output_threads(RuntimeType.PYTHON, workspace_root))
    assert seen and caller not in seen


def test_a_small_stack_hands_the_turn_to_the_instance_thread(
    engine: SandboxEngine, workspace_root: Path
) -> None:
    caller, seen = in_thread(
        lambda: output_threads(RuntimeType.JAVASCRIPT, workspace_root), stack_size=512 * 1024
    )
    assert seen and caller not in seen


def test_deep_recursion_on_the_callers_thread_is_a_clean_trap(
    engine: SandboxEngine, workspace_root: Path
) -> None:
    def recurse() -> TrapKind:
        with create_sandbox(RuntimeType.JAVASCRIPT, workspace_root=workspace_root) as sandbox:
            result = sandbox.execute("function f(n) { return f(n + 1) + 1; } f(0);")
            assert sandbox.execute("console.log('alive')").stdout == "alive\n"
            return result.trap_kind

    assert in_thread(recurse) is TrapKind.STACK_OVERFLOW


def test_closing_during_a_direct_turn_ends_it(engine: SandboxEngine, workspace_root: Path) -> None:
    policy = ExecutionPolicy(fuel_budget=10**12, timeout_seconds=60)
    sandbox = create_sandbox(RuntimeType.JAVASCRIPT, policy=policy, workspace_root=workspace_root)

    def spin() -> TrapKind:
        return sandbox.execute("while (true) {}").trap_kind

    timer = threading.Timer(0.3, sandbox.close)
    timer.start()
    try:
        assert in_thread(spin) is TrapKind.CANCELLED
    finally:
        timer.join()
