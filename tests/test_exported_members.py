"""``workbench.sandbox.__all__`` is exactly the public API (as httpx tests its own)."""

from __future__ import annotations
import __future__

import inspect
import types

import workbench.sandbox


def public_names(module: types.ModuleType) -> set[str]:
    """Names a user can import from ``module``: not private, not submodules or __future__."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and not isinstance(value, type(__future__.annotations))  # the __future__ import
    }


def test_all_lists_exactly_the_public_names() -> None:
    exported = set(workbench.sandbox.__all__)
    defined = public_names(workbench.sandbox)
    assert exported - defined == set(), "in __all__ but not defined"
    assert defined - exported == set(), "public but missing from __all__"


def test_all_is_sorted_and_unique() -> None:
    names = workbench.sandbox.__all__
    assert names == sorted(names)
    assert len(names) == len(set(names))


def test_exported_classes_and_functions_are_our_own() -> None:
    # Type aliases (FuelStatus, OutputCallback) have no module of their own; skip them.
    checked = 0
    for name in workbench.sandbox.__all__:
        value = getattr(workbench.sandbox, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__module__.startswith("workbench.sandbox."), (name, value.__module__)
            assert value.__name__ == name
            checked += 1
    assert checked >= len(workbench.sandbox.__all__) - 2
