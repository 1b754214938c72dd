"""Storage adapters: one contract every backend passes, then the attacks a guest can make.

Every backend runs the same tests: DiskStorage and SQLiteStorage, each also with
the lstat-based fallback that platforms without ``dir_fd`` use. The attack tests put
a canary file and a canary folder next to the storage root and check afterwards that
nothing outside the workspace was read, changed or deleted. The "guest" is this test
writing into the checked-out folder directly (``os.symlink`` and friends), which is
what a guest's file system calls end up doing on the host.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from workbench.sandbox import InvalidSessionIdError, PathOutsideWorkspaceError, WorkspaceError
from workbench.sandbox._storage import (
    DEFAULT_MAX_READ,
    DEFAULT_MAX_WRITE,
    MAX_PATH_DEPTH,
    DiskStorage,
    FileInfo,
    SQLiteStorage,
    StorageAdapter,
    _PathDir,
)

SECRET = b"canary-5d1e93-never-leave-the-host\n" * 64
SID = "s1"
posix_only = pytest.mark.skipif(os.name == "nt", reason="symlinks need privileges on Windows")


class LstatDiskStorage(DiskStorage):
    """DiskStorage forced onto the fallback used where dir_fd/O_NOFOLLOW are missing."""

    _dir_type = _PathDir


class LstatSQLiteStorage(SQLiteStorage):
    """SQLiteStorage forced onto the same fallback."""

    _dir_type = _PathDir


Factory = Callable[[Path, Path], Any]
BACKENDS: dict[str, Factory] = {
    "disk": lambda root, scratch: DiskStorage(root),
    "sqlite": lambda root, scratch: SQLiteStorage(root, scratch_dir=scratch),
    "disk-lstat": lambda root, scratch: LstatDiskStorage(root),
    "sqlite-lstat": lambda root, scratch: LstatSQLiteStorage(root, scratch_dir=scratch),
}
SQLITE_BACKENDS = ["sqlite", "sqlite-lstat"]


def two_part(exc: pytest.ExceptionInfo[BaseException]) -> str:
    """The message, checked to say what happened and what to do (two sentences at least)."""
    message = str(exc.value)
    assert len(re.findall(r"[.)](\s|$)", message)) >= 2, message
    assert SECRET[:20].decode() not in message
    return message


# ---- Fixtures


@pytest.fixture(params=sorted(BACKENDS))
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    store = BACKENDS[request.param](tmp_path / "storage", scratch)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(params=["idle", "checked-out"])
def session(request: pytest.FixtureRequest, storage: Any) -> str:
    """A created session, either at rest or checked out (SQLite has two code paths)."""
    storage.create(SID)
    if request.param == "checked-out":
        storage.checkout(SID)
    return SID


@pytest.fixture
def guest(storage: Any) -> Path:
    """The checked-out folder of session SID: what the guest sees as /app."""
    storage.create(SID)
    return Path(storage.checkout(SID))


@dataclass
class Canary:
    """A file and a folder next to the storage root, with known content."""

    base: Path
    file: Path
    folder: Path
    excluded: list[Path]
    before: dict[str, tuple[Any, ...]]
    old_atime_ns: int
    atime_works: bool

    def exclude(self, path: Path) -> None:
        """Leave a folder that legitimately changes (the workspace) out of the comparison."""
        self.excluded.append(path)
        self.before = self.snapshot()

    def snapshot(self) -> dict[str, tuple[Any, ...]]:
        found: dict[str, tuple[Any, ...]] = {}
        for folder, dirs, files in os.walk(self.base, followlinks=False):
            here = Path(folder)
            dirs[:] = [d for d in dirs if here / d not in self.excluded]
            for name in [*dirs, *files]:
                path = here / name
                if path in self.excluded or name.startswith("workspaces.sqlite3"):
                    continue
                info = path.lstat()
                key = str(path.relative_to(self.base))
                if stat.S_ISLNK(info.st_mode):
                    found[key] = ("link", os.readlink(path))
                elif stat.S_ISDIR(info.st_mode):
                    # No folder mtime: the storage root changes legitimately, and a
                    # file created or deleted anywhere shows up as a key anyway.
                    found[key] = ("dir", info.st_mode)
                else:
                    digest = hashlib.sha256(peek(path)).hexdigest()
                    found[key] = ("file", info.st_mode, info.st_mtime_ns, digest)
        return found

    def assert_untouched(self) -> None:
        """Nothing outside the workspace was read (when atime works), changed or deleted."""
        if self.atime_works:
            for path in (self.file, self.folder / "secret.txt", self.folder / "sub" / "deep.txt"):
                assert path.stat().st_atime_ns == self.old_atime_ns, f"{path} was read"
        assert self.snapshot() == self.before
        assert peek(self.file) == SECRET
        assert peek(self.folder / "secret.txt") == SECRET
        assert peek(self.folder / "sub" / "deep.txt") == SECRET


def peek(path: Path) -> bytes:
    """Read a file, then put its atime back, so the atime check only sees the adapter."""
    info = path.stat()
    data = path.read_bytes()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    return data


def _age(path: Path, atime_ns: int) -> None:
    mtime = path.stat().st_mtime_ns
    os.utime(path, ns=(atime_ns, mtime))


@pytest.fixture
def canary(tmp_path: Path) -> Canary:
    file = tmp_path / "canary.txt"
    file.write_bytes(SECRET)
    folder = tmp_path / "canary-dir"
    (folder / "sub").mkdir(parents=True)
    (folder / "secret.txt").write_bytes(SECRET)
    (folder / "sub" / "deep.txt").write_bytes(SECRET)
    # An atime older than the mtime is updated by any read (also under relatime),
    # so a changed atime proves a read. Probe first: some mounts never update it.
    old = file.stat().st_mtime_ns - 3_600_000_000_000
    probe = tmp_path / "probe.txt"
    probe.write_bytes(b"probe")
    _age(probe, old)
    probe.read_bytes()
    atime_works = probe.stat().st_atime_ns != old
    probe.unlink()
    for path in (file, folder / "secret.txt", folder / "sub" / "deep.txt"):
        _age(path, old)
    result = Canary(tmp_path, file, folder, [], {}, old, atime_works)
    result.before = result.snapshot()
    return result


def guest_with_canary(storage: Any, canary: Canary) -> Path:
    storage.create(SID)
    folder = Path(storage.checkout(SID))
    canary.exclude(folder)
    return folder


# ---- Sessions


def test_backends_implement_the_protocol(storage: Any) -> None:
    assert isinstance(storage, StorageAdapter)
    assert storage.name in ("disk", "sqlite")
    assert storage.root.is_absolute()


def test_create_exists_list_delete_are_idempotent(storage: Any) -> None:
    assert storage.list_sessions() == []
    assert not storage.exists("b2")
    storage.create("b2")
    storage.create("b2")
    storage.create("a1")
    assert storage.exists("b2")
    assert storage.list_sessions() == ["a1", "b2"]
    storage.write_file("b2", "x.bin", b"0123456789")
    assert storage.delete("b2") >= 10
    assert storage.delete("b2") == 0
    assert not storage.exists("b2")
    assert storage.list_sessions() == ["a1"]


def test_uuid_ids_are_canonical(storage: Any) -> None:
    upper = "6F9619FF-8B86-D011-B42D-00CF4FC964FF"
    storage.create(upper)
    assert storage.list_sessions() == [upper.lower()]
    assert storage.exists(upper.lower())


def test_delete_removes_metadata_too(storage: Any) -> None:
    storage.create(SID)
    meta = Path(storage.meta_dir(SID))
    (meta / "session.json").write_text("{}")
    storage.delete(SID)
    assert not meta.exists()
    assert not storage.exists(SID)


def test_unknown_session_is_refused(storage: Any) -> None:
    for call in (
        lambda: storage.read_file("nope", "a.txt"),
        lambda: storage.write_file("nope", "a.txt", b"x"),
        lambda: storage.list_files("nope"),
        lambda: storage.usage("nope"),
        lambda: storage.reset("nope"),
        lambda: storage.checkout("nope"),
    ):
        with pytest.raises(WorkspaceError) as exc:
            call()
        assert "nope" in two_part(exc)
    assert storage.list_sessions() == []


def test_meta_dir_is_outside_the_checked_out_folder(storage: Any) -> None:
    storage.create(SID)
    meta = Path(storage.meta_dir(SID)).resolve()
    folder = Path(storage.checkout(SID)).resolve()
    assert meta.is_dir()
    assert meta != folder
    assert folder not in meta.parents
    (meta / "audit.log").write_text("host only")
    assert all(info.path != "audit.log" for info in storage.list_files(SID))


def test_checkout_returns_a_stable_folder(storage: Any) -> None:
    storage.create(SID)
    first = storage.checkout(SID)
    assert storage.checkout(SID) == first
    storage.checkin(SID)
    assert storage.checkout(SID) == first
    assert Path(first).is_dir()


def test_guest_changes_are_saved_by_checkin(storage: Any) -> None:
    storage.create(SID)
    storage.write_file(SID, "old.txt", b"old")
    storage.write_file(SID, "keep.txt", b"keep")
    folder = Path(storage.checkout(SID))
    # What a guest turn does:
    (folder / "old.txt").unlink()
    (folder / "data").mkdir()
    (folder / "data" / "out.csv").write_bytes(b"a,b\n1,2\n")
    (folder / "keep.txt").write_bytes(b"changed!")
    (folder / "empty").mkdir()
    storage.checkin(SID)
    assert storage.read_file(SID, "data/out.csv") == b"a,b\n1,2\n"
    assert storage.read_file(SID, "keep.txt") == b"changed!"
    names = [info.path for info in storage.list_files(SID)]
    assert names == ["data", "data/out.csv", "empty", "keep.txt"]
    storage.checkin(SID, final=True)
    assert [info.path for info in storage.list_files(SID)] == names
    again = Path(storage.checkout(SID))
    assert (again / "data" / "out.csv").read_bytes() == b"a,b\n1,2\n"
    assert (again / "keep.txt").read_bytes() == b"changed!"
    assert (again / "empty").is_dir()
    assert not (again / "old.txt").exists()


def test_host_writes_are_visible_in_the_checked_out_folder(storage: Any) -> None:
    storage.create(SID)
    folder = Path(storage.checkout(SID))
    storage.write_file(SID, "/app/in/a.txt", b"from host")
    assert (folder / "in" / "a.txt").read_bytes() == b"from host"
    storage.rename_file(SID, "in/a.txt", "in/b.txt")
    assert not (folder / "in" / "a.txt").exists()
    assert (folder / "in" / "b.txt").read_bytes() == b"from host"
    storage.delete_file(SID, "in")
    assert not (folder / "in").exists()
    storage.write_file(SID, "c.txt", b"c")
    storage.checkin(SID, final=True)
    assert storage.read_file(SID, "c.txt") == b"c"
    assert [info.path for info in storage.list_files(SID)] == ["c.txt"]


# ---- Files (idle and checked out)


def test_binary_round_trip(storage: Any, session: str) -> None:
    data = bytes(range(256)) * 5 + b"\x00\r\n\xff"
    storage.write_file(session, "all.bin", data)
    assert storage.read_file(session, "all.bin") == data
    storage.write_file(session, "empty.bin", b"")
    assert storage.read_file(session, "empty.bin") == b""
    storage.write_file(session, "view.bin", memoryview(bytearray(b"abc")))
    assert storage.read_file(session, "view.bin") == b"abc"


def test_write_creates_parents_and_replaces(storage: Any, session: str) -> None:
    storage.write_file(session, "a/b/c/d.txt", b"one")
    storage.write_file(session, "a/b/c/d.txt", b"two, longer")
    assert storage.read_file(session, "a/b/c/d.txt") == b"two, longer"
    kinds = {info.path: info.kind for info in storage.list_files(session)}
    assert kinds == {"a": "dir", "a/b": "dir", "a/b/c": "dir", "a/b/c/d.txt": "file"}


def test_guest_paths_are_accepted(storage: Any, session: str) -> None:
    storage.write_file(session, "/app/data/x.txt", b"x")
    assert storage.read_file(session, "data/x.txt") == b"x"
    assert storage.read_file(session, "/app/data/./x.txt") == b"x"
    assert storage.read_file(session, "data//x.txt") == b"x"
    assert [info.path for info in storage.list_files(session, "/app/data/*")] == ["data/x.txt"]


def test_list_files_patterns_and_sorting(storage: Any, session: str) -> None:
    for path in ("b.txt", "a.py", "c.txt", "src/m.py", "src/pkg/n.py", "src/pkg/o.txt", "x1.txt"):
        storage.write_file(session, path, path.encode())
    every = [info.path for info in storage.list_files(session)]
    assert every == sorted(every)
    assert every == [
        "a.py",
        "b.txt",
        "c.txt",
        "src",
        "src/m.py",
        "src/pkg",
        "src/pkg/n.py",
        "src/pkg/o.txt",
        "x1.txt",
    ]

    def names(pattern: str) -> list[str]:
        return [info.path for info in storage.list_files(session, pattern)]

    assert names("*") == ["a.py", "b.txt", "c.txt", "src", "x1.txt"]
    assert names("*.txt") == ["b.txt", "c.txt", "x1.txt"]
    assert names("**/*.py") == ["a.py", "src/m.py", "src/pkg/n.py"]
    assert names("src/*") == ["src/m.py", "src/pkg"]
    assert names("src/**/*.txt") == ["src/pkg/o.txt"]
    assert names("src/**") == ["src/m.py", "src/pkg", "src/pkg/n.py", "src/pkg/o.txt"]
    assert names("?.txt") == ["b.txt", "c.txt"]
    assert names("x?.txt") == ["x1.txt"]
    assert names("src/pkg/n.py") == ["src/pkg/n.py"]
    assert names("missing/*") == []


def test_file_info_fields(storage: Any, session: str) -> None:
    storage.write_file(session, "d/f.bin", b"12345")
    infos = {info.path: info for info in storage.list_files(session)}
    assert infos["d/f.bin"].kind == "file"
    assert infos["d/f.bin"].size == 5
    assert infos["d"].kind == "dir"
    assert infos["d"].size == 0
    assert all(isinstance(info, FileInfo) for info in infos.values())
    assert abs(infos["d/f.bin"].modified - time.time()) < 3600


def test_rename_file_and_folder(storage: Any, session: str) -> None:
    storage.write_file(session, "a.txt", b"a")
    storage.rename_file(session, "a.txt", "moved/b.txt")
    assert storage.read_file(session, "moved/b.txt") == b"a"
    storage.write_file(session, "moved/sub/c.txt", b"c")
    storage.rename_file(session, "moved", "/app/renamed")
    assert storage.read_file(session, "renamed/b.txt") == b"a"
    assert storage.read_file(session, "renamed/sub/c.txt") == b"c"
    assert [info.path for info in storage.list_files(session)] == [
        "renamed",
        "renamed/b.txt",
        "renamed/sub",
        "renamed/sub/c.txt",
    ]


def test_rename_refusals_change_nothing(storage: Any, session: str) -> None:
    storage.write_file(session, "a.txt", b"a")
    storage.write_file(session, "b.txt", b"b")
    storage.write_file(session, "d/e.txt", b"e")
    before = storage.list_files(session)
    cases = [
        ("a.txt", "b.txt"),  # target exists
        ("missing.txt", "z.txt"),  # no source
        ("d", "d/inside"),  # into itself
        ("a.txt", "b.txt/x"),  # a file as a folder
        ("a.txt", "a.txt"),  # onto itself
    ]
    for source, target in cases:
        with pytest.raises(WorkspaceError) as exc:
            storage.rename_file(session, source, target)
        two_part(exc)
    assert storage.list_files(session) == before
    assert storage.read_file(session, "b.txt") == b"b"


def test_delete_file_and_folder(storage: Any, session: str) -> None:
    storage.write_file(session, "a.txt", b"a")
    storage.write_file(session, "d/x/y.txt", b"y")
    storage.write_file(session, "d/z.txt", b"z")
    storage.write_file(session, "dz.txt", b"keep")  # sorts between "d" and "d/"
    storage.delete_file(session, "a.txt")
    storage.delete_file(session, "/app/d")
    assert [info.path for info in storage.list_files(session)] == ["dz.txt"]
    with pytest.raises(WorkspaceError) as exc:
        storage.delete_file(session, "a.txt")
    assert "does not exist" in two_part(exc)


def test_reset_empties_but_keeps_the_session(storage: Any, session: str) -> None:
    storage.write_file(session, "a.txt", b"a")
    storage.write_file(session, "d/b.txt", b"b")
    storage.reset(session)
    assert storage.exists(session)
    assert storage.list_files(session) == []
    assert storage.usage(session) == (0, 0)
    storage.write_file(session, "c.txt", b"c")
    assert storage.read_file(session, "c.txt") == b"c"


def test_usage_counts_bytes_and_entries(storage: Any, session: str) -> None:
    assert storage.usage(session) == (0, 0)
    storage.write_file(session, "a.txt", b"0123456789")
    storage.write_file(session, "d/b.txt", b"01234")
    assert storage.usage(session) == (15, 3)


def test_refused_writes_change_nothing(storage: Any, session: str) -> None:
    storage.write_file(session, "f.txt", b"file")
    storage.write_file(session, "d/g.txt", b"g")
    before = storage.list_files(session)
    with pytest.raises(WorkspaceError) as exc:
        storage.write_file(session, "f.txt/sub/new.txt", b"x")  # a file as a folder
    assert "not a folder" in two_part(exc)
    with pytest.raises(WorkspaceError) as exc:
        storage.write_file(session, "d", b"x")  # onto a folder
    assert "folder" in two_part(exc)
    with pytest.raises(WorkspaceError):
        storage.write_file(session, "ok.txt", "text is not bytes")  # type: ignore[arg-type]
    assert storage.list_files(session) == before


def test_reading_folders_and_missing_files_is_refused(storage: Any, session: str) -> None:
    storage.write_file(session, "d/g.txt", b"g")
    with pytest.raises(WorkspaceError) as exc:
        storage.read_file(session, "d")
    assert "folder" in two_part(exc)
    with pytest.raises(WorkspaceError) as exc:
        storage.read_file(session, "nope.txt")
    assert "does not exist" in two_part(exc)


def test_size_limits(storage: Any, session: str) -> None:
    assert DEFAULT_MAX_READ == 64 * 1024 * 1024
    assert DEFAULT_MAX_WRITE == 256 * 1024 * 1024
    storage.write_file(session, "big.bin", b"x" * 2000)
    with pytest.raises(WorkspaceError) as exc:
        storage.read_file(session, "big.bin", max_bytes=1000)
    message = two_part(exc)
    assert "2,000" in message
    assert "1,000" in message
    assert storage.read_file(session, "big.bin", max_bytes=2000) == b"x" * 2000
    with pytest.raises(WorkspaceError) as exc:
        storage.write_file(session, "new/too-big.bin", b"y" * 2000, max_bytes=1999)
    assert "1,999" in two_part(exc)
    assert [info.path for info in storage.list_files(session)] == ["big.bin"]
    with pytest.raises(WorkspaceError):
        storage.read_file(session, "big.bin", max_bytes=-1)


def test_writes_leave_no_temporary_files(storage: Any, guest: Path) -> None:
    for index in range(5):
        storage.write_file(SID, "out/f.txt", str(index).encode())
    assert os.listdir(guest / "out") == ["f.txt"]


def test_threads_share_one_adapter(storage: Any, session: str) -> None:
    errors: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            for index in range(15):
                path = f"common/t{thread}/f{index}.txt"
                storage.write_file(session, path, f"{thread}-{index}".encode())
                assert storage.read_file(session, path) == f"{thread}-{index}".encode()
            storage.list_files(session, "common/**/*.txt")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(storage.list_files(session, "common/*/*.txt")) == 90


# ---- Attacks: bad paths and ids

BAD_PATHS = [
    ("../x", PathOutsideWorkspaceError),
    ("a/../../x", PathOutsideWorkspaceError),
    ("../canary.txt", PathOutsideWorkspaceError),
    ("../../canary.txt", PathOutsideWorkspaceError),
    ("../../../canary.txt", PathOutsideWorkspaceError),
    ("/app/../x", PathOutsideWorkspaceError),
    ("/app/../../canary.txt", PathOutsideWorkspaceError),
    ("/etc/passwd", PathOutsideWorkspaceError),
    ("/application/x", PathOutsideWorkspaceError),
    ("C:/x", PathOutsideWorkspaceError),
    ("c:x", PathOutsideWorkspaceError),
    ("a\\b", PathOutsideWorkspaceError),
    ("..\\canary.txt", PathOutsideWorkspaceError),
    ("/", PathOutsideWorkspaceError),
    ("", WorkspaceError),
    (".", WorkspaceError),
    ("/app", WorkspaceError),
    ("/app/", WorkspaceError),
    ("x\x00y", WorkspaceError),
    ("line\nbreak", WorkspaceError),
    ("a" * 2000, WorkspaceError),
    ("d/" * MAX_PATH_DEPTH + "x", WorkspaceError),
]


@pytest.mark.parametrize(("bad", "error"), BAD_PATHS, ids=[repr(p[:20]) for p, _ in BAD_PATHS])
def test_bad_paths_are_refused_everywhere(
    storage: Any, canary: Canary, bad: str, error: type[Exception]
) -> None:
    folder = guest_with_canary(storage, canary)
    storage.write_file(SID, "ok.txt", b"ok")
    before = storage.list_files(SID)
    calls: list[Callable[[], object]] = [
        lambda: storage.read_file(SID, bad),
        lambda: storage.write_file(SID, bad, b"pwned"),
        lambda: storage.delete_file(SID, bad),
        lambda: storage.rename_file(SID, bad, "stolen.txt"),
        lambda: storage.rename_file(SID, "ok.txt", bad),
        lambda: storage.list_files(SID, bad),
    ]
    for call in calls:
        with pytest.raises(error) as exc:
            call()
        two_part(exc)
    assert storage.list_files(SID) == before
    assert sorted(os.listdir(folder)) == ["ok.txt"]
    canary.assert_untouched()


def test_absolute_host_path_is_refused(storage: Any, canary: Canary) -> None:
    guest_with_canary(storage, canary)
    for bad in (str(canary.file), str(canary.folder / "secret.txt")):
        with pytest.raises(PathOutsideWorkspaceError):
            storage.read_file(SID, bad)
        with pytest.raises(PathOutsideWorkspaceError):
            storage.write_file(SID, bad, b"pwned")
        with pytest.raises(PathOutsideWorkspaceError):
            storage.delete_file(SID, bad)
    canary.assert_untouched()


BAD_IDS: list[object] = [
    "../x",
    "..",
    ".",
    "",
    "/",
    "a/b",
    "a\\b",
    ".hidden",
    "x" * 65,
    "con",
    "workspaces.sqlite3",
    "workspaces.sqlite3-journal",
    "WORKSPACES.SQLITE3",
    "bad id",
    42,
    None,
]


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_bad_session_ids_are_refused(storage: Any, canary: Canary, bad: object) -> None:
    root = Path(storage.root)
    before = sorted(os.listdir(root))
    calls: list[Callable[[], object]] = [
        lambda: storage.create(bad),
        lambda: storage.exists(bad),
        lambda: storage.delete(bad),
        lambda: storage.usage(bad),
        lambda: storage.meta_dir(bad),
        lambda: storage.checkout(bad),
        lambda: storage.checkin(bad, final=True),
        lambda: storage.read_file(bad, "a.txt"),
        lambda: storage.write_file(bad, "a.txt", b"x"),
        lambda: storage.delete_file(bad, "a.txt"),
        lambda: storage.rename_file(bad, "a.txt", "b.txt"),
        lambda: storage.list_files(bad),
        lambda: storage.reset(bad),
    ]
    for call in calls:
        with pytest.raises(InvalidSessionIdError):
            call()
    assert sorted(os.listdir(root)) == before
    assert storage.list_sessions() == []
    canary.assert_untouched()


# ---- Attacks: links the guest makes


@posix_only
def test_link_to_a_host_file(storage: Any, canary: Canary) -> None:
    folder = guest_with_canary(storage, canary)
    os.symlink(canary.file, folder / "link.txt")
    storage.checkin(SID)

    for path in ("link.txt", "/app/link.txt"):
        with pytest.raises(PathOutsideWorkspaceError) as exc:
            storage.read_file(SID, path)
        assert "link" in two_part(exc)
    with pytest.raises(PathOutsideWorkspaceError):
        storage.write_file(SID, "link.txt", b"pwned")
    with pytest.raises(PathOutsideWorkspaceError):
        storage.write_file(SID, "link.txt/x", b"pwned")
    with pytest.raises(PathOutsideWorkspaceError):
        storage.rename_file(SID, "link.txt", "moved.txt")
    assert os.readlink(folder / "link.txt") == str(canary.file)  # not replaced

    infos = storage.list_files(SID)
    assert [(i.path, i.kind, i.size) for i in infos] == [("link.txt", "symlink", 0)]
    assert storage.usage(SID) == (0, 1)

    storage.delete_file(SID, "link.txt")
    assert not os.path.lexists(folder / "link.txt")
    canary.assert_untouched()


@posix_only
def test_link_to_a_host_folder(storage: Any, canary: Canary) -> None:
    folder = guest_with_canary(storage, canary)
    os.symlink(canary.folder, folder / "linkdir", target_is_directory=True)
    (folder / "mine.txt").write_bytes(b"mine")
    storage.checkin(SID)

    infos = storage.list_files(SID)
    assert [(i.path, i.kind) for i in infos] == [("linkdir", "symlink"), ("mine.txt", "file")]
    assert storage.list_files(SID, "linkdir/*") == []
    assert storage.list_files(SID, "linkdir/**/*") == []
    assert storage.usage(SID) == (4, 2)

    refused: list[Callable[[], object]] = [
        lambda: storage.read_file(SID, "linkdir/secret.txt"),
        lambda: storage.read_file(SID, "linkdir/sub/deep.txt"),
        lambda: storage.write_file(SID, "linkdir/new.txt", b"pwned"),
        lambda: storage.write_file(SID, "linkdir/sub/new.txt", b"pwned"),
        lambda: storage.write_file(SID, "linkdir/fresh/new.txt", b"pwned"),
        lambda: storage.delete_file(SID, "linkdir/secret.txt"),
        lambda: storage.delete_file(SID, "linkdir/sub"),
        lambda: storage.rename_file(SID, "linkdir/secret.txt", "stolen.txt"),
        lambda: storage.rename_file(SID, "mine.txt", "linkdir/mine.txt"),
        lambda: storage.rename_file(SID, "linkdir", "elsewhere"),
    ]
    for call in refused:
        with pytest.raises(PathOutsideWorkspaceError) as exc:
            call()
        assert "link" in two_part(exc)
    assert sorted(os.listdir(folder)) == ["linkdir", "mine.txt"]
    canary.assert_untouched()

    storage.reset(SID)
    assert os.listdir(folder) == []
    assert storage.exists(SID)
    canary.assert_untouched()


@posix_only
def test_delete_session_with_links_keeps_the_host_intact(storage: Any, canary: Canary) -> None:
    folder = guest_with_canary(storage, canary)
    os.symlink(canary.folder, folder / "linkdir", target_is_directory=True)
    os.symlink(canary.file, folder / "link.txt")
    (folder / "d").mkdir()
    os.symlink(canary.folder, folder / "d" / "inner", target_is_directory=True)
    (folder / "d" / "f.txt").write_bytes(b"12345")
    storage.checkin(SID)
    meta = Path(storage.meta_dir(SID))
    canary.exclude(meta)
    freed = storage.delete(SID)
    assert 5 <= freed < len(SECRET)
    assert not folder.exists()
    assert not storage.exists(SID)
    canary.assert_untouched()


@posix_only
def test_relative_links_out_of_the_workspace(storage: Any, canary: Canary) -> None:
    folder = guest_with_canary(storage, canary)
    os.symlink(os.path.relpath(canary.file, folder), folder / "rel.txt")
    os.symlink("../../canary", folder / "literal")
    (folder / "sub").mkdir()
    os.symlink(os.path.relpath(canary.folder, folder / "sub"), folder / "sub" / "up")
    storage.checkin(SID)

    for path in ("rel.txt", "literal", "sub/up/secret.txt", "sub/up/sub/deep.txt"):
        with pytest.raises(PathOutsideWorkspaceError):
            storage.read_file(SID, path)
    with pytest.raises(PathOutsideWorkspaceError):
        storage.write_file(SID, "rel.txt", b"pwned")
    with pytest.raises(PathOutsideWorkspaceError):
        storage.write_file(SID, "sub/up/x.txt", b"pwned")
    kinds = {i.path: i.kind for i in storage.list_files(SID)}
    assert kinds == {"literal": "symlink", "rel.txt": "symlink", "sub": "dir", "sub/up": "symlink"}
    storage.delete_file(SID, "sub")
    storage.delete_file(SID, "rel.txt")
    assert os.listdir(folder) == ["literal"]
    canary.assert_untouched()


@posix_only
def test_deep_trees_with_links_are_walked_and_removed(storage: Any, canary: Canary) -> None:
    folder = guest_with_canary(storage, canary)
    depth = 120  # deeper than the walk keeps open (32) and than a caller's path may be
    deep = folder.joinpath(*["n"] * depth)
    deep.mkdir(parents=True)
    (deep / "f.txt").write_bytes(b"abc")
    os.symlink(canary.folder, deep / "out", target_is_directory=True)
    storage.checkin(SID)
    assert storage.usage(SID) == (3, depth + 2)
    listed = storage.list_files(SID, "**/*")
    assert len(listed) == depth + 2
    assert listed[-1].kind == "symlink"
    assert not any(i.path.endswith("secret.txt") for i in listed)
    storage.reset(SID)
    assert os.listdir(folder) == []
    canary.assert_untouched()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo")
def test_special_files_are_listed_but_never_opened(storage: Any, guest: Path) -> None:
    os.mkfifo(guest / "pipe")
    storage.checkin(SID)
    assert [(i.path, i.kind) for i in storage.list_files(SID)] == [("pipe", "other")]
    with pytest.raises(WorkspaceError) as exc:
        storage.read_file(SID, "pipe")  # would block forever if opened for reading
    assert "regular file" in two_part(exc)
    with pytest.raises(WorkspaceError):
        storage.write_file(SID, "pipe", b"x")
    storage.delete_file(SID, "pipe")
    assert os.listdir(guest) == []


# ---- Backend specifics


def test_disk_layout(tmp_path: Path) -> None:
    storage = DiskStorage(tmp_path / "root")
    storage.create(SID)
    assert storage.checkout(SID) == tmp_path / "root" / SID / "workspace"
    assert storage.meta_dir(SID) == tmp_path / "root" / SID
    # A stray folder without a workspace is not a session.
    (tmp_path / "root" / "stray").mkdir()
    assert storage.list_sessions() == [SID]


@pytest.fixture(params=SQLITE_BACKENDS)
def sqlite_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], SQLiteStorage]]:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    opened: list[SQLiteStorage] = []

    def make() -> SQLiteStorage:
        store: SQLiteStorage = BACKENDS[request.param](tmp_path / "storage", scratch)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def stored_blobs(store: SQLiteStorage) -> list[bytes]:
    with sqlite3.connect(store.database) as conn:
        rows = conn.execute("SELECT data FROM files WHERE data IS NOT NULL").fetchall()
    conn.close()
    return [bytes(row[0]) for row in rows]


def stored_paths(store: SQLiteStorage) -> list[str]:
    with sqlite3.connect(store.database) as conn:
        rows = conn.execute("SELECT path FROM files ORDER BY path").fetchall()
    conn.close()
    return [str(row[0]) for row in rows]


@posix_only
def test_sqlite_checkin_never_stores_links(
    sqlite_factory: Callable[[], SQLiteStorage], tmp_path: Path
) -> None:
    store = sqlite_factory()
    canary = tmp_path / "canary.txt"
    canary.write_bytes(SECRET)
    (tmp_path / "canary-dir").mkdir()
    (tmp_path / "canary-dir" / "secret.txt").write_bytes(SECRET)
    store.create(SID)
    folder = Path(store.checkout(SID))
    os.symlink(canary, folder / "link.txt")
    os.symlink(tmp_path / "canary-dir", folder / "linkdir", target_is_directory=True)
    (folder / "real.txt").write_bytes(b"real")
    store.checkin(SID, final=True)
    assert not folder.exists()
    assert stored_paths(store) == ["real.txt"]
    assert all(SECRET[:20] not in blob for blob in stored_blobs(store))
    again = Path(store.checkout(SID))
    assert sorted(os.listdir(again)) == ["real.txt"]
    assert canary.read_bytes() == SECRET


def test_sqlite_checkout_folder_is_private_and_released(
    sqlite_factory: Callable[[], SQLiteStorage],
) -> None:
    store = sqlite_factory()
    store.create(SID)
    folder = Path(store.checkout(SID))
    if os.name != "nt":
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    store.checkin(SID, final=True)
    assert not folder.exists()
    store.checkin(SID, final=True)  # nothing checked out: no-op
    folder = Path(store.checkout(SID))
    store.delete(SID)
    assert not folder.exists()


def test_sqlite_state_survives_a_new_instance(sqlite_factory: Callable[[], SQLiteStorage]) -> None:
    first = sqlite_factory()
    first.create(SID)
    first.write_file(SID, "a/b.bin", bytes(range(256)))
    folder = Path(first.checkout(SID))
    (folder / "guest.txt").write_bytes(b"guest")
    first.close()  # saves and releases the checkout
    assert not folder.exists()
    second = sqlite_factory()
    assert second.list_sessions() == [SID]
    assert second.read_file(SID, "a/b.bin") == bytes(range(256))
    assert second.read_file(SID, "guest.txt") == b"guest"
    with pytest.raises(WorkspaceError):
        first.list_files(SID)  # closed


class _FailingConnection(sqlite3.Connection):
    """Fault injection at the sqlite level: fail the Nth write once armed."""

    armed = False
    allowed = 1

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        self._maybe_fail(sql)
        return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        self._maybe_fail(sql)
        return super().executemany(sql, parameters)

    def _maybe_fail(self, sql: str) -> None:
        cls = type(self)
        if cls.armed and sql.lstrip().upper().startswith(("INSERT", "DELETE", "UPDATE")):
            if cls.allowed <= 0:
                raise sqlite3.OperationalError("disk I/O error (injected)")
            cls.allowed -= 1


def test_sqlite_crash_during_sync_keeps_the_previous_state(
    sqlite_factory: Callable[[], SQLiteStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_connect = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        kwargs.setdefault("factory", _FailingConnection)
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    monkeypatch.setattr(_FailingConnection, "armed", False)
    store = sqlite_factory()
    store.create(SID)
    folder = Path(store.checkout(SID))
    (folder / "a.txt").write_bytes(b"v1")
    (folder / "b.txt").write_bytes(b"v1")
    (folder / "d").mkdir()
    (folder / "d" / "c.txt").write_bytes(b"v1")
    store.checkin(SID)
    before = stored_paths(store)

    (folder / "a.txt").write_bytes(b"version 2")
    (folder / "b.txt").write_bytes(b"version 2")
    (folder / "d" / "c.txt").unlink()
    (folder / "new.txt").write_bytes(b"new")
    monkeypatch.setattr(_FailingConnection, "armed", True)
    monkeypatch.setattr(_FailingConnection, "allowed", 1)  # one write lands, then the crash
    with pytest.raises(WorkspaceError) as exc:
        store.checkin(SID, final=True)
    assert "Nothing was changed" in two_part(exc)
    monkeypatch.setattr(_FailingConnection, "armed", False)

    assert stored_paths(store) == before
    fresh = sqlite_factory()
    assert fresh.read_file(SID, "a.txt") == b"v1"
    assert fresh.read_file(SID, "b.txt") == b"v1"
    assert fresh.read_file(SID, "d/c.txt") == b"v1"
    assert [i.path for i in fresh.list_files(SID)] == ["a.txt", "b.txt", "d", "d/c.txt"]

    # The folder was kept, so saving again works once the fault is gone.
    assert (folder / "new.txt").exists()
    store.checkin(SID, final=True)
    assert fresh.read_file(SID, "a.txt") == b"version 2"
    assert fresh.read_file(SID, "new.txt") == b"new"
    assert [i.path for i in fresh.list_files(SID)] == ["a.txt", "b.txt", "d", "new.txt"]


def test_sqlite_failed_host_write_changes_nothing(
    sqlite_factory: Callable[[], SQLiteStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_connect = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        kwargs.setdefault("factory", _FailingConnection)
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    monkeypatch.setattr(_FailingConnection, "armed", False)
    store = sqlite_factory()
    store.create(SID)
    store.write_file(SID, "keep.txt", b"keep")
    monkeypatch.setattr(_FailingConnection, "armed", True)
    monkeypatch.setattr(_FailingConnection, "allowed", 1)  # parent folder row, then crash
    with pytest.raises(WorkspaceError):
        store.write_file(SID, "new/deep/file.txt", b"x")
    monkeypatch.setattr(_FailingConnection, "armed", False)
    assert stored_paths(store) == ["keep.txt"]
