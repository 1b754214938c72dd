"""execute_code given a Markdown answer runs its code and says what it extracted (SDK client)."""

from __future__ import annotations

import pytest
from mcp_helpers import connect, error_text, ok

from workbench.mcp import HttpServer

pytestmark = [pytest.mark.anyio]

ANSWER = (
    "Sure! Here's a script:\n\n```python\nprint('hello from the block')\n```\n\n"
    "Run it with:\n\n```bash\npython hello.py\n```\n"
)
MIXED = "Python:\n```python\nprint('py')\n```\nJavaScript:\n```js\nconsole.log('js');\n```\n"


async def test_a_markdown_answer_runs_its_code(http_server: HttpServer) -> None:
    async with connect(http_server.url) as client:
        result = await client.call_tool("execute_code", {"code": ANSWER})
        data = ok(result)
        assert data["success"] and data["stdout"] == "hello from the block\n"
        assert "SyntaxError" not in data["stderr"]
        assert data["code_note"] == (
            "`code` was a Markdown answer: ran the python block. "
            "Kept 1 python block; dropped prose and 1 bash block."
        )
        text = result.content[0].text  # type: ignore[union-attr]
        assert text.startswith("`code` was a Markdown answer: ran the python block.")
        # Plain code: no note, as before.
        plain = ok(await client.call_tool("execute_code", {"code": "print(1)"}))
        assert plain["stdout"] == "1\n" and plain.get("code_note") is None


async def test_the_answers_language_picks_the_default_session(http_server: HttpServer) -> None:
    answer = "In JavaScript:\n\n```js\nconsole.log([1, 2].map(x => x * 3).join(' '));\n```\n"
    async with connect(http_server.url) as client:
        data = ok(await client.call_tool("execute_code", {"code": answer}))
        assert data["runtime"] == "javascript" and data["stdout"] == "3 6\n"


async def test_answers_that_cannot_run_are_refused_in_words(http_server: HttpServer) -> None:
    async with connect(http_server.url) as client:
        message = error_text(await client.call_tool("execute_code", {"code": MIXED}))
        assert "1 python block and 1 javascript block" in message
        assert "language='python'" in message
        data = ok(await client.call_tool("execute_code", {"code": MIXED, "language": "javascript"}))
        assert data["stdout"] == "js\n"
        assert "ran the javascript block" in data["code_note"]
        bash = "Install it:\n```bash\npip install requests\n```\n"
        message = error_text(await client.call_tool("execute_code", {"code": bash}))
        assert "no Python or JavaScript code to run" in message
        # A session's language settles which blocks run.
        sid = ok(await client.call_tool("create_session", {"language": "python"}))["session_id"]
        data = ok(await client.call_tool("execute_code", {"code": MIXED, "session_id": sid}))
        assert data["stdout"] == "py\n" and data["session_id"] == sid
