"""CPython 3.12 for WASI, driven through ``wasm/guest/python/driver.py``.

The binary is a WASI *command* module: its only entry point is ``_start``. The
instance runs the driver (``python -c``, see :func:`_interpreter_command`) on
its own thread; the driver starts the interpreter, reports "ready" on the
control channel and parks until the host hands it a request: in the shadowed
``clock_time_get`` before its first request, in ``sched_yield`` between turns.
Start-up (~140 M fuel, ~45 ms) therefore happens before the user's code
arrives, and its fuel is reported apart. See the driver for the protocol.

With interpreter images (:mod:`.._image`, on by default) that start-up runs
once per process and shape: the first parked interpreter is copied, and every
instance, that one included, runs its turns in a copy of it.
"""

from __future__ import annotations

import ctypes
import json
import logging
import marshal
import time
from collections.abc import Callable
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from .. import _image as images
from .._guest_output import GuestOutputBuffer, memory_reader
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

log = logging.getLogger("workbench.sandbox.python")

#: How long an instance waits for the image another instance of its shape is
#: taking before it starts CPython itself (a loaded machine took ~0.5 s).
IMAGE_WAIT_SECONDS = 10.0

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


#: Every interpreter hashes strings with the same secret, so the same code spends
#: the same fuel in every process and on every machine (a secret drawn per
#: process moved dict layouts, and a run's fuel by ~0.1 % up to a few per cent
#: between processes: a batch's fuel depended on which worker ran a sample).
#: Randomised hashes guard a program against hostile *input*; here the code is the
#: untrusted party, limited by its fuel, and python-sci runs with them off too.
#: The driver takes the variable out of the environment the code sees.
FIXED_HASH_SEED = (("PYTHONHASHSEED", "0"),)


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
        return ["python", "-s", "-S", "-P", "-u", "-c", driver_source()], FIXED_HASH_SEED
    # The file is closed before the driver runs: it never returns, and an open
    # descriptor would count against the user's max_open_files.
    loader = (
        "import marshal\n"
        f"with open('{STDLIB_GUEST_PATH}/{STDLIB_DRIVER_CODE}', 'rb') as f:\n"
        "    driver = f.read()\n"
        "exec(marshal.loads(driver))\n"
    )
    env = (("PYTHONPATH", f"{STDLIB_GUEST_PATH}/{STDLIB_STARTUP_ZIP}"), *FIXED_HASH_SEED)
    return ["python", "-s", "-S", "-P", "-u", "-c", loader], env


class PythonInstance(Instance):
    """A CPython interpreter parked between turns (fresh: one turn, then exit)."""

    runtime = RuntimeType.PYTHON
    #: Fuel the store starts with; what start-up leaves of it is the turn's.
    startup_fuel_budget = STARTUP_FUEL
    #: Whether instances of this runtime take and start from images (see _image).
    supports_images = True
    _module_sha = ""
    #: Whether the driver parks in clock_time_get (the module is image-ready, so
    #: the host shadows that call); otherwise it parks at its ready message.
    _parks_on_clock = False
    #: Whether this instance started as a copy of an interpreter image.
    from_image = False
    #: Whether this instance ran CPython's own start-up (no image was ready).
    started_interpreter = False
    #: The image this instance continues as a copy of, after starting the ordinary
    #: way (its own interpreter became the image, or started beside the one that did).
    _image_taken: images.InterpreterImage | None = None
    #: Whether this instance is the one taking its shape's image (others wait).
    _claimed = False
    #: The driver's ready message, between its announcement and its park.
    _untrusted_ready: dict[str, Any] | None = None

    def _thread_main(self) -> None:
        self._startup_began = time.perf_counter()
        module = self.engine.module(RuntimeType.PYTHON)
        self._control: bytearray | None = None
        self._control_overflow = False
        self._pending_status: dict[str, Any] | None = None
        self._module_sha = self.engine.specs[RuntimeType.PYTHON].sha256
        self._parks_on_clock = self.engine.image_ready(module)
        image = None
        if images.images_enabled() and self.supports_images and self._parks_on_clock:
            image, self._claimed = images.registry.get_or_claim(
                self._module_sha, self.shape, IMAGE_WAIT_SECONDS, lambda: self._closing
            )
        if image is None:
            self.started_interpreter = True
            try:
                self._run_guest(module, None)
            finally:
                self._release_claim()
            image = self._image_taken
            if image is None or self._closing:
                return
            # This interpreter became the image and exited. Its turns run in a copy
            # too, like everyone's: the same code then spends the same fuel
            # whichever instance runs it (the way into serve() differs otherwise).
            self._release_store()
            self._shutting_down = False
            self._stdin.clear()
            self._open_fds.clear()
        self._run_guest(module, image)

    def _run_guest(self, module: wasmtime.Module, image: images.InterpreterImage | None) -> None:
        """Start the interpreter (or copy ``image``) and run it until it ends."""
        store = self._new_store(*_interpreter_command(self.shape.mounts))
        linker = self._link(module)
        instance = linker.instantiate(store, module)
        memory = instance.exports(store)["memory"]
        assert isinstance(memory, wasmtime.Memory)
        self.memory = memory
        if image is not None:
            # Before the trampoline instance exists: restoring grows the memory.
            entry = image.restore(store, instance)
        self._fetch_originals(store, module)
        if image is not None:
            call = self._resume_image(store, image, entry)
            if call is None:
                return  # closed before its turn
        else:
            start = instance.exports(store)["_start"]
            assert isinstance(start, wasmtime.Func)

            def call() -> None:
                start(store)

        exit_code: int | None = None
        ended: BaseException | None = None
        try:
            call()
            exit_code = 0
        except wasmtime.ExitTrap as exc:
            exit_code = exc.code
        except BaseException as exc:  # classified below, from our own observations
            ended = exc
        # Whatever the guest printed and still held in its buffer (os._exit, a
        # trap, Stop, the deadline): its memory is still readable.
        self.drain_stdout_from(store)
        if self._image_taken is not None and image is None:
            if exit_code != 0 or self._turn is not None:
                self._image_taken = None  # not the clean exit asked for: don't copy on
                self._guest_ended(store, exit_code, ended)
            return
        if self._shutting_down:
            # Closed while parked: the driver exited on request. Recorded so tests
            # can check no exception travelled through wasm (see _hostcalls).
            self.shutdown_exit_code = exit_code
            return
        self._guest_ended(store, exit_code, ended)

    def _resume_image(
        self, store: wasmtime.Store, image: images.InterpreterImage, entry: wasmtime.Func
    ) -> Callable[[], object] | None:
        """Become a copy of ``image``; wait for the first request; return the call to make.

        None if the instance was closed before a request came.
        """
        self.from_image = True
        fresh = image.fresh_stdout_buffer()
        self._stdout_buffers = [fresh] if fresh is not None else []
        self._stdout_position = image.stdout_position
        self.startup_fuel = image.startup_fuel
        self.startup_ms = (time.perf_counter() - self._startup_began) * 1000
        self._mark_ready()
        item = self._requests.get()
        if not isinstance(item, TurnRequest):
            return None  # nothing ran in this store: nothing to ask to exit
        self._hand_over(item)
        store.set_fuel(item.fuel)
        # PyVectorcall_Call(serve, (), NULL): the parked clock_time_get calls back into
        # Python, in this copy of its memory.
        return lambda: entry(store, image.serve, image.no_args, 0)

    def on_clock(self, caller: wasmtime.Caller) -> None:
        ready = self._untrusted_ready
        if ready is None or self._turn is not None or self.state is not InstanceState.STARTING:
            return
        # The driver parks here before its first request (see the driver's end).
        self._untrusted_ready = None
        self.startup_fuel = max(0, self.startup_fuel_budget - _context_fuel(caller))
        self.startup_ms = (time.perf_counter() - self._startup_began) * 1000
        taken = self._take_image(caller, ready)
        self._release_claim()  # waiting instances of the shape copy it now, or start
        if taken:
            # Exit; this instance then runs as a copy of the image (_thread_main).
            payload = marshal.dumps({"op": "exit"})
            self._stdin += len(payload).to_bytes(8, "little") + payload
            return
        self._mark_ready()
        self._await_request(caller)

    def _release_claim(self) -> None:
        """Let other instances of the shape stop waiting for this one's image."""
        if self._claimed:
            self._claimed = False
            images.registry.release(self._module_sha, self.shape)

    def _take_image(self, caller: wasmtime.Caller, untrusted_ready: dict[str, Any]) -> bool:
        """Keep this parked interpreter as its shape's image, unless one exists already.

        Returns whether the shape has an image now: the instance then exits and
        runs its turn in a copy (instances that started at the same time as the
        image's included, so every turn of a shape runs the same way).
        """
        if not (self.supports_images and self.memory is not None and images.images_enabled()):
            return False
        if images.registry.get(self._module_sha, self.shape) is None:
            try:
                image = images.InterpreterImage.capture(
                    caller,
                    self.memory,
                    untrusted_ready,
                    startup_fuel=self.startup_fuel,
                    stdout_buffer=self._python_stdout_buffer(),
                    stdout_position=self._stdout_position,
                )
            except Exception:  # no image costs speed only; the instance is fine
                log.exception("taking an interpreter image failed")
                image = None
            if image is not None:
                images.registry.add(self._module_sha, self.shape, image)
        self._image_taken = images.registry.get(self._module_sha, self.shape)
        return self._image_taken is not None

    def _python_stdout_buffer(self) -> GuestOutputBuffer | None:
        """The registered stdout writer of the interpreter (Python registers one)."""
        views = [view for view in self._stdout_buffers if isinstance(view, GuestOutputBuffer)]
        return views[0] if len(views) == 1 and len(self._stdout_buffers) == 1 else None

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
            if untrusted_message.get("park") == "clock" and self._parks_on_clock:
                # Ready; it parks in clock_time_get next (see on_clock).
                self._untrusted_ready = untrusted_message
                return
            self.startup_fuel = max(0, self.startup_fuel_budget - fuel_left)
            self.startup_ms = (time.perf_counter() - self._startup_began) * 1000
            self._mark_ready()
        self._await_request(caller)

    def on_profile(
        self, caller: wasmtime.Caller, op: int, a: int, b: int, at: int = 0
    ) -> int | None:
        recorder = self._profiler
        first_begin = recorder is not None and recorder.begin_fuel is None
        if first_begin and op == OP_MARK and b == MARK_BEGIN:
            # The profiler's source goes out after the mark, so reading and decoding
            # it is the profiler's fuel, given back, not the user's.
            payload = marshal.dumps(profiler_source())
            self._stdin += len(payload).to_bytes(8, "little") + payload
        return super().on_profile(caller, op, a, b, at)

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
        self._hand_over(item)
        _set_context_fuel(caller, item.fuel)

    def _hand_over(self, request: TurnRequest) -> None:
        """Queue ``request`` on the driver's stdin and begin its turn."""
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
            # A profiled run says so in "kind" (unused by "exec"): a key more would
            # cost the driver ~5 k instructions to decode, outside the profile.
            "kind": True if request.profile and request.op == "exec" else request.kind,
            "args": request.args,
        }
        if request.op == "introspect":  # compiled by the guest on first use
            message["source"] = introspect_source()
        if request.interactive:  # only then: the usual request stays as it was
            message["interactive"] = True
            message["value_max"] = request.value_max
        payload = marshal.dumps(message)
        self._stdin += len(payload).to_bytes(8, "little") + payload
        self._begin_turn(request)
