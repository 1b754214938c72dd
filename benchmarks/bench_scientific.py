"""python-sci against the small Python runtime and native CPython, in one command.

Measures, for ``python`` (CPython 3.12 WLR) and ``python-sci`` (CPython 3.15 with
the scientific stack):

* fresh ``print('hello')``: wall time of ``Sandbox.execute`` with a warm pool,
  paced so each run finds a started instance (``warm_start`` is counted);
* ``import numpy, pandas, matplotlib.pyplot; print(pandas.__version__)`` fresh,
  python-sci only, after warm-up (the instances preload those modules while
  they start, which is not charged to the run);
* a live-session turn (``x = 1``);
* a pure-Python loop summing ``range(10**7)``, timed inside the guest, against
  native ``python3`` measured in the same command;
* host RSS: after start-up, and its growth over ``--rss-runs`` fresh pandas runs
  once ``--rss-warmup`` runs have filled the pool.

Usage::

    python benchmarks/bench_scientific.py [--runs N] [--turns N] [--rss-runs N] [--rss-warmup N]
        [--sections hello,imports,loop,rss]

The python-sci compile (~75 s, 2.6 GiB) must be done first
(``wasm-workbench runtimes --prepare``); it is not measured here.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    loadavg,
    machine_info,
    md_table,
    ms,
    print_machine_info,
    ratio,
    rss_mb,
    summarize,
)

LOOP = "import time\nt = time.perf_counter()\ns = 0\nfor i in range(10**7):\n    s += i\n"
LOOP += "print(time.perf_counter() - t)"
IMPORTS = "import numpy, pandas, matplotlib.pyplot\nprint(pandas.__version__)"
BIG = {"fuel_budget": 200_000_000_000, "timeout_seconds": 600}


def _wait_for_warm(sandbox: Any, limit: float = 600.0) -> None:
    """Wait until the sandbox's pool holds a started instance (benchmark-only peek)."""
    shape = sandbox._shape(sandbox.policy)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        idle = list(sandbox.pool._idle.get(shape, ()))
        if any(instance.ready for instance in idle):
            return
        if not idle:
            # The shape changed since the last run (a mount became ready, e.g. a
            # rebuilt stdlib folder): nothing refills it until a run asks, so ask.
            sandbox.pool.refill_later(shape)
        time.sleep(0.05)


def fresh_runs(runtime: str, code: str, runs: int, pace: float, **policy: object) -> dict:
    from workbench.sandbox import ExecutionPolicy, create_sandbox

    root = Path(tempfile.mkdtemp(prefix="bench-sci-"))
    walls, warm, startup_ms, startup_fuel = [], 0, [], []
    with create_sandbox(
        runtime, policy=ExecutionPolicy().with_updates(**policy), workspace_root=root
    ) as sandbox:
        sandbox.execute(code)  # warm-up: the first run may wait for start-up
        for _ in range(runs):
            time.sleep(pace)
            if pace:
                _wait_for_warm(sandbox)  # paced runs: each finds a started instance
            began = time.perf_counter()
            result = sandbox.execute(code)
            walls.append((time.perf_counter() - began) * 1000)
            assert result.success, result.stderr
            warm += result.warm_start
            startup_ms.append(result.startup_ms)
            startup_fuel.append(result.startup_fuel)
    return {
        "wall_ms": summarize(walls),
        "warm": warm,
        "runs": runs,
        "startup_ms": summarize(startup_ms),
        "startup_fuel": summarize(startup_fuel),
    }


def session_turns(runtime: str, turns: int) -> dict:
    from workbench.sandbox import create_session

    root = Path(tempfile.mkdtemp(prefix="bench-sci-"))
    walls = []
    with create_session(runtime=runtime, workspace_root=root) as session:
        session.execute("x = 0")
        for _ in range(turns):
            began = time.perf_counter()
            session.execute("x = 1")
            walls.append((time.perf_counter() - began) * 1000)
    return summarize(walls)


def loop_seconds(runtime: str, runs: int) -> list[float]:
    from workbench.sandbox import ExecutionPolicy, create_sandbox

    root = Path(tempfile.mkdtemp(prefix="bench-sci-"))
    out = []
    with create_sandbox(
        runtime, policy=ExecutionPolicy().with_updates(**BIG), workspace_root=root
    ) as sandbox:
        for _ in range(runs):
            result = sandbox.execute(LOOP)
            assert result.success, result.stderr
            out.append(float(result.stdout))
    return out


def native_loop(runs: int) -> list[float]:
    return [
        float(subprocess.run([sys.executable, "-c", LOOP], capture_output=True, text=True).stdout)
        for _ in range(runs)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--loop-runs", type=int, default=3)
    parser.add_argument("--rss-runs", type=int, default=200)
    parser.add_argument("--rss-warmup", type=int, default=10)
    parser.add_argument("--pace", type=float, default=1.0, help="seconds between fresh runs")
    parser.add_argument(
        "--sections",
        default="hello,imports,loop,rss",
        help="comma-separated: hello (fresh hello and session turns), imports, loop, rss",
    )
    args = parser.parse_args()
    print_machine_info(machine_info())
    print(f"load average at start: {loadavg()}")
    from workbench.sandbox import RuntimeType, get_engine

    engine = get_engine()
    for runtime in (RuntimeType.PYTHON, RuntimeType.PYTHON_SCI):
        engine.module(runtime)
    rss_start = rss_mb()
    sections = set(args.sections.split(","))

    rows = []
    for runtime in ("python", "python-sci") if "hello" in sections else ():
        hello = fresh_runs(runtime, "print('hello')", args.runs, args.pace)
        turn = session_turns(runtime, args.turns)
        rows.append(
            [
                runtime,
                ms(hello["wall_ms"]["p50"]),
                f"{hello['warm']}/{hello['runs']}",
                ms(turn["p50"], 2),
            ]
        )
        print(
            f"{runtime}: instance start-up p50 {ms(hello['startup_ms']['p50'])}, "
            f"{hello['startup_fuel']['p50'] / 1e9:.2f} B fuel (not charged to runs)",
            flush=True,
        )
    if rows:
        print(md_table(["runtime", "fresh hello p50", "warm starts", "session turn p50"], rows))
    if "imports" in sections:
        show_imports(args)
    if "loop" in sections:
        show_loop(args)
    if "rss" in sections:
        show_rss(args, rss_start)
    print(f"load average at end: {loadavg()}")


def show_imports(args: argparse.Namespace) -> None:
    imports = fresh_runs("python-sci", IMPORTS, args.runs, args.pace * 3)
    print(
        f"\npython-sci fresh `{IMPORTS.splitlines()[0]}` p50 "
        f"{ms(imports['wall_ms']['p50'])} (p90 {ms(imports['wall_ms']['p90'])}), "
        f"warm starts {imports['warm']}/{imports['runs']}"
    )


def show_loop(args: argparse.Namespace) -> None:
    native = summarize(native_loop(args.loop_runs))["p50"]
    small = summarize(loop_seconds("python", args.loop_runs))["p50"]
    sci = summarize(loop_seconds("python-sci", args.loop_runs))["p50"]
    print(
        "\n"
        + md_table(
            ["sum(range(10**7)) loop", "seconds p50", "vs native"],
            [
                ["native python3 (host)", f"{native:.2f}", "1.0x"],
                ["python (3.12 WLR)", f"{small:.2f}", ratio(small, native)],
                ["python-sci (3.15)", f"{sci:.2f}", ratio(sci, native)],
            ],
        )
    )


def show_rss(args: argparse.Namespace, rss_start: float) -> None:
    # The first runs fill the pool: its warm python-sci instances (~70 MB each)
    # are memory in use, not growth. Growth is measured from there on.
    code = "import pandas\nprint(pandas.DataFrame({'a': [1]}).shape)"
    from workbench.sandbox import ExecutionPolicy, create_sandbox

    root = Path(tempfile.mkdtemp(prefix="bench-sci-"))
    marks = []
    with create_sandbox("python-sci", policy=ExecutionPolicy(), workspace_root=root) as sandbox:
        for run in range(1, args.rss_warmup + args.rss_runs + 1):
            result = sandbox.execute(code)
            assert result.success, result.stderr
            if run == args.rss_warmup or run % 50 == 0:
                gc.collect()
                marks.append((run, rss_mb()))
                print(f"  after {run} fresh pandas runs: {marks[-1][1]:.0f} MB", flush=True)
    gc.collect()
    before, after = marks[0][1], marks[-1][1]
    print(
        f"\nhost RSS: {rss_start:.0f} MB after loading both runtimes; {before:.0f} MB after "
        f"{args.rss_warmup} warm-up runs (the pool full) and {after:.0f} MB after "
        f"{args.rss_runs} more fresh pandas runs (growth {after - before:+.0f} MB); "
        f"{rss_mb():.0f} MB once the sandbox closed"
    )


if __name__ == "__main__":
    main()
