"""Printing line by line: wall time and fuel of a print loop, watched and not.

The loop is ``for i in range(N): print(i)`` (JavaScript: ``console.log(i)``), run
through ``create_sandbox().execute`` with a 100 B fuel budget and a 64 MiB memory
cap, as issue 11 measured it. Each guest row is the median of ``--runs`` fresh
executions (the turn's own wall time, ``duration_ms``; start-up excluded):

* *not watched*: no ``on_output`` (MCP, ``--json``, batch runs);
* *watched*: an ``on_output`` callback that keeps every chunk (the GUI, a CLI on
  a terminal), so the host streams the guest's buffer on every epoch tick;
* *in memory*: the same loop printing into ``io.StringIO``: the cost of making
  the text, with no output path (the fuel target is <= 1.1x this row). JavaScript
  has no console that writes into memory, so its row is the same loop calling a
  ``console.log`` replaced by the cheapest function of the same shape that keeps
  its lines in an array (rest arguments, ``String`` of a single argument); the
  text alone (pushed onto an array and joined, no call) is shown too;
* *write replaced*: Python only, designs measured and not taken (see
  BENCHMARKS.md): ``sys.stdout.write`` set on the instance to ``list.append``
  (cheapest, but the text piles up in guest memory with nothing to drain it) and
  to a Python function that encodes and writes into the buffer the host reads
  (exact, but a Python call per write costs what it saves);
* *text held back*: Python only, the loop printing to a ``TextIOWrapper`` without
  write-through over a 64 KiB ``BufferedWriter``: cheaper in fuel, but completed
  writes wait as ``str`` objects the host can't read (the design not taken);
* *unbuffered*: Python only, the loop printing to a write-through ``TextIOWrapper``
  over a raw ``FileIO(1)``, which is what ``python -u`` gave every guest before the
  stdout buffer (one host call per write);
* *no output*: ``str(i)`` only.

Native rows time the same loop inside ``python3`` and ``node`` with stdout sent to
``/dev/null`` (interpreter start-up excluded too). Ratios: wall against native,
fuel against the in-memory row, all from this one command.

    python benchmarks/bench_output.py [--lines 100000] [--runs 3] [--runtimes python,javascript]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile

from _common import CpuNoise, loadavg, machine_info, md_table, print_machine_info, ratio

PYTHON_CASES = {
    "print, not watched": ("for i in range({n}):\n    print(i)", False),
    "print, watched": ("for i in range({n}):\n    print(i)", True),
    "into io.StringIO": (
        "import io\ns = io.StringIO()\nfor i in range({n}):\n    print(i, file=s)",
        False,
    ),
    "text held back (no write-through; not exact on a stop)": (
        "import io\nraw = io.FileIO(1, 'w', closefd=False)\n"
        "out = io.TextIOWrapper(io.BufferedWriter(raw, 65536))\nout._CHUNK_SIZE = 65536\n"
        "for i in range({n}):\n    print(i, file=out)\nout.flush()",
        False,
    ),
    "unbuffered (the old -u path)": (
        "import io\nout = io.TextIOWrapper(io.FileIO(1, 'w', closefd=False), write_through=True)\n"
        "for i in range({n}):\n    print(i, file=out)",
        False,
    ),
    "write replaced by list.append (text piles up; not taken)": (
        "import sys\nparts = []\nsys.stdout.write = parts.append\n"
        "for i in range({n}):\n    print(i)\n"
        "del sys.stdout.write\nsys.stdout.write(''.join(parts))",
        False,
    ),
    "write replaced by a Python function (exact; not taken)": (
        "import sys\ndef make(write):\n    def text_write(s):\n        write(s.encode())\n"
        "        return len(s)\n    return text_write\n"
        "sys.stdout.write = make(sys.stdout.buffer.write)\n"
        "for i in range({n}):\n    print(i)\ndel sys.stdout.write",
        False,
    ),
    "no output (str(i))": ("for i in range({n}):\n    str(i)", False),
}  # fmt: skip
JS_CASES = {
    "console.log, not watched": ("for (let i = 0; i < {n}; i++) console.log(i);", False),
    "console.log, watched": ("for (let i = 0; i < {n}; i++) console.log(i);", True),
    "console.log into memory": (
        "const out = [];\nconsole.log = (...args) => {{\n"
        "  if (args.length === 1) out.push(String(args[0]), '\\n');\n"
        "  else out.push(args.join(' '), '\\n');\n}};\n"
        "for (let i = 0; i < {n}; i++) console.log(i);",
        False,
    ),
    "text only, into an array, joined": (
        "const parts = [];\nfor (let i = 0; i < {n}; i++) parts.push(String(i));\n"
        "const text = parts.join('\\n') + '\\n';",
        False,
    ),
    "no output (String(i))": ("for (let i = 0; i < {n}; i++) String(i);", False),
}  # fmt: skip

NATIVE_PYTHON = (
    "import sys, time\nt = time.perf_counter()\nfor i in range({n}):\n    print(i)\n"
    "sys.stdout.flush()\nsys.stderr.write(repr(time.perf_counter() - t))"
)
NATIVE_NODE = (
    "const t = process.hrtime.bigint();\nfor (let i = 0; i < {n}; i++) console.log(i);\n"
    "process.stderr.write(String(Number(process.hrtime.bigint() - t) / 1e9));"
)


def native(command: list[str], runs: int) -> float | None:
    """Median seconds of the loop inside a native interpreter, stdout to /dev/null."""
    if shutil.which(command[0]) is None:
        return None
    times = []
    for _ in range(runs):
        done = subprocess.run(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True
        )
        times.append(float(done.stderr.strip()))
    return statistics.median(times)


def guest(
    runtime: str, cases: dict[str, tuple[str, bool]], lines: int, runs: int
) -> dict[str, dict[str, float]]:
    from workbench.sandbox import ExecutionPolicy, create_sandbox

    policy = ExecutionPolicy(
        fuel_budget=100_000_000_000, memory_bytes=64 * 1024**2, timeout_seconds=300
    )
    out: dict[str, dict[str, float]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-output-") as root,
        create_sandbox(runtime, policy=policy, workspace_root=root) as sandbox,
    ):
        sandbox.execute("0")  # warm the pool
        for name, (template, watched) in cases.items():
            code = template.format(n=lines)
            walls, fuels, chunks = [], [], []
            for _ in range(runs):
                kept: list[bytes] = []
                listen = (lambda stream, chunk, into=kept: into.append(chunk)) if watched else None
                result = sandbox.execute(code, on_output=listen)
                if not result.success:
                    raise SystemExit(f"{runtime} {name} failed:\n{result.stderr[-2000:]}")
                walls.append(result.duration_ms / 1000)
                fuels.append(result.fuel_consumed)
                chunks.append(len(kept))
            out[name] = {
                "seconds": statistics.median(walls),
                "fuel": statistics.median(fuels),
                "chunks": statistics.median(chunks),
            }
    return out


def table(
    results: dict[str, dict[str, float]], native_seconds: float | None, memory_row: str
) -> str:
    memory_fuel = results[memory_row]["fuel"]
    rows = []
    for name, row in results.items():
        rows.append(
            [
                name,
                f"{row['seconds']:.3f} s",
                ratio(row["seconds"], native_seconds),
                f"{row['fuel'] / 1e9:.3f} B",
                ratio(row["fuel"], memory_fuel),
                int(row["chunks"]) if row["chunks"] else "",
            ]
        )
    headers = ["loop", "wall", "vs native", "fuel", f"fuel vs {memory_row}", "chunks streamed"]
    return md_table(headers, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", help="also write the raw figures here")
    parser.add_argument(
        "--runtimes", default="python,javascript", help="comma-separated: python, javascript"
    )
    args = parser.parse_args()
    info = machine_info()
    print_machine_info(info)
    noise = CpuNoise()
    print(f"load average at start: {loadavg()}\n")
    n = args.lines
    runtimes = args.runtimes.split(",")
    native_py = native_js = None
    python: dict[str, dict[str, float]] = {}
    javascript: dict[str, dict[str, float]] = {}
    if "python" in runtimes:
        native_py = native([sys.executable, "-c", NATIVE_PYTHON.format(n=n)], args.runs)
        python = guest("python", PYTHON_CASES, n, args.runs)
        print(f"## Python guest, {n:,} lines (native python3: {native_py:.3f} s)\n")
        print(table(python, native_py, "into io.StringIO"))
    if "javascript" in runtimes:
        native_js = native(["node", "-e", NATIVE_NODE.format(n=n)], args.runs)
        javascript = guest("javascript", JS_CASES, n, args.runs)
        native_js_text = f"{native_js:.3f} s" if native_js is not None else "n/a"
        print(f"\n## JavaScript guest, {n:,} lines (native node: {native_js_text})\n")
        print(table(javascript, native_js, "console.log into memory"))
    print(
        f"\nload average at end: {loadavg()}; other processes used {noise.others_cores():.2f} cores"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "machine": info,
                    "lines": n,
                    "native": {"python": native_py, "node": native_js},
                    "python": python,
                    "javascript": javascript,
                },
                fh,
                indent=2,
            )


if __name__ == "__main__":
    main()
