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
from .._profile import JS_UNPROFILED_NOTE, MAX_CODES, MAX_EVENT_OVERHEAD, JsProfileRecorder
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
_profiler_bundle: bytes | None = None
#: The profiler (acorn and its splicer) compiled to bytecode, as the prelude is.
_bytecode: dict[str, bytes] = {}
#: Fuel for the profiler's work before a profiled run (loading acorn, parsing and
#: splicing the code, measuring an event's cost): a tank of its own, never the
#: budget's. Loading acorn from bytecode and a first calibration take ~40 M.
JS_PROFILE_SETUP_FUEL = 4_000_000_000
#: Function ids an instance hands out (a session's turns share them: a function
#: spliced in one turn keeps its events in the next), 1 .. MAX_CODES - 1.
JS_MAX_FUNCTION_ID = MAX_CODES - 1
#: Calls (and generator steps) of the calibration: two counts, so that what a
#: measure costs whatever the count cancels out.
_CAL_COUNTS = (100, 300)
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


def profiler_bundle() -> bytes:
    """The profiler (acorn and its splicer) as one script that defines ``__wbInstrument``."""
    global _profiler_bundle
    if _profiler_bundle is None:
        folder = data_path("wasm") / "guest" / "javascript"
        _profiler_bundle = (
            b"(function () { const exports = {}, module = { exports };\n"
            + (folder / "acorn.js").read_bytes()
            + b"\n;\n"
            + (folder / "profiler.js").read_bytes()
            + b"\n})();\n"
        )
    return _profiler_bundle


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
        # The profiler: loaded by the first profiled turn, with what one event costs.
        self._event_costs: tuple[int, int, int] | None = None
        self._next_function_id = 1
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
            return self._settle(store, value, flags, keep_value=keep_value)
        finally:
            call["free"](store, code_ptr)

    def _compile(self, store: wasmtime.Store, source: bytes, filename: bytes, flags: int) -> int:
        """Compile ``source`` without running it: the function (or module), 0 if it fails.

        Nothing is printed on failure; the exception stays pending in the context
        (the next evaluation replaces it).
        """
        assert self.memory is not None
        call = self._fn
        data = source + b"\0" + filename + b"\0"
        code_ptr = call["malloc"](store, len(data))
        if not code_ptr:
            raise MemoryError("QuickJS could not allocate the source buffer")
        self.memory.write(store, data, code_ptr)
        try:
            value = call["JS_Eval"](
                store,
                self._ctx,
                code_ptr,
                len(source),
                code_ptr + len(source) + 1,
                flags | JS_EVAL_FLAG_COMPILE_ONLY,
            )
            return 0 if _is_exception(value) else int(value)
        finally:
            call["free"](store, code_ptr)

    def _settle(self, store: wasmtime.Store, value: int, flags: int, *, keep_value: bool) -> bool:
        """Finish an evaluation's ``value`` as :meth:`_eval` does (it is consumed)."""
        assert self.memory is not None
        call = self._fn
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

    def _run_prelude(self, store: wasmtime.Store) -> None:
        """Run the prelude: from bytecode when this process has it, else from source.

        Parsing the 18 KB prelude was half of an instance's start-up. The first
        instance compiles it, keeps the bytecode (written by QuickJS in its own,
        still untouched context) and runs it; later instances read it back.
        """
        global _prelude_bytecode
        if _prelude_bytecode is None:
            _prelude_bytecode = self._run_script(store, prelude_source(), b"<prelude>", None)
        else:
            self._run_script(store, b"", b"<prelude>", _prelude_bytecode)

    def _run_script(
        self,
        store: wasmtime.Store,
        source: bytes,
        name: bytes,
        bytecode: bytes | None,
        *,
        reload: bool = False,
    ) -> bytes | None:
        """Run a trusted script of ours from ``bytecode``, or compile ``source``.

        Returns the bytecode compiled from ``source`` (None when run from bytecode
        or when QuickJS couldn't write it). With ``reload`` the compiled function
        is dropped and the bytecode read back and run instead, so the context ends
        as it would from bytecode (the profiler: its functions then cost what they
        cost in every later instance). Raises RuntimeError when it fails.
        """
        assert self.memory is not None
        call = self._fn
        ctx = self._ctx
        label = name.decode()
        compiled: bytes | None = None
        if bytecode is None:
            # The source and the file name in one buffer, then 4 bytes for the size.
            data = source + b"\0" + name + b"\0"
            code_ptr = call["malloc"](store, len(data) + 4)
            if not code_ptr:
                raise MemoryError(f"QuickJS could not allocate the {label}")
            self.memory.write(store, data, code_ptr)
            name_ptr = code_ptr + len(source) + 1
            size_ptr = code_ptr + len(data)
            function = call["JS_Eval"](
                store,
                ctx,
                code_ptr,
                len(source),
                name_ptr,
                JS_EVAL_TYPE_GLOBAL | JS_EVAL_FLAG_COMPILE_ONLY,
            )
            if _is_exception(function):
                call["free"](store, code_ptr)
                call["js_std_dump_error"](store, ctx)
                raise RuntimeError(f"the JavaScript {label} does not compile")
            written = call["JS_WriteObject"](store, ctx, size_ptr, function, JS_WRITE_OBJ_BYTECODE)
            if written:
                size = struct.unpack("<I", self.memory.read(store, size_ptr, size_ptr + 4))[0]
                compiled = bytes(self.memory.read(store, written, written + size))
                call["js_free"](store, ctx, written)
            call["free"](store, code_ptr)
            if reload and compiled is not None:
                call["JS_FreeValue"](store, ctx, function)
                bytecode = compiled
        if bytecode is not None:
            buffer = call["malloc"](store, len(bytecode))
            if not buffer:
                raise MemoryError(f"QuickJS could not allocate the {label}")
            self.memory.write(store, bytecode, buffer)
            function = call["JS_ReadObject"](
                store, ctx, buffer, len(bytecode), JS_READ_OBJ_BYTECODE
            )
            call["free"](store, buffer)
            if _is_exception(function):
                call["js_std_dump_error"](store, ctx)
                raise RuntimeError(f"the JavaScript {label}'s bytecode does not load")
        # JS_EvalFunction takes ownership of the function.
        value = call["JS_EvalFunction"](store, ctx, function)
        if _is_exception(value):
            call["js_std_dump_error"](store, ctx)
            raise RuntimeError(f"the JavaScript {label} failed")
        call["JS_FreeValue"](store, ctx, value)
        return compiled

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
                spliced = self._profile_prepare(store, request, flags) if request.profile else 0
                if spliced:
                    # JS_EvalFunction takes ownership of the compiled code.
                    value = self._fn["JS_EvalFunction"](store, self._ctx, spliced)
                    ok = self._settle(store, value, flags, keep_value=show)
                else:
                    ok = self._eval(
                        store,
                        request.code.encode("utf-8", "surrogatepass"),
                        request.filename.encode(),
                        flags,
                        keep_value=show,
                    )
                if self._fn["js_std_loop"](store, self._ctx) != 0:
                    ok = False
                recorder = self._profiler
                if isinstance(recorder, JsProfileRecorder):
                    recorder.stop(store.get_fuel())
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

    # ---- the profiler (instance thread)

    def _profile_prepare(self, store: wasmtime.Store, request: TurnRequest, flags: int) -> int:
        """Splice ``request.code`` for a per-function profile; the compiled copy, or 0.

        Runs on a tank of its own (:data:`JS_PROFILE_SETUP_FUEL`): loading acorn,
        parsing and splicing, and measuring an event's cost are not the user's.
        What compiling the code costs a plain run is measured on the original and
        charged to the run, so its fuel matches an unprofiled run's. On return the
        store holds the budget less that, and the recorder is running; with 0 the
        code runs unchanged and the profile says why (``_profile_note``).
        """
        recorder = JsProfileRecorder(request.code, request.filename, request.fuel)
        self._profiler = recorder  # answers events while setting up (none counted)
        store.set_fuel(JS_PROFILE_SETUP_FUEL)
        if self._event_costs is None:
            bytecode = _bytecode.get("profiler")
            compiled = self._run_script(
                store, profiler_bundle(), b"<profiler>", bytecode, reload=True
            )
            if compiled is not None:
                _bytecode["profiler"] = compiled
            self._event_costs = self._calibrate(store)
        recorder.cost_call, recorder.cost_yield, recorder.probe_cost = self._event_costs
        source = request.code.encode("utf-8", "surrogatepass")
        filename = request.filename.encode()
        module = flags == JS_EVAL_TYPE_MODULE
        first = self._next_function_id
        call = b"__wbInstrument(%s, %s, %d, %d)" % (
            json.dumps(request.code).encode(),
            b"true" if module else b"false",
            first,
            JS_MAX_FUNCTION_ID,
        )
        reply = _parse_status(self._eval_to_text(store, call))
        untrusted_code = reply.get("code")
        untrusted_functions = reply.get("functions")
        spliced = 0
        if reply.get("ok") is True and isinstance(untrusted_code, str):
            # The original, compiled and dropped: what a plain run pays to compile
            # it (a module under another name, so the spliced one is the one found).
            before = store.get_fuel()
            plain = self._compile(store, source, b"<measure>" if module else filename, flags)
            compile_fuel = before - store.get_fuel()
            if plain and not module:
                self._fn["JS_FreeValue"](store, self._ctx, plain)
            spliced = self._compile(
                store, untrusted_code.encode("utf-8", "surrogatepass"), filename, flags
            )
            if not spliced:
                reply = {"error": "the spliced code doesn't compile in QuickJS"}
        if not spliced:
            self._profiler = None
            error = str(reply.get("error") or "no reason given")[:300]
            self._profile_note = JS_UNPROFILED_NOTE.format(error=error)
            store.set_fuel(request.fuel)
            return 0
        if isinstance(untrusted_functions, list):
            for offset, item in enumerate(untrusted_functions[:JS_MAX_FUNCTION_ID]):
                if isinstance(item, list) and len(item) == 2:
                    recorder.name(first + offset, str(item[0]), item[1])
            self._next_function_id = min(JS_MAX_FUNCTION_ID + 1, first + len(untrusted_functions))
        if reply.get("truncated") is True:
            recorder.truncated = True
        recorder.setup_overhead = max(0, JS_PROFILE_SETUP_FUEL - store.get_fuel() - compile_fuel)
        # The compile is charged to the run: it falls in the first interval, outside
        # any function, as it does in a plain run.
        store.set_fuel(max(0, request.fuel - compile_fuel))
        recorder.start(request.fuel)
        return spliced

    def _calibrate(self, store: wasmtime.Store) -> tuple[int, int, int]:
        """What one enter/exit event and one suspend/resume event cost, in fuel.

        The same calls plain and spliced, at two counts: what doesn't grow with
        the count (the evaluation around them) cancels out. Fuel is
        deterministic, so this is exact for these calls; events elsewhere differ
        by a few instructions (a number's conversion; a global's lookup, which
        the run's probes correct).
        """
        self._eval(store, b"__wbCalibrate(-1, 0)", b"<profiler>", 0)

        def spent(kind: int, count: int) -> int:
            before = store.get_fuel()
            self._eval(store, b"__wbCalibrate(%d, %d)" % (kind, count), b"<profiler>", 0)
            return before - store.get_fuel()

        low, high = _CAL_COUNTS
        costs = []
        for plain in (0, 2):
            extra = (spent(plain + 1, high) - spent(plain, high)) - (
                spent(plain + 1, low) - spent(plain, low)
            )
            costs.append(max(0, min(extra // (2 * (high - low)), MAX_EVENT_OVERHEAD)))
        # And what the events between two probes cost here, before any user code
        # (the run's own probes say what the user's globals change; see OP_JS_PROBE).
        recorder = self._profiler
        probe = b"__wbS(0,0,0xb7);__wbS(0,0,0xb7);"
        self._eval(store, probe, b"<profiler>", 0)
        probe_cost = recorder.probe_cost if isinstance(recorder, JsProfileRecorder) else 0
        return costs[0], costs[1], probe_cost

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
