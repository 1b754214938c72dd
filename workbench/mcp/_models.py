"""Typed inputs and structured outputs of the MCP tools.

The JSON schemas clients see are generated from these models. Results of
``execute_code`` carry every field of :class:`~workbench.sandbox.SandboxResult`
except the raw byte copies of the output (``stdout``/``stderr`` are the text),
plus ``summary``: a few lines in words for clients that only read text.
Figures are described here (:class:`FigureInfo`); their images travel as MCP
image content beside the structured result (see :func:`figures_in_content`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from workbench.sandbox import (
    ErrorGuidance,
    Figure,
    FuelAnalysis,
    FuelProfile,
    RuntimeType,
    SandboxResult,
    TrapKind,
)

__all__ = [
    "DestroyResult",
    "ExecuteResult",
    "ExecutionLimits",
    "FigureInfo",
    "FileContent",
    "FileEntry",
    "FileList",
    "Language",
    "LimitsInfo",
    "PackageInstalled",
    "ResetResult",
    "RuntimeInfo",
    "RuntimesResult",
    "SessionCreated",
    "WorkspaceInfo",
    "WriteResult",
    "figures_in_content",
]

Language = Literal["python", "javascript", "python-sci"]

#: SandboxResult fields left out of tool results (raw bytes; the text is kept).
EXCLUDED_RESULT_FIELDS = frozenset({"stdout_bytes", "stderr_bytes"})


class ExecutionLimits(BaseModel):
    """Limits for one call. Each may only lower the server's maximum, never raise it."""

    model_config = ConfigDict(extra="forbid")

    fuel_budget: int | None = Field(
        default=None,
        ge=1_000_000,
        description="Instruction budget for this call (at most the server's fuel_budget).",
    )
    timeout_seconds: float | None = Field(
        default=None,
        ge=0.05,
        description="Wall-clock seconds for this call (at most the server's timeout).",
    )
    memory_bytes: int | None = Field(
        default=None,
        ge=32 * 1024 * 1024,
        description=(
            "Linear memory limit in bytes (at most the server's). Changing it in a session "
            "starts a new interpreter."
        ),
    )
    stdout_max_bytes: int | None = Field(
        default=None, ge=0, description="Bytes of stdout kept (at most the server's cap)."
    )
    stderr_max_bytes: int | None = Field(
        default=None, ge=0, description="Bytes of stderr kept (at most the server's cap)."
    )


class LimitsInfo(BaseModel):
    """The server's maximum limits (what a call gets when it asks for none)."""

    fuel_budget: int
    timeout_seconds: float
    memory_bytes: int
    stdout_max_bytes: int
    stderr_max_bytes: int
    workspace_max_bytes: int
    max_code_bytes: int
    max_file_bytes: int
    max_image_bytes: int = 0


class FigureInfo(BaseModel):
    """A figure of a run, described (its image travels as MCP image content)."""

    index: int
    format: str
    mime_type: str
    width: int
    height: int
    size_bytes: int
    in_content: bool = Field(
        default=False,
        description="The image is in this result's content (an image item, in index "
        "order); false when it would pass the server's max_image_bytes.",
    )


class ExecuteResult(BaseModel):
    """Everything known about one execution (the fields of SandboxResult) and a summary."""

    execution_id: str
    runtime: RuntimeType
    success: bool
    exit_code: int | None = None
    trap_kind: TrapKind = TrapKind.NONE
    trap_message: str = ""
    stdout: str = ""
    stderr: str = ""
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
    links_removed: list[str] = Field(
        default_factory=list,
        description="Symbolic links leading out of the workspace, removed after the run.",
    )
    session_id: str | None = None
    state_lost: bool = False
    unsaved_globals: list[str] = Field(default_factory=list)
    restored_globals: list[str] = Field(default_factory=list)
    display_value: str | None = Field(
        default=None, description="With interactive: the trailing expression's value, as text."
    )
    display_value_truncated: bool = False
    figures: list[FigureInfo] = Field(
        default_factory=list,
        description="Figures the run drew (python-sci), without their bytes.",
    )
    figures_truncated: bool = False
    error_guidance: ErrorGuidance | None = None
    fuel_analysis: FuelAnalysis | None = None
    profile: FuelProfile | None = Field(
        default=None, description="With profile: the fuel per line and per function."
    )
    summary: str = Field(description="A few lines in words: outcome, limits hit, cost, first fix.")
    code_note: str | None = Field(
        default=None,
        description="When `code` was a Markdown answer (prose around fenced code): which "
        "blocks ran and what was dropped. Absent for plain code.",
    )

    @classmethod
    def from_result(cls, result: SandboxResult, max_image_bytes: int = 0) -> ExecuteResult:
        """The tool result for ``result``.

        Figures are described; the first ones whose bytes together stay within
        ``max_image_bytes`` are marked ``in_content`` (the server sends those as
        image content beside this model, see :func:`figures_in_content`).
        """
        data = result.model_dump(exclude={*EXCLUDED_RESULT_FIELDS, "figures"})
        sent = {figure.index for figure in figures_in_content(result, max_image_bytes)}
        figures = [
            FigureInfo(
                index=figure.index,
                format=figure.format,
                mime_type=figure.mime_type,
                width=figure.width,
                height=figure.height,
                size_bytes=figure.size_bytes,
                in_content=figure.index in sent,
            )
            for figure in result.figures
        ]
        return cls(**data, figures=figures, summary=result.summary())


class RuntimeInfo(BaseModel):
    """One guest language."""

    language: Language
    version: str
    description: str
    supports_sessions: bool = True
    supports_auto_persist_globals: bool = True


class RuntimesResult(BaseModel):
    """The languages this server runs, and its limits."""

    runtimes: list[RuntimeInfo]
    limits: LimitsInfo


class SessionCreated(BaseModel):
    """A new session."""

    session_id: str
    language: Language
    auto_persist_globals: bool
    workspace: str = Field(default="/app", description="Where the guest sees its files.")


class DestroyResult(BaseModel):
    """A destroyed session."""

    session_id: str
    destroyed: bool
    bytes_freed: int


class WorkspaceInfo(BaseModel):
    """State of a session and its workspace."""

    session_id: str
    language: Language
    default_session: bool
    auto_persist_globals: bool
    interpreter_running: bool
    running: bool
    turns: int
    total_fuel: int
    file_count: int
    bytes_used: int
    workspace_max_bytes: int
    idle_seconds: float
    idle_timeout_seconds: float
    workspace: str = "/app"


class ResetResult(BaseModel):
    """A workspace emptied."""

    session_id: str
    reset: bool


class FileEntry(BaseModel):
    """One entry of a workspace."""

    path: str
    size: int
    modified: float
    kind: Literal["file", "dir", "symlink", "other"]


class FileList(BaseModel):
    """Entries of a workspace matching a pattern."""

    session_id: str
    pattern: str
    files: list[FileEntry]
    truncated: bool = Field(description="True when more entries matched than were returned.")


class FileContent(BaseModel):
    """A file's content: UTF-8 text, or base64 when it isn't text."""

    session_id: str
    path: str
    size: int
    encoding: Literal["utf-8", "base64"]
    content: str


class WriteResult(BaseModel):
    """A file written."""

    session_id: str
    path: str
    bytes_written: int


class InstalledDistribution(BaseModel):
    """One distribution unpacked into the session's site-packages."""

    name: str
    version: str
    installed_bytes: int
    files: int
    required_by: str = Field(description="'requested' or the package that needs it.")


class PackageInstalled(BaseModel):
    """What install_package did."""

    session_id: str
    requested: str
    installed: list[InstalledDistribution]
    already_satisfied: list[str] = Field(
        description="Requirements already met, as 'name version (where)'."
    )
    target: str = Field(description="Where the packages are, inside the guest.")
    total_bytes: int
    compile_failures: list[str] = Field(
        default_factory=list, description="Files that import from source (no bytecode)."
    )
    summary: str


def figures_in_content(result: SandboxResult, max_image_bytes: int) -> list[Figure]:
    """The figures of ``result`` an execute_code result carries as images.

    In order, as long as their bytes together stay within ``max_image_bytes``;
    the first one that doesn't fit ends the list, so the images a client gets
    are always the run's first ones, without gaps.
    """
    chosen: list[Figure] = []
    total = 0
    for figure in result.figures:
        total += figure.size_bytes
        if total > max_image_bytes:
            break
        chosen.append(figure)
    return chosen
