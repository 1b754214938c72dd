"""The MCP server over stdio: one client, the process that started us."""

from __future__ import annotations

import anyio

from ._config import McpSettings
from ._http import registry_for
from ._server import build_server

__all__ = ["run_stdio"]


def run_stdio(settings: McpSettings) -> None:
    """Serve one client on stdin/stdout until it closes stdin.

    Standard output carries only protocol messages; diagnostics go to stderr.
    The client's sessions end with the connection (their workspaces are deleted
    unless ``settings.keep_workspaces``).
    """
    registry = registry_for(settings)
    server = build_server(settings, registry, "stdio")
    try:
        anyio.run(server.run_stdio_async)
    finally:
        registry.close_all()
