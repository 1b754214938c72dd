"""Error guidance on real stderr from the guests.

The Python samples were printed by the project's CPython 3.12.0 WASI build (the
driver's own frame is ``File "<string>"``, the user's code is ``<code>``, library
frames sit under ``/wlr/build-staging``). The JavaScript samples were printed by
QuickJS-NG 0.15 (``qjs-wasi-reactor``) through ``js_std_dump_error``.
"""

from __future__ import annotations

import re

import pytest

from workbench.sandbox._guidance import analyze_error
from workbench.sandbox._result import ErrorGuidance, RuntimeType, TrapKind

PY = RuntimeType.PYTHON
JS = RuntimeType.JAVASCRIPT
MIB = 1024 * 1024
LIB = "/wlr/build-staging/python/v3.12.0-aio/checkout/Lib"


class MountedBundle(tuple[str, ...]):
    """Vendored import names whose bundle is mounted, whatever this process has built.

    Without ``status()`` the guidance asks the process's own bundle, which a
    test process (a pytest-xdist worker) may not have built yet.
    """

    def status(self) -> tuple[str, str]:
        return ("ready", "")


VENDORED = MountedBundle(("yaml", "tabulate", "jinja2", "markupsafe", "dateutil"))


def guide(
    stderr: str,
    *,
    runtime: RuntimeType = PY,
    exit_code: int | None = 1,
    trap: TrapKind = TrapKind.NONE,
    vendored: tuple[str, ...] = VENDORED,
    fuel_budget: int = 2_000_000_000,
    memory_limit_bytes: int = 128 * MIB,
    timeout_seconds: float = 30.0,
) -> ErrorGuidance:
    result = analyze_error(
        runtime=runtime,
        success=False,
        trap_kind=trap,
        stderr=stderr,
        exit_code=exit_code,
        fuel_budget=fuel_budget,
        memory_limit_bytes=memory_limit_bytes,
        timeout_seconds=timeout_seconds,
        vendored_modules=vendored,
    )
    assert result is not None
    check_shape(result)
    return result


def check_shape(result: ErrorGuidance) -> None:
    """Every guidance explains, gives 1-4 fixes and has no unfilled placeholder."""
    assert result.error_type
    assert result.explanation
    assert 1 <= len(result.fixes) <= 4
    for text in (result.error_type, result.explanation, *result.fixes):
        assert not re.search(r"\{\w+\}", text), text
        assert text.strip() == text


def py_traceback(error: str, *frames: str) -> str:
    """A traceback as the guest prints it: driver frame, then the given frames."""
    lines = ["Traceback (most recent call last):", '  File "<string>", line 3, in <module>']
    lines += frames or ('  File "<code>", line 1, in <module>',)
    return "\n".join([*lines, error]) + "\n"


# ---------------------------------------------------------------------------
# Success, traps and their precedence.


def test_success_needs_no_guidance() -> None:
    result = analyze_error(
        runtime=PY,
        success=True,
        trap_kind=TrapKind.NONE,
        stderr=py_traceback("NameError: name 'x' is not defined"),
        exit_code=0,
        fuel_budget=10**9,
        memory_limit_bytes=128 * MIB,
        timeout_seconds=30,
    )
    assert result is None


def test_success_wins_even_over_a_trap_kind() -> None:
    result = analyze_error(
        runtime=JS,
        success=True,
        trap_kind=TrapKind.OUT_OF_FUEL,
        stderr="",
        exit_code=0,
        fuel_budget=10**9,
        memory_limit_bytes=128 * MIB,
        timeout_seconds=30,
    )
    assert result is None


def test_out_of_fuel_quotes_the_budget_and_suggests_more() -> None:
    result = guide("", trap=TrapKind.OUT_OF_FUEL, exit_code=None)
    assert result.error_type == "OutOfFuel"
    assert "2 B" in result.explanation
    assert any("loop" in fix and "smaller input" in fix for fix in result.fixes)
    assert any("10 B" in fix for fix in result.fixes)
    assert result.line is None


def test_timeout_mentions_sleeping_and_seconds() -> None:
    result = guide("", trap=TrapKind.DEADLINE, timeout_seconds=2.5, exit_code=None)
    assert result.error_type == "Timeout"
    assert "2.5 s" in result.explanation
    assert "sleep" in result.explanation
    assert any("5 s" in fix for fix in result.fixes)


def test_memory_limit_in_mib() -> None:
    result = guide("", trap=TrapKind.MEMORY, memory_limit_bytes=64 * MIB, exit_code=None)
    assert result.error_type == "MemoryLimit"
    assert "64 MiB" in result.explanation
    assert any("128 MiB" in fix for fix in result.fixes)
    assert result.example is not None and "for line in f" in result.example


def test_stack_overflow_has_a_runtime_specific_example() -> None:
    python = guide("", trap=TrapKind.STACK_OVERFLOW, exit_code=None)
    javascript = guide("", runtime=JS, trap=TrapKind.STACK_OVERFLOW, exit_code=None)
    assert python.error_type == javascript.error_type == "StackOverflow"
    assert python.example is not None and "def walk" in python.example
    assert javascript.example is not None and "function walk" in javascript.example


def test_cancelled_needs_only_a_rerun() -> None:
    result = guide("", trap=TrapKind.CANCELLED, exit_code=None)
    assert result.error_type == "Cancelled"
    assert len(result.fixes) == 1
    assert "run the code again" in result.fixes[0]


def test_host_error_is_not_the_codes_fault() -> None:
    result = guide("", trap=TrapKind.HOST_ERROR, exit_code=None)
    assert result.error_type == "HostError"
    assert "not a problem in the code" in result.explanation
    assert any("debug log" in fix for fix in result.fixes)


@pytest.mark.parametrize(
    ("trap", "error_type"),
    [
        (TrapKind.OUT_OF_FUEL, "OutOfFuel"),
        (TrapKind.DEADLINE, "Timeout"),
        (TrapKind.MEMORY, "MemoryLimit"),
        (TrapKind.STACK_OVERFLOW, "StackOverflow"),
        (TrapKind.CANCELLED, "Cancelled"),
        (TrapKind.HOST_ERROR, "HostError"),
    ],
)
@pytest.mark.parametrize("runtime", [PY, JS])
def test_trap_kinds_take_precedence_over_stderr(
    trap: TrapKind, error_type: str, runtime: RuntimeType
) -> None:
    stderr = (
        py_traceback("MemoryError")
        if runtime is PY
        else "InternalError: out of memory\n    at <eval> (<code>:7:1)\n"
    )
    result = guide(stderr, runtime=runtime, trap=trap)
    assert result.error_type == error_type
    assert result.line is None


def test_limits_at_their_maximum_are_not_raised_further() -> None:
    fuel = guide("", trap=TrapKind.OUT_OF_FUEL, fuel_budget=10**12)
    assert not any("raise the fuel budget" in fix for fix in fuel.fixes)
    memory = guide("", trap=TrapKind.MEMORY, memory_limit_bytes=4096 * MIB)
    assert "4,096 MiB" in memory.explanation
    assert not any("raise the memory limit" in fix for fix in memory.fixes)
    timeout = guide("", trap=TrapKind.DEADLINE, timeout_seconds=3600)
    assert not any("raise the timeout" in fix for fix in timeout.fixes)


# ---------------------------------------------------------------------------
# Reading Python tracebacks.


def test_line_is_the_last_code_frame() -> None:
    stderr = py_traceback(
        "RuntimeError: boom",
        '  File "<code>", line 5, in <module>',
        '  File "<code>", line 2, in f',
        '  File "<code>", line 4, in g',
    )
    result = guide(stderr)
    assert result.error_type == "GuestError"
    assert result.line == 4
    assert "RuntimeError: boom" in result.explanation


def test_library_frames_after_the_code_do_not_move_the_line() -> None:
    stderr = py_traceback(
        "OSError: [Errno 58] wasi does not support processes.",
        '  File "<code>", line 2, in <module>',
        f'  File "{LIB}/subprocess.py", line 548, in run',
        f'  File "{LIB}/subprocess.py", line 818, in __init__',
    )
    assert guide(stderr).line == 2


CHAINED = """\
Traceback (most recent call last):
  File "<code>", line 2, in <module>
KeyError: 'a'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "<string>", line 3, in <module>
  File "<code>", line 4, in <module>
ValueError: bad value
"""


def test_chained_exceptions_use_the_last_traceback() -> None:
    result = guide(CHAINED)
    assert result.error_type == "ValueError"
    assert result.line == 4
    assert "bad value" in result.explanation


ASYNCIO_NETWORK = f"""\
Traceback (most recent call last):
  File "<string>", line 3, in <module>
  File "<code>", line 2, in <module>
  File "{LIB}/asyncio/runners.py", line 193, in run
  File "{LIB}/asyncio/selector_events.py", line 120, in _make_self_pipe
  File "{LIB}/socket.py", line 632, in socketpair
  File "{LIB}/socket.py", line 233, in __init__
OSError: [Errno 58] Not supported
Exception ignored in: <function BaseEventLoop.__del__ at 0xc50528>
Traceback (most recent call last):
  File "{LIB}/asyncio/base_events.py", line 705, in __del__
  File "{LIB}/asyncio/selector_events.py", line 111, in _close_self_pipe
AttributeError: '_UnixSelectorEventLoop' object has no attribute '_ssock'
sys:1: RuntimeWarning: coroutine 'open_connection' was never awaited
"""


def test_exception_ignored_tracebacks_are_skipped() -> None:
    result = guide(ASYNCIO_NETWORK)
    assert result.error_type == "NetworkUnavailable"
    assert result.line == 2


RECURSION = """\
Traceback (most recent call last):
  File "<string>", line 3, in <module>
  File "<code>", line 2, in <module>
  File "<code>", line 1, in f
  File "<code>", line 1, in f
  File "<code>", line 1, in f
  [Previous line repeated 995 more times]
RecursionError: maximum recursion depth exceeded
"""


def test_recursion_error() -> None:
    result = guide(RECURSION)
    assert result.error_type == "RecursionError"
    assert result.line == 1
    assert any("loop" in fix for fix in result.fixes)
    assert result.example is not None


def test_traceback_cut_off_by_the_stderr_cap() -> None:
    stderr = RECURSION.split("  [Previous")[0]
    result = guide(stderr)
    assert result.error_type == "GuestError"
    assert "cut off" in result.explanation
    assert result.line == 1


def test_output_before_the_traceback_is_ignored() -> None:
    stderr = "warning: starting\nprogress 50%\n" + py_traceback(
        "ZeroDivisionError: division by zero"
    )
    assert guide(stderr).error_type == "ZeroDivisionError"


# ---------------------------------------------------------------------------
# Syntax.

SYNTAX = """\
Traceback (most recent call last):
  File "<string>", line 3, in <module>
  File "<code>", line 1
    print('a'
         ^
SyntaxError: '(' was never closed
"""
INDENTATION = """\
Traceback (most recent call last):
  File "<string>", line 3, in <module>
  File "<code>", line 3
    x = 2
IndentationError: unexpected indent
"""
TAB = """\
Traceback (most recent call last):
  File "<string>", line 3, in <module>
  File "<code>", line 3
    y = 2
TabError: inconsistent use of tabs and spaces in indentation
"""


@pytest.mark.parametrize(
    ("stderr", "error_type", "line", "words"),
    [
        (SYNTAX, "SyntaxError", 1, "'(' was never closed"),
        (INDENTATION, "IndentationError", 3, "unexpected indent"),
        (TAB, "TabError", 3, "mixes tabs and spaces"),
    ],
)
def test_syntax_errors(stderr: str, error_type: str, line: int, words: str) -> None:
    result = guide(stderr)
    assert result.error_type == error_type
    assert result.line == line
    assert words in result.explanation


def test_syntax_error_without_a_traceback_header() -> None:
    stderr = '  File "<code>", line 7\n    def f(:\n          ^\nSyntaxError: invalid syntax\n'
    result = guide(stderr)
    assert result.error_type == "SyntaxError"
    assert result.line == 7


def test_markdown_fence_is_recognized() -> None:
    stderr = """\
Traceback (most recent call last):
  File "<string>", line 3, in <module>
  File "<code>", line 1
    ```python
    ^
SyntaxError: invalid syntax
"""
    result = guide(stderr)
    assert result.error_type == "SyntaxError"
    assert "Markdown" in result.explanation
    assert "```" in result.fixes[0]


# ---------------------------------------------------------------------------
# Names.


def test_name_error() -> None:
    result = guide(py_traceback("NameError: name 'x' is not defined"))
    assert result.error_type == "NameError"
    assert result.line == 1
    assert "'x'" in result.explanation
    assert any("Define 'x' before line 1" in fix for fix in result.fixes)
    assert any("live session" in fix for fix in result.fixes)


def test_name_error_passes_on_pythons_suggestion() -> None:
    result = guide(py_traceback("NameError: name 'pritn' is not defined. Did you mean: 'print'?"))
    assert "Python suggests 'print'" in result.fixes[0]


@pytest.mark.parametrize(("name", "python"), [("true", "True"), ("null", "None")])
def test_name_error_for_other_languages_literals(name: str, python: str) -> None:
    result = guide(py_traceback(f"NameError: name '{name}' is not defined"))
    assert result.fixes[0] == f"Python writes {name} as {python}."


@pytest.mark.parametrize("module", ["math", "yaml"])
def test_name_error_for_a_module_suggests_importing_it(module: str) -> None:
    result = guide(py_traceback(f"NameError: name '{module}' is not defined"))
    assert any(f"import {module}" in fix for fix in result.fixes)


def test_unbound_local_error() -> None:
    stderr = py_traceback(
        "UnboundLocalError: cannot access local variable 'total' where it is not associated "
        "with a value",
        '  File "<code>", line 6, in <module>',
        '  File "<code>", line 3, in add',
    )
    result = guide(stderr)
    assert result.error_type == "UnboundLocalError"
    assert result.line == 3
    assert any("global" in fix for fix in result.fixes)


# ---------------------------------------------------------------------------
# Imports: the four kinds of missing module.


def missing(module: str, vendored: tuple[str, ...] = VENDORED) -> ErrorGuidance:
    return guide(
        py_traceback(f"ModuleNotFoundError: No module named '{module}'"), vendored=vendored
    )


def test_vendored_module_that_failed_to_import() -> None:
    result = missing("yaml")
    assert result.error_type == "VendoredModuleNotFound"
    assert "package bundle" in result.explanation
    assert "import yaml" in result.fixes[0]
    assert any("/data/site-packages" in fix for fix in result.fixes)


@pytest.mark.parametrize("typed", ["pyyaml", "PyYAML", "Yaml"])
def test_vendored_module_spelt_like_its_install_name(typed: str) -> None:
    result = missing(typed)
    assert result.error_type == "VendoredModuleNotFound"
    assert f"'{typed}'" in result.explanation
    assert result.fixes[0] == "Import it as: import yaml"


def test_vendored_list_may_hold_install_names() -> None:
    result = missing("yaml", vendored=MountedBundle(("PyYAML", "python-dateutil")))
    assert result.error_type == "VendoredModuleNotFound"
    assert "import yaml" in result.fixes[0]
    dateutil = missing("python_dateutil", vendored=MountedBundle(("python-dateutil",)))
    assert dateutil.fixes[0] == "Import it as: import dateutil"


def test_vendored_package_without_that_submodule() -> None:
    result = missing("jinja2.nothere")
    assert result.error_type == "VendoredModuleNotFound"
    assert "submodule 'jinja2.nothere'" in result.explanation


@pytest.mark.parametrize(
    ("module", "words"),
    [
        ("_ctypes", "native C libraries"),
        ("ctypes", "native C libraries"),
        ("ssl", "network"),
        ("_ssl", "network"),
        ("multiprocessing", "no processes"),
        ("concurrent.futures.process", "no processes"),
        ("_posixsubprocess", "no processes"),
        ("readline", "no terminal"),
        ("curses", "no terminal"),
        ("termios", "no terminal"),
        ("tkinter", "no screen"),
        ("_tkinter", "no screen"),
        ("_lzma", "made without it"),
        ("venv", "no packaging tools"),
        ("ensurepip", "no packaging tools"),
        ("dbm.gnu", "made without it"),
        ("pwd", "no users"),
        ("ctypes.util", "native C libraries"),
    ],
)
def test_stdlib_modules_missing_from_the_wasi_build(module: str, words: str) -> None:
    result = missing(module)
    assert result.error_type == "UnsupportedStdlibModule"
    assert "WebAssembly" in result.explanation
    assert words in result.explanation
    assert result.fixes[0].startswith("What works instead: ")


def test_stdlib_alternatives_are_concrete() -> None:
    assert "plain loop" in missing("multiprocessing").fixes[0]
    assert "sqlite3 (in this build)" in missing("dbm.gnu").fixes[0]
    assert "install_package" in missing("ensurepip").fixes[0]
    assert "zlib, gzip or bz2" in missing("_lzma").fixes[0]


@pytest.mark.parametrize(
    ("module", "alternative"),
    [
        ("polars", "csv module"),
        ("orjson", "json module"),
        ("ujson", "json module"),
        ("regex", "re module"),
        ("cryptography", "hashlib"),
        ("pydantic_core", "dataclasses"),
        ("psycopg2", "sqlite3"),
    ],
)
def test_native_packages_with_a_pure_python_alternative(module: str, alternative: str) -> None:
    result = missing(module)
    assert result.error_type == "NativePackageUnavailable"
    assert "native" in result.explanation
    assert "install_package" in result.explanation  # it says installing won't help
    assert alternative in result.fixes[0]


def test_table_packages_get_a_csv_example() -> None:
    example = missing("polars").example
    assert example is not None
    assert "csv.DictReader" in example
    assert "statistics.mean" in example


@pytest.mark.parametrize("module", ["torch", "tensorflow", "cv2"])
def test_native_packages_without_a_stand_in(module: str) -> None:
    result = missing(module)
    assert result.error_type == "NativePackageUnavailable"
    assert f"'{module}'" in result.explanation
    assert "plain Python" in result.fixes[0]


@pytest.mark.parametrize(
    "module",
    ["numpy", "numpy.core._multiarray_umath", "pandas", "scipy", "lxml", "matplotlib", "PIL"],
)
def test_the_scientific_stack_is_in_python_sci(module: str) -> None:
    result = missing(module)
    assert result.error_type == "ModuleInScientificRuntime"
    assert f"'{module.split('.')[0]}'" in result.explanation
    assert "--runtime python-sci" in result.fixes[0]


def test_unknown_module_may_be_installable() -> None:
    result = missing("frobnicator")
    assert result.error_type == "MissingModule"
    assert 'install_package(session, "frobnicator==<version>")' in result.fixes[0]


def test_known_pure_python_package_is_installable() -> None:
    result = missing("sympy")
    assert result.error_type == "InstallablePackage"
    assert "pure Python" in result.explanation
    assert 'install_package(session, "sympy")' in result.fixes[0]
    assert "wasm-workbench install --session <id> sympy" in result.fixes[0]


def test_unknown_module_uses_its_install_name() -> None:
    result = missing("bs4", vendored=())
    assert result.error_type == "InstallablePackage"
    assert 'install_package(session, "beautifulsoup4")' in result.fixes[0]
    yaml = missing("yaml", vendored=())
    assert yaml.error_type == "MissingModule"
    assert '"PyYAML==<version>"' in yaml.fixes[0]


@pytest.mark.parametrize("module", ["requests", "httpx", "aiohttp"])
def test_network_clients_point_at_the_missing_network(module: str) -> None:
    result = missing(module)
    assert result.error_type == "NetworkUnavailable"
    assert f"'{module}'" in result.explanation


def test_cannot_import_name() -> None:
    result = guide(
        py_traceback(
            "ImportError: cannot import name 'Foo' from 'collections' "
            "(/usr/local/lib/python312.zip/collections/__init__.pyc)"
        )
    )
    assert result.error_type == "ImportError"
    assert "'Foo'" in result.explanation
    assert "dir(collections)" in result.fixes[1]


def test_yaml_c_loader_points_at_the_pure_python_loader() -> None:
    result = guide(
        py_traceback(
            "ImportError: cannot import name 'CSafeLoader' from 'yaml' "
            "(/data/site-packages/yaml/__init__.py)"
        )
    )
    assert result.error_type == "ImportError"
    assert "SafeLoader" in result.fixes[0]


# ---------------------------------------------------------------------------
# Files.


@pytest.mark.parametrize(
    ("error", "app_path"),
    [
        ("FileNotFoundError: [Errno 44] No such file or directory: '/etc/passwd'", "/app/passwd"),
        (
            "FileNotFoundError: [Errno 44] No such file or directory: '/home/user/data.csv'",
            "/app/data.csv",
        ),
        ("PermissionError: [Errno 63] Operation not permitted: '/app/../etc/x'", "/app/x"),
        (
            "OSError: [Errno 69] Read-only file system: '/data/site-packages/out.txt'",
            "/app/out.txt",
        ),
        (
            "FileNotFoundError: [Errno 44] No such file or directory: "
            "'C:\\\\Users\\\\me\\\\report.txt'",
            "/app/report.txt",
        ),
        (
            'FileNotFoundError: [Errno 44] No such file or directory: "/home/me/it\'s.csv"',
            "/app/it's.csv",
        ),
    ],
)
def test_paths_outside_the_workspace(error: str, app_path: str) -> None:
    result = guide(py_traceback(error))
    assert result.error_type == "OutsideWorkspace"
    assert "only /app can be written" in result.explanation
    assert "host computer's files are not visible" in result.explanation
    assert app_path in result.fixes[0]


def test_missing_file_inside_the_workspace() -> None:
    result = guide(
        py_traceback("FileNotFoundError: [Errno 44] No such file or directory: '/app/missing.csv'")
    )
    assert result.error_type == "FileNotFoundError"
    assert "'/app/missing.csv'" in result.explanation
    assert "os.listdir('/app')" in result.fixes[0]
    assert len(result.fixes) == 2  # already absolute: no advice to make it so


def test_relative_missing_file_gets_an_absolute_path() -> None:
    result = guide(
        py_traceback("FileNotFoundError: [Errno 44] No such file or directory: 'data.csv'")
    )
    assert result.error_type == "FileNotFoundError"
    assert any("/app/data.csv" in fix for fix in result.fixes)


def test_permission_error_inside_the_workspace() -> None:
    result = guide(py_traceback("PermissionError: [Errno 2] Permission denied: '/app/out'"))
    assert result.error_type == "PermissionError"
    assert "'/app/out'" in result.explanation


@pytest.mark.parametrize(
    "error",
    [
        "PermissionError: [Errno 63] Operation not permitted: '../../x' -> '/app/s'",
        "PermissionError: [Errno 63] Operation not permitted: '/app/d/e' -> '/app/e'",
    ],
)
def test_a_refused_link_or_rename_explains_why(error: str) -> None:
    result = guide(py_traceback(error))
    assert result.error_type == "LinkOutsideWorkspace"
    assert "led out of /app" in result.explanation
    assert "relative target" in result.fixes[0]


def test_other_os_errors_inside_the_workspace_fall_back() -> None:
    result = guide(py_traceback("IsADirectoryError: [Errno 31] Is a directory: '/app/out'"))
    assert result.error_type == "GuestError"
    assert "IsADirectoryError" in result.explanation


# ---------------------------------------------------------------------------
# Network, processes, threads, input.


@pytest.mark.parametrize(
    "stderr",
    [
        py_traceback(
            "OSError: [Errno 58] Not supported",
            '  File "<code>", line 2, in <module>',
            f'  File "{LIB}/socket.py", line 233, in __init__',
        ),
        py_traceback(
            "AttributeError: module '_socket' has no attribute 'getaddrinfo'",
            '  File "<code>", line 2, in <module>',
            f'  File "{LIB}/urllib/request.py", line 215, in urlopen',
            f'  File "{LIB}/http/client.py", line 984, in connect',
            f'  File "{LIB}/socket.py", line 963, in getaddrinfo',
        ),
        py_traceback(
            "AttributeError: module 'socket' has no attribute 'gethostbyname'",
            '  File "<code>", line 2, in <module>',
        ),
        py_traceback(
            "urllib.error.URLError: <urlopen error [Errno 58] Not supported>",
            '  File "<code>", line 2, in <module>',
        ),
        py_traceback(
            "socket.gaierror: [Errno -2] Name or service not known",
            '  File "<code>", line 2, in <module>',
        ),
        py_traceback("OSError: [Errno 52] Function not implemented", '  File "<code>", line 2'),
    ],
)
def test_network_attempts(stderr: str) -> None:
    result = guide(stderr)
    assert result.error_type == "NetworkUnavailable"
    assert "no network" in result.explanation
    assert result.line == 2
    assert "/app" in result.fixes[0]


@pytest.mark.parametrize(
    "error",
    [
        "OSError: [Errno 58] wasi does not support processes.",
        "AttributeError: module 'os' has no attribute 'system'",
        "AttributeError: module 'os' has no attribute 'fork'",
        "AttributeError: module 'os' has no attribute 'execv'. Did you mean: 'execl'?",
        "AttributeError: module 'os' has no attribute 'kill'",
    ],
)
def test_process_attempts(error: str) -> None:
    result = guide(py_traceback(error))
    assert result.error_type == "ProcessesUnavailable"
    assert "no processes" in result.explanation
    assert result.example is not None


def test_threads() -> None:
    stderr = py_traceback(
        "RuntimeError: can't start new thread",
        '  File "<code>", line 2, in <module>',
        f'  File "{LIB}/threading.py", line 971, in start',
    )
    result = guide(stderr)
    assert result.error_type == "ThreadsUnavailable"
    assert result.line == 2


def test_input() -> None:
    result = guide(py_traceback("EOFError: EOF when reading a line"))
    assert result.error_type == "InputUnavailable"
    assert "input()" in result.explanation


def test_functions_missing_from_the_wasi_os_module() -> None:
    result = guide(py_traceback("AttributeError: module 'signal' has no attribute 'alarm'"))
    assert result.error_type == "UnsupportedFunction"
    assert "signal.alarm" in result.explanation


# ---------------------------------------------------------------------------
# Everyday Python exceptions.


@pytest.mark.parametrize(
    ("error", "error_type", "words"),
    [
        ("MemoryError", "MemoryError", "128 MiB"),
        ("ZeroDivisionError: division by zero", "ZeroDivisionError", "divided by zero"),
        ("TypeError: object of type 'int' has no len()", "TypeError", "has no len()"),
        ("TypeError: 'NoneType' object is not subscriptable", "TypeError", "is None"),
        ("AttributeError: 'NoneType' object has no attribute 'foo'", "AttributeError", "is None"),
        ("AttributeError: 'list' object has no attribute 'push'", "AttributeError", "'push'"),
        ("AttributeError: module 'json' has no attribute 'parse'", "AttributeError", "'json'"),
        ("KeyError: 'k'", "KeyError", "'k'"),
        ("IndexError: list index out of range", "IndexError", "out of range"),
        ("ValueError: invalid literal for int() with base 10: 'abc'", "ValueError", "'abc'"),
        ("ValueError: too many values to unpack (expected 2)", "ValueError", "unpack"),
        ("ValueError: math domain error", "ValueError", "math domain error"),
        (
            "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 0: invalid "
            "start byte",
            "UnicodeDecodeError",
            "UTF-8",
        ),
        (
            "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
            "JSONDecodeError",
            "Expecting value",
        ),
    ],
)
def test_common_exceptions(error: str, error_type: str, words: str) -> None:
    result = guide(py_traceback(error, '  File "<code>", line 9, in <module>'))
    assert result.error_type == error_type
    assert words in result.explanation
    assert result.line == 9


def test_memory_error_suggests_a_larger_limit() -> None:
    result = guide(py_traceback("MemoryError"), memory_limit_bytes=64 * MIB)
    assert "64 MiB" in result.explanation
    assert any("128 MiB" in fix for fix in result.fixes)


def test_key_error_example_uses_get() -> None:
    result = guide(py_traceback("KeyError: 'price'"))
    assert result.example is not None and ".get(" in result.example


def test_unknown_exception_is_quoted() -> None:
    result = guide(py_traceback("Boom: the widget broke", '  File "<code>", line 12, in <module>'))
    assert result.error_type == "GuestError"
    assert "Boom: the widget broke" in result.explanation
    assert result.line == 12
    assert "line 12" in result.fixes[0]


# ---------------------------------------------------------------------------
# Exits without an error.


def test_non_zero_exit_without_output() -> None:
    result = guide("", exit_code=3)
    assert result.error_type == "NonZeroExit"
    assert "status 3" in result.explanation
    assert "sys.exit()" in result.fixes[1]
    assert result.line is None


def test_system_exit_with_a_message() -> None:
    result = guide("bye\n", exit_code=1)
    assert result.error_type == "NonZeroExit"
    assert "bye" in result.explanation


def test_failure_without_any_message() -> None:
    result = guide("", exit_code=None)
    assert result.error_type == "GuestError"
    assert "without printing" in result.explanation


def test_failure_with_unrecognised_output_quotes_it() -> None:
    result = guide("something odd happened\n", exit_code=0)
    assert result.error_type == "GuestError"
    assert "something odd happened" in result.explanation


# ---------------------------------------------------------------------------
# QuickJS-NG.


def js(
    stderr: str, *, exit_code: int | None = 1, memory_limit_bytes: int = 128 * MIB
) -> ErrorGuidance:
    return guide(stderr, runtime=JS, exit_code=exit_code, memory_limit_bytes=memory_limit_bytes)


@pytest.mark.parametrize(
    "stderr",
    [
        "ReferenceError: 'undefinedFn' is not defined\n    at <eval> (<code>:1:1)\n",
        "ReferenceError: undefinedFn is not defined\n    at <eval> (<code>:1:1)\n",
    ],
)
def test_reference_error_both_quote_styles(stderr: str) -> None:
    result = js(stderr)
    assert result.error_type == "ReferenceError"
    assert "'undefinedFn'" in result.explanation
    assert result.line == 1
    assert any("live session" in fix for fix in result.fixes)


def test_js_line_is_the_innermost_code_frame() -> None:
    stderr = (
        "TypeError: cannot read property 'x' of undefined\n"
        "    at f (<code>:3:12)\n"
        "    at <eval> (<code>:5:1)\n"
    )
    result = js(stderr)
    assert result.error_type == "TypeError"
    assert result.line == 3
    assert "'x'" in result.explanation
    assert "undefined" in result.explanation
    assert any("?." in fix for fix in result.fixes)


def test_js_native_frames_are_skipped_for_the_line() -> None:
    stderr = (
        "SyntaxError: Expected property name or '}' in JSON at position 1 (line 1 column 2)\n"
        "    at <input>:1:1\n"
        "    at parse (native)\n"
        "    at <eval> (<code>:4:5)\n"
    )
    result = js(stderr)
    assert result.error_type == "JSONParseError"
    assert result.line == 4


@pytest.mark.parametrize(
    ("ident", "error_type", "words"),
    [
        ("require", "RequireUnavailable", "import * as std from 'qjs:std'"),
        ("module", "RequireUnavailable", "import * as std from 'qjs:std'"),
        ("process", "NodeApiUnavailable", "std.getenv"),
        ("Buffer", "NodeApiUnavailable", "Uint8Array"),
        ("__dirname", "NodeApiUnavailable", "scriptArgs"),
        ("fetch", "NetworkUnavailable", "/app"),
        ("XMLHttpRequest", "NetworkUnavailable", "/app"),
        ("setTimeout", "TimerUnavailable", "os.setTimeout"),
        ("setInterval", "TimerUnavailable", "os.setTimeout"),
        ("window", "BrowserApiUnavailable", "console.log"),
        ("document", "BrowserApiUnavailable", "console.log"),
        ("std", "ReferenceError", "import * as std from 'qjs:std'"),
        ("os", "ReferenceError", "import * as os from 'qjs:os'"),
    ],
)
def test_js_missing_globals(ident: str, error_type: str, words: str) -> None:
    result = js(f"ReferenceError: {ident} is not defined\n    at <eval> (<code>:2:1)\n")
    assert result.error_type == error_type
    assert words in " ".join(result.fixes)
    assert result.line == 2


def test_js_require_explains_npm() -> None:
    result = js("ReferenceError: require is not defined\n    at <eval> (<code>:1:1)\n")
    assert "npm" in result.explanation
    assert result.example is not None and "std.loadFile" in result.example


def test_js_uninitialized() -> None:
    result = js("ReferenceError: a is not initialized\n    at <eval> (<code>:1:12)\n")
    assert result.error_type == "ReferenceError"
    assert "before its let/const/class declaration" in result.explanation


@pytest.mark.parametrize(
    ("stderr", "line"),
    [
        ("SyntaxError: Unexpected token '*'\n    at <code>:1:1\n", 1),
        ("SyntaxError: Unexpected token '{'\n    at <code>:1:1\n", 1),
        ("SyntaxError: Unexpected identifier 'fs'\n    at <code>:2:1\n", 2),
        ("SyntaxError: unsupported keyword: export\n    at <code>:1:1\n", 1),
        ("SyntaxError: import.meta only valid in module code\n    at <code>:1:1\n", 1),
    ],
)
def test_js_import_in_script_mode(stderr: str, line: int) -> None:
    result = js(stderr)
    assert result.error_type == "ModuleSyntax"
    assert f"Line {line} looks like an import or export statement" in result.explanation
    assert "module" in result.fixes[0]
    assert result.line == line


def test_js_plain_syntax_error() -> None:
    result = js("SyntaxError: unexpected token in expression: ')'\n    at <code>:1:14\n")
    assert result.error_type == "SyntaxError"
    assert "unexpected token in expression: ')'" in result.explanation
    assert result.line == 1


@pytest.mark.parametrize(
    "stderr",
    [
        "InternalError: stack overflow\n    at f (<code>:2:10)\n",
        "RangeError: Maximum call stack size exceeded\n    at f (<code>:2:10)\n",
    ],
)
def test_js_recursion(stderr: str) -> None:
    result = js(stderr)
    assert result.error_type == "RecursionError"
    assert result.line == 2


def test_js_out_of_memory() -> None:
    result = js(
        "InternalError: out of memory\n    at <eval> (<code>:1:50)\n",
        memory_limit_bytes=256 * MIB,
    )
    assert result.error_type == "MemoryError"
    assert "256 MiB" in result.explanation


@pytest.mark.parametrize(
    ("stderr", "words"),
    [
        ("TypeError: not a function\n    at <eval> (<code>:1:6)\n", "isn't a function"),
        ("TypeError: 'c' is read-only\n    at <eval> (<code>:1:13)\n", "read-only"),
        (
            "TypeError: class constructors must be invoked with 'new'\n    at A (<code>:1:10)\n",
            "called like a function",
        ),
        ("TypeError: invalid object type\n    at <eval> (<code>:1:1)\n", "wrong type"),
    ],
)
def test_js_type_errors(stderr: str, words: str) -> None:
    result = js(stderr)
    assert result.error_type == "TypeError"
    assert words in result.explanation


def test_js_range_error() -> None:
    result = js(
        "RangeError: invalid array length\n    at Array (native)\n    at <eval> (<code>:1:4)\n"
    )
    assert result.error_type == "RangeError"
    assert "invalid array length" in result.explanation


def test_js_fallback_quotes_the_error() -> None:
    result = js("Error: custom boom\n    at <eval> (<code>:8:10)\n")
    assert result.error_type == "GuestError"
    assert "Error: custom boom" in result.explanation
    assert result.line == 8


def test_js_thrown_non_error_value() -> None:
    result = js("a string\n    at <eval> (<code>:1:6)\n")
    assert result.error_type == "GuestError"
    assert "a string" in result.explanation


def test_js_unhandled_rejection_prefix_is_dropped() -> None:
    result = js(
        "Possibly unhandled promise rejection: TypeError: cannot read property 'a' of null\n"
        "    at <anonymous> (<code>:3:7)\n"
    )
    assert result.error_type == "TypeError"
    assert result.line == 3


def test_js_earlier_stderr_lines_are_ignored() -> None:
    result = js(
        "debug: starting\nReferenceError: fetch is not defined\n    at <eval> (<code>:4:1)\n"
    )
    assert result.error_type == "NetworkUnavailable"
    assert result.line == 4


def test_js_non_zero_exit_names_std_exit() -> None:
    result = js("", exit_code=2)
    assert result.error_type == "NonZeroExit"
    assert "std.exit()" in result.fixes[1]


@pytest.mark.parametrize(
    "stderr",
    [
        "ReferenceError: require is not defined\n    at <eval> (<code>:1:12)\n",
        "ReferenceError: setImmediate is not defined\n    at <eval> (<code>:1:1)\n",
        "ReferenceError: std is not defined\n    at <eval> (<code>:2:1)\n",
    ],
)
def test_js_advice_names_the_modules_this_quickjs_has(stderr: str) -> None:
    # QuickJS-NG 0.15 registers its modules as qjs:std / qjs:os; 'std' and 'os'
    # alone fail to load, so guidance must never suggest them.
    guidance = analyze_error(
        runtime=RuntimeType.JAVASCRIPT,
        success=False,
        trap_kind=TrapKind.NONE,
        stderr=stderr,
        exit_code=1,
        fuel_budget=2 * 10**9,
        memory_limit_bytes=128 * 2**20,
        timeout_seconds=30,
    )
    assert guidance is not None
    text = " ".join([guidance.explanation, *guidance.fixes, guidance.example or ""])
    assert "from 'os'" not in text and "from 'std'" not in text
