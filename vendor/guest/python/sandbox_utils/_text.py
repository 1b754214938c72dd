"""Text helpers: grep, sed, diff.

``re`` costs ~200 M fuel to import in the sandbox, so a pattern without regular
expression syntax is searched as plain text and ``re`` is only imported for a
pattern that needs it.
"""

from ._paths import AppPath, is_dir, resolve

_REGEX_SYNTAX = frozenset(".^$*+?{}[]\\|()")


def _plain(pattern):
    return not any(ch in _REGEX_SYNTAX for ch in pattern)


def _matcher(pattern, regex, ignore_case):
    """A function line -> bool."""
    if not regex or _plain(pattern):
        if ignore_case:
            folded = pattern.casefold()
            return lambda line: folded in line.casefold()
        return lambda line: pattern in line
    import re

    return re.compile(pattern, re.IGNORECASE if ignore_case else 0).search


class GrepMatch(tuple):
    """One line found by :func:`grep`: ``(path, line_number, line)``, also as attributes."""

    __slots__ = ()
    path = property(lambda self: self[0], doc="The file (an AppPath).")
    line_number = property(lambda self: self[1], doc="1-based line number.")
    line = property(lambda self: self[2], doc="The line, without its line end.")

    def __repr__(self):
        return "GrepMatch(path={!r}, line_number={!r}, line={!r})".format(*self)


def _files(paths):
    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        paths = [paths]
    for path in paths:
        full = resolve(path)
        if is_dir(full):
            from ._tree import walk_tree

            for item, kind in walk_tree(full):
                if kind == "file":
                    yield item
        else:
            yield full


def grep(pattern, paths=".", *, regex=True, ignore_case=False, invert=False, encoding="utf-8"):
    """Lines of files that match ``pattern``, as ``(path, line_number, line)`` tuples.

    ``pattern`` is a regular expression (``regex=True``, the default) or plain
    text; text without regex syntax is searched without importing ``re``
    (~200 M fuel). ``paths`` is a file, a folder (searched recursively) or a
    list of them. ``invert=True`` returns the lines that don't match.
    """
    test = _matcher(pattern, regex, ignore_case)
    found = []
    for full in _files(paths):
        shown = AppPath(full)
        with open(full, encoding=encoding, errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                line = line.rstrip("\r\n")
                if bool(test(line)) != invert:
                    found.append(GrepMatch((shown, number, line)))
    return found


def sed(pattern, replacement, text=None, *, path=None, regex=True, count=0, ignore_case=False):
    r"""Replace ``pattern`` with ``replacement`` in ``text``, or in the file ``path=``.

    A regular expression by default (groups as ``\1``); plain patterns need no
    ``re``. ``count=0`` replaces all. Returns the new text; a file is rewritten.
    """
    if (text is None) == (path is None):
        raise TypeError("sed() needs either text or path=, not both")
    if path is not None:
        full = resolve(path)
        with open(full, encoding="utf-8") as handle:
            text = handle.read()
    plain = not regex or (_plain(pattern) and "\\" not in replacement)
    if plain and not ignore_case:
        result = text.replace(pattern, replacement, count if count > 0 else -1)
    else:
        import re

        if not regex:
            pattern = re.escape(pattern)
            replacement = replacement.replace("\\", "\\\\")
        result = re.sub(
            pattern, replacement, text, count=count, flags=re.IGNORECASE if ignore_case else 0
        )
    if path is not None:
        with open(full, "w", encoding="utf-8") as handle:
            handle.write(result)
    return result


def diff(a, b, *, texts=False, context=3):
    """A unified diff of two files (or two strings with ``texts=True``); "" if equal.

    Uses ``difflib`` (~250 M fuel to import the first time).
    """
    if texts:
        left, right, left_name, right_name = a, b, "a", "b"
    else:
        left_name, right_name = resolve(a), resolve(b)
        with open(left_name, encoding="utf-8", errors="replace") as handle:
            left = handle.read()
        with open(right_name, encoding="utf-8", errors="replace") as handle:
            right = handle.read()
    import difflib

    lines = difflib.unified_diff(
        left.splitlines(True), right.splitlines(True), left_name, right_name, n=context
    )
    out = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


# Shown (in tracebacks, reprs and pickles) under the package that exports them.
GrepMatch.__module__ = "sandbox_utils"
