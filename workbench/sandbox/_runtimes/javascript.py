"""QuickJS-NG, driven through its C API from the host.

The binary is a WASI *reactor*: ``_initialize`` then ``qjs_init_argv`` build a
runtime and context, and the host calls ``JS_Eval`` for each turn and
``js_std_loop`` to run timers and promise jobs. Only the dozen exports we call
are looked up, once (building the map of all 290 costs ~4 ms per instance).

JSValues are NaN-boxed 64-bit integers on wasm32; the tag is the high word and
``JS_TAG_EXCEPTION`` is 6.
"""

from __future__ import annotations

import ctypes
import json
import re
import struct
import time
from pathlib import Path

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime._extern import wrap_extern

from .._fastcall import FastFunc
from .._instance import _SHUTDOWN, STARTUP_FUEL, Instance, TurnRequest
from .._resources import data_path
from .._result import RuntimeType, TrapKind

__all__ = ["JavaScriptInstance"]

JS_EVAL_TYPE_GLOBAL = 0
JS_EVAL_TYPE_MODULE = 1
JS_EVAL_FLAG_COMPILE_ONLY = 1 << 5
JS_TAG_EXCEPTION = 6
JS_WRITE_OBJ_BYTECODE = 1 << 0
JS_READ_OBJ_BYTECODE = 1 << 0
#: Margin kept between QuickJS's own memory limit and the store's hard limit.
JS_MEMORY_MARGIN = 4 * 1024 * 1024

_EXPORTS = (
    "memory",
    "_initialize",
    "qjs_init_argv",
    "qjs_get_context",
    "JS_GetRuntime",
    "JS_SetMemoryLimit",
    "JS_Eval",
    "JS_FreeValue",
    "JS_GetGlobalObject",
    "JS_SetPropertyStr",
    "js_std_await",
    "js_std_loop",
    "js_std_dump_error",
    "JS_ToCStringLen2",
    "JS_FreeCString",
    "JS_WriteObject",
    "JS_ReadObject",
    "JS_EvalFunction",
    "js_free",
    "malloc",
    "free",
)

_MODULE_SYNTAX = re.compile(r"^\s*(import\s*[\w{*'\"]|export\s)", re.MULTILINE)

_prelude: bytes | None = None
#: The prelude compiled to QuickJS bytecode by the first instance of this process
#: (before any user code ran in it); reading it back takes a quarter of the parse time.
_prelude_bytecode: bytes | None = None
#: ``scriptArgs`` of a turn with no argv, set during start-up.
_DEFAULT_SCRIPT_ARGS = json.dumps(["<code>"]).encode()
_helpers_module: dict[str, bytes] = {}
#: Export signatures, read once per process (the binary is pinned by hash).
_SIGNATURES: dict[str, tuple[list[int], list[int]]] = {}


def prelude_source() -> bytes:
    """The JS prelude (read once)."""
    global _prelude
    if _prelude is None:
        _prelude = (data_path("wasm") / "guest" / "javascript" / "prelude.js").read_bytes()
    return _prelude


def helpers_module_source(guest_lib: str) -> bytes:
    """The ES module ``sandbox_utils`` of the guest library at ``guest_lib`` (read once)."""
    source = _helpers_module.get(guest_lib)
    if source is None:
        source = _helpers_module[guest_lib] = (Path(guest_lib) / "js" / "module.js").read_bytes()
    return source


def is_module(code: str) -> bool:
    """Whether ``code`` uses ES module syntax (static import/export)."""
    return _MODULE_SYNTAX.search(code) is not None


def _export(instance: wasmtime.Instance, store: wasmtime.Store, name: str) -> object:
    raw = name.encode()
    item = ffi.wasmtime_extern_t()
    ok = ffi.wasmtime_instance_export_get(
        store._context(), ctypes.byref(instance._instance), raw, len(raw), ctypes.byref(item)
    )
    if not ok:
        raise RuntimeError(f"the QuickJS binary does not export {name}")
    return wrap_extern(item)


class JavaScriptInstance(Instance):
    """A QuickJS-NG context; each turn is a ``JS_Eval`` plus the event loop."""

    runtime = RuntimeType.JAVASCRIPT
    direct_turns = True
    # The prelude registers console.log's FILE (on the heap) first and std.out
    # second. std.out is static data right below the C stack, which a runaway
    # recursion overwrites on its way down: an epoch tick then, or a drain after
    # the trap, would read garbage from it.
    steady_buffers = 1

    def _thread_main(self) -> None:
        began = time.perf_counter()
        module = self.engine.module(RuntimeType.JAVASCRIPT)
        store = self._new_store(["qjs"])
        linker = self._link(module)
        instance = linker.instantiate(store, module)
        fn = {name: _export(instance, store, name) for name in _EXPORTS}
        memory = fn.pop("memory")
        assert isinstance(memory, wasmtime.Memory)
        self.memory = memory
        self._fetch_originals(store, module)
        self._fn: dict[str, FastFunc] = {}
        for name, item in fn.items():
            assert isinstance(item, wasmtime.Func)
            signature = _SIGNATURES.get(name)
            if signature is None:
                signature = _SIGNATURES[name] = FastFunc.signature(store, item)
            self._fn[name] = FastFunc(store, item, signature)
        call = self._fn
        call["_initialize"](store)
        argv = self._strings(store, [b"qjs", b"--std"])
        if call["qjs_init_argv"](store, 2, argv) != 0:
            raise RuntimeError("QuickJS failed to initialise")
        self._ctx = call["qjs_get_context"](store)
        runtime = call["JS_GetRuntime"](store, self._ctx)
        # QuickJS-NG has no stack check on WASI, so deep recursion runs the shadow
        # stack off the bottom of linear memory: an out-of-bounds trap (see
        # _classify). The stack lies above the static data (not stack-first), so
        # on its way down it overwrites that data; the instance is not used again.
        call["JS_SetMemoryLimit"](
            store, runtime, max(JS_MEMORY_MARGIN, self.shape.memory_bytes - JS_MEMORY_MARGIN)
        )
        self._run_prelude(store)
        if self.shape.guest_lib:
            # `import { ls } from "sandbox_utils"` without knowing a path: QuickJS
            # looks a bare module name up among the context's modules first, so
            # compile (not run) the stub under that name. It runs on the first
            # import and takes the helpers from the prelude's lazy loader.
            self._eval(
                store,
                helpers_module_source(self.shape.guest_lib),
                b"sandbox_utils",
                JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY,
            )
        # scriptArgs for the usual case (no argv), set during start-up so a turn
        # only pays for it when its argv differs.
        self._script_args = _DEFAULT_SCRIPT_ARGS
        self._eval(store, b"globalThis.scriptArgs = " + self._script_args + b";", b"<args>", 0)
        self.startup_fuel = STARTUP_FUEL - store.get_fuel()
        self.startup_ms = (time.perf_counter() - began) * 1000
        self._mark_ready()
        while True:
            item = self._requests.get()
            if item is _SHUTDOWN or not isinstance(item, TurnRequest):
                return
            with self._store_lock:
                alive = self._turn_once(store, item)
            if not alive:
                return

    def _direct_turn(self, store: wasmtime.Store, request: TurnRequest) -> bool:
        return self._turn_once(store, request)

    # ---- helpers (instance thread)

    def _strings(self, store: wasmtime.Store, items: list[bytes]) -> int:
        """Copy NUL-terminated strings into guest memory; return the argv array."""
        assert self.memory is not None
        pointers = []
        for item in items:
            data = item + b"\0"
            ptr = self._fn["malloc"](store, len(data))
            self.memory.write(store, data, ptr)
            pointers.append(ptr)
        array = self._fn["malloc"](store, 4 * len(pointers))
        self.memory.write(store, struct.pack(f"<{len(pointers)}I", *pointers), array)
        return int(array)

    def _eval(
        self,
        store: wasmtime.Store,
        source: bytes,
        filename: bytes,
        flags: int,
        *,
        keep_value: bool = False,
    ) -> bool:
        """Evaluate ``source``; print any exception to stderr. True on success.

        With ``keep_value``, the completion value is stored in ``globalThis.__wbLast``
        for the prelude's ``__wbShow`` (interactive turns) instead of being freed.
        """
        assert self.memory is not None
        call = self._fn
        # One buffer for the source and the file name: each call into the guest
        # costs more than the copy (this is on every turn's path).
        data = source + b"\0" + filename + b"\0"
        code_ptr = call["malloc"](store, len(data))
        if not code_ptr:
            raise MemoryError("QuickJS could not allocate the source buffer")
        name_ptr = code_ptr + len(source) + 1
        self.memory.write(store, data, code_ptr)
        try:
            value = call["JS_Eval"](store, self._ctx, code_ptr, len(source), name_ptr, flags)
            if flags & JS_EVAL_FLAG_COMPILE_ONLY and not _is_exception(value):
                return True  # a compiled module belongs to the context; never freed here
            if flags == JS_EVAL_TYPE_MODULE and not _is_exception(value):
                value = call["js_std_await"](store, self._ctx, value)
            if _is_exception(value):
                call["js_std_dump_error"](store, self._ctx)
                return False
            if keep_value:
                prop = b"__wbLast\0"
                prop_ptr = call["malloc"](store, len(prop))
                if not prop_ptr:
                    call["JS_FreeValue"](store, self._ctx, value)
                    raise MemoryError("QuickJS could not allocate a property name")
                self.memory.write(store, prop, prop_ptr)
                global_object = call["JS_GetGlobalObject"](store, self._ctx)
                # JS_SetPropertyStr takes ownership of the value.
                call["JS_SetPropertyStr"](store, self._ctx, global_object, prop_ptr, value)
                call["JS_FreeValue"](store, self._ctx, global_object)
                call["free"](store, prop_ptr)
            else:
                call["JS_FreeValue"](store, self._ctx, value)
            return True
        finally:
            call["free"](store, code_ptr)

    def _run_prelude(self, store: wasmtime.Store) -> None:
        """Run the prelude: from bytecode when this process has it, else from source.

        Parsing the 18 KB prelude was half of an instance's start-up. The first
        instance compiles it, keeps the bytecode (written by QuickJS in its own,
        still untouched context) and runs it; later instances read it back.
        """
        global _prelude_bytecode
        assert self.memory is not None
        call = self._fn
        ctx = self._ctx
        bytecode = _prelude_bytecode
        if bytecode is None:
            prelude = prelude_source()
            # The source and the file name in one buffer, then 4 bytes for the size.
            data = prelude + b"\0<prelude>\0"
            code_ptr = call["malloc"](store, len(data) + 4)
            if not code_ptr:
                raise MemoryError("QuickJS could not allocate the prelude")
            self.memory.write(store, data, code_ptr)
            name_ptr = code_ptr + len(prelude) + 1
            size_ptr = code_ptr + len(data)
            function = call["JS_Eval"](
                store,
                ctx,
                code_ptr,
                len(prelude),
                name_ptr,
                JS_EVAL_TYPE_GLOBAL | JS_EVAL_FLAG_COMPILE_ONLY,
            )
            if _is_exception(function):
                call["free"](store, code_ptr)
                call["js_std_dump_error"](store, ctx)
                raise RuntimeError("the JavaScript prelude does not compile")
            written = call["JS_WriteObject"](store, ctx, size_ptr, function, JS_WRITE_OBJ_BYTECODE)
            if written:
                size = struct.unpack("<I", self.memory.read(store, size_ptr, size_ptr + 4))[0]
                _prelude_bytecode = bytes(self.memory.read(store, written, written + size))
                call["js_free"](store, ctx, written)
            call["free"](store, code_ptr)
        else:
            buffer = call["malloc"](store, len(bytecode))
            if not buffer:
                raise MemoryError("QuickJS could not allocate the prelude")
            self.memory.write(store, bytecode, buffer)
            function = call["JS_ReadObject"](
                store, ctx, buffer, len(bytecode), JS_READ_OBJ_BYTECODE
            )
            call["free"](store, buffer)
            if _is_exception(function):
                call["js_std_dump_error"](store, ctx)
                raise RuntimeError("the JavaScript prelude's bytecode does not load")
        # JS_EvalFunction takes ownership of the function.
        value = call["JS_EvalFunction"](store, ctx, function)
        if _is_exception(value):
            call["js_std_dump_error"](store, ctx)
            raise RuntimeError("the JavaScript prelude failed")
        call["JS_FreeValue"](store, ctx, value)

    def _eval_to_text(self, store: wasmtime.Store, source: bytes) -> str | None:
        """Evaluate ``source`` (host-written, trusted) and return its string result."""
        assert self.memory is not None
        call = self._fn
        code = source + b"\0"
        name = b"<host>\0"
        code_ptr = call["malloc"](store, len(code))
        name_ptr = call["malloc"](store, len(name) + 4)
        try:
            self.memory.write(store, code, code_ptr)
            self.memory.write(store, name, name_ptr)
            value = call["JS_Eval"](store, self._ctx, code_ptr, len(source), name_ptr, 0)
            if _is_exception(value):
                call["js_std_dump_error"](store, self._ctx)
                return None
            length_ptr = name_ptr + len(name)
            text_ptr = call["JS_ToCStringLen2"](store, self._ctx, length_ptr, value, 0)
            call["JS_FreeValue"](store, self._ctx, value)
            if not text_ptr:
                return None
            length = struct.unpack("<I", self.memory.read(store, length_ptr, length_ptr + 4))[0]
            untrusted_text = bytes(self.memory.read(store, text_ptr, text_ptr + length))
            call["JS_FreeCString"](store, self._ctx, text_ptr)
            return untrusted_text.decode("utf-8", "replace")
        finally:
            call["free"](store, code_ptr)
            call["free"](store, name_ptr)

    def _turn_once(self, store: wasmtime.Store, request: TurnRequest) -> bool:
        """Run one turn; return whether the context can take another."""
        if request.argv or request.filename != "<code>":
            args = json.dumps([request.filename, *request.argv]).encode()
        else:
            args = _DEFAULT_SCRIPT_ARGS
        if args != self._script_args:
            self._eval(store, b"globalThis.scriptArgs = " + args + b";", b"<args>", 0)
            self._script_args = args
        store.set_fuel(request.fuel)
        self._begin_turn(request)
        exit_code: int | None = None
        trap_kind = TrapKind.NONE
        message = ""
        alive = True
        trap: BaseException | None = None
        status: dict[str, object] | None = None
        try:
            if request.op == "introspect":
                kind_json = json.dumps(request.kind)
                args_json = json.dumps(json.dumps(request.args))
                call_source = f"__wbIntrospect({kind_json}, {args_json})".encode()
                status = _parse_status(self._eval_to_text(store, call_source))
                exit_code = 0
            elif request.op == "restore":
                text = self._eval_to_text(
                    store, b"__wbRestoreGlobals(" + (request.state or b"{}") + b")"
                )
                status = _parse_status(text)
                exit_code = 0 if status.get("ok") else 1
            else:
                flags = JS_EVAL_TYPE_MODULE if is_module(request.code) else JS_EVAL_TYPE_GLOBAL
                # A module's completion value is a promise of nothing: not shown.
                show = request.interactive and flags == JS_EVAL_TYPE_GLOBAL
                ok = self._eval(
                    store,
                    request.code.encode("utf-8", "surrogatepass"),
                    request.filename.encode(),
                    flags,
                    keep_value=show,
                )
                if self._fn["js_std_loop"](store, self._ctx) != 0:
                    ok = False
                exit_code = 0 if ok else 1
                status = {"ok": ok}
                if ok and show:
                    shown = _parse_status(
                        self._eval_to_text(store, b"__wbShow(%d)" % request.value_max)
                    )
                    if isinstance(shown.get("value"), str):
                        status["value"] = shown["value"]
                        status["value_truncated"] = shown.get("truncated") is True
                if ok and request.persist:
                    saved = _parse_status(self._eval_to_text(store, b"__wbSaveGlobals()"))
                    if "state" in saved:
                        status["state"] = json.dumps(saved["state"])
                        status["unsaved"] = saved.get("unsaved", [])
                    else:
                        status["state_error"] = "SaveFailed"
        except wasmtime.ExitTrap as exc:
            exit_code = exc.code
            alive = False
        except BaseException as exc:  # classified from our own observations
            trap = exc
            alive = False
        try:
            fuel_left = store.get_fuel()
        except wasmtime.WasmtimeError:
            fuel_left = 0
        if trap is not None:
            trap_kind, message = self._classify(trap, fuel_left)
        # What the guest printed and its stdout FILEs still hold (an exit, a trap,
        # Stop, the deadline, or just a line not yet flushed): memory is readable.
        # After a stack overflow only console.log's FILE is still what the guest
        # wrote (see steady_buffers).
        overflowed = trap_kind is TrapKind.STACK_OVERFLOW
        self.drain_stdout_from(store, self.steady_buffers if overflowed else None)
        self._finish_turn(
            exit_code=exit_code,
            trap_kind=trap_kind,
            trap_message=message,
            fuel_left=fuel_left,
            alive=alive and not request.fresh,
            untrusted_status=status if not request.fresh else None,
            memory_bytes=self._memory_size(),
        )
        return alive and not request.fresh

    def _classify(self, exc: BaseException, fuel_left: int) -> tuple[TrapKind, str]:
        kind, message = super()._classify(exc, fuel_left)
        if (
            kind is TrapKind.HOST_ERROR
            and isinstance(exc, wasmtime.Trap)
            and exc.trap_code == wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS
        ):
            # A shadow-stack overflow runs through the static data below the stack
            # and off the bottom of linear memory: this trap.
            return TrapKind.STACK_OVERFLOW, "Recursion too deep: the JavaScript stack overflowed."
        return kind, message


def _parse_status(untrusted_text: str | None) -> dict[str, object]:
    """Parse a JSON object the guest produced; anything else is a failure."""
    try:
        value = json.loads(untrusted_text or "")
    except ValueError:
        return {"ok": False}
    return value if isinstance(value, dict) else {"ok": False}


def _is_exception(value: int) -> bool:
    return ((value >> 32) & 0xFFFFFFFF) == JS_TAG_EXCEPTION
