"""Keep wasmtime's fault handlers when another library replaces them.

wasmtime turns a guest's traps (stack overflow, out-of-bounds access, ``unreachable``)
into errors through its handlers for SIGSEGV, SIGILL, SIGFPE and SIGBUS, installed
when the first engine is made. A library that installs its own handlers later
without handing the fault back intact takes them away, and the next trap kills
the whole process. Ray does this: ``ray.init()`` installs a crash reporter for
those signals and ``ray.shutdown()`` resets them to the default, so a guest's
deep recursion after a Ray evaluation ended in a segmentation fault.

:func:`signal_handlers_kept` saves the handlers (the whole ``struct sigaction``,
through the C library) and puts them back when the block ends. On Windows, where
wasmtime uses vectored exception handlers rather than signals, it does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["signal_handlers_kept"]

log = logging.getLogger("workbench.sandbox.signals")

#: The signals whose handlers are kept: the faults wasmtime handles, and those a
#: crash reporter usually takes as well (Ray's takes SIGABRT and SIGTERM).
KEPT_SIGNALS = ("SIGSEGV", "SIGILL", "SIGFPE", "SIGBUS", "SIGABRT", "SIGTERM")
#: Bytes enough for any platform's ``struct sigaction`` (Linux x86-64: 152).
_SIGACTION_SIZE = 512


def _sigaction() -> Any:
    if sys.platform == "win32":
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sigaction
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    function.restype = ctypes.c_int
    return function


@contextlib.contextmanager
def signal_handlers_kept() -> Iterator[None]:
    """Restore the process's fault-signal handlers when the block ends."""
    sigaction = _sigaction()
    saved: list[tuple[int, ctypes.Array[ctypes.c_char]]] = []
    if sigaction is not None:
        for name in KEPT_SIGNALS:
            number = getattr(signal, name, None)
            if number is None:
                continue
            buffer = ctypes.create_string_buffer(_SIGACTION_SIZE)
            if sigaction(int(number), None, buffer) == 0:
                saved.append((int(number), buffer))
    try:
        yield
    finally:
        for number, buffer in saved:
            if sigaction is not None and sigaction(number, buffer, None) != 0:
                log.warning("could not restore the handler of signal %d", number)
