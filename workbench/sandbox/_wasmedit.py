"""Add exports to a WebAssembly binary, leaving everything else byte for byte.

Why: an interpreter image (:mod:`._image`) must read and set the guest's shadow
stack pointer and call a function through its table, and the CPython command
module exports neither (only ``memory``, ``_start`` and ``wasi_vfs_pack_fs``).
Exporting an existing global or table changes no code and no behaviour; the
derived binary is compiled and cached like the original, under a key that names
the edit.

Only the export section (id 7) is rewritten. Indices are not renumbered (nothing
is added to any index space), so code, elements, data and custom sections
(DWARF included) stay valid as they are.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = [
    "EXPORT_FUNC",
    "EXPORT_GLOBAL",
    "EXPORT_MEMORY",
    "EXPORT_TABLE",
    "STACK_POINTER_EXPORT",
    "TABLE_EXPORT",
    "WasmFormatError",
    "add_exports",
    "exports",
    "global_count",
    "table_count",
]

#: Names under which an image-ready module exports its stack pointer and table.
STACK_POINTER_EXPORT = "__stack_pointer"
TABLE_EXPORT = "__indirect_function_table"

EXPORT_FUNC = 0
EXPORT_TABLE = 1
EXPORT_MEMORY = 2
EXPORT_GLOBAL = 3

_MAGIC = b"\x00asm\x01\x00\x00\x00"
_EXPORT_SECTION = 7
_IMPORT_SECTION = 2
_TABLE_SECTION = 4
_GLOBAL_SECTION = 6
# Sections that come after the export section in a valid module (start, element,
# data count, code, data): a new export section goes before the first of them.
_AFTER_EXPORTS = {8, 9, 10, 11, 12}


class WasmFormatError(ValueError):
    """The bytes are not a WebAssembly module this editor understands."""


def _leb(data: bytes, at: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if at >= len(data):
            raise WasmFormatError("truncated LEB128 number")
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, at
        if shift > 35:
            raise WasmFormatError("LEB128 number too long")


def _uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _name(data: bytes, at: int) -> tuple[str, int]:
    length, at = _leb(data, at)
    return data[at : at + length].decode("utf-8"), at + length


def _sections(data: bytes) -> Iterator[tuple[int, int, int, int]]:
    """``(id, start of header, start of payload, end)`` of each section."""
    if not data.startswith(_MAGIC):
        raise WasmFormatError("not a WebAssembly 1.0 module")
    at = len(_MAGIC)
    while at < len(data):
        header = at
        section_id = data[at]
        size, payload = _leb(data, at + 1)
        end = payload + size
        if end > len(data):
            raise WasmFormatError("section runs past the end of the module")
        yield section_id, header, payload, end
        at = end


def exports(data: bytes) -> dict[str, tuple[int, int]]:
    """The module's exports: name -> (kind, index)."""
    found: dict[str, tuple[int, int]] = {}
    for section_id, _header, payload, _end in _sections(data):
        if section_id == _EXPORT_SECTION:
            count, at = _leb(data, payload)
            for _ in range(count):
                name, at = _name(data, at)
                kind = data[at]
                index, at = _leb(data, at + 1)
                found[name] = (kind, index)
    return found


def _imported(data: bytes, kind: int) -> int:
    count = 0
    for section_id, _header, payload, _end in _sections(data):
        if section_id != _IMPORT_SECTION:
            continue
        entries, at = _leb(data, payload)
        for _ in range(entries):
            _module, at = _name(data, at)
            _field, at = _name(data, at)
            import_kind = data[at]
            at += 1
            if import_kind == EXPORT_FUNC:
                _, at = _leb(data, at)
            elif import_kind == EXPORT_TABLE:
                at += 1  # reference type
                flags = data[at]
                _, at = _leb(data, at + 1)
                if flags & 1:
                    _, at = _leb(data, at)
            elif import_kind == EXPORT_MEMORY:
                flags = data[at]
                _, at = _leb(data, at + 1)
                if flags & 1:
                    _, at = _leb(data, at)
            elif import_kind == EXPORT_GLOBAL:
                at += 2  # value type, mutability
            else:
                raise WasmFormatError(f"unknown import kind {import_kind}")
            if import_kind == kind:
                count += 1
    return count


def _defined(data: bytes, section: int) -> int:
    for section_id, _header, payload, _end in _sections(data):
        if section_id == section:
            return _leb(data, payload)[0]
    return 0


def global_count(data: bytes) -> int:
    """How many globals the module has (imported and defined)."""
    return _imported(data, EXPORT_GLOBAL) + _defined(data, _GLOBAL_SECTION)


def table_count(data: bytes) -> int:
    """How many tables the module has (imported and defined)."""
    return _imported(data, EXPORT_TABLE) + _defined(data, _TABLE_SECTION)


def add_exports(data: bytes, new: dict[str, tuple[int, int]]) -> bytes:
    """``data`` with the exports ``new`` (name -> (kind, index)) added.

    Raises
    ------
    WasmFormatError
        If the module is malformed, a name is already exported, or an index
        names no global or table of the module (only those kinds are supported).
    """
    present = exports(data)
    for name, (kind, index) in new.items():
        if name in present:
            raise WasmFormatError(f"{name!r} is already exported")
        if kind == EXPORT_GLOBAL:
            limit = global_count(data)
        elif kind == EXPORT_TABLE:
            limit = table_count(data)
        else:
            raise WasmFormatError("only globals and tables can be added as exports")
        if not 0 <= index < limit:
            raise WasmFormatError(f"{name!r}: index {index} is out of range ({limit})")
    added = b"".join(
        _uleb(len(name.encode())) + name.encode() + bytes([kind]) + _uleb(index)
        for name, (kind, index) in new.items()
    )
    out = bytearray(data[: len(_MAGIC)])
    done = False
    for section_id, header, payload, end in _sections(data):
        if section_id == _EXPORT_SECTION:
            count, entries = _leb(data, payload)
            body = _uleb(count + len(new)) + data[entries:end] + added
            out += bytes([_EXPORT_SECTION]) + _uleb(len(body)) + body
            done = True
            continue
        if not done and section_id in _AFTER_EXPORTS:
            body = _uleb(len(new)) + added
            out += bytes([_EXPORT_SECTION]) + _uleb(len(body)) + body
            done = True
        out += data[header:end]
    if not done:
        body = _uleb(len(new)) + added
        out += bytes([_EXPORT_SECTION]) + _uleb(len(body)) + body
    return bytes(out)
