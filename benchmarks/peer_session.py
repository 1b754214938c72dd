"""Drive the peer's multi-turn session for bench_sessions.py (runs in the peer venv).

Usage (from bench_sessions.py): ``peer_session.py --turns 3 --out r.json``.
One Python sandbox with ``auto_persist_globals=True``; turn 1 sets a counter,
each later turn increments it. Wall time per ``execute`` is measured here.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    from sandbox import RuntimeType, create_sandbox  # the peer's package

    out: dict[str, object] = {"times_ms": [], "fuel": []}
    with tempfile.TemporaryDirectory(prefix="peer-session-") as root:
        sandbox = create_sandbox(
            runtime=RuntimeType.PYTHON, auto_persist_globals=True, workspace_root=Path(root)
        )
        for turn in range(args.turns):
            code = "counter = 0" if turn == 0 else "counter += 1\nprint(counter)"
            started = time.perf_counter()
            result = sandbox.execute(code)
            elapsed = (time.perf_counter() - started) * 1000
            if not result.success:
                out["error"] = f"turn {turn}: {result.stderr[-300:]}"
                break
            out["times_ms"].append(elapsed)  # type: ignore[union-attr]
            out["fuel"].append(result.fuel_consumed)  # type: ignore[union-attr]
            out["last_stdout"] = result.stdout
    args.out.write_text(json.dumps(out), "utf-8")


if __name__ == "__main__":
    main()
