"""The run history: one record per execution, kept as a plain bounded list.

A :class:`RunRecord` is an immutable summary of one run, built from the code, the
policy and the :class:`~workbench.sandbox.SandboxResult` with
:meth:`RunRecord.from_result`. It keeps the user's own code (capped at
:data:`MAX_CODE_BYTES`) and host-observed numbers only; it never stores guest
output, so nothing a guest printed ends up in the history file.

A :class:`RunHistory` is an ordered, bounded collection of records, oldest first.
It knows nothing about Qt: views adapt it (``workbench.gui.history``) by
subscribing to its change notifications, in the style of napari's evented lists.

Usage::

    history = RunHistory(max_runs=500)
    history.subscribe(lambda event, index: print(event, index))
    history.add(RunRecord.from_result(code, policy, result, preset="default"))
    for metric, a, b in history.compare(first.run_id, second.run_id):
        print(f"{metric}: {a} -> {b}")
    history.save(path)
    history.load(path)  # a damaged file gives an empty history, never an error

Change notifications (``callback(event, index)``), always in pairs, the first
before the change and the second after it, so a Qt model can call
``beginInsertRows``/``endInsertRows`` around the real change:

``"inserting"`` / ``"inserted"``
    A record is added at ``index`` (always the end: ``len(history)`` before).
``"removing"`` / ``"removed"``
    The record at ``index`` is removed (the oldest, ``0``, when the history is full).
``"resetting"`` / ``"reset"``
    Everything changed (:meth:`RunHistory.clear`, :meth:`RunHistory.load`);
    ``index`` is ``-1``.

A :class:`RunHistory` is not thread-safe: change it from one thread (the GUI
thread in the workbench), as its listeners are called synchronously.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ._atomic import atomic_write
from ._policy import ExecutionPolicy, format_bytes, format_fuel, format_value
from ._result import RuntimeType, SandboxResult, TrapKind

__all__ = [
    "MAX_CODE_BYTES",
    "MAX_HISTORY_FILE_BYTES",
    "HistoryCallback",
    "RunHistory",
    "RunRecord",
    "outcome_words",
]

log = logging.getLogger("workbench.sandbox.history")

#: Most bytes (UTF-8) of code one record keeps; longer code is cut and flagged.
MAX_CODE_BYTES = 1024 * 1024
#: Largest history file written or read. Saving drops the oldest runs to fit;
#: a larger file is refused on load (empty history and a warning).
MAX_HISTORY_FILE_BYTES = 64 * 1024 * 1024
#: Longest :attr:`RunRecord.excerpt`, in characters.
_EXCERPT_CHARS = 80
#: Version of the JSON layout written by :meth:`RunHistory.save`.
_FILE_FORMAT_VERSION = 1

#: ``callback(event, index)``; see the module docstring for the events.
HistoryCallback = Callable[[str, int], None]


# ---- Records


class RunRecord(BaseModel):
    """What one run was and what it cost. Immutable.

    Build one with :meth:`from_result`. ``outcome`` is a few words for people
    (``"succeeded"``, ``"stopped: the fuel budget ran out"``,
    ``"failed (exit code 1)"``); everything else is a host-observed number or the
    run's input. Times are in milliseconds, ``started_at`` in seconds since the
    epoch.

    Usage::

        record = RunRecord.from_result(code, policy, result, preset="conservative")
        record.excerpt      # 'print("hello")'
        record.summary()    # a few lines for a tooltip
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str = Field(min_length=1, max_length=200)
    started_at: float
    #: The session (or fresh-run sandbox) that ran it; None in histories saved
    #: before sessions were recorded.
    session_id: str | None = Field(default=None, max_length=200)
    code: str
    #: True when the code was longer than :data:`MAX_CODE_BYTES` and was cut.
    code_truncated: bool = False
    runtime: RuntimeType
    preset: str | None = Field(default=None, max_length=200)
    policy: ExecutionPolicy
    outcome: str = Field(max_length=200)
    success: bool
    trap_kind: TrapKind = TrapKind.NONE
    exit_code: int | None = None
    fuel_consumed: int = Field(default=0, ge=0)
    fuel_budget: int = Field(default=0, ge=0)
    memory_used_bytes: int = Field(default=0, ge=0)
    duration_ms: float = Field(default=0.0, ge=0.0)
    startup_ms: float = Field(default=0.0, ge=0.0)

    # ---- Validators

    @model_validator(mode="before")
    @classmethod
    def _cap_code(cls, data: Any) -> Any:
        # Runs before field validation so that records read back from a file are
        # held to the same cap as new ones.
        if isinstance(data, dict) and isinstance(data.get("code"), str):
            code, cut = _cap_utf8(data["code"], MAX_CODE_BYTES)
            if cut:
                data = {**data, "code": code, "code_truncated": True}
        return data

    # ---- Public API

    @classmethod
    def from_result(
        cls,
        code: str,
        policy: ExecutionPolicy,
        result: SandboxResult,
        preset: str | None = None,
        started_at: float | None = None,
    ) -> RunRecord:
        """Build the record of a finished run.

        Parameters
        ----------
        code
            The code that was run (the user's, not guest output).
        policy
            The policy the run used.
        result
            What the sandbox returned. Its ``execution_id`` becomes ``run_id``;
            its output is not kept.
        preset
            Name of the policy preset the policy came from, if any.
        started_at
            When the run started, in seconds since the epoch. Defaults to now
            minus the run's ``duration_ms`` (records are usually made as the
            result arrives).

        Returns
        -------
        RunRecord
            The record; code longer than :data:`MAX_CODE_BYTES` is cut and
            ``code_truncated`` is set.
        """
        if started_at is None:
            started_at = time.time() - result.duration_ms / 1000.0
        return cls(
            run_id=result.execution_id,
            started_at=started_at,
            session_id=result.session_id,
            code=code,
            runtime=result.runtime,
            preset=preset,
            policy=policy,
            outcome=outcome_words(result.success, result.trap_kind, result.exit_code),
            success=result.success,
            trap_kind=result.trap_kind,
            exit_code=result.exit_code,
            fuel_consumed=result.fuel_consumed,
            fuel_budget=result.fuel_budget,
            memory_used_bytes=result.memory_used_bytes,
            duration_ms=result.duration_ms,
            startup_ms=result.startup_ms,
        )

    @property
    def excerpt(self) -> str:
        """The first non-empty line of the code, stripped, at most 80 characters.

        An empty string when the code is blank. A cut line ends with ``…``.
        """
        for line in self.code.splitlines():
            text = line.strip()
            if text:
                if len(text) > _EXCERPT_CHARS:
                    return text[: _EXCERPT_CHARS - 1] + "…"
                return text
        return ""

    @property
    def started(self) -> datetime.datetime:
        """``started_at`` as a local, timezone-aware date and time."""
        return datetime.datetime.fromtimestamp(self.started_at).astimezone()

    def summary(self) -> str:
        """A few lines in words: outcome, when, policy and cost.

        Everything in it is host-observed or the user's own input.
        """
        lines = [f"{self.runtime.value} run {self.outcome}."]
        when = self.started.strftime("%Y-%m-%d %H:%M:%S")
        preset = f" with the {self.preset!r} preset" if self.preset else ""
        lines.append(f"Started {when}{preset}.")
        lines.append(
            f"Fuel {self.fuel_consumed:,} of {self.fuel_budget:,} "
            f"({format_fuel(self.fuel_consumed)}); "
            f"memory {format_bytes(self.memory_used_bytes)}; "
            f"{self.duration_ms:.1f} ms (start-up {self.startup_ms:.1f} ms)."
        )
        count = len(self.code.splitlines())
        cut = " (cut to 1 MiB)" if self.code_truncated else ""
        lines.append(f"Code: {count} line{'s' if count != 1 else ''}{cut}.")
        return "\n".join(lines)


def outcome_words(success: bool, trap_kind: TrapKind, exit_code: int | None) -> str:
    """The outcome of a run in a few words.

    ``"succeeded"``, the trap's words (``"stopped: the fuel budget ran out"``),
    ``"failed (exit code N)"`` or ``"failed"``.
    """
    if success:
        return "succeeded"
    if trap_kind is not TrapKind.NONE:
        return trap_kind.words
    if exit_code not in (None, 0):
        return f"failed (exit code {exit_code})"
    return "failed"


# ---- History


class RunHistory:
    """An ordered, bounded list of :class:`RunRecord`, oldest first.

    Adding to a full history drops the oldest record first. Listeners added with
    :meth:`subscribe` hear about every change (see the module docstring).
    Not thread-safe: use it from one thread.

    Parameters
    ----------
    max_runs
        Most records kept (at least 1).

    Usage::

        history = RunHistory(max_runs=100)
        history.add(record)
        history[-1] is record
        history.get(record.run_id) is record
    """

    def __init__(self, max_runs: int = 500) -> None:
        if max_runs < 1:
            raise ValueError(f"max_runs must be at least 1, not {max_runs}")
        self._max_runs = max_runs
        self._records: list[RunRecord] = []
        self._listeners: list[HistoryCallback] = []

    # ---- Collection

    @property
    def max_runs(self) -> int:
        """Most records kept; the oldest are dropped beyond it."""
        return self._max_runs

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> RunRecord:
        return self._records[index]

    def __iter__(self) -> Iterator[RunRecord]:
        return iter(list(self._records))  # a copy: listeners may change the history

    def __repr__(self) -> str:
        return f"RunHistory({len(self)} of max {self._max_runs} runs)"

    def get(self, run_id: str) -> RunRecord | None:
        """The record with ``run_id``, or None."""
        index = self.index_of(run_id)
        return None if index < 0 else self._records[index]

    def index_of(self, run_id: str) -> int:
        """Position of the record with ``run_id``, or ``-1``."""
        for index, record in enumerate(self._records):
            if record.run_id == run_id:
                return index
        return -1

    def add(self, record: RunRecord) -> None:
        """Append ``record``, dropping the oldest record first if the history is full.

        Raises
        ------
        ValueError
            If a record with the same ``run_id`` is already in the history.
        """
        if self.index_of(record.run_id) >= 0:
            raise ValueError(
                f"run {record.run_id!r} is already in the history; each run is added once"
            )
        while len(self._records) >= self._max_runs:
            self._remove_at(0)
        index = len(self._records)
        self._notify("inserting", index)
        self._records.append(record)
        self._notify("inserted", index)

    def remove(self, run_id: str) -> bool:
        """Remove the record with ``run_id``; False if there was none."""
        index = self.index_of(run_id)
        if index < 0:
            return False
        self._remove_at(index)
        return True

    def clear(self) -> None:
        """Remove every record (one ``"resetting"``/``"reset"`` pair)."""
        self._replace([])

    # ---- Listeners

    def subscribe(self, callback: HistoryCallback) -> None:
        """Call ``callback(event, index)`` on every change.

        The callback runs synchronously on the thread that changed the history.
        An exception in it is logged and does not stop the change or the other
        listeners.
        """
        if callback not in self._listeners:
            self._listeners.append(callback)

    def unsubscribe(self, callback: HistoryCallback) -> None:
        """Stop calling ``callback``; nothing happens if it was not subscribed."""
        if callback in self._listeners:
            self._listeners.remove(callback)

    # ---- Comparison

    def compare(self, a_id: str, b_id: str) -> list[tuple[str, str, str]]:
        """How two runs differ, in human units.

        Parameters
        ----------
        a_id, b_id
            ``run_id`` of the two records.

        Returns
        -------
        list of (metric, value a, value b)
            Only the metrics that differ, in a fixed order: outcome, runtime,
            preset, code, exit code, fuel used and budget, memory, duration,
            start-up, then each policy setting that differs. Empty when the runs
            are alike in all of them.

        Raises
        ------
        KeyError
            If either id is not in the history.
        """
        a = self.get(a_id)
        b = self.get(b_id)
        if a is None or b is None:
            missing = a_id if a is None else b_id
            raise KeyError(f"run {missing!r} is not in the history (it may have been dropped)")
        return _compare_records(a, b)

    # ---- Persistence

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the history to ``path`` as JSON, atomically.

        If the records don't fit in :data:`MAX_HISTORY_FILE_BYTES`, the newest
        that fit are written and the oldest are left out (the history in memory
        is unchanged).

        Raises
        ------
        OSError
            If the file can't be written.
        """
        budget = MAX_HISTORY_FILE_BYTES - 100  # room for the envelope
        kept: list[str] = []
        for record in reversed(self._records):
            item = json.dumps(record.model_dump(mode="json"), ensure_ascii=True)
            if len(item) + 2 > budget:
                break
            budget -= len(item) + 2
            kept.append(item)
        if len(kept) < len(self._records):
            log.info(
                "history file %s: kept the newest %d of %d runs to stay under %s",
                path,
                len(kept),
                len(self._records),
                format_bytes(MAX_HISTORY_FILE_BYTES),
            )
        kept.reverse()
        text = (
            f'{{"version": {_FILE_FORMAT_VERSION}, "max_runs": {self._max_runs}, '
            f'"runs": [\n' + ",\n".join(kept) + "\n]}\n"
        )
        atomic_write(Path(path), text.encode("ascii"))

    def load(self, path: str | os.PathLike[str]) -> int:
        """Replace the records with those saved in ``path``; never raises.

        A missing file gives an empty history. A damaged file (unreadable, too
        large, not JSON, wrong layout) gives an empty history and a logged
        warning. Single records that don't validate (e.g. written by another
        version) are skipped with a warning; the rest are kept. At most
        :attr:`max_runs` of the newest records are kept. Listeners hear one
        ``"resetting"``/``"reset"`` pair.

        Returns
        -------
        int
            The number of records loaded.
        """
        records = _read_records(Path(path))
        if len(records) > self._max_runs:
            records = records[-self._max_runs :]
        self._replace(records)
        return len(records)

    # ---- Internals

    def _remove_at(self, index: int) -> None:
        self._notify("removing", index)
        del self._records[index]
        self._notify("removed", index)

    def _replace(self, records: list[RunRecord]) -> None:
        self._notify("resetting", -1)
        self._records = records
        self._notify("reset", -1)

    def _notify(self, event: str, index: int) -> None:
        for callback in list(self._listeners):
            try:
                callback(event, index)
            except Exception:  # a broken listener must not corrupt the history
                log.exception("run history listener %r failed on %s", callback, event)


def _compare_records(a: RunRecord, b: RunRecord) -> list[tuple[str, str, str]]:
    """The metrics in which ``a`` and ``b`` differ; see :meth:`RunHistory.compare`."""
    rows: list[tuple[str, str, str]] = []

    def add(metric: str, value_a: str, value_b: str) -> None:
        rows.append((metric, value_a, value_b))

    if a.outcome != b.outcome:
        add("Outcome", a.outcome, b.outcome)
    if a.runtime is not b.runtime:
        add("Runtime", a.runtime.value, b.runtime.value)
    if a.preset != b.preset:
        add("Preset", a.preset or "(none)", b.preset or "(none)")
    if a.code != b.code:
        add("Code", _code_words(a), _code_words(b))
    if a.exit_code != b.exit_code:
        add("Exit code", _optional(a.exit_code), _optional(b.exit_code))
    if a.fuel_consumed != b.fuel_consumed:
        add("Fuel used", *_distinct(format_fuel, a.fuel_consumed, b.fuel_consumed))
    if a.fuel_budget != b.fuel_budget:
        add("Fuel budget", *_distinct(format_fuel, a.fuel_budget, b.fuel_budget))
    if a.memory_used_bytes != b.memory_used_bytes:
        add("Memory used", *_distinct(format_bytes, a.memory_used_bytes, b.memory_used_bytes))
    if a.duration_ms != b.duration_ms:
        add("Duration", f"{a.duration_ms:.1f} ms", f"{b.duration_ms:.1f} ms")
    if a.startup_ms != b.startup_ms:
        add("Start-up", f"{a.startup_ms:.1f} ms", f"{b.startup_ms:.1f} ms")
    for name, info in ExecutionPolicy.model_fields.items():
        value_a = getattr(a.policy, name)
        value_b = getattr(b.policy, name)
        if value_a != value_b:
            title = info.title or name
            add(f"Policy: {title}", _policy_value(name, value_a), _policy_value(name, value_b))
    return rows


# ---- Helpers


def _cap_utf8(text: str, limit: int) -> tuple[str, bool]:
    """``text`` cut to at most ``limit`` UTF-8 bytes on a character boundary."""
    if len(text) * 4 <= limit:  # no character takes more than 4 bytes
        return text, False
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text, False
    data = data[:limit]
    # Drop a partial character at the end (at most 3 bytes of one).
    for _ in range(4):
        try:
            return data.decode("utf-8", "surrogatepass"), True
        except UnicodeDecodeError:
            data = data[:-1]
    return data.decode("utf-8", "replace"), True  # pragma: no cover - unreachable


def _distinct(fmt: Callable[[int], str], a: int, b: int) -> tuple[str, str]:
    """Format two different numbers, falling back to exact digits if they'd look equal."""
    text_a, text_b = fmt(a), fmt(b)
    if text_a == text_b:
        return f"{a:,}", f"{b:,}"
    return text_a, text_b


def _optional(value: int | None) -> str:
    return "(none)" if value is None else str(value)


def _code_words(record: RunRecord) -> str:
    count = len(record.code.splitlines())
    first = record.excerpt or "(blank)"
    return f"{count} line{'s' if count != 1 else ''}: {first}"


def _policy_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return format_value(name, value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items())) or "(none)"
    if isinstance(value, list):
        items = [
            f"{item.host_path} -> {item.guest_path}" if hasattr(item, "guest_path") else str(item)
            for item in value
        ]
        return ", ".join(items) or "(none)"
    return str(value)


def _read_records(path: Path) -> list[RunRecord]:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_HISTORY_FILE_BYTES + 1)
    except FileNotFoundError:
        log.debug("no run history at %s; starting empty", path)
        return []
    except OSError as exc:
        log.warning("could not read the run history %s (%s); starting empty", path, exc)
        return []
    if len(data) > MAX_HISTORY_FILE_BYTES:
        log.warning(
            "the run history %s is larger than %s; it was not loaded (starting empty)",
            path,
            format_bytes(MAX_HISTORY_FILE_BYTES),
        )
        return []
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        log.warning("the run history %s is damaged (%s); starting empty", path, exc)
        return []
    runs = document.get("runs") if isinstance(document, dict) else None
    if not isinstance(runs, list):
        log.warning("the run history %s has no list of runs; starting empty", path)
        return []
    records: list[RunRecord] = []
    seen: set[str] = set()
    skipped = 0
    for item in runs:
        try:
            record = RunRecord.model_validate(item)
        except ValidationError:
            skipped += 1
            continue
        if record.run_id in seen:
            skipped += 1
            continue
        seen.add(record.run_id)
        records.append(record)
    if skipped:
        log.warning("the run history %s had %d unreadable runs; they were skipped", path, skipped)
    return records
