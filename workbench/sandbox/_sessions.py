r"""Sessions: a workspace and a live interpreter that stays up between turns.

Usage::

    from workbench.sandbox import create_session, open_session

    session = create_session(runtime="python")
    session.execute("import math\\nr = 2")
    result = session.execute("print(math.pi * r ** 2)")   # variables carry over
    session.write_file("data.csv", b"a,b\\n1,2\\n")       # host-side file helpers
    session.close()

    again = open_session(session.session_id)              # the workspace is still there

Each turn has its own limits from the session's policy and its own
:class:`SandboxResult`. A turn that traps (fuel, memory, timeout, Stop) ends the
interpreter; the result says that in-memory state was lost, and the next turn
starts a new one. With ``auto_persist_globals=True`` the guest saves its
serializable globals after every successful turn (pickle for Python, JSON and
function source for JavaScript); the host keeps those bytes, opaque, outside the
workspace and hands them back to a new interpreter, which restores them itself.
The host never unpickles or evaluates guest data.

On disk (the default :class:`DiskStorage`) a session is ``<root>/<id>/``:
``workspace/`` is what the guest sees at ``/app``; ``session.json`` (metadata),
``state.bin`` (saved globals) and ``audit.jsonl`` (events) sit beside it, out of
the guest's reach. Metadata and state are replaced atomically, so killing the
host at any moment leaves files that open, at worst without the last turn.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import dataclasses
import enum
import logging
import os
import threading
import time
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ._atomic import atomic_write
from ._engine import SandboxEngine, get_engine
from ._errors import InvalidSessionIdError, SandboxClosedError, SandboxError, WorkspaceError
from ._events import AuditLog, emit
from ._ids import new_session_id, validate_session_id
from ._instance import Instance, InstanceShape, TurnOutcome
from ._policy import ExecutionPolicy
from ._result import RuntimeType, SandboxResult, TrapKind
from ._runtimes import new_instance
from ._sandbox import (
    OutputCallback,
    build_result,
    default_workspace_root,
    emit_complete,
    emit_start,
    instance_shape,
    turn_request,
)
from ._storage import DiskStorage, FileInfo, StorageAdapter
from ._variables import VariableInfo, declared_names, parse_variables
from ._vendor import guest_mounts_generation
from ._workspace import diff, scan, scan_after_run

__all__ = [
    "PruneResult",
    "Session",
    "SessionInfo",
    "SessionState",
    "create_session",
    "delete_session",
    "list_session_files",
    "list_sessions",
    "open_session",
    "prune_sessions",
    "read_session_file",
    "reset_session_workspace",
    "write_session_file",
]

log = logging.getLogger("workbench.sandbox.sessions")

METADATA_FILE = "session.json"
STATE_FILE = "state.bin"
AUDIT_FILE = "audit.jsonl"
#: Fuel and wall-clock limit of one introspection (a variables listing of a
#: thousand names costs a few hundred million fuel at most).
INTROSPECT_FUEL = 2_000_000_000
INTROSPECT_TIMEOUT = 10.0
METADATA_VERSION = 1


class SessionState(enum.StrEnum):
    """Where a session is in its life."""

    IDLE = "idle"  # open; no turn running (the interpreter may or may not be up)
    RUNNING = "running"  # a turn is executing
    CLOSED = "closed"  # closed in this process; open_session() opens it again
    DESTROYED = "destroyed"  # workspace and metadata deleted


class SessionInfo(BaseModel):
    """A session's metadata, as stored in ``session.json``."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    runtime: RuntimeType
    created: float
    last_used: float
    turns: int = 0
    total_fuel: int = 0
    state: SessionState = SessionState.IDLE
    auto_persist_globals: bool = False
    policy: ExecutionPolicy = Field(default_factory=ExecutionPolicy)
    storage: str = "disk"
    version: int = METADATA_VERSION


class PruneResult(BaseModel):
    """What :func:`prune_sessions` deleted (or, with ``dry_run``, would delete)."""

    model_config = ConfigDict(frozen=True)

    deleted: list[str]
    bytes_freed: int
    skipped: list[str]  # sessions spared because they are open or running here
    dry_run: bool


class Session:
    """A live session. Thread-safe: turns on one session run one after another.

    Create with :func:`create_session` or :func:`open_session`, not directly.
    """

    def __init__(
        self,
        manager: SessionManager,
        info: SessionInfo,
        *,
        engine: SandboxEngine | None = None,
    ) -> None:
        self.manager = manager
        self.storage = manager.storage
        self.session_id = info.session_id
        self.runtime = info.runtime
        self.policy = info.policy
        self.auto_persist_globals = info.auto_persist_globals
        self.engine = engine or get_engine()
        self._info = info
        self._lock = threading.RLock()
        self._instance: Instance | None = None
        self._instance_shape: InstanceShape | None = None
        # JS top-level let/const/class names declared in this interpreter (they are
        # not properties of globalThis, so the variables listing asks for them).
        self._declared: set[str] = set()
        self._state = SessionState.IDLE
        # A Stop that arrives while execute() is still starting or restoring the
        # interpreter is remembered here and handed to the turn when it starts.
        self._turn_active = False
        self._cancel_requested = False
        self._shape_cache: tuple[ExecutionPolicy, int, InstanceShape] | None = None
        self._meta_dir = self.storage.meta_dir(self.session_id)
        self.audit = AuditLog(self._meta_dir / AUDIT_FILE)
        self.workspace = self.storage.checkout(self.session_id)

    # ---- Properties

    @property
    def id(self) -> str:
        """Deprecated alias of :attr:`session_id` (the name every other API uses)."""
        warnings.warn(
            "Session.id is deprecated; use Session.session_id, as Sandbox, SessionInfo "
            "and SandboxResult do.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.session_id

    @property
    def state(self) -> SessionState:
        """The session's state (see :class:`SessionState`)."""
        return self._state

    @property
    def info(self) -> SessionInfo:
        """Current metadata (turns, fuel, last use, policy...)."""
        return self._info.model_copy(update={"state": self._state})

    @property
    def declared_names(self) -> list[str]:
        """JavaScript top-level let/const/class names run in this interpreter.

        They are not properties of ``globalThis``, so introspectors (variables,
        console completion) are handed them in ``args["names"]``.
        """
        return sorted(self._declared)

    @property
    def interpreter_running(self) -> bool:
        """Whether a live interpreter is up (variables from earlier turns exist)."""
        instance = self._instance
        return instance is not None and instance.ready

    # ---- Turns

    def execute(
        self,
        code: str,
        *,
        policy: ExecutionPolicy | None = None,
        on_output: OutputCallback | None = None,
        interactive: bool = False,
        profile: bool = False,
        figure_svg: bool = False,
    ) -> SandboxResult:
        """Run ``code`` in the session's live interpreter.

        Parameters
        ----------
        code
            The source to run.
        policy
            Limits for this turn; the session's policy if omitted.
        on_output
            ``callback(stream, chunk)`` called as the guest writes (see
            :data:`OutputCallback`).
        interactive
            REPL semantics: when the code ends in an expression, its value is
            shown in ``result.display_value`` (Python: its ``repr``, also bound
            to ``_``; JavaScript: the script's completion value, inspected). A
            trailing ``;`` hides it in Python. Off by default: plain runs are
            unchanged.
        profile
            Record a fuel profile of the turn in ``result.profile`` (see
            :class:`FuelProfile`). A live interpreter keeps its random string-hash
            seed, so two profiles of one turn may differ slightly; fresh runs
            (``Sandbox.execute``) repeat exactly.
        figure_svg
            Have a runtime that draws (python-sci) render each figure as SVG
            too, into ``Figure.svg`` (fuel charged to the turn; it counts
            against the figure caps).

        Raises
        ------
        SandboxClosedError
            If the session was closed or destroyed.
        """
        if not isinstance(code, str):
            raise TypeError(f"code must be a str, not {type(code).__name__}")
        with self._lock:
            self._check_open()
            self._turn_active = True
            try:
                return self._execute_locked(
                    code, policy, on_output, interactive, profile, figure_svg
                )
            finally:
                self._turn_active = False
                self._cancel_requested = False

    def _execute_locked(
        self,
        code: str,
        policy: ExecutionPolicy | None,
        on_output: OutputCallback | None,
        interactive: bool,
        profile: bool,
        figure_svg: bool = False,
    ) -> SandboxResult:
        policy = policy or self.policy
        instance, restored = self._live_instance(policy)
        if self.runtime is RuntimeType.JAVASCRIPT:
            self._declared |= declared_names(code)
        before = scan(self.workspace)
        request = turn_request(
            code,
            policy,
            before,
            fresh=False,
            persist=self.auto_persist_globals,
            interactive=interactive,
            on_output=on_output,
            profile=profile,
            figure_svg=figure_svg,
        )
        emit_start(self.audit, self.session_id, self.runtime, code, policy)
        self._state = SessionState.RUNNING
        # A Stop left on the idle instance must not end this turn; one asked
        # for since execute() began must (cancel() checks RUNNING after it
        # sets the flag, this checks the flag after setting RUNNING).
        instance.forget_cancel()
        if self._cancel_requested:
            instance.cancel()
        try:
            outcome = instance.run(request)
        finally:
            self._state = SessionState.IDLE
        self.storage.checkin(self.session_id)
        after, links_removed = scan_after_run(self.workspace)
        status = outcome.untrusted_status or {}
        unsaved = self._keep_state(status) if self.auto_persist_globals else []
        if not outcome.alive:
            self._drop_instance()
        result = build_result(
            _with_exit_code(outcome, status, self.runtime),
            runtime=self.runtime,
            policy=policy,
            session_id=self.session_id,
            startup_fuel=instance.startup_fuel if restored is not None else 0,
            startup_ms=instance.startup_ms if restored is not None else 0.0,
            warm_start=restored is None,
            changes=diff(before, after),
            state_lost=not outcome.alive,
            guest_failed=_guest_failed(outcome, status),
            unsaved_globals=unsaved,
            restored_globals=restored,
            untrusted_status=status,
            links_removed=links_removed,
        )
        self._record_turn(result)
        return result

    def introspect(
        self, kind: str, args: dict[str, Any] | None = None, *, start: bool = False
    ) -> dict[str, Any] | None:
        """Ask the live interpreter about its state, between turns.

        ``kind`` names a guest-side introspector ("variables"; consoles add their
        own); ``args`` are plain values passed to it. It runs with a fixed small
        budget (:data:`INTROSPECT_FUEL`, :data:`INTROSPECT_TIMEOUT`), waits for a
        running turn to end, and is not a turn: no history, no audit, no turn count.

        Returns the guest's reply (untrusted: check every value's type before use),
        or None when no interpreter is running and ``start`` is false.

        Raises
        ------
        SandboxClosedError
            If the session was closed or destroyed.
        SandboxError
            If the guest can't answer (unknown ``kind``, or the introspector failed);
            if it stopped the interpreter, the session restarts it on the next turn.
        """
        with self._lock:
            self._check_open()
            if not self.interpreter_running and not start:
                return None
            instance, _restored = self._live_instance(self.policy)
            request = turn_request("", self.policy, scan(self.workspace), fresh=False)
            request.op = "introspect"
            request.kind = kind
            request.args = dict(args or {})
            request.fuel = min(request.fuel, INTROSPECT_FUEL)
            request.timeout_seconds = min(request.timeout_seconds, INTROSPECT_TIMEOUT)
            outcome = instance.run(request)
            if not outcome.alive:
                self._drop_instance()
                emit("session.restarted", self.session_id, self.audit, reason="introspection")
                raise SandboxError(
                    f"Looking at the interpreter's {kind} stopped it "
                    f"({outcome.trap_kind.words}); the next run starts a fresh one."
                )
            reply = outcome.untrusted_status or {}
            if reply.get("ok") is not True:
                error = reply.get("error")
                raise SandboxError(
                    f"The interpreter could not answer {kind!r}: "
                    f"{error if isinstance(error, str) else 'malformed reply'}."
                )
            return reply

    def variables(self, *, preview_chars: int = 120) -> list[VariableInfo]:
        """The names the live interpreter holds, with type, size and a short preview.

        Previews are made inside the sandbox by builtins only: no user-defined
        ``__repr__``, ``__len__`` or property runs (JS getters aren't called either).
        Empty when no interpreter is running.
        """
        args: dict[str, Any] = {"preview_chars": int(preview_chars)}
        if self.runtime is RuntimeType.JAVASCRIPT:
            args["names"] = sorted(self._declared)
        reply = self.introspect("variables", args)
        return parse_variables(reply) if reply is not None else []

    def cancel(self) -> None:
        """Stop the running turn, if any (from any thread); it ends as ``cancelled``."""
        if self._turn_active:
            self._cancel_requested = True
        instance = self._instance
        if instance is not None and self._state is SessionState.RUNNING:
            instance.cancel()

    def reset(self) -> None:
        """Start over with a fresh interpreter; the workspace is kept, saved globals dropped."""
        self.cancel()
        with self._lock:
            self._check_open()
            self._drop_instance()
            _writer.discard(self._meta_dir / STATE_FILE)
            with contextlib.suppress(FileNotFoundError):
                (self._meta_dir / STATE_FILE).unlink()
            emit("session.reset", self.session_id, self.audit)

    def close(self) -> None:
        """End the interpreter and release the workspace; the session stays on disk."""
        self.cancel()
        with self._lock:
            if self._state in (SessionState.CLOSED, SessionState.DESTROYED):
                return
            self._drop_instance()
            self.storage.checkin(self.session_id, final=True)
            self._state = SessionState.CLOSED
            self._write_metadata()
            _writer.flush()
            self.audit.close()
            self.manager._forget(self)

    def destroy(self) -> int:
        """Delete the interpreter, the workspace and the metadata. Returns bytes freed."""
        self.cancel()
        with self._lock:
            if self._state is SessionState.DESTROYED:
                return 0
            self._drop_instance()
            _writer.flush()
            self.audit.close()
            emit("session.destroyed", self.session_id, None)
            freed = self.storage.delete(self.session_id)
            self._state = SessionState.DESTROYED
            self.manager._forget(self)
            return freed

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- Files (host side; every path validated by the storage layer)

    def write_file(self, path: str, data: bytes | str) -> None:
        """Write a file into the workspace (text is stored as UTF-8)."""
        self._check_open()
        payload = data.encode("utf-8") if isinstance(data, str) else data
        self.storage.write_file(self.session_id, path, payload)

    def read_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """Read a file from the workspace (never through a symbolic link)."""
        if max_bytes is None:
            return self.storage.read_file(self.session_id, path)
        return self.storage.read_file(self.session_id, path, max_bytes=max_bytes)

    def list_files(self, pattern: str = "**/*") -> list[FileInfo]:
        """Files and folders in the workspace matching ``pattern``, sorted by path."""
        return self.storage.list_files(self.session_id, pattern)

    def delete_file(self, path: str) -> None:
        """Delete a file, link or folder in the workspace."""
        self._check_open()
        self.storage.delete_file(self.session_id, path)

    def rename_file(self, source: str, target: str) -> None:
        """Rename or move a file within the workspace."""
        self._check_open()
        self.storage.rename_file(self.session_id, source, target)

    def reset_workspace(self) -> None:
        """Empty the workspace (the interpreter keeps running)."""
        self._check_open()
        self.storage.reset(self.session_id)

    def audit_events(self) -> list[dict[str, Any]]:
        """Events of this session, oldest first."""
        return self.audit.read()

    # ---- Internals

    def _check_open(self) -> None:
        if self._state in (SessionState.CLOSED, SessionState.DESTROYED):
            raise SandboxClosedError(
                f"Session {self.session_id} is {self._state.value}. "
                + (
                    "Open it again with open_session()."
                    if self._state is SessionState.CLOSED
                    else "Create a new session with create_session()."
                )
            )

    def _shape(self, policy: ExecutionPolicy) -> InstanceShape:
        cached = self._shape_cache
        generation = guest_mounts_generation()
        # A running interpreter keeps the mounts it started with: guest mounts that
        # finished building in the background reach the next interpreter, they
        # don't restart this one.
        if (
            cached is not None
            and cached[0] is policy
            and (cached[1] == generation or self.interpreter_running)
        ):
            return cached[2]
        shape = instance_shape(self.runtime, self.workspace, policy)
        self._shape_cache = (policy, generation, shape)
        return shape

    def _live_instance(self, policy: ExecutionPolicy) -> tuple[Instance, list[str] | None]:
        """The running interpreter, starting one if needed.

        Returns the instance and, when it was just started, the globals restored
        into it (an empty list if none); None when it was already running.
        """
        shape = self._shape(policy)
        current = self._instance
        if current is not None and current.ready and self._instance_shape == shape:
            return current, None
        reason = "start" if current is None else "policy change"
        self._drop_instance()
        instance = new_instance(self.engine, shape)
        instance.wait_ready()
        if instance.startup_error is not None:
            raise instance.startup_error
        self._instance = instance
        self._instance_shape = shape
        restored: list[str] = []
        if self.auto_persist_globals:
            restored = self._restore_state(instance, policy)
        if self._info.turns or reason != "start":
            emit("session.restarted", self.session_id, self.audit, reason=reason, restored=restored)
        return instance, restored

    def _restore_state(self, instance: Instance, policy: ExecutionPolicy) -> list[str]:
        state_path = self._meta_dir / STATE_FILE
        _writer.flush()
        try:
            state = state_path.read_bytes()
        except OSError:
            state = b""
        request = turn_request("", policy, scan(self.workspace), fresh=False)
        request.op = "restore"
        request.state = state
        outcome = instance.run(request)
        status = outcome.untrusted_status or {}
        if not outcome.alive:
            self._drop_instance()
            raise WorkspaceError(
                f"Restoring the saved globals of session {self.session_id} stopped the interpreter "
                f"({outcome.trap_kind.words}). Reset the session to start without them."
            )
        restored = status.get("restored", [])
        return [str(name) for name in restored] if isinstance(restored, list) else []

    def _keep_state(self, untrusted_status: dict[str, Any]) -> list[str]:
        """Store the guest's saved globals (opaque bytes) outside the workspace."""
        untrusted_state = untrusted_status.get("state")
        unsaved = untrusted_status.get("unsaved", [])
        names = [str(name) for name in unsaved] if isinstance(unsaved, list) else []
        if not isinstance(untrusted_state, str):
            return names
        if self.runtime.language == "python":
            try:
                blob = base64.b64decode(untrusted_state, validate=True)
            except ValueError:
                return names
        else:
            blob = untrusted_state.encode("utf-8")
        _writer.write(self._meta_dir / STATE_FILE, blob)
        return names

    def _drop_instance(self) -> None:
        instance = self._instance
        self._instance = None
        self._declared = set()
        self._instance_shape = None
        if instance is not None:
            instance.close()

    def _record_turn(self, result: SandboxResult) -> None:
        emit_complete(self.audit, self.session_id, result)
        self._info = self._info.model_copy(
            update={
                "turns": self._info.turns + 1,
                "total_fuel": self._info.total_fuel + result.fuel_consumed,
                "last_used": time.time(),
            }
        )
        self._write_metadata()

    def _write_metadata(self) -> None:
        info = self.info
        if info.state is SessionState.RUNNING:
            info = info.model_copy(update={"state": SessionState.IDLE})
        _writer.write(
            self._meta_dir / METADATA_FILE, info.model_dump_json(indent=2).encode("utf-8")
        )


def _guest_failed(outcome: TurnOutcome, untrusted_status: dict[str, Any]) -> bool:
    if outcome.exit_code not in (None, 0):
        return True
    return untrusted_status.get("ok") is False


def _with_exit_code(
    outcome: TurnOutcome, untrusted_status: dict[str, Any], runtime: RuntimeType
) -> TurnOutcome:
    """Live Python turns report their exit status through the driver."""
    if outcome.exit_code is not None or outcome.trap_kind is not TrapKind.NONE:
        return outcome
    code = untrusted_status.get("exit")
    if not isinstance(code, int):
        code = 0 if untrusted_status.get("ok") else 1
    return dataclasses.replace(outcome, exit_code=code)


class DeferredWriter:
    """Writes files off the turn's path: the latest bytes per file win.

    Replacing a file durably (fsync + rename) costs milliseconds here, more than
    a whole live turn. Metadata and saved globals are therefore handed to this
    writer, which writes each file atomically within :attr:`delay` seconds.
    Killing the process loses at most the writes still pending (the last turn),
    never a file's consistency. :meth:`flush` waits for everything pending;
    sessions flush on close and before reopening, and at interpreter exit.
    """

    delay = 0.2

    def __init__(self) -> None:
        self._pending: dict[Path, bytes] = {}
        self._cond = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None

    def write(self, path: Path, data: bytes) -> None:
        """Schedule ``data`` to replace ``path``."""
        with self._cond:
            self._pending[path] = data
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="wasm-workbench-writer", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def discard(self, path: Path) -> None:
        """Drop a pending write (the file is about to be deleted)."""
        with self._cond:
            self._pending.pop(path, None)

    def flush(self) -> None:
        """Write everything pending now and wait until it is on disk."""
        with self._cond:
            batch = dict(self._pending)
            self._pending.clear()
            while self._busy:
                self._cond.wait()
            self._busy = True
        try:
            self._write_all(batch)
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    if not self._cond.wait(timeout=30):
                        self._thread = None
                        return
                # Let writes gather for `delay`: later writes notify this
                # condition, so wait until the deadline, not just once.
                deadline = time.monotonic() + self.delay
                while (left := deadline - time.monotonic()) > 0:
                    self._cond.wait(timeout=left)
                while self._busy:
                    self._cond.wait()
                batch = dict(self._pending)
                self._pending.clear()
                self._busy = True
            try:
                self._write_all(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    @staticmethod
    def _write_all(batch: dict[Path, bytes]) -> None:
        for path, data in batch.items():
            try:
                atomic_write(path, data)
            except OSError as exc:  # e.g. the session was deleted meanwhile
                log.warning("could not write %s: %s", path, exc)


_writer = DeferredWriter()


# ---- Manager and module-level API


class SessionManager:
    """The sessions of one storage root, and which of them are open in this process."""

    def __init__(self, storage: StorageAdapter) -> None:
        self.storage = storage
        self._open: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(
        self,
        runtime: RuntimeType | str,
        policy: ExecutionPolicy | None,
        session_id: str | None,
        auto_persist_globals: bool,
        allow_non_uuid: bool = True,
    ) -> Session:
        sid = (
            new_session_id()
            if session_id is None
            else validate_session_id(session_id, allow_non_uuid=allow_non_uuid)
        )
        kind = RuntimeType(runtime)
        with self._lock:
            if sid in self._open or self.storage.exists(sid):
                raise InvalidSessionIdError(
                    f"A session with id {sid!r} already exists. Open it with "
                    "open_session(), or choose another id."
                )
            self.storage.create(sid)
            now = time.time()
            info = SessionInfo(
                session_id=sid,
                runtime=kind,
                created=now,
                last_used=now,
                auto_persist_globals=auto_persist_globals,
                policy=policy or ExecutionPolicy(),
                storage=self.storage.name,
            )
            session = Session(self, info)
            session._write_metadata()
            # On disk now, not within the writer's delay: a folder without
            # metadata is not listed as a session (see _is_session).
            _writer.flush()
            self._open[sid] = session
        emit(
            "session.created",
            sid,
            session.audit,
            runtime=kind.value,
            auto_persist_globals=auto_persist_globals,
        )
        return session

    def open(self, session_id: str, policy: ExecutionPolicy | None = None) -> Session:
        sid = validate_session_id(session_id)
        with self._lock:
            existing = self._open.get(sid)
            if existing is not None:
                return existing
            if not self.storage.exists(sid):
                raise InvalidSessionIdError(
                    f"There is no session {sid!r} in {self.storage.root}. "
                    "Check the id (list_sessions() shows them) or create a new session."
                )
            info = self.read_info(sid)
            if policy is not None:
                info = info.model_copy(update={"policy": policy})
            session = Session(self, info)
            self._open[sid] = session
        emit("session.reopened", sid, session.audit)
        return session

    def read_info(self, session_id: str) -> SessionInfo:
        """Metadata of a session; a missing or damaged file gives defaults, not an error."""
        _writer.flush()
        path = self.storage.meta_dir(session_id) / METADATA_FILE
        try:
            return SessionInfo.model_validate_json(path.read_bytes())
        except (OSError, ValueError) as exc:
            log.warning("session %s: metadata unreadable (%s); using defaults", session_id, exc)
            stamp = _mtime(self.storage.meta_dir(session_id))
            return SessionInfo(
                session_id=session_id,
                runtime=RuntimeType.PYTHON,
                created=stamp,
                last_used=stamp,
                storage=self.storage.name,
            )

    def list(self) -> list[SessionInfo]:
        infos = []
        for sid in self.storage.list_sessions():
            session = self._open.get(sid)
            if session is not None:
                infos.append(session.info)
            elif self._is_session(sid):
                infos.append(self.read_info(sid))
        return infos

    def _is_session(self, sid: str) -> bool:
        """Whether ``sid`` has a ``session.json``; reports other folders once, ever.

        A folder with a workspace but no metadata was not made by
        :func:`create_session` (a fresh run's folder from before scratch
        workspaces, a ``create_sandbox(session_id=...)`` folder, something copied
        in): it is not listed, and one warning names it the first time it is seen.
        The names already reported are kept in ``<root>/.not-sessions``.
        """
        if (self.storage.meta_dir(sid) / METADATA_FILE).exists():
            return True
        _writer.flush()  # a session created a moment ago by another manager here
        if (self.storage.meta_dir(sid) / METADATA_FILE).exists():
            return True
        _report_not_session(self.storage.root, sid)
        return False

    def prune(
        self, max_age: float | timedelta | None, keep: int | None, dry_run: bool
    ) -> PruneResult:
        seconds = max_age.total_seconds() if isinstance(max_age, timedelta) else max_age
        if seconds is not None and seconds < 0:
            raise ValueError("max_age can't be negative")
        if keep is not None and keep < 0:
            raise ValueError("keep can't be negative")
        infos = sorted(self.list(), key=lambda info: info.last_used, reverse=True)
        now = time.time()
        deleted: list[str] = []
        skipped: list[str] = []
        freed = 0
        for index, info in enumerate(infos):
            if keep is not None and index < keep:
                continue
            if seconds is not None and now - info.last_used < seconds:
                continue
            if info.session_id in self._open:
                skipped.append(info.session_id)  # open (maybe running) here: never pruned
                continue
            if dry_run:
                freed += self.storage.usage(info.session_id)[0]
            else:
                emit("session.pruned", info.session_id, None, last_used=info.last_used)
                freed += self.storage.delete(info.session_id)
            deleted.append(info.session_id)
        return PruneResult(deleted=deleted, bytes_freed=freed, skipped=skipped, dry_run=dry_run)

    def _forget(self, session: Session) -> None:
        with self._lock:
            if self._open.get(session.session_id) is session:
                del self._open[session.session_id]

    def close_all(self) -> None:
        for session in list(self._open.values()):
            session.close()


#: File in a sessions root naming the folders already reported as not sessions.
NOT_SESSIONS_FILE = ".not-sessions"
_reported: set[tuple[Path, str]] = set()
_reported_lock = threading.Lock()


def _report_not_session(root: Path, sid: str) -> None:
    """Warn once, ever, that ``root/sid`` is not a session and is not listed."""
    with _reported_lock:
        if (root, sid) in _reported:
            return
        _reported.add((root, sid))
        record = root / NOT_SESSIONS_FILE
        try:
            known = set(record.read_text(encoding="utf-8").split())
        except (OSError, UnicodeDecodeError):
            known = set()
        if sid in known:
            return
        log.warning(
            "%s is not a session (it has no %s), so the sessions list leaves it out. "
            "Delete the folder if you don't need its files; this is said only once.",
            root / sid,
            METADATA_FILE,
        )
        try:
            with record.open("a", encoding="utf-8") as file:
                file.write(sid + "\n")
        except OSError:
            pass


def adopt_workspace(
    root: Path,
    session_id: str,
    runtime: RuntimeType,
    policy: ExecutionPolicy,
    *,
    created: float,
    turns: int = 0,
    total_fuel: int = 0,
) -> SessionInfo:
    """Make the folder ``root/<session_id>`` (a kept scratch workspace) a session.

    Writes its ``session.json`` now, durably: from then on it is listed,
    opened and pruned like any session made by :func:`create_session`.
    """
    info = SessionInfo(
        session_id=session_id,
        runtime=runtime,
        created=created,
        last_used=time.time(),
        turns=turns,
        total_fuel=total_fuel,
        state=SessionState.CLOSED,
        policy=policy,
        storage=DiskStorage.name,
    )
    atomic_write(root / session_id / METADATA_FILE, info.model_dump_json(indent=2).encode("utf-8"))
    return info


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()


_managers: dict[tuple[str, str], SessionManager] = {}
_managers_lock = threading.Lock()


def _manager(
    workspace_root: str | os.PathLike[str] | None, storage: StorageAdapter | None
) -> SessionManager:
    if storage is None:
        root = Path(workspace_root) if workspace_root is not None else default_workspace_root()
        storage_key = ("disk", str(root.resolve()))
    else:
        storage_key = (storage.name, str(storage.root.resolve()))
    with _managers_lock:
        manager = _managers.get(storage_key)
        if manager is None:
            if storage is None:
                storage = DiskStorage(Path(storage_key[1]))
            manager = SessionManager(storage)
            _managers[storage_key] = manager
        return manager


def create_session(
    runtime: RuntimeType | str = RuntimeType.PYTHON,
    policy: ExecutionPolicy | None = None,
    session_id: str | None = None,
    auto_persist_globals: bool = False,
    *,
    workspace_root: str | os.PathLike[str] | None = None,
    storage: StorageAdapter | None = None,
    allow_non_uuid: bool = True,
) -> Session:
    """Create a session with a new workspace and (on first use) a live interpreter.

    Raises
    ------
    InvalidSessionIdError
        If ``session_id`` is malformed or taken (nothing is created).
    """
    return _manager(workspace_root, storage).create(
        runtime, policy, session_id, auto_persist_globals, allow_non_uuid
    )


def open_session(
    session_id: str,
    *,
    policy: ExecutionPolicy | None = None,
    workspace_root: str | os.PathLike[str] | None = None,
    storage: StorageAdapter | None = None,
) -> Session:
    """Open an existing session (the same object if it is already open here).

    Raises
    ------
    InvalidSessionIdError
        If the id is malformed or no such session exists.
    """
    return _manager(workspace_root, storage).open(session_id, policy)


def list_sessions(
    *,
    workspace_root: str | os.PathLike[str] | None = None,
    storage: StorageAdapter | None = None,
) -> list[SessionInfo]:
    """Every session under the root, with its metadata."""
    return _manager(workspace_root, storage).list()


def prune_sessions(
    max_age: float | timedelta | None = None,
    keep: int | None = None,
    dry_run: bool = False,
    *,
    workspace_root: str | os.PathLike[str] | None = None,
    storage: StorageAdapter | None = None,
) -> PruneResult:
    """Delete sessions unused for ``max_age`` (seconds or timedelta), sparing the ``keep`` newest.

    Sessions open in this process are never pruned (they are listed in ``skipped``).
    With ``dry_run`` nothing is deleted; the result says what would be.
    """
    return _manager(workspace_root, storage).prune(max_age, keep, dry_run)


def delete_session(
    session_id: str,
    *,
    workspace_root: str | os.PathLike[str] | None = None,
    storage: StorageAdapter | None = None,
) -> int:
    """Delete a session (closing it first if open here). Returns bytes freed."""
    manager = _manager(workspace_root, storage)
    sid = validate_session_id(session_id)
    session = manager._open.get(sid)
    if session is not None:
        return session.destroy()
    if not manager.storage.exists(sid):
        raise InvalidSessionIdError(f"There is no session {sid!r} to delete.")
    _writer.flush()
    emit("session.destroyed", sid, None)
    return manager.storage.delete(sid)


def _files(
    session_id: str, workspace_root: str | os.PathLike[str] | None, storage: StorageAdapter | None
) -> tuple[StorageAdapter, str]:
    manager = _manager(workspace_root, storage)
    sid = validate_session_id(session_id)
    if not manager.storage.exists(sid):
        raise InvalidSessionIdError(f"There is no session {sid!r}.")
    return manager.storage, sid


def write_session_file(
    session_id: str,
    path: str,
    data: bytes | str,
    *,
    workspace_root: str | os.PathLike[str] | None = None,
    storage: StorageAdapter | None = None,
) -> None:
    """Write a file into a session's workspace."""
    store, sid = _files(session_id, workspace_root, storage)
    store.write_file(sid, path, data.encode("utf-8") if isinstance(data, str) else data)


def read_session_file(
    session_id: str,
    path: str,
    *,
    workspace_root: str | os.PathLike[str] | None = None,
    storage: StorageAdapter | None = None,
) -> bytes:
    """Read a file from a session's workspace."""
    store, sid = _files(session_id, workspace_root, storage)
    return store.read_file(sid, path)


def list_session_files(
    session_id: str,
    pattern: str = "**/*",
    *,
    workspace_root: str | os.PathLike[str] | None = None,
    storage: StorageAdapter | None = None,
) -> list[FileInfo]:
    """List a session's files matching ``pattern``."""
    store, sid = _files(session_id, workspace_root, storage)
    return store.list_files(sid, pattern)


def reset_session_workspace(
    session_id: str,
    *,
    workspace_root: str | os.PathLike[str] | None = None,
    storage: StorageAdapter | None = None,
) -> None:
    """Empty a session's workspace."""
    store, sid = _files(session_id, workspace_root, storage)
    store.reset(sid)


def iter_open_sessions() -> Iterator[Session]:
    """Every session open in this process (all roots)."""
    with _managers_lock:
        managers = list(_managers.values())
    for manager in managers:
        yield from list(manager._open.values())


def close_all_sessions() -> None:
    """Close every open session (metadata written, interpreters ended)."""
    for session in iter_open_sessions():
        with contextlib.suppress(Exception):
            session.close()
    _writer.flush()


# Registered after the instance pool's handler, so it runs first at exit
# (atexit is last-in, first-out): sessions save metadata, then stores are freed.
atexit.register(close_all_sessions)
