"""Interpreter images: fresh Python instances copied from a started interpreter.

The real CPython runtime throughout; each test uses its own shape (a memory
limit no other test uses) so it knows which instance became the image.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import wasmtime

from workbench.sandbox import ExecutionPolicy, RuntimeType, SandboxEngine, TrapKind
from workbench.sandbox import _wasmedit as wasmedit
from workbench.sandbox._image import image_key, registry
from workbench.sandbox._instance import InstanceShape, TurnOutcome
from workbench.sandbox._runtimes import new_instance
from workbench.sandbox._runtimes.python import PythonInstance
from workbench.sandbox._sandbox import turn_request
from workbench.sandbox._workspace import scan

_sizes = itertools.count()


def _shape(workspace: Path) -> InstanceShape:
    # A memory limit of its own makes the shape (and so its image) the test's own.
    return InstanceShape(
        RuntimeType.PYTHON, str(workspace), 96 * 1024 * 1024 + 65536 * next(_sizes)
    )


def _run(
    engine: SandboxEngine, shape: InstanceShape, code: str, **limits: object
) -> tuple[PythonInstance, TurnOutcome]:
    instance = new_instance(engine, shape)
    assert isinstance(instance, PythonInstance)
    assert instance.wait_ready(60) and instance.ready, instance.startup_error
    policy = ExecutionPolicy().with_updates(**limits) if limits else ExecutionPolicy()
    request = turn_request(code, policy, scan(Path(shape.workspace)), fresh=True)
    try:
        return instance, instance.run(request)
    finally:
        instance.close()
        instance.join(10)


@pytest.fixture
def workspace(workspace_root: Path) -> Path:
    folder = workspace_root / "w"
    folder.mkdir()
    return folder


# ---- The binary edit


def test_add_exports_exports_an_existing_global_and_table() -> None:
    wasm = wasmtime.wat2wasm(
        """(module
          (global $sp (mut i32) (i32.const 1024))
          (table 2 funcref)
          (memory (export "memory") 1)
          (func $f (result i32) i32.const 7)
          (elem (i32.const 1) $f))"""
    )
    edited = wasmedit.add_exports(
        bytes(wasm),
        {"sp": (wasmedit.EXPORT_GLOBAL, 0), "table": (wasmedit.EXPORT_TABLE, 0)},
    )
    assert set(wasmedit.exports(edited)) == {"memory", "sp", "table"}
    store = wasmtime.Store()
    instance = wasmtime.Instance(store, wasmtime.Module(store.engine, edited), [])
    exports = instance.exports(store)
    sp, table = exports["sp"], exports["table"]
    assert isinstance(sp, wasmtime.Global) and isinstance(table, wasmtime.Table)
    assert sp.value(store) == 1024
    sp.set_value(store, wasmtime.Val.i32(512))
    assert sp.value(store) == 512
    func = table.get(store, 1)
    assert isinstance(func, wasmtime.Func) and func(store) == 7


def test_add_exports_refuses_what_it_cannot_do() -> None:
    wasm = bytes(wasmtime.wat2wasm('(module (global (export "g") (mut i32) (i32.const 0)))'))
    with pytest.raises(wasmedit.WasmFormatError, match="already exported"):
        wasmedit.add_exports(wasm, {"g": (wasmedit.EXPORT_GLOBAL, 0)})
    with pytest.raises(wasmedit.WasmFormatError, match="out of range"):
        wasmedit.add_exports(wasm, {"h": (wasmedit.EXPORT_GLOBAL, 1)})
    with pytest.raises(wasmedit.WasmFormatError, match="only globals and tables"):
        wasmedit.add_exports(wasm, {"f": (wasmedit.EXPORT_FUNC, 0)})
    with pytest.raises(wasmedit.WasmFormatError):
        wasmedit.add_exports(b"not wasm", {})


def test_the_python_module_is_compiled_image_ready(engine: SandboxEngine) -> None:
    module = engine.module(RuntimeType.PYTHON)
    assert engine.image_ready(module)
    assert not engine.image_ready(engine.module(RuntimeType.JAVASCRIPT))


# ---- Taking and using an image


def test_the_first_instance_becomes_the_image_and_later_ones_copy_it(
    engine: SandboxEngine, workspace: Path
) -> None:
    shape = _shape(workspace)
    sha = engine.specs[RuntimeType.PYTHON].sha256
    assert registry.get(sha, shape) is None
    # The first instance starts CPython, becomes the image, and runs its own
    # turn in a copy of it like every later instance.
    first, outcome = _run(engine, shape, "print('hello')")
    assert first.from_image and outcome.stdout == b"hello\n"
    assert registry.get(sha, shape) is not None
    second, outcome = _run(engine, shape, "print('hello')")
    assert second.from_image
    assert (outcome.stdout, outcome.exit_code, outcome.trap_kind) == (b"hello\n", 0, TrapKind.NONE)
    # Start-up fuel is the image's (spent once), and the copy's turn costs about
    # what the ordinary instance's did.
    assert second.startup_fuel == first.startup_fuel > 50_000_000
    assert outcome.fuel_consumed < 5_000_000
    assert second.startup_ms < first.startup_ms


def test_images_can_be_switched_off(
    engine: SandboxEngine, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shape = _shape(workspace)
    _run(engine, shape, "pass")
    monkeypatch.setenv("WASM_WORKBENCH_IMAGES", "0")
    instance, outcome = _run(engine, shape, "print(1)")
    assert not instance.from_image and outcome.stdout == b"1\n"


def test_a_copy_reports_errors_exits_and_limits_as_usual(
    engine: SandboxEngine, workspace: Path
) -> None:
    shape = _shape(workspace)
    _run(engine, shape, "pass")
    instance, failed = _run(engine, shape, "def f():\n    1/0\nf()")
    assert instance.from_image and failed.exit_code == 1
    assert b'File "<code>", line 2, in f' in failed.stderr
    assert b"ZeroDivisionError: division by zero" in failed.stderr
    _, exited = _run(engine, shape, "import sys\nprint('bye')\nsys.exit(3)")
    assert (exited.exit_code, exited.stdout) == (3, b"bye\n")
    _, spun = _run(engine, shape, "while True:\n    pass", fuel_budget=50_000_000)
    assert spun.trap_kind is TrapKind.OUT_OF_FUEL
    _, slept = _run(engine, shape, "import time\ntime.sleep(5)", timeout_seconds=0.3)
    assert slept.trap_kind is TrapKind.DEADLINE
    _, grew = _run(engine, shape, "x = bytearray(200 * 1024 * 1024)")
    assert grew.exit_code == 1 and b"MemoryError" in grew.stderr


def test_the_same_code_spends_the_same_fuel_from_an_image(
    engine: SandboxEngine, workspace: Path
) -> None:
    shape = _shape(workspace)
    code = "d = {str(i): i for i in range(2000)}\nprint(sum(len(k) for k in set(d)))"
    fuels = {_run(engine, shape, code)[1].fuel_consumed for _ in range(3)}
    assert len(fuels) == 1


def test_a_closed_copy_that_never_ran_ends_cleanly(engine: SandboxEngine, workspace: Path) -> None:
    shape = _shape(workspace)
    _run(engine, shape, "pass")
    instance = new_instance(engine, shape)
    assert isinstance(instance, PythonInstance)
    assert instance.wait_ready(30) and instance.ready and instance.from_image
    instance.close()
    instance.join(10)
    assert not instance._thread.is_alive()
    with pytest.raises(RuntimeError, match="dead"):
        instance.run(turn_request("pass", ExecutionPolicy(), scan(workspace), fresh=True))


# ---- Isolation: nothing of one run reaches the next


def test_nothing_of_one_run_is_visible_to_the_next(engine: SandboxEngine, workspace: Path) -> None:
    shape = _shape(workspace)
    # The first run is on the instance whose interpreter became the image; the
    # others on copies. Each leaves state behind in every way it can, down to
    # breaking the builtins the driver runs the next request's code with.
    leave = (
        "import sys, json, os\n"
        "leak = 'LEAKED-GLOBAL'\n"
        "json.leak = 'LEAKED-ATTRIBUTE'\n"
        "sys.modules['leaky'] = json\n"
        "sys.path.append('/leaky')\n"
        "import builtins; builtins.leak = 1\n"
        "kept = open('/app/kept.txt', 'w')\n"
        "kept.write('x')\n"
        "fd = os.open('/app/raw.txt', os.O_WRONLY | os.O_CREAT)\n"
        "print(kept.fileno(), fd)\n"
        # What the driver itself calls to run the next request's code.
        "builtins.compile = builtins.exec = None\n"
    )
    look = (
        "import sys, os, builtins\n"
        "print(globals().get('leak'), 'json' in sys.modules, 'leaky' in sys.modules,\n"
        "      '/leaky' in sys.path, hasattr(builtins, 'leak'))\n"
        "import json\n"
        "print(getattr(json, 'leak', None))\n"
        "for fd in map(int, sys.argv[1:]):\n"
        "    try:\n"
        "        os.fstat(fd)\n"
        "        print('open', fd)\n"
        "    except OSError:\n"
        "        print('closed', fd)\n"
    )
    for _ in range(2):
        _, left = _run(engine, shape, leave)
        assert left.exit_code == 0, left.stderr
        fds = left.stdout.decode().split()
        instance = new_instance(engine, shape)
        assert instance.wait_ready(30) and instance.from_image
        request = turn_request(look, ExecutionPolicy(), scan(workspace), fresh=True)
        request.argv = fds
        try:
            seen = instance.run(request)
        finally:
            instance.close()
        assert seen.exit_code == 0, seen.stderr
        lines = seen.stdout.decode().splitlines()
        assert lines[0] == "None False False False False"
        assert lines[1] == "None"
        assert lines[2:] == [f"closed {fd}" for fd in fds]


def test_the_image_holds_nothing_from_the_template_workspace(
    engine: SandboxEngine, workspace: Path
) -> None:
    (workspace / "secret_name_4711.py").write_text("SECRET = 'secret-content-4711'\n")
    (workspace / "site-packages").mkdir()
    shape = _shape(workspace)
    instance = new_instance(engine, shape)
    assert instance.wait_ready(30) and instance.ready
    image = registry.get(engine.specs[RuntimeType.PYTHON].sha256, shape)
    instance.close()
    assert image is not None
    # What the image adds to the module's own initial memory (its data segments).
    held = image.memory or b"".join(data for _, data in image.chunks or ())
    assert len(held) > 100_000
    assert b"4711" not in held
    # And a copy in another workspace sees its own files only.
    other = workspace.parent / "other"
    other.mkdir()
    (other / "mine.py").write_text("VALUE = 'mine'\n")
    from dataclasses import replace

    copy_shape = replace(shape, workspace=str(other))
    assert image_key(copy_shape) == image_key(shape)
    copied, outcome = _run(
        engine,
        copy_shape,
        "import os, mine\nprint(mine.VALUE, sorted(os.listdir('/app')))\n"
        "try:\n    import secret_name_4711\nexcept ImportError:\n    print('no secret')",
    )
    assert copied.from_image
    assert outcome.stdout.decode().splitlines() == ["mine ['__pycache__', 'mine.py']", "no secret"]


def test_a_copy_serves_a_live_session_across_turns(engine: SandboxEngine, workspace: Path) -> None:
    shape = _shape(workspace)
    _run(engine, shape, "pass")
    instance = new_instance(engine, shape)
    assert instance.wait_ready(30) and instance.from_image
    try:
        request = turn_request("x = 41", ExecutionPolicy(), scan(workspace), fresh=False)
        first = instance.run(request)
        assert first.alive, first.stderr
        second = instance.run(
            turn_request("x += 1\nprint(x)", ExecutionPolicy(), scan(workspace), fresh=False)
        )
        assert second.alive and second.stdout == b"42\n"
    finally:
        instance.close()
        instance.join(10)
    assert instance.shutdown_exit_code == 0


def test_the_guest_cannot_park_a_running_turn_on_the_clock(
    engine: SandboxEngine, workspace: Path
) -> None:
    # The park point is the driver's, before any request: user code reading the
    # clock (time.monotonic is what the driver calls) just gets the time.
    shape = _shape(workspace)
    _run(engine, shape, "pass")
    _, outcome = _run(
        engine, shape, "import time\na = time.monotonic()\nb = time.monotonic()\nprint(b >= a)"
    )
    assert outcome.stdout == b"True\n" and outcome.trap_kind is TrapKind.NONE


def test_instances_started_beside_the_image_taker_wait_and_copy_it(
    engine: SandboxEngine, workspace: Path
) -> None:
    # A pool fills several instances of a new shape at once: one starts CPython
    # and becomes the image, the others wait for it and copy it, so one start-up
    # is spent and every turn of the shape runs the same way (the same fuel).
    shape = _shape(workspace)
    started = [new_instance(engine, shape) for _ in range(3)]
    try:
        for instance in started:
            assert instance.wait_ready(60) and instance.ready
        assert all(isinstance(i, PythonInstance) and i.from_image for i in started)
        assert sum(isinstance(i, PythonInstance) and i.started_interpreter for i in started) == 1
        fuels = set()
        for instance in started:
            code = "print(sorted({'b', 'a'}))"
            request = turn_request(code, ExecutionPolicy(), scan(workspace), fresh=True)
            outcome = instance.run(request)
            assert outcome.stdout == b"['a', 'b']\n"
            fuels.add(outcome.fuel_consumed)
        assert len(fuels) == 1
    finally:
        for instance in started:
            instance.close()


def test_waiting_for_an_image_gives_up_after_its_timeout(workspace: Path) -> None:
    # The registry alone: a second caller waits for the first's image, and
    # neither a timeout nor a release leaves a claim behind.
    from workbench.sandbox._image import ImageRegistry

    images = ImageRegistry()
    shape = _shape(workspace)
    assert images.get_or_claim("sha", shape, 1.0) == (None, True)
    assert images.get_or_claim("sha", shape, 0.1) == (None, False)
    assert images.get_or_claim("sha", shape, 5.0, cancelled=lambda: True) == (None, False)
    images.release("sha", shape)
    assert images.get_or_claim("sha", shape, 0.1) == (None, True)


#: Fuel that depends on string hashes: dicts of string keys, and importing typing.
_HASHY = (
    "from typing import List\n"
    "d = {f'k{i}': i for i in range(2000)}\n"
    "assert sum(d[k] for k in sorted(d)) == 1999000 and hash('abc') == hash('abc')\n"
)
_FUEL_OF_A_PROCESS = (
    "import sys, tempfile\n"
    "from workbench.sandbox import create_sandbox\n"
    "with create_sandbox('python', workspace_root=tempfile.mkdtemp(), warm=False) as box:\n"
    "    result = box.execute(sys.argv[1])\n"
    "    print(result.fuel_consumed, result.success, sep='|')\n"
)


#: The most an epoch tick during a turn's output has moved its fuel (measured: 644).
JITTER_OF_A_TICK = 1_000


@pytest.mark.parametrize("images", ["1", "0"])
def test_the_same_code_spends_the_same_fuel_in_every_process(
    engine: SandboxEngine, workspace: Path, images: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each process draws nothing of its own into the interpreter: a per-process
    # string-hash secret made a batch's fuel depend on which worker ran a sample.
    import subprocess
    import sys

    from workbench.sandbox._vendor import python_guest_mounts

    # Built now: each process would otherwise start building them in the
    # background, and its run would import from the runtime's zip instead.
    assert python_guest_mounts(wait=True)
    monkeypatch.setenv("WASM_WORKBENCH_IMAGES", images)
    runs = [
        subprocess.run(
            [sys.executable, "-c", _FUEL_OF_A_PROCESS, _HASHY],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout.strip()
        for _ in range(3)
    ]
    assert all(run.endswith("|True") for run in runs), runs
    fuels = sorted(int(run.split("|")[0]) for run in runs)
    # Identical on a quiet machine. Under load an epoch tick can fall in the turn's
    # output path and move it by 644 instructions (seen with tests beside it); a
    # per-process hash secret moved this program by 120 k to 530 k.
    assert fuels[-1] - fuels[0] <= JITTER_OF_A_TICK, fuels
    # The fixed seed is the interpreter's; the code doesn't see it.
    code = "import os, sys\nprint(os.environ.get('PYTHONHASHSEED'), sys.flags.hash_randomization)"
    _, seen = _run(engine, _shape(workspace), code)
    assert seen.stdout == b"None 0\n", seen.stderr
