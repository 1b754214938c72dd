"""Helpers shared by the benchmark scripts (not a benchmark itself).

* statistics: :func:`percentile`, :func:`summarize`;
* Markdown output: :func:`md_table`, :func:`ms`;
* the machine description the project rules ask for: :func:`machine_info`;
* the peer (``llm-wasm-sandbox``) in its own venv: :func:`ensure_peer_venv`,
  :func:`run_peer`. The peer is installed into ``benchmarks/.peer-venv`` so its
  dependencies (another wasmtime, structlog, ...) never touch ours; it is driven
  by ``benchmarks/peer_driver.py`` through a subprocess.

Imports nothing from ``workbench`` so the scripts can print a clear error first.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
PEER_VENV = BENCH_DIR / ".peer-venv"
PEER_DRIVER = BENCH_DIR / "peer_driver.py"
#: What is installed into the peer venv (latest release when these scripts were written).
PEER_REQUIREMENT = "llm-wasm-sandbox==0.4.4"


# ---- Statistics


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation (numpy's default)."""
    if not values:
        return float("nan")
    data = sorted(values)
    pos = (len(data) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def summarize(values: Sequence[float]) -> dict[str, float]:
    """p50 / p90 / min / max / mean of a sample (same unit as the input)."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": statistics.median(values),
        "p90": percentile(values, 90),
        "min": min(values),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


# ---- Output


def ms(value: float | None, digits: int = 1) -> str:
    """Milliseconds for a table cell."""
    if value is None or value != value:  # None or NaN
        return "n/a"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.{digits}f} ms"


def ratio(num: float | None, den: float | None) -> str:
    """``num / den`` as ``"12.3x"`` (n/a if either is missing)."""
    if not num or not den or num != num or den != den:
        return "n/a"
    value = num / den
    return f"{value:.2f}x" if value < 10 else f"{value:.0f}x"


def md_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _run_text(cmd: str) -> str:
    try:
        done = subprocess.run(
            cmd, shell=True, capture_output=True, text=True, timeout=30, cwd=REPO_ROOT
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"<{cmd} failed: {exc}>"
    return (done.stdout or done.stderr).strip()


def machine_info() -> dict[str, str]:
    """Date, machine and versions, as the project rules ask for in BENCHMARKS.md."""
    try:
        from importlib.metadata import version

        wasmtime_version = version("wasmtime")
    except Exception:
        wasmtime_version = "not installed"
    return {
        "date": _run_text("date"),
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "nproc": _run_text("nproc"),
        "lscpu": _run_text("lscpu | head -20"),
        "python": f"{platform.python_version()} ({sys.executable})",
        "python_V": _run_text(f"{sys.executable} -V"),
        "uname": _run_text("uname -a"),
        "wasmtime_py": wasmtime_version,
        "commit": _run_text("git rev-parse --short HEAD"),
        # --no-optional-locks: read-only, never refreshes the index.
        "uncommitted": _run_text(
            "git --no-optional-locks status --porcelain --untracked-files=no -- workbench wasm"
        ).replace("\n", "; "),
    }


def print_machine_info(info: dict[str, str]) -> None:
    """Print :func:`machine_info` as a Markdown block."""
    print("## Machine\n")
    print(f"- date: {info['date']} ({info['date_utc']})")
    print(f"- nproc: {info['nproc']}")
    print(f"- python: {info['python']}")
    print(f"- uname: {info['uname']}")
    print(f"- wasmtime-py: {info['wasmtime_py']}; workbench commit: {info['commit']}")
    if info.get("uncommitted"):
        print(f"- uncommitted changes in workbench/ or wasm/ when run: {info['uncommitted']}")
    print("\n```\n" + info["lscpu"] + "\n```\n")


def rss_mb() -> float:
    """This process's resident set size (VmRSS from /proc/self/status), in MB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class CpuNoise:
    """CPU time used by OTHER processes on the machine while a benchmark runs.

    The machine is shared and noisy: this reads the machine-wide busy time from
    ``/proc/stat`` and subtracts this process's and its children's CPU time, so a
    report can say how many cores something else was using on average.
    """

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        busy = 0.0
        try:
            with open("/proc/stat", encoding="ascii") as fh:
                fields = [int(x) for x in fh.readline().split()[1:]]
            # user nice system idle iowait irq softirq steal ...
            busy = (sum(fields[:3]) + sum(fields[5:8])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError):
            busy = float("nan")
        t = os.times()
        ours = t.user + t.system + t.children_user + t.children_system
        return time.monotonic(), busy, ours

    def others_cores(self) -> float:
        """Average number of cores busy with other processes since construction."""
        wall0, busy0, ours0 = self.start
        wall1, busy1, ours1 = self._sample()
        if wall1 <= wall0:
            return float("nan")
        return max(0.0, (busy1 - busy0) - (ours1 - ours0)) / (wall1 - wall0)


def loadavg() -> str:
    """The 1/5/15-minute load averages."""
    try:
        with open("/proc/loadavg", encoding="ascii") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "n/a"


# ---- The peer


def peer_python() -> Path:
    """The peer venv's interpreter."""
    return PEER_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _peer_version() -> str | None:
    if not peer_python().is_file():
        return None
    done = subprocess.run(
        [
            str(peer_python()),
            "-c",
            "import importlib.metadata as m; print(m.version('llm-wasm-sandbox'))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_peer_venv(requirement: str = PEER_REQUIREMENT) -> str | None:
    """Create ``benchmarks/.peer-venv`` with the peer installed, if it isn't there.

    Returns the installed peer version, or None (with a message printed) if the
    venv can't be created or the install fails.
    """
    installed = _peer_version()
    if installed is not None:
        return installed
    print(
        f"[peer] creating {PEER_VENV.relative_to(REPO_ROOT)} and installing {requirement} "
        "into it (its own venv, so its dependencies can't disturb ours) ...",
        file=sys.stderr,
        flush=True,
    )
    try:
        if not peer_python().is_file():
            subprocess.run(
                [sys.executable, "-m", "venv", str(PEER_VENV)],
                check=True,
                capture_output=True,
                text=True,
                timeout=300,
            )
        subprocess.run(
            [str(peer_python()), "-m", "pip", "install", "--quiet", requirement],
            check=True,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except subprocess.CalledProcessError as exc:
        tail = "\n".join((exc.stderr or exc.stdout or "").strip().splitlines()[-5:])
        print(f"[peer] install failed; skipping the peer:\n{tail}", file=sys.stderr)
        return None
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"[peer] install failed ({exc}); skipping the peer", file=sys.stderr)
        return None
    installed = _peer_version()
    if installed is None:
        print("[peer] installed, but the package can't be found; skipping", file=sys.stderr)
    return installed


def run_peer(args: Sequence[str], timeout: float) -> dict[str, object]:
    """Run ``peer_driver.py ARGS`` in the peer venv; return its JSON result.

    The driver runs in a temporary working directory (the peer creates
    ``workspace/`` folders relative to it). On failure returns ``{"error": ...}``.
    """
    with tempfile.TemporaryDirectory(prefix="peer-bench-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [str(peer_python()), str(PEER_DRIVER), *args, "--out", str(out)]
        try:
            done = subprocess.run(
                cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return {"error": f"the peer driver timed out after {timeout:.0f} s"}
        if not out.is_file():
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
            return {"error": f"the peer driver failed (exit {done.returncode}):\n{tail}"}
        result: dict[str, object] = json.loads(out.read_text("utf-8"))
        return result
