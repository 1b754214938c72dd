"""Starting a standalone kernel process, and which session and policy it uses.

A kernelspec launches ``python -m workbench.kernel --runtime python -f
{connection_file} [options]``. Options (command line first, then environment):

``--session ID`` / ``WASM_WORKBENCH_KERNEL_SESSION``
    Run cells in this session: it is opened if it exists (its runtime must
    match the kernel's), created otherwise. Without it, the session id is
    derived from the connection file (``jupyter-kernel-<id>``). Jupyter keeps
    the connection file when it *restarts* a kernel, so a restart gets a fresh
    interpreter in the same workspace; a new kernel gets a new workspace.
``--policy NAME_OR_TOML`` / ``WASM_WORKBENCH_KERNEL_POLICY``
    The limits every cell runs with (a preset name or a .toml file). Default:
    the session's own policy, or the ``default`` preset for a new session.
``--set KEY=VALUE`` (repeatable) / ``WASM_WORKBENCH_KERNEL_SET`` (``;``-separated)
    Override single policy settings, as with ``wasm-workbench run --set``.
``--workspace-root DIR``
    Folder holding session workspaces (default: ``WASM_WORKBENCH_DATA_DIR`` or
    the user data folder).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

from workbench.sandbox import (
    ExecutionPolicy,
    InvalidSessionIdError,
    PolicyError,
    RuntimeType,
    Session,
    create_session,
    load_policy,
    open_session,
    parse_policy_setting,
    validate_session_id,
)

__all__ = ["KernelOptions", "kernel_class", "launch", "open_kernel_session", "parse_options"]

ENV_SESSION = "WASM_WORKBENCH_KERNEL_SESSION"
ENV_POLICY = "WASM_WORKBENCH_KERNEL_POLICY"
ENV_SET = "WASM_WORKBENCH_KERNEL_SET"


class KernelOptions(argparse.Namespace):
    """Parsed kernel options."""

    runtime: str
    connection_file: str | None
    session: str | None
    policy: str | None
    set: list[str] | None
    workspace_root: str | None


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``python -m workbench.kernel`` and ``wasm-workbench kernel run``."""
    parser = argparse.ArgumentParser(
        prog="wasm-workbench kernel run",
        description="Run a Jupyter kernel whose cells execute inside the WebAssembly sandbox.",
    )
    add_kernel_arguments(parser)
    return parser


def add_kernel_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by ``kernel run`` (and recorded by ``kernel install``)."""
    parser.add_argument(
        "--runtime",
        choices=[runtime.value for runtime in RuntimeType],
        default=RuntimeType.PYTHON.value,
    )
    parser.add_argument(
        "-f", "--connection-file", dest="connection_file", help="Jupyter connection file"
    )
    parser.add_argument("--session", help=f"session id to run in (env {ENV_SESSION})")
    parser.add_argument(
        "--policy", help=f"preset name or .toml file for the cells' limits (env {ENV_POLICY})"
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help=f"override one policy setting (repeatable; env {ENV_SET}, ';'-separated)",
    )
    parser.add_argument("--workspace-root", help="folder that holds session workspaces")


def parse_options(argv: list[str]) -> tuple[KernelOptions, list[str]]:
    """Our options, and the rest (passed on to ipykernel's application)."""
    options, rest = build_parser().parse_known_args(argv, namespace=KernelOptions())
    return options, rest


def kernel_class(runtime: RuntimeType) -> type[Any]:
    """The kernel class for ``runtime``."""
    from ._kernel import WasmJavaScriptKernel, WasmPythonKernel, WasmSciPythonKernel

    classes: dict[RuntimeType, type[Any]] = {
        RuntimeType.PYTHON: WasmPythonKernel,
        RuntimeType.PYTHON_SCI: WasmSciPythonKernel,
        RuntimeType.JAVASCRIPT: WasmJavaScriptKernel,
    }
    return classes[runtime]


def policy_from(options: KernelOptions, env: dict[str, str]) -> ExecutionPolicy | None:
    """The policy the options ask for; None means "the session's own".

    Raises
    ------
    PolicyError
        If the preset, file or a setting is invalid.
    """
    name = options.policy or env.get(ENV_POLICY) or None
    settings = list(options.set or [])
    if not settings and env.get(ENV_SET):
        settings = [item for item in env[ENV_SET].split(";") if item.strip()]
    if name is None and not settings:
        return None
    policy = load_policy(name)
    if settings:
        policy = policy.with_updates(**dict(parse_policy_setting(item) for item in settings))
    return policy


def session_id_for(options: KernelOptions, env: dict[str, str]) -> str:
    """The session the kernel runs in (see the module docs).

    Raises
    ------
    InvalidSessionIdError
        If the id given is malformed.
    """
    given = options.session or env.get(ENV_SESSION)
    if given:
        return validate_session_id(given)
    if options.connection_file:
        stem = Path(options.connection_file).stem
        cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", stem).strip(".-") or "kernel"
        return validate_session_id(f"jupyter-{cleaned}"[:64].rstrip("."))
    from workbench.sandbox import new_session_id

    return new_session_id()


def open_kernel_session(
    runtime: RuntimeType,
    session_id: str,
    policy: ExecutionPolicy | None,
    workspace_root: str | os.PathLike[str] | None = None,
) -> Session:
    """Open ``session_id`` (checking its runtime) or create it.

    Raises
    ------
    InvalidSessionIdError
        If the session exists with another runtime.
    """
    try:
        session = open_session(session_id, policy=policy, workspace_root=workspace_root)
    except InvalidSessionIdError:
        return create_session(
            runtime, policy=policy, session_id=session_id, workspace_root=workspace_root
        )
    if session.runtime is not runtime:
        other = session.runtime
        session.close()
        from ._spec import KERNELS

        display = next(shown for kind, shown in KERNELS.values() if kind is other)
        raise InvalidSessionIdError(
            f"Session {session_id} is a {other.value} session; start the {display} kernel "
            "for it, or choose another session."
        )
    return session


def launch(argv: list[str] | None = None) -> int:
    """Run a kernel until it is shut down. Returns the exit status."""
    from ipykernel.kernelapp import IPKernelApp

    options, rest = parse_options(list(sys.argv[1:] if argv is None else argv))
    runtime = RuntimeType(options.runtime)
    env = dict(os.environ)
    try:
        policy = policy_from(options, env)
        session = open_kernel_session(
            runtime, session_id_for(options, env), policy, options.workspace_root
        )
    except (PolicyError, InvalidSessionIdError) as exc:
        print(f"wasm-workbench kernel: {exc}", file=sys.stderr)
        return 2
    app_argv = list(rest)
    if options.connection_file:
        app_argv = ["-f", options.connection_file, *app_argv]
    app = IPKernelApp.instance(kernel_class=kernel_class(runtime))
    try:
        app.initialize(app_argv)
        app.kernel.bind(session, policy)
        app.start()
    finally:
        session.close()
    return 0
