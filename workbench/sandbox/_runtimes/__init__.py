"""Runtime-specific instances, one module per runtime.

CPython 3.12 (command module), QuickJS-NG (reactor) and the scientific CPython
3.15 (reactor snapshot).
"""

from __future__ import annotations

from .._engine import SandboxEngine
from .._instance import Instance, InstanceShape
from .._result import RuntimeType
from .javascript import JavaScriptInstance
from .python import PythonInstance
from .scientific import ScientificPythonInstance

__all__ = ["JavaScriptInstance", "PythonInstance", "ScientificPythonInstance", "new_instance"]

_CLASSES: dict[RuntimeType, type[Instance]] = {
    RuntimeType.PYTHON: PythonInstance,
    RuntimeType.JAVASCRIPT: JavaScriptInstance,
    RuntimeType.PYTHON_SCI: ScientificPythonInstance,
}


def new_instance(
    engine: SandboxEngine, shape: InstanceShape, *, background: bool = False
) -> Instance:
    """Create an instance for ``shape``; it starts on its own thread right away.

    ``background`` start-ups (pool refills) wait for one of the engine's start-up
    slots; a start-up somebody is waiting for does not.
    """
    return _CLASSES[shape.runtime](engine, shape, background=background)
