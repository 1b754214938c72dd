"""Tests for pulling runnable code out of raw LLM replies."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from workbench.sandbox._extract import (
    CodeBlock,
    ExtractedCode,
    detect_language,
    extract_code,
    runtime_for_path,
)
from workbench.sandbox._result import RuntimeType

PY = RuntimeType.PYTHON
JS = RuntimeType.JAVASCRIPT


# ---- One block


def test_single_python_fence_with_prose_around() -> None:
    reply = (
        "Sure! Here's a function that computes the factorial of a number:\n"
        "\n"
        "```python\n"
        "def factorial(n):\n"
        "    return 1 if n <= 1 else n * factorial(n - 1)\n"
        "\n"
        "print(factorial(5))\n"
        "```\n"
        "\n"
        "This prints `120`. Let me know if you need an iterative version!\n"
    )
    result = extract_code(reply)
    assert result.language is PY
    assert result.fenced is True
    assert result.code == (
        "def factorial(n):\n    return 1 if n <= 1 else n * factorial(n - 1)\n\nprint(factorial(5))"
    )
    assert result.used_blocks == 1
    assert len(result.blocks) == 1
    assert result.blocks[0].language_tag == "python"
    assert result.blocks[0].language is PY
    assert result.note == "Kept 1 python block; dropped prose."


def test_javascript_fence() -> None:
    reply = (
        "Here is the JavaScript version:\n\n"
        "```javascript\n"
        "const nums = [1, 2, 3];\n"
        "const doubled = nums.map((n) => n * 2);\n"
        "console.log(doubled.join(', '));\n"
        "```\n"
    )
    result = extract_code(reply)
    assert result.language is JS
    assert result.code.startswith("const nums = [1, 2, 3];")
    assert result.code.endswith("console.log(doubled.join(', '));")
    assert result.blocks[0].language_tag == "javascript"


@pytest.mark.parametrize(
    ("tag", "language"),
    [
        ("python", PY),
        ("Python", PY),
        ("python3", PY),
        ("py", PY),
        ("ipython", PY),
        ("{.python}", PY),
        ("{python", PY),
        ("language-python", PY),
        ("js", JS),
        ("JavaScript", JS),
        ("node", JS),
        ("mjs", JS),
        ("cjs", JS),
        ("jsx", JS),
    ],
)
def test_runnable_tags(tag: str, language: RuntimeType) -> None:
    code = "print(1)" if language is PY else "console.log(1);"
    result = extract_code(f"```{tag}\n{code}\n```")
    assert result.language is language
    assert result.code == code
    assert result.blocks[0].language_tag == tag.lower()


def test_info_string_after_the_tag_is_ignored() -> None:
    result = extract_code('```python title="main.py" linenums="1"\nprint(1)\n```')
    assert result.blocks[0].language_tag == "python"
    assert result.code == "print(1)"


# ---- Several blocks


def test_several_python_blocks_are_joined_in_order() -> None:
    reply = (
        "First, the imports:\n\n"
        "```python\n"
        "import math\n"
        "```\n\n"
        "Then a helper:\n\n"
        "```python\n"
        "def area(r):\n"
        "    return math.pi * r ** 2\n"
        "\n"
        "```\n\n"
        "And finally use it:\n\n"
        "```py\n"
        "\n"
        "print(area(2))\n"
        "```\n"
    )
    result = extract_code(reply)
    assert result.language is PY
    assert result.used_blocks == 3
    assert result.code == (
        "import math\n\ndef area(r):\n    return math.pi * r ** 2\n\nprint(area(2))"
    )
    assert result.note == "Kept 3 python blocks; dropped prose."


def test_bash_block_is_dropped() -> None:
    reply = (
        "Install the dependency first:\n\n"
        "```bash\n"
        "pip install requests\n"
        "```\n\n"
        "Then run:\n\n"
        "```python\n"
        "import requests\n"
        "print(requests.get('https://example.com').status_code)\n"
        "```\n"
        "\n"
        "```python\n"
        "print('done')\n"
        "```\n"
    )
    result = extract_code(reply)
    assert result.language is PY
    assert "pip install" not in result.code
    assert result.code.startswith("import requests")
    assert result.code.endswith("print('done')")
    assert result.used_blocks == 2
    assert [b.language_tag for b in result.blocks] == ["bash", "python", "python"]
    assert result.blocks[0].language is None
    assert result.note == "Kept 2 python blocks; dropped prose and 1 bash block."


def test_output_and_config_blocks_are_never_code() -> None:
    reply = (
        "```json\n"
        '{"a": 1}\n'
        "```\n"
        "```python\n"
        "import json\n"
        "print(json.load(open('a.json')))\n"
        "```\n"
        "Output:\n"
        "```text\n"
        "{'a': 1}\n"
        "```\n"
        "```output\n"
        "None\n"
        "```\n"
    )
    result = extract_code(reply)
    assert result.code == "import json\nprint(json.load(open('a.json')))"
    assert result.used_blocks == 1
    assert "1 json block" in result.note
    assert "1 text block" in result.note
    assert "1 output block" in result.note


def test_python_block_holding_shell_commands_is_dropped() -> None:
    reply = (
        "```python\n"
        "pip install numpy\n"
        "```\n"
        "```python\n"
        "import numpy as np\n"
        "print(np.arange(3))\n"
        "```\n"
        "Run it:\n"
        "```python\n"
        "$ python main.py\n"
        "[0 1 2]\n"
        "```\n"
    )
    result = extract_code(reply)
    assert result.code == "import numpy as np\nprint(np.arange(3))"
    assert result.used_blocks == 1
    assert "2 shell command blocks" in result.note


def test_language_with_most_code_wins() -> None:
    reply = "```js\nconsole.log('short');\n```\n```python\nfor i in range(3):\n    print(i)\n```\n"
    result = extract_code(reply)
    assert result.language is PY
    assert result.code == "for i in range(3):\n    print(i)"
    assert result.note == "Kept 1 python block; dropped 1 javascript block."


def test_tie_goes_to_the_first_language() -> None:
    reply = "```js\nconsole.log(1);\n```\n```python\nprint(1)\n```\n"
    assert extract_code(reply).language is JS
    reply = "```python\nprint(1)\n```\n```js\nconsole.log(1);\n```\n"
    assert extract_code(reply).language is PY


def test_prefer_overrides_the_majority() -> None:
    reply = (
        "```python\n"
        "import sys\n"
        "print(sys.version)\n"
        "print('more python')\n"
        "```\n"
        "```js\n"
        "console.log(1);\n"
        "```\n"
    )
    assert extract_code(reply).language is PY
    result = extract_code(reply, prefer=JS)
    assert result.language is JS
    assert result.code == "console.log(1);"
    assert result.note == "Kept 1 javascript block; dropped 1 python block."


def test_prefer_falls_back_when_that_language_is_missing() -> None:
    result = extract_code("```js\nconsole.log(1);\n```", prefer=PY)
    assert result.language is JS
    assert result.code == "console.log(1);"
    assert result.note.startswith("No python block found; kept 1 javascript block")


def test_prefer_accepts_the_plain_value() -> None:
    reply = "```js\nconsole.log(1);\n```\n```python\nprint(1)\n```\n"
    assert extract_code(reply, prefer="python").language is PY  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        extract_code(reply, prefer="ruby")  # type: ignore[arg-type]


# ---- Untagged blocks and detection


def test_untagged_fence_detected_as_javascript() -> None:
    reply = (
        "Try this:\n\n"
        "```\n"
        "function greet(name) {\n"
        "  return `Hello, ${name}!`;\n"
        "}\n"
        "console.log(greet('world'));\n"
        "```\n"
    )
    result = extract_code(reply)
    assert result.language is JS
    assert result.blocks[0].language_tag is None
    assert result.blocks[0].language is JS
    assert result.code.startswith("function greet(name) {")


def test_untagged_fence_detected_as_python() -> None:
    result = extract_code("```\nfrom pathlib import Path\nprint(Path.cwd())\n```")
    assert result.language is PY
    assert result.blocks[0].language is PY


def test_untagged_output_block_is_not_code() -> None:
    reply = "```python\nprint('hello')\n```\nYou should see:\n```\nhello\n```\n"
    result = extract_code(reply)
    assert result.code == "print('hello')"
    assert result.blocks[1].language is None
    assert result.note == "Kept 1 python block; dropped prose and 1 untagged block."


@pytest.mark.parametrize(
    "code",
    [
        "def main():\n    print('hi')\n\nif __name__ == '__main__':\n    main()",
        "import os\nimport sys",
        "from collections import Counter\nc = Counter('hello')",
        "class Point:\n    def __init__(self, x):\n        self.x = x",
        "try:\n    x = int('a')\nexcept ValueError:\n    x = None",
        "for i in range(10):\n    if i % 2:\n        continue\n    print(i)",
        "print('hello world')",
        ">>> 1 + 1\n2",
        'data = {\n    "a": 1,\n}\nprint(data)',
    ],
)
def test_detect_python(code: str) -> None:
    assert detect_language(code) is PY


@pytest.mark.parametrize(
    "code",
    [
        "const x = 1;\nlet y = 2;\nconsole.log(x + y);",
        "function add(a, b) {\n  return a + b;\n}",
        "const add = (a, b) => a + b;",
        "if (a === b) {\n  console.log('same');\n}",
        "const fs = require('fs');",
        "import { readFile } from 'fs';",
        "class Point {\n  constructor(x) {\n    this.x = x;\n  }\n}",
        "console.log('hello world')",
    ],
)
def test_detect_javascript(code: str) -> None:
    assert detect_language(code) is JS


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t\n",
        "Sorting compares items and swaps them until the list is in order.",
        "None of these approaches is perfect, but the first is simplest.",
        "# A heading\n\nfor example: some prose.",
        "x = 1",
    ],
)
def test_detect_nothing(text: str) -> None:
    assert detect_language(text) is None


# ---- Fence syntax


def test_unclosed_fence_runs_to_the_end() -> None:
    reply = (
        "Here's the script:\n\n"
        "```python\n"
        "import random\n"
        "\n"
        "def roll():\n"
        "    return random.randint(1, 6)\n"
        "\n"
        "print(roll())\n"
    )
    result = extract_code(reply)
    assert result.language is PY
    assert result.code == (
        "import random\n\ndef roll():\n    return random.randint(1, 6)\n\nprint(roll())"
    )
    assert result.blocks[0].code.endswith("print(roll())")


def test_tilde_fences() -> None:
    reply = "~~~python\nx = 1\n```\nprint(x)\n~~~\nafter\n"
    result = extract_code(reply)
    assert result.code == "x = 1\n```\nprint(x)"  # a ``` line doesn't close a ~~~ fence
    assert result.blocks[0].language_tag == "python"
    assert len(result.blocks) == 1


def test_longer_fence_holds_shorter_ones() -> None:
    reply = (
        "````python\n"
        'FENCE = "```"\n'
        "doc = '''\n"
        "```js\n"
        "console.log(1)\n"
        "```\n"
        "'''\n"
        "print(FENCE, doc)\n"
        "````\n"
        "That's all.\n"
    )
    result = extract_code(reply)
    assert len(result.blocks) == 1
    assert result.code.splitlines()[0] == 'FENCE = "```"'
    assert result.code.splitlines()[-1] == "print(FENCE, doc)"
    assert "```js" in result.code


def test_closing_fence_may_be_longer_but_not_shorter_or_tagged() -> None:
    reply = "```python\nprint(1)\n```js\n``\nprint(2)\n`````\nafter"
    result = extract_code(reply)
    assert result.code == "print(1)\n```js\n``\nprint(2)"


def test_backticks_with_backticks_in_info_are_not_a_fence() -> None:
    text = "Use ```python``` fences, like ```this```.\nprint(1)"
    result = extract_code(text)
    assert result.fenced is False
    assert result.blocks == []


def test_indented_fences_lose_their_indent() -> None:
    reply = (
        "1. Save this as `main.py`:\n"
        "\n"
        "   ```python\n"
        "   def main():\n"
        "       print('hi')\n"
        "  main()\n"
        "   ```\n"
        "\n"
        "2. Run it.\n"
    )
    result = extract_code(reply)
    assert result.code == "def main():\n    print('hi')\nmain()"
    assert result.blocks[0].start_line == 4


def test_four_spaces_is_not_a_fence() -> None:
    result = extract_code("    ```python\n    print(1)\n    ```")
    assert result.fenced is False
    assert result.blocks == []


def test_crlf_line_endings() -> None:
    reply = "Here:\r\n\r\n```python\r\nx = 1\r\nprint(x)\r\n```\r\nBye\r\n"
    result = extract_code(reply)
    assert result.code == "x = 1\nprint(x)"
    assert "\r" not in result.code
    assert result.blocks[0].start_line == 4


def test_old_mac_line_endings() -> None:
    result = extract_code("```python\rprint(1)\r```\r")
    assert result.code == "print(1)"


def test_tabs_and_unicode_survive() -> None:
    reply = "```python\nif True:\n\tprint('héllo wörld ✓ 你好')\n```"
    result = extract_code(reply)
    assert result.code == "if True:\n\tprint('héllo wörld ✓ 你好')"


def test_byte_order_mark_is_ignored() -> None:
    result = extract_code("\ufeff```python\nprint(1)\n```")
    assert result.code == "print(1)"


def test_start_lines() -> None:
    reply = (
        "Intro line\n"  # 1
        "\n"  # 2
        "```bash\n"  # 3
        "ls\n"  # 4
        "```\n"  # 5
        "```python\n"  # 6
        "\n"  # 7
        "print(1)\n"  # 8
        "```\n"  # 9
        "text\n"  # 10
        "~~~\n"  # 11
        "console.log(1);\n"  # 12
    )
    result = extract_code(reply)
    assert [b.start_line for b in result.blocks] == [4, 7, 12]
    assert [b.code for b in result.blocks] == ["ls", "\nprint(1)", "console.log(1);"]
    assert result.blocks[1].code.split("\n")[1] == reply.split("\n")[8 - 1]


def test_markdown_wrapper_is_opened() -> None:
    reply = "````markdown\nHere is the code:\n\n```python\nprint('wrapped')\n```\n````\n"
    result = extract_code(reply)
    assert result.code == "print('wrapped')"
    assert [b.language_tag for b in result.blocks] == ["markdown", "python"]
    assert result.blocks[1].start_line == 5
    assert result.note == "Kept 1 python block; dropped prose."


def test_empty_fences() -> None:
    result = extract_code("```python\n```")
    assert result.code == ""
    assert result.language is None
    assert result.fenced is True
    assert result.note == "Found 1 empty block but no Python or JavaScript code to run."


# ---- REPL transcripts


def test_pycon_transcript_keeps_code_without_prompts() -> None:
    reply = (
        "In the REPL:\n"
        "\n"
        "```pycon\n"
        ">>> squares = [n * n for n in range(4)]\n"
        ">>> for s in squares:\n"
        "...     print(s)\n"
        "...\n"
        "0\n"
        "1\n"
        "4\n"
        "9\n"
        ">>> len(squares)\n"
        "4\n"
        "```\n"
    )
    result = extract_code(reply)
    assert result.language is PY
    assert result.code == (
        "squares = [n * n for n in range(4)]\nfor s in squares:\n    print(s)\n\nlen(squares)"
    )
    assert result.blocks[0].code.startswith(">>> squares")  # the block itself as written
    assert "REPL prompts removed" in result.note


def test_untagged_pycon_and_ipython_transcripts() -> None:
    result = extract_code("```\n>>> x = 2\n>>> x * 21\n42\n```")
    assert result.language is PY
    assert result.code == "x = 2\nx * 21"
    reply = (
        "```ipython\n"
        "In [1]: def f(x):\n"
        "   ...:     return x + 1\n"
        "   ...:\n"
        "\n"
        "In [2]: f(1)\n"
        "Out[2]: 2\n"
        "```\n"
    )
    result = extract_code(reply)
    assert result.code == "def f(x):\n    return x + 1\n\nf(1)"


def test_shell_transcript_is_dropped() -> None:
    reply = "```\n$ python3 hello.py\nHello!\n```\n```python\nprint('Hello!')\n```"
    result = extract_code(reply)
    assert result.code == "print('Hello!')"
    assert result.used_blocks == 1


# ---- Nothing runnable


def test_typescript_only_gives_empty_code_and_says_why() -> None:
    reply = (
        "Here's a typed version:\n\n"
        "```typescript\n"
        "const add = (a: number, b: number): number => a + b;\n"
        "console.log(add(1, 2));\n"
        "```\n"
    )
    result = extract_code(reply)
    assert result.code == ""
    assert result.language is None
    assert result.fenced is True
    assert result.used_blocks == 0
    assert result.blocks[0].language_tag == "typescript"
    assert result.blocks[0].language is None
    assert "TypeScript" in result.note
    assert "no Python or JavaScript" in result.note


def test_ts_next_to_python_is_dropped_with_a_hint() -> None:
    result = extract_code("```ts\nlet x: number = 1;\n```\n```python\nprint(1)\n```")
    assert result.code == "print(1)"
    assert "1 ts block" in result.note
    assert "TypeScript" in result.note


def test_only_non_runnable_fences() -> None:
    reply = "```bash\nls -la\n```\n```yaml\nkey: value\n```\n"
    result = extract_code(reply)
    assert result.code == ""
    assert result.language is None
    assert result.note == (
        "Found 1 bash block and 1 yaml block but no Python or JavaScript code to run."
    )


# ---- No fences


def test_plain_python_without_fences() -> None:
    text = "\n\nimport sys\n\ndef main():\n    print(sys.argv)\n\nmain()\n\n\n"
    result = extract_code(text)
    assert result.fenced is False
    assert result.language is PY
    assert result.code == "import sys\n\ndef main():\n    print(sys.argv)\n\nmain()"
    assert result.blocks == []
    assert result.used_blocks == 0
    assert result.note == "No Markdown fences; took the whole text as python code."


def test_leading_indentation_is_kept_without_fences() -> None:
    result = extract_code("\n    x = 1\n    print(x)\n")
    assert result.code == "    x = 1\n    print(x)"


def test_plain_javascript_without_fences() -> None:
    result = extract_code("const x = 40 + 2;\nconsole.log(x);")
    assert result.language is JS
    assert result.code == "const x = 40 + 2;\nconsole.log(x);"


def test_prose_only_has_no_language() -> None:
    text = "I'm sorry, but I can't help with that. Could you tell me more about the task?"
    result = extract_code(text)
    assert result.fenced is False
    assert result.language is None
    assert result.code == text
    assert "no recognisable" in result.note


def test_prefer_labels_unfenced_text() -> None:
    result = extract_code("x = 1", prefer=JS)
    assert result.language is JS
    assert result.code == "x = 1"


def test_empty_text() -> None:
    for text in ("", "\n\n", "   "):
        result = extract_code(text, prefer=PY)
        assert result.code == ""
        assert result.language is None
        assert result.fenced is False


# ---- Models


def test_models_are_frozen() -> None:
    result = extract_code("```python\nprint(1)\n```")
    assert isinstance(result, ExtractedCode)
    assert isinstance(result.blocks[0], CodeBlock)
    with pytest.raises(ValidationError):
        result.code = "evil()"
    with pytest.raises(ValidationError):
        result.blocks[0].code = "evil()"
    assert ExtractedCode.model_validate(result.model_dump()) == result


# ---- Robustness


def test_random_fence_soup_never_raises() -> None:
    rng = random.Random(20240611)
    pieces = [
        "```",
        "````",
        "~~~",
        "~~~~",
        "`",
        "~",
        "\n",
        "\r\n",
        "\r",
        " ",
        "   ",
        "\t",
        "python",
        "js",
        "ts",
        "bash",
        "{.py}",
        ">>> ",
        "... ",
        "$ ",
        "In [1]: ",
        "print(1)",
        "console.log(1);",
        "def f():",
        "é✓",
        "\ufeff",
        "markdown",
        "",
    ]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        prefer = rng.choice([None, PY, JS])
        result = extract_code(text, prefer=prefer)
        assert isinstance(result, ExtractedCode)
        assert result.note.endswith(".")
        assert result.used_blocks <= len(result.blocks)
        if result.code:
            assert result.language is not None or not result.fenced
        for block in result.blocks:
            assert block.start_line >= 1
        detect_language(text)


def test_random_characters_never_raise() -> None:
    rng = random.Random(7)
    alphabet = "`~ \n\r\t>.$:{}()[];=#\"'abcpyjs\u2028\x00"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        result = extract_code(text)
        assert isinstance(result.code, str)


def test_one_megabyte_inputs_finish() -> None:
    chunk = (
        "Some explanation of the next step, written as prose by the model.\n\n"
        "```python\n"
        "def step(x):\n"
        "    return x * 2\n"
        "```\n\n"
        "```bash\n"
        "python step.py\n"
        "```\n\n"
    )
    text = chunk * (1_000_000 // len(chunk) + 1)
    result = extract_code(text)
    assert result.language is PY
    assert result.used_blocks == text.count("```python")
    assert result.code.startswith("def step(x):")

    unclosed = "```python\n" + "x = [" + "1, " * 330_000 + "]\n"
    assert extract_code(unclosed).code.startswith("x = [1, 1, ")

    for text in ("`" * 1_000_000, "\n" * 1_000_000, "```\n" * 250_000, " " * 1_000_000):
        assert isinstance(extract_code(text), ExtractedCode)
    assert detect_language("function " * 120_000) in (JS, None)


@pytest.mark.parametrize(
    ("name", "runtime"),
    [
        ("script.py", RuntimeType.PYTHON),
        ("a/b/App.JS", RuntimeType.JAVASCRIPT),
        ("mod.mjs", RuntimeType.JAVASCRIPT),
        ("old.cjs", RuntimeType.JAVASCRIPT),
        ("notes.md", None),
        ("Makefile", None),
        ("archive.py.txt", None),
    ],
)
def test_runtime_for_path(name: str, runtime: RuntimeType | None) -> None:
    assert runtime_for_path(name) is runtime
