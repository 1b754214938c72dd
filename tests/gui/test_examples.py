"""Every example in the Examples menu ends the way its index entry says."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from pytestqt.qtbot import QtBot

from workbench.gui.examples import Example, load_examples
from workbench.sandbox import SandboxEngine, create_sandbox, load_policy

EXAMPLES = load_examples()


def test_both_languages_and_every_limit_are_covered() -> None:
    runtimes = {e.runtime.value for e in EXAMPLES}
    expects = {e.expect for e in EXAMPLES}
    assert runtimes == {"python", "javascript"}
    assert {"out_of_fuel", "deadline", "memory", "stack_overflow", "truncated"} <= expects


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.path.name for e in EXAMPLES])
def test_example_ends_as_described(engine: SandboxEngine, tmp_path, example: Example) -> None:
    policy = load_policy(example.policy)
    if example.expect == "deadline":
        policy = policy.with_updates(timeout_seconds=1)  # keep the test quick
    sandbox = create_sandbox(example.runtime, policy=policy, workspace_root=tmp_path)
    result = sandbox.execute(example.code())
    sandbox.close()
    if example.expect == "success":
        assert result.success, result.stderr
    elif example.expect == "error":
        assert not result.success and result.error_guidance is not None
        assert result.trap_kind.value == "none"
    elif example.expect == "truncated":
        assert result.stdout_truncated
    else:
        assert result.trap_kind.value == example.expect, result.summary()


def test_menu_loads_an_example(qtbot: QtBot, engine: SandboxEngine, tmp_path) -> None:
    from PySide6.QtCore import QSettings

    from workbench.gui.main_window import MainWindow

    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    titles = [a.text() for a in window.examples_menu.actions()]
    assert titles == [e.title for e in EXAMPLES]
    js = next(a for a in window.examples_menu.actions() if "JavaScript" in a.text())
    js.trigger()
    assert window.runtime_combo.currentData() == "javascript"
    assert window.editor.language == "javascript"
    loop = next(a for a in window.examples_menu.actions() if "endless loop" in a.text())
    loop.trigger()
    assert window.preset_combo.currentData() == "conservative"
    assert "while count >= 0" in window.editor.toPlainText()
    window.close()
