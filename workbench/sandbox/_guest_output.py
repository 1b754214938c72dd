"""Standard output buffered in the guest's own memory, read by the host.

Why: an unbuffered guest (``python -u``) crosses into a Python host function for
every write, two per ``print``. That cost ~35,000 fuel and ~60 µs per printed
line, and a default budget was gone after ~56,000 lines. A guest that buffers
its output writes it out in large blocks instead, but a plain buffer loses what
it holds when the guest is stopped (out of fuel, deadline, Stop, a crash).

How: the guest writes stdout through a buffered writer of its runtime (for
CPython a ``BufferedWriter``, written through by the ``TextIOWrapper`` over it,
so every completed ``write`` is in that buffer) and tells the host once where
the writer lives. From then on the host can read what the guest has written and
not yet flushed, straight from linear memory, whenever it needs to:

* before any stderr write and any other write to fd 1 (keeps the order exact);
* at the end of every turn, after the guest exited, trapped or was stopped (a
  trapped store's memory is still readable: nothing printed before a stop is lost);
* on every epoch tick while someone watches the output (``on_output``), so
  streaming stays live with the guest's code, and its fuel, the same on every
  surface.

The host only reads guest memory; it never writes to the writer. It keeps its own
cursor of what it already delivered. The writer reports a flush through an
ordinary ``fd_write`` from inside its buffer, and only after that call returns
does the guest advance its own positions and reuse the buffer; until then
(``unacked``) the host must not take the still-visible bytes again. The writer's
running count of flushed bytes (``abs_pos``, which needs fd 1 to answer ``tell``:
see :data:`STDOUT_POSITION`) tells the two states apart. wasmtime only stops a
guest at a function entry or a loop header, and no such point lies between the
writer's update of that count and of its write position, so the host never sees
one without the other.

Registration (:meth:`GuestOutputBuffer.calibrate`), a write to fd 1 before any
turn that starts with :data:`REGISTER_PREFIX`, finds the writer's fields by
value rather than by a hard-coded C layout: the guest writes :data:`MARKER` into
a fresh writer whose stream position is :data:`STDOUT_POSITION`, then names the
writer's address. Any runtime with a writer of this shape (a buffer pointer,
64-bit write start and end, a 64-bit flushed count) can use it; a guest that
never registers keeps the unbuffered path.

A C program's ``stdout`` (wasi-libc, the musl ``FILE``: the JavaScript runtime)
is read the same way by :class:`StdioFileBuffer`, with one difference that makes
it simpler: the ``FILE`` empties its buffer in straight-line code right after
the flushing ``fd_write`` returns, so there is no "flushed, not yet reset" state
the host could observe and no flushed-bytes count is needed. Its registration
(:data:`REGISTER_FILE_PREFIX`) is two flushes of stdout during start-up.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable
from typing import Any, Protocol

import wasmtime
from wasmtime import _ffi as ffi

__all__ = [
    "FILE_CONFIRM",
    "FILE_PROBE",
    "MARKER",
    "POSITION_STEP",
    "REGISTER_FILE_PREFIX",
    "REGISTER_PREFIX",
    "STDOUT_POSITION",
    "BufferedStdout",
    "GuestOutputBuffer",
    "StdioFileBuffer",
    "memory_reader",
]

#: What a guest writes to fd 1 during start-up (before any turn) to register its
#: writer: this prefix, then "<writer address> <buffer size>" in ASCII.
REGISTER_PREFIX = b"\x00wasm-workbench register stdout buffer\x00"
#: What ``fd_seek(1, 0, SEEK_CUR)`` answers first: a value no other field of a
#: fresh writer holds, so registration can find the writer's flushed-bytes count.
#: Every later answer is :data:`POSITION_STEP` higher: a ``tell()`` resets the
#: writer's count to the answer, and a count must never come back to a value the
#: host saw during a flush (see :meth:`GuestOutputBuffer.take`).
STDOUT_POSITION = 0x5742_0000_0000
POSITION_STEP = 1 << 40
#: The bytes a guest writes into its fresh writer before registering it.
MARKER = b"\x00wasm-workbench stdout buffer\x00"
#: What a C guest writes through its stdio ``stdout`` during start-up, each time
#: followed by ``fflush``: this prefix and :data:`FILE_PROBE`, then this prefix
#: and :data:`FILE_CONFIRM` (see :meth:`StdioFileBuffer.probe`).
REGISTER_FILE_PREFIX = b"\x00wasm-workbench register stdio stdout\x00"
FILE_PROBE = b"probe"
FILE_CONFIRM = b"confirm"
#: How much of the writer object registration looks at.
STRUCT_SPAN = 256
#: Largest guest buffer accepted.
MAX_BUFFER = 16 * 1024 * 1024

Reader = Callable[[int, int], "bytes | None"]
"""``read(address, length)``: guest memory, or None when out of bounds."""


def memory_reader(context: Any, memory: wasmtime.Memory) -> Reader:
    """A bounds-checked reader of ``memory`` through a store context pointer.

    Cheaper than ``Memory.read`` (which builds a ctypes array type per call) and
    usable where only the raw context is at hand (the epoch callback). The
    reader is valid until the guest runs again (memory may grow and move).
    """
    handle = ctypes.byref(memory._memory)
    base = ctypes.cast(ffi.wasmtime_memory_data(context, handle), ctypes.c_void_p).value or 0
    size = int(ffi.wasmtime_memory_data_size(context, handle))

    def read(address: int, length: int) -> bytes | None:
        if address < 0 or length < 0 or address + length > size or not base:
            return None
        return ctypes.string_at(base + address, length)

    return read


_I64 = struct.Struct("<q")
_U32 = struct.Struct("<I")
#: Largest stdio ``FILE`` buffer the host reads pending bytes from (wasi-libc's
#: are ``BUFSIZ``, 1 KiB): a guest that fakes its write position makes the host
#: copy at most this much per look. A bigger buffer still reaches the host whole
#: when it is flushed.
MAX_FILE_BUFFER = 64 * 1024
#: Wasm memory is a whole number of pages: a scan reads it page by page.
_PAGE = 65536
#: How far around the write position the start of the window (``wbase``, equal to
#: the buffer's address) must lie for a probe candidate.
_FILE_SPAN = 64


class BufferedStdout(Protocol):
    """What the instance needs of a registered stdout buffer, whatever its shape."""

    #: Bytes of the current buffer contents already delivered.
    cursor: int

    def contains(self, pointer: int) -> bool:
        """Whether a write from ``pointer`` is the writer flushing its buffer."""

    def take(self, read: Reader) -> bytes:
        """What the guest wrote and the host hasn't delivered yet (maybe nothing)."""

    def flushing(self, pointer: int, data: bytes, read: Reader) -> bytes:
        """The guest flushes ``data`` from ``pointer`` in its buffer: the part not yet delivered."""


class GuestOutputBuffer:
    """The host's view of one guest's buffered stdout writer.

    Parameters
    ----------
    address
        Where the writer object lives in guest memory.
    buffer
        Address of the writer's data buffer.
    size
        The buffer's size in bytes.
    fields
        Offsets from ``address`` of the flushed-bytes count, the write start
        and the write end (all little-endian 64-bit).
    """

    def __init__(self, address: int, buffer: int, size: int, fields: tuple[int, int, int]) -> None:
        self.address = address
        self.buffer = buffer
        self.size = size
        self._flushed_at, self._start_at, self._end_at = fields
        self._span = max(fields) + 8
        #: Bytes of the current buffer contents already delivered.
        self.cursor = 0
        #: The flushed-bytes count seen during the last flush, until the guest moves on.
        self.unacked: int | None = None

    @classmethod
    def calibrate(
        cls, untrusted_payload: bytes, read: Reader, position: int
    ) -> GuestOutputBuffer | None:
        """Build the view from a registration, or None if it doesn't check out.

        ``position`` is the host's last answer to ``tell`` on fd 1.

        ``untrusted_payload`` comes from the guest: "<writer address> <buffer size>"
        (after :data:`REGISTER_PREFIX`).
        """
        try:
            address_text, size_text = untrusted_payload.decode("ascii").split()
            address, size = int(address_text), int(size_text)
        except ValueError:
            return None
        if not (address > 0 and len(MARKER) <= size <= MAX_BUFFER):
            return None
        raw = read(address, STRUCT_SPAN)
        if raw is None:
            return None
        flushed = buffer = None
        for offset in range(0, STRUCT_SPAN - 7, 4):
            if flushed is None and _I64.unpack_from(raw, offset)[0] == position:
                flushed = offset
            pointer = _U32.unpack_from(raw, offset)[0]
            if buffer is None and pointer and read(pointer, len(MARKER)) == MARKER:
                buffer = offset
        if flushed is None or buffer is None:
            return None
        # The write window: a start of 0 followed by an end of len(MARKER).
        window = None
        for offset in range(buffer + 4, STRUCT_SPAN - 15, 4):
            start = _I64.unpack_from(raw, offset)[0]
            end = _I64.unpack_from(raw, offset + 8)[0]
            if start == 0 and end == len(MARKER):
                window = offset
                break
        if window is None:
            return None
        pointer = _U32.unpack_from(raw, buffer)[0]
        view = cls(address, pointer, size, (flushed, window, window + 8))
        view.cursor = len(MARKER)  # the marker is not output
        return view

    def contains(self, pointer: int) -> bool:
        """Whether a write from ``pointer`` is the writer flushing its buffer."""
        return self.buffer <= pointer < self.buffer + self.size

    def _fields(self, read: Reader) -> tuple[int, int, int] | None:
        raw = read(self.address, self._span)
        if raw is None:
            return None
        return (
            _I64.unpack_from(raw, self._flushed_at)[0],
            _I64.unpack_from(raw, self._start_at)[0],
            _I64.unpack_from(raw, self._end_at)[0],
        )

    def take(self, read: Reader) -> bytes:
        """What the guest wrote and the host hasn't delivered yet (maybe nothing)."""
        fields = self._fields(read)
        if fields is None:
            return b""
        flushed, start, end = fields
        if self.unacked is not None:
            if flushed == self.unacked:
                return b""  # still inside the last flush: those bytes went out then
            self.unacked = None
        if not (0 <= start <= end <= self.size):
            return b""  # empty (end is -1) or not a state the writer leaves behind
        start = max(start, self.cursor)
        if start >= end:
            return b""
        data = read(self.buffer + start, end - start)
        if data is None:
            return b""
        self.cursor = end
        return data

    def flushing(self, pointer: int, data: bytes, read: Reader) -> bytes:
        """The guest flushes ``data`` from ``pointer`` in its buffer: the part not yet delivered."""
        fields = self._fields(read)
        skip = max(0, self.cursor - (pointer - self.buffer))
        self.cursor = 0
        self.unacked = fields[0] if fields is not None else None
        return data[skip:]


class StdioFileBuffer:
    """The host's view of a C stdio ``FILE`` that buffers stdout (wasi-libc, musl).

    The ``FILE`` keeps its pending bytes from ``wbase`` (always its buffer's
    start while it writes, 0 otherwise) to ``wpos``. A flush hands them to one
    ``fd_write`` whose first piece starts at the buffer, and right after that
    call returns, with no function entry or loop header in between (so no stop
    or epoch tick), the ``FILE`` moves ``wpos`` back to the start. So the host
    needs only the buffer's address and where ``wpos`` lives:

    * pending bytes are ``[buffer, wpos)`` when ``wpos`` lies in the buffer
      (after an ``fflush``, ``wpos`` is 0: nothing pending);
    * a write to fd 1 from the buffer's start is a flush: what the host already
      took of it is skipped and the buffer starts over.

    Parameters
    ----------
    buffer
        Address of the ``FILE``'s data buffer.
    wpos_at
        Address of the ``FILE``'s write position (a 32-bit pointer).

    Examples
    --------
    Registration, from the host's handling of the two start-up writes::

        candidates = StdioFileBuffer.probe(address, len(data), read)
        ...
        view = StdioFileBuffer.confirm(candidates, address, len(data), read)
    """

    def __init__(self, buffer: int, wpos_at: int) -> None:
        self.buffer = buffer
        self.wpos_at = wpos_at
        #: Bytes of the current buffer contents already delivered.
        self.cursor = 0

    @staticmethod
    def probe(buffer: int, length: int, read: Reader) -> list[int]:
        """Where the ``FILE``'s write position may live, during the first registration flush.

        ``buffer`` is where the flushed bytes start and ``length`` their count:
        the ``FILE`` then holds ``wpos == buffer + length`` and, near it,
        ``wbase == buffer``. Every 32-bit word of guest memory holding that
        position with the buffer's address within :data:`_FILE_SPAN` bytes is a
        candidate (only address-taken data is in linear memory, so in practice
        there is one).
        """
        if buffer <= 0 or length <= 0:
            return []
        wanted = _U32.pack(buffer + length)
        start_word = _U32.pack(buffer)
        found: list[int] = []
        page = 0
        while True:
            chunk = read(page, _PAGE)
            if chunk is None:
                return found
            at = chunk.find(wanted)
            while at >= 0:
                if at % 4 == 0:
                    address = page + at
                    near = read(max(0, address - _FILE_SPAN), 2 * _FILE_SPAN)
                    if near is not None and start_word in near:
                        found.append(address)
                at = chunk.find(wanted, at + 1)
            page += _PAGE

    @classmethod
    def confirm(
        cls, candidates: list[int], buffer: int, length: int, read: Reader
    ) -> StdioFileBuffer | None:
        """The view, during the second registration flush (a different ``length``).

        Exactly one candidate must now hold ``buffer + length``; otherwise None
        (the guest then keeps flushing every line).
        """
        wanted = buffer + length
        holding = [
            address
            for address in candidates
            if (raw := read(address, 4)) is not None and _U32.unpack(raw)[0] == wanted
        ]
        if len(holding) != 1:
            return None
        return cls(buffer, holding[0])

    def contains(self, pointer: int) -> bool:
        """Whether a write from ``pointer`` is the ``FILE`` flushing its buffer."""
        return pointer == self.buffer

    def take(self, read: Reader) -> bytes:
        """What the guest wrote and the host hasn't delivered yet (maybe nothing)."""
        raw = read(self.wpos_at, 4)
        if raw is None:
            return b""
        end = _U32.unpack(raw)[0] - self.buffer
        if not 0 <= end <= MAX_FILE_BUFFER:
            return b""  # not writing (wpos is 0 after fflush)
        if end < self.cursor:
            # Emptied without a flush the host saw (a failed write): start over.
            self.cursor = 0
        if end == self.cursor:
            return b""
        data = read(self.buffer + self.cursor, end - self.cursor)
        if data is None:
            return b""
        self.cursor = end
        return data

    def flushing(self, pointer: int, data: bytes, read: Reader) -> bytes:
        """The guest flushes ``data`` from its buffer: the part not yet delivered."""
        skip = self.cursor
        self.cursor = 0
        return data[skip:]
