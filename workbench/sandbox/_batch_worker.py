"""A worker process of a local batch evaluation (``python -m workbench.sandbox._batch_worker``).

Each process keeps one :class:`~._batch.EvalWorker` (with its warm instances)
for its whole life and runs one job at a time. The parent talks to it over
pipes, one JSON line each way::

    parent -> worker   the policy (first line), then one job per line
    worker -> parent   one SampleResult per job, or {"worker_error": "..."} if the host failed

Processes rather than threads: every start-up and run of a guest makes host
calls that take the GIL, so threads in one interpreter share one core for
those; see BENCHMARKS.md for the measurement. A process started this way (not
by :mod:`multiprocessing`) never re-imports the caller's ``__main__``, so
``evaluate()`` works from a script without a ``__name__`` guard, and from a
notebook.

This module is host code: the guest's output never reaches these pipes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from ._batch import (
    WORKER_POOL_DEPTH,
    EvalProblem,
    EvalSample,
    EvalWorker,
    ProblemFormat,
    SampleResult,
    _Job,
)
from ._errors import SandboxError
from ._policy import ExecutionPolicy
from ._result import RuntimeType

__all__ = ["WorkerProcess", "job_from_json", "job_to_json"]

log = logging.getLogger("workbench.sandbox.batch")


def job_to_json(job: _Job) -> str:
    """One line for the pipe."""
    return json.dumps(
        {
            "sample": asdict(job.sample),
            "problem": asdict(job.problem),
            "exit_status": job.exit_status,
        }
    )


def job_from_json(line: str) -> _Job:
    """The job in a line from :func:`job_to_json`."""
    data = json.loads(line)
    problem = dict(data["problem"])
    problem["language"] = RuntimeType(problem["language"])
    problem["format"] = ProblemFormat(problem["format"])
    return _Job(EvalSample(**data["sample"]), EvalProblem(**problem), int(data["exit_status"]))


class WorkerProcess:
    """A child process running jobs; :meth:`run` hands one over and waits for it.

    Not thread-safe: one thread drives one process.
    """

    def __init__(self, policy: ExecutionPolicy) -> None:
        env = dict(os.environ)
        # The child must import this very package, wherever it was imported from.
        package_parent = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(
            [package_parent, *filter(None, [env.get("PYTHONPATH")])]
        )
        self._process = subprocess.Popen(
            [sys.executable, "-m", "workbench.sandbox._batch_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            encoding="utf-8",
            errors="surrogateescape",
            bufsize=1,
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._stdin: IO[str] = self._process.stdin
        self._stdout: IO[str] = self._process.stdout
        self._stdin.write(policy.model_dump_json() + "\n")

    def run(self, job: _Job) -> SampleResult:
        """Run ``job`` in the child and return its result.

        Raises
        ------
        SandboxError
            If the child failed or ended.
        """
        try:
            self._stdin.write(job_to_json(job) + "\n")
            self._stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            raise SandboxError(self._ended()) from None
        line = self._stdout.readline()
        if not line:
            raise SandboxError(self._ended())
        data: dict[str, Any] = json.loads(line)
        if "worker_error" in data:
            raise SandboxError(f"An evaluation worker failed: {data['worker_error']}")
        return SampleResult.model_validate(data)

    def _ended(self) -> str:
        status = self._process.poll()
        return (
            f"An evaluation worker process ended (status {status}). "
            "Its error is above on stderr; run with workers=1 to see it in this process."
        )

    def close(self) -> None:
        """End the child (it finishes the job it runs, or is killed after 5 s). Idempotent."""
        with contextlib.suppress(OSError):
            self._stdin.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._stdout.close()


def main() -> int:
    """The child's loop: policy, then jobs, until stdin closes."""
    # The protocol owns the real stdout; anything else printed goes to stderr.
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    first = sys.stdin.readline()
    if not first:
        return 0
    worker = EvalWorker(ExecutionPolicy.model_validate_json(first), pool_depth=WORKER_POOL_DEPTH)
    try:
        for line in sys.stdin:
            try:
                result = worker.run(job_from_json(line))
                protocol.write(result.model_dump_json() + "\n")
            except Exception as exc:
                log.exception("evaluation job failed")
                protocol.write(json.dumps({"worker_error": f"{type(exc).__name__}: {exc}"}) + "\n")
            protocol.flush()
    finally:
        from ._pool import close_all_instances

        close_all_instances()  # before the workspace goes: no start-up may still mount it
        worker.close()
    return 0


if __name__ == "__main__":
    status = main()
    sys.stderr.flush()
    os._exit(status)
