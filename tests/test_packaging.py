"""The wheel carries everything the program reads at run time.

Builds a wheel, installs it into a fresh virtual environment, and runs the CLI
from a folder outside the repository, so nothing can be picked up from the
checkout by accident (the driver, the manifest, the presets).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_repo(tmp_path: Path, engine: object) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(REPO)],
        check=True,
        capture_output=True,
        text=True,
    )
    wheel = next(dist.glob("wasm_workbench-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "workbench/_data/wasm/runtimes.toml",
        "workbench/_data/wasm/guest/python/driver.py",
        "workbench/_data/wasm/guest/python/introspect.py",
        "workbench/_data/wasm/guest/javascript/prelude.js",
        "workbench/_data/policies/default.toml",
        "workbench/_data/resources/examples/hello.py",
        "workbench/_data/vendor/guest/python/sandbox_utils/__init__.py",
        "workbench/_data/vendor/guest/js/sandbox_utils.js",
        "workbench/_data/vendor/guest/js/module.js",
    ):
        assert required in names, f"{required} missing from the wheel"

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel)],
        check=True,
        capture_output=True,
        text=True,
    )
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "job.py").write_text(
        "import sys\nimport sandbox_utils  # /data/lib, mounted from the installed wheel\n"
        "print('installed', sys.version_info[:2])\n"
    )
    env = dict(os.environ)  # keeps the test run's compiled-module cache
    located = subprocess.run(
        [str(python), "-c", "import workbench; print(workbench.__file__)"],
        cwd=outside,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert str(REPO) not in located.stdout
    run = subprocess.run(
        [str(bindir / "wasm-workbench"), "run", "job.py", "--policy", "conservative"],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "installed (3, 12)"
    assert "panicked" not in run.stderr
    # The Jupyter kernelspecs point at the installed package's Python.
    kernels = subprocess.run(
        [str(bindir / "wasm-workbench"), "kernel", "install", "--prefix", str(tmp_path / "jp")],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert kernels.returncode == 0, kernels.stderr
    spec = json.loads(
        (
            tmp_path / "jp" / "share" / "jupyter" / "kernels" / "wasm-python" / "kernel.json"
        ).read_text(encoding="utf-8")
    )
    assert Path(spec["argv"][0]).parent == bindir
    assert spec["argv"][1:3] == ["-m", "workbench.kernel"]
