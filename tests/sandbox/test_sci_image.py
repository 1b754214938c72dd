"""python-sci images: new instances copied from one whose preloaded imports are done.

The real runtime throughout (the run's one compile, ``sci_engine``); each test
uses its own shape (a memory limit no other test uses) so it knows which
instance took the image, and names its own preload.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.sandbox import ExecutionPolicy, RuntimeType, SandboxEngine, TrapKind
from workbench.sandbox._image import (
    MAX_SAVED_IMAGES,
    ReactorImage,
    load_reactor_image,
    reactor_registry,
    save_reactor_image,
)
from workbench.sandbox._instance import InstanceShape, TurnOutcome
from workbench.sandbox._runtimes.scientific import (
    DEFAULT_PRELOAD,
    PRELOAD_ENV,
    WIDE_PRELOAD,
    ScientificPythonInstance,
    preload_modules,
)
from workbench.sandbox._sandbox import turn_request
from workbench.sandbox._storage import read_host_tree, write_host_tree
from workbench.sandbox._workspace import scan

_sizes = itertools.count()
_folders = itertools.count()


def _shape(root: Path) -> InstanceShape:
    # A memory limit of its own makes the shape (and so its image) the test's own.
    workspace = root / f"w{next(_folders)}"
    workspace.mkdir()
    return InstanceShape(
        RuntimeType.PYTHON_SCI, str(workspace), 512 * 1024 * 1024 + 65536 * next(_sizes)
    )


def _elsewhere(shape: InstanceShape) -> InstanceShape:
    """The same shape in a fresh workspace (what the next fresh run gets)."""
    from dataclasses import replace

    workspace = Path(shape.workspace).parent / f"w{next(_folders)}"
    workspace.mkdir()
    return replace(shape, workspace=str(workspace))


def _start(engine: SandboxEngine, shape: InstanceShape) -> ScientificPythonInstance:
    instance = ScientificPythonInstance(engine, shape)
    assert instance.wait_ready(300) and instance.ready, instance.startup_error
    return instance


def _run(
    engine: SandboxEngine, shape: InstanceShape, code: str, **limits: object
) -> tuple[ScientificPythonInstance, TurnOutcome]:
    instance = _start(engine, shape)
    policy = ExecutionPolicy().with_updates(**limits) if limits else ExecutionPolicy()
    request = turn_request(code, policy, scan(Path(shape.workspace)), fresh=True)
    try:
        return instance, instance.run(request)
    finally:
        instance.close()
        instance.join(10)


def _image(engine: SandboxEngine, shape: InstanceShape, preload: str) -> ReactorImage | None:
    sha = engine.specs[RuntimeType.PYTHON_SCI].sha256
    return reactor_registry.get(f"{sha}:{preload}", shape)


#: Imported ahead by the tests that use the ``preload`` fixture: the generators
#: seeded at import (random, numpy.random) and pyplot (~3 s for the image).
PRELOAD = "random,numpy.random,matplotlib.pyplot"


#: The runtime's own loader of images on disk (the fixture below turns it off).
LOAD_SAVED_IMAGE = ScientificPythonInstance._load_saved_image


@pytest.fixture(autouse=True)
def images_from_memory_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No image comes from disk (saved by an earlier run): these tests watch them made."""
    monkeypatch.setattr(ScientificPythonInstance, "_load_saved_image", lambda *_: None)


@pytest.fixture
def preload(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """:data:`PRELOAD` imported ahead."""
    monkeypatch.setenv(PRELOAD_ENV, PRELOAD)
    yield


def test_the_image_is_taken_apart_and_every_instance_copies_it(
    sci_engine: SandboxEngine, workspace_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PRELOAD_ENV, "colorsys")
    shape = _shape(workspace_root)
    assert _image(sci_engine, shape, "colorsys") is None
    code = "import sys\nprint('colorsys' in sys.modules, sum(range(10)))"
    first, outcome = _run(sci_engine, shape, code)
    # The first instance had the image taken by a builder of its own, in a private
    # workspace, and is a copy like every later one.
    assert first.from_image and not first.started_interpreter
    assert outcome.stdout == b"True 45\n", outcome.stderr
    assert _image(sci_engine, shape, "colorsys") is not None
    second, copied = _run(sci_engine, _elsewhere(shape), code)
    assert second.from_image and not second.started_interpreter
    assert (copied.stdout, copied.exit_code, copied.trap_kind) == (b"True 45\n", 0, TrapKind.NONE)
    # Start-up fuel is reported as what it would have cost (the image's imports
    # and this copy's driver), never charged: the turns cost the same.
    assert abs(second.startup_fuel - first.startup_fuel) < first.startup_fuel // 100
    assert copied.fuel_consumed == outcome.fuel_consumed


def test_a_copy_runs_numpy_and_figures_and_charges_no_import(
    sci_engine: SandboxEngine, workspace_root: Path, preload: None
) -> None:
    shape = _shape(workspace_root)
    _run(sci_engine, shape, "pass")
    code = (
        "import numpy as np, matplotlib.pyplot as plt\n"
        "plt.plot(np.arange(5) ** 2)\n"
        "print(np.arange(10).reshape(2, 5).sum(axis=1))\n"
    )
    instance, outcome = _run(sci_engine, _elsewhere(shape), code)
    assert instance.from_image
    assert outcome.stdout == b"[10 35]\n", outcome.stderr
    assert [(figure.width, figure.height) for figure in outcome.figures] == [(640, 480)]
    # The imports were the image's: the copy's start-up reports them, and
    # importing them again costs the user next to nothing.
    assert instance.startup_fuel > 1_000_000_000
    _, imported = _run(sci_engine, _elsewhere(shape), "import numpy, matplotlib.pyplot")
    assert imported.exit_code == 0 and imported.fuel_consumed < 10_000_000


def test_unseeded_random_numbers_differ_between_fresh_runs(
    sci_engine: SandboxEngine, workspace_root: Path, preload: None
) -> None:
    # numpy's global RandomState and Python's random are seeded from fresh
    # entropy when imported: every copy of an image would repeat the image's
    # numbers unless each is reseeded. Seeded numbers stay what they were.
    shape = _shape(workspace_root)
    code = (
        "import sys\n"
        "print('random' in sys.modules, 'numpy.random.mtrand' in sys.modules)\n"
        "import random, numpy as np\n"
        "print(np.random.rand(), random.random(), np.random.randint(1 << 30))\n"
        "np.random.seed(1); random.seed(1)\n"
        "print(np.random.rand(), random.random())\n"
    )
    runs = [_run(sci_engine, shape if i == 0 else _elsewhere(shape), code) for i in range(3)]
    assert [instance.from_image for instance, _ in runs] == [True, True, True]
    lines = [outcome.stdout.decode().splitlines() for _, outcome in runs]
    assert {line[0] for line in lines} == {"True True"}  # imported by the preload
    unseeded = {line[1] for line in lines}
    seeded = {line[2] for line in lines}
    assert len(unseeded) == 3, unseeded
    assert len(seeded) == 1


def test_the_same_code_spends_the_same_fuel_in_every_copy(
    sci_engine: SandboxEngine, workspace_root: Path, preload: None
) -> None:
    shape = _shape(workspace_root)
    code = (
        "import numpy as np\n"
        "d = {str(i): i for i in range(2000)}\n"
        "print(sum(len(k) for k in set(d)), np.linspace(0, 1, 1000).sum())\n"
    )
    runs = [_run(sci_engine, shape if i == 0 else _elsewhere(shape), code) for i in range(3)]
    assert [instance.from_image for instance, _ in runs] == [True, True, True]
    assert len({outcome.fuel_consumed for _, outcome in runs}) == 1
    assert len({outcome.stdout for _, outcome in runs}) == 1


def test_nothing_of_one_run_reaches_a_copy(
    sci_engine: SandboxEngine, workspace_root: Path, preload: None
) -> None:
    # The first run is on the first copy of the image (taken apart, just before);
    # it leaves state behind in every way it can.
    shape = _shape(workspace_root)
    leave = (
        "import sys, os, builtins, numpy as np\n"
        "leak = 'LEAKED-4711'\n"
        "np.leak = 'LEAKED-ATTRIBUTE'\n"
        "sys.modules['leaky'] = np\n"
        "builtins.leak = 1\n"
        "np.random.seed(4711)\n"
        "open('/tmp/left-4711.txt', 'w').write('x')\n"
        "open('/tmp/matplotlib/mine.txt', 'w').write('x')\n"
        "open('/app/kept.txt', 'w').write('x')\n"
        "kept = open('/tmp/open.txt', 'w')\n"
        "print(kept.fileno())\n"
    )
    first, left = _run(sci_engine, shape, leave)
    assert first.from_image and left.exit_code == 0, left.stderr
    image = _image(sci_engine, shape, PRELOAD)
    assert image is not None
    assert [parts for parts, _ in image.files] == [
        ("matplotlib",),
        ("matplotlib", f"fontlist-v{_mpl_version(image)}.json"),
    ]
    look = (
        "import sys, os, builtins, numpy as np\n"
        "print(globals().get('leak'), getattr(np, 'leak', None), 'leaky' in sys.modules,\n"
        "      hasattr(builtins, 'leak'))\n"
        "print(sorted(os.listdir('/app')), sorted(os.listdir('/tmp')),\n"
        "      sorted(os.listdir('/tmp/matplotlib')))\n"
        "np.random.seed(4711); a = np.random.rand()\n"
        "try:\n"
        "    os.fstat(int(sys.argv[1]))\n"
        "    print('open')\n"
        "except OSError:\n"
        "    print('closed')\n"
    )
    instance = _start(sci_engine, _elsewhere(shape))
    usage = scan(Path(instance.shape.workspace))
    request = turn_request(look, ExecutionPolicy(), usage, fresh=True)
    request.argv = [left.stdout.decode().strip()]
    try:
        seen = instance.run(request)
    finally:
        instance.close()
    assert instance.from_image and seen.exit_code == 0, seen.stderr
    lines = seen.stdout.decode().splitlines()
    assert lines[0] == "None None False False"
    font_cache = f"fontlist-v{_mpl_version(image)}.json"
    assert lines[1] == f"['.tmp'] ['matplotlib'] ['{font_cache}']"
    assert lines[2] == "closed"
    held = image.memory or b"".join(data for _, data in image.chunks or ())
    assert b"LEAKED-4711" not in held


def _mpl_version(image: ReactorImage) -> str:
    name = image.files[-1][0][-1]
    return name.removeprefix("fontlist-v").removesuffix(".json")


def test_what_a_workspace_holds_never_reaches_the_image(
    sci_engine: SandboxEngine, workspace_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # matplotlib reads its rc file and font cache from /tmp while it is imported,
    # and the image is copied into every sandbox of the process: it is taken in a
    # private workspace, never in one whose /tmp user code can write (code in
    # another instance of the same sandbox could, while the imports run).
    monkeypatch.setenv(PRELOAD_ENV, "matplotlib.font_manager")
    shape = _shape(workspace_root)
    poisoned = Path(shape.workspace) / ".tmp" / "matplotlib"
    poisoned.mkdir(parents=True)
    (poisoned / "matplotlibrc").write_text("figure.dpi: 17\n")
    code = "import matplotlib\nprint(matplotlib.rcParams['figure.dpi'])"
    first, outcome = _run(sci_engine, shape, code)
    assert first.from_image, "the image was not taken apart from this workspace"
    assert outcome.stdout == b"100.0\n", outcome.stderr
    image = _image(sci_engine, shape, "matplotlib.font_manager")
    assert image is not None and "matplotlibrc" not in str(image.files)
    copy, copied = _run(sci_engine, _elsewhere(shape), code)
    assert copy.from_image and copied.stdout == b"100.0\n"


def test_a_copy_writes_its_tmp_files_through_no_link(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "matplotlib").mkdir(parents=True)
    (source / "matplotlib" / "fontlist.json").write_text("{}")
    tree = read_host_tree(source, 1024)
    assert tree == ((("matplotlib",), None), (("matplotlib", "fontlist.json"), b"{}"))
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    (target / "matplotlib").symlink_to(outside)
    write_host_tree(target, tree)
    assert list(outside.iterdir()) == []
    # What is there already is kept; what is missing is made.
    (target / "matplotlib").unlink()
    (target / "matplotlib").mkdir()
    (target / "matplotlib" / "fontlist.json").write_text("mine")
    write_host_tree(target, tree)
    assert (target / "matplotlib" / "fontlist.json").read_text() == "mine"
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    write_host_tree(fresh, tree)
    assert read_host_tree(fresh, 1024) == tree
    # Links and oversized trees are refused rather than read.
    os.symlink(outside, source / "link")
    assert read_host_tree(source, 1024) is None
    assert read_host_tree(target, 1) is None


def test_images_can_be_switched_off(
    sci_engine: SandboxEngine, workspace_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PRELOAD_ENV, "colorsys")
    shape = _shape(workspace_root)
    _run(sci_engine, shape, "pass")
    monkeypatch.setenv("WASM_WORKBENCH_IMAGES", "0")
    instance, outcome = _run(sci_engine, _elsewhere(shape), "import colorsys\nprint(1)")
    assert instance.started_interpreter and not instance.from_image
    assert outcome.stdout == b"1\n" and instance.startup_fuel > 0


def test_instances_started_together_wait_for_one_image(
    sci_engine: SandboxEngine, workspace_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pool fills several instances of a new shape at once: one has the imports
    # done (by a builder) and the image taken, the others wait for it.
    monkeypatch.setenv(PRELOAD_ENV, "colorsys")
    shape = _shape(workspace_root)
    started = [
        ScientificPythonInstance(sci_engine, shape if i == 0 else _elsewhere(shape))
        for i in range(3)
    ]
    try:
        for instance in started:
            assert instance.wait_ready(300) and instance.ready, instance.startup_error
        # One builder did them, apart; all three copy its image.
        assert sum(instance.started_interpreter for instance in started) == 0
        assert sum(instance.from_image for instance in started) == 3
    finally:
        for instance in started:
            instance.close()


def test_the_image_builder_needs_no_start_up_slot(
    sci_engine: SandboxEngine, workspace_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pool's background instances hold every start-up slot while they wait for
    # the image; the builder works for one of them and must not queue for a slot
    # (it did: a batch evaluation stalled until the waits timed out).
    monkeypatch.setenv(PRELOAD_ENV, "colorsys,wave")
    taken = 0
    while sci_engine.startup_slots.acquire(blocking=False):
        taken += 1
    sci_engine.startup_slots.release()  # one left: the instance's own
    taken -= 1
    try:
        instance = ScientificPythonInstance(sci_engine, _shape(workspace_root), background=True)
        try:
            assert instance.wait_ready(60) and instance.ready, instance.startup_error
            assert instance.from_image
        finally:
            instance.close()
    finally:
        for _ in range(taken):
            sci_engine.startup_slots.release()


def test_a_copy_serves_a_live_session_and_its_traps(
    sci_engine: SandboxEngine, workspace_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PRELOAD_ENV, "colorsys")
    shape = _shape(workspace_root)
    _run(sci_engine, shape, "pass")
    instance = _start(sci_engine, _elsewhere(shape))
    workspace = Path(instance.shape.workspace)
    try:
        assert instance.from_image

        def live(code: str, fuel: int = ExecutionPolicy().fuel_budget) -> TurnOutcome:
            policy = ExecutionPolicy().with_updates(fuel_budget=fuel)
            return instance.run(turn_request(code, policy, scan(workspace), fresh=False))

        first = live("x = 41")
        assert first.alive, first.stderr
        second = live("x += 1\nprint(x)")
        assert second.alive and second.stdout == b"42\n"
        spun = live("while True:\n    pass", 50_000_000)
        assert spun.trap_kind is TrapKind.OUT_OF_FUEL and not spun.alive
    finally:
        instance.close()
        instance.join(10)


def test_instances_with_room_for_it_preload_the_data_stack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # seaborn, scikit-learn, scipy.stats and statsmodels take the preload from
    # 85 to 155 MB: only instances whose memory limit leaves room get them.
    monkeypatch.delenv(PRELOAD_ENV, raising=False)
    assert preload_modules(128 * 1024 * 1024) == DEFAULT_PRELOAD
    assert preload_modules(ExecutionPolicy().memory_bytes) == DEFAULT_PRELOAD
    wide = preload_modules(1024 * 1024 * 1024)
    assert wide == WIDE_PRELOAD and set(DEFAULT_PRELOAD) < set(wide)
    assert {"seaborn", "sklearn", "scipy.stats", "statsmodels.api"} <= set(wide)
    monkeypatch.setenv(PRELOAD_ENV, "colorsys")
    assert preload_modules(1024 * 1024 * 1024) == ("colorsys",)


# ---- Images on disk: a new process copies the image instead of importing


def test_a_new_process_copies_the_image_saved_on_disk(
    sci_engine: SandboxEngine, workspace_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PRELOAD_ENV, "colorsys")
    monkeypatch.setattr(ScientificPythonInstance, "_load_saved_image", LOAD_SAVED_IMAGE)
    shape = _shape(workspace_root)
    code = "import sys\nprint('colorsys' in sys.modules, sum(range(10)))"
    first, outcome = _run(sci_engine, shape, code)
    path, key = first._saved_image(first._image_key())
    saved = load_reactor_image(path, key)
    assert saved is not None and saved.startup_fuel > 0
    # A new process knows no image: it must find this one on disk, not build one.
    reactor_registry.clear()

    def no_build(self: ScientificPythonInstance, image_key: str) -> None:
        raise AssertionError("the image was built again")

    monkeypatch.setattr(ScientificPythonInstance, "_build_image", no_build)
    second, copied = _run(sci_engine, _elsewhere(shape), code)
    assert second.from_image and not second.started_interpreter
    assert copied.stdout == outcome.stdout == b"True 45\n", copied.stderr
    assert copied.fuel_consumed == outcome.fuel_consumed
    assert second.startup_fuel == first.startup_fuel


def test_a_damaged_image_file_is_ignored_and_replaced(
    sci_engine: SandboxEngine, workspace_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PRELOAD_ENV, "colorsys")
    monkeypatch.setattr(ScientificPythonInstance, "_load_saved_image", LOAD_SAVED_IMAGE)
    shape = _shape(workspace_root)
    first, _ = _run(sci_engine, shape, "pass")
    path, key = first._saved_image(first._image_key())
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # one byte of the last page
    path.write_bytes(bytes(data))
    assert load_reactor_image(path, key) is None
    reactor_registry.clear()
    second, outcome = _run(sci_engine, _elsewhere(shape), "import colorsys\nprint(2)")
    assert second.from_image and outcome.stdout == b"2\n", outcome.stderr
    assert load_reactor_image(path, key) is not None  # built again and saved over it


def _tiny_image() -> ReactorImage:
    return ReactorImage(
        size=2 * 65536,
        startup_fuel=7,
        stdout_position=3,
        files=((("matplotlib",), None), (("matplotlib", "fontlist.json"), b"{}")),
        memory=None,
        chunks=((4096, bytearray(b"a" * 4096)), (65536, bytearray(b"b" * 8192))),
    )


def test_an_image_file_round_trips_and_refuses_what_does_not_check_out(tmp_path: Path) -> None:
    path = tmp_path / "images" / "one.image"
    image = _tiny_image()
    save_reactor_image(path, "key 1", image)
    loaded = load_reactor_image(path, "key 1")
    assert loaded is not None and loaded.saved and loaded.memory is None
    assert (loaded.size, loaded.startup_fuel, loaded.stdout_position) == (2 * 65536, 7, 3)
    assert loaded.files == image.files and loaded.chunks == image.chunks
    assert load_reactor_image(path, "key 2") is None  # another configuration's
    assert load_reactor_image(tmp_path / "missing.image", "key 1") is None
    good = path.read_bytes()
    path.write_bytes(good[:-10])  # truncated
    assert load_reactor_image(path, "key 1") is None
    path.write_bytes(b"not an image" + good)
    assert load_reactor_image(path, "key 1") is None
    # A file name that climbs out of /tmp, with a matching checksum, is refused.
    evil = dataclasses.replace(image, files=((("..", "escape"), b"x"),))
    save_reactor_image(path, "key 1", evil)
    assert load_reactor_image(path, "key 1") is None
    # Pages past the image's memory are refused too.
    wide = dataclasses.replace(image, chunks=((2 * 65536, bytearray(b"c" * 4096)),))
    save_reactor_image(path, "key 1", wide)
    assert load_reactor_image(path, "key 1") is None


def test_the_images_folder_keeps_the_most_recently_used(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    for index in range(MAX_SAVED_IMAGES + 2):
        save_reactor_image(folder / f"{index}.image", f"k{index}", _tiny_image())
        os.utime(folder / f"{index}.image", (1000 + index, 1000 + index))
    assert load_reactor_image(folder / "2.image", "k2") is not None  # used now: newest
    save_reactor_image(folder / "new.image", "new", _tiny_image())
    kept = sorted(p.name for p in folder.glob("*.image"))
    assert len(kept) == MAX_SAVED_IMAGES and "new.image" in kept and "2.image" in kept
    assert "0.image" not in kept and "1.image" not in kept
