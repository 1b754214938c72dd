"""The guest helper libraries (sandbox_utils for Python and JavaScript), in the real sandbox.

Every helper runs inside the guest; every way out of /app is tried (``..``,
absolute paths, /data/lib, symbolic links made by the guest and planted on the
host) and must be refused; the /data/lib mount is read-only and reserved.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from workbench.sandbox import (
    ExecutionPolicy,
    Mount,
    RuntimeType,
    Sandbox,
    SandboxEngine,
    SandboxResult,
    create_sandbox,
    create_session,
)
from workbench.sandbox._instance import InstanceShape, guest_lib_dir
from workbench.sandbox._resources import data_path
from workbench.sandbox._runtimes import new_instance
from workbench.sandbox._sandbox import turn_request
from workbench.sandbox._workspace import scan

SECRET = "canary-guestlib-5d1e-do-not-leak"
#: Generous: the first use of a helper compiles its submodule from source.
BIG = ExecutionPolicy(fuel_budget=50_000_000_000, timeout_seconds=120)


@pytest.fixture
def canary(workspace_root: Path) -> Path:
    path = workspace_root.parent / "canary.txt"
    path.write_text(SECRET)
    return path


@pytest.fixture
def py(engine: SandboxEngine, workspace_root: Path) -> Iterator[Sandbox]:
    sb = create_sandbox(RuntimeType.PYTHON, policy=BIG, workspace_root=workspace_root)
    yield sb
    sb.close()


@pytest.fixture
def js(engine: SandboxEngine, workspace_root: Path) -> Iterator[Sandbox]:
    sb = create_sandbox(RuntimeType.JAVASCRIPT, policy=BIG, workspace_root=workspace_root)
    yield sb
    sb.close()


def ok(result: SandboxResult) -> str:
    assert result.success, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert SECRET not in result.stdout + result.stderr
    return result.stdout


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


# ---- The mount and the reservation


def test_guest_lib_is_the_vendor_folder() -> None:
    assert Path(guest_lib_dir()) == (data_path("vendor") / "guest").resolve()
    assert (Path(guest_lib_dir()) / "python" / "sandbox_utils" / "__init__.py").is_file()
    assert (Path(guest_lib_dir()) / "js" / "sandbox_utils.js").is_file()


@pytest.mark.parametrize("guest_path", ["/data/lib", "/data/lib/python", "/data/lib/js/x"])
def test_a_mount_cannot_claim_data_lib(guest_path: str) -> None:
    with pytest.raises(ValidationError, match="overlaps /data/lib"):
        Mount(host_path="/tmp", guest_path=guest_path)
    with pytest.raises(ValidationError, match="reserved"):
        ExecutionPolicy(mounts=[{"host_path": "/tmp", "guest_path": guest_path}])


def test_a_mount_beside_data_lib_is_fine() -> None:
    assert Mount(host_path="/tmp", guest_path="/data/library").guest_path == "/data/library"


@pytest.mark.parametrize("runtime", [RuntimeType.PYTHON, RuntimeType.JAVASCRIPT])
def test_data_lib_is_read_only(
    engine: SandboxEngine, workspace_root: Path, runtime: RuntimeType
) -> None:
    before = tree_digest(Path(guest_lib_dir()))
    sb = create_sandbox(runtime, policy=BIG, workspace_root=workspace_root)
    if runtime is RuntimeType.PYTHON:
        code = """
import os
attempts = [
    lambda: open("/data/lib/python/new.py", "w").write("x"),
    lambda: open("/data/lib/python/sandbox_utils/__init__.py", "a").write("x"),
    lambda: open("/data/lib/python/sandbox_utils/__init__.py", "r+").write("x"),
    lambda: os.remove("/data/lib/python/sandbox_utils/_fs.py"),
    lambda: os.rename("/data/lib/js/sandbox_utils.js", "/data/lib/js/moved.js"),
    lambda: os.mkdir("/data/lib/python/sandbox_utils/__pycache__"),
    lambda: os.rmdir("/data/lib/js"),
    lambda: os.symlink("/app", "/data/lib/python/app"),
    lambda: os.utime("/data/lib/js/sandbox_utils.js"),
]
for attempt in attempts:
    try:
        attempt()
        print("WROTE")
    except OSError:
        print("DENIED")
import sandbox_utils
print("IMPORTED", sandbox_utils.__file__)
"""
        count = 9
    else:
        code = """
const denied = (ok) => console.log(ok ? "WROTE" : "DENIED");
denied(std.open("/data/lib/js/new.js", "w") !== null);
denied(std.open("/data/lib/js/sandbox_utils.js", "a") !== null);
denied(std.open("/data/lib/js/sandbox_utils.js", "r+") !== null);
denied(os.remove("/data/lib/js/sandbox_utils.js") === 0);
denied(os.rename("/data/lib/js/module.js", "/data/lib/js/moved.js") === 0);
denied(os.mkdir("/data/lib/js/sub") === 0);
denied(os.remove("/data/lib/python") === 0);
denied(os.utimes("/data/lib/js/sandbox_utils.js", 0, 0) === 0);
console.log("IMPORTED", typeof sandbox_utils.ls);
"""
        count = 8
    out = ok(sb.execute(code))
    assert "WROTE" not in out
    assert out.count("DENIED") == count
    assert "IMPORTED" in out
    sb.close()
    assert tree_digest(Path(guest_lib_dir())) == before


def test_every_instance_kind_sees_data_lib(engine: SandboxEngine, workspace_root: Path) -> None:
    probe = {
        RuntimeType.PYTHON: "import os; print(sorted(os.listdir('/data/lib')))",
        RuntimeType.JAVASCRIPT: "console.log(JSON.stringify(os.readdir('/data/lib')[0]"
        ".filter((n) => !n.startsWith('.')).sort()))",
    }
    for runtime, code in probe.items():
        sb = create_sandbox(runtime, workspace_root=workspace_root)
        assert json.loads(ok(sb.execute(code)).replace("'", '"')) == ["js", "python"]
        sb.close()
        session = create_session(runtime, workspace_root=workspace_root)
        try:
            out = ok(session.execute(code))
            assert json.loads(out.replace("'", '"')) == ["js", "python"]
        finally:
            session.destroy()


def test_an_instance_without_the_library_still_works(
    engine: SandboxEngine, workspace_root: Path
) -> None:
    for runtime in (RuntimeType.PYTHON, RuntimeType.JAVASCRIPT):
        shape = InstanceShape(runtime, str(workspace_root), 64 * 1024 * 1024, guest_lib="")
        instance = new_instance(engine, shape)
        try:
            code = (
                "import sandbox_utils"
                if runtime is RuntimeType.PYTHON
                else 'import { ls } from "sandbox_utils";'
            )
            outcome = instance.run(
                turn_request(code, ExecutionPolicy(), scan(workspace_root), fresh=True)
            )
            assert outcome.exit_code == 1
            assert b"sandbox_utils" in outcome.stderr
        finally:
            instance.close()
            instance.join(5)


# ---- Python: importing is cheap


def test_python_import_loads_nothing_heavy(py: Sandbox) -> None:
    code = (
        "import sys\nbefore = set(sys.modules)\nimport sandbox_utils\n"
        "print(sorted(set(sys.modules) - before))"
    )
    result = py.execute(code)
    assert ok(result).strip() == "['sandbox_utils']"
    baseline = py.execute("import sys\nbefore = set(sys.modules)\nprint([])")
    # Fuel is deterministic (no timing): the import must stay far below one
    # stdlib module such as re (~210 M). Measured ~8 M.
    assert result.fuel_consumed - baseline.fuel_consumed < 40_000_000


def test_python_public_names_all_resolve(py: Sandbox) -> None:
    code = """
import sandbox_utils
from sandbox_utils import *
names = sandbox_utils.__all__
assert len(names) == 30, names
missing = [n for n in names if n not in globals()]
assert not missing, missing
assert set(names) <= set(dir(sandbox_utils))
try:
    sandbox_utils.no_such_helper
except AttributeError as e:
    print("ATTR", e)
"""
    assert "ATTR module 'sandbox_utils' has no attribute 'no_such_helper'" in ok(py.execute(code))


def test_a_user_module_in_app_shadows_sandbox_utils(py: Sandbox) -> None:
    (py.workspace / "sandbox_utils.py").write_text("MINE = True\n")
    assert ok(py.execute("import sandbox_utils\nprint(sandbox_utils.MINE)")).strip() == "True"


# ---- Python helpers, each exercised in the guest

PY_FILES = r"""
from sandbox_utils import *
assert mkdir("data/sub") == "/app/data/sub"
assert mkdir("data/sub") == "/app/data/sub"  # exist_ok
try:
    mkdir("data", exist_ok=False)
    raise SystemExit("mkdir exist_ok=False did not fail")
except FileExistsError:
    pass
assert echo("hello world", "data/a.txt") == "hello world\n"
echo("second", "data/a.txt", append=True)
assert echo("shown") == "shown\n"
assert cat("data/a.txt") == "hello world\nsecond\n"
echo("x", "data/b.txt", newline=False)
assert cat("data/a.txt", "data/b.txt") == "hello world\nsecond\nx"
assert ls() == ["data"]
assert ls("data") == ["a.txt", "b.txt", "sub"]
touch("data/.hidden")
assert ls("data", all=True)[0] == ".hidden"
assert ls("data/a.txt") == ["a.txt"]
info = ls("data", long=True)
assert [i["type"] for i in info] == ["file", "file", "dir"], info
assert info[0]["size"] == 19 and info[0]["path"] == "/app/data/a.txt"
assert info[0]["modified"].endswith("Z")
lines = "".join("line %d\n" % i for i in range(1, 21))
echo(lines, "data/n.txt", newline=False)
assert head("data/n.txt") == "".join("line %d\n" % i for i in range(1, 11))
assert head("data/n.txt", lines=2) == "line 1\nline 2\n"
assert tail("data/n.txt", lines=2) == "line 19\nline 20\n"
assert tail("data/n.txt", 0) == ""
assert wc("data/n.txt") == {"lines": 20, "words": 40, "chars": len(lines), "bytes": len(lines)}
p = touch("data/t.txt")
assert p.name == "t.txt" and p.exists() and p.is_file() and not p.is_dir()
assert cp("data/a.txt", "data/c.txt") == "/app/data/c.txt"
assert cp("data/a.txt", "data/sub") == "/app/data/sub/a.txt"
assert cat("data/sub/a.txt") == cat("data/a.txt")
assert mv("data/c.txt", "data/d.txt") == "/app/data/d.txt"
assert mv("data/d.txt", "data/sub") == "/app/data/sub/d.txt"
assert cp("data", "copy") == "/app/copy"
assert ls("copy/sub") == ["a.txt", "d.txt"]
try:
    rm("copy")
    raise SystemExit("rm of a folder without recursive did not fail")
except IsADirectoryError:
    pass
assert rm("copy", recursive=True) == 1
assert rm("nothing", force=True) == 0
try:
    rm("nothing")
    raise SystemExit("rm of a missing file did not fail")
except FileNotFoundError:
    pass
assert rm("data/t.txt", "data/b.txt") == 2
try:
    mv("data", "data/sub")
    raise SystemExit("mv into itself did not fail")
except ValueError:
    pass
print("FILES OK")
"""

PY_TREES = r"""
from sandbox_utils import *
for path in ["a/x.csv", "a/b/y.csv", "a/b/z.txt", "a/report_01.txt", "c/[odd].txt"]:
    mkdir(path.rsplit("/", 1)[0])
    echo(path, path)
assert find("*.csv") == ["/app/a/b/y.csv", "/app/a/x.csv"]
assert find("*.csv", "a", recursive=False) == ["/app/a/x.csv"]
assert find("report_??.txt") == ["/app/a/report_01.txt"]
assert find("[xy].csv") == ["/app/a/b/y.csv", "/app/a/x.csv"]
assert find("[!x]*.csv") == ["/app/a/b/y.csv"]
assert find("*", type="d") == ["/app/a", "/app/a/b", "/app/c"]
assert len(find("*", type="any")) == 8
assert find("b/*.txt", "a") == ["/app/a/b/z.txt"]
assert find("[odd].txt") == []
assert find("[[]odd].txt") == ["/app/c/[odd].txt"]
try:
    find("*", type="x")
    raise SystemExit("bad type accepted")
except ValueError:
    pass
found = find("*.csv")[0]
assert found.suffix == ".csv" and found.stem == "y" and found.parent == "/app/a/b"
assert found.parent / "z.txt" == "/app/a/b/z.txt"
assert found.read_text() == "a/b/y.csv\n"
walked = list(walk("/app", filter_func=lambda p: p.suffix == ".txt"))
assert walked == ["/app/a/b/z.txt", "/app/a/report_01.txt", "/app/c/[odd].txt"], walked
assert len(list(walk())) == 5
drawing = tree()
assert drawing.splitlines()[0] == "/app"
assert "│   ├── b/" in drawing and "3 folders, 5 files" in drawing, drawing
assert "b/" not in tree("a", max_depth=1).split("b/", 1)[1], tree("a", max_depth=1)
assert copy_tree("a", "a2") == "/app/a2"
copied = sorted(p[len("/app/a2") :] for p in walk("a2"))
assert copied == sorted(p[len("/app/a") :] for p in walk("a"))
try:
    copy_tree("a", "a/inner")
    raise SystemExit("copy into itself accepted")
except ValueError:
    pass
assert remove_tree("a2") == 6
assert ls() == ["a", "c"]
try:
    remove_tree(".")
    raise SystemExit("removing /app accepted")
except SandboxPathError as e:
    assert "/app itself" in str(e)
print("TREES OK")
"""

PY_TEXT = r"""
import sys
from sandbox_utils import *
mkdir("logs")
echo("ERROR one\nok two\nERROR timeout after 5 s\nerror lower", "logs/app.log")
echo("fine", "logs/other.log")
matches = grep("ERROR", "logs")
assert [(m.path, m.line_number, m.line) for m in matches] == [
    ("/app/logs/app.log", 1, "ERROR one"), ("/app/logs/app.log", 3, "ERROR timeout after 5 s")]
assert "re" not in sys.modules  # a plain pattern needs no re
path, number, line = matches[0]
assert number == 1 and "GrepMatch(" in repr(matches[0])
assert len(grep("error", "logs/app.log", ignore_case=True)) == 3
assert [m.line for m in grep("ERROR", ["logs/other.log"], invert=True)] == ["fine"]
assert [m.line_number for m in grep(r"timeout after \d+ s", find("*.log", "logs"))] == [3]
assert grep("a.b", "logs", regex=False) == []
assert sed(r"foo(\d+)", r"bar\1", "foo123 foo456") == "bar123 bar456"
assert sed("o", "0", "foo boo", count=1) == "f0o boo"
assert sed("a.b", "X", "a.b axb", regex=False) == "X axb"
assert sed("HELLO", "bye", "hello Hello", ignore_case=True) == "bye bye"
echo("http://a http://b", "links.txt")
assert sed("http://", "https://", path="links.txt") == "https://a https://b\n"
assert cat("links.txt") == "https://a https://b\n"
try:
    sed("a", "b")
    raise SystemExit("sed without text or path accepted")
except TypeError:
    pass
echo("a\nb\nc", "old.txt")
echo("a\nB\nc", "new.txt")
patch = diff("old.txt", "new.txt")
assert "--- /app/old.txt" in patch and "-b\n+B\n" in patch, patch
assert diff("old.txt", "old.txt") == ""
assert "-x\n+y" in diff("x\n", "y\n", texts=True)
print("TEXT OK")
"""

PY_DATA = r'''
import sys
from sandbox_utils import *
users = [
    {"name": "Ada", "country": "UK", "age": 36, "active": True},
    {"name": "Grace", "country": "US", "age": None, "active": False},
    {"name": "Alan", "country": "UK", "age": 41, "active": True},
]
groups = group_by(users, "country")
assert list(groups) == ["UK", "US"] and [u["name"] for u in groups["UK"]] == ["Ada", "Alan"]
assert list(group_by(users, lambda u: u["name"][0])) == ["A", "G"]
assert [u["name"] for u in filter_by(users, lambda u: u["active"])] == ["Ada", "Alan"]
assert [u["name"] for u in filter_by(users, country="UK", age=41)] == ["Alan"]
assert [u["name"] for u in filter_by(users, {"active": False})] == ["Grace"]
assert [u["name"] for u in sort_by(users, "age")] == ["Ada", "Alan", "Grace"]
assert [u["name"] for u in sort_by(users, "age", reverse=True)] == ["Grace", "Alan", "Ada"]
assert [u["name"] for u in sort_by(users, ["country", "name"])] == ["Ada", "Alan", "Grace"]
assert unique([3, 1, 3, [1], [1], {"a": 1}, {"a": 1}]) == [3, 1, [1], {"a": 1}]
assert [u["name"] for u in unique(users, key="country")] == ["Ada", "Grace"]
assert chunk(range(5), 2) == [[0, 1], [2, 3], [4]]
try:
    chunk([1], 0)
    raise SystemExit("chunk size 0 accepted")
except ValueError:
    pass
echo('name,qty,note\nAda,3,"a, b"\n"Bob ""B""",4.5,\n', "in.csv", newline=False)
text = csv_to_json("in.csv", output="out.json", infer_types=True)
assert json_to_csv(text).startswith("name,qty,note\n")
assert xml_to_dict("<a><b>1</b></a>") == {"a": {"b": "1"}}
for heavy in ["csv", "json", "xml.etree.ElementTree", "re"]:
    assert heavy not in sys.modules, heavy  # the C modules behind them are enough
import json
rows = json.loads(text)
assert rows == [
    {"name": "Ada", "qty": 3, "note": "a, b"},
    {"name": 'Bob "B"', "qty": 4.5, "note": ""},
]
assert json.loads(cat("out.json")) == rows
assert text.splitlines()[1] == '{"name": "Ada", "qty": 3, "note": "a, b"},', text  # a row a line
pretty = csv_to_json("in.csv", pretty=True, infer_types=True)
assert pretty == json.dumps(rows, indent=2, ensure_ascii=False)
multi = csv_to_json(text='a,b\r\n"two\nlines",2\r\n')
assert json.loads(multi) == [{"a": "two\nlines", "b": "2"}], multi
compact = csv_to_json(text="a;b\n1;2\n", delimiter=";")
assert json.loads(compact) == [{"a": "1", "b": "2"}]
assert csv_to_json(text="") == "[]"
csv = json_to_csv(rows, output="back.csv")
assert csv == 'name,qty,note\nAda,3,"a, b"\n"Bob ""B""",4.5,\n', csv
assert cat("back.csv") == csv
assert json_to_csv("out.json") == csv
nested = json_to_csv('[{"a": {"x": [1]}, "b": true}, {"a": null, "c": "é"}]')
assert nested == 'a,b,c\n"{""x"": [1]}",true,\n,,é\n', nested
assert json_to_csv([[1, 2], [3, 4]], columns=["x", "y"]) == "x,y\n1,2\n3,4\n"
try:
    json_to_csv("[1, 2")
    raise SystemExit("bad JSON accepted")
except ValueError:
    pass
doc = '<root a="1"><item id="1">value</item><item id="2"/><name>x &amp; y</name><empty/></root>'
items = [{"@id": "1", "#text": "value"}, {"@id": "2"}]
assert xml_to_dict(doc) == {"root": {"@a": "1", "item": items, "name": "x & y", "empty": None}}
echo(doc, "doc.xml")
assert xml_to_dict("doc.xml") == xml_to_dict(doc)
try:
    xml_to_dict("<a><b></a>")
    raise SystemExit("bad XML accepted")
except ValueError:
    pass
print("DATA OK")
'''


@pytest.mark.parametrize(
    ("script", "marker"),
    [(PY_FILES, "FILES OK"), (PY_TREES, "TREES OK"), (PY_TEXT, "TEXT OK"), (PY_DATA, "DATA OK")],
    ids=["files", "trees", "text", "data"],
)
def test_python_helpers(py: Sandbox, script: str, marker: str) -> None:
    assert marker in ok(py.execute(script))


# ---- Python: every way out is refused

PY_ESCAPES = r"""
from sandbox_utils import *
from sandbox_utils import AppPath, SandboxPathError
echo("ok", "ok.txt")
mkdir("d")
CALLS = {
    "ls": lambda p: ls(p), "cat": lambda p: cat("ok.txt", p), "head": lambda p: head(p),
    "tail": lambda p: tail(p), "wc": lambda p: wc(p), "touch": lambda p: touch(p),
    "mkdir": lambda p: mkdir(p), "echo": lambda p: echo("x", p), "rm": lambda p: rm(p),
    "rm -r": lambda p: rm(p, recursive=True, force=True), "cp from": lambda p: cp(p, "x"),
    "cp to": lambda p: cp("ok.txt", p), "mv from": lambda p: mv(p, "x"),
    "mv to": lambda p: mv("ok.txt", p), "find": lambda p: find("*", p),
    "walk": lambda p: list(walk(p)), "tree": lambda p: tree(p),
    "copy_tree from": lambda p: copy_tree(p, "x"), "copy_tree to": lambda p: copy_tree("d", p),
    "remove_tree": lambda p: remove_tree(p), "grep": lambda p: grep("x", ["ok.txt", p]),
    "sed": lambda p: sed("a", "b", path=p), "diff": lambda p: diff("ok.txt", p),
    "csv_to_json": lambda p: csv_to_json(p),
    "csv_to_json out": lambda p: csv_to_json(text="a\n1", output=p),
    "json_to_csv": lambda p: json_to_csv(p),
    "json_to_csv out": lambda p: json_to_csv([{"a": 1}], output=p),
    "xml_to_dict": lambda p: xml_to_dict(p), "AppPath": lambda p: AppPath(p).read_text(),
}
import sys
BAD = sys.argv[1:]
escaped = []
refused = 0
for path in BAD:
    for name, call in CALLS.items():
        try:
            call(path)
            escaped.append((name, path, "no error"))
        except SandboxPathError as e:
            assert isinstance(e, PermissionError) and isinstance(e, ValueError)
            assert "/app" in str(e)
            refused += 1
        except Exception as e:
            escaped.append((name, path, repr(e)))
print("ESCAPED", escaped)
print("REFUSED", refused)
assert cat("ok.txt") == "ok\n"
"""

PY_BAD_PATHS = [
    "..",
    "../x",
    "../../canary.txt",
    "/app/..",
    "/app/../etc/passwd",
    "/app/./../app2",
    "/application",
    "data/../../etc",
    "/etc/passwd",
    "/",
    "/tmp",
    "/data/lib",
    "/data/lib/python/sandbox_utils/__init__.py",
    "/data/lib/new.txt",
]


def test_python_escapes_are_refused(py: Sandbox, canary: Path) -> None:
    bad = [*PY_BAD_PATHS, str(canary), str(canary.parent)]
    result = py.execute(PY_ESCAPES.replace("sys.argv[1:]", repr(bad)))
    out = ok(result)
    assert "ESCAPED []" in out, out
    assert f"REFUSED {len(bad) * 29}" in out


def test_python_error_message_says_what_to_do(py: Sandbox) -> None:
    code = (
        "from sandbox_utils import cat, SandboxPathError\n"
        "for p in ['/etc/passwd', '../etc']:\n"
        "    try:\n        cat(p)\n    except ValueError as e:\n        print(e)\n"
        "cat('/etc/passwd')"
    )
    result = py.execute(code)
    assert not result.success
    assert "Path '/etc/passwd' is outside /app." in result.stdout
    assert "Path '../etc' means /etc, which is outside /app." in result.stdout
    assert "use a relative path such as 'data/file.txt'" in result.stdout
    assert "sandbox_utils.SandboxPathError: Path '/etc/passwd'" in result.stderr


def test_python_symlinks_leading_out_are_refused(py: Sandbox, canary: Path) -> None:
    outside = canary.parent / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text(SECRET)
    work = py.workspace
    (work / "ok.txt").write_text("ok\n")
    (work / "d").mkdir()
    (work / "d" / "up").symlink_to("../ok.txt")  # stays inside: allowed
    planted = {
        "abs_file": canary,
        "abs_dir": outside,
        "rel_out": Path("../../../canary.txt"),
        "to_lib": Path("/data/lib/python"),
        "to_etc": Path("/etc"),
    }
    for name, target in planted.items():
        (work / name).symlink_to(target)
    (work / "d" / "out").symlink_to(outside / "keep.txt")
    code = (
        PY_ESCAPES.replace("sys.argv[1:]", repr([*planted, "abs_dir/keep.txt"]))
        .replace(
            'mkdir("d")',
            # The host refuses a link leading out when the guest makes it (EPERM).
            'mkdir("d")\nimport os\ntry:\n    os.symlink("../../../../canary.txt", "guest_made")\n'
            '    raise SystemExit("the guest made a link leading out")\n'
            "except PermissionError:\n    pass",
        )
        .replace('"rm": lambda p: rm(p), ', "")
        .replace('"rm -r": lambda p: rm(p, recursive=True, force=True), ', "")
    )
    code += r"""
assert cat("d/up") == "ok\n"
assert [str(p) for p in walk()] == ["/app/d/up", "/app/ok.txt"], list(walk())
assert find("*", type="any") == ["/app/d", "/app/d/up", "/app/ok.txt"]
assert grep("canary", ".") == [] and grep("ok", ".")[0].line == "ok"
drawing = tree()
assert "abs_file -> (outside /app)" in drawing and "up -> ../ok.txt" in drawing, drawing
for p in ["abs_file", "rel_out", "d/out"]:
    try:
        rm(p)
        raise SystemExit("rm followed " + p)
    except SandboxPathError:
        pass
try:
    copy_tree("d", "d2")
    raise SystemExit("copy_tree copied a link leading out")
except SandboxPathError:
    pass
rm("d2", recursive=True, force=True)
assert remove_tree("d") == 3  # d, d/up, d/out: the links themselves, never their targets
print("LINKS OK")
"""
    out = ok(py.execute(code))
    assert "ESCAPED []" in out and "LINKS OK" in out, out
    assert canary.read_text() == SECRET
    assert (outside / "keep.txt").read_text() == SECRET


# ---- Python in a session


def test_python_session_keeps_helpers(engine: SandboxEngine, workspace_root: Path) -> None:
    session = create_session(
        "python", BIG, workspace_root=workspace_root, auto_persist_globals=True
    )
    try:
        ok(
            session.execute(
                'import sandbox_utils\nfrom sandbox_utils import echo, ls\necho("1", "a.txt")'
            )
        )
        assert ok(session.execute("print(ls(), sandbox_utils.cat('a.txt'))")) == "['a.txt'] 1\n\n"
    finally:
        session.destroy()


# ---- JavaScript

JS_ALL = r'''
import * as mod from "sandbox_utils";
import su, { ls, cat, write, append, exists, stat, mkdir, rm, cp, mv, find, walk, tree, head, tail,
  wc, grep, resolvePath, readJSON, writeJSON, parseCSV, toCSV, readCSV, writeCSV, groupBy, countBy,
  sortBy, unique, chunk, capitalize, titleCase, camelCase, snakeCase, kebabCase, slugify, truncate,
  dedent, wrap, escapeHtml, formatTable, SandboxPathError } from "sandbox_utils";
const eq = (a, b, what) => {
  const x = JSON.stringify(a), y = JSON.stringify(b);
  if (x !== y) throw new Error(what + ": " + x + " !== " + y);
};
const throws = (fn, kind, what) => {
  try { fn(); } catch (e) {
    if (e instanceof kind) return e;
    throw new Error(what + ": wrong error " + e);
  }
  throw new Error(what + ": no error");
};
eq(su === sandbox_utils, true, "default export is the global");
eq(Object.keys(mod).filter((n) => n !== "default").sort(), Object.keys(su).sort(), "module names");
// files
eq(mkdir("data/sub"), "/app/data/sub", "mkdir");
eq(write("data/a.txt", "hello\n"), "/app/data/a.txt", "write");
append("data/a.txt", "world\n");
eq(cat("data/a.txt"), "hello\nworld\n", "cat");
write("data/b.txt", "x");
eq(cat("data/a.txt", "data/b.txt"), "hello\nworld\nx", "cat many");
eq([exists("data/a.txt"), exists("nope")], [true, false], "exists");
eq(stat("data/a.txt").size, 12, "stat");
eq(stat("data").type, "dir", "stat dir");
eq(ls(), ["data"], "ls");
write("data/.hidden", "");
eq(ls("data"), ["a.txt", "b.txt", "sub"], "ls data");
eq(ls("data", { all: true })[0], ".hidden", "ls all");
eq(ls("data", { long: true }).map((e) => e.type), ["file", "file", "dir"], "ls long");
write("n.txt", Array.from({ length: 20 }, (_, i) => "line " + (i + 1)).join("\n") + "\n");
eq(head("n.txt", 2), "line 1\nline 2", "head");
eq(head("n.txt").split("\n").length, 10, "head default");
eq(tail("n.txt", 2), "line 19\nline 20", "tail");
eq(wc("n.txt"), { lines: 20, words: 40, chars: 151 }, "wc");
eq(cp("data/a.txt", "data/c.txt"), "/app/data/c.txt", "cp");
eq(cp("data/a.txt", "data/sub"), "/app/data/sub/a.txt", "cp into");
eq(mv("data/c.txt", "data/d.txt"), "/app/data/d.txt", "mv");
eq(cp("data", "copy"), "/app/copy", "cp folder");
eq(ls("copy/sub"), ["a.txt"], "cp folder content");
throws(() => rm("copy"), Error, "rm folder");
eq(rm("copy", { recursive: true }), true, "rm -r");
eq(rm("nope", { force: true }), false, "rm -f");
throws(() => rm("nope"), Error, "rm missing");
throws(() => mv("data", "data/sub"), Error, "mv into itself");
eq(resolvePath("data/../n.txt"), "/app/n.txt", "resolvePath");
// trees
write("data/sub/y.csv", "1");
write("data/x.csv", "2");
eq(find("*.csv"), ["/app/data/sub/y.csv", "/app/data/x.csv"], "find");
eq(find("*.csv", "data", { recursive: false }), ["/app/data/x.csv"], "find flat");
eq(find("[xy].csv"), ["/app/data/sub/y.csv", "/app/data/x.csv"], "find class");
eq(find("?.csv", ".", { type: "any" }).length, 2, "find any");
eq(find("*", ".", { type: "d" }), ["/app/data", "/app/data/sub"], "find dirs");
eq(find("sub/*.csv", "data"), ["/app/data/sub/y.csv"], "find by path");
eq(walk(".", (p) => p.endsWith(".csv")), ["/app/data/sub/y.csv", "/app/data/x.csv"], "walk");
const drawing = tree();
for (const part of ["/app\n", "│   └── y.csv", "2 folders, 7 files"]) {
  if (!drawing.includes(part)) throw new Error(drawing);
}
eq(tree("data", { maxDepth: 1 }).includes("y.csv"), false, "tree depth");
// text
write("log.txt", "ERROR one\nok\nERROR timeout 5\n");
eq(grep("ERROR", "log.txt").map((m) => m.lineNumber), [1, 3], "grep");
eq(grep(/timeout \d/, ["log.txt"])[0].line, "ERROR timeout 5", "grep regex");
eq(grep("error", ".", { ignoreCase: true }).length, 2, "grep folder");
eq(grep("ERROR", "log.txt", { invert: true })[0].line, "ok", "grep invert");
// JSON and CSV
writeJSON("x.json", { a: [1, 2] });
eq(readJSON("x.json"), { a: [1, 2] }, "json");
eq(cat("x.json"), '{\n  "a": [\n    1,\n    2\n  ]\n}\n', "json text");
const csvText = 'name,qty,note\r\nAda,3,"a, b"\r\n"Bob ""B""",4.5,"two\nlines"\r\n';
const rows = parseCSV(csvText, { inferTypes: true });
const bob = { name: 'Bob "B"', qty: 4.5, note: "two\nlines" };
eq(rows, [{ name: "Ada", qty: 3, note: "a, b" }, bob], "parseCSV");
const raw = parseCSV("a;b\n1;2", { delimiter: ";", header: false });
eq(raw, [["a", "b"], ["1", "2"]], "parseCSV raw");
eq(toCSV(rows), 'name,qty,note\nAda,3,"a, b"\n"Bob ""B""",4.5,"two\nlines"\n', "toCSV");
const lists = toCSV([[1, null], [" x", { y: 1 }]], { columns: ["a", "b"] });
eq(lists, 'a,b\n1,\n" x","{""y"":1}"\n', "toCSV lists");
writeCSV("r.csv", rows);
eq(readCSV("r.csv", { inferTypes: true }), rows, "CSV round trip");
// lists
const users = [{ n: "a", c: "NL", age: 30 }, { n: "b", c: "DE" }, { n: "c", c: "NL", age: 20 }];
eq(Object.keys(groupBy(users, "c")), ["NL", "DE"], "groupBy");
eq(groupBy(users, (u) => u.n > "a").true.length, 2, "groupBy fn");
eq(countBy(users, "c"), { NL: 2, DE: 1 }, "countBy");
eq(sortBy(users, "age").map((u) => u.n), ["c", "a", "b"], "sortBy");
eq(sortBy(users, "age", { reverse: true }).map((u) => u.n), ["a", "c", "b"], "sortBy reverse");
eq(sortBy(users, ["c", "n"]).map((u) => u.n), ["b", "a", "c"], "sortBy keys");
eq(unique([1, 2, 1, [1], [1]]), [1, 2, [1]], "unique");
eq(unique(users, "c").map((u) => u.n), ["a", "b"], "unique key");
eq(chunk([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]], "chunk");
throws(() => chunk([1], 0), RangeError, "chunk 0");
// strings
eq(capitalize("hello"), "Hello", "capitalize");
eq(titleCase("hello wORLD"), "Hello World", "titleCase");
eq(camelCase("hello world-foo"), "helloWorldFoo", "camelCase");
eq(snakeCase("helloWorld foo"), "hello_world_foo", "snakeCase");
eq(kebabCase("Hello World"), "hello-world", "kebabCase");
eq(slugify("Héllo, World!"), "hello-world", "slugify");
eq(truncate("abcdefgh", 5), "abcd…", "truncate");
eq(truncate("abc", 5), "abc", "truncate short");
eq(dedent("  a\n    b"), "a\n  b", "dedent");
eq(wrap("aa bb cc dd", 5), "aa bb\ncc dd", "wrap");
const html = "&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;";
eq(escapeHtml(`<a href='x'>"&"</a>`), html, "escapeHtml");
eq(formatTable(users), "n  c   age\n-  --  ---\na  NL   30\nb  DE\nc  NL   20", "formatTable");
eq(formatTable([[1, "x"], [22, "yy"]]), " 1  x\n22  yy", "formatTable rows");
throws(() => cat("/etc/passwd"), SandboxPathError, "escape");
console.log("JS OK");
'''


def test_javascript_helpers(js: Sandbox) -> None:
    assert "JS OK" in ok(js.execute(JS_ALL))


def test_javascript_helpers_from_a_script(js: Sandbox) -> None:
    code = (
        'const { write, ls } = sandbox_utils;\nwrite("a.txt", "1");\n'
        "console.log(JSON.stringify(ls()), typeof sandbox_utils.parseCSV);\n"
        'import("sandbox_utils").then((m) => console.log("dynamic", m.ls === ls));'
    )
    assert ok(js.execute(code)) == '["a.txt"] function\ndynamic true\n'


def test_javascript_runs_that_skip_the_helpers_do_not_load_them(js: Sandbox) -> None:
    hello = js.execute("console.log('hello')")
    used = js.execute("sandbox_utils; console.log('hello')")
    assert ok(hello) == ok(used) == "hello\n"
    # Loading the library costs fuel; a run that doesn't touch it pays none of it.
    assert used.fuel_consumed > hello.fuel_consumed + 1_000_000
    assert ok(js.execute("sandbox_utils = 5; console.log(sandbox_utils)")) == "5\n"


JS_ESCAPES = r"""
import * as u from "sandbox_utils";
u.write("ok.txt", "ok");
u.mkdir("d");
const CALLS = {
  ls: (p) => u.ls(p), cat: (p) => u.cat("ok.txt", p), write: (p) => u.write(p, "x"),
  append: (p) => u.append(p, "x"), exists: (p) => u.exists(p), stat: (p) => u.stat(p),
  mkdir: (p) => u.mkdir(p), rm: (p) => u.rm(p, { recursive: true, force: true }),
  "cp from": (p) => u.cp(p, "x"), "cp to": (p) => u.cp("ok.txt", p), "mv from": (p) => u.mv(p, "x"),
  "mv to": (p) => u.mv("ok.txt", p), find: (p) => u.find("*", p), walk: (p) => u.walk(p),
  tree: (p) => u.tree(p), head: (p) => u.head(p), tail: (p) => u.tail(p), wc: (p) => u.wc(p),
  grep: (p) => u.grep("x", ["ok.txt", p]), readJSON: (p) => u.readJSON(p),
  writeJSON: (p) => u.writeJSON(p, {}), readCSV: (p) => u.readCSV(p),
  writeCSV: (p) => u.writeCSV(p, []),
  resolvePath: (p) => u.resolvePath(p),
};
const escaped = [];
let refused = 0;
for (const path of BAD) {
  for (const [name, call] of Object.entries(CALLS)) {
    try {
      call(path);
      escaped.push([name, path, "no error"]);
    } catch (e) {
      if (e instanceof u.SandboxPathError && e.message.includes("/app")) refused++;
      else escaped.push([name, path, String(e)]);
    }
  }
}
console.log("ESCAPED " + JSON.stringify(escaped));
console.log("REFUSED " + refused);
if (u.cat("ok.txt") !== "ok") throw new Error("ok.txt changed");
"""

JS_CALLS = 24


def test_javascript_escapes_are_refused(js: Sandbox, canary: Path) -> None:
    bad = [*PY_BAD_PATHS, str(canary), str(canary.parent)]
    out = ok(js.execute("const BAD = " + json.dumps(bad) + ";\n" + JS_ESCAPES))
    assert "ESCAPED []" in out, out
    assert f"REFUSED {len(bad) * JS_CALLS}" in out


def test_javascript_symlinks_leading_out_are_refused(js: Sandbox, canary: Path) -> None:
    outside = canary.parent / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text(SECRET)
    work = js.workspace
    planted = {
        "abs_file": canary,
        "abs_dir": outside,
        "rel_out": Path("../../../canary.txt"),
        "to_lib": Path("/data/lib/js"),
    }
    for name, target in planted.items():
        (work / name).symlink_to(target)
    (work / "d").mkdir()
    (work / "d" / "up").symlink_to("../ok.txt")
    (work / "d" / "out").symlink_to(outside / "keep.txt")
    code = "const BAD = " + json.dumps([*planted, "abs_dir/keep.txt"]) + ";\n" + JS_ESCAPES
    code += r"""
const same = (a, b) => {
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(JSON.stringify(a));
};
same(u.cat("d/up"), "ok");
same(u.walk(), ["/app/d/up", "/app/ok.txt"]);
same(u.find("*", ".", { type: "any" }), ["/app/d", "/app/d/up", "/app/ok.txt"]);
same(u.grep("canary", "."), []);
if (!u.tree().includes("abs_file (unreachable)")) throw new Error(u.tree());
u.rm("d", { recursive: true });  // removes the links themselves
same(u.exists("d"), false);
console.log("LINKS OK");
"""
    out = ok(js.execute(code))
    assert "ESCAPED []" in out and "LINKS OK" in out, out
    assert f"REFUSED {(len(planted) + 1) * JS_CALLS}" in out
    assert canary.read_text() == SECRET
    assert (outside / "keep.txt").read_text() == SECRET


def test_javascript_session_keeps_helpers(engine: SandboxEngine, workspace_root: Path) -> None:
    session = create_session(
        "javascript", BIG, workspace_root=workspace_root, auto_persist_globals=True
    )
    try:
        ok(session.execute('import { write } from "sandbox_utils";\nwrite("a.txt", "1");'))
        result = session.execute(
            "var seen = sandbox_utils.ls();\nconsole.log(JSON.stringify(seen));"
        )
        assert ok(result) == '["a.txt"]\n'
        assert "sandbox_utils" not in result.unsaved_globals
        again = 'import { cat } from "sandbox_utils";\nconsole.log(cat("a.txt"));'
        assert ok(session.execute(again)) == "1\n"
    finally:
        session.destroy()
