"""The desktop bundle next to the pip install: size, time to a visible window, to a first result.

Usage::

    python packaging/build.py                  # the bundle in dist/
    python benchmarks/bench_bundle.py [--runs N] [--bundle dist/WASM-Workbench] [--json out.json]

Both are started as a user starts them, a new process each time, with the same
warm compiled-module cache (a temporary one, prepared first, so neither pays the
first-run compile), alternating bundle and pip install:

* **first Python result**: ``run hello.py`` from spawning the process to its exit
  (the result printed);
* **visible window**: ``gui --smoke-test`` from spawning the process to the line
  it prints when the window is exposed (``QT_QPA_PLATFORM=offscreen``), and to
  the line saying both runtimes are ready;
* **size**: the bundle folder and its tarball; for the pip install, the
  site-packages of ``build/bundle-venv`` (what ``pip install wasm-workbench``
  brings) without PyInstaller, pip and setuptools, plus the standard library of
  the Python it needs.

The pip install is this interpreter's ``wasm-workbench`` script (with this
checkout first on ``PYTHONPATH`` if you set it so).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from _common import REPO_ROOT, CpuNoise, loadavg, machine_info, md_table, print_machine_info

HELLO = "print('hello from the sandbox')\n"
#: What the build venv holds besides the workbench and its dependencies (name prefixes).
_BUILD_ONLY = (
    "pyinstaller",
    "_pyinstaller",
    "altgraph",
    "pip",
    "setuptools",
    "_distutils",
    "distutils",
    "pkg_resources",
    "hatchling",
    "pathspec",
    "pluggy",
    "trove",
)


def folder_bytes(folder: Path, skip: tuple[str, ...] = ()) -> int:
    """Bytes of the regular files under ``folder``, leaving out top-level entries in ``skip``.

    Symbolic links are not counted (PyInstaller links some libraries twice).
    """
    total = 0
    for entry in folder.iterdir():
        if entry.name.lower().startswith(skip) or entry.is_symlink():
            continue
        if entry.is_file():
            total += entry.stat().st_size
        elif entry.is_dir():
            total += sum(
                p.stat().st_size for p in entry.rglob("*") if p.is_file() and not p.is_symlink()
            )
    return total


def time_run(command: list[str], env: dict[str, str], cwd: Path) -> float:
    """Seconds from spawning ``command run hello.py`` to its exit (which must be 0)."""
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "run", "hello.py"], env=env, cwd=cwd, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or "hello from the sandbox" not in done.stdout:
        raise SystemExit(f"{command} run failed ({done.returncode}): {done.stderr[-500:]}")
    return elapsed


def time_window(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Seconds from spawning ``gui --smoke-test`` to "window visible" and to "runtimes ready"."""
    started = time.perf_counter()
    seen: dict[str, float] = {}
    with subprocess.Popen(
        [*command, "gui", "--smoke-test"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            for key in ("window visible", "runtimes ready"):
                if line.startswith(f"smoke-test: {key}"):
                    seen[key] = time.perf_counter() - started
        status = proc.wait()
    if status != 0 or len(seen) != 2:
        raise SystemExit(f"{command} gui --smoke-test failed ({status}); saw {seen}")
    return seen["window visible"], seen["runtimes ready"]


def main() -> int:
    """Measure and print the Markdown report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed starts of each kind")
    parser.add_argument("--bundle", default=str(REPO_ROOT / "dist" / "WASM-Workbench"))
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    bundle = Path(args.bundle).resolve()
    bundle_exe = bundle / "WASM-Workbench"
    if not bundle_exe.is_file():
        print(f"No bundle at {bundle}: build it with python packaging/build.py", file=sys.stderr)
        return 2
    script = Path(sys.executable).parent / "wasm-workbench"
    pip_cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "workbench"]
    commands = {"bundle": [str(bundle_exe)], "pip install": pip_cmd}

    info = machine_info()
    print_machine_info(info)
    print(f"load average at start: {loadavg()}\n")

    work = Path(tempfile.mkdtemp(prefix="wwb-bench-bundle-"))
    (work / "hello.py").write_text(HELLO, encoding="utf-8")
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "WASM_WORKBENCH_CACHE_DIR": str(work / "cache"),
        "WASM_WORKBENCH_CONFIG_DIR": str(work / "config"),
    }
    # The bundle carries its own Python: nothing of this one's may leak into it.
    envs = {
        "bundle": {k: v for k, v in env.items() if k not in ("PYTHONPATH", "PYTHONHOME")},
        "pip install": env,
    }
    # Warm-up (not timed): compile the runtimes and build the vendored packages
    # once into the shared cache, and bring both programs' files into the page cache.
    for name, command in commands.items():
        time_run(command, envs[name], work)
        time_window(command, envs[name], work)

    noise = CpuNoise()
    runs: dict[str, list[float]] = {name: [] for name in commands}
    visible: dict[str, list[float]] = {name: [] for name in commands}
    ready: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            runs[name].append(time_run(command, envs[name], work))
            shown, prepared = time_window(command, envs[name], work)
            visible[name].append(shown)
            ready[name].append(prepared)
    others = noise.others_cores()

    tarballs = sorted(bundle.parent.glob("WASM-Workbench-*-linux-*.tar.gz"))
    venv_site = Path(
        sysconfig.get_paths(vars={"base": str(REPO_ROOT / "build" / "bundle-venv")})["purelib"]
    )
    pip_size = folder_bytes(venv_site, skip=_BUILD_ONLY) if venv_site.is_dir() else None
    # The Python a pip install needs besides: its standard library, without
    # site-packages, the test suite and the static libpython in config-3.x.
    python_size = folder_bytes(
        Path(sysconfig.get_paths()["stdlib"]), skip=("site-packages", "test", "config-")
    )

    def med(values: list[float]) -> float:
        return statistics.median(values)

    def s(value: float) -> str:
        return f"{value:.2f} s"

    def mib(value: int | None) -> str:
        return "n/a" if value is None else f"{value / 2**20:.0f} MiB"

    rows = [
        [
            "size on disk",
            mib(folder_bytes(bundle)),
            f"{mib(pip_size)} + Python's stdlib {mib(python_size)}",
            "",
        ],
        ["download", mib(tarballs[-1].stat().st_size) if tarballs else "n/a", "(wheels)", ""],
    ]
    for label, data in (
        ("`run hello.py`, spawn to exit", runs),
        ("spawn to visible window", visible),
        ("spawn to runtimes ready", ready),
    ):
        b, p = med(data["bundle"]), med(data["pip install"])
        rows.append([label, s(b), s(p), f"{b / p:.2f}x"])
    print(f"## Bundle vs pip install (medians of {args.runs} starts each)\n")
    print(md_table(["", "bundle", "pip install", "bundle / pip"], rows))
    print(f"\nOther processes used {others:.2f} cores on average; load {loadavg()}.")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"machine": info, "runs": runs, "visible": visible, "ready": ready}, indent=2
            ),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
