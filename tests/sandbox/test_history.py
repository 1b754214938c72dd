"""The run history core: records, the bounded list, comparison and persistence (no Qt)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from workbench.sandbox import ExecutionPolicy, RuntimeType, SandboxResult, TrapKind, _history
from workbench.sandbox._history import MAX_CODE_BYTES, RunHistory, RunRecord, outcome_words

MIB = 1024 * 1024


def result(execution_id: str = "run-1", **changes: object) -> SandboxResult:
    """A realistic successful Python result, with ``changes`` applied."""
    values: dict[str, object] = {
        "execution_id": execution_id,
        "runtime": RuntimeType.PYTHON,
        "success": True,
        "exit_code": 0,
        "stdout": "hello\n",
        "stdout_bytes": b"hello\n",
        "stdout_total_bytes": 6,
        "fuel_consumed": 1_234_567,
        "fuel_budget": 2_000_000_000,
        "startup_fuel": 90_000_000,
        "memory_used_bytes": 18 * MIB,
        "memory_limit_bytes": 128 * MIB,
        "duration_ms": 42.5,
        "startup_ms": 11.0,
    }
    values.update(changes)
    return SandboxResult.model_validate(values)


def record(execution_id: str = "run-1", code: str = 'print("hello")\n', **changes: object):
    return RunRecord.from_result(
        code, ExecutionPolicy(), result(execution_id, **changes), started_at=1_700_000_000.0
    )


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def __call__(self, event: str, index: int) -> None:
        self.events.append((event, index))


# ---- RunRecord


def test_from_result_copies_the_numbers_not_the_output() -> None:
    policy = ExecutionPolicy(fuel_budget=5_000_000_000)
    res = result("abc123", fuel_budget=5_000_000_000)
    rec = RunRecord.from_result("x = 1\nprint(x)\n", policy, res, preset="default", started_at=5.0)
    assert rec.run_id == "abc123"
    assert rec.started_at == 5.0
    assert rec.code == "x = 1\nprint(x)\n"
    assert rec.runtime is RuntimeType.PYTHON
    assert rec.preset == "default"
    assert rec.policy == policy
    assert rec.outcome == "succeeded"
    assert rec.success is True
    assert rec.trap_kind is TrapKind.NONE
    assert rec.exit_code == 0
    assert (rec.fuel_consumed, rec.fuel_budget) == (1_234_567, 5_000_000_000)
    assert rec.memory_used_bytes == 18 * MIB
    assert (rec.duration_ms, rec.startup_ms) == (42.5, 11.0)
    assert "hello" not in rec.model_dump_json()  # guest output is never stored


def test_from_result_defaults_started_at_to_now_minus_duration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_history.time, "time", lambda: 1000.0)
    rec = RunRecord.from_result("pass", ExecutionPolicy(), result(duration_ms=2500.0))
    assert rec.started_at == pytest.approx(997.5)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({}, "succeeded"),
        (
            {"success": False, "exit_code": None, "trap_kind": TrapKind.OUT_OF_FUEL},
            "stopped: the fuel budget ran out",
        ),
        (
            {"success": False, "exit_code": None, "trap_kind": TrapKind.MEMORY},
            "stopped: the memory limit was reached",
        ),
        ({"success": False, "exit_code": 1}, "failed (exit code 1)"),
        ({"success": False, "exit_code": None}, "failed"),
    ],
)
def test_outcome_words(changes: dict[str, object], words: str) -> None:
    rec = record(**changes)
    assert rec.outcome == words
    assert outcome_words(rec.success, rec.trap_kind, rec.exit_code) == words


def test_javascript_run_and_summary() -> None:
    rec = record(runtime=RuntimeType.JAVASCRIPT, code="console.log(1)")
    assert rec.runtime is RuntimeType.JAVASCRIPT
    summary = rec.summary()
    assert summary.startswith("javascript run succeeded.")
    assert "Fuel 1,234,567 of 2,000,000,000" in summary
    assert "18 MiB" in summary
    assert "42.5 ms" in summary


def test_record_is_frozen() -> None:
    rec = record()
    with pytest.raises(ValueError):
        rec.code = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("code", "excerpt"),
    [
        ("\n\n   import math  \nprint(math.pi)\n", "import math"),
        ("", ""),
        ("  \n\t\n", ""),
        ("x" * 200, "x" * 79 + "…"),
    ],
)
def test_excerpt_is_the_first_non_empty_line(code: str, excerpt: str) -> None:
    rec = record(code=code)
    assert rec.excerpt == excerpt
    assert len(rec.excerpt) <= 80


def test_code_is_capped_at_one_mib() -> None:
    small = record(code="a" * MAX_CODE_BYTES)
    assert small.code_truncated is False
    assert len(small.code) == MAX_CODE_BYTES

    big = record(code="é" * MAX_CODE_BYTES)  # 2 bytes each: twice the cap
    assert big.code_truncated is True
    assert len(big.code.encode("utf-8")) <= MAX_CODE_BYTES
    assert big.code == "é" * (MAX_CODE_BYTES // 2)
    assert "cut to 1 MiB" in big.summary()


def test_code_cap_does_not_split_a_character() -> None:
    code = "a" + "😀" * MAX_CODE_BYTES  # 1 byte, then 4-byte characters
    rec = record(code=code)
    assert rec.code_truncated is True
    assert rec.code == "a" + "😀" * ((MAX_CODE_BYTES - 1) // 4)


def test_code_cap_also_applies_to_validated_data() -> None:
    data = record().model_dump()
    data["code"] = "b" * (MAX_CODE_BYTES + 10)
    rec = RunRecord.model_validate(data)
    assert rec.code_truncated is True
    assert len(rec.code) == MAX_CODE_BYTES


# ---- RunHistory


def test_history_is_an_ordered_collection() -> None:
    history = RunHistory()
    records = [record(f"run-{i}") for i in range(3)]
    for rec in records:
        history.add(rec)
    assert len(history) == 3
    assert list(history) == records
    assert history[0] is records[0]
    assert history[-1] is records[2]
    assert history.get("run-1") is records[1]
    assert history.get("nope") is None
    assert history.index_of("run-2") == 2


def test_add_notifies_before_and_after() -> None:
    history = RunHistory()
    events = Recorder()
    history.subscribe(events)
    history.add(record("a"))
    history.add(record("b"))
    assert events.events == [("inserting", 0), ("inserted", 0), ("inserting", 1), ("inserted", 1)]


def test_listeners_see_the_old_state_before_and_the_new_after() -> None:
    history = RunHistory()
    seen: list[tuple[str, int]] = []
    history.subscribe(lambda event, index: seen.append((event, len(history))))
    history.add(record("a"))
    assert seen == [("inserting", 0), ("inserted", 1)]


def test_bounded_history_drops_the_oldest_and_notifies_removed() -> None:
    history = RunHistory(max_runs=3)
    for i in range(3):
        history.add(record(f"run-{i}"))
    events = Recorder()
    history.subscribe(events)
    history.add(record("run-3"))
    assert [r.run_id for r in history] == ["run-1", "run-2", "run-3"]
    assert events.events == [("removing", 0), ("removed", 0), ("inserting", 2), ("inserted", 2)]


def test_default_bound_is_500() -> None:
    history = RunHistory()
    assert history.max_runs == 500
    for i in range(505):
        history.add(record(f"run-{i}"))
    assert len(history) == 500
    assert history[0].run_id == "run-5"


def test_max_runs_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_runs"):
        RunHistory(max_runs=0)


def test_duplicate_run_id_is_refused() -> None:
    history = RunHistory()
    history.add(record("same"))
    with pytest.raises(ValueError, match="already in the history"):
        history.add(record("same"))
    assert len(history) == 1


def test_remove_and_clear_notify() -> None:
    history = RunHistory()
    for name in "abc":
        history.add(record(name))
    events = Recorder()
    history.subscribe(events)
    assert history.remove("b") is True
    assert history.remove("b") is False
    history.clear()
    assert len(history) == 0
    assert events.events == [("removing", 1), ("removed", 1), ("resetting", -1), ("reset", -1)]


def test_unsubscribe_and_broken_listener(caplog: pytest.LogCaptureFixture) -> None:
    history = RunHistory()
    events = Recorder()

    def broken(event: str, index: int) -> None:
        raise RuntimeError("listener bug")

    history.subscribe(broken)
    history.subscribe(events)
    with caplog.at_level(logging.ERROR, logger="workbench.sandbox.history"):
        history.add(record("a"))
    assert len(history) == 1  # the change happened anyway
    assert events.events == [("inserting", 0), ("inserted", 0)]
    assert "listener" in caplog.text
    history.unsubscribe(events)
    history.unsubscribe(events)  # twice is fine
    history.unsubscribe(broken)
    history.add(record("b"))
    assert len(events.events) == 2


# ---- compare


def test_compare_lists_differences_in_human_units() -> None:
    history = RunHistory()
    fast = RunRecord.from_result(
        "print(sum(range(10)))",
        ExecutionPolicy(),
        result("fast"),
        preset="default",
        started_at=100.0,
    )
    slow = RunRecord.from_result(
        "while True:\n    pass\n",
        ExecutionPolicy(fuel_budget=500_000_000, memory_bytes=64 * MIB),
        result(
            "slow",
            success=False,
            exit_code=None,
            trap_kind=TrapKind.OUT_OF_FUEL,
            fuel_consumed=500_000_000,
            fuel_budget=500_000_000,
            memory_used_bytes=20 * MIB,
            duration_ms=1234.0,
        ),
        preset="conservative",
        started_at=200.0,
    )
    history.add(fast)
    history.add(slow)
    rows = history.compare("fast", "slow")
    table = {metric: (a, b) for metric, a, b in rows}
    assert table["Outcome"] == ("succeeded", "stopped: the fuel budget ran out")
    assert table["Preset"] == ("default", "conservative")
    assert table["Code"] == ("1 line: print(sum(range(10)))", "2 lines: while True:")
    assert table["Exit code"] == ("0", "(none)")
    assert table["Fuel used"] == ("1.23 M", "500 M")
    assert table["Fuel budget"] == ("2 B", "500 M")
    assert table["Memory used"] == ("18 MiB", "20 MiB")
    assert table["Duration"] == ("42.5 ms", "1234.0 ms")
    assert table["Policy: Fuel budget"] == ("2 B", "500 M")
    assert table["Policy: Memory limit"] == ("128 MiB", "64 MiB")
    # Alike metrics are not listed.
    assert "Runtime" not in table
    assert "Start-up" not in table
    assert "Policy: Wall-clock timeout" not in table
    # Fixed order: outcome first, policy last.
    assert rows[0][0] == "Outcome"
    assert rows[-1][0].startswith("Policy: ")


def test_compare_alike_runs_is_empty() -> None:
    history = RunHistory()
    history.add(record("a"))
    history.add(record("b"))
    assert history.compare("a", "b") == []


def test_compare_shows_exact_digits_when_rounded_values_look_equal() -> None:
    history = RunHistory()
    history.add(record("a", fuel_consumed=1_234_000))
    history.add(record("b", fuel_consumed=1_234_999))
    assert history.compare("a", "b") == [("Fuel used", "1,234,000", "1,234,999")]


def test_compare_policy_lists_and_env() -> None:
    history = RunHistory()
    history.add(record("a"))
    history.add(
        RunRecord.from_result(
            'print("hello")\n',
            ExecutionPolicy(env={"MODE": "fast"}, argv=["--x", "1"], timeout_seconds=2),
            result("b"),
            started_at=1_700_000_000.0,
        )
    )
    table = {metric: (a, b) for metric, a, b in history.compare("a", "b")}
    assert table["Policy: Guest environment"] == ("(none)", "MODE=fast")
    assert table["Policy: Arguments"] == ("(none)", "--x, 1")
    assert table["Policy: Wall-clock timeout"] == ("30 s", "2 s")


def test_compare_unknown_run_raises_key_error() -> None:
    history = RunHistory()
    history.add(record("a"))
    with pytest.raises(KeyError, match="gone"):
        history.compare("a", "gone")


# ---- Persistence


def test_save_load_round_trip(tmp_path: Path) -> None:
    history = RunHistory()
    history.add(record("a", code="print('ünïcode ✓')\n"))
    history.add(
        RunRecord.from_result(
            "while 1: pass",
            ExecutionPolicy(fuel_budget=10**9, env={"A": "b"}),
            result("b", success=False, exit_code=None, trap_kind=TrapKind.DEADLINE),
            preset="conservative",
            started_at=123.25,
        )
    )
    path = tmp_path / "history.json"
    history.save(path)
    assert json.loads(path.read_text("ascii"))["version"] == 1

    loaded = RunHistory()
    events = Recorder()
    loaded.subscribe(events)
    assert loaded.load(path) == 2
    assert list(loaded) == list(history)
    assert loaded[1].policy.env == {"A": "b"}
    assert loaded[1].trap_kind is TrapKind.DEADLINE
    assert events.events == [("resetting", -1), ("reset", -1)]


def test_load_keeps_the_newest_max_runs(tmp_path: Path) -> None:
    history = RunHistory()
    for i in range(5):
        history.add(record(f"run-{i}"))
    path = tmp_path / "history.json"
    history.save(path)
    small = RunHistory(max_runs=2)
    assert small.load(path) == 2
    assert [r.run_id for r in small] == ["run-3", "run-4"]


def test_missing_file_loads_empty(tmp_path: Path) -> None:
    history = RunHistory()
    history.add(record("a"))
    assert history.load(tmp_path / "nothing-here.json") == 0
    assert len(history) == 0


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b'{"version": 1, "runs": {"a": 1}}',
        b"[" * 100_000,
    ],
)
def test_damaged_file_loads_empty_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    path = tmp_path / "history.json"
    path.write_bytes(content)
    history = RunHistory()
    history.add(record("a"))
    with caplog.at_level(logging.WARNING, logger="workbench.sandbox.history"):
        assert history.load(path) == 0
    assert len(history) == 0
    assert "run history" in caplog.text


def test_unreadable_path_loads_empty(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    history = RunHistory()
    with caplog.at_level(logging.WARNING, logger="workbench.sandbox.history"):
        assert history.load(tmp_path) == 0  # a directory, not a file
    assert "could not read" in caplog.text


def test_bad_records_are_skipped_and_the_rest_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    history = RunHistory()
    history.add(record("a"))
    history.add(record("b"))
    path = tmp_path / "history.json"
    history.save(path)
    document = json.loads(path.read_text("ascii"))
    document["runs"].insert(1, {"run_id": "broken"})
    document["runs"].append(document["runs"][0])  # a duplicate id
    document["runs"].append("not a record")
    path.write_text(json.dumps(document), "ascii")
    with caplog.at_level(logging.WARNING, logger="workbench.sandbox.history"):
        assert history.load(path) == 2
    assert [r.run_id for r in history] == ["a", "b"]
    assert "3 unreadable runs" in caplog.text


def test_oversized_file_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = RunHistory()
    history.add(record("a"))
    path = tmp_path / "history.json"
    history.save(path)
    monkeypatch.setattr(_history, "MAX_HISTORY_FILE_BYTES", path.stat().st_size - 1)
    with caplog.at_level(logging.WARNING, logger="workbench.sandbox.history"):
        assert history.load(path) == 0
    assert "larger than" in caplog.text


def test_save_keeps_the_newest_runs_that_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = RunHistory()
    for i in range(10):
        history.add(record(f"run-{i}", code="x = 1\n" * 100))
    path = tmp_path / "history.json"
    one = len(json.dumps(history[0].model_dump(mode="json")))
    monkeypatch.setattr(_history, "MAX_HISTORY_FILE_BYTES", 100 + 3 * (one + 2) + 10)
    history.save(path)
    assert path.stat().st_size <= _history.MAX_HISTORY_FILE_BYTES
    assert len(history) == 10  # memory is unchanged
    loaded = RunHistory()
    assert loaded.load(path) == 3
    assert [r.run_id for r in loaded] == ["run-7", "run-8", "run-9"]


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    history = RunHistory()
    history.add(record("a"))
    path = tmp_path / "history.json"
    path.write_text("old", "ascii")
    history.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["history.json"]
    assert RunHistory().load(path) == 1


def test_big_code_survives_a_round_trip_capped(tmp_path: Path) -> None:
    history = RunHistory()
    history.add(record("a", code="y" * (MAX_CODE_BYTES + 1)))
    path = tmp_path / "history.json"
    history.save(path)
    loaded = RunHistory()
    loaded.load(path)
    assert loaded[0].code_truncated is True
    assert len(loaded[0].code) == MAX_CODE_BYTES
