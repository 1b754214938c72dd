"""A guest instance: one wasmtime store driven from its own thread.

Every :class:`Instance` owns a thread. The store, the instance and every host
call live on that thread only; other threads talk to it through :meth:`run`
(blocks until the turn ends) and :meth:`cancel` (sets a flag the epoch callback
and the sleeping ``poll_oneoff`` check). That keeps to wasmtime's rule that a
store is used by one thread, lets a Python instance park inside a host call
between turns, and gives wasm a native stack of known size on every platform.

Instances are started ahead of use by the pool (:mod:`._pool`): start-up runs
with its own fuel, which is reported apart and never charged to the user.

Subclasses (:mod:`._runtimes.python`, :mod:`._runtimes.javascript`) implement
:meth:`Instance._thread_main`.
"""

from __future__ import annotations

import ctypes
import enum
import logging
import os
import queue
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from ._engine import MAX_WASM_STACK, RUNNER_THREAD_STACK, SandboxEngine
from ._guest_output import (
    FILE_CONFIRM,
    FILE_PROBE,
    POSITION_STEP,
    REGISTER_FILE_PREFIX,
    REGISTER_PREFIX,
    STDOUT_POSITION,
    BufferedStdout,
    GuestOutputBuffer,
    Reader,
    StdioFileBuffer,
    memory_reader,
)
from ._hostcalls import FORWARDED, WASI, set_current_state
from ._links import LinkGuard
from ._profile import (
    SCI_PROFILE_NOTE,
    FuelProfile,
    ProfileRecorder,
    unavailable_profile,
)
from ._resources import data_path
from ._result import Figure, RuntimeType, TrapKind
from ._workspace import scan

__all__ = [
    "GUEST_LIB_PATH",
    "STARTUP_FUEL",
    "Instance",
    "InstanceShape",
    "InstanceState",
    "OutputCapture",
    "TurnOutcome",
    "TurnRequest",
]

log = logging.getLogger("workbench.sandbox.instance")

#: Fuel for interpreter start-up (CPython needs ~140-300 M); never charged to the user.
STARTUP_FUEL = 5_000_000_000
#: Most stdout buffers one guest may register (see _guest_output).
MAX_STDOUT_BUFFERS = 4
#: Wall-clock limit for start-up.
STARTUP_TIMEOUT = 60.0

OutputCallback = Callable[[str, bytes], None]

#: Where every guest sees the helper libraries of ``vendor/guest`` (read-only):
#: ``/data/lib/python`` holds ``sandbox_utils``, ``/data/lib/js`` the JS helpers.
GUEST_LIB_PATH = "/data/lib"
_guest_lib_dir: str | None = None


def guest_lib_dir() -> str:
    """Host folder mounted at :data:`GUEST_LIB_PATH` ("" if the install lacks it)."""
    global _guest_lib_dir
    if _guest_lib_dir is None:
        try:
            folder = data_path("vendor") / "guest"
        except FileNotFoundError:
            folder = None
        if folder is None or not folder.is_dir():
            log.warning("vendor/guest is missing: guests get no helper library at /data/lib")
            _guest_lib_dir = ""
        else:
            _guest_lib_dir = str(folder.resolve())
    return _guest_lib_dir


@dataclass(frozen=True)
class InstanceShape:
    """Everything fixed when an instance is created; instances are pooled per shape."""

    runtime: RuntimeType
    workspace: str
    memory_bytes: int
    env: tuple[tuple[str, str], ...] = ()
    mounts: tuple[tuple[str, str], ...] = ()  # (host path, guest path), read-only
    #: Host folder of the guest helper libraries, mounted read-only at /data/lib.
    guest_lib: str = field(default_factory=guest_lib_dir)
    #: python-sci only: the modules imported ahead (None: the runtime's default).
    preload: tuple[str, ...] | None = None


@dataclass
class TurnRequest:
    """One piece of code to run, with the per-turn limits of the policy."""

    code: str
    fuel: int
    timeout_seconds: float
    stdout_max_bytes: int
    stderr_max_bytes: int
    max_open_files: int
    workspace_max_bytes: int
    workspace_max_files: int
    argv: list[str] = field(default_factory=list)
    fresh: bool = True
    #: "exec" runs ``code``; "restore" loads ``state`` (saved earlier by the guest);
    #: "introspect" asks the guest's introspector ``kind`` about its live state.
    op: str = "exec"
    #: The introspector to call for op "introspect", and its arguments (plain values).
    kind: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    #: After a successful live turn, have the guest save its globals.
    persist: bool = False
    #: Opaque guest state for "restore" (the host never decodes it).
    state: bytes | None = None
    filename: str = "<code>"
    #: REPL semantics (live turns): the value of a trailing expression comes back
    #: in the status as ``value`` (its repr, at most ``value_max`` characters).
    interactive: bool = False
    value_max: int = 65536
    #: Record a fuel profile of the turn (see :mod:`._profile`).
    profile: bool = False
    #: Have the guest render each figure as SVG too (runtimes that draw).
    figure_svg: bool = False
    #: What a profiled run costs beyond a plain one whatever its code does,
    #: measured by the host (see :func:`._sandbox.profile_baseline`): given back
    #: when the profiler's clean-up ends.
    profile_baseline: int = 0
    on_output: OutputCallback | None = None
    # Workspace usage at the start of the turn (the quota's baseline).
    workspace_bytes_used: int = 0
    workspace_entries_used: int = 0


@dataclass
class TurnOutcome:
    """What the host observed during one turn (raw; turned into a SandboxResult)."""

    exit_code: int | None = None
    trap_kind: TrapKind = TrapKind.NONE
    trap_message: str = ""
    stdout: bytes = b""
    stderr: bytes = b""
    stdout_total: int = 0
    stderr_total: int = 0
    fuel_consumed: int = 0
    memory_bytes: int = 0
    duration_ms: float = 0.0
    quota_hit: bool = False
    open_files_hit: bool = False
    #: Whether the instance can take another turn (live sessions).
    alive: bool = False
    #: The guest driver's own status message (live turns only; untrusted).
    untrusted_status: dict[str, Any] | None = None
    #: Figures the guest handed over this turn (checked by the runtime).
    figures: list[Figure] = field(default_factory=list)
    figures_truncated: bool = False
    #: The turn's fuel profile, when the request asked for one.
    profile: FuelProfile | None = None


class OutputCapture:
    """A stream kept up to ``limit`` bytes; the rest is counted, then dropped.

    Called from the instance thread for every guest write, so host memory stays
    bounded however much the guest prints.
    """

    def __init__(self, name: str, limit: int, callback: OutputCallback | None) -> None:
        self.name = name
        self.limit = limit
        self.callback = callback
        self.parts: list[bytes] = []
        self.kept = 0
        self.total = 0

    def write(self, data: bytes) -> None:
        self.total += len(data)
        room = self.limit - self.kept
        if room <= 0:
            return
        chunk = data[:room]
        self.parts.append(chunk)
        self.kept += len(chunk)
        if self.callback is not None:
            try:
                self.callback(self.name, chunk)
            except Exception:  # a broken listener must not kill the guest
                log.exception("output callback failed")

    def value(self) -> bytes:
        return b"".join(self.parts)


class InstanceState(enum.Enum):
    """Lifecycle of an instance."""

    STARTING = "starting"  # the thread is creating the store and starting the interpreter
    READY = "ready"  # idle, waiting for a turn
    RUNNING = "running"  # a turn is executing
    DEAD = "dead"  # ended (exit, trap, start-up failure or close); can't run again


class _Shutdown(BaseException):
    """Raised inside a parked host call to end the instance."""


_SHUTDOWN = object()

# One epoch-deadline callback for every store: it runs on the thread executing
# wasm, which is the instance's own thread, so the thread-local finds the instance.
_EpochCallback = ctypes.CFUNCTYPE(
    ctypes.c_size_t,
    ctypes.POINTER(ffi.wasmtime_context_t),
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_uint64),
    ctypes.POINTER(ctypes.c_uint8),
)
_Finalizer = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_local = threading.local()


def _on_epoch_impl(ctx: Any, _data: Any, delta: Any, kind: Any) -> int:
    instance: Instance | None = getattr(_local, "instance", None)
    if instance is not None:
        if instance.interrupt_reason() is not None:
            error = ffi.wasmtime_error_new(b"interrupted by the host")
            return ctypes.cast(error, ctypes.c_void_p).value or 0
        if instance.watched:
            instance.stream_pending(ctx)
    delta[0] = 1
    kind[0] = 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE
    return 0


def _no_finalize_impl(_data: Any) -> None:
    return None


# Module-level references keep the ctypes thunks alive as long as stores use them.
_on_epoch = _EpochCallback(_on_epoch_impl)
_no_finalize = _Finalizer(_no_finalize_impl)


_stack_lock = threading.Lock()

#: A thread whose native stack is at least this big may run wasm itself (direct
#: turns): four times the wasm stack limit leaves room for the host frames that
#: host calls add on top of it. (A crash once blamed on this room was Ray taking
#: wasmtime's fault handlers; see _signals.)
DIRECT_MIN_STACK = 4 * MAX_WASM_STACK
_stack_sizes = threading.local()


def _native_stack_size() -> int | None:
    """The calling thread's native stack size, where the platform says it."""
    try:
        libc = ctypes.CDLL(None)
        if sys.platform == "darwin":
            libc.pthread_self.restype = ctypes.c_void_p
            libc.pthread_get_stacksize_np.restype = ctypes.c_size_t
            libc.pthread_get_stacksize_np.argtypes = [ctypes.c_void_p]
            return int(libc.pthread_get_stacksize_np(libc.pthread_self()))
        if not sys.platform.startswith("linux"):
            return None  # e.g. Windows: turns go to the instance's own thread
        libc.pthread_self.restype = ctypes.c_ulong
        attr = ctypes.create_string_buffer(256)  # pthread_attr_t is 36-64 bytes
        if libc.pthread_getattr_np(ctypes.c_ulong(libc.pthread_self()), attr) != 0:
            return None
        try:
            address, size = ctypes.c_void_p(), ctypes.c_size_t()
            if libc.pthread_attr_getstack(attr, ctypes.byref(address), ctypes.byref(size)):
                return None
            return int(size.value)
        finally:
            libc.pthread_attr_destroy(attr)
    except (OSError, AttributeError):
        return None


def caller_can_run_wasm() -> bool:
    """Whether this thread's stack is known to be big enough to run wasm on it."""
    known: bool | None = getattr(_stack_sizes, "ok", None)
    if known is None:
        size = _native_stack_size()
        known = size is not None and size >= DIRECT_MIN_STACK
        _stack_sizes.ok = known
    return known


def start_runner_thread(
    target: Callable[[], None], name: str, stack_size: int = RUNNER_THREAD_STACK
) -> threading.Thread:
    """Start a daemon thread with a stack large enough for wasm on every platform."""
    with _stack_lock:
        previous = threading.stack_size(stack_size)
        try:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
        finally:
            threading.stack_size(previous)
    return thread


class Instance:
    """Base class: a store on its own thread, with per-turn limits and accounting."""

    runtime: RuntimeType
    #: Whether turns may run on the caller's thread (see :meth:`run`). Only a
    #: runtime the host drives call by call can: the Python driver parks inside a
    #: host call on the instance's own thread between turns.
    direct_turns = False
    #: How many of the registered stdout buffers (the first ones) the host may read
    #: at any instant, an epoch tick in the middle of a runaway recursion included;
    #: the others only when the guest calls the host or ends normally. None: all.
    steady_buffers: int | None = None
    _live: weakref.WeakSet[Instance] = weakref.WeakSet()
    _live_lock = threading.Lock()

    def __init__(
        self, engine: SandboxEngine, shape: InstanceShape, *, background: bool = False
    ) -> None:
        self.engine = engine
        self.shape = shape
        self.background = background
        self._holds_slot = False
        self._closing = False
        #: Set on this instance's thread when it asked its guest to exit.
        self._shutting_down = False
        #: The guest's exit code when it ended because the instance was closed.
        self.shutdown_exit_code: int | None = None
        self.state = InstanceState.STARTING
        self.startup_fuel = 0
        self.startup_ms = 0.0
        self.startup_error: BaseException | None = None
        self.used = False
        self.originals: dict[str, wasmtime.Func] = {}
        self.memory: wasmtime.Memory | None = None
        self._store: wasmtime.Store | None = None
        # Held while wasm runs in the store off the instance's thread, and while the
        # instance's thread frees the store: a close can't free it under a turn.
        self._store_lock = threading.RLock()
        self._ready = threading.Event()
        # SimpleQueue: the turn hand-off is on the latency path of every live turn.
        self._requests: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._outcomes: queue.SimpleQueue[TurnOutcome] = queue.SimpleQueue()
        self._cancel = threading.Event()
        self._turn: TurnRequest | None = None
        self._turn_started = 0.0
        self._deadline = 0.0
        self._deadline_hit = False
        self._stdout: OutputCapture | None = None
        self._stderr: OutputCapture | None = None
        self._open_fds: set[int] = set()
        self._link_guard = LinkGuard()
        self._stdin = bytearray()
        self._open_files_hit = False
        self._quota_hit = False
        self._bytes_base = 0
        self._bytes_charged = 0
        self._entries_base = 0
        self._entries_charged = 0
        self._begun = False
        #: The guest's registered stdout buffers (see _guest_output), kept across turns.
        self._stdout_buffers: list[BufferedStdout] = []
        #: Where a C guest's stdout FILE may keep its write position, between the
        #: two registration flushes (see StdioFileBuffer.probe).
        self._stdout_candidates: list[int] = []
        #: Whether the epoch callback streams buffered stdout (someone watches the output).
        self.watched = False
        self._stdout_position = STDOUT_POSITION - POSITION_STEP
        #: Figures of the running turn (runtimes that can draw add to it).
        self._figures: list[Figure] = []
        self._figures_truncated = False
        self._profiler: ProfileRecorder | None = None
        #: Why a profile asked for holds the total only (set by the runtime).
        self._profile_note = ""
        with Instance._live_lock:
            Instance._live.add(self)
        self._thread = start_runner_thread(
            self._run_thread,
            f"wasm-{self.shape.runtime.value}-instance",
            engine.specs[shape.runtime].profile.thread_stack,
        )

    # ---- Public API (any thread)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until start-up ended (ready or failed). Returns False on timeout."""
        return self._ready.wait(timeout)

    @property
    def ready(self) -> bool:
        """Whether start-up finished successfully and no turn has used the instance."""
        return self.state is InstanceState.READY

    def run(self, request: TurnRequest) -> TurnOutcome:
        """Run one turn on the instance's thread and wait for its outcome.

        Raises
        ------
        RuntimeError
            If the instance is not ready (start-up failed, or it is dead).
        """
        self.wait_ready()
        if self.state is not InstanceState.READY:
            raise RuntimeError(f"instance is {self.state.value}, not ready")
        self.used = True
        self.state = InstanceState.RUNNING
        if self.direct_turns and caller_can_run_wasm():
            # The caller's thread runs the turn: no hand-off to the instance's
            # thread and back, which costs more than a small JS turn itself.
            self._run_direct(request)
        else:
            self._requests.put(request)
        return self._outcomes.get()

    def cancel(self) -> None:
        """Ask the running turn to stop; it ends within a few epoch ticks."""
        self._cancel.set()

    def forget_cancel(self) -> None:
        """Drop a Stop that reached this instance while no turn ran on it.

        Call right before :meth:`run`: a :meth:`cancel` that raced with the end
        of the previous turn must not end the next one.
        """
        if self.state is InstanceState.READY and not self._closing:
            self._cancel.clear()

    def close(self) -> None:
        """End the instance and free its store. Idempotent; doesn't wait."""
        if self.state is not InstanceState.DEAD:
            self._closing = True
            self._cancel.set()
            self._requests.put(_SHUTDOWN)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the instance's thread to finish (after :meth:`close`)."""
        self._thread.join(timeout)

    @classmethod
    def close_all(cls, timeout: float = 2.0) -> None:
        """Close every live instance and wait up to ``timeout`` for their threads."""
        with cls._live_lock:
            live = list(cls._live)
        for instance in live:
            instance.close()
        deadline = time.monotonic() + timeout
        for instance in live:
            instance.join(max(0.0, deadline - time.monotonic()))

    def _run_direct(self, request: TurnRequest) -> None:
        """Run ``request`` on this thread; the outcome goes to the queue as usual."""
        with self._store_lock:
            store = self._store
            if store is None or self._closing:
                self._begin_turn(request)
                self._finish_turn(
                    exit_code=None,
                    trap_kind=TrapKind.CANCELLED,
                    trap_message="Stopped on request.",
                    fuel_left=request.fuel,
                    alive=False,
                )
                return
            previous = getattr(_local, "instance", None)
            _local.instance = self
            previous_state = set_current_state(self)
            try:
                alive = self._direct_turn(store, request)
            except BaseException:  # the caller must get an outcome
                log.exception("direct turn failed")
                self._abandon_turn()
                alive = False
            finally:
                set_current_state(previous_state)
                _local.instance = previous
        if not alive:
            self._requests.put(_SHUTDOWN)  # the instance's thread frees the store

    def _direct_turn(self, store: wasmtime.Store, request: TurnRequest) -> bool:
        """Run one turn on the calling thread; return whether the guest lives on."""
        raise NotImplementedError  # only for runtimes with direct_turns

    # ---- Called on the instance thread (host calls and the epoch callback)

    def interrupt_reason(self) -> TrapKind | None:
        """Why the running turn must stop now, if it must."""
        if self._turn is None:
            return None
        if self._cancel.is_set():
            return TrapKind.CANCELLED
        if time.monotonic() >= self._deadline:
            self._deadline_hit = True
            return TrapKind.DEADLINE
        return None

    def interrupted(self) -> bool:
        return self.interrupt_reason() is not None

    def on_yield(self, caller: wasmtime.Caller) -> None:  # pragma: no cover - runtime specific
        return None  # only the Python driver uses sched_yield as a channel

    def tell_stdout(self) -> int:
        self._stdout_position += POSITION_STEP
        return self._stdout_position

    def on_clock(self, caller: wasmtime.Caller) -> None:
        return None  # only the Python driver parks here (see _image)

    def on_profile(
        self, caller: wasmtime.Caller, op: int, a: int, b: int, at: int = 0
    ) -> int | None:
        recorder = self._profiler
        if recorder is None:
            return None
        return recorder.on_call(caller, op, a, b, at)

    def read_stdin(self, limit: int) -> bytes:
        data = bytes(self._stdin[:limit])
        del self._stdin[:limit]
        return data

    def may_open_file(self) -> bool:
        limit = self._turn.max_open_files if self._turn else 1024
        if len(self._open_fds) >= limit:
            self._open_files_hit = True
            return False
        return True

    @property
    def link_guard(self) -> LinkGuard:
        """The guard the link host calls consult (see :mod:`._links`).

        :meth:`_new_store` records the preopens in it. A runtime that builds its
        own ``WasiConfig`` should call ``add_preopen`` in the same order; if it
        doesn't, the workspace is taken to be the first preopen (fd 3), as here.
        """
        guard = self._link_guard
        if not guard.configured:
            guard.add_preopen(self.shape.workspace, writable=True)
        return guard

    def opened(self, fd: int) -> None:
        self._open_fds.add(fd)

    def closed(self, fd: int) -> None:
        self._open_fds.discard(fd)

    def charge_bytes(self, count: int) -> bool:
        turn = self._turn
        if turn is None:
            return True
        if self._bytes_base + self._bytes_charged + count <= turn.workspace_max_bytes:
            self._bytes_charged += count
            return True
        # Near the limit: count what is really there (overwrites were charged twice).
        self._recount()
        if self._bytes_base + count <= turn.workspace_max_bytes:
            self._bytes_charged = count
            return True
        self._quota_hit = True
        return False

    def charge_entry(self) -> bool:
        turn = self._turn
        if turn is None:
            return True
        if self._entries_base + self._entries_charged + 1 <= turn.workspace_max_files:
            self._entries_charged += 1
            return True
        self._recount()
        if self._entries_base + 1 <= turn.workspace_max_files:
            self._entries_charged = 1
            return True
        self._quota_hit = True
        return False

    def _recount(self) -> None:
        snap = scan(Path(self.shape.workspace))
        self._bytes_base = snap.total_bytes
        self._entries_base = snap.entries
        self._bytes_charged = 0
        self._entries_charged = 0

    # ---- Shared machinery for subclasses (instance thread only)

    def _run_thread(self) -> None:
        _local.instance = self
        set_current_state(self)
        try:
            if self.background:
                self.engine.startup_slots.acquire()
                self._holds_slot = True
            if self._closing:
                return  # closed while waiting for a start-up slot
            self._thread_main()
        except BaseException as exc:  # the thread must always settle
            if self._ready.is_set():
                log.exception("instance thread failed")
            else:
                # Reported to whoever runs this instance; a pool refill nobody
                # uses only leaves this line. An instance closed while it started
                # (its sandbox went away, maybe with its workspace) is expected
                # to fail and says so only at debug level.
                level = logging.DEBUG if self._closing else logging.WARNING
                log.log(level, "instance start-up failed: %s", exc)
                self.startup_error = exc
        finally:
            self._startup_done()
            with self._store_lock:  # waits for a direct turn to end
                self._abandon_turn()
                self.state = InstanceState.DEAD
                self._ready.set()
                self._release_store()
            set_current_state(None)
            _local.instance = None

    def _startup_done(self) -> None:
        """Give back the background start-up slot (once)."""
        if self._holds_slot:
            self._holds_slot = False
            self.engine.startup_slots.release()

    def _mark_ready(self) -> None:
        self._startup_done()
        self.state = InstanceState.READY
        self._ready.set()

    def _thread_main(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _new_store(
        self, argv: list[str], extra_env: tuple[tuple[str, str], ...] = ()
    ) -> wasmtime.Store:
        with self.engine.wasmtime_lock:
            return self._new_store_locked(argv, extra_env)

    def _new_store_locked(
        self, argv: list[str], extra_env: tuple[tuple[str, str], ...] = ()
    ) -> wasmtime.Store:
        store = wasmtime.Store(self.engine.engine_for(self.shape.runtime))
        store.set_limits(memory_size=self.shape.memory_bytes)
        store.set_fuel(STARTUP_FUEL)
        store.set_epoch_deadline(1)
        ffi.wasmtime_store_epoch_deadline_callback(store.ptr(), _on_epoch, None, _no_finalize)
        wasi = wasmtime.WasiConfig()
        wasi.argv = argv
        # The policy refuses PYTHON*/WASMTIME* names, so extra_env (the runtime's
        # own settings) can't be overridden by the user's.
        wasi.env = [*self.shape.env, *extra_env]
        # fd 1 and 2 must exist for the guest's stdio to work, but every write to
        # them is captured by our fd_write (see _hostcalls); nothing reaches these.
        wasi.stdout_file = os.devnull
        wasi.stderr_file = os.devnull
        # wasmtime numbers the preopens from fd 3 in this order; the link guard
        # must know which fd is which (see _links.LinkGuard).
        guard = self._link_guard = LinkGuard()
        wasi.preopen_dir(self.shape.workspace, "/app", True)
        guard.add_preopen(self.shape.workspace, writable=True)
        for host, guest in self.shape.mounts:
            wasi.preopen_dir(host, guest, False)
            guard.add_preopen(host, writable=False)
        if self.shape.guest_lib:
            wasi.preopen_dir(self.shape.guest_lib, GUEST_LIB_PATH, False)
            guard.add_preopen(self.shape.guest_lib, writable=False)
        for host, guest, writable in self._runtime_preopens():
            wasi.preopen_dir(host, guest, writable)
            guard.add_preopen(host, writable=writable)
        store.set_wasi(wasi)
        self._store = store
        return store

    def _runtime_preopens(self) -> list[tuple[str, str, bool]]:
        """Folders the runtime itself needs: ``(host path, guest path, writable)``.

        Read-only unless the runtime keeps its writable folder inside the workspace.
        """
        return []

    def _link(self, module: wasmtime.Module) -> wasmtime.Linker:
        return self.engine.linker(module)

    def _fetch_originals(self, store: wasmtime.Store, module: wasmtime.Module) -> None:
        """Wasmtime's own implementations of the shadowed imports, for this store.

        Reached through a trampoline instance that re-exports the guest's memory
        (see :mod:`._hostcalls`), so wasmtime's WASI finds the memory it needs.
        """
        assert self.memory is not None
        trampoline, base = self.engine.trampoline(module)
        externs: list[wasmtime.Func | wasmtime.Memory] = []
        for imp in trampoline.imports:
            if imp.module == WASI:
                func = base.get(store, WASI, str(imp.name))
                assert isinstance(func, wasmtime.Func)
                externs.append(func)
            else:
                externs.append(self.memory)
        forwarder = wasmtime.Instance(store, trampoline, externs)
        exports = forwarder.exports(store)
        for name in FORWARDED:
            item = exports.get(name)
            if isinstance(item, wasmtime.Func):
                self.originals[name] = item

    def write_output(self, fd: int, data: bytes, address: int, read: Reader) -> bool:
        if fd == 1 and self._turn is None and data.startswith(REGISTER_PREFIX):
            return self._register_stdout_buffer(data[len(REGISTER_PREFIX) :], read)
        if fd == 1 and self._turn is None and data.startswith(REGISTER_FILE_PREFIX):
            return self._register_stdout_file(data, address, read)
        views = self._stdout_buffers
        if views:
            if fd == 1:
                for index, view in enumerate(views):
                    if view.contains(address):
                        # What the buffers registered before this one hold is older.
                        self._drain_stdout(read, index)
                        self._user_stdout(view.flushing(address, data, read))
                        return True
            # Whatever the guest buffered came first: keeps stdout/stderr order.
            self._drain_stdout(read)
        if fd == 1:
            self._on_stdout(data)
        else:
            self._on_stderr(data)
        return True

    def _register_stdout_buffer(self, untrusted_payload: bytes, read: Reader) -> bool:
        if self._stdout_buffers:
            return False  # once, during start-up, before any user code ran
        view = GuestOutputBuffer.calibrate(untrusted_payload, read, self._stdout_position)
        if view is None:
            log.warning("the guest's stdout buffer did not check out; output stays unbuffered")
            return False
        self._stdout_buffers = [view]
        return True

    def _register_stdout_file(self, untrusted_data: bytes, address: int, read: Reader) -> bool:
        """One of the two start-up flushes that register a C guest's stdio ``FILE`` on fd 1.

        A guest may register several (in the order their pending bytes are to be
        delivered). False (EINVAL: the guest sees an error on that ``FILE`` and
        keeps flushing it every line) when the second flush doesn't single the
        ``FILE`` out.
        """
        if len(self._stdout_buffers) >= MAX_STDOUT_BUFFERS or any(
            view.contains(address) for view in self._stdout_buffers
        ):
            return False
        step = untrusted_data[len(REGISTER_FILE_PREFIX) :]
        if step == FILE_PROBE:
            self._stdout_candidates = StdioFileBuffer.probe(address, len(untrusted_data), read)
            return bool(self._stdout_candidates)
        if step == FILE_CONFIRM:
            view = StdioFileBuffer.confirm(
                self._stdout_candidates, address, len(untrusted_data), read
            )
            self._stdout_candidates = []
            if view is None:
                log.warning("a stdout FILE of the guest was not found; it stays unbuffered")
                return False
            self._stdout_buffers.append(view)
            return True
        return False

    def _drain_stdout(self, read: Reader, count: int | None = None) -> None:
        """Deliver what the guest buffered on stdout and the host hasn't seen yet.

        Buffers in registration order (older pending bytes first); only the
        first ``count`` when given.
        """
        for view in self._stdout_buffers[:count]:
            data = view.take(read)
            if data:
                self._user_stdout(data)

    def drain_stdout_from(self, store: wasmtime.Store, count: int | None = None) -> None:
        """Drain the guest's stdout buffers after it stopped (exit, trap, Stop).

        ``count`` limits the drain to the first buffers registered (those a
        crash can't have overwritten, see the JavaScript runtime).
        """
        if not self._stdout_buffers or self.memory is None:
            return
        try:
            self._drain_stdout(memory_reader(store._context(), self.memory), count)
        except wasmtime.WasmtimeError:
            log.debug("guest memory unreadable after the turn", exc_info=True)

    def stream_pending(self, context: Any) -> None:
        """Epoch tick while watched: hand buffered stdout to the listener now."""
        try:
            if self.memory is not None and self._turn is not None:
                self._drain_stdout(memory_reader(context, self.memory), self.steady_buffers)
        except Exception:  # never let the tick fail the guest
            log.exception("streaming buffered output failed")

    def before_wait(self, caller: wasmtime.Caller) -> None:
        if self.watched and self.memory is not None:
            self._drain_stdout(memory_reader(caller._context(), self.memory))

    def _on_stdout(self, data: bytes) -> None:
        self._user_stdout(data)

    def _user_stdout(self, data: bytes) -> None:
        capture = self._stdout
        if capture is not None and data:
            capture.write(data)

    def _on_stderr(self, data: bytes) -> None:
        capture = self._stderr
        if capture is not None:
            capture.write(data)

    def _begin_turn(self, request: TurnRequest) -> None:
        self._turn = request
        self._stdout = OutputCapture("stdout", request.stdout_max_bytes, request.on_output)
        self._stderr = OutputCapture("stderr", request.stderr_max_bytes, request.on_output)
        self._deadline_hit = False
        self._open_files_hit = False
        self._quota_hit = False
        self._figures = []
        self._figures_truncated = False
        self._bytes_base = request.workspace_bytes_used
        self._entries_base = request.workspace_entries_used
        self._bytes_charged = 0
        self._entries_charged = 0
        # The host may have added or moved links since the last turn.
        self._link_guard.forget_links()
        self._deadline = time.monotonic() + request.timeout_seconds
        self.watched = request.on_output is not None and bool(self._stdout_buffers)
        self._turn_started = time.perf_counter()
        self._profiler = None
        self._profile_note = ""
        if request.profile and self.runtime is RuntimeType.PYTHON:
            self._profiler = ProfileRecorder(
                request.code, request.filename, request.fuel, baseline=request.profile_baseline
            )
        self.engine.begin_execution()
        self._begun = True

    def _finish_turn(
        self,
        *,
        exit_code: int | None,
        trap_kind: TrapKind,
        trap_message: str,
        fuel_left: int,
        alive: bool,
        untrusted_status: dict[str, Any] | None = None,
        memory_bytes: int = 0,
    ) -> None:
        request = self._turn
        if request is None:
            return
        duration = (time.perf_counter() - self._turn_started) * 1000
        if self._begun:
            self.engine.end_execution()
            self._begun = False
        stdout = self._stdout or OutputCapture("stdout", 0, None)
        stderr = self._stderr or OutputCapture("stderr", 0, None)
        fuel_consumed = max(0, request.fuel - fuel_left)
        profile = None
        if self._profiler is not None:
            profile = self._profiler.finish(fuel_left, fuel_consumed, self.runtime)
            self._profiler = None
        elif request.profile:
            note = self._profile_note or SCI_PROFILE_NOTE
            profile = unavailable_profile(self.runtime, fuel_consumed, note)
        outcome = TurnOutcome(
            exit_code=exit_code,
            trap_kind=trap_kind,
            trap_message=trap_message,
            stdout=stdout.value(),
            stderr=stderr.value(),
            stdout_total=stdout.total,
            stderr_total=stderr.total,
            fuel_consumed=fuel_consumed,
            memory_bytes=memory_bytes,
            duration_ms=duration,
            quota_hit=self._quota_hit,
            open_files_hit=self._open_files_hit,
            alive=alive,
            untrusted_status=untrusted_status,
            figures=self._figures,
            figures_truncated=self._figures_truncated,
            profile=profile,
        )
        self._turn = None
        self.watched = False
        self._stdout = self._stderr = None
        if alive:
            self._cancel.clear()  # a Stop aimed at this turn must not hit the next one
        self.state = InstanceState.READY if alive else InstanceState.DEAD
        self._outcomes.put(outcome)

    def _classify(self, exc: BaseException, fuel_left: int) -> tuple[TrapKind, str]:
        """Map what ended the guest to a trap kind, from this instance's own observations.

        The exception object is the weakest evidence: wasmtime-py hands a host
        call's Python exception back through one process-global slot, so with
        several instances running, a thread can receive another thread's
        exception. Flags this instance set and the fuel left in its own store
        come first.
        """
        if self._cancel.is_set() and self._turn is not None:
            return TrapKind.CANCELLED, "Stopped on request."
        if self._deadline_hit:
            return TrapKind.DEADLINE, "The wall-clock timeout passed."
        if fuel_left == 0:
            return TrapKind.OUT_OF_FUEL, "All fuel was consumed."
        if isinstance(exc, wasmtime.Trap):
            code = exc.trap_code
            if code == wasmtime.TrapCode.STACK_OVERFLOW:
                return TrapKind.STACK_OVERFLOW, "The WebAssembly stack overflowed."
            name = code.name.lower().replace("_", " ") if code is not None else "unknown"
            log.warning("guest trap: %s", exc)
            return TrapKind.HOST_ERROR, f"The guest runtime crashed (wasm trap: {name})."
        log.error("unexpected error in the guest instance: %r", exc)
        return TrapKind.HOST_ERROR, "The sandbox host failed; see the debug log."

    def _abandon_turn(self) -> None:
        """Finish a turn the guest never finished, so no caller waits forever."""
        if self._turn is not None:
            self._finish_turn(
                exit_code=None,
                trap_kind=TrapKind.HOST_ERROR,
                trap_message="The sandbox host failed; see the debug log.",
                fuel_left=0,
                alive=False,
                memory_bytes=self._memory_size(),
            )

    def _memory_size(self) -> int:
        store = self._store
        if store is None or self.memory is None:
            return 0
        try:
            return int(self.memory.data_len(store))
        except Exception:
            return 0

    def _release_store(self) -> None:
        store = self._store
        self._store = None
        self.memory = None
        self.originals = {}
        if store is not None:
            # Dropping the store frees its WASI output callbacks (a slab entry).
            with self.engine.wasmtime_lock:
                store.close()
            del store
