"""Fresh runs' scratch workspaces: removed on close, kept on request, swept after a crash.

The sessions root must hold sessions only: ``create_sandbox()`` without a
session id works in ``<root>/.scratch/<id>`` and leaves nothing behind, and a
folder that isn't a session is neither listed nor warned about on every start.
"""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from workbench.sandbox import (
    RuntimeType,
    SandboxClosedError,
    SandboxEngine,
    WorkspaceError,
    _scratch,
    _sessions,
    create_sandbox,
    create_session,
    list_sessions,
    open_session,
    prune_sessions,
)
from workbench.sandbox._scratch import SCRATCH_DIR, sweep

PY = RuntimeType.PYTHON
JS = RuntimeType.JAVASCRIPT
WRITE = {
    PY: "open('/app/out.txt', 'w').write('data')",
    JS: "const f = std.open('/app/out.txt', 'w'); f.puts('data'); f.close();",
}


def contents(root: Path) -> list[str]:
    return sorted(entry.name for entry in root.iterdir())


# ---- Removed when the sandbox ends


def test_twenty_fresh_sandboxes_leave_nothing_in_the_sessions_root(
    engine: SandboxEngine, workspace_root: Path
) -> None:
    for index in range(20):
        runtime = PY if index % 2 == 0 else JS
        if index % 4 == 3:
            # Dropped without close(): the finalizer removes the folder.
            sandbox = create_sandbox(runtime, workspace_root=workspace_root, warm=False)
            assert sandbox.scratch
            assert sandbox.workspace.parent.parent == workspace_root / SCRATCH_DIR
            assert sandbox.execute(WRITE[runtime]).success
            workspace = sandbox.workspace
            del sandbox
            gc.collect()
            assert not workspace.exists()
            continue
        with create_sandbox(runtime, workspace_root=workspace_root, warm=index < 4) as sandbox:
            result = sandbox.execute(WRITE[runtime])
            assert result.success, result.stderr
            assert result.files_created == ["out.txt"]
            assert (sandbox.workspace / "out.txt").read_text() == "data"
        assert not sandbox.scratch
        assert not sandbox.workspace.exists()
    assert contents(workspace_root) == []
    assert list_sessions(workspace_root=workspace_root) == []


def test_a_session_id_names_a_workspace_that_stays(
    engine: SandboxEngine, workspace_root: Path
) -> None:
    session = create_session(PY, workspace_root=workspace_root)
    session.close()
    with create_sandbox(PY, session_id=session.session_id, workspace_root=workspace_root) as sb:
        assert not sb.scratch
        assert sb.execute(WRITE[PY]).success
        assert sb.keep_as_session() == session.session_id  # nothing to do
    assert (workspace_root / session.session_id / "workspace" / "out.txt").exists()


# ---- Kept on request


def test_keep_as_session_makes_the_scratch_workspace_a_session(
    engine: SandboxEngine, workspace_root: Path
) -> None:
    sandbox = create_sandbox(JS, workspace_root=workspace_root)
    assert sandbox.execute(WRITE[JS]).success
    sid = sandbox.keep_as_session()
    assert sid == sandbox.session_id and not sandbox.scratch
    assert sandbox.workspace == workspace_root / sid / "workspace"
    # The sandbox goes on working in the kept folder.
    again = sandbox.execute("console.log(std.loadFile('/app/out.txt'))")
    assert again.stdout == "data\n"
    sandbox.close()
    assert contents(workspace_root) == [sid]
    (info,) = list_sessions(workspace_root=workspace_root)
    assert info.session_id == sid and info.runtime is JS and info.turns == 1
    session = open_session(sid, workspace_root=workspace_root)
    try:
        assert session.read_file("out.txt") == b"data"
    finally:
        session.close()
    with pytest.raises(SandboxClosedError):
        sandbox.keep_as_session()


def test_a_failed_keep_loses_nothing(engine: SandboxEngine, workspace_root: Path) -> None:
    """Keeping fails (here: the target exists; in life: a full disk): the files stay."""
    sandbox = create_sandbox(PY, workspace_root=workspace_root, warm=False)
    assert sandbox.execute(WRITE[PY]).success
    (workspace_root / sandbox.session_id).mkdir()  # in the way of the move
    scratch_folder = sandbox.workspace.parent
    with pytest.raises(WorkspaceError, match="stay there after the sandbox closes"):
        sandbox.keep_as_session()
    sandbox.close()
    assert (scratch_folder / "workspace" / "out.txt").read_text() == "data"
    note = (scratch_folder / _scratch.KEEP_FILE).read_text()
    assert str(scratch_folder / "workspace") in note
    # A later sweep (the owner is gone, the folder is old) leaves it as well.
    old = 1_000_000_000
    os.utime(scratch_folder, (old, old))
    assert sweep(workspace_root, force=True) == []
    assert (scratch_folder / "workspace" / "out.txt").exists()


def test_a_retried_keep_drops_the_marker(engine: SandboxEngine, workspace_root: Path) -> None:
    sandbox = create_sandbox(PY, workspace_root=workspace_root, warm=False)
    assert sandbox.execute(WRITE[PY]).success
    blocker = workspace_root / sandbox.session_id
    blocker.mkdir()
    with pytest.raises(WorkspaceError):
        sandbox.keep_as_session()
    blocker.rmdir()  # the user made room
    sid = sandbox.keep_as_session()
    sandbox.close()
    assert not (workspace_root / sid / _scratch.KEEP_FILE).exists()
    assert (workspace_root / sid / "workspace" / "out.txt").read_text() == "data"


def test_keep_copies_when_the_folder_cannot_be_renamed(
    engine: SandboxEngine, workspace_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = create_sandbox(PY, workspace_root=workspace_root, warm=False)
    assert sandbox.execute(WRITE[PY]).success
    (sandbox.workspace / "link").symlink_to("/etc/passwd")  # copied as a link, not followed
    scratch_folder = sandbox.workspace.parent

    def refuse(source: object, target: object) -> None:
        raise PermissionError("in use")  # as Windows says while a file is open

    monkeypatch.setattr(os, "rename", refuse)
    sid = sandbox.keep_as_session()
    monkeypatch.undo()
    kept = workspace_root / sid / "workspace"
    assert (kept / "out.txt").read_text() == "data"
    assert (kept / "link").is_symlink()
    assert not (workspace_root / sid / "owner.lock").exists()
    assert not sandbox.scratch and sandbox.workspace == kept
    sandbox.close()
    assert not scratch_folder.exists()  # the copy's source went as usual
    assert contents(workspace_root) == [sid]


# ---- Leftovers of a crashed process


def _child(root: Path, then: str) -> subprocess.Popen[str]:
    script = textwrap.dedent(f"""
        import os, sys
        from workbench.sandbox import create_sandbox
        sandbox = create_sandbox('python', workspace_root={str(root)!r}, warm=False)
        (sandbox.workspace / 'precious.txt').write_text('x')
        print(sandbox.workspace, flush=True)
        {then}
    """)
    return subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def test_sweep_removes_a_crashed_process_folder_and_nothing_alive(
    engine: SandboxEngine, workspace_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_scratch, "SWEEP_GRACE_SECONDS", 0.0)
    crashed = _child(workspace_root, "os._exit(1)  # no finalizers, no atexit")
    assert crashed.stdout is not None
    crashed_workspace = Path(crashed.stdout.readline().strip())
    assert crashed.wait(timeout=60) == 1
    for pipe in (crashed.stdin, crashed.stdout):
        assert pipe is not None
        pipe.close()
    assert (crashed_workspace / "precious.txt").exists()  # left behind
    alive = _child(workspace_root, "sys.stdin.readline()")
    assert alive.stdout is not None and alive.stdin is not None
    alive_workspace = Path(alive.stdout.readline().strip())
    session = create_session(PY, workspace_root=workspace_root)
    session.close()
    stray = workspace_root / "not-a-session" / "workspace"
    stray.mkdir(parents=True)
    # The first sandbox in a root sweeps it (sweep() is what it calls).
    assert sweep(workspace_root) == [crashed_workspace.parent]
    with create_sandbox(PY, workspace_root=workspace_root, warm=False) as mine:
        assert sweep(workspace_root, force=True) == []
        assert mine.workspace.exists()  # this process's own live scratch
    try:
        assert (alive_workspace / "precious.txt").exists()  # another live process's
        assert (workspace_root / session.session_id / "workspace").is_dir()
        assert stray.is_dir()  # sweeping never looks outside .scratch
    finally:
        alive.stdin.close()
        assert alive.wait(timeout=60) == 0
        alive.stdout.close()
    # The live child ended normally: its sandbox's finalizer removed its folder.
    assert not alive_workspace.parent.exists()


# ---- Only sessions are listed


def test_a_stray_folder_is_not_listed_and_reported_once(
    engine: SandboxEngine, workspace_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    session = create_session(PY, workspace_root=workspace_root)
    (workspace_root / "0b6d3c8e-5a4f-4c4e-9d57-2f0c9a4f3b11" / "workspace").mkdir(parents=True)
    (workspace_root / "0b6d3c8e-5a4f-4c4e-9d57-2f0c9a4f3b11" / "audit.jsonl").write_text("")
    caplog.set_level(logging.WARNING, logger="workbench.sandbox.sessions")
    for _ in range(3):
        ids = [info.session_id for info in list_sessions(workspace_root=workspace_root)]
        assert ids == [session.session_id]
    said = [r.getMessage() for r in caplog.records if "not a session" in r.getMessage()]
    assert len(said) == 1 and "0b6d3c8e-5a4f-4c4e-9d57-2f0c9a4f3b11" in said[0]
    assert "metadata unreadable" not in caplog.text
    # A new process (a fresh memory of what was said) stays quiet too.
    caplog.clear()
    _sessions._reported.clear()
    list_sessions(workspace_root=workspace_root)
    assert "not a session" not in caplog.text
    # Pruning, like listing, only ever sees sessions.
    session.close()
    assert prune_sessions(max_age=0, workspace_root=workspace_root).deleted == [session.session_id]
    assert (workspace_root / "0b6d3c8e-5a4f-4c4e-9d57-2f0c9a4f3b11" / "workspace").is_dir()


def test_a_session_is_listed_the_moment_it_is_created(
    engine: SandboxEngine, workspace_root: Path
) -> None:
    # Its metadata is on disk at once, not within the deferred writer's delay.
    session = create_session(JS, workspace_root=workspace_root)
    try:
        assert (workspace_root / session.session_id / "session.json").exists()
    finally:
        session.close()


def test_the_scratch_folder_is_never_a_session_id() -> None:
    # list_sessions skips it because no session can be called ".scratch".
    from workbench.sandbox import InvalidSessionIdError, validate_session_id

    with pytest.raises(InvalidSessionIdError):
        validate_session_id(SCRATCH_DIR)
    assert os.sep not in SCRATCH_DIR
