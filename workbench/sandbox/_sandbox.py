"""The execution API: ``create_sandbox(...).execute(code) -> SandboxResult``.

Usage::

    from workbench.sandbox import create_sandbox, ExecutionPolicy, RuntimeType

    with create_sandbox(runtime=RuntimeType.PYTHON) as sandbox:
        result = sandbox.execute("print('hello')")
        print(result.stdout, result.fuel_consumed)

Each :meth:`Sandbox.execute` runs in an instance no earlier code has touched;
the sandbox's workspace (mounted at ``/app``) is what carries over between
executions. For a live interpreter across turns, see sessions.

Without a ``session_id`` the workspace is a scratch folder (see ``_scratch``):
removed when the sandbox closes, or when the process ends if it is dropped
without :meth:`Sandbox.close`, or by a later sandbox if the process crashed.
:meth:`Sandbox.keep_as_session` turns it into a session that stays.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Collection
from pathlib import Path
from types import TracebackType

import platformdirs

from ._engine import APP_NAME, ProgressCallback, SandboxEngine, get_engine
from ._errors import PolicyError, SandboxClosedError, WorkspaceError
from ._events import AuditLog, code_digest, emit, excerpt
from ._fuel import analyze_fuel, find_hotspot
from ._guidance import analyze_error
from ._ids import new_session_id, validate_session_id
from ._instance import Instance, InstanceShape, TurnOutcome, TurnRequest
from ._policy import ExecutionPolicy
from ._pool import InstancePool
from ._result import RuntimeType, SandboxResult, TrapKind
from ._runtimes import new_instance
from ._scratch import KEEP_FILE, LOCK_FILE, ScratchFolder, sweep
from ._storage import remove_host_folder
from ._vendor import (
    guest_mounts_generation,
    python_guest_mounts,
    sci_vendor_mount,
    sci_vendored_import_names,
    vendored_import_names,
)
from ._workspace import Snapshot, diff, scan, scan_after_run

__all__ = ["OutputCallback", "Sandbox", "create_sandbox", "default_workspace_root"]

log = logging.getLogger("workbench.sandbox")

#: ``on_output(stream, chunk)``: stream is "stdout" or "stderr"; called on the
#: instance's thread as the guest writes (only the part kept under the cap).
OutputCallback = Callable[[str, bytes], None]

#: Longest ``SandboxResult.display_value`` kept (characters); the rest is cut.
DISPLAY_VALUE_MAX_CHARS = 64 * 1024

#: Memory this close to the limit at the end of a failed run counts as hitting it.
MEMORY_LIMIT_SLACK = 2 * 1024 * 1024

_shared_pool: InstancePool | None = None
_shared_pool_lock = threading.Lock()


def default_workspace_root() -> Path:
    """Where session folders live (``WASM_WORKBENCH_DATA_DIR`` overrides it)."""
    override = os.environ.get("WASM_WORKBENCH_DATA_DIR")
    base = Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME))
    return base / "sessions"


def shared_pool(engine: SandboxEngine) -> InstancePool:
    """The process-wide instance pool."""
    global _shared_pool
    with _shared_pool_lock:
        if _shared_pool is None:
            _shared_pool = InstancePool(engine)
        return _shared_pool


def create_sandbox(
    runtime: RuntimeType | str = RuntimeType.PYTHON,
    policy: ExecutionPolicy | None = None,
    session_id: str | None = None,
    workspace_root: str | os.PathLike[str] | None = None,
    *,
    allow_non_uuid: bool = True,
    warm: bool = True,
    sci_preload: tuple[str, ...] | None = None,
) -> Sandbox:
    """Create a sandbox for ``runtime`` with its own workspace.

    Parameters
    ----------
    runtime
        ``RuntimeType.PYTHON`` or ``RuntimeType.JAVASCRIPT`` (or their names).
    policy
        Limits for each execution; ``ExecutionPolicy()`` defaults if omitted.
    session_id
        Use the workspace of this session (created if missing). If omitted, the
        sandbox works in a scratch workspace that is removed when it closes;
        :meth:`Sandbox.keep_as_session` keeps it.
    workspace_root
        Folder holding session folders; :func:`default_workspace_root` if omitted.
    allow_non_uuid
        Accept caller-chosen ids that are not UUIDs (validated either way).
    warm
        Start instances ahead of use so executions skip interpreter start-up.
    sci_preload
        python-sci only: the modules its instances import ahead, never charged
        (None: numpy, pandas and pyplot, more with 512 MiB or more; ``()``: none,
        the cheapest instances for code that doesn't use the stack).

    Raises
    ------
    InvalidSessionIdError
        If ``session_id`` is malformed (nothing is created).
    PolicyError
        If the policy names a mount that doesn't exist.
    """
    kind = RuntimeType(runtime)
    sid = (
        new_session_id()
        if session_id is None
        else validate_session_id(session_id, allow_non_uuid=allow_non_uuid)
    )
    root = Path(workspace_root) if workspace_root is not None else default_workspace_root()
    return Sandbox(
        kind,
        policy or ExecutionPolicy(),
        sid,
        root,
        warm=warm,
        scratch=session_id is None,
        sci_preload=sci_preload,
    )


class Sandbox:
    """Runs code in fresh instances against one workspace. Thread-safe.

    Executions on one sandbox run one after another; :meth:`cancel` stops the
    running one from any thread within a few milliseconds.

    With ``scratch=True`` the workspace is ``<root>/.scratch/<id>/workspace``
    and is deleted by :meth:`close` (or when the sandbox is garbage-collected,
    or the process exits); :meth:`keep_as_session` moves it among the sessions
    instead. Otherwise it is ``<root>/<id>/workspace`` and is never deleted here.
    """

    def __init__(
        self,
        runtime: RuntimeType,
        policy: ExecutionPolicy,
        session_id: str,
        workspace_root: Path,
        *,
        warm: bool = True,
        engine: SandboxEngine | None = None,
        scratch: bool = False,
        sci_preload: tuple[str, ...] | None = None,
    ) -> None:
        self.runtime = runtime
        self.policy = policy
        self.session_id = session_id
        self.workspace_root = workspace_root
        #: python-sci: the modules instances import ahead (None: the default).
        self.sci_preload = sci_preload
        self._scratch: ScratchFolder | None = None
        self._kept = False
        if scratch:
            sweep(workspace_root)  # leftovers of crashed processes, once per root
            self._scratch = ScratchFolder.create(workspace_root, session_id)
            folder = self._scratch.folder
        else:
            folder = workspace_root / session_id
        self.workspace = folder / "workspace"
        self.workspace.mkdir(parents=True, exist_ok=True)
        #: Events of this sandbox's executions, beside its workspace (a scratch
        #: workspace's log goes with it; every event is also logged at INFO).
        self.audit = AuditLog(folder / "audit.jsonl")
        self._created = time.time()
        self._runs = 0
        self._fuel = 0
        self.engine = engine or get_engine()
        self.pool = shared_pool(self.engine)
        self.warm = warm
        self._lock = threading.Lock()
        self._current: Instance | None = None
        self._cancel_requested = False
        self._closed = False
        self._shapes: set[InstanceShape] = set()
        # A sandbox dropped without close() must not keep its warm instances (up to
        # ~48 MB and a few dozen file handles per shape) in the shared pool forever.
        weakref.finalize(self, _discard_shapes, self.pool, self._shapes)
        if self._scratch is not None:
            # Dropped without close(): remove the scratch folder then, or at exit.
            weakref.finalize(self, _drop_scratch, self._scratch, self.audit)
        self._shape_cache: tuple[ExecutionPolicy, int, InstanceShape] | None = None
        if warm:
            self.pool.fill(self._shape(policy))

    # ---- Public API

    @property
    def scratch(self) -> bool:
        """Whether the workspace is a scratch folder that :meth:`close` deletes."""
        scratch = self._scratch
        return scratch is not None and scratch.active and not self._kept

    def prepare(self, progress: ProgressCallback | None = None) -> None:
        """Load or compile the runtime now (reporting progress) and warm instances."""
        self.engine.module(self.runtime, progress=progress)
        if self.warm:
            self.pool.fill(self._shape(self.policy))

    def execute(
        self,
        code: str,
        *,
        policy: ExecutionPolicy | None = None,
        on_output: OutputCallback | None = None,
        profile: bool = False,
        figure_svg: bool = False,
    ) -> SandboxResult:
        """Run ``code`` in a never-used instance and return what happened.

        Guest errors and limits come back in the result; this raises only for
        host-side problems. With ``profile=True`` the result's ``profile`` says
        which lines and functions spent the fuel (see :class:`FuelProfile`).
        With ``figure_svg=True`` a runtime that draws (python-sci) also renders
        each figure as SVG into ``Figure.svg``; the guest spends fuel on it
        (charged to the run) and it counts against the figure caps.

        Raises
        ------
        SandboxClosedError
            If the sandbox was closed.
        RuntimeNotAvailableError
            If the runtime binary is missing or fails verification.
        """
        if not isinstance(code, str):
            raise TypeError(f"code must be a str, not {type(code).__name__}")
        policy = policy or self.policy
        with self._lock:
            if self._closed:
                raise SandboxClosedError(
                    "This sandbox was closed. Create a new one with create_sandbox()."
                )
            self._cancel_requested = False
            shape = self._shape(policy)
            baseline = profile_baseline(self.engine, shape) if profile else 0
            if profile and not self.warm:
                instance = new_instance(self.engine, shape)
            elif self.warm:
                instance = self.pool.acquire(shape)
            else:
                instance = new_instance(self.engine, shape)
            self._current = instance
            try:
                if self._cancel_requested:
                    instance.cancel()
                warm_start = instance.ready
                instance.wait_ready()
                if instance.startup_error is not None:
                    raise instance.startup_error
                # After start-up: what the runtime itself wrote while it started
                # (python-sci's matplotlib font cache in /tmp) isn't the user's change.
                before = scan(self.workspace)
                request = turn_request(
                    code,
                    policy,
                    before,
                    fresh=True,
                    on_output=on_output,
                    profile=profile,
                    figure_svg=figure_svg,
                )
                request.profile_baseline = baseline
                emit_start(self.audit, self.session_id, self.runtime, code, policy, fresh=True)
                outcome = instance.run(request)
            finally:
                self._current = None
                instance.close()
            after, links_removed = scan_after_run(self.workspace)
            result = build_result(
                outcome,
                runtime=self.runtime,
                policy=policy,
                session_id=self.session_id,
                startup_fuel=instance.startup_fuel,
                startup_ms=instance.startup_ms,
                warm_start=warm_start,
                changes=diff(before, after),
                links_removed=links_removed,
            )
            emit_complete(self.audit, self.session_id, result)
            self._runs += 1
            self._fuel += result.fuel_consumed
            # Refill last: a start-up begun earlier would compete with this
            # caller's own work for the CPU (two cores here).
            if self.warm and not self._closed:
                self.pool.refill_later(shape)
            return result

    def cancel(self) -> None:
        """Stop the running execution (if any); it ends with trap kind ``cancelled``."""
        self._cancel_requested = True
        current = self._current
        if current is not None:
            current.cancel()

    def keep_as_session(self) -> str:
        """Keep the scratch workspace: make it a session and return its id.

        The folder moves to ``<root>/<session_id>`` with a ``session.json``, so
        :func:`list_sessions` shows it, :func:`open_session` opens it and
        :meth:`close` leaves it; :attr:`workspace` is its new path, and later
        executions use it. A sandbox made with a ``session_id`` is left as it is.

        Raises
        ------
        SandboxClosedError
            If the sandbox was closed (its scratch workspace is gone).
        WorkspaceError
            If the folder could not be moved (it stays a scratch workspace).
        """
        with self._lock:
            if self._closed:
                raise SandboxClosedError(
                    "This sandbox was closed and its scratch workspace removed. "
                    "Call keep_as_session() before close()."
                )
            scratch = self._scratch
            if scratch is None or not self.scratch:
                return self.session_id
            target = self.workspace_root / self.session_id
            # Nothing may hold the folder while it moves (Windows refuses).
            self.audit.close()
            self._discard_warm()
            try:
                # A marker left by an earlier failed attempt doesn't travel along.
                (scratch.folder / KEEP_FILE).unlink(missing_ok=True)
                _move_scratch(scratch, target)
            except OSError as exc:
                reason = (
                    f"Could not keep the scratch workspace {str(scratch.workspace)!r} as "
                    f"session {self.session_id!r} ({exc})."
                )
                try:
                    # Nothing is lost: closing the sandbox now leaves the folder.
                    scratch.mark_kept(reason)
                except OSError:
                    raise WorkspaceError(
                        f"{reason} Its files are still there until the sandbox closes: "
                        "copy them from there, or free disk space and try again."
                    ) from exc
                raise WorkspaceError(
                    f"{reason} Its files stay there after the sandbox closes (nothing "
                    "removes that folder): copy them from there, or free disk space and "
                    "try again."
                ) from exc
            # Imported here: the sessions module builds on this one.
            from ._sessions import adopt_workspace

            adopt_workspace(
                self.workspace_root,
                self.session_id,
                self.runtime,
                self.policy,
                created=self._created,
                turns=self._runs,
                total_fuel=self._fuel,
            )
            # A copied scratch folder (renaming failed) is still removed on close.
            self._kept = True
            self.workspace = target / "workspace"
            self.audit = AuditLog(target / "audit.jsonl")
            emit("session.kept", self.session_id, self.audit, runtime=self.runtime.value)
            if self.warm:
                self.pool.fill(self._shape(self.policy))
            return self.session_id

    def close(self) -> None:
        """Stop any execution and free warm instances. Idempotent.

        A scratch workspace is deleted (see :meth:`keep_as_session`); a session's
        workspace is kept.
        """
        self.cancel()
        with self._lock:
            self._closed = True
            self._discard_warm()
            self.audit.close()
            if self._scratch is not None:
                self._scratch.remove()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- Internals

    def _discard_warm(self) -> None:
        """Free the warm instances (they hold the workspace open)."""
        for shape in self._shapes:
            self.pool.discard(shape)
        self._shapes.clear()
        self._shape_cache = None

    def _shape(self, policy: ExecutionPolicy) -> InstanceShape:
        cached = self._shape_cache
        generation = guest_mounts_generation()
        preload = self.sci_preload if self.runtime is RuntimeType.PYTHON_SCI else None
        if (
            cached is not None
            and cached[0] is policy
            and cached[1] == generation
            and cached[2].preload == preload
        ):
            return cached[2]
        shape = instance_shape(self.runtime, self.workspace, policy, self.sci_preload)
        if cached is not None and cached[2] != shape:
            # Only the shape in use stays warm: another policy's memory limit or
            # environment, or guest mounts that finished building since. Idle
            # instances of every shape ever used would add up (~48 MB per Python one).
            self.pool.discard(cached[2])
            self._shapes.discard(cached[2])
        self._shapes.add(shape)
        self._shape_cache = (policy, generation, shape)
        return shape


def _discard_shapes(pool: InstancePool, shapes: set[InstanceShape]) -> None:
    """Finalizer of a sandbox dropped without close(): takes no lock."""
    for shape in list(shapes):
        pool.discard_later(shape)


def _move_scratch(scratch: ScratchFolder, target: Path) -> None:
    """Move a scratch folder to ``target``: renamed, or copied where renaming fails.

    A copy keeps links as links (never follows them); the scratch folder is then
    removed on close as usual. Raises OSError, leaving the scratch folder as it was.
    """
    if target.exists():
        raise FileExistsError(f"{target} already exists")
    scratch.release()
    try:
        (scratch.folder / LOCK_FILE).unlink(missing_ok=True)
        os.rename(scratch.folder, target)
    except OSError:
        scratch.relock()
    else:
        with contextlib.suppress(OSError):
            scratch.folder.parent.rmdir()  # .scratch, if this was the last one
        return
    try:
        shutil.copytree(
            scratch.folder, target, symlinks=True, ignore=shutil.ignore_patterns(LOCK_FILE)
        )
    except OSError:
        with contextlib.suppress(OSError):
            remove_host_folder(target)
        raise


def _drop_scratch(scratch: ScratchFolder, audit: AuditLog) -> None:
    """Finalizer of a scratch sandbox dropped without close(): its folder goes.

    It may run on any thread (whichever dropped the last reference), so it waits
    for nothing: queued audit events are dropped, not flushed.
    """
    if scratch.active:
        audit.discard()
        scratch.remove()


# ---- Shared by fresh executions and session turns


def instance_shape(
    runtime: RuntimeType,
    workspace: Path,
    policy: ExecutionPolicy,
    preload: tuple[str, ...] | None = None,
) -> InstanceShape:
    """What an instance for ``policy`` fixes at creation (its pool key).

    Raises
    ------
    PolicyError
        If a mount's host folder doesn't exist.
    """
    mounts = []
    for mount in policy.mounts:
        host = Path(mount.host_path).expanduser()
        if not host.is_dir():
            raise PolicyError(
                f"mounts: {mount.host_path} is not a folder on this computer. "
                "Create it or remove the mount."
            )
        mounts.append((str(host.resolve()), mount.guest_path))
    if runtime is RuntimeType.PYTHON:
        # The unpacked stdlib at /data/stdlib and the vendored packages at
        # /data/site-packages (built on first use; a Python guest runs without
        # them if they can't be built, e.g. offline). The first time they are built
        # in the background, so the first run doesn't wait for a download. See _vendor.
        mounts.extend(python_guest_mounts(wait=False))
    elif runtime is RuntimeType.PYTHON_SCI:
        # The vendored packages its zip lacks, compiled for it (see _vendor).
        bundle = sci_vendor_mount(wait=False)
        if bundle is not None:
            mounts.append(bundle)
    return InstanceShape(
        runtime=runtime,
        workspace=str(workspace.resolve()),
        memory_bytes=policy.memory_bytes,
        env=tuple(sorted(policy.guest_environment().items())),
        mounts=tuple(mounts),
        preload=preload if runtime is RuntimeType.PYTHON_SCI else None,
    )


#: Baselines measured so far, per engine and shape (the workspace left out).
_baselines: weakref.WeakKeyDictionary[SandboxEngine, dict[InstanceShape, int]] = (
    weakref.WeakKeyDictionary()
)
_baselines_lock = threading.Lock()
#: The fuel the baseline runs may use (a plain "pass" costs ~0.5 M).
_BASELINE_FUEL = 2_000_000_000


def profile_baseline(engine: SandboxEngine, shape: InstanceShape) -> int:
    """What a profiled fresh run costs beyond a plain one when its code does nothing.

    Most of the profiler's own fuel is measured at its events and given back, but
    the state it leaves behind (code instrumented and then not, the allocator's
    pools) makes the driver's work after the user's code cost ~12 k instructions
    more than in a plain run, which is 2-3 % of a tiny program. The host measures
    it: ``pass`` run plain and profiled in two new interpreters of ``shape`` (a
    profiled one), once per engine and shape; profiled runs get it back at the
    end (:attr:`TurnRequest.profile_baseline`). 0 when the runs don't succeed.

    For JavaScript the profiled empty run matters for another reason: it is the
    process's first profiled run, which compiles the profiler (acorn) to bytecode
    in a throwaway instance, so every profiled run after it loads the same
    bytecode into a context that never saw the source, and spends the same fuel.
    (The JavaScript profiler gives nothing back at the end: its runs leave no
    work behind.)
    """
    if shape.runtime not in (RuntimeType.PYTHON, RuntimeType.JAVASCRIPT):
        return 0
    key = dataclasses.replace(shape, workspace="")
    with _baselines_lock:
        known = _baselines.setdefault(engine, {})
        if key in known:
            return known[key]
        policy = ExecutionPolicy(fuel_budget=_BASELINE_FUEL, timeout_seconds=120.0)
        fuel: list[int] = []
        for profile in (False, True):
            instance = new_instance(engine, shape)
            try:
                instance.wait_ready()
                if instance.startup_error is not None:
                    break
                empty = Snapshot(files={}, entries=0, total_bytes=0, complete=True)
                nothing = "pass\n" if shape.runtime is RuntimeType.PYTHON else ""
                request = turn_request(nothing, policy, empty, fresh=True, profile=profile)
                outcome = instance.run(request)
            finally:
                instance.close()
            if outcome.exit_code != 0 or outcome.trap_kind is not TrapKind.NONE:
                break
            fuel.append(outcome.fuel_consumed)
        found = max(0, fuel[1] - fuel[0]) if len(fuel) == 2 else 0
        known[key] = found
        return found


def turn_request(
    code: str,
    policy: ExecutionPolicy,
    usage: Snapshot,
    *,
    fresh: bool,
    persist: bool = False,
    interactive: bool = False,
    on_output: OutputCallback | None = None,
    profile: bool = False,
    figure_svg: bool = False,
) -> TurnRequest:
    """The per-turn limits of ``policy``, with the workspace usage as quota baseline."""
    return TurnRequest(
        code=code,
        fuel=policy.fuel_budget,
        timeout_seconds=policy.timeout_seconds,
        stdout_max_bytes=policy.stdout_max_bytes,
        stderr_max_bytes=policy.stderr_max_bytes,
        max_open_files=policy.max_open_files,
        workspace_max_bytes=policy.workspace_max_bytes,
        workspace_max_files=policy.workspace_max_files,
        argv=list(policy.argv),
        fresh=fresh,
        persist=persist,
        interactive=interactive,
        value_max=DISPLAY_VALUE_MAX_CHARS,
        profile=profile,
        figure_svg=figure_svg,
        on_output=on_output,
        workspace_bytes_used=usage.total_bytes,
        workspace_entries_used=usage.entries,
    )


def _vendored_names(runtime: RuntimeType) -> Collection[str]:
    """Import names of the bundle ``runtime`` mounts, for error guidance."""
    if runtime is RuntimeType.PYTHON:
        return vendored_import_names()
    if runtime is RuntimeType.PYTHON_SCI:
        return sci_vendored_import_names()
    return ()


def emit_start(
    audit: AuditLog | None,
    session_id: str,
    runtime: RuntimeType,
    code: str,
    policy: ExecutionPolicy,
    **extra: object,
) -> None:
    """Record ``execution.start`` (the code only as its SHA-256 and size)."""
    emit(
        "execution.start",
        session_id,
        audit,
        runtime=runtime.value,
        code_sha256=code_digest(code),
        code_bytes=len(code.encode("utf-8", "surrogatepass")),
        fuel_budget=policy.fuel_budget,
        **extra,
    )


def emit_complete(audit: AuditLog | None, session_id: str, result: SandboxResult) -> None:
    """Record ``execution.complete`` (outcome, cost, limits, a bounded stderr excerpt)."""
    emit(
        "execution.complete",
        session_id,
        audit,
        execution_id=result.execution_id,
        success=result.success,
        trap_kind=result.trap_kind.value,
        exit_code=result.exit_code,
        fuel_consumed=result.fuel_consumed,
        duration_ms=round(result.duration_ms, 3),
        limits_hit=limits_hit(result),
        stderr_excerpt=excerpt(result.stderr),
    )


def new_execution_id() -> str:
    """A fresh id for one execution."""
    return uuid.uuid4().hex


def build_result(
    outcome: TurnOutcome,
    *,
    runtime: RuntimeType,
    policy: ExecutionPolicy,
    session_id: str | None,
    startup_fuel: int = 0,
    startup_ms: float = 0.0,
    warm_start: bool = False,
    changes: object = None,
    state_lost: bool = False,
    guest_failed: bool | None = None,
    unsaved_globals: list[str] | None = None,
    restored_globals: list[str] | None = None,
    untrusted_status: dict[str, object] | None = None,
    links_removed: list[str] | None = None,
) -> SandboxResult:
    """Turn what the host observed into a :class:`SandboxResult`."""
    stdout = outcome.stdout.decode("utf-8", "replace")
    stderr = outcome.stderr.decode("utf-8", "replace")
    trap_kind = outcome.trap_kind
    failed = trap_kind is not TrapKind.NONE or (
        guest_failed if guest_failed is not None else outcome.exit_code not in (0, None)
    )
    if failed and trap_kind in (TrapKind.NONE, TrapKind.HOST_ERROR):
        near_limit = outcome.memory_bytes >= policy.memory_bytes - MEMORY_LIMIT_SLACK
        if near_limit or _reports_out_of_memory(runtime, stderr):
            trap_kind = TrapKind.MEMORY
    success = not failed and not outcome.quota_hit
    created = getattr(changes, "created", [])
    modified = getattr(changes, "modified", [])
    deleted = getattr(changes, "deleted", [])
    guidance = analyze_error(
        runtime=runtime,
        success=success,
        trap_kind=trap_kind,
        stderr=stderr,
        exit_code=outcome.exit_code,
        fuel_budget=policy.fuel_budget,
        memory_limit_bytes=policy.memory_bytes,
        timeout_seconds=policy.timeout_seconds,
        vendored_modules=_vendored_names(runtime),
    )
    fuel = analyze_fuel(
        outcome.fuel_consumed,
        policy.fuel_budget,
        exhausted=trap_kind is TrapKind.OUT_OF_FUEL,
        profile=outcome.profile,
    )
    if guidance is not None and fuel.hot_line is not None and trap_kind is TrapKind.OUT_OF_FUEL:
        hotspot = find_hotspot(outcome.profile, policy.fuel_budget) if outcome.profile else None
        if hotspot is not None:
            guidance = guidance.model_copy(
                update={
                    "explanation": f"{guidance.explanation} {hotspot.sentence}",
                    "fixes": [hotspot.fix, *guidance.fixes],
                    "line": hotspot.line.line,
                }
            )
    display_value, display_truncated = _display_value(untrusted_status)
    # Every field is computed here by the host, with its declared type: skip the
    # validation pass (it is on every run's path).
    return SandboxResult.model_construct(
        execution_id=new_execution_id(),
        runtime=runtime,
        success=success,
        exit_code=outcome.exit_code,
        trap_kind=trap_kind,
        trap_message=outcome.trap_message,
        stdout=stdout,
        stderr=stderr,
        stdout_bytes=outcome.stdout,
        stderr_bytes=outcome.stderr,
        stdout_truncated=outcome.stdout_total > len(outcome.stdout),
        stderr_truncated=outcome.stderr_total > len(outcome.stderr),
        stdout_total_bytes=outcome.stdout_total,
        stderr_total_bytes=outcome.stderr_total,
        fuel_consumed=outcome.fuel_consumed,
        fuel_budget=policy.fuel_budget,
        startup_fuel=startup_fuel,
        memory_used_bytes=outcome.memory_bytes,
        memory_limit_bytes=policy.memory_bytes,
        duration_ms=outcome.duration_ms,
        startup_ms=startup_ms,
        warm_start=warm_start,
        files_created=list(created),
        files_modified=list(modified),
        files_deleted=list(deleted),
        workspace_quota_exceeded=outcome.quota_hit,
        open_files_limit_hit=outcome.open_files_hit,
        links_removed=links_removed or [],
        session_id=session_id,
        state_lost=state_lost,
        unsaved_globals=unsaved_globals or [],
        restored_globals=restored_globals or [],
        display_value=display_value,
        display_value_truncated=display_truncated,
        figures=outcome.figures,
        figures_truncated=outcome.figures_truncated,
        error_guidance=guidance,
        fuel_analysis=fuel,
        profile=outcome.profile,
    )


def _display_value(untrusted_status: dict[str, object] | None) -> tuple[str | None, bool]:
    """The trailing expression's text from a guest status, capped here too."""
    if not untrusted_status:
        return None, False
    value = untrusted_status.get("value")
    if not isinstance(value, str):
        return None, False
    truncated = untrusted_status.get("value_truncated") is True
    # JSON may carry lone surrogates; they can't be encoded later (UTF-8, ZMQ).
    value = value.encode("utf-8", "replace").decode("utf-8")
    if len(value) > DISPLAY_VALUE_MAX_CHARS:
        value, truncated = value[:DISPLAY_VALUE_MAX_CHARS], True
    return value, truncated


def limits_hit(result: SandboxResult) -> list[str]:
    """Names of the limits a result hit, trap kind first (for events)."""
    hits = [
        name
        for name, hit in (
            ("stdout", result.stdout_truncated),
            ("stderr", result.stderr_truncated),
            ("workspace_quota", result.workspace_quota_exceeded),
            ("open_files", result.open_files_limit_hit),
        )
        if hit
    ]
    if result.trap_kind is not TrapKind.NONE:
        hits.insert(0, result.trap_kind.value)
    return hits


def _reports_out_of_memory(runtime: RuntimeType, stderr: str) -> bool:
    """Whether the guest's final error line is its out-of-memory error."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    if not lines:
        return False
    if runtime.language == "python":
        return lines[-1].startswith("MemoryError")
    return any("out of memory" in line for line in lines[-3:])
