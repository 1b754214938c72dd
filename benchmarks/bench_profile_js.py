"""The JavaScript profiler's cost: fuel and wall time of profiled runs against plain ones.

Run (from the repo root, in our venv)::

    python benchmarks/bench_profile_js.py

Each program runs plain and with ``profile=True`` in fresh instances (the
first profiled run of the process, which compiles the profiler, is done before
timing). It reports the profile's total against the plain run's fuel, the
events, and the wall time of both ``execute`` calls (the profiled one includes
loading acorn's bytecode, calibrating and splicing).
"""

from __future__ import annotations

import time

from _common import loadavg, machine_info, md_table, print_machine_info

from workbench.sandbox import ExecutionPolicy, RuntimeType, create_sandbox

PROGRAMS = {
    "recursion, closures, a class": """
function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
const sq = (x) => x * x;
function counter() { let c = 0; return () => ++c; }
class Acc { constructor() { this.t = 0; } add(v) { this.t += v; return this; } }
const next = counter(); const acc = new Acc();
for (let i = 0; i < 200; i++) acc.add(sq(i) + next());
console.log(fib(15), acc.t);
""",
    "generators": """
function* range(n) { for (let i = 0; i < n; i++) yield i; }
function* squares(it) { for (const x of it) yield x * x; }
let t = 0; for (const v of squares(range(2000))) t += v;
console.log(t);
""",
    "sort with a comparator": """
const data = Array.from({length: 3000}, (_, i) => (i * 7919) % 3001);
data.sort((a, b) => a - b);
console.log(data.map(String).filter(w => w.endsWith("7")).length);
""",
    "exceptions through 6 frames": """
function bad(n) { if (n === 0) throw new Error("boom"); return bad(n - 1); }
function safe(n) { try { return bad(n); } catch (e) { return e.message; } }
let s = 0; for (let i = 0; i < 300; i++) s += safe(5).length;
console.log(s);
""",
}


def main() -> None:
    print_machine_info(machine_info())
    policy = ExecutionPolicy(fuel_budget=5_000_000_000, timeout_seconds=120.0)
    rows = []
    with create_sandbox(RuntimeType.JAVASCRIPT, policy=policy, warm=False) as sandbox:
        sandbox.execute("", profile=True)  # compiles the profiler once
        for name, code in PROGRAMS.items():
            began = time.perf_counter()
            plain = sandbox.execute(code)
            plain_ms = (time.perf_counter() - began) * 1000
            began = time.perf_counter()
            profiled = sandbox.execute(code, profile=True)
            profiled_ms = (time.perf_counter() - began) * 1000
            profile = profiled.profile
            assert profile is not None and plain.stdout == profiled.stdout
            delta = 100 * (profile.total_fuel / plain.fuel_consumed - 1)
            rows.append(
                [
                    name,
                    f"{plain.fuel_consumed:,}",
                    f"{profile.total_fuel:,}",
                    f"{delta:+.1f} %",
                    f"{profile.events:,}",
                    f"{plain_ms:.1f}",
                    f"{profiled_ms:.1f}",
                ]
            )
    headers = ["program", "plain fuel", "profile total", "difference", "events"]
    print(md_table([*headers, "plain ms", "profiled ms"], rows))
    print(f"load average: {loadavg()}")


if __name__ == "__main__":
    main()
