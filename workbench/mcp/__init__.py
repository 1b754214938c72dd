"""The MCP server: AI clients run code in the sandbox through the Model Context Protocol.

Headless (no Qt; an import-linter contract enforces it). Built on the official
``mcp`` SDK. Two transports:

* stdio (:func:`run_stdio`): one client per process, as Claude Desktop starts it;
  that client's default session is created on first use.
* streamable HTTP (:class:`HttpServer`): many clients, each seeing only the
  sessions it created; bearer token (required beyond loopback), rate limit,
  request size cap, CORS origins and an idle timeout.

Usage::

    from workbench.mcp import HttpServer, McpSettings

    server = HttpServer(McpSettings(port=0))
    print(server.start())       # http://127.0.0.1:PORT/mcp
    server.stop()
"""

from __future__ import annotations

from ._clientconfig import (
    SERVER_NAME,
    claude_desktop_config,
    claude_desktop_remote_config,
    config_text,
    http_client_config,
)
from ._config import TOKEN_ENV, McpSettings, generate_token, is_loopback
from ._http import HttpServer, build_http_app, registry_for
from ._registry import (
    CallRecord,
    ClientError,
    EventKind,
    ManagedSession,
    RegistryEvent,
    SessionRegistry,
)
from ._server import STDIO_OWNER, build_server
from ._stdio import run_stdio

__all__ = [
    "SERVER_NAME",
    "STDIO_OWNER",
    "TOKEN_ENV",
    "CallRecord",
    "ClientError",
    "EventKind",
    "HttpServer",
    "ManagedSession",
    "McpSettings",
    "RegistryEvent",
    "SessionRegistry",
    "build_http_app",
    "build_server",
    "claude_desktop_config",
    "claude_desktop_remote_config",
    "config_text",
    "generate_token",
    "http_client_config",
    "is_loopback",
    "registry_for",
    "run_stdio",
]
