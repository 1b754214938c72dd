"""python-sci instance start-up with and without images, per preload set.

For each set of preloaded modules (``--sets``, default: the candidates for
``DEFAULT_PRELOAD``), in this process and one instance at a time:

* **ordinary** start-up with images off (``WASM_WORKBENCH_IMAGES=0``): the
  interpreter imports the set itself. CPU is this process's user+system time
  around ``wait_ready`` (nothing else runs here), wall time, fuel, and the
  instance's linear memory;
* **image**: the first instance with images on (it imports the set and keeps
  its memory: the "template"), then ``--copies`` instances copied from it (the
  first copy also compares the image with the module's initial memory, so it is
  listed apart); the host memory the image holds;
* **held**: host RSS growth while ``--held`` copies are alive at once, per copy;
* **task imports**: fuel and wall time of a fresh run of :data:`TASK_IMPORTS`
  (what data tasks import beyond the default preload) in a copy: what the
  user's run is charged for them with that preload.

``--cli-runs N`` also times one-shot ``wasm-workbench run`` processes of a small
pandas script (spawn to exit), with the default and ``data-analysis`` policies:
with no image saved in the cache (the folder moved aside for each run: every
process imports, as before images were saved) and with the image saved; the
small Python runtime's one-shot hello beside them. ``--sets ""`` skips the rest.

Usage::

    python benchmarks/bench_sci_startup.py [--copies N] [--held N] [--sets "a,b;c,d"]
        [--cli-runs N]

The python-sci compile must be done first (``wasm-workbench runtimes --prepare``).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import loadavg, machine_info, md_table, print_machine_info, rss_mb

BASE = "numpy,pandas,matplotlib.pyplot"
SKLEARN = (
    "sklearn,sklearn.preprocessing,sklearn.linear_model,sklearn.model_selection,"
    "sklearn.metrics,sklearn.decomposition,sklearn.cluster,sklearn.ensemble"
)
TASK_IMPORTS = "import seaborn, sklearn.linear_model, scipy.stats, statsmodels.api"
SETS = [
    BASE,
    f"{BASE},seaborn",
    f"{BASE},seaborn,{SKLEARN}",
    f"{BASE},seaborn,{SKLEARN},scipy.stats,statsmodels.api",
]


def _fuel(value: int) -> str:
    return f"{value / 1e9:.2f} B" if value >= 100_000_000 else f"{value / 1e6:.1f} M"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _start(engine: Any, shape: Any) -> tuple[Any, float, float]:
    """A started instance, the CPU seconds and wall seconds its start-up took."""
    from workbench.sandbox._runtimes.scientific import ScientificPythonInstance

    cpu, wall = _cpu(), time.perf_counter()
    instance = ScientificPythonInstance(engine, shape)
    assert instance.wait_ready(900) and instance.ready, instance.startup_error
    return instance, _cpu() - cpu, time.perf_counter() - wall


def _check(instance: Any, modules: str) -> int:
    """Check the preloaded modules are there (a failed import is skipped silently).

    Returns the instance's linear memory size (bytes) at the end of the check.
    """
    from workbench.sandbox import ExecutionPolicy
    from workbench.sandbox._sandbox import turn_request
    from workbench.sandbox._workspace import scan

    code = f"import sys\nprint([m for m in {modules.split(',')!r} if m not in sys.modules])"
    request = turn_request(
        code, ExecutionPolicy(), scan(Path(instance.shape.workspace)), fresh=True
    )
    outcome = instance.run(request)
    missing = outcome.stdout.decode().strip()
    assert missing == "[]", f"not imported: {missing} {outcome.stderr[-500:]!r}"
    return int(outcome.memory_bytes)


def measure(engine: Any, modules: str, copies: int, held: int, memory: int) -> dict[str, Any]:
    from workbench.sandbox import ExecutionPolicy, RuntimeType
    from workbench.sandbox._image import reactor_registry
    from workbench.sandbox._instance import InstanceShape
    from workbench.sandbox._sandbox import turn_request
    from workbench.sandbox._workspace import scan

    os.environ["WASM_WORKBENCH_SCI_PRELOAD"] = modules
    root = Path(tempfile.mkdtemp(prefix="bench-sci-startup-"))
    count = iter(range(10**6))

    def shape() -> Any:
        folder = root / f"w{next(count)}"
        folder.mkdir()
        return InstanceShape(RuntimeType.PYTHON_SCI, str(folder), memory)

    def close(instance: Any) -> None:
        instance.close()
        instance.join(30)

    row: dict[str, Any] = {"modules": modules}
    try:
        os.environ["WASM_WORKBENCH_IMAGES"] = "0"
        ordinary, cpu, wall = _start(engine, shape())
        row.update(ordinary_cpu=cpu, ordinary_wall=wall, fuel=ordinary.startup_fuel)
        row["memory_mb"] = _check(ordinary, modules) / 1e6
        close(ordinary)

        os.environ["WASM_WORKBENCH_IMAGES"] = "1"
        reactor_registry.clear()
        template, cpu, wall = _start(engine, shape())
        assert template.started_interpreter
        row.update(template_cpu=cpu, template_wall=wall)
        close(template)
        first, cpu, wall = _start(engine, shape())
        assert first.from_image
        row.update(first_copy_cpu=cpu, first_copy_wall=wall, copy_fuel=first.startup_fuel)
        _check(first, modules)
        close(first)
        cpus, walls = [], []
        for _ in range(copies):
            instance, cpu, wall = _start(engine, shape())
            assert instance.from_image
            cpus.append(cpu)
            walls.append(wall)
            close(instance)
        row.update(copy_cpu=statistics.median(cpus), copy_wall=statistics.median(walls))
        instance = _start(engine, shape())[0]
        policy = ExecutionPolicy().with_updates(
            fuel_budget=200_000_000_000, memory_bytes=memory, timeout_seconds=600
        )
        usage = scan(Path(instance.shape.workspace))
        began = time.perf_counter()
        outcome = instance.run(turn_request(TASK_IMPORTS, policy, usage, fresh=True))
        assert outcome.exit_code == 0, outcome.stderr[-500:]
        row.update(task_fuel=outcome.fuel_consumed, task_wall=time.perf_counter() - began)
        close(instance)
        image = next(iter(reactor_registry._images.values()))
        row["image_mb"] = image.held_bytes / 1e6
        before = rss_mb()
        alive = [_start(engine, shape())[0] for _ in range(held)]
        row["rss_per_copy_mb"] = (rss_mb() - before) / max(1, held)
        for instance in alive:
            close(instance)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        reactor_registry.clear()
    return row


PANDAS_SCRIPT = "import pandas as pd\nprint(pd.DataFrame({'a': [1, 2]}).a.sum())\n"


def cli_seconds(runtime: str, policy: str, script: Path, images: Path | None) -> float:
    """Spawn-to-exit of one ``wasm-workbench run``; ``images``: a folder to empty first."""
    import subprocess
    import sys

    if images is not None and images.exists():
        aside = images.with_name("images-bench-aside")
        aside.mkdir(exist_ok=True)
        for entry in images.iterdir():  # kept aside, put back at the end
            entry.replace(aside / entry.name)
    began = time.perf_counter()
    command = [sys.executable, "-m", "workbench", "run", "--runtime", runtime]
    out = subprocess.run([*command, "--policy", policy, str(script)], capture_output=True)
    seconds = time.perf_counter() - began
    if out.returncode:
        raise SystemExit(f"the run failed: {out.stderr.decode()[-2000:]}")
    return seconds


def cli_rows(runs: int) -> list[list[str]]:
    """One-shot CLI runs without and with python-sci's image on disk."""
    from workbench.sandbox._engine import cache_dir

    images = cache_dir() / "images"
    aside = images.with_name("images-bench-aside")
    folder = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    script = folder / "task.py"
    script.write_text(PANDAS_SCRIPT, encoding="utf-8")
    hello = folder / "hello.py"
    hello.write_text("print('hello')\n", encoding="utf-8")
    rows = []
    try:
        for policy in ("default", "data-analysis"):
            cold = [cli_seconds("python-sci", policy, script, images) for _ in range(runs)]
            warm = [cli_seconds("python-sci", policy, script, None) for _ in range(runs)]
            rows.append(
                [
                    f"python-sci, `{policy}`",
                    f"{statistics.median(cold):.2f} s",
                    f"{statistics.median(warm):.2f} s",
                    f"{statistics.median(cold) / statistics.median(warm):.1f}x",
                ]
            )
        small = [cli_seconds("python", "default", hello, None) for _ in range(runs)]
        rows.append(["python (hello), `default`", "", f"{statistics.median(small):.2f} s", ""])
    finally:
        if aside.exists():  # the user's saved images come back
            for entry in aside.iterdir():
                if not (images / entry.name).exists():
                    entry.replace(images / entry.name)
            shutil.rmtree(aside, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=5, help="copies timed per set")
    parser.add_argument("--held", type=int, default=3, help="copies alive at once for RSS")
    parser.add_argument("--sets", default=";".join(SETS), help="preload sets, ';'-separated")
    parser.add_argument(
        "--memory", type=int, default=512 * 1024 * 1024, help="instance memory limit (bytes)"
    )
    parser.add_argument("--cli-runs", type=int, default=0, help="one-shot CLI runs per case")
    args = parser.parse_args()

    from workbench.sandbox import RuntimeType, get_engine

    engine = get_engine()
    engine.module(RuntimeType.PYTHON_SCI)
    print_machine_info(machine_info())
    print(f"- load average at start: {loadavg()}\n")
    if args.cli_runs:
        headers = ["one-shot `wasm-workbench run`", "no saved image", "image saved", "ratio"]
        print(md_table(headers, cli_rows(args.cli_runs)), flush=True)
    if not args.sets:
        return
    rows = []
    for modules in args.sets.split(";"):
        row = measure(engine, modules, args.copies, args.held, args.memory)
        print(row, flush=True)
        rows.append(row)
    print(f"\n- load average at end: {loadavg()}\n")
    headers = [
        "preload",
        "start-up fuel",
        "ordinary: CPU / wall",
        "template: CPU",
        "first copy: CPU",
        f"copy: CPU / wall (median of {args.copies})",
        "instance memory",
        "image held",
        f"RSS per live copy ({args.held})",
        "task imports in a copy: fuel / wall",
    ]
    table = []
    for row in rows:
        table.append(
            [
                row["modules"].replace(SKLEARN, "sklearn + 7 submodules"),
                f"{row['fuel'] / 1e9:.1f} B",
                f"{row['ordinary_cpu']:.2f} s / {row['ordinary_wall']:.2f} s",
                f"{row['template_cpu']:.2f} s",
                f"{row['first_copy_cpu'] * 1000:.0f} ms",
                f"{row['copy_cpu'] * 1000:.0f} ms / {row['copy_wall'] * 1000:.0f} ms",
                f"{row['memory_mb']:.0f} MB",
                f"{row['image_mb']:.0f} MB",
                f"{row['rss_per_copy_mb']:.0f} MB",
                f"{_fuel(row['task_fuel'])} / {row['task_wall']:.2f} s",
            ]
        )
    print(md_table(headers, table))


if __name__ == "__main__":
    main()
