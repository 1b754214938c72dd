"""Exceptions raised by the sandbox core.

Guest failures (an exception in the guest, a limit hit, a trap) are *not* raised:
they come back inside :class:`~workbench.sandbox.SandboxResult`. Exceptions are
for problems on the host side: bad input, a broken install, a closed sandbox.

The tree::

    SandboxError                    root of everything the core raises
    ├── PolicyError                 an ExecutionPolicy value is invalid (also ValueError)
    ├── RuntimeNotAvailableError    a runtime binary is missing, altered or unknown
    ├── UnsupportedPlatformError    this platform + wasmtime build is not safe to run guests
    ├── WorkspaceError              a workspace path or operation is refused
    │   └── PathOutsideWorkspaceError   a path would leave the workspace
    ├── InvalidSessionIdError       a session id is malformed (also ValueError)
    ├── SandboxClosedError          the sandbox or session was closed
    └── PackageError                a guest package can't be fetched, built or installed
        ├── PackageSpecError            an install spec is malformed (also ValueError)
        └── NativePackageError          a package needs native code WebAssembly can't load

Every message has two parts: what happened, then what to do about it.
"""

from __future__ import annotations

__all__ = [
    "InvalidSessionIdError",
    "NativePackageError",
    "PackageError",
    "PackageSpecError",
    "PathOutsideWorkspaceError",
    "PolicyError",
    "RuntimeNotAvailableError",
    "SandboxClosedError",
    "SandboxError",
    "UnsupportedPlatformError",
    "WorkspaceError",
]


class SandboxError(Exception):
    """Base class for every error the sandbox core raises."""


class PolicyError(SandboxError, ValueError):
    """An execution policy is invalid.

    The message names the field, the value given and the allowed range.
    """


class RuntimeNotAvailableError(SandboxError):
    """A WebAssembly runtime binary is missing, altered, or not known."""


class UnsupportedPlatformError(SandboxError):
    """Running guests on this platform with this wasmtime build is not safe."""


class WorkspaceError(SandboxError):
    """A workspace operation was refused (size limit, bad path, missing file)."""


class PathOutsideWorkspaceError(WorkspaceError):
    """A path would resolve outside the workspace (traversal, absolute path, symlink)."""


class InvalidSessionIdError(SandboxError, ValueError):
    """A session id is malformed; nothing was created."""


class SandboxClosedError(SandboxError):
    """The sandbox (or session) was closed and can't run code any more."""


class PackageError(SandboxError):
    """A guest package couldn't be fetched, verified, built or installed.

    Raised by the vendored-package bundle (``ensure_vendor_bundle``) and by
    ``install_package``; the message says what failed and how to fix it.
    """


class PackageSpecError(PackageError, ValueError):
    """A package spec given to ``install_package`` is malformed or not allowed."""


class NativePackageError(PackageError):
    """A package contains native code (a platform wheel or a compiled library).

    WebAssembly can't load native extensions; the message names a pure-Python
    alternative when one is known.
    """
