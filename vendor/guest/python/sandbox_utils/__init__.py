"""Shell-like helpers for code running in the WASM Workbench Python sandbox.

Every function works inside ``/app`` (the workspace) only: a path outside it,
spelled with ``..``, absolute, or reached through a symbolic link, raises
:class:`SandboxPathError` (a ``PermissionError`` and a ``ValueError``). Relative
paths are relative to ``/app``.

Usage::

    from sandbox_utils import ls, find, grep, csv_to_json

    print(ls())
    for path in find("*.csv"):
        print(path, len(csv_to_json(path)))

Importing this package is cheap on purpose (fuel matters in the sandbox): the
functions live in submodules loaded on first use, and none of them imports
``re``, ``json``, ``csv``, ``os`` or ``typing`` unless a call needs it.
See docs/SANDBOX_UTILS.md in the WASM Workbench repository.
"""

# Each line: a submodule, then the public names it defines. __getattr__ loads a
# submodule on first use, so a program pays (in fuel) only for what it calls.
_HOMES = """
_paths AppPath SandboxPathError
_fs cat cp echo head ls mkdir mv rm tail touch wc
_tree copy_tree find remove_tree tree walk
_text GrepMatch diff grep sed
_lists chunk filter_by group_by sort_by unique
_convert csv_to_json json_to_csv xml_to_dict
"""


def __getattr__(name):
    if name == "__all__":
        value = sorted(n for n in _HOMES.split() if n[0] != "_")
    else:
        for line in _HOMES.split("\n"):
            if name[:1] != "_" and " " + name + " " in line + " ":
                break
        else:
            raise AttributeError(f"module 'sandbox_utils' has no attribute {name!r}")
        module = __import__("sandbox_utils." + line.split()[0], None, None, ["_"])
        value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__getattr__("__all__")))
