"""Interactive turns: the value of a trailing expression, as a REPL shows it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.sandbox import RuntimeType, SandboxEngine, Session, create_session

PY = RuntimeType.PYTHON
JS = RuntimeType.JAVASCRIPT


@pytest.fixture
def python(engine: SandboxEngine, workspace_root: Path) -> Iterator[Session]:
    session = create_session(PY, workspace_root=workspace_root)
    yield session
    session.close()


@pytest.fixture
def javascript(engine: SandboxEngine, workspace_root: Path) -> Iterator[Session]:
    session = create_session(JS, workspace_root=workspace_root)
    yield session
    session.close()


def test_python_trailing_expression_is_shown(python: Session) -> None:
    result = python.execute("x = 41\nprint('side')\nx + 1", interactive=True)
    assert result.success
    assert result.stdout == "side\n"
    assert result.display_value == "42"
    # The value is also bound to _, as in the Python REPL.
    assert python.execute("_ * 2", interactive=True).display_value == "84"


@pytest.mark.parametrize(
    "code",
    ["x = 1", "None", "1;", "import math", "for i in range(2):\n    i", ""],
)
def test_python_no_value_shown(python: Session, code: str) -> None:
    result = python.execute(code, interactive=True)
    assert result.success
    assert result.display_value is None


def test_python_plain_turns_are_unchanged(python: Session) -> None:
    result = python.execute("1 + 1")
    assert result.success and result.display_value is None and result.stdout == ""


def test_python_value_text_is_exact_and_capped(python: Session) -> None:
    result = python.execute("'é😀\\n'", interactive=True)
    assert result.display_value == "'é😀\\n'"
    big = python.execute("'a' * 200_000", interactive=True)
    assert big.display_value is not None and len(big.display_value) == 64 * 1024
    assert big.display_value_truncated


def test_python_errors_keep_the_guest_traceback(python: Session) -> None:
    result = python.execute("y = 1\n1 / 0", interactive=True)
    assert not result.success
    assert result.display_value is None
    assert "ZeroDivisionError: division by zero" in result.stderr
    assert "line 2" in result.stderr
    # A repr that raises is the cell's error.
    bad = python.execute(
        "class Bad:\n    def __repr__(self):\n        raise ValueError('no repr')\nBad()",
        interactive=True,
    )
    assert not bad.success and "ValueError: no repr" in bad.stderr
    # Statements before the failing expression ran.
    assert python.execute("y", interactive=True).display_value == "1"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"value": "x" * 200_000}, ("x" * 65536, True)),
        ({"value": 42}, (None, False)),
        ({"value": ["list"]}, (None, False)),
        ({"value": "\ud800ok"}, ("?ok", False)),
        ({"value": "v", "value_truncated": "yes"}, ("v", False)),
        (None, (None, False)),
    ],
)
def test_host_caps_and_checks_what_the_guest_reports(status: object, expected: object) -> None:
    # The status comes from the guest: the host trusts neither its size nor its types.
    from workbench.sandbox._sandbox import _display_value

    assert _display_value(status) == expected  # type: ignore[arg-type]


def test_javascript_completion_value_is_shown(javascript: Session) -> None:
    assert javascript.execute("let a = 1; a + 1", interactive=True).display_value == "2"
    # let/const still carry over to the next turn.
    assert javascript.execute("a", interactive=True).display_value == "1"
    shown = javascript.execute(
        "var o = {a: 1, b: [1, 'x'], 'k y': null}; o", interactive=True
    ).display_value
    assert shown == '{ a: 1, b: [ 1, "x" ], "k y": null }'
    assert javascript.execute("function g() {}; g", interactive=True).display_value == (
        "[Function: g]"
    )
    assert javascript.execute("new Map([[1, 2]])", interactive=True).display_value == (
        "Map(1) { 1 => 2 }"
    )
    circular = javascript.execute("var c = {}; c.self = c; c", interactive=True)
    assert circular.display_value == "{ self: [Circular] }"


@pytest.mark.parametrize("code", ["undefined", "var z = 3;", "console.log('x')"])
def test_javascript_undefined_is_not_shown(javascript: Session, code: str) -> None:
    result = javascript.execute(code, interactive=True)
    assert result.success and result.display_value is None


def test_javascript_errors_and_plain_turns(javascript: Session) -> None:
    failed = javascript.execute("throw new Error('bad')", interactive=True)
    assert not failed.success and failed.display_value is None
    assert "Error: bad" in failed.stderr
    assert javascript.execute("1 + 1").display_value is None
    # The helper's slot is not a saved global.
    listed = javascript.execute(
        "Object.getOwnPropertyNames(globalThis).includes('__wbLast')", interactive=True
    )
    assert listed.display_value == "false"
