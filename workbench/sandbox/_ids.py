"""Session ids: generated as UUIDs, or chosen by the caller and validated.

Every entry point that takes a session id goes through :func:`validate_session_id`,
so an id can never name a path outside the sessions root, an internal folder, or
the root itself.
"""

from __future__ import annotations

import re
import uuid

from ._errors import InvalidSessionIdError

__all__ = ["MAX_SESSION_ID_LENGTH", "RESERVED_NAMES", "new_session_id", "validate_session_id"]

MAX_SESSION_ID_LENGTH = 64

_ALLOWED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Names Windows refuses as file names, with or without an extension.
# Names of folders and mounts the sandbox itself uses; a session can't take them,
# so an id never names something internal (or reads like a guest mount point).
RESERVED_NAMES = frozenset(
    {
        "app",
        "data",
        "site-packages",
        "workspace",
        "workspaces",
        "sessions",
        "vendor",
        "cache",
        "tmp",
    }
)
_WINDOWS_DEVICES = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(10)),
    *(f"lpt{i}" for i in range(10)),
}


def new_session_id() -> str:
    """A fresh random session id (a UUID4 string)."""
    return str(uuid.uuid4())


def validate_session_id(value: object, *, allow_non_uuid: bool = True) -> str:
    """Return the canonical form of ``value`` or raise :class:`InvalidSessionIdError`.

    UUIDs are canonicalised (lower case, hyphenated). Other ids, when allowed,
    must be 1-64 characters of letters, digits, ``.``, ``_`` and ``-``, start with
    a letter or digit, and not be a reserved device name. Nothing is created.
    """
    if not isinstance(value, str):
        raise InvalidSessionIdError(
            f"A session id must be a string, not {type(value).__name__}. "
            "Pass the id as text, e.g. the one create_session() returned."
        )
    try:
        return str(uuid.UUID(value))
    except ValueError:
        pass
    if not allow_non_uuid:
        raise InvalidSessionIdError(
            f"Session id {value!r} is not a UUID, and only UUIDs are accepted here. "
            "Omit the id to get a new one."
        )
    shown = value if len(value) <= 80 else value[:77] + "..."
    if not value or len(value) > MAX_SESSION_ID_LENGTH:
        raise InvalidSessionIdError(
            f"Session id {shown!r} must be 1 to {MAX_SESSION_ID_LENGTH} characters long. "
            "Use a shorter name, or omit it to get a UUID."
        )
    if not _ALLOWED.fullmatch(value) or value.endswith("."):
        raise InvalidSessionIdError(
            f"Session id {shown!r} may only contain letters, digits, '.', '_' and '-', "
            "must start with a letter or digit and can't end with '.'. Path separators, "
            "'..', spaces and control characters are refused."
        )
    if value.lower() in RESERVED_NAMES:
        raise InvalidSessionIdError(
            f"Session id {shown!r} is reserved for the sandbox's own folders and mounts. "
            "Choose another name."
        )
    if value.split(".")[0].lower() in _WINDOWS_DEVICES:
        raise InvalidSessionIdError(
            f"Session id {shown!r} is a reserved device name on Windows. Choose another."
        )
    return value
