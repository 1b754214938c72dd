"""Tests for the workspace file browser, on a real DiskStorage."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QModelIndex, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QFont, QImage
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from workbench.gui.file_browser import (
    CSV_MAX_ROWS,
    KIND_ROLE,
    PATH_ROLE,
    PREVIEW_MAX_BYTES,
    FileBrowser,
)
from workbench.sandbox import DiskStorage

SID = "s1"


@pytest.fixture
def storage(tmp_path: Path) -> DiskStorage:
    store = DiskStorage(tmp_path / "sessions")
    store.create(SID)
    return store


@pytest.fixture
def browser(qtbot: QtBot, storage: DiskStorage) -> FileBrowser:
    widget = FileBrowser()
    qtbot.addWidget(widget)
    widget.resize(900, 600)
    widget.set_workspace(storage, SID)
    return widget


def workspace(storage: DiskStorage) -> Path:
    return storage.checkout(SID)


def rows(browser: FileBrowser, parent: QModelIndex | None = None) -> dict[str, list[str]]:
    """Every listed entry: path -> [Name, Size, Modified, State] texts."""
    found: dict[str, list[str]] = {}
    stack = [parent or QModelIndex()]
    model = browser.model
    while stack:
        index = stack.pop()
        for row in range(model.rowCount(index)):
            name = model.index(row, 0, index)
            found[name.data(PATH_ROLE)] = [
                str(model.index(row, c, index).data() or "") for c in range(4)
            ]
            stack.append(name)
    return found


def test_listing_shows_nested_folders_and_sizes(browser: FileBrowser, storage: DiskStorage) -> None:
    storage.write_file(SID, "top.txt", b"x" * 10)
    storage.write_file(SID, "data/deep/big.bin", b"\0" * 3000)
    browser.refresh()
    listed = rows(browser)
    assert set(listed) == {"top.txt", "data", "data/deep", "data/deep/big.bin"}
    assert listed["top.txt"][:2] == ["top.txt", "10 B"]
    assert listed["data/deep/big.bin"][1] == "2.93 KiB"
    assert listed["data"][1] == ""
    # Nesting: data/deep/big.bin sits under data/deep under data; folders come first.
    model = browser.model
    assert model.index(0, 0).data(PATH_ROLE) == "data"
    assert model.index(0, 0).data(KIND_ROLE) == "dir"
    deep = model.index(0, 0, model.index(0, 0))
    assert deep.data(PATH_ROLE) == "data/deep"
    assert model.index(0, 0, deep).data() == "big.bin"


def test_created_and_modified_marks(browser: FileBrowser, storage: DiskStorage) -> None:
    for name in ("new.txt", "out/changed.txt", "same.txt"):
        storage.write_file(SID, name, b"1")
    browser.refresh(created=["/app/new.txt"], modified=["out/changed.txt"])
    listed = rows(browser)
    assert listed["new.txt"][3] == "new"
    assert listed["out/changed.txt"][3] == "changed"
    assert listed["same.txt"][3] == ""
    new_index = browser._index_of("new.txt")
    assert new_index.data(Qt.ItemDataRole.FontRole).bold()
    same_font = browser._index_of("same.txt").data(Qt.ItemDataRole.FontRole)
    assert same_font is None or not QFont(same_font).bold()
    # The folder holding a changed file is opened.
    assert browser.tree.isExpanded(browser._index_of("out"))
    browser.refresh()
    assert rows(browser)["new.txt"][3] == ""


def test_text_preview(browser: FileBrowser, storage: DiskStorage) -> None:
    storage.write_file(SID, "notes/hello.txt", "héllo <b>world</b>\n".encode())
    browser.refresh()
    assert browser.select_path("notes/hello.txt")
    assert browser.preview.currentWidget() is browser.text_preview
    assert browser.text_preview.toPlainText() == "héllo <b>world</b>\n"
    assert browser.text_preview.isReadOnly()
    assert browser.preview_note.isHidden()


def test_long_text_is_cut_with_a_note(browser: FileBrowser, storage: DiskStorage) -> None:
    storage.write_file(SID, "long.log", b"a" * (PREVIEW_MAX_BYTES + 100))
    browser.refresh()
    browser.select_path("long.log")
    assert len(browser.text_preview.toPlainText()) == PREVIEW_MAX_BYTES
    assert not browser.preview_note.isHidden()
    assert "first" in browser.preview_note.text()


def test_png_preview(browser: FileBrowser, storage: DiskStorage, tmp_path: Path) -> None:
    image = QImage(40, 20, QImage.Format.Format_RGB32)
    image.fill(QColor("red"))
    png = tmp_path / "red.png"
    assert image.save(str(png))
    storage.write_file(SID, "plots/red.png", png.read_bytes())
    browser.refresh()
    browser.select_path("plots/red.png")
    assert browser.preview.currentWidget() is browser.image_preview
    assert browser.image_preview.image().size().width() == 40
    assert browser.image_preview.pixmap() is not None
    assert not browser.image_preview.pixmap().isNull()


def test_csv_preview(browser: FileBrowser, storage: DiskStorage) -> None:
    storage.write_file(SID, "t.csv", b'name,qty\napple,3\n"b, c",4\n')
    browser.refresh()
    browser.select_path("t.csv")
    table = browser.table_preview
    assert browser.preview.currentWidget() is table
    assert (table.rowCount(), table.columnCount()) == (3, 2)
    cells = [[table.item(r, c).text() for c in range(2)] for r in range(3)]
    assert cells == [["name", "qty"], ["apple", "3"], ["b, c", "4"]]
    assert browser.preview_note.isHidden()


def test_long_csv_shows_first_rows_with_note(browser: FileBrowser, storage: DiskStorage) -> None:
    data = "".join(f"{i},x\n" for i in range(CSV_MAX_ROWS + 50)).encode()
    storage.write_file(SID, "long.csv", data)
    browser.refresh()
    browser.select_path("long.csv")
    assert browser.table_preview.rowCount() == CSV_MAX_ROWS
    assert str(CSV_MAX_ROWS) in browser.preview_note.text()


def test_binary_preview_shows_size(browser: FileBrowser, storage: DiskStorage) -> None:
    storage.write_file(SID, "blob.dat", bytes(range(256)) * 4)
    browser.refresh()
    browser.select_path("blob.dat")
    assert browser.preview.currentWidget() is browser.preview_message
    assert "binary file, 1,024 bytes" in browser.preview_message.text().lower()


@pytest.mark.parametrize(
    "target",
    [
        "absolute",
        "../../../canary.txt",  # relative, out of the workspace
        "..",  # the folder above
        "up/../../../canary.txt",  # a chain: through the harmless link up -> .
    ],
)
def test_symlink_is_listed_and_never_opened(
    browser: FileBrowser, storage: DiskStorage, tmp_path: Path, target: str
) -> None:
    canary = tmp_path / "canary.txt"
    canary.write_text("CANARY SECRET")
    os.symlink(".", workspace(storage) / "up")
    os.symlink(canary if target == "absolute" else target, workspace(storage) / "escape.txt")
    browser.refresh()
    listed = rows(browser)
    assert listed["escape.txt"][0] == "escape.txt (link)"
    assert not any(path.startswith("escape.txt/") for path in listed)  # never expanded
    browser.select_path("escape.txt")
    assert "link" in browser.status_label.text()
    assert "CANARY" not in browser.text_preview.toPlainText()
    assert "CANARY" not in browser.preview_message.text()
    assert not browser.export_button.isEnabled()
    browser._on_double_clicked(browser._index_of("escape.txt"))  # nothing happens
    assert canary.read_text() == "CANARY SECRET"


def test_file_swapped_for_link_shows_storage_error(
    browser: FileBrowser, storage: DiskStorage, tmp_path: Path, qtbot: QtBot
) -> None:
    canary = tmp_path / "canary.txt"
    canary.write_text("CANARY SECRET")
    storage.write_file(SID, "data.txt", b"fine")
    browser.refresh()
    target = workspace(storage) / "data.txt"
    target.unlink()
    os.symlink(canary, target)  # the guest swaps the file after the listing
    browser.select_path("data.txt")
    assert browser.status_label.text()
    assert "CANARY" not in browser.text_preview.toPlainText()
    assert browser.status_label.textFormat() == Qt.TextFormat.PlainText
    with qtbot.assertNotEmitted(browser.sig_open_in_editor_requested):
        browser._on_double_clicked(browser._index_of("data.txt"))
    assert "CANARY" not in browser.status_label.text()


def test_deleted_meanwhile_shows_error(browser: FileBrowser, storage: DiskStorage) -> None:
    storage.write_file(SID, "gone.txt", b"x")
    browser.refresh()
    (workspace(storage) / "gone.txt").unlink()
    browser.select_path("gone.txt")
    assert "does not exist" in browser.status_label.text()


def test_guest_names_are_escaped(browser: FileBrowser, storage: DiskStorage) -> None:
    (workspace(storage) / "evil\u202egnp.exe").write_bytes(b"x")
    browser.refresh()
    (name,) = [r[0] for r in rows(browser).values()]
    assert "\u202e" not in name
    assert "\\u202e" in name


def test_add_file(
    browser: FileBrowser,
    storage: DiskStorage,
    tmp_path: Path,
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = tmp_path / "host" / "input.csv"
    host.parent.mkdir()
    host.write_bytes(b"a,b\n1,2\n")
    monkeypatch.setattr(browser, "_ask_files_to_add", lambda: [str(host)])
    with qtbot.waitSignal(browser.sig_workspace_changed, timeout=2000):
        browser.add_button.click()
    assert storage.read_file(SID, "input.csv") == b"a,b\n1,2\n"
    assert "input.csv" in rows(browser)
    assert browser.selected_path() == "input.csv"


def test_add_cancelled_emits_nothing(
    browser: FileBrowser, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(browser, "_ask_files_to_add", lambda: [])
    with qtbot.assertNotEmitted(browser.sig_workspace_changed):
        browser.add_button.click()


def test_drop_host_file_adds_it(
    browser: FileBrowser, storage: DiskStorage, tmp_path: Path, qtbot: QtBot
) -> None:
    host = tmp_path / "dropped.txt"
    host.write_bytes(b"dropped")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(host))])
    args = (
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    viewport = browser.tree.viewport()
    # Qt delivers a drop only to a widget that accepted the drag's enter event.
    enter = QDragEnterEvent(QPoint(5, 5), *args)
    QApplication.sendEvent(viewport, enter)
    assert enter.isAccepted()
    with qtbot.waitSignal(browser.sig_workspace_changed, timeout=2000):
        QApplication.sendEvent(viewport, QDropEvent(QPointF(5, 5), *args))
    assert storage.read_file(SID, "dropped.txt") == b"dropped"


def test_rename(
    browser: FileBrowser, storage: DiskStorage, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.write_file(SID, "dir/a.txt", b"A")
    browser.refresh()
    browser.select_path("dir/a.txt")
    asked: list[str] = []
    monkeypatch.setattr(browser, "_ask_new_name", lambda old: asked.append(old) or "b.txt")
    with qtbot.waitSignal(browser.sig_workspace_changed, timeout=2000):
        browser.rename_button.click()
    assert asked == ["a.txt"]
    assert storage.read_file(SID, "dir/b.txt") == b"A"
    assert "dir/a.txt" not in rows(browser)
    assert browser.selected_path() == "dir/b.txt"


def test_rename_refused_by_storage_shows_error(
    browser: FileBrowser, storage: DiskStorage, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.write_file(SID, "a.txt", b"A")
    browser.refresh()
    browser.select_path("a.txt")
    monkeypatch.setattr(browser, "_ask_new_name", lambda old: "../escape.txt")
    with qtbot.assertNotEmitted(browser.sig_workspace_changed):
        browser.rename_button.click()
    assert "'..'" in browser.status_label.text()
    assert storage.read_file(SID, "a.txt") == b"A"


def test_rename_that_would_make_a_link_lead_out_is_refused(
    browser: FileBrowser, storage: DiskStorage, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A link the guest may make: ../../ok.txt from d/e is the workspace's ok.txt.
    storage.write_file(SID, "ok.txt", b"ok")
    storage.write_file(SID, "d/e/keep.txt", b"k")
    os.symlink("../../ok.txt", workspace(storage) / "d" / "e" / "l")
    browser.refresh()
    browser.select_path("d/e")
    monkeypatch.setattr(browser, "_ask_new_name", lambda old: "/e")  # move it up a level
    with qtbot.assertNotEmitted(browser.sig_workspace_changed):
        browser.rename_button.click()
    assert "symbolic link" in browser.status_label.text()
    assert os.readlink(workspace(storage) / "d" / "e" / "l") == "../../ok.txt"


@pytest.mark.parametrize("confirmed", [True, False])
def test_delete(
    browser: FileBrowser,
    storage: DiskStorage,
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
    confirmed: bool,
) -> None:
    storage.write_file(SID, "victim.txt", b"v")
    browser.refresh()
    browser.select_path("victim.txt")
    questions: list[str] = []
    monkeypatch.setattr(browser, "_confirm", lambda q: questions.append(q) or confirmed)
    if confirmed:
        with qtbot.waitSignal(browser.sig_workspace_changed, timeout=2000):
            browser.delete_button.click()
        assert storage.list_files(SID) == []
        assert rows(browser) == {}
    else:
        with qtbot.assertNotEmitted(browser.sig_workspace_changed):
            browser.delete_button.click()
        assert storage.read_file(SID, "victim.txt") == b"v"
        assert "victim.txt" in rows(browser)
    assert len(questions) == 1 and "victim.txt" in questions[0]


@pytest.mark.parametrize("confirmed", [True, False])
def test_reset(
    browser: FileBrowser,
    storage: DiskStorage,
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
    confirmed: bool,
) -> None:
    storage.write_file(SID, "a/b.txt", b"1")
    storage.write_file(SID, "c.txt", b"2")
    browser.refresh()
    monkeypatch.setattr(browser, "_confirm", lambda q: confirmed)
    if confirmed:
        with qtbot.waitSignal(browser.sig_workspace_changed, timeout=2000):
            browser.reset_button.click()
        assert storage.list_files(SID) == []
        assert browser.model.rowCount() == 0
    else:
        with qtbot.assertNotEmitted(browser.sig_workspace_changed):
            browser.reset_button.click()
        assert len(storage.list_files(SID)) == 3


def test_export(
    browser: FileBrowser, storage: DiskStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.write_file(SID, "results/out.bin", b"\x00\x01payload")
    browser.refresh()
    browser.select_path("results/out.bin")
    target = tmp_path / "exported"
    target.mkdir()
    monkeypatch.setattr(browser, "_ask_export_folder", lambda: str(target))
    assert browser.export_button.isEnabled()
    browser.export_button.click()
    assert (target / "out.bin").read_bytes() == b"\x00\x01payload"
    # An existing host file is replaced only after confirmation.
    storage.write_file(SID, "results/out.bin", b"second")
    monkeypatch.setattr(browser, "_confirm", lambda q: False)
    browser.export_button.click()
    assert (target / "out.bin").read_bytes() == b"\x00\x01payload"


def test_double_click_text_opens_in_editor(
    browser: FileBrowser, storage: DiskStorage, qtbot: QtBot
) -> None:
    storage.write_file(SID, "src/main.py", b"print('hi')\n")
    browser.refresh()
    browser.show()
    qtbot.waitExposed(browser)
    browser.select_path("src/main.py")
    index = browser._index_of("src/main.py")
    rect = browser.tree.visualRect(index)
    viewport = browser.tree.viewport()
    with qtbot.waitSignal(
        browser.sig_open_in_editor_requested,
        timeout=2000,
        check_params_cb=lambda path, text: (path, text) == ("src/main.py", "print('hi')\n"),
    ):
        # QTest's double-click alone skips the press Qt needs first.
        qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=rect.center())


def test_double_click_binary_emits_nothing(
    browser: FileBrowser, storage: DiskStorage, qtbot: QtBot
) -> None:
    storage.write_file(SID, "blob.bin", b"\x00" * 100)
    browser.refresh()
    with qtbot.assertNotEmitted(browser.sig_open_in_editor_requested):
        browser._on_double_clicked(browser._index_of("blob.bin"))


def test_set_workspace_none_clears_view(browser: FileBrowser, storage: DiskStorage) -> None:
    storage.write_file(SID, "a.txt", b"hello")
    browser.refresh()
    browser.select_path("a.txt")
    assert browser.text_preview.toPlainText() == "hello"
    browser.set_workspace(None, None)
    assert browser.model.rowCount() == 0
    assert browser.text_preview.toPlainText() == ""
    assert browser.preview.currentWidget() is browser.preview_message
    assert browser.workspace() == (None, None)
    assert not browser.add_button.isEnabled()
    assert not browser.reset_button.isEnabled()
    browser.refresh()  # harmless when unbound
    assert browser.model.rowCount() == 0


def test_missing_session_shows_error(qtbot: QtBot, storage: DiskStorage) -> None:
    widget = FileBrowser()
    qtbot.addWidget(widget)
    widget.set_workspace(storage, "nosuch")
    assert "no workspace" in widget.status_label.text()
    assert widget.model.rowCount() == 0


def test_accessible_names(browser: FileBrowser) -> None:
    widgets = [
        browser.tree,
        browser.preview,
        browser.text_preview,
        browser.image_preview,
        browser.table_preview,
        browser.status_label,
        browser.add_button,
        browser.export_button,
        browser.rename_button,
        browser.delete_button,
        browser.reset_button,
    ]
    for widget in widgets:
        assert widget.accessibleName()
    for button in widgets[-5:]:
        assert button.toolTip()
