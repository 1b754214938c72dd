# WASM Workbench guest profiler: the guest half of a fuel profile.
#
# Loaded by the driver only for a profiled turn (the host sends this source along,
# like introspect.py). It names events, nothing else: at each sys.monitoring event
# (PEP 669) it calls posix_fadvise on PROFILE_FD with its code's address and a line; the
# host shadows that WASI import (fd_advise), reads the store's fuel itself and
# does all the accounting (workbench/sandbox/_profile.py). No number of fuel is
# ever computed or reported here.
#
# Names the driver gives this module: sys, advise (the real posix.posix_fadvise),
# own_files (filenames of the driver's code, never profiled), after_codes (the
# driver's code that runs after the user's).
# A callback names its code by address (id(code)) and makes one call, lseek on
# PROFILE_FD (the host shadows fd_seek too): the host maps the address to the
# code's id (see bind), subtracts a calibrated cost and answers in the "new
# offset". The callback does nothing else, so that cost is the same at every
# event: a dict lookup here costs what its probes do, which differs from key to
# key. ANSWER_NEW: code the host doesn't know (that call is the pause of a
# window: the code is registered in it, see slow); ANSWER_IGNORE: code not
# followed (a window too, which OP_SKIP ends); the host gives windows back whole.
# An answer is a return value, not an errno: an OSError would be an object the
# garbage collector counts, and collections would come at other times than in a
# plain run.

PROFILE_FD = 0  # standard input, served by the host; advice codes 0xA0+ are ours
OP_PAUSE = 0xA0
OP_LINE = 0xA1
OP_START = 0xA2
OP_RETURN = 0xA3
OP_RESUME = 0xA4
OP_SKIP = 0xA5  # ends a pause without an event (code the profiler ignores)
OP_NAME = 0xA8
OP_MARK = 0xA9
# Events by address (a = id(code)): b is the line, nothing, or an instruction's
# offset (code whose lines are named at instruction events, see line_markers).
OP_LINE_AT = 0xAA
OP_START_AT = 0xAB
OP_RETURN_AT = 0xAC
OP_RESUME_AT = 0xAD
OP_INSTRUCTION_AT = 0xAE
OP_BIND = 0xAF  # a = id(code), b = its code id (0: not followed)
OP_LINES = 0xB0  # a = id(code): the offsets that follow are its (see markers)
OP_LINE_START = 0xB1  # a = offset, b = line
OP_INSTRUCTION = -3  # an instruction event (local to this module)
SEEK_SHIFT = 24  # lseek's offset: (id(code) << SEEK_SHIFT) + the line or offset
# The same shift as a product: CPython 3.12 specializes int * int, not << (which
# keeps trying, at spaced runs): ~600 instructions less per event.
SEEK_SCALE = 1 << SEEK_SHIFT
ANSWER_NEW = 1  # the host doesn't know this code
ANSWER_IGNORE = 2  # code (or instruction) not followed
OP_UNWIND = -1  # a return that can't be disabled (local to this module)
OP_THROW = -2  # a resume that can't be disabled (local to this module)
EVENT_OF = {OP_UNWIND: OP_RETURN, OP_THROW: OP_RESUME}  # what the host hears
MARK_BEGIN = 0
MARK_CAL = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10) + tuple(range(40, 50))
MARK_START = 20
MARK_STOP = 21
MARK_END = 22
MARK_MEASURE = 30
MARK_MEASURED = 31
MAX_CODES = 4096
CO_NEWLOCALS = 0x2
# CPython 3.12's bytecode, for markers(): jumps (opcode -> inline caches after it,
# -1 for a backward jump), and the opcodes that never start a line.
EXTENDED_ARG = 144
FOR_ITER = 93
RESUME = 151
JUMPS = {93: 1, 110: 0, 114: 0, 115: 0, 123: 1, 128: 0, 129: 0, 134: -1, 140: -1}
NO_LINE_START = (4, 5, 151)  # END_FOR, END_SEND, RESUME

import gc
from posix import lseek as seek

gc_isenabled, gc_disable, gc_enable = gc.isenabled, gc.disable, gc.enable
monitoring = sys.monitoring
events = monitoring.events
DISABLE = monitoring.DISABLE
code_type = type(compile("", "<x>", "exec"))
alive = {}  # id(code) -> code, for the codes bound: an id is never reused while here
tool_id = [0]
instruction_lines = sys.version_info[:2] == (3, 12)  # markers() reads 3.12 bytecode
importing = [0]  # depth of library module bodies running (imports in progress)
user_codes = set()
user_ids = set()  # their id()s: hashing a code object walks all of it
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


def bind(code, cid):
    # The host maps this code's address to cid from now on; the code is kept alive
    # (its address is never another code's while bound).
    alive[id(code)] = code
    advise(PROFILE_FD, id(code), cid, OP_BIND)


def register_code(code):
    key_id = id(code)
    if code.co_filename in own:
        bind(code, 0)
        return 0
    # Only functions' code is remembered: a module or class body runs once and is
    # freed after, and keeping it (with its constants) alive would leave the garbage
    # collector more young objects than a plain run has, so it would collect more
    # often. Such code is registered again at each of its (few) events.
    user = key_id in user_ids
    keep = code.co_flags & CO_NEWLOCALS or user
    if user:
        kind, label, first = "u", code.co_qualname, code.co_firstlineno
        key = None
    else:
        label = module_of(code.co_filename)
        if label in import_machinery:
            # Thousands of small calls per import: not followed (DISABLE), so their
            # fuel stays on the line that imports; the imported module's own code
            # still shows under its name.
            if keep:
                bind(code, 0)
            return 0
        kind, first, key = "l", 0, label
        known = modules.get(key)
        if known is not None:
            if keep:
                bind(code, known)
            return known
    cid = next_id[0]
    if cid >= MAX_CODES:
        if keep:
            bind(code, MAX_CODES)
        return MAX_CODES
    next_id[0] = cid + 1
    if keep:
        bind(code, cid)
    if key is not None:
        modules[key] = cid
    data = ("%s\0%s\0%d" % (kind, label, first)).encode("utf-8", "replace")[:600]
    for at in range(0, len(data), 7):
        advise(PROFILE_FD, cid, int.from_bytes(data[at : at + 7], "little"), OP_NAME)
    return cid


def answer(said, op, code, number):
    # The host's answer to an event by address that it didn't record.
    if said == ANSWER_NEW:
        return slow(op, code, number)
    if said == ANSWER_IGNORE:
        try:
            advise(PROFILE_FD, 0, 0, OP_SKIP)
        except OSError:
            return stopped()
        return None if op < 0 and op != OP_INSTRUCTION else DISABLE
    return stopped()


def slow(op, code, number):
    # Code the host doesn't know: its event was the pause of a window the host
    # gives back; the code is registered in it and the event sent again by code id.
    # A call with made-up arguments must not run their __hash__ or __index__ inside
    # the window: such calls end it unnamed.
    if op == OP_START and type(code) is code_type and id(code) not in user_ids:
        # Code starting for the first time was instrumented for the events just
        # before this callback, at a cost the calibration doesn't see: the host
        # measures instrumenting it twice more (events on, then back: two walks
        # over it, about what the first instrumentation cost) as the profiler's.
        # The pause starts the measure (one host call fewer per new code). Not
        # the user's code: profile() instrumented it before the run, so its
        # first call instruments nothing.
        advise(PROFILE_FD, 0, MARK_MEASURE, OP_PAUSE)
        own_events = monitoring.get_local_events(tool_id[0], code)
        monitoring.set_local_events(tool_id[0], code, own_events | events.PY_START)
        monitoring.set_local_events(tool_id[0], code, own_events)
        advise(PROFILE_FD, 0, MARK_MEASURED, OP_MARK)
    if type(code) is not code_type or type(number) is not int or op == OP_INSTRUCTION:
        # (An instruction event of code not registered yet: none comes before its
        # start event; dropped, and sent again at its next run.)
        advise(PROFILE_FD, 0, 0, OP_SKIP)
        return None
    # An import runs the imported module's body: it is followed as one call of that
    # module, and code first seen inside it (the module's own set-up, and modules
    # it imports) is collapsed into it: its events are turned off for good, so an
    # import costs a few host calls per new function rather than one per call.
    body = (
        code.co_name == "<module>" and id(code) not in user_ids and code.co_filename not in own
    )
    if body and op == OP_START:
        importing[0] += 1
        if importing[0] > 1:
            advise(PROFILE_FD, 0, 0, OP_SKIP)
            return None
    elif body and importing[0] and (op == OP_RETURN or op == OP_UNWIND):
        importing[0] -= 1
        if importing[0]:
            advise(PROFILE_FD, 0, 0, OP_SKIP)
            return None
    elif importing[0] and code.co_filename not in own:
        if code.co_flags & CO_NEWLOCALS:
            bind(code, 0)
        advise(PROFILE_FD, 0, 0, OP_SKIP)
        return None if op < 0 else DISABLE
    cid = register(code)
    if not cid:
        advise(PROFILE_FD, 0, 0, OP_SKIP)
        return None if op < 0 else DISABLE  # PY_UNWIND and PY_THROW can't be disabled
    try:
        if op == OP_LINE:
            advise(PROFILE_FD, cid, number, OP_LINE)
        else:
            advise(PROFILE_FD, cid, 0, EVENT_OF.get(op, op))
    except OSError:
        return stopped()
    return None


def stopped():
    # The host's allowance for the profiler's own fuel is spent (it answered
    # ECANCELED): no more events, the rest of the run costs what it would unprofiled.
    monitoring.set_events(tool_id[0], 0)
    for item in user_codes:
        monitoring.set_local_events(tool_id[0], item, 0)
    return DISABLE


# The callbacks: one host call each, by address (see the top of this file).


def on_line(code, line):
    try:
        said = seek(PROFILE_FD, (id(code) * SEEK_SCALE) + line, OP_LINE_AT)
    except OSError:
        return stopped()
    except TypeError:  # not an int: user code calling this with made-up arguments
        return None
    if said:
        return answer(said, OP_LINE, code, line)


def on_instruction(code, offset):
    # Code whose LINE events would cost what the host can't see (see costly_lines
    # and line_markers): the host names the line at the instructions that can
    # start one and answers ANSWER_IGNORE at the others, disabled here.
    try:
        said = seek(PROFILE_FD, (id(code) * SEEK_SCALE) + offset, OP_INSTRUCTION_AT)
    except OSError:
        return stopped()
    except TypeError:  # not an int: user code calling this with made-up arguments
        return None
    if said:
        return answer(said, OP_INSTRUCTION, code, offset)


def on_start(code, offset):
    try:
        said = seek(PROFILE_FD, id(code) * SEEK_SCALE, OP_START_AT)
    except OSError:
        return stopped()
    if said:
        return answer(said, OP_START, code, offset)


def on_resume(code, offset):
    try:
        said = seek(PROFILE_FD, id(code) * SEEK_SCALE, OP_RESUME_AT)
    except OSError:
        return stopped()
    if said:
        return answer(said, OP_RESUME, code, offset)


def on_throw(code, offset, exc):
    # Like on_resume, but PY_THROW can't be disabled: never DISABLE.
    try:
        said = seek(PROFILE_FD, id(code) * SEEK_SCALE, OP_RESUME_AT)
    except OSError:
        stopped()
        return
    if said:
        answer(said, OP_THROW, code, offset)


def on_return(code, offset, value):
    try:
        said = seek(PROFILE_FD, id(code) * SEEK_SCALE, OP_RETURN_AT)
    except OSError:
        return stopped()
    if said:
        return answer(said, OP_RETURN, code, offset)


def on_unwind(code, offset, exc):
    try:
        said = seek(PROFILE_FD, id(code) * SEEK_SCALE, OP_RETURN_AT)
    except OSError:
        stopped()
        return
    if said:
        answer(said, OP_UNWIND, code, offset)


def costly_lines(code):
    # CPython 3.12 keeps each instruction's line as an 8-bit delta from
    # co_firstlineno + offset // 16 code units; a line that doesn't fit (127 or
    # more lines past that: a module body's lines past ~130, a long function's)
    # is looked up in the line table from its start at every LINE event there,
    # for the event's instruction and the one before: a cost outside the
    # profiler's callback that grows with the line and that a plain run never
    # has (~130 k instructions per lookup at line 280). Such code is followed
    # with instruction events instead, which compute no line. Both shifts CPython
    # used (3 and 4) are checked, and the margin is one line.
    first = code.co_firstlineno
    for start, end, line in code.co_lines():
        if line is None or end <= start:
            continue
        for shift in (3, 4):
            for at in (start, end - 2):
                if not -126 < line - first - ((at >> 1) >> shift) < 127:
                    return True
    return False


def markers(code):
    return line_markers(code)[0]


def line_markers(code):
    # The instructions where a LINE event can fire (CPython's line markers, a
    # superset): where the line changes in bytecode order, jump targets (the
    # instruction after FOR_ITER's END_FOR too), exception handlers and the
    # instruction after each RESUME; and whether a loop has a jump target left
    # out (see below).
    # The host counts a line again only when it changes, as LINE events do.
    lines = {}
    starts = {}
    previous = None
    for start, end, line in code.co_lines():
        if line is not None:
            for at in range(start, end, 2):
                lines[at] = line
            if line != previous:
                starts[start] = line
        previous = line
    raw = code.co_code
    targets = []
    jumps = {}  # jump target -> the lines jumping to it
    loops = []  # (target, source) of each backward jump: a loop's span
    extended = 0
    for at in range(0, len(raw), 2):
        op = raw[at]
        arg = raw[at + 1] | extended
        extended = 0
        if op == EXTENDED_ARG:
            extended = arg << 8
            continue
        if op == RESUME:
            targets.append(at + 2)
        caches = JUMPS.get(op)
        if caches is None:
            continue
        if caches < 0:
            target = at + 2 - 2 * arg
            loops.append((target, at))
        else:
            target = at + 2 + 2 * caches + 2 * arg
            if op == FOR_ITER:
                targets.append(target + 2)
        jumps.setdefault(target, set()).add(lines.get(at))
    looped = False
    for target, sources in jumps.items():
        # A target reached only from its own line (a one-line loop, an inlined
        # comprehension, `x if c else y`) never starts a line. CPython 3.12 still
        # makes it a line marker: followed with LINE events, the code computes its
        # line there each time, finds it unchanged and fires nothing (~500
        # instructions the host can't see: a comprehension profiled at +12.8 %).
        # In a loop that adds up, so such code is followed with instruction
        # events; the target is left out (its event is disabled at its first run).
        line = lines.get(target)
        if sources != {line} or lines.get(target - 2) != line:
            targets.append(target)
        elif any(start <= target <= end for start, end in loops):
            looped = True
    table = code.co_exceptiontable
    at = 0
    while at < len(table):  # entries of four 6-bit varints; the third is the handler
        values = []
        for _ in range(4):
            byte = table[at]
            at += 1
            value = byte & 63
            while byte & 64 and at < len(table):
                byte = table[at]
                at += 1
                value = (value << 6) | (byte & 63)
            values.append(value)
        targets.append(values[2] * 2)
    for at in targets:
        line = lines.get(at)
        if line is not None:
            starts[at] = line
    found = {
        at: line
        for at, line in starts.items()
        if at < len(raw) and raw[at] not in NO_LINE_START and line > 0
    }
    return found, looped


def send_lines(code, lines):
    # The host keeps the table: looking it up here would cost what its probes do.
    advise(PROFILE_FD, id(code), 0, OP_LINES)
    for at, line in lines.items():
        advise(PROFILE_FD, at, line, OP_LINE_START)


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


CAL_COUNT = 24
function_type = type(mark)


# The calibration's code, compiled with this module (compiling it here cost ~13 M
# instructions a profiled run): each calibration runs copies (code.replace()).
def cal_lines():  # CAL_COUNT lines
    a = 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1


def cal_long():  # 48 lines: line starts at offsets up to 256 bytes and past it
    a = 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1
    a = a + 1


def cal_leaf():
    return 1


def cal_calls():  # CAL_COUNT calls of the copy's own leaf()
    leaf()
    leaf()
    leaf()
    leaf()
    leaf()
    leaf()
    leaf()
    leaf()
    leaf()
    leaf()
    leaf()
    leaf()
    leaf()
    leaf()
    leaf()
    leaf()
    leaf()
    leaf()
    leaf()
    leaf()
    leaf()
    leaf()
    leaf()
    leaf()


def calibrate(tool, instructions):
    # With the run's global events on: two copies of the same code, the second one
    # watched (line events; its leaf() followed while the plain copy's is not). The
    # host reads the fuel at the marks and divides the difference by the extra
    # events: what one line event costs (marks 1-4) and what a call and its return
    # cost (marks 5-8), for code seen before.
    # A third copy, watched too, numbers its lines past 256: CPython allocates such
    # a number for each event (~750 instructions more), so the host calibrates
    # those line events apart (marks 9-10).
    plain, watched, high = {}, {}, {}
    for space, first in ((plain, 1), (watched, 1), (high, 1001)):
        for name, template in (("lines", cal_lines), ("leaf", cal_leaf), ("calls", cal_calls)):
            code = template.__code__.replace(co_firstlineno=first)
            space[name] = function_type(code, space, name)
            bind(code, MAX_CODES + 1)  # known to the host, as user code is
    bind(plain["leaf"].__code__, 0)  # not followed: its events are disabled at once
    monitoring.set_local_events(tool, watched["lines"].__code__, events.LINE)
    monitoring.set_local_events(tool, high["lines"].__code__, events.LINE)
    for _ in range(2):  # warm up: instrumentation and specialization happen here
        plain["lines"]()
        watched["lines"]()
        high["lines"]()
        plain["calls"]()
        watched["calls"]()
        mark(99)  # not a calibration mark: warms mark() itself
    mark(1)
    plain["lines"]()
    mark(2)
    mark(3)
    watched["lines"]()
    mark(4)
    mark(5)
    plain["calls"]()
    mark(6)
    mark(7)
    watched["calls"]()
    mark(8)
    mark(9)
    high["lines"]()
    mark(10)
    monitoring.set_local_events(tool, watched["lines"].__code__, 0)
    monitoring.set_local_events(tool, high["lines"].__code__, 0)
    if instructions:  # only for code followed at instruction events (~24 M, ~800 calls)
        calibrate_instructions(tool)


def calibrate_instructions(tool):
    # Lines named at instruction events (see on_instruction): the same long code
    # plain (marks 40-41) and watched at its line starts up to offset 256 (42-43)
    # and past it (44-45; CPython allocates the offset there), in steady state;
    # then the first run of a fresh copy plain (46-47) and watched with no line
    # start at all (48-49): what an instruction event that is disabled costs.
    space = {}
    codes = []
    for name, template in (
        ("plain", cal_long),
        ("low", cal_long),
        ("high", cal_long),
        ("fresh", cal_lines),
        ("skips", cal_lines),
    ):
        code = template.__code__.replace(co_firstlineno=2001)
        space[name] = function_type(code, space, name)
        bind(code, MAX_CODES + 1)
        codes.append(code)
    plain, low, high, fresh, skips = codes
    lines = markers(low)
    send_lines(low, {at: line for at, line in lines.items() if at <= 256})
    send_lines(high, {at: line for at, line in lines.items() if at > 256})
    for code in (low, high, skips):
        monitoring.set_local_events(tool, code, events.INSTRUCTION)
    # Brought up to date as the watched copy is, so its first call instruments nothing.
    monitoring.set_local_events(tool, fresh, events.LINE)
    monitoring.set_local_events(tool, fresh, 0)
    # Warm up. The instructions that start no line are disabled at their first
    # event, which restarts their specialization: the watched copies specialize a
    # run later than the plain one, so all three run until none is left to do.
    for _ in range(4):
        space["plain"]()
        space["low"]()
        space["high"]()
        mark(99)
    mark(40)
    space["plain"]()
    mark(41)
    mark(42)
    space["low"]()
    mark(43)
    mark(44)
    space["high"]()
    mark(45)
    mark(46)
    space["fresh"]()
    mark(47)
    mark(48)
    space["skips"]()
    mark(49)
    for code in (low, high, skips):
        monitoring.set_local_events(tool, code, 0)
    # The copies' functions hold their globals, this dict: cleared, no cycle is
    # left for the collector (it would collect more than a plain run's first time).
    space.clear()


def profile(code, user_globals, settle):
    """Execute ``code`` in ``user_globals`` with events on; the host keeps the profile.

    ``settle()`` (the driver's) makes the garbage collector run when it would
    without the profiler; it is called last before the code starts and returns
    the function that undoes it.
    """
    mark(MARK_BEGIN)
    tool = claim_tool()
    if tool is None:
        settle()()
        return exec(code, user_globals)
    tool_id[0] = tool
    found = set()
    walk(code, found)
    user_codes.clear()
    user_codes.update(found)
    user_ids.clear()
    user_ids.update(id(item) for item in found)
    register_all = (
        (events.LINE, on_line),
        (events.PY_START, on_start),
        (events.PY_RESUME, on_resume),
        (events.PY_THROW, on_throw),
        (events.PY_RETURN, on_return),
        (events.PY_YIELD, on_return),
        (events.PY_UNWIND, on_unwind),
        (events.INSTRUCTION, on_instruction),
    )
    for event, callback in register_all:
        monitoring.register_callback(tool, event, callback)
    try:
        flow = events.PY_START | events.PY_RESUME | events.PY_THROW | events.PY_RETURN
        flow |= events.PY_YIELD | events.PY_UNWIND
        monitoring.set_events(tool, flow)
        # Code whose LINE events would cost what the host can't see (see
        # costly_lines and line_markers) is followed at instruction events.
        by_instruction = {}
        for item in found:
            if instruction_lines:
                table, looped = line_markers(item)
                if looped or costly_lines(item):
                    by_instruction[id(item)] = table
        calibrate(tool, bool(by_instruction))
        for item in found:
            table = by_instruction.get(id(item))
            if table is not None:
                send_lines(item, table)
                monitoring.set_local_events(tool, item, events.INSTRUCTION)
            else:
                monitoring.set_local_events(tool, item, events.LINE)
        unsettle = settle()
        mark(MARK_START)
        try:
            return exec(code, user_globals)
        finally:
            mark(MARK_STOP)
            monitoring.set_events(tool, 0)
            unsettle()
    finally:
        for item in found:
            monitoring.set_local_events(tool, item, 0)
        # The driver's code that runs after this was instrumented for the run's
        # events; CPython would take them out again at its next call, after
        # MARK_END, where the run pays. Done here (events on and off again: the
        # second pass leaves it as a plain run has it), inside the clean-up.
        for item in after_codes:
            monitoring.set_local_events(tool, item, events.PY_START)
            monitoring.set_local_events(tool, item, 0)
        for event, _ in register_all:
            monitoring.register_callback(tool, event, None)
        monitoring.free_tool_id(tool)
        # The next profiled turn has a new host recorder: it must hear every name
        # again. Cleared here, inside the window, what a fresh run's exit frees is less.
        alive.clear()
        modules.clear()
        user_codes.clear()
        user_ids.clear()
        next_id[0] = 1
        importing[0] = 0
        # The driver sends MARK_END once this has returned: the host gives back the
        # clean-up since MARK_STOP, returns included.
