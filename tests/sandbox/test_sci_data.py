"""python-sci sessions: live data in the variables listing, installs and vendored packages.

One live python-sci session (pandas imported once: seconds of CPU) is shared by
the tests of this module; each test works with its own names. The bundle of
vendored packages for python-sci is built once per test run (PyPI the first
time, like the small runtime's bundle in test_vendor.py); install_package uses
humanize 4.9.0, the wheel the small runtime's install tests use.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.sandbox import (
    ExecutionPolicy,
    NativePackageError,
    PackageError,
    RuntimeType,
    SandboxEngine,
    Session,
    TrapKind,
    VariableInfo,
    VendorBundle,
    analyze_error,
    create_sandbox,
    create_session,
    install_package,
)
from workbench.sandbox._vendor import (
    BundleImportNames,
    ensure_sci_vendor_bundle,
    reset_sci_vendor_state,
    sci_bundle_packages,
    sci_vendored_import_names,
)

pytestmark = pytest.mark.slow

#: numpy and pandas imported in the turn itself, seaborn drawing: tens of B fuel,
#: and room for scipy's OpenBLAS buffers.
HEAVY = ExecutionPolicy().with_updates(
    fuel_budget=100_000_000_000, timeout_seconds=600, memory_bytes=768 * 1024 * 1024
)


@pytest.fixture(scope="module")
def sci_bundle(sci_engine: SandboxEngine) -> VendorBundle:
    bundle = ensure_sci_vendor_bundle()
    reset_sci_vendor_state()  # instances started from now on mount it
    return bundle


@pytest.fixture(scope="module")
def session(
    sci_bundle: VendorBundle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Session]:
    root = tmp_path_factory.mktemp("sci-sessions")
    with create_session(runtime=RuntimeType.PYTHON_SCI, workspace_root=root, policy=HEAVY) as s:
        result = s.execute("import numpy as np\nimport pandas as pd")
        assert result.success, result.stderr
        yield s


def by_name(rows: list[VariableInfo]) -> dict[str, VariableInfo]:
    return {row.name: row for row in rows}


def test_dataframes_series_and_arrays_show_shape_dtypes_and_first_rows(session: Session) -> None:
    code = textwrap.dedent(
        """
        df = pd.DataFrame({
            "city": ["Lyon", "Oslo", "Lima", "Pune", "Kobe", "Cork"],
            "temp": [12.5, -3.25, 19.0, 31.0, 16.5, 9.75],
            "rank": [3, 1, 2, 6, 5, 4],
            "day": pd.to_datetime(["2024-01-0%d" % i for i in range(1, 7)]),
        })
        temps = df["temp"]
        grid = np.arange(12).reshape(3, 4)
        vec = np.linspace(0, 1, 50)
        """
    )
    assert session.execute(code).success
    rows = by_name(session.variables())
    df = rows["df"]
    assert df.type == "pandas.DataFrame" and df.size == 6 and df.shape == (6, 4)
    assert df.dtype == "str, float64, int64, datetime64[us]"
    assert df.columns == "city: str, temp: float64, rank: int64, day: datetime64[us]"
    assert df.preview == "city, temp, rank, day"
    assert df.head.splitlines() == [
        "   city   temp  rank         day",
        "0  Lyon   12.5     3  2024-01-01",
        "1  Oslo  -3.25     1  2024-01-02",
        "2  Lima     19     2  2024-01-03",
        "3  Pune     31     6  2024-01-04",
        "4  Kobe   16.5     5  2024-01-05",
    ]  # the first five rows
    assert df.shape_text() == "6 \u00d7 4 \u00b7 str, float64, int64, datetime64[us]"
    temps = rows["temps"]
    assert (temps.type, temps.shape, temps.dtype) == ("pandas.Series", (6,), "float64")
    assert temps.preview == "[12.5, -3.25, 19, 31, 16.5, 9.75]"
    assert temps.head.splitlines()[:3] == ["    temp", "0   12.5", "1  -3.25"]
    grid = rows["grid"]
    assert (grid.shape, grid.dtype, grid.size) == ((3, 4), "int32", 3)  # wasm32: 32-bit ints
    assert grid.head.splitlines() == [
        "   0  1   2   3",
        "0  0  1   2   3",
        "1  4  5   6   7",
        "2  8  9  10  11",
    ]
    vec = rows["vec"]
    assert vec.shape == (50,) and vec.preview.startswith("[0, 0.0204082, 0.0408163")
    assert vec.preview.endswith("\u2026") and len(vec.preview) <= 120
    assert len(vec.head.splitlines()) == 5
    # A long frame costs the listing its first rows only: the RangeIndex isn't
    # turned into an array (pandas would keep that array in the index's cache).
    assert session.execute("big = pd.DataFrame({'x': np.zeros(3_000_000, np.int8)})").success
    assert by_name(session.variables())["big"].shape == (3_000_000, 1)
    cached = session.execute(
        "print('_data' in big.index._cache)\nbig.index._values\nprint('_data' in big.index._cache)"
    )
    assert cached.stdout == "False\nTrue\n", cached.stderr
    # Consoles' inspection (Shift+Tab) shows the same.
    inspected = session.introspect("inspect", {"name": "df"})
    assert inspected is not None and inspected["found"]
    assert "Shape: 6 x 4  dtype: str, float64" in inspected["text"]
    assert "0  Lyon   12.5" in inspected["text"]
    # Plain values keep the builtin previews, with no shape.
    assert session.execute("n = 3").success
    n = by_name(session.variables())["n"]
    assert (n.preview, n.shape, n.dtype, n.head) == ("3", None, "", "")


def test_the_listing_runs_no_user_code_on_lookalikes_subclasses_or_cells(
    session: Session,
) -> None:
    code = textwrap.dedent(
        """
        armed = []  # the hooks mark only once the set-up below is done

        def mark(name):
            if armed:
                open("/app/" + name, "w").close()

        class Hostile:
            def __repr__(self):
                mark("cell-repr-ran")
                return "H"
            __str__ = __repr__
            def __deepcopy__(self, memo):
                mark("attrs-copied")
                return self

        class MyFrame(pd.DataFrame):
            def __repr__(self):
                mark("subclass-repr-ran")
                return "F"
            def _get_column_array(self, i):
                mark("subclass-method-ran")
                return super()._get_column_array(i)

        class MyArray(np.ndarray):
            def __array_finalize__(self, obj):
                mark("array-finalize-ran")

        class DataFrame:  # a lookalike with pandas' names
            __module__ = "pandas"
            @property
            def shape(self):
                mark("lookalike-shape-ran")
                return (1, 1)
            def __len__(self):
                mark("lookalike-len-ran")
                return 1

        class Meta(type):  # comparing or hashing these classes runs user code
            def __eq__(cls, other):
                mark("metaclass-eq-ran")
                return type.__eq__(cls, other)
            def __hash__(cls):
                mark("metaclass-hash-ran")
                return type.__hash__(cls)

        class Odd(metaclass=Meta):
            pass

        odd = Odd()
        sub = MyFrame({"a": [1, 2]})
        arr_sub = np.arange(6).view(MyArray)
        fake = DataFrame()
        cells = pd.DataFrame({Hostile(): [Hostile(), Hostile()], "ok": [1, 2], "odd": [odd, odd]})
        cells.attrs["meta"] = Hostile()
        hostile_index = pd.Series([1, 2], index=[Hostile(), Hostile()])
        armed.append(True)
        """
    )
    result = session.execute(code)
    assert result.success, result.stderr
    rows = by_name(session.variables())
    assert rows["sub"].shape is None and rows["sub"].preview == "<MyFrame>"
    assert rows["arr_sub"].shape is None and rows["arr_sub"].preview == "<MyArray>"
    assert rows["fake"].shape is None and rows["fake"].preview == "<pandas.DataFrame>"
    cells = rows["cells"]
    assert cells.shape == (2, 3)
    assert cells.columns == "<Hostile>: object, ok: int64, odd: object"
    assert rows["odd"].preview == "<Odd>" and "<Odd>" in cells.head
    assert "<Hostile>" in cells.head and "H" not in cells.head.replace("<Hostile>", "")
    assert rows["hostile_index"].head.splitlines()[0].startswith("<Hostile>")
    assert sorted(session.workspace.glob("*-ran")) == []
    assert not (session.workspace / "attrs-copied").exists()
    # The values are intact and the hooks still work when the user's code runs them.
    check = session.execute("import os\nrepr(sub)\nprint(len(cells), sorted(os.listdir('/app')))")
    assert "subclass-repr-ran" in check.stdout


def test_install_package_in_a_python_sci_session(session: Session) -> None:
    result = install_package(session, "humanize==4.9.0")
    assert [(p.name, p.version) for p in result.installed] == [("humanize", "4.9.0")]
    assert result.compile_failures == []
    # Compiled by python-sci's own CPython 3.15, so its imports skip compiling.
    compiled = list((session.workspace / "site-packages" / "humanize").glob("__pycache__/*.pyc"))
    assert compiled and all(".cpython-315." in path.name for path in compiled)
    used = session.execute(
        "import humanize\nprint(humanize.naturalsize(3_000_000), humanize.__file__)"
    )
    assert used.success, used.stderr
    assert used.stdout == "3.0 MB /app/site-packages/humanize/__init__.py\n"
    assert used.files_created == []  # no bytecode written at import


def test_install_package_says_what_python_sci_already_has_and_refuses_native_code(
    session: Session,
) -> None:
    built_in = install_package(session, "pandas")
    assert built_in.installed == []
    assert built_in.already_satisfied == ["pandas 3.0.6 (built into python-sci)"]
    assert "already available" in built_in.summary()
    vendored = install_package(session, "pytz")
    assert vendored.installed == [] and vendored.already_satisfied[0].endswith("(vendored)")
    with pytest.raises(PackageError, match="built into python-sci"):
        install_package(session, "pandas==2.2.3")
    with pytest.raises(NativePackageError, match="native") as info:
        install_package(session, "pyarrow==18.0.0")
    assert "read_csv" in str(info.value)
    assert not (session.workspace / "site-packages" / "pyarrow").exists()


def test_vendored_packages_and_seaborn_in_a_fresh_run(
    sci_bundle: VendorBundle, workspace_root: Path
) -> None:
    names = {package.name for package in sci_bundle_packages()}
    assert {"pytz", "odfpy", "markdown", "requests", "faker"} <= names
    assert not names & {"openpyxl", "tabulate", "jinja2"}  # the zip has them
    code = textwrap.dedent(
        """
        import markdown, pytz, seaborn
        import pandas as pd
        data = pd.DataFrame({"x": [1, 2, 2, 3, 3, 3, 4, 4, 5]})
        ax = seaborn.histplot(data=data, x="x", bins=5)
        print(len(ax.patches), pytz.__file__, markdown.markdown("*ok*"))
        print(pytz.timezone("Asia/Tokyo").zone, seaborn.__version__)
        """
    )
    with create_sandbox(RuntimeType.PYTHON_SCI, workspace_root=workspace_root, warm=False) as sb:
        result = sb.execute(code, policy=HEAVY)
    assert result.success, result.stderr
    assert result.stdout.splitlines() == [
        "5 /data/site-packages/pytz/__init__.py <p><em>ok</em></p>",
        "Asia/Tokyo 0.13.2",
    ]
    assert len(result.figures) == 1 and result.figures[0].data.startswith(b"\x89PNG")


def test_sessions_get_the_same_vendored_packages(session: Session) -> None:
    result = session.execute("import pytz\nprint(pytz.__file__)")
    assert result.stdout == "/data/site-packages/pytz/__init__.py\n", result.stderr


def test_the_command_line_builds_the_python_sci_bundle(sci_bundle: VendorBundle) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "vendor", "build", "--runtime", "python-sci"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert f"Vendored packages ready in {sci_bundle.site_packages}" in done.stdout


def test_guidance_knows_python_sci_s_own_bundle(sci_bundle: VendorBundle) -> None:
    names = sci_vendored_import_names()
    assert {"pytz", "odf", "markdown"} <= names and "openpyxl" not in names
    stderr = (
        'Traceback (most recent call last):\n  File "<code>", line 1, in <module>\n'
        "ModuleNotFoundError: No module named 'pytz'\n"
    )

    def explain(vendored: BundleImportNames) -> tuple[str, list[str]]:
        guidance = analyze_error(
            runtime=RuntimeType.PYTHON_SCI,
            success=False,
            trap_kind=TrapKind.NONE,
            stderr=stderr,
            exit_code=1,
            fuel_budget=10**9,
            memory_limit_bytes=2**28,
            timeout_seconds=30,
            vendored_modules=vendored,
        )
        assert guidance is not None
        return guidance.error_type, guidance.fixes

    # Built: the import should have worked (a path or spelling problem).
    assert explain(names)[0] == "VendoredModuleNotFound"
    # Not built (offline, say): python-sci's own build command is named.
    unbuilt = BundleImportNames(names)
    unbuilt.status = lambda: ("missing", "")
    unbuilt.build_command = names.build_command
    error_type, fixes = explain(unbuilt)
    assert error_type == "VendoredPackagesUnavailable"
    assert "wasm-workbench vendor build --runtime python-sci" in fixes[0]
