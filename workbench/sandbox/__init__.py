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
    PathOutsideWorkspaceError,
    PolicyError,
    RuntimeNotAvailableError,
    SandboxClosedError,
    SandboxError,
    UnsupportedPlatformError,
    WorkspaceError,
)
from ._extract import CodeBlock, ExtractedCode, detect_language, extract_code
from ._fuel import analyze_fuel
from ._guidance import analyze_error
from ._ids import new_session_id, validate_session_id
from ._policy import ExecutionPolicy, Mount, list_presets, load_policy, policy_field_help
from ._result import (
    ErrorGuidance,
    FuelAnalysis,
    FuelStatus,
    RuntimeType,
    SandboxResult,
    TrapKind,
)
from ._sandbox import OutputCallback, Sandbox, create_sandbox, default_workspace_root

__all__ = [
    "CodeBlock",
    "CompileProgress",
    "ErrorGuidance",
    "ExecutionPolicy",
    "ExtractedCode",
    "FuelAnalysis",
    "FuelStatus",
    "InvalidSessionIdError",
    "Mount",
    "OutputCallback",
    "PathOutsideWorkspaceError",
    "PolicyError",
    "RuntimeNotAvailableError",
    "RuntimeSpec",
    "RuntimeType",
    "Sandbox",
    "SandboxClosedError",
    "SandboxEngine",
    "SandboxError",
    "SandboxResult",
    "TrapKind",
    "UnsupportedPlatformError",
    "WorkspaceError",
    "analyze_error",
    "analyze_fuel",
    "cache_dir",
    "check_platform",
    "config_dir",
    "create_sandbox",
    "default_workspace_root",
    "detect_language",
    "extract_code",
    "get_engine",
    "list_presets",
    "load_policy",
    "load_runtime_specs",
    "new_session_id",
    "policy_field_help",
    "validate_session_id",
]
