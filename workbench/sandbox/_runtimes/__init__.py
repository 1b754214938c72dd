"""Runtime-specific instances: CPython (command module) and QuickJS-NG (reactor)."""

from __future__ import annotations

from .._engine import SandboxEngine
from .._instance import Instance, InstanceShape
from .._result import RuntimeType
from .javascript import JavaScriptInstance
from .python import PythonInstance

__all__ = ["JavaScriptInstance", "PythonInstance", "new_instance"]


def new_instance(
    engine: SandboxEngine, shape: InstanceShape, *, background: bool = False
) -> Instance:
    """Create an instance for ``shape``; it starts on its own thread right away.

    ``background`` start-ups (pool refills) wait for one of the engine's start-up
    slots; a start-up somebody is waiting for does not.
    """
    if shape.runtime is RuntimeType.PYTHON:
        return PythonInstance(engine, shape, background=background)
    return JavaScriptInstance(engine, shape, background=background)
