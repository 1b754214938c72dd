"""Helpers shared by the MCP tests (imported by name: tests/ has no packages)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

TOKEN = "test-token-" + "x" * 24


@contextlib.asynccontextmanager
async def connect(url: str, token: str | None = TOKEN) -> AsyncIterator[Client]:
    """An SDK client on ``url`` sending ``token`` (None: no Authorization header)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(120, read=300)) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


def stdio_parameters(*args: str) -> StdioServerParameters:
    """``python -m workbench mcp *args`` as the SDK's stdio client starts it."""
    return StdioServerParameters(
        command=sys.executable, args=["-m", "workbench", "mcp", *args], env=dict(os.environ)
    )


def error_text(result: CallToolResult) -> str:
    """The message of an error result (fails if the call succeeded)."""
    assert result.is_error, result.structured_content
    text = result.content[0].text  # type: ignore[union-attr]
    assert isinstance(text, str)
    return text


def ok(result: CallToolResult) -> dict[str, Any]:
    """The structured content of a successful result (fails on an error)."""
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


TOOLS = {
    "execute_code",
    "list_runtimes",
    "create_session",
    "destroy_session",
    "get_workspace_info",
    "reset_workspace",
    "list_files",
    "read_file",
    "write_file",
    "install_package",
}


async def exercise_every_tool(client: Client) -> dict[str, Any]:
    """Call every tool the way an agent would; returns ids seen along the way."""
    listed = await client.list_tools()
    assert {tool.name for tool in listed.tools} == TOOLS
    for tool in listed.tools:
        assert tool.output_schema is not None, tool.name  # structured output everywhere
        assert tool.description, tool.name

    runtimes = ok(await client.call_tool("list_runtimes", {}))
    assert {r["language"] for r in runtimes["runtimes"]} == {"python", "javascript", "python-sci"}
    assert runtimes["limits"]["fuel_budget"] > 0

    # The default session: created on first use, state kept between calls.
    first = ok(await client.call_tool("execute_code", {"code": "x = 20\nprint('set')"}))
    assert first["success"] and first["stdout"] == "set\n"
    second = await client.call_tool("execute_code", {"code": "print(x + 1)"})
    data = ok(second)
    assert data["stdout"] == "21\n" and data["session_id"] == first["session_id"]
    assert data["fuel_analysis"]["status"] in ("efficient", "moderate")
    assert "succeeded" in data["summary"]
    text = second.content[0].text  # type: ignore[union-attr]
    assert "succeeded" in text and "21" in text  # for clients that only read text
    default_id = data["session_id"]

    # REPL-style: the trailing expression's value.
    value = await client.call_tool("execute_code", {"code": "x * 3", "interactive": True})
    assert ok(value)["display_value"] == "60"
    assert "--- value ---\n60" in value.content[0].text  # type: ignore[union-attr]

    # A failure carries error guidance.
    failed = ok(await client.call_tool("execute_code", {"code": "print(undefined_name)"}))
    assert not failed["success"]
    assert failed["error_guidance"]["error_type"] == "NameError"
    assert failed["fuel_analysis"] is not None

    # A limit: the call asks for less fuel than the server allows.
    spent = ok(
        await client.call_tool(
            "execute_code",
            {"code": "while True:\n    pass", "limits": {"fuel_budget": 5_000_000}},
        )
    )
    assert spent["trap_kind"] == "out_of_fuel" and spent["fuel_budget"] == 5_000_000
    assert spent["error_guidance"]["error_type"] == "OutOfFuel"

    # An explicit JavaScript session with auto-persisted globals.
    created = ok(
        await client.call_tool(
            "create_session", {"language": "javascript", "auto_persist_globals": True}
        )
    )
    js_id = created["session_id"]
    assert created["language"] == "javascript" and created["auto_persist_globals"]
    assert js_id != default_id
    js = ok(
        await client.call_tool(
            "execute_code", {"code": "var n = 2; console.log(n * 21)", "session_id": js_id}
        )
    )
    assert js["stdout"] == "42\n" and js["runtime"] == "javascript"

    # Files: write, list, read (text and binary), info, reset.
    written = ok(
        await client.call_tool(
            "write_file", {"session_id": js_id, "path": "data/in.txt", "content": "hello"}
        )
    )
    assert written["bytes_written"] == 5
    ok(
        await client.call_tool(
            "write_file",
            {"session_id": js_id, "path": "/app/blob.bin", "content": "AAH/", "encoding": "base64"},
        )
    )
    listing = ok(await client.call_tool("list_files", {"session_id": js_id}))
    paths = {entry["path"] for entry in listing["files"]}
    assert {"data", "data/in.txt", "blob.bin"} <= paths
    only_txt = ok(
        await client.call_tool("list_files", {"session_id": js_id, "pattern": "**/*.txt"})
    )
    assert [entry["path"] for entry in only_txt["files"]] == ["data/in.txt"]
    read = ok(await client.call_tool("read_file", {"session_id": js_id, "path": "data/in.txt"}))
    assert read["content"] == "hello" and read["encoding"] == "utf-8"
    blob = ok(await client.call_tool("read_file", {"session_id": js_id, "path": "blob.bin"}))
    assert blob["encoding"] == "base64" and blob["content"] == "AAH/" and blob["size"] == 3
    from_guest = ok(
        await client.call_tool(
            "execute_code",
            {
                "code": "console.log(std.loadFile('/app/data/in.txt'))",
                "session_id": js_id,
            },
        )
    )
    assert from_guest["stdout"] == "hello\n"
    info = ok(await client.call_tool("get_workspace_info", {"session_id": js_id}))
    assert info["language"] == "javascript" and info["turns"] == 2
    assert info["file_count"] >= 3 and info["bytes_used"] >= 8 and not info["running"]
    reset = ok(await client.call_tool("reset_workspace", {"session_id": js_id}))
    assert reset["reset"]
    assert ok(await client.call_tool("list_files", {"session_id": js_id}))["files"] == []
    # The default session is what file tools use without an id.
    ok(await client.call_tool("write_file", {"path": "note.md", "content": "# hi"}))
    in_default = ok(
        await client.call_tool("execute_code", {"code": "print(open('/app/note.md').read())"})
    )
    assert in_default["stdout"] == "# hi\n"
    default_info = ok(await client.call_tool("get_workspace_info", {}))
    assert default_info["session_id"] == default_id and default_info["default_session"]

    # A pure-Python package from PyPI, into the default Python session.
    installed = ok(await client.call_tool("install_package", {"package": "humanize==4.9.0"}))
    assert installed["session_id"] == default_id
    assert [(p["name"], p["version"]) for p in installed["installed"]] == [("humanize", "4.9.0")]
    assert installed["target"] == "/app/site-packages" and "humanize 4.9.0" in installed["summary"]
    used = ok(
        await client.call_tool(
            "execute_code", {"code": "import humanize\nprint(humanize.naturalsize(3_000_000))"}
        )
    )
    assert used["stdout"] == "3.0 MB\n" and not used["state_lost"]
    refused = error_text(
        await client.call_tool("install_package", {"package": "humanize", "session_id": js_id})
    )
    assert "Python sessions only" in refused

    destroyed = ok(await client.call_tool("destroy_session", {"session_id": js_id}))
    assert destroyed["destroyed"]
    gone = error_text(await client.call_tool("execute_code", {"code": "1", "session_id": js_id}))
    assert "no session" in gone
    return {"default": default_id, "destroyed": js_id}


async def check_bad_input(client: Client) -> None:
    """Every kind of bad input gets an error result with a clear message."""
    cases: list[tuple[str, dict[str, Any], str]] = [
        (
            "execute_code",
            {"code": "print(1)", "language": "ruby"},
            "'python', 'javascript' or 'python-sci'",
        ),
        ("execute_code", {"code": 42}, "code"),
        ("execute_code", {"language": "python"}, "code"),
        ("execute_code", {"code": "   "}, "empty"),
        ("execute_code", {"code": "print(1)", "session_id": "../../etc"}, "no session"),
        ("execute_code", {"code": "print(1)", "session_id": "0" * 10_000}, "no session"),
        (
            "execute_code",
            {"code": "print(1)", "limits": {"fuel_budget": 10**13}},
            "above this server's maximum",
        ),
        (
            "execute_code",
            {"code": "print(1)", "limits": {"timeout_seconds": 10**6}},
            "above this server's maximum",
        ),
        ("execute_code", {"code": "print(1)", "limits": {"fuel_budget": "lots"}}, "fuel_budget"),
        ("execute_code", {"code": "print(1)", "limits": {"unknown": 1}}, "unknown"),
        ("create_session", {"language": "cobol"}, "'python', 'javascript' or 'python-sci'"),
        ("create_session", {"auto_persist_globals": "maybe"}, "auto_persist_globals"),
        ("destroy_session", {"session_id": "not-a-session"}, "no session"),
        ("destroy_session", {}, "session_id"),
        ("read_file", {"path": "../../../etc/passwd"}, ".."),
        ("read_file", {"path": "/etc/passwd"}, "/app"),
        ("read_file", {"path": "missing.txt"}, "missing.txt"),
        ("write_file", {"path": "../escape.txt", "content": "x"}, ".."),
        ("write_file", {"path": "C:\\evil.txt", "content": "x"}, "evil"),
        ("write_file", {"path": "x.bin", "content": "@@@", "encoding": "base64"}, "base64"),
        ("list_files", {"pattern": "../**"}, ".."),
        ("get_workspace_info", {"session_id": 12}, "session_id"),
        ("install_package", {"package": "https://example.invalid/x.whl"}, "https"),
        ("install_package", {"package": "-e ../evil"}, "evil"),
        ("install_package", {"package": "humanize", "session_id": "nope"}, "no session"),
        ("install_package", {"package": ["humanize"]}, "package"),
        ("install_package", {}, "package"),
        ("no_such_tool", {}, "no_such_tool"),
    ]
    for name, arguments, expected in cases:
        message = error_text(await client.call_tool(name, arguments))
        assert expected.lower() in message.lower(), (name, arguments, message)
        assert message.strip() != f"Error executing tool {name}", "an unexpected crash"
    # Still serving.
    assert ok(await client.call_tool("execute_code", {"code": "print('alive')"}))["stdout"] == (
        "alive\n"
    )
