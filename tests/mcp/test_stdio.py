"""The MCP server over stdio, started by the SDK's client as ``python -m workbench mcp``."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import stdio_client
from mcp_helpers import check_bad_input, exercise_every_tool, stdio_parameters

from workbench.sandbox import SandboxEngine

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_every_tool_over_stdio(
    engine: SandboxEngine, workspace_root: Path, tmp_path: Path
) -> None:
    errlog = tmp_path / "stderr.txt"
    params = stdio_parameters("--workspace-root", str(workspace_root))
    with errlog.open("w", encoding="utf-8") as err:
        async with Client(stdio_client(params, errlog=err)) as client:
            ids = await exercise_every_tool(client)
            await check_bad_input(client)
            # Sessions live in the given root while the client is connected.
            assert (workspace_root / ids["default"]).is_dir()
            assert not (workspace_root / ids["destroyed"]).exists()
    stderr = errlog.read_text(encoding="utf-8")
    assert "panicked" not in stderr and "Traceback" not in stderr, stderr
    # The connection ended: its sessions ended with it, workspaces deleted.
    assert not (workspace_root / ids["default"]).exists()


async def test_stdio_keep_workspaces(engine: SandboxEngine, workspace_root: Path) -> None:
    params = stdio_parameters("--workspace-root", str(workspace_root), "--keep-workspaces")
    async with Client(params) as client:
        result = await client.call_tool(
            "execute_code", {"code": "open('/app/kept.txt', 'w').write('yes')"}
        )
        session_id = result.structured_content["session_id"]  # type: ignore[index]
    assert (workspace_root / session_id / "workspace" / "kept.txt").read_text() == "yes"
