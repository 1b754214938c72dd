"""The corpus benchmark's own logic, on a synthetic record (never the corpus itself)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from workbench.sandbox import RuntimeType, assemble_program, load_problems

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

RECORD = {
    "task_id": "SYN/0001",
    "category": "analysis",
    "entry_point": "task_func",
    "libs": ["pandas"],
    "prompt": "Write task_func ...",
    "test_code": (
        "import unittest\n"
        "class TestCases(unittest.TestCase):\n"
        "    def test_sum(self):\n        self.assertEqual(task_func([1, 2]), 3)\n"
        'if __name__ == "__main__":\n    unittest.main()\n'
    ),
    "ground_truth": {
        "pandas": "import pandas as pd\ndef task_func(xs):\n    return int(pd.Series(xs).sum())\n",
        "polars": "import polars as pl\n",
    },
}


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("bench_corpus")
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_a_record_becomes_a_python_sci_unittest_problem_with_its_pandas_solution(
    bench: ModuleType,
) -> None:
    problems, malformed = load_problems([bench.problem_record(RECORD)])
    assert malformed == []
    problem = problems["SYN/0001"]
    assert problem.language is RuntimeType.PYTHON_SCI
    assert problem.format == "unittest"
    sample = bench.sample_record(RECORD)
    assert sample == {"task_id": "SYN/0001", "completion": RECORD["ground_truth"]["pandas"]}
    program = assemble_program(problem, sample["completion"], 77)
    assert program.startswith(RECORD["ground_truth"]["pandas"])
    assert "class TestCases" in program
    assert program.rstrip().endswith("_wb_os._exit(77)")


def test_compare_counts_the_native_passes_kept_and_times_only_tasks_passing_in_both(
    bench: ModuleType,
) -> None:
    run = bench.TaskRun
    native = [
        run("a", True, 1000.0),
        run("b", True, 2000.0),
        run("c", True, 100.0),
        run("d", False, 50.0, "exception", "ModuleNotFoundError: No module named 'faker'"),
    ]
    sandbox = [
        run("a", True, 1500.0),
        run("b", True, 2000.0),
        run("c", False, 10.0, "out_of_fuel", "stopped: the fuel budget ran out"),
        run("d", True, 30.0),
    ]
    summary = bench.compare(native, sandbox)
    assert (summary["native_passed"], summary["sandbox_passed"], summary["both_passed"]) == (
        3,
        3,
        2,
    )
    assert summary["share"] == pytest.approx(2 / 3)
    assert not summary["share_met"]
    # Medians over a and b only: c failed in the sandbox, d natively.
    assert summary["native_median_ms"] == 1500.0
    assert summary["sandbox_median_ms"] == 1750.0
    assert summary["time_ratio"] == pytest.approx(1750 / 1500)
    assert summary["time_met"]
    assert [lost["task_id"] for lost in summary["lost"]] == ["c"]
    assert summary["lost"][0]["cause"] == "out_of_fuel"
    assert summary["gained"] == ["d"]
    text = bench.report(summary, "python-sci")
    assert "2/3 (66.7%)" in text
    assert "NOT met" in text
    assert "| c | out_of_fuel | stopped: the fuel budget ran out |" in text


def test_a_task_the_sandbox_never_ran_is_lost(bench: ModuleType) -> None:
    summary = bench.compare([bench.TaskRun("a", True, 5.0)], [])
    assert summary["share"] == 0
    assert summary["lost"][0]["cause"] == "not run"
    assert summary["time_ratio"] is None
