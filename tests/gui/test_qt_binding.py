"""The installed Qt binding keeps Python's reference counts straight.

PySide6 6.12.0 takes a reference off None on every void method call; on Python
3.11 a long session then aborts with "none_dealloc". pyproject pins it out.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QObject


def test_void_calls_do_not_leak_references_to_none() -> None:
    obj = QObject()
    before = sys.getrefcount(None)
    for _ in range(1000):
        obj.setObjectName("x")
    assert sys.getrefcount(None) - before > -100
