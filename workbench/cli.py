"""Command line: ``wasm-workbench run | eval | mcp | policies | runtimes``.

Exit status of ``run``:

====  ==========================================================
0     the code ran and succeeded
1     the guest failed (an exception, or a non-zero exit code)
2     usage error (bad arguments, unknown policy, unreadable file)
3     a limit stopped the run (fuel, memory, timeout, stack, cancelled)
4     the sandbox itself failed (missing runtime, host error)
====  ==========================================================
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .sandbox import (
    CompileProgress,
    DiskStorage,
    ExecutionPolicy,
    InvalidSessionIdError,
    PolicyError,
    RuntimeType,
    Sandbox,
    SandboxError,
    SandboxResult,
    TrapKind,
    VendorProgress,
    add_vendor_progress_listener,
    auto_runtime,
    choose_code,
    create_sandbox,
    create_session,
    default_workspace_root,
    ensure_vendor_bundle,
    find_vendor_bundle,
    get_engine,
    install_package,
    list_presets,
    load_policy,
    load_vendor_lock,
    lock_vendor_packages,
    open_session,
    parse_policy_setting,
    policy_field_help,
    runtime_for_path,
    validate_session_id,
)
from .sandbox._vendor import ensure_sci_vendor_bundle, python_guest_mounts, sci_vendor_mount

EXIT_OK = 0
EXIT_GUEST_ERROR = 1
EXIT_USAGE = 2
EXIT_LIMIT = 3
EXIT_HOST_ERROR = 4

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def sanitize(text: str) -> str:
    """Replace control characters (terminal escapes) in guest text; keep newlines and tabs."""
    return _CONTROL.sub("\ufffd", text)


# What to do about each problem choose_code can report, in this face's terms.
_HINTS = {
    "": "",
    "empty": " Pass a file with code, or - to read it from standard input.",
    "no_code": " Ask for Python or JavaScript code.",
    "mixed": " Pass --runtime python or --runtime javascript to run one language's blocks.",
    "wrong_language": " Leave --runtime out (or set it to auto) to run what the answer has.",
}


def _choose_runtime(option: str, path: str, language: RuntimeType | None) -> RuntimeType:
    if option != "auto":
        return RuntimeType(option)
    if language is not None:
        return language
    runtime = runtime_for_path(path)
    if runtime is not None:
        return runtime
    raise PolicyError(
        "Could not tell whether this is Python or JavaScript. "
        "Pass --runtime python, --runtime python-sci or --runtime javascript."
    )


def _exit_status(result: SandboxResult) -> int:
    if result.success:
        return EXIT_OK
    if result.trap_kind is TrapKind.HOST_ERROR:
        return EXIT_HOST_ERROR
    if result.trap_kind is not TrapKind.NONE:
        return EXIT_LIMIT
    return EXIT_GUEST_ERROR


def _progress(event: CompileProgress) -> None:
    if event.stage in ("compiling", "verifying"):
        print(f"wasm-workbench: {event.message} ...", file=sys.stderr, flush=True)


def _vendor_progress(event: VendorProgress) -> None:
    if event.stage in ("checking", "ready") or (event.stage == "downloading" and event.done):
        return
    print(f"wasm-workbench: {event.message} ...", file=sys.stderr, flush=True)


def _command_vendor(args: argparse.Namespace) -> int:
    action = args.vendor_action or "list"
    if action == "lock":
        lock = lock_vendor_packages()
        print(f"Wrote {lock.path} ({len(lock.packages)} packages).")
        return EXIT_OK
    if action == "build":
        if args.runtime == RuntimeType.PYTHON_SCI.value:
            # The packages python-sci's zip lacks, compiled by python-sci (compiles
            # the runtime first if it isn't cached: ~75 s once).
            built = ensure_sci_vendor_bundle(_vendor_progress, force=args.force)
        else:
            built = ensure_vendor_bundle(_vendor_progress, force=args.force)
        print(
            f"Vendored packages ready in {built.site_packages} ({built.size_bytes / 1e6:.1f} MB)."
        )
        return EXIT_OK
    lock = load_vendor_lock()
    bundle = find_vendor_bundle(lock)
    if args.json:
        print(
            json.dumps(
                {
                    "bundle": str(bundle.site_packages) if bundle else None,
                    "built_at": bundle.built_at if bundle else None,
                    "packages": [
                        {
                            "name": p.name,
                            "version": p.version,
                            "import": list(p.top_level),
                            "purpose": p.purpose,
                            "file": p.filename,
                            "sha256": p.sha256,
                        }
                        for p in lock.packages
                    ],
                },
                indent=2,
            )
        )
        return EXIT_OK
    where = (
        f"built in {bundle.site_packages} ({bundle.size_bytes / 1e6:.1f} MB, {bundle.built_at})"
        if bundle
        else "not built yet: run 'wasm-workbench vendor build' (needs PyPI once)"
    )
    print(f"Vendored packages (mounted at /data/site-packages): {where}")
    for p in lock.packages:
        print(f"  {p.name:20} {p.version:18} import {', '.join(p.top_level):22} {p.purpose}")
    return EXIT_OK


def _command_install(args: argparse.Namespace) -> int:
    session = open_session(args.session, workspace_root=args.workspace_root)
    try:
        result = install_package(session, args.spec)
    finally:
        session.close()
    if args.json:
        print(result.model_dump_json(indent=2))
        return EXIT_OK
    print(result.summary())
    for item in result.already_satisfied:
        print(f"  already there: {item}")
    return EXIT_OK


def _command_run(args: argparse.Namespace) -> int:
    if args.file == "-":
        source = sys.stdin.read()
    else:
        try:
            source = Path(args.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(
                f"wasm-workbench: could not read {args.file}: {exc}. "
                "Check the path, or pass - to read the code from standard input.",
                file=sys.stderr,
            )
            return EXIT_USAGE
    if args.svg and not args.figures:
        print(
            "wasm-workbench: --svg says in which format to save figures; "
            "add --figures DIR to say where.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    policy = load_policy(args.policy)
    if args.set:
        policy = policy.with_updates(**dict(parse_policy_setting(item) for item in args.set))
    prefer = None if args.runtime == "auto" else RuntimeType(args.runtime)
    choice = choose_code(source, runtime=prefer)
    if choice.problem:
        hint = _HINTS[choice.problem_kind]
        print(f"wasm-workbench: no code to run. {choice.problem}{hint}", file=sys.stderr)
        return EXIT_USAGE
    if choice.answer and not args.json:
        print(f"wasm-workbench: {choice.extracted.note}", file=sys.stderr)
    runtime = _choose_runtime(args.runtime, args.file, choice.runtime)
    if args.runtime == "auto":
        runtime = auto_runtime(runtime, choice.code) or runtime
    # The first Python run builds the vendored-package bundle: say what is going on,
    # and wait for it (a one-off run can't use a build still going on behind it).
    add_vendor_progress_listener(_vendor_progress)
    if runtime is RuntimeType.PYTHON:
        python_guest_mounts(wait=True)
    elif runtime is RuntimeType.PYTHON_SCI:
        sci_vendor_mount(wait=True)
    if args.session:
        _ensure_session(args.session, runtime, policy, args.workspace_root)
    sandbox = create_sandbox(
        runtime=runtime,
        policy=policy,
        session_id=args.session,
        workspace_root=args.workspace_root,
        warm=False,
    )
    sandbox.prepare(progress=_progress)
    streams: dict[str, TextIO] = {"stdout": sys.stdout, "stderr": sys.stderr}

    def on_output(name: str, chunk: bytes) -> None:
        stream = streams[name]
        stream.write(sanitize(chunk.decode("utf-8", "replace")))
        stream.flush()

    outcome: dict[str, Any] = {}
    # An Event, not Thread.join(): a Ctrl+C that interrupts join() can leave the
    # thread looking finished while it still runs (CPython gh-90882).
    done = threading.Event()

    def work() -> None:
        try:
            outcome["result"] = sandbox.execute(
                choice.code,
                on_output=None if args.json else on_output,
                profile=bool(args.profile or args.profile_out),
                figure_svg=bool(args.svg),
            )
        except BaseException as exc:  # re-raised on the main thread
            outcome["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=work, name="wasm-workbench-run")
    worker.start()
    try:
        while not done.wait(0.1):
            pass
    except KeyboardInterrupt:
        sandbox.cancel()
        done.wait()
    finally:
        kept = _keep_workspace(sandbox) if args.keep_workspace else None
        removed = sandbox.scratch  # a scratch workspace goes with the sandbox
        sandbox.close()
    if "error" in outcome:
        raise outcome["error"]
    result: SandboxResult = outcome["result"]
    written = _write_figures(result, Path(args.figures)) if args.figures else {}
    if args.json:
        exclude = {"stdout_bytes", "stderr_bytes", "figures"}
        data = result.model_dump(mode="json", exclude=exclude)
        data["workspace"] = None if removed else str(sandbox.workspace)
        data["kept_session"] = kept
        data["figures"] = [
            {
                "index": figure.index,
                "format": figure.format,
                "width": figure.width,
                "height": figure.height,
                "size_bytes": figure.size_bytes,
                "svg_bytes": figure.svg_bytes,
                "path": _figure_path(written, figure.index, "png"),
                "svg_path": _figure_path(written, figure.index, "svg"),
            }
            for figure in result.figures
        ]
        print(json.dumps(data, indent=2))
        return _exit_status(result)
    print(sanitize("\n" + result.summary()), file=sys.stderr)
    changed = ", ".join(result.files_created + result.files_modified)
    if changed and removed:
        print(
            f"Files changed: {changed}. They were in a scratch workspace, removed when the "
            "run ended; run with --keep-workspace to keep them.",
            file=sys.stderr,
        )
    elif changed:
        print(f"Files changed in {sandbox.workspace}: {changed}", file=sys.stderr)
    if kept is not None:
        print(
            f"Kept the workspace as session {kept}: {sandbox.workspace}. "
            f"Run in it again with --session {kept}.",
            file=sys.stderr,
        )
    if result.profile is not None:
        print(sanitize("\n" + result.profile.table()), file=sys.stderr)
    if written:
        names = ", ".join(path.name for paths in written.values() for path in paths)
        print(f"Figures written to {Path(args.figures).resolve()}: {names}", file=sys.stderr)
        if args.svg and any(figure.svg is None for figure in result.figures):
            print(
                "Some figures have no SVG (only PNG): it didn't fit the figure caps.",
                file=sys.stderr,
            )
    elif result.figures:
        print(
            f"The run drew {len(result.figures)} figure(s); pass --figures DIR to save them.",
            file=sys.stderr,
        )
    if result.figures_truncated:
        print("Some figures were left out: the per-run figure cap was reached.", file=sys.stderr)
    if result.profile is not None and args.profile_out:
        _write_profile(result, Path(args.profile_out))
    return _exit_status(result)


_SIZE_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "kib": 1024, "mib": 1024**2}


def _byte_size(text: str) -> int:
    """A byte count for a command-line option: ``4194304``, ``4MiB``, ``500kB``."""
    match = re.fullmatch(r"\s*([0-9][0-9_]*)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _SIZE_UNITS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size: give bytes, or a number with KiB, MiB, kB or MB (4MiB)"
        )
    return int(match.group(1).replace("_", "")) * _SIZE_UNITS[unit]


def _write_profile(result: SandboxResult, path: Path) -> None:
    """Write the run's profile: speedscope's format, Chrome's (``*.trace.json``) or ours."""
    assert result.profile is not None
    if path.name.endswith(".profile.json"):
        data = result.profile.to_json_dict()
    elif path.name.endswith(".trace.json"):
        data = result.profile.to_chrome_trace()
    else:
        data = result.profile.to_speedscope(name=f"fuel profile {result.execution_id[:8]}")
    try:
        path.write_text(json.dumps(data), encoding="utf-8")
    except OSError as exc:
        print(
            f"wasm-workbench: could not write the profile to {path}: {exc}. "
            "Check the folder exists and is writable.",
            file=sys.stderr,
        )
        return
    print(f"wasm-workbench: profile written to {path}", file=sys.stderr)


def _write_figures(result: SandboxResult, folder: Path) -> dict[int, list[Path]]:
    """Write the run's figures to ``folder`` as figure-<n>.png (and .svg when there).

    Returns the paths written, by figure index.
    """
    if not result.figures:
        return {}
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[int, list[Path]] = {}
    for figure in result.figures:
        path = folder / f"figure-{figure.index}.{figure.format}"
        path.write_bytes(figure.data)
        written[figure.index] = [path]
        if figure.svg is not None:
            svg_path = folder / f"figure-{figure.index}.svg"
            svg_path.write_bytes(figure.svg)
            written[figure.index].append(svg_path)
    return written


def _figure_path(written: dict[int, list[Path]], index: int, suffix: str) -> str | None:
    """The path written for figure ``index`` in the format ``suffix``, for ``--json``."""
    found = [path for path in written.get(index, []) if path.suffix == f".{suffix}"]
    return str(found[0]) if found else None


def _ensure_session(
    session_id: str, runtime: RuntimeType, policy: ExecutionPolicy, root: str | None
) -> None:
    """Create the session ``--session`` names if it doesn't exist, so that it is listed."""
    folder = Path(root) if root else default_workspace_root()
    sid = validate_session_id(session_id)
    if not DiskStorage(folder).exists(sid):
        create_session(runtime, policy, session_id=sid, workspace_root=folder).close()


def _keep_workspace(sandbox: Sandbox) -> str | None:
    """``--keep-workspace``: make a fresh run's scratch workspace a session."""
    if not sandbox.scratch:
        return None  # --session: the workspace is a session's already
    try:
        return sandbox.keep_as_session()
    except SandboxError as exc:
        print(f"wasm-workbench: {sanitize(str(exc))}", file=sys.stderr)
        return None


def _command_policies(_args: argparse.Namespace) -> int:
    for name, path in list_presets().items():
        policy = ExecutionPolicy.from_toml(path)
        print(
            f"{name:24} fuel {policy.fuel_budget:>16,}  "
            f"memory {policy.memory_bytes // 2**20:>5} MiB  timeout {policy.timeout_seconds:g} s"
        )
    return EXIT_OK


def _command_runtimes(args: argparse.Namespace) -> int:
    engine = get_engine()
    if args.prepare:
        for runtime in RuntimeType:
            engine.module(runtime, progress=_progress)
        _prepare_sci_images()
    from .sandbox._engine import WASMTIME_VERSION

    print(f"wasmtime-py {WASMTIME_VERSION}; module cache: {engine.cache_root}")
    for runtime, spec in engine.specs.items():
        print(
            f"{runtime.value:11} {spec.language_version:18} {spec.distribution}=={spec.version}"
            f"  sha256 {spec.sha256}"
        )
    return EXIT_OK


#: The presets whose python-sci image ``runtimes --prepare`` saves: the default
#: policy's (numpy, pandas, pyplot imported ahead) and the data-analysis one's
#: (1 GiB: seaborn, scikit-learn, scipy.stats and statsmodels.api too).
PREPARED_PRESETS = ("default", "data-analysis")


def _prepare_sci_images() -> None:
    """Do python-sci's imports ahead once, so a new process copies them from disk."""
    from .sandbox._image import images_enabled

    if not images_enabled():
        return
    add_vendor_progress_listener(_vendor_progress)
    sci_vendor_mount(wait=True)  # part of the instances' shape, so of the image's key
    for preset in PREPARED_PRESETS:
        began = time.monotonic()
        print(
            f"python-sci: imports ahead for the {preset!r} policy (saved in the cache) ...",
            file=sys.stderr,
        )
        with create_sandbox(RuntimeType.PYTHON_SCI, policy=load_policy(preset), warm=False) as box:
            result = box.execute("pass")
        if not result.success:
            print(f"python-sci: that failed: {result.stderr.strip()}", file=sys.stderr)
            continue
        print(f"python-sci: ready in {time.monotonic() - began:.1f} s", file=sys.stderr)


def _command_kernel(args: argparse.Namespace) -> int:
    from .kernel import install_kernelspecs, uninstall_kernelspecs

    if args.kernel_command == "install":
        extra: list[str] = []
        if args.policy:
            load_policy(args.policy)  # fail now, not when Jupyter starts the kernel
            extra += [
                "--policy",
                str(Path(args.policy).resolve()) if Path(args.policy).is_file() else args.policy,
            ]
        for item in args.set or []:
            parse_policy_setting(item)
            extra += ["--set", item]
        if args.session:
            try:
                extra += ["--session", validate_session_id(args.session)]
            except InvalidSessionIdError as exc:
                print(f"wasm-workbench: {exc}", file=sys.stderr)
                return EXIT_USAGE
        prefix = sys.prefix if args.sys_prefix else args.prefix
        installed = install_kernelspecs(user=args.user, prefix=prefix, extra_args=extra)
        for name, folder in installed.items():
            print(f"Installed kernelspec {name} in {folder}")
        return EXIT_OK
    if args.kernel_command == "uninstall":
        removed = uninstall_kernelspecs()
        print("Removed: " + (", ".join(removed) if removed else "nothing (none installed)"))
        return EXIT_OK
    print(
        "wasm-workbench kernel: say install, uninstall or run (see --help).",
        file=sys.stderr,
    )
    return EXIT_USAGE


def _command_mcp(args: argparse.Namespace) -> int:
    from . import mcp

    policy = load_policy(args.policy)
    if args.set:
        policy = policy.with_updates(**dict(parse_policy_setting(item) for item in args.set))
    token = args.token or os.environ.get(mcp.TOKEN_ENV) or None
    if args.generate_token:
        token = mcp.generate_token()
    try:
        settings = mcp.McpSettings(
            policy=policy,
            workspace_root=args.workspace_root,
            host=args.host,
            port=args.port,
            token=token,
            cors_origins=args.cors_origin or [],
            idle_timeout_seconds=args.idle_timeout,
            keep_workspaces=args.keep_workspaces,
            max_image_bytes=args.max_image_bytes,
        )
        if args.transport == "http":
            settings.check_http()
    except ValueError as exc:
        print(f"wasm-workbench mcp: {_first_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    # The runtimes are compiled (or loaded from the cache) before the first
    # client arrives, so no tool call waits seconds for a compile; one that takes
    # minutes (python-sci, the first time) goes on in the background.
    engine = get_engine()
    for runtime in RuntimeType:
        if engine.compiles_quickly(runtime):
            engine.module(runtime, progress=_progress)
        else:
            engine.prepare_in_background(runtime, progress=_progress)
    if args.transport == "stdio":
        mcp.run_stdio(settings)
        return EXIT_OK
    server = mcp.HttpServer(settings)
    try:
        url = server.start()
    except RuntimeError as exc:
        print(f"wasm-workbench mcp: {exc}", file=sys.stderr)
        return EXIT_HOST_ERROR
    print(f"wasm-workbench: MCP server listening on {url}", file=sys.stderr, flush=True)
    if args.generate_token:
        print(f"wasm-workbench: bearer token: {token}", file=sys.stderr, flush=True)
    try:
        while server.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return EXIT_OK


def _first_line(exc: Exception) -> str:
    """Pydantic's message without its 'For further information' trailer."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors())
    return str(exc)


def _launch_gui(*, smoke_test: bool = False) -> int:
    """Open the desktop workbench.

    Imported by name at run time: the command line (like the rest of the
    headless layers) never imports Qt itself, which import-linter enforces.
    """
    import importlib

    app = importlib.import_module("workbench.gui.app")
    status: int = app.main(smoke_test=smoke_test)
    return status


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to generate the README's usage)."""
    parser = argparse.ArgumentParser(
        prog="wasm-workbench",
        description="Run untrusted Python and JavaScript inside WebAssembly with hard limits.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command")
    gui = sub.add_parser("gui", help="open the desktop workbench (the default without a command)")
    gui.add_argument(
        "--smoke-test",
        action="store_true",
        help="open the window, wait for the runtimes, close it; exit 0 if all went well",
    )
    run = sub.add_parser(
        "run",
        help="run one file (or LLM output with Markdown fences) in a fresh sandbox",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="settings for --set:\n"
        + "\n".join(f"  {name:22} {text}" for name, text in policy_field_help().items()),
    )
    run.add_argument("file", help="file to run, or - for standard input")
    run.add_argument(
        "--runtime",
        choices=["auto", *(runtime.value for runtime in RuntimeType)],
        default="auto",
        help="guest runtime (default: from the code fence, file name or content; "
        "python-sci when the code imports numpy, pandas, matplotlib ...)",
    )
    run.add_argument(
        "--policy",
        default="default",
        help="preset name (see 'wasm-workbench policies') or a .toml file",
    )
    run.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one policy setting, e.g. --set fuel_budget=5e9 "
        "--set memory_bytes=256MiB (repeatable)",
    )
    run.add_argument("--json", action="store_true", help="print the full result as JSON")
    run.add_argument(
        "--profile",
        action="store_true",
        help="profile the fuel: print the lines and functions that spent it (stderr)",
    )
    run.add_argument(
        "--profile-out",
        metavar="FILE",
        help="with --profile: write the profile to FILE (speedscope JSON, fuel as the unit; "
        "a name ending in .trace.json gets Chrome's trace-event format, one ending in "
        ".profile.json the workbench's own JSON)",
    )
    run.add_argument(
        "--figures",
        metavar="DIR",
        help="write the figures the run draws (python-sci: plt.show(), open figures) to DIR "
        "as figure-1.png, figure-2.png ...",
    )
    run.add_argument(
        "--svg",
        action="store_true",
        help="with --figures: also render each figure as SVG in the guest and write it "
        "beside its PNG (figure-1.svg ...); the rendering is charged to the run's fuel",
    )
    run.add_argument(
        "--session",
        help="run in this session's workspace, creating the session if it doesn't exist "
        "(default: a scratch workspace, removed when the run ends)",
    )
    run.add_argument(
        "--keep-workspace",
        action="store_true",
        help="keep the scratch workspace as a new session (its id is printed)",
    )
    run.add_argument("--workspace-root", help="folder that holds session workspaces")
    run.set_defaults(handler=_command_run)
    from .cli_eval import add_eval_parser  # here: cli_eval uses this module's helpers

    add_eval_parser(sub)
    mcp = sub.add_parser(
        "mcp",
        help="serve the sandbox to AI clients over the Model Context Protocol",
        description="Serve execute_code and the session and file tools to MCP clients. "
        "stdio serves the one client that started this process (Claude Desktop); http "
        "serves many clients, each seeing only its own sessions.",
    )
    mcp.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    mcp.add_argument("--host", default="127.0.0.1", help="HTTP address (default 127.0.0.1)")
    mcp.add_argument(
        "--port", type=int, default=8765, help="HTTP port (default 8765; 0 picks a free one)"
    )
    mcp.add_argument(
        "--policy",
        default="default",
        help="the most any call may use: a preset name or a .toml file; calls can only "
        "ask for less",
    )
    mcp.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override one policy setting"
    )
    mcp.add_argument(
        "--token",
        help="bearer token HTTP clients must send (prefer the environment variable "
        "WASM_WORKBENCH_MCP_TOKEN: a command line is visible to other users)",
    )
    mcp.add_argument(
        "--generate-token",
        action="store_true",
        help="generate a bearer token and print it to stderr",
    )
    mcp.add_argument(
        "--cors-origin",
        action="append",
        metavar="ORIGIN",
        help="a browser origin allowed to call the HTTP server (repeatable)",
    )
    mcp.add_argument(
        "--idle-timeout",
        type=float,
        default=1800.0,
        help="seconds before an unused session ends and its workspace is deleted",
    )
    mcp.add_argument(
        "--keep-workspaces",
        action="store_true",
        help="keep the workspaces of ended sessions instead of deleting them",
    )
    mcp.add_argument(
        "--max-image-bytes",
        type=_byte_size,
        default=4 * 2**20,
        metavar="SIZE",
        help="most bytes of figures (PNG, before base64) one execute_code result carries as "
        "image content; later figures are only described (default 4MiB, at most 64MiB; "
        "0 sends none; units: KiB, MiB, kB, MB)",
    )
    mcp.add_argument("--workspace-root", help="folder that holds session workspaces")
    mcp.set_defaults(handler=_command_mcp)
    policies = sub.add_parser("policies", help="list the policy presets")
    policies.set_defaults(handler=_command_policies)
    runtimes = sub.add_parser("runtimes", help="show the runtimes, their hashes and the cache")
    runtimes.add_argument(
        "--prepare",
        action="store_true",
        help="compile (or load) every runtime now (python-sci: ~75 s and 2.6 GiB the first "
        "time) and save python-sci's imports for the default and data-analysis policies",
    )
    runtimes.set_defaults(handler=_command_runtimes)
    vendor = sub.add_parser("vendor", help="the vendored pure-Python packages: list or build")
    vendor.add_argument(
        "vendor_action",
        nargs="?",
        choices=["list", "build", "lock"],
        help="list (default): what is bundled; build: fetch and build the bundle now; "
        "lock: re-resolve vendor/packages.toml into the lock file (developers)",
    )
    vendor.add_argument("--force", action="store_true", help="build: rebuild even if built")
    vendor.add_argument(
        "--runtime",
        choices=[RuntimeType.PYTHON.value, RuntimeType.PYTHON_SCI.value],
        default=RuntimeType.PYTHON.value,
        help="build: the bundle of this runtime (python-sci: the packages its zip lacks)",
    )
    vendor.add_argument("--json", action="store_true", help="list: as JSON")
    vendor.set_defaults(handler=_command_vendor)
    install = sub.add_parser(
        "install", help="install a pure-Python package from PyPI into a session's workspace"
    )
    install.add_argument("spec", help="name or name==version, e.g. humanize==4.9.0")
    install.add_argument("--session", required=True, help="the session's id")
    install.add_argument("--workspace-root", help="folder that holds session workspaces")
    install.add_argument("--json", action="store_true", help="print the result as JSON")
    install.set_defaults(handler=_command_install)
    kernel = sub.add_parser(
        "kernel",
        help="Jupyter kernels (WASM Python, WASM Python (scientific), WASM JavaScript): "
        "install or run",
    )
    kernel.set_defaults(handler=_command_kernel, kernel_command=None)
    kernel_sub = kernel.add_subparsers(dest="kernel_command")
    kernel_install = kernel_sub.add_parser(
        "install", help="install the kernelspecs for JupyterLab, Notebook, nbclient, qtconsole"
    )
    where = kernel_install.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="for the current user")
    where.add_argument(
        "--sys-prefix", action="store_true", help="into this Python environment (sys.prefix)"
    )
    where.add_argument("--prefix", help="under this prefix (e.g. a conda or venv folder)")
    kernel_install.add_argument("--policy", help="preset name or .toml file every cell runs with")
    kernel_install.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override one policy setting"
    )
    kernel_install.add_argument("--session", help="run every kernel in this one session")
    kernel_sub.add_parser("uninstall", help="remove the installed kernelspecs")
    run_kernel = kernel_sub.add_parser(
        "run",
        help="run a kernel (what the kernelspecs launch); options: see the kernel docs",
        add_help=False,
    )
    run_kernel.add_argument("kernel_argv", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``wasm-workbench`` script."""
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:2] == ["kernel", "run"]:
        # The kernel's own options (and ipykernel's) pass through untouched.
        from .kernel import launch

        return launch(raw[2:])
    parser = build_parser()
    args = parser.parse_args(raw)
    if args.command is None or args.command == "gui":
        return _launch_gui(smoke_test=getattr(args, "smoke_test", False))
    try:
        status: int = args.handler(args)
        return status
    except PolicyError as exc:
        print(f"wasm-workbench: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SandboxError as exc:
        print(f"wasm-workbench: {exc}", file=sys.stderr)
        return EXIT_HOST_ERROR


def run() -> None:
    """Console-script entry point: :func:`main`, then a clean, immediate exit.

    Every store is freed first; then the process leaves with ``os._exit`` so that
    no native destructor runs while wasmtime's worker threads may still be
    winding down (wasmtime-py can print a "panic in a function that cannot
    unwind" from a tokio worker at interpreter exit).
    """
    status = main()
    from .sandbox._pool import close_all_instances

    close_all_instances()
    # Both are None in a windowed executable (the Windows bundle without a console).
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    run()
