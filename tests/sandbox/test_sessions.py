"""Live sessions: state across turns, limits per turn, restarts, persistence, files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.sandbox import (
    DiskStorage,
    ExecutionPolicy,
    InvalidSessionIdError,
    PathOutsideWorkspaceError,
    RuntimeType,
    SandboxClosedError,
    SandboxEngine,
    SandboxResult,
    Session,
    SessionState,
    SQLiteStorage,
    TrapKind,
    create_session,
    delete_session,
    list_session_files,
    list_sessions,
    open_session,
    prune_sessions,
    read_session_file,
    write_session_file,
)

PY = RuntimeType.PYTHON
JS = RuntimeType.JAVASCRIPT


@pytest.fixture
def make(engine: SandboxEngine, workspace_root: Path) -> Iterator[object]:
    made: list[Session] = []

    def factory(runtime: RuntimeType = PY, **kwargs: object) -> Session:
        kwargs.setdefault("workspace_root", workspace_root)
        session = create_session(runtime, **kwargs)  # type: ignore[arg-type]
        made.append(session)
        return session

    yield factory
    for session in made:
        if session.state not in (SessionState.CLOSED, SessionState.DESTROYED):
            session.close()


def ok(result: SandboxResult) -> SandboxResult:
    assert result.success, result.stderr
    return result


# ---- State across turns


def test_python_state_carries_over(make) -> None:
    s = make(PY)
    ok(s.execute("import math\nr = 2\ndef area(x):\n    return math.pi * x * x"))
    ok(s.execute("f = open('/app/log.txt', 'w')\nf.write('one ')"))
    result = ok(s.execute("f.write('two')\nf.close()\nprint(round(area(r), 3))"))
    assert result.stdout == "12.566\n"
    assert (s.workspace / "log.txt").read_text() == "one two"
    assert result.state_lost is False


def test_javascript_state_carries_over(make) -> None:
    s = make(JS)
    ok(s.execute("var total = 1; let label = 'n'; function twice(v) { return v * 2 }"))
    result = ok(s.execute("total = twice(total + 20); console.log(label, total)"))
    assert result.stdout == "n 42\n"


def test_errors_do_not_lose_state(make) -> None:
    for runtime, define, fail, use in [
        (PY, "x = 5", "1/0", "print(x)"),
        (JS, "var x = 5", "null.y", "console.log(x)"),
    ]:
        s = make(runtime)
        ok(s.execute(define))
        failed = s.execute(fail)
        assert not failed.success and failed.exit_code == 1
        assert failed.state_lost is False
        assert ok(s.execute(use)).stdout == "5\n"


def test_python_exit_in_a_live_turn_keeps_the_interpreter(make) -> None:
    s = make(PY)
    ok(s.execute("y = 1"))
    result = s.execute("import sys\nsys.exit(4)")
    assert result.exit_code == 4 and not result.success
    assert ok(s.execute("print(y)")).stdout == "1\n"


@pytest.mark.parametrize(
    "runtime,loop,use",
    [
        (PY, "while True:\n    pass", "print(x)"),
        (JS, "while (true) {}", "console.log(x)"),
    ],
)
def test_trap_restarts_and_says_state_was_lost(make, runtime, loop, use) -> None:
    s = make(runtime, policy=ExecutionPolicy(fuel_budget=30_000_000))
    ok(s.execute("x = 1" if runtime is PY else "var x = 1"))
    trapped = s.execute(loop)
    assert trapped.trap_kind is TrapKind.OUT_OF_FUEL
    assert trapped.state_lost is True
    assert "state" in trapped.summary() and "lost" in trapped.summary()
    after = s.execute(use)
    assert not after.success  # x is gone: a new interpreter
    assert after.error_guidance is not None
    assert after.error_guidance.error_type in ("NameError", "ReferenceError")
    assert ok(s.execute("print(1)" if runtime is PY else "console.log(1)")).stdout == "1\n"


@pytest.mark.parametrize("runtime", [PY, JS])
def test_auto_persist_restores_after_a_trap(make, runtime) -> None:
    s = make(runtime, auto_persist_globals=True)
    if runtime is PY:
        ok(s.execute("import json\ndata = {'a': [1, 2]}\ncount = 3\ndef helper():\n    return 1"))
        loop, use = "while True:\n    pass", "print(json.dumps(data), count)"
    else:
        ok(s.execute("var data = {a: [1, 2]}; var count = 3; function helper() { return 1 }"))
        loop, use = "while (true) {}", "console.log(JSON.stringify(data), count, helper())"
    trapped = s.execute(loop, policy=s.policy.with_updates(fuel_budget=30_000_000))
    assert trapped.state_lost
    restored = ok(s.execute(use))
    assert "count" in restored.restored_globals and "data" in restored.restored_globals
    if runtime is PY:
        assert restored.stdout == '{"a": [1, 2]} 3\n'
        assert "helper" not in restored.restored_globals
    else:
        assert restored.stdout == '{"a":[1,2]} 3 1\n'


def test_auto_persist_lists_what_it_could_not_save(make) -> None:
    s = make(PY, auto_persist_globals=True)
    result = ok(s.execute("def f():\n    return 1\nclass K:\n    pass\nk = K()\nn = 1"))
    assert {"f", "K", "k"} <= set(result.unsaved_globals)
    assert "n" not in result.unsaved_globals
    assert "Not saved" in result.summary()


def test_saved_state_survives_reopen_in_another_process(make, workspace_root) -> None:
    script = textwrap.dedent(f"""
        from workbench.sandbox import create_session
        root = {str(workspace_root)!r}
        s = create_session('python', auto_persist_globals=True, workspace_root=root)
        r = s.execute("answer = 42\\nitems = ['a', 'b']")
        assert r.success, r.stderr
        print(s.session_id)
        s.close()
    """)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ),
    )
    session_id = done.stdout.strip().splitlines()[-1]
    s = open_session(session_id, workspace_root=workspace_root)
    try:
        result = ok(s.execute("print(answer, items)"))
        assert result.stdout == "42 ['a', 'b']\n"
        assert s.info.turns == 2
    finally:
        s.close()


# ---- Limits, cancel, reset, destroy


def test_each_turn_has_its_own_limits(make) -> None:
    s = make(PY, policy=ExecutionPolicy(fuel_budget=40_000_000))
    for _ in range(3):
        result = ok(s.execute("total = sum(range(10_000))"))
        assert result.fuel_budget == 40_000_000
        assert result.fuel_consumed < 40_000_000


def test_cancel_a_running_turn(make) -> None:
    s = make(PY, policy=ExecutionPolicy(fuel_budget=10**12))
    results: list[SandboxResult] = []
    worker = threading.Thread(target=lambda: results.append(s.execute("while True:\n    pass")))
    worker.start()
    time.sleep(0.3)
    s.cancel()
    worker.join(60)
    assert results[0].trap_kind is TrapKind.CANCELLED
    assert ok(s.execute("print('next')")).stdout == "next\n"


def test_stop_while_the_interpreter_starts_reaches_the_turn(make) -> None:
    # The first execute() starts the interpreter; a Stop sent then must not be
    # lost (it used to be, leaving the loop to run into its deadline).
    s = make(PY, policy=ExecutionPolicy(fuel_budget=10**12, timeout_seconds=120))
    results: list[SandboxResult] = []
    worker = threading.Thread(target=lambda: results.append(s.execute("while True:\n    pass")))
    worker.start()
    deadline = time.monotonic() + 30
    while not s._turn_active and time.monotonic() < deadline:
        time.sleep(0.001)
    s.cancel()
    worker.join(60)
    assert results and results[0].trap_kind is TrapKind.CANCELLED


def test_stop_on_an_idle_session_does_not_end_the_next_turn(make) -> None:
    s = make(PY)
    ok(s.execute("x = 1"))
    s.cancel()
    assert ok(s.execute("print(x)")).stdout == "1\n"


def test_reset_gives_a_fresh_interpreter_and_keeps_files(make) -> None:
    s = make(PY, auto_persist_globals=True)
    ok(s.execute("x = 1\nopen('/app/kept.txt', 'w').write('k')"))
    s.reset()
    result = s.execute("print(x)")
    assert not result.success  # globals are gone, saved ones too
    assert ok(s.execute("print(open('/app/kept.txt').read())")).stdout == "k\n"


def test_destroy_removes_everything(make, workspace_root) -> None:
    s = make(PY)
    ok(s.execute("open('/app/a.txt', 'w').write('a')"))
    folder = workspace_root / s.session_id
    assert folder.exists()
    s.destroy()
    assert not folder.exists()
    assert s.state is SessionState.DESTROYED
    with pytest.raises(SandboxClosedError):
        s.execute("print(1)")
    with pytest.raises(InvalidSessionIdError):
        open_session(s.session_id, workspace_root=workspace_root)


def test_closed_session_reopens_with_its_workspace(make, workspace_root) -> None:
    s = make(JS)
    ok(s.execute("const f = std.open('/app/note.txt', 'w'); f.puts('hi'); f.close();"))
    s.close()
    with pytest.raises(SandboxClosedError):
        s.execute("1")
    again = open_session(s.session_id, workspace_root=workspace_root)
    assert again is not s
    assert again.runtime is JS
    assert ok(again.execute("console.log(std.loadFile('/app/note.txt'))")).stdout == "hi\n"
    again.close()


def test_open_returns_the_same_object_while_open(make, workspace_root) -> None:
    s = make(PY)
    assert open_session(s.session_id, workspace_root=workspace_root) is s


# ---- Concurrency


def _timed(session: Session, code: str, spans: list[tuple[float, float]]) -> None:
    start = time.monotonic()
    ok(session.execute(code))
    spans.append((start, time.monotonic()))


def test_different_sessions_run_concurrently(make) -> None:
    a, b = make(PY), make(PY)
    ok(a.execute("1"))
    ok(b.execute("1"))
    spans: list[tuple[float, float]] = []
    threads = [
        threading.Thread(target=_timed, args=(s, "import time\ntime.sleep(0.6)", spans))
        for s in (a, b)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (s1, e1), (s2, e2) = spans
    assert max(s1, s2) < min(e1, e2)  # the two turns overlapped in time


def test_turns_on_one_session_run_one_after_another(make) -> None:
    s = make(PY)
    ok(s.execute("1"))
    spans: list[tuple[float, float]] = []
    threads = [
        threading.Thread(target=_timed, args=(s, "import time\ntime.sleep(0.3)", spans))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Both threads asked at about the same time; serialized, the two 0.3 s turns
    # take at least 0.6 s from the first request to the last answer.
    assert max(end for _, end in spans) - min(start for start, _ in spans) >= 0.55


# ---- Identity and metadata


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "a/b", "a\\b", "x\x00", "/abs", "a" * 200])
def test_invalid_ids_create_nothing(engine, workspace_root, bad) -> None:
    with pytest.raises(InvalidSessionIdError):
        create_session("python", session_id=bad, workspace_root=workspace_root)
    assert list(workspace_root.iterdir()) == []
    with pytest.raises(InvalidSessionIdError):
        open_session(bad, workspace_root=workspace_root)
    with pytest.raises(InvalidSessionIdError):
        read_session_file(bad, "x.txt", workspace_root=workspace_root)
    with pytest.raises(InvalidSessionIdError):
        delete_session(bad, workspace_root=workspace_root)


def test_uuid_only_option_and_duplicates(make) -> None:
    with pytest.raises(InvalidSessionIdError):
        make(PY, session_id="named", allow_non_uuid=False)
    s = make(PY, session_id="named")
    with pytest.raises(InvalidSessionIdError, match="already exists"):
        make(PY, session_id="named")
    assert s.session_id == "named"


def test_metadata_is_beside_the_workspace_and_out_of_guest_reach(make, workspace_root) -> None:
    s = make(PY, auto_persist_globals=True)
    ok(s.execute("x = 1"))
    assert s.info.turns == 1
    attack = (
        "import os\nfor p in ['/app/../session.json', '../session.json', '/app/../state.bin']:\n"
        "    try:\n        open(p, 'w').write('garbage')\n        print('WROTE', p)\n"
        "    except OSError:\n        print('DENIED')"
    )
    result = ok(s.execute(attack))
    assert "WROTE" not in result.stdout
    s.close()  # metadata is written in the background; close() flushes it
    meta = json.loads((workspace_root / s.session_id / "session.json").read_text())
    assert meta["turns"] == 2 and meta["runtime"] == "python" and meta["total_fuel"] > 0
    assert not (s.workspace / "session.json").exists()
    again = open_session(s.session_id, workspace_root=workspace_root)
    assert ok(again.execute("print(x)")).stdout == "1\n"
    again.close()


def test_damaged_metadata_still_opens(make, workspace_root) -> None:
    s = make(PY)
    ok(s.execute("1"))
    s.close()
    (workspace_root / s.session_id / "session.json").write_text("{not json")
    again = open_session(s.session_id, workspace_root=workspace_root)
    assert ok(again.execute("print(2)")).stdout == "2\n"
    again.close()


def test_list_sessions(make, workspace_root) -> None:
    a, b = make(PY), make(JS)
    ok(a.execute("1"))
    infos = {info.session_id: info for info in list_sessions(workspace_root=workspace_root)}
    assert set(infos) == {a.session_id, b.session_id}
    assert infos[a.session_id].turns == 1 and infos[b.session_id].runtime is JS


# ---- Session files


def test_session_file_helpers(make, workspace_root) -> None:
    s = make(PY)
    blob = bytes(range(256)) * 4
    write_session_file(s.session_id, "data/blob.bin", blob, workspace_root=workspace_root)
    read = read_session_file(s.session_id, "/app/data/blob.bin", workspace_root=workspace_root)
    assert read == blob
    result = ok(s.execute("print(len(open('/app/data/blob.bin', 'rb').read()))"))
    assert result.stdout == "1024\n"
    paths = [f.path for f in list_session_files(s.session_id, workspace_root=workspace_root)]
    assert paths == ["data", "data/blob.bin"]
    s.delete_file("data")
    assert s.list_files() == []


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../x", "/app/../../x", "C:/x"])
def test_session_files_refuse_traversal(make, path) -> None:
    s = make(PY)
    with pytest.raises(PathOutsideWorkspaceError):
        s.write_file(path, b"x")
    with pytest.raises(PathOutsideWorkspaceError):
        s.read_file(path)


def test_session_files_never_follow_guest_symlinks(make, workspace_root) -> None:
    secret = workspace_root.parent / "host-secret.txt"
    secret.write_text("top secret")
    s = make(PY)
    # The guest can't make a link leading out (EPERM); one planted on the host
    # between turns is what the host-side file API still has to face.
    guest = s.execute("import os\nos.symlink('../../../host-secret.txt', '/app/link')")
    assert not guest.success and "PermissionError" in guest.stderr
    assert guest.error_guidance is not None
    assert guest.error_guidance.error_type == "LinkOutsideWorkspace"
    ok(s.execute("import os\nos.makedirs('/app/d/e')\nos.symlink('..', '/app/d/up')"))
    planted = {
        "link": secret,  # absolute
        "rel": Path("../../host-secret.txt"),  # relative, out
        "dotdot": Path(".."),
        "d/chain": Path("up/../../host-secret.txt"),  # through d/up -> ..
    }
    for name, target in planted.items():
        os.symlink(target, s.workspace / name)
    for name in planted:
        with pytest.raises(PathOutsideWorkspaceError) as refused:
            s.read_file(name)
        assert "top secret" not in str(refused.value)
        with pytest.raises(PathOutsideWorkspaceError):
            s.write_file(name, b"x")
    with pytest.raises(PathOutsideWorkspaceError):
        s.read_file("dotdot/host-secret.txt")
    kinds = {f.path: f.kind for f in s.list_files()}
    assert {kinds[name] for name in planted} == {"symlink"}
    assert "dotdot/host-secret.txt" not in kinds
    s.delete_file("link")
    assert secret.read_text() == "top secret"
    # The next turn removes the rest and says so.
    result = ok(s.execute("print('hi')"))
    assert result.links_removed == ["d/chain", "dotdot", "rel"]
    assert secret.read_text() == "top secret"


def test_session_rename_cannot_make_a_link_lead_out(make) -> None:
    s = make(PY)
    ok(
        s.execute(
            "import os\nos.makedirs('/app/d/e')\nopen('/app/ok.txt', 'w').write('ok')\n"
            "os.symlink('../../ok.txt', '/app/d/e/l')"
        )
    )
    # Moving the folder one level up would make d/e/l lead out of the workspace.
    with pytest.raises(PathOutsideWorkspaceError, match="symbolic link"):
        s.rename_file("d/e", "e")
    assert os.readlink(s.workspace / "d" / "e" / "l") == "../../ok.txt"
    s.rename_file("d/e", "d/f")  # same depth: still inside
    assert ok(s.execute("print(open('/app/d/f/l').read())")).stdout == "ok\n"


# ---- Pruning


def test_prune(make, workspace_root) -> None:
    old, newer, running = make(PY), make(PY), make(PY)
    for s in (old, newer):
        ok(s.execute("1"))
        s.close()
    ok(running.execute("1"))
    meta = workspace_root / old.session_id / "session.json"
    data = json.loads(meta.read_text())
    data["last_used"] -= 3600 * 24 * 30
    meta.write_text(json.dumps(data))
    dry = prune_sessions(max_age=3600, dry_run=True, workspace_root=workspace_root)
    assert dry.deleted == [old.session_id] and dry.bytes_freed >= 0 and dry.dry_run
    assert (workspace_root / old.session_id).exists()
    everything = prune_sessions(max_age=0, workspace_root=workspace_root)
    assert set(everything.deleted) == {old.session_id, newer.session_id}
    assert running.session_id in everything.skipped  # open here: never pruned
    assert (workspace_root / running.session_id).exists()
    assert not (workspace_root / old.session_id).exists()


def test_prune_keeps_the_newest(make, workspace_root) -> None:
    sessions = [make(PY) for _ in range(3)]
    for s in sessions:
        ok(s.execute("1"))
        s.close()
        time.sleep(0.01)
    result = prune_sessions(keep=1, workspace_root=workspace_root)
    assert set(result.deleted) == {sessions[0].session_id, sessions[1].session_id}


# ---- Audit log


def test_audit_log_records_events_without_output(make) -> None:
    s = make(PY)
    ok(s.execute("import sys\nsys.stderr.write('E' * 10_000)\nprint('O' * 10_000)"))
    s.execute("while True:\n    pass", policy=s.policy.with_updates(fuel_budget=20_000_000))
    events = s.audit_events()
    names = [e["event"] for e in events]
    assert names[0] == "session.created"
    assert names.count("execution.start") == 2 and names.count("execution.complete") == 2
    start = next(e for e in events if e["event"] == "execution.start")
    assert len(start["code_sha256"]) == 64
    complete = [e for e in events if e["event"] == "execution.complete"]
    assert len(complete[0]["stderr_excerpt"]) <= 200
    assert complete[1]["limits_hit"][0] == "out_of_fuel"
    assert "O" * 300 not in json.dumps(events)


# ---- Storage adapters


def test_sqlite_storage_backs_a_session(engine, tmp_path) -> None:
    storage = SQLiteStorage(tmp_path / "db-root")
    s = create_session("python", storage=storage, auto_persist_globals=True)
    ok(s.execute("open('/app/out.txt', 'w').write('in the db')\nv = 7"))
    assert s.read_file("out.txt") == b"in the db"
    s.close()
    again = open_session(s.session_id, storage=SQLiteStorage(tmp_path / "db-root"))
    assert ok(again.execute("print(open('/app/out.txt').read(), v)")).stdout == "in the db 7\n"
    again.close()


def test_disk_storage_is_the_default(make, workspace_root) -> None:
    s = make(PY)
    assert isinstance(s.storage, DiskStorage)
    assert s.workspace == workspace_root / s.session_id / "workspace"


# ---- Crash safety


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("moment", ["during a turn", "during saves"])
def test_sigkill_leaves_a_session_that_reopens(engine, workspace_root, moment) -> None:
    code = (
        "import time\ntime.sleep(30)"
        if moment == "during a turn"
        else "big = list(range(20000))\nn = len(big)"
    )
    script = textwrap.dedent(f"""
        import sys
        from workbench.sandbox import create_session
        root = {str(workspace_root)!r}
        s = create_session('python', auto_persist_globals=True, workspace_root=root)
        s.execute("base = 1")
        print(s.session_id, flush=True)
        while True:
            s.execute({code!r})
    """)
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    ) as proc:
        assert proc.stdout is not None
        session_id = proc.stdout.readline().strip()
        time.sleep(1.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    folder = workspace_root / session_id
    json.loads((folder / "session.json").read_text())  # complete and parseable
    s = open_session(session_id, workspace_root=workspace_root)
    try:
        result = ok(s.execute("print(base)"))
        assert result.stdout == "1\n"
    finally:
        s.close()


def test_session_id_is_the_name_and_id_a_deprecated_alias(
    engine: SandboxEngine, workspace_root: Path
) -> None:
    session = create_session(PY, workspace_root=workspace_root)
    try:
        with pytest.warns(DeprecationWarning, match="session_id"):
            alias = session.id
        assert alias == session.session_id == session.info.session_id
    finally:
        session.close()
