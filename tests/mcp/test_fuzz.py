"""Property-based fuzzing of tool arguments: the server answers everything, crashes on nothing.

One HTTP server and one SDK client serve every example (through an anyio
blocking portal, since hypothesis drives a plain function). The property:
every call gets a result; an error result carries a specific message, never
the SDK's bare "Error executing tool X" that stands for an unexpected exception;
and the server still runs code afterwards.
"""

from __future__ import annotations

from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp_helpers import TOOLS, connect, ok
from mcp_types import CallToolResult

from workbench.mcp import HttpServer

pytestmark = pytest.mark.slow

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
paths = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["../x", "/etc/passwd", "/app/../../x", "a/../../b", "C:\\x", "a\x00b", "~/x", "//x", "."]
    ),
    st.lists(st.sampled_from(["..", "a", "/", "\\", "app", "."]), max_size=6).map("/".join),
)
codes = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        ["print(1)", "1/0", "import os; os.listdir('/')", "raise SystemExit(3)", "console.log(1)"]
    ),
)
limits = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "fuel_budget": st.integers(min_value=-5, max_value=10**14),
            "timeout_seconds": st.floats(allow_nan=False, allow_infinity=True),
            "memory_bytes": st.integers(min_value=-1, max_value=2**40),
            "stdout_max_bytes": st.integers(min_value=-1, max_value=2**40),
        },
    ),
)
ARGUMENTS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "execute_code": {
        "code": codes | json_values,
        "language": st.sampled_from(["python", "javascript", "ruby", "", "PYTHON"]) | json_values,
        "session_id": st.text(max_size=40) | json_values,
        "limits": limits,
        "interactive": json_values,
    },
    "list_runtimes": {},
    "create_session": {
        "language": st.sampled_from(["python", "javascript", "x"]) | json_values,
        "auto_persist_globals": json_values,
    },
    "destroy_session": {"session_id": st.text(max_size=40) | json_values},
    "get_workspace_info": {"session_id": st.text(max_size=40) | json_values},
    "reset_workspace": {"session_id": st.text(max_size=40) | json_values},
    "list_files": {"session_id": st.none() | st.text(max_size=10), "pattern": paths | json_values},
    "read_file": {"path": paths | json_values, "session_id": st.none() | json_values},
    # Only specs refused before any look-up: fuzzing must never query PyPI for
    # made-up names.
    "install_package": {
        "package": json_scalars.filter(lambda v: not isinstance(v, str))
        | st.text(max_size=20).map(lambda t: "https://example.invalid/" + t)
        | st.text(max_size=20).map(lambda t: "-e " + t)
        | st.text(max_size=20).map(lambda t: "../" + t),
        "session_id": st.text(max_size=40) | json_values,
    },
    "write_file": {
        "path": paths | json_values,
        "content": st.text(max_size=50) | json_values,
        "encoding": st.sampled_from(["utf-8", "base64", "latin-1"]) | json_values,
    },
}
assert set(ARGUMENTS) == TOOLS


@st.composite
def tool_calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(sorted(ARGUMENTS)))
    fields = ARGUMENTS[name]
    chosen = (
        draw(st.sets(st.sampled_from(sorted(fields)), max_size=len(fields))) if fields else set()
    )
    arguments = {field: draw(fields[field]) for field in chosen}
    if draw(st.booleans()):
        arguments.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2)))
    return name, arguments


def test_fuzzed_tool_arguments_never_crash_the_server(make_http_server: Any) -> None:
    server: HttpServer = make_http_server(rate_limit_per_minute=10**6, rate_limit_burst=10**6)
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(connect(server.url)) as client,
    ):

        @settings(
            max_examples=120,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(call=tool_calls())
        def check(call: tuple[str, dict[str, Any]]) -> None:
            name, arguments = call
            result = portal.call(client.call_tool, name, arguments)
            assert isinstance(result, CallToolResult)
            if result.is_error:
                text = result.content[0].text  # type: ignore[union-attr]
                assert text.strip() != f"Error executing tool {name}", (name, arguments)

        check()
        alive = portal.call(client.call_tool, "execute_code", {"code": "print('alive')"})
        assert ok(alive)["stdout"] == "alive\n"
