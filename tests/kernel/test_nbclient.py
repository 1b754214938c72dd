"""A notebook executed end to end by nbclient, as `jupyter nbconvert --execute` does."""

from __future__ import annotations

import base64

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

pytestmark = pytest.mark.usefixtures("kernelspecs")

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def _notebook(kernel: str, language: str, cells: list[str]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": language}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    return nb


def test_python_notebook_runs_end_to_end() -> None:
    nb = _notebook(
        "wasm-python",
        "python",
        [
            "numbers = [3, 1, 2]\nprint('sorting', len(numbers), 'numbers')",
            "sorted(numbers)",
            f"open('/app/pixel.png', 'wb').write({PNG!r});",
            "raise KeyError('missing')",
        ],
    )
    client = NotebookClient(nb, timeout=120, allow_errors=True)
    client.execute()
    first, second, third, fourth = nb.cells
    assert first.outputs[0].output_type == "stream"
    assert first.outputs[0].text == "sorting 3 numbers\n"
    assert second.outputs[0].output_type == "execute_result"
    assert second.outputs[0].data["text/plain"] == "[1, 2, 3]"
    assert third.outputs[0].output_type == "display_data"
    assert base64.b64decode(third.outputs[0].data["image/png"]) == PNG
    assert fourth.outputs[0].output_type == "error"
    assert fourth.outputs[0].ename == "KeyError"
    assert nb.metadata["language_info"]["name"] == "python"
    nbformat.validate(nb)


def test_javascript_notebook_and_errors_stop_execution() -> None:
    nb = _notebook(
        "wasm-javascript",
        "javascript",
        ["const xs = [1, 2, 3];\nxs.map((x) => x * 10)", "undefinedName + 1", "'not reached'"],
    )
    client = NotebookClient(nb, timeout=120)
    with pytest.raises(CellExecutionError, match="ReferenceError"):
        client.execute()
    assert nb.cells[0].outputs[0].data["text/plain"] == "[ 10, 20, 30 ]"
    assert nb.cells[2].outputs == []
