"""The check that Qt's xcb plugin can load, on real plugins with real broken dependencies.

Nothing is mocked: each test lays out a copy of PySide6's own plugin next to a
``lib`` folder (so its ``$ORIGIN/../../lib`` RUNPATH resolves as in the wheel)
and breaks one dependency for real, by renaming a ``DT_NEEDED`` entry in the
ELF file to a library that exists nowhere, or by leaving a Qt library out.
The dynamic loader then refuses the file just as it would on a machine where
the library is not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import PySide6
import pytest

from workbench.gui.qt_libraries import (
    _read_elf,
    find_xcb_plugin,
    missing_libraries,
    package_names,
    uses_xcb,
    xcb_problem,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the xcb plugin exists on Linux only"
)

QT = Path(PySide6.__file__).resolve().parent / "Qt"
REPO = Path(__file__).resolve().parents[2]
#: Same length as the name it replaces, so the ELF string table keeps its layout.
ABSENT = b"libwwb-absent.so.0"
CURSOR = b"libxcb-cursor.so.0"


def patched(source: Path, target: Path, old: bytes, new: bytes) -> Path:
    """Copy ``source`` to ``target`` with the NEEDED entry ``old`` renamed to ``new``."""
    data = source.read_bytes()
    assert len(old) == len(new)
    assert data.count(old + b"\0") >= 1, f"{source.name} does not need {old!r}"
    target.write_bytes(data.replace(old + b"\0", new + b"\0"))
    target.chmod(0o755)
    return target


def plugin_tree(
    root: Path,
    plugin: str = "libqxcb.so",
    *,
    break_plugin: bool = False,
    break_xcb_qpa: bool = False,
    leave_out: Iterable[str] = (),
) -> Path:
    """``root/plugins/platforms/<plugin>`` beside ``root/lib``, as the wheel lays them out."""
    lib = root / "lib"
    lib.mkdir()
    skipped = set(leave_out)
    for item in (QT / "lib").iterdir():
        if item.name in skipped:
            continue
        if break_xcb_qpa and item.name == "libQt6XcbQpa.so.6":
            patched(item, lib / item.name, CURSOR, ABSENT)
        else:
            (lib / item.name).symlink_to(item)
    platforms = root / "plugins" / "platforms"
    platforms.mkdir(parents=True)
    source = QT / "plugins" / "platforms" / plugin
    if break_plugin:
        return patched(source, platforms / plugin, CURSOR, ABSENT)
    target = platforms / plugin
    target.write_bytes(source.read_bytes())
    return target


# ---- The scan


def newly_missing(root: Path, plugin: str = "libqxcb.so", **breakage: object) -> list[tuple]:
    """What a broken tree lacks beyond what this machine lacks for the intact one.

    A machine without a display may miss the xcb libraries themselves (a fresh
    Debian without X); the tests are about the one dependency they break.
    """
    (root / "intact").mkdir()
    (root / "broken").mkdir()
    intact = plugin_tree(root / "intact", plugin)
    already = {(m.soname, m.needed_by) for m in missing_libraries(intact)}
    broken = plugin_tree(root / "broken", plugin, **breakage)  # type: ignore[arg-type]
    return [
        (m.soname, m.needed_by)
        for m in missing_libraries(broken)
        if (m.soname, m.needed_by) not in already
    ]


def test_a_plugin_whose_libraries_are_all_there_needs_nothing(tmp_path: Path) -> None:
    # The offscreen plugin: the GUI tests load it, so its libraries are here.
    plugin = plugin_tree(tmp_path, "libqoffscreen.so")
    assert missing_libraries(plugin) == []


def test_a_missing_library_of_the_plugin_is_named(tmp_path: Path) -> None:
    missing = newly_missing(tmp_path, break_plugin=True)
    assert missing == [("libwwb-absent.so.0", ("libqxcb.so",))]


def test_a_library_missing_further_down_is_found_and_says_who_needs_it(tmp_path: Path) -> None:
    # The plugin itself is intact; a Qt library it loads needs the absent one.
    missing = newly_missing(tmp_path, break_xcb_qpa=True)
    assert missing == [("libwwb-absent.so.0", ("libQt6XcbQpa.so.6",))]


def test_a_qt_library_left_out_of_the_install_is_named(tmp_path: Path) -> None:
    # By name: a system library the machine lacks is then needed by another chain.
    missing = newly_missing(tmp_path, leave_out=["libQt6XcbQpa.so.6"])
    intact = {m.soname for m in missing_libraries(QT / "plugins" / "platforms" / "libqxcb.so")}
    assert [soname for soname, _ in missing if soname not in intact] == ["libQt6XcbQpa.so.6"]


def test_ld_library_path_is_searched(tmp_path: Path) -> None:
    # Qt's own libraries out of RUNPATH's reach, but on LD_LIBRARY_PATH.
    plugin = plugin_tree(tmp_path, "libqoffscreen.so")
    (tmp_path / "lib").rename(tmp_path / "elsewhere")
    assert [m.soname for m in missing_libraries(plugin, {})][:2] == [
        "libQt6Core.so.6",
        "libQt6Gui.so.6",
    ]
    assert missing_libraries(plugin, {"LD_LIBRARY_PATH": str(tmp_path / "elsewhere")}) == []


def test_a_file_that_is_not_elf_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "libqxcb.so"
    fake.write_text("not a library")
    with pytest.raises(OSError, match="not an ELF file"):
        missing_libraries(fake)


# ---- The message and when it is given


def test_the_problem_names_the_library_the_packages_and_the_way_without_a_window(
    tmp_path: Path,
) -> None:
    plugin = plugin_tree(tmp_path, break_plugin=True)
    env = {"DISPLAY": ":0", "QT_QPA_PLATFORM_PLUGIN_PATH": str(plugin.parent)}
    assert find_xcb_plugin(env) == plugin
    problem = xcb_problem(env)
    assert problem is not None
    assert "libwwb-absent.so.0  (needed by libqxcb.so)" in problem
    assert "Debian/Ubuntu:  sudo apt install libwwb-absent0" in problem
    assert "Fedora:         sudo dnf install 'libwwb-absent.so.0()(64bit)'" in problem
    assert "'wasm-workbench run FILE'" in problem
    assert str(plugin) in problem


def test_a_missing_qt_library_points_to_reinstalling_pyside6(tmp_path: Path) -> None:
    plugin = plugin_tree(tmp_path, leave_out=["libQt6XcbQpa.so.6"])
    problem = xcb_problem({"DISPLAY": ":0", "QT_QPA_PLATFORM_PLUGIN_PATH": str(plugin.parent)})
    assert problem is not None
    assert "--force-reinstall PySide6-Essentials" in problem
    system_lacks = missing_libraries(QT / "plugins" / "platforms" / "libqxcb.so")
    if not system_lacks:  # else the machine itself needs packages, and is told so
        assert "apt install" not in problem


def test_the_installed_plugin_is_the_one_found_by_default() -> None:
    found = find_xcb_plugin({})
    assert found is not None
    assert found.resolve() == QT / "plugins" / "platforms" / "libqxcb.so"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DISPLAY": ":0"}, True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb:nograb;wayland"}, True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, False),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland;xcb"}, False),
        ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, False),
        ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11", "WAYLAND_DISPLAY": "wayland-0"}, True),
        ({}, False),
    ],
)
def test_only_an_xcb_platform_is_checked(env: dict[str, str], expected: bool) -> None:
    assert uses_xcb(env) is expected


def test_no_problem_when_another_platform_is_chosen(tmp_path: Path) -> None:
    plugin = plugin_tree(tmp_path, break_plugin=True)
    env = {"DISPLAY": ":0", "QT_QPA_PLATFORM_PLUGIN_PATH": str(plugin.parent)}
    assert xcb_problem({**env, "QT_QPA_PLATFORM": "offscreen"}) is None


def test_package_names() -> None:
    debian, fedora = package_names(
        ["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-randr.so.0", "libxcb-shm.so.0"]
    )
    assert debian == ["libxcb-cursor0", "libxcb-icccm4", "libxcb-randr0", "libxcb-shm0"]
    assert fedora == ["xcb-util-cursor", "xcb-util-wm", "libxcb"]
    assert package_names(["libxkbcommon-x11.so.0"]) == (
        ["libxkbcommon-x11-0"],
        ["libxkbcommon-x11"],
    )


def test_readme_names_the_packages_the_plugin_needs() -> None:
    # Every X11 library the installed plugin links against, by its package, in
    # the Quick start's install lines.
    elf = _read_elf(QT / "plugins" / "platforms" / "libqxcb.so")
    assert elf is not None
    x11 = [name for name in elf.needed if name.lower().startswith(("libxcb", "libxkb", "libx11"))]
    assert "libxcb-cursor.so.0" in x11
    debian, fedora = package_names(x11)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    apt = next(line for line in readme.splitlines() if "apt install libxcb" in line)
    dnf = next(line for line in readme.splitlines() if "dnf install xcb" in line)
    assert set(debian) <= set(apt.split()), set(debian) - set(apt.split())
    assert set(fedora) <= set(dnf.split()), set(fedora) - set(dnf.split())


# ---- Through the command, as a user starts it


def test_the_command_exits_with_the_explanation_instead_of_qts_abort(tmp_path: Path) -> None:
    plugin = plugin_tree(tmp_path, break_plugin=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "QT_PLUGIN_PATH")
    }
    # A display that doesn't exist: if the check let Qt start, Qt would abort.
    env.update(DISPLAY=":97", QT_QPA_PLATFORM_PLUGIN_PATH=str(plugin.parent))
    proc = subprocess.run(
        [sys.executable, "-m", "workbench"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("wasm-workbench: the workbench window can't open")
    assert "libwwb-absent.so.0" in proc.stderr
    assert "Could not load the Qt platform plugin" not in proc.stderr
