"""How close a profiled run's fuel comes to a plain one's for small loops of each shape.

Run (from the repo root, in our venv)::

    python benchmarks/bench_profile_loops.py [--n N] [--json out.json]

Loops are where a profile's events come most, and where what an event costs
outside the profiler's callback shows: the same loop in a function and in a
script's body, a ``while`` loop, a loop over a list, a loop written on one line
and a comprehension (these two jump back to their own line, which CPython 3.12
makes a line marker anyway), each over ``range(--n)`` (default 20000). Each
program runs plain and profiled exactly as in ``bench_profile.py`` (a new
instance of the profiled shape, the fixed string-hash seed); the fuel figures
are exact and repeat, the wall times are the turns'.
"""

from __future__ import annotations

import argparse
import json

from _common import loadavg, machine_info, md_table, print_machine_info
from bench_profile import log, measure

SHAPES = {
    "loop in a function": (
        "def total(n):\n    t = 0\n    for i in range(n):\n        t += i\n    return t\n\n"
        "print(total({n}))\n"
    ),
    "loop in a script's body": "t = 0\nfor i in range({n}):\n    t += i\nprint(t)\n",
    "while loop in a function": (
        "def total(n):\n    t = 0\n    i = 0\n    while i < n:\n        t += i\n        i += 1\n"
        "    return t\n\nprint(total({n}))\n"
    ),
    "loop over a list in a function": (
        "def total(xs):\n    t = 0\n    for x in xs:\n        t += x\n    return t\n\n"
        "print(total(list(range({n}))))\n"
    ),
    "one-line loop in a function": (
        "def total(n):\n    t = 0\n    for i in range(n): t += i\n    return t\n\n"
        "print(total({n}))\n"
    ),
    "comprehension in a function": (
        "def squares(n):\n    return sum([i * i for i in range(n)])\n\nprint(squares({n}))\n"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="turns of each loop (20000)")
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args()
    info = machine_info()
    print_machine_info(info)
    log(f"load before: {loadavg()}")
    programs = [
        {"task_id": name, "program": code.replace("{n}", str(args.n))}
        for name, code in SHAPES.items()
    ]
    rows = measure(programs)
    log(f"load after: {loadavg()}")
    print(
        md_table(
            ["loop", "plain fuel", "profiled fuel", "profiled/plain", "events", "per event"],
            [
                [
                    r["task_id"],
                    f"{r['plain_fuel']:,}",
                    f"{r['profiled_fuel']:,}",
                    f"{r['profiled_fuel'] / max(1, r['plain_fuel']):.4f}",
                    f"{r['events']:,}",
                    f"{(r['profiled_fuel'] - r['plain_fuel']) / max(1, r['events']):+,.0f}",
                ]
                for r in rows
            ],
        )
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"machine": info, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
