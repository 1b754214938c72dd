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
    if kind in scalar_types:
        if kind is int and value.bit_length() > 1000:
            return "<int of %d bits>" % value.bit_length()
        return repr(value)
    if kind in text_types:
        return short(repr(value[: limit + 1]), limit)
    if (kind is set or kind is frozenset) and not value:
        return kind.__name__ + "()"
    if kind in container_types and depth < 2:
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
    if kind in text_types or kind in container_types:
        return len(value)
    return None

def variables(args):
    limit = args.get("preview_chars", 120)
    max_items = args.get("max_items", 1000)
    rows = []
    names = sorted(name for name in user_globals if type(name) is str and not name.startswith("_"))
    for name in names[:max_items]:
        value = user_globals[name]
        try:
            text = short(preview(value, limit), limit)
        except Exception:
            text = "<" + type_name(value) + ">"
        rows.append({"name": name, "type": type_name(value), "size": size_of(value), "preview": text})
    return {"variables": rows, "total": len(names)}

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
