"""What a live session's interpreter holds: the variables listing.

The guest builds every row itself, as plain text with a size cap (see
``introspectors`` in the Python driver and ``__wbIntrospect`` in the JS prelude);
the host only checks the shape of what came back. Nothing from the guest is
unpickled or evaluated here.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["VariableInfo", "declared_names", "parse_variables"]

#: Longest preview kept (characters); the guest is asked for less.
MAX_PREVIEW = 1000
#: Longest name or type name kept.
MAX_NAME = 200
#: Longest dtype text kept (a DataFrame's distinct column dtypes).
MAX_DTYPE = 300
#: Longest first-rows table or column listing kept (characters).
MAX_HEAD = 4000
#: Most dimensions of a shape kept.
MAX_DIMENSIONS = 32

# Top-level declarations in JavaScript: let/const/class bindings live in the
# context's lexical scope, not on globalThis, so the host remembers their names.
# Names declared in nested blocks may be caught too; the guest skips what it
# can't read.
_JS_DECLARATION = re.compile(
    r"(?:^|[;{}])\s*(?:export\s+)?"
    r"(?:(?:const|let|var|class)\s+|(?:async\s+)?function\b\s*\*?\s*)"
    r"([A-Za-z_$][\w$]*)",
    re.MULTILINE,
)


class VariableInfo(BaseModel):
    """One name in a live session's interpreter.

    Usage::

        for var in session.variables():
            print(var.name, var.type, var.size, var.preview)
    """

    model_config = ConfigDict(frozen=True)

    name: str
    type: str
    #: len() for strings, bytes and containers (keys for JS objects); None otherwise.
    size: int | None = None
    #: A short text made inside the sandbox by builtins only (no user __repr__).
    preview: str = ""
    #: numpy arrays and pandas DataFrames/Series (python-sci): their shape, e.g.
    #: ``(100, 3)``; None for everything else.
    shape: tuple[int, ...] | None = None
    #: The array's or Series' dtype, or a DataFrame's distinct column dtypes
    #: ("int64, float64, str"); "" for everything else.
    dtype: str = ""
    #: The first rows as a plain-text table, made inside the sandbox; "" if none.
    head: str = ""
    #: A DataFrame's columns with their dtypes ("a: int64, b: str"); "" otherwise.
    columns: str = ""

    def shape_text(self) -> str:
        """The shape and dtype in a few characters, like ``100 x 3 . int64, str``.

        (With a times sign for the x and a middle dot for the point.)
        """
        if self.shape is None:
            return ""
        text = " \u00d7 ".join(str(n) for n in self.shape) if self.shape else "scalar"
        return f"{text} \u00b7 {self.dtype}" if self.dtype else text


def declared_names(code: str) -> set[str]:
    """Names a JavaScript program declares at its top level (a cheap scan)."""
    return {match.group(1) for match in _JS_DECLARATION.finditer(code)}


def parse_variables(untrusted: dict[str, Any]) -> list[VariableInfo]:
    """Rows from the guest's reply; malformed rows are skipped, texts are capped."""
    rows = untrusted.get("variables")
    if not isinstance(rows, list):
        return []
    out: list[VariableInfo] = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        name, kind, preview = row.get("name"), row.get("type"), row.get("preview", "")
        size = row.get("size")
        if not isinstance(name, str) or not isinstance(kind, str) or not isinstance(preview, str):
            continue
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            size = None
        out.append(
            VariableInfo(
                name=name[:MAX_NAME],
                type=kind[:MAX_NAME],
                size=size,
                preview=preview[:MAX_PREVIEW],
                shape=_shape(row.get("shape")),
                dtype=_text(row.get("dtype"), MAX_DTYPE),
                head=_text(row.get("head"), MAX_HEAD),
                columns=_text(row.get("columns"), MAX_HEAD),
            )
        )
    return out


def _shape(untrusted: object) -> tuple[int, ...] | None:
    """A list of non-negative ints (at most :data:`MAX_DIMENSIONS`), else None."""
    if not isinstance(untrusted, list) or len(untrusted) > MAX_DIMENSIONS:
        return None
    if not all(type(n) is int and n >= 0 for n in untrusted):
        return None
    return tuple(untrusted)


def _text(untrusted: object, limit: int) -> str:
    return untrusted[:limit] if isinstance(untrusted, str) else ""
