"""The Ray backend of :func:`~._batch.evaluate`: actors that each hold warm sandboxes.

Each actor (one CPU) keeps an :class:`~._batch.EvalWorker` for its life, so its
instances stay warm between calls. Jobs go to the actors in small chunks (one
Ray call costs about a millisecond, a sample tens of milliseconds), two chunks
ahead per actor, and results come back as each chunk finishes.

Ray is an optional dependency (``pip install wasm-workbench[ray]``); this module
imports it only when the Ray backend is used. Every node needs this package
installed and its runtimes compiled once (see the README: "Batch evaluation on
a Ray cluster").
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

from ._batch import WORKER_POOL_DEPTH, EvalWorker, SampleResult, _Job
from ._errors import SandboxError
from ._policy import ExecutionPolicy
from ._signals import signal_handlers_kept

__all__ = ["ray_available", "ray_runner"]

#: Most samples in one call to an actor.
MAX_CHUNK = 8
#: Chunks handed to each actor ahead of the one it runs.
CHUNKS_AHEAD = 2


def ray_available() -> bool:
    """Whether Ray can be imported here."""
    return importlib.util.find_spec("ray") is not None


class EvalActor:
    """The body of a Ray actor: one :class:`EvalWorker`, warm between calls."""

    def __init__(self, policy: ExecutionPolicy) -> None:
        self.worker = EvalWorker(policy, pool_depth=WORKER_POOL_DEPTH)

    def run_many(self, jobs: list[_Job]) -> list[SampleResult]:
        """Run ``jobs`` one after another and return their results."""
        return self.worker.run_many(jobs)

    def close(self) -> None:
        """Free the warm instances and the scratch folder."""
        self.worker.close()


def ray_runner(
    policy: ExecutionPolicy, workers: int | None, address: str | None
) -> Callable[[list[_Job]], Iterator[SampleResult]]:
    """A runner for :class:`~._batch.BatchEvaluation` that uses Ray actors.

    Raises
    ------
    SandboxError
        If Ray is not installed.
    """
    if not ray_available():
        raise SandboxError(
            "The Ray backend needs Ray, which is not installed. "
            "Install it with: pip install 'wasm-workbench[ray]'."
        )
    import ray

    def run(jobs: list[_Job]) -> Iterator[SampleResult]:
        if not jobs:
            return
        started_here = not ray.is_initialized()
        if started_here:
            # address None: join a cluster named by RAY_ADDRESS, else start a local one.
            # Ray's crash reporter would take wasmtime's fault handlers from this
            # process, and a guest's next trap would kill it (see _signals).
            with signal_handlers_kept():
                ray.init(address=address, log_to_driver=False)
        resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
        count = workers or max(1, int(resources.get("CPU", 1)))
        count = min(count, len(jobs))
        chunk = max(1, min(MAX_CHUNK, len(jobs) // (count * 4)))
        chunks = iter([jobs[i : i + chunk] for i in range(0, len(jobs), chunk)])
        actor_class = ray.remote(num_cpus=1)(EvalActor)
        actors: list[Any] = [actor_class.remote(policy) for _ in range(count)]
        pending: dict[Any, Any] = {}

        def submit(actor: Any) -> None:
            batch = next(chunks, None)
            if batch is not None:
                pending[actor.run_many.remote(batch)] = actor

        try:
            for actor in actors:
                for _ in range(CHUNKS_AHEAD):
                    submit(actor)
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    actor = pending.pop(ref)
                    submit(actor)
                    results: list[SampleResult] = ray.get(ref)
                    yield from results
        finally:
            for ref in pending:
                ray.cancel(ref, force=False)
            for actor in actors:
                # The actor may be gone already; it is killed next anyway.
                with contextlib.suppress(Exception):
                    ray.get(actor.close.remote(), timeout=10)
                ray.kill(actor)
            if started_here:
                with signal_handlers_kept():
                    ray.shutdown()

    return run
