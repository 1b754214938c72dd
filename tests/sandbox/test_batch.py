"""Batch evaluation: real guests judge real samples (no mocks)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from workbench.sandbox import (
    EvalSummary,
    ExecutionPolicy,
    FailureCause,
    SampleResult,
    evaluate,
    load_problems,
    pass_at_k,
    read_results,
)

POLICY = ExecutionPolicy(
    fuel_budget=1_500_000_000,  # importing unittest takes ~0.5 B
    memory_bytes=64 * 1024**2,
    timeout_seconds=60,  # fuel, not time, must stop the loop even on a loaded machine
    stdout_max_bytes=4096,
)

PROBLEMS = [
    {
        "task_id": "add",
        "prompt": "def add(a, b):\n",
        "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
        "entry_point": "add",
    },
    {
        "task_id": "suite",
        "prompt": "def double(x):\n",
        "test": (
            "import unittest\n"
            "class TestDouble(unittest.TestCase):\n"
            "    def test_two(self):\n        self.assertEqual(double(2), 4)\n"
            "    def test_zero(self):\n        self.assertEqual(double(0), 0)\n"
        ),
    },
    {
        "task_id": "js-inc",
        "language": "javascript",
        "prompt": "function inc(x) {\n",
        "test": "function check(candidate) {\n  assert.strictEqual(candidate(1), 2);\n}\n",
        "entry_point": "inc",
    },
    {
        "task_id": "js-multipl-e",
        "name": "js-multipl-e",
        "language": "js",
        "prompt": "function pair(x) {\n",
        "tests": (
            "const assert = require('node:assert');\n"
            "function test() {\n  let candidate = pair;\n"
            "  assert.deepEqual(candidate(3), [3, 3]);\n}\ntest();\n"
        ),
    },
]

SAMPLES = [
    {"task_id": "add", "completion": "    return a + b\n"},  # 0: passes
    {"task_id": "add", "completion": "    return a - b\n"},  # 1: assertion
    {"task_id": "add", "completion": "    return undefined_name\n"},  # 2: exception
    {"task_id": "add", "completion": "    return a + b\nimport sys\nsys.exit(0)\n"},  # 3: early
    {"task_id": "add", "completion": "    while True:\n        pass\n"},  # 4: out of fuel
    {"task_id": "add", "completion": "    return bytearray(200 * 1024 * 1024)\n"},  # 5: memory
    {"task_id": "suite", "completion": "    return x * 2\n"},  # 6: passes
    {"task_id": "suite", "completion": "    return x + 2\n"},  # 7: assertion (one test fails)
    {"task_id": "js-inc", "completion": "  return x + 1;\n}\n"},  # 8: passes
    {"task_id": "js-inc", "completion": "  return x;\n}\n"},  # 9: assertion
    {"task_id": "js-inc", "completion": "  return nope;\n}\n"},  # 10: exception
    {"task_id": "js-inc", "completion": "  return x + 1;\n}\nstd.exit(0);\n"},  # 11: early
    {"task_id": "js-multipl-e", "completion": "  return [x, x];\n}\n"},  # 12: passes
]

EXPECTED = {
    0: None,
    1: FailureCause.ASSERTION,
    2: FailureCause.EXCEPTION,
    3: FailureCause.EARLY_EXIT,
    4: FailureCause.OUT_OF_FUEL,
    5: FailureCause.MEMORY,
    6: None,
    7: FailureCause.ASSERTION,
    8: None,
    9: FailureCause.ASSERTION,
    10: FailureCause.EXCEPTION,
    11: FailureCause.EARLY_EXIT,
    12: None,
}


def write_jsonl(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def key(results: list[SampleResult]) -> list[tuple[object, ...]]:
    """What must not depend on scheduling: everything but time (and fuel, which
    varies with CPython's randomized string hashing)."""
    return sorted((r.task_id, r.sample_index, r.passed, r.cause, r.trap_kind) for r in results)


# ---- pass@k


def naive_pass_at_k(n: int, c: int, k: int) -> float:
    return 1 - math.comb(n - c, k) / math.comb(n, k)


@pytest.mark.parametrize(
    ("n", "c", "k"), [(10, 3, 1), (10, 3, 5), (10, 0, 3), (10, 10, 10), (200, 17, 100), (5, 4, 2)]
)
def test_pass_at_k_matches_the_binomial_definition(n: int, c: int, k: int) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(naive_pass_at_k(n, c, k), abs=1e-12)


def test_pass_at_k_is_stable_for_large_n() -> None:
    # C(2000, 1000) overflows a float; the product form doesn't.
    value = pass_at_k(2000, 1, 1000)
    assert value == pytest.approx(0.5)
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)


def test_pass_at_k_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="k <= n"):
        pass_at_k(3, 1, 4)


# ---- Judging


@pytest.fixture(scope="module")
def one_worker_results() -> tuple[list[SampleResult], EvalSummary]:
    run = evaluate(PROBLEMS, SAMPLES, policy=POLICY, workers=1, ks=(1, 2))
    results = list(run)
    return results, run.summary()


def test_each_sample_gets_its_cause(
    one_worker_results: tuple[list[SampleResult], EvalSummary],
) -> None:
    results, _ = one_worker_results
    by_index = {r.sample_index: r for r in results}
    assert set(by_index) == set(EXPECTED)
    for index, cause in EXPECTED.items():
        result = by_index[index]
        assert result.passed is (cause is None), result
        assert result.cause is cause, result
    assert "AssertionError" in by_index[1].error
    assert "undefined_name" in by_index[2].error
    assert "1 of 2 tests failed: test_zero" in by_index[7].error
    assert by_index[0].fuel > 0


def test_summary_counts_pass_at_k_and_causes(
    one_worker_results: tuple[list[SampleResult], EvalSummary],
) -> None:
    _, summary = one_worker_results
    assert summary.samples == len(SAMPLES)
    assert summary.passed == 4
    assert summary.problems == 4
    # add: 1 of 6, suite: 1 of 2, js-inc: 1 of 4, js-multipl-e: 1 of 1 -> k=2 is skipped.
    expected = (1 / 6 + 1 / 2 + 1 / 4 + 1) / 4
    assert summary.pass_at_k[1] == pytest.approx(expected)
    assert 2 in summary.skipped_ks
    assert summary.failures[FailureCause.ASSERTION] == 3
    assert summary.failures[FailureCause.EARLY_EXIT] == 2
    assert "pass@1" in summary.text()


def test_output_cap_and_timeout_are_causes() -> None:
    problems = [PROBLEMS[0]]
    samples = [
        {"task_id": "add", "completion": "    print('x' * 100_000)\n    raise SystemExit(3)\n"},
        {"task_id": "add", "completion": "    import time\n    time.sleep(30)\n"},
    ]
    policy = POLICY.with_updates(timeout_seconds=0.5)
    results = sorted(
        evaluate(problems, samples, policy=policy, workers=1), key=lambda r: r.sample_index
    )
    assert [r.cause for r in results] == [FailureCause.OUTPUT_CAP, FailureCause.TIMEOUT]


def test_samples_cannot_see_each_others_files() -> None:
    problems = [
        {
            "task_id": "files",
            "prompt": "def probe():\n",
            "test": "def check(candidate):\n    assert candidate() == []\n",
            "entry_point": "probe",
        }
    ]
    leaky = (
        "    import os\n"
        "    found = sorted(os.listdir('/app'))\n"
        "    open('/app/left-behind.txt', 'w').write('secret')\n"
        "    os.mkdir('/app/dir')\n"
        "    return found\n"
    )
    samples = [{"task_id": "files", "completion": leaky} for _ in range(3)]
    results = list(evaluate(problems, samples, policy=POLICY, workers=1))
    # Each run found /app empty, although every one of them left files there.
    assert all(r.passed for r in results), results


def test_malformed_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    problems = tmp_path / "problems.jsonl"
    problems.write_text(
        json.dumps(PROBLEMS[0]) + "\n" + "{not json\n" + json.dumps({"task_id": "x"}) + "\n",
        encoding="utf-8",
    )
    samples = tmp_path / "samples.jsonl"
    samples.write_text(
        json.dumps(SAMPLES[0])
        + "\n\n"
        + "[1, 2]\n"
        + json.dumps({"task_id": "add"})
        + "\n"
        + json.dumps({"task_id": "missing", "completion": "pass"})
        + "\n"
        + json.dumps(SAMPLES[1])
        + "\n",
        encoding="utf-8",
    )
    run = evaluate(problems, samples, policy=POLICY, workers=1)
    results = list(run)
    assert sorted(r.sample_index for r in results) == [0, 5]  # line numbers 1 and 6
    where = sorted((Path(m.source).name, m.line) for m in run.malformed)
    assert where == [
        ("problems.jsonl", 2),
        ("problems.jsonl", 3),
        ("samples.jsonl", 3),
        ("samples.jsonl", 4),
        ("samples.jsonl", 5),
    ]
    reasons = " | ".join(str(m) for m in run.malformed)
    assert "not JSON" in reasons and "no completion" in reasons
    assert "no problem with task_id missing" in reasons
    assert run.summary().malformed == 5
    loaded, bad = load_problems(problems)
    assert list(loaded) == ["add"] and len(bad) == 2


# ---- Workers and resuming


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_results_are_the_same_whatever_the_number_of_workers(
    executor: str, one_worker_results: tuple[list[SampleResult], EvalSummary]
) -> None:
    expected, summary = one_worker_results
    run = evaluate(PROBLEMS, SAMPLES, policy=POLICY, workers=2, executor=executor, ks=(1, 2))  # type: ignore[arg-type]
    results = list(run)
    assert key(results) == key(expected)
    assert run.summary().pass_at_k == summary.pass_at_k
    assert run.summary().failures == summary.failures


def test_resume_skips_samples_already_done(
    tmp_path: Path, one_worker_results: tuple[list[SampleResult], EvalSummary]
) -> None:
    previous, _ = one_worker_results
    results_file = tmp_path / "results.jsonl"
    # An earlier run that got through half, and was cut in the middle of a line.
    kept = [r for r in previous if r.sample_index < 6]
    results_file.write_text(
        "".join(r.model_dump_json() + "\n" for r in kept) + '{"task_id": "ad', encoding="utf-8"
    )
    changed = list(SAMPLES)
    changed[0] = {"task_id": "add", "completion": "    return b + a\n"}  # edited since: rerun
    run = evaluate(PROBLEMS, changed, policy=POLICY, workers=1, resume=read_results(results_file))
    fresh = list(run)
    assert run.skipped == 5
    assert run.total == len(SAMPLES)
    assert sorted(r.sample_index for r in fresh) == [0, *range(6, len(SAMPLES))]
    assert run.done == len(SAMPLES)
    assert run.summary().samples == len(SAMPLES)


def test_the_pool_is_shallow_during_a_batch_and_deep_again_after(
    product_pool_depth: object,
) -> None:
    from workbench.sandbox import get_engine
    from workbench.sandbox._batch import WORKER_POOL_DEPTH
    from workbench.sandbox._pool import DEFAULT_DEPTH
    from workbench.sandbox._sandbox import shared_pool

    depth = shared_pool(get_engine()).depth
    seen = []
    for _ in evaluate([PROBLEMS[0]], SAMPLES[:2], policy=POLICY, workers=2):
        seen.append(dict(depth))
    assert all(max(d.values()) <= WORKER_POOL_DEPTH for d in seen)
    assert depth == DEFAULT_DEPTH


def test_overlapping_batches_put_the_pool_depth_back_once_both_end(
    product_pool_depth: object,
) -> None:
    from workbench.sandbox import get_engine
    from workbench.sandbox._batch import WORKER_POOL_DEPTH
    from workbench.sandbox._pool import DEFAULT_DEPTH
    from workbench.sandbox._sandbox import shared_pool

    depth = shared_pool(get_engine()).depth
    first = evaluate([PROBLEMS[2]], SAMPLES[8:10], policy=POLICY, workers=1)
    second = evaluate([PROBLEMS[2]], SAMPLES[8:10], policy=POLICY, workers=1)
    next(first)
    next(second)
    first.close()
    assert max(depth.values()) <= WORKER_POOL_DEPTH  # the second still runs
    second.run()
    assert depth == DEFAULT_DEPTH


def test_closing_an_evaluation_stops_the_samples_running() -> None:
    import time

    slow = {"task_id": "add", "completion": "    import time\n    time.sleep(60)\n"}
    samples = [SAMPLES[0], slow, slow, slow]
    run = evaluate([PROBLEMS[0]], samples, policy=POLICY, workers=2)
    first = next(run)
    assert first.sample_index == 0 or first.cause is not None
    began = time.monotonic()
    run.close()
    assert time.monotonic() - began < 15  # not the 60 s the sleeping samples ask for


# ---- unittest suites as benchmarks ship them, and python-sci problems

MAIN_GUARDED_SUITE = {
    "task_id": "guarded",
    "format": "unittest",
    "prompt": "",
    "test": (
        "import unittest\n"
        "class TestTriple(unittest.TestCase):\n"
        "    def test_two(self):\n        self.assertEqual(triple(2), 6)\n"
        'if __name__ == "__main__":\n    unittest.main()\n'
    ),
}


def test_a_suite_ending_with_unittest_main_is_run_by_the_harness() -> None:
    # BigCodeBench-style suites end with ``unittest.main()``: run as __main__, it
    # would run the tests and exit before the harness (every sample an early exit).
    samples = [
        {"task_id": "guarded", "completion": "def triple(x):\n    return 3 * x\n"},
        {"task_id": "guarded", "completion": "def triple(x):\n    return 2 * x\n"},
    ]
    results = sorted(
        evaluate([MAIN_GUARDED_SUITE], samples, policy=POLICY, workers=1),
        key=lambda r: r.sample_index,
    )
    assert [(r.passed, r.cause) for r in results] == [
        (True, None),
        (False, FailureCause.ASSERTION),
    ], results
    assert "1 of 1 tests failed: test_two" in results[1].error


def test_unittest_problems_run_in_python_sci(sci_engine: object) -> None:
    problem = {
        "task_id": "frame",
        "language": "python-sci",
        "format": "unittest",
        "prompt": "import pandas as pd\n",
        "test": (
            "import unittest\n"
            "class TestFrame(unittest.TestCase):\n"
            "    def test_sum(self):\n"
            "        self.assertEqual(total(pd.DataFrame({'a': [1, 2]})), 3)\n"
        ),
    }
    samples = [
        {"task_id": "frame", "completion": "def total(df):\n    return int(df['a'].sum())\n"},
        {"task_id": "frame", "completion": "def total(df):\n    return len(df)\n"},
    ]
    # python-sci starts at ~80 MB, and its unittest and first DataFrame cost fuel.
    policy = POLICY.with_updates(memory_bytes=512 * 1024**2, fuel_budget=20_000_000_000)
    results = sorted(
        evaluate([problem], samples, policy=policy, workers=1), key=lambda r: r.sample_index
    )
    assert load_problems([problem])[0]["frame"].language == "python-sci"
    # The error line is Python's last traceback line (not the first line of stderr).
    assert [(r.passed, r.cause) for r in results] == [
        (True, None),
        (False, FailureCause.ASSERTION),
    ], results
    assert "test_sum" in results[1].error


def test_python_sci_samples_keep_a_working_tmp_that_no_other_sample_sees(
    sci_engine: object,
) -> None:
    # The workspace is emptied between samples; python-sci's /tmp lives in it and
    # is held open by instances started ahead, so it must be emptied, not deleted.
    problem = {
        "task_id": "tmp",
        "language": "python-sci",
        "format": "unittest",
        "prompt": "",
        "test": (
            "import os, unittest\n"
            "class TestTmp(unittest.TestCase):\n"
            "    def test_own_tmp(self):\n"
            "        self.assertEqual(write_and_list(), ['mine'])\n"
        ),
    }
    completion = (
        "import os\n"
        "def write_and_list():\n"
        "    with open('/tmp/mine', 'w') as fh:\n        fh.write('x')\n"
        "    return sorted(n for n in os.listdir('/tmp') if n != 'matplotlib')\n"
    )
    samples = [{"task_id": "tmp", "completion": completion}] * 3
    policy = POLICY.with_updates(memory_bytes=512 * 1024**2, fuel_budget=20_000_000_000)
    results = list(evaluate([problem], samples, policy=policy, workers=1))
    assert [r.passed for r in results] == [True, True, True], results


def test_python_sci_problems_that_skip_the_stack_run_in_bare_instances(
    sci_engine: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WASM_WORKBENCH_SCI_PRELOAD", raising=False)  # the defaults
    # A copy of an image with numpy, pandas and pyplot costs ~50 ms of CPU, a bare
    # one a few: a problem whose prompt and test don't use the stack (HumanEval)
    # gets bare instances; one whose test imports pandas gets the imports ahead.
    plain = {
        "task_id": "plain",
        "language": "python-sci",
        "prompt": "def f():\n",
        "test": "def check(candidate):\n    assert candidate() is False\n",
        "entry_point": "f",
    }
    data = {
        "task_id": "data",
        "language": "python-sci",
        "prompt": "import pandas\ndef f():\n",
        "test": "def check(candidate):\n    assert candidate() is True\n",
        "entry_point": "f",
    }
    completion = "    import sys\n    return 'numpy' in sys.modules\n"
    samples = [{"task_id": t, "completion": completion} for t in ("plain", "data")]
    policy = POLICY.with_updates(fuel_budget=20_000_000_000, memory_bytes=128 * 1024**2)
    results = {r.task_id: r for r in evaluate([plain, data], samples, policy=policy, workers=1)}
    assert results["plain"].passed, results["plain"]
    assert results["data"].passed, results["data"]
    assert results["data"].fuel < 1_000_000_000  # pandas was imported ahead, not in the run
