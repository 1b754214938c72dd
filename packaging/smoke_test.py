"""Smoke test of the Linux desktop bundle: ``python packaging/smoke_test.py``.

Builds the bundle (``packaging/build.py``; ``--no-build`` uses the one in
``dist/``), unpacks the tarball users download into a temporary folder outside
the checkout and runs the unpacked executable there with a bare environment: no
virtualenv or Python on ``PATH``, a fresh home, cache and config folder (so the
first start compiles the runtimes, as on a user's machine), Qt offscreen, and an
unreachable proxy so nothing can come from the network. It checks, with their
exit codes:

* ``run`` of a Python and a JavaScript snippet, a failing snippet (status 1) and
  a vendored package (``openpyxl``, built from the files the bundle carries);
* ``gui --smoke-test``: the window opens, the runtimes get ready, it closes;
* ``mcp``: the official SDK client lists the tools and runs code over stdio;
* ``kernel install`` and a Python kernel started by jupyter_client;
* a runtime binary altered in the unpacked bundle is refused (SHA-256).

It drives the bundle with the ``mcp`` and ``jupyter_client`` packages: run with a
Python that lacks them, it goes on in the build environment, which has them. It
takes about ten minutes on two cores, most of it the build; CI doesn't run it
(see README, "Desktop bundle").
Exit status 0 when every check passed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APP = "WASM-Workbench"
TIMEOUT = 900


def bare_environment(home: Path) -> dict[str, str]:
    """What a user's desktop session would give the program, and nothing from this one."""
    return {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "QT_QPA_PLATFORM": "offscreen",
        "WASM_WORKBENCH_CACHE_DIR": str(home / "cache"),
        "WASM_WORKBENCH_CONFIG_DIR": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_RUNTIME_DIR": str(home / "runtime"),
        # Offline: any attempt to reach PyPI fails at once.
        "https_proxy": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
        "JUPYTER_PLATFORM_DIRS": "1",
    }


def unpack(dist: Path, into: Path) -> Path:
    """Unpack the newest Linux tarball in ``dist`` into ``into``; return the executable."""
    tarballs = sorted(dist.glob(f"{APP}-*-linux-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not tarballs:
        raise SystemExit(f"No {APP} tarball in {dist}: build it with packaging/build.py.")
    with tarfile.open(tarballs[-1]) as tar:
        tar.extractall(into, filter="tar")
    executable = into / APP / APP
    if not executable.is_file():
        raise SystemExit(f"{tarballs[-1]} has no {APP}/{APP}.")
    return executable


class Checks:
    """Runs named checks, prints each outcome, remembers the failures."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def check(self, name: str, body: Callable[[], str]) -> None:
        """Run ``body``; its return value is printed as the check's detail."""
        started = time.perf_counter()
        try:
            detail = body()
        except Exception as exc:
            self.failed.append(name)
            print(f"FAIL {name}: {exc}", flush=True)
            return
        print(f"ok   {name} ({time.perf_counter() - started:.1f} s) {detail}", flush=True)


def run_bundle(
    exe: Path, env: dict[str, str], cwd: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run the bundle's executable with ``args``."""
    return subprocess.run(
        [str(exe), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def expect(
    result: subprocess.CompletedProcess[str], status: int, *texts: str
) -> subprocess.CompletedProcess[str]:
    """Fail unless ``result`` exited with ``status`` and printed every text on stdout."""
    if result.returncode != status or not all(text in result.stdout for text in texts):
        raise AssertionError(
            f"exit {result.returncode} (wanted {status}); stdout {result.stdout[-800:]!r}; "
            f"stderr {result.stderr[-1500:]!r}"
        )
    return result


async def mcp_round_trip(exe: Path, env: dict[str, str], cwd: Path) -> str:
    """List the MCP tools over stdio and run one snippet through ``execute_code``."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=str(exe), args=["mcp"], env=env, cwd=str(cwd))
    with (cwd / "mcp-stderr.txt").open("w", encoding="utf-8") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            if "execute_code" not in tools:
                raise AssertionError(f"tools: {sorted(tools)}")
            result = await client.call_tool("execute_code", {"code": "print(6 * 7)"})
            content = result.structured_content or {}
            if result.is_error or "42" not in str(content.get("stdout")):
                raise AssertionError(f"execute_code gave {content or result.content}")
    return f"{len(tools)} tools, execute_code printed 42"


def kernel_round_trip(exe: Path, env: dict[str, str], cwd: Path) -> str:
    """Install the kernelspecs under a prefix and run a cell in a Python kernel."""
    prefix = cwd / "jupyter-prefix"
    expect(run_bundle(exe, env, cwd, "kernel", "install", "--prefix", str(prefix)), 0)
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    specs = KernelSpecManager(kernel_dirs=[str(prefix / "share" / "jupyter" / "kernels")])
    spec = specs.get_kernel_spec("wasm-python")
    if spec.argv[0] != str(exe):
        raise AssertionError(f"the kernelspec starts {spec.argv[0]}, not the bundle")
    manager = KernelManager(kernel_name="wasm-python", kernel_spec_manager=specs)
    manager.start_kernel(env=env, cwd=str(cwd))
    client = manager.client()
    client.start_channels()
    printed: list[str] = []

    def output(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            printed.append(msg["content"]["text"])

    try:
        client.wait_for_ready(timeout=120)
        reply = client.execute_interactive("print(sum(range(5)))", timeout=120, output_hook=output)
        if reply["content"]["status"] != "ok" or "10" not in "".join(printed):
            raise AssertionError(f"the cell gave {reply['content']}, printed {printed}")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=False)
    return "a cell ran in the wasm-python kernel"


def smoke_test(dist: Path) -> list[str]:
    """Run every check against the tarball in ``dist``; return the names of failed checks."""
    checks = Checks()
    home = Path(tempfile.mkdtemp(prefix="wwb-bundle-smoke-"))
    try:
        exe = unpack(dist, home / "app")
        env = bare_environment(home)
        work = home / "work"
        work.mkdir()
        (work / "hello.py").write_text("import sys\nprint('py', sum(range(10)), sys.platform)\n")
        (work / "hello.js").write_text("console.log('js', [1, 2, 3].map((x) => x * 2).join(','))\n")
        (work / "fails.py").write_text("raise ValueError('on purpose')\n")
        vendored = "import openpyxl\nprint('openpyxl', openpyxl.__version__)\n"
        (work / "vendored.py").write_text(vendored)
        print(f"smoke test of {exe} in {work}", flush=True)

        checks.check(
            "--version", lambda: expect(run_bundle(exe, env, work, "--version"), 0).stdout.strip()
        )
        checks.check(
            "run hello.py (first start: compiles)",
            lambda: expect(run_bundle(exe, env, work, "run", "hello.py"), 0, "py 45 wasi").stdout,
        )
        checks.check(
            "run hello.js",
            lambda: expect(run_bundle(exe, env, work, "run", "hello.js"), 0, "js 2,4,6").stdout,
        )
        checks.check(
            "run fails.py exits 1",
            lambda: expect(run_bundle(exe, env, work, "run", "fails.py"), 1).stderr.strip()[-60:],
        )
        checks.check(
            "vendored package offline",
            lambda: expect(run_bundle(exe, env, work, "run", "vendored.py"), 0, "openpyxl").stdout,
        )

        def gui() -> str:
            result = expect(
                run_bundle(exe, env, work, "gui", "--smoke-test"),
                0,
                "smoke-test: window visible",
                "smoke-test: runtimes ready",
            )
            return " / ".join(result.stdout.split("\n")[:2])

        checks.check("gui --smoke-test", gui)
        checks.check("mcp over stdio", lambda: asyncio.run(mcp_round_trip(exe, env, work)))
        checks.check("kernel", lambda: kernel_round_trip(exe, env, work))

        def tampered() -> str:
            binary = next((exe.parent / "_internal").rglob("qjs-wasi-reactor.wasm"))
            data = bytearray(binary.read_bytes())
            data[-1] ^= 0xFF
            binary.write_bytes(bytes(data))
            fresh = {**env, "WASM_WORKBENCH_CACHE_DIR": str(home / "cache-tampered")}
            result = run_bundle(exe, fresh, work, "run", "hello.js")
            if result.returncode != 4 or "SHA-256" not in result.stderr:
                raise AssertionError(f"exit {result.returncode}: {result.stderr[-800:]!r}")
            return "refused with exit 4"

        checks.check("altered runtime refused", tampered)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return checks.failed


def main(argv: list[str] | None = None) -> int:
    """Build (unless ``--no-build``), then smoke-test; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-build", action="store_true", help="test the bundle in --dist")
    parser.add_argument("--dist", default=str(ROOT / "dist"), help="where the bundle is")
    args = parser.parse_args(argv)
    if not sys.platform.startswith("linux"):
        print("The bundle smoke test runs on Linux only.", file=sys.stderr)
        return 2
    dist = Path(args.dist).resolve()
    if not args.no_build:
        build = [sys.executable, str(ROOT / "packaging" / "build.py"), "--dist", str(dist)]
        subprocess.run(build, check=True)
    if not all(importlib.util.find_spec(name) for name in ("mcp", "jupyter_client")):
        # The mcp and kernel checks drive the bundle with these clients: go on in
        # the build environment, which has them (build.py installs the workbench).
        python = ROOT / "build" / "bundle-venv" / "bin" / "python"
        if not python.exists():
            print(
                "smoke test: this Python lacks the mcp and jupyter_client packages; run it "
                "with a development install's Python, or build first (build/bundle-venv).",
                file=sys.stderr,
            )
            return 2
        again = [str(python), str(Path(__file__).resolve()), "--no-build", "--dist", str(dist)]
        return subprocess.run(again, check=False).returncode
    failed = smoke_test(dist)
    if failed:
        print(f"smoke test: {len(failed)} check(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("smoke test: every check passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
