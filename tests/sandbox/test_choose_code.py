"""choose_code: the one rule the CLI, the workbench, its console and MCP share."""

from __future__ import annotations

import pytest

from workbench.sandbox import RuntimeType, choose_code

ANSWER = "Sure! Here it is:\n\n```python\nprint(6 * 7)\n```\n\nHope that helps.\n"
MIXED = "In Python:\n```python\nprint(1)\n```\nIn JavaScript:\n```js\nconsole.log(1);\n```\n"


def test_an_answer_runs_its_one_language() -> None:
    choice = choose_code(ANSWER)
    assert (choice.code, choice.runtime, choice.answer) == (
        "print(6 * 7)",
        RuntimeType.PYTHON,
        True,
    )
    assert choice.problem == "" and choice.blocks_words == "the python block"


def test_blocks_of_one_language_are_joined() -> None:
    text = "First:\n```py\na = 1\n```\nThen:\n```py\nprint(a)\n```\n"
    choice = choose_code(text)
    assert choice.code == "a = 1\n\nprint(a)"
    assert choice.blocks_words == "the 2 python blocks"


def test_text_without_fences_is_left_as_it_is() -> None:
    text = "\n\nprint('x')\n"
    choice = choose_code(text)
    assert (choice.code, choice.runtime, choice.answer) == (text, None, False)
    assert choose_code(text, runtime=RuntimeType.PYTHON).runtime is RuntimeType.PYTHON


def test_a_python_program_with_fences_in_a_string_is_a_program() -> None:
    script = 'doc = """\n```python\nprint(1)\n```\n"""\nprint(doc)\n'
    choice = choose_code(script)
    assert choice.code == script and not choice.answer


def test_two_languages_are_a_problem_unless_one_is_named() -> None:
    choice = choose_code(MIXED)
    assert choice.problem_kind == "mixed" and choice.code == ""
    assert "1 python block and 1 javascript block" in choice.problem
    named = choose_code(MIXED, runtime=RuntimeType.JAVASCRIPT)
    assert (named.code, named.runtime, named.problem) == (
        "console.log(1);",
        RuntimeType.JAVASCRIPT,
        "",
    )


def test_shell_blocks_do_not_count_as_a_second_language() -> None:
    text = ANSWER + "Run:\n```bash\npython answer.py\n```\n```js\n```\n"
    assert choose_code(text).code == "print(6 * 7)"


@pytest.mark.parametrize(
    ("text", "runtime", "kind", "words"),
    [
        ("See:\n```bash\nls -l\n```\n", None, "no_code", "no Python or JavaScript code"),
        (ANSWER, RuntimeType.JAVASCRIPT, "wrong_language", "no javascript block, only python"),
        (" \n\t\n", None, "empty", "empty"),
    ],
)
def test_nothing_runnable_says_why(
    text: str, runtime: RuntimeType | None, kind: str, words: str
) -> None:
    choice = choose_code(text, runtime=runtime)
    assert choice.problem_kind == kind and choice.code == ""
    assert words in choice.problem
    assert choice.blocks_words == ""
