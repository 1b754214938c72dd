"""``wasm-workbench mcp`` as a real process: refusal without a token, a generated token."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp_helpers import connect, ok

from workbench.sandbox import SandboxEngine, ensure_vendor_bundle

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("WASM_WORKBENCH_MCP_TOKEN", None)
    return env


def test_refuses_to_listen_beyond_loopback_without_a_token() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", "mcp", "--transport", "http", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "without a bearer token" in proc.stderr and "WASM_WORKBENCH_MCP_TOKEN" in proc.stderr


def test_bad_settings_are_usage_errors() -> None:
    for args in (["--token", "short"], ["--cors-origin", "*"], ["--policy", "no-such-preset"]):
        proc = subprocess.run(
            [sys.executable, "-m", "workbench", "mcp", "--transport", "http", *args],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=120,
            check=False,
        )
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.startswith("wasm-workbench"), proc.stderr
        assert "Traceback" not in proc.stderr


def test_http_with_a_generated_token(engine: SandboxEngine, workspace_root: Path) -> None:
    ensure_vendor_bundle()  # the server would build it first, inside the timeouts below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workbench",
            "mcp",
            "--transport",
            "http",
            "--port",
            "0",
            "--generate-token",
            "--workspace-root",
            str(workspace_root),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stderr is not None
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any("bearer token:" in x for x in lines):
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
        text = "".join(lines)
        url = re.search(r"listening on (http://\S+)", text)
        token = re.search(r"bearer token: (\S+)", text)
        assert url and token, text

        async def use() -> None:
            async with connect(url.group(1), token=token.group(1)) as client:
                ok(await client.call_tool("execute_code", {"code": "print(5)"}))
            with pytest.raises(Exception) as refused:
                async with connect(url.group(1), token=None):
                    pass
            assert "bearer token" in repr(refused.value)

        anyio.run(use)
    finally:
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert "panicked" not in rest and "Traceback" not in rest, rest
    assert list(workspace_root.iterdir()) == []  # sessions ended with the server


def test_max_image_bytes_is_a_command_line_setting(
    sci_engine: SandboxEngine, workspace_root: Path
) -> None:
    from mcp import Client
    from mcp_helpers import stdio_parameters

    for bad in ("lots", "100MiB"):  # not a size; above McpSettings' 64 MiB
        proc = subprocess.run(
            [sys.executable, "-m", "workbench", "mcp", "--max-image-bytes", bad],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=120,
            check=False,
        )
        assert proc.returncode == 2, (bad, proc.stderr)
        assert "max" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr

    params = stdio_parameters(
        "--workspace-root",
        str(workspace_root),
        "--max-image-bytes",
        "0",
        "--set",
        "fuel_budget=60e9",
        "--set",
        "timeout_seconds=300",
    )
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\n"

    async def use() -> None:
        async with Client(params) as client:
            limits = ok(await client.call_tool("list_runtimes", {}))["limits"]
            assert limits["max_image_bytes"] == 0
            result = await client.call_tool("execute_code", {"code": code})
            data = ok(result)
            assert data["runtime"] == "python-sci"
            assert [figure["in_content"] for figure in data["figures"]] == [False]
            assert [item.type for item in result.content] == ["text"]  # described, not sent

    anyio.run(use)
