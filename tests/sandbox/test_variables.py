"""The variables listing of live sessions, produced inside the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.sandbox import (
    RuntimeType,
    SandboxEngine,
    SandboxError,
    VariableInfo,
    create_session,
)
from workbench.sandbox._variables import declared_names, parse_variables


def by_name(rows: list[VariableInfo]) -> dict[str, VariableInfo]:
    return {row.name: row for row in rows}


def test_python_variables_types_sizes_and_previews(
    engine: SandboxEngine, workspace_root: Path
) -> None:
    with create_session(runtime=RuntimeType.PYTHON, workspace_root=workspace_root) as session:
        assert session.variables() == []  # no interpreter yet: nothing started for it
        assert not session.interpreter_running
        result = session.execute(
            "import sys\n"
            "x = 42\n"
            "big = 2 ** 5000\n"
            "text = 'hello' * 100\n"
            "items = [1, 2.5, 'a', None, (1,), {'k': [1, 2]}]\n"
            "table = {i: i * i for i in range(100)}\n"
            "empty = set()\n"
            "def f(a, b, *, c=1):\n    return a\n"
            "class Point:\n    pass\n"
            "p = Point()\n"
            "_hidden = 1\n"
        )
        assert result.success, result.stderr
        turns = session.info.turns
        rows = by_name(session.variables(preview_chars=60))
        assert session.info.turns == turns  # a listing is not a turn
        assert "_hidden" not in rows
        assert rows["x"] == VariableInfo(name="x", type="int", size=None, preview="42")
        assert rows["big"].preview == "<int of 5001 bits>"
        assert rows["text"].type == "str" and rows["text"].size == 500
        assert len(rows["text"].preview) <= 60 and rows["text"].preview.endswith("\u2026")
        assert rows["items"].size == 6
        assert rows["items"].preview.startswith("[1, 2.5, 'a', None, (1,), ")
        assert rows["table"].type == "dict" and rows["table"].size == 100
        assert rows["table"].preview.startswith("{0: 0, 1: 1, 2: 4")
        assert rows["empty"].preview == "set()"
        assert rows["f"].type == "function" and rows["f"].preview == "f(a, b, c)"
        assert rows["Point"].preview == "class Point"
        assert rows["p"].type == "Point" and rows["p"].preview == "<Point>"
        assert rows["sys"].type == "module" and rows["sys"].preview == "module sys"
        # The listing left the interpreter as it was.
        assert session.execute("print(x + len(items))").stdout == "48\n"


def test_python_listing_never_runs_user_code(engine: SandboxEngine, workspace_root: Path) -> None:
    with create_session(runtime=RuntimeType.PYTHON, workspace_root=workspace_root) as session:
        result = session.execute(
            "class Trap(list):\n"
            "    def __repr__(self):\n"
            "        open('/app/repr-ran', 'w').close()\n"
            "        raise SystemExit(3)\n"
            "    def __len__(self):\n"
            "        open('/app/len-ran', 'w').close()\n"
            "        return 1\n"
            "class Meta(type):\n"
            "    def __getattribute__(cls, name):\n"
            "        open('/app/meta-ran', 'w').close()\n"
            "        return type.__getattribute__(cls, name)\n"
            "class Odd(metaclass=Meta):\n"
            "    def __getattribute__(self, name):\n"
            "        open('/app/getattr-ran', 'w').close()\n"
            "        return 1\n"
            "t = Trap([1, 2])\n"
            "o = Odd()\n"
            "nested = [t, o]\n"
        )
        assert result.success, result.stderr
        rows = by_name(session.variables())
        assert rows["t"].type == "Trap" and rows["t"].preview == "<Trap>" and rows["t"].size is None
        assert rows["o"].preview == "<Odd>"
        assert rows["nested"].preview == "[<Trap>, <Odd>]"
        assert sorted(p.name for p in session.workspace.iterdir()) == []
        assert session.interpreter_running


def test_javascript_variables_include_lexical_bindings_and_skip_getters(
    engine: SandboxEngine, workspace_root: Path
) -> None:
    with create_session(runtime=RuntimeType.JAVASCRIPT, workspace_root=workspace_root) as session:
        result = session.execute(
            "const a = 1; let b = 'text'; var c = [1, {x: 2}, 'q'];\n"
            "let calls = 0;\n"
            "const o = { get trap() { calls++; return 1; }, v: 3 };\n"
            "class K { constructor() { this.n = 1; } }\n"
            "const k = new K();\n"
            "globalThis.g = new Map([[1, 2]]);\n"
            "function hello(x, y) { return x; }\n"
            "Object.defineProperty(globalThis, 'acc', { get() { calls++; return 1; },"
            " enumerable: true, configurable: true });\n"
        )
        assert result.success, result.stderr
        rows = by_name(session.variables())
        assert rows["a"].type == "number" and rows["a"].preview == "1"
        assert rows["b"].type == "string" and rows["b"].preview == '"text"'
        assert rows["c"].type == "Array" and rows["c"].size == 3
        assert rows["c"].preview == '[1, {x: 2}, "q"]'
        assert rows["o"].preview == "{trap: <getter>, v: 3}"
        assert rows["k"].type == "K" and rows["k"].preview == "K {n: 1}"
        assert rows["g"].type == "Map" and rows["g"].size == 1
        assert rows["hello"].type == "function"
        assert rows["acc"].type == "getter"
        assert not any(name.startswith("__wb") for name in rows)
        assert session.execute("console.log(calls)").stdout == "0\n"


def test_listing_after_restart_forgets_old_names(
    engine: SandboxEngine, workspace_root: Path
) -> None:
    with create_session(runtime=RuntimeType.JAVASCRIPT, workspace_root=workspace_root) as session:
        assert session.execute("const before = 1;").success
        session.reset()
        assert session.variables() == []
        assert session.execute("const after = 2;").success
        assert [row.name for row in session.variables()] == ["after"]


def test_unknown_introspection_is_a_clear_error(
    sci_engine: SandboxEngine, workspace_root: Path
) -> None:
    for runtime in RuntimeType:
        with create_session(runtime=runtime, workspace_root=workspace_root) as session:
            assert session.introspect("variables") is None  # nothing running
            with pytest.raises(SandboxError, match="could not answer 'nope'"):
                session.introspect("nope", start=True)
            assert session.interpreter_running  # the interpreter survived


def test_parse_variables_drops_malformed_rows_and_caps_text() -> None:
    untrusted = {
        "variables": [
            {"name": "ok", "type": "int", "size": 3, "preview": "x" * 5000},
            {"name": 1, "type": "int"},
            "junk",
            {"name": "neg", "type": "list", "size": -4},
            {"name": "flag", "type": "list", "size": True},
        ]
    }
    rows = parse_variables(untrusted)
    assert [row.name for row in rows] == ["ok", "neg", "flag"]
    assert len(rows[0].preview) == 1000
    assert rows[1].size is None and rows[2].size is None
    assert parse_variables({"variables": "nope"}) == []


def test_declared_names_scan() -> None:
    code = "const a = 1; let b = 2\nconstant = 3\nfunction* gen() {}\nclass K {}\nfunctionx = 2"
    assert declared_names(code) == {"a", "b", "gen", "K"}
