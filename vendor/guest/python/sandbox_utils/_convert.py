"""Format conversions: csv_to_json, json_to_csv, xml_to_dict.

They use the C modules behind ``csv``, ``json`` and ``xml.etree`` (``_csv``,
``_json``, ``pyexpat``): importing those costs ~1 M fuel in the sandbox, the
Python modules ~220-350 M each.
"""

from ._paths import AppPath, resolve

# ---- JSON (through _json, without importing json)


class _Context:
    # What _json.make_scanner reads from a json.JSONDecoder.
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = None

    @staticmethod
    def parse_constant(name):
        return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


_codec = {}


def _json_default(value):
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _encoder():
    enc = _codec.get("enc")
    if enc is None:
        try:
            import _json

            enc = _json.make_encoder(
                None, _json_default, _json.encode_basestring, None, ": ", ", ", False, False, True
            )
        except (ImportError, AttributeError):
            import json

            enc = json.JSONEncoder(ensure_ascii=False, default=_json_default).iterencode
        _codec["enc"] = enc
    return enc


def to_json(value, indent=None):
    """JSON text for ``value`` (like ``json.dumps(value, indent=..., ensure_ascii=False)``)."""
    enc = _encoder()
    if indent is None:
        return "".join(enc(value, 0))
    return _pretty(value, enc, " " * indent, "\n")


def _pretty(value, enc, step, pad):
    inner = pad + step
    if isinstance(value, dict) and value:
        parts = []
        for key, item in value.items():
            if not isinstance(key, str):
                key = "".join(enc(key, 0)).strip('"') if key is not None else "null"
            parts.append("".join(enc(key, 0)) + ": " + _pretty(item, enc, step, inner))
        return "{" + inner + ("," + inner).join(parts) + pad + "}"
    if isinstance(value, (list, tuple)) and value:
        parts = [_pretty(item, enc, step, inner) for item in value]
        return "[" + inner + ("," + inner).join(parts) + pad + "]"
    return "".join(enc(value, 0))


def from_json(text):
    """Parse JSON text (like ``json.loads``)."""
    scan = _codec.get("scan")
    if scan is None:
        try:
            import _json

            scan = _json.make_scanner(_Context())
        except (ImportError, AttributeError):
            import json

            scan = json.JSONDecoder().scan_once
        _codec["scan"] = scan
    start = len(text) - len(text.lstrip(" \t\n\r"))
    try:
        value, end = scan(text, start)
    except StopIteration as stop:
        raise ValueError(f"Invalid JSON: expecting a value at character {stop.value}") from None
    if text[end:].strip(" \t\n\r"):
        raise ValueError(f"Invalid JSON: extra data at character {end}")
    return value


def _read(path):
    with open(resolve(path), encoding="utf-8-sig", newline="") as handle:
        return handle.read()


def _write(path, text):
    full = resolve(path)
    with open(full, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    return AppPath(full)


# ---- CSV (through _csv, without importing csv)


def _csv():
    try:
        import _csv

        return _csv
    except ImportError:  # pragma: no cover - every CPython build has it
        import csv

        return csv


def _number(text):
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def csv_to_json(
    path=None, output=None, *, text=None, delimiter=",", pretty=False, infer_types=False
):
    """A CSV file (first row = column names) as JSON text: an array of row objects.

    Pass the CSV itself as ``text=`` instead of a path. ``output`` also writes
    the JSON to that file. The array holds one row object per line (fast even
    for many rows); ``pretty=True`` indents every key like ``json.dumps(...,
    indent=2)``, which costs ~0.2 M fuel per row. Cells are strings, as the csv
    module reads them, unless ``infer_types=True`` turns numbers into numbers.
    """
    rows = read_csv(path, text=text, delimiter=delimiter, infer_types=infer_types)
    if pretty:
        result = to_json(rows, 2)
    else:
        enc = _encoder()
        lines = ",\n".join("".join(enc(row, 0)) for row in rows)
        result = "[\n" + lines + "\n]" if rows else "[]"
    if output is not None:
        _write(output, result + "\n")
    return result


def read_csv(path=None, *, text=None, delimiter=",", infer_types=False):
    """Rows of a CSV file (or ``text``) as dicts keyed by the header row."""
    if (path is None) == (text is None):
        raise TypeError("give the CSV as a path or as text=, not both")
    if text is None:
        text = _read(path)
    import _io

    reader = _csv().reader(_io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return []
    rows = []
    width = len(header)
    for cells in reader:
        if not cells:
            continue
        if infer_types:
            cells = [_number(c) for c in cells]
        if len(cells) < width:
            cells = cells + [None] * (width - len(cells))
        rows.append(dict(zip(header, cells, strict=False)))
    return rows


def json_to_csv(data, output=None, *, delimiter=",", columns=None):
    """CSV text (header row first) from a list of dicts or lists.

    ``data`` may also be JSON text (starting with "[" or "{") or the path of a
    JSON file in /app. ``columns`` sets the column order (default: every key,
    first seen first); ``output`` also writes the CSV to that file. Nested
    values are written as JSON, None as an empty cell.
    """
    if isinstance(data, str) and data.lstrip()[:1] not in ("[", "{"):
        data = from_json(_read(data))
    elif isinstance(data, str):
        data = from_json(data)
    if isinstance(data, dict):
        data = [data]
    rows = list(data)
    lines = []
    writer = _csv().writer(_Lines(lines), delimiter=delimiter, lineterminator="\n")
    if rows and all(isinstance(row, dict) for row in rows):
        if columns is None:
            columns = list({key: None for row in rows for key in row})
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
    else:
        if columns is not None:
            writer.writerow(columns)
        for row in rows:
            cells = row if isinstance(row, (list, tuple)) else [row]
            writer.writerow([_cell(c) for c in cells])
    result = "".join(lines)
    if output is not None:
        _write(output, result)
    return result


class _Lines:
    def __init__(self, out):
        self.write = out.append


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return to_json(value)
    if value is True or value is False:
        return "true" if value else "false"
    return value


# ---- XML (through pyexpat, without importing xml.etree)


def xml_to_dict(source, *, attr_prefix="@", text_key="#text"):
    """Parse XML text (or an XML file in /app) into nested dicts, like ``xmltodict``.

    Attributes become ``"@name"`` keys, text beside attributes or children
    ``"#text"``; an element with only text becomes that string, an empty one
    None, and repeated elements a list.
    """
    import pyexpat

    if not isinstance(source, str) or not source.lstrip().startswith("<"):
        source = _read(source)
    parser = pyexpat.ParserCreate()
    parser.SetParamEntityParsing(pyexpat.XML_PARAM_ENTITY_PARSING_NEVER)
    root = {}
    stack = [(root, [])]

    def start(name, attributes):
        node = {attr_prefix + key: value for key, value in attributes.items()}
        stack.append((node, []))
        stack[-2][0].setdefault(_CHILDREN, []).append((name, node))

    def end(name):
        node, text = stack.pop()
        parent = stack[-1][0]
        value = _finish(node, "".join(text).strip(), text_key)
        children = parent[_CHILDREN]
        children[-1] = (name, value)

    def chars(data):
        stack[-1][1].append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(source, True)
    except pyexpat.ExpatError as exc:
        raise ValueError(f"Invalid XML: {exc}") from None
    return _finish(root, "", text_key) or {}


_CHILDREN = object()


def _finish(node, text, text_key):
    children = node.pop(_CHILDREN, ())
    for name, value in children:
        if name in node:
            existing = node[name]
            if isinstance(existing, _Many):
                existing.append(value)
            else:
                node[name] = _Many([existing, value])
        else:
            node[name] = value
    for name, value in node.items():
        if isinstance(value, _Many):
            node[name] = list(value)
    if not node:
        return text or None
    if text:
        node[text_key] = text
    return node


class _Many(list):
    """A list made from repeated elements (not a list value the XML contained)."""
