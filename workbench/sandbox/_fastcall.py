"""A cheaper way to call wasm exports with integer parameters.

``wasmtime.Func.__call__`` looks up the function's type and builds ``ValType``
objects for every parameter on every call: for the dozen calls of a QuickJS
turn that costs more than the JavaScript itself. :class:`FastFunc` reads the
type once, keeps a preallocated argument array, and goes straight to
``wasmtime_func_call`` through wasmtime-py's own ``enter_wasm``, so traps and
host-call exceptions surface exactly as they do from ``Func.__call__``.

Only i32/i64 parameters and at most one i32/i64 result are supported (all the
QuickJS C API needs). Each FastFunc belongs to one store and is used by that
store's thread only (its argument array is reused).
"""

from __future__ import annotations

import ctypes
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime._func import enter_wasm

__all__ = ["FastFunc"]

_KINDS = {"i32": 0, "i64": 1}


class FastFunc:
    """A wasm function of ``store`` callable with plain ints."""

    def __init__(
        self,
        store: wasmtime.Store,
        func: wasmtime.Func,
        signature: tuple[list[int], list[int]] | None = None,
    ) -> None:
        kinds, results = signature if signature is not None else self.signature(store, func)
        self._kinds = kinds
        if len(results) > 1:
            raise TypeError("FastFunc supports at most one result")
        self._result_kind = results[0] if results else None
        self._params = (ffi.wasmtime_val_t * len(self._kinds))()
        for slot, kind in zip(self._params, self._kinds, strict=True):
            slot.kind = kind
        self._results = (ffi.wasmtime_val_t * len(results))()
        self._count = len(self._kinds)
        self._result_count = len(results)
        self._func = func._func
        self._func_ref = ctypes.byref(self._func)

    @staticmethod
    def signature(store: wasmtime.Store, func: wasmtime.Func) -> tuple[list[int], list[int]]:
        """Parameter and result kinds of ``func``.

        Pass them to later FastFuncs of the same export: reading a function's
        type costs more than calling it.
        """
        functype = func.type(store)
        try:
            return (
                [_KINDS[str(p)] for p in functype.params],
                [_KINDS[str(r)] for r in functype.results],
            )
        except KeyError as exc:
            raise TypeError(f"FastFunc supports only i32/i64, not {exc}") from None

    def __call__(self, store: wasmtime.Store, *args: int) -> Any:
        if len(args) != self._count:
            raise TypeError(f"expected {self._count} arguments, got {len(args)}")
        params = self._params
        for index, (kind, value) in enumerate(zip(self._kinds, args, strict=True)):
            if kind == 0:
                params[index].of.i32 = value
            else:
                params[index].of.i64 = value
        with enter_wasm(store) as trap:
            error = ffi.wasmtime_func_call(
                store._context(),
                self._func_ref,
                params,
                self._count,
                self._results,
                self._result_count,
                trap,
            )
            if error:
                raise wasmtime.WasmtimeError._from_ptr(error)
        if self._result_kind is None:
            return None
        result = self._results[0].of
        return result.i32 if self._result_kind == 0 else result.i64
