"""The headless sandbox core: run untrusted Python and JavaScript in WebAssembly.

No Qt here (an import-linter contract enforces it). Public names are re-exported
from private modules; everything else is internal.

Usage::

    from workbench.sandbox import create_sandbox, ExecutionPolicy, RuntimeType

    sandbox = create_sandbox(runtime=RuntimeType.PYTHON,
                             policy=ExecutionPolicy(fuel_budget=500_000_000))
    result = sandbox.execute("print('hello')")
    print(result.summary())
"""

from __future__ import annotations

from ._batch import (
    BatchEvaluation,
    EvalProblem,
    EvalSample,
    EvalSummary,
    FailureCause,
    MalformedLine,
    SampleResult,
    assemble_program,
    evaluate,
    load_problems,
    load_samples,
    pass_at_k,
    read_results,
)
from ._engine import (
    CompileProgress,
    RuntimeSpec,
    SandboxEngine,
    cache_dir,
    check_platform,
    config_dir,
    get_engine,
    load_runtime_specs,
)
from ._errors import (
    InvalidSessionIdError,
    NativePackageError,
    PackageError,
    PackageSpecError,
    PathOutsideWorkspaceError,
    PolicyError,
    RuntimeNotAvailableError,
    SandboxClosedError,
    SandboxError,
    UnsupportedPlatformError,
    WorkspaceError,
)
from ._extract import (
    CodeBlock,
    CodeChoice,
    ExtractedCode,
    auto_runtime,
    choose_code,
    detect_language,
    extract_code,
    runtime_for_path,
    scientific_imports,
)
from ._fuel import Calibration, analyze_fuel, calibrate_budget
from ._guidance import analyze_error
from ._history import RunHistory, RunRecord, outcome_words
from ._ids import new_session_id, validate_session_id
from ._packages import InstalledPackage, InstallResult, install_package
from ._policy import (
    ExecutionPolicy,
    Mount,
    list_presets,
    load_policy,
    parse_policy_setting,
    policy_field_help,
)
from ._profile import FuelProfile, ProfileFunction, ProfileLine
from ._result import (
    ErrorGuidance,
    Figure,
    FuelAnalysis,
    FuelStatus,
    RuntimeType,
    SandboxResult,
    TrapKind,
)
from ._sandbox import OutputCallback, Sandbox, create_sandbox, default_workspace_root
from ._sessions import (
    PruneResult,
    Session,
    SessionInfo,
    SessionState,
    create_session,
    delete_session,
    list_session_files,
    list_sessions,
    open_session,
    prune_sessions,
    read_session_file,
    reset_session_workspace,
    write_session_file,
)
from ._storage import DiskStorage, FileInfo, SQLiteStorage, StorageAdapter
from ._variables import VariableInfo
from ._vendor import (
    LockedPackage,
    VendorBundle,
    VendorProgress,
    add_vendor_progress_listener,
    ensure_vendor_bundle,
    find_vendor_bundle,
    load_vendor_lock,
    lock_vendor_packages,
    remove_vendor_progress_listener,
)

__all__ = [
    "BatchEvaluation",
    "Calibration",
    "CodeBlock",
    "CodeChoice",
    "CompileProgress",
    "DiskStorage",
    "ErrorGuidance",
    "EvalProblem",
    "EvalSample",
    "EvalSummary",
    "ExecutionPolicy",
    "ExtractedCode",
    "FailureCause",
    "Figure",
    "FileInfo",
    "FuelAnalysis",
    "FuelProfile",
    "FuelStatus",
    "InstallResult",
    "InstalledPackage",
    "InvalidSessionIdError",
    "LockedPackage",
    "MalformedLine",
    "Mount",
    "NativePackageError",
    "OutputCallback",
    "PackageError",
    "PackageSpecError",
    "PathOutsideWorkspaceError",
    "PolicyError",
    "ProfileFunction",
    "ProfileLine",
    "PruneResult",
    "RunHistory",
    "RunRecord",
    "RuntimeNotAvailableError",
    "RuntimeSpec",
    "RuntimeType",
    "SQLiteStorage",
    "SampleResult",
    "Sandbox",
    "SandboxClosedError",
    "SandboxEngine",
    "SandboxError",
    "SandboxResult",
    "Session",
    "SessionInfo",
    "SessionState",
    "StorageAdapter",
    "TrapKind",
    "UnsupportedPlatformError",
    "VariableInfo",
    "VendorBundle",
    "VendorProgress",
    "WorkspaceError",
    "add_vendor_progress_listener",
    "analyze_error",
    "analyze_fuel",
    "assemble_program",
    "auto_runtime",
    "cache_dir",
    "calibrate_budget",
    "check_platform",
    "choose_code",
    "config_dir",
    "create_sandbox",
    "create_session",
    "default_workspace_root",
    "delete_session",
    "detect_language",
    "ensure_vendor_bundle",
    "evaluate",
    "extract_code",
    "find_vendor_bundle",
    "get_engine",
    "install_package",
    "list_presets",
    "list_session_files",
    "list_sessions",
    "load_policy",
    "load_problems",
    "load_runtime_specs",
    "load_samples",
    "load_vendor_lock",
    "lock_vendor_packages",
    "new_session_id",
    "open_session",
    "outcome_words",
    "parse_policy_setting",
    "pass_at_k",
    "policy_field_help",
    "prune_sessions",
    "read_results",
    "read_session_file",
    "remove_vendor_progress_listener",
    "reset_session_workspace",
    "runtime_for_path",
    "scientific_imports",
    "validate_session_id",
    "write_session_file",
]
