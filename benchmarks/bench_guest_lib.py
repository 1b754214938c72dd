"""What the guest helper libraries (sandbox_utils, Python and JS) cost.

Run (from the repo root, in our venv)::

    python benchmarks/bench_guest_lib.py [--json out.json]

Every number is fuel (deterministic for a given runtime binary) unless it says
ms. Each Python case runs in a fresh interpreter, so it includes compiling the
helper submodules it needs from source (no bytecode is shipped for /data/lib);
the base cost of an empty run is subtracted.

python
    ``import sandbox_utils``; the first use of each group of helpers; common
    operations (find over 100 files, grep over ~1 MB, csv_to_json of 10,000
    rows) next to the same work done with the stdlib modules LLM code reaches for.
javascript
    Fresh ``console.log('hello')`` wall time (paced runs on warm instances) and
    instance start-up; the first use of the helpers (loading the library).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from workbench.sandbox import ExecutionPolicy, Sandbox, create_sandbox

POLICY = ExecutionPolicy(fuel_budget=100_000_000_000, timeout_seconds=300)

PY_CASES = {
    "import sandbox_utils": "import sandbox_utils",
    "from sandbox_utils import ls; ls()": "from sandbox_utils import ls; ls()",
    "from sandbox_utils import find; find()": "from sandbox_utils import find; find()",
    "from sandbox_utils import grep (plain text)": (
        "from sandbox_utils import grep; grep('x', 'd0')"
    ),
    "from sandbox_utils import chunk": "from sandbox_utils import chunk; chunk([1], 1)",
    "from sandbox_utils import csv_to_json (tiny CSV)": (
        "from sandbox_utils import csv_to_json; csv_to_json(text='a\\n1\\n')"
    ),
    "from sandbox_utils import *": "from sandbox_utils import *",
    "stdlib: import os, fnmatch (for a find)": "import os, fnmatch",
    "stdlib: import csv, json": "import csv, json",
}

PY_WORK = {
    "find('*.txt') over 100 files": (
        "from sandbox_utils import find; assert len(find('*.txt')) == 100",
        "import os, fnmatch\nn = 0\nfor root, dirs, files in os.walk('/app'):\n"
        "    n += len(fnmatch.filter(files, '*.txt'))\nassert n == 100",
    ),
    "grep plain text, ~1 MB": (
        "from sandbox_utils import grep; grep('needle', 'big.log')",
        "import re\npat = re.compile('needle')\n"
        "hits = [l for l in open('big.log') if pat.search(l)]",
    ),
    "grep regex, ~1 MB": (
        "from sandbox_utils import grep; grep(r'need\\w+', 'big.log')",
        "import re\npat = re.compile(r'need\\w+')\n"
        "hits = [l for l in open('big.log') if pat.search(l)]",
    ),
    "csv_to_json, 10,000 rows": (
        "from sandbox_utils import csv_to_json; csv_to_json('rows.csv', output='rows.json')",
        "import csv, json\nrows = list(csv.DictReader(open('rows.csv', newline='')))\n"
        "open('rows.json', 'w').write(json.dumps(rows, indent=2))",
    ),
}


def fuel(sb: Sandbox, code: str) -> int:
    result = sb.execute(code)
    if not result.success:
        raise RuntimeError(f"{code!r} failed:\n{result.stderr}")
    return result.fuel_consumed


def prepare_workspace(workspace: Path) -> None:
    for i in range(10):
        folder = workspace / f"d{i}"
        folder.mkdir(exist_ok=True)
        for j in range(10):
            (folder / f"f{j}.txt").write_text("x\n")
    line = "an ordinary log line with some words in it, nothing to see\n"
    (workspace / "big.log").write_text(line * 16_000 + "needle here\n")
    rows = ["id,name,score"] + [f"{i},name {i},{i % 97}" for i in range(10_000)]
    (workspace / "rows.csv").write_text("\n".join(rows) + "\n")


def bench_python(root: Path) -> dict[str, Any]:
    sb = create_sandbox("python", policy=POLICY, workspace_root=root)
    prepare_workspace(sb.workspace)
    base = min(fuel(sb, "pass") for _ in range(3))
    out: dict[str, Any] = {"base": base, "first_use": {}, "work": {}}
    for name, code in PY_CASES.items():
        out["first_use"][name] = fuel(sb, code) - base
    for name, (ours, stdlib) in PY_WORK.items():
        out["work"][name] = {
            "sandbox_utils": fuel(sb, ours) - base,
            "stdlib": fuel(sb, stdlib) - base,
        }
    sb.close()
    return out


def bench_javascript(root: Path, runs: int = 40) -> dict[str, Any]:
    sb = create_sandbox("javascript", policy=POLICY, workspace_root=root)
    sb.execute("console.log('hello')")
    time.sleep(1.0)
    walls = []
    for _ in range(runs):
        began = time.perf_counter()
        sb.execute("console.log('hello')")
        walls.append((time.perf_counter() - began) * 1000)
        time.sleep(0.15)
    hello = sb.execute("console.log('hello')")
    loaded = sb.execute("sandbox_utils.ls()")
    imported = sb.execute('import { ls } from "sandbox_utils";\nls();')
    out = {
        "hello_wall_ms_median": statistics.median(walls),
        "hello_fuel": hello.fuel_consumed,
        "startup_fuel": hello.startup_fuel,
        "first_use_global_fuel": loaded.fuel_consumed - hello.fuel_consumed,
        "first_use_global_ms": loaded.duration_ms,
        "first_use_import_fuel": imported.fuel_consumed - hello.fuel_consumed,
    }
    sb.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-guest-lib-") as tmp:
        results = {
            "python": bench_python(Path(tmp)),
            "javascript": bench_javascript(Path(tmp)),
        }
    py = results["python"]
    print(f"Python (fresh interpreter; empty run {py['base'] / 1e6:.1f} M subtracted)")
    for name, value in py["first_use"].items():
        print(f"  {name:55} {value / 1e6:8.1f} M")
    print("  work (sandbox_utils vs stdlib, imports included):")
    for name, pair in py["work"].items():
        ours, stdlib = pair["sandbox_utils"] / 1e6, pair["stdlib"] / 1e6
        print(f"    {name:40} {ours:8.1f} M   vs {stdlib:8.1f} M")
    js = results["javascript"]
    print("JavaScript")
    print(
        f"  fresh console.log('hello'): {js['hello_wall_ms_median']:.2f} ms median wall, "
        f"{js['hello_fuel']} fuel; start-up {js['startup_fuel'] / 1e6:.2f} M fuel (not charged)"
    )
    print(
        f"  first use of the global: {js['first_use_global_fuel'] / 1e6:.1f} M fuel, "
        f"{js['first_use_global_ms']:.1f} ms; via import: {js['first_use_import_fuel'] / 1e6:.1f} M"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
