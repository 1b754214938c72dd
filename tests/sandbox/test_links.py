"""The link guard and the backstop of ``_links`` on real folders, without a guest.

The guest-facing side (the shadowed ``path_symlink``/``path_rename``/``path_link``
answering EPERM) is tested through both runtimes in ``test_security.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workbench.sandbox._links import (
    LinkGuard,
    escaping_links,
    move_keeps_links_inside,
    remove_escaping_links,
    resolve,
)

pytestmark = pytest.mark.skipif(os.name == "nt", reason="symlinks need privileges on Windows")

FD = LinkGuard.FIRST_PREOPEN_FD


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    (root / "d" / "e").mkdir(parents=True)
    (root / "ok.txt").write_text("ok")
    (tmp_path / "secret.txt").write_text("secret")
    return root


@pytest.fixture
def guard(ws: Path) -> LinkGuard:
    guard = LinkGuard()
    guard.add_preopen(ws, writable=True)
    guard.add_preopen(ws.parent, writable=False)  # a read-only mount at fd 4
    return guard


@pytest.mark.parametrize(
    ("folder", "target", "expected"),
    [
        ((), "ok.txt", ("ok.txt",)),
        (("d",), "../ok.txt", ("ok.txt",)),
        (("d", "e"), "../../ok.txt", ("ok.txt",)),
        (("d",), "./e/./../e", ("d", "e")),
        ((), "missing/../ok.txt", ("ok.txt",)),  # dangling names are taken as written
        ((), "..", None),
        ((), "../secret.txt", None),
        (("d",), "../../secret.txt", None),
        (("d",), "e/../../..", None),
        ((), "/app/ok.txt", None),  # absolute: the host reads it from its own root
        ((), "/etc/passwd", None),
        ((), "C:/x", None),
        ((), "\\\\server\\share", None),
        ((), "d\\..\\..\\secret.txt", None),  # a backslash separates names on Windows
    ],
)
def test_resolve(ws: Path, folder: tuple[str, ...], target: str, expected: object) -> None:
    assert resolve(ws, folder, target) == expected


def test_resolve_follows_links_on_the_way(ws: Path) -> None:
    (ws / "d" / "up").symlink_to("..")  # harmless: the workspace root
    assert resolve(ws, ("d",), "up/ok.txt") == ("ok.txt",)
    # Read as text, "up/../x" stays in d; followed as the host does, it climbs out.
    assert resolve(ws, ("d",), "up/../x") is None


def test_a_link_loop_counts_as_escaping(ws: Path) -> None:
    (ws / "a").symlink_to("b")
    (ws / "b").symlink_to("a")
    assert resolve(ws, (), "a") is None


def test_guard_refuses_links_leading_out(guard: LinkGuard) -> None:
    assert guard.may_symlink(FD, "ok.txt", "link")
    assert guard.may_symlink(FD, "../ok.txt", "d/link")
    assert not guard.may_symlink(FD, "..", "up")
    assert not guard.may_symlink(FD, "../secret.txt", "link")
    assert not guard.may_symlink(FD, "/app/ok.txt", "link")
    assert not guard.may_symlink(FD, "x", "..")  # no name to make


def test_guard_refuses_a_link_that_makes_another_escape(ws: Path, guard: LinkGuard) -> None:
    (ws / "d" / "s").symlink_to("c/../../ok.txt")  # c doesn't exist: leads to ok.txt
    assert resolve(ws, ("d",), "c/../../ok.txt") == ("ok.txt",)
    # c -> .. (the root) would be harmless alone, but then s leads to /.., out.
    assert not guard.may_symlink(FD, "..", "d/c")
    assert guard.may_symlink(FD, "e", "d/c")


def test_guard_checks_renames(ws: Path, guard: LinkGuard) -> None:
    (ws / "d" / "e" / "l").symlink_to("../../ok.txt")
    assert not guard.may_rename(FD, "d/e/l", FD, "l")  # the link itself
    assert not guard.may_rename(FD, "d/e", FD, "e")  # its folder
    assert guard.may_rename(FD, "d", FD, "x/y/z/d")  # deeper: dangles, still inside
    assert guard.may_rename(FD, "d/e", FD, "d/f")
    assert guard.may_rename(FD, "d", FD, "q")
    assert guard.may_rename(FD, "ok.txt", FD, "d/ok.txt")  # l dangles, still inside


def test_guard_checks_hard_links_to_links(ws: Path, guard: LinkGuard) -> None:
    (ws / "d" / "l").symlink_to("../ok.txt")
    assert not guard.may_link(FD, False, "d/l", FD, "copy")  # the copy would lead out
    assert guard.may_link(FD, False, "d/l", FD, "d/copy")
    assert guard.may_link(FD, True, "d/l", FD, "copy")  # follows: links ok.txt itself


def test_guard_refuses_unknown_and_forgotten_fds(guard: LinkGuard) -> None:
    assert guard.may_symlink(FD + 1, "../../..", "x")  # read-only: wasmtime refuses it
    assert not guard.may_symlink(FD + 2, "ok.txt", "x")  # never a preopen
    assert not guard.may_rename(FD + 2, "a", FD, "b")
    guard.fd_gone(FD)  # closed or renumbered: another folder may have its number
    assert not guard.may_symlink(FD, "ok.txt", "x")
    assert not guard.may_rename(FD, "ok.txt", FD, "y")


def test_guard_walks_only_when_links_exist(ws: Path, guard: LinkGuard) -> None:
    assert guard.may_rename(FD, "d", FD, "q")  # no links: nothing to walk afterwards
    (ws / "d").rename(ws / "q")
    (ws / "q" / "e" / "l").symlink_to("../../ok.txt")  # planted by the host
    assert guard.may_rename(FD, "q", FD, "r")  # still believed link-free
    guard.forget_links()  # what every turn does first
    assert not guard.may_rename(FD, "q/e", FD, "e")


def test_host_moves(ws: Path) -> None:
    (ws / "d" / "e" / "l").symlink_to("../../ok.txt")
    assert not move_keeps_links_inside(ws, "d/e", "e")
    assert move_keeps_links_inside(ws, "d/e", "d/f")


def test_backstop_removes_only_escaping_links(ws: Path) -> None:
    secret = ws.parent / "secret.txt"
    (ws / "in").symlink_to("ok.txt")
    (ws / "d" / "out").symlink_to("../../secret.txt")
    (ws / "abs").symlink_to(secret)
    (ws / "d" / "up").symlink_to("..")
    (ws / "d" / "e" / "via").symlink_to("../up/../secret.txt")
    assert escaping_links(ws) == ["abs", "d/e/via", "d/out"]
    assert escaping_links(ws, ["in", "abs"]) == ["abs"]
    assert remove_escaping_links(ws) == ["abs", "d/e/via", "d/out"]
    assert sorted(p.name for p in ws.rglob("*") if p.is_symlink()) == ["in", "up"]
    assert secret.read_text() == "secret"  # the target is never touched


def test_guard_follows_links_it_let_move(ws: Path, guard: LinkGuard) -> None:
    (ws / "d" / "e" / "l").symlink_to("../../ok.txt")
    assert guard.may_rename(FD, "d/e", FD, "d/f")  # walks once, then knows l is in d/f
    (ws / "d" / "e").rename(ws / "d" / "f")
    assert not guard.may_rename(FD, "d/f", FD, "f")
    assert guard.may_symlink(FD, "../ok.txt", "d/new")
    (ws / "d" / "new").symlink_to("../ok.txt")
    assert not guard.may_rename(FD, "d/new", FD, "new")  # known without a walk
