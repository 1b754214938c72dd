# WASM Workbench guest introspection: runs inside CPython for WASI.
#
# Not part of the driver's start-up: compiling it would cost every interpreter
# ~100 M fuel. The host sends this source with each "introspect" request and the
# driver compiles it once per interpreter, the first time (see driver.py). The
# driver supplies `user_globals`, `builtins` and `sys`; INTROSPECTORS maps each
# kind to a function taking the request's args and returning plain values.
#
# Each introspector takes the request's "args" dict and returns a dict of plain
# values (sent as JSON). They must stay cheap (no imports) and must not run
# user code by accident: the variables listing only calls builtins on values
# whose exact type is a builtin type, so no user __repr__, __len__, property or
# __getattr__ runs while the workbench refreshes its variables panel.

type_name_of = type.__dict__["__qualname__"].__get__
module_type = type(sys)
function_type = type(lambda: None)
scalar_types = (int, float, complex, bool, type(None))
text_types = (str, bytes, bytearray)
container_types = (list, tuple, dict, set, frozenset)

def one_of(kind, kinds):
    # `kind in kinds` without ==: comparing classes can run a metaclass's __eq__.
    for item in kinds:
        if item is kind:
            return True
    return False

def type_name(value):
    kind = type(value)
    try:
        name = type_name_of(kind)
    except Exception:
        name = "object"
    module = kind.__dict__.get("__module__") if type(kind) is type else None
    if type(module) is str and module not in ("builtins", "__main__"):
        name = module + "." + name
    return name

def short(text, limit):
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "\u2026"

def preview(value, limit, depth=0):
    # A repr built only from builtins; anything else shows as <Type>.
    kind = type(value)
    if one_of(kind, scalar_types):
        if kind is int and value.bit_length() > 1000:
            return "<int of %d bits>" % value.bit_length()
        return repr(value)
    if one_of(kind, text_types):
        return short(repr(value[: limit + 1]), limit)
    if (kind is set or kind is frozenset) and not value:
        return kind.__name__ + "()"
    if one_of(kind, container_types) and depth < 2:
        if kind is dict:
            opening, closing = "{", "}"
        elif kind is list:
            opening, closing = "[", "]"
        elif kind is tuple:
            opening, closing = "(", ")"
        elif kind is set and value:
            opening, closing = "{", "}"
        else:
            opening, closing = kind.__name__ + "({", "})"
        parts = []
        used = len(opening) + len(closing)
        items = value.items() if kind is dict else value
        for item in items:
            if kind is dict:
                text = preview(item[0], limit, depth + 1) + ": " + preview(item[1], limit, depth + 1)
            else:
                text = preview(item, limit, depth + 1)
            if used + len(text) > limit:
                parts.append("\u2026")
                break
            parts.append(text)
            used += len(text) + 2
        if kind is tuple and len(parts) == 1 and len(value) == 1:
            parts[0] += ","
        return opening + ", ".join(parts) + closing
    if kind is function_type:
        code = value.__code__
        names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        return "%s(%s)" % (value.__name__, ", ".join(names))
    if kind is type:
        return "class " + value.__qualname__
    if kind is module_type:
        name = value.__dict__.get("__name__")
        return "module " + (name if type(name) is str else "?")
    return "<" + type_name(value) + ">"

def size_of(value):
    kind = type(value)
    if one_of(kind, text_types) or one_of(kind, container_types):
        return len(value)
    return None

def variables(args):
    limit = args.get("preview_chars", 120)
    max_items = args.get("max_items", 1000)
    rows = []
    names = sorted(name for name in user_globals if type(name) is str and not name.startswith("_"))
    library = library_types()
    for name in names[:max_items]:
        value = user_globals[name]
        row = {"name": name, "type": type_name(value), "size": size_of(value)}
        data = None
        if library is not None and id(type(value)) in library["data"]:
            try:
                data = describe_data(value, library, limit)
            except Exception:
                data = None
        if data is not None:
            row.update(data)
        else:
            try:
                row["preview"] = short(preview(value, limit), limit)
            except Exception:
                row["preview"] = "<" + type_name(value) + ">"
        rows.append(row)
    return {"variables": rows, "total": len(names)}

# ---- numpy arrays and pandas DataFrames/Series (python-sci)
#
# Shape, dtypes and the first rows of these, with the same rule as above: no
# code of the user's runs. A value is described only if its exact type is the
# library's own class, looked up in the module that defines it (in sys.modules:
# nothing is imported here, and module dicts are read without attribute hooks);
# subclasses and lookalikes get the plain "<Type>" preview. numpy's ndarray must
# also be a static (C) type, which no Python code can make. Attributes are read
# from the class dicts along the MRO (an instance's __dict__ can't stand in for
# them), and the calls made are few, internal and cheap: DataFrame.index/columns,
# _get_column_array (no new DataFrame, so no __finalize__ deep-copying attrs),
# Series._values, Index._values, len(), slicing arrays to a few rows. Cells are
# turned into text by builtins, or by str() of a library's own scalar types
# (numpy scalars, Timestamp, NaT ...); anything else in a cell (a user object in
# an object column) shows as "<Type>". Someone who rewrites pandas itself in
# their session can still make this run their code, inside their own sandbox,
# under the introspection's fuel and time limits.
HEAP_TYPE = 1 << 9
flags_of = type.__dict__["__flags__"].__get__
HEAD_ROWS = 5
HEAD_COLUMNS = 12
CELL_CHARS = 24
HEAD_CHARS = 4000
DTYPE_CHARS = 300

def module_dict(name):
    module = sys.modules.get(name)
    if type(module) is not module_type:
        return None
    space = instance_dict_of(module, "__dict__")
    return space if type(space) is dict else None

def library_class(module_name, name, static=False):
    space = module_dict(module_name)
    if space is None:
        return None
    klass = space.get(name)
    if type(klass) is not type:
        return None
    if static and flags_of(klass) & HEAP_TYPE:
        return None
    return klass

def library_types():
    # None unless numpy is imported (always, in the small runtime: no cost there).
    # Sets hold id()s: hashing or comparing a class can run its metaclass's code.
    ndarray = library_class("numpy", "ndarray", static=True)
    if ndarray is None:
        return None
    found = {"ndarray": ndarray, "data": {id(ndarray)}, "scalars": set(), "arrays": set(),
             "dtypes": set(), "indexes": set(), "keep": []}

    def add(group, klass):
        found[group].add(id(klass))
        found["keep"].append(klass)  # alive while the ids are used

    numpy_space = module_dict("numpy") or {}
    for name in ("bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                 "float16", "float32", "float64", "longdouble", "complex64", "complex128",
                 "datetime64", "timedelta64", "str_", "bytes_"):
        klass = numpy_space.get(name)
        if type(klass) is type and not flags_of(klass) & HEAP_TYPE:
            add("scalars", klass)
    for module_name in ("datetime", "decimal"):
        space = module_dict(module_name) or {}
        for name in ("datetime", "date", "time", "timedelta", "Decimal"):
            klass = space.get(name)
            if type(klass) is type and not flags_of(klass) & HEAP_TYPE:
                add("scalars", klass)
    frame = library_class("pandas.core.frame", "DataFrame")
    series = library_class("pandas.core.series", "Series")
    if frame is None or series is None:
        return found
    found["DataFrame"], found["Series"] = frame, series
    add("data", frame)
    add("data", series)
    for module_name, name in (
        ("pandas._libs.tslibs.timestamps", "Timestamp"),
        ("pandas._libs.tslibs.timedeltas", "Timedelta"),
        ("pandas._libs.tslibs.period", "Period"),
        ("pandas._libs.tslibs.nattype", "NaTType"),
        ("pandas._libs.missing", "NAType"),
        ("pandas._libs.interval", "Interval"),
    ):
        klass = library_class(module_name, name)
        if klass is not None:
            add("scalars", klass)
    for module_name in ("pandas.arrays", "pandas.core.dtypes.dtypes", "pandas.core.arrays.string_",
                        "pandas.core.arrays.integer", "pandas.core.arrays.floating",
                        "pandas.core.arrays.boolean", "pandas.core.indexes.api"):
        space = module_dict(module_name) or {}
        for name, klass in space.items():
            if type(klass) is not type or type(name) is not str:
                continue
            if name.endswith("Dtype"):
                add("dtypes", klass)
            elif name.endswith("Array") or name == "Categorical":
                add("arrays", klass)
            elif name.endswith("Index") and module_name == "pandas.core.indexes.api":
                add("indexes", klass)
    return found

def library_attr(value, name):
    # The class's own attribute (property, method, C getset), bound to value.
    kind = type(value)
    for klass in mro_of(kind):
        space = class_dict_of(klass)
        if name in space:
            attr = space[name]
            getter = static_get(type(attr), "__get__")
            return attr if getter is missing else attr.__get__(value, kind)
    raise AttributeError(name)

def known_array(value, library):
    kind = type(value)
    return kind is library["ndarray"] or id(kind) in library["arrays"]

def dtype_text(array, library):
    if not known_array(array, library):
        return "<" + type_name(array) + ">"
    dtype = library_attr(array, "dtype")
    kind = type(dtype)
    if not flags_of(kind) & HEAP_TYPE or id(kind) in library["dtypes"]:
        return short(str(dtype), 60)
    return "<" + type_name(dtype) + ">"

def cell_text(value, library):
    kind = type(value)
    if kind is str:
        return short(value, CELL_CHARS)
    if kind is float:
        return "%.6g" % value
    if one_of(kind, scalar_types):
        return short(repr(value), CELL_CHARS)
    if id(kind) in library["scalars"]:
        text = str(value)
        if type(text) is not str:
            return "<" + type_name(value) + ">"
        if text.endswith("T00:00:00.000000000") or text.endswith(" 00:00:00"):
            text = text[:10]  # a date at midnight, as pandas shows it
        return short(text, CELL_CHARS)
    return short(preview(value, CELL_CHARS), CELL_CHARS)

def first_cells(array, count, library):
    # Texts of the first `count` items of a 1-D numpy array or pandas array.
    if not known_array(array, library):
        return ["<" + type_name(array) + ">"]
    numpy_array = type(array) is library["ndarray"]
    texts = []
    for item in list(array[:count]):
        if numpy_array and id(type(item)) in library["scalars"]:
            name = type_name_of(type(item))
            if name.startswith("float") or name == "longdouble":
                texts.append("%.6g" % float(item))
                continue
        texts.append(cell_text(item, library))
    return texts

def render_table(header, columns, index):
    # A plain text table: `columns` is a list of lists of cell texts.
    width_index = max([len(text) for text in index] or [0])
    widths = [max([len(header[j])] + [len(text) for text in columns[j]]) for j in range(len(columns))]
    lines = []
    if any(header):
        lines.append(" " * width_index + "".join("  " + header[j].rjust(widths[j]) for j in range(len(columns))))
    for i in range(len(index)):
        cells = "".join("  " + (columns[j][i] if i < len(columns[j]) else "").rjust(widths[j]) for j in range(len(columns)))
        lines.append(index[i].ljust(width_index) + cells)
    return "\n".join(line.rstrip() for line in lines)

def index_cells(index, count, library):
    # Sliced first: a RangeIndex's _values would build (and cache) the whole range.
    return first_cells(library_attr(index[:count], "_values"), count, library)

def describe_data(value, library, limit):
    kind = type(value)
    if kind is library["ndarray"]:
        return describe_ndarray(value, library, limit)
    if kind is library.get("Series"):
        return describe_series(value, library, limit)
    if kind is library.get("DataFrame"):
        return describe_frame(value, library, limit)
    return None

def describe_ndarray(value, library, limit):
    space = class_dict_of(library["ndarray"])
    shape = space["shape"].__get__(value)
    out = {"shape": list(shape), "dtype": dtype_text(value, library), "size": shape[0] if shape else None}
    if not shape:
        text = cell_text(value[()], library)
        out["preview"] = text
        out["head"] = text
        return out
    plane = value
    note = ""
    if len(shape) > 2:
        plane = value[(0,) * (len(shape) - 2)]
        note = "[" + ", ".join(["0"] * (len(shape) - 2)) + ", :, :]\n"
    if len(shape) == 1:
        cells = first_cells(plane, HEAD_ROWS * 4, library)
        more = ", \u2026" if shape[0] > len(cells) else ""
        out["preview"] = short("[" + ", ".join(cells) + more + "]", limit)
        rows = min(shape[0], HEAD_ROWS)
        out["head"] = render_table([""], [cells[:rows]], [str(i) for i in range(rows)])
        return out
    rows = min(shape[-2], HEAD_ROWS)
    width = min(shape[-1], HEAD_COLUMNS)
    columns = [first_cells(plane[:rows, j], rows, library) for j in range(width)]
    out["head"] = note + render_table([str(j) for j in range(width)], columns, [str(i) for i in range(rows)])
    first_row = [column[0] for column in columns if column]
    more = ", \u2026" if shape[-1] > width else ""
    out["preview"] = short("[[" + ", ".join(first_row) + more + "], \u2026]", limit)
    return out

def describe_series(value, library, limit):
    values = library_attr(value, "_values")
    index = library_attr(value, "index")
    if not known_array(values, library) or id(type(index)) not in library["indexes"]:
        return None  # someone else's array or index: the plain preview
    length = len(values)
    cells = first_cells(values, HEAD_ROWS * 4, library)
    more = ", \u2026" if length > len(cells) else ""
    rows = min(length, HEAD_ROWS)
    name = library_attr(value, "name")
    header = "" if name is None else cell_text(name, library)
    return {
        "shape": [length],
        "dtype": dtype_text(values, library),
        "size": length,
        "preview": short("[" + ", ".join(cells) + more + "]", limit),
        "head": render_table([header], [cells[:rows]], index_cells(index, rows, library)),
    }

def describe_frame(value, library, limit):
    index = library_attr(value, "index")
    columns = library_attr(value, "columns")
    if id(type(index)) not in library["indexes"] or id(type(columns)) not in library["indexes"]:
        return None
    get_column = library_attr(value, "_get_column_array")
    rows, width = len(index), len(columns)
    labels = index_cells(columns, 50, library)
    arrays = [get_column(j) for j in range(min(width, 50))]
    dtypes = [dtype_text(array, library) for array in arrays]
    distinct = []
    for text in dtypes:
        if text not in distinct:
            distinct.append(text)
    shown = min(width, HEAD_COLUMNS)
    head_rows = min(rows, HEAD_ROWS)
    cells = [first_cells(arrays[j], head_rows, library) for j in range(shown)]
    header = [labels[j] if j < len(labels) else "" for j in range(shown)]
    table = render_table(header, cells, index_cells(index, head_rows, library))
    if width > shown:
        table += "\n[%d columns, %d shown]" % (width, shown)
    listing = ", ".join(labels[j] + ": " + dtypes[j] for j in range(len(dtypes)))
    return {
        "shape": [rows, width],
        "dtype": short(", ".join(distinct), DTYPE_CHARS),
        "size": rows,
        "preview": short(", ".join(labels[: len(dtypes)]) + (", \u2026" if width > len(dtypes) else ""), limit),
        "head": short(table, HEAD_CHARS),
        "columns": short(listing + (", \u2026" if width > len(dtypes) else ""), HEAD_CHARS),
    }

# Completion and inspection for consoles. Attribute chains are resolved the
# way inspect.getattr_static does, from the instance __dict__ and the class
# dicts along the MRO, so no property, __getattr__ or __dir__ of user code runs
# (a console's Tab key must never run the user's code, or cost them state).
keywords = (
    "False None True and as assert async await break class continue def del elif else "
    "except finally for from global if import in is lambda nonlocal not or pass raise "
    "return try while with yield"
).split()
mro_of = type.__dict__["__mro__"].__get__
class_dict_of = type.__dict__["__dict__"].__get__
instance_dict_of = object.__getattribute__
missing = object()
# C-level callables: their __doc__ and __text_signature__ are C getters.
builtin_callables = (type(len), type(str.upper), type(object.__init__), type(dict.fromkeys))

def namespaces(value):
    spaces = []
    try:
        own = instance_dict_of(value, "__dict__")
    except Exception:
        own = None
    if type(own) is dict:
        spaces.append(own)
    classes = mro_of(value) if isinstance(value, type) else mro_of(type(value))
    for klass in classes:
        try:
            spaces.append(class_dict_of(klass))
        except Exception:
            pass
    return spaces

def static_get(value, name):
    for space in namespaces(value):
        if name in space:
            return space[name]
    return missing

def resolve(path):
    parts = path.split(".")
    value = user_globals.get(parts[0], missing)
    if value is missing:
        value = builtins.__dict__.get(parts[0], missing)
    for part in parts[1:]:
        if value is missing:
            break
        value = static_get(value, part)
    return value

def complete(args):
    text = args.get("text", "")
    if type(text) is not str or len(text) > 1000:
        return {"matches": []}
    base, dot, prefix = text.rpartition(".")
    if dot:
        value = resolve(base)
        if value is missing:
            return {"matches": []}
        names = set()
        for space in namespaces(value):
            names.update(name for name in space if type(name) is str)
    else:
        names = set(name for name in user_globals if type(name) is str)
        names.update(builtins.__dict__)
        names.update(keywords)
    hidden = not prefix.startswith("_")
    found = sorted(
        name for name in names if name.startswith(prefix) and not (hidden and name.startswith("_"))
    )
    return {"matches": found[: args.get("max_items", 500)]}

def signature(function):
    code = function.__code__
    names = code.co_varnames
    count = code.co_argcount
    kwonly = code.co_kwonlyargcount
    defaults = function.__defaults__ or ()
    kwdefaults = function.__kwdefaults__ or {}
    parts = []
    first_default = count - len(defaults)
    for index in range(count):
        part = names[index]
        if index >= first_default:
            part += "=" + preview(defaults[index - first_default], 40)
        parts.append(part)
        if index + 1 == code.co_posonlyargcount:
            parts.append("/")
    position = count
    if code.co_flags & 0x04:
        parts.append("*" + names[count + kwonly])
    elif kwonly:
        parts.append("*")
    for index in range(position, position + kwonly):
        part = names[index]
        if part in kwdefaults:
            part += "=" + preview(kwdefaults[part], 40)
        parts.append(part)
    if code.co_flags & 0x08:
        parts.append("**" + names[count + kwonly + (1 if code.co_flags & 0x04 else 0)])
    return "(" + ", ".join(parts) + ")"

def inspect(args):
    name = args.get("name", "")
    if type(name) is not str or not name or len(name) > 1000:
        return {"found": False}
    value = resolve(name)
    if value is missing:
        return {"found": False}
    lines = ["Type: " + type_name(value)]
    target = value
    if type(value) is type(inspect.__get__(0)):  # a bound method
        target = value.__func__
    if type(target) is function_type:
        lines.append("Signature: " + name.rpartition(".")[2] + signature(target))
    elif isinstance(value, type):
        init = static_get(value, "__init__")
        if type(init) is function_type:
            text = signature(init).replace("(self, ", "(", 1).replace("(self)", "()", 1)
            lines.append("Signature: " + name.rpartition(".")[2] + text)
    elif type(value) in builtin_callables:
        text_signature = value.__text_signature__
        if type(text_signature) is str:
            for first in ("$module, ", "$module", "$self, ", "$self", "$type, ", "$type"):
                text_signature = text_signature.replace(first, "", 1)
            lines.append("Signature: " + name.rpartition(".")[2] + text_signature)
    else:
        data = None
        library = library_types()
        if library is not None and id(type(value)) in library["data"]:
            try:
                data = describe_data(value, library, 200)
            except Exception:
                data = None
        if data is not None:  # an array, DataFrame or Series: its shape and first rows
            shape = " x ".join(str(n) for n in data["shape"]) or "scalar"
            lines.append("Shape: " + shape + ("  dtype: " + data["dtype"] if data["dtype"] else ""))
            lines.append("Head:\n" + data["head"])
        else:
            lines.append("Value: " + short(preview(value, 200), 200))
    doc = static_get(target, "__doc__")
    if type(value) in builtin_callables:
        doc = value.__doc__
    if type(doc) is not str and type(target) is function_type:
        doc = target.__doc__
    if type(doc) is not str and not isinstance(value, type):
        doc = static_get(type(value), "__doc__")
    if type(doc) is str and doc.strip():
        lines.append("Docstring:\n" + short(doc.strip(), 4000))
    return {"found": True, "text": "\n".join(lines)}

INTROSPECTORS = {"variables": variables, "complete": complete, "inspect": inspect}
