"""Error guidance: what a failed run's error means and what to do next.

:func:`analyze_error` looks first at how the host saw the run stop (its
:class:`~workbench.sandbox.TrapKind`), then at the guest's stderr: the last
CPython traceback, or the error QuickJS-NG printed. The user's code is the file
``<code>`` in both (``File "<code>", line 3`` and ``at f (<code>:3:12)``), which
gives the line. Guest text is only read, never trusted: the guidance is advisory.

The ``error_type`` values produced:

Limits and the host (from the trap kind, whatever stderr says)
    ``OutOfFuel``, ``Timeout``, ``MemoryLimit``, ``StackOverflow``, ``Cancelled``,
    ``HostError``
Python
    ``SyntaxError``, ``IndentationError``, ``TabError``, ``NameError``,
    ``UnboundLocalError``, ``VendoredModuleNotFound``, ``VendoredPackagesUnavailable``,
    ``InstallablePackage``, ``UnsupportedStdlibModule``,
    ``ModuleInScientificRuntime``, ``NativePackageUnavailable``, ``MissingModule``,
    ``ImportError``,
    ``FileNotFoundError``, ``PermissionError``, ``OutsideWorkspace``,
    ``MemoryError``, ``RecursionError``, ``ZeroDivisionError``, ``TypeError``,
    ``KeyError``, ``IndexError``, ``AttributeError``, ``ValueError``,
    ``UnicodeDecodeError``, ``JSONDecodeError``, ``InputUnavailable``,
    ``ThreadsUnavailable``, ``UnsupportedFunction``, ``NetworkUnavailable``,
    ``ProcessesUnavailable``
JavaScript
    ``ReferenceError``, ``RequireUnavailable``, ``NodeApiUnavailable``,
    ``BrowserApiUnavailable``, ``TimerUnavailable``, ``NetworkUnavailable``,
    ``TypeError``, ``SyntaxError``, ``ModuleSyntax``, ``JSONParseError``,
    ``RangeError``, ``RecursionError``, ``MemoryError``
Either runtime
    ``NonZeroExit`` (a non-zero exit without an error), ``GuestError`` (anything
    else; it quotes the error line)

The catalog is data: ordered ``(pattern, advice)`` rules per runtime, where the
pattern is searched in the normalized error line ``"Name: message"``, and the
advice holds ``str.format`` templates filled from the pattern's named groups and a
few standard fields (``where``, ``text``, ``memory_limit`` ...). A few rules need
a decision (which kind of missing module, which path) and use a small function.
"""

from __future__ import annotations

import posixpath
import re
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace

from ._extract import SCIENTIFIC_MODULES
from ._fuel import analyze_fuel
from ._policy import MIB, _bounds, format_fuel
from ._result import ErrorGuidance, RuntimeType, TrapKind

__all__ = ["analyze_error"]


@dataclass(frozen=True)
class _Advice:
    """One catalog entry; ``explanation`` and ``fixes`` are format templates."""

    error_type: str
    explanation: str
    fixes: tuple[str, ...]
    example: str | None = None  # shown as is (code braces are not placeholders)


@dataclass(frozen=True)
class _Failure:
    """The error a guest printed, parsed from stderr."""

    name: str  # exception class without its module: "URLError", "SyntaxError"
    message: str  # the text after "Name: " ("" for a bare "MemoryError")
    text: str  # the error line as printed, for quoting
    line: int | None  # line in <code>, when the traceback names one
    block: str  # the whole traceback / stack, for frame-based hints

    @property
    def normalized(self) -> str:
        return f"{self.name}: {self.message}" if self.message else self.name


# A rule function's answer: the advice and extra template fields.
_Chosen = tuple[_Advice, Mapping[str, str]]
# What a rule function gets: the failure, its match, the vendored modules. It
# returns None when the rule doesn't apply after all, and matching goes on.
_Handler = Callable[[_Failure, re.Match[str], Collection[str]], _Chosen | None]


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    advice: _Advice | _Handler


def _rule(pattern: str, advice: _Advice | _Handler) -> _Rule:
    return _Rule(re.compile(pattern), advice)


# ---------------------------------------------------------------------------
# Traps: decided by the host, so they come before anything stderr says.

_TRAP_ADVICE = {
    TrapKind.OUT_OF_FUEL: _Advice(
        "OutOfFuel",
        "The code used up its fuel budget of {fuel} instructions before it finished, "
        "so it was stopped.",
        (
            "Check for a loop that never ends: run the code once on a much smaller input, "
            "or print a counter inside the loop to see whether it makes progress.",
            "{raise_fuel}",
            "Make the work cheaper: handle less data per run, or use a faster approach "
            "(a set or dict lookup instead of searching a list).",
        ),
    ),
    TrapKind.DEADLINE: _Advice(
        "Timeout",
        "The run was stopped when its wall-clock timeout of {timeout} s passed. Waiting "
        "counts too: time spent sleeping (time.sleep, os.sleep, timers) uses up the "
        "timeout just like computing.",
        (
            "Remove or shorten sleeps and waits; nothing outside the sandbox will change "
            "while the code waits.",
            "Check for a loop that waits for something that never happens, such as a file "
            "appearing or a network reply.",
            "{raise_timeout}",
        ),
    ),
    TrapKind.MEMORY: _Advice(
        "MemoryLimit",
        "The code's memory reached the limit of {memory_limit}, so the run was stopped.",
        (
            "Work on the data in pieces instead of all at once: read files line by line "
            "and use generators instead of building big lists or strings.",
            "Drop what is no longer needed (del big_list) and avoid copies of large data.",
            "{raise_memory}",
        ),
    ),
    TrapKind.STACK_OVERFLOW: _Advice(
        "StackOverflow",
        "The code's calls nested too deeply and overflowed the WebAssembly stack, so the "
        "run was stopped. This is usually recursion that doesn't stop, or recursion over "
        "very deep data.",
        (
            "Check that every recursive function has a base case that each input reaches.",
            "Rewrite deep recursion as a loop that keeps its own stack in a list.",
            "In Python, don't raise sys.setrecursionlimit far above its default: the "
            "WebAssembly stack is smaller than a native one.",
        ),
    ),
    TrapKind.CANCELLED: _Advice(
        "Cancelled",
        "The run was stopped on request (the Stop button or a cancel call) before it "
        "finished. Nothing went wrong in the code as far as the sandbox can tell.",
        ("Nothing needs fixing: run the code again when you are ready.",),
    ),
    TrapKind.HOST_ERROR: _Advice(
        "HostError",
        "The sandbox itself failed while running the code; this is not a problem in the code.",
        (
            "Please run it again; a one-off host failure usually doesn't repeat.",
            "If it keeps happening, the debug log has the details: please include it "
            "when reporting the problem.",
        ),
    ),
}


def _family(runtime: RuntimeType) -> RuntimeType:
    """The runtime whose examples fit ``runtime`` (every Python shares Python's)."""
    return RuntimeType.PYTHON if runtime.language == "python" else RuntimeType.JAVASCRIPT


_TRAP_EXAMPLES = {
    (TrapKind.MEMORY, RuntimeType.PYTHON): (
        "total = 0\n"
        'with open("/app/big.csv") as f:\n'
        "    for line in f:  # one line in memory at a time\n"
        '        total += float(line.split(",")[1])'
    ),
    (TrapKind.STACK_OVERFLOW, RuntimeType.PYTHON): (
        "def walk(root):\n"
        "    stack = [root]\n"
        "    while stack:\n"
        "        node = stack.pop()\n"
        "        stack.extend(node.children)"
    ),
    (TrapKind.STACK_OVERFLOW, RuntimeType.JAVASCRIPT): (
        "function walk(root) {\n"
        "  const stack = [root];\n"
        "  while (stack.length) stack.push(...stack.pop().children);\n"
        "}"
    ),
}


# ---------------------------------------------------------------------------
# Python: what an import name means when CPython can't find it.

# Standard-library modules this WebAssembly (WASI) build of CPython lacks or
# can't use: (names, why, what to use instead).
_STDLIB_GROUPS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (
        ("ctypes", "_ctypes"),
        "it loads native C libraries, which WebAssembly can't do",
        "plain Python (and the struct module for packed binary data)",
    ),
    (
        ("ssl", "_ssl"),
        "it needs the network, and the sandbox has none",
        "data files in /app instead of downloads, and hashlib or hmac for hashing",
    ),
    (
        ("multiprocessing", "_multiprocessing", "concurrent.futures.process", "_posixsubprocess"),
        "WebAssembly has no processes (and this build can't start threads either)",
        "a plain loop that does the tasks one after another",
    ),
    (
        ("readline", "curses", "_curses", "termios", "tty", "pty", "fcntl"),
        "there is no terminal inside the sandbox",
        "plain print() output",
    ),
    (
        ("tkinter", "_tkinter", "turtle", "turtledemo", "idlelib", "webbrowser"),
        "there is no screen or browser inside the sandbox",
        "printed text, or files such as CSV, SVG or HTML written to /app",
    ),
    (
        # sqlite3 itself is in this build (checked against the runtime): only the
        # dbm back-ends are missing.
        ("dbm.gnu", "dbm.ndbm", "_dbm", "_gdbm"),
        "this build of Python was made without it",
        "sqlite3 (in this build), dbm.dumb, or JSON files in /app",
    ),
    (
        ("lzma", "_lzma"),
        "this build of Python was made without it",
        "zlib, gzip or bz2",
    ),
    (
        ("venv", "ensurepip", "pip", "distutils", "lib2to3"),
        "the sandbox has one fixed interpreter and no packaging tools",
        'install_package(session, "name==version") to add a pure-Python package to a session',
    ),
    (
        ("pwd", "grp", "spwd", "nis", "syslog", "resource", "mmap"),
        "WebAssembly has no users, system services or memory mapping",
        "fixed values in the code, print() for logs, and open() to read files",
    ),
    (
        ("msvcrt", "winreg", "_winapi", "_overlapped"),
        "it exists only on Windows",
        "portable modules such as os, pathlib and shutil",
    ),
)
_UNSUPPORTED_STDLIB = {
    name: (why, instead) for names, why, instead in _STDLIB_GROUPS for name in names
}

_TABLE_EXAMPLE = (
    "import csv, statistics\n"
    'with open("/app/data.csv", newline="") as f:\n'
    "    rows = list(csv.DictReader(f))\n"
    'prices = [float(row["price"]) for row in rows]\n'
    "print(statistics.mean(prices), statistics.median(prices))"
)
_XML_EXAMPLE = (
    "import xml.etree.ElementTree as ET\n"
    'root = ET.parse("/app/data.xml").getroot()\n'
    'for item in root.iter("item"):\n'
    '    print(item.get("id"), item.findtext("name"))'
)
_JSON_EXAMPLE = "import json\ntext = json.dumps(data)\ndata = json.loads(text)"
_HASH_EXAMPLE = (
    "import hashlib, hmac, secrets\n"
    'digest = hashlib.sha256(b"data").hexdigest()\n'
    'tag = hmac.new(b"key", b"message", hashlib.sha256).hexdigest()\n'
    "token = secrets.token_hex(16)"
)

# Packages built from native (C, C++, Rust) code: import name -> (what to use instead,
# example). An empty alternative means there is no pure-Python stand-in worth naming.
_NATIVE_PACKAGES: dict[str, tuple[str, str | None]] = {
    "numpy": ("plain lists with the math, statistics and array modules", _TABLE_EXAMPLE),
    "pandas": ("the csv module to read tables and statistics to summarize them", _TABLE_EXAMPLE),
    "scipy": ("the math, statistics and random modules", _TABLE_EXAMPLE),
    "polars": ("the csv module and statistics", _TABLE_EXAMPLE),
    "pyarrow": ("the csv module", _TABLE_EXAMPLE),
    "statsmodels": ("the statistics module", _TABLE_EXAMPLE),
    "lxml": ("xml.etree.ElementTree (and html.parser for HTML)", _XML_EXAMPLE),
    "orjson": ("the json module", _JSON_EXAMPLE),
    "ujson": ("the json module", _JSON_EXAMPLE),
    "rapidjson": ("the json module", _JSON_EXAMPLE),
    "simdjson": ("the json module", _JSON_EXAMPLE),
    "regex": ("the re module", None),
    "cryptography": ("hashlib, hmac and secrets", _HASH_EXAMPLE),
    "Crypto": ("hashlib, hmac and secrets", _HASH_EXAMPLE),
    "nacl": ("hashlib, hmac and secrets", _HASH_EXAMPLE),
    "bcrypt": ("hashlib.scrypt or hashlib.pbkdf2_hmac", None),
    "pydantic_core": ("dataclasses", None),
    "pydantic": ("dataclasses (pydantic 2 needs its native core, pydantic_core)", None),
    "psycopg2": ("sqlite3 or files in /app (there is no network to reach a server)", None),
    "MySQLdb": ("sqlite3 or files in /app (there is no network to reach a server)", None),
    "lz4": ("zlib, gzip or bz2", None),
    "zstandard": ("zlib, gzip or bz2", None),
    "matplotlib": ("printed numbers, or a CSV file written to /app", None),
    "PIL": ("", None),
    "cv2": ("", None),
    "sklearn": ("", None),
    "torch": ("", None),
    "tensorflow": ("", None),
    "jax": ("", None),
    "numba": ("", None),
    "h5py": ("", None),
    "shapely": ("", None),
    "grpc": ("", None),
    "psutil": ("", None),
    "cffi": ("", None),
    "_cffi_backend": ("", None),
}
_NATIVE_BY_KEY = {name.lower(): name for name in _NATIVE_PACKAGES}

# Clients whose only job is talking to other machines: the missing network is the
# real problem, not the missing package.
_NETWORK_PACKAGES = frozenset(
    {
        "requests", "httpx", "urllib3", "aiohttp", "httplib2", "websocket", "websockets",
        "boto3", "botocore", "openai", "anthropic", "paramiko", "redis", "pymongo",
    }
)  # fmt: skip

# (install name, import name) where they differ.
_DISTRIBUTIONS = (
    ("PyYAML", "yaml"),
    ("beautifulsoup4", "bs4"),
    ("python-dateutil", "dateutil"),
    ("Pillow", "PIL"),
    ("scikit-learn", "sklearn"),
    ("opencv-python", "cv2"),
    ("python-docx", "docx"),
    ("PyMuPDF", "fitz"),
    ("attrs", "attr"),
    ("PyJWT", "jwt"),
    ("python-dotenv", "dotenv"),
)


# Pure-Python packages that aren't bundled but install_package can add to a session
# (import name -> install name). Checked by hand: each publishes a py3-none-any wheel
# and needs nothing native. Offline by design: guidance never asks PyPI.
_INSTALLABLE = {
    "bs4": "beautifulsoup4",
    "soupsieve": "soupsieve",
    "networkx": "networkx",
    "sympy": "sympy",
    "mpmath": "mpmath",
    "pyparsing": "pyparsing",
    "more_itertools": "more-itertools",
    "toolz": "toolz",
    "pytz": "pytz",
    "humanize": "humanize",
    "packaging": "packaging",
    "click": "click",
    "rich": "rich",
    "pygments": "Pygments",
    "docutils": "docutils",
    "babel": "Babel",
    "emoji": "emoji",
    "faker": "Faker",
    "unidecode": "Unidecode",
    "xmltodict": "xmltodict",
    "jsonschema": "jsonschema",
    "toml": "toml",
    "tomlkit": "tomlkit",
    "typing_extensions": "typing-extensions",
    "wcwidth": "wcwidth",
    "cachetools": "cachetools",
    "pyfiglet": "pyfiglet",
    "fpdf": "fpdf2",
}


def _key(name: str) -> str:
    return name.lower().replace("-", "_")


_IMPORT_NAMES = {_key(dist): module for dist, module in _DISTRIBUTIONS}
_DIST_NAMES = {module: dist for dist, module in _DISTRIBUTIONS}

# Names from other languages that Python spells differently.
_FOREIGN_LITERALS = {
    "true": "True",
    "false": "False",
    "null": "None",
    "undefined": "None",
    "nil": "None",
    "none": "None",
}

_NETWORK_FRAME = re.compile(
    r'File "[^"]*(?:/socket\.py|/ssl\.py|/selectors\.py|/http/|/urllib/|/asyncio/'
    r"|/smtplib\.py|/ftplib\.py|/imaplib\.py|/poplib\.py)"
)
_QUOTED_PATH = re.compile(r"\]\s[^:]*:\s(?P<quote>['\"])(?P<path>.*?)(?P=quote)")
_WORKSPACE = "/app"
#: The host's link guard answers EPERM (63) to os.symlink, os.link and os.rename,
#: whose errors name two paths: "[Errno 63] Operation not permitted: 'a' -> 'b'".
_LINK_REFUSED = re.compile(r"^\[Errno 63\] [^:]*: (['\"]).*?\1 -> ")


# ---------------------------------------------------------------------------
# Python catalog.

_NETWORK_FIXES = (
    "Put the data the code needs into the workspace and read it from /app "
    "(for example /app/data.json).",
    "If the data comes from a web API, fetch it outside the sandbox and hand it in as a file.",
    "For a quick test, write a small sample of the data directly into the code.",
)
_NETWORK_EXAMPLE = 'import json\nwith open("/app/data.json") as f:\n    data = json.load(f)'

_PY_NETWORK = _Advice(
    "NetworkUnavailable",
    "The code tried to use the network ({text}), but a sandboxed run has no network "
    "access at all: no sockets, DNS, HTTP or HTTPS.",
    _NETWORK_FIXES,
    _NETWORK_EXAMPLE,
)
_PY_NETWORK_PACKAGE = _Advice(
    "NetworkUnavailable",
    "The code imports '{module}', which talks to other machines, but a sandboxed run has "
    "no network access at all, so it couldn't work even if it were installed.",
    _NETWORK_FIXES,
    _NETWORK_EXAMPLE,
)
_PY_PROCESSES = _Advice(
    "ProcessesUnavailable",
    "The code tried to start or control another process ({text}), and WebAssembly has no "
    "processes: subprocess, os.system, os.fork and multiprocessing can't work here.",
    (
        "Do the work in Python itself: os.listdir, shutil and pathlib instead of shell "
        "commands such as ls or cp, zipfile and tarfile instead of unzip or tar.",
        "Run tasks one after another in a plain loop instead of a process pool.",
    ),
    "import shutil\n"
    "from pathlib import Path\n"
    'print(sorted(p.name for p in Path("/app").iterdir()))\n'
    'shutil.copy("/app/a.txt", "/app/b.txt")',
)
_PY_THREADS = _Advice(
    "ThreadsUnavailable",
    "The code tried to start a thread, and this WebAssembly build of Python can't run threads.",
    (
        "Run the work one task after another in a plain loop.",
        "Replace ThreadPoolExecutor.map(f, items) with [f(item) for item in items].",
    ),
    "results = [work(item) for item in items]",
)
_PY_INPUT = _Advice(
    "InputUnavailable",
    "The code called input(), but a sandboxed run has no keyboard to type into, so it got "
    "no input ({text}).",
    (
        "Write the values into the code instead of asking for them.",
        "Or read them from a file in the workspace, such as /app/input.txt.",
    ),
    'name = "Ada"  # instead of input("Name? ")',
)
_PY_UNSUPPORTED_FUNCTION = _Advice(
    "UnsupportedFunction",
    "The function {module}.{attr} doesn't exist in this WebAssembly build of Python "
    "({text}); it has no processes, signals or users, so their functions are left out.",
    (
        "Check the spelling first; if it's right, do without the function: there is "
        "nothing in the sandbox for it to act on.",
        "For timing, use time.perf_counter() or time.monotonic() instead of signals.",
    ),
)
_PY_VENDORED_SPELLING = _Advice(
    "VendoredModuleNotFound",
    "There is no module named '{module}', but '{import_name}' is in the sandbox's package "
    "bundle: the import name is spelled differently. A package's import name can differ "
    "from its install name (PyYAML is imported as yaml, beautifulsoup4 as bs4).",
    ("Import it as: import {import_name}",),
    "import yaml  # not: import pyyaml",
)
_PY_VENDORED_SUBMODULE = _Advice(
    "VendoredModuleNotFound",
    "'{import_name}' is in the sandbox's package bundle, but it has no submodule '{module}'.",
    (
        "Check the submodule's name against the package's documentation for the bundled version.",
        "Import the package itself (import {import_name}) and look at dir({import_name}).",
    ),
)
_PY_VENDORED_PATH = _Advice(
    "VendoredModuleNotFound",
    "'{module}' is in the sandbox's package bundle, so this import should work; Python "
    "didn't find it where it looked.",
    (
        "Check the exact spelling and case of the import name: import {import_name}.",
        "If the code changed sys.path, keep the bundle on it: "
        "sys.path.append('/data/site-packages').",
        "Check that no file or folder in /app has the same name and hides the package.",
    ),
)
_PY_VENDORED_NOT_BUILT = _Advice(
    "VendoredPackagesUnavailable",
    "'{import_name}' is one of the sandbox's vendored packages, but the package bundle "
    "isn't available on this computer{why}, so this run had no /data/site-packages.",
    (
        "Build the bundle once while online: {build_command}, then run the code again.",
        "If this computer can't reach PyPI, set HTTPS_PROXY, or point "
        "WASM_WORKBENCH_PYPI_URL at a PyPI mirror, and build again.",
    ),
)
_PY_INSTALLABLE = _Advice(
    "InstallablePackage",
    "'{module}' isn't in the sandbox's package bundle, but it is pure Python "
    "('{package}' on PyPI), so it can be installed into a live session.",
    (
        "Install it into a session, then run the code there: install_package(session, "
        '"{package}") from Python, or wasm-workbench install --session <id> {package} '
        "on the command line (pin a version with ==).",
        "The install lands in /app/site-packages of that session only; a fresh run or "
        "another session doesn't see it.",
    ),
    'from workbench.sandbox import install_package\ninstall_package(session, "{package}")',
)
_PY_UNSUPPORTED_STDLIB = _Advice(
    "UnsupportedStdlibModule",
    "'{module}' can't be used in this WebAssembly build of Python: {why}.",
    ("What works instead: {instead}.",),
)
_PY_NATIVE = _Advice(
    "NativePackageUnavailable",
    "'{module}' is built from native (C, C++ or Rust) code, and such packages can never "
    "load in this WebAssembly Python, not even with install_package.",
    (
        "What works instead: {instead}.",
        "Rewrite the part that needs '{module}' in plain Python.",
    ),
)
_PY_IN_SCIENTIFIC = _Advice(
    "ModuleInScientificRuntime",
    "'{module}' is not in this small Python runtime, but the python-sci runtime has it "
    "(numpy, pandas, scipy, scikit-learn, statsmodels, matplotlib, seaborn and lxml are "
    "built in).",
    (
        "Run the code with the python-sci runtime: choose it (or Auto) in the toolbar, "
        "pass --runtime python-sci (or auto) on the command line, or ask for language "
        "'python-sci'.",
        "Its first use compiles it once (about a minute); 'wasm-workbench runtimes "
        "--prepare' does that ahead.",
    ),
)
_PY_NATIVE_NO_STANDIN = _Advice(
    "NativePackageUnavailable",
    "'{module}' is built from native (C, C++ or Rust) code, and such packages can never "
    "load in this WebAssembly Python, not even with install_package.",
    (
        "Do this part of the work outside the sandbox, or rewrite it in plain Python.",
        "Look for a pure-Python package that does the same job and install that instead.",
    ),
)
_PY_MISSING_MODULE = _Advice(
    "MissingModule",
    "There is no module named '{module}' in the sandbox: it isn't in the standard library "
    "or the package bundle.",
    (
        "If it's a pure-Python package, install it into the session: "
        'install_package(session, "{package}==<version>") (sessions only; pin a version).',
        "Check the spelling: the install name can differ from the import name "
        "(PyYAML is imported as yaml).",
        "Or do without it: the standard library covers a lot (json, csv, re, datetime, "
        "statistics, itertools).",
    ),
)
_PY_YAML_C = _Advice(
    "ImportError",
    "PyYAML's {attr} is its optional native (C) speed-up, which doesn't exist in WebAssembly.",
    ("Use the pure-Python classes instead: yaml.SafeLoader and yaml.SafeDumper.",),
    "import yaml\ndata = yaml.load(text, Loader=yaml.SafeLoader)  # or yaml.safe_load(text)",
)
_PY_IMPORT_NAME = _Advice(
    "ImportError",
    "'{module}' exists but has no name '{attr}' to import ({text}).",
    (
        "Check the spelling and case of '{attr}'.",
        "The name may belong to another submodule, or to a different version of the "
        "package: look at dir({module}) after import {module}.",
    ),
)
_PY_OUTSIDE_WORKSPACE = _Advice(
    "OutsideWorkspace",
    "'{path}' is outside the workspace ({text}). Inside the sandbox only /app can be "
    "written; the host computer's files are not visible at all, and other folders (such "
    "as /data/site-packages and read-only mounts) can only be read.",
    (
        "Put the file into the workspace; the code then sees it under /app, as {app_path}.",
        "Write output files to /app as well, for example /app/result.txt.",
    ),
    'with open("/app/data.csv") as f:\n    text = f.read()',
)
_PY_FILE_NOT_FOUND = _Advice(
    "FileNotFoundError",
    "There is no file at '{path}' in the workspace.",
    (
        "Check the name and folder: names are case-sensitive. "
        "print(os.listdir('/app')) shows what the workspace holds.",
        "Put the file into the workspace first, or create it in the code before reading it.",
        "{absolute_path}",
    ),
)
_PY_PERMISSION = _Advice(
    "PermissionError",
    "Access to '{path}' was refused ({text}).",
    (
        "Check that '{path}' is a file and not a folder.",
        "If the workspace is full, delete files that are no longer needed: it has a size "
        "and file-count quota.",
    ),
)
_PY_LINK_OUTSIDE = _Advice(
    "LinkOutsideWorkspace",
    "The sandbox refused to make or move a symbolic link ({text}): afterwards a link in "
    "the workspace would have led out of /app. Programs on the host computer follow "
    "links, so none may point outside the workspace.",
    (
        "Give the link a relative target that stays inside /app, such as "
        "os.symlink('data/file.csv', '/app/link.csv'); absolute targets are always refused.",
        "If a rename was refused, a link inside what you moved (or one whose path runs "
        "through it) would then point too far up: move it to the same depth, or copy the "
        "file instead of linking to it.",
    ),
    'import shutil\nshutil.copy("/app/data/file.csv", "/app/copy.csv")',
)
_PY_SYNTAX = _Advice(
    "SyntaxError",
    "Python couldn't parse the code: {message}.",
    (
        "Look at {where} and the line just before it: an unclosed bracket or quote often "
        "shows up a line later.",
        "Make sure the code is Python 3 (print(...) with parentheses) and complete.",
    ),
)
_PY_MARKDOWN_FENCE = _Advice(
    "SyntaxError",
    "The code contains a Markdown fence (```), so it was pasted together with the text "
    "around it rather than on its own.",
    ("Remove the ``` lines (and any prose) and run only the code between them.",),
)
_PY_INDENTATION = _Advice(
    "IndentationError",
    "The indentation at {where} doesn't fit the lines around it: {message}.",
    (
        "Indent every block consistently with 4 spaces.",
        "A line ending in ':' (if, for, def, class) needs an indented block after it.",
    ),
)
_PY_TAB = _Advice(
    "TabError",
    "{Where} mixes tabs and spaces for indentation, which Python refuses.",
    ("Replace every tab used for indentation with 4 spaces.",),
)
_PY_UNBOUND_LOCAL = _Advice(
    "UnboundLocalError",
    "A local variable was used before the function assigned it: {message}.",
    (
        "Assign it before the first use inside the function.",
        "If you meant the variable outside the function, declare it with global (or "
        "nonlocal) at the top of the function.",
    ),
)
_PY_MEMORY_ERROR = _Advice(
    "MemoryError",
    "Python ran out of memory: the sandbox allows {memory_limit}, and the code asked for more.",
    (
        "Work on the data in pieces: read files line by line and use generators instead "
        "of building big lists or strings.",
        "Check sizes before allocating: a list of 10**8 items alone needs hundreds of MB.",
        "{raise_memory}",
    ),
    'with open("/app/big.csv") as f:\n    for line in f:  # one line at a time\n'
    "        handle(line)",
)
_PY_RECURSION = _Advice(
    "RecursionError",
    "A function called itself too many times ({text}); usually the recursion has no base "
    "case, or the data is very deep.",
    (
        "Check that the recursive function stops: it needs a base case that each input reaches.",
        "Rewrite deep recursion as a loop that keeps its own stack in a list.",
        "Don't raise sys.setrecursionlimit much: the WebAssembly stack overflows sooner "
        "than a native one.",
    ),
    "def walk(root):\n    stack = [root]\n    while stack:\n        node = stack.pop()\n"
    "        stack.extend(node.children)",
)
_PY_ZERO_DIVISION = _Advice(
    "ZeroDivisionError",
    "The code divided by zero at {where} ({text}).",
    (
        "Check the divisor first, for example an empty list whose len() is 0.",
        "Decide what the result should be in that case and handle it explicitly.",
    ),
    "average = total / count if count else 0.0",
)
_PY_NONE_VALUE = _Advice(
    "{name}",
    "A value at {where} is None where the code expected something else ({text}).",
    (
        "Find where the value comes from: a function without return, list.sort(), or a "
        "re.match() / dict.get() that found nothing all give None.",
        "Check for None before using it: if value is not None: ...",
    ),
)
_PY_TYPE = _Advice(
    "TypeError",
    "A value of the wrong type was used at {where}: {message}.",
    (
        "Check the types involved with print(type(x)); values read from files or input are str.",
        "Convert explicitly where needed: int(x), float(x), str(x).",
        "Check the number and order of the arguments in the call.",
    ),
)
_PY_KEY = _Advice(
    "KeyError",
    "The code looked up the key {message} in a dict that doesn't have it.",
    (
        "Use d.get(key, default) or check with if key in d before looking it up.",
        "Print the keys that do exist with print(list(d)); look for differences in "
        "case, spaces or type (1 vs '1').",
    ),
    'value = data.get("k", 0)\nif "k" in data:\n    print(data["k"])',
)
_PY_INDEX = _Advice(
    "IndexError",
    "The code used an index past the end of a sequence at {where}: {message}.",
    (
        "Check the length first: the last index is len(items) - 1, and an empty list has none.",
        "Loop over the items directly (for item in items) instead of over indexes.",
    ),
    "for item in items:\n    print(item)\nlast = items[-1] if items else None",
)
_PY_MODULE_ATTRIBUTE = _Advice(
    "AttributeError",
    "The module '{module}' has no attribute '{attr}' ({text}).",
    (
        "Check the spelling, and whether the name belongs to a submodule that needs its "
        "own import.",
        "Check that no file in /app is named {module}.py: it would hide the real module.",
        "The name may come from another version of the module; print(dir({module})) shows "
        "what is there.",
    ),
)
_PY_ATTRIBUTE = _Advice(
    "AttributeError",
    "An object doesn't have the attribute the code used at {where}: {message}.",
    (
        "Check the object's type with print(type(x)) and its attributes with print(dir(x)).",
        "Check the spelling and case of the attribute or method name.",
    ),
)
_PY_JSON = _Advice(
    "JSONDecodeError",
    "The text given to json isn't valid JSON: {message}.",
    (
        "Print the first part of the text (print(repr(text[:200]))) to see what it really "
        "holds; an empty file gives 'Expecting value'.",
        "JSON needs double quotes and no trailing commas; for Python-style text "
        "ast.literal_eval may fit.",
    ),
)
_PY_UNPACK = _Advice(
    "ValueError",
    "The number of values doesn't match the number of names to unpack them into: {message}.",
    (
        "Print the value being unpacked to see how many items it has.",
        "Use a starred name to take the rest: first, *rest = items.",
    ),
)
_PY_CONVERSION = _Advice(
    "ValueError",
    "A string couldn't be converted to a number: {message}.",
    (
        "Strip spaces and skip empty or header values before converting: int(text.strip()).",
        "Check the input's format: thousands separators or commas as decimal points need "
        "replacing first.",
    ),
    "value = text.strip()\nnumber = float(value) if value else 0.0",
)
_PY_VALUE = _Advice(
    "ValueError",
    "A value had the right type but wasn't acceptable: {message}.",
    (
        "Print the value just before {where} to see what it really is.",
        "Check the function's documentation for the values it accepts.",
    ),
)
_PY_UNICODE = _Advice(
    "UnicodeDecodeError",
    "The file or bytes aren't UTF-8 text: {message}.",
    (
        "Open the file with its real encoding, for example open(path, encoding='latin-1').",
        "Or keep going past bad bytes: open(path, encoding='utf-8', errors='replace').",
        "If it isn't text at all, open it in binary mode: open(path, 'rb').",
    ),
    'with open("/app/data.csv", encoding="latin-1") as f:\n    text = f.read()',
)


def _py_name_error(failure: _Failure, match: re.Match[str], vendored: Collection[str]) -> _Chosen:
    ident = match["ident"]
    fixes: list[str] = []
    if ident in _FOREIGN_LITERALS:
        fixes.append(f"Python writes {ident} as {_FOREIGN_LITERALS[ident]}.")
    suggestion = re.search(r"Did you mean: '([\w.]+)'", failure.message)
    if suggestion:
        fixes.append(f"Python suggests '{suggestion[1]}': check the spelling.")
    if ident in sys.stdlib_module_names or ident in vendored:
        fixes.append(f"If '{ident}' is the module, import it first: import {ident}")
    fixes.append(f"Define '{ident}' before {{where}} uses it, and check its spelling and case.")
    fixes.append(
        "Variables from earlier runs exist only in a live session; in a new run or after a "
        "session restart, define them again in this code."
    )
    advice = _Advice(
        "NameError",
        "The code uses the name '{ident}', but nothing by that name exists at that point.",
        tuple(fixes[:4]),
    )
    return advice, {}


def _py_missing_module(_: _Failure, match: re.Match[str], vendored: Collection[str]) -> _Chosen:
    module = match["module"]
    top = module.split(".")[0]
    fields = {"module": module}

    # (a) A bundled package under another spelling, or a path problem.
    bundled: dict[str, str] = {}
    for name in vendored:
        as_imported = _IMPORT_NAMES.get(_key(name), name)
        bundled[_key(name)] = as_imported
        bundled[_key(as_imported)] = as_imported
    import_name = bundled.get(_key(top)) or bundled.get(_key(_IMPORT_NAMES.get(_key(top), "")))
    if import_name:
        fields["import_name"] = import_name
        if top != import_name:
            return _PY_VENDORED_SPELLING, fields
        if module != top:
            return _PY_VENDORED_SUBMODULE, fields
        missing_bundle = _bundle_missing(vendored)
        if missing_bundle is not None:
            fields["why"] = missing_bundle
            fields["build_command"] = getattr(
                vendored,
                "build_command",
                "wasm-workbench vendor build (or ensure_vendor_bundle() from Python)",
            )
            return _PY_VENDORED_NOT_BUILT, fields
        return _PY_VENDORED_PATH, fields

    # (b) Standard library that this build lacks: the longest known prefix wins.
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        entry = _UNSUPPORTED_STDLIB.get(".".join(parts[:end]))
        if entry is not None:
            fields["module"] = ".".join(parts[:end])
            fields["why"], fields["instead"] = entry
            return _PY_UNSUPPORTED_STDLIB, fields

    if top.lower() in _NETWORK_PACKAGES:
        fields["module"] = top
        return _PY_NETWORK_PACKAGE, fields

    # (c) Native code: in the scientific runtime, or never loadable.
    if top in SCIENTIFIC_MODULES:
        fields["module"] = top
        return _PY_IN_SCIENTIFIC, fields
    native = _NATIVE_BY_KEY.get(top.lower())
    if native is not None:
        fields["module"] = native
        instead, example = _NATIVE_PACKAGES[native]
        if not instead:
            return _PY_NATIVE_NO_STANDIN, fields
        fields["instead"] = instead
        return replace(_PY_NATIVE, example=example), fields

    # (d) A pure-Python package known to install cleanly.
    installable = _INSTALLABLE.get(top) or _INSTALLABLE.get(top.lower())
    if installable:
        fields["module"] = top
        fields["package"] = installable
        return _PY_INSTALLABLE, fields

    # (e) Perhaps a pure-Python package that can be installed.
    fields["package"] = _DIST_NAMES.get(top, top)
    return _PY_MISSING_MODULE, fields


def _bundle_missing(vendored: Collection[str]) -> str | None:
    """Why the vendored bundle isn't mounted, or None when it is (or can't be told).

    ``vendored`` may carry its bundle's own ``status()`` (python-sci's names do,
    see :func:`._vendor.sci_vendored_import_names`); otherwise the small
    runtime's bundle is asked.
    """
    from ._vendor import bundle_status

    status: Callable[[], tuple[str, str]] = getattr(vendored, "status", bundle_status)
    try:
        state, detail = status()
    except Exception:  # guidance must never fail the result
        return None
    if state == "ready":
        return None
    if state == "failed":
        return f" (building it failed: {detail.splitlines()[0][:200]})"
    if state == "disabled":
        return " (automatic building is off: WASM_WORKBENCH_VENDOR=off)"
    if state == "building":
        return " yet (it is being built in the background, once: run the code again shortly)"
    return " (it hasn't been built yet)"


def _py_os_error(failure: _Failure, match: re.Match[str], _: Collection[str]) -> _Chosen | None:
    if _NETWORK_FRAME.search(failure.block):
        return _PY_NETWORK, {}
    if failure.name == "PermissionError" and _LINK_REFUSED.search(failure.message):
        return _PY_LINK_OUTSIDE, {}
    quoted = _QUOTED_PATH.search(failure.message)
    if quoted is None:
        # Socket calls fail with ENOTSUP (58) or ENOSYS (52) and name no path.
        if re.search(r"Errno (?:58|52)\]|Not supported|Function not implemented", failure.message):
            return _PY_NETWORK, {}
        return None
    path = quoted["path"]
    fields = {"path": path, "app_path": _app_path(path), "absolute_path": ""}
    if not path.startswith("/"):
        fields["absolute_path"] = (
            f"Use the absolute path {fields['app_path']}: a relative path depends on the "
            "current folder."
        )
    if not _in_workspace(path):
        return _PY_OUTSIDE_WORKSPACE, fields
    if failure.name == "FileNotFoundError":
        return _PY_FILE_NOT_FOUND, fields
    if failure.name == "PermissionError":
        return _PY_PERMISSION, fields
    return None


def _py_syntax_error(failure: _Failure, match: re.Match[str], _: Collection[str]) -> _Chosen:
    if "```" in failure.block:
        return _PY_MARKDOWN_FENCE, {}
    return {"IndentationError": _PY_INDENTATION, "TabError": _PY_TAB}.get(
        failure.name, _PY_SYNTAX
    ), {}


_PY_RULES = (
    _rule(r"wasi does not support processes", _PY_PROCESSES),
    _rule(
        r"^AttributeError: module '(?:os|posix)' has no attribute '(?:system|fork\w*|exec\w*"
        r"|spawn\w*|popen|kill\w*|wait\w*|posix_spawn\w*|getppid|setsid|setpgid|nice)'",
        _PY_PROCESSES,
    ),
    _rule(r"^AttributeError: module '_?socket' has no attribute", _PY_NETWORK),
    _rule(
        r"^(?:ModuleNotFound|Import)Error: No module named '(?P<module>[\w.]+)'", _py_missing_module
    ),
    _rule(
        r"^ImportError: cannot import name '(?P<attr>C\w*(?:Loader|Dumper|Parser|Emitter))' "
        r"from 'yaml'",
        _PY_YAML_C,
    ),
    _rule(
        r"^ImportError: cannot import name '(?P<attr>\w+)' from '(?P<module>[\w.]+)'",
        _PY_IMPORT_NAME,
    ),
    _rule(
        r"^(?:URLError|gaierror|herror|RemoteDisconnected|SSLError"
        r"|Connection(?:Refused|Reset|Aborted)?Error)\b",
        _PY_NETWORK,
    ),
    _rule(
        r"^(?:FileNotFound|Permission|IsADirectory|NotADirectory|FileExists|BlockingIO|OS)Error\b",
        _py_os_error,
    ),
    _rule(r"^EOFError: EOF when reading a line", _PY_INPUT),
    _rule(r"^RuntimeError: can't start new thread", _PY_THREADS),
    _rule(
        r"^AttributeError: module '(?P<module>os|posix|signal)' has no attribute '(?P<attr>\w+)'",
        _PY_UNSUPPORTED_FUNCTION,
    ),
    _rule(r"^(?:SyntaxError|IndentationError|TabError)\b", _py_syntax_error),
    _rule(r"^UnboundLocalError\b", _PY_UNBOUND_LOCAL),
    _rule(r"^NameError: name '(?P<ident>\w+)' is not defined", _py_name_error),
    _rule(r"^RecursionError\b", _PY_RECURSION),
    _rule(r"^MemoryError\b", _PY_MEMORY_ERROR),
    _rule(r"^ZeroDivisionError\b", _PY_ZERO_DIVISION),
    _rule(r"^(?:TypeError|AttributeError): .*'NoneType'", _PY_NONE_VALUE),
    _rule(r"^TypeError\b", _PY_TYPE),
    _rule(r"^KeyError\b", _PY_KEY),
    _rule(r"^IndexError\b", _PY_INDEX),
    _rule(
        r"^AttributeError: module '(?P<module>[\w.]+)' has no attribute '(?P<attr>\w+)'",
        _PY_MODULE_ATTRIBUTE,
    ),
    _rule(r"^AttributeError\b", _PY_ATTRIBUTE),
    _rule(r"^JSONDecodeError\b", _PY_JSON),
    _rule(r"^ValueError: (?:too many|not enough) values to unpack", _PY_UNPACK),
    _rule(r"^ValueError: (?:invalid literal for|could not convert)", _PY_CONVERSION),
    _rule(r"^ValueError\b", _PY_VALUE),
    _rule(r"^UnicodeDecodeError\b", _PY_UNICODE),
)


# ---------------------------------------------------------------------------
# JavaScript catalog (QuickJS-NG).

_JS_STD_EXAMPLE = (
    "import * as std from 'qjs:std';\n"
    "const text = std.loadFile('/app/data.txt');\n"
    "console.log(text.length);"
)
_JS_REFERENCE = _Advice(
    "ReferenceError",
    "The code uses the name '{ident}', but nothing by that name exists at that point.",
    (
        "Define it (let, const or function) before {where} uses it, and check its "
        "spelling and case.",
        "Variables from earlier runs exist only in a live session; in a new run, define "
        "them again in this code.",
    ),
)
_JS_REQUIRE = _Advice(
    "RequireUnavailable",
    "require() and npm packages are not available: the code runs in QuickJS, not Node.js, "
    "so CommonJS modules ({ident}) don't exist.",
    (
        "For files and the system, use QuickJS's std and os objects, which are already "
        "globals here (std.loadFile, std.open, os.readdir), or import them in module code: "
        "import * as std from 'qjs:std'.",
        "Use the built-in helpers, or write the few functions you need from a package in "
        "plain JavaScript.",
    ),
    _JS_STD_EXAMPLE,
)
_JS_NODE_API = _Advice(
    "NodeApiUnavailable",
    "'{ident}' is a Node.js global, and the code runs in QuickJS, not Node.js.",
    (
        "Use scriptArgs for arguments, std.getenv('NAME') for environment variables and "
        "std.exit(code) to exit (import * as std from 'qjs:std').",
        "For bytes, use Uint8Array and TextEncoder / TextDecoder instead of Buffer.",
    ),
    _JS_STD_EXAMPLE,
)
_JS_BROWSER_API = _Advice(
    "BrowserApiUnavailable",
    "'{ident}' belongs to web browsers, and the code runs in QuickJS, with no page, DOM or "
    "dialogs.",
    (
        "Print results with console.log() instead of showing them on a page.",
        "Keep data in ordinary variables, or in files under /app via the std module.",
    ),
)
_JS_NETWORK = _Advice(
    "NetworkUnavailable",
    "'{ident}' is not defined because a sandboxed run has no network access at all.",
    (
        "Put the data the code needs into the workspace and read it from /app with "
        "std.loadFile('/app/data.json').",
        "For a quick test, write a small sample of the data directly into the code.",
    ),
    "import * as std from 'qjs:std';\nconst data = JSON.parse(std.loadFile('/app/data.json'));",
)
_JS_TIMER = _Advice(
    "TimerUnavailable",
    "'{ident}' is not a global in QuickJS; timers live in its 'os' module.",
    (
        "Use os.setTimeout(fn, ms) and os.clearTimeout(id) from the 'os' module (a global "
        "here; in module code also import * as os from 'qjs:os').",
        "For a repeating timer, call os.setTimeout again at the end of the callback.",
        "Or call the function directly: waiting still counts against the run's timeout.",
    ),
    "os.setTimeout(() => console.log('later'), 100);",
)
_JS_STD_MODULES = _Advice(
    "ReferenceError",
    "'{ident}' is one of QuickJS's modules, which has to be imported before use.",
    ("Import it at the top of module code: import * as {ident} from 'qjs:{ident}'",),
    _JS_STD_EXAMPLE,
)
_JS_UNINITIALIZED = _Advice(
    "ReferenceError",
    "'{ident}' was used before its let/const/class declaration ran ({text}).",
    ("Move the declaration of '{ident}' above its first use.",),
)
_JS_REFERENCE_OTHER = _Advice(
    "ReferenceError",
    "The code referred to something that doesn't exist: {message}.",
    ("Check the names used at {where}: define them first, and check spelling and case.",),
)
# Globals of Node.js, browsers and QuickJS that a script lacks, and what to say.
_JS_GLOBAL_GROUPS: tuple[tuple[tuple[str, ...], _Advice], ...] = (
    (("require", "module", "exports"), _JS_REQUIRE),
    (("process", "Buffer", "__dirname", "__filename", "global"), _JS_NODE_API),
    (("fetch", "XMLHttpRequest", "WebSocket", "EventSource"), _JS_NETWORK),
    (("setTimeout", "setInterval", "clearTimeout", "clearInterval", "setImmediate"), _JS_TIMER),
    (("window", "document", "navigator", "location"), _JS_BROWSER_API),
    (("alert", "prompt", "confirm", "localStorage", "sessionStorage"), _JS_BROWSER_API),
    (("std", "os", "bjson"), _JS_STD_MODULES),
)
_JS_IDENTIFIERS = {name: advice for names, advice in _JS_GLOBAL_GROUPS for name in names}
_JS_MODULE_SYNTAX = _Advice(
    "ModuleSyntax",
    "{Where} looks like an import or export statement ({message}), and those are only "
    "allowed in module code, not in a plain script.",
    (
        "Run the code as an ES module, where import * as std from 'qjs:std' works.",
        "Or drop the import and use what scripts have without it: console, print and scriptArgs.",
        "npm packages and Node modules such as 'fs' don't exist here at all; QuickJS "
        "offers only 'qjs:std', 'qjs:os' and 'qjs:bjson' (std and os are also ready-made globals).",
    ),
)
_JS_JSON = _Advice(
    "JSONParseError",
    "JSON.parse was given text that isn't valid JSON: {message}.",
    (
        "Log the start of the text (console.log(text.slice(0, 200))) to see what it really holds.",
        "JSON needs double quotes and no trailing commas.",
    ),
)
_JS_SYNTAX = _Advice(
    "SyntaxError",
    "QuickJS couldn't parse the code: {message}.",
    (
        "Look at {where} and the line before it for an unclosed bracket, quote or template string.",
        "Make sure only code was pasted, without Markdown fences (```) or prose.",
    ),
)
_JS_RECURSION = _Advice(
    "RecursionError",
    "A function called itself too many times ({text}); usually the recursion has no base "
    "case, or the data is very deep.",
    (
        "Check that the recursive function stops: it needs a base case that each input reaches.",
        "Rewrite deep recursion as a loop that keeps its own stack in an array.",
    ),
    _TRAP_EXAMPLES[TrapKind.STACK_OVERFLOW, RuntimeType.JAVASCRIPT],
)
_JS_MEMORY = _Advice(
    "MemoryError",
    "QuickJS ran out of memory: the sandbox allows {memory_limit}, and the code asked for more.",
    (
        "Work on the data in pieces instead of building very large arrays or strings.",
        "{raise_memory}",
    ),
)
_JS_PROPERTY = _Advice(
    "TypeError",
    "The code used the property '{prop}' of a value that is {value} at {where}.",
    (
        "Find out why the value is {value}: a missing object key, an array index past the "
        "end, or a function that returned nothing.",
        "Guard the access with optional chaining (obj?.{prop}) or a default (obj ?? {{}}).",
    ),
    "const city = user?.address?.city ?? 'unknown';",
)
_JS_NOT_FUNCTION = _Advice(
    "TypeError",
    "The code called something that isn't a function at {where} ({text}).",
    (
        "Check the spelling of the method name and the type of the object (console.log(typeof x)).",
        "Node.js and browser methods don't exist in QuickJS; check that the method is "
        "standard JavaScript.",
    ),
)
_JS_READ_ONLY = _Advice(
    "TypeError",
    "The code assigned to '{ident}', which is read-only (a const) ({text}).",
    ("Declare it with let instead of const if it has to change.",),
)
_JS_NEW = _Advice(
    "TypeError",
    "A class was called like a function ({text}).",
    ("Create instances with new: new ClassName(...).",),
)
_JS_TYPE = _Advice(
    "TypeError",
    "A value of the wrong type was used at {where}: {message}.",
    ("Check the values involved with console.log(typeof x, x) just before {where}.",),
)
_JS_RANGE = _Advice(
    "RangeError",
    "A value was outside the range a function accepts at {where}: {message}.",
    ("Check the numbers passed at {where} (array lengths, digits, string repeats).",),
)


def _js_reference(failure: _Failure, match: re.Match[str], _: Collection[str]) -> _Chosen:
    return _JS_IDENTIFIERS.get(match["ident"], _JS_REFERENCE), {}


_JS_RULES = (
    _rule(r"^ReferenceError: '?(?P<ident>[\w$]+)'? is not defined", _js_reference),
    _rule(r"^ReferenceError: '?(?P<ident>[\w$]+)'? is not initialized", _JS_UNINITIALIZED),
    _rule(r"^ReferenceError\b", _JS_REFERENCE_OTHER),
    _rule(r"^SyntaxError: .*\bJSON\b", _JS_JSON),
    # In script code QuickJS-NG reports `import x from 'y'` as "Unexpected identifier"
    # or "Unexpected token" (capitalized; its other parse errors are lower case).
    _rule(
        r"^SyntaxError: (?:Unexpected (?:token|identifier)\b|unsupported keyword: "
        r"(?:import|export)|import\.meta\b|.*\b(?:import|export) statement)",
        _JS_MODULE_SYNTAX,
    ),
    _rule(r"^SyntaxError\b", _JS_SYNTAX),
    _rule(
        r"^(?:RangeError: Maximum call stack size exceeded|InternalError: stack overflow)",
        _JS_RECURSION,
    ),
    _rule(r"^InternalError: out of memory", _JS_MEMORY),
    _rule(
        r"^TypeError: cannot (?:read|set) property '(?P<prop>[^']*)' of (?P<value>undefined|null)",
        _JS_PROPERTY,
    ),
    _rule(r"^TypeError: (?:.* )?not a function", _JS_NOT_FUNCTION),
    _rule(r"^TypeError: '(?P<ident>[^']+)' is read-only", _JS_READ_ONLY),
    _rule(r"^TypeError: class constructors must be invoked with 'new'", _JS_NEW),
    _rule(r"^TypeError\b", _JS_TYPE),
    _rule(r"^RangeError\b", _JS_RANGE),
)


# ---------------------------------------------------------------------------
# Either runtime.

_NON_ZERO_EXIT = _Advice(
    "NonZeroExit",
    "The code exited with status {exit_code} without an error{said}.",
    (
        "If the exit was meant, nothing needs fixing; exit with 0 (or let the code end) "
        "for a successful run.",
        "Otherwise look for {exit_call} calls and print the reason before exiting.",
    ),
)
_GUEST_ERROR = _Advice(
    "GuestError",
    "The code stopped with an error: {text}",
    (
        "Read the message and look at {where}, where the error was raised.",
        "Print the values involved just before {where} to see how they differ from what "
        "you expected.",
    ),
)
_SILENT_FAILURE = _Advice(
    "GuestError",
    "The run failed without printing an error message.",
    ("Print progress messages to stderr to see how far the code gets.",),
)


# ---------------------------------------------------------------------------
# Public API.


def analyze_error(
    *,
    runtime: RuntimeType,
    success: bool,
    trap_kind: TrapKind,
    stderr: str,
    exit_code: int | None,
    fuel_budget: int,
    memory_limit_bytes: int,
    timeout_seconds: float,
    vendored_modules: Collection[str] = (),
) -> ErrorGuidance | None:
    """Explain why a run failed and what to do next.

    Parameters
    ----------
    runtime
        The guest language; it decides how ``stderr`` is read.
    success
        True for a successful run, which needs no guidance.
    trap_kind
        How the host saw the run stop. Anything but ``TrapKind.NONE`` decides the
        guidance on its own, whatever ``stderr`` says.
    stderr
        The guest's standard error (possibly truncated). Only the last Python
        traceback, or the last QuickJS error, is used.
    exit_code
        The guest's exit status, if it exited.
    fuel_budget, memory_limit_bytes, timeout_seconds
        The limits the run had, quoted in the advice (fuel in instructions,
        memory in bytes, timeout in seconds).
    vendored_modules
        Import names of the packages bundled into the sandbox, to tell a misspelt
        bundled package from one that is really missing.

    Returns
    -------
    ErrorGuidance or None
        ``None`` when ``success`` is true. Otherwise ``error_type`` (one of those
        listed in this module's docstring), a short explanation, one to four fixes
        (most useful first), an optional example, and the line in the user's code
        when stderr names one.
    """
    if success:
        return None
    limits = _limit_fields(fuel_budget, memory_limit_bytes, timeout_seconds)
    if trap_kind is not TrapKind.NONE:
        advice = replace(
            _TRAP_ADVICE[trap_kind], example=_TRAP_EXAMPLES.get((trap_kind, _family(runtime)))
        )
        return _render(advice, limits, None)

    python = runtime.language == "python"
    failure = _parse_python(stderr) if python else _parse_javascript(stderr)
    exit_fields = {
        "exit_code": str(exit_code),
        "exit_call": "sys.exit() / exit()" if python else "std.exit()",
    }
    if failure is None:
        last = next((ln.strip() for ln in reversed(stderr.splitlines()) if ln.strip()), "")
        if exit_code not in (None, 0):
            said = f"; its last message was: {last}" if last else ""
            return _render(_NON_ZERO_EXIT, {**exit_fields, "said": said}, None)
        if not last:
            return _render(_SILENT_FAILURE, {}, None)
        failure = _Failure(name="", message=last, text=last, line=None, block=stderr)

    fields = {
        **limits,
        **exit_fields,
        "name": failure.name or "Error",
        "message": failure.message,
        "text": failure.text,
        "where": f"line {failure.line}" if failure.line else "the failing line",
        "Where": f"Line {failure.line}" if failure.line else "The failing line",
    }
    chosen = _match(_PY_RULES if python else _JS_RULES, failure, vendored_modules)
    advice, extra = chosen if chosen is not None else (_GUEST_ERROR, {})
    return _render(advice, {**fields, **extra}, failure.line)


def _match(
    rules: tuple[_Rule, ...], failure: _Failure, vendored: Collection[str]
) -> _Chosen | None:
    text = failure.normalized
    for rule in rules:
        match = rule.pattern.search(text)
        if match is None:
            continue
        groups = {key: value for key, value in match.groupdict().items() if value is not None}
        if isinstance(rule.advice, _Advice):
            return rule.advice, groups
        chosen = rule.advice(failure, match, vendored)
        if chosen is not None:
            return chosen[0], {**groups, **chosen[1]}
    return None


def _render(advice: _Advice, fields: Mapping[str, str], line: int | None) -> ErrorGuidance:
    fixes = (fix.format_map(fields) for fix in advice.fixes)
    return ErrorGuidance(
        error_type=advice.error_type.format_map(fields),
        explanation=advice.explanation.format_map(fields),
        # A fix that renders empty doesn't apply (a limit already at its maximum).
        fixes=[fix for fix in fixes if fix],
        example=advice.example,
        line=line,
    )


def _limit_fields(fuel_budget: int, memory_limit_bytes: int, timeout: float) -> dict[str, str]:
    """Template fields quoting the limits, and the "raise it" fixes ("" at the maximum)."""
    fuel = max(0, fuel_budget)
    fuel_suggested = analyze_fuel(fuel, fuel, exhausted=True).suggested_budget
    memory_suggested = min(2 * memory_limit_bytes, _policy_max("memory_bytes"))
    timeout_suggested = min(2 * timeout, _policy_max("timeout_seconds"))
    fields = {
        "fuel": format_fuel(fuel),
        "memory_limit": _mib(memory_limit_bytes),
        "timeout": f"{timeout:g}",
        "raise_fuel": "",
        "raise_memory": "",
        "raise_timeout": "",
    }
    if fuel_suggested > fuel:
        fields["raise_fuel"] = (
            "If the work is genuinely large, raise the fuel budget (fuel_budget) to "
            f"{format_fuel(fuel_suggested)} or more."
        )
    if memory_suggested > memory_limit_bytes:
        fields["raise_memory"] = (
            "If the data really needs more, raise the memory limit (memory_bytes) to "
            f"{_mib(int(memory_suggested))}."
        )
    if timeout_suggested > timeout:
        fields["raise_timeout"] = (
            "If the work genuinely needs longer, raise the timeout (timeout_seconds) to "
            f"{timeout_suggested:g} s."
        )
    return fields


def _policy_max(field: str) -> float:
    bounds = _bounds(field)
    return bounds[1] if bounds is not None else float("inf")


def _mib(count: int) -> str:
    return f"{count / MIB:,.0f} MiB"


def _in_workspace(path: str) -> bool:
    if re.match(r"^(?:[A-Za-z]:[\\/]|\\\\|~)", path):
        return False  # a Windows or home-relative host path
    if not path.startswith("/"):
        return True  # relative: resolved inside the workspace
    normal = posixpath.normpath(path)
    return normal == _WORKSPACE or normal.startswith(_WORKSPACE + "/")


def _app_path(path: str) -> str:
    """Where a file of that name would be in the workspace (/etc/x.csv -> /app/x.csv)."""
    name = posixpath.basename(posixpath.normpath(path.replace("\\", "/")))
    return f"{_WORKSPACE}/{name if name not in ('', '.', '..', '/') else 'data.csv'}"


# ---------------------------------------------------------------------------
# Reading stderr.

_PY_HEADER = "Traceback (most recent call last):"
_PY_CODE_FRAME = re.compile(r'^\s*File "<code>", line (\d+)')
_PY_ERROR_LINE = re.compile(r"^(?P<qualname>[A-Za-z_][\w.]*)(?::\s?(?P<message>.*))?$")
_JS_CODE_POSITION = re.compile(r"<code>:(\d+)")
_JS_ERROR_LINE = re.compile(r"^(?P<qualname>[A-Z]\w*Error|Error)(?::\s?(?P<message>.*))?$")
_JS_PREFIXES = ("Possibly unhandled promise rejection: ", "Uncaught ")


def _parse_python(stderr: str) -> _Failure | None:
    """Find the exception at the end of the last traceback, and its line in <code>."""
    lines = stderr.splitlines()
    headers = [i for i, text in enumerate(lines) if text.strip() == _PY_HEADER]
    # An "Exception ignored in ..." traceback (from __del__, say) is noise next to a
    # real one; take the last traceback that isn't one of those.
    real = [i for i in headers if not (i and lines[i - 1].startswith("Exception ignored"))]
    if real or headers:
        begin = (real or headers)[-1] + 1
    else:
        # A SyntaxError can come without a header: begin at the first <code> frame.
        frames = [i for i, text in enumerate(lines) if _PY_CODE_FRAME.match(text)]
        if not frames:
            return None
        begin = frames[0]
    line: int | None = None
    for index in range(begin, len(lines)):
        text = lines[index]
        frame = _PY_CODE_FRAME.match(text)
        if frame:
            line = int(frame[1])
        elif text.strip() and not text[0].isspace():
            return _failure(
                _PY_ERROR_LINE.match(text), text, line, "\n".join(lines[begin : index + 1])
            )
    # The traceback ends before its error line: stderr was cut at its cap.
    cut = "the traceback was cut off before its error line (stderr reached its size limit)"
    return _Failure(name="", message=cut, text=cut, line=line, block="\n".join(lines[begin:]))


def _parse_javascript(stderr: str) -> _Failure | None:
    """Find the last error QuickJS printed (a line, then its "at ..." stack lines)."""
    lines = stderr.splitlines()
    found: _Failure | None = None
    for index, raw in enumerate(lines):
        if not raw.strip() or raw[0].isspace():
            continue
        text = raw
        for prefix in _JS_PREFIXES:
            text = text.removeprefix(prefix)
        stack = []
        for follow in lines[index + 1 :]:
            if not follow.lstrip().startswith("at "):
                break
            stack.append(follow)
        match = _JS_ERROR_LINE.match(text)
        if match is None and not stack:
            continue  # an ordinary message on stderr, not an error
        position = _JS_CODE_POSITION.search("\n".join(stack))
        line = int(position[1]) if position else None
        found = _failure(match, text, line, "\n".join([raw, *stack]))
    return found


def _failure(match: re.Match[str] | None, text: str, line: int | None, block: str) -> _Failure:
    if match is None:
        return _Failure(name="", message=text.strip(), text=text.strip(), line=line, block=block)
    return _Failure(
        name=match["qualname"].rsplit(".", 1)[-1],
        message=(match["message"] or "").strip(),
        text=text.strip(),
        line=line,
        block=block,
    )
