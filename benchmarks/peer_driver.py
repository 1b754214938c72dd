"""Drive the peer, ``llm-wasm-sandbox``, for the benchmarks (runs in ITS venv).

Not run directly: ``bench_core.py`` and ``bench_humaneval.py`` start it with
``benchmarks/.peer-venv/bin/python`` (see ``_common.run_peer``), so the peer's
dependencies stay out of our venv. It uses only the standard library and the
peer's public API from its README::

    from sandbox import create_sandbox, RuntimeType

Modes (each writes one JSON object to ``--out``):

    peer_driver.py hello --runs 5 --warmup 1 --out r.json
        For Python ``print('hello')`` and JS ``console.log('hello')``: one
        sandbox per runtime, ``warmup`` untimed runs, then ``runs`` timed
        ``sandbox.execute(code)`` calls (wall ms measured here, around execute).

    peer_driver.py humaneval --programs programs.jsonl --out r.json
        Each line is ``{"task_id": ..., "program": ...}``; every program runs
        in one Python sandbox (each execute is a fresh guest, like ours), timed.

    peer_driver.py imports --data-dir DIR --modules a,b --runs 3 --out r.json
        For each module, ``runs`` fresh ``sandbox.execute("import <module>")``
        with DIR mounted read-only at /data (the packages are in
        DIR/site-packages, as the peer's README describes), fuel 50 B.

The peer prints structlog lines to stdout; the caller discards them.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

HELLO = {"python": "print('hello')", "javascript": "console.log('hello')"}


def _import_peer() -> tuple[Any, Any]:
    from sandbox import RuntimeType, create_sandbox  # the peer's package name

    return create_sandbox, RuntimeType


def _quiet() -> None:
    logging.disable(logging.CRITICAL)


def hello(runs: int, warmup: int) -> dict[str, Any]:
    create_sandbox, runtime_type = _import_peer()
    out: dict[str, Any] = {}
    for name, code in HELLO.items():
        entry: dict[str, Any] = {"times_ms": [], "peer_duration_ms": [], "fuel": []}
        try:
            with tempfile.TemporaryDirectory(prefix="peer-ws-") as root:
                runtime = runtime_type.PYTHON if name == "python" else runtime_type.JAVASCRIPT
                started = time.perf_counter()
                sandbox = create_sandbox(runtime=runtime, workspace_root=Path(root))
                entry["create_ms"] = (time.perf_counter() - started) * 1000
                for i in range(warmup + runs):
                    started = time.perf_counter()
                    result = sandbox.execute(code)
                    elapsed = (time.perf_counter() - started) * 1000
                    if not result.success or result.stdout != "hello\n":
                        entry["error"] = (
                            f"run {i}: success={result.success} stdout={result.stdout!r} "
                            f"stderr={result.stderr[-500:]!r}"
                        )
                        break
                    if i >= warmup:
                        entry["times_ms"].append(elapsed)
                        entry["peer_duration_ms"].append(result.duration_ms)
                        entry["fuel"].append(result.fuel_consumed)
        except Exception as exc:  # reported, never faked
            entry["error"] = f"{type(exc).__name__}: {exc}"
            entry["traceback"] = traceback.format_exc()[-2000:]
        out[name] = entry
    return out


def humaneval(programs_file: Path) -> dict[str, Any]:
    create_sandbox, runtime_type = _import_peer()
    items = [json.loads(line) for line in programs_file.read_text("utf-8").splitlines() if line]
    rows = []
    with tempfile.TemporaryDirectory(prefix="peer-ws-") as root:
        sandbox = create_sandbox(runtime=runtime_type.PYTHON, workspace_root=Path(root))
        began = time.perf_counter()
        for item in items:
            started = time.perf_counter()
            try:
                result = sandbox.execute(item["program"])
                row = {
                    "task_id": item["task_id"],
                    "success": bool(result.success),
                    "stderr": result.stderr[:2000],
                    "fuel": result.fuel_consumed,
                }
            except Exception as exc:
                row = {"task_id": item["task_id"], "success": False, "stderr": repr(exc)}
            row["ms"] = (time.perf_counter() - started) * 1000
            rows.append(row)
        total = time.perf_counter() - began
    return {"rows": rows, "total_s": total}


def imports(data_dir: Path, modules: list[str], runs: int) -> dict[str, Any]:
    create_sandbox, runtime_type = _import_peer()
    from sandbox import ExecutionPolicy  # the peer's policy model

    policy = ExecutionPolicy(
        fuel_budget=50_000_000_000, mount_data_dir=str(data_dir), memory_bytes=256 * 1024 * 1024
    )
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="peer-ws-") as root:
        sandbox = create_sandbox(
            runtime=runtime_type.PYTHON, policy=policy, workspace_root=Path(root)
        )
        for module in modules:
            entry: dict[str, Any] = {"times_ms": [], "fuel": []}
            for _ in range(runs):
                started = time.perf_counter()
                result = sandbox.execute(f"import {module}")
                elapsed = (time.perf_counter() - started) * 1000
                if not result.success:
                    entry["error"] = result.stderr[-500:]
                    break
                entry["times_ms"].append(elapsed)
                entry["fuel"].append(result.fuel_consumed)
            out[module] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    h = sub.add_parser("hello")
    h.add_argument("--runs", type=int, default=5)
    h.add_argument("--warmup", type=int, default=1)
    h.add_argument("--out", type=Path, required=True)
    he = sub.add_parser("humaneval")
    he.add_argument("--programs", type=Path, required=True)
    he.add_argument("--out", type=Path, required=True)
    im = sub.add_parser("imports")
    im.add_argument("--data-dir", type=Path, required=True)
    im.add_argument("--modules", required=True)
    im.add_argument("--runs", type=int, default=3)
    im.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    _quiet()
    result: dict[str, Any]
    try:
        version = importlib.metadata.version("llm-wasm-sandbox")
        wasmtime_version = importlib.metadata.version("wasmtime")
    except importlib.metadata.PackageNotFoundError:
        version = wasmtime_version = "unknown"
    if args.mode == "hello":
        result = hello(args.runs, args.warmup)
    elif args.mode == "imports":
        result = imports(args.data_dir, args.modules.split(","), args.runs)
    else:
        result = humaneval(args.programs)
    result["peer_version"] = version
    result["peer_wasmtime"] = wasmtime_version
    args.out.write_text(json.dumps(result), "utf-8")


if __name__ == "__main__":
    main()
