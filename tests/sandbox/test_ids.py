"""Session ids: canonical UUIDs, safe caller-chosen names, and nothing created on refusal."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from workbench.sandbox import (
    InvalidSessionIdError,
    SandboxError,
    create_sandbox,
    new_session_id,
    validate_session_id,
)

BAD_IDS = [
    "",
    ".",
    "..",
    "a/b",
    "a\\b",
    "../x",
    "/abs",
    "C:x",
    "x\x00y",
    "a\nb",
    "a\tb",
    "a\x1bb",
    "a\x7fb",
    "with space",
    " lead",
    "x" * 65,
    ".hidden",
    "-flag",
    "_under",
    "trailing.",
    "CON",
    "con",
    "nul.txt",
    "COM1",
    "lpt9.log",
    "caf\u00e9",
]


def test_new_session_id_is_a_canonical_uuid4() -> None:
    sid = new_session_id()
    assert uuid.UUID(sid).version == 4
    assert validate_session_id(sid) == sid
    assert validate_session_id(sid, allow_non_uuid=False) == sid
    assert new_session_id() != sid


@pytest.mark.parametrize(
    "form",
    [str.upper, lambda s: "{" + s + "}", lambda s: s.replace("-", ""), lambda s: f"urn:uuid:{s}"],
    ids=["upper", "braces", "no-hyphens", "urn"],
)
def test_uuids_are_canonicalised(form: object) -> None:
    canonical = "0f8fad5b-d9cb-469f-a165-70867728950e"
    spelled = form(canonical)  # type: ignore[operator]
    assert spelled != canonical
    assert validate_session_id(spelled) == canonical
    assert validate_session_id(spelled, allow_non_uuid=False) == canonical


@pytest.mark.parametrize("name", ["my-session", "my-session_1.v2", "A", "x" * 64])
def test_non_uuid_names_are_refused_when_not_allowed(name: str) -> None:
    assert validate_session_id(name) == name
    with pytest.raises(InvalidSessionIdError, match="not a UUID"):
        validate_session_id(name, allow_non_uuid=False)


@pytest.mark.parametrize("value", BAD_IDS)
def test_bad_ids_are_refused(value: str) -> None:
    with pytest.raises(InvalidSessionIdError):
        validate_session_id(value)
    with pytest.raises(ValueError):
        validate_session_id(value, allow_non_uuid=False)


@pytest.mark.parametrize("value", [None, 5, b"x", ["a"], uuid.uuid4()])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(InvalidSessionIdError, match="must be a string"):
        validate_session_id(value)


def test_invalid_session_id_error_is_a_value_error_and_a_sandbox_error() -> None:
    with pytest.raises(InvalidSessionIdError) as info:
        validate_session_id("../x")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, SandboxError)


def test_messages_say_what_to_do() -> None:
    with pytest.raises(InvalidSessionIdError) as info:
        validate_session_id("a/b")
    assert "'a/b'" in str(info.value)
    assert "letters, digits" in str(info.value)
    with pytest.raises(InvalidSessionIdError, match="1 to 64 characters"):
        validate_session_id("x" * 65)
    with pytest.raises(InvalidSessionIdError, match="reserved device name"):
        validate_session_id("nul.txt")


def test_long_ids_are_shortened_in_the_message() -> None:
    with pytest.raises(InvalidSessionIdError) as info:
        validate_session_id("y" * 10_000)
    assert len(str(info.value)) < 300


def test_accepts_a_typical_name() -> None:
    assert validate_session_id("my-session_1.v2") == "my-session_1.v2"


@pytest.mark.parametrize("value", [*BAD_IDS, 5, b"x"])
def test_create_sandbox_with_a_bad_id_creates_nothing(value: object, tmp_path: Path) -> None:
    root = tmp_path / "sessions"
    root.mkdir()
    with pytest.raises(InvalidSessionIdError):
        create_sandbox(session_id=value, workspace_root=root)  # type: ignore[arg-type]
    assert list(root.iterdir()) == []
    assert list(tmp_path.iterdir()) == [root]


def test_create_sandbox_with_a_non_uuid_when_refused_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(InvalidSessionIdError):
        create_sandbox(session_id="my-session", workspace_root=tmp_path, allow_non_uuid=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["app", "data", "site-packages", "Workspace", "SESSIONS"])
def test_names_of_internal_folders_and_mounts_are_refused(name: str) -> None:
    with pytest.raises(InvalidSessionIdError, match="reserved"):
        validate_session_id(name)
