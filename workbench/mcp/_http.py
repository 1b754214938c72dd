"""The MCP server over streamable HTTP, with the guards a network listener needs.

Outermost first, every HTTP request passes:

1. CORS (only when origins are configured): preflights answered, other origins
   get no CORS headers, so browsers keep their pages out.
2. :class:`HttpGuard`: the bearer token (constant-time compare; 401 without it),
   a per-client token-bucket rate limit (429), the refusal of the stateless
   2026-07-28 protocol era (sessions are per MCP session, which that era does
   not have; SDK clients fall back to the handshake on their own), and, after a
   client's ``DELETE``, the end of that client's sandbox sessions.
3. The SDK's session manager: request body cap (413), DNS-rebinding protection
   on loopback (Host/Origin checks), one MCP session per client.

:class:`HttpServer` runs uvicorn on a thread of its own so the command line,
the workbench and the tests can start and stop it.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import uvicorn
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware

from ._config import McpSettings, is_loopback
from ._registry import SessionRegistry
from ._server import build_server

__all__ = ["HttpGuard", "HttpServer", "build_http_app", "registry_for"]

log = logging.getLogger("workbench.mcp")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Rate-limit buckets unused this long are forgotten.
_BUCKET_TTL = 600.0


class _Buckets:
    """Token buckets per client key: ``rate`` tokens a second, at most ``burst``."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._last_prune = time.monotonic()

    def take(self, key: str) -> float:
        """Take one token; 0 when allowed, else the seconds until one is free."""
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - stamp) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1 - tokens) / self.rate
            if now - self._last_prune > 60:
                self._last_prune = now
                for name, (_, used) in list(self._buckets.items()):
                    if now - used > _BUCKET_TTL:
                        del self._buckets[name]
            return wait


class HttpGuard:
    """ASGI middleware: bearer token, rate limit, era check, session clean-up."""

    def __init__(self, app: ASGIApp, settings: McpSettings, registry: SessionRegistry) -> None:
        self.app = app
        self.token = settings.token.encode("utf-8") if settings.token else None
        self.registry = registry
        self.buckets = _Buckets(settings.rate_limit_per_minute, settings.rate_limit_burst)
        self._closing: anyio.Event | None = None
        self._loop: anyio.lowlevel.EventLoopToken | None = None

    def close_streams(self) -> None:
        """Tell every open request its client went away (from any thread).

        Open SSE streams (a client's GET stream stays open for as long as it is
        connected) then end at once, so the server stops without waiting out
        its graceful-shutdown timeout.
        """
        closing, loop = self._closing, self._loop
        if closing is not None and loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                anyio.from_thread.run_sync(closing.set, token=loop)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and self._closing is None:
            self._closing = anyio.Event()
            self._loop = anyio.lowlevel.current_token()
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._closing is None:
            await self._guarded(scope, receive, send)
            return
        # While the server stops, requests whose streams were told to end may
        # return mid-response: finish those responses so clients see an end.
        state = {"started": False, "done": False}

        async def tracked(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                state["done"] = True
            await send(message)

        await self._guarded(scope, self._until_closing(receive), tracked)
        if self._closing.is_set() and not state["done"]:
            if state["started"]:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                await _reply(send, 503, "The server is stopping.")

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        if self.token is not None and not self._authorized(headers):
            await _reply(
                send,
                401,
                "Missing or wrong bearer token. Send the header 'Authorization: Bearer <token>' "
                "with the token the server was started with.",
                {"www-authenticate": 'Bearer realm="wasm-workbench"'},
            )
            return
        session_id = headers.get("mcp-session-id")
        client = scope.get("client")
        key = f"session:{session_id}" if session_id else f"address:{client[0] if client else '?'}"
        # A DELETE frees resources: never refuse it for speed.
        wait = 0.0 if scope.get("method") == "DELETE" else self.buckets.take(key)
        if wait > 0:
            await _reply(
                send,
                429,
                f"Too many requests from this client; retry in {wait:.1f} s.",
                {"retry-after": str(max(1, round(wait)))},
            )
            return
        version = headers.get("mcp-protocol-version")
        if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
            await _reply(
                send,
                400,
                f"Protocol version {version} has no sessions; this server keeps each client's "
                "sandbox sessions per MCP session. Connect with the initialize handshake "
                f"(versions {', '.join(HANDSHAKE_PROTOCOL_VERSIONS)}).",
            )
            return
        if scope.get("method") == "DELETE" and session_id:
            await self._delete(scope, receive, send, session_id)
            return
        await self.app(scope, receive, send)

    def _until_closing(self, receive: Receive) -> Receive:
        closing = self._closing
        if closing is None:
            return receive

        async def receive_or_disconnect() -> Message:
            if closing.is_set():
                return {"type": "http.disconnect"}
            got: list[Message] = []
            async with anyio.create_task_group() as group:

                async def read() -> None:
                    got.append(await receive())
                    group.cancel_scope.cancel()

                async def close() -> None:
                    await closing.wait()
                    got.append({"type": "http.disconnect"})
                    group.cancel_scope.cancel()

                group.start_soon(read)
                group.start_soon(close)
            return got[0]

        return receive_or_disconnect

    def _authorized(self, headers: Headers) -> bool:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or self.token is None:
            return False
        return hmac.compare_digest(value.strip().encode("utf-8"), self.token)

    async def _delete(self, scope: Scope, receive: Receive, send: Send, session_id: str) -> None:
        """Pass a DELETE on; when the SDK accepts it, end that client's sessions.

        The sessions end before the response goes out, so a client that saw its
        DELETE succeed never finds its sessions still there.
        """

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and int(message["status"]) < 400:
                await anyio.to_thread.run_sync(self.registry.end_owner, f"http:{session_id}")
            await send(message)

        await self.app(scope, receive, watch)


async def _reply(
    send: Send, status: int, message: str, headers: dict[str, str] | None = None
) -> None:
    body = json.dumps(
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}}
    ).encode("utf-8")
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
    ]
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def registry_for(settings: McpSettings) -> SessionRegistry:
    """A session registry with the limits of ``settings``."""
    return SessionRegistry(
        policy=settings.policy,
        workspace_root=settings.workspace_root,
        max_sessions_per_client=settings.max_sessions_per_client,
        max_sessions=settings.max_sessions,
        idle_timeout_seconds=settings.idle_timeout_seconds,
        keep_workspaces=settings.keep_workspaces,
    )


def _transport_security(settings: McpSettings) -> TransportSecuritySettings:
    if is_loopback(settings.host):
        return TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=[
                "http://127.0.0.1:*",
                "http://localhost:*",
                "http://[::1]:*",
                *settings.cors_origins,
            ],
        )
    # Beyond loopback the bearer token is what keeps pages and strangers out: the
    # host names the server is reached by aren't known here.
    return TransportSecuritySettings(enable_dns_rebinding_protection=False)


def build_http_app(settings: McpSettings, registry: SessionRegistry) -> ASGIApp:
    """The ASGI application: guards around the SDK's streamable HTTP app.

    Raises
    ------
    ValueError
        If the settings would expose the server beyond loopback without a token.
    """
    return _build(settings, registry)[0]


def _build(settings: McpSettings, registry: SessionRegistry) -> tuple[ASGIApp, HttpGuard]:
    settings.check_http()
    server = build_server(settings, registry, "http")
    inner = server.streamable_http_app(
        streamable_http_path=settings.path,
        max_request_body_size=settings.max_request_bytes,
        session_idle_timeout=settings.idle_timeout_seconds,
        max_sessions=settings.max_sessions,
        transport_security=_transport_security(settings),
        host=settings.host,
    )
    guard = HttpGuard(inner, settings, registry)
    app: ASGIApp = guard
    if settings.cors_origins:
        app = CORSMiddleware(
            app,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=[
                "authorization",
                "content-type",
                "mcp-session-id",
                "mcp-protocol-version",
                "last-event-id",
            ],
            expose_headers=["mcp-session-id"],
        )
    return app, guard


class HttpServer:
    """The HTTP MCP server on a background thread.

    Usage::

        server = HttpServer(McpSettings(port=0))
        url = server.start()          # http://127.0.0.1:54321/mcp
        ...
        server.stop()

    The registry outlives restarts, so a watcher (the workbench) can keep it.
    """

    def __init__(self, settings: McpSettings, registry: SessionRegistry | None = None) -> None:
        settings.check_http()
        self.settings = settings
        self.registry = registry or registry_for(settings)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._guard: HttpGuard | None = None
        self.port: int | None = None

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def url(self) -> str:
        """The endpoint clients connect to."""
        host = self.settings.host
        shown = f"[{host}]" if ":" in host else host
        if shown in ("0.0.0.0", "[::]"):
            shown = "127.0.0.1"
        return f"http://{shown}:{self.port or self.settings.port}{self.settings.path}"

    def start(self, timeout: float = 60.0) -> str:
        """Start serving; returns the URL once the socket listens.

        Raises
        ------
        RuntimeError
            If the server could not start (the port is taken, ...).
        """
        if self.running:
            return self.url
        app, self._guard = _build(self.settings, self.registry)
        config = uvicorn.Config(
            app,
            host=self.settings.host,
            port=self.settings.port,
            log_config=None,
            log_level="warning",
            access_log=False,
            ws="none",
            lifespan="on",
            timeout_graceful_shutdown=3,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._error = None

        def serve() -> None:
            try:
                server.run()
            except BaseException as exc:  # reported by start()
                self._error = exc

        thread = threading.Thread(target=serve, name="wasm-workbench-mcp-http", daemon=True)
        self._thread = thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                reason = self._error or "it did not start in time"
                raise RuntimeError(
                    f"The MCP server could not listen on {self.settings.host}:"
                    f"{self.settings.port} ({reason}). Choose another port or host."
                )
            time.sleep(0.02)
        sockets = [s for srv in server.servers for s in (srv.sockets or [])]
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self.url

    def stop(self, timeout: float = 15.0) -> None:
        """Stop serving and end the sessions the server created. Idempotent."""
        server, thread = self._server, self._thread
        if self._guard is not None:
            self._guard.close_streams()
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout)
        self._server = None
        self._thread = None
        self.registry.close_all()
