"""MCP test set-up: real servers (stdio subprocess, HTTP on loopback), the SDK's client.

``make_http_server`` runs :class:`workbench.mcp.HttpServer` (uvicorn on its own
thread, an ephemeral port on 127.0.0.1) with the test bearer token; tests open
official ``mcp.Client`` connections with ``mcp_helpers.connect``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp_helpers import TOKEN

from workbench.mcp import HttpServer, McpSettings
from workbench.sandbox import SandboxEngine


@pytest.fixture
def make_http_server(engine: SandboxEngine, workspace_root: Path) -> Iterator[Any]:
    """Start HTTP servers with given settings; all are stopped after the test."""
    servers: list[HttpServer] = []

    def make(**overrides: Any) -> HttpServer:
        values: dict[str, Any] = {"port": 0, "token": TOKEN, "workspace_root": workspace_root}
        values.update(overrides)
        server = HttpServer(McpSettings(**values))
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def http_server(make_http_server: Any) -> HttpServer:
    """One HTTP server with default caps and the test token."""
    server: HttpServer = make_http_server()
    return server
