"""What fuel metering and epoch interruption cost a CPU-bound guest loop.

Issue 12 asks for a pure-Python loop (summing ``range(10**7)`` at module level)
within 4x native CPython in python-sci. This measures where that floor is: the
same loop in engines compiled four ways, each against native ``python3`` in the
same process:

* ``fuel+epoch``: the sandbox's engine (every limit works);
* ``epoch``: no fuel metering (no instruction budget possible);
* ``fuel``: no epoch interruption (no deadline, no Stop for code that never
  calls the host);
* ``none``: neither (the code generator's own floor).

Only the first is a sandbox; the others are measurements. Each variant runs in a
child process (the engine is process-wide) with a scratch cache beside the real
one (hard links to its runtime files, its own compiled modules: ~75 s and
~2.6 GiB per python-sci compile, ~330 MB on disk each; ``--keep`` keeps them for a
rerun). ``--no-callbacks`` also sets each store's epoch deadline out of reach, so
the 5 ms epoch callback (a Python call) never runs: what that callback costs.

Usage::

    python benchmarks/bench_metering.py [--runtime python-sci] [--runs 4]
        [--variants fuel+epoch,epoch,fuel,none] [--no-callbacks] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import loadavg, machine_info, md_table, print_machine_info

LOOP = "import time\nt = time.perf_counter()\ns = 0\nfor i in range(10**7):\n    s += i\n"
LOOP += "print(time.perf_counter() - t)"
VARIANTS = {"fuel+epoch": (True, True), "epoch": (False, True), "fuel": (True, False)}
VARIANTS["none"] = (False, False)
#: Fuel a store reads as left when the engine meters none.
UNMETERED = 10**15


def _patch_engine(fuel: bool, epoch: bool, callbacks: bool) -> None:
    """Make this process's engine meter only what the variant asks (benchmark only)."""
    import wasmtime
    from wasmtime import _ffi as ffi

    import workbench.sandbox._engine as engine_module

    base_fingerprint = engine_module.engine_fingerprint
    default_profile = engine_module.EngineProfile()
    base_engine = wasmtime.Engine

    def fingerprint(profile: Any = default_profile) -> str:
        # Another configuration is another compiled module: never the sandbox's.
        return base_fingerprint(profile) + f";bench-fuel={int(fuel)};bench-epoch={int(epoch)}"

    def new_engine(config: Any) -> Any:
        # The sandbox's own configuration (_engine._new_wasm_engine), metering aside.
        config.consume_fuel = fuel
        config.epoch_interruption = epoch
        return base_engine(config)

    engine_module.engine_fingerprint = fingerprint
    wasmtime.Engine = new_engine  # type: ignore[misc]
    if not fuel:
        wasmtime.Store.set_fuel = lambda self, amount: None  # type: ignore[method-assign]
        wasmtime.Store.get_fuel = lambda self: UNMETERED  # type: ignore[method-assign]

        def get_fuel(_context: Any, out: Any) -> None:
            out._obj.value = UNMETERED  # out is ctypes.byref(c_uint64)

        ffi.wasmtime_context_get_fuel = get_fuel
        ffi.wasmtime_context_set_fuel = lambda _context, _amount: None
    if not callbacks:
        set_deadline = wasmtime.Store.set_epoch_deadline
        wasmtime.Store.set_epoch_deadline = (  # type: ignore[method-assign]
            lambda self, _ticks: set_deadline(self, 10**12)
        )


def child(args: argparse.Namespace) -> None:
    """One variant: the loop in the sandbox and natively, alternating."""
    fuel, epoch = VARIANTS[args.variant]
    _patch_engine(fuel, epoch, not args.no_callbacks)
    from workbench.sandbox import ExecutionPolicy, create_sandbox

    policy = ExecutionPolicy().with_updates(fuel_budget=200_000_000_000, timeout_seconds=600)
    began = time.perf_counter()
    wasm: list[float] = []
    native: list[float] = []
    root = Path(tempfile.mkdtemp(prefix="bench-metering-"))
    with create_sandbox(args.runtime, policy=policy, workspace_root=root) as sandbox:
        sandbox.execute("pass")  # compile (or load) and start before timing
        ready = time.perf_counter() - began
        for _ in range(args.runs):
            result = sandbox.execute(LOOP)
            if not result.success:
                raise SystemExit(f"the loop failed: {result.stderr}")
            wasm.append(float(result.stdout))
            out = subprocess.run(
                [sys.executable, "-c", LOOP], capture_output=True, text=True, check=True
            )
            native.append(float(out.stdout))
    shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({"wasm": wasm, "native": native, "ready_s": ready, "load": loadavg()}))


def scratch_cache(real: Path, scratch: Path) -> None:
    """The real cache's runtime files (hard links where possible), no compiled modules."""
    for entry in real.iterdir():
        if entry.name.startswith("modules") or entry.name == "bench-corpus":
            continue
        target = scratch / entry.name
        if target.exists():
            continue
        if entry.is_dir():
            shutil.copytree(entry, target, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(entry), str(target))


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runtime", default="python-sci", help="python or python-sci")
    parser.add_argument("--runs", type=int, default=4, help="loop runs per variant")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--no-callbacks", action="store_true", help="no epoch callbacks")
    parser.add_argument("--keep", action="store_true", help="keep the scratch cache")
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # a child's variant
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    if args.variant:
        child(args)
        return
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    from workbench.sandbox._engine import cache_dir

    info = machine_info()
    print_machine_info(info)
    real = cache_dir()
    scratch = real.parent / (real.name + "-bench-metering")
    scratch.mkdir(parents=True, exist_ok=True)
    scratch_cache(real, scratch)
    env = {**os.environ, "WASM_WORKBENCH_CACHE_DIR": str(scratch)}
    # The loop needs nothing imported ahead; without a preload each instance is ready sooner.
    env.setdefault("WASM_WORKBENCH_SCI_PRELOAD", "")
    results: dict[str, Any] = {}
    try:
        for variant in variants:
            print(f"{variant}: compiling or loading, then {args.runs} runs ...", flush=True)
            command = [sys.executable, __file__, "--variant", variant, "--runs", str(args.runs)]
            command += ["--runtime", args.runtime]
            if args.no_callbacks:
                command.append("--no-callbacks")
            out = subprocess.run(command, env=env, capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"{variant} failed:\n{out.stderr[-3000:]}")
            results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"  {results[variant]}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    rows = []
    floor = results.get("none")
    for variant, data in results.items():
        wasm, native = statistics.median(data["wasm"]), statistics.median(data["native"])
        vs_floor = f"{wasm / statistics.median(floor['wasm']):.2f}x" if floor else "-"
        rows.append(
            [
                variant,
                f"{wasm:.3f} s",
                f"{native:.3f} s",
                f"**{wasm / native:.2f}x**",
                vs_floor,
                ", ".join(f"{x:.2f}" for x in data["wasm"]),
                data["load"],
            ]
        )
    print()
    headers = ["engine", "loop p50", "native p50", "vs native", "vs none", "runs", "load"]
    print(md_table(headers, rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "results": results}, indent=1))


if __name__ == "__main__":
    main()
