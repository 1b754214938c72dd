"""Host implementations of the WASI calls the sandbox takes over from wasmtime.

wasmtime's own WASI is used for nearly everything (files, clocks, random). A few
imports are shadowed (``Linker.allow_shadowing``) because the stock ones can't
enforce our limits:

``poll_oneoff``
    What ``time.sleep``, ``select`` and QuickJS timers call. wasmtime's version
    sleeps without looking at epoch deadlines, so a sleeping guest would outlive
    its timeout and ignore Stop. Ours sleeps in slices of at most
    :data:`SLEEP_SLICE` and checks the turn's cancel flag and deadline each time.
``sched_yield``
    The control channel of the Python driver (see ``wasm/guest/python/driver.py``):
    a turn boundary where the host hands over the next request.
``fd_read``
    Standard input (fd 0) is served from a host queue: the Python driver reads its
    requests there. Guest code reading stdin sees end-of-file. Other fds forward.

No host call raises a Python exception on purpose: wasmtime-py passes such an
exception back to the caller of the wasm function through one process-global
slot, so with several instances running another thread could receive it (and
lose its own exit code or trap). To stop a guest, a host call returns and lets
the store's epoch-deadline callback trap it (a wasmtime error, no Python
exception involved); a parked Python driver is asked to exit instead.
``clock_time_get``
    Only for a module ready for interpreter images (see :mod:`._image`): where
    the Python driver parks before its first request. CPython reads clocks with
    its lock held (``sched_yield`` and most other calls release it), so an image
    taken inside this call resumes by calling Python directly. Otherwise it
    forwards; other modules keep wasmtime's own, which costs no host call.
``fd_advise``
    The fuel profiler's channel: on standard input with an advice code no real
    call uses (:data:`._profile.PROFILE_OPS` and up) the guest profiler names an
    event and the host reads the fuel (see :mod:`._profile`). Others forward.
``path_open`` / ``fd_close``
    Count the guest's open files and refuse more than the policy allows (EMFILE),
    so a guest can't exhaust the host's file handles.
``fd_write``
    Standard output and error (fd 1 and 2) are captured here, into the turn's
    capped buffers, and never reach wasmtime. (wasmtime's ``stdout_custom``
    calls back into Python from its own tokio worker threads; a worker that
    needs the GIL while the interpreter is finalizing is killed by a forced
    unwind, which aborts the process.) A guest that buffers its stdout in its
    own memory registers the buffer here too (:mod:`._guest_output`). Writes to
    files are charged against the workspace quota.
``fd_seek``
    fd 1 answers ``tell`` (see :data:`._guest_output.STDOUT_POSITION`), which a
    buffered stdout writer needs to count what it flushed. On standard input with
    a ``whence`` no real call uses (:data:`._profile.PROFILE_OPS` and up) it is the
    profiler's channel for events that need an answer: the "new offset" is the
    host's answer (see :mod:`._profile`), so the guest gets it without an
    exception. Everything else forwards.
``fd_pwrite`` / ``fd_filestat_set_size`` / ``path_create_directory`` /
``path_symlink`` / ``path_link``
    Charge writes and new entries against the workspace quota (ENOSPC when full),
    so a guest can't fill the disk.
``path_remove_directory``
    A path with trailing slashes (``os.rmdir("out/")``, as tests that clean up
    after themselves write it) removes the folder, as POSIX ``rmdir`` does:
    wasmtime's own answers ``EINVAL``. The slashes are dropped (a shorter length,
    same memory) before it forwards.
``path_symlink`` / ``path_link`` / ``path_rename`` / ``fd_close`` / ``fd_renumber``
    Keep every symbolic link in the workspace leading inside it (see
    :mod:`._links`): a call that would leave a link leading out, or that names
    its folder through an fd other than a preopen, fails with ``EPERM`` (Python
    raises ``PermissionError``) before it reaches wasmtime. Closing or
    renumbering a preopen fd takes it off the guard's list.

Each shadow forwards to wasmtime's own implementation once its check passes.
A host function can't call wasmtime's WASI functions directly: they find the
guest's memory through the *calling instance*, and a host-to-host call has none
("missing required memory export"). So every store also gets a tiny trampoline
module (:func:`trampoline_wat`) that imports the guest's memory, re-exports it as
``memory``, and forwards each call to the real WASI import. Host calls run on the
instance's own thread; they find its :class:`HostState` through a thread-local.
"""

from __future__ import annotations

import ctypes
import logging
import struct
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime._func import Caller

from ._guest_output import Reader, memory_reader
from ._links import LinkGuard
from ._profile import PROFILE_FD, PROFILE_OPS, SEEK_SHIFT
from ._wasmedit import STACK_POINTER_EXPORT

__all__ = [
    "SHADOWED",
    "HostState",
    "current_state",
    "define_host_calls",
    "set_current_state",
]

WASI = "wasi_snapshot_preview1"

log = logging.getLogger("workbench.sandbox.hostcalls")

#: Longest single sleep inside ``poll_oneoff`` before re-checking Stop and the deadline.
SLEEP_SLICE = 0.005

# WASI errno values.
ESUCCESS = 0
EBADF = 8
EFAULT = 21
EILSEQ = 25
EINVAL = 28
EIO = 29
EMFILE = 33
ENOSPC = 51
#: What a guest gets for a link call that would leave a link leading out of its
#: workspace: "Operation not permitted", a ``PermissionError`` in Python.
EPERM = 63

# WASI oflags / rights bits used here.
OFLAGS_CREAT = 1
LOOKUP_SYMLINK_FOLLOW = 1

SHADOWED = (
    "poll_oneoff",
    "sched_yield",
    "fd_read",
    "path_open",
    "fd_close",
    "fd_write",
    "fd_seek",
    "fd_pwrite",
    "fd_filestat_set_size",
    "path_create_directory",
    "path_symlink",
    "path_link",
    "path_rename",
    "path_remove_directory",
    "fd_renumber",
    "fd_advise",
    "clock_time_get",
)


class TurnInterrupted(Exception):
    """Raised inside a host call to stop the guest (cancel or deadline)."""


class HostState(Protocol):
    """What a running store exposes to the host calls (implemented by the instance)."""

    originals: dict[str, wasmtime.Func]
    memory: wasmtime.Memory | None

    @property
    def link_guard(self) -> LinkGuard:
        """The guard that keeps the workspace's links leading inside it."""

    def interrupted(self) -> bool:
        """Whether the turn was cancelled or is past its deadline.

        The store's epoch callback then traps the guest at its next check.
        """

    def on_yield(self, caller: wasmtime.Caller) -> None:
        """Handle the driver's ``sched_yield`` (turn boundary / control message)."""

    def on_profile(
        self, caller: wasmtime.Caller, op: int, a: int, b: int, at: int = 0
    ) -> int | None:
        """Handle a guest profiler call; None when no profile is being recorded.

        ``at`` is where an ``fd_seek`` event's result goes (0 for ``fd_advise``).
        """

    def on_clock(self, caller: wasmtime.Caller) -> None:
        """The guest reads a clock (the Python driver may park here, see _image)."""

    def write_output(self, fd: int, data: bytes, address: int, read: Reader) -> bool:
        """Take what the guest wrote to fd 1 (stdout) or 2 (stderr).

        ``address`` is where the first part of ``data`` lies in guest memory and
        ``read`` reads that memory (valid during this call only). False refuses
        the write (EINVAL).
        """

    def tell_stdout(self) -> int:
        """What ``tell`` on fd 1 answers (a new value each time)."""

    def before_wait(self, caller: wasmtime.Caller) -> None:
        """The guest is about to sleep: hand over what it buffered if someone watches."""

    def read_stdin(self, limit: int) -> bytes:
        """Up to ``limit`` bytes of pending standard input (empty: end of file)."""

    def may_open_file(self) -> bool:
        """Whether one more open file is allowed."""

    def opened(self, fd: int) -> None:
        """Record a file the guest opened."""

    def closed(self, fd: int) -> None:
        """Record a file the guest closed."""

    def charge_bytes(self, count: int) -> bool:
        """Charge ``count`` bytes against the workspace quota; False if it is full."""

    def charge_entry(self) -> bool:
        """Charge one new file or folder against the quota; False if it is full."""


_local = threading.local()


def set_current_state(state: HostState | None) -> HostState | None:
    """Bind the state for host calls made on this thread; return the one it replaces."""
    previous: HostState | None = getattr(_local, "state", None)
    _local.state = state
    return previous


def current_state() -> HostState:
    """The state bound to this thread; host calls fail loudly without one."""
    state: HostState | None = getattr(_local, "state", None)
    if state is None:
        raise RuntimeError("host call on a thread with no sandbox instance")
    return state


def _read(caller: wasmtime.Caller, state: HostState, ptr: int, length: int) -> bytes | None:
    memory = state.memory
    if memory is None or ptr < 0 or length < 0:
        return None
    if ptr + length > memory.data_len(caller):
        return None
    return bytes(memory.read(caller, ptr, ptr + length))


def _write(caller: wasmtime.Caller, state: HostState, ptr: int, data: bytes) -> bool:
    memory = state.memory
    if memory is None or ptr < 0 or ptr + len(data) > memory.data_len(caller):
        return False
    memory.write(caller, data, ptr)
    return True


def _poke_u64(caller: wasmtime.Caller, memory: wasmtime.Memory, address: int, value: int) -> None:
    """Store a u64 at ``address``, which the caller has bounds-checked."""
    base = ctypes.addressof(memory.data_ptr(caller).contents)
    ctypes.c_uint64.from_address(base + address).value = value


def _poke_u32(caller: wasmtime.Caller, memory: wasmtime.Memory, address: int, value: int) -> None:
    """Store a u32 at ``address``, which the caller has bounds-checked."""
    base = ctypes.addressof(memory.data_ptr(caller).contents)
    ctypes.c_uint32.from_address(base + address).value = value


def _iovec_total(caller: wasmtime.Caller, state: HostState, iovs: int, count: int) -> int | None:
    raw = _read(caller, state, iovs, 8 * count)
    if raw is None:
        return None
    return sum(int(struct.unpack_from("<I", raw, 8 * i + 4)[0]) for i in range(count))


# ---- poll_oneoff

_SUB_SIZE = 48
_EVENT = struct.Struct("<QHB5xQH6x")  # userdata, error, type, nbytes, flags: 32 bytes
_CLOCK_REALTIME = 0


def _guest_clock(
    caller: wasmtime.Caller, state: HostState, clock_id: int, scratch: int
) -> float | None:
    """The guest's reading of ``clock_id`` in seconds, or None if it can't be read.

    The guest's monotonic clock has its own origin (wasmtime starts it near zero),
    so an absolute deadline on it can't be compared with the host's
    ``time.monotonic()``. ``scratch`` is guest memory we may overwrite (the
    events buffer, at least 32 bytes).
    """
    clock_time_get = state.originals.get("clock_time_get")
    if clock_time_get is None or clock_time_get(caller, clock_id, 1, scratch) != ESUCCESS:
        return None
    raw = _read(caller, state, scratch, 8)
    return None if raw is None else int(struct.unpack("<Q", raw)[0]) / 1e9


def _poll_oneoff(
    caller: wasmtime.Caller, in_ptr: int, out_ptr: int, nsubs: int, nevents_ptr: int
) -> int:
    state = current_state()
    if nsubs <= 0:
        return EINVAL
    raw = _read(caller, state, in_ptr, _SUB_SIZE * nsubs)
    if raw is None:
        return EFAULT
    ready: list[bytes] = []
    clocks: list[tuple[int, float]] = []
    for i in range(nsubs):
        base = _SUB_SIZE * i
        userdata, tag = struct.unpack_from("<QB", raw, base)
        if tag == 0:
            # subscription_clock: id u32 @16, (pad), timeout u64 @24, precision @32, flags @40
            clock_id, timeout, _precision, flags = struct.unpack_from("<I4xQQH", raw, base + 16)
            seconds = timeout / 1e9
            if flags & 1:  # absolute time, on the guest's clock (time.sleep uses this)
                now = _guest_clock(caller, state, clock_id, out_ptr)
                if now is None:
                    now = time.time() if clock_id == _CLOCK_REALTIME else time.monotonic()
                seconds = max(0.0, seconds - now)
            clocks.append((userdata, seconds))
        elif tag in (1, 2):
            # Files, stdin and stdout are always ready, as in wasmtime's own poll.
            ready.append(_EVENT.pack(userdata, ESUCCESS, tag, 0, 0))
        else:
            return EINVAL
    if not ready and clocks:
        state.before_wait(caller)  # no epoch tick streams output while we sleep
        wait = min(seconds for _, seconds in clocks)
        until = time.monotonic() + wait
        # Sleep in slices; on Stop or the deadline, return early and make the
        # guest's next epoch check call the epoch callback, which traps it. Waiting
        # for the next tick instead let a guest whose sleep was its last statement
        # finish "successfully", its sleep cut short.
        while not state.interrupted():
            left = until - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, SLEEP_SLICE))
        else:
            ffi.wasmtime_context_set_epoch_deadline(caller._context(), 0)
        ready = [
            _EVENT.pack(userdata, ESUCCESS, 0, 0, 0)
            for userdata, seconds in clocks
            if seconds <= wait
        ]
    if not _write(caller, state, out_ptr, b"".join(ready)):
        return EFAULT
    if not _write(caller, state, nevents_ptr, struct.pack("<I", len(ready))):
        return EFAULT
    return ESUCCESS


# ---- sched_yield (Python driver control channel)


def _sched_yield(caller: wasmtime.Caller) -> int:
    current_state().on_yield(caller)
    return ESUCCESS


# ---- fd_advise (the fuel profiler's channel)


def _fd_advise(caller: wasmtime.Caller, fd: int, offset: int, length: int, advice: int) -> int:
    state = current_state()
    if fd == PROFILE_FD and advice >= PROFILE_OPS:
        errno = state.on_profile(caller, advice, offset, length)
        if errno is not None:
            return errno
        return EBADF
    forwarded: int = state.originals["fd_advise"](caller, fd, offset, length, advice)
    return forwarded


# ---- clock_time_get (where the Python driver parks before its first request)


def _clock_time_get(caller: wasmtime.Caller, clock_id: int, precision: int, result: int) -> int:
    state = current_state()
    state.on_clock(caller)
    errno: int = state.originals["clock_time_get"](caller, clock_id, precision, result)
    return errno


# ---- standard input


def _fd_read(caller: wasmtime.Caller, fd: int, iovs: int, iovs_len: int, nread: int) -> int:
    state = current_state()
    if fd != 0:
        errno: int = state.originals["fd_read"](caller, fd, iovs, iovs_len, nread)
        return errno
    raw = _read(caller, state, iovs, 8 * iovs_len)
    if raw is None:
        return EFAULT
    total = 0
    for i in range(iovs_len):
        ptr, length = struct.unpack_from("<II", raw, 8 * i)
        if length == 0:
            continue
        data = state.read_stdin(length)
        if not data:
            break
        if not _write(caller, state, ptr, data):
            return EFAULT
        total += len(data)
        if len(data) < length:
            break
    if not _write(caller, state, nread, struct.pack("<I", total)):
        return EFAULT
    return ESUCCESS


# ---- open files


def _path_open(
    caller: wasmtime.Caller,
    dirfd: int,
    dirflags: int,
    path: int,
    path_len: int,
    oflags: int,
    rights_base: int,
    rights_inh: int,
    fdflags: int,
    fd_out: int,
) -> int:
    state = current_state()
    if not state.may_open_file():
        return EMFILE
    if oflags & OFLAGS_CREAT and not state.charge_entry():
        return ENOSPC
    errno: int = state.originals["path_open"](
        caller, dirfd, dirflags, path, path_len, oflags, rights_base, rights_inh, fdflags, fd_out
    )
    if errno == ESUCCESS:
        raw = _read(caller, state, fd_out, 4)
        if raw is not None:
            state.opened(struct.unpack("<I", raw)[0])
    return errno


def _fd_close(caller: wasmtime.Caller, fd: int) -> int:
    state = current_state()
    errno: int = state.originals["fd_close"](caller, fd)
    if errno == ESUCCESS:
        state.closed(fd)
        state.link_guard.fd_gone(fd)
    return errno


def _fd_renumber(caller: wasmtime.Caller, fd: int, to: int) -> int:
    state = current_state()
    errno: int = state.originals["fd_renumber"](caller, fd, to)
    if errno == ESUCCESS:
        # ``to`` now holds what ``fd`` held: neither number names a known preopen.
        state.link_guard.fd_gone(fd)
        state.link_guard.fd_gone(to)
    return errno


# ---- symbolic links (see _links)


def _path_text(caller: wasmtime.Caller, state: HostState, ptr: int, length: int) -> str | None:
    """A path the guest passed, or None if it can't be read or isn't UTF-8."""
    raw = _read(caller, state, ptr, length)
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _path_symlink(
    caller: wasmtime.Caller, old: int, old_len: int, fd: int, new: int, new_len: int
) -> int:
    state = current_state()
    untrusted_target = _path_text(caller, state, old, old_len)
    untrusted_path = _path_text(caller, state, new, new_len)
    if untrusted_target is None or untrusted_path is None:
        return EILSEQ
    if not state.link_guard.may_symlink(fd, untrusted_target, untrusted_path):
        return EPERM
    if not state.charge_entry():
        return ENOSPC
    errno: int = state.originals["path_symlink"](caller, old, old_len, fd, new, new_len)
    if errno != ESUCCESS:
        state.link_guard.forget_links()  # it counted the link as made
    return errno


def _path_link(
    caller: wasmtime.Caller,
    old_fd: int,
    old_flags: int,
    old: int,
    old_len: int,
    new_fd: int,
    new: int,
    new_len: int,
) -> int:
    state = current_state()
    untrusted_old = _path_text(caller, state, old, old_len)
    untrusted_new = _path_text(caller, state, new, new_len)
    if untrusted_old is None or untrusted_new is None:
        return EILSEQ
    follow = bool(old_flags & LOOKUP_SYMLINK_FOLLOW)
    if not state.link_guard.may_link(old_fd, follow, untrusted_old, new_fd, untrusted_new):
        return EPERM
    if not state.charge_entry():
        return ENOSPC
    errno: int = state.originals["path_link"](
        caller, old_fd, old_flags, old, old_len, new_fd, new, new_len
    )
    if errno != ESUCCESS:
        state.link_guard.forget_links()
    return errno


def _path_rename(
    caller: wasmtime.Caller, fd: int, old: int, old_len: int, new_fd: int, new: int, new_len: int
) -> int:
    state = current_state()
    untrusted_old = _path_text(caller, state, old, old_len)
    untrusted_new = _path_text(caller, state, new, new_len)
    if untrusted_old is None or untrusted_new is None:
        return EILSEQ
    if not state.link_guard.may_rename(fd, untrusted_old, new_fd, untrusted_new):
        return EPERM
    errno: int = state.originals["path_rename"](caller, fd, old, old_len, new_fd, new, new_len)
    if errno != ESUCCESS:
        state.link_guard.forget_links()  # it moved its list of links already
    return errno


def _path_remove_directory(caller: wasmtime.Caller, fd: int, path: int, path_len: int) -> int:
    state = current_state()
    # A longer path is no folder's name (wasmtime refuses it): not worth copying.
    untrusted_path = _read(caller, state, path, path_len) if path_len <= 4096 else None
    if untrusted_path is not None:
        trimmed = untrusted_path.rstrip(b"/")
        if trimmed:  # "/" alone (or "//") stays as it was
            path_len = len(trimmed)
    errno: int = state.originals["path_remove_directory"](caller, fd, path, path_len)
    return errno


# ---- workspace quota


def _fd_write(caller: wasmtime.Caller, fd: int, iovs: int, iovs_len: int, nwritten: int) -> int:
    state = current_state()
    if fd in (1, 2):
        # On every print of an unbuffered guest: read memory through one pointer
        # instead of Memory.read, which builds a ctypes type per call.
        memory = state.memory
        if memory is None or iovs_len < 0:
            return EFAULT
        read = memory_reader(caller._context(), memory)
        raw = read(iovs, 8 * iovs_len)
        if raw is None:
            return EFAULT
        parts = []
        first = -1
        for i in range(iovs_len):
            ptr, length = struct.unpack_from("<II", raw, 8 * i)
            data = read(ptr, length)
            if data is None:
                return EFAULT
            if first < 0 and length:
                first = ptr
            parts.append(data)
        payload = parts[0] if len(parts) == 1 else b"".join(parts)
        if read(nwritten, 4) is None:
            return EFAULT
        if not state.write_output(fd, payload, first, read):
            return EINVAL
        # Memory.write costs more than the rest of this call; the bounds were
        # checked just above and nothing ran in the guest since.
        _poke_u32(caller, memory, nwritten, len(payload))
        return ESUCCESS
    total = _iovec_total(caller, state, iovs, iovs_len)
    if total is None:
        return EFAULT
    if not state.charge_bytes(total):
        return ENOSPC
    errno: int = state.originals["fd_write"](caller, fd, iovs, iovs_len, nwritten)
    return errno


_SEEK_CUR = 1


def _fd_seek(caller: wasmtime.Caller, fd: int, offset: int, whence: int, position: int) -> int:
    if fd == PROFILE_FD and whence >= PROFILE_OPS:
        state = current_state()
        mask = (1 << SEEK_SHIFT) - 1
        answer = state.on_profile(caller, whence, offset >> SEEK_SHIFT, offset & mask, position)
        if answer is None:
            return EBADF
        memory = state.memory
        if memory is None or position < 0 or position + 8 > memory.data_len(caller):
            return EFAULT
        _poke_u64(caller, memory, position, answer)  # once per event: no Memory.write
        return ESUCCESS
    if fd == 1 and offset == 0 and whence == _SEEK_CUR:
        state = current_state()
        if not _write(caller, state, position, struct.pack("<Q", state.tell_stdout())):
            return EFAULT
        return ESUCCESS
    errno: int = current_state().originals["fd_seek"](caller, fd, offset, whence, position)
    return errno


def _fd_pwrite(
    caller: wasmtime.Caller, fd: int, iovs: int, iovs_len: int, offset: int, nwritten: int
) -> int:
    state = current_state()
    total = _iovec_total(caller, state, iovs, iovs_len)
    if total is None:
        return EFAULT
    if not state.charge_bytes(total):
        return ENOSPC
    errno: int = state.originals["fd_pwrite"](caller, fd, iovs, iovs_len, offset, nwritten)
    return errno


def _fd_filestat_set_size(caller: wasmtime.Caller, fd: int, size: int) -> int:
    state = current_state()
    # Growing a file (even sparsely) is charged in full; shrinking is free.
    if size > 0 and not state.charge_bytes(size):
        return ENOSPC
    errno: int = state.originals["fd_filestat_set_size"](caller, fd, size)
    return errno


def _entry_call(name: str) -> Callable[..., int]:
    def call(caller: wasmtime.Caller, *args: int) -> int:
        state = current_state()
        if not state.charge_entry():
            return ENOSPC
        errno: int = state.originals[name](caller, *args)
        return errno

    call.__name__ = f"_{name}"
    return call


#: Shadowed imports that forward to wasmtime's implementation through the trampoline
#: (``poll_oneoff`` also calls ``clock_time_get`` there to read the guest's clock).
FORWARDED = tuple(name for name in SHADOWED if name not in ("poll_oneoff", "sched_yield"))


def trampoline_wat(module: wasmtime.Module) -> str:
    """WAT for a module forwarding the :data:`FORWARDED` imports ``module`` uses."""
    imports = []
    exports = []
    for imp in module.imports:
        if imp.module != WASI or imp.name not in FORWARDED:
            continue
        functype = imp.type
        assert isinstance(functype, wasmtime.FuncType)
        params = " ".join(str(p) for p in functype.params)
        results = " ".join(str(r) for r in functype.results)
        sig = (f"(param {params})" if params else "") + (f" (result {results})" if results else "")
        imports.append(f'(import "{WASI}" "{imp.name}" (func ${imp.name} {sig}))')
        args = " ".join(f"local.get {i}" for i in range(len(functype.params)))
        exports.append(f'(func (export "{imp.name}") {sig} {args} call ${imp.name})')
    return "\n".join(
        [
            "(module",
            *imports,
            '(import "env" "memory" (memory 0))',
            '(export "memory" (memory 0))',
            *exports,
            ")",
        ]
    )


@ffi.wasmtime_func_unchecked_callback_t  # type: ignore[untyped-decorator]
def _fd_write_unchecked(_env: Any, caller_pointer: Any, values: Any, _count: int) -> int:
    # fd_write runs for every console.log and every write of an unbuffered guest.
    # wasmtime-py's generic trampoline turns each argument and the result into
    # Val objects, which took about half of this call's time; this callback
    # reads the raw values itself (i32, signed, as the trampoline gave them).
    caller = Caller(caller_pointer)
    try:
        values[0].i32 = _fd_write(
            caller, values[0].i32, values[1].i32, values[2].i32, values[3].i32
        )
    except BaseException:  # a Python exception must not cross into wasm
        log.exception("fd_write failed")
        values[0].i32 = EIO
    finally:
        caller._invalidate()
    return 0


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)  # type: ignore[untyped-decorator]
def _no_finalize(_data: Any) -> None:
    return None


def _define_unchecked(linker: wasmtime.Linker, name: str, functype: wasmtime.FuncType) -> None:
    module = WASI.encode()
    field = name.encode()
    error = ffi.wasmtime_linker_define_func_unchecked(
        linker.ptr(),
        ctypes.create_string_buffer(module),
        len(module),
        ctypes.create_string_buffer(field),
        len(field),
        functype.ptr(),
        _fd_write_unchecked,
        None,
        _no_finalize,
    )
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)


def define_host_calls(linker: wasmtime.Linker, module: wasmtime.Module) -> None:
    """Shadow the WASI imports in :data:`SHADOWED` that ``module`` imports."""
    i32 = wasmtime.ValType.i32()
    i64 = wasmtime.ValType.i64()
    impls: dict[str, Callable[..., Any]] = {
        "poll_oneoff": _poll_oneoff,
        "sched_yield": _sched_yield,
        "fd_read": _fd_read,
        "path_open": _path_open,
        "fd_close": _fd_close,
        "fd_renumber": _fd_renumber,
        "fd_write": _fd_write,
        "fd_seek": _fd_seek,
        "fd_pwrite": _fd_pwrite,
        "fd_filestat_set_size": _fd_filestat_set_size,
        "path_create_directory": _entry_call("path_create_directory"),
        "path_symlink": _path_symlink,
        "path_link": _path_link,
        "path_rename": _path_rename,
        "path_remove_directory": _path_remove_directory,
        "fd_advise": _fd_advise,
        "clock_time_get": _clock_time_get,
    }
    del i32, i64
    linker.allow_shadowing = True
    # The park for interpreter images costs a host call per clock read: only
    # for modules made ready for images (they export their stack pointer).
    if not any(item.name == STACK_POINTER_EXPORT for item in module.exports):
        del impls["clock_time_get"]
    for imp in module.imports:
        if imp.module != WASI or imp.name not in impls:
            continue
        functype = imp.type
        assert isinstance(functype, wasmtime.FuncType)
        if imp.name == "fd_write":
            _define_unchecked(linker, imp.name, functype)
        else:
            linker.define_func(WASI, imp.name, functype, impls[imp.name], access_caller=True)
