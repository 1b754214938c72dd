"""``wasm-workbench eval``: a whole benchmark's samples, with pass@k and failures by cause.

Usage::

    wasm-workbench eval problems.jsonl samples.jsonl            # -> samples.jsonl_results.jsonl
    wasm-workbench eval HumanEval.jsonl.gz samples.jsonl -o results.jsonl --k 1,10
    wasm-workbench eval problems.jsonl samples.jsonl --workers 8 --set fuel_budget=10B
    wasm-workbench eval problems.jsonl samples.jsonl --ray      # local or RAY_ADDRESS cluster
    wasm-workbench eval problems.jsonl samples.jsonl --ray ray://head:10001

One JSON line per sample goes to the results file as it finishes; a rerun with
the same results file skips the samples already there (``--fresh`` starts over).
The summary (pass@k, failures by cause) goes to stdout; progress, with rate and
ETA, to stderr: a bar on a terminal, a plain line every few seconds otherwise.

Exit status: 0 the evaluation ran (whatever the pass rate), 2 usage error (an
input missing, a bad --k or setting), 4 the sandbox failed, 130 interrupted
(the results so far are kept; rerun to resume).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from .sandbox import (
    BatchEvaluation,
    ExecutionPolicy,
    PolicyError,
    evaluate,
    load_policy,
    parse_policy_setting,
    read_results,
)
from .sandbox._atomic import atomic_write

__all__ = ["add_eval_parser", "command_eval"]

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: Seconds between progress lines when stderr is not a terminal.
PLAIN_PROGRESS_EVERY = 5.0
#: Seconds between redraws of the progress bar.
BAR_REDRAW_EVERY = 0.1
BAR_WIDTH = 30


def add_eval_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``eval`` command to the ``wasm-workbench`` parser."""
    parser = sub.add_parser(
        "eval",
        help="run every sample of a benchmark with its test, each fresh; pass@k",
        description="Run each sample with its problem's test in a fresh sandbox execution "
        "under the policy, and report pass@k and failures by cause. Formats: see "
        "docs/EVAL.md (HumanEval JSONL, unittest suites, JavaScript).",
    )
    parser.add_argument("problems", help="problems JSONL (.jsonl or .jsonl.gz)")
    parser.add_argument("samples", help="samples JSONL: task_id and completion per line")
    parser.add_argument(
        "-o",
        "--output",
        help="results JSONL, one line per sample (default: SAMPLES_results.jsonl); "
        "samples already in it are skipped",
    )
    parser.add_argument(
        "--k", default="1", help="comma-separated k's of pass@k (default: 1), e.g. 1,10,100"
    )
    parser.add_argument("--workers", type=int, help="samples run at once (default: every CPU core)")
    parser.add_argument(
        "--executor",
        choices=["thread", "process"],
        default="thread",
        help="local workers as threads (default) or processes",
    )
    parser.add_argument(
        "--policy",
        default="default",
        help="preset name (see 'wasm-workbench policies') or a .toml file",
    )
    parser.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override one policy setting"
    )
    parser.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run on Ray actors: a cluster's ADDRESS (e.g. ray://head:10001, auto), or "
        "without one RAY_ADDRESS or a new local Ray instance",
    )
    parser.add_argument(
        "--language",
        choices=["python", "python-sci", "javascript"],
        default="python",
        help="runtime of the problems that don't name one (default: python; python-sci "
        "runs plain Python on a third of the CPU, see docs/EVAL.md)",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="ignore (and replace) an existing results file"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the summary as JSON instead of text"
    )
    parser.set_defaults(handler=command_eval)


def _parse_ks(text: str) -> list[int]:
    try:
        ks = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        ks = []
    if not ks or any(k < 1 for k in ks):
        raise PolicyError(f"--k {text!r}: expected whole numbers of 1 or more, e.g. --k 1,10")
    return ks


def _policy(args: argparse.Namespace) -> ExecutionPolicy:
    policy = load_policy(args.policy)
    if args.set:
        policy = policy.with_updates(**dict(parse_policy_setting(item) for item in args.set))
    return policy


def command_eval(args: argparse.Namespace) -> int:
    """Run ``wasm-workbench eval``."""
    from .cli import sanitize

    for name in (args.problems, args.samples):
        if not Path(name).is_file():
            print(
                f"wasm-workbench: {name} is not a file. Check the path.",
                file=sys.stderr,
            )
            return EXIT_USAGE
    if args.workers is not None and args.workers < 1:
        print("wasm-workbench: --workers must be 1 or more.", file=sys.stderr)
        return EXIT_USAGE
    ks = _parse_ks(args.k)
    policy = _policy(args)
    output = Path(args.output) if args.output else Path(args.samples + "_results.jsonl")
    previous = [] if args.fresh else read_results(output)
    run = evaluate(
        args.problems,
        args.samples,
        policy=policy,
        workers=args.workers,
        backend="local" if args.ray is None else "ray",
        ks=ks,
        resume=previous,
        executor=args.executor,
        ray_address=args.ray or None,
        language=args.language,
    )
    for line in run.malformed:
        print(f"wasm-workbench: {sanitize(str(line))}; skipped", file=sys.stderr)
    # Only results of this set of samples stay (an edited sample is run again);
    # the file is rewritten whole first, then appended to as results come.
    kept = run.results
    atomic_write(output, "".join(r.model_dump_json() + "\n" for r in kept).encode("utf-8"))
    if run.skipped:
        print(
            f"wasm-workbench: {run.skipped} samples already in {output}; running the "
            f"other {run.total - run.skipped} (--fresh to run all)",
            file=sys.stderr,
        )
    progress = Progress(run, sys.stderr)
    interrupted = False
    with output.open("a", encoding="utf-8") as fh, run:
        try:
            for result in run:
                fh.write(result.model_dump_json() + "\n")
                fh.flush()
                progress.update()
        except KeyboardInterrupt:
            interrupted = True
    progress.finish()
    summary = run.summary()
    if args.json:
        print(json.dumps(summary.model_dump(mode="json"), indent=2))
    else:
        print(summary.text())
        print(f"results: {output}")
    if interrupted:
        print(
            f"wasm-workbench: interrupted after {run.done} of {run.total} samples; "
            "run the same command again to resume.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return EXIT_OK


class Progress:
    """Progress with rate and ETA: a bar on a terminal, plain lines otherwise."""

    def __init__(self, run: BatchEvaluation, stream: TextIO) -> None:
        self.run = run
        self.stream = stream
        self.tty = stream.isatty() and os.environ.get("TERM") != "dumb"
        self.began = time.monotonic()
        self.last = 0.0
        self.failed = 0

    def update(self) -> None:
        """Redraw (or print a line) if it is time to."""
        now = time.monotonic()
        every = BAR_REDRAW_EVERY if self.tty else PLAIN_PROGRESS_EVERY
        if now - self.last >= every:
            self.last = now
            self._show(now, final=False)

    def finish(self) -> None:
        """The final state, and a newline after a bar."""
        if self.run.total > self.run.skipped:
            self._show(time.monotonic(), final=True)

    def _show(self, now: float, *, final: bool) -> None:
        run = self.run
        new = run.done - run.skipped
        todo = run.total - run.skipped
        elapsed = max(now - self.began, 1e-9)
        rate = new / elapsed
        eta = (todo - new) / rate if rate > 0 else float("inf")
        percent = 100 * run.done / run.total if run.total else 100.0
        text = f"{run.done}/{run.total} ({percent:.0f}%), {rate:.1f} samples/s, " + (
            f"{elapsed:.1f} s" if final else f"ETA {_duration(eta)}"
        )
        if self.tty:
            filled = round(BAR_WIDTH * percent / 100)
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            self.stream.write(f"\r[{bar}] {text}\x1b[K" + ("\n" if final else ""))
        else:
            self.stream.write(f"eval: {text}\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}:{seconds:02d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"
