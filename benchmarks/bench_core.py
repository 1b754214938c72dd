"""Core latency / memory benchmarks of the sandbox, with the peer and native Python.

Run (from the repo root, in our venv)::

    python benchmarks/bench_core.py [--quick] [--json out.json] [--no-peer]
                                    [--sections fresh,native,cold,rss,cancel,peer]

What it measures (medians are the headline; every number comes from this run):

fresh
    ``create_sandbox(rt).execute(hello)`` through the public API, one sandbox
    per runtime (Python ``print('hello')``, JS ``console.log('hello')``). After
    one warm-up run and after the warm pool is full (polls
    ``sandbox.pool.warm_count(shape)`` up to ``DEFAULT_DEPTH``):
    * back-to-back: 20 executions with no pause (the pool drains, so later runs
      wait for an instance still starting);
    * paced: 20 executions with 200 ms sleeps between them (the pool refills, so
      every run takes an already-started instance).
    Wall time around ``execute()``; also the guest turn time (``duration_ms``)
    and how many runs got a warm instance (``warm_start``).
native
    ``python3 -c "print('hello')"`` as a subprocess, 20 runs: the issue's
    reference (49 ms there), for ratios.
cold
    First execution on a cold compiled-module cache: a subprocess with
    ``WASM_WORKBENCH_CACHE_DIR`` set to a fresh temp dir times
    ``create_sandbox(rt).execute(hello)`` (includes compiling the runtime),
    then a second subprocess on the now-warm cache. Per runtime.
rss
    Host RSS (VmRSS) growth over 1,000 fresh executions (500 Python + 500 JS,
    interleaved, one sandbox per runtime), measured after a 50-run warm-up.
cancel
    ``sandbox.cancel()`` 300 ms into ``while True: pass`` (fuel 10**12) and into a
    30 s sleep, from another thread: time from ``cancel()`` until ``execute()``
    returns. 10 per case, both runtimes.
peer
    ``llm-wasm-sandbox`` (PyPI) in its own venv ``benchmarks/.peer-venv``
    (created on first use), driven by ``peer_driver.py``: fresh Python and JS
    hello, 5 timed runs each after one warm-up. Skipped with ``--no-peer``.

``--quick`` cuts the counts (10 runs, 200 RSS executions, 3 cancels, 2 peer
runs): for checking the script, not for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
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
    rss_mb,
    run_peer,
    summarize,
)

from workbench.sandbox import ExecutionPolicy, RuntimeType, Sandbox, TrapKind, create_sandbox
from workbench.sandbox._pool import DEFAULT_DEPTH

HELLO = {RuntimeType.PYTHON: "print('hello')", RuntimeType.JAVASCRIPT: "console.log('hello')"}
BUSY = {RuntimeType.PYTHON: "while True:\n    pass", RuntimeType.JAVASCRIPT: "while (true) {}"}
SLEEP = {
    RuntimeType.PYTHON: "import time\ntime.sleep(30)",
    RuntimeType.JAVASCRIPT: "os.sleep(30000)",
}
NAMES = {RuntimeType.PYTHON: "Python", RuntimeType.JAVASCRIPT: "JS"}
SECTIONS = ("fresh", "native", "cold", "rss", "cancel", "peer")

# The issue's targets and its measurements of the peer / native Python.
TARGET_PY_MS = 20.0
TARGET_JS_MS = 1.0
TARGET_RSS_MB = 50.0
TARGET_COLD_S = 8.0
ISSUE_PEER_PY_S = 5.2
ISSUE_PEER_JS_S = 0.9
ISSUE_NATIVE_MS = 49.0


def log(message: str) -> None:
    """Progress goes to stderr; the Markdown report goes to stdout."""
    print(f"[bench_core] {message}", file=sys.stderr, flush=True)


def wait_warm(sandbox: Sandbox, timeout: float = 60.0) -> float:
    """Wait until the pool holds DEFAULT_DEPTH started instances; return seconds waited."""
    shape = next(iter(sandbox._shapes))
    depth = sandbox.pool.depth.get(sandbox.runtime, 0)
    began = time.perf_counter()
    while sandbox.pool.warm_count(shape) < depth:
        if time.perf_counter() - began > timeout:
            raise RuntimeError(f"the {sandbox.runtime.value} pool did not warm in {timeout} s")
        time.sleep(0.01)
    return time.perf_counter() - began


def timed_execute(sandbox: Sandbox, code: str) -> tuple[float, Any]:
    began = time.perf_counter()
    result = sandbox.execute(code)
    return (time.perf_counter() - began) * 1000, result


# ---- a. fresh hello through the public API


def bench_fresh(runtime: RuntimeType, runs: int, root: Path) -> dict[str, Any]:
    code = HELLO[runtime]
    sandbox = create_sandbox(runtime, workspace_root=root)
    try:
        first_ms, result = timed_execute(sandbox, code)  # warm-up (loads the module)
        assert result.success and result.stdout == "hello\n", result.summary()
        out: dict[str, Any] = {"warmup_ms": first_ms, "depth": DEFAULT_DEPTH[runtime]}
        for mode, pause in (("back_to_back", 0.0), ("paced", 0.2)):
            out[f"{mode}_pool_wait_s"] = wait_warm(sandbox)
            times, guest, startup, warm = [], [], [], 0
            for _ in range(runs):
                if pause:
                    time.sleep(pause)
                elapsed, result = timed_execute(sandbox, code)
                if not (result.success and result.stdout == "hello\n"):
                    raise RuntimeError(f"hello failed: {result.summary()}")
                times.append(elapsed)
                guest.append(result.duration_ms)
                startup.append(result.startup_ms)
                warm += bool(result.warm_start)
            out[mode] = {
                "wall": summarize(times),
                "guest_turn": summarize(guest),
                "instance_startup": summarize(startup),
                "warm_starts": warm,
                "runs": runs,
                "times_ms": times,
            }
        return out
    finally:
        sandbox.close()


# ---- b. native python3


def bench_native(runs: int) -> dict[str, Any]:
    exe = shutil.which("python3") or sys.executable
    cmd = [exe, "-c", "print('hello')"]
    subprocess.run(cmd, check=True, capture_output=True)  # warm-up (page cache)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append((time.perf_counter() - began) * 1000)
    version = subprocess.run([exe, "-V"], capture_output=True, text=True).stdout.strip()
    return {"exe": exe, "version": version, "wall": summarize(times), "times_ms": times}


# ---- c. cold compiled-module cache

_COLD_CHILD = r"""
import json, logging, sys, time
t0 = time.perf_counter()
events = []
class Rec(logging.Handler):
    def emit(self, record):
        events.append([round(time.perf_counter() - t0, 3), record.getMessage()])
log = logging.getLogger("workbench.sandbox.engine")
log.setLevel(logging.INFO)
log.addHandler(Rec())
from workbench.sandbox import create_sandbox
t1 = time.perf_counter()
sandbox = create_sandbox(sys.argv[1], workspace_root=sys.argv[3])
result = sandbox.execute(sys.argv[2])
t2 = time.perf_counter()
print(json.dumps({
    "import_s": t1 - t0, "create_execute_s": t2 - t1,
    "ok": result.success and result.stdout == "hello\n",
    "warm_start": result.warm_start, "startup_ms": result.startup_ms,
    "events": events,
}))
"""


def _cold_child(runtime: RuntimeType, cache: Path, data: Path) -> dict[str, Any]:
    env = dict(os.environ, WASM_WORKBENCH_CACHE_DIR=str(cache), WASM_WORKBENCH_DATA_DIR=str(data))
    cmd = [sys.executable, "-c", _COLD_CHILD, runtime.value, HELLO[runtime], str(data / "ws")]
    began = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"cold-cache child failed:\n{done.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = wall
    return out


def bench_cold(runtime: RuntimeType) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="wb-cold-") as tmp:
        cache, data = Path(tmp) / "cache", Path(tmp) / "data"
        cold = _cold_child(runtime, cache, data)
        cached = sorted(p.name for p in (cache / "modules").glob("*.cwasm"))
        warm = _cold_child(runtime, cache, data)
        sizes = {p.name: p.stat().st_size for p in (cache / "modules").glob("*.cwasm")}
    return {"cold": cold, "warm": warm, "cache_files": cached, "cache_bytes": sizes}


# ---- d. host RSS over many executions


def bench_rss(total: int, warmup: int, root: Path) -> dict[str, Any]:
    sandboxes = {rt: create_sandbox(rt, workspace_root=root) for rt in HELLO}
    failures = 0
    samples: list[tuple[int, float]] = []
    try:

        def run(count: int) -> None:
            nonlocal failures
            for i in range(count):
                runtime = RuntimeType.PYTHON if i % 2 == 0 else RuntimeType.JAVASCRIPT
                result = sandboxes[runtime].execute(HELLO[runtime])
                failures += not result.success

        began = time.perf_counter()
        run(warmup)
        for sandbox in sandboxes.values():
            wait_warm(sandbox)
        gc.collect()
        before = rss_mb()
        samples.append((0, before))
        step = max(1, total // 5)
        done = 0
        while done < total:
            count = min(step, total - done)
            run(count)
            done += count
            gc.collect()
            samples.append((done, rss_mb()))
        for sandbox in sandboxes.values():
            wait_warm(sandbox)
        gc.collect()
        after = rss_mb()
        elapsed = time.perf_counter() - began
    finally:
        for sandbox in sandboxes.values():
            sandbox.close()
    return {
        "warmup": warmup,
        "executions": total,
        "rss_before_mb": before,
        "rss_after_mb": after,
        "growth_mb": after - before,
        "samples": samples,
        "failures": failures,
        "elapsed_s": elapsed,
    }


# ---- e. cancel latency


def bench_cancel(runtime: RuntimeType, runs: int, root: Path) -> dict[str, Any]:
    policy = ExecutionPolicy(fuel_budget=10**12, timeout_seconds=120)
    sandbox = create_sandbox(runtime, policy=policy, workspace_root=root)
    out: dict[str, Any] = {}
    try:
        sandbox.execute(HELLO[runtime])
        for label, code in (("busy_loop", BUSY[runtime]), ("sleep_30s", SLEEP[runtime])):
            latencies, wrong = [], 0
            for _ in range(runs):
                wait_warm(sandbox)
                box: dict[str, Any] = {}

                def work(code: str = code, box: dict[str, Any] = box) -> None:
                    box["result"] = sandbox.execute(code)
                    box["ended"] = time.perf_counter()

                worker = threading.Thread(target=work)
                worker.start()
                time.sleep(0.3)
                asked = time.perf_counter()
                sandbox.cancel()
                worker.join(30)
                if worker.is_alive() or "ended" not in box:
                    raise RuntimeError(f"{runtime.value} {label}: execute() did not return")
                latencies.append((box["ended"] - asked) * 1000)
                wrong += box["result"].trap_kind is not TrapKind.CANCELLED
            out[label] = {"latency": summarize(latencies), "not_cancelled": wrong, "runs": runs}
    finally:
        sandbox.close()
    return out


# ---- g. the peer


def bench_peer(runs: int, warmup: int) -> dict[str, Any]:
    version = ensure_peer_venv()
    if version is None:
        return {"error": f"could not install {PEER_REQUIREMENT} into benchmarks/.peer-venv"}
    log(f"peer {version}: {runs} timed runs per runtime after {warmup} warm-up")
    result = run_peer(["hello", "--runs", str(runs), "--warmup", str(warmup)], timeout=1800)
    for name in ("python", "javascript"):
        entry = result.get(name)
        if isinstance(entry, dict) and entry.get("times_ms"):
            entry["wall"] = summarize(entry["times_ms"])
            entry["peer_reported"] = summarize(entry["peer_duration_ms"])
        if isinstance(entry, dict) and "error" in entry:
            text = str(entry["error"]).lower()
            if "wasm" in text and ("not found" in text or "no such file" in text):
                entry["error"] += (
                    " -- the peer's wasm binaries are not in the wheel; they must be fetched "
                    "separately, so no peer numbers are reported"
                )
    return result


# ---- Report


def met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def report(results: dict[str, Any], quick: bool) -> None:
    print("# bench_core results" + (" (--quick: reduced counts)" if quick else "") + "\n")
    print_machine_info(results["machine"])
    noise = ", ".join(f"{k} {v:.2f}" for k, v in results.get("noise", {}).items())
    print(
        f"Load average at start / end: {results['loadavg_start']} / {results['loadavg_end']}. "
        f"CPU used by OTHER processes during each section (cores, of "
        f"{results['machine']['nproc']}): {noise}.\n"
    )
    fresh = results.get("fresh", {})
    native = results.get("native")
    peer = results.get("peer", {})
    native_p50 = native["wall"]["p50"] if native else None

    if fresh:
        print("## a. Fresh execution of hello through the public API\n")
        rows = []
        for name, entry in fresh.items():
            for mode in ("back_to_back", "paced"):
                m = entry[mode]
                rows.append(
                    [
                        name,
                        mode.replace("_", "-") + (" (200 ms pauses)" if mode == "paced" else ""),
                        m["runs"],
                        ms(m["wall"]["p50"], 2),
                        ms(m["wall"]["p90"], 2),
                        ms(m["wall"]["max"], 2),
                        ms(m["guest_turn"]["p50"], 2),
                        f"{m['warm_starts']}/{m['runs']}",
                        ratio(m["wall"]["p50"], native_p50),
                    ]
                )
        print(
            md_table(
                [
                    "runtime",
                    "mode",
                    "runs",
                    "wall p50",
                    "wall p90",
                    "wall max",
                    "guest turn p50",
                    "warm instance",
                    "p50 / native python3",
                ],
                rows,
            )
        )
        depth = ", ".join(f"{NAMES[rt]} {d}" for rt, d in DEFAULT_DEPTH.items())
        print(f"\nPool depth used (DEFAULT_DEPTH): {depth}. ", end="")
        print(
            "Wall = around `execute()`; guest turn = the result's `duration_ms` (user code "
            "only). 'warm instance' = runs whose instance had finished starting.\n"
        )
        for name, entry in fresh.items():
            st = entry["paced"]["instance_startup"]["p50"]
            print(
                f"- {name}: warm-up run {ms(entry['warmup_ms'])}; instance start-up p50 "
                f"{ms(st)} (done ahead of time when the pool is warm)"
            )
        print()

    if native:
        print("## b. Native reference\n")
        print(
            md_table(
                ["command", "runs", "p50", "p90", "issue's figure"],
                [
                    [
                        f"`{native['version']} -c \"print('hello')\"` (subprocess)",
                        native["wall"]["n"],
                        ms(native["wall"]["p50"]),
                        ms(native["wall"]["p90"]),
                        f"{ISSUE_NATIVE_MS:.0f} ms",
                    ]
                ],
            )
        )
        print()

    cold = results.get("cold", {})
    if cold:
        print("## c. First execution on a cold compiled-module cache\n")
        rows = []
        for name, entry in cold.items():
            for phase in ("cold", "warm"):
                e = entry[phase]
                compile_s = None
                for stamp, message in e["events"]:
                    if "Compiling" in message:
                        compile_s = stamp
                ready = [s for s, m in e["events"] if "ready" in m]
                compile_part = (
                    f"{ready[0] - compile_s:.2f} s"
                    if compile_s is not None and ready
                    else "(loaded from cache)"
                )
                rows.append(
                    [
                        name,
                        "cold (fresh dir)" if phase == "cold" else "warm (second process)",
                        f"{e['create_execute_s']:.2f} s",
                        compile_part,
                        f"{e['import_s']:.2f} s",
                        f"{e['process_wall_s']:.2f} s",
                        "ok" if e["ok"] else "FAILED",
                    ]
                )
        print(
            md_table(
                [
                    "runtime",
                    "cache",
                    "create_sandbox + execute",
                    "of which compile + save",
                    "import workbench",
                    "whole process",
                    "result",
                ],
                rows,
            )
        )
        print()

    rss = results.get("rss")
    if rss:
        print("## d. Host RSS over many fresh executions\n")
        print(
            md_table(
                ["executions (Py+JS)", "RSS after warm-up", "RSS after", "growth", "failures"],
                [
                    [
                        f"{rss['executions']} (after {rss['warmup']} warm-up)",
                        f"{rss['rss_before_mb']:.1f} MB",
                        f"{rss['rss_after_mb']:.1f} MB",
                        f"{rss['growth_mb']:+.1f} MB",
                        rss["failures"],
                    ]
                ],
            )
        )
        trend = ", ".join(f"{n}: {mb:.1f}" for n, mb in rss["samples"])
        print(f"\nRSS (MB) by executions done: {trend}. Took {rss['elapsed_s']:.1f} s.\n")

    cancel = results.get("cancel", {})
    if cancel:
        print("## e. Cancel latency (cancel() 300 ms in, until execute() returns)\n")
        rows = []
        for name, entry in cancel.items():
            for label, e in entry.items():
                rows.append(
                    [
                        name,
                        label,
                        e["runs"],
                        ms(e["latency"]["p50"], 2),
                        ms(e["latency"]["p90"], 2),
                        ms(e["latency"]["max"], 2),
                        "all" if e["not_cancelled"] == 0 else f"{e['not_cancelled']} NOT",
                    ]
                )
        print(md_table(["runtime", "guest", "runs", "p50", "p90", "max", "cancelled"], rows))
        print()

    if results.get("peer_skipped"):
        print(f"## g. The peer\n\nSkipped: {results['peer_skipped']}.\n")
    if peer:
        print("## g. The peer (llm-wasm-sandbox) in its own venv\n")
        if "error" in peer:
            print(f"Peer skipped: {peer['error']}\n")
        else:
            print(
                f"llm-wasm-sandbox {peer.get('peer_version')} (wasmtime-py "
                f"{peer.get('peer_wasmtime')}), benchmarks/.peer-venv, same command.\n"
            )
            rows = []
            for key, name in (("python", "Python"), ("javascript", "JS")):
                entry = peer.get(key, {})
                ours = fresh.get(name, {})
                issue = ISSUE_PEER_PY_S if key == "python" else ISSUE_PEER_JS_S
                if "error" in entry:
                    rows.append([name, "error", entry["error"][:300], "", "", "", ""])
                    continue
                p50 = entry["wall"]["p50"]
                ours_b2b = ours.get("back_to_back", {}).get("wall", {}).get("p50")
                ours_paced = ours.get("paced", {}).get("wall", {}).get("p50")
                rows.append(
                    [
                        name,
                        entry["wall"]["n"],
                        ms(p50),
                        f"{issue} s",
                        ratio(p50, ours_b2b),
                        ratio(p50, ours_paced),
                        ratio(p50, native_p50),
                    ]
                )
            print(
                md_table(
                    [
                        "runtime",
                        "runs",
                        "peer p50",
                        "issue's peer figure",
                        "peer / ours (back-to-back)",
                        "peer / ours (paced)",
                        "peer / native",
                    ],
                    rows,
                )
            )
            print()

    # Targets
    rows = []
    for name, target in (("Python", TARGET_PY_MS), ("JS", TARGET_JS_MS)):
        entry = fresh.get(name)
        if entry:
            p50 = entry["back_to_back"]["wall"]["p50"]
            paced = entry["paced"]["wall"]["p50"]
            rows.append(
                [
                    f"fresh {name} hello p50, back-to-back",
                    ms(p50, 2),
                    f"<= {target:g} ms",
                    met(p50 <= target),
                    f"paced p50 {ms(paced, 2)} ({met(paced <= target)} when paced)",
                ]
            )
    if rss:
        rows.append(
            [
                f"RSS growth over {rss['executions']} executions",
                f"{rss['growth_mb']:+.1f} MB",
                f"<= {TARGET_RSS_MB:g} MB",
                met(rss["growth_mb"] <= TARGET_RSS_MB),
                "",
            ]
        )
    for name, entry in cold.items():
        value = entry["cold"]["create_execute_s"]
        rows.append(
            [
                f"first {name} execution, cold cache",
                f"{value:.2f} s",
                f"<= {TARGET_COLD_S:g} s",
                met(value <= TARGET_COLD_S),
                f"whole process {entry['cold']['process_wall_s']:.2f} s",
            ]
        )
    if rows:
        print("## Targets (issue)\n")
        print(md_table(["metric", "measured", "target", "status", "note"], rows))
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description="Core sandbox benchmarks (see module doc).")
    parser.add_argument("--quick", action="store_true", help="reduced counts (script check)")
    parser.add_argument("--json", type=Path, help="also write all raw results to this file")
    parser.add_argument("--no-peer", action="store_true", help="skip llm-wasm-sandbox")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)}",
    )
    args = parser.parse_args()
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    unknown = sections - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    if args.no_peer:
        sections.discard("peer")
        log("peer skipped (--no-peer)")
    logging.basicConfig(level=logging.WARNING)

    runs = 10 if args.quick else 20
    results: dict[str, Any] = {
        "machine": machine_info(),
        "quick": args.quick,
        "loadavg_start": loadavg(),
        "noise": {},
    }
    if args.no_peer:
        results["peer_skipped"] = "--no-peer was given"

    def section(name: str, label: str, func: Callable[[], Any]) -> None:
        log(label)
        noise = CpuNoise()
        results[name] = func()
        results["noise"][name] = noise.others_cores()

    with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:
        root = Path(tmp)
        if "fresh" in sections:
            section(
                "fresh",
                f"fresh hello: {runs} back-to-back + {runs} paced per runtime",
                lambda: {NAMES[rt]: bench_fresh(rt, runs, root) for rt in HELLO},
            )
        if "native" in sections:
            section("native", "native python3 -c", lambda: bench_native(runs))
        if "cancel" in sections:
            count = 3 if args.quick else 10
            section(
                "cancel",
                f"cancel latency: {count} per case",
                lambda: {NAMES[rt]: bench_cancel(rt, count, root) for rt in HELLO},
            )
        if "rss" in sections:
            total, warmup = (200, 20) if args.quick else (1000, 50)
            section(
                "rss",
                f"rss: {total} executions after {warmup} warm-up",
                lambda: bench_rss(total, warmup, root),
            )
        if "cold" in sections:
            section(
                "cold",
                "cold cache (compiles each runtime in a subprocess)",
                lambda: {NAMES[rt]: bench_cold(rt) for rt in HELLO},
            )
        if "peer" in sections:
            section(
                "peer",
                "peer (each Python run takes seconds)",
                lambda: bench_peer(2 if args.quick else 5, 0 if args.quick else 1),
            )
    results["loadavg_end"] = loadavg()
    report(results, args.quick)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str), "utf-8")
        log(f"raw results written to {args.json}")


if __name__ == "__main__":
    os.chdir(REPO_ROOT)
    main()
