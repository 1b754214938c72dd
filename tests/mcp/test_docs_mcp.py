"""The MCP docs name the tools that exist, and the result model matches SandboxResult."""

from __future__ import annotations

import json
import re
from pathlib import Path

from mcp_helpers import TOOLS

from workbench.mcp import (
    claude_desktop_config,
    claude_desktop_remote_config,
    config_text,
    http_client_config,
)
from workbench.mcp._models import EXCLUDED_RESULT_FIELDS, ExecuteResult
from workbench.sandbox import SandboxResult

REPO = Path(__file__).resolve().parents[2]


def test_readme_and_docs_list_every_tool() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## MCP server") :]
    section = section[: section.index("\n## ", 5)]
    listed = set(re.findall(r"^\| `(\w+)`", section, re.M))
    listed |= set(re.findall(r"`(\w+)`, `(\w+)`, `(\w+)`", section)[0])
    assert listed == TOOLS
    docs = (REPO / "docs" / "MCP.md").read_text(encoding="utf-8")
    for tool in TOOLS:
        assert f"`{tool}`" in docs


def test_execute_result_has_every_sandbox_result_field() -> None:
    expected = set(SandboxResult.model_fields) - EXCLUDED_RESULT_FIELDS | {"summary", "code_note"}
    assert set(ExecuteResult.model_fields) == expected


def test_client_configurations_are_json_with_the_token() -> None:
    url = "http://127.0.0.1:8765/mcp"
    for config in (
        claude_desktop_config(policy="conservative"),
        claude_desktop_remote_config(url, "t" * 20),
        http_client_config(url, "t" * 20),
    ):
        assert json.loads(config_text(config)) == config
    assert http_client_config(url, None)["mcpServers"]["wasm-workbench"] == {
        "type": "http",
        "url": url,
    }
    assert (
        "--header"
        not in claude_desktop_remote_config(url, None)["mcpServers"]["wasm-workbench"]["args"]
    )
