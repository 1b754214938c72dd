"""What rendering figures as SVG too (``figure_svg=True``) costs a python-sci run.

For each plot below, the same code runs fresh in python-sci with PNG only and
with PNG and SVG, alternating, ``--runs`` times each: fuel (deterministic for a
given code; the table shows the median), wall time of ``Sandbox.execute``
(median), and the bytes of the figures. Fuel is the figure to read: wall times
follow the machine's load.

Usage::

    python benchmarks/bench_figures.py [--runs N]

The python-sci compile (~75 s, 2.6 GiB) must be done first
(``wasm-workbench runtimes --prepare``); it is not measured here.
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import loadavg, machine_info, md_table, print_machine_info

LINES = """\
import matplotlib.pyplot as plt
import numpy as np
x = np.linspace(0, 10, 200)
plt.plot(x, np.sin(x), label='sin'); plt.plot(x, np.cos(x), label='cos')
plt.title('Two waves'); plt.legend(); plt.xlabel('x'); plt.ylabel('y')
"""
SCATTER = LINES + "plt.figure(); plt.scatter(np.arange(1000) % 37, np.arange(1000) % 91)\n"
PLOTS = {"line plot (1 figure)": LINES, "+ 1000-point scatter (2 figures)": SCATTER}
BIG = {"fuel_budget": 200_000_000_000, "timeout_seconds": 600}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from workbench.sandbox import ExecutionPolicy, RuntimeType, create_sandbox

    print_machine_info(machine_info())
    print(f"load average before: {loadavg()}")
    policy = ExecutionPolicy().with_updates(**BIG)
    rows = []
    with create_sandbox(RuntimeType.PYTHON_SCI, policy=policy) as sandbox:
        sandbox.execute("print(1)")  # the first instance's start-up is not measured
        for name, code in PLOTS.items():
            fuel: dict[bool, list[int]] = {False: [], True: []}
            wall: dict[bool, list[float]] = {False: [], True: []}
            sizes: dict[bool, tuple[int, int]] = {}
            for _ in range(args.runs):
                for svg in (False, True):
                    began = time.perf_counter()
                    result = sandbox.execute(code, figure_svg=svg)
                    wall[svg].append(time.perf_counter() - began)
                    if not result.success:
                        raise SystemExit(f"{name}: {result.summary()}\n{result.stderr}")
                    fuel[svg].append(result.fuel_consumed)
                    sizes[svg] = (
                        sum(f.size_bytes for f in result.figures),
                        sum(f.svg_bytes for f in result.figures),
                    )
            png_fuel, svg_fuel = (statistics.median(fuel[flag]) for flag in (False, True))
            png_wall, svg_wall = (statistics.median(wall[flag]) for flag in (False, True))
            rows.append(
                [
                    name,
                    f"{png_fuel / 1e9:.3f} B",
                    f"{svg_fuel / 1e9:.3f} B",
                    f"+{(svg_fuel - png_fuel) / 1e9:.3f} B ({svg_fuel / png_fuel - 1:+.0%})",
                    f"{png_wall:.2f} s / {svg_wall:.2f} s",
                    f"{sizes[True][0]:,} / {sizes[True][1]:,}",
                ]
            )
    print(f"load average after: {loadavg()}")
    print(
        md_table(
            [
                "code",
                "fuel, PNG only",
                "fuel, PNG + SVG",
                "SVG costs",
                "wall p50 PNG / +SVG",
                "bytes PNG / SVG",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
