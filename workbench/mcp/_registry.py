"""Which client owns which session, what each is running, and when sessions expire.

The MCP server never hands a client a session it did not create: every tool
looks a session up through :meth:`SessionRegistry.get` with the caller's owner
key (the HTTP client's ``Mcp-Session-Id``, or the one stdio client). An id the
caller does not own is answered exactly like an id that does not exist.

The registry is thread-safe. Executions run on worker threads; listeners
(the workbench's MCP panel) are called on whichever thread an event happens and
must hand the event over to their own thread themselves.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path

from workbench.sandbox import (
    ExecutionPolicy,
    InstallResult,
    RuntimeType,
    SandboxError,
    SandboxResult,
    Session,
    create_session,
    default_workspace_root,
    install_package,
)

__all__ = [
    "CallRecord",
    "ClientError",
    "EventKind",
    "ManagedSession",
    "RegistryEvent",
    "SessionRegistry",
]

log = logging.getLogger("workbench.mcp")

#: Finished calls remembered per session (for the workbench to show).
CALL_HISTORY = 20


class ClientError(ValueError):
    """A tool call asked for something it can't have; the message says what to do."""


class EventKind(enum.StrEnum):
    """What happened in the registry."""

    SESSION_CREATED = "session_created"
    SESSION_ENDED = "session_ended"
    CALL_STARTED = "call_started"
    CALL_FINISHED = "call_finished"


@dataclasses.dataclass
class CallRecord:
    """One execute_code call: what was sent, and how it ended."""

    call_id: str
    session_id: str
    owner: str
    code: str
    started: float
    finished: float | None = None
    result: SandboxResult | None = None
    error: str | None = None
    cancel_requested: bool = False

    @property
    def running(self) -> bool:
        """Whether the call is still executing."""
        return self.finished is None


@dataclasses.dataclass(frozen=True)
class RegistryEvent:
    """A change a listener is told about."""

    kind: EventKind
    session_id: str
    owner: str
    call: CallRecord | None = None


class ManagedSession:
    """A session the server created for one client."""

    def __init__(self, session: Session, owner: str, *, default: bool) -> None:
        self.session = session
        self.owner = owner
        self.default = default
        self.created = time.time()
        self.last_used = time.monotonic()
        self.current: CallRecord | None = None
        self.calls: deque[CallRecord] = deque(maxlen=CALL_HISTORY)
        #: Held while code runs or a package is installed in the session.
        self.busy = threading.Lock()
        self._done = threading.Event()
        self._done.set()

    @property
    def id(self) -> str:
        """The session id (what the client sees)."""
        return self.session.session_id

    @property
    def language(self) -> RuntimeType:
        """The session's runtime."""
        return self.session.runtime

    @property
    def workspace(self) -> Path:
        """The host folder the guest sees as ``/app``."""
        return self.session.workspace


Listener = Callable[[RegistryEvent], None]


class SessionRegistry:
    """Sessions of all clients of one MCP server, keyed by owner."""

    def __init__(
        self,
        *,
        policy: ExecutionPolicy,
        workspace_root: Path | None = None,
        max_sessions_per_client: int = 16,
        max_sessions: int = 256,
        idle_timeout_seconds: float = 1800.0,
        keep_workspaces: bool = False,
    ) -> None:
        self.policy = policy
        self.workspace_root = workspace_root or default_workspace_root()
        self.max_sessions_per_client = max_sessions_per_client
        self.max_sessions = max_sessions
        self.idle_timeout_seconds = idle_timeout_seconds
        self.keep_workspaces = keep_workspaces
        self._lock = threading.RLock()
        self._sessions: dict[str, ManagedSession] = {}
        self._defaults: dict[tuple[str, RuntimeType], str] = {}
        #: The default session each owner used last (file tools without an id use it).
        self._last_default: dict[str, str] = {}
        self._listeners: list[Listener] = []

    # ---- Listeners

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` for every event (on the thread where it happens)."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        with self._lock, contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def _emit(self, event: RegistryEvent) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # a broken listener must not break a tool call
                log.exception("MCP registry listener failed")

    # ---- Sessions

    def create(
        self,
        owner: str,
        language: RuntimeType,
        *,
        auto_persist_globals: bool = False,
        default: bool = False,
    ) -> ManagedSession:
        """Create a session owned by ``owner``.

        Raises
        ------
        ClientError
            When the client (or the server) holds as many sessions as allowed.
        """
        with self._lock:
            owned = sum(1 for managed in self._sessions.values() if managed.owner == owner)
            if owned >= self.max_sessions_per_client:
                raise ClientError(
                    f"This client already has {owned} sessions, the most allowed. "
                    "Destroy one with destroy_session first."
                )
            if len(self._sessions) >= self.max_sessions:
                raise ClientError(
                    "The server holds as many sessions as it allows; try again later."
                )
            session = create_session(
                language,
                policy=self.policy,
                auto_persist_globals=auto_persist_globals,
                workspace_root=self.workspace_root,
                allow_non_uuid=False,
            )
            managed = ManagedSession(session, owner, default=default)
            self._sessions[session.session_id] = managed
        self._emit(RegistryEvent(EventKind.SESSION_CREATED, session.session_id, owner))
        return managed

    def get(self, owner: str, session_id: object) -> ManagedSession:
        """The session ``session_id`` if ``owner`` owns it.

        Raises
        ------
        ClientError
            If there is no such session for this client (including another
            client's session: the two cases can't be told apart).
        """
        if not isinstance(session_id, str) or not session_id:
            raise ClientError("session_id must be a non-empty string from create_session.")
        with self._lock:
            managed = self._sessions.get(session_id)
            if managed is None or managed.owner != owner:
                shown = session_id if len(session_id) <= 64 else session_id[:64] + "..."
                raise ClientError(
                    f"There is no session {shown!r} for this client. Use an id returned by "
                    "create_session on this connection, or leave session_id out to use "
                    "the default session."
                )
            managed.last_used = time.monotonic()
            return managed

    def default(self, owner: str, language: RuntimeType | None) -> ManagedSession:
        """The owner's default session for ``language``, created on first use.

        With ``language`` None: the default session the owner used last, or a
        new Python one.
        """
        with self._lock:
            if language is None:
                last = self._last_default.get(owner)
                if last is not None and last in self._sessions:
                    return self.get(owner, last)
                language = RuntimeType.PYTHON
            sid = self._defaults.get((owner, language))
            if sid is not None and sid in self._sessions:
                managed = self.get(owner, sid)
            else:
                managed = self.create(owner, language, default=True)
                self._defaults[(owner, language)] = managed.id
            self._last_default[owner] = managed.id
            return managed

    def resolve(
        self, owner: str, session_id: str | None, language: RuntimeType | None
    ) -> ManagedSession:
        """The session a call means: an explicit id, else the default one."""
        if session_id is None:
            return self.default(owner, language)
        managed = self.get(owner, session_id)
        if language is not None and language is not managed.language:
            raise ClientError(
                f"Session {managed.id} runs {managed.language.value}, not {language.value}. "
                f"Leave language out, or create a {language.value} session."
            )
        return managed

    def sessions(self, owner: str | None = None) -> list[ManagedSession]:
        """Every session (of ``owner`` if given), oldest first."""
        with self._lock:
            found = [m for m in self._sessions.values() if owner is None or m.owner == owner]
        return sorted(found, key=lambda m: m.created)

    def find(self, session_id: str) -> ManagedSession | None:
        """Any session by id, whoever owns it (for the workbench, never for clients)."""
        with self._lock:
            return self._sessions.get(session_id)

    def destroy(self, owner: str, session_id: str) -> int:
        """Stop and delete one of ``owner``'s sessions; returns the bytes freed."""
        managed = self.get(owner, session_id)
        return self._end(managed, delete=True)

    def end_owner(self, owner: str) -> int:
        """End every session of ``owner`` (the client went away); returns how many."""
        ended = self.sessions(owner)
        for managed in ended:
            self._end(managed, delete=not self.keep_workspaces)
        return len(ended)

    def expire_idle(self, now: float | None = None) -> list[str]:
        """End sessions unused for the idle timeout (never one that is running)."""
        moment = time.monotonic() if now is None else now
        expired = [
            managed
            for managed in self.sessions()
            if managed.current is None and moment - managed.last_used >= self.idle_timeout_seconds
        ]
        for managed in expired:
            log.info(
                "MCP session %s expired after %.0f s idle", managed.id, self.idle_timeout_seconds
            )
            self._end(managed, delete=not self.keep_workspaces)
        return [managed.id for managed in expired]

    def close_all(self) -> None:
        """End every session (the server is stopping)."""
        for managed in self.sessions():
            self._end(managed, delete=not self.keep_workspaces)

    def _end(self, managed: ManagedSession, *, delete: bool) -> int:
        with self._lock:
            if self._sessions.get(managed.id) is not managed:
                return 0
            del self._sessions[managed.id]
            for key, sid in list(self._defaults.items()):
                if sid == managed.id:
                    del self._defaults[key]
            if self._last_default.get(managed.owner) == managed.id:
                del self._last_default[managed.owner]
        freed = 0
        try:
            if delete:
                freed = managed.session.destroy()
            else:
                managed.session.close()
        except (SandboxError, OSError) as exc:
            log.warning("could not end MCP session %s: %s", managed.id, exc)
        self._emit(RegistryEvent(EventKind.SESSION_ENDED, managed.id, managed.owner))
        return freed

    # ---- Executions

    def execute(
        self,
        managed: ManagedSession,
        code: str,
        policy: ExecutionPolicy,
        call: CallRecord | None = None,
        *,
        interactive: bool = False,
        profile: bool = False,
    ) -> SandboxResult:
        """Run ``code`` in ``managed`` (blocking; call from a worker thread)."""
        record = call or self.new_call(managed, code)
        with self._lock:
            managed.current = record
            managed._done.clear()
            managed.last_used = time.monotonic()
        self._emit(RegistryEvent(EventKind.CALL_STARTED, managed.id, managed.owner, record))
        try:
            if record.cancel_requested:
                raise ClientError("The call was cancelled before it started.")
            with managed.busy:
                result = managed.session.execute(
                    code, policy=policy, interactive=interactive, profile=profile
                )
            record.result = result
            return result
        except Exception as exc:
            record.error = str(exc)
            raise
        finally:
            record.finished = time.time()
            with self._lock:
                managed.current = None
                managed.calls.append(record)
                managed.last_used = time.monotonic()
                managed._done.set()
            self._emit(RegistryEvent(EventKind.CALL_FINISHED, managed.id, managed.owner, record))

    def install(self, managed: ManagedSession, spec: str) -> InstallResult:
        """Install a pure-Python package into ``managed`` (blocking; between calls only).

        Raises
        ------
        ClientError
            If code is running in the session.
        PackageError
            If the package can't be installed (the message says why and what to do).
        """
        if not managed.busy.acquire(blocking=False):
            raise ClientError(
                f"Code is running in session {managed.id}; install packages between calls."
            )
        try:
            managed.last_used = time.monotonic()
            return install_package(managed.session, spec)
        finally:
            managed.last_used = time.monotonic()
            managed.busy.release()

    def new_call(self, managed: ManagedSession, code: str) -> CallRecord:
        """A record for a call about to run in ``managed``."""
        return CallRecord(
            call_id=uuid.uuid4().hex,
            session_id=managed.id,
            owner=managed.owner,
            code=code,
            started=time.time(),
        )

    def cancel(self, managed: ManagedSession, call: CallRecord | None = None) -> None:
        """Stop the running call of ``managed`` (or ``call``, if it is that one).

        Keeps asking the session to stop on a helper thread until the call
        ends, so a cancel that lands while the interpreter is still starting
        is not lost.
        """
        if call is not None:
            call.cancel_requested = True
        current = managed.current
        if current is None or (call is not None and current is not call):
            return
        current.cancel_requested = True

        def keep_cancelling() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                managed.session.cancel()
                if managed._done.wait(0.02):
                    return

        threading.Thread(
            target=keep_cancelling, name="wasm-workbench-mcp-cancel", daemon=True
        ).start()
