"""The compiled-module cache, the runtime manifest and the platform check.

Cache tests use their own :class:`SandboxEngine` on a temporary cache folder and
the JavaScript runtime, which compiles in about a second (CPython takes ~10 s).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import wasmtime

from workbench.sandbox import (
    CompileProgress,
    RuntimeNotAvailableError,
    RuntimeType,
    SandboxEngine,
    UnsupportedPlatformError,
    check_platform,
    load_runtime_specs,
)
from workbench.sandbox._engine import WASMTIME_VERSION

JS = RuntimeType.JAVASCRIPT
CACHE_NAME = re.compile(r"javascript-([0-9a-f]{32})-([0-9a-f]{64})\.cwasm")
FIRST_COMPILE = ["verifying", "compiling", "saving", "ready"]
FROM_CACHE = ["loading", "ready"]
REBUILT = ["loading", *FIRST_COMPILE]

MakeEngine = Callable[[Path], SandboxEngine]


@pytest.fixture
def make_engine() -> Iterator[MakeEngine]:
    """Build engines on a given cache folder; their epoch tickers stop afterwards."""
    engines: list[SandboxEngine] = []

    def make(cache_root: Path) -> SandboxEngine:
        engine = SandboxEngine(cache_root=cache_root)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder holding one good compiled JavaScript module (copy it, don't edit it)."""
    root = tmp_path_factory.mktemp("warm-cache")
    engine = SandboxEngine(cache_root=root)
    try:
        engine.module(JS)
    finally:
        engine.close()
    return root


def copy_cache(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def prepare(engine: SandboxEngine) -> tuple[wasmtime.Module, list[CompileProgress]]:
    events: list[CompileProgress] = []
    module = engine.module(JS, progress=events.append)
    return module, events


def cache_files(root: Path) -> list[Path]:
    return sorted(root.iterdir())


def only_cache_file(root: Path) -> Path:
    """The single file in ``root``; it must be a well-named module whose bytes match its name."""
    files = cache_files(root)
    assert len(files) == 1, files
    match = CACHE_NAME.fullmatch(files[0].name)
    assert match is not None, files[0].name
    assert hashlib.sha256(files[0].read_bytes()).hexdigest() == match.group(2)
    return files[0]


def assert_is_quickjs(module: wasmtime.Module) -> None:
    names = {export.name for export in module.exports}
    assert {"JS_Eval", "JS_NewContext", "memory"} <= names


# ---- Compiling and loading


@pytest.mark.slow
def test_first_use_compiles_and_writes_one_named_file(
    tmp_path: Path, make_engine: MakeEngine
) -> None:
    root = tmp_path / "cache"
    engine = make_engine(root)
    assert not engine.is_ready(JS)

    module, events = prepare(engine)

    assert [e.stage for e in events] == FIRST_COMPILE
    assert all(e.runtime is JS for e in events)
    elapsed = [e.elapsed for e in events]
    assert elapsed == sorted(elapsed)
    assert "Compiling the javascript runtime once" in events[1].message
    assert_is_quickjs(module)
    assert engine.is_ready(JS)

    file = only_cache_file(root)
    key = CACHE_NAME.fullmatch(file.name)
    assert key is not None
    assert key.group(1) == engine.cache_key(engine.specs[JS])


@pytest.mark.slow
def test_module_is_kept_in_memory(
    tmp_path: Path, make_engine: MakeEngine, warm_cache: Path
) -> None:
    engine = make_engine(copy_cache(warm_cache, tmp_path / "cache"))
    first, _ = prepare(engine)
    again, events = prepare(engine)
    assert again is first
    assert events == []  # nothing to report: no disk access at all


@pytest.mark.slow
def test_later_engine_loads_from_cache(
    tmp_path: Path, make_engine: MakeEngine, warm_cache: Path
) -> None:
    root = copy_cache(warm_cache, tmp_path / "cache")
    before = only_cache_file(root)
    mtime = before.stat().st_mtime_ns

    module, events = prepare(make_engine(root))

    assert [e.stage for e in events] == FROM_CACHE
    assert "from cache" in events[0].message
    assert_is_quickjs(module)
    assert only_cache_file(root) == before
    assert before.stat().st_mtime_ns == mtime  # loaded, not rewritten


def flip_middle(data: bytes) -> bytes:
    middle = len(data) // 2
    flipped = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    return data[:middle] + flipped + data[middle + 64 :]


@pytest.mark.slow
@pytest.mark.parametrize(
    "damage",
    [flip_middle, lambda data: data[: len(data) // 2], lambda data: b""],
    ids=["flipped-bytes", "truncated", "empty"],
)
def test_corrupted_cache_file_is_detected_and_rebuilt(
    tmp_path: Path,
    make_engine: MakeEngine,
    warm_cache: Path,
    damage: Callable[[bytes], bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = copy_cache(warm_cache, tmp_path / "cache")
    file = only_cache_file(root)
    good = file.read_bytes()
    damaged = damage(good)
    assert damaged != good
    file.write_bytes(damaged)

    with caplog.at_level(logging.WARNING, logger="workbench.sandbox.engine"):
        module, events = prepare(make_engine(root))

    assert [e.stage for e in events] == REBUILT
    assert f"discarding the unusable cache file {file.name}" in caplog.text
    assert "differs from its name" in caplog.text
    assert_is_quickjs(module)
    rebuilt = only_cache_file(root)
    assert rebuilt.read_bytes() != damaged


def garbage(_engine: SandboxEngine, _good: bytes) -> bytes:
    return random.Random(1234).randbytes(64 * 1024)


def other_engine_module(_engine: SandboxEngine, _good: bytes) -> bytes:
    # A real compiled module, but from an engine without fuel and epochs.
    return wasmtime.Module(wasmtime.Engine(), '(module (func (export "f")))').serialize()


def truncated_real_module(_engine: SandboxEngine, good: bytes) -> bytes:
    return good[: len(good) // 3]


@pytest.mark.slow
@pytest.mark.parametrize(
    "make_bytes",
    [garbage, other_engine_module, truncated_real_module],
    ids=["garbage", "other-engine-config", "truncated-renamed"],
)
def test_foreign_file_with_matching_name_is_rejected_and_rebuilt(
    tmp_path: Path,
    make_engine: MakeEngine,
    warm_cache: Path,
    make_bytes: Callable[[SandboxEngine, bytes], bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = only_cache_file(warm_cache).read_bytes()
    root = tmp_path / "cache"
    root.mkdir()
    engine = make_engine(root)
    data = make_bytes(engine, good)
    digest = hashlib.sha256(data).hexdigest()
    # The name is right in every way, so only wasmtime's own checks can refuse it.
    foreign = root / f"javascript-{engine.cache_key(engine.specs[JS])}-{digest}.cwasm"
    foreign.write_bytes(data)

    with caplog.at_level(logging.WARNING, logger="workbench.sandbox.engine"):
        module, events = prepare(engine)

    assert [e.stage for e in events] == REBUILT
    assert f"discarding the unusable cache file {foreign.name}" in caplog.text
    assert "failed deserialization" in caplog.text
    assert not foreign.exists()
    assert_is_quickjs(module)
    assert only_cache_file(root).read_bytes() != data


@pytest.mark.slow
def test_files_of_other_keys_are_ignored(
    tmp_path: Path, make_engine: MakeEngine, warm_cache: Path
) -> None:
    root = copy_cache(warm_cache, tmp_path / "cache")
    good = only_cache_file(root)
    match = CACHE_NAME.fullmatch(good.name)
    assert match is not None
    stale = root / f"javascript-{'0' * 32}-{match.group(2)}.cwasm"  # e.g. an older wasmtime's
    good.rename(stale)

    _, events = prepare(make_engine(root))

    assert [e.stage for e in events] == FIRST_COMPILE
    assert stale.exists()  # another key's file is not this engine's to judge
    assert len(cache_files(root)) == 2


@pytest.mark.slow
def test_unusable_cache_folder_costs_speed_not_correctness(
    tmp_path: Path, make_engine: MakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be", encoding="utf-8")

    with caplog.at_level(logging.WARNING, logger="workbench.sandbox.engine"):
        module, events = prepare(make_engine(blocker / "modules"))

    assert [e.stage for e in events] == FIRST_COMPILE
    assert "could not use the module cache" in caplog.text
    assert_is_quickjs(module)
    assert blocker.read_text(encoding="utf-8").startswith("a file")


def test_cache_key_follows_the_binary_hash(tmp_path: Path, make_engine: MakeEngine) -> None:
    engine = make_engine(tmp_path / "cache")
    spec = engine.specs[JS]
    key = engine.cache_key(spec)
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    assert engine.cache_key(spec) == key  # stable
    assert engine.cache_key(dataclasses.replace(spec, sha256="0" * 64)) != key
    assert engine.cache_key(dataclasses.replace(spec, sha256="1" * 64)) != key
    # Only the binary's identity matters, not where it was found.
    assert engine.cache_key(dataclasses.replace(spec, override_path="/elsewhere.wasm")) == key
    assert engine.cache_key(engine.specs[RuntimeType.PYTHON]) != key


# ---- Several processes sharing one cache

_CHILD = """
import json, sys, time
from pathlib import Path
from workbench.sandbox import RuntimeType, SandboxEngine

cache, ready, go = (Path(p) for p in sys.argv[1:4])
engine = SandboxEngine(cache_root=cache)
ready.touch()
deadline = time.monotonic() + 60
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.005)
stages = []
module = engine.module(RuntimeType.JAVASCRIPT, progress=lambda e: stages.append(e.stage))
assert any(export.name == "JS_Eval" for export in module.exports)
print(json.dumps(stages))
"""


def start_child(cache: Path, ready: Path, go: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(cache), str(ready), str(go)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def finish_child(child: subprocess.Popen[str]) -> list[str]:
    stdout, stderr = child.communicate(timeout=120)
    assert child.returncode == 0, stderr
    assert "panicked" not in stderr
    stages: list[str] = json.loads(stdout)
    return stages


@pytest.mark.slow
def test_two_processes_compiling_at_once_then_a_third_loads(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    go = tmp_path / "go"
    readies = [tmp_path / "ready-1", tmp_path / "ready-2"]
    children = [start_child(cache, ready, go) for ready in readies]
    try:
        deadline = time.monotonic() + 60
        while not all(r.exists() for r in readies) and time.monotonic() < deadline:
            assert all(c.poll() is None for c in children), "a child exited early"
            time.sleep(0.01)
        go.touch()  # both engines exist: start the two compiles together
        results = [finish_child(child) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.communicate()

    # Both found the cache empty; the cross-process lock let one compile while the
    # other waited, then loaded its file (a second compile of python-sci would
    # cost another ~75 s and 2.6 GiB).
    waited = ["compiling", "loading", "ready"]
    assert sorted(results) == sorted([FIRST_COMPILE, waited])
    only_cache_file(cache)  # one file (same bytes, same name), no temp files left

    third = start_child(cache, tmp_path / "ready-3", go)
    assert finish_child(third) == FROM_CACHE
    only_cache_file(cache)


# ---- Runtime manifest and user overrides


@pytest.fixture
def real_qjs() -> Path:
    return load_runtime_specs(user_config=Path("/nonexistent/runtimes.toml"))[JS].locate()


def write_override(folder: Path, path: Path, sha256: str | None) -> Path:
    lines = ["[runtimes.javascript]", f"path = {json.dumps(str(path))}"]
    if sha256 is not None:
        lines.append(f"sha256 = {json.dumps(sha256)}")
    file = folder / "runtimes.toml"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return file


def test_manifest_without_overrides_verifies_the_installed_binaries(tmp_path: Path) -> None:
    specs = load_runtime_specs(user_config=tmp_path / "absent.toml")
    assert set(specs) == set(RuntimeType)
    for runtime, spec in specs.items():
        assert spec.runtime is runtime
        assert spec.override_path is None
        assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256)
        path = spec.verify()
        assert path.stat().st_size == spec.size


def test_override_without_sha256_is_refused(tmp_path: Path, real_qjs: Path) -> None:
    config = write_override(tmp_path, real_qjs, sha256=None)
    with pytest.raises(RuntimeNotAvailableError) as info:
        load_runtime_specs(user_config=config)
    message = str(info.value)
    assert str(config) in message
    assert str(real_qjs) in message
    assert 'sha256 = "<hash>"' in message


def test_override_with_the_right_sha256_is_used(tmp_path: Path, real_qjs: Path) -> None:
    copy = tmp_path / "bin" / "my-qjs.wasm"
    copy.parent.mkdir()
    shutil.copy(real_qjs, copy)
    digest = hashlib.sha256(copy.read_bytes()).hexdigest()
    specs = load_runtime_specs(user_config=write_override(tmp_path, copy, digest))

    spec = specs[JS]
    assert spec.override_path == str(copy)
    assert spec.sha256 == digest
    assert spec.locate() == copy
    assert spec.verify() == copy
    assert specs[RuntimeType.PYTHON].override_path is None  # only the named runtime changes


def test_override_with_a_wrong_sha256_fails_verification(tmp_path: Path, real_qjs: Path) -> None:
    copy = tmp_path / "my-qjs.wasm"
    copy.write_bytes(real_qjs.read_bytes() + b"\x00")  # another build, in effect
    actual = hashlib.sha256(copy.read_bytes()).hexdigest()
    manifest_hash = load_runtime_specs(user_config=tmp_path / "absent.toml")[JS].sha256
    spec = load_runtime_specs(user_config=write_override(tmp_path, copy, manifest_hash))[JS]

    assert spec.locate() == copy
    with pytest.raises(RuntimeNotAvailableError) as info:
        spec.verify()
    message = str(info.value)
    assert str(copy) in message
    assert actual in message
    assert manifest_hash in message
    assert "your runtimes.toml" in message
    assert "pip install --force-reinstall" in message
    assert f'sha256 = "{actual}"' in message


def test_override_with_a_missing_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "gone.wasm"
    spec = load_runtime_specs(user_config=write_override(tmp_path, missing, "0" * 64))[JS]
    for call in (spec.locate, spec.verify):
        with pytest.raises(RuntimeNotAvailableError) as info:
            call()
        assert str(missing) in str(info.value)
        assert "runtimes.toml" in str(info.value)


def test_engine_refuses_an_unverified_binary(
    tmp_path: Path, make_engine: MakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    bad = tmp_path / "tampered.wasm"
    bad.write_bytes(b"\x00asm\x01\x00\x00\x00")
    write_override(config, bad, "0" * 64)
    monkeypatch.setenv("WASM_WORKBENCH_CONFIG_DIR", str(config))
    root = tmp_path / "cache"
    engine = make_engine(root)

    with pytest.raises(RuntimeNotAvailableError, match=r"tampered\.wasm"):
        engine.module(JS)
    assert not engine.is_ready(JS)
    assert cache_files(root) == []


# ---- Platform check


@pytest.mark.parametrize(
    ("system", "version"),
    [
        ("Windows", "49.0.0"),
        ("Windows", "49.0.6"),
        ("Windows", "50.0.1"),
        ("Windows", "50.0.2"),
        ("Windows", "48.0.9"),
        ("Windows", "47.0.0"),
    ],
)
def test_unsafe_windows_builds_are_refused(system: str, version: str) -> None:
    with pytest.raises(UnsupportedPlatformError) as info:
        check_platform(system, version)
    message = str(info.value)
    assert "GHSA-f2pq-268w-886c" in message
    assert version in message
    assert "Linux or macOS" in message


@pytest.mark.parametrize(
    ("system", "version"),
    [
        ("Windows", "49.0.7"),
        ("Windows", "50.0.3"),
        ("Windows", "48.0.10"),
        ("Windows", "51.0.0"),
        ("Windows", "52.1.0"),
        ("Linux", "49.0.0"),
        ("Darwin", "49.0.0"),
        ("Linux", "50.0.1"),
    ],
)
def test_safe_combinations_pass(system: str, version: str) -> None:
    check_platform(system, version)


def test_installed_wasmtime_on_this_platform() -> None:
    installed = tuple(int(part) for part in WASMTIME_VERSION.split(".")[:3])
    # The advisory's fixed releases, read independently of _engine's own table.
    fixed = {48: (48, 0, 10), 49: (49, 0, 7), 50: (50, 0, 3)}
    safe_on_windows = installed[0] >= 51 or installed >= fixed.get(installed[0], (10**6,))

    if platform.system() in ("Linux", "Darwin"):
        check_platform()  # this machine: guests may run
    if safe_on_windows:
        check_platform("Windows")
    else:
        with pytest.raises(UnsupportedPlatformError, match=re.escape(WASMTIME_VERSION)):
            check_platform("Windows")
