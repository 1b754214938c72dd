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

Usage::

    python benchmarks/bench_sci_startup.py [--copies N] [--held N] [--sets "a,b;c,d"]

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=5, help="copies timed per set")
    parser.add_argument("--held", type=int, default=3, help="copies alive at once for RSS")
    parser.add_argument("--sets", default=";".join(SETS), help="preload sets, ';'-separated")
    parser.add_argument(
        "--memory", type=int, default=512 * 1024 * 1024, help="instance memory limit (bytes)"
    )
    args = parser.parse_args()

    from workbench.sandbox import RuntimeType, get_engine

    engine = get_engine()
    engine.module(RuntimeType.PYTHON_SCI)
    print_machine_info(machine_info())
    print(f"- load average at start: {loadavg()}\n")
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
