"""Host-side text work for the kernels: is the input complete, what is at the cursor.

Nothing here runs guest code. Python input is only *compiled* on the host with
:mod:`codeop` (the same check the Python REPL uses), never executed. JavaScript
has no compiler on the host, so a bracket-, string- and comment-aware scan
decides; it can be fooled by a regular expression literal holding a bracket,
in which case the person simply presses Enter once more.
"""

from __future__ import annotations

import codeop
import io
import re
import tokenize
import warnings
from dataclasses import dataclass

__all__ = ["Completeness", "javascript_is_complete", "python_is_complete", "token_at"]

_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {")": "(", "]": "[", "}": "{"}
#: A name, possibly dotted, ending at the cursor (``os.pa``, ``obj.attr.``, ``x``).
_TOKEN = re.compile(r"[A-Za-z_$][\w$]*(?:\s*\.\s*[A-Za-z_$][\w$]*)*(?:\s*\.)?\s*$|[\w$]*$")
#: Largest input the host checks (bigger cells are simply "complete": run them).
MAX_CHECK_CHARS = 1_000_000


@dataclass(frozen=True)
class Completeness:
    """An ``is_complete_reply``: status is complete, incomplete, invalid or unknown."""

    status: str
    indent: str = ""

    def reply(self) -> dict[str, str]:
        """The reply's content."""
        content = {"status": self.status}
        if self.status == "incomplete":
            content["indent"] = self.indent
        return content


def python_is_complete(code: str) -> Completeness:
    """Whether ``code`` is a complete Python cell, by compiling it (never running it)."""
    if len(code) > MAX_CHECK_CHARS:
        return Completeness("unknown")
    if not code.strip():
        return Completeness("complete")
    lines = code.rstrip("\n").split("\n")
    last = lines[-1]
    indent = last[: len(last) - len(last.lstrip())]
    try:
        with warnings.catch_warnings():
            # e.g. SyntaxWarning for an invalid escape: the guest reports those itself.
            warnings.simplefilter("ignore")
            compiled = codeop.compile_command(code, "<cell>", "exec")
    except (SyntaxError, OverflowError, ValueError, MemoryError, RecursionError):
        return Completeness("invalid")
    if compiled is None:  # e.g. an open bracket, or a block that one more Enter ends
        if last.rstrip().endswith(":"):
            indent += "    "
        return Completeness("incomplete", indent)
    # The last statement is inside a block (indented) and no blank line ended
    # it: one more Enter ends it, as in the Python REPL and IPython.
    if not code.endswith("\n") and _last_logical_line_indent(code) > 0:
        return Completeness("incomplete", indent)
    return Completeness("complete")


def _last_logical_line_indent(code: str) -> int:
    column = 0
    starting = True
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type == tokenize.NEWLINE:
                starting = True
            elif starting and token.type not in (
                tokenize.NL,
                tokenize.COMMENT,
                tokenize.INDENT,
                tokenize.DEDENT,
                tokenize.ENDMARKER,
            ):
                column = token.start[1]
                starting = False
    except (tokenize.TokenError, SyntaxError):
        return 0
    return column


def javascript_is_complete(code: str) -> Completeness:
    """Whether ``code`` looks like a complete JavaScript cell (brackets, strings, comments)."""
    if len(code) > MAX_CHECK_CHARS:
        return Completeness("unknown")
    if not code.strip():
        return Completeness("complete")
    stack: list[str] = []  # open brackets; "`" marks a template literal being read
    i = 0
    n = len(code)
    while i < n:
        ch = code[i]
        in_template = bool(stack) and stack[-1] == "`"
        if in_template:
            if ch == "\\":
                i += 2
                continue
            if ch == "`":
                stack.pop()
            elif code.startswith("${", i):
                stack.append("${")
                i += 2
                continue
            i += 1
            continue
        if ch in "'\"":
            end = _string_end(code, i)
            if end is None:
                return Completeness("incomplete" if code.rstrip().endswith("\\") else "invalid")
            i = end + 1
            continue
        if ch == "`":
            stack.append("`")
        elif code.startswith("//", i):
            newline = code.find("\n", i)
            i = n if newline < 0 else newline
            continue
        elif code.startswith("/*", i):
            close = code.find("*/", i + 2)
            if close < 0:
                return Completeness("incomplete", _js_indent(code, stack))
            i = close + 2
            continue
        elif ch in _OPENERS:
            stack.append(ch)
        elif ch == "}" and stack and stack[-1] == "${":
            stack.pop()
        elif ch in _CLOSERS:
            if not stack or stack[-1] != _CLOSERS[ch]:
                return Completeness("invalid")
            stack.pop()
        i += 1
    if stack:
        return Completeness("incomplete", _js_indent(code, stack))
    if re.search(r"(?:[=+\-*/%&|^<>!?:,.]|=>)\s*$", code) and not code.rstrip().endswith(
        ("++", "--")
    ):
        return Completeness("incomplete", _js_indent(code, stack))
    return Completeness("complete")


def _string_end(code: str, start: int) -> int | None:
    quote = code[start]
    i = start + 1
    while i < len(code):
        ch = code[i]
        if ch == "\\":
            i += 2
            continue
        if ch == quote:
            return i
        if ch == "\n":
            return None
        i += 1
    return None


def _js_indent(code: str, stack: list[str]) -> str:
    last = code.rstrip("\n").split("\n")[-1]
    indent = last[: len(last) - len(last.lstrip())]
    if last.rstrip().endswith(("{", "(", "[")):
        indent += "  "
    return indent


def token_at(code: str, cursor_pos: int) -> tuple[str, int]:
    """The (possibly dotted) name that ends at ``cursor_pos`` and where it starts.

    ``token_at("x = os.pa", 9) == ("os.pa", 4)``. Whitespace around dots is
    removed from the returned text.
    """
    cursor_pos = max(0, min(cursor_pos, len(code)))
    before = code[:cursor_pos]
    line_start = before.rfind("\n") + 1
    line = before[line_start:]
    match = _TOKEN.search(line)
    if match is None:  # pragma: no cover - the pattern matches the empty string
        return "", cursor_pos
    text = re.sub(r"\s+", "", match.group(0))
    return text, line_start + match.start()
