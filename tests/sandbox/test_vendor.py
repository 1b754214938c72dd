# ruff: noqa: E501  (the docx parts below are long XML literals)
"""The vendored-package bundle, install_package and import guidance, in the real sandbox.

Needs PyPI once per test session: the bundle is built into this test run's cache
folder (see tests/conftest.py) by the session-scoped ``bundle`` fixture and
shared by every test here.
"""

from __future__ import annotations

import io
import os
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.sandbox import (
    ExecutionPolicy,
    NativePackageError,
    PackageError,
    PackageSpecError,
    Sandbox,
    VendorBundle,
    VendorProgress,
    WorkspaceError,
    create_sandbox,
    create_session,
    ensure_vendor_bundle,
    install_package,
    load_policy,
    load_vendor_lock,
)
from workbench.sandbox._guidance import _UNSUPPORTED_STDLIB
from workbench.sandbox._resources import data_path
from workbench.sandbox._vendor import python_guest_mounts, reset_vendor_state
from workbench.sandbox._wheels import check_pure_wheel, pypi_release, unpack_wheel

pytestmark = pytest.mark.slow

REQUIRED = {
    "openpyxl", "et-xmlfile", "xlsxwriter", "pypdf", "odfpy", "mammoth", "python-dateutil",
    "tabulate", "jinja2", "markupsafe", "markdown", "attrs", "six", "tomli", "certifi", "pytz",
    "charset-normalizer", "idna", "urllib3", "requests", "faker",
}  # fmt: skip

BIG = ExecutionPolicy(fuel_budget=20_000_000_000, timeout_seconds=120)


@pytest.fixture(scope="session")
def bundle() -> VendorBundle:
    events: list[VendorProgress] = []
    reset_vendor_state()
    built = ensure_vendor_bundle(events.append)
    assert events[-1].stage == "ready"
    # And the unpacked stdlib: the budgets below are for imports that use it.
    # (Without it they compile the stdlib from source, while it is unpacked in
    # the background: after a change to the guest files, on a warm cache.)
    python_guest_mounts(wait=True)
    return built


@pytest.fixture
def sandbox(bundle: VendorBundle, workspace_root: Path) -> Iterator[Sandbox]:
    with create_sandbox("python", policy=BIG, workspace_root=workspace_root) as sb:
        yield sb


# ---- The list and the lock


def test_lock_pins_every_listed_package_with_a_hash() -> None:
    listed = tomllib.loads((data_path("vendor") / "packages.toml").read_text("utf-8"))["packages"]
    lock = load_vendor_lock()
    locked = {p.name: p for p in lock.packages}
    assert set(listed) >= REQUIRED
    assert set(listed) == set(locked)
    for name, entry in listed.items():
        assert locked[name].version == entry["version"]
        assert len(locked[name].sha256) == 64
        assert locked[name].filename.endswith((".whl", ".tar.gz"))
        assert locked[name].top_level
    # The two documented exceptions to "pure wheel": taken from their sdists.
    assert locked["markupsafe"].source == "sdist"
    assert locked["odfpy"].source == "sdist"
    assert locked["charset-normalizer"].filename.endswith("py3-none-any.whl")


def test_bundle_is_pure_python_with_guest_bytecode(bundle: VendorBundle) -> None:
    site = bundle.site_packages
    files = [p for p in site.rglob("*") if p.is_file()]
    native = [p for p in files if p.suffix in (".so", ".pyd", ".dylib", ".dll")]
    assert native == []
    assert not list(site.rglob("_speedups*.c"))
    assert (site / "markupsafe" / "_native.py").is_file()
    pycs = [p for p in files if p.suffix == ".pyc"]
    assert pycs and all(".cpython-312." in p.name for p in pycs)
    assert (site / "openpyxl" / "__pycache__" / "__init__.cpython-312.pyc").is_file()
    assert bundle.compile_failures == ()


def test_bundle_is_reused_not_rebuilt(bundle: VendorBundle) -> None:
    events: list[VendorProgress] = []
    again = ensure_vendor_bundle(events.append)
    assert again.root == bundle.root
    assert [e.stage for e in events] == ["checking", "ready"]


# ---- Inside the sandbox

DEFAULT = load_policy("default")
IMPORTS = [
    "openpyxl", "et_xmlfile", "xlsxwriter", "pypdf", "odf.opendocument", "mammoth", "cobble",
    "dateutil.parser", "tzdata", "pytz", "tabulate", "jinja2", "markupsafe", "markdown", "attrs",
    "six", "tomli", "certifi", "charset_normalizer", "idna", "urllib3", "defusedxml",
    "requests", "faker",
]  # fmt: skip


@pytest.mark.parametrize("module", IMPORTS)
def test_each_vendored_package_imports_within_the_default_budget(
    bundle: VendorBundle, workspace_root: Path, module: str
) -> None:
    with create_sandbox("python", policy=DEFAULT, workspace_root=workspace_root) as sb:
        result = sb.execute(f"import {module}\nprint({module}.__name__)")
    assert result.success, result.stderr
    assert result.fuel_consumed < DEFAULT.fuel_budget


def test_bundle_and_stdlib_are_on_sys_path_read_only(sandbox: Sandbox) -> None:
    result = sandbox.execute(
        "import sys, json, tabulate\n"
        "print(sys.path.index('/app/site-packages') < sys.path.index('/data/site-packages')"
        " < sys.path.index('/data/stdlib') and not [p for p in sys.path if p.endswith('.zip')])\n"
        "print(tabulate.__file__)\n"
        "print(json.__file__)\n"
        "try:\n"
        "    open('/data/site-packages/evil.py', 'w')\n"
        "except OSError as e:\n"
        "    print('refused', type(e).__name__)\n"
        "try:\n"
        "    open('/data/stdlib/json/__init__.pyc', 'wb')\n"
        "except OSError as e:\n"
        "    print('refused', type(e).__name__)\n"
    )
    assert result.success, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "True"
    assert lines[1] == "/data/site-packages/tabulate/__init__.py"
    assert lines[2] == "/data/stdlib/json/__init__.pyc"
    assert lines[3].startswith("refused") and lines[4].startswith("refused")


def test_interpreter_start_up_skips_the_runtimes_zip(sandbox: Sandbox) -> None:
    # CPython's start-up imports (encodings) come from a small zip in /data/stdlib,
    # put first by PYTHONPATH; zipimport reading the runtime's big zip used to be
    # ~80 M of the ~300 M instructions of every start-up. Fuel counts are exact.
    sandbox.execute("pass")  # the pool now has instances started with the mounts
    result = sandbox.execute(
        "import encodings, os, sys\n"
        "print(encodings.__file__)\n"
        "print([k for k in os.environ if k.startswith('PYTHON')], sys.flags.safe_path)\n"
        "print('b\u00fccher'.encode('punycode'), '\u20ac'.encode('cp1252'))\n"
    )
    assert result.success, result.stderr
    assert result.stdout.splitlines() == [
        "/data/stdlib/_wb_startup.zip/encodings/__init__.pyc",
        "[] True",
        "b'bcher-kva' b'\\x80'",  # codecs beyond the start-up three still load
    ]
    # ~300 M without the start-up zip and the precompiled driver (~80 M and ~75 M).
    assert result.startup_fuel < 200_000_000, result.startup_fuel
    # An import that misses doesn't make zipimport read the big zip either.
    missing = sandbox.execute("try:\n    import no_such_module\nexcept ImportError:\n    pass")
    assert missing.success and missing.fuel_consumed < 30_000_000, missing.fuel_consumed


OPERATIONS = {
    "openpyxl": (
        "import openpyxl\n"
        "wb = openpyxl.Workbook(); ws = wb.active; ws.title = 'Data'\n"
        "ws.append(['name', 'qty']); ws.append(['apple', 3]); ws['C2'] = '=B2*2'\n"
        "wb.save('/app/out.xlsx')\n"
        "wb2 = openpyxl.load_workbook('/app/out.xlsx')\n"
        "print(wb2['Data']['A2'].value, wb2['Data']['B2'].value, wb2['Data']['C2'].value)",
        "apple 3 =B2*2",
    ),
    "xlsxwriter": (
        "import xlsxwriter, zipfile\n"
        "wb = xlsxwriter.Workbook('/app/w.xlsx'); ws = wb.add_worksheet('S')\n"
        "bold = wb.add_format({'bold': True}); ws.write('A1', 'Total', bold); ws.write('B1', 42)\n"
        "wb.close()\n"
        "names = zipfile.ZipFile('/app/w.xlsx').namelist()\n"
        "print('xl/worksheets/sheet1.xml' in names)",
        "True",
    ),
    "pypdf": (
        "from pypdf import PdfWriter, PdfReader\n"
        "w = PdfWriter(); w.add_blank_page(width=200, height=100)\n"
        "w.add_metadata({'/Title': 'Sandboxed'})\n"
        "with open('/app/p.pdf', 'wb') as f: w.write(f)\n"
        "r = PdfReader('/app/p.pdf')\n"
        "print(len(r.pages), float(r.pages[0].mediabox.width), r.metadata.title)",
        "1 200.0 Sandboxed",
    ),
    "odfpy": (
        "from odf.opendocument import OpenDocumentText, load\n"
        "from odf.text import P\n"
        "from odf import teletype\n"
        "doc = OpenDocumentText(); doc.text.addElement(P(text='Hello ODF'))\n"
        "doc.save('/app/d.odt')\n"
        "back = load('/app/d.odt')\n"
        "print(teletype.extractText(back.getElementsByType(P)[0]))",
        "Hello ODF",
    ),
    "mammoth": (
        "import zipfile, mammoth\n"
        "W = 'http://schemas.openxmlformats.org/wordprocessingml/2006/main'\n"
        "R = 'http://schemas.openxmlformats.org/package/2006/relationships'\n"
        "with zipfile.ZipFile('/app/in.docx', 'w') as z:\n"
        '    z.writestr(\'[Content_Types].xml\', \'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>\')\n'
        "    z.writestr('_rels/.rels', '<?xml version=\"1.0\"?><Relationships xmlns=\"' + R + '\">"
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>\')\n'
        "    z.writestr('word/document.xml', '<?xml version=\"1.0\"?><w:document xmlns:w=\"' + W + '\"><w:body>"
        "<w:p><w:r><w:rPr><w:b/></w:rPr><w:t>Bold words</w:t></w:r></w:p></w:body></w:document>')\n"
        "with open('/app/in.docx', 'rb') as f:\n"
        "    print(mammoth.convert_to_html(f).value)",
        "<p><strong>Bold words</strong></p>",
    ),
    "python-dateutil": (
        "from dateutil import parser\n"
        "from dateutil.relativedelta import relativedelta\n"
        "d = parser.parse('March 3rd, 2024 5:30pm')\n"
        "print(d.isoformat(), (d + relativedelta(months=+1, day=31)).date())",
        "2024-03-03T17:30:00 2024-04-30",
    ),
    "tzdata": (
        "import zoneinfo, datetime\n"
        "t = datetime.datetime(2024, 7, 1, 12, tzinfo=zoneinfo.ZoneInfo('Europe/Paris'))\n"
        "print(t.utcoffset())",
        "2:00:00",
    ),
    "tabulate": (
        "from tabulate import tabulate\n"
        "print(tabulate([['apple', 3], ['pear', 10]], headers=['fruit', 'qty'], tablefmt='github'))",
        "| apple   |     3 |",
    ),
    "jinja2": (
        "import jinja2, markupsafe\n"
        "env = jinja2.Environment(autoescape=True)\n"
        "t = env.from_string('<ul>{% for x in items %}<li>{{ x }}</li>{% endfor %}</ul>')\n"
        "print(t.render(items=['a', '<b>']))\n"
        "print(markupsafe._escape_inner.__module__)",
        "<ul><li>a</li><li>&lt;b&gt;</li></ul>\nmarkupsafe._native",
    ),
    "markdown": (
        "import markdown\nprint(markdown.markdown('# Title\\n\\nSome *text*.'))",
        "<h1>Title</h1>\n<p>Some <em>text</em>.</p>",
    ),
    "attrs": (
        "import attrs\n"
        "@attrs.define\nclass Point:\n    x: int\n    y: int = 0\n"
        "print(attrs.asdict(Point(1)))",
        "{'x': 1, 'y': 0}",
    ),
    "six": ("import six\nprint(six.PY3, six.text_type is str)", "True True"),
    "tomli": (
        "import tomli\nprint(tomli.loads('a = 1\\n[t]\\nb = \"x\"'))",
        "{'a': 1, 't': {'b': 'x'}}",
    ),
    "certifi": (
        "import certifi\nwith open(certifi.where()) as f:\n"
        "    print('BEGIN CERTIFICATE' in f.read())",
        "True",
    ),
    "charset-normalizer": (
        "from charset_normalizer import from_bytes\n"
        "text = 'Le café déjà vu à côté, voilà où nous étions hier soir. ' * 4\n"
        "best = from_bytes(text.encode('utf-8')).best()\n"
        "print(best.encoding, str(best) == text)",
        "utf_8 True",
    ),
    "idna": ("import idna\nprint(idna.encode('bücher.example').decode())", "xn--bcher-kva.example"),
    "urllib3": (
        "import urllib3\nu = urllib3.util.parse_url('https://user@example.com:8443/p?q=1')\n"
        "print(u.host, u.port, u.path)",
        "example.com 8443 /p",
    ),
    "requests": (
        # No network in the sandbox: building a request (and mocking a call) works.
        "import requests\nfrom unittest import mock\n"
        "req = requests.Request('GET', 'https://example.com/a', params={'q': 1}).prepare()\n"
        "with mock.patch('requests.get') as get:\n"
        "    get.return_value.status_code = 200\n"
        "    print(req.url, requests.get(req.url).status_code)",
        "https://example.com/a?q=1 200",
    ),
    "faker": (
        "from faker import Faker\nfake = Faker()\nFaker.seed(0)\na = fake.name()\n"
        "Faker.seed(0)\nprint(a == fake.name(), bool(fake.job()))",
        "True True",
    ),
    "defusedxml": (
        "import defusedxml.ElementTree as ET\n"
        "print(ET.fromstring('<a><b>1</b></a>').find('b').text)\n"
        'bomb = \'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><x>&b;</x>\'\n'
        "try:\n    ET.fromstring(bomb)\nexcept Exception as e:\n    print(type(e).__name__)",
        "1\nEntitiesForbidden",
    ),
}


@pytest.mark.parametrize("package", sorted(OPERATIONS))
def test_each_vendored_package_does_real_work_in_the_sandbox(
    sandbox: Sandbox, package: str
) -> None:
    code, expected = OPERATIONS[package]
    result = sandbox.execute(code)
    assert result.success, result.stderr
    assert expected in result.stdout


# ---- Native code is refused


def _wheel_bytes(name: str, members: dict[str, bytes]) -> zipfile.ZipFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    buffer.seek(0)
    return zipfile.ZipFile(buffer)


def test_a_real_native_wheel_from_pypi_is_refused(tmp_path: Path) -> None:
    from workbench.sandbox._wheels import download

    release = pypi_release("markupsafe", "3.0.2")
    native = next(f for f in release.files if "manylinux" in f.filename and "cp312" in f.filename)
    path = download(native.url, native.sha256, tmp_path, native.filename)
    with zipfile.ZipFile(path) as archive, pytest.raises(NativePackageError, match="native"):
        check_pure_wheel(native.filename, archive)


def test_a_wheel_named_pure_but_holding_a_library_is_refused() -> None:
    archive = _wheel_bytes(
        "x", {"x/__init__.py": b"", "x/_fast.cpython-312-x86_64-linux-gnu.so": b"\x7fELF"}
    )
    with pytest.raises(NativePackageError, match=r"_fast\.cpython"):
        check_pure_wheel("x-1.0-py3-none-any.whl", archive)
    root_is_platlib = _wheel_bytes(
        "y", {"y/__init__.py": b"", "y-1.0.dist-info/WHEEL": b"Root-Is-Purelib: false\n"}
    )
    with pytest.raises(NativePackageError, match="Root-Is-Purelib"):
        check_pure_wheel("y-1.0-py3-none-any.whl", root_is_platlib)


@pytest.mark.parametrize(
    "member", ["../evil.py", "/etc/evil.py", "a/../../evil.py", "C:/evil.py", "a\\..\\evil.py"]
)
def test_unsafe_archive_members_are_refused(tmp_path: Path, member: str) -> None:
    archive = _wheel_bytes("z", {member: b"x = 1"})
    with pytest.raises(PackageError, match="unsafe"):
        unpack_wheel(archive, tmp_path / "out")
    assert not (tmp_path / "evil.py").exists()


# ---- install_package


@pytest.fixture
def session_pair(bundle: VendorBundle, workspace_root: Path) -> Iterator[tuple[object, object]]:
    one = create_session(runtime="python", workspace_root=workspace_root)
    two = create_session(runtime="python", workspace_root=workspace_root)
    yield one, two
    one.close()
    two.close()


def test_install_into_a_live_session_and_only_that_session(
    session_pair: tuple[object, object],
) -> None:
    one, two = session_pair
    before = one.execute("import sys\nprint(len(sys.path))")  # type: ignore[attr-defined]
    assert before.success
    result = install_package(one, "humanize==4.9.0")  # type: ignore[arg-type]
    assert [(p.name, p.version) for p in result.installed] == [("humanize", "4.9.0")]
    assert result.installed[0].installed_bytes > 0 and result.total_bytes > 0
    assert result.target == "/app/site-packages"
    # The running interpreter sees it without a restart.
    used = one.execute("import humanize\nprint(humanize.naturalsize(3_000_000), humanize.__file__)")  # type: ignore[attr-defined]
    assert used.success, used.stderr
    assert "3.0 MB /app/site-packages/humanize/__init__.py" in used.stdout
    assert not used.state_lost
    other = two.execute("import humanize")  # type: ignore[attr-defined]
    assert not other.success
    assert "ModuleNotFoundError" in other.stderr


def test_install_resolves_dependencies_and_reuses_vendored_ones(
    session_pair: tuple[object, object],
) -> None:
    one, _ = session_pair
    result = install_package(one, "requests==2.32.3")  # type: ignore[arg-type]
    assert [p.name for p in result.installed] == ["requests"]
    assert any(item.startswith("urllib3 2.8.0 (vendored)") for item in result.already_satisfied)
    assert any(item.startswith("idna") for item in result.already_satisfied)
    used = one.execute("import requests\nprint(requests.__version__)")  # type: ignore[attr-defined]
    assert used.stdout.strip() == "2.32.3", used.stderr
    again = install_package(one, "requests==2.32.3")  # type: ignore[arg-type]
    assert again.installed == []
    assert "requests 2.32.3 (installed in this session)" in again.already_satisfied


def test_install_refuses_native_packages_with_an_alternative(
    session_pair: tuple[object, object],
) -> None:
    one, _ = session_pair
    with pytest.raises(NativePackageError, match="native") as info:
        install_package(one, "markupsafe==3.0.2")  # type: ignore[arg-type]
    assert "vendored markupsafe" in str(info.value)
    with pytest.raises(NativePackageError, match="csv"):
        install_package(one, "pandas==2.2.3")  # type: ignore[arg-type]
    assert not (one.workspace / "site-packages").exists()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "https://example.com/x-1.0-py3-none-any.whl",
        "x @ https://example.com/x.whl",
        "../x",
        "/tmp/x.whl",
        "./x",
        "-r requirements.txt",
        "--index-url=https://evil",
        "foo>=1.0",
        "foo==1.0; python_version > '3'",
        "foo == 1.0",
        "foo==1.0\nbar",
        "foo==not a version",
        "a" * 300,
        "foo==1.0 --extra-index-url x",
        "foo[../x]==1",
    ],
)
def test_bad_specs_are_refused_before_anything_happens(
    session_pair: tuple[object, object], spec: str
) -> None:
    one, _ = session_pair
    with pytest.raises(PackageSpecError):
        install_package(one, spec)  # type: ignore[arg-type]
    assert not (one.workspace / "site-packages").exists()  # type: ignore[attr-defined]


def test_non_string_specs_are_refused(session_pair: tuple[object, object]) -> None:
    one, _ = session_pair
    for spec in (None, 3, b"tabulate", ["tabulate"]):
        with pytest.raises(PackageSpecError, match="string"):
            install_package(one, spec)  # type: ignore[arg-type]


def test_install_refuses_a_symlinked_site_packages(
    session_pair: tuple[object, object], tmp_path: Path
) -> None:
    one, _ = session_pair
    outside = tmp_path / "outside"
    outside.mkdir()
    link = one.workspace / "site-packages"  # type: ignore[attr-defined]
    try:
        link.symlink_to(outside, target_is_directory=True)
    except OSError:
        pytest.skip("symbolic links are not available here")
    with pytest.raises(WorkspaceError, match="symbolic"):
        install_package(one, "humanize==4.9.0")  # type: ignore[arg-type]
    assert list(outside.iterdir()) == []


def test_install_refuses_javascript_sessions(bundle: VendorBundle, workspace_root: Path) -> None:
    session = create_session(runtime="javascript", workspace_root=workspace_root)
    try:
        with pytest.raises(PackageError, match="Python sessions only"):
            install_package(session, "humanize")  # type: ignore[arg-type]
    finally:
        session.close()


# ---- Import guidance against the real runtime


@pytest.mark.parametrize(
    ("code", "error_type", "words"),
    [
        ("import numpy", "ModuleInScientificRuntime", "python-sci"),
        ("import pandas as pd", "ModuleInScientificRuntime", "python-sci"),
        ("import cv2", "NativePackageUnavailable", "native"),
        ("import sympy", "InstallablePackage", "install_package(session"),
        ("import multiprocessing", "UnsupportedStdlibModule", "no processes"),
        ("import ssl", "UnsupportedStdlibModule", "network"),
        ("import yaml", "MissingModule", "PyYAML"),
        ("import openpyxl.nonexistent", "VendoredModuleNotFound", "no submodule"),
    ],
)
def test_missing_module_guidance_in_the_sandbox(
    sandbox: Sandbox, code: str, error_type: str, words: str
) -> None:
    result = sandbox.execute(code)
    assert not result.success
    assert result.error_guidance is not None
    assert result.error_guidance.error_type == error_type
    text = result.error_guidance.explanation + " ".join(result.error_guidance.fixes)
    assert words in text


def test_stdlib_modules_called_missing_really_are(sandbox: Sandbox) -> None:
    names = sorted(_UNSUPPORTED_STDLIB)
    code = (
        "import importlib\n"
        f"for name in {names!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "        print('IMPORTED', name)\n"
        "    except ImportError:\n"
        "        pass\n"
        "import sqlite3, socket\n"
        "print(sqlite3.connect(':memory:').execute('select 1 + 1').fetchone()[0])\n"
    )
    result = sandbox.execute(code)
    assert result.success, result.stderr
    assert result.stdout.strip() == "2"  # nothing listed as missing imports


def test_without_the_bundle_python_runs_and_vendored_imports_explain_the_fix(
    bundle: VendorBundle, workspace_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WASM_WORKBENCH_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("WASM_WORKBENCH_VENDOR", "off")
    reset_vendor_state()
    try:
        with create_sandbox("python", policy=BIG, workspace_root=workspace_root) as sb:
            plain = sb.execute("print(6 * 7)")
            vendored = sb.execute("import tabulate")
    finally:
        monkeypatch.undo()
        reset_vendor_state()
    assert plain.success and plain.stdout == "42\n"
    assert not vendored.success
    guidance = vendored.error_guidance
    assert guidance is not None
    assert guidance.error_type == "VendoredPackagesUnavailable"
    assert "wasm-workbench vendor build" in guidance.fixes[0]
    assert os.environ.get("WASM_WORKBENCH_VENDOR") != "off"


_BACKGROUND_BUILD = """
from workbench.sandbox import _vendor, create_sandbox, create_session
from workbench.sandbox._vendor import bundle_building, guest_mounts_generation, python_guest_mounts

assert python_guest_mounts(wait=False) == []  # nothing built in this cache yet
assert bundle_building()
with create_session(runtime="python") as session:
    first = session.execute("kept = 41\\nimport sys\\nprint('/data/site-packages' in sys.path)")
    print("first", first.success)  # ran at once, without waiting for the build
    _vendor._background.join(600)
    print("generation", guest_mounts_generation())
    # The running interpreter is not restarted for the new mounts...
    print("kept", session.execute("print(kept + 1)").stdout.strip())
    # ...the next one gets them.
    session.reset()
    print("session", session.execute("import tabulate; print('ok')").stdout.strip())
with create_sandbox("python") as sandbox:
    print("fresh", sandbox.execute("import tabulate; print('ok')").stdout.strip())
"""


@pytest.mark.slow
def test_first_use_builds_in_the_background_and_later_instances_get_the_mounts(
    bundle: VendorBundle, tmp_path: Path
) -> None:
    import shutil
    import subprocess
    import sys

    from workbench.sandbox import cache_dir

    cache = tmp_path / "cache"
    shutil.copytree(cache_dir() / "modules", cache / "modules")  # no runtime compile
    proc = subprocess.run(
        [sys.executable, "-c", _BACKGROUND_BUILD],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={
            **os.environ,
            "WASM_WORKBENCH_CACHE_DIR": str(cache),
            "WASM_WORKBENCH_DATA_DIR": str(tmp_path / "data"),
        },
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == [
        "first True",
        "generation 1",
        "kept 42",
        "session ok",
        "fresh ok",
    ], proc.stderr[-3000:]


def test_a_built_bundle_is_mounted_while_the_stdlib_builds_again(
    bundle: VendorBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After an upgrade that changes the stdlib's key, the stdlib is unpacked again
    # in the background; fresh runs meanwhile still get the bundle already on disk.
    from workbench.sandbox import _vendor

    monkeypatch.setattr(_vendor, "_stdlib_path", None)
    monkeypatch.setattr(_vendor, "_auto_bundle", None)
    mounts = _vendor._partial_mounts()
    assert mounts == [(str(bundle.site_packages), _vendor.BUNDLE_GUEST_PATH)]


FAILING = "def f():\n    return 1 / 0\nprint('before')\nf()\n"


def test_without_the_unpacked_stdlib_the_driver_runs_from_source(
    workspace_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # If the stdlib can't be unpacked, the interpreter starts the old way (the
    # driver's source with -c): the same behaviour, only slower to start.
    with create_sandbox("python", policy=DEFAULT, workspace_root=workspace_root, warm=False) as sb:
        fast = sb.execute(FAILING)
    monkeypatch.setattr("workbench.sandbox._sandbox.python_guest_mounts", lambda wait=False: [])
    with create_sandbox("python", policy=DEFAULT, workspace_root=workspace_root, warm=False) as sb:
        slow = sb.execute(FAILING)
        paths = sb.execute("import sys\nprint([p for p in sys.path if p.startswith('/data')])")
    assert (fast.stdout, fast.stderr, fast.exit_code) == (slow.stdout, slow.stderr, slow.exit_code)
    assert slow.stdout == "before\n" and "ZeroDivisionError" in slow.stderr
    assert 'File "<code>", line 2, in f' in slow.stderr
    assert paths.stdout == "['/data/lib/python']\n"
    assert slow.startup_fuel > fast.startup_fuel + 100_000_000
