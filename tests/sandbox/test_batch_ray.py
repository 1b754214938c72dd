"""The Ray backend of evaluate(), on a real local Ray instance.

Ray is an optional extra for users (``pip install "wasm-workbench[ray]"``); the
``dev`` extra installs it too, so the Quick start's test command (and CI) runs this.
"""

from __future__ import annotations

import ctypes
import signal
import sys
from pathlib import Path

import pytest
from test_batch import EXPECTED, POLICY, PROBLEMS, SAMPLES, key

from workbench.sandbox import RuntimeType, TrapKind, create_sandbox, evaluate
from workbench.sandbox._signals import _sigaction, signal_handlers_kept

ray = pytest.importorskip("ray", reason='Ray is not installed (pip install -e ".[ray]")')

pytestmark = pytest.mark.slow


def test_ray_results_are_the_same_as_local() -> None:
    local = list(evaluate(PROBLEMS, SAMPLES, policy=POLICY, workers=1))
    run = evaluate(PROBLEMS, SAMPLES, policy=POLICY, workers=2, backend="ray")
    results = list(run)
    assert key(results) == key(local)
    assert {r.sample_index: r.cause for r in results} == EXPECTED
    assert not ray.is_initialized(), "the Ray instance evaluate() started was left running"


def test_a_guest_trap_after_a_ray_run_is_still_a_result(tmp_path: Path) -> None:
    """ray.init() and ray.shutdown() replace the fault handlers wasmtime needs.

    Before they were kept, the next trap (a JavaScript recursion that reaches the
    wasm stack limit) killed the whole process with SIGSEGV.
    """
    list(evaluate(PROBLEMS, SAMPLES[:2], policy=POLICY, workers=1, backend="ray"))
    with create_sandbox(RuntimeType.JAVASCRIPT, workspace_root=tmp_path) as sandbox:
        result = sandbox.execute("function f(n) { return f(n + 1) + 1; }\nf(0);")
        assert not result.success
        assert result.trap_kind in (TrapKind.NONE, TrapKind.STACK_OVERFLOW)
        assert sandbox.execute("console.log('alive')").stdout == "alive\n"


def _c_handler(number: int) -> int:
    """The handler address the C library has for a signal (0: the default)."""
    buffer = ctypes.create_string_buffer(512)
    assert _sigaction()(number, None, buffer) == 0
    return ctypes.c_void_p.from_buffer(buffer).value or 0


@pytest.mark.skipif(sys.platform == "win32", reason="no POSIX signals")
def test_signal_handlers_are_put_back() -> None:
    number = signal.SIGTERM
    before = _c_handler(number)
    try:
        with signal_handlers_kept():
            signal.signal(number, lambda *_: None)
            assert _c_handler(number) != before
        assert _c_handler(number) == before
    finally:
        signal.signal(number, signal.SIG_DFL)
