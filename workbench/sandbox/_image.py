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
copies of an image share is what the template computed while starting; the
string-hash secret is the same in every interpreter anyway (a fixed seed, see
``FIXED_HASH_SEED`` in :mod:`._runtimes.python`), so the same code spends the same
fuel every time, in every process.

python-sci is a reactor whose ``turn`` export returns between its imports and
its driver, so its images are simpler (:class:`ReactorImage`): memory only,
taken after a call returned, with no frame to resume (see
:mod:`._runtimes.scientific`); they live in :data:`reactor_registry`, and on disk
(:func:`save_reactor_image`, :func:`load_reactor_image`) so that a new process
(a one-shot CLI run, an MCP server, a kernel) copies one instead of importing
for seconds.

An :class:`InterpreterImage` needs the module to export its shadow stack
pointer and function table: the CPython runtime exports neither, so
:mod:`._engine` compiles a copy with those two exports added (:mod:`._wasmedit`;
``image = true`` in ``wasm/runtimes.toml``).
Set ``WASM_WORKBENCH_IMAGES=0`` to start every instance the ordinary way.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import dataclasses
import hashlib
import json
import logging
import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import wasmtime

from ._atomic import atomic_write
from ._guest_output import GuestOutputBuffer
from ._instance import InstanceShape
from ._storage import HostTree
from ._wasmedit import STACK_POINTER_EXPORT, TABLE_EXPORT

__all__ = [
    "ImageRegistry",
    "InterpreterImage",
    "ReactorImage",
    "diff_pages",
    "image_key",
    "images_enabled",
    "load_reactor_image",
    "reactor_registry",
    "registry",
    "save_reactor_image",
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
#: Reactor images kept per process (python-sci: each ~70-200 MB, see ReactorImage).
MAX_REACTOR_IMAGES = 3

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


def diff_pages(data: bytes, initial: bytes) -> tuple[tuple[int, bytearray], ...]:
    """``(offset, bytes)`` runs of :data:`PAGE` pages where ``data`` differs from ``initial``.

    Past the end of ``initial`` a page differs unless it is all zeros (memory
    the module grows into is zeroed). The runs are bytearrays: wasmtime-py's
    ``Memory.write`` copies anything else once more first.
    """
    runs: list[tuple[int, bytearray]] = []
    start: int | None = None
    for offset in range(0, len(data), PAGE):
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


class _Pages:
    """Writing an image's memory into a fresh instance (shared by both kinds)."""

    size: int
    memory: bytes | None
    chunks: tuple[tuple[int, bytearray], ...] | None

    def _write_pages(self, store: wasmtime.Store, memory: wasmtime.Memory) -> None:
        """Grow ``memory`` (just instantiated) to the image's size and write its pages.

        The first copy compares the image with its own, still initial, memory
        and keeps only the pages that differ; the whole memory is dropped then.
        """
        current = int(memory.data_len(store))
        if current < self.size:
            memory.grow(store, (self.size - current) // WASM_PAGE)
        chunks = self.chunks
        if chunks is None:
            with _diff_lock:
                chunks = self.chunks
                if chunks is None:
                    assert self.memory is not None
                    initial = bytes(memory.read(store, 0, min(current, self.size)))
                    chunks = self.chunks = diff_pages(self.memory, initial)
                    self.memory = None
        for offset, data in chunks:
            memory.write(store, data, offset)

    @property
    def held_bytes(self) -> int:
        """Host memory the image holds now (bytes)."""
        if self.chunks is not None:
            return sum(len(data) for _, data in self.chunks)
        return len(self.memory or b"")


@dataclass
class InterpreterImage(_Pages):
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
        self._write_pages(store, memory)
        stack.set_value(store, wasmtime.Val.i32(self.stack_pointer))
        entry = table.get(store, self.entry)
        if not isinstance(entry, wasmtime.Func):
            raise ValueError("the image's entry is not a function")
        return entry

    def fresh_stdout_buffer(self) -> GuestOutputBuffer | None:
        """The host's view of the guest's stdout buffer, as it was at capture."""
        return copy.copy(self.stdout_buffer)


@dataclass
class ReactorImage(_Pages):
    """A reactor's memory between two export calls, ready to be copied.

    Between calls no wasm frame is live: the C code has restored its shadow
    stack pointer (the module's only mutable global) to its base, the function
    table is the element section's (nothing in C code changes it), so memory is
    all the state there is. A copy is the module instantiated afresh with that
    memory written over its own; it then takes the next export call as the
    original would have. python-sci takes one after its preloaded imports (see
    :mod:`._runtimes.scientific`).
    """

    #: Linear memory size at capture (bytes).
    size: int
    #: Fuel the template spent to reach this point (reported as start-up fuel).
    startup_fuel: int
    #: The host's next answer to ``tell()`` on stdout (see _guest_output).
    stdout_position: int
    #: What the start-up wrote in the runtime's scratch folder (see
    #: :func:`._storage.read_host_tree`): each copy gets the same files.
    files: HostTree
    #: The whole memory, until the first copy compares it with the initial memory.
    memory: bytes | None
    chunks: tuple[tuple[int, bytearray], ...] | None = None
    #: Whether the image is on disk (loaded from there, or saved once).
    saved: bool = False

    @classmethod
    def capture(
        cls,
        store: wasmtime.Store,
        memory: wasmtime.Memory,
        *,
        startup_fuel: int,
        stdout_position: int,
        files: HostTree,
    ) -> ReactorImage:
        """Copy the memory of an instance whose export call has just returned."""
        size = int(memory.data_len(store))
        return cls(
            size=size,
            startup_fuel=startup_fuel,
            stdout_position=stdout_position,
            files=files,
            memory=bytes(memory.read(store, 0, size)),
        )

    def restore(self, store: wasmtime.Store, memory: wasmtime.Memory) -> None:
        """Make the just-instantiated instance owning ``memory`` this image."""
        self._write_pages(store, memory)


_diff_lock = threading.Lock()


# ---- Reactor images on disk
#
# One file per image: a magic line, the header's length (u64, little-endian), the
# header (JSON: the key it was saved under, the image's numbers and files, the
# offset and length of each run of pages, the SHA-256 of the pages), then the
# pages. An image holds the state of an interpreter that has run nothing but the
# runtime's own start-up; it sits in the cache folder beside the compiled modules,
# which are native code the host runs, so it is trusted no more than they are.
# A file that doesn't check out in every part is ignored (and rebuilt).

IMAGE_MAGIC = b"wasm-workbench reactor image 1\n"
_HEADER_LENGTH = struct.Struct("<Q")
#: Images kept on disk per folder; the least recently used go first.
MAX_SAVED_IMAGES = 4


def save_reactor_image(path: Path, key: str, image: ReactorImage) -> None:
    """Write ``image`` (its pages compared already) to ``path``, under ``key``.

    The write is atomic; the folder keeps the :data:`MAX_SAVED_IMAGES` most
    recently used files ending in ``.image``.

    Raises
    ------
    OSError
        If the file can't be written.
    ValueError
        If the image's pages have not been compared yet (no copy made).
    """
    if image.chunks is None:
        raise ValueError("an image is saved after its first copy compared its pages")
    digest = hashlib.sha256()
    for _, data in image.chunks:
        digest.update(data)
    header = {
        "key": key,
        "size": image.size,
        "startup_fuel": image.startup_fuel,
        "stdout_position": image.stdout_position,
        "files": [
            [list(parts), None if data is None else base64.b64encode(data).decode("ascii")]
            for parts, data in image.files
        ],
        "chunks": [[offset, len(data)] for offset, data in image.chunks],
        "sha256": digest.hexdigest(),
    }
    head = json.dumps(header).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    pages = [data for _, data in image.chunks]
    atomic_write(path, b"".join([IMAGE_MAGIC, _HEADER_LENGTH.pack(len(head)), head, *pages]))
    _prune_images(path.parent)


def load_reactor_image(path: Path, key: str) -> ReactorImage | None:
    """The image saved at ``path`` under ``key``; None if missing, another key's or damaged."""
    try:
        data = memoryview(path.read_bytes())
    except OSError:
        return None
    try:
        image = _parse_image(data, key)
    except (ValueError, TypeError, KeyError, struct.error, UnicodeDecodeError) as exc:
        log.warning("ignoring the python-sci image %s: %s", path, exc)
        return None
    if image is not None:
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: kept by _prune_images
    return image


def _parse_image(data: memoryview, key: str) -> ReactorImage | None:
    if bytes(data[: len(IMAGE_MAGIC)]) != IMAGE_MAGIC:
        raise ValueError("not an image file")
    at = len(IMAGE_MAGIC)
    (length,) = _HEADER_LENGTH.unpack_from(data, at)
    at += _HEADER_LENGTH.size
    if length > len(data) - at:
        raise ValueError("truncated header")
    header = json.loads(bytes(data[at : at + length]).decode("utf-8"))
    at += length
    if not isinstance(header, dict) or header.get("key") != key:
        return None  # another configuration's image (a hash collision at worst)
    size, fuel, position = header["size"], header["startup_fuel"], header["stdout_position"]
    if not all(isinstance(n, int) and n >= 0 for n in (size, fuel, position)):
        raise ValueError("bad numbers")
    if size % WASM_PAGE:
        raise ValueError("memory size is not whole pages")
    chunks: list[tuple[int, bytearray]] = []
    digest = hashlib.sha256()
    for offset, count in header["chunks"]:
        if not (isinstance(offset, int) and isinstance(count, int)):
            raise TypeError("bad chunk")
        if offset < 0 or count <= 0 or offset + count > size or count > len(data) - at:
            raise ValueError("chunk out of bounds")
        chunk = bytearray(data[at : at + count])
        digest.update(chunk)
        chunks.append((offset, chunk))
        at += count
    if at != len(data) or digest.hexdigest() != header["sha256"]:
        raise ValueError("the pages don't match their checksum")
    files: list[tuple[tuple[str, ...], bytes | None]] = []
    for parts, encoded in header["files"]:
        if not parts or not all(isinstance(p, str) and p not in ("", ".", "..") for p in parts):
            raise ValueError("bad file name")
        if any("/" in p or "\\" in p or "\0" in p for p in parts):
            raise ValueError("bad file name")
        blob = None if encoded is None else base64.b64decode(encoded, validate=True)
        files.append((tuple(parts), blob))
    return ReactorImage(
        size=size,
        startup_fuel=fuel,
        stdout_position=position,
        files=tuple(files),
        memory=None,
        chunks=tuple(chunks),
        saved=True,
    )


def _prune_images(folder: Path) -> None:
    """Keep the :data:`MAX_SAVED_IMAGES` most recently used image files of ``folder``."""
    found = []
    for entry in folder.glob("*.image"):
        with contextlib.suppress(OSError):
            found.append((entry.stat().st_mtime, entry))
    found.sort(reverse=True)
    for _, entry in found[MAX_SAVED_IMAGES:]:
        with contextlib.suppress(OSError):
            entry.unlink()


ImageT = TypeVar("ImageT", bound=_Pages)


class ImageRegistry(Generic[ImageT]):
    """Images per shape (without workspace), for this process. Thread-safe."""

    def __init__(self, max_images: int = MAX_IMAGES) -> None:
        #: At most this many images are kept; the oldest goes first.
        self.max_images = max_images
        self._images: dict[tuple[str, InstanceShape], ImageT] = {}
        #: Shapes whose image an instance is taking now.
        self._taking: set[tuple[str, InstanceShape]] = set()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def get(self, module_sha: str, shape: InstanceShape) -> ImageT | None:
        """The image for ``shape`` of the module with SHA-256 ``module_sha``, if any."""
        with self._lock:
            return self._images.get((module_sha, image_key(shape)))

    def get_or_claim(
        self,
        module_sha: str,
        shape: InstanceShape,
        timeout: float,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> tuple[ImageT | None, bool]:
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

    def add(self, module_sha: str, shape: InstanceShape, image: ImageT) -> None:
        """Keep ``image`` unless one is already kept for the shape.

        At most :attr:`max_images` are kept; the oldest goes first (its shape's
        next instance starts the ordinary way and takes a new one).
        """
        with self._changed:
            self._images.setdefault((module_sha, image_key(shape)), image)
            while len(self._images) > self.max_images:
                del self._images[next(iter(self._images))]
            self._changed.notify_all()

    def clear(self) -> None:
        """Forget every image (tests; a changed runtime)."""
        with self._lock:
            self._images.clear()
            self._taking.clear()


#: Images of the small Python runtime (:class:`InterpreterImage`).
registry: ImageRegistry[InterpreterImage] = ImageRegistry()
#: Images of python-sci (:class:`ReactorImage`), keyed by module and preload.
reactor_registry: ImageRegistry[ReactorImage] = ImageRegistry(MAX_REACTOR_IMAGES)
