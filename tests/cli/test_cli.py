"""The ``wasm-workbench`` command line, run as a real subprocess.

Every run shares the test session's module cache (``WASM_WORKBENCH_CACHE_DIR``
from conftest); the ``cli`` fixture depends on ``engine``, so both runtimes are
compiled before the first subprocess starts. Every run is checked for a clean
exit: no wasmtime "panicked" message on stderr.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.cli import main
from workbench.sandbox import (
    ExecutionPolicy,
    RuntimeType,
    SandboxEngine,
    ensure_vendor_bundle,
    list_sessions,
)

REPO = Path(__file__).resolve().parents[2]
MIB = 1024**2
GIB = 1024**3


@dataclass(frozen=True)
class CliRun:
    """What one CLI process did."""

    returncode: int
    stdout: str
    stderr: str
    stdout_bytes: bytes
    seconds: float


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "workbench", *args]


def assert_clean_exit(stderr: str) -> None:
    # wasmtime 50.0.1 prints a tokio-rt-worker panic at interpreter exit.
    assert "panicked" not in stderr, stderr


def invoke(*args: str, stdin: str | None = None, timeout: float = 120) -> CliRun:
    """Run ``python -m workbench *args`` and return what it did."""
    start = time.perf_counter()
    proc = subprocess.run(
        command(*args),
        input=b"" if stdin is None else stdin.encode("utf-8"),
        capture_output=True,
        env=os.environ.copy(),
        timeout=timeout,
        check=False,
    )
    seconds = time.perf_counter() - start
    stderr = proc.stderr.decode("utf-8", "replace")
    assert_clean_exit(stderr)
    return CliRun(
        returncode=proc.returncode,
        stdout=proc.stdout.decode("utf-8", "replace"),
        stderr=stderr,
        stdout_bytes=proc.stdout,
        seconds=seconds,
    )


Cli = Callable[..., CliRun]


@pytest.fixture
def cli(engine: SandboxEngine) -> Cli:
    """The CLI runner, once both runtimes are in the shared module cache."""
    assert all(engine.is_ready(rt) for rt in (RuntimeType.PYTHON, RuntimeType.JAVASCRIPT))
    return invoke


@pytest.fixture
def ws(tmp_path: Path) -> list[str]:
    """``--workspace-root`` arguments that keep a run's session folder in tmp_path."""
    return ["--workspace-root", str(tmp_path / "sessions")]


def write(folder: Path, name: str, text: str) -> str:
    file = folder / name
    file.write_text(text, encoding="utf-8")
    return str(file)


# ---- run: success


def test_run_python_file(cli: Cli, tmp_path: Path, ws: list[str]) -> None:
    run = cli("run", write(tmp_path, "hello.py", "print('hello from python')\n"), *ws)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "hello from python\n"
    assert "python run succeeded." in run.stderr
    assert "Compiling the python runtime" not in run.stderr  # the module came from the cache


def test_run_javascript_file(cli: Cli, tmp_path: Path, ws: list[str]) -> None:
    run = cli("run", write(tmp_path, "hello.js", "console.log('hello', 6 * 7);\n"), *ws)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "hello 42\n"
    assert "javascript run succeeded." in run.stderr


def test_run_stdin_with_explicit_runtime(cli: Cli, ws: list[str]) -> None:
    run = cli(
        "run", "-", "--runtime", "python", *ws, stdin="import sys\nprint(sys.version_info[:2])\n"
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "(3, 12)\n"
    assert "python run succeeded." in run.stderr


def test_runtime_option_overrides_the_file_name(cli: Cli, tmp_path: Path, ws: list[str]) -> None:
    source = write(tmp_path, "snippet.txt", "console.log(typeof process, typeof print);\n")
    run = cli("run", source, "--runtime", "javascript", *ws)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "undefined function\n"


def test_markdown_reply_runs_only_the_python_block(cli: Cli, tmp_path: Path, ws: list[str]) -> None:
    reply = (
        "Sure! This prints a greeting:\n\n"
        "```python\n"
        "print('from the python block')\n"
        "```\n\n"
        "Then run it with:\n\n"
        "```bash\n"
        "echo from the bash block\n"
        "```\n"
    )
    run = cli("run", write(tmp_path, "reply.md", reply), *ws)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "from the python block\n"
    assert "bash block" not in run.stdout
    assert "Kept 1 python block; dropped prose and 1 bash block." in run.stderr


def test_markdown_reply_in_two_languages_runs_nothing_without_runtime(
    cli: Cli, tmp_path: Path, ws: list[str]
) -> None:
    reply = (
        "In Python:\n\n```python\nprint('py')\n```\n\n"
        "In JavaScript:\n\n```js\nconsole.log('js');\n```\n"
    )
    path = write(tmp_path, "two.md", reply)
    run = cli("run", path, *ws)
    assert run.returncode == 2 and run.stdout == ""
    assert "1 python block and 1 javascript block" in run.stderr
    assert "--runtime python or --runtime javascript" in run.stderr
    run = cli("run", path, "--runtime", "javascript", *ws)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "js\n"


def test_files_written_are_reported(cli: Cli, tmp_path: Path, ws: list[str]) -> None:
    code = "open('/app/out.txt', 'w').write('data')\n"
    run = cli("run", write(tmp_path, "w.py", code), "--session", "cli-files", *ws)
    assert run.returncode == 0, run.stderr
    written = tmp_path / "sessions" / "cli-files" / "workspace" / "out.txt"
    assert written.read_text(encoding="utf-8") == "data"
    assert "Files changed in" in run.stderr
    assert "out.txt" in run.stderr
    # --session made a real session: listed, with metadata, not a bare folder.
    listed = list_sessions(workspace_root=tmp_path / "sessions")
    assert [info.session_id for info in listed] == ["cli-files"]


# ---- run: where the files of a fresh run go

WRITES_OUT = {
    "w.py": "open('/app/out.txt', 'w').write('data')\nprint('ok')\n",
    "w.js": "const f = std.open('/app/out.txt', 'w'); f.puts('data'); f.close();\n"
    "console.log('ok');\n",
}


def test_twenty_runs_leave_no_folder_in_the_sessions_root(
    engine: SandboxEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # In this process (main(), not a subprocess), to keep 20 runs quick.
    root = tmp_path / "sessions"
    files = [write(tmp_path, name, text) for name, text in WRITES_OUT.items()]
    for index in range(20):
        args = ["run", files[index % 2], "--workspace-root", str(root)]
        as_json = index % 5 == 4
        if as_json:
            args.append("--json")
        assert main(args) == 0
        out, err = capsys.readouterr()
        if as_json:
            data = json.loads(out)
            assert data["files_created"] == ["out.txt"] and data["workspace"] is None
        else:
            assert out == "ok\n"
            assert "Files changed: out.txt. They were in a scratch workspace" in err
            assert "--keep-workspace" in err
        assert list(root.iterdir()) == []
    assert list_sessions(workspace_root=root) == []


def test_keep_workspace_keeps_a_fresh_runs_files_as_a_session(
    cli: Cli, tmp_path: Path, ws: list[str]
) -> None:
    source = write(tmp_path, "w.py", WRITES_OUT["w.py"])
    run = cli("run", source, "--keep-workspace", *ws)
    assert run.returncode == 0, run.stderr
    (info,) = list_sessions(workspace_root=tmp_path / "sessions")
    sid = info.session_id
    workspace = tmp_path / "sessions" / sid / "workspace"
    assert (workspace / "out.txt").read_text(encoding="utf-8") == "data"
    assert f"Files changed in {workspace}: out.txt" in run.stderr
    assert f"Kept the workspace as session {sid}" in run.stderr
    assert f"--session {sid}" in run.stderr
    again = cli(
        "run",
        "-",
        "--runtime",
        "python",
        "--session",
        sid,
        *ws,
        stdin="print(open('/app/out.txt').read())\n",
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout == "data\n"
    as_json = cli("run", source, "--keep-workspace", "--json", *ws)
    data = json.loads(as_json.stdout)
    assert data["kept_session"] is not None
    assert Path(data["workspace"]) == tmp_path / "sessions" / data["kept_session"] / "workspace"


# ---- run: failures and limits


def test_guest_exception_exits_1_with_the_traceback(
    cli: Cli, tmp_path: Path, ws: list[str]
) -> None:
    code = "print('before')\nraise ValueError('boom')\n"
    run = cli("run", write(tmp_path, "fail.py", code), *ws)
    assert run.returncode == 1
    assert run.stdout == "before\n"
    assert "Traceback (most recent call last):" in run.stderr
    assert "ValueError: boom" in run.stderr
    assert "failed with exit code 1" in run.stderr


def test_javascript_exception_exits_1(cli: Cli, tmp_path: Path, ws: list[str]) -> None:
    run = cli("run", write(tmp_path, "fail.js", "throw new TypeError('nope');\n"), *ws)
    assert run.returncode == 1
    assert "TypeError: nope" in run.stderr


def test_fuel_limit_exits_3(cli: Cli, tmp_path: Path, ws: list[str]) -> None:
    source = write(tmp_path, "loop.py", "while True:\n    pass\n")
    run = cli("run", source, "--set", "fuel_budget=50M", *ws)
    assert run.returncode == 3
    assert "fuel budget ran out" in run.stderr
    assert "Fuel 50,000,000 of 50,000,000" in run.stderr


def test_timeout_exits_3_without_waiting_for_the_sleep(
    cli: Cli, tmp_path: Path, ws: list[str]
) -> None:
    # A sleep far longer than any start-up, so a loaded machine can't blur the
    # difference between "cut at the timeout" and "slept it out".
    source = write(tmp_path, "sleep.py", "import time\ntime.sleep(60)\nprint('woke up')\n")
    run = cli("run", source, "--set", "timeout_seconds=0.5", *ws)
    assert run.returncode == 3, run.stderr
    assert "wall-clock timeout" in run.stderr
    assert "woke up" not in run.stdout
    assert run.seconds < 30.0


def test_sleep_shorter_than_the_timeout_really_sleeps(
    cli: Cli, tmp_path: Path, ws: list[str]
) -> None:
    code = (
        "import time\nt = time.monotonic()\ntime.sleep(0.3)\nprint(time.monotonic() - t >= 0.3)\n"
    )
    run = cli("run", write(tmp_path, "nap.py", code), "--json", *ws)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["stdout"] == "True\n"
    assert result["duration_ms"] >= 300


def test_sigint_cancels_the_run(engine: SandboxEngine, tmp_path: Path, ws: list[str]) -> None:
    assert all(engine.is_ready(rt) for rt in (RuntimeType.PYTHON, RuntimeType.JAVASCRIPT))
    # The run would otherwise wait for (or build) the package bundle before it
    # starts: the first such test of a process took over the 30 s below.
    ensure_vendor_bundle()
    code = "print('started', flush=True)\nwhile True:\n    pass\n"
    source = write(tmp_path, "spin.py", code)
    args = command("run", source, "--set", "fuel_budget=1T", "--set", "timeout_seconds=60", *ws)
    start = time.perf_counter()
    with subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy()
    ) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            if first == b"started\n":
                proc.send_signal(signal.SIGINT)
            _, raw_stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    stderr = raw_stderr.decode("utf-8", "replace")
    assert_clean_exit(stderr)
    assert first == b"started\n", stderr
    assert proc.returncode == 3, stderr
    assert "cancelled on request" in stderr
    assert time.perf_counter() - start < 20


# ---- run: JSON


def test_json_output(cli: Cli, tmp_path: Path, ws: list[str]) -> None:
    run = cli("run", write(tmp_path, "j.py", "print('hi')\n"), "--json", *ws)
    assert run.returncode == 0, run.stderr
    data: dict[str, Any] = json.loads(run.stdout)  # nothing but the JSON on stdout
    for key in (
        "success",
        "stdout",
        "trap_kind",
        "fuel_consumed",
        "error_guidance",
        "fuel_analysis",
    ):
        assert key in data
    assert "stdout_bytes" not in data
    assert "stderr_bytes" not in data
    assert data["success"] is True
    assert data["stdout"] == "hi\n"
    assert data["trap_kind"] == "none"
    assert data["fuel_consumed"] > 0
    assert data["error_guidance"] is None
    assert data["fuel_analysis"]["status"] == "efficient"
    assert data["workspace"] is None  # a scratch workspace, removed when the run ended
    assert data["kept_session"] is None


def test_json_output_of_a_failure(cli: Cli, tmp_path: Path, ws: list[str]) -> None:
    run = cli("run", write(tmp_path, "j.py", "undefined_name\n"), "--json", *ws)
    assert run.returncode == 1
    data = json.loads(run.stdout)
    assert data["success"] is False
    assert data["error_guidance"]["error_type"] == "NameError"


# ---- run: usage errors


def test_missing_file(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "nope.py"
    run = cli("run", str(missing))
    assert run.returncode == 2
    assert f"could not read {missing}" in run.stderr
    assert "Check the path" in run.stderr


def test_unknown_preset(cli: Cli, tmp_path: Path) -> None:
    run = cli("run", write(tmp_path, "a.py", "print(1)\n"), "--policy", "nope")
    assert run.returncode == 2
    assert "No policy preset named 'nope'" in run.stderr
    assert "conservative, data-analysis, default, document-processing" in run.stderr
    assert run.stdout == ""


def test_unknown_setting(cli: Cli, tmp_path: Path) -> None:
    run = cli("run", write(tmp_path, "a.py", "print(1)\n"), "--set", "nosuch=1")
    assert run.returncode == 2
    assert "--set 'nosuch': unknown setting." in run.stderr
    assert "fuel_budget" in run.stderr
    assert run.stdout == ""


def test_invalid_setting_value_names_the_field(cli: Cli, tmp_path: Path) -> None:
    run = cli("run", write(tmp_path, "a.py", "print(1)\n"), "--set", "fuel_budget=abc")
    assert run.returncode == 2
    assert "fuel_budget:" in run.stderr
    assert "Allowed: 1 M to 1 T." in run.stderr
    assert run.stdout == ""


def test_out_of_range_setting(cli: Cli, tmp_path: Path) -> None:
    run = cli("run", write(tmp_path, "a.py", "print(1)\n"), "--set", "memory_bytes=8GiB")
    assert run.returncode == 2
    assert "memory_bytes:" in run.stderr
    assert "Allowed: 32 MiB to 4 GiB." in run.stderr


def test_bad_runtime_choice(cli: Cli, tmp_path: Path) -> None:
    run = cli("run", write(tmp_path, "a.py", "print(1)\n"), "--runtime", "ruby")
    assert run.returncode == 2
    assert "invalid choice: 'ruby'" in run.stderr


def test_undetectable_language_asks_for_runtime(cli: Cli, tmp_path: Path) -> None:
    run = cli("run", write(tmp_path, "notes.txt", "hello there\nnothing to see\n"))
    assert run.returncode == 2
    assert "Could not tell whether this is Python or JavaScript" in run.stderr
    assert "--runtime python, --runtime python-sci or --runtime javascript" in run.stderr


def test_empty_input(cli: Cli) -> None:
    run = cli("run", "-", "--runtime", "python", stdin="   \n")
    assert run.returncode == 2
    assert "no code to run" in run.stderr


# ---- run: untrusted output


def test_terminal_escapes_from_the_guest_are_neutralised(
    cli: Cli, tmp_path: Path, ws: list[str]
) -> None:
    code = (
        "import sys\n"
        "print('\\x1b[31mred\\x1b[2J')\n"
        "print('\\x1b]0;pwned\\x07title\\rback\\x9b1m', file=sys.stderr)\n"
        "print('tab\\tkept')\n"
    )
    run = cli("run", write(tmp_path, "esc.py", code), *ws)
    assert run.returncode == 0, run.stderr
    assert b"\x1b" not in run.stdout_bytes
    assert run.stdout == "\ufffd[31mred\ufffd[2J\ntab\tkept\n"
    for char in ("\x1b", "\x07", "\r", "\x9b"):
        assert char not in run.stderr
    assert "\ufffd]0;pwned\ufffdtitle\ufffdback\ufffd1m" in run.stderr


def test_escapes_are_kept_in_json_as_escaped_text(cli: Cli, tmp_path: Path, ws: list[str]) -> None:
    run = cli("run", write(tmp_path, "esc.py", "print('\\x1b[2J')\n"), "--json", *ws)
    assert b"\x1b" not in run.stdout_bytes  # JSON escapes it as \u001b
    assert json.loads(run.stdout)["stdout"] == "\x1b[2J\n"


# ---- Other commands


def test_policies_lists_the_presets(cli: Cli) -> None:
    run = cli("policies")
    assert run.returncode == 0, run.stderr
    names = [line.split()[0] for line in run.stdout.splitlines()]
    assert names == ["conservative", "data-analysis", "default", "document-processing"]
    default_line = run.stdout.splitlines()[2]
    assert "2,000,000,000" in default_line
    assert "128 MiB" in default_line
    assert "30 s" in default_line


def test_runtimes_shows_both_hashes(cli: Cli) -> None:
    manifest = tomllib.loads((REPO / "wasm" / "runtimes.toml").read_text(encoding="utf-8"))
    run = cli("runtimes")
    assert run.returncode == 0, run.stderr
    for name, entry in manifest["runtimes"].items():
        line = next(line for line in run.stdout.splitlines() if line.startswith(name))
        assert f"sha256 {entry['sha256']}" in line
        assert f"{entry['distribution']}=={entry['version']}" in line
    assert f"module cache: {Path(os.environ['WASM_WORKBENCH_CACHE_DIR']) / 'modules'}" in run.stdout


def test_runtimes_prepare_saves_the_python_sci_images(cli: Cli, sci_engine: SandboxEngine) -> None:
    began = time.time() - 1
    run = cli("runtimes", "--prepare", timeout=600)
    assert run.returncode == 0, run.stderr
    for preset in ("default", "data-analysis"):
        assert f"python-sci: imports ahead for the '{preset}' policy" in run.stderr
    assert run.stderr.count("python-sci: ready in") == 2, run.stderr
    # Saved (or, saved before, used: loading one marks it recently used).
    folder = Path(os.environ["WASM_WORKBENCH_CACHE_DIR"]) / "images"
    fresh = [p for p in folder.glob("python-sci-*.image") if p.stat().st_mtime >= began]
    assert len(fresh) == 2, sorted(p.name for p in folder.iterdir())


def test_version(cli: Cli) -> None:
    run = cli("--version")
    assert run.returncode == 0
    assert run.stdout == f"wasm-workbench {workbench.__version__}\n"


def test_help_lists_the_commands(cli: Cli) -> None:
    run = cli("--help")
    assert run.returncode == 0
    assert "usage: wasm-workbench" in run.stdout
    for command in ("run", "policies", "runtimes", "gui"):
        assert command in run.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="display check is for Linux")
def test_no_command_without_a_display_explains_instead_of_crashing(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without a command the workbench window opens; with no display Qt would
    # abort the process, so the CLI says why and how to run code instead.
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    run = cli()
    assert run.returncode == 2
    assert "No display" in run.stderr and "wasm-workbench run FILE" in run.stderr


def test_run_help_lists_every_setting(cli: Cli) -> None:
    run = cli("run", "--help")
    assert run.returncode == 0
    for name in ExecutionPolicy.model_fields:
        assert name in run.stdout


def test_auto_runs_plotting_code_in_python_sci_and_saves_its_figures(
    sci_engine: SandboxEngine, tmp_path: Path, ws: list[str]
) -> None:
    code = (
        "```python\nimport matplotlib.pyplot as plt\nplt.plot([1, 2], [2, 1])\nplt.show()\n"
        "plt.figure()\nplt.bar(['a'], [1])\nprint('drawn')\n```\n"
    )
    folder = tmp_path / "figs"
    budget = ["--set", "fuel_budget=60000000000", "--set", "timeout_seconds=300"]
    run = invoke(
        "run",
        write(tmp_path, "reply.md", code),
        "--figures",
        str(folder),
        *budget,
        *ws,
        timeout=400,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "drawn\n"
    assert "python-sci run succeeded." in run.stderr
    assert f"Figures written to {folder.resolve()}: figure-1.png, figure-2.png" in run.stderr
    assert (folder / "figure-1.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    as_json = invoke("run", write(tmp_path, "r2.md", code), "--json", *budget, *ws, timeout=400)
    data = json.loads(as_json.stdout)
    assert data["runtime"] == "python-sci"
    assert [(f["index"], f["width"], f["path"]) for f in data["figures"]] == [
        (1, 640, None),
        (2, 640, None),
    ]
    assert [f["svg_bytes"] for f in data["figures"]] == [0, 0]  # not asked for


def test_run_svg_writes_each_figure_as_svg_too(
    sci_engine: SandboxEngine, tmp_path: Path, ws: list[str]
) -> None:
    import xml.etree.ElementTree as ET

    code = "import matplotlib.pyplot as plt\nplt.plot([1, 2], [2, 1])\nplt.title('Sales')\n"
    folder = tmp_path / "figs"
    budget = ["--set", "fuel_budget=60000000000", "--set", "timeout_seconds=300"]
    script = write(tmp_path, "plot.py", code)
    alone = invoke("run", script, "--svg", *ws)
    assert alone.returncode == 2 and "add --figures DIR" in alone.stderr
    run = invoke(
        "run", script, "--figures", str(folder), "--svg", "--json", *budget, *ws, timeout=400
    )
    assert run.returncode == 0, run.stderr
    (figure,) = json.loads(run.stdout)["figures"]
    assert figure["svg_path"] == str(folder / "figure-1.svg")
    assert figure["path"] == str(folder / "figure-1.png")
    svg = (folder / "figure-1.svg").read_bytes()
    assert figure["svg_bytes"] == len(svg)
    assert ET.fromstring(svg).tag == "{http://www.w3.org/2000/svg}svg"
    assert b"Sales" in svg


# ---- run --profile


def test_run_with_profile_prints_a_table_and_writes_speedscope(
    cli: Cli, tmp_path: Path, ws: list[str]
) -> None:
    code = (
        "def square(n):\n    return n * n\n\n"
        "total = 0\nfor i in range(50):\n    total += square(i)\nprint(total)\n"
    )
    out = tmp_path / "run.speedscope.json"
    run = cli("run", write(tmp_path, "sq.py", code), "--profile", "--profile-out", str(out), *ws)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "40425\n"
    assert "Fuel profile:" in run.stderr
    assert "total += square(i)" in run.stderr  # the top lines, with their code
    assert f"profile written to {out}" in run.stderr
    data = json.loads(out.read_text("utf-8"))
    assert data["profiles"][0]["unit"] == "none"
    assert "square" in {frame["name"] for frame in data["shared"]["frames"]}
    own = tmp_path / "run.profile.json"
    run = cli("run", write(tmp_path, "sq.py", code), "--profile-out", str(own), *ws)
    functions = {f["name"]: f for f in json.loads(own.read_text("utf-8"))["functions"]}
    assert functions["square"]["calls"] == 50
    trace = tmp_path / "run.trace.json"
    run = cli("run", write(tmp_path, "sq.py", code), "--profile-out", str(trace), *ws)
    assert run.returncode == 0, run.stderr
    names = {event["name"] for event in json.loads(trace.read_text("utf-8"))["traceEvents"]}
    assert {"<module>", "square"} <= names
