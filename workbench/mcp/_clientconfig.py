"""Ready-to-paste client configurations for the MCP server.

Usage::

    print(config_text(claude_desktop_config()))                  # stdio
    print(config_text(http_client_config(url, token)))          # any HTTP client
"""

from __future__ import annotations

import json
from typing import Any

from workbench.sandbox._resources import program_command

__all__ = [
    "SERVER_NAME",
    "claude_desktop_config",
    "claude_desktop_remote_config",
    "config_text",
    "http_client_config",
]

#: The key the configurations register the server under.
SERVER_NAME = "wasm-workbench"


def claude_desktop_config(
    *, policy: str | None = None, python: str | None = None
) -> dict[str, Any]:
    """Claude Desktop's ``claude_desktop_config.json``: it starts the server over stdio.

    ``python`` defaults to this interpreter, so the entry works from a virtual
    environment without ``wasm-workbench`` on PATH; from the desktop bundle the
    command is the bundle's executable.
    """
    if python:
        command, args = python, ["-m", "workbench", "mcp"]
    else:
        command, *args = program_command()
        args.append("mcp")
    if policy:
        args += ["--policy", policy]
    return {"mcpServers": {SERVER_NAME: {"command": command, "args": args}}}


def claude_desktop_remote_config(url: str, token: str | None) -> dict[str, Any]:
    """Claude Desktop connected to a running HTTP server (the workbench's) via ``mcp-remote``.

    Claude Desktop's JSON file only starts stdio servers; the ``mcp-remote``
    bridge (an npm package) relays to the HTTP server, so the workbench sees
    and can stop what the agent runs.
    """
    args = ["-y", "mcp-remote", url]
    if token:
        args += ["--header", f"Authorization:Bearer {token}"]
    return {"mcpServers": {SERVER_NAME: {"command": "npx", "args": args}}}


def http_client_config(url: str, token: str | None) -> dict[str, Any]:
    """The common ``mcpServers`` entry of clients that speak streamable HTTP themselves."""
    entry: dict[str, Any] = {"type": "http", "url": url}
    if token:
        entry["headers"] = {"Authorization": f"Bearer {token}"}
    return {"mcpServers": {SERVER_NAME: entry}}


def config_text(config: dict[str, Any]) -> str:
    """The configuration as the JSON a user pastes."""
    return json.dumps(config, indent=2) + "\n"
