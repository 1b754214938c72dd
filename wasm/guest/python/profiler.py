# WASM Workbench guest profiler: the guest half of a fuel profile.
#
# Loaded by the driver only for a profiled turn (the host sends this source along,
# like introspect.py). It names events, nothing else: at each sys.monitoring event
# (PEP 669) it calls posix_fadvise on PROFILE_FD with a code id and a line; the
# host shadows that WASI import (fd_advise), reads the store's fuel itself and
# does all the accounting (workbench/sandbox/_profile.py). No number of fuel is
# ever computed or reported here.
#
# Names the driver gives this module: sys, advise (the real posix.posix_fadvise),
# own_files (filenames of the driver's code, never profiled).
# Every callback starts with OP_PAUSE and ends with the event: the host gives back
# the fuel between the two exactly, and subtracts a calibrated cost for the rest
# (reaching the callback, the two calls themselves), so keep both ends short.

PROFILE_FD = 0  # standard input, served by the host; advice codes 0xA0+ are ours
OP_PAUSE = 0xA0
OP_LINE = 0xA1
OP_START = 0xA2
OP_RETURN = 0xA3
OP_RESUME = 0xA4
OP_SKIP = 0xA5  # ends a pause without an event (code the profiler ignores)
OP_NAME = 0xA8
OP_MARK = 0xA9
MARK_BEGIN = 0
MARK_START = 7
MARK_STOP = 8
MARK_END = 10
MAX_CODES = 4096

import gc

gc_isenabled, gc_disable, gc_enable = gc.isenabled, gc.disable, gc.enable
monitoring = sys.monitoring
events = monitoring.events
DISABLE = monitoring.DISABLE
code_type = type(compile("", "<x>", "exec"))
ids = {}
user_codes = set()
modules = {}
next_id = [1]
import_machinery = {"importlib._bootstrap", "importlib._bootstrap_external", "zipimport"}
own = set(own_files) | {"<workbench-profiler>", "<workbench-calibration>"}


def module_of(filename):
    # "/data/stdlib/json/encoder.py" -> "json.encoder"; "<frozen zipimport>" -> "zipimport"
    if filename.startswith("<frozen "):
        return filename[8:-1]
    at = filename.rfind("/Lib/")  # the runtime's stdlib keeps its build-time path
    if at >= 0:
        filename = filename[at + 5 :]
    for root in ("/data/stdlib/", "/data/site-packages/", "/app/site-packages/", "/data/lib/python/", "/app/"):
        if filename.startswith(root):
            filename = filename[len(root) :]
            break
    if filename.endswith("/__init__.py"):
        filename = filename[:-12]
    elif filename.endswith(".py"):
        filename = filename[:-3]
    return filename.lstrip("/").replace("/", ".") or "<unknown>"


def register(code):
    # Registering allocates, which can start a garbage collection; it runs after the
    # callback instead, in the user's code, where an unprofiled run would have had it.
    collecting = gc_isenabled()
    gc_disable()
    try:
        return register_code(code)
    finally:
        if collecting:
            gc_enable()


def register_code(code):
    if type(code) is not code_type:
        return 0
    if code.co_filename in own:
        ids[code] = 0
        return 0
    if code in user_codes:
        kind, label, first = "u", code.co_qualname, code.co_firstlineno
        key = None
    else:
        label = module_of(code.co_filename)
        if label in import_machinery:
            # Thousands of small calls per import: not followed (DISABLE), so their
            # fuel stays on the line that imports; the imported module's own code
            # still shows under its name.
            ids[code] = 0
            return 0
        kind, first, key = "l", 0, label
        known = modules.get(key)
        if known is not None:
            ids[code] = known
            return known
    cid = next_id[0]
    if cid >= MAX_CODES:
        ids[code] = MAX_CODES
        return MAX_CODES
    next_id[0] = cid + 1
    ids[code] = cid
    if key is not None:
        modules[key] = cid
    data = ("%s\0%s\0%d" % (kind, label, first)).encode("utf-8", "replace")[:600]
    for at in range(0, len(data), 7):
        advise(PROFILE_FD, cid, int.from_bytes(data[at : at + 7], "little"), OP_NAME)
    return cid


def on_line(code, line):
    advise(PROFILE_FD, 0, 0, OP_PAUSE)
    # A call with made-up arguments must not run their __hash__ or __index__
    # inside the window the host gives back.
    if type(code) is not code_type or type(line) is not int:
        return advise(PROFILE_FD, 0, 0, OP_SKIP)
    cid = ids.get(code)
    if cid is None:
        cid = register(code)
    advise(PROFILE_FD, cid, line, OP_LINE)


def on_start(code, offset):
    advise(PROFILE_FD, 0, 0, OP_PAUSE)
    if type(code) is not code_type:
        return advise(PROFILE_FD, 0, 0, OP_SKIP)
    cid = ids.get(code)
    if cid is None:
        cid = register(code)
    if not cid:
        advise(PROFILE_FD, 0, 0, OP_SKIP)
        return DISABLE
    advise(PROFILE_FD, cid, 0, OP_START)


def on_resume(code, offset):
    advise(PROFILE_FD, 0, 0, OP_PAUSE)
    if type(code) is not code_type:
        return advise(PROFILE_FD, 0, 0, OP_SKIP)
    cid = ids.get(code)
    if cid is None:
        cid = register(code)
    if not cid:
        advise(PROFILE_FD, 0, 0, OP_SKIP)
        return DISABLE
    advise(PROFILE_FD, cid, 0, OP_RESUME)


def on_throw(code, offset, exc):
    advise(PROFILE_FD, 0, 0, OP_PAUSE)
    if type(code) is not code_type:
        return advise(PROFILE_FD, 0, 0, OP_SKIP)
    cid = ids.get(code)
    if cid is None:
        cid = register(code)
    if not cid:
        advise(PROFILE_FD, 0, 0, OP_SKIP)
        return DISABLE
    advise(PROFILE_FD, cid, 0, OP_RESUME)


def on_return(code, offset, value):
    advise(PROFILE_FD, 0, 0, OP_PAUSE)
    if type(code) is not code_type:
        return advise(PROFILE_FD, 0, 0, OP_SKIP)
    cid = ids.get(code)
    if cid is None:
        cid = register(code)
    if not cid:
        advise(PROFILE_FD, 0, 0, OP_SKIP)
        return DISABLE
    advise(PROFILE_FD, cid, 0, OP_RETURN)


def on_unwind(code, offset, exc):
    advise(PROFILE_FD, 0, 0, OP_PAUSE)
    if type(code) is not code_type:
        return advise(PROFILE_FD, 0, 0, OP_SKIP)
    cid = ids.get(code)
    if cid is None:
        cid = register(code)
    advise(PROFILE_FD, cid, 0, OP_RETURN if cid else OP_SKIP)  # PY_UNWIND can't be disabled


def mark(number):
    advise(PROFILE_FD, 0, number, OP_MARK)


def walk(code, found):
    found.add(code)
    for const in code.co_consts:
        if type(const) is code_type:
            walk(const, found)


def claim_tool():
    for tool in (monitoring.PROFILER_ID, 3, 4, 5):
        try:
            monitoring.use_tool_id(tool, "workbench-profiler")
            return tool
        except ValueError:
            continue
    return None


CAL_LINES = 24


def calibrate(tool, plain, watched):
    # Two copies of the same function, the watched one with line events: with the
    # run's global events on for both, the host reads the fuel at the marks and
    # divides the difference (its pause windows removed) by the extra events.
    monitoring.set_local_events(tool, watched.__code__, events.LINE)
    for _ in range(2):  # warm up: instrumentation and specialization happen here
        plain()
        watched()
        mark(99)  # not a calibration mark: warms mark() itself
    mark(1)
    plain()
    mark(2)
    mark(3)
    watched()
    mark(4)
    monitoring.set_local_events(tool, watched.__code__, 0)


def profile(code, user_globals):
    """Execute ``code`` in ``user_globals`` with events on; the host keeps the profile."""
    mark(MARK_BEGIN)
    tool = claim_tool()
    if tool is None:
        return exec(code, user_globals)
    found = set()
    walk(code, found)
    user_codes.clear()
    user_codes.update(found)
    register_all = (
        (events.LINE, on_line),
        (events.PY_START, on_start),
        (events.PY_RESUME, on_resume),
        (events.PY_THROW, on_throw),
        (events.PY_RETURN, on_return),
        (events.PY_YIELD, on_return),
        (events.PY_UNWIND, on_unwind),
    )
    for event, callback in register_all:
        monitoring.register_callback(tool, event, callback)
    try:
        source = "def lines():\n    a = 1\n" + "    a = a + 1\n" * (CAL_LINES - 1)
        plain, watched = {}, {}
        exec(compile(source, "<workbench-calibration>", "exec"), plain)
        exec(compile(source, "<workbench-calibration>", "exec"), watched)
        for function in (plain["lines"], watched["lines"]):
            ids[function.__code__] = MAX_CODES + 1  # a cached id, as user code has
        flow = events.PY_START | events.PY_RESUME | events.PY_THROW | events.PY_RETURN
        flow |= events.PY_YIELD | events.PY_UNWIND
        monitoring.set_events(tool, flow)
        calibrate(tool, plain["lines"], watched["lines"])
        for item in found:
            monitoring.set_local_events(tool, item, events.LINE)
        mark(MARK_START)
        try:
            return exec(code, user_globals)
        finally:
            mark(MARK_STOP)
            monitoring.set_events(tool, 0)
    finally:
        for item in found:
            monitoring.set_local_events(tool, item, 0)
        for event, _ in register_all:
            monitoring.register_callback(tool, event, None)
        monitoring.free_tool_id(tool)
        mark(MARK_END)  # the host gives back the clean-up since MARK_STOP
