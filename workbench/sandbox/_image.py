"""Interpreter images: fresh Python executions that skip CPython's start-up.

Why: a fresh CPython costs ~140 M fuel and ~45 ms of CPU to start, most of what a
short fresh execution costs. The pool hides that latency, but on a busy machine
(a batch evaluation on every core) the CPU is spent all the same. wizer-style
pre-initialisation is the known cure; this is its run-time form.

How:

* The first instance of a shape starts the ordinary way. Its driver announces
  "ready" and then parks inside ``clock_time_get`` (``time.monotonic()``, which
  CPython reads with its thread state current and its lock held). There, before
  any user code has run, the host copies the instance's linear memory and its
  shadow stack pointer (the module's only mutable global) into an
  :class:`InterpreterImage`. The driver also reported where its ``serve()``
  function and the empty tuple live; the host checks both against the image.
* Every later instance of the same shape instantiates the module (fresh store,
  fresh WASI context with the same preopens in the same order, so the guest's
  fd numbers agree), writes the image's pages over its memory (only the pages that
  differ from the module's own initial memory: ~1.7 MB), sets the stack pointer,
  and calls ``serve()`` through the function table with ``PyVectorcall_Call``, the
  ``tp_call`` slot of Python functions: the guest resumes as if the parked call
  had called back into Python. The parked frames stay below the stack pointer,
  untouched, and are never returned to (fresh runs end with ``proc_exit``).

What crosses from one execution to the next: nothing. The image is taken before
the template instance runs any request, each copy has its own store and memory,
and the template goes on to serve one user like any other instance. What all
copies of an image share is what the template computed while starting: notably
CPython's string-hash secret, so ``hash("abc")`` is the same in every fresh run of
a shape (hash randomisation guards a program against hostile *input*; the
sandboxed code is the untrusted party here, and it gains nothing from it). The
same code therefore spends the same fuel every time.

The module must export its shadow stack pointer and its function table: the
CPython runtime exports neither, so :mod:`._engine` compiles a copy with those
two exports added (:mod:`._wasmedit`; ``image = true`` in ``wasm/runtimes.toml``).
Set ``WASM_WORKBENCH_IMAGES=0`` to start every instance the ordinary way.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import wasmtime

from ._guest_output import GuestOutputBuffer
from ._instance import InstanceShape
from ._wasmedit import STACK_POINTER_EXPORT, TABLE_EXPORT

__all__ = [
    "ImageRegistry",
    "InterpreterImage",
    "image_key",
    "images_enabled",
    "registry",
]

log = logging.getLogger("workbench.sandbox.image")

#: Granularity of the comparison with the module's initial memory (bytes).
PAGE = 4096
WASM_PAGE = 65536

# CPython 3.12 on wasm32: PyObject is (ob_refcnt, ob_type), 4 bytes each; in
# PyTypeObject, tp_name is at 12 and tp_call at 64 (after PyObject_VAR_HEAD,
# tp_name, tp_basicsize, tp_itemsize, tp_dealloc, tp_vectorcall_offset,
# tp_getattr, tp_setattr, tp_as_async, tp_repr, tp_as_number, tp_as_sequence,
# tp_as_mapping, tp_hash). Checked against the type's name before use.
#: Images kept per process (each ~2 MB: the pages that differ from the module's).
MAX_IMAGES = 16

_OB_TYPE = 4
_TP_NAME = 12
_TP_CALL = 64
_U32 = struct.Struct("<I")


def images_enabled() -> bool:
    """Whether fresh Python instances may start from an image (default: yes)."""
    return os.environ.get("WASM_WORKBENCH_IMAGES", "1").strip().lower() not in ("0", "no", "off")


def image_key(shape: InstanceShape) -> InstanceShape:
    """What an image depends on: the shape without its workspace folder.

    The guest sees its workspace only as ``/app``; nothing read from it at
    start-up is kept (the tests check a file name in the template's workspace
    can't be found in the image).
    """
    return dataclasses.replace(shape, workspace="")


@dataclass
class InterpreterImage:
    """A started interpreter's memory and registers, ready to be copied."""

    #: Linear memory size at capture (bytes).
    size: int
    stack_pointer: int
    #: Table index of ``PyVectorcall_Call`` (the ``tp_call`` of Python functions).
    entry: int
    #: Addresses of the driver's ``serve`` function and of the empty tuple.
    serve: int
    no_args: int
    #: Fuel the template's start-up took (reported as each copy's start-up fuel).
    startup_fuel: int
    stdout_buffer: GuestOutputBuffer | None
    stdout_position: int
    #: The whole memory, until the first copy compares it with the initial memory.
    memory: bytes | None
    #: ``(offset, bytes)`` runs that differ from the module's initial memory
    #: (bytearrays: wasmtime-py's ``Memory.write`` copies anything else once more
    #: first; they are only read).
    chunks: tuple[tuple[int, bytearray], ...] | None = None

    @classmethod
    def capture(
        cls,
        caller: wasmtime.Caller,
        memory: wasmtime.Memory,
        untrusted_ready: dict[str, Any],
        *,
        startup_fuel: int,
        stdout_buffer: GuestOutputBuffer | None,
        stdout_position: int,
    ) -> InterpreterImage | None:
        """Copy the parked interpreter, or None if something doesn't check out.

        Call only inside the driver's ``clock_time_get`` park, before any request.
        ``untrusted_ready`` is the driver's ready message (``serve``, ``no_args``).
        """
        stack = caller.get(STACK_POINTER_EXPORT)
        table = caller.get(TABLE_EXPORT)
        if not isinstance(stack, wasmtime.Global) or not isinstance(table, wasmtime.Table):
            return None
        serve, no_args = untrusted_ready.get("serve"), untrusted_ready.get("no_args")
        if not isinstance(serve, int) or not isinstance(no_args, int):
            return None
        size = int(memory.data_len(caller))
        data = bytes(memory.read(caller, 0, size))
        stack_pointer = stack.value(caller)
        if not isinstance(stack_pointer, int) or not 0 < stack_pointer < size:
            return None

        def u32(address: int) -> int | None:
            if not 0 <= address <= size - 4:
                return None
            return int(_U32.unpack_from(data, address)[0])

        function_type = u32(serve + _OB_TYPE)
        name_at = u32(function_type + _TP_NAME) if function_type else None
        entry = u32(function_type + _TP_CALL) if function_type else None
        if name_at is None or entry is None or data[name_at : name_at + 9] != b"function\0":
            return None
        if not 0 < entry < table.size(caller) or u32(no_args) is None:
            return None
        return cls(
            size=size,
            stack_pointer=stack_pointer,
            entry=entry,
            serve=serve,
            no_args=no_args,
            startup_fuel=startup_fuel,
            stdout_buffer=copy.copy(stdout_buffer),
            stdout_position=stdout_position,
            memory=data,
        )

    def _diff(self, initial: bytes) -> tuple[tuple[int, bytearray], ...]:
        assert self.memory is not None
        data = self.memory
        runs: list[tuple[int, bytearray]] = []
        start: int | None = None
        for offset in range(0, self.size, PAGE):
            page = data[offset : offset + PAGE]
            same = initial[offset : offset + PAGE] == page
            if offset >= len(initial):
                same = not any(page)
            if not same and start is None:
                start = offset
            elif same and start is not None:
                runs.append((start, bytearray(data[start:offset])))
                start = None
        if start is not None:
            runs.append((start, bytearray(data[start:])))
        return tuple(runs)

    def restore(self, store: wasmtime.Store, instance: wasmtime.Instance) -> wasmtime.Func:
        """Make a just-instantiated ``instance`` this image; return the entry function.

        Raises
        ------
        ValueError
            If the instance lacks the exports, or its memory can't hold the image.
        """
        exports = instance.exports(store)
        memory = exports.get("memory")
        stack = exports.get(STACK_POINTER_EXPORT)
        table = exports.get(TABLE_EXPORT)
        if not (
            isinstance(memory, wasmtime.Memory)
            and isinstance(stack, wasmtime.Global)
            and isinstance(table, wasmtime.Table)
        ):
            raise ValueError("the module does not export what an image needs")
        current = int(memory.data_len(store))
        if current < self.size:
            memory.grow(store, (self.size - current) // WASM_PAGE)
        chunks = self.chunks
        if chunks is None:
            with _diff_lock:
                chunks = self.chunks
                if chunks is None:
                    initial = bytes(memory.read(store, 0, min(current, self.size)))
                    chunks = self.chunks = self._diff(initial)
                    self.memory = None
        for offset, data in chunks:
            memory.write(store, data, offset)
        stack.set_value(store, wasmtime.Val.i32(self.stack_pointer))
        entry = table.get(store, self.entry)
        if not isinstance(entry, wasmtime.Func):
            raise ValueError("the image's entry is not a function")
        return entry

    def fresh_stdout_buffer(self) -> GuestOutputBuffer | None:
        """The host's view of the guest's stdout buffer, as it was at capture."""
        return copy.copy(self.stdout_buffer)


_diff_lock = threading.Lock()


class ImageRegistry:
    """Images per shape (without workspace), for this process. Thread-safe."""

    def __init__(self) -> None:
        self._images: dict[tuple[str, InstanceShape], InterpreterImage] = {}
        #: Shapes whose image an instance is taking now.
        self._taking: set[tuple[str, InstanceShape]] = set()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def get(self, module_sha: str, shape: InstanceShape) -> InterpreterImage | None:
        """The image for ``shape`` of the module with SHA-256 ``module_sha``, if any."""
        with self._lock:
            return self._images.get((module_sha, image_key(shape)))

    def get_or_claim(
        self,
        module_sha: str,
        shape: InstanceShape,
        timeout: float,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> tuple[InterpreterImage | None, bool]:
        """``(image, claimed)``: the shape's image, waiting for one being taken.

        A pool fills several instances of a new shape at once: one starts the
        interpreter and takes the image, the others wait for it instead of each
        spending a start-up (~140 M fuel) only to become copies. Without an
        image the caller starts the ordinary way; if ``claimed``, it is the one
        taking the image and must call :meth:`release` once its interpreter
        parked or died. After ``timeout``, or once ``cancelled()`` (checked every
        50 ms), the caller gets no image and no claim.
        """
        key = (module_sha, image_key(shape))
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                image = self._images.get(key)
                if image is not None:
                    return image, False
                if key not in self._taking:
                    self._taking.add(key)
                    return None, True
                left = deadline - time.monotonic()
                if left <= 0 or cancelled():
                    return None, False
                self._changed.wait(min(left, 0.05))

    def release(self, module_sha: str, shape: InstanceShape) -> None:
        """The caller of :meth:`get_or_claim` that got None is done trying."""
        with self._changed:
            self._taking.discard((module_sha, image_key(shape)))
            self._changed.notify_all()

    def add(self, module_sha: str, shape: InstanceShape, image: InterpreterImage) -> None:
        """Keep ``image`` unless one is already kept for the shape.

        At most :data:`MAX_IMAGES` are kept; the oldest goes first (its shape's
        next instance starts the ordinary way and takes a new one).
        """
        with self._changed:
            self._images.setdefault((module_sha, image_key(shape)), image)
            while len(self._images) > MAX_IMAGES:
                del self._images[next(iter(self._images))]
            self._changed.notify_all()

    def clear(self) -> None:
        """Forget every image (tests; a changed runtime)."""
        with self._lock:
            self._images.clear()
            self._taking.clear()


registry = ImageRegistry()
