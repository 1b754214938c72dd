"""Build the WASM Workbench desktop bundle for this platform: ``python packaging/build.py``.

Steps:

1. make a build environment, ``build/bundle-venv`` (a virtualenv of the Python
   running this script), and install the workbench with its ``[bundle]`` extra
   into it (PyInstaller and its community hooks). A separate environment keeps
   the bundle to what the workbench needs, whatever else the current one holds;
   ``--python PATH`` uses an existing interpreter with ``.[bundle]`` installed
   instead (nothing is installed then);
2. run PyInstaller on ``packaging/wasm-workbench.spec``: ``dist/WASM-Workbench/``
   (a folder bundle: the executable ``WASM-Workbench`` and ``_internal/``), or
   ``dist/WASM-Workbench.app`` on macOS;
3. on Linux, pack that folder with a ``.desktop`` file, the icon and
   ``install-desktop-entry.sh`` into ``dist/WASM-Workbench-<version>-linux-<arch>.tar.gz``,
   the single file users download.

Needs network access the first time (PyPI) and about 1.5 GB of disk; it takes a few
minutes. Run it from anywhere; paths are relative to the checkout.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = "WASM-Workbench"
LINUX_FILES = ROOT / "packaging" / "linux"


def version() -> str:
    """The workbench version, from ``workbench/__init__.py``."""
    namespace: dict[str, str] = {}
    exec((ROOT / "workbench" / "__init__.py").read_text("utf-8"), namespace)
    return namespace["__version__"]


def venv_python(folder: Path) -> Path:
    """The interpreter of the virtualenv ``folder``."""
    if sys.platform == "win32":
        return folder / "Scripts" / "python.exe"
    return folder / "bin" / "python"


def prepare_environment(folder: Path, *, fresh: bool) -> Path:
    """Create (or reuse) the build virtualenv and install ``.[bundle]`` into it."""
    if fresh and folder.exists():
        shutil.rmtree(folder)
    python = venv_python(folder)
    if not python.exists():
        print(f"build: creating the build environment {folder}", flush=True)
        venv.EnvBuilder(with_pip=True).create(folder)
    print("build: installing wasm-workbench[bundle] into it", flush=True)
    # Editable: the spec takes the package and its data folders from this
    # checkout; the install brings the pinned dependencies and PyInstaller.
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[bundle]"], check=True
    )
    return python


def run_pyinstaller(python: Path, dist: Path, work: Path) -> None:
    """Build the folder bundle (and the .app on macOS) into ``dist``."""
    print("build: running PyInstaller (a few minutes)", flush=True)
    subprocess.run(
        [
            str(python),
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--clean",
            "--log-level",
            "WARN",
            "--distpath",
            str(dist),
            "--workpath",
            str(work),
            str(ROOT / "packaging" / "wasm-workbench.spec"),
        ],
        check=True,
        cwd=ROOT,
    )


def linux_tarball(dist: Path) -> Path:
    """Pack the folder bundle with its desktop entry and icon into one .tar.gz."""
    folder = dist / APP
    shutil.copy2(ROOT / "resources" / "icons" / "wasm-workbench.png", folder)
    shutil.copy2(LINUX_FILES / "wasm-workbench.desktop", folder)
    installer = folder / "install-desktop-entry.sh"
    shutil.copy2(LINUX_FILES / "install-desktop-entry.sh", installer)
    installer.chmod(0o755)
    machine = platform.machine().lower() or "unknown"
    target = dist / f"{APP}-{version()}-linux-{machine}.tar.gz"
    print(f"build: packing {target.name}", flush=True)
    with tarfile.open(target, "w:gz", compresslevel=6) as tar:
        tar.add(folder, arcname=APP)
    return target


def folder_size(folder: Path) -> int:
    """Bytes in every file under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def main(argv: list[str] | None = None) -> int:
    """Build the bundle; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--python", help="use this interpreter (with .[bundle] installed); no build venv"
    )
    parser.add_argument(
        "--venv", default=str(ROOT / "build" / "bundle-venv"), help="build environment folder"
    )
    parser.add_argument("--fresh", action="store_true", help="recreate the build environment")
    parser.add_argument("--dist", default=str(ROOT / "dist"), help="output folder")
    parser.add_argument(
        "--no-tarball", action="store_true", help="Linux: stop after the folder bundle"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    dist = Path(args.dist).resolve()
    if args.python:
        python = Path(args.python)
    else:
        python = prepare_environment(Path(args.venv).resolve(), fresh=args.fresh)
    run_pyinstaller(python, dist, ROOT / "build" / "pyinstaller")
    if sys.platform == "darwin":
        print(f"build: {dist / (APP + '.app')}")
    else:
        folder = dist / APP
        print(f"build: {folder} ({folder_size(folder) / 2**20:.0f} MiB)")
        if sys.platform.startswith("linux") and not args.no_tarball:
            tarball = linux_tarball(dist)
            print(f"build: {tarball} ({tarball.stat().st_size / 2**20:.0f} MiB)")
    print(f"build: done in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
