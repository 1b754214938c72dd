"""Every boundary gets a test that tries to cross it, in both runtimes.

A canary file sits next to the workspace (and its absolute host path is known to
the test); a canary variable sits in the host environment. No trick may show
either to the guest, and the host must stay healthy afterwards.
"""

from __future__ import annotations

import os
import resource
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.sandbox import (
    ExecutionPolicy,
    Mount,
    PolicyError,
    RuntimeType,
    Sandbox,
    SandboxEngine,
    TrapKind,
    create_sandbox,
)

SECRET = "canary-7f3a9c-do-not-leak"


@pytest.fixture
def canary(workspace_root: Path) -> Path:
    path = workspace_root.parent / "canary.txt"
    path.write_text(SECRET)
    return path


@pytest.fixture(autouse=True)
def env_canary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WB_TEST_SECRET", SECRET)


def _sandbox(runtime: RuntimeType, root: Path, **policy: object) -> Sandbox:
    return create_sandbox(runtime, policy=ExecutionPolicy(**policy), workspace_root=root)


@pytest.fixture(params=[RuntimeType.PYTHON, RuntimeType.PYTHON_SCI], ids=str)
def py(
    request: pytest.FixtureRequest, engine: SandboxEngine, workspace_root: Path
) -> Iterator[Sandbox]:
    """Each Python runtime in turn: every Python boundary test runs against both."""
    if request.param is RuntimeType.PYTHON_SCI:
        request.getfixturevalue("sci_engine")
    sb = _sandbox(request.param, workspace_root)
    yield sb
    sb.close()


@pytest.fixture
def js(engine: SandboxEngine, workspace_root: Path) -> Iterator[Sandbox]:
    sb = _sandbox(RuntimeType.JAVASCRIPT, workspace_root)
    yield sb
    sb.close()


def _leaked(result: object) -> bool:
    text = getattr(result, "stdout", "") + getattr(result, "stderr", "")
    return SECRET in text


# ---- Files outside the workspace


PY_READ = """
import os
paths = {paths!r}
for p in paths:
    try:
        with open(p) as f:
            print('READ', p, f.read())
    except Exception as e:
        print('DENIED', p, type(e).__name__)
"""

JS_READ = """
const paths = {paths};
for (const p of paths) {{
  const text = std.loadFile(p);
  console.log(text === null ? 'DENIED ' + p : 'READ ' + p + ' ' + text);
}}
"""


def _escape_paths(canary: Path) -> list[str]:
    return [
        str(canary),  # the host's absolute path
        "/app/../canary.txt",
        "../canary.txt",
        "/app/../../canary.txt",
        "/../canary.txt",
        "/etc/passwd",
        "/proc/self/environ",
        "//canary.txt",
        "/app/./../canary.txt",
        "C:/canary.txt",
        "/app/C:canary.txt",
        "\\\\?\\" + str(canary),
    ]


def test_python_cannot_read_outside_app(py: Sandbox, canary: Path) -> None:
    paths = _escape_paths(canary)
    result = py.execute(PY_READ.format(paths=paths))
    assert result.success, result.stderr
    assert not _leaked(result)
    assert result.stdout.count("DENIED") == len(paths)


def test_javascript_cannot_read_outside_app(js: Sandbox, canary: Path) -> None:
    import json

    paths = _escape_paths(canary)
    result = js.execute(JS_READ.format(paths=json.dumps(paths)))
    assert result.success, result.stderr
    assert not _leaked(result)
    assert result.stdout.count("DENIED") == len(paths)


def test_python_root_listing_shows_only_mounts(py: Sandbox) -> None:
    code = (
        "import os\nfor p in ['/', '/app/..', '..']:\n    try:\n        print(p, os.listdir(p))\n"
        "    except OSError as e:\n        print(p, 'DENIED', e.errno)"
    )
    result = py.execute(code)
    assert "canary" not in result.stdout
    assert "sessions" not in result.stdout


def _links_lead_inside(workspace: Path) -> list[str]:
    """Links in ``workspace`` that a host tool following them would leave it through."""
    root = os.path.realpath(workspace)
    out = []
    for folder, dirs, files in os.walk(workspace):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                real = os.path.realpath(path)
                if real != root and not real.startswith(root + os.sep):
                    out.append(os.path.relpath(path, workspace))
    return out


@pytest.mark.parametrize("runtime", [RuntimeType.PYTHON, RuntimeType.JAVASCRIPT])
def test_symlink_made_by_the_guest_does_not_escape(
    engine: SandboxEngine, workspace_root: Path, canary: Path, runtime: RuntimeType
) -> None:
    sb = _sandbox(runtime, workspace_root)
    if runtime is RuntimeType.PYTHON:
        code = (
            "import os\n"
            f"for target in [{str(canary)!r}, '../canary.txt', '/app/../canary.txt']:\n"
            "    name = '/app/link%d' % len(os.listdir('/app'))\n"
            "    try:\n        os.symlink(target, name)\n    except OSError as e:\n"
            "        print('nolink', e.errno)\n        continue\n"
            "    try:\n        print('READ', open(name).read())\n"
            "    except OSError as e:\n        print('DENIED', e.errno)"
        )
    else:
        # This QuickJS build has no os.symlink; if a future one does, the links
        # it makes must not lead out either.
        code = (
            f"const targets = [{str(canary)!r}, '../canary.txt', '/app/../canary.txt'];\n"
            "if (typeof os.symlink !== 'function') console.log('NOSYMLINK');\n"
            "else targets.forEach((t, i) => {\n  const name = '/app/link' + i;\n"
            "  if (os.symlink(t, name) < 0) { console.log('nolink'); return; }\n"
            "  const text = std.loadFile(name);\n"
            "  console.log(text === null ? 'DENIED' : 'READ ' + text);\n});"
        )
    result = sb.execute(code)
    assert result.success, result.stderr  # the attempt ran to the end
    assert not _leaked(result)
    assert "READ" not in result.stdout
    lines = result.stdout.splitlines()
    if runtime is RuntimeType.PYTHON:
        assert lines == ["nolink 63"] * 3  # EPERM from our path_symlink, for each
    else:
        assert lines == ["NOSYMLINK"] or lines == ["nolink"] * 3
    assert _links_lead_inside(sb.workspace) == []
    sb.close()


PY_LINKS = r"""
import os

def attempt(label, call, *args, **kwargs):
    try:
        call(*args, **kwargs)
        print(label, "made")
    except OSError as e:
        print(label, "refused", e.errno)

os.makedirs("/app/d/e")
open("/app/ok.txt", "w").write("ok")
attempt("relative-out", os.symlink, "../../../canary.txt", "/app/s")
attempt("dotdot", os.symlink, "..", "/app/up")
attempt("absolute-guest", os.symlink, "/app/ok.txt", "/app/abs")
attempt("absolute-host", os.symlink, CANARY, "/app/abs2")
attempt("chain-first", os.symlink, "d/hop", "/app/chain")
attempt("chain-last", os.symlink, "../../canary.txt", "/app/d/hop")
attempt("inside-up", os.symlink, "..", "/app/d/up")
attempt("through-up", os.symlink, "up/../canary.txt", "/app/d/via")
attempt("dangling", os.symlink, "c/../../ok.txt", "/app/d/s2")
attempt("new-hop", os.symlink, "..", "/app/d/c")
attempt("deep", os.symlink, "../../ok.txt", "/app/d/e/l")
attempt("rename-link", os.rename, "/app/d/e/l", "/app/l")
attempt("rename-folder", os.rename, "/app/d/e", "/app/e")
attempt("rename-hop", os.rename, "/app/d/up", "/app/d/c")
attempt("rename-harmless", os.rename, "/app/d/e", "/app/d/f")
attempt("hard-link", os.link, "/app/d/f/l", "/app/hard")
print(open("/app/d/f/l").read(), open("/app/d/up/ok.txt").read())
"""


def test_python_links_leading_out_are_refused(py: Sandbox, canary: Path) -> None:
    result = py.execute(PY_LINKS.replace("CANARY", repr(str(canary))))
    assert result.success, result.stderr
    verdicts = dict(line.split(" ", 1) for line in result.stdout.splitlines()[:-1])
    refused = "refused 63"  # EPERM: Python raises PermissionError
    assert verdicts == {
        "relative-out": refused,
        "dotdot": refused,
        "absolute-guest": refused,  # the host would read it from its own root
        "absolute-host": refused,
        "chain-first": "made",  # dangling, and inside
        "chain-last": refused,  # ...until its next hop would lead out
        "inside-up": "made",  # the workspace root itself
        "through-up": refused,  # up/.. is the root's parent once up is followed
        "dangling": "made",  # c doesn't exist: c/../../ok.txt is /app/ok.txt
        "new-hop": refused,  # c -> .. would send d/s2 out
        "deep": "made",
        "rename-link": refused,  # ../../ok.txt one level lower leads out
        "rename-folder": refused,  # the same, by moving the folder that holds it
        "rename-hop": refused,  # a harmless link renamed into another's path
        "rename-harmless": "made",
        # wasi-libc's link() asks for the link itself, not its target: a copy of
        # ../../ok.txt in /app would lead out.
        "hard-link": refused,
    }
    assert result.stdout.splitlines()[-1] == "ok ok"  # links inside still work
    assert result.links_removed == []  # nothing got past the guard
    assert _links_lead_inside(py.workspace) == []
    assert sorted(p.name for p in py.workspace.rglob("*") if p.is_symlink()) == [
        "chain",
        "l",
        "s2",
        "up",
    ]
    assert canary.read_text() == SECRET


def test_javascript_renames_cannot_make_links_lead_out(js: Sandbox, canary: Path) -> None:
    # This QuickJS build can't make links; the host plants harmless ones.
    work = js.workspace
    (work / "d" / "e").mkdir(parents=True)
    (work / "ok.txt").write_text("ok")
    (work / "d" / "e" / "l").symlink_to("../../ok.txt")
    (work / "d" / "up").symlink_to("..")
    (work / "d" / "s2").symlink_to("x/../../ok.txt")
    code = (
        "for (const [a, b] of [['d/e/l', 'l'], ['d/e', 'e'], ['d/up', 'd/x'], "
        "['d/e', 'd/f']])\n  console.log(a, b, os.rename('/app/' + a, '/app/' + b));\n"
        "console.log(std.loadFile('/app/d/f/l'));"
    )
    result = js.execute(code)
    assert result.success, result.stderr
    assert result.stdout.splitlines() == [
        "d/e/l l -63",  # the link itself: -EPERM
        "d/e e -63",  # the folder holding it
        "d/up d/x -63",  # a harmless link renamed into d/s2's path
        "d/e d/f 0",
        "ok",
    ]
    assert result.links_removed == []
    assert _links_lead_inside(work) == []
    assert canary.read_text() == SECRET


@pytest.mark.parametrize("runtime", [RuntimeType.PYTHON, RuntimeType.JAVASCRIPT])
def test_symlink_planted_on_the_host_does_not_escape(
    engine: SandboxEngine, workspace_root: Path, canary: Path, runtime: RuntimeType
) -> None:
    sb = _sandbox(runtime, workspace_root)
    (sb.workspace / "planted").symlink_to(canary)
    (sb.workspace / "planted-dir").symlink_to(canary.parent, target_is_directory=True)
    (sb.workspace / "inside").symlink_to("planted-dir/..")
    code = (
        "for p in ['/app/planted', '/app/planted-dir/canary.txt']:\n    try:\n"
        "        print('READ', open(p).read())\n    except OSError as e:\n"
        "        print('DENIED', e.errno)"
        if runtime is RuntimeType.PYTHON
        else "for (const p of ['/app/planted', '/app/planted-dir/canary.txt']) {\n"
        "  const t = std.loadFile(p);\n  console.log(t === null ? 'DENIED' : 'READ ' + t);\n}"
    )
    result = sb.execute(code)
    assert not _leaked(result)
    assert result.stdout.count("DENIED") == 2
    # The backstop: links leading out are removed after the run, and named.
    assert result.links_removed == ["inside", "planted", "planted-dir"]
    assert "Removed 3 symbolic link(s) that led out of the workspace" in result.summary()
    assert not any(p.is_symlink() for p in sb.workspace.iterdir())
    assert canary.read_text() == SECRET
    sb.close()


def test_sessions_cannot_see_each_other(engine: SandboxEngine, workspace_root: Path) -> None:
    first = _sandbox(RuntimeType.PYTHON, workspace_root)
    second = _sandbox(RuntimeType.PYTHON, workspace_root)
    assert first.execute("open('/app/mine.txt', 'w').write('" + SECRET + "')").success
    probe = (
        "import os\nprint(os.listdir('/app'))\n"
        f"for p in ['../{first.session_id}/workspace/mine.txt', "
        f"'/app/../../{first.session_id}/workspace/mine.txt']:\n"
        "    try:\n        print(open(p).read())\n    except OSError:\n        print('DENIED')"
    )
    result = second.execute(probe)
    assert not _leaked(result)
    assert "mine.txt" not in result.stdout
    first.close()
    second.close()


def test_read_only_mount(engine: SandboxEngine, workspace_root: Path, tmp_path: Path) -> None:
    data = tmp_path / "input"
    data.mkdir()
    (data / "in.csv").write_text("a,b\n1,2\n")
    policy = ExecutionPolicy(mounts=[Mount(host_path=str(data), guest_path="/data/input")])
    sb = create_sandbox("python", policy=policy, workspace_root=workspace_root)
    code = (
        "print(open('/data/input/in.csv').read().splitlines()[1])\n"
        "try:\n    open('/data/input/new.txt', 'w').write('x')\n    print('WROTE')\n"
        "except OSError as e:\n    print('READONLY', e.errno)\n"
        "try:\n    open('/data/input/in.csv', 'a').write('x')\n    print('APPENDED')\n"
        "except OSError as e:\n    print('READONLY', e.errno)"
    )
    result = sb.execute(code)
    assert result.stdout.splitlines()[0] == "1,2"
    assert "WROTE" not in result.stdout and "APPENDED" not in result.stdout
    assert not (data / "new.txt").exists()
    assert (data / "in.csv").read_text() == "a,b\n1,2\n"
    sb.close()


def test_mount_of_missing_folder_is_refused(engine: SandboxEngine, workspace_root: Path) -> None:
    policy = ExecutionPolicy(mounts=[Mount(host_path="/no/such/folder", guest_path="/data/x")])
    with pytest.raises(PolicyError, match="not a folder"):
        create_sandbox("python", policy=policy, workspace_root=workspace_root)


# ---- Environment


def test_host_environment_is_not_visible(py: Sandbox, js: Sandbox) -> None:
    result = py.execute("import os\nprint(dict(os.environ))")
    assert result.success
    assert not _leaked(result)
    assert "WB_TEST_SECRET" not in result.stdout
    result = js.execute("console.log(JSON.stringify(std.getenviron()))")
    assert result.success, result.stderr
    assert not _leaked(result)


def test_allowlisted_variable_is_passed(engine: SandboxEngine, workspace_root: Path) -> None:
    sb = _sandbox(RuntimeType.PYTHON, workspace_root, env_allowlist=["WB_TEST_SECRET"])
    result = sb.execute("import os\nprint(os.environ.get('WB_TEST_SECRET'))")
    assert result.stdout.strip() == SECRET
    sb.close()


def test_interpreter_steering_variables_are_refused() -> None:
    with pytest.raises(ValueError, match="PYTHONPATH"):
        ExecutionPolicy(env={"PYTHONPATH": "/app"})


# ---- Network and processes


def test_python_sockets_fail_cleanly(py: Sandbox) -> None:
    code = (
        "import socket\ns = socket.socket()\ntry:\n    s.connect(('127.0.0.1', 80))\n"
        "    print('CONNECTED')\nexcept OSError as e:\n    print('NO NETWORK', e.errno)\n"
        "import urllib.request\ntry:\n    urllib.request.urlopen('http://127.0.0.1:1/')\n"
        "    print('FETCHED')\nexcept Exception as e:\n    print('NO HTTP', type(e).__name__)"
    )
    result = py.execute(code, policy=py.policy.with_updates(fuel_budget=20_000_000_000))
    assert "CONNECTED" not in result.stdout and "FETCHED" not in result.stdout
    assert "NO NETWORK" in result.stdout or "socket" in result.stderr


def test_python_uncaught_network_error_gets_guidance(py: Sandbox) -> None:
    result = py.execute(
        "import socket\nsocket.create_connection(('example.com', 80))",
        policy=py.policy.with_updates(fuel_budget=20_000_000_000),
    )
    assert not result.success
    assert result.error_guidance is not None
    assert result.error_guidance.error_type == "NetworkUnavailable"


def test_python_processes_fail_cleanly(py: Sandbox) -> None:
    code = (
        "import os, subprocess\nprint(hasattr(os, 'system'), hasattr(os, 'fork'))\n"
        "try:\n    subprocess.run(['ls'])\n    print('SPAWNED')\nexcept OSError as e:\n"
        "    print('NO PROCESSES', e.errno)"
    )
    result = py.execute(code, policy=py.policy.with_updates(fuel_budget=20_000_000_000))
    assert result.stdout.splitlines()[0] == "False False"
    assert "SPAWNED" not in result.stdout
    assert "NO PROCESSES" in result.stdout


def test_javascript_has_no_network_or_processes(js: Sandbox) -> None:
    code = (
        "console.log(typeof fetch, typeof XMLHttpRequest, typeof require);\n"
        "let r;\ntry { r = os.exec(['ls']); } catch (e) { r = 'threw ' + e.name; }\n"
        "console.log('exec', r);"
    )
    result = js.execute(code)
    assert result.stdout.splitlines()[0] == "undefined undefined undefined"
    assert result.stdout.splitlines()[1] != "exec 0"


# ---- What reaches results


def test_no_host_paths_or_backtraces_in_results(py: Sandbox, js: Sandbox) -> None:
    for sb, code in [
        (py, "open('/nope/x')"),
        (py, "while True: pass"),
        (js, "function f(){ return f() + 1 }\nf()"),
        (js, "std.loadFile(null).x"),
    ]:
        result = sb.execute(code, policy=sb.policy.with_updates(fuel_budget=10_000_000))
        shown = result.stdout + result.stderr + result.trap_message + result.summary()
        assert str(sb.workspace) not in shown
        assert sys.prefix not in shown
        assert "wasm backtrace" not in shown
        assert "rust" not in shown.lower()


def test_guest_cannot_reach_the_control_channel(py: Sandbox) -> None:
    code = "import os, posix\nprint(hasattr(os, 'sched_yield'), hasattr(posix, 'sched_yield'))"
    result = py.execute(code)
    assert result.stdout.strip() == "False False"


def test_guest_reading_fd0_sees_end_of_file(py: Sandbox) -> None:
    result = py.execute("import os\nprint(repr(os.read(0, 100)))")
    assert result.stdout.strip() == "b''"


# ---- Resource bombs leave the host healthy


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss units differ")
def test_output_flood_keeps_host_memory_bounded(py: Sandbox) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    code = "chunk = 'y' * 1_000_000\nfor _ in range(200):\n    print(chunk)"
    result = py.execute(code, policy=py.policy.with_updates(stdout_max_bytes=4096))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert result.stdout_total_bytes >= 200_000_000
    assert len(result.stdout_bytes) == 4096
    assert (after - before) < 100 * 1024  # far below the 200 MB the guest printed


def test_many_bombs_in_a_row_then_normal_work(py: Sandbox, js: Sandbox) -> None:
    bombs = [
        (py, "x = ' ' * (2**30)"),
        (py, "a = []\nwhile True:\n    a.append('x' * 10**6)"),
        (py, "def f(): return f()\nf()"),
        (js, "let s = 'x'; while (true) s += s;"),
        (js, "function f(){ return f() + 1 }\nf()"),
    ]
    for sb, code in bombs:
        result = sb.execute(
            code,
            policy=sb.policy.with_updates(
                memory_bytes=64 * 1024 * 1024, fuel_budget=20_000_000_000, timeout_seconds=10
            ),
        )
        assert not result.success
        assert result.trap_kind is not TrapKind.HOST_ERROR, result.trap_message
    assert py.execute("print(6 * 7)").stdout == "42\n"
    assert js.execute("console.log(6 * 7)").stdout == "42\n"


def test_files_left_open_do_not_leak_host_descriptors(
    engine: SandboxEngine, workspace_root: Path
) -> None:
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("listing open descriptors needs /proc/self/fd")
    import time

    def files_held_open(folder: Path) -> list[str]:
        held = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue  # closed meanwhile
            if target.startswith(str(folder) + os.sep):
                held.append(target)
        return held

    code = "fs = [open(f'/app/f{i}', 'w') for i in range(100)]"
    with create_sandbox(RuntimeType.PYTHON, workspace_root=workspace_root, warm=False) as py:
        policy = py.policy.with_updates(max_open_files=128)
        for _ in range(3):
            assert py.execute(code, policy=policy).success
        # The guest left 100 files open each time: once its instance is gone (its
        # thread frees the store just after the turn), none may stay open here.
        deadline = time.monotonic() + 5
        while files_held_open(py.workspace) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert files_held_open(py.workspace) == []


_LATE_SIGNAL_HANDLER = """
import faulthandler, sys
from workbench.sandbox import RuntimeType, create_sandbox, get_engine
get_engine().module(RuntimeType.JAVASCRIPT)
with create_sandbox(RuntimeType.JAVASCRIPT) as sandbox:
    # Something else in the process installs SIGSEGV/SIGBUS handlers after the
    # engine exists (an embedding app, a debugger, faulthandler).
    faulthandler.enable()
    runaway = "function f(n) { return f(n + 1) + 1; } f(0);"
    # Deep recursion runs QuickJS's shadow stack out of linear memory: an
    # out-of-bounds access, which must stay a trap of that run.
    print(sandbox.execute(runaway).trap_kind.value)
    oob = "new Int32Array(new ArrayBuffer(8))[0]; console.log('ok')"
    print(sandbox.execute(oob).stdout.strip())
"""


@pytest.mark.slow
def test_explicit_traps_survive_a_signal_handler_installed_later(
    engine: SandboxEngine, tmp_path: Path
) -> None:
    # With WASM_WORKBENCH_EXPLICIT_TRAPS=1 guest traps don't go through signal
    # handlers, so one installed after the engine can't turn a trap into a crash.
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-c", _LATE_SIGNAL_HANDLER],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={
            **os.environ,
            "WASM_WORKBENCH_DATA_DIR": str(tmp_path),
            "WASM_WORKBENCH_EXPLICIT_TRAPS": "1",
        },
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["stack_overflow", "ok"]
