"""Pull the code to run out of an LLM's reply.

LLM replies mix prose and Markdown. :func:`extract_code` finds the fenced code
blocks (CommonMark rules, tolerant of output that was cut off), keeps the Python
or JavaScript ones, and joins the blocks of one language into one program.
:func:`detect_language` guesses the language of code that has no label.

Usage::

    extracted = extract_code(reply)
    extracted.code        # the program, "" when nothing runnable was found
    extracted.language    # RuntimeType.PYTHON, RuntimeType.JAVASCRIPT or None
    extracted.note        # "Kept 2 python blocks; dropped prose and 1 bash block."

    extract_code(reply, prefer=RuntimeType.JAVASCRIPT)  # a JavaScript tab
    detect_language("const x = 1;")                      # RuntimeType.JAVASCRIPT

    choice = choose_code(reply)   # what Run, the CLI, the console and MCP run
    choice.code, choice.runtime   # the blocks to run and their language...
    choice.problem                # ...or, in words, why nothing should run

The rules, in short:

* Fences are ```` ``` ```` or ``~~~`` (three or more), indented by at most three
  spaces; a block ends at a fence of the same character that is at least as
  long, or at the end of the text. The first word of the info string is the
  tag (``python``, ``py``, ``js``, ``{.python}`` ...).
* Blocks tagged with another language (``bash``, ``json``, ``text``,
  ``typescript`` ...) are never run. Untagged blocks get their language from
  :func:`detect_language`. Shell transcripts (``$ ...``, ``pip install ...``)
  are dropped; Python REPL transcripts (``>>>``, ``In [1]:``) keep their
  code lines without the prompts. A ``markdown`` block that wraps fences is
  opened one level.
* Without ``prefer``, the language with the most code wins (ties go to the one
  seen first); its blocks are joined in order with one blank line between them.
* Text without fences is taken whole.

:func:`choose_code` is the one decision every face shares (``wasm-workbench run
answer.md``, Run in the workbench, its console, MCP ``execute_code``): text
without fences runs as it is; a Markdown answer runs the blocks of its one
language; an answer with runnable blocks in two languages (unless the caller
named one), or with none, runs nothing and says why.

Everything here runs in linear time and never raises on a ``str``.
"""

from __future__ import annotations

import ast
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ._result import RuntimeType

__all__ = [
    "SCIENTIFIC_MODULES",
    "CodeBlock",
    "CodeChoice",
    "ExtractedCode",
    "auto_runtime",
    "choose_code",
    "detect_language",
    "extract_code",
    "runtime_for_path",
    "scientific_imports",
]

_PYTHON_TAGS = frozenset(
    {
        "python",
        "python3",
        "python2",
        "py",
        "py3",
        "ipython",
        "ipython3",
        "pycon",
        "pyrepl",
        "python-repl",
        "python-console",
    }
)
_JAVASCRIPT_TAGS = frozenset(
    {"javascript", "js", "node", "nodejs", "mjs", "cjs", "jsx", "es6", "ecmascript", "qjs"}
)
_TYPESCRIPT_TAGS = frozenset({"typescript", "ts", "tsx", "mts", "cts"})
# Tags that say nothing about the language: treated like no tag at all.
_GENERIC_TAGS = frozenset({"code", "source", "src", "snippet"})
# A block with one of these tags is opened (one level) when it contains fences.
_MARKDOWN_TAGS = frozenset({"markdown", "md"})

_TAG_WORD = re.compile(r"[a-z][a-z0-9_+#-]{0,23}+")
# A fence-like line: its indent, the run of ` or ~, the info string.
_FENCE_LINE = re.compile(r"^( {0,3}+)(`{3,}+|~{3,}+)([^\n]*+)", re.MULTILINE)
# Removes a fence's own indentation (1 to 3 spaces) from its content lines.
_DEDENT = {indent: re.compile(f"^ {{1,{indent}}}", re.MULTILINE) for indent in (1, 2, 3)}

# detect_language looks at this much of its input, and at most this much of a line.
_DETECT_MAX_CHARS = 100_000
_DETECT_MAX_LINE = 400


class CodeBlock(BaseModel):
    """One fenced block of the input, as written.

    ``code`` is the content between the fences with the fence's own indentation
    removed (REPL prompts, if any, are still there); ``start_line`` is the
    1-based line of its first content line in the input text.
    """

    model_config = ConfigDict(frozen=True)

    language_tag: str | None = Field(
        description="First word of the fence's info string, lower-cased; None if none."
    )
    language: RuntimeType | None = Field(
        description="What the tag (or, untagged, the content) maps to; None if not runnable."
    )
    code: str = Field(description="The block's content.")
    start_line: int = Field(description="1-based line of the first content line.")


class ExtractedCode(BaseModel):
    """The code found in a piece of text, and how it was found."""

    model_config = ConfigDict(frozen=True)

    language: RuntimeType | None = Field(description="Language of `code`; None if unknown.")
    code: str = Field(description="The code to run; empty when nothing runnable was found.")
    fenced: bool = Field(description="True when the code came from Markdown fences.")
    blocks: list[CodeBlock] = Field(
        default_factory=list, description="Every fenced block found, in order."
    )
    used_blocks: int = Field(default=0, description="How many blocks were joined into `code`.")
    note: str = Field(default="", description="One sentence for the UI on what was kept.")


#: Why :func:`choose_code` runs nothing ("" when it runs something).
ChoiceProblem = Literal["", "empty", "no_code", "mixed", "wrong_language"]

# Text up to this size is checked for being a whole Python program before its
# fences are believed (a script whose strings hold Markdown fences is code).
_PROGRAM_CHECK_MAX_CHARS = 200_000


class CodeChoice(BaseModel):
    """What to run for a piece of text: :func:`choose_code`'s answer.

    Usage::

        choice = choose_code(text, runtime=None)
        if choice.problem:
            say(choice.problem + " <what to do, in the face's own words>")
        else:
            run(choice.code, choice.runtime or <the face's usual choice>)
            if choice.answer:
                say(f"Ran {choice.blocks_words} of the answer.")
    """

    model_config = ConfigDict(frozen=True)

    code: str = Field(description="What to run; empty when nothing should run.")
    runtime: RuntimeType | None = Field(
        description="The language of `code`. For text without fences: the runtime asked "
        "for, or None (the caller decides as it always has)."
    )
    answer: bool = Field(description="True when the text was a Markdown answer (fenced code).")
    problem: str = Field(
        default="", description="Why nothing should run, in words; empty when `code` runs."
    )
    problem_kind: ChoiceProblem = Field(default="", description="`problem` as a keyword.")
    extracted: ExtractedCode = Field(description="What extract_code found.")

    @property
    def blocks_words(self) -> str:
        """'the python block' or 'the 2 python blocks' (for notes; '' if no answer ran)."""
        if not self.answer or self.problem or self.runtime is None:
            return ""
        used = self.extracted.used_blocks
        name = self.runtime.value
        return f"the {name} block" if used == 1 else f"the {used} {name} blocks"


# ---- Public API


def choose_code(text: str, *, runtime: RuntimeType | None = None) -> CodeChoice:
    """Decide what to run for ``text``: the one rule every face uses.

    * Text without fences (or a whole Python program that merely contains
      fence lines in its strings) runs as it is, byte for byte, so line
      numbers in tracebacks match the text.
    * A Markdown answer runs the blocks :func:`extract_code` keeps, joined.
    * With ``runtime`` None, runnable blocks in both languages are a problem
      (``"mixed"``): which one was meant isn't clear, so nothing runs.
    * With ``runtime`` given (a ``--runtime`` option, a toolbar choice, a
      session's language), its blocks run; an answer without any is a
      ``"wrong_language"`` problem rather than code for the other runtime.
    * An answer with no runnable block, or empty text, is a problem too.

    Parameters
    ----------
    text
        The text as the user or client gave it.
    runtime
        The language the caller has already settled on, if any.

    Returns
    -------
    CodeChoice
        The code and its language, or the problem in words. The words say
        what was found; each face adds what to do about it in its own terms.
    """
    if runtime is not None:
        runtime = RuntimeType(runtime)
    # Blocks are labelled by language; python-sci runs the python blocks.
    language = _language_runtime(runtime)
    extracted = extract_code(text, prefer=language)
    if not text.strip():
        return CodeChoice(
            code="",
            runtime=runtime,
            answer=False,
            problem="The text is empty; there is nothing to run.",
            problem_kind="empty",
            extracted=extracted,
        )
    if not extracted.fenced or (runtime is not RuntimeType.JAVASCRIPT and _is_program(text)):
        return CodeChoice(code=text, runtime=runtime, answer=False, extracted=extracted)
    if not extracted.code.strip():
        return _refusal(extracted, runtime, "no_code", extracted.note)
    languages = _runnable_languages(extracted.blocks)
    if language is not None and language not in languages:
        others = " and ".join(found.value for found in languages)
        return _refusal(
            extracted,
            runtime,
            "wrong_language",
            f"The answer has no {language.value} block, only {others} code.",
        )
    if runtime is None and len(languages) > 1:
        found = " and ".join(
            _plural(count, f"{language.value} block") for language, count in languages.items()
        )
        return _refusal(
            extracted,
            None,
            "mixed",
            f"The answer has {found}; which language to run isn't clear.",
        )
    return CodeChoice(
        code=extracted.code, runtime=runtime or extracted.language, answer=True, extracted=extracted
    )


def _language_runtime(runtime: RuntimeType | None) -> RuntimeType | None:
    """The runtime whose name labels ``runtime``'s language in a fenced block."""
    if runtime is None:
        return None
    return RuntimeType.JAVASCRIPT if runtime.language == "javascript" else RuntimeType.PYTHON


def extract_code(text: str, *, prefer: RuntimeType | None = None) -> ExtractedCode:
    """Find the code to run in ``text`` (typically a raw LLM reply).

    Parameters
    ----------
    text
        Any text: prose with Markdown fences, or bare code.
    prefer
        Take the blocks of this language when there are any. Otherwise (and
        when None) the language with the most lines of code is taken. Without
        fences, the whole text is labelled with this language.

    Returns
    -------
    ExtractedCode
        The code, its language, the blocks found and a note saying what was
        kept and dropped. ``code`` is empty when fences were found but none
        holds Python or JavaScript.

    Raises
    ------
    ValueError
        If ``prefer`` is not a :class:`RuntimeType` value. Never for ``text``.
    """
    if prefer is not None:
        prefer = RuntimeType(prefer)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.startswith("\ufeff"):
        text = text[1:]
    found, has_prose = _scan(text, 1, nested=False)
    if not found:
        return _unfenced(text, prefer)

    blocks = [item.block for item in found]
    kept: list[tuple[RuntimeType, str, bool]] = []  # language, code to run, was a transcript
    dropped: list[str] = []  # one label per block that can't be run
    typescript = False
    for item in found:
        if item.wrapper:
            continue
        code, label, transcript = _assess(item)
        if code is None or item.block.language is None:
            dropped.append(label)
            typescript = typescript or item.tag in _TYPESCRIPT_TAGS
        else:
            kept.append((item.block.language, code, transcript))

    totals: dict[RuntimeType, int] = {}  # in order of first appearance
    for language, code, _ in kept:
        totals[language] = totals.get(language, 0) + _count_code_lines(code)
    if not totals:
        return ExtractedCode(
            language=None,
            code="",
            fenced=True,
            blocks=blocks,
            used_blocks=0,
            note=_nothing_runnable_note(dropped, typescript),
        )

    chosen = prefer if prefer in totals else max(totals, key=totals.__getitem__)
    used = [(code, transcript) for language, code, transcript in kept if language is chosen]
    dropped += [f"{language.value} block" for language, _, _ in kept if language is not chosen]
    parts = (_trim_blank_lines(code) for code, _ in used)
    joined = "\n\n".join(part for part in parts if part)

    note = f"Kept {_plural(len(used), f'{chosen.value} block')}"
    if any(transcript for _, transcript in used):
        note += " (REPL prompts removed)"
    if prefer is not None and prefer is not chosen:
        note = f"No {prefer.value} block found; {note[0].lower()}{note[1:]}"
    waste = (["prose"] if has_prose else []) + _counted(dropped)
    if waste:
        note += f"; dropped {_join_words(waste)}"
    if typescript:
        note += " (TypeScript isn't run directly: ask for JavaScript)"
    return ExtractedCode(
        language=chosen,
        code=joined,
        fenced=True,
        blocks=blocks,
        used_blocks=len(used),
        note=note + ".",
    )


_SUFFIXES = {
    ".py": RuntimeType.PYTHON,
    ".js": RuntimeType.JAVASCRIPT,
    ".mjs": RuntimeType.JAVASCRIPT,
    ".cjs": RuntimeType.JAVASCRIPT,
}


def runtime_for_path(path: str | os.PathLike[str]) -> RuntimeType | None:
    """The runtime a file's suffix names (``.py``; ``.js``, ``.mjs``, ``.cjs``), or None."""
    return _SUFFIXES.get(PurePath(path).suffix.lower())


#: Top-level modules only the python-sci runtime provides (native code built into
#: it, or pure-Python packages that need that code). Pure-Python packages the
#: small runtime can install too (sympy, networkx, PyYAML ...) are not listed.
#: Code importing any of them runs there when the runtime is chosen "auto".
SCIENTIFIC_MODULES = frozenset(
    {
        "numpy",
        "pandas",
        "scipy",
        "sklearn",
        "statsmodels",
        "matplotlib",
        "mpl_toolkits",
        "pylab",
        "seaborn",
        "lxml",
        "contourpy",
        "kiwisolver",
        "PIL",
        "patsy",
        "formulaic",
    }
)

_IMPORT = re.compile(
    r"^[ \t]*+(?:from[ \t]++([A-Za-z_]\w*+)|import[ \t]++([^#\n;]+))", re.MULTILINE
)


def scientific_imports(code: str) -> list[str]:
    """The modules of :data:`SCIENTIFIC_MODULES` that ``code`` imports, sorted.

    A cheap scan of ``import x``/``from x import`` lines (also indented ones, as
    in a function or a ``try``); only the first 100,000 characters are read.
    """
    found: set[str] = set()
    for match in _IMPORT.finditer(code[:_DETECT_MAX_CHARS]):
        if match.group(1):
            names = [match.group(1)]
        else:
            names = [part.strip().split(" ")[0] for part in match.group(2).split(",")]
        for name in names:
            top = name.split(".")[0].strip("() \t")
            if top in SCIENTIFIC_MODULES:
                found.add(top)
    return sorted(found)


def auto_runtime(language: RuntimeType | None, code: str) -> RuntimeType | None:
    """The runtime "auto" picks for ``code`` of ``language``.

    Python code that imports a module only python-sci has (numpy, pandas,
    matplotlib ... see :data:`SCIENTIFIC_MODULES`) goes there; other Python to
    the small, fast-starting runtime; everything else keeps its language.
    """
    if language is not None and language.language == "python" and scientific_imports(code):
        return RuntimeType.PYTHON_SCI
    return language


def detect_language(code: str) -> RuntimeType | None:
    """Guess whether ``code`` is Python or JavaScript from cheap signals.

    Each line scores points for Python (``def``, ``from x import``, ``elif``,
    block lines ending in ``:``, ``print(``, ``self.``, ``None`` ...) or
    JavaScript (``const``/``let``, ``function``, ``=>``, ``console.log``,
    ``===``, lines ending in ``;``, ``require(``, ``{`` blocks ...). A Python
    REPL transcript (first line ``>>> ...``) is Python. Only the first 100,000
    characters are read.

    Returns
    -------
    RuntimeType | None
        The language with the higher score, or None when there is too little
        signal (empty text, prose) or the scores tie.
    """
    if _is_repl_transcript(code):
        return RuntimeType.PYTHON
    python = javascript = 0
    for raw in code[:_DETECT_MAX_CHARS].split("\n"):
        line = raw.strip()
        if line:
            py, js = _score_line(line[:_DETECT_MAX_LINE])
            python += py
            javascript += js
    if max(python, javascript) < 2 or python == javascript:
        return None
    return RuntimeType.PYTHON if python > javascript else RuntimeType.JAVASCRIPT


# ---- Fences


@dataclass(frozen=True, slots=True)
class _Found:
    block: CodeBlock
    tag: str | None  # the tag reduced to a plain name ("{.python}" -> "python")
    wrapper: bool = False  # a markdown block whose inner blocks follow it


def _scan(text: str, first_line: int, *, nested: bool) -> tuple[list[_Found], bool]:
    """Find the fenced blocks in ``text``; also say whether there is text outside them.

    ``first_line`` is the input line number of ``text``'s first line. One regex
    pass finds the fence-like lines; only those are looked at one by one.
    """
    found: list[_Found] = []
    prose = False
    pos = 0  # start of the first line not yet consumed
    line_number = first_line  # the line number at ``pos``
    fences = _FENCE_LINE.finditer(text)
    for opening in fences:
        indent, run, info = opening.groups()
        if run[0] == "`" and "`" in info:
            continue  # not a fence (CommonMark: inline code)
        prose = prose or bool(text[pos : opening.start()].strip())
        line_number += text.count("\n", pos, opening.start())
        fence_line = line_number
        body_start = opening.end() + 1
        for closing in fences:  # the same iterator: each line is looked at once
            _, closing_run, closing_info = closing.groups()
            if (
                closing_run[0] == run[0]
                and len(closing_run) >= len(run)
                and not closing_info.strip()
            ):
                body = text[body_start : max(body_start, closing.start() - 1)]
                pos = closing.end() + 1
                break
        else:  # unclosed: the body runs to the end of the text
            body = text[body_start:].removesuffix("\n")
            pos = len(text)
        line_number = fence_line + text.count("\n", opening.start(), pos)
        if indent:
            body = _DEDENT[len(indent)].sub("", body)
        info = info.strip()
        word = info.split(None, 1)[0].lower() if info else None
        tag = _clean_tag(word)
        block = CodeBlock(
            language_tag=word,
            language=_block_language(tag, body),
            code=body,
            start_line=fence_line + 1,
        )
        inner: list[_Found] = []
        if not nested and tag in _MARKDOWN_TAGS:
            inner, inner_prose = _scan(body, fence_line + 1, nested=True)
            prose = prose or (bool(inner) and inner_prose)
        found.append(_Found(block, tag, wrapper=bool(inner)))
        found.extend(inner)
    prose = prose or bool(text[pos:].strip())
    return found, prose


def _clean_tag(word: str | None) -> str | None:
    """Reduce an info word to a plain name: '{.python' -> 'python', 'language-js' -> 'js'."""
    if word is None:
        return None
    match = _TAG_WORD.search(word)
    if match is None:
        return None
    tag = match.group()
    for prefix in ("language-", "lang-"):
        if tag.startswith(prefix) and len(tag) > len(prefix):
            return tag[len(prefix) :]
    return tag


def _block_language(tag: str | None, code: str) -> RuntimeType | None:
    if tag is None or tag in _GENERIC_TAGS:
        return None if not code or code.isspace() else detect_language(code)
    if tag in _PYTHON_TAGS:
        return RuntimeType.PYTHON
    if tag in _JAVASCRIPT_TAGS:
        return RuntimeType.JAVASCRIPT
    return None


# ---- Deciding what a block is


_SHELL_PROMPT = re.compile(r"\$(?:\s++[\w./~-]|\s*+$)")
_SHELL_COMMAND = re.compile(
    r"\$(?:\s++[\w./~-]|\s*+$)"
    r"|(?:pip3?|npm|npx|yarn|pnpm|conda|uv|poetry|brew|apt|apt-get|sudo)\s++[a-z-]"
    r"|(?:python3?|node)\s++(?:-[-\w]|[\w./-]+\.(?:py|js|mjs|cjs)\b)"
)
_IPYTHON_INPUT = re.compile(r"In \[\d*+\]: ?")
_IPYTHON_MORE = re.compile(r" *+\.\.\.++: ?")


def _assess(item: _Found) -> tuple[str | None, str, bool]:
    """Return (the code to run or None, a label for the note if dropped, was a transcript)."""
    block = item.block
    if not block.code.strip():
        return None, "empty block", False
    if block.language is None:
        return None, f"{item.tag or 'untagged'} block", False
    if _is_shell(block.code):
        return None, "shell command block", False
    if block.language is RuntimeType.PYTHON and _is_repl_transcript(block.code):
        code = _strip_prompts(block.code)
        if not code.strip():
            return None, "REPL output block", False
        return code, "", True
    return block.code, "", False


def _is_shell(code: str) -> bool:
    """Say whether ``code`` is a shell session, not a program.

    It is when its first command has a ``$`` prompt (the lines after it are
    then output), or when every line is a command such as ``pip install x``
    or a comment.
    """
    commands = 0
    for raw in code.split("\n"):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if commands == 0 and _SHELL_PROMPT.match(line) is not None:
            return True
        if _SHELL_COMMAND.match(line) is None:
            return False
        commands += 1
    return commands > 0


def _is_repl_transcript(code: str) -> bool:
    """Say whether the first non-blank line has a Python REPL prompt ('>>>', 'In [1]:')."""
    for raw in code.split("\n", 50):
        line = raw.lstrip()
        if line:
            return line.startswith(">>>") or _IPYTHON_INPUT.match(line) is not None
    return False


def _strip_prompts(code: str) -> str:
    """Keep the input lines of a REPL transcript, without prompts; drop output lines."""
    kept: list[str] = []
    for line in code.split("\n"):
        bare = line.rstrip()
        if bare in (">>>", "..."):
            kept.append("")
        elif line.startswith((">>> ", "... ")):
            kept.append(line[4:])
        else:
            match = _IPYTHON_INPUT.match(line) or _IPYTHON_MORE.match(line)
            if match is not None:
                kept.append(line[match.end() :])
    return "\n".join(kept)


# ---- Language signals

_PY_DEF = re.compile(r"(?:async\s++)?def\s++\w++\s*+\(")
_PY_FROM_IMPORT = re.compile(r"from\s++[\w.]++\s++import\b")
_PY_IMPORT = re.compile(
    r"import\s++[\w.]++(?:\s++as\s++\w++)?+(?:\s*+,\s*+[\w.]++(?:\s++as\s++\w++)?+)*+"
)
_PY_CONSTANT = re.compile(r"(?:[=(,\[:]|\breturn|\bis|\bnot)\s*+(?:None|True|False)\b")
_PY_BUILTIN = re.compile(r"\b(?:len|range|isinstance|enumerate|input)\(|\bf['\"]|\braise\b")
_JS_IMPORT = re.compile(r"import\s*+['\"]|import\b.*\bfrom\s*+['\"]|export\s++(?:\w|\{)")
_JS_DECLARATION = re.compile(r"(?:const|let|var)\s++[\w$\[{]")
_JS_FUNCTION = re.compile(r"\bfunction\b[\s*]*+[\w$]*+\s*+\(")
_JS_CONSOLE = re.compile(r"\bconsole\.\w++\(|\brequire\(|\bmodule\.exports\b")
_JS_WORDS = re.compile(
    r"\b(?:null|undefined|typeof|instanceof|throw)\b|\bthis\.|\bnew\s++[A-Z]|&&|\|\||\w\+\+"
    r"|\b(?:JSON|Math|Object|Array|Promise|document|process|window)\."
)

_JS_BLOCK_OPENERS = (") {", "){", "else {", "try {", "do {")
_JS_BLOCK_CLOSER = re.compile(r";|\b(?:else|catch|finally|while)\b")

# Points for a line that starts with this word and ends with ":".
_PY_BLOCK_WORDS = {
    **dict.fromkeys(("elif", "except", "else", "try", "finally", "class"), 3),
    **dict.fromkeys(("if", "while", "with"), 1),
}


def _score_line(line: str) -> tuple[int, int]:
    """Python and JavaScript points for one stripped, non-empty line."""
    if line.startswith("#!"):
        if "python" in line:
            return 3, 0
        return (0, 3) if "node" in line or "qjs" in line else (0, 0)
    if line.startswith("#"):
        return 0, 0  # a Python comment, or a Markdown heading
    if line.startswith(("//", "/*")):
        return 0, 1
    py = js = 0
    word = line.split(None, 1)[0].split("(", 1)[0].rstrip(":")
    if line.endswith(":"):
        if word in _PY_BLOCK_WORDS:
            py += _PY_BLOCK_WORDS[word]
        elif word == "for" and " in " in line:
            py += 2
    elif word == "class" and line.endswith("{"):
        js += 3
    if _PY_DEF.match(line):
        py += 3
    if _PY_FROM_IMPORT.match(line):
        py += 3
    elif _PY_IMPORT.fullmatch(line):
        py += 2
    elif _JS_IMPORT.match(line):
        js += 3
    if line.startswith("print(") and not line.endswith(";"):
        py += 2
    if "self." in line:
        py += 1
    if "__name__" in line:
        py += 2
    if _PY_CONSTANT.search(line):
        py += 1
    if _PY_BUILTIN.search(line):
        py += 1
    if _JS_DECLARATION.match(line):
        js += 3
    if _JS_FUNCTION.search(line):
        js += 3
    if _JS_CONSOLE.search(line):
        js += 3
    if "=>" in line:
        js += 2
    if "===" in line or "!==" in line:
        js += 2
    if line.endswith(";"):
        js += 1
    if line.endswith(_JS_BLOCK_OPENERS) or (line.startswith("}") and _JS_BLOCK_CLOSER.search(line)):
        js += 1  # a brace block; a lone "{" or "}" may as well be a Python dict
    if _JS_WORDS.search(line):
        js += 1
    return py, js


# ---- Small helpers


def _refusal(
    extracted: ExtractedCode, runtime: RuntimeType | None, kind: ChoiceProblem, problem: str
) -> CodeChoice:
    return CodeChoice(
        code="",
        runtime=runtime,
        answer=True,
        problem=problem,
        problem_kind=kind,
        extracted=extracted,
    )


def _runnable_languages(blocks: list[CodeBlock]) -> dict[RuntimeType, int]:
    """How many runnable (non-empty, non-shell) blocks each language has, in order seen."""
    counts: dict[RuntimeType, int] = {}
    for block in blocks:
        if block.language is None or not block.code.strip() or _is_shell(block.code):
            continue
        transcript = block.language is RuntimeType.PYTHON and _is_repl_transcript(block.code)
        if transcript and not _strip_prompts(block.code).strip():
            continue  # a REPL block with output only
        counts[block.language] = counts.get(block.language, 0) + 1
    return counts


def _is_program(text: str) -> bool:
    """Say whether ``text`` as a whole is valid Python (so its fences are in strings).

    Only parsed, never run; prose makes the parser stop at its first line.
    """
    if len(text) > _PROGRAM_CHECK_MAX_CHARS:
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning for escapes: not our business
            ast.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


def _unfenced(text: str, prefer: RuntimeType | None) -> ExtractedCode:
    code = _trim_blank_lines(text)
    if not code.strip():
        return ExtractedCode(
            language=None, code="", fenced=False, note="The text is empty; nothing to run."
        )
    language = prefer if prefer is not None else detect_language(code)
    if language is None:
        note = (
            "No Markdown fences and no recognisable Python or JavaScript; "
            "kept the whole text as it is."
        )
    else:
        note = f"No Markdown fences; took the whole text as {language.value} code."
    return ExtractedCode(language=language, code=code, fenced=False, note=note)


def _nothing_runnable_note(dropped: list[str], typescript: bool) -> str:
    note = f"Found {_join_words(_counted(dropped))} but no Python or JavaScript code to run"
    if typescript:
        note += " (TypeScript isn't run directly: ask for JavaScript)"
    return note + "."


def _trim_blank_lines(text: str) -> str:
    """``text`` without its leading and trailing blank lines (indentation kept)."""
    lines = text.split("\n")
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return "\n".join(lines[start:end])


def _count_code_lines(code: str) -> int:
    return sum(1 for line in code.split("\n") if line.strip())


def _counted(labels: list[str]) -> list[str]:
    """['bash block', 'bash block', 'json block'] -> ['2 bash blocks', '1 json block']."""
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return [_plural(number, label) for label, number in counts.items()]


def _plural(number: int, label: str) -> str:
    return f"{number} {label}" if number == 1 else f"{number} {label}s"


def _join_words(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"
