"""CPython 3.12 for WASI, driven through ``wasm/guest/python/driver.py``.

The binary is a WASI *command* module: its only entry point is ``_start``. The
instance runs the driver (``python -c``, see :func:`_interpreter_command`) on
its own thread; the driver starts the interpreter, reports "ready" on the
control channel and parks in the shadowed ``sched_yield`` until the host hands
it a request. Start-up (~140 M fuel, ~45 ms) therefore happens before the
user's code arrives, and its fuel is reported apart. See the driver for the
protocol.
"""

from __future__ import annotations

import ctypes
import json
import marshal
import time
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from .._guest_output import memory_reader
from .._instance import (
    _SHUTDOWN,
    STARTUP_FUEL,
    Instance,
    InstanceState,
    TurnRequest,
)
from .._profile import MARK_BEGIN, OP_MARK
from .._resources import data_path, driver_source, profiler_source
from .._result import RuntimeType, TrapKind
from .._vendor import STDLIB_DRIVER_CODE, STDLIB_GUEST_PATH, STDLIB_STARTUP_ZIP

__all__ = ["PythonInstance"]

#: Largest control message the driver may send (bytes); more is a protocol error.
#: Saved globals travel in it (base64; the driver caps them at 32 MiB).
MAX_CONTROL_MESSAGE = 64 * 1024 * 1024


_introspect_source: str | None = None


def introspect_source() -> str:
    """The guest introspectors (``introspect.py``), sent with introspect requests."""
    global _introspect_source
    if _introspect_source is None:
        path = data_path("wasm") / "guest" / "python" / "introspect.py"
        _introspect_source = path.read_text("utf-8")
    return _introspect_source


def _context_fuel(caller: wasmtime.Caller) -> int:
    left = ctypes.c_uint64(0)
    error = ffi.wasmtime_context_get_fuel(caller._context(), ctypes.byref(left))
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)
    return int(left.value)


def _set_context_fuel(caller: wasmtime.Caller, fuel: int) -> None:
    error = ffi.wasmtime_context_set_fuel(caller._context(), fuel)
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)


def _interpreter_command(
    mounts: tuple[tuple[str, str], ...],
) -> tuple[list[str], tuple[tuple[str, str], ...]]:
    """The guest's argv and the runtime's own environment variables.

    With the unpacked stdlib mounted, two things come from it instead of being
    redone at every start-up (together half of the ~300 M instructions): the
    modules CPython imports while starting, from a small zip that PYTHONPATH puts
    before the runtime's big one (see STDLIB_STARTUP_ZIP), and the driver, already
    compiled (STDLIB_DRIVER_CODE). ``-s -P`` with a host-made environment is
    ``-I`` (isolated) but for PYTHONPATH; the policy refuses PYTHON* names.
    """
    if not any(guest == STDLIB_GUEST_PATH for _, guest in mounts):
        return ["python", "-I", "-S", "-u", "-c", driver_source()], ()
    # The file is closed before the driver runs: it never returns, and an open
    # descriptor would count against the user's max_open_files.
    loader = (
        "import marshal\n"
        f"with open('{STDLIB_GUEST_PATH}/{STDLIB_DRIVER_CODE}', 'rb') as f:\n"
        "    driver = f.read()\n"
        "exec(marshal.loads(driver))\n"
    )
    env = (("PYTHONPATH", f"{STDLIB_GUEST_PATH}/{STDLIB_STARTUP_ZIP}"),)
    return ["python", "-s", "-S", "-P", "-u", "-c", loader], env


class PythonInstance(Instance):
    """A CPython interpreter parked between turns (fresh: one turn, then exit)."""

    runtime = RuntimeType.PYTHON
    #: Fuel the store starts with; what start-up leaves of it is the turn's.
    startup_fuel_budget = STARTUP_FUEL

    def _thread_main(self) -> None:
        self._startup_began = time.perf_counter()
        module = self.engine.module(RuntimeType.PYTHON)
        self._control: bytearray | None = None
        self._control_overflow = False
        self._pending_status: dict[str, Any] | None = None
        store = self._new_store(*_interpreter_command(self.shape.mounts))
        linker = self._link(module)
        instance = linker.instantiate(store, module)
        memory = instance.exports(store)["memory"]
        assert isinstance(memory, wasmtime.Memory)
        self.memory = memory
        self._fetch_originals(store, module)
        start = instance.exports(store)["_start"]
        assert isinstance(start, wasmtime.Func)
        exit_code: int | None = None
        ended: BaseException | None = None
        try:
            start(store)
            exit_code = 0
        except wasmtime.ExitTrap as exc:
            exit_code = exc.code
        except BaseException as exc:  # classified below, from our own observations
            ended = exc
        # Whatever the guest printed and still held in its buffer (os._exit, a
        # trap, Stop, the deadline): its memory is still readable.
        self.drain_stdout_from(store)
        if self._shutting_down:
            # Closed while parked: the driver exited on request. Recorded so tests
            # can check no exception travelled through wasm (see _hostcalls).
            self.shutdown_exit_code = exit_code
            return
        self._guest_ended(store, exit_code, ended)

    # ---- Guest ended (fresh turn done, or a crash)

    def _guest_ended(
        self, store: wasmtime.Store, exit_code: int | None, ended: BaseException | None
    ) -> None:
        try:
            fuel_left = store.get_fuel()
        except wasmtime.WasmtimeError:
            fuel_left = 0
        if self._turn is None:
            # Died before a turn began: start-up failed.
            if self.startup_error is None:
                self.startup_error = ended or RuntimeError(
                    f"the Python runtime exited during start-up (code {exit_code})"
                )
            return
        if ended is None:
            trap_kind, message = TrapKind.NONE, ""
        else:
            trap_kind, message = self._classify(ended, fuel_left)
            exit_code = None
        self._finish_turn(
            exit_code=exit_code,
            trap_kind=trap_kind,
            trap_message=message,
            fuel_left=fuel_left,
            alive=False,
            memory_bytes=self._memory_size(),
        )

    # ---- Control channel (instance thread, inside the guest's sched_yield)

    def _on_stdout(self, data: bytes) -> None:
        if self._control is not None:
            if len(self._control) + len(data) > MAX_CONTROL_MESSAGE:
                self._control_overflow = True  # reported as a failed turn, not raised
            else:
                self._control.extend(data)
            return
        super()._on_stdout(data)

    def on_yield(self, caller: wasmtime.Caller) -> None:
        if self._control is None:
            # The driver begins a control message. It flushed stdout first; take
            # anything still buffered before the turn's output is closed.
            if self.memory is not None:
                self._drain_stdout(memory_reader(caller._context(), self.memory))
            self._control = bytearray()
            return
        raw = bytes(self._control)
        self._control = None
        try:
            if self._control_overflow:
                raise ValueError("too large")
            untrusted_message = json.loads(raw.decode("utf-8"))
            if not isinstance(untrusted_message, dict):
                raise ValueError("not an object")
        except ValueError:
            untrusted_message = {"ok": False, "error": "malformed control message"}
        self._control_overflow = False
        fuel_left = _context_fuel(caller)
        if self._turn is not None:
            self._finish_turn(
                exit_code=None,
                trap_kind=TrapKind.NONE,
                trap_message="",
                fuel_left=fuel_left,
                alive=True,
                untrusted_status=untrusted_message,
                memory_bytes=int(self.memory.data_len(caller)) if self.memory else 0,
            )
        elif self.state is InstanceState.STARTING:
            self.startup_fuel = max(0, self.startup_fuel_budget - fuel_left)
            self.startup_ms = (time.perf_counter() - self._startup_began) * 1000
            self._mark_ready()
        self._await_request(caller)

    def on_profile(self, caller: wasmtime.Caller, op: int, a: int, b: int) -> int | None:
        recorder = self._profiler
        first_begin = recorder is not None and recorder.begin_fuel is None
        if first_begin and op == OP_MARK and b == MARK_BEGIN:
            # The profiler's source goes out after the mark, so reading and decoding
            # it is the profiler's fuel, given back, not the user's.
            payload = marshal.dumps(profiler_source())
            self._stdin += len(payload).to_bytes(8, "little") + payload
        return super().on_profile(caller, op, a, b)

    def _await_request(self, caller: wasmtime.Caller) -> None:
        """Park until the next request, then hand it to the driver and arm limits."""
        item = self._requests.get()
        if item is _SHUTDOWN or not isinstance(item, TurnRequest):
            # Ask the driver to exit (a clean proc_exit) rather than raising
            # through wasm: see the note on exceptions in _hostcalls.
            self._shutting_down = True
            payload = marshal.dumps({"op": "exit"})
            self._stdin += len(payload).to_bytes(8, "little") + payload
            return
        request = item
        # marshal: the driver can decode it with a builtin module (json would cost the
        # guest ~30 M fuel to import). Host -> guest only; nothing from the guest is
        # ever unmarshalled by the host.
        message: dict[str, object] = {
            "op": request.op,
            "code": request.code,
            "filename": request.filename,
            "argv": list(request.argv),
            "fresh": request.fresh,
            "persist": request.persist,
            "state": request.state or b"",
            "kind": request.kind,
            "args": request.args,
        }
        if request.op == "introspect":  # compiled by the guest on first use
            message["source"] = introspect_source()
        if request.profile:  # the source follows the driver's "begin" mark: see on_profile
            message["profile"] = True
        if request.interactive:  # only then: the usual request stays as it was
            message["interactive"] = True
            message["value_max"] = request.value_max
        payload = marshal.dumps(message)
        self._stdin += len(payload).to_bytes(8, "little") + payload
        self._begin_turn(request)
        _set_context_fuel(caller, request.fuel)
