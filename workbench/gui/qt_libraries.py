"""Whether Qt's xcb platform plugin can load, checked before any window opens.

On Linux, PySide6's wheels bring Qt but not the X11 helper libraries its xcb
platform plugin links against (``libxcb-cursor0``, ``libxcb-icccm4``,
``libxcb-keysyms1`` ...). A minimal install lacks several of them, and Qt then
aborts with "Could not load the Qt platform plugin xcb ... Reinstalling the
application may fix this problem", which names neither the library nor the fix.

This module finds the plugin where Qt would (``QT_QPA_PLATFORM_PLUGIN_PATH``,
``QT_PLUGIN_PATH``, then PySide6's own ``Qt/plugins``), reads the ``DT_NEEDED``
entries of its ELF file and of every library they resolve to, and looks each
one up the way the dynamic loader does (``DT_RPATH``, ``LD_LIBRARY_PATH``,
``DT_RUNPATH`` with ``$ORIGIN``, the ``ld.so.conf`` directories, the default
directories), so that it can name *every* missing library at once: the loader
itself stops at the first. It needs no ``ldd`` or ``readelf``, imports no Qt,
and reads a few kilobytes per library.

The loader has the last word: when the scan finds something missing, the
plugin is loaded with :func:`ctypes.CDLL`, and only if that fails too is the
problem reported. A loader set-up the scan doesn't know (an ``ld.so.cache``
entry outside every configured directory, say) therefore never blocks a
plugin that would load.

Usage::

    problem = xcb_problem()          # None when the window can open
    if problem is not None:
        print(problem, file=sys.stderr)
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import os
import struct
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "MissingLibrary",
    "find_xcb_plugin",
    "missing_libraries",
    "package_names",
    "uses_xcb",
    "xcb_problem",
]

#: The file name of the xcb platform plugin.
XCB_PLUGIN = "libqxcb.so"

# Packages that hold a library, by soname: (Debian/Ubuntu, Fedora). Sonames not
# listed get Debian's naming rule and Fedora's "dnf install 'soname()(64bit)'".
_PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-ewmh.so.2": ("libxcb-ewmh2", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libXau.so.6": ("libxau6", "libXau"),
    "libXdmcp.so.6": ("libxdmcp6", "libXdmcp"),
    "libSM.so.6": ("libsm6", "libSM"),
    "libICE.so.6": ("libice6", "libICE"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libGLX.so.0": ("libglx0", "libglvnd-glx"),
    "libGLdispatch.so.0": ("libglvnd0", "libglvnd"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
}

# ELF constants (see elf(5)).
_PT_LOAD = 1
_PT_DYNAMIC = 2
_DT_NULL = 0
_DT_NEEDED = 1
_DT_STRTAB = 5
_DT_STRSZ = 10
_DT_RPATH = 15
_DT_RUNPATH = 29
#: A string table larger than this is not a real library's.
_MAX_STRTAB = 16 * 1024 * 1024


@dataclass(frozen=True)
class MissingLibrary:
    """A shared library the loader would not find, and which files need it."""

    #: The ``DT_NEEDED`` name, such as ``libxcb-cursor.so.0``.
    soname: str
    #: File names of the plugin or libraries that link against it.
    needed_by: tuple[str, ...]


@dataclass
class _Elf:
    """What the loader reads from one ELF file's dynamic section."""

    kind: tuple[int, int, int]  # (class, byte order, machine): a match must share it
    needed: list[str] = field(default_factory=list)
    rpath: list[str] = field(default_factory=list)
    runpath: list[str] = field(default_factory=list)


# ---- Public API


def uses_xcb(env: Mapping[str, str] | None = None) -> bool:
    """Whether Qt would pick the xcb platform plugin in this environment.

    True on Linux when ``QT_QPA_PLATFORM`` asks for xcb (first in a
    ``;``-separated list) or, when it is unset, when an X display is set and
    the session is not a Wayland one (Qt then prefers its wayland plugin).
    """
    env = os.environ if env is None else env
    if not sys.platform.startswith("linux"):
        return False
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        first = chosen.split(";")[0].split(":")[0].strip()
        return first == "xcb"
    if env.get("XDG_SESSION_TYPE") == "wayland" and env.get("WAYLAND_DISPLAY"):
        return False
    return bool(env.get("DISPLAY"))


def find_xcb_plugin(env: Mapping[str, str] | None = None) -> Path | None:
    """The ``libqxcb.so`` Qt would load, searched in Qt's order; None if there is none."""
    env = os.environ if env is None else env
    folders: list[Path] = []
    if env.get("QT_QPA_PLATFORM_PLUGIN_PATH"):
        folders += [Path(p) for p in env["QT_QPA_PLATFORM_PLUGIN_PATH"].split(os.pathsep) if p]
    if env.get("QT_PLUGIN_PATH"):
        folders += [Path(p) / "platforms" for p in env["QT_PLUGIN_PATH"].split(os.pathsep) if p]
    spec = importlib.util.find_spec("PySide6")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            folders.append(Path(location) / "Qt" / "plugins" / "platforms")
    for folder in folders:
        candidate = folder / XCB_PLUGIN
        if candidate.is_file():
            return candidate
    return None


def missing_libraries(
    path: str | os.PathLike[str], env: Mapping[str, str] | None = None
) -> list[MissingLibrary]:
    """Every shared library that ``path`` needs, directly or not, and the loader can't find.

    Follows the dependencies of each library found, so a Qt library that needs
    a missing system library is reported too. An empty list means every
    dependency was found (it doesn't prove the file loads: symbol versions are
    not checked).

    Raises
    ------
    OSError
        If ``path`` can't be read or is not an ELF shared object.
    """
    env = os.environ if env is None else env
    start = Path(path)
    root = _read_elf(start)
    if root is None:
        raise OSError(f"{start} is not an ELF file")
    system = _system_dirs()
    preload = _split_path(env.get("LD_LIBRARY_PATH", ""))
    missing: dict[str, list[str]] = {}
    seen: set[str] = set()
    located: dict[tuple[str, tuple[str, ...], tuple[int, int, int]], tuple[str, _Elf] | None] = {}
    queue: list[tuple[str, _Elf, list[str]]] = [(str(start), root, [])]
    while queue:
        current, elf, inherited_rpath = queue.pop()
        if current in seen:
            continue
        seen.add(current)
        origin = os.path.dirname(current)
        own_rpath = [_expand(d, origin) for d in elf.rpath]
        # DT_RPATH is searched only when there is no DT_RUNPATH, and is
        # inherited by what the object loads; DT_RUNPATH applies to its own needs.
        rpath = [] if elf.runpath else own_rpath + inherited_rpath
        runpath = [_expand(d, origin) for d in elf.runpath]
        folders = tuple(dict.fromkeys([*rpath, *preload, *runpath, *system]))
        for soname in elf.needed:
            lookup = (soname, folders, elf.kind)
            if lookup not in located:
                located[lookup] = _locate(soname, folders, elf.kind)
            found = located[lookup]
            if found is None:
                missing.setdefault(soname, []).append(os.path.basename(current))
            elif found[0] not in seen:
                queue.append((found[0], found[1], own_rpath + inherited_rpath))
    return [
        MissingLibrary(soname, tuple(sorted(set(users))))
        for soname, users in sorted(missing.items())
    ]


def package_names(sonames: Iterable[str]) -> tuple[list[str], list[str]]:
    """The Debian/Ubuntu and the Fedora packages that provide ``sonames``, without repeats."""
    debian: list[str] = []
    fedora: list[str] = []
    for soname in sonames:
        if soname in _PACKAGES:
            deb, rpm = _PACKAGES[soname]
        elif soname.startswith("libxcb-") or soname == "libxcb.so.1":
            # The protocol extensions (randr, shm, xkb ...) are all in Fedora's libxcb.
            deb, rpm = _debian_name(soname), "libxcb"
        else:
            deb, rpm = _debian_name(soname), f"'{soname}()(64bit)'"
        if deb not in debian:
            debian.append(deb)
        if rpm not in fedora:
            fedora.append(rpm)
    return debian, fedora


def xcb_problem(env: Mapping[str, str] | None = None) -> str | None:
    """Why the xcb platform plugin can't load, in words with the fix; None if it can.

    Only asked when Qt would use xcb (see :func:`uses_xcb`); None as well when
    no plugin is found or it can't be read (Qt then says what it finds).
    """
    env = os.environ if env is None else env
    if not uses_xcb(env):
        return None
    plugin = find_xcb_plugin(env)
    if plugin is None:
        return None
    try:
        missing = missing_libraries(plugin, env)
    except OSError:
        return None
    if not missing:
        return None
    try:
        ctypes.CDLL(str(plugin))
    except OSError:
        pass  # the loader agrees: report what the scan found
    else:
        return None  # the loader found them where the scan didn't look
    return _describe(plugin, missing)


# ---- Internals


def _describe(plugin: Path, missing: list[MissingLibrary]) -> str:
    qt_own = [m.soname for m in missing if m.soname.startswith("libQt6")]
    system = [m.soname for m in missing if not m.soname.startswith("libQt6")]
    lines = [
        "the workbench window can't open: Qt's X11 platform plugin (xcb)\n"
        "needs shared libraries that are not installed on this machine:"
    ]
    for item in missing:
        lines.append(f"  {item.soname}  (needed by {', '.join(item.needed_by)})")
    if system:
        debian, fedora = package_names(system)
        lines += [
            "Install them, then start wasm-workbench again:",
            f"  Debian/Ubuntu:  sudo apt install {' '.join(debian)}",
            f"  Fedora:         sudo dnf install {' '.join(fedora)}",
        ]
    if qt_own:
        lines.append(
            "The Qt libraries are part of PySide6; reinstall it: "
            "python -m pip install --force-reinstall PySide6-Essentials"
        )
    lines += [
        f"(Checked {plugin}.)",
        "Code runs without a window too: 'wasm-workbench run FILE'. "
        "On a Wayland desktop, QT_QPA_PLATFORM=wayland uses Qt's Wayland plugin instead.",
    ]
    return "\n".join(lines)


def _debian_name(soname: str) -> str:
    """Debian's rule: libfoo.so.1 is in libfoo1, libfoo2.so.0 in libfoo2-0."""
    base, _, version = soname.partition(".so")
    version = version.lstrip(".").split(".")[0]
    if not version:
        return base.lower()
    joiner = "-" if base[-1:].isdigit() else ""
    return f"{base.lower()}{joiner}{version}"


def _split_path(value: str) -> list[str]:
    return [p for p in value.replace(";", ":").split(":") if p]


def _expand(folder: str, origin: str) -> str:
    return folder.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)


def _locate(
    soname: str, folders: tuple[str, ...], kind: tuple[int, int, int]
) -> tuple[str, _Elf] | None:
    """The first file named ``soname`` in ``folders`` that is an ELF of the same kind."""
    if "/" in soname:
        candidates: Iterable[str] = [soname]
    else:
        candidates = (os.path.join(f, soname) for f in folders if "$" not in f)
    for candidate in candidates:
        if os.path.isfile(candidate):
            elf = _read_elf(Path(candidate))
            if elf is not None and elf.kind == kind:
                return candidate, elf
    return None


def _system_dirs() -> list[str]:
    """The ``ld.so.conf`` directories (what ``ld.so.cache`` is built from), then the defaults."""
    folders: list[str] = []
    _read_ld_conf(Path("/etc/ld.so.conf"), folders, depth=0)
    for default in ("/lib64", "/usr/lib64", "/lib", "/usr/lib"):
        if default not in folders:
            folders.append(default)
    return folders


def _read_ld_conf(path: Path, folders: list[str], depth: int) -> None:
    if depth > 8:
        return
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("include"):
            pattern = line[len("include") :].strip()
            if not os.path.isabs(pattern):
                pattern = str(path.parent / pattern)
            for included in sorted(glob.glob(pattern)):
                _read_ld_conf(Path(included), folders, depth + 1)
        elif line.startswith("hwcap"):
            continue
        elif line not in folders:
            folders.append(line)


def _read_elf(path: Path) -> _Elf | None:
    """The dynamic-section facts of an ELF file, or None if it isn't one (or is damaged)."""
    try:
        with path.open("rb") as file:
            return _parse_elf(file)
    except (OSError, struct.error, ValueError, UnicodeDecodeError):
        return None


def _parse_elf(file: BinaryIO) -> _Elf | None:
    def read_at(offset: int, size: int) -> bytes:
        file.seek(offset)
        data = file.read(size)
        if len(data) != size:
            raise ValueError("truncated ELF file")
        return data

    header = read_at(0, 64)
    if header[:4] != b"\x7fELF" or header[4] not in (1, 2) or header[5] not in (1, 2):
        return None
    wide = header[4] == 2
    order = "<" if header[5] == 1 else ">"
    (machine,) = struct.unpack_from(order + "H", header, 18)
    if wide:
        (phoff,) = struct.unpack_from(order + "Q", header, 32)
        phentsize, phnum = struct.unpack_from(order + "HH", header, 54)
        ph_format, dyn_format = order + "IIQQQQQQ", order + "qQ"
    else:
        (phoff,) = struct.unpack_from(order + "I", header, 28)
        phentsize, phnum = struct.unpack_from(order + "HH", header, 42)
        ph_format, dyn_format = order + "IIIIIIII", order + "iI"
    elf = _Elf(kind=(header[4], header[5], machine))
    loads: list[tuple[int, int, int]] = []  # (vaddr, filesz, offset)
    dynamic: tuple[int, int] | None = None  # (offset, filesz)
    table = read_at(phoff, phentsize * phnum)
    for index in range(phnum):
        fields = struct.unpack_from(ph_format, table, index * phentsize)
        if wide:
            p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = fields[:6]
        else:
            p_type, p_offset, p_vaddr, _paddr, p_filesz = fields[:5]
        if p_type == _PT_LOAD:
            loads.append((p_vaddr, p_filesz, p_offset))
        elif p_type == _PT_DYNAMIC:
            dynamic = (p_offset, p_filesz)
    if dynamic is None:
        return elf  # statically linked: needs nothing
    entry_size = struct.calcsize(dyn_format)
    raw = read_at(dynamic[0], dynamic[1] - dynamic[1] % entry_size)
    needed: list[int] = []
    rpath: list[int] = []
    runpath: list[int] = []
    strtab = strsz = 0
    for tag, value in struct.iter_unpack(dyn_format, raw):
        if tag == _DT_NULL:
            break
        if tag == _DT_NEEDED:
            needed.append(value)
        elif tag == _DT_STRTAB:
            strtab = value
        elif tag == _DT_STRSZ:
            strsz = value
        elif tag == _DT_RPATH:
            rpath.append(value)
        elif tag == _DT_RUNPATH:
            runpath.append(value)
    if not strsz or strsz > _MAX_STRTAB:
        return elf
    # DT_STRTAB is an address: map it to a file offset through the PT_LOAD segments.
    for vaddr, filesz, offset in loads:
        if vaddr <= strtab < vaddr + filesz:
            strings = read_at(strtab - vaddr + offset, min(strsz, vaddr + filesz - strtab))
            break
    else:
        return elf

    def text(index: int) -> str:
        end = strings.index(b"\0", index)
        return strings[index:end].decode("utf-8")

    elf.needed = [text(i) for i in needed]
    elf.rpath = [d for i in rpath for d in text(i).split(":") if d]
    elf.runpath = [d for i in runpath for d in text(i).split(":") if d]
    return elf
