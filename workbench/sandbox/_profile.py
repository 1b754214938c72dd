"""Fuel profiles: which lines and functions spent a run's fuel.

A profiled Python run (``execute(code, profile=True)``) loads a small guest
module (``wasm/guest/python/profiler.py``) that listens to CPython's
``sys.monitoring`` events (PEP 669). At each event the guest only *names* where
it is (its code object's address and a line) through one shadowed WASI import,
``fd_advise`` on standard input with advice codes no real call uses
(:data:`PROFILE_FD`). The host answers that call here, in
:class:`ProfileRecorder`: it maps the address to the code (the guest registers
each code once), reads the store's fuel itself, charges what was spent since the
previous event to the place the guest was at, and keeps the call stack. The
guest never reports a number of fuel, so it can't forge one; the worst it can do
is name the wrong line. The guest looks nothing up at an event: a dict lookup's
cost depends on its probes, so no calibration could match every key.

CPython 3.12's LINE events cost, outside the profiler's reach, what a plain run
never pays: code whose line numbers don't fit its compact 8-bit form (127 or
more lines past where that form reaches: a module body's loop at line 150, the
end of a long function) has each LINE event look its line up in the line table
from the start, twice (~130 k instructions per lookup at line 280: such scripts
profiled at 20-40 times their fuel); and a jump target reached only from its own
line (a one-line loop, an inlined comprehension) computes its line at every
turn without an event (~500 instructions a turn: +12.8 % for a comprehension).
So the guest follows such code with INSTRUCTION events instead (they compute
no line), kept at the instructions that can start a line, whose offsets and
lines it sends before the run (such a jump target is not one of them: its event
is disabled at once); the host names the line and counts it again only when it
changes, as LINE events do (:data:`OP_ILINE`).

The profiler's own work is not charged to the code. Before the user's code
runs, the guest runs a calibration (the same code with events off and on, for
line events and for call/return events); the host derives what one event of
code seen before costs and, at every such event, gives that back to the store
(what the fuel since the previous event can't hold is taken from the next). Code seen for the first
time is registered between a pause and its event: that window, and what
instrumenting the new code cost the interpreter (measured on a copy inside the
window), is given back whole; so is one calibrated mark call at the end (the
return from the start mark and the call of the stop mark). What the profiler
leaves the rest of the turn to pay (about 12 k instructions: the driver's code
runs after it in an interpreter whose code was instrumented) is measured by the
host on code that does nothing, ``pass`` plain and profiled (see
``_sandbox.profile_baseline``), and given back after the clean-up. The profile's
``event_cost_line``, ``event_cost_call``, ``baseline_fuel`` and ``overhead_fuel``
say what was removed.

The host owns these refunds: guest code can reach the profiler's functions and
call the channel itself, so everything given back during a run is bounded by
the turn's budget (:data:`REFUND_FACTOR`); past it the host answers ECANCELED,
the guest turns its events off and the rest runs unprofiled. The set-up before
the user's code runs on a fixed tank of its own (:data:`SETUP_FUEL`). Fuel is
deterministic, so two profiles of the same code are equal.

Everything is size-capped (:data:`MAX_CODES`, :data:`MAX_LINES`,
:data:`MAX_DEPTH`, :data:`MAX_STACKS`); a run that traps mid-way still returns
the profile up to the trap (``complete`` is then False). Usage::

    result = sandbox.execute(code, profile=True)
    for line in result.profile.top_lines(5):
        print(line.line, line.self_fuel, line.text)
    Path("run.speedscope.json").write_text(json.dumps(result.profile.to_speedscope()))
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any, Literal

import wasmtime
from pydantic import BaseModel, ConfigDict, Field
from wasmtime import _ffi as ffi

__all__ = [
    "JS_PROFILE_NOTE",
    "JS_UNPROFILED_NOTE",
    "MAX_CODES",
    "MAX_DEPTH",
    "MAX_LINES",
    "MAX_STACKS",
    "PROFILE_FD",
    "PROFILE_OPS",
    "SCI_PROFILE_NOTE",
    "FuelProfile",
    "JsProfileRecorder",
    "ProfileFunction",
    "ProfileLine",
    "ProfileRecorder",
    "unavailable_profile",
]

#: The descriptor the guest profiler names events on (``posix_fadvise``): standard
#: input, which the host serves itself (wasi-libc refuses descriptors it doesn't
#: know before they reach the host), with advice codes from :data:`PROFILE_OPS` up.
PROFILE_FD = 0
#: The first advice code of the profiler's operations (real advice is 0-5).
PROFILE_OPS = 0xA0

#: Distinct code objects (user functions, library modules) the profile names.
MAX_CODES = 4096
#: Distinct (function, line) entries kept.
MAX_LINES = 20_000
#: Frames tracked on the host's stack (deeper calls still count, unnamed).
MAX_DEPTH = 4096
#: Distinct call stacks kept for the flame graph export.
MAX_STACKS = 20_000
#: Bytes of name the guest may register per code object.
MAX_NAME_BYTES = 600
#: Fuel one event may cost at most; calibration above this is clamped.
MAX_EVENT_OVERHEAD = 200_000

#: What a host-measured baseline (see ProfileRecorder) may give back at most.
MAX_BASELINE = 1_000_000

#: What instrumenting one new code object may be counted as at most.
MAX_INSTRUMENT_COST = 2_000_000

#: Fuel for the profiler's set-up and calibration, apart from the budget: a tank
#: of its own, given before the user's code starts and taken back after (the
#: first profiled turn of an interpreter needs ~60-70 M).
SETUP_FUEL = 250_000_000

#: The profiler's own fuel given back during the run is at most this many times
#: the turn's budget. The host owns that bound: whatever a guest does to the
#: profiler (its functions are reachable from user code), a profiled run executes
#: at most its budget plus this allowance, plus :data:`SETUP_FUEL` before it starts.
#: When the allowance is spent, profiling stops and the rest runs unprofiled.
REFUND_FACTOR = 1

#: The errno the host answers an event with once the allowance is spent (WASI
#: ``ECANCELED``): the guest profiler then turns its events off.
ERRNO_STOP = 11

#: What a JavaScript profile says: it is per function. QuickJS-NG has no hook at
#: function entry or exit the host can reach, so a profiled run runs a copy of the
#: source with an event spliced into every function (see :class:`JsProfileRecorder`);
#: a hook per line would cost more than the lines themselves.
JS_PROFILE_NOTE = "JavaScript profiles are per function: there is no per-line detail."

#: What a JavaScript profile says when its code couldn't be instrumented (the
#: parser's message follows); the code then ran unchanged, with the total only.
JS_UNPROFILED_NOTE = (
    "This code couldn't be profiled per function: the profiler's parser (acorn) "
    "refused it ({error}). It ran unchanged; the profile holds the run's total fuel only."
)

#: What a python-sci profile says: its CPython 3.15 reactor runs turns through an
#: export of its own, without the driver and the fd_advise channel the profiler uses.
SCI_PROFILE_NOTE = (
    "Per-line/function detail isn't available for python-sci yet: its runtime has no "
    "channel for the profiler's events, so the profile holds the run's total fuel only."
)

# Operations (the ``advice`` argument of the guest's fd_advise call). An event names
# its code by address (the OP_*_AT operations), which the host maps to a code id
# (OP_BIND): one call whose calibrated cost is subtracted, and nothing else in the
# guest, so that cost is the same at every event (a guest dict lookup costs what
# its probes do, which differs from key to key by hundreds of instructions). These
# go through ``lseek(PROFILE_FD, (id(code) << SEEK_SHIFT) + value, op)`` instead
# (the value: a line or an instruction's offset), whose "new offset" is the
# host's answer: ANSWER_NEW for code the host doesn't
# know (that call is the pause of a window in which the guest registers it with
# OP_NAME and OP_BIND and sends the event again by code id, OP_LINE ... OP_RESUME),
# ANSWER_IGNORE for code not followed (a window too, which OP_SKIP ends). An errno
# would do, but the guest would allocate an OSError for it, an object the garbage
# collector counts: collections then come at other times than in a plain run
# (HumanEval/4 came out +3.6 % that way). Windows are given back whole.
OP_PAUSE = 0xA0
OP_LINE = 0xA1
OP_START = 0xA2
OP_RETURN = 0xA3
OP_RESUME = 0xA4
OP_SKIP = 0xA5
# Code whose LINE events would cost what the host can't see (far line numbers,
# loops that jump back to their own line: see the module docstring) is followed
# with instruction events at the instructions that can start a line instead: a line
# named that way (length: line * 2 + 1 past offset 256, where CPython allocates
# the offset), and an instruction event at no line start, disabled after it
# (length: its offset). Each has its own calibrated cost. The guest sends the
# offsets of a code's line starts (OP_LINES, then OP_LINE_START for each) before
# the run; the host looks the line up. (OP_ILINE and OP_ISKIP are the host's own
# names for the two kinds; the guest never sends them.)
OP_ILINE = 0xA6
OP_ISKIP = 0xA7
OP_NAME = 0xA8
OP_MARK = 0xA9
OP_LINE_AT = 0xAA
OP_START_AT = 0xAB
OP_RETURN_AT = 0xAC
OP_RESUME_AT = 0xAD
OP_INSTRUCTION_AT = 0xAE
OP_BIND = 0xAF
OP_LINES = 0xB0
OP_LINE_START = 0xB1
# JavaScript's events (the ``whence`` of ``os.seek(0, id, op)``, see
# wasm/guest/javascript/profiler.js): a function's body starts, it returns (an
# async function: returns or throws), it suspends at a yield or await, it resumes,
# and an exception lands in one of its catch or finally blocks (id 0: top-level
# code's), which ends the frames the exception left.
OP_JS_ENTER = 0xB2
OP_JS_EXIT = 0xB3
OP_JS_SUSPEND = 0xB4
OP_JS_RESUME = 0xB5
OP_JS_CATCH = 0xB6
# Two of these open the spliced code: the fuel between them is one event's cost
# as the code's globals leave it. An event looks its function up by name among
# the globals, and what that costs depends on the names that share its hash
# bucket (a `const data` can add 12 instructions to every event); the cost
# calibrated before the code ran is corrected by the difference.
OP_JS_PROBE = 0xB7
_JS_EVENTS = frozenset(
    (OP_JS_ENTER, OP_JS_EXIT, OP_JS_SUSPEND, OP_JS_RESUME, OP_JS_CATCH, OP_JS_PROBE)
)

_EVENTS = frozenset((OP_LINE, OP_START, OP_RETURN, OP_RESUME, OP_SKIP))
_BY_ADDRESS = {
    OP_LINE_AT: OP_LINE,
    OP_START_AT: OP_START,
    OP_RETURN_AT: OP_RETURN,
    OP_RESUME_AT: OP_RESUME,
    OP_INSTRUCTION_AT: OP_ILINE,
}
#: Bits of an event's value (a line or an instruction's offset) below the code's
#: address in the ``lseek`` offset. (The fd can't carry it: the guest's libc
#: refuses larger descriptors before the host sees them.)
SEEK_SHIFT = 24
#: The answers to an event by address: recorded; code the host doesn't know (the
#: guest registers it inside the window this call began); code or an instruction
#: not followed (the guest disables it and ends the window with OP_SKIP); stop
#: (the allowance is spent, see :data:`ERRNO_STOP`).
ANSWER_OK, ANSWER_NEW, ANSWER_IGNORE, ANSWER_STOP = 0, 1, 2, 3
#: The code id of the calibration's code (counted, never on the stack).
CAL_CODE = 4097
#: Addresses bound to code ids, and line starts kept, at most.
MAX_BOUND = 65_536
MAX_LINE_STARTS = 200_000

# Marks (the ``length`` argument of OP_MARK), in the order the guest sends them.
MARK_BEGIN = 0
MARK_CAL = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49)
MARK_START = 20
MARK_STOP = 21
MARK_END = 22
# Inside a registration window: the fuel between these two (the first is an
# OP_PAUSE's length) is the cost of instrumenting the new code, which the
# interpreter paid before the callback.
MARK_MEASURE = 30
MARK_MEASURED = 31

# Calibration phases: plain code (marks 1-2) against the same code with line
# events (3-4), and plain calls (5-6) against calls with call/return events (7-8).
# Then, only when some code is followed at instruction events (see OP_ILINE): long
# code plain (40-41) against the same code with its line starts up to offset 256
# watched (42-43) and past it (44-45), and a fresh copy's first run plain (46-47)
# against one whose every instruction is an event disabled at once (48-49).
_CAL_PHASES = {1: 1, 3: 2, 5: 3, 7: 4, 9: 5, 40: 6, 42: 7, 44: 8, 46: 9, 48: 10}
_CAL_LINES_PLAIN, _CAL_LINES_WATCHED, _CAL_CALLS_PLAIN, _CAL_CALLS_WATCHED = 1, 2, 3, 4
_CAL_HIGH_LINES_WATCHED = 5  # marks 9-10: lines numbered past 256
_CAL_LONG_PLAIN, _CAL_ILINES, _CAL_ILINES_HIGH = 6, 7, 8
_CAL_FRESH_PLAIN, _CAL_ISKIPS = 9, 10
#: The largest line number CPython passes as a cached int: past it, each line
#: event allocates its number (costs more, calibrated apart).
SMALL_INT_MAX = 256


class ProfileLine(BaseModel):
    """Fuel spent on one line of the user's code."""

    model_config = ConfigDict(frozen=True)

    line: int = Field(description="1-based line number in the code that ran.")
    function: str = Field(description="The function the line belongs to ('<module>' at top level).")
    text: str = Field(default="", description="The line's source text, stripped.")
    self_fuel: int = Field(description="Fuel spent on the line itself (not in profiled calls).")
    total_fuel: int = Field(description="Fuel spent while the line ran, calls included.")
    hits: int = Field(description="How many times the line started.")


class ProfileFunction(BaseModel):
    """Fuel spent in one user function, or in one library module (collapsed)."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Qualified name, or the module name for library code.")
    kind: Literal["user", "library"]
    first_line: int = Field(default=0, description="Line of the ``def`` (user code only).")
    calls: int = Field(description="Calls (for a library module: calls into any of its code).")
    self_fuel: int = Field(description="Fuel spent in the function's own code.")
    total_fuel: int = Field(description="Fuel from entry to exit, callees included.")


class FuelProfile(BaseModel):
    """Where one run's fuel went, per line and per function. Immutable.

    ``total_fuel`` is what the profile attributes (the user's code, the profiler
    removed); ``run_fuel`` is the run's ``fuel_consumed``. ``accuracy`` compares
    the two.
    """

    model_config = ConfigDict(frozen=True)

    runtime: str = Field(description="The runtime's name ('python', 'javascript').")
    detail: Literal["line", "function", "none"] = Field(
        default="line",
        description=(
            "'line': per line and function; 'function': per function only "
            "(JavaScript); 'none': the total only."
        ),
    )
    note: str = Field(
        default="", description="What the profile lacks, in words (empty when complete)."
    )
    filename: str = "<code>"
    total_fuel: int = 0
    run_fuel: int = 0
    outside_fuel: int = Field(default=0, description="Fuel attributed to no user or library frame.")
    overhead_fuel: int = Field(
        default=0, description="The profiler's own fuel, removed and refunded."
    )
    overhead_per_event: int = Field(
        default=0, description="Same as ``event_cost_line`` (kept for older readers)."
    )
    event_cost_line: int = Field(
        default=0, description="Calibrated fuel of one line event, removed at each."
    )
    event_cost_call: int = Field(
        default=0, description="Calibrated fuel of one call or return event, removed at each."
    )
    event_cost_line_high: int = Field(
        default=0,
        description=(
            "Calibrated fuel of one line event past line 256 (CPython allocates its "
            "number), removed at each."
        ),
    )
    event_cost_instruction: int = Field(
        default=0,
        description=(
            "Calibrated fuel of one line named at an instruction event (code whose "
            "LINE events would cost what the host can't see), removed at each."
        ),
    )
    event_cost_instruction_high: int = Field(
        default=0,
        description="The same past offset 256 (CPython allocates the offset), removed at each.",
    )
    event_cost_instruction_skip: int = Field(
        default=0,
        description=(
            "Calibrated fuel of an instruction event at no line start (once per "
            "instruction: it is disabled after), removed at each."
        ),
    )
    setup_fuel: int = Field(
        default=0,
        description="The profiler's set-up and calibration (its own tank, never the budget's).",
    )
    baseline_fuel: int = Field(
        default=0,
        description=(
            "Given back after the run: what a profiled run of code that does nothing "
            "costs beyond a plain one, measured by the host (part of overhead_fuel)."
        ),
    )
    unprofiled_fuel: int = Field(
        default=0,
        description=(
            "Fuel run after profiling stopped (the profiler's allowance was spent); "
            "part of outside_fuel."
        ),
    )
    unavailable: list[Literal["line", "function"]] = Field(
        default_factory=list,
        description="Levels of detail this runtime can't give (for the UI to say so).",
    )
    events: int = 0
    complete: bool = Field(default=True, description="False when the run trapped mid-way.")
    truncated: bool = Field(
        default=False, description="A size cap was reached; detail past it is lumped."
    )
    lines: list[ProfileLine] = Field(default_factory=list)
    functions: list[ProfileFunction] = Field(default_factory=list)
    #: Call stacks (indices into ``functions``, outermost first) with the fuel spent
    #: with exactly that stack: the flame graph.
    stacks: list[tuple[tuple[int, ...], int]] = Field(default_factory=list)

    def top_lines(self, count: int = 10) -> list[ProfileLine]:
        """The ``count`` lines that spent the most fuel themselves."""
        return sorted(self.lines, key=lambda item: (-item.self_fuel, item.line))[:count]

    def top_functions(self, count: int = 10) -> list[ProfileFunction]:
        """The ``count`` functions (and library modules) with the most cumulative fuel."""
        return sorted(self.functions, key=lambda item: (-item.total_fuel, item.name))[:count]

    def table(self, count: int = 10) -> str:
        """A plain-text table of the top lines and functions, for a terminal."""
        if self.detail == "none":
            return f"Fuel profile: {self.run_fuel:,} instructions in all. {self.note}"
        total = max(1, self.total_fuel)
        out = [
            f"Fuel profile: {self.total_fuel:,} instructions in the code "
            f"({self.events:,} events; the profiler's own {self.overhead_fuel:,} removed)."
        ]
        if self.note:
            out.append(self.note)
        out.append("")
        out.append(f"{'line':>6} {'self fuel':>15} {'%':>6} {'total fuel':>15} {'hits':>10}  code")
        for line in self.top_lines(count):
            out.append(
                f"{line.line:>6} {line.self_fuel:>15,} {100 * line.self_fuel / total:>5.1f}% "
                f"{line.total_fuel:>15,} {line.hits:>10,}  {line.text[:60]}"
            )
        out.append("")
        out.append(f"{'function':<32} {'calls':>9} {'self fuel':>15} {'total fuel':>15}")
        for function in self.top_functions(count):
            name = function.name if function.kind == "user" else f"[{function.name}]"
            out.append(
                f"{name[:32]:<32} {function.calls:>9,} {function.self_fuel:>15,} "
                f"{function.total_fuel:>15,}"
            )
        return "\n".join(out)

    def to_json_dict(self) -> dict[str, Any]:
        """The profile as plain JSON-ready data."""
        return self.model_dump(mode="json")

    def to_speedscope(self, name: str = "fuel profile") -> dict[str, Any]:
        """The profile in speedscope's file format: a sampled profile weighted by fuel.

        Open the JSON in https://www.speedscope.app (or its offline build); the
        unit is "none" because fuel is neither time nor bytes.
        """
        frames = [
            {"name": f.name, "file": self.filename if f.kind == "user" else f.name}
            | ({"line": f.first_line} if f.first_line else {})
            for f in self.functions
        ]
        samples = [list(stack) for stack, _ in self.stacks]
        weights = [fuel for _, fuel in self.stacks]
        return {
            "$schema": "https://www.speedscope.app/file-format-schema.json",
            "shared": {"frames": frames},
            "profiles": [
                {
                    "type": "sampled",
                    "name": name,
                    "unit": "none",
                    "startValue": 0,
                    "endValue": sum(weights),
                    "samples": samples,
                    "weights": weights,
                }
            ],
            "name": name,
            "exporter": "wasm-workbench",
        }

    def to_chrome_trace(self) -> dict[str, Any]:
        """The call tree in Chrome's trace-event format, with fuel on the time axis.

        Open it in Perfetto (ui.perfetto.dev) or ``chrome://tracing``: each call
        path is one complete event ("X") whose duration is its fuel, children laid
        side by side inside their parent. One "microsecond" is one instruction;
        there is no real time in it (fuel is not time).
        """
        root: dict[str, Any] = {"self": 0, "children": {}}
        for stack, fuel in self.stacks:
            node = root
            for index in stack:
                node = node["children"].setdefault(index, {"self": 0, "children": {}})
            node["self"] += fuel

        def inclusive(node: dict[str, Any]) -> int:
            node["total"] = node["self"] + sum(inclusive(c) for c in node["children"].values())
            return int(node["total"])

        inclusive(root)
        events: list[dict[str, Any]] = []

        def lay_out(node: dict[str, Any], start: int) -> None:
            at = start
            for index, child in sorted(node["children"].items()):
                function = self.functions[index]
                events.append(
                    {
                        "name": function.name,
                        "cat": function.kind,
                        "ph": "X",
                        "ts": at,
                        "dur": child["total"],
                        "pid": 1,
                        "tid": 1,
                        "args": {"self_fuel": child["self"], "first_line": function.first_line},
                    }
                )
                lay_out(child, at)
                at += child["total"]

        lay_out(root, 0)
        return {
            "traceEvents": events,
            "displayTimeUnit": "ms",
            "otherData": {"unit": "fuel: 1 us on the time axis is 1 instruction"},
        }


def unavailable_profile(runtime: str, run_fuel: int, note: str) -> FuelProfile:
    """A profile that says why it has no detail, with the run's total fuel."""
    return FuelProfile(
        runtime=str(runtime),
        detail="none",
        note=note,
        total_fuel=run_fuel,
        run_fuel=run_fuel,
        unavailable=["line", "function"],
    )


def _fuel_left(caller: wasmtime.Caller, left: ctypes.c_uint64 | None = None) -> int:
    left = ctypes.c_uint64(0) if left is None else left
    error = ffi.wasmtime_context_get_fuel(caller._context(), ctypes.byref(left))
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)
    return int(left.value)


def _set_fuel(caller: wasmtime.Caller, fuel: int) -> None:
    error = ffi.wasmtime_context_set_fuel(caller._context(), fuel)
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)


@dataclass
class _Frame:
    code: int
    node: int
    entered: int  # the virtual clock at entry
    line: int = 0
    line_entered: int = 0
    at: int = 0  # JavaScript: where the frame's events come from (see JsProfileRecorder)


class ProfileRecorder:
    """The host half of the profiler: reads fuel at each event the guest names.

    Lives for one turn, on the instance's thread. :meth:`on_call` is the
    ``fd_advise`` handler; :meth:`finish` builds the :class:`FuelProfile`.
    All fuel figures are read from the store by the host.
    """

    #: What the profile holds (see FuelProfile.detail) and says it lacks.
    detail: Literal["line", "function"] = "line"
    unavailable: tuple[Literal["line", "function"], ...] = ()
    base_note = ""

    def __init__(self, code: str, filename: str, budget: int, *, baseline: int = 0) -> None:
        self.code = code
        #: Given back at MARK_END (see TurnRequest.profile_baseline), capped.
        self.baseline = max(0, min(baseline, MAX_BASELINE))
        self.filename = filename
        self.phase = "setup"  # setup -> running -> stopped
        self.begin_fuel: int | None = None
        self.stop_fuel: int | None = None
        self.last = 0  # the store's fuel after the previous reading (refunds applied)
        self.clock = 0  # fuel attributed so far
        self.outside = 0
        self.overhead = 0  # given back during the run and its clean-up (the allowance's)
        self.setup_overhead = 0  # given back from the set-up's own tank
        self.events = 0
        self.truncated = False
        # What one event of code seen before costs, from the calibration: a line
        # event, and a call or return event.
        self.cost_line = 0
        self.cost_call = 0
        self.cost_line_high = 0  # a line event past line 256 (its number allocates)
        # A line named at an instruction event, up to offset 256 and past it (the
        # offset allocates), and an instruction event disabled at once (OP_ILINE).
        self.cost_iline = 0
        self.cost_iline_high = 0
        self.cost_iskip = 0
        self.cost_iskip_high = 0
        self.cost_mark = 0  # one mark call (subtracted once, at the end of the run)
        self.cost_yield = 0  # a JavaScript suspend or resume event (a helper's call)
        self._left = ctypes.c_uint64(0)  # the fuel reading's buffer (one per turn)
        self.baseline_given = 0
        self.paused: int | None = None  # the reading at the current window's pause
        self.measuring: int | None = None  # the reading at MARK_MEASURE
        self.measured = 0  # instrumentation cost the next event also removes
        self.owed = 0  # calibrated cost the last reading couldn't remove (see _event)
        self.skip_as: tuple[int, int] | None = None  # the ignored event OP_SKIP ends
        #: What the host gives back at most during the run (see REFUND_FACTOR).
        self.allowance = REFUND_FACTOR * max(0, budget)
        self.exhausted = False  # the allowance ran out: profiling stopped there
        self.unprofiled = 0  # fuel after the allowance ran out
        self._marks: dict[int, int] = {}
        self._cal_phase = 0
        self._cal_paused: int | None = None
        self._cal_counts = dict.fromkeys(range(1, 11), 0)
        self._cal_excluded = dict.fromkeys(range(1, 11), 0)
        self.names: dict[int, bytearray] = {}
        self.bound: dict[int, int] = {}  # id(code) in the guest -> code id (0: not followed)
        # id(code) -> {offset: line}: code whose lines are named at instruction events.
        self.line_starts: dict[int, dict[int, int]] = {}
        self._line_starts_of: dict[int, int] | None = None
        self._line_start_count = 0
        self.frames: list[_Frame] = []
        self.deep = 0  # frames past MAX_DEPTH, not tracked
        self.fn_self: dict[int, int] = {}
        self.fn_total: dict[int, int] = {}
        self.fn_calls: dict[int, int] = {}
        self.fn_active: dict[int, int] = {}
        self.line_self: dict[tuple[int, int], int] = {}
        self.line_total: dict[tuple[int, int], int] = {}
        self.line_hits: dict[tuple[int, int], int] = {}
        self.line_active: dict[tuple[int, int], int] = {}
        # Call-stack trie: (parent node, code) -> node; node 0 is the root.
        self.nodes: dict[tuple[int, int], int] = {}
        self.node_path: list[tuple[int, ...]] = [()]
        self.node_fuel: list[int] = [0]

    # ---- The host call (instance thread)

    def on_call(
        self,
        caller: wasmtime.Caller,
        op: int,
        untrusted_a: int,
        untrusted_b: int,
        untrusted_at: int = 0,
    ) -> int:
        """Handle one guest profiler call; returns the WASI errno.

        0, or :data:`ERRNO_STOP` once the allowance for the profiler's own fuel
        is spent (the guest then stops sending events).
        """
        now = _fuel_left(caller, self._left)
        if op in _BY_ADDRESS:
            return self._event_at(caller, op, untrusted_a, untrusted_b, now)
        if op in _EVENTS:
            return self._event(caller, op, untrusted_a, untrusted_b, now)
        if op == OP_PAUSE:
            self._pause(now)
            if untrusted_b == MARK_MEASURE and self.phase == "running":
                self.measuring = now  # the pause of new code starts its measure too
        elif op == OP_MARK:
            self._mark(caller, untrusted_b, now)
        elif op == OP_NAME:
            self._name(untrusted_a, untrusted_b)
        elif op == OP_BIND:
            self._bind(untrusted_a, untrusted_b)
        elif op == OP_LINES:
            self._line_starts_of = None
            if untrusted_a in self.line_starts or len(self.line_starts) < MAX_BOUND:
                self._line_starts_of = self.line_starts.setdefault(untrusted_a, {})
        elif op == OP_LINE_START:
            table = self._line_starts_of
            if table is not None and self._line_start_count < MAX_LINE_STARTS and untrusted_b > 0:
                table[untrusted_a] = untrusted_b
                self._line_start_count += 1
        return 0

    def _bind(self, untrusted_address: int, untrusted_code: int) -> None:
        """Events naming this address are the code id's from now on (0: not followed)."""
        if not 0 <= untrusted_code <= CAL_CODE:
            return
        if untrusted_address in self.bound or len(self.bound) < MAX_BOUND:
            self.bound[untrusted_address] = untrusted_code

    def _event_at(
        self, caller: wasmtime.Caller, op: int, untrusted_address: int, untrusted_b: int, now: int
    ) -> int:
        """An event naming its code by address: mapped here; returns an ANSWER_*."""
        if self.phase not in ("setup", "running"):
            return ANSWER_OK
        code = self.bound.get(untrusted_address)
        if code is None:  # registered in the window this call begins
            self._pause(now)
            return ANSWER_NEW
        if op == OP_INSTRUCTION_AT:
            line = self.line_starts.get(untrusted_address, {}).get(untrusted_b) if code else None
            if line is None:  # no line starts here: the guest disables it
                return self._ignore(caller, OP_ISKIP, untrusted_b, now)
            if self._event(caller, OP_ILINE, code, line * 2 + (untrusted_b > SMALL_INT_MAX), now):
                return ANSWER_STOP
            return ANSWER_OK
        if not code:
            return self._ignore(caller, OP_SKIP, 0, now)
        if self._event(caller, _BY_ADDRESS[op], code, untrusted_b, now):
            return ANSWER_STOP
        return ANSWER_OK

    def _ignore(self, caller: wasmtime.Caller, op: int, untrusted_b: int, now: int) -> int:
        """An event not followed: a window the guest's OP_SKIP ends, which costs as ``op``.

        The event's calibrated cost is removed once, at that OP_SKIP (from the
        fuel before this reading); the window between is given back whole.
        """
        if self.phase == "setup":
            if self._cal_phase and op == OP_ISKIP:
                self._cal_counts[self._cal_phase] += 1
            self._pause(now)
            return ANSWER_IGNORE
        if self.exhausted:
            return ANSWER_STOP
        self._pause(now)
        self.skip_as = (op, untrusted_b)
        return ANSWER_IGNORE

    def _pause(self, now: int) -> None:
        """A window of the profiler's own work begins (registering new code)."""
        if self.phase == "running":
            if self.paused is None:
                self.paused = now
        elif self.phase == "setup" and self._cal_phase:
            self._cal_paused = now

    def _give_back(self, caller: wasmtime.Caller, fuel: int, now: int) -> int:
        """Refund up to ``fuel`` within the allowance; returns the store's new level."""
        fuel = min(fuel, self.allowance - self.overhead)
        if fuel <= 0:
            return now
        self.overhead += fuel
        _set_fuel(caller, now + fuel)
        return now + fuel

    def _event(
        self, caller: wasmtime.Caller, op: int, untrusted_a: int, line: int, now: int, at: int = 0
    ) -> int:
        if self.phase == "setup":
            if self._cal_phase:
                if self._cal_paused is not None:
                    self._cal_excluded[self._cal_phase] += max(0, self._cal_paused - now)
                    self._cal_paused = None
                if op != OP_SKIP:
                    self._cal_counts[self._cal_phase] += 1
            return 0
        if self.phase != "running":
            return 0
        if self.exhausted:  # a guest that didn't stop: its events cost it fuel, nothing more
            self.paused = None
            return ERRNO_STOP
        # The fuel since the previous event: the code's, and what reaching this
        # callback cost (calibrated). A window (new code registered) is given back whole.
        before = self.paused if self.paused is not None else now
        window = before - now
        spent = max(0, self.last - before)
        if op == OP_SKIP and self.skip_as is not None:  # ends an ignored event's window
            op, line = self.skip_as
        self.skip_as = None
        if op == OP_LINE:
            cost = self.cost_line_high if line > SMALL_INT_MAX else self.cost_line
        elif op == OP_ILINE:
            cost = self.cost_iline_high if line & 1 else self.cost_iline
        elif op == OP_ISKIP:
            cost = self.cost_iskip_high if line > SMALL_INT_MAX else self.cost_iskip
        elif op in (OP_JS_SUSPEND, OP_JS_RESUME):
            cost = self.cost_yield
        else:
            cost = self.cost_call
        # An event's cost is partly after the host's reading (the callback's
        # return, a DISABLE): when the fuel since the previous reading doesn't hold
        # all of it, the rest is owed and taken from the next interval, where it was
        # spent (an instruction event disabled at once costs more after its reading
        # than the line event before it does).
        # The instrumentation measured for new code is an estimate (instrumenting it
        # twice more): only what the fuel since the previous reading holds of it.
        due = cost + self.owed
        taken = min(due, spent)
        self.owed = min(due - taken, MAX_EVENT_OVERHEAD)
        cost = taken + min(self.measured, MAX_INSTRUMENT_COST, spent - taken)
        self._attribute(spent - cost)
        self.paused = None
        self.measuring = None
        self.measured = 0
        self.last = self._give_back(caller, cost + window, now)
        if self.overhead >= self.allowance and self.last < now + cost + window:
            self.exhausted = True
            return ERRNO_STOP
        if op in (OP_SKIP, OP_ISKIP, OP_JS_PROBE):
            return 0
        self.events += 1
        code = untrusted_a if 0 < untrusted_a < MAX_CODES else 0
        if op == OP_LINE:
            self._line(code, line)
        elif op == OP_ILINE:
            self._line(code, line >> 1, again=False)
        elif op in _JS_EVENTS:
            self._js_step(op, code, at)
        elif op in (OP_START, OP_RESUME):
            self._push(code, counted=op == OP_START)
        else:
            self._pop()
        return 0

    def _js_step(self, op: int, code: int, at: int) -> None:
        """Move the call stack for a JavaScript event (see :class:`JsProfileRecorder`)."""

    def _mark(self, caller: wasmtime.Caller, mark: int, now: int) -> None:
        if mark == MARK_BEGIN and self.phase == "setup" and self.begin_fuel is None:
            # Set-up gets fuel of its own, so a small budget isn't spent before the
            # code starts; MARK_START puts the store back where it was here.
            self.begin_fuel = now
            _set_fuel(caller, now + SETUP_FUEL)
        elif mark in MARK_CAL and self.phase == "setup" and mark not in self._marks:
            self._marks[mark] = now
            self._cal_phase = _CAL_PHASES.get(mark, 0)
            self._cal_paused = None
        elif mark == MARK_START and self.phase == "setup" and self.begin_fuel is not None:
            self._calibrate()
            # The set-up and calibration are given back in full (from their own tank).
            self.setup_overhead += max(0, self.begin_fuel + SETUP_FUEL - now)
            _set_fuel(caller, self.begin_fuel)
            self.last = self.begin_fuel
            self.phase = "running"
        elif mark == MARK_MEASURED and self.measuring is not None:
            self.measured += max(0, self.measuring - now)
            self.measuring = None
        elif mark == MARK_STOP and self.phase == "running":
            end = self.paused if self.paused is not None else now
            # Reaching this mark, and the return from MARK_START's, are the
            # profiler's: one calibrated mark call, given back with the clean-up.
            own = min(self.cost_mark + self.owed, max(0, self.last - end))
            self.owed = 0
            self._charge_rest(end + own)
            self.paused = None
            self._close_all()
            self.phase = "stopped"
            self.stop_fuel = self._give_back(caller, own, now)
        elif mark == MARK_END and self.phase == "stopped" and self.stop_fuel is not None:
            # The profiler's clean-up, and what it leaves the rest of the turn to
            # pay (the baseline), within the allowance.
            before = self.overhead
            self._give_back(caller, max(0, self.stop_fuel - now) + self.baseline, now)
            self.baseline_given = max(0, min(self.baseline, self.overhead - before))
            self.stop_fuel = None

    def _charge_rest(self, end: int) -> None:
        """Charge the fuel from the last event to ``end`` (the run stopped there)."""
        rest = max(0, self.last - end)
        if self.exhausted:
            self.unprofiled += rest
            self.clock += rest
            self.outside += rest
        else:
            self._attribute(rest)
        self.last = end

    def _calibrate(self) -> None:
        """What one event costs: watched minus plain code over the extra events.

        Marks 1-10 always come; 40-49 only when some code is followed at
        instruction events (the guest calibrates those only then).
        """
        m = self._marks
        if any(mark not in m for mark in MARK_CAL[:10]):
            return

        def per_event(plain: int, watched: int, first: int, watched_first: int = 0) -> int:
            extra = self._cal_counts[watched] - self._cal_counts[plain]
            if extra <= 0:
                return 0
            at = watched_first or first + 2
            plain_fuel = m[first] - m[first + 1] - self._cal_excluded[plain]
            watched_fuel = m[at] - m[at + 1] - self._cal_excluded[watched]
            return max(0, min((watched_fuel - plain_fuel) // extra, MAX_EVENT_OVERHEAD))

        self.cost_line = per_event(_CAL_LINES_PLAIN, _CAL_LINES_WATCHED, 1)
        self.cost_line_high = per_event(_CAL_LINES_PLAIN, _CAL_HIGH_LINES_WATCHED, 1, 9)
        self.cost_call = per_event(_CAL_CALLS_PLAIN, _CAL_CALLS_WATCHED, 5)
        if all(mark in m for mark in MARK_CAL[10:]):
            self.cost_iline = per_event(_CAL_LONG_PLAIN, _CAL_ILINES, 40)
            self.cost_iline_high = per_event(_CAL_LONG_PLAIN, _CAL_ILINES_HIGH, 40, 44)
            self.cost_iskip = per_event(_CAL_FRESH_PLAIN, _CAL_ISKIPS, 46)
            # Past offset 256 a disabled event allocates its offset as a line event does.
            high = max(0, self.cost_iline_high - self.cost_iline)
            self.cost_iskip_high = self.cost_iskip + high
        # Marks 2 and 3 (and 6 and 7) follow each other: the fuel between them is
        # one mark call, from the return of the first to the host's reading.
        between = min(m[2] - m[3], m[6] - m[7])
        self.cost_mark = max(0, min(between, MAX_EVENT_OVERHEAD))

    def _name(self, code: int, chunk: int) -> None:
        if 0 < code < MAX_CODES:
            raw = self.names.setdefault(code, bytearray())
            if len(raw) < MAX_NAME_BYTES:
                raw += max(0, chunk).to_bytes(8, "little")[:7]
        elif code >= MAX_CODES:
            self.truncated = True

    # ---- Accounting

    def _attribute(self, fuel: int) -> None:
        if fuel <= 0:
            return
        self.clock += fuel
        if not self.frames:
            self.outside += fuel
            return
        top = self.frames[-1]
        self.fn_self[top.code] = self.fn_self.get(top.code, 0) + fuel
        self.node_fuel[top.node] += fuel
        if top.line:
            key = (top.code, top.line)
            self.line_self[key] = self.line_self.get(key, 0) + fuel

    def _line(self, code: int, line: int, *, again: bool = True) -> None:
        """The frame on top starts ``line``; ``again=False``: unless it is on it already.

        LINE events fire only where the line changes; instruction events (OP_ILINE)
        fire at every instruction that could start one, so the host drops those
        that name the line the frame is on.
        """
        if not self.frames or self.deep:
            return
        top = self.frames[-1]
        if top.code != code or line <= 0 or (not again and top.line == line):
            return
        self._leave_line(top)
        key = (code, line)
        if key not in self.line_hits and len(self.line_hits) >= MAX_LINES:
            self.truncated = True
            return
        self.line_hits[key] = self.line_hits.get(key, 0) + 1
        self.line_active[key] = self.line_active.get(key, 0) + 1
        top.line = line
        top.line_entered = self.clock

    def _leave_line(self, frame: _Frame) -> None:
        if not frame.line:
            return
        key = (frame.code, frame.line)
        active = self.line_active[key] - 1
        self.line_active[key] = active
        if not active:
            self.line_total[key] = self.line_total.get(key, 0) + self.clock - frame.line_entered
        frame.line = 0

    def _push(self, code: int, *, counted: bool, at: int = 0) -> None:
        if self.deep or len(self.frames) >= MAX_DEPTH:
            self.deep += 1
            self.truncated = True
            return
        parent = self.frames[-1].node if self.frames else 0
        node = self.nodes.get((parent, code))
        if node is None:
            if len(self.node_path) < MAX_STACKS:
                node = len(self.node_path)
                self.nodes[(parent, code)] = node
                self.node_path.append((*self.node_path[parent], code))
                self.node_fuel.append(0)
            else:
                self.truncated = True
                node = parent
        if counted:
            self.fn_calls[code] = self.fn_calls.get(code, 0) + 1
        self.fn_active[code] = self.fn_active.get(code, 0) + 1
        self.frames.append(_Frame(code=code, node=node, entered=self.clock, at=at))

    def _pop(self, code: int | None = None) -> None:
        """Leave the frame on top; with ``code``, only if it is that code's.

        (A JavaScript function whose awaited promise rejected was left at the
        await and never resumed: its exit then finds another frame on top.)
        """
        if self.deep:
            self.deep -= 1
            return
        if not self.frames or (code is not None and self.frames[-1].code != code):
            return
        frame = self.frames.pop()
        self._leave_line(frame)
        active = self.fn_active[frame.code] - 1
        self.fn_active[frame.code] = active
        if not active:
            self.fn_total[frame.code] = (
                self.fn_total.get(frame.code, 0) + self.clock - frame.entered
            )

    def _close_all(self) -> None:
        self.deep = 0
        while self.frames:
            self._pop()

    # ---- Result

    def finish(self, fuel_left: int, run_fuel: int, runtime: str) -> FuelProfile:
        """Build the profile; ``fuel_left`` is the store's fuel when the turn ended."""
        complete = self.phase == "stopped"
        if self.phase == "running":  # trapped or exited mid-way: charge the rest
            self._charge_rest(self.paused if self.paused is not None else fuel_left)
            self._close_all()
            self.phase = "stopped"
        names = {code: self._decode_name(raw) for code, raw in self.names.items()}
        source = self.code.splitlines()
        functions: list[ProfileFunction] = []
        index: dict[int, int] = {}
        for code in sorted(set(self.fn_calls) | set(self.fn_self) | set(self.fn_total)):
            kind, label, first = names.get(code, ("library", "<unknown>", 0))
            index[code] = len(functions)
            functions.append(
                ProfileFunction(
                    name=label,
                    kind=kind,
                    first_line=first,
                    calls=self.fn_calls.get(code, 0),
                    self_fuel=self.fn_self.get(code, 0),
                    total_fuel=self.fn_total.get(code, 0),
                )
            )
        lines = []
        for code, line in sorted(self.line_hits):
            kind, label, _ = names.get(code, ("library", "<unknown>", 0))
            text = source[line - 1].strip() if kind == "user" and 0 < line <= len(source) else ""
            lines.append(
                ProfileLine(
                    line=line,
                    function=label,
                    text=text[:200],
                    self_fuel=self.line_self.get((code, line), 0),
                    total_fuel=self.line_total.get((code, line), 0),
                    hits=self.line_hits[(code, line)],
                )
            )
        lines.sort(key=lambda item: (item.line, item.function))
        stacks = [
            (tuple(index[c] for c in self.node_path[node] if c in index), fuel)
            for node, fuel in enumerate(self.node_fuel)
            if fuel and node
        ]
        note = self.base_note
        if not complete:
            note = (note + " " if note else "") + (
                "The run ended before its code finished: the profile stops there."
            )
        if self.truncated:
            note = (note + " " if note else "") + "Size caps were reached: some detail is lumped."
        if self.exhausted:
            note = (note + " " if note else "") + (
                f"Profiling stopped after {self.events:,} events: the profiler's own cost "
                f"reached its allowance (the budget, {self.allowance:,} instructions). "
                f"The rest of the run ({self.unprofiled:,} instructions) ran unprofiled "
                "and is counted outside any line."
            )
        return FuelProfile(
            runtime=str(runtime),
            detail=self.detail,
            unavailable=list(self.unavailable),
            filename=self.filename,
            total_fuel=self.clock,
            run_fuel=run_fuel,
            outside_fuel=self.outside,
            overhead_fuel=self.overhead + self.setup_overhead,
            overhead_per_event=self.cost_line,
            event_cost_line=self.cost_line,
            event_cost_call=self.cost_call,
            event_cost_line_high=self.cost_line_high,
            event_cost_instruction=self.cost_iline,
            event_cost_instruction_high=self.cost_iline_high,
            event_cost_instruction_skip=self.cost_iskip,
            setup_fuel=self.setup_overhead,
            baseline_fuel=self.baseline_given,
            unprofiled_fuel=self.unprofiled,
            events=self.events,
            complete=complete,
            truncated=self.truncated,
            note=note,
            lines=lines,
            functions=functions,
            stacks=stacks,
        )

    @staticmethod
    def _decode_name(raw: bytearray) -> tuple[Literal["user", "library"], str, int]:
        """``kind NUL name NUL first line`` as the guest registered it (untrusted)."""
        untrusted = bytes(raw).rstrip(b"\0").decode("utf-8", "replace")
        parts = untrusted.split("\0")
        kind: Literal["user", "library"] = "user" if parts[0] == "u" else "library"
        label = "".join(ch for ch in (parts[1] if len(parts) > 1 else "") if ch.isprintable())
        try:
            first = max(0, int(parts[2])) if len(parts) > 2 else 0
        except ValueError:
            first = 0
        return kind, label[:200] or "<unknown>", first


class JsProfileRecorder(ProfileRecorder):
    """The host half of the JavaScript profiler: per function, from spliced events.

    The guest (``wasm/guest/javascript/profiler.js``) runs a copy of the user's
    code in which every function's body sends an enter event and an exit event
    before each ``return`` (after its value) and at its end; ``yield`` and
    ``await`` send a suspend and a resume event, and each ``catch`` and
    ``finally`` block a catch event. Each is ``os.seek(0, id, op)``, which
    reaches the host's ``fd_seek`` as :meth:`on_call`. The instance runs the
    parser, learns the functions' names and first lines (:meth:`name`), and
    measures what one event costs (:attr:`cost_call`, :attr:`cost_yield`) on the
    profiler's own fuel before the run; from there the accounting, the refunds
    and their cap (:data:`REFUND_FACTOR`) and the size caps are
    :class:`ProfileRecorder`'s. A guest that sends events of its own can only
    name the wrong function, or spend the allowance, after which the rest runs
    unprofiled.

    An exception leaves frames without an event (a handler in each function
    would cost the exception a rebuilt backtrace in every frame it crosses:
    QuickJS formats the whole stack again when a caught exception is thrown on).
    Where each event comes from says which frames it left: the seek's result
    pointer is a local of the C call beneath the function's interpreter frame,
    so it lies on the shadow stack below every live caller's and is the same
    for all events of one activation. An event from ``at`` ends every frame
    whose events came from below it (an enter or resume event: from ``at``
    too); a catch event in a frame that isn't on the stack (a generator thrown
    into, an await that rejected) resumes it.

    Usage (on the instance's thread)::

        recorder = JsProfileRecorder(code, filename, budget)
        recorder.name(1, "fib", 3)
        recorder.start(fuel_now)        # the user's code starts
        ...                             # events arrive through on_call
        recorder.stop(fuel_now)         # it ended
        profile = recorder.finish(fuel_left, run_fuel, "javascript")
    """

    detail: Literal["line", "function"] = "function"
    unavailable: tuple[Literal["line", "function"], ...] = ("line",)
    base_note = JS_PROFILE_NOTE

    def __init__(self, code: str, filename: str, budget: int, *, baseline: int = 0) -> None:
        super().__init__(code, filename, budget, baseline=baseline)
        #: Where the frames past MAX_DEPTH (not tracked) sent their events from.
        self.deep_at: list[int] = []
        #: One event's cost between two OP_JS_PROBE events before the code ran
        #: (the instance measures it with the calibration), and the reading at
        #: the first probe of a pair.
        self.probe_cost = 0
        self._probe: int | None = None

    def name(self, code: int, untrusted_name: str, untrusted_line: int) -> None:
        """Register function ``code`` (1 .. MAX_CODES - 1) as the guest's parser named it."""
        if not 0 < code < MAX_CODES:
            self.truncated = True
            return
        label = "".join(ch for ch in str(untrusted_name)[:200] if ch.isprintable())
        line = untrusted_line if isinstance(untrusted_line, int) and untrusted_line > 0 else 0
        self.names[code] = bytearray(f"u\0{label}\0{line}".encode())

    def start(self, now: int) -> None:
        """The user's code starts with ``now`` fuel in the store."""
        self.last = now
        self.phase = "running"

    def stop(self, now: int) -> None:
        """The user's code (and its event loop) ended with ``now`` fuel left."""
        if self.phase != "running":
            return
        self.owed = 0
        self._charge_rest(self.paused if self.paused is not None else now)
        self.paused = None
        self._close_all()
        self.phase = "stopped"

    def on_call(
        self,
        caller: wasmtime.Caller,
        op: int,
        untrusted_a: int,
        untrusted_b: int,
        untrusted_at: int = 0,
    ) -> int:
        """Handle one event: ``op`` is the seek's ``whence``, the function id its offset.

        ``untrusted_at`` is the seek's result pointer (where the event came from).
        """
        if op not in _JS_EVENTS:
            return 0
        now = _fuel_left(caller, self._left)
        if op == OP_JS_PROBE:
            self._on_probe(now)
        code = untrusted_b if not untrusted_a else 0
        return self._event(caller, op, code, 0, now, untrusted_at)

    def _on_probe(self, now: int) -> None:
        """A probe: the second of a pair measures an event (see OP_JS_PROBE)."""
        if self._probe is None or self.phase not in ("setup", "running"):
            self._probe = now
            return
        # The reading at the first probe was before its refund, if any.
        measured = self._probe - now + (self.last - self._probe if self.phase == "running" else 0)
        self._probe = None
        if not 0 < measured <= MAX_EVENT_OVERHEAD:
            return
        if self.phase == "setup":
            self.probe_cost = measured
        elif self.probe_cost:
            change = measured - self.probe_cost
            self.probe_cost = measured  # once: later probes compare with this one
            self.cost_call = max(0, min(self.cost_call + change, MAX_EVENT_OVERHEAD))
            self.cost_yield = max(0, min(self.cost_yield + change, MAX_EVENT_OVERHEAD))

    def _js_step(self, op: int, code: int, at: int) -> None:
        starts = op in (OP_JS_ENTER, OP_JS_RESUME)
        # The frames whose events came from below this one's have ended: an
        # exception left them (and from the same place: a new activation there,
        # or another function's, which a generator or an async function resumed
        # at the same depth can be).
        deep = self.deep_at
        while deep and (deep[-1] < at or (starts and deep[-1] == at)):
            deep.pop()
        if not deep:
            frames = self.frames
            while frames and (
                frames[-1].at < at
                or (frames[-1].at == at and (starts or (code and frames[-1].code != code)))
            ):
                self._pop()
        top = deep[-1] if deep else self.frames[-1].at if self.frames else None
        if op in (OP_JS_EXIT, OP_JS_SUSPEND):
            if top == at:
                if deep:
                    deep.pop()
                else:
                    self._pop()
        elif starts or (op == OP_JS_CATCH and code and top != at):
            # A catch in a frame not on the stack: it was resumed without its event.
            if deep or len(self.frames) >= MAX_DEPTH:
                self.truncated = True
                if len(deep) < MAX_DEPTH:
                    deep.append(at)
            else:
                self._push(code, counted=op == OP_JS_ENTER, at=at)

    def _close_all(self) -> None:
        self.deep_at.clear()
        super()._close_all()
