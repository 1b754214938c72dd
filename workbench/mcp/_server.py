"""The MCP tools, on the official SDK's :class:`~mcp.server.mcpserver.MCPServer`.

Every tool takes typed arguments (the SDK validates them against the schema
generated from the signature) and returns a structured result whose model is
in :mod:`workbench.mcp._models`. A refused call (unknown language, oversized
code, a session the caller doesn't own, a path leaving the workspace, a limit
above the server's maximum) raises :class:`ToolError`: the client gets an error
result with a message saying what to do, and the server keeps serving.

Who is calling: over stdio the one client of the process; over HTTP the MCP
session (its ``Mcp-Session-Id`` header), which the SDK's session manager only
routes to the connection that created it. Sessions are owned by that key.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal, TypeVar

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import (
    CallToolResult,
    ContentBlock,
    ImageContent,
    TextContent,
    ToolAnnotations,
)
from pydantic import Field

from workbench import __version__
from workbench.sandbox import (
    ExecutionPolicy,
    PolicyError,
    RuntimeType,
    SandboxError,
    auto_runtime,
    choose_code,
    detect_language,
    load_runtime_specs,
)
from workbench.sandbox._storage import MAX_LIST_ENTRIES

from ._config import McpSettings
from ._models import (
    DestroyResult,
    ExecuteResult,
    ExecutionLimits,
    FileContent,
    FileEntry,
    FileList,
    InstalledDistribution,
    Language,
    LimitsInfo,
    PackageInstalled,
    ResetResult,
    RuntimeInfo,
    RuntimesResult,
    SessionCreated,
    WorkspaceInfo,
    WriteResult,
    figures_in_content,
)
from ._registry import ClientError, ManagedSession, SessionRegistry

__all__ = ["STDIO_OWNER", "Transport", "WorkbenchTools", "build_server"]

log = logging.getLogger("workbench.mcp")

Transport = Literal["stdio", "http"]
T = TypeVar("T")

#: The owner key of the one client of a stdio server.
STDIO_OWNER = "stdio"
#: Most files list_files returns in one call.
MAX_LISTED = 2000
#: Characters of stdout/stderr repeated in the text content of a result.
TEXT_OUTPUT_CHARS = 20_000

INSTRUCTIONS = """\
WASM Workbench runs untrusted Python (CPython 3.12) and JavaScript (QuickJS-NG) inside \
WebAssembly with hard limits on fuel (instructions), memory, wall time and output. \
Code sees only its workspace at /app (read-write) and the vendored packages; there is \
no network. execute_code without a session_id uses this client's default session for \
the language, created on first use: variables, imports and files persist between calls \
until the session ends. create_session(auto_persist_globals=True) also keeps \
serializable globals across interpreter restarts. Results carry error_guidance and \
fuel_analysis with concrete fixes when a run fails or nears its budget. Data code \
(numpy, pandas, matplotlib ...) runs in python-sci; the figures it draws come back as \
PNG image content after the text."""

_SESSION_ID = Field(
    default=None,
    description="A session id from create_session; leave out to use your default session.",
)


class WorkbenchTools:
    """The tools of one server, bound to its registry and settings."""

    def __init__(
        self, settings: McpSettings, registry: SessionRegistry, transport: Transport
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.transport = transport
        self.policy = settings.policy
        self._limiter = anyio.CapacityLimiter(settings.max_concurrent_runs)

    # ---- Who is calling

    def owner(self, ctx: Context) -> str:
        """The owner key of the calling client.

        Raises
        ------
        ToolError
            Over HTTP, when the request carries no MCP session.
        """
        if self.transport == "stdio":
            return STDIO_OWNER
        request: Any = ctx.request_context.request
        headers = getattr(request, "headers", None)
        sid = headers.get("mcp-session-id") if headers is not None else None
        if not sid:
            raise ToolError(
                "This HTTP server keeps sessions per MCP session: connect with the "
                "initialize handshake so requests carry an Mcp-Session-Id."
            )
        return f"http:{sid}"

    # ---- Tools

    async def execute_code(
        self,
        ctx: Context,
        code: Annotated[
            str,
            Field(
                description="The program to run. A Markdown answer (prose around fenced "
                "code) runs only its code; the result's code_note says which blocks."
            ),
        ],
        language: Annotated[
            Language | None,
            Field(
                description="python, python-sci (numpy, pandas, matplotlib ... built in) or "
                "javascript (default: the session's; else python-sci when the code imports "
                "the scientific stack, else python)."
            ),
        ] = None,
        session_id: Annotated[str | None, _SESSION_ID] = None,
        limits: Annotated[
            ExecutionLimits | None,
            Field(description="Lower limits for this call; never above the server's maximum."),
        ] = None,
        interactive: Annotated[
            bool,
            Field(
                description="Like a REPL: return the value of a trailing expression in "
                "display_value."
            ),
        ] = False,
        profile: Annotated[
            bool,
            Field(
                description="Also return profile: the fuel each line and function spent "
                "(self and total, with call counts), to find what to make cheaper."
            ),
        ] = False,
    ) -> Annotated[CallToolResult, ExecuteResult]:
        """Run Python or JavaScript in a WebAssembly sandbox and return what happened.

        The result has stdout, stderr, success, trap_kind (why a run stopped early),
        fuel and memory used, files changed in /app, error_guidance (what went wrong
        and how to fix it) and fuel_analysis. State persists in the session.
        """
        owner = self.owner(ctx)
        size = len(code.encode("utf-8", "surrogatepass"))
        if size > self.settings.max_code_bytes:
            raise ToolError(
                f"The code is {size:,} bytes; this server accepts at most "
                f"{self.settings.max_code_bytes:,} bytes per call. Split it into smaller "
                "steps, or write data to a file with write_file first."
            )
        if not code.strip():
            raise ToolError("The code is empty: send the program to run in `code`.")
        policy = self._policy_for(limits)
        runtime = RuntimeType(language) if language is not None else None
        managed: ManagedSession | None = None
        if session_id is not None:  # the session's language settles a Markdown answer's
            managed = await self._in_thread(
                lambda: self.registry.resolve(owner, session_id, runtime), cancellable=False
            )
            runtime = managed.language
        settled = runtime
        # Off the event loop: up to 256 KiB of text is scanned (and parsed, not run).
        choice = await self._in_thread(
            lambda: choose_code(code, runtime=settled), cancellable=False
        )
        if choice.problem:
            raise ToolError(f"{choice.problem} {_ANSWER_HINTS[choice.problem_kind]}")
        code = choice.code
        if managed is None:
            # Auto (no language, no session): data code goes to the runtime that
            # has numpy, pandas, matplotlib.
            chosen = runtime or _auto_runtime(choice.runtime, code)
            managed = await self._in_thread(
                lambda: self.registry.resolve(owner, None, chosen), cancellable=False
            )
        call = self.registry.new_call(managed, code)
        try:
            result = await self._in_thread(
                lambda: self.registry.execute(
                    managed, code, policy, call, interactive=interactive, profile=profile
                ),
                cancellable=True,
            )
        except anyio.get_cancelled_exc_class():
            self.registry.cancel(managed, call)
            raise
        max_images = self.settings.max_image_bytes
        model = ExecuteResult.from_result(result, max_images)
        if choice.answer:
            model.code_note = (
                f"`code` was a Markdown answer: ran {choice.blocks_words}. {choice.extracted.note}"
            )
        content: list[ContentBlock] = [
            TextContent(type="text", text=_result_text(model, max_images))
        ]
        # The figures themselves, after the text: PNG the host checked (signature,
        # size) and capped per figure and per run, and here per result.
        content += [
            ImageContent(
                type="image",
                data=base64.b64encode(figure.data).decode("ascii"),
                mime_type=figure.mime_type,
            )
            for figure in figures_in_content(result, max_images)
        ]
        return CallToolResult(
            content=content,
            structured_content=model.model_dump(mode="json"),
            is_error=False,
        )

    def list_runtimes(self) -> RuntimesResult:
        """The languages this server runs, their versions, and the server's maximum limits."""
        specs = load_runtime_specs()
        runtimes = []
        for runtime, spec in specs.items():
            description = _DESCRIPTIONS[runtime]
            language = _language(runtime)
            runtimes.append(
                RuntimeInfo(
                    language=language,
                    version=spec.language_version,
                    description=description,
                )
            )
        return RuntimesResult(runtimes=runtimes, limits=self._limits_info())

    def create_session(
        self,
        ctx: Context,
        language: Annotated[
            Language, Field(description="python, python-sci or javascript.")
        ] = "python",
        auto_persist_globals: Annotated[
            bool,
            Field(
                description="Save serializable globals after each call and restore them "
                "when the interpreter restarts."
            ),
        ] = False,
    ) -> SessionCreated:
        """Create a new session: its own interpreter and its own workspace at /app."""
        owner = self.owner(ctx)
        managed = self._call(
            lambda: self.registry.create(
                owner, RuntimeType(language), auto_persist_globals=auto_persist_globals
            )
        )
        return SessionCreated(
            session_id=managed.id,
            language=language,
            auto_persist_globals=managed.session.auto_persist_globals,
        )

    def destroy_session(
        self,
        ctx: Context,
        session_id: Annotated[str, Field(description="The session to end and delete.")],
    ) -> DestroyResult:
        """End a session and delete its workspace (a running call is stopped)."""
        owner = self.owner(ctx)
        freed = self._call(lambda: self.registry.destroy(owner, session_id))
        return DestroyResult(session_id=session_id, destroyed=True, bytes_freed=freed)

    def get_workspace_info(
        self, ctx: Context, session_id: Annotated[str | None, _SESSION_ID] = None
    ) -> WorkspaceInfo:
        """State of a session: language, turns, fuel used, files and bytes in /app, idleness."""
        managed = self._session(ctx, session_id)

        def info() -> WorkspaceInfo:
            meta = managed.session.info
            used, entries = managed.session.storage.usage(managed.id)
            return WorkspaceInfo(
                session_id=managed.id,
                language=_language(managed.language),
                default_session=managed.default,
                auto_persist_globals=managed.session.auto_persist_globals,
                interpreter_running=managed.session.interpreter_running,
                running=managed.current is not None,
                turns=meta.turns,
                total_fuel=meta.total_fuel,
                file_count=entries,
                bytes_used=used,
                workspace_max_bytes=self.policy.workspace_max_bytes,
                idle_seconds=round(time.monotonic() - managed.last_used, 3),
                idle_timeout_seconds=self.settings.idle_timeout_seconds,
            )

        return self._call(info)

    def reset_workspace(
        self, ctx: Context, session_id: Annotated[str | None, _SESSION_ID] = None
    ) -> ResetResult:
        """Delete every file in the session's /app (the interpreter keeps running)."""
        managed = self._session(ctx, session_id)
        self._call(managed.session.reset_workspace)
        return ResetResult(session_id=managed.id, reset=True)

    def list_files(
        self,
        ctx: Context,
        session_id: Annotated[str | None, _SESSION_ID] = None,
        pattern: Annotated[
            str, Field(description="Glob relative to /app: *, ?, ** (default: everything).")
        ] = "**/*",
    ) -> FileList:
        """Files and folders in the session's /app, sorted by path."""
        managed = self._session(ctx, session_id)
        entries = self._call(lambda: managed.session.list_files(pattern))
        shown = entries[:MAX_LISTED]
        return FileList(
            session_id=managed.id,
            pattern=pattern,
            files=[
                FileEntry(path=e.path, size=e.size, modified=e.modified, kind=e.kind) for e in shown
            ],
            truncated=len(entries) > len(shown) or len(entries) >= MAX_LIST_ENTRIES,
        )

    def read_file(
        self,
        ctx: Context,
        path: Annotated[str, Field(description="Path in /app, e.g. out.csv or /app/out.csv.")],
        session_id: Annotated[str | None, _SESSION_ID] = None,
    ) -> FileContent:
        """Read a file from the session's /app: UTF-8 text as is, anything else as base64."""
        managed = self._session(ctx, session_id)
        limit = self.settings.max_file_bytes
        data = self._call(lambda: managed.session.read_file(path, max_bytes=limit))
        try:
            text = data.decode("utf-8")
            encoding: Literal["utf-8", "base64"] = "utf-8"
        except UnicodeDecodeError:
            text = base64.b64encode(data).decode("ascii")
            encoding = "base64"
        return FileContent(
            session_id=managed.id, path=path, size=len(data), encoding=encoding, content=text
        )

    def write_file(
        self,
        ctx: Context,
        path: Annotated[str, Field(description="Path in /app; parent folders are created.")],
        content: Annotated[str, Field(description="The file's content.")],
        session_id: Annotated[str | None, _SESSION_ID] = None,
        encoding: Annotated[
            Literal["utf-8", "base64"],
            Field(description="How `content` is encoded: utf-8 text or base64 bytes."),
        ] = "utf-8",
    ) -> WriteResult:
        """Write a file into the session's /app (replacing it if it exists)."""
        managed = self._session(ctx, session_id)
        if encoding == "base64":
            try:
                data = base64.b64decode(content, validate=True)
            except ValueError:
                raise ToolError(
                    "content is not valid base64. Send text with encoding='utf-8', or "
                    "standard base64 with encoding='base64'."
                ) from None
        else:
            data = content.encode("utf-8", "surrogatepass")
        limit = self.settings.max_file_bytes
        if len(data) > limit:
            raise ToolError(
                f"The file is {len(data):,} bytes; this server accepts at most {limit:,} "
                "bytes per file. Have the code generate large data inside the sandbox instead."
            )
        self._call(lambda: managed.session.write_file(path, data))
        return WriteResult(session_id=managed.id, path=path, bytes_written=len(data))

    async def install_package(
        self,
        ctx: Context,
        package: Annotated[
            str,
            Field(
                description="A PyPI requirement: 'name' (newest) or 'name==version', "
                "extras as 'name[extra]==version'."
            ),
        ],
        session_id: Annotated[str | None, _SESSION_ID] = None,
    ) -> PackageInstalled:
        """Install a pure-Python package (and its dependencies) into a Python session.

        Works in python and python-sci sessions; for python-sci, a package it
        already has (pandas, seaborn ...) is reported as already there. The host
        fetches the wheels from PyPI (the guest has no network), checks their
        hashes and unpacks them into /app/site-packages; the running interpreter can
        import them at once. Packages with native code can't load in WebAssembly and
        are refused with an alternative. The vendored packages (list_runtimes) need no
        install.
        """
        owner = self.owner(ctx)
        managed = await self._in_thread(
            lambda: (
                self.registry.default(owner, RuntimeType.PYTHON)
                if session_id is None
                else self.registry.get(owner, session_id)
            ),
            cancellable=False,
        )
        if managed.language not in (RuntimeType.PYTHON, RuntimeType.PYTHON_SCI):
            raise ToolError(
                f"install_package works for Python sessions only; session {managed.id} runs "
                "JavaScript. Use a Python session (leave session_id out for your default one)."
            )
        result = await self._in_thread(
            lambda: self.registry.install(managed, package), cancellable=False
        )
        return PackageInstalled(
            session_id=managed.id,
            requested=result.requested,
            installed=[
                InstalledDistribution(
                    name=p.name,
                    version=p.version,
                    installed_bytes=p.installed_bytes,
                    files=p.files,
                    required_by=p.required_by,
                )
                for p in result.installed
            ],
            already_satisfied=result.already_satisfied,
            target=result.target,
            total_bytes=result.total_bytes,
            compile_failures=result.compile_failures,
            summary=result.summary(),
        )

    # ---- Helpers

    def _session(self, ctx: Context, session_id: str | None) -> ManagedSession:
        owner = self.owner(ctx)
        return self._call(lambda: self.registry.resolve(owner, session_id, None))

    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn``, turning refusals of the core into tool errors with their message."""
        try:
            return fn()
        except ToolError:
            raise
        except (ClientError, SandboxError, ValueError, TypeError) as exc:
            raise ToolError(str(exc)) from None

    async def _in_thread(self, fn: Callable[[], T], *, cancellable: bool) -> T:
        return await anyio.to_thread.run_sync(
            lambda: self._call(fn), abandon_on_cancel=cancellable, limiter=self._limiter
        )

    def _policy_for(self, limits: ExecutionLimits | None) -> ExecutionPolicy:
        if limits is None:
            return self.policy
        changes: dict[str, Any] = {}
        maximum = self.policy.model_dump()
        for name, value in limits.model_dump(exclude_none=True).items():
            if value > maximum[name]:
                raise ToolError(
                    f"limits.{name}={value:,} is above this server's maximum of "
                    f"{maximum[name]:,}. Ask for at most that (list_runtimes shows the "
                    "maximums), or start the server with a larger --policy."
                )
            changes[name] = value
        try:
            return self.policy.with_updates(**changes)
        except PolicyError as exc:
            raise ToolError(f"limits: {exc}") from None

    def _limits_info(self) -> LimitsInfo:
        p = self.policy
        return LimitsInfo(
            fuel_budget=p.fuel_budget,
            timeout_seconds=p.timeout_seconds,
            memory_bytes=p.memory_bytes,
            stdout_max_bytes=p.stdout_max_bytes,
            stderr_max_bytes=p.stderr_max_bytes,
            workspace_max_bytes=p.workspace_max_bytes,
            max_code_bytes=self.settings.max_code_bytes,
            max_file_bytes=self.settings.max_file_bytes,
            max_image_bytes=self.settings.max_image_bytes,
        )


#: What to do when `code` is a Markdown answer that can't run (see choose_code).
_ANSWER_HINTS = {
    "": "",
    "empty": "Send the program to run in `code`.",
    "no_code": "Send Python or JavaScript code in `code`.",
    "mixed": "Pass language='python', 'python-sci' or 'javascript' to run that language's "
    "blocks, or send one language's code.",
    "wrong_language": "Send code in that language, or leave `language` out (and use a "
    "session of the answer's language) to run the answer's code.",
}

_DESCRIPTIONS = {
    RuntimeType.PYTHON: "CPython compiled to WebAssembly (WASI); standard library and vendored "
    "pure-Python packages. Starts fastest.",
    RuntimeType.JAVASCRIPT: "QuickJS-NG: ES2023 JavaScript with the qjs:std and qjs:os modules.",
    RuntimeType.PYTHON_SCI: "CPython 3.15 compiled to WebAssembly with numpy, pandas, scipy, "
    "scikit-learn, statsmodels, matplotlib, seaborn and lxml built in, plus openpyxl, "
    "tabulate, sympy, networkx, pytz and other pure-Python packages; install_package adds "
    "more to a session. Figures drawn with matplotlib come back as PNG image content. "
    "Chosen automatically when Python code imports them.",
}


def _auto_runtime(language: RuntimeType | None, code: str) -> RuntimeType | None:
    """The runtime for a call that names neither language nor session.

    Data code (Python importing numpy, pandas, matplotlib ...) goes to
    python-sci. Plain code (no Markdown fences) has no language of its own
    (``choose_code`` leaves it None), so the scan guesses it; anything else keeps
    ``language``, where None means the client's last default session.
    """
    guess = auto_runtime(language or detect_language(code) or RuntimeType.PYTHON, code)
    return RuntimeType.PYTHON_SCI if guess is RuntimeType.PYTHON_SCI else language


def _language(runtime: RuntimeType) -> Language:
    return runtime.value


def _result_text(model: ExecuteResult, max_image_bytes: int) -> str:
    """The text content of an execute_code result: summary, then the output."""
    parts = [model.summary]
    if model.figures or model.figures_truncated:
        parts.append(_figures_text(model, max_image_bytes))
    if model.code_note:
        parts.insert(0, model.code_note)
    if model.display_value is not None:
        parts.append(f"--- value ---\n{model.display_value[:TEXT_OUTPUT_CHARS]}")
    for name in ("stdout", "stderr"):
        text: str = getattr(model, name)
        if text:
            if len(text) > TEXT_OUTPUT_CHARS:
                text = text[:TEXT_OUTPUT_CHARS] + f"\n... ({len(text):,} characters in all)"
            parts.append(f"--- {name} ---\n{text}")
    if model.error_guidance is not None and len(model.error_guidance.fixes) > 1:
        parts.append("More fixes:\n" + "\n".join(f"- {f}" for f in model.error_guidance.fixes[1:]))
    return "\n".join(parts)


def _figures_text(model: ExecuteResult, max_image_bytes: int) -> str:
    """One line on the run's figures: how many, and which are images in this result."""
    drawn = len(model.figures)
    sent = sum(1 for figure in model.figures if figure.in_content)
    if not drawn:
        return "The run's figures were left out: the per-figure or per-run size cap was reached."
    line = f"The run drew {drawn} figure{'s' if drawn != 1 else ''}"
    if sent == drawn:
        line += " (PNG images after this text)."
    elif sent:
        which = "figure 1 is a PNG image" if sent == 1 else f"figures 1-{sent} are PNG images"
        line += (
            f"; {which} after this text, the others would pass this server's cap of "
            f"{max_image_bytes:,} bytes of images per result."
        )
    else:
        line += f": too large to send as images (this server's cap is {max_image_bytes:,} bytes)."
    if model.figures_truncated:
        line += " More were left out: the per-run figure cap was reached."
    return line


def build_server(
    settings: McpSettings, registry: SessionRegistry, transport: Transport
) -> MCPServer[Any]:
    """An MCP server exposing the workbench tools over ``registry``.

    The server's lifespan ends idle sessions every few seconds and, when the
    server stops, ends every session it created.
    """
    tools = WorkbenchTools(settings, registry, transport)

    @contextlib.asynccontextmanager
    async def lifespan(_server: MCPServer[Any]) -> AsyncIterator[dict[str, Any]]:
        async with anyio.create_task_group() as group:
            group.start_soon(_expire_loop, registry)
            try:
                yield {}
            finally:
                group.cancel_scope.cancel()
        await anyio.to_thread.run_sync(registry.close_all)

    server: MCPServer[Any] = MCPServer(
        "wasm-workbench",
        title="WASM Workbench",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        log_level="WARNING",
    )
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    changes = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
    destroys = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)
    server.add_tool(tools.execute_code, name="execute_code", annotations=changes)
    server.add_tool(tools.list_runtimes, name="list_runtimes", annotations=read_only)
    server.add_tool(tools.create_session, name="create_session", annotations=changes)
    server.add_tool(tools.destroy_session, name="destroy_session", annotations=destroys)
    server.add_tool(tools.get_workspace_info, name="get_workspace_info", annotations=read_only)
    server.add_tool(tools.reset_workspace, name="reset_workspace", annotations=destroys)
    server.add_tool(tools.list_files, name="list_files", annotations=read_only)
    server.add_tool(tools.read_file, name="read_file", annotations=read_only)
    server.add_tool(tools.write_file, name="write_file", annotations=changes)
    fetches = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)
    server.add_tool(tools.install_package, name="install_package", annotations=fetches)
    return server


async def _expire_loop(registry: SessionRegistry) -> None:
    period = min(5.0, max(0.2, registry.idle_timeout_seconds / 4))
    while True:
        await anyio.sleep(period)
        try:
            await anyio.to_thread.run_sync(registry.expire_idle)
        except Exception:  # keep expiring whatever one session did
            log.exception("expiring idle MCP sessions failed")
