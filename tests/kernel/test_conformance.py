"""The official conformance suite, jupyter-kernel-test, against every kernel."""

from __future__ import annotations

from typing import Any

import jupyter_kernel_test
import pytest

pytestmark = pytest.mark.usefixtures("kernelspecs")


class TestWasmPython(jupyter_kernel_test.KernelTests):
    kernel_name = "wasm-python"
    language_name = "python"
    file_extension = ".py"
    code_hello_world = "print('hello, world')"
    code_stderr = "import sys; print('oops', file=sys.stderr)"
    complete_code_samples = ["1", "print('hello, world')", "def f(x):\n  return x*2\n\n"]
    incomplete_code_samples = ["print('''hello", "def f(x):\n  x*2", "for i in range(3):"]
    invalid_code_samples = ["import = 7q", "def f(:"]
    code_generate_error = "raise ValueError('an error')"
    code_execute_result: list[dict[str, Any]] = [
        {"code": "1 + 2 + 3", "result": "6"},
        {"code": "[n * n for n in range(4)]", "result": "[0, 1, 4, 9]"},
    ]
    code_display_data: list[dict[str, str]] = [
        {
            "code": "open('/app/plot.svg', 'w').write('<svg xmlns=\"http://www.w3.org/2000/svg\"/>');",
            "mime": "image/svg+xml",
        }
    ]
    supported_history_operations = ("tail", "range", "search")
    code_history_pattern = "1 + 2*"
    completion_samples: list[dict[str, Any]] = [
        {"text": "zi", "matches": {"zip"}},
        {"text": "str.upp", "matches": {"upper"}},
    ]
    code_inspect_sample = "zip"


class TestWasmSciPython(TestWasmPython):
    """python-sci: the same Python answers, and a figure is display_data."""

    kernel_name = "wasm-python-sci"

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        # The suite waits 15 s for a reply; importing pyplot the first time in a
        # new interpreter takes seconds of CPU (more on a loaded machine): done
        # here, before the suite's timers.
        cls.kc.execute_interactive("import matplotlib.pyplot", timeout=300)

    code_display_data: list[dict[str, str]] = [
        {
            "code": "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()",
            "mime": "image/png",
        }
    ]


class TestWasmJavaScript(jupyter_kernel_test.KernelTests):
    kernel_name = "wasm-javascript"
    language_name = "javascript"
    file_extension = ".js"
    code_hello_world = "console.log('hello, world')"
    code_stderr = "std.err.puts('oops\\n')"
    complete_code_samples = ["1", "console.log('hello, world')", "function f(x) {\n  return x;\n}"]
    incomplete_code_samples = ["function f(x) {", "let a = [1,", "`a ${"]
    invalid_code_samples = ["let a = 1)", "}"]
    code_generate_error = "throw new Error('an error')"
    code_execute_result: list[dict[str, Any]] = [
        {"code": "1 + 2 + 3", "result": "6"},
        {"code": "[1, 2].map((n) => n * n)", "result": "[ 1, 4 ]"},
    ]
    code_display_data: list[dict[str, str]] = [
        {
            "code": "std.writeFile('/app/plot.svg', '<svg xmlns=\"http://www.w3.org/2000/svg\"/>')",
            "mime": "image/svg+xml",
        }
    ]
    supported_history_operations = ("tail", "range", "search")
    code_history_pattern = "1 + 2*"
    completion_samples: list[dict[str, Any]] = [
        {"text": "Mat", "matches": {"Math"}},
        {"text": "Math.fl", "matches": {"floor"}},
    ]
    code_inspect_sample = "Math.max"
