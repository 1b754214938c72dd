r"""The code editor: syntax highlighting, line numbers, indentation, find and replace.

Three widgets live here:

- `PygmentsHighlighter` colours a document with a pygments lexer. It follows
  qtconsole's ``PygmentsHighlighter``: each block is lexed starting from the
  lexer state the previous block ended in, so multi-line strings and comments
  are coloured on every line, and format ranges are measured in UTF-16 code
  units, the unit of Qt string positions, so emoji do not shift the colours.
- `CodeEditor` is a `QPlainTextEdit` with a line-number gutter (Qt for
  Python's *Code Editor Example*), a current-line highlight, 4-space
  indentation, find/replace and file drops. The gutter can also show a heat
  strip per line (`CodeEditor.set_line_heat`, a fuel profile's cost per line),
  dropped again when an edit moves or changes the lines it describes.
- `FindBar` is the small find/replace bar that drives a `CodeEditor`.

Example::

    editor = CodeEditor()
    editor.set_language("javascript")
    editor.setPlainText("const s = `a\n${b}`;")
    bar = FindBar(editor)
    bar.sig_closed.connect(editor.setFocus)
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

from pygments import lexer as _pygments_lexer
from pygments.lexer import RegexLexer, default, inherit
from pygments.lexers.javascript import JavascriptLexer
from pygments.lexers.python import PythonLexer
from pygments.style import Style
from pygments.styles import get_style_by_name
from pygments.token import Comment, String, Token, Whitespace, _TokenType
from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QSize, Qt, Signal, Slot
from PySide6.QtGui import (
    QBrush,
    QColor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QFont,
    QFontDatabase,
    QHelpEvent,
    QKeyEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QResizeEvent,
    QShowEvent,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QToolButton,
    QToolTip,
    QWidget,
)

__all__ = [
    "LANGUAGES",
    "CodeEditor",
    "FindBar",
    "LineHeat",
    "LineNumberArea",
    "PygmentsHighlighter",
    "utf16_length",
]

#: The languages the editor knows, by the names `CodeEditor.set_language` takes.
LANGUAGES: Final = ("python", "javascript")

#: Spaces inserted by Tab and added after a line that opens a block.
INDENT: Final = "    "

#: The pygments styles of the light and the dark colour scheme.
LIGHT_STYLE: Final = "default"
DARK_STYLE: Final = "monokai"

_ROOT: Final = ("root",)

#: Width in pixels of the heat strip drawn in the gutter for a line with heat.
HEAT_STRIP_WIDTH: Final = 6
#: The widest heat label the gutter makes room for (labels are short: "1.2 M").
HEAT_LABEL_SAMPLE: Final = "888 M"


# ---- Helpers


def utf16_length(text: str) -> int:
    """Return the length of ``text`` in UTF-16 code units, the unit of Qt string positions.

    Characters outside the Basic Multilingual Plane (most emoji) count twice.
    """
    return len(text.encode("utf-16-le")) // 2


class _Utf16Map:
    """Converts between Python string indices and UTF-16 offsets of one text.

    Qt positions (`QTextCursor.position`, `QSyntaxHighlighter.setFormat`)
    count UTF-16 code units; Python indices count code points. They differ
    by one for every astral character before the position.
    """

    def __init__(self, text: str) -> None:
        # Python indices of the astral characters, ascending.
        self._astral = [i for i, ch in enumerate(text) if ord(ch) > 0xFFFF]
        # Their UTF-16 offsets (each earlier astral character adds one unit).
        self._astral16 = [i + n for n, i in enumerate(self._astral)]

    def to_utf16(self, index: int) -> int:
        """Return the UTF-16 offset of Python index ``index``."""
        return index + bisect.bisect_left(self._astral, index)

    def to_index(self, offset: int) -> int:
        """Return the Python index at UTF-16 offset ``offset`` (rounded down inside a pair)."""
        before = bisect.bisect_left(self._astral16, offset)
        index = offset - before
        # An offset that falls on the low half of a surrogate pair belongs to its character.
        if before and self._astral16[before - 1] + 1 == offset:
            index -= 1
        return index


# ---- Lexers

# pygments' ``bygroups`` is untyped in types-Pygments; this alias gives it a type.
_bygroups = cast(
    "Callable[..., Callable[..., Iterator[tuple[int, _TokenType, str]]]]", _pygments_lexer.bygroups
)


class _PythonLexer(PythonLexer):
    r"""Python lexer whose docstrings are a state, so they can span highlighted blocks.

    Pygments matches a whole docstring with one regex (``[\s\S]*?`` between
    the triple quotes), which cannot match when the text arrives one line at a
    time; this variant enters a state at the opening quotes and leaves it at the
    closing ones, giving the same `String.Doc` tokens.
    """

    tokens = {
        "root": [
            (
                r'^(\s*)([rRuUbB]{,2})(""")',
                _bygroups(Whitespace, String.Affix, String.Doc),
                "doc-dq",
            ),
            (
                r"^(\s*)([rRuUbB]{,2})(''')",
                _bygroups(Whitespace, String.Affix, String.Doc),
                "doc-sq",
            ),
            inherit,
        ],
        "doc-dq": [
            (r'"""', String.Doc, "#pop"),
            (r'[^"]+', String.Doc),
            (r'"', String.Doc),
        ],
        "doc-sq": [
            (r"'''", String.Doc, "#pop"),
            (r"[^']+", String.Doc),
            (r"'", String.Doc),
        ],
    }


class _JavascriptLexer(JavascriptLexer):
    r"""JavaScript lexer whose comments and strings are states, so they can span blocks.

    Pygments matches a ``/* */`` comment with one regex (``/\*.*?\*/``), and a
    quoted string likewise; see `_PythonLexer` for why a state is needed.
    """

    tokens = {
        # Quoted strings are states too, so a backslash-newline continues them on
        # the next line. Unlike pygments, an unterminated string ends with its
        # line, so one stray quote does not turn the rest of the file into a string.
        "root": [
            (r'"', String.Double, "string-double"),
            (r"'", String.Single, "string-single"),
            inherit,
        ],
        "string-double": [
            (r'"', String.Double, "#pop"),
            (r"\\(?:.|\n)", String.Double),
            (r'[^"\\\n]+', String.Double),
            default("#pop"),
        ],
        "string-single": [
            (r"'", String.Single, "#pop"),
            (r"\\(?:.|\n)", String.Single),
            (r"[^'\\\n]+", String.Single),
            default("#pop"),
        ],
        "commentsandwhitespace": [
            (r"/\*", Comment.Multiline, "multiline-comment"),
            inherit,
        ],
        "multiline-comment": [
            (r"\*/", Comment.Multiline, "#pop"),
            (r"[^*]+", Comment.Multiline),
            (r"\*", Comment.Multiline),
        ],
    }


def _make_lexer(language: str) -> RegexLexer:
    if language == "python":
        return _PythonLexer()
    if language == "javascript":
        return _JavascriptLexer()
    raise ValueError(f"Unknown language {language!r}; expected one of {', '.join(LANGUAGES)}.")


def _lex_line(
    lexer: RegexLexer, text: str, stack: tuple[str, ...]
) -> tuple[list[tuple[int, _TokenType, str]], tuple[str, ...]]:
    """Lex one line starting in state ``stack``; return its tokens and the state it ends in.

    This is `RegexLexer.get_tokens_unprocessed` with the final state stack
    returned, which pygments keeps to itself (qtconsole monkeypatches the
    method for the same reason). A newline is lexed after the line, as in a
    whole document, so states that continue past the end of a line (an open
    triple-quoted string) do, and states that do not (a ``"`` string) reset.
    Token positions are Python indices into ``text``.
    """
    source = text + "\n"
    # The compiled rules: {state: [(match, action, new_state), ...]}.
    tokendefs: dict[str, list[tuple[Any, Any, Any]]] = cast(Any, lexer)._tokens
    statestack = list(stack)
    statetokens = tokendefs[statestack[-1]]
    tokens: list[tuple[int, _TokenType, str]] = []
    pos = 0
    while True:
        for rexmatch, action, new_state in statetokens:
            m = rexmatch(source, pos)
            if not m:
                continue
            if action is not None:
                if type(action) is _TokenType:
                    tokens.append((pos, action, m.group()))
                else:
                    tokens.extend(action(lexer, m))
            pos = m.end()
            if new_state is not None:
                if isinstance(new_state, tuple):
                    for state in new_state:
                        if state == "#pop":
                            if len(statestack) > 1:
                                statestack.pop()
                        elif state == "#push":
                            statestack.append(statestack[-1])
                        else:
                            statestack.append(state)
                elif isinstance(new_state, int):
                    # Pop, keeping at least the root state, as pygments does.
                    if abs(new_state) >= len(statestack):
                        del statestack[1:]
                    else:
                        del statestack[new_state:]
                elif new_state == "#push":
                    statestack.append(statestack[-1])
                statetokens = tokendefs[statestack[-1]]
            break
        else:
            # No rule matched: pygments resets to "root" at a newline and
            # marks any other character as an error.
            if pos >= len(source):
                break
            if source[pos] == "\n":
                statestack = ["root"]
                statetokens = tokendefs["root"]
            else:
                tokens.append((pos, Token.Error, source[pos]))
            pos += 1
        if pos >= len(source):
            break
    return tokens, tuple(statestack)


# ---- Highlighter


def _format_for_style(style: type[Style], ttype: _TokenType) -> QTextCharFormat:
    """Translate pygments' style for ``ttype`` into a character format."""
    fmt = QTextCharFormat()
    info = style.style_for_token(ttype)
    if info["color"]:
        fmt.setForeground(QColor(f"#{info['color']}"))
    if info["bgcolor"]:
        fmt.setBackground(QColor(f"#{info['bgcolor']}"))
    if info["bold"]:
        fmt.setFontWeight(QFont.Weight.Bold)
    if info["italic"]:
        fmt.setFontItalic(True)
    if info["underline"]:
        fmt.setFontUnderline(True)
    return fmt


class PygmentsHighlighter(QSyntaxHighlighter):
    """Colours a document with a pygments lexer, carrying lexer state across blocks.

    Each block is lexed from the state stack the previous block ended in. The
    stacks are interned as small integers and stored with
    `QSyntaxHighlighter.setCurrentBlockState`: Qt re-highlights the following
    block whenever a block's state changes, so typing an opening triple quote
    recolours every line after it, and closing it restores them.

    Parameters
    ----------
    document : QTextDocument
        The document to highlight.
    language : str
        ``"python"`` or ``"javascript"``.
    dark : bool
        Use the dark colour scheme (pygments' ``monokai``) instead of the
        light one (``default``).

    Examples
    --------
    >>> highlighter = PygmentsHighlighter(editor.document(), language="python")
    >>> highlighter.set_language("javascript")  # re-highlights the whole document
    """

    def __init__(
        self, document: QTextDocument, *, language: str = "python", dark: bool = False
    ) -> None:
        super().__init__(document)
        self._language = language
        self._lexer = _make_lexer(language)
        self._dark = dark
        self._style: type[Style] = get_style_by_name(DARK_STYLE if dark else LIGHT_STYLE)
        self._formats: dict[_TokenType, QTextCharFormat] = {}
        self._stacks: list[tuple[str, ...]] = [_ROOT]
        self._stack_ids: dict[tuple[str, ...], int] = {_ROOT: 0}

    # ---- Public API

    @property
    def language(self) -> str:
        """The language being highlighted, ``"python"`` or ``"javascript"``."""
        return self._language

    @property
    def dark(self) -> bool:
        """Whether the dark colour scheme is in use."""
        return self._dark

    @property
    def style(self) -> type[Style]:
        """The pygments style of the current colour scheme."""
        return self._style

    def set_language(self, language: str) -> None:
        """Switch the lexer and re-highlight the document.

        Raises
        ------
        ValueError
            If ``language`` is not one of `LANGUAGES`.
        """
        if language == self._language:
            return
        self._lexer = _make_lexer(language)
        self._language = language
        self._stacks = [_ROOT]
        self._stack_ids = {_ROOT: 0}
        self.rehighlight()

    def set_dark(self, dark: bool) -> None:
        """Switch between the light and the dark colour scheme and re-highlight."""
        if dark == self._dark:
            return
        self._dark = dark
        self._style = get_style_by_name(DARK_STYLE if dark else LIGHT_STYLE)
        self._formats.clear()
        self.rehighlight()

    def format_for_token(self, ttype: _TokenType) -> QTextCharFormat:
        """Return the character format the current scheme gives tokens of type ``ttype``."""
        fmt = self._formats.get(ttype)
        if fmt is None:
            fmt = self._formats[ttype] = _format_for_style(self._style, ttype)
        return fmt

    # ---- Qt overrides

    def highlightBlock(self, text: str) -> None:
        """Lex ``text`` from the previous block's state and apply the formats."""
        previous = self.previousBlockState()
        stack = self._stacks[previous] if 0 <= previous < len(self._stacks) else _ROOT
        tokens, end_stack = _lex_line(self._lexer, text, stack)

        # Walk the tokens in order, advancing a (Python index, UTF-16 offset)
        # pair, so each length is measured once and astral characters count twice.
        index = offset = 0
        limit = len(text)
        for pos, ttype, value in tokens:
            if pos >= limit:
                break  # the newline _lex_line appended
            value = value[: limit - pos]
            offset += utf16_length(text[index:pos])
            length = utf16_length(value)
            fmt = self.format_for_token(ttype)
            if length and fmt.propertyCount():
                self.setFormat(offset, length, fmt)
            index = pos + len(value)
            offset += length

        state = self._stack_ids.get(end_stack)
        if state is None:
            state = self._stack_ids[end_stack] = len(self._stacks)
            self._stacks.append(end_stack)
        self.setCurrentBlockState(state)


# ---- Editor


@dataclass(frozen=True)
class LineHeat:
    """What the gutter shows beside one line: a short label and a coloured strip.

    Parameters
    ----------
    label : str
        A few characters drawn beside the line number (``"1.2 M"``).
    share : float
        How hot the line is, from 0 (no strip) to 1 (the strongest colour).
    tooltip : str
        Shown when the pointer rests on the line's gutter.
    """

    label: str
    share: float
    tooltip: str = ""


def heat_color(share: float) -> QColor:
    """The strip colour for ``share`` (0-1): pale yellow through orange to red."""
    share = max(0.0, min(1.0, share))
    color = QColor.fromHsvF(0.14 * (1.0 - share), 0.55 + 0.4 * share, 0.95)
    color.setAlphaF(0.35 + 0.65 * share)
    return color


class LineNumberArea(QWidget):
    """The gutter left of a `CodeEditor`; the editor paints it."""

    def __init__(self, editor: CodeEditor) -> None:
        super().__init__(editor)
        self._editor = editor
        self.setAccessibleName("Line numbers")

    def sizeHint(self) -> QSize:
        """Return the width the editor asks for and no height preference."""
        return QSize(self._editor.line_number_area_width(), 0)

    def paintEvent(self, event: QPaintEvent) -> None:
        """Delegate painting to the editor, which knows the block geometry."""
        self._editor.line_number_area_paint_event(event)

    def event(self, event: QEvent) -> bool:
        """Show a line's heat tooltip when the pointer rests on its part of the gutter."""
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            text = self._editor.heat_tooltip_at(event.pos().y())
            if text:
                QToolTip.showText(event.globalPos(), text, self)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)


class CodeEditor(QPlainTextEdit):
    r"""A plain-text code editor for Python and JavaScript.

    It has a line-number gutter, a current-line highlight, a monospace font,
    pygments highlighting that follows multi-line strings, 4-space
    indentation (Tab, Shift+Tab, Backspace in leading spaces, Enter keeps the
    indentation and adds a level after ``:`` in Python or ``{`` in
    JavaScript), find/replace with Python regular expressions and undoable
    whole-document replacement. Dropping a local file emits
    `sig_file_dropped` instead of inserting its path.

    Examples
    --------
    >>> editor = CodeEditor()
    >>> editor.setPlainText("x = 1\ny = x\n")
    >>> editor.replace_all("x", "value", case_sensitive=True)  # one undo step
    2
    >>> editor.go_to_line(2)
    """

    # ---- Signals

    sig_file_dropped = Signal(str)
    """
    A local file was dropped on the editor; its text was not inserted.

    Parameters
    ----------
    path : str
        The dropped file's local path (the first one, if several were dropped).
    """

    sig_line_heat_changed = Signal()
    """The gutter's heat changed: set, cleared, or dropped for lines an edit changed."""

    def __init__(self, parent: QWidget | None = None, *, language: str = "python") -> None:
        super().__init__(parent)
        #: The file on disk this editor shows, if any (the window's tabs use it).
        self.path: Path | None = None
        #: What the tab says when there is no file ("untitled 2", "/app/data.csv").
        self.title = "untitled"
        self.setAccessibleName("Code editor")
        self.setAccessibleDescription("Python or JavaScript source to run in the sandbox")
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.setFont(font)
        self.setTabStopDistance(self.fontMetrics().horizontalAdvance(" ") * len(INDENT))
        self.setAcceptDrops(True)

        self._highlighter = PygmentsHighlighter(self.document(), language=language)
        self._line_number_area = LineNumberArea(self)
        #: Heat per 0-based block number, and each block's text when it was set.
        self._heat: dict[int, LineHeat] = {}
        self._heat_lines: list[str] = []
        self._apply_scheme()
        self.document().contentsChange.connect(self._check_heat)

        self.blockCountChanged.connect(self._update_line_number_area_width)
        self.updateRequest.connect(self._update_line_number_area)
        self.cursorPositionChanged.connect(self._highlight_current_line)
        self._update_line_number_area_width()
        self._highlight_current_line()

    # ---- Public API

    @property
    def language(self) -> str:
        """The editor's language, ``"python"`` or ``"javascript"``."""
        return self._highlighter.language

    @property
    def highlighter(self) -> PygmentsHighlighter:
        """The syntax highlighter attached to the document."""
        return self._highlighter

    @property
    def line_number_area(self) -> QWidget:
        """The line-number gutter widget."""
        return self._line_number_area

    def set_language(self, language: str) -> None:
        """Set the language used for highlighting and auto-indentation.

        Raises
        ------
        ValueError
            If ``language`` is not ``"python"`` or ``"javascript"``.
        """
        self._highlighter.set_language(language)

    def set_dark(self, dark: bool) -> None:
        """Switch the editor between the light and the dark colour scheme."""
        self._highlighter.set_dark(dark)
        self._apply_scheme()

    def find(  # type: ignore[override]
        self,
        text: str,
        *,
        backwards: bool = False,
        case_sensitive: bool = False,
        regex: bool = False,
    ) -> bool:
        r"""Select the next match of ``text`` after the cursor, wrapping around the end.

        Parameters
        ----------
        text : str
            What to look for; a Python regular expression if ``regex`` is true
            (``^`` and ``$`` match at line boundaries; ``\n`` matches a line
            break).
        backwards : bool
            Look before the cursor instead, wrapping around the start.
        case_sensitive : bool
            Match letter case exactly.
        regex : bool
            Treat ``text`` as a regular expression instead of literal text.

        Returns
        -------
        bool
            True if a match was found and selected. Empty matches are skipped,
            since there is nothing to select.

        Raises
        ------
        re.error
            If ``regex`` is true and ``text`` is not a valid pattern.
        """
        if not text:
            return False
        pattern = _compile(text, case_sensitive=case_sensitive, regex=regex)
        document = self.toPlainText()
        umap = _Utf16Map(document)
        cursor = self.textCursor()
        matches = [m for m in pattern.finditer(document) if m.end() > m.start()]
        if not matches:
            return False
        if backwards:
            start = umap.to_index(cursor.selectionStart())
            before = [m for m in matches if m.start() < start]
            match = before[-1] if before else matches[-1]
        else:
            end = umap.to_index(cursor.selectionEnd())
            match = next((m for m in matches if m.start() >= end), matches[0])
        found = QTextCursor(self.document())
        found.setPosition(umap.to_utf16(match.start()))
        found.setPosition(umap.to_utf16(match.end()), QTextCursor.MoveMode.KeepAnchor)
        self.setTextCursor(found)
        self.ensureCursorVisible()
        return True

    def replace_all(
        self,
        find: str,
        replace: str,
        *,
        case_sensitive: bool = False,
        regex: bool = False,
    ) -> int:
        r"""Replace every match of ``find`` with ``replace`` as one undo step.

        Parameters
        ----------
        find : str
            What to look for, as in `find`.
        replace : str
            The replacement. With ``regex`` it may refer to groups (``\1``,
            ``\g<name>``), as in `re.sub`; otherwise it is inserted literally.
        case_sensitive : bool
            Match letter case exactly.
        regex : bool
            Treat ``find`` as a regular expression. Empty matches are replaced
            too, as `re.sub` does (``^`` prefixes every line).

        Returns
        -------
        int
            The number of replacements; 0 leaves the document and its undo
            history untouched.

        Raises
        ------
        re.error
            If ``regex`` is true and ``find`` (or a group in ``replace``) is invalid.
        """
        if not find:
            return 0
        pattern = _compile(find, case_sensitive=case_sensitive, regex=regex)
        document = self.toPlainText()
        # Expand every replacement first, so an invalid group reference raises
        # before the document is touched.
        edits = [
            (m.start(), m.end(), m.expand(replace) if regex else replace)
            for m in pattern.finditer(document)
        ]
        if not edits:
            return 0
        umap = _Utf16Map(document)
        cursor = QTextCursor(self.document())
        cursor.beginEditBlock()
        try:
            # Back to front, so earlier positions stay valid.
            for start, end, new in reversed(edits):
                cursor.setPosition(umap.to_utf16(start))
                cursor.setPosition(umap.to_utf16(end), QTextCursor.MoveMode.KeepAnchor)
                cursor.insertText(new)
        finally:
            cursor.endEditBlock()
        return len(edits)

    def go_to_line(self, line: int) -> None:
        """Move the cursor to the start of 1-based line ``line`` (clamped) and show it."""
        line = max(1, min(line, self.blockCount()))
        block = self.document().findBlockByNumber(line - 1)
        cursor = QTextCursor(block)
        self.setTextCursor(cursor)
        self.centerCursor()

    def replace_text_undoably(self, text: str) -> None:
        """Replace the whole document with ``text`` as one undo step.

        Unlike `setPlainText`, this keeps the undo history, so one
        `undo` brings the previous text back.
        """
        cursor = QTextCursor(self.document())
        cursor.beginEditBlock()
        cursor.select(QTextCursor.SelectionType.Document)
        cursor.insertText(text)
        cursor.endEditBlock()
        self.moveCursor(QTextCursor.MoveOperation.Start)

    def set_line_heat(self, heat: Mapping[int, LineHeat]) -> None:
        """Show ``heat`` (keyed by 1-based line) in the gutter, replacing any shown.

        The heat belongs to the text as it is now: an edit that adds or removes
        lines, or changes several, clears it all; an edit inside one line drops
        that line's heat only. Either emits `sig_line_heat_changed`. Lines past
        the end of the text are ignored.
        """
        count = self.blockCount()
        self._heat = {line - 1: value for line, value in heat.items() if 1 <= line <= count}
        self._heat_lines = self.toPlainText().split("\n") if self._heat else []
        self._heat_changed()

    def clear_line_heat(self) -> None:
        """Take the heat out of the gutter."""
        if self._heat:
            self._heat = {}
            self._heat_lines = []
            self._heat_changed()

    def line_heat(self) -> dict[int, LineHeat]:
        """The heat the gutter shows, keyed by 1-based line."""
        return {number + 1: value for number, value in self._heat.items()}

    def heat_tooltip_at(self, y: int) -> str:
        """The tooltip of the line at gutter height ``y`` (pixels), or ``""``."""
        if not self._heat:
            return ""
        number = self.cursorForPosition(QPoint(0, y)).blockNumber()
        heat = self._heat.get(number)
        return heat.tooltip if heat is not None else ""

    def line_number_area_width(self) -> int:
        """Return the gutter width in pixels: the largest line number, and the heat columns."""
        return self._number_column_width() + 4 + self._heat_columns_width()

    def _number_column_width(self) -> int:
        digits = len(str(max(1, self.blockCount())))
        return 4 + self.fontMetrics().horizontalAdvance("9") * max(digits, 2)

    def _heat_columns_width(self) -> int:
        if not self._heat:
            return 0
        return 8 + self.fontMetrics().horizontalAdvance(HEAT_LABEL_SAMPLE) + 3 + HEAT_STRIP_WIDTH

    def line_number_area_paint_event(self, event: QPaintEvent) -> None:
        """Paint the line numbers of the visible blocks into the gutter."""
        palette = self._line_number_area.palette()
        painter = QPainter(self._line_number_area)
        try:
            painter.fillRect(event.rect(), palette.color(QPalette.ColorRole.Window))
            painter.setFont(self.font())
            current = self.textCursor().blockNumber()
            width = self._number_column_width()
            height = self.fontMetrics().height()
            # The strip runs along the text; its label is right-aligned just before it.
            strip_left = self._line_number_area.width() - HEAT_STRIP_WIDTH
            label_width = self.fontMetrics().horizontalAdvance(HEAT_LABEL_SAMPLE)
            label_left = strip_left - 3 - label_width
            block = self.firstVisibleBlock()
            number = block.blockNumber()
            top = round(self.blockBoundingGeometry(block).translated(self.contentOffset()).top())
            bottom = top + round(self.blockBoundingRect(block).height())
            while block.isValid() and top <= event.rect().bottom():
                if block.isVisible() and bottom >= event.rect().top():
                    role = (
                        QPalette.ColorRole.WindowText
                        if number == current
                        else QPalette.ColorRole.PlaceholderText
                    )
                    painter.setPen(palette.color(role))
                    painter.drawText(
                        0, top, width, height, Qt.AlignmentFlag.AlignRight, str(number + 1)
                    )
                    heat = self._heat.get(number)
                    if heat is not None:
                        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
                        painter.drawText(
                            label_left,
                            top,
                            label_width,
                            height,
                            Qt.AlignmentFlag.AlignRight,
                            heat.label,
                        )
                        if heat.share > 0:
                            painter.fillRect(
                                strip_left,
                                top,
                                HEAT_STRIP_WIDTH,
                                bottom - top,
                                heat_color(heat.share),
                            )
                block = block.next()
                top = bottom
                bottom = top + round(self.blockBoundingRect(block).height())
                number += 1
        finally:
            painter.end()

    # ---- Qt overrides

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Keep the gutter the height of the viewport."""
        super().resizeEvent(event)
        rect = self.contentsRect()
        self._line_number_area.setGeometry(
            QRect(rect.left(), rect.top(), self.line_number_area_width(), rect.height())
        )

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Handle indentation keys; everything else is QPlainTextEdit's."""
        key = event.key()
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        plain = mods == Qt.KeyboardModifier.NoModifier
        shift = mods == Qt.KeyboardModifier.ShiftModifier
        if key == Qt.Key.Key_Tab and plain:
            self._indent()
        elif key == Qt.Key.Key_Backtab or (key == Qt.Key.Key_Tab and shift):
            self._dedent()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (plain or shift):
            self._newline_with_indent()
        elif key == Qt.Key.Key_Backspace and plain and self._backspace_indent():
            pass
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """Accept drags carrying a local file; others behave as in QPlainTextEdit."""
        if _first_local_file(event) is not None:
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        """Keep accepting a local-file drag without moving the text cursor."""
        if _first_local_file(event) is not None:
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        """Emit `sig_file_dropped` for a dropped local file instead of inserting its path."""
        path = _first_local_file(event)
        if path is None:
            super().dropEvent(event)
            return
        event.acceptProposedAction()
        self.sig_file_dropped.emit(path)

    # ---- Private

    def _apply_scheme(self) -> None:
        """Colour the text area, gutter and current line from the pygments style."""
        style = self._highlighter.style
        background = QColor(style.background_color or "#ffffff")
        text_color = style.style_for_token(Token.Text)["color"]
        foreground = QColor(f"#{text_color}") if text_color else QColor(Qt.GlobalColor.black)
        if not text_color and background.lightness() < 128:
            foreground = QColor(Qt.GlobalColor.white)
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Base, background)
        palette.setColor(QPalette.ColorRole.Text, foreground)
        self.setPalette(palette)

        gutter = self._line_number_area.palette()
        dark = background.lightness() < 128
        gutter.setColor(
            QPalette.ColorRole.Window, background.lighter(115) if dark else background.darker(105)
        )
        gutter.setColor(QPalette.ColorRole.WindowText, foreground)
        dim = QColor(foreground)
        dim.setAlpha(120)
        gutter.setColor(QPalette.ColorRole.PlaceholderText, dim)
        self._line_number_area.setPalette(gutter)

        self._current_line_color = QColor(style.highlight_color or "#ffffcc")
        self._highlight_current_line()
        self._line_number_area.update()

    def _heat_changed(self) -> None:
        self._update_line_number_area_width()
        self._line_number_area.update()
        self.sig_line_heat_changed.emit()

    @Slot(int, int, int)
    def _check_heat(self, position: int, _removed: int, added: int) -> None:
        """Drop heat an edit made wrong: all of it when lines moved, else the edited line's.

        Format-only changes (the highlighter recolouring) arrive here too; they
        leave the text as it was, so they keep the heat.
        """
        if not self._heat:
            return
        document = self.document()
        if document.blockCount() != len(self._heat_lines):
            self.clear_line_heat()
            return
        first = document.findBlock(position).blockNumber()
        last = document.findBlock(position + added).blockNumber()
        if last < 0:
            last = document.blockCount() - 1
        changed = [
            number
            for number in range(max(0, first), last + 1)
            if document.findBlockByNumber(number).text() != self._heat_lines[number]
        ]
        if len(changed) > 1:
            self.clear_line_heat()
        elif changed:
            number = changed[0]
            self._heat_lines[number] = document.findBlockByNumber(number).text()
            if self._heat.pop(number, None) is not None:
                if not self._heat:
                    self._heat_lines = []
                self._heat_changed()

    @Slot(int)
    def _update_line_number_area_width(self, _block_count: int = 0) -> None:
        width = self.line_number_area_width()
        self.setViewportMargins(width, 0, 0, 0)
        # The margin alone leaves the gutter widget at its old width until the next
        # resize: a wider gutter (heat columns, a digit more) would be cut off.
        rect = self.contentsRect()
        self._line_number_area.setGeometry(QRect(rect.left(), rect.top(), width, rect.height()))

    @Slot(QRect, int)
    def _update_line_number_area(self, rect: QRect, dy: int) -> None:
        if dy:
            self._line_number_area.scroll(0, dy)
        else:
            self._line_number_area.update(
                0, rect.y(), self._line_number_area.width(), rect.height()
            )
        if rect.contains(self.viewport().rect()):
            self._update_line_number_area_width()

    @Slot()
    def _highlight_current_line(self) -> None:
        selection = QTextEdit.ExtraSelection()
        selection.format.setBackground(QBrush(self._current_line_color))
        selection.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
        selection.cursor = self.textCursor()
        selection.cursor.clearSelection()
        self.setExtraSelections([selection])
        # The current line number is drawn in a stronger colour.
        self._line_number_area.update()

    def _selected_blocks(self) -> tuple[int, int]:
        """Return the first and last block numbers the selection (or cursor) touches."""
        cursor = self.textCursor()
        document = self.document()
        first = document.findBlock(cursor.selectionStart()).blockNumber()
        last_block = document.findBlock(cursor.selectionEnd())
        last = last_block.blockNumber()
        # A selection ending at the start of a line does not include that line.
        if last > first and cursor.selectionEnd() == last_block.position():
            last -= 1
        return first, last

    def _indent(self) -> None:
        cursor = self.textCursor()
        first, last = self._selected_blocks()
        if not cursor.hasSelection() or first == last:
            cursor.insertText(INDENT)
            self.setTextCursor(cursor)
            return
        cursor.beginEditBlock()
        for number in range(first, last + 1):
            line = QTextCursor(self.document().findBlockByNumber(number))
            line.insertText(INDENT)
        cursor.endEditBlock()

    def _dedent(self) -> None:
        cursor = self.textCursor()
        first, last = self._selected_blocks()
        cursor.beginEditBlock()
        for number in range(first, last + 1):
            block = self.document().findBlockByNumber(number)
            text = block.text()
            if text.startswith("\t"):
                remove = 1
            else:
                remove = len(text) - len(text.lstrip(" "))
                remove = min(remove, len(INDENT))
            if remove:
                line = QTextCursor(block)
                line.setPosition(block.position() + remove, QTextCursor.MoveMode.KeepAnchor)
                line.removeSelectedText()
        cursor.endEditBlock()

    def _newline_with_indent(self) -> None:
        cursor = self.textCursor()
        block_text = cursor.block().text()
        before = block_text[: _Utf16Map(block_text).to_index(cursor.positionInBlock())]
        indent = before[: len(before) - len(before.lstrip(" \t"))]
        opener = ":" if self.language == "python" else "{"
        if before.rstrip().endswith(opener):
            indent += INDENT
        cursor.beginEditBlock()
        cursor.insertText("\n" + indent)
        cursor.endEditBlock()
        self.setTextCursor(cursor)
        self.ensureCursorVisible()

    def _backspace_indent(self) -> bool:
        """Delete back to the previous indentation stop inside leading spaces.

        Returns False (so Backspace deletes one character as usual) when there
        is a selection or the cursor is not inside leading spaces.
        """
        cursor = self.textCursor()
        if cursor.hasSelection():
            return False
        column = cursor.positionInBlock()
        before = cursor.block().text()[:column]
        if not before or before.strip(" "):
            return False
        remove = (column - 1) % len(INDENT) + 1
        cursor.movePosition(QTextCursor.MoveOperation.Left, QTextCursor.MoveMode.KeepAnchor, remove)
        cursor.removeSelectedText()
        return True


def _compile(text: str, *, case_sensitive: bool, regex: bool) -> re.Pattern[str]:
    flags = re.MULTILINE | (0 if case_sensitive else re.IGNORECASE)
    return re.compile(text if regex else re.escape(text), flags)


def _first_local_file(event: QDropEvent | QDragMoveEvent | QDragEnterEvent) -> str | None:
    mime = event.mimeData()
    if mime is None or not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile():
            return url.toLocalFile()
    return None


# ---- Find bar


class FindBar(QWidget):
    """A find/replace bar that drives a `CodeEditor`.

    Enter in the find field finds the next match, Shift+Enter the previous
    one; Escape (or the close button) hides the bar and emits `sig_closed`.
    The status label says ``No match`` or ``3 replaced``. Setting focus on
    the bar focuses the find field.

    Parameters
    ----------
    editor : CodeEditor
        The editor to search in.
    parent : QWidget, optional
        The parent widget.

    Examples
    --------
    >>> bar = FindBar(editor)
    >>> bar.find_edit.setText("print")
    >>> bar.find_next()
    True
    """

    # ---- Signals

    sig_closed = Signal()
    """The bar was closed with Escape or its close button and is now hidden."""

    def __init__(self, editor: CodeEditor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._editor = editor
        self.setAccessibleName("Find and replace")

        self.find_edit = QLineEdit(self)
        self.find_edit.setPlaceholderText("Find")
        self.find_edit.setClearButtonEnabled(True)
        self.find_edit.setToolTip("Text to find (Enter: next, Shift+Enter: previous)")
        self.find_edit.setAccessibleName("Find text")

        self.replace_edit = QLineEdit(self)
        self.replace_edit.setPlaceholderText("Replace with")
        self.replace_edit.setClearButtonEnabled(True)
        self.replace_edit.setToolTip(r"Replacement text (with Regex, \1 refers to a group)")
        self.replace_edit.setAccessibleName("Replace with")

        self.previous_button = self._button("Previous", "Find the previous match (Shift+Enter)")
        self.next_button = self._button("Next", "Find the next match (Enter)")
        self.replace_all_button = self._button(
            "Replace all", "Replace every match; one Undo restores the text"
        )

        self.case_check = QCheckBox("Match case", self)
        self.case_check.setToolTip("Match upper and lower case exactly")
        self.case_check.setAccessibleName("Match case")
        self.regex_check = QCheckBox("Regex", self)
        self.regex_check.setToolTip("Treat the find text as a Python regular expression")
        self.regex_check.setAccessibleName("Regular expression")

        self.status_label = QLabel(self)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setAccessibleName("Find status")
        self.status_label.setToolTip("Result of the last find or replace")

        self.close_button = self._button("\u2715", "Close the find bar (Escape)")
        self.close_button.setAccessibleName("Close find bar")
        self.close_button.setAutoRaise(True)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        for widget in (
            self.find_edit,
            self.previous_button,
            self.next_button,
            self.replace_edit,
            self.replace_all_button,
            self.case_check,
            self.regex_check,
            self.status_label,
        ):
            layout.addWidget(widget)
        layout.addStretch(1)
        layout.addWidget(self.close_button)
        self.setFocusProxy(self.find_edit)

        self.find_edit.returnPressed.connect(self.find_next)
        self.find_edit.textEdited.connect(self._clear_status)
        self.replace_edit.returnPressed.connect(self.find_next)
        self.next_button.clicked.connect(self.find_next)
        self.previous_button.clicked.connect(self.find_previous)
        self.replace_all_button.clicked.connect(self.replace_all)
        self.close_button.clicked.connect(self.close_bar)
        for edit in (self.find_edit, self.replace_edit):
            edit.installEventFilter(self)

    # ---- Public API

    @property
    def editor(self) -> CodeEditor:
        """The editor this bar searches."""
        return self._editor

    def set_editor(self, editor: CodeEditor) -> None:
        """Search ``editor`` from now on (the window's current tab changed)."""
        self._editor = editor
        self._clear_status()

    @Slot()
    def find_next(self) -> bool:
        """Select the next match after the editor's cursor; return whether there was one."""
        return self._find(backwards=False)

    @Slot()
    def find_previous(self) -> bool:
        """Select the previous match before the editor's cursor; return whether there was one."""
        return self._find(backwards=True)

    @Slot()
    def replace_all(self) -> int:
        """Replace every match in the editor (one undo step); return the count."""
        try:
            count = self._editor.replace_all(
                self.find_edit.text(),
                self.replace_edit.text(),
                case_sensitive=self.case_check.isChecked(),
                regex=self.regex_check.isChecked(),
            )
        except re.error as exc:
            self._show_invalid(exc)
            return 0
        self.status_label.setText(f"{count} replaced" if count else "No match")
        return count

    @Slot()
    def close_bar(self) -> None:
        """Hide the bar, give the focus back to the editor and emit `sig_closed`."""
        self.hide()
        self._editor.setFocus()
        self.sig_closed.emit()

    # ---- Qt overrides

    def showEvent(self, event: QShowEvent) -> None:
        """Start from the editor's single-line selection, if any, with the text selected."""
        super().showEvent(event)
        selected = self._editor.textCursor().selectedText()
        if selected and "\u2029" not in selected:
            self.find_edit.setText(selected)
        self.find_edit.selectAll()
        self._clear_status()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Close on Escape pressed anywhere in the bar."""
        if event.key() == Qt.Key.Key_Escape:
            self.close_bar()
            event.accept()
        else:
            super().keyPressEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Route Escape and Shift+Enter typed in the line edits."""
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            # Claim Escape before any window-wide shortcut can take it.
            if event.key() == Qt.Key.Key_Escape:
                event.accept()
                return True
        elif event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            if event.key() == Qt.Key.Key_Escape:
                self.close_bar()
                return True
            if (
                watched is self.find_edit
                and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
                and event.modifiers() & Qt.KeyboardModifier.ShiftModifier
            ):
                self.find_previous()
                return True
        return super().eventFilter(watched, event)

    # ---- Private

    def _button(self, text: str, tooltip: str) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setToolTip(tooltip)
        button.setAccessibleName(text)
        return button

    def _find(self, *, backwards: bool) -> bool:
        text = self.find_edit.text()
        if not text:
            self._clear_status()
            return False
        try:
            found = self._editor.find(
                text,
                backwards=backwards,
                case_sensitive=self.case_check.isChecked(),
                regex=self.regex_check.isChecked(),
            )
        except re.error as exc:
            self._show_invalid(exc)
            return False
        self.status_label.setText("" if found else "No match")
        return found

    def _show_invalid(self, exc: re.error) -> None:
        self.status_label.setText(f"Invalid regular expression: {exc}")

    @Slot()
    def _clear_status(self) -> None:
        self.status_label.clear()
