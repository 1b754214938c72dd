"""The MCP server over streamable HTTP on loopback, driven by the SDK's client.

Each test starts a real uvicorn server on an ephemeral port of 127.0.0.1.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.shared.exceptions import MCPError
from mcp_helpers import TOKEN, check_bad_input, connect, error_text, exercise_every_tool, ok

from workbench.mcp import HttpServer, McpSettings
from workbench.sandbox import ExecutionPolicy, TrapKind

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def raw_post(
    url: str, body: Any = INITIALIZE, token: str | None = TOKEN, **headers: str
) -> httpx2.Response:
    sent = dict(HEADERS, **headers)
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with httpx2.AsyncClient(timeout=60) as http:
        if isinstance(body, bytes):
            return await http.post(url, content=body, headers=sent)
        return await http.post(url, json=body, headers=sent)


async def test_every_tool_over_http(http_server: HttpServer) -> None:
    async with connect(http_server.url) as client:
        assert client.protocol_version.startswith("2025")  # the session era
        await exercise_every_tool(client)
        await check_bad_input(client)


async def test_execute_code_can_return_a_fuel_profile(http_server: HttpServer) -> None:
    code = "def f(n):\n    return n + 1\n\nfor i in range(20):\n    f(i)\n"
    async with connect(http_server.url) as client:
        data = ok(await client.call_tool("execute_code", {"code": code, "profile": True}))
        plain = ok(await client.call_tool("execute_code", {"code": "print(1)"}))
    assert data["success"] and data["profile"]["detail"] == "line"
    functions = {f["name"]: f for f in data["profile"]["functions"]}
    assert functions["f"]["calls"] == 20
    assert {line["line"] for line in data["profile"]["lines"]} >= {2, 4, 5}
    assert plain["profile"] is None


async def test_clients_never_see_each_others_sessions(http_server: HttpServer) -> None:
    async with connect(http_server.url) as alice, connect(http_server.url) as bob:
        mine = ok(await alice.call_tool("create_session", {"language": "python"}))["session_id"]
        ok(
            await alice.call_tool(
                "write_file", {"session_id": mine, "path": "s.txt", "content": "x"}
            )
        )
        a_default = ok(await alice.call_tool("execute_code", {"code": "secret = 1"}))
        for name, arguments in [
            ("execute_code", {"code": "print(1)", "session_id": mine}),
            ("read_file", {"session_id": mine, "path": "s.txt"}),
            ("write_file", {"session_id": mine, "path": "t.txt", "content": "y"}),
            ("list_files", {"session_id": mine}),
            ("get_workspace_info", {"session_id": mine}),
            ("reset_workspace", {"session_id": mine}),
            ("destroy_session", {"session_id": mine}),
            ("execute_code", {"code": "print(1)", "session_id": a_default["session_id"]}),
        ]:
            message = error_text(await bob.call_tool(name, arguments))
            assert "no session" in message, (name, message)
        # Bob's default session is his own: Alice's variable isn't there.
        b_default = ok(await bob.call_tool("execute_code", {"code": "print(secret)"}))
        assert b_default["session_id"] != a_default["session_id"]
        assert b_default["error_guidance"]["error_type"] == "NameError"
        # Alice's session is untouched.
        assert (
            ok(await alice.call_tool("read_file", {"session_id": mine, "path": "s.txt"}))["content"]
            == "x"
        )
        owners = {managed.owner for managed in http_server.registry.sessions()}
        assert len(owners) == 2


async def test_sessions_end_when_the_client_disconnects(http_server: HttpServer) -> None:
    async with connect(http_server.url) as client:
        sid = ok(await client.call_tool("create_session", {}))["session_id"]
        workspace = http_server.registry.find(sid).workspace  # type: ignore[union-attr]
        assert workspace.is_dir()
    # The SDK client ends its MCP session with DELETE on exit.
    assert http_server.registry.find(sid) is None
    assert not workspace.exists()


async def test_bearer_token_is_required(http_server: HttpServer) -> None:
    for token in (None, "wrong-token-" + "y" * 20, TOKEN + "x", TOKEN[:-1], "Bearer"):
        response = await raw_post(http_server.url, token=token)
        assert response.status_code == 401, token
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "bearer token" in response.json()["error"]["message"]
    response = await raw_post(http_server.url, Authorization=f"Basic {TOKEN}", token=None)
    assert response.status_code == 401
    assert (await raw_post(http_server.url)).status_code == 200
    with pytest.raises(Exception) as caught:
        async with connect(http_server.url, token=None):
            pass
    assert "bearer token" in repr(caught.value)  # the SDK client reports our 401 message
    # Still serving the client with the token.
    async with connect(http_server.url) as client:
        ok(await client.call_tool("list_runtimes", {}))


def test_no_token_beyond_loopback_refuses_to_start(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "192.0.2.10", "::", "example.invalid"):
        with pytest.raises(ValueError, match="without a bearer token"):
            HttpServer(McpSettings(host=host, workspace_root=tmp_path))
    HttpServer(McpSettings(host="127.0.0.1", workspace_root=tmp_path))  # loopback: allowed
    with pytest.raises(ValueError, match="at least 16"):
        McpSettings(token="short")


async def test_loopback_without_token(make_http_server: Any) -> None:
    server = make_http_server(token=None)
    async with connect(server.url, token=None) as client:
        ok(await client.call_tool("list_runtimes", {}))


async def test_rate_limit_per_client(make_http_server: Any) -> None:
    server = make_http_server(rate_limit_per_minute=1, rate_limit_burst=3)
    statuses = [(await raw_post(server.url)).status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3:] == [429, 429]
    limited = await raw_post(server.url)
    assert int(limited.headers["retry-after"]) >= 1
    assert "Too many requests" in limited.json()["error"]["message"]


async def test_request_size_cap(make_http_server: Any) -> None:
    server = make_http_server(max_request_bytes=4096, max_code_bytes=1000)
    big = dict(INITIALIZE, params=dict(INITIALIZE["params"], padding="x" * 10_000))  # type: ignore[arg-type]
    assert (await raw_post(server.url, big)).status_code == 413
    async with connect(server.url) as client:
        message = error_text(await client.call_tool("execute_code", {"code": "#" * 2000}))
        assert "at most 1,000 bytes" in message
        with pytest.raises(MCPError):  # over the request cap: refused before any tool runs
            await client.call_tool("write_file", {"path": "x", "content": "x" * 8000})
        ok(await client.call_tool("execute_code", {"code": "print(1)"}))


async def test_file_size_cap(make_http_server: Any) -> None:
    server = make_http_server(max_file_bytes=1000)
    async with connect(server.url) as client:
        message = error_text(
            await client.call_tool("write_file", {"path": "x", "content": "y" * 2000})
        )
        assert "at most 1,000 bytes" in message
        ok(
            await client.call_tool(
                "execute_code", {"code": "open('/app/big', 'w').write('z' * 5000)"}
            )
        )
        message = error_text(await client.call_tool("read_file", {"path": "big"}))
        assert "big" in message


async def test_stateless_era_is_refused_with_advice(http_server: HttpServer) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {}}
    response = await raw_post(http_server.url, body, **{"MCP-Protocol-Version": "2026-07-28"})
    assert response.status_code == 400
    assert "initialize handshake" in response.json()["error"]["message"]


async def test_cors_origins(make_http_server: Any) -> None:
    server = make_http_server(cors_origins=["http://localhost:5173"])
    async with httpx2.AsyncClient() as http:
        preflight = {
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, mcp-session-id",
        }
        allowed = await http.options(server.url, headers=preflight)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
        refused = await http.options(
            server.url, headers=dict(preflight, Origin="http://evil.example")
        )
        assert "access-control-allow-origin" not in refused.headers
    other_origin = await raw_post(server.url, Origin="http://evil.example")
    assert other_origin.status_code == 403  # the SDK's Origin check (DNS rebinding)
    good_origin = await raw_post(server.url, Origin="http://localhost:5173")
    assert good_origin.status_code == 200
    assert good_origin.headers["access-control-allow-origin"] == "http://localhost:5173"


async def test_idle_sessions_expire(make_http_server: Any) -> None:
    server = make_http_server(idle_timeout_seconds=1.0)
    async with connect(server.url) as client:
        sid = ok(await client.call_tool("create_session", {}))["session_id"]
        workspace = server.registry.find(sid).workspace
        assert workspace.is_dir()
        deadline = time.monotonic() + 60
        # The session leaves the registry first, then its workspace is deleted.
        while (
            server.registry.find(sid) is not None or workspace.exists()
        ) and time.monotonic() < deadline:
            await anyio.sleep(0.1)
        assert server.registry.find(sid) is None
        assert not workspace.exists()
    message = "no session"
    async with connect(server.url) as client:
        assert message in error_text(
            await client.call_tool("execute_code", {"code": "1", "session_id": sid})
        )


async def test_a_cancelled_request_stops_its_run(http_server: HttpServer) -> None:
    registry = http_server.registry
    async with connect(http_server.url) as client:
        sid = ok(await client.call_tool("create_session", {}))["session_id"]
        managed = registry.find(sid)
        assert managed is not None
        with anyio.move_on_after(120) as scope:
            async with anyio.create_task_group() as group:

                async def run_forever() -> None:
                    await client.call_tool(
                        "execute_code", {"code": "while True:\n    pass", "session_id": sid}
                    )

                group.start_soon(run_forever)
                while managed.current is None:
                    await anyio.sleep(0.05)
                group.cancel_scope.cancel()  # the client cancels the request
        assert not scope.cancelled_caught
        deadline = time.monotonic() + 60
        while not managed.calls and time.monotonic() < deadline:
            await anyio.sleep(0.05)
        record = managed.calls[-1]
        assert record.result is not None and record.result.trap_kind is TrapKind.CANCELLED
        # The session serves the next call.
        after = ok(await client.call_tool("execute_code", {"code": "print(2)", "session_id": sid}))
        assert after["stdout"] == "2\n"


async def test_a_long_run_does_not_block_other_clients(http_server: HttpServer) -> None:
    registry = http_server.registry
    async with connect(http_server.url) as slow, connect(http_server.url) as quick:
        sid = ok(await slow.call_tool("create_session", {}))["session_id"]
        managed = registry.find(sid)
        assert managed is not None
        finished: list[str] = []
        async with anyio.create_task_group() as group:

            async def long_run() -> None:
                result = ok(
                    await slow.call_tool(
                        "execute_code",
                        {
                            "code": "import time\ntime.sleep(60)",
                            "session_id": sid,
                            "limits": {"timeout_seconds": 30},
                        },
                    )
                )
                finished.append(result["trap_kind"])

            group.start_soon(long_run)
            while managed.current is None:
                await anyio.sleep(0.05)
            for _ in range(3):
                ok(await quick.call_tool("execute_code", {"code": "print(3)"}))
                ok(await quick.call_tool("list_runtimes", {}))
            # The other client was served while the long run was still running.
            assert managed.current is not None and not finished
            registry.cancel(managed)  # the workbench's Stop
        assert finished == ["cancelled"]


async def test_stopping_with_a_connected_client_is_clean(
    make_http_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = make_http_server()
    caplog.set_level(logging.WARNING)
    with contextlib.suppress(Exception):  # the client's own goodbye finds no server
        async with connect(server.url) as client:
            ok(await client.call_tool("execute_code", {"code": "print(1)"}))
            await anyio.sleep(0.5)  # its GET stream is open now
            await anyio.to_thread.run_sync(server.stop)
            assert not server.running
    assert server.registry.sessions() == []
    noisy = [
        r for r in caplog.records if r.name.startswith("uvicorn") and r.levelno >= logging.ERROR
    ]
    assert noisy == [], [r.getMessage() for r in noisy]


async def test_data_code_goes_to_python_sci_and_returns_its_figures_as_images(
    sci_engine: Any, make_http_server: Any
) -> None:
    # Plain code (no Markdown fence, no language, no session): the import decides.
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nprint('drawn')"
    policy = ExecutionPolicy().with_updates(fuel_budget=60_000_000_000, timeout_seconds=300)
    server = make_http_server(policy=policy)
    async with connect(server.url) as client:
        runtimes = ok(await client.call_tool("list_runtimes", {}))
        assert "python-sci" in [item["language"] for item in runtimes["runtimes"]]
        assert runtimes["limits"]["max_image_bytes"] == 4 * 1024 * 1024
        called = await client.call_tool("execute_code", {"code": code})
        result = ok(called)
        assert result["runtime"] == "python-sci", result
        assert result["stdout"] == "drawn\n"
        assert [(f["index"], f["mime_type"]) for f in result["figures"]] == [(1, "image/png")]
        assert result["figures"][0]["in_content"]
        # The image itself: image content after the text, a PNG of the described size.
        text, image = called.content
        assert text.type == "text" and "drew 1 figure (PNG images after this text)" in text.text
        assert image.type == "image" and image.mime_type == "image/png"
        png = base64.b64decode(image.data, validate=True)
        assert (
            png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) == result["figures"][0]["size_bytes"]
        )
        assert int.from_bytes(png[16:20], "big") == result["figures"][0]["width"]


async def test_figures_past_the_image_cap_are_described_not_sent(
    sci_engine: Any, make_http_server: Any
) -> None:
    code = (
        "import matplotlib.pyplot as plt\n"
        "for n in range(3):\n"
        "    plt.figure()\n"
        "    plt.plot(range(n + 2))\n"
        "    plt.show()\n"
    )
    policy = ExecutionPolicy().with_updates(fuel_budget=60_000_000_000, timeout_seconds=300)
    # No image at all under a zero cap; the figures' sizes still come back. (Each
    # call is a python-sci run importing matplotlib: seconds of wasm, so the
    # sizes for the second cap come from this run, not from one more.)
    none = make_http_server(policy=policy, max_image_bytes=0)
    async with connect(none.url) as client:
        called = await client.call_tool("execute_code", {"code": code})
    assert [item.type for item in called.content] == ["text"]
    assert not any(f["in_content"] for f in ok(called)["figures"])
    assert "too large to send as images" in called.content[0].text  # type: ignore[union-attr]
    sizes = [f["size_bytes"] for f in ok(called)["figures"]]
    assert len(sizes) == 3 and all(size > 0 for size in sizes)
    # A cap that holds the first figure only.
    capped = make_http_server(policy=policy, max_image_bytes=sizes[0] + sizes[1] - 1)
    async with connect(capped.url) as client:
        called = await client.call_tool("execute_code", {"code": code})
    assert [f["in_content"] for f in ok(called)["figures"]] == [True, False, False]
    assert [item.type for item in called.content] == ["text", "image"]
    assert "figure 1 is a PNG image after this text" in called.content[0].text  # type: ignore[union-attr]


def test_the_text_says_which_figures_are_images() -> None:
    from workbench.mcp._models import ExecuteResult, figures_in_content
    from workbench.mcp._server import _result_text
    from workbench.sandbox import Figure, RuntimeType, SandboxResult

    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 92  # 100 bytes; the text never decodes it
    figures = [Figure(index=i, data=png, width=10, height=10) for i in (1, 2, 3)]

    def text(cap: int, *, figures: list[Figure] = figures, truncated: bool = False) -> str:
        result = SandboxResult(
            execution_id="x",
            success=True,
            runtime=RuntimeType.PYTHON_SCI,
            figures=figures,
            figures_truncated=truncated,
        )
        sent = figures_in_content(result, cap)
        model = ExecuteResult.from_result(result, cap)
        assert [f.in_content for f in model.figures] == [f in sent for f in figures]
        return _result_text(model, cap)

    assert "drew 3 figures (PNG images after this text)." in text(300)
    assert "figures 1-2 are PNG images after this text" in text(299)
    assert "cap of 150 bytes" in text(150) and "figure 1 is a PNG image" in text(150)
    assert "too large to send as images" in text(0)
    assert "per-run figure cap" in text(300, truncated=True)
    assert "figures were left out" in text(300, figures=[], truncated=True)
    assert "figure" not in text(300, figures=[])
