"""The Examples menu's snippets, listed in ``resources/examples/index.toml``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from workbench.sandbox import RuntimeType, runtime_for_path
from workbench.sandbox._resources import data_path

__all__ = ["Example", "load_examples"]


@dataclass(frozen=True)
class Example:
    """One snippet: its file, menu title, the preset to run it under, and how it ends."""

    path: Path
    title: str
    expect: str  # success | error | truncated | a TrapKind value
    policy: str = "default"

    @property
    def runtime(self) -> RuntimeType:
        """The guest language, from the file name."""
        return runtime_for_path(self.path) or RuntimeType.PYTHON

    def code(self) -> str:
        """The snippet's source."""
        return self.path.read_text(encoding="utf-8")


def load_examples() -> list[Example]:
    """Every example, in menu order (a missing or broken index gives an empty list)."""
    folder = data_path("resources") / "examples"
    try:
        index = tomllib.loads((folder / "index.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return []
    return [
        Example(
            path=folder / entry["file"],
            title=entry["title"],
            expect=entry["expect"],
            policy=entry.get("policy", "default"),
        )
        for entry in index.get("example", [])
        if (folder / entry["file"]).is_file()
    ]
