"""The wrapper kernels: every cell runs in a live sandbox session.

:class:`WasmKernel` is an ipykernel ``Kernel`` (the wrapper-kernel base): the
Jupyter protocol, sockets and message signing are ipykernel's; each
``execute_request`` becomes one :meth:`Session.execute` turn with REPL
semantics (``interactive=True``) on a worker thread, so the kernel's event loop
keeps serving the control channel while wasm runs:

* guest stdout/stderr go out as ``stream`` messages while the cell runs
  (batched every :attr:`WasmKernel.stream_interval` seconds);
* a trailing expression's value is an ``execute_result``;
* a guest exception is an ``error`` reply carrying the guest's traceback (held
  back from the stream so it is shown once); a limit that stopped the cell is an
  ``error`` whose text says which limit, in words (:meth:`SandboxResult.summary`);
* figures the cell drew (python-sci: ``plt.show()``, figures still open at
  its end; rendered by the guest and checked by the host) are ``display_data``
  with ``image/png`` and ``text/plain``, within the sandbox's figure caps;
  with :attr:`WasmKernel.figure_svg` on (``--WasmKernel.figure_svg=True``, or
  ``c.WasmKernel.figure_svg = True`` in a kernel config file) the guest renders
  each figure as SVG too and ``image/svg+xml`` is added beside the PNG;
* PNG/JPEG/GIF/SVG files the cell created or changed in ``/app`` are shown as
  ``display_data``;
* ``interrupt_request`` (or SIGINT) cancels the running turn;
* ``complete_request``/``inspect_request`` ask the guest interpreter itself
  (``Session.introspect``) when the core offers it.

The kernel is bound to one :class:`Session` at a time (:meth:`WasmKernel.bind`):
a standalone kernel opens or creates its own (see :mod:`._launch`); the
workbench's Console binds the session its editor runs in, so both share one
interpreter and one workspace.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import fnmatch
import logging
import re
import signal
import threading
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any, ClassVar

from ipykernel.kernelbase import Kernel
from traitlets import Bool

from workbench import __version__
from workbench.sandbox import (
    ExecutionPolicy,
    RuntimeType,
    SandboxError,
    SandboxResult,
    Session,
    TrapKind,
    get_engine,
)

from ._syntax import javascript_is_complete, python_is_complete, token_at

__all__ = [
    "WasmJavaScriptKernel",
    "WasmKernel",
    "WasmPythonKernel",
    "WasmSciPythonKernel",
    "language_info",
]

log = logging.getLogger("workbench.kernel")

#: Image files (by suffix) shown inline when a cell writes them, with their MIME type.
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
}
#: The first bytes each binary image type must start with (a file named .png that
#: is not a PNG is not shown).
_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}
#: Largest image sent inline (bytes); bigger ones are named in a stream message.
MAX_IMAGE_BYTES = 8 * 1024 * 1024
#: At most this many images per cell.
MAX_IMAGES = 20
#: Lines that begin the guest's own report of an uncaught error (held back from
#: the stream: it travels in the ``error`` message instead).
_PY_ERROR_START = re.compile(r'^(Traceback \(most recent call last\):|  File ")', re.M)
_JS_ERROR_START = re.compile(r"^(Uncaught |[A-Za-z_$]?[\w$]*(Error|Exception)\b)", re.M)
_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$")


def language_info(runtime: RuntimeType) -> dict[str, Any]:
    """The ``language_info`` of a kernel_info reply for ``runtime``."""
    version = get_engine().specs[runtime].language_version
    if runtime.language == "python":
        return {
            "name": "python",
            "version": version,
            "mimetype": "text/x-python",
            "file_extension": ".py",
            "pygments_lexer": "python3",
            "codemirror_mode": {"name": "python", "version": 3},
            "nbconvert_exporter": "python",
        }
    return {
        "name": "javascript",
        "version": version.split()[-1],
        "mimetype": "text/javascript",
        "file_extension": ".js",
        "pygments_lexer": "javascript",
        "codemirror_mode": "javascript",
        "nbconvert_exporter": "script",
    }


class _StreamBuffer:
    """Guest output waiting to be sent; filled on the instance thread."""

    def __init__(self, runtime: RuntimeType) -> None:
        self._lock = threading.Lock()
        self._decoders = {
            name: codecs.getincrementaldecoder("utf-8")("replace") for name in ("stdout", "stderr")
        }
        self._pending: list[tuple[str, str]] = []
        self._held = ""  # stderr from the start of an error report on
        self._error_start = _PY_ERROR_START if runtime.language == "python" else _JS_ERROR_START

    def write(self, stream: str, chunk: bytes) -> None:
        text = self._decoders[stream].decode(chunk)
        if text:
            with self._lock:
                self._pending.append((stream, text))

    def take(self) -> list[tuple[str, str]]:
        """Chunks ready to send, merged per stream; a possible error report is held."""
        with self._lock:
            pending, self._pending = self._pending, []
        merged: list[tuple[str, str]] = []
        for stream, text in pending:
            if stream == "stderr":
                if self._held:
                    self._held += text
                    continue
                match = self._error_start.search(text)
                if match is not None:
                    text, self._held = text[: match.start()], text[match.start() :]
                    if not text:
                        continue
            if merged and merged[-1][0] == stream:
                merged[-1] = (stream, merged[-1][1] + text)
            else:
                merged.append((stream, text))
        return merged

    def release_held(self) -> str:
        """The held-back stderr (the guest's error report, if the cell failed)."""
        held, self._held = self._held, ""
        return held


class WasmKernel(Kernel):
    """A Jupyter kernel whose cells run in a sandbox session (see the module docs)."""

    implementation = "wasm-workbench"
    implementation_version = __version__
    #: The guest language; fixed by the subclasses, followed the bound session otherwise.
    runtime: RuntimeType = RuntimeType.PYTHON
    #: How often output is sent while a cell runs (seconds).
    stream_interval: ClassVar[float] = 0.05
    #: Have the guest render each figure as SVG too, sent as ``image/svg+xml``
    #: beside the PNG (costs the cell fuel; off unless configured).
    figure_svg = Bool(
        False,
        help="Render each figure as SVG too and send it as image/svg+xml beside the PNG.",
    ).tag(config=True)
    #: Whether a figure's SVG goes into ``display_data`` (the workbench's Console
    #: asks for SVG for its Plots dock, but shows the PNG).
    display_svg: ClassVar[bool] = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sandbox_session: Session | None = None
        #: The policy cells run with (None: the session's own).
        self.policy: ExecutionPolicy | None = None
        self._history: list[tuple[int, int, str]] = []
        self._history_session = 1
        self._bind_lock = threading.Lock()
        self._on_result: list[Callable[[SandboxResult], None]] = []
        #: Set by interrupt() while a cell is executing; the cell's turn is then
        #: cancelled even if it had not started yet when the interrupt came.
        self._interrupt_requested = threading.Event()
        self._executing = False

    # ---- Binding to a session

    def bind(self, session: Session | None, policy: ExecutionPolicy | None = None) -> None:
        """Run the next cells in ``session`` (None: cells fail with a message saying so)."""
        with self._bind_lock:
            self.sandbox_session = session
            self.policy = policy
            if session is not None:
                self.runtime = session.runtime

    def add_result_listener(self, listener: Callable[[SandboxResult], None]) -> None:
        """Call ``listener(result)`` (on the kernel's thread) after every cell."""
        self._on_result.append(listener)

    # ---- kernel_info

    @property
    def language_info(self) -> dict[str, Any]:  # type: ignore[override]
        return language_info(self.runtime)

    @property
    def banner(self) -> str:  # type: ignore[override]
        info = self.language_info
        session = self.sandbox_session
        where = f"session {session.session_id}" if session is not None else "no session bound yet"
        return (
            f"WASM Workbench {__version__}: {info['name']} {info['version']} inside WebAssembly "
            f"({where}). Files live in /app."
        )

    @property
    def kernel_info(self) -> dict[str, Any]:
        # Built here rather than by the base class, which imports debugpy to
        # advertise a debugger: the code runs inside WebAssembly, out of its reach.
        from ipykernel._version import kernel_protocol_version

        features = ["kernel subshells"] if self._supports_kernel_subshells else []
        return {
            "protocol_version": kernel_protocol_version,
            "implementation": self.implementation,
            "implementation_version": self.implementation_version,
            "language_info": self.language_info,
            "banner": self.banner,
            "help_links": [],
            "supported_features": features,
            "debugger": False,
        }

    # ---- execute

    async def do_execute(
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict[str, Any] | None = None,
        allow_stdin: bool = False,
        *,
        cell_meta: Any = None,
        cell_id: Any = None,
    ) -> dict[str, Any]:
        session = self.sandbox_session
        if store_history and not silent:
            self._history.append((self._history_session, self.execution_count, code))
        if session is None:
            message = (
                "This console is not bound to a live session. Create or select one "
                "in the Sessions panel."
            )
            # The message is the traceback too: qtconsole shows only the traceback.
            return self._error_reply("NoSession", message, [message], silent)
        if not code.strip():
            return self._ok_reply()
        parent = self.get_parent("shell")
        buffer = _StreamBuffer(session.runtime)
        loop = asyncio.get_running_loop()
        policy = self.policy

        figure_svg = bool(self.figure_svg)

        def work() -> SandboxResult:
            return session.execute(
                code,
                policy=policy,
                on_output=buffer.write,
                interactive=True,
                figure_svg=figure_svg,
            )

        self._executing = True
        future = loop.run_in_executor(None, work)
        try:
            while True:
                done, _ = await asyncio.wait({future}, timeout=self.stream_interval)
                if not silent:
                    self._send_streams(buffer.take(), parent)
                if done:
                    break
                if self._interrupt_requested.is_set():
                    session.cancel()  # again: the turn may have started after the first
            result = future.result()
        except SandboxError as exc:
            return self._error_reply(type(exc).__name__, str(exc), [str(exc)], silent, parent)
        finally:
            self._executing = False
            self._interrupt_requested.clear()
        if not silent:
            self._send_streams(buffer.take(), parent)
        held = buffer.release_held()
        for listener in list(self._on_result):
            try:
                listener(result)
            except Exception:  # a listener must not break the kernel
                log.exception("result listener failed")
        if not silent:
            self._show_figures(result, parent)
            self._show_images(session, result, parent)
        if result.success:
            if held and not silent:
                self._send_streams([("stderr", held)], parent)
            if result.limit_hit and not silent:
                self._send_streams([("stderr", "\n" + result.summary() + "\n")], parent)
            if result.display_value is not None and not silent:
                text = result.display_value
                if result.display_value_truncated:
                    text += " ... (cut at 64 KiB)"
                self._publish(
                    "execute_result",
                    {
                        "execution_count": self.execution_count,
                        "data": {"text/plain": text},
                        "metadata": {},
                    },
                    parent,
                )
            return self._ok_reply()
        return self._failure_reply(result, held, silent, parent)

    def _ok_reply(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "execution_count": self.execution_count,
            "payload": [],
            "user_expressions": {},
        }

    def _failure_reply(
        self, result: SandboxResult, held: str, silent: bool, parent: dict[str, Any]
    ) -> dict[str, Any]:
        if result.trap_kind is not TrapKind.NONE:
            # A limit (or Stop) ended the cell: say which, in words.
            guidance = result.error_guidance
            ename = guidance.error_type if guidance is not None else str(result.trap_kind)
            evalue = result.trap_kind.words
            lines = ([held.rstrip("\n")] if held.strip() else []) + result.summary().splitlines()
            return self._error_reply(ename, evalue, lines, silent, parent)
        report = held.rstrip("\n")
        ename, evalue = _parse_error(report, result.runtime)
        if result.exit_code not in (None, 0) and not report:
            ename, evalue = "SystemExit", f"exit code {result.exit_code}"
        lines = report.splitlines() if report else [f"{ename}: {evalue}"]
        return self._error_reply(ename, evalue, lines, silent, parent)

    def _error_reply(
        self,
        ename: str,
        evalue: str,
        traceback: list[str],
        silent: bool,
        parent: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        content = {"ename": ename, "evalue": evalue, "traceback": traceback}
        if not silent:
            self._publish("error", content, parent or self.get_parent("shell"))
        return {"status": "error", "execution_count": self.execution_count, **content}

    def _publish(self, msg_type: str, content: dict[str, Any], parent: dict[str, Any]) -> None:
        """Send an iopub message (any thread: the iopub socket queues to its own thread)."""
        session = self.session
        assert session is not None
        session.send(
            self.iopub_socket, msg_type, content, parent=parent, ident=self._topic(msg_type)
        )

    def _send_streams(self, chunks: list[tuple[str, str]], parent: dict[str, Any]) -> None:
        for name, text in chunks:
            self._publish("stream", {"name": name, "text": text}, parent)

    def _show_figures(self, result: SandboxResult, parent: dict[str, Any]) -> None:
        """Send the figures the cell drew, in order, as ``display_data``.

        Their number and size were capped by the sandbox (per figure, per run);
        when some were left out, a stderr line says so.
        """
        for figure in result.figures:
            data = {
                figure.mime_type: base64.b64encode(figure.data).decode("ascii"),
                "text/plain": f"<Figure {figure.index}: {figure.width}x{figure.height}>",
            }
            if figure.svg is not None and self.display_svg:
                # Jupyter sends SVG as text (it is XML); the host checked its start only.
                data["image/svg+xml"] = figure.svg.decode("utf-8", "replace")
            self._publish(
                "display_data",
                {
                    "data": data,
                    "metadata": {
                        figure.mime_type: {"width": figure.width, "height": figure.height}
                    },
                    "transient": {},
                },
                parent,
            )
        if result.figures_truncated:
            note = "[some figures were left out: the per-run figure cap was reached]\n"
            self._send_streams([("stderr", note)], parent)

    def _show_images(self, session: Session, result: SandboxResult, parent: dict[str, Any]) -> None:
        shown = 0
        for path in [*result.files_created, *result.files_modified]:
            mime = IMAGE_TYPES.get(PurePosixPath(path).suffix.lower())
            if mime is None:
                continue
            if shown >= MAX_IMAGES:
                break
            try:
                data = session.read_file(path, max_bytes=MAX_IMAGE_BYTES)
            except (SandboxError, OSError, ValueError) as exc:
                self._send_streams([("stderr", f"[image {path} not shown: {exc}]\n")], parent)
                continue
            if mime in _MAGIC and not data.startswith(_MAGIC[mime]):
                continue  # named like an image, but isn't one
            if mime == "image/svg+xml":
                text = data.decode("utf-8", "replace")
                if "<svg" not in text:
                    continue
                payload: dict[str, Any] = {mime: text, "text/plain": f"<image /app/{path}>"}
            else:
                payload = {
                    mime: base64.b64encode(data).decode("ascii"),
                    "text/plain": f"<image /app/{path}>",
                }
            self._publish(
                "display_data",
                {"data": payload, "metadata": {"filename": f"/app/{path}"}, "transient": {}},
                parent,
            )
            shown += 1

    # ---- interrupt and shutdown

    def interrupt(self, *, pending: bool = False) -> None:
        """Stop the running cell (any thread).

        With ``pending``, the caller knows a cell was sent and not answered yet: if
        it has not started, it is stopped as soon as it does.
        """
        if self._executing or pending:
            self._interrupt_requested.set()
        session = self.sandbox_session
        if session is not None:
            session.cancel()

    async def interrupt_request(self, stream: Any, ident: Any, parent: Any) -> None:
        """Interrupt through the protocol: cancel the turn (no signal is sent)."""
        self.interrupt()
        session = self.session
        assert session is not None
        session.send(stream, "interrupt_reply", {"status": "ok"}, parent, ident=ident)

    def pre_handler_hook(self) -> None:
        """SIGINT during a request cancels the running turn instead of raising."""
        self.saved_sigint_handler = signal.signal(signal.SIGINT, lambda *_: self.interrupt())

    def post_handler_hook(self) -> None:
        """Restore the SIGINT handler."""
        signal.signal(signal.SIGINT, self.saved_sigint_handler)

    async def do_shutdown(self, restart: bool) -> dict[str, Any]:
        self.interrupt()
        return {"status": "ok", "restart": restart}

    # ---- is_complete, complete, inspect

    async def do_is_complete(self, code: str) -> dict[str, str]:
        if self.runtime.language == "python":
            return python_is_complete(code).reply()
        return javascript_is_complete(code).reply()

    async def do_complete(self, code: str, cursor_pos: int | None) -> dict[str, Any]:
        if cursor_pos is None:
            cursor_pos = len(code)
        token, start = token_at(code, cursor_pos)
        answer = await self._introspect("complete", {"text": token})
        matches = answer.get("matches") if isinstance(answer, dict) else None
        names = [m for m in matches if isinstance(m, str)] if isinstance(matches, list) else []
        dot = token.rfind(".")
        return {
            "status": "ok",
            "matches": names[:500],
            "cursor_start": start + dot + 1 if dot >= 0 else start,
            "cursor_end": cursor_pos,
            "metadata": {},
        }

    async def do_inspect(
        self, code: str, cursor_pos: int, detail_level: int = 0, omit_sections: Any = ()
    ) -> dict[str, Any]:
        token, _ = _name_around(code, cursor_pos)
        answer = await self._introspect("inspect", {"name": token, "detail": detail_level})
        text = answer.get("text") if isinstance(answer, dict) else None
        found = isinstance(text, str) and answer.get("found") is True
        return {
            "status": "ok",
            "found": found,
            "data": {"text/plain": text} if found else {},
            "metadata": {},
        }

    async def _introspect(self, kind: str, args: dict[str, Any]) -> dict[str, Any]:
        """Ask the guest interpreter (between turns, small fixed budget; not a turn).

        Starts the interpreter if none is running, so completing builtins works in
        a fresh console. Any failure is an empty answer: Tab must never raise.
        """
        session = self.sandbox_session
        if session is None:
            return {}
        if session.runtime is RuntimeType.JAVASCRIPT:
            args = {**args, "names": session.declared_names}
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, lambda: session.introspect(kind, args, start=True))
        try:
            answer = await future
        except SandboxError as exc:
            log.debug("introspect %s failed: %s", kind, exc)
            return {}
        return answer if isinstance(answer, dict) else {}

    # ---- history

    async def do_history(
        self,
        hist_access_type: str,
        output: bool,
        raw: bool,
        session: int | None = None,
        start: int | None = None,
        stop: int | None = None,
        n: int | None = None,
        pattern: str | None = None,
        unique: bool = False,
    ) -> dict[str, Any]:
        entries = list(self._history)
        if hist_access_type == "tail":
            entries = entries[-n:] if n else entries
        elif hist_access_type == "range":
            entries = [
                e
                for e in entries
                if (session in (None, 0) or e[0] == session)
                and (start is None or e[1] >= start)
                and (stop is None or e[1] < stop)
            ]
        elif hist_access_type == "search":
            matcher = re.compile(fnmatch.translate(pattern or "*"))
            entries = [e for e in entries if matcher.match(e[2])]
            if unique:
                seen: set[str] = set()
                kept = []
                for entry in reversed(entries):
                    if entry[2] not in seen:
                        seen.add(entry[2])
                        kept.append(entry)
                entries = list(reversed(kept))
            if n:
                entries = entries[-n:]
        else:
            entries = []
        history: list[Any] = [
            (s, line, (code, None)) if output else (s, line, code) for s, line, code in entries
        ]
        return {"status": "ok", "history": history}


class WasmPythonKernel(WasmKernel):
    """The "WASM Python" kernel: CPython 3.12 for WASI."""

    runtime = RuntimeType.PYTHON


class WasmSciPythonKernel(WasmKernel):
    """The "WASM Python (scientific)" kernel: CPython 3.15 with numpy, pandas, matplotlib ...

    Figures a cell draws are shown inline (``display_data``, ``image/png``).
    """

    runtime = RuntimeType.PYTHON_SCI


class WasmJavaScriptKernel(WasmKernel):
    """The "WASM JavaScript" kernel: QuickJS-NG."""

    runtime = RuntimeType.JAVASCRIPT


def _name_around(code: str, cursor_pos: int) -> tuple[str, int]:
    """The dotted name under the cursor (inspect wants the whole word)."""
    cursor_pos = max(0, min(cursor_pos, len(code)))
    end = cursor_pos
    while end < len(code) and (code[end].isalnum() or code[end] in "_$"):
        end += 1
    token, start = token_at(code, end)
    if not token and cursor_pos > 0 and code[cursor_pos - 1] == "(":
        token, start = token_at(code, cursor_pos - 1)
    return token.rstrip("."), start


def _parse_error(report: str, runtime: RuntimeType) -> tuple[str, str]:
    """``(ename, evalue)`` from the guest's error report (its last or first line)."""
    lines = [line for line in report.splitlines() if line.strip()]
    if not lines:
        return "Error", "the code failed"
    if runtime.language == "python":
        candidates = [line for line in lines if not line.startswith(" ")]
        line = candidates[-1] if candidates else lines[-1]
    else:
        line = lines[0].removeprefix("Uncaught ")
    match = _ERROR_LINE.match(line.strip())
    if match is None:
        return "Error", line.strip()
    return match.group(1), match.group(2) or ""
