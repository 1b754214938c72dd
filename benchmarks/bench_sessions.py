"""Live sessions: trivial-turn latency, persistence overhead, memory per session.

Run: ``python benchmarks/bench_sessions.py [--turns 500] [--sessions 20] [--peer]``

Measures, through the public API (``create_session(...).execute``):

* trivial-turn latency (``pass`` / ``1``) in a live Python and JavaScript session:
  p50 and p90 of wall time around ``execute``, and the turn time inside the
  instance (``result.duration_ms``);
* the same with ``auto_persist_globals=True`` and a few globals (what saving
  after every turn costs, in time and fuel);
* host RSS with N live sessions at once (each has run one turn, so its
  interpreter is up): growth per session, for each runtime;
* with ``--peer``, the peer's multi-turn session (restart + JSON globals reload
  per turn) in its own venv, for the ratio.

Prints Markdown tables; BENCHMARKS.md records a run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    PEER_VENV,
    ensure_peer_venv,
    machine_info,
    md_table,
    print_machine_info,
    rss_mb,
    summarize,
)

from workbench.sandbox import create_session

TRIVIAL = {"python": "pass", "javascript": "1"}
SETUP = {
    "python": "import json\ncounter = 0\nconfig = {'name': 'demo', 'items': list(range(50))}",
    "javascript": "var counter = 0; var config = {name: 'demo', items: [...Array(50).keys()]};",
}
INCREMENT = {"python": "counter += 1", "javascript": "counter += 1"}


def turn_latency(runtime: str, turns: int, persist: bool) -> dict[str, float]:
    session = create_session(runtime, auto_persist_globals=persist)
    try:
        session.execute(SETUP[runtime])
        code = INCREMENT[runtime] if persist else TRIVIAL[runtime]
        for _ in range(20):
            session.execute(code)
        walls, inside, fuel = [], [], []
        for _ in range(turns):
            started = time.perf_counter()
            result = session.execute(code)
            walls.append((time.perf_counter() - started) * 1000)
            inside.append(result.duration_ms)
            fuel.append(result.fuel_consumed)
            if not result.success:
                raise SystemExit(f"{runtime} turn failed: {result.stderr}")
        stats = summarize(walls)
        return {
            "p50": stats["p50"],
            "p90": stats["p90"],
            "inside_p50": statistics.median(inside),
            "fuel_p50": statistics.median(fuel),
        }
    finally:
        session.destroy()


def memory_per_session(runtime: str, count: int) -> dict[str, float]:
    gc.collect()
    before = rss_mb()
    sessions = [create_session(runtime) for _ in range(count)]
    for session in sessions:
        session.execute(TRIVIAL[runtime])
    gc.collect()
    after = rss_mb()
    for session in sessions:
        session.destroy()
    return {"before": before, "after": after, "per_session": (after - before) / count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=500)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--peer", action="store_true", help="also run the peer's session")
    args = parser.parse_args()
    print_machine_info(machine_info())

    rows = []
    for runtime in ("python", "javascript"):
        for persist in (False, True):
            r = turn_latency(runtime, args.turns, persist)
            rows.append(
                [
                    runtime,
                    "auto_persist_globals" if persist else "plain",
                    f"{r['p50']:.3f} ms",
                    f"{r['p90']:.3f} ms",
                    f"{r['inside_p50']:.3f} ms",
                    f"{r['fuel_p50'] / 1e6:.2f} M",
                ]
            )
    print(f"\n### Trivial turn in a live session ({args.turns} turns, after 20 warm-up)\n")
    print(
        md_table(
            ["runtime", "mode", "p50 (execute)", "p90", "p50 inside the guest", "fuel p50"], rows
        )
    )

    rows = []
    for runtime in ("python", "javascript"):
        m = memory_per_session(runtime, args.sessions)
        rows.append(
            [
                runtime,
                args.sessions,
                f"{m['before']:.0f} MB",
                f"{m['after']:.0f} MB",
                f"{m['per_session']:.1f} MB",
            ]
        )
    print(f"\n### {args.sessions} live sessions at once\n")
    print(
        md_table(
            ["runtime", "sessions", "RSS before", "RSS with all live", "RSS per live session"], rows
        )
    )

    if args.peer:
        peer_session(ensure_peer_venv())


def peer_session(version: str | None) -> None:
    """The peer's session: 3 turns with auto_persist_globals, in its own venv."""
    if version is None:
        print(f"\n(peer not available in {PEER_VENV}; skipped)")
        return
    python = PEER_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "peer.json"
        subprocess.run(
            [
                str(python),
                str(Path(__file__).with_name("peer_session.py")),
                "--turns",
                "3",
                "--out",
                str(out),
            ],
            cwd=tmp,
            capture_output=True,
            timeout=900,
            check=False,
        )
        data = json.loads(out.read_text()) if out.exists() else {"error": "no result"}
    print(f"\n### Peer ({version}) session with auto_persist_globals, per turn\n")
    if "error" in data:
        print("peer failed:", data["error"])
        return
    print(
        md_table(
            ["turn", "wall", "fuel"],
            [
                [i + 1, f"{t:.0f} ms", f"{f / 1e6:.0f} M"]
                for i, (t, f) in enumerate(zip(data["times_ms"], data["fuel"], strict=True))
            ],
        )
    )


if __name__ == "__main__":
    main()
