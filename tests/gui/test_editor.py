"""The code editor, its highlighter and the find bar, as real widgets on offscreen Qt."""

from __future__ import annotations

import os
import re
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from pygments.styles import get_style_by_name
from pygments.token import Comment, Keyword, String, _TokenType
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QPalette, QTextBlock, QTextCursor
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from workbench.gui.editor import HEAT_STRIP_WIDTH, CodeEditor, FindBar, LineHeat, utf16_length

# ---- Helpers


@pytest.fixture
def editor(qtbot: QtBot) -> CodeEditor:
    widget = CodeEditor()
    qtbot.addWidget(widget)
    widget.resize(600, 400)
    return widget


@pytest.fixture
def bar(qtbot: QtBot, editor: CodeEditor) -> FindBar:
    widget = FindBar(editor)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def block(editor: CodeEditor, number: int) -> QTextBlock:
    found = editor.document().findBlockByNumber(number)
    assert found.isValid(), f"no line {number + 1}"
    return found


def colored_ranges(editor: CodeEditor, line: int) -> dict[tuple[int, int], str]:
    """The highlighter's (UTF-16 start, length) -> foreground colour ranges of a line."""
    # Read each format while its FormatRange is alive: the wrapper does not own it.
    return {
        (r.start, r.length): r.format.foreground().color().name()
        for r in block(editor, line).layout().formats()
        if r.format.hasProperty(r.format.Property.ForegroundBrush)
    }


def color_at(editor: CodeEditor, line: int, column: int) -> str | None:
    """The highlighter's foreground at a UTF-16 column of a 0-based line, if any."""
    for (start, length), color in colored_ranges(editor, line).items():
        if start <= column < start + length:
            return color
    return None


def style_color(ttype: _TokenType, style: str = "default") -> str:
    color = get_style_by_name(style).style_for_token(ttype)["color"]
    assert color, f"{style} has no colour for {ttype}"
    return f"#{color}".lower()


def cursor_at_end(editor: CodeEditor) -> None:
    editor.moveCursor(QTextCursor.MoveOperation.End)


# ---- Highlighting


def test_keywords_get_the_keyword_format(editor: CodeEditor) -> None:
    editor.setPlainText("def f():\n    return None")
    ranges = colored_ranges(editor, 0)
    assert ranges[(0, 3)] == style_color(Keyword), ranges  # "def"
    assert color_at(editor, 1, 4) == style_color(Keyword)  # "return"
    assert color_at(editor, 1, 11) == style_color(Keyword.Constant)  # "None"


def test_triple_quoted_string_is_a_string_on_every_line(editor: CodeEditor) -> None:
    editor.setPlainText('x = """one\ntwo words\nthree"""\nwhile y: pass')
    string = style_color(String)
    assert color_at(editor, 0, 4) == string
    assert color_at(editor, 1, 0) == string
    assert color_at(editor, 1, 8) == string
    assert color_at(editor, 2, 0) == string
    # After the closing quotes, code is code again.
    assert color_at(editor, 3, 0) == style_color(Keyword)


def test_multi_line_docstring_keeps_the_doc_format(editor: CodeEditor) -> None:
    editor.setPlainText('def f():\n    """Summary.\n\n    More.\n    """\n    return 1')
    doc = style_color(String.Doc)
    assert color_at(editor, 1, 4) == doc
    assert color_at(editor, 3, 4) == doc
    assert color_at(editor, 5, 4) == style_color(Keyword)


def test_opening_quotes_typed_later_recolour_the_following_lines(editor: CodeEditor) -> None:
    editor.setPlainText("a = 1\nwhile b: pass\nc = 2")
    assert color_at(editor, 1, 0) == style_color(Keyword)
    cursor = QTextCursor(editor.document())
    cursor.insertText('"""')
    assert color_at(editor, 1, 0) == style_color(String.Doc)
    assert color_at(editor, 2, 0) == style_color(String.Doc)
    editor.undo()
    assert editor.toPlainText() == "a = 1\nwhile b: pass\nc = 2"
    assert color_at(editor, 1, 0) == style_color(Keyword)


def test_js_block_comment_spans_lines(editor: CodeEditor) -> None:
    editor.set_language("javascript")
    editor.setPlainText("/* one\n   two words\n   three */ let x = 1;")
    comment = style_color(Comment.Multiline)
    assert color_at(editor, 0, 0) == comment
    assert color_at(editor, 1, 3) == comment
    assert color_at(editor, 1, 8) == comment
    assert color_at(editor, 2, 3) == comment
    assert color_at(editor, 2, 12) == style_color(Keyword.Declaration)  # "let"


def test_js_template_literal_spans_lines(editor: CodeEditor) -> None:
    editor.set_language("javascript")
    editor.setPlainText("const s = `one\ntwo ${x}\nthree`;\nlet y = 2;")
    backtick = style_color(String.Backtick)
    assert color_at(editor, 1, 0) == backtick
    assert color_at(editor, 2, 0) == backtick
    assert color_at(editor, 3, 0) == style_color(Keyword.Declaration)


def test_emoji_before_a_keyword_does_not_shift_its_range(editor: CodeEditor) -> None:
    line = "s = '\U0001f600\U0001f600'; import os"
    editor.setPlainText(line)
    start = utf16_length(line[: line.index("import")])
    assert start == line.index("import") + 2  # two astral characters, one extra unit each
    ranges = colored_ranges(editor, 0)
    assert ranges.get((start, len("import"))) == style_color(Keyword.Namespace), ranges
    # The string covers both emoji: 2 quotes + 2 x 2 units.
    assert ranges.get((4, 6)) == style_color(String), ranges


def test_switching_language_rehighlights(editor: CodeEditor) -> None:
    editor.setPlainText("let x = 1")
    assert color_at(editor, 0, 0) is None  # a plain name in Python
    editor.set_language("javascript")
    assert editor.language == "javascript"
    assert color_at(editor, 0, 0) == style_color(Keyword.Declaration)
    editor.set_language("python")
    assert editor.language == "python"
    assert color_at(editor, 0, 0) is None


def test_unknown_language_is_refused(editor: CodeEditor) -> None:
    with pytest.raises(ValueError, match="python, javascript"):
        editor.set_language("ruby")
    assert editor.language == "python"


def test_dark_scheme_recolours_text_and_background(editor: CodeEditor) -> None:
    editor.setPlainText("def f(): pass")
    light_base = editor.palette().color(QPalette.ColorRole.Base)
    editor.set_dark(True)
    assert editor.highlighter.dark
    assert color_at(editor, 0, 0) == style_color(Keyword, "monokai")
    dark_base = editor.palette().color(QPalette.ColorRole.Base)
    assert dark_base.lightness() < 128 < light_base.lightness()
    assert dark_base == QColor(get_style_by_name("monokai").background_color)
    editor.set_dark(False)
    assert color_at(editor, 0, 0) == style_color(Keyword)


# ---- Gutter


def test_line_number_area_grows_with_the_line_count(editor: CodeEditor) -> None:
    editor.setPlainText("x = 1")
    narrow = editor.line_number_area_width()
    assert editor.viewportMargins().left() == narrow
    editor.setPlainText("\n".join(f"x{i} = {i}" for i in range(1500)))
    wide = editor.line_number_area_width()
    assert editor.blockCount() == 1500
    assert wide > narrow
    assert editor.viewportMargins().left() == wide
    editor.show()
    assert editor.line_number_area.width() == wide
    editor.line_number_area.repaint()  # paints without error


# ---- Indentation


def test_enter_after_a_python_block_opener_indents(qtbot: QtBot, editor: CodeEditor) -> None:
    editor.setPlainText("def f():")
    cursor_at_end(editor)
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.keyClicks(editor, "return 1")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert editor.toPlainText() == "def f():\n    return 1\n    "


def test_enter_after_a_js_brace_indents(qtbot: QtBot, editor: CodeEditor) -> None:
    editor.set_language("javascript")
    editor.setPlainText("function f() {")
    cursor_at_end(editor)
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert editor.toPlainText() == "function f() {\n    "
    # A colon is not a block opener in JavaScript.
    editor.setPlainText("  case 1:")
    cursor_at_end(editor)
    qtbot.keyClick(editor, Qt.Key.Key_Enter, Qt.KeyboardModifier.KeypadModifier)
    assert editor.toPlainText() == "  case 1:\n  "


def test_tab_inserts_four_spaces(qtbot: QtBot, editor: CodeEditor) -> None:
    editor.setPlainText("x")
    editor.moveCursor(QTextCursor.MoveOperation.Start)
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.toPlainText() == "    x"
    assert editor.textCursor().position() == 4


def test_tab_and_shift_tab_indent_and_dedent_selected_lines(
    qtbot: QtBot, editor: CodeEditor
) -> None:
    editor.setPlainText("a\n  b\n        c\nd")
    cursor = editor.textCursor()
    cursor.setPosition(0)
    cursor.setPosition(block(editor, 2).position() + 3, QTextCursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.toPlainText() == "    a\n      b\n            c\nd"
    qtbot.keyClick(editor, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    assert editor.toPlainText() == "a\n  b\n        c\nd"
    qtbot.keyClick(editor, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    assert editor.toPlainText() == "a\nb\n    c\nd"
    editor.undo()
    assert editor.toPlainText() == "a\n  b\n        c\nd"


def test_shift_tab_dedents_the_current_line(qtbot: QtBot, editor: CodeEditor) -> None:
    editor.setPlainText("        x = 1")
    cursor_at_end(editor)
    qtbot.keyClick(editor, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    assert editor.toPlainText() == "    x = 1"


def test_backspace_in_leading_spaces_removes_one_level(qtbot: QtBot, editor: CodeEditor) -> None:
    editor.setPlainText("        ")
    cursor_at_end(editor)
    qtbot.keyClick(editor, Qt.Key.Key_Backspace)
    assert editor.toPlainText() == "    "
    editor.setPlainText("    ab")
    cursor_at_end(editor)
    qtbot.keyClick(editor, Qt.Key.Key_Backspace)
    assert editor.toPlainText() == "    a"


# ---- Find and replace


def test_find_wraps_around(editor: CodeEditor) -> None:
    editor.setPlainText("foo bar\nfoo baz")
    assert editor.find("foo")
    assert editor.textCursor().selectionStart() == 0
    assert editor.find("foo")
    assert editor.textCursor().selectionStart() == 8
    assert editor.find("foo")  # wraps to the first one
    assert editor.textCursor().selectionStart() == 0
    assert editor.find("foo", backwards=True)  # wraps to the last one
    assert editor.textCursor().selectionStart() == 8
    assert not editor.find("qux")
    assert editor.textCursor().selectedText() == "foo"  # a miss keeps the selection


def test_find_respects_case_and_regex(editor: CodeEditor) -> None:
    editor.setPlainText("Value = value + 1")
    assert editor.find("VALUE")
    assert editor.textCursor().selectedText() == "Value"
    assert editor.find("value", case_sensitive=True)
    assert editor.textCursor().selectionStart() == 8
    assert not editor.find("VALUE", case_sensitive=True)
    assert not editor.find(r"\d")  # literal: no backslash-d in the text
    assert editor.find(r"\d", regex=True)
    assert editor.textCursor().selectedText() == "1"
    assert editor.find(r"^v\w+", regex=True)
    assert editor.textCursor().selectedText() == "Value"
    with pytest.raises(re.error):
        editor.find("(", regex=True)


def test_find_selects_the_right_text_after_emoji(editor: CodeEditor) -> None:
    editor.setPlainText("\U0001f600 foo\n\U0001f680\U0001f680 foo")
    assert editor.find("foo")
    assert editor.textCursor().selectedText() == "foo"
    assert editor.find("foo")
    assert editor.textCursor().selectedText() == "foo"
    assert editor.textCursor().blockNumber() == 1


def test_replace_all_is_one_undo_step(editor: CodeEditor) -> None:
    original = "x = 1\ny = x + X\nprint(x)"
    editor.setPlainText(original)
    assert editor.replace_all("x", "value", case_sensitive=True) == 3
    assert editor.toPlainText() == "value = 1\ny = value + X\nprint(value)"
    editor.undo()
    assert editor.toPlainText() == original
    assert not editor.document().isUndoAvailable()


def test_replace_all_counts_case_insensitive_and_regex_matches(editor: CodeEditor) -> None:
    editor.setPlainText("a1 A2 \U0001f600 a3")
    assert editor.replace_all("a", "b") == 3
    assert editor.toPlainText() == "b1 b2 \U0001f600 b3"
    assert editor.replace_all(r"b(\d)", r"<\1>", regex=True) == 3
    assert editor.toPlainText() == "<1> <2> \U0001f600 <3>"
    assert editor.replace_all("zzz", "y") == 0
    editor.undo()
    assert editor.toPlainText() == "b1 b2 \U0001f600 b3"


def test_replace_text_undoably_is_one_undo_step(editor: CodeEditor) -> None:
    llm = "Here you go:\n```python\nprint(1)\n```"
    editor.setPlainText(llm)
    editor.replace_text_undoably("print(1)")
    assert editor.toPlainText() == "print(1)"
    editor.undo()
    assert editor.toPlainText() == llm
    editor.redo()
    assert editor.toPlainText() == "print(1)"


def test_go_to_line_moves_the_cursor(editor: CodeEditor) -> None:
    editor.setPlainText("\n".join(f"line {n}" for n in range(1, 101)))
    editor.go_to_line(42)
    assert editor.textCursor().blockNumber() == 41
    assert editor.textCursor().positionInBlock() == 0
    editor.go_to_line(1000)  # clamped
    assert editor.textCursor().blockNumber() == 99
    editor.go_to_line(0)
    assert editor.textCursor().blockNumber() == 0


# ---- Find bar


def test_find_bar_enter_finds_next(qtbot: QtBot, editor: CodeEditor, bar: FindBar) -> None:
    editor.setPlainText("alpha beta\nbeta gamma")
    qtbot.keyClicks(bar.find_edit, "beta")
    qtbot.keyClick(bar.find_edit, Qt.Key.Key_Return)
    assert editor.textCursor().selectedText() == "beta"
    assert editor.textCursor().blockNumber() == 0
    qtbot.keyClick(bar.find_edit, Qt.Key.Key_Return)
    assert editor.textCursor().blockNumber() == 1
    qtbot.keyClick(bar.find_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert editor.textCursor().blockNumber() == 0
    assert bar.status_label.text() == ""


def test_find_bar_reports_no_match_and_bad_regex(
    qtbot: QtBot, editor: CodeEditor, bar: FindBar
) -> None:
    editor.setPlainText("alpha")
    qtbot.keyClicks(bar.find_edit, "omega")
    qtbot.keyClick(bar.find_edit, Qt.Key.Key_Return)
    assert bar.status_label.text() == "No match"
    bar.find_edit.setText("(")
    bar.regex_check.setChecked(True)
    assert not bar.find_next()
    assert bar.status_label.text().startswith("Invalid regular expression")


def test_find_bar_replace_all_reports_the_count(
    qtbot: QtBot, editor: CodeEditor, bar: FindBar
) -> None:
    editor.setPlainText("n = n + N")
    bar.find_edit.setText("n")
    bar.replace_edit.setText("total")
    bar.case_check.setChecked(True)
    qtbot.mouseClick(bar.replace_all_button, Qt.MouseButton.LeftButton)
    assert bar.status_label.text() == "2 replaced"
    assert editor.toPlainText() == "total = total + N"
    qtbot.mouseClick(bar.replace_all_button, Qt.MouseButton.LeftButton)
    assert bar.status_label.text() == "No match"
    editor.undo()
    assert editor.toPlainText() == "n = n + N"
    bar.case_check.setChecked(False)
    assert bar.replace_all() == 3
    assert bar.status_label.text() == "3 replaced"


def test_find_bar_escape_hides_and_emits_closed(qtbot: QtBot, bar: FindBar) -> None:
    assert bar.isVisible()
    with qtbot.waitSignal(bar.sig_closed, timeout=1000):
        qtbot.keyClick(bar.find_edit, Qt.Key.Key_Escape)
    assert not bar.isVisible()
    bar.show()
    with qtbot.waitSignal(bar.sig_closed, timeout=1000):
        qtbot.mouseClick(bar.close_button, Qt.MouseButton.LeftButton)
    assert not bar.isVisible()


def test_find_bar_starts_from_the_editor_selection(qtbot: QtBot, editor: CodeEditor) -> None:
    editor.setPlainText("some needle here")
    editor.find("needle")
    bar = FindBar(editor)
    qtbot.addWidget(bar)
    bar.show()
    assert bar.find_edit.text() == "needle"
    assert bar.find_edit.selectedText() == "needle"


def test_find_bar_controls_are_labelled(bar: FindBar) -> None:
    controls = [
        bar.find_edit,
        bar.replace_edit,
        bar.next_button,
        bar.previous_button,
        bar.replace_all_button,
        bar.case_check,
        bar.regex_check,
        bar.close_button,
    ]
    for control in controls:
        assert control.accessibleName(), control
        assert control.toolTip(), control
    assert bar.accessibleName()
    assert bar.status_label.accessibleName()
    assert bar.editor.accessibleName()


# ---- Drag and drop


def drop(editor: CodeEditor, mime: QMimeData) -> tuple[QDragEnterEvent, QDropEvent]:
    """Drag ``mime`` onto the editor's viewport and drop it, as a window system would."""
    # Qt delivers a Drop only to a widget that accepted the DragEnter before it.
    rest = (
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    try:
        enter = QDragEnterEvent(QPointF(10, 10), *rest)  # Qt >= 6.12
    except TypeError:
        enter = QDragEnterEvent(QPoint(10, 10), *rest)  # deprecated from Qt 6.12
    QApplication.sendEvent(editor.viewport(), enter)
    event = QDropEvent(QPointF(10, 10), *rest)
    QApplication.sendEvent(editor.viewport(), event)
    return enter, event


def test_dropping_a_file_emits_its_path(qtbot: QtBot, editor: CodeEditor, tmp_path: Path) -> None:
    path = tmp_path / "script.py"
    path.write_text("print('dropped')\n", encoding="utf-8")
    editor.setPlainText("x = 1")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    with qtbot.waitSignal(editor.sig_file_dropped, timeout=1000) as blocker:
        enter, event = drop(editor, mime)
    assert blocker.args == [str(path)]
    assert enter.isAccepted()
    assert event.isAccepted()
    assert editor.toPlainText() == "x = 1"  # the path was not inserted


def test_dropping_text_inserts_it_without_the_signal(qtbot: QtBot, editor: CodeEditor) -> None:
    editor.setPlainText("")
    mime = QMimeData()
    mime.setText("print(2)")
    with qtbot.assertNotEmitted(editor.sig_file_dropped):
        drop(editor, mime)
    assert "print(2)" in editor.toPlainText()


# ---- Heat strip (a fuel profile's cost per line)


HEAT_CODE = "total = 0\nfor i in range(10):\n    total += i\nprint(total)\n"


def strip_pixel(editor: CodeEditor, line: int) -> QColor:
    """The colour painted in the middle of ``line``'s heat strip in the gutter."""
    image = editor.line_number_area.grab().toImage()
    rect = editor.blockBoundingGeometry(block(editor, line - 1)).translated(editor.contentOffset())
    x = editor.line_number_area.width() - HEAT_STRIP_WIDTH // 2 - 1
    return image.pixelColor(QPoint(x, int(rect.center().y())))


def test_heat_widens_the_gutter_and_paints_the_hot_line(qtbot: QtBot, editor: CodeEditor) -> None:
    editor.show()
    editor.setPlainText(HEAT_CODE)
    plain = editor.line_number_area_width()
    background = strip_pixel(editor, 3)
    with qtbot.waitSignal(editor.sig_line_heat_changed):
        editor.set_line_heat(
            {
                3: LineHeat("1.2 M", 1.0, "line 3: hot"),
                2: LineHeat("40 k", 0.03),
                99: LineHeat("x", 1),
            }
        )
    assert editor.line_heat().keys() == {2, 3}  # line 99 is past the end
    assert editor.line_number_area_width() > plain
    assert editor.line_number_area.width() == editor.line_number_area_width()
    QApplication.processEvents()
    assert strip_pixel(editor, 3) != background
    assert strip_pixel(editor, 4) == background  # no heat, no strip
    y = int(
        editor.blockBoundingGeometry(block(editor, 2))
        .translated(editor.contentOffset())
        .center()
        .y()
    )
    assert editor.heat_tooltip_at(y) == "line 3: hot"
    editor.clear_line_heat()
    assert editor.line_heat() == {} and editor.line_number_area_width() == plain


def test_heat_survives_recolouring_but_not_edits_that_move_lines(editor: CodeEditor) -> None:
    editor.setPlainText(HEAT_CODE)
    heat = {2: LineHeat("1 k", 0.5), 3: LineHeat("9 k", 1.0)}
    editor.set_line_heat(heat)
    editor.set_dark(True)  # the highlighter recolours every line: the text is the same
    editor.set_language("javascript")
    assert editor.line_heat() == heat
    cursor = QTextCursor(block(editor, 2))
    cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock)
    cursor.insertText("  # changed")  # an edit inside line 3: only its number is stale
    assert editor.line_heat() == {2: heat[2]}
    cursor.insertText("\nextra = 1")  # a new line moves every line after it
    assert editor.line_heat() == {}


def test_heat_is_cleared_when_the_whole_text_is_replaced(editor: CodeEditor) -> None:
    editor.setPlainText(HEAT_CODE)
    editor.set_line_heat({1: LineHeat("1 k", 1.0)})
    editor.replace_text_undoably(HEAT_CODE.replace("10", "20").replace("total", "t"))
    assert editor.line_heat() == {}
