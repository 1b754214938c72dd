"""``install_package(session, "name==version")``: a pure-Python package for one session.

The host (never the guest: it has no network) resolves the requirement and its
dependencies against PyPI for the guest's environment (CPython 3.12 on WASI,
wasm32; CPython 3.15 for a ``python-sci`` session), downloads each wheel with
its SHA-256 checked, refuses anything that isn't pure Python, and unpacks into
the session's workspace at ``/app/site-packages``, which the guest driver keeps
on ``sys.path`` (before the vendored bundle, so a session can use another
version). The new files are then compiled to bytecode by the guest's own
CPython, so imports are cheap.

Dependencies already satisfied by the vendored bundle, by earlier installs in
the session or (python-sci) by the packages built into the runtime are not
installed again; asking for one of those says where it already is. The resolver
is deliberately simple: for each requirement it takes the newest version that
fits and has a pure wheel, and stops with an error on a conflict rather than
backtracking.

Specs are validated before anything is fetched: a name (letters, digits, ``.``,
``_``, ``-``), optional extras, and an optional ``==version``. URLs, paths,
other operators, markers and pip options are refused.
"""

from __future__ import annotations

import contextlib
import email.parser
import logging
import os
import re
import shutil
import uuid
import zipfile
from pathlib import Path
from typing import Protocol

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, Field

from ._engine import cache_dir
from ._errors import NativePackageError, PackageError, PackageSpecError, WorkspaceError
from ._links import remove_escaping_links
from ._result import RuntimeType
from ._vendor import compile_in_guest, compile_in_sci_guest, load_vendor_lock
from ._wheels import (
    PyPIFile,
    PyPIRelease,
    check_pure_wheel,
    download,
    guest_markers,
    is_pure_wheel_name,
    pypi_project,
    pypi_release,
    unpack_wheel,
    wheel_requirements,
)

__all__ = ["InstallResult", "InstalledPackage", "install_package", "validate_package_spec"]

log = logging.getLogger("workbench.sandbox.packages")

#: Where installed packages appear inside the guest.
SESSION_SITE_GUEST_PATH = "/app/site-packages"
#: Most distributions one install may bring in (the package and its dependencies).
MAX_PACKAGES = 40
MAX_SPEC_LENGTH = 200

_SPEC = re.compile(
    r"(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?)"
    r"(?:\[(?P<extras>[A-Za-z0-9._-]+(?:,[A-Za-z0-9._-]+)*)\])?"
    r"(?:==(?P<version>[A-Za-z0-9.+!_-]{1,64}))?"
)

# Pure-Python stand-ins for packages that need native code (install name -> advice).
_NATIVE_ALTERNATIVES = {
    "numpy": "plain lists with math and statistics",
    "pandas": "csv with statistics, or openpyxl (vendored) for spreadsheets",
    "lxml": "xml.etree.ElementTree, or defusedxml (vendored)",
    "pyyaml": "the vendored tomli for TOML, or json",
    "markupsafe": "the vendored markupsafe (pure-Python build)",
    "charset-normalizer": "the vendored charset-normalizer (pure-Python wheel)",
    "orjson": "json",
    "ujson": "json",
    "regex": "re",
    "cryptography": "hashlib, hmac and secrets",
    "pycryptodome": "hashlib, hmac and secrets",
    "pillow": "no pure-Python image library is vendored; process images outside the sandbox",
    "pydantic": "dataclasses or the vendored attrs",
    "pydantic-core": "dataclasses or the vendored attrs",
    "psutil": "nothing: the sandbox has no processes to inspect",
}
# The same for python-sci, which has numpy, pandas, scipy, scikit-learn ... built in.
_SCI_NATIVE_ALTERNATIVES = {
    "pyarrow": "pandas' read_csv/to_csv, or read_excel/to_excel (openpyxl is built in); "
    "Parquet and Feather need pyarrow, which python-sci doesn't have",
    "fastparquet": "pandas' read_csv/to_csv, or read_excel/to_excel",
    "polars": "pandas (built in)",
    "numba": "vectorised numpy (built in)",
    "torch": "scikit-learn (built in) for classic models",
    "tensorflow": "scikit-learn (built in) for classic models",
    "xgboost": "scikit-learn's HistGradientBoostingClassifier/Regressor (built in)",
    "lightgbm": "scikit-learn's HistGradientBoostingClassifier/Regressor (built in)",
    "opencv-python": "scipy.ndimage and PIL (built in)",
    "scikit-image": "scipy.ndimage and PIL (built in)",
    "orjson": "json",
    "ujson": "json",
    "cryptography": "hashlib, hmac and secrets",
    "psutil": "nothing: the sandbox has no processes to inspect",
}


class _Target:
    """What an install resolves against: the session runtime's guest Python."""

    def __init__(self, runtime: RuntimeType) -> None:
        self.runtime = runtime
        self.minor = 15 if runtime is RuntimeType.PYTHON_SCI else 12
        self.markers = guest_markers(self.minor)
        self.python = f"Python 3.{self.minor}"

    def built_in(self) -> dict[str, str]:
        """Distributions the runtime itself has (python-sci's zip)."""
        if self.runtime is not RuntimeType.PYTHON_SCI:
            return {}
        from ._engine import get_engine
        from ._runtimes.scientific import zip_distributions

        return zip_distributions(get_engine())

    def vendored(self) -> dict[str, str]:
        """Distributions of the vendored bundle this runtime mounts."""
        versions = _vendored_versions()
        built_in = self.built_in()
        return {name: v for name, v in versions.items() if name not in built_in}

    def compile(self, staging: Path) -> list[str]:
        if self.runtime is RuntimeType.PYTHON_SCI:
            return compile_in_sci_guest(staging, SESSION_SITE_GUEST_PATH)
        return compile_in_guest(staging, SESSION_SITE_GUEST_PATH)

    def advice(self, name: str) -> str:
        table = (
            _SCI_NATIVE_ALTERNATIVES
            if self.runtime is RuntimeType.PYTHON_SCI
            else _NATIVE_ALTERNATIVES
        )
        instead = table.get(canonicalize_name(name))
        if instead:
            return f"Use instead: {instead}."
        return (
            "Look for a pure-Python package that does the same job (its PyPI files end in "
            "py3-none-any.whl), or do this part outside the sandbox."
        )


class InstalledPackage(BaseModel):
    """One distribution installed into the session."""

    name: str
    version: str
    filename: str = Field(description="The wheel file from PyPI.")
    sha256: str
    wheel_bytes: int
    installed_bytes: int = Field(description="Bytes unpacked into /app/site-packages.")
    files: int
    required_by: str = Field(description="'requested' or the package that needs it.")


class InstallResult(BaseModel):
    """What :func:`install_package` did."""

    requested: str
    installed: list[InstalledPackage]
    #: Requirements already met, as "name version (where)".
    already_satisfied: list[str]
    target: str = SESSION_SITE_GUEST_PATH
    total_bytes: int
    #: Files whose bytecode couldn't be compiled (they still import from source).
    compile_failures: list[str] = Field(default_factory=list)

    def summary(self) -> str:
        """One line: what was installed, or where the package already is."""
        if not self.installed and self.already_satisfied:
            return f"Nothing to install: already available: {'; '.join(self.already_satisfied)}"
        names = ", ".join(f"{p.name} {p.version}" for p in self.installed) or "nothing new"
        return f"Installed {names} into {self.target} ({self.total_bytes / 1e6:.1f} MB)"


class _HasWorkspace(Protocol):
    workspace: Path
    runtime: RuntimeType


def validate_package_spec(spec: object) -> Requirement:
    """Check an install spec and return it parsed.

    Accepts ``name``, ``name==version`` and ``name[extra1,extra2]==version``.

    Raises
    ------
    PackageSpecError
        For anything else: not a string, too long, URLs, paths, whitespace,
        options, markers, or operators other than ``==``.
    """
    if not isinstance(spec, str):
        raise PackageSpecError(f"The package spec must be a string, not {type(spec).__name__}.")
    if not spec or len(spec) > MAX_SPEC_LENGTH:
        raise PackageSpecError(
            f"The package spec must be 1 to {MAX_SPEC_LENGTH} characters, like 'tabulate==0.9.0'."
        )
    match = _SPEC.fullmatch(spec)
    if match is None:
        raise PackageSpecError(
            f"{spec!r} is not a package spec this accepts. Give a PyPI name with an optional "
            "exact version, like 'tabulate' or 'tabulate==0.9.0'. URLs, file paths, pip "
            "options, environment markers and operators other than == are refused."
        )
    version = match["version"]
    if version is not None:
        try:
            Version(version)
        except InvalidVersion:
            raise PackageSpecError(f"{version!r} in {spec!r} is not a valid version.") from None
    try:
        return Requirement(spec)
    except InvalidRequirement as exc:  # pragma: no cover - the pattern is stricter
        raise PackageSpecError(f"{spec!r} is not a valid requirement: {exc}") from None


def install_package(session: _HasWorkspace, spec: str) -> InstallResult:
    """Install a pure-Python package (and its dependencies) into a session's workspace.

    Parameters
    ----------
    session
        A Python or python-sci :class:`~workbench.sandbox.Session` (or
        :class:`~workbench.sandbox.Sandbox`): its workspace receives
        ``site-packages/``. Install between turns, not while one runs.
    spec
        ``"name"`` (newest version) or ``"name==version"``; extras as
        ``"name[extra]==version"``.

    Returns
    -------
    InstallResult
        The distributions installed, with versions and sizes, and the
        requirements that were already met (vendored, installed earlier, or
        built into python-sci: then ``installed`` is empty and
        ``already_satisfied`` says so).

    Raises
    ------
    PackageSpecError
        If ``spec`` is malformed or not allowed (nothing is fetched).
    NativePackageError
        If the package or a dependency ships only native code, with what to use
        instead (nothing is installed).
    PackageError
        If PyPI can't be reached, a hash doesn't match, versions conflict, or
        the install would exceed the workspace quota (nothing is installed).
    WorkspaceError
        If the session's ``site-packages`` isn't a plain folder (e.g. a symlink).
    """
    requirement = validate_package_spec(spec)
    runtime = getattr(session, "runtime", None)
    if runtime not in (RuntimeType.PYTHON, RuntimeType.PYTHON_SCI):
        raise PackageError("install_package works for Python sessions only.")
    target = _Target(runtime)
    workspace = Path(session.workspace)
    site = _session_site(workspace)
    plan = _resolve(requirement, site, target)
    staging = workspace.parent / f".install-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    try:
        installed: list[InstalledPackage] = []
        for item in plan.chosen:
            with zipfile.ZipFile(item.path) as archive:
                written = unpack_wheel(archive, staging)
            size = sum((staging / rel).stat().st_size for rel in written)
            installed.append(
                InstalledPackage(
                    name=item.release.name,
                    version=item.release.version,
                    filename=item.file.filename,
                    sha256=item.file.sha256,
                    wheel_bytes=item.path.stat().st_size,
                    installed_bytes=size,
                    files=len(written),
                    required_by=item.required_by,
                )
            )
        total = sum(p.installed_bytes for p in installed)
        _check_quota(session, workspace, total)
        failures = target.compile(staging) if installed else []
        _move_into(staging, site)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    # Wheels are unpacked as plain files; the backstop of _links all the same.
    removed = remove_escaping_links(workspace)
    if removed:
        log.warning("removed %d link(s) leading out of %s: %s", len(removed), workspace, removed)
    log.info("installed %s into %s", [p.name for p in installed], site)
    return InstallResult(
        requested=spec,
        installed=installed,
        already_satisfied=plan.satisfied,
        total_bytes=total,
        compile_failures=failures,
    )


# ---- Internals


class _Chosen:
    def __init__(self, release: PyPIRelease, file: PyPIFile, path: Path, required_by: str):
        self.release = release
        self.file = file
        self.path = path
        self.required_by = required_by


class _Plan:
    def __init__(self) -> None:
        self.chosen: list[_Chosen] = []
        self.satisfied: list[str] = []


def _session_site(workspace: Path) -> Path:
    """``<workspace>/site-packages``, refusing anything but a real folder there."""
    site = workspace / "site-packages"
    if site.is_symlink() or (site.exists() and not site.is_dir()):
        raise WorkspaceError(
            "The session's /app/site-packages is not a plain folder (a file or a symbolic "
            "link), so nothing was installed. Delete it (session.delete_file('site-packages')) "
            "and install again."
        )
    return site


def _installed_in(site: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    if not site.is_dir():
        return found
    for meta in site.glob("*.dist-info/METADATA"):
        if meta.is_symlink():
            continue
        try:
            headers = email.parser.Parser().parsestr(
                meta.read_text("utf-8", "replace")[:65536], headersonly=True
            )
        except OSError:
            continue
        name, version = headers.get("Name"), headers.get("Version")
        if name and version:
            found[canonicalize_name(str(name))] = str(version)
    return found


def _vendored_versions() -> dict[str, str]:
    try:
        lock = load_vendor_lock()
    except PackageError:
        return {}
    return {canonicalize_name(p.name): p.version for p in lock.packages}


def _resolve(requirement: Requirement, site: Path, target: _Target) -> _Plan:
    plan = _Plan()
    vendored = target.vendored()
    built_in = target.built_in()
    existing = _installed_in(site)
    chosen: dict[str, _Chosen] = {}
    queue: list[tuple[Requirement, str]] = [(requirement, "requested")]
    downloads = cache_dir() / "packages"
    while queue:
        req, why = queue.pop(0)
        key = canonicalize_name(req.name)
        if key in chosen:
            have = chosen[key].release.version
            if req.specifier and not req.specifier.contains(have, prereleases=True):
                raise PackageError(
                    f"Conflicting requirements: {why} needs {req}, but {req.name} {have} was "
                    "already chosen. Install a version of the requested package whose "
                    "dependencies agree."
                )
            continue
        met = next(
            (
                f"{req.name} {version} ({where})"
                for where, version in (
                    ("installed in this session", existing.get(key)),
                    ("built into python-sci", built_in.get(key)),
                    ("vendored", vendored.get(key)),
                )
                if version is not None and _fits(req.specifier, version)
            ),
            None,
        )
        if met is not None:
            plan.satisfied.append(met)
            continue
        if len(chosen) >= MAX_PACKAGES:
            raise PackageError(f"{requirement} needs more than {MAX_PACKAGES} packages; refusing.")
        if key in built_in:
            needed = "" if why == "requested" else f" (needed by {why})"
            raise PackageError(
                f"{req.name} {built_in[key]} is built into python-sci, so {req}{needed} can't "
                "be installed beside it. Use the built-in version (or a version of the "
                "requested package that works with it)."
            )
        item = _choose(req, why, downloads, target)
        chosen[key] = item
        plan.chosen.append(item)
        with zipfile.ZipFile(item.path) as archive:
            check_pure_wheel(
                item.file.filename, archive, advice=target.advice(req.name), minor=target.minor
            )
            needs = wheel_requirements(archive)
        for line in needs:
            try:
                dep = Requirement(line)
            except InvalidRequirement:
                log.warning("skipping an unreadable requirement of %s: %r", req.name, line)
                continue
            if dep.marker is not None and not any(
                dep.marker.evaluate({**target.markers, "extra": extra})
                for extra in (req.extras or {""})
            ):
                continue
            queue.append((dep, f"{item.release.name} {item.release.version}"))
    return plan


def _fits(specifier: SpecifierSet, version: str) -> bool:
    try:
        return specifier.contains(version, prereleases=True)
    except InvalidVersion:
        return False


def _choose(req: Requirement, why: str, downloads: Path, target: _Target) -> _Chosen:
    """Newest release fitting ``req`` with a pure wheel, downloaded and verified."""
    project = pypi_project(req.name)
    releases = project.get("releases", {})
    candidates: list[Version] = []
    for text in releases:
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        if not req.specifier.contains(version, prereleases=bool(req.specifier)):
            continue
        if version.is_prerelease and not req.specifier:
            continue
        candidates.append(version)
    if not candidates:
        raise PackageError(
            f"PyPI has no release of {req.name} matching {req.specifier or 'any version'}"
            f" (needed by {why})."
        )
    native_only: list[str] = []
    for version in sorted(candidates, reverse=True):
        release = pypi_release(req.name, str(version))
        files = [f for f in release.files if not f.yanked]
        if release.requires_python:
            try:
                if not SpecifierSet(release.requires_python).contains(
                    target.markers["python_full_version"]
                ):
                    continue
            except Exception:  # an unreadable requires_python: judge by the files
                pass
        pure = [
            f
            for f in files
            if f.filename.endswith(".whl") and is_pure_wheel_name(f.filename, target.minor)
        ]
        if pure:
            file = pure[0]
            path = download(file.url, file.sha256, downloads, file.filename)
            return _Chosen(release, file, path, why)
        wheels = [f.filename for f in files if f.filename.endswith(".whl")]
        if wheels:
            native_only.append(f"{release.version} ({wheels[0]})")
        if req.specifier:
            break  # only the pinned/limited version is acceptable; report it
        if len(native_only) >= 1:
            break
    if native_only:
        raise NativePackageError(
            f"{req.name} {native_only[0]} publishes only wheels with compiled native code "
            "(platform tags such as manylinux or win_amd64), and WebAssembly can't load "
            f"native extensions. {target.advice(req.name)}"
        )
    raise PackageError(
        f"{req.name} {req.specifier or ''} has no wheel for {target.python} on PyPI (only a source "
        "archive, or wheels for other Python versions). install_package installs wheels only; "
        "if the package is pure Python, ask for it to be added to the vendored bundle "
        "(vendor/packages.toml), or copy its .py files into the workspace."
    )


def _check_quota(session: _HasWorkspace, workspace: Path, adding: int) -> None:
    policy = getattr(session, "policy", None)
    limit = getattr(policy, "workspace_max_bytes", None)
    if not isinstance(limit, int):
        return
    used = sum(p.stat().st_size for p in workspace.rglob("*") if p.is_file() and not p.is_symlink())
    # Bytecode adds roughly as much again as the sources.
    if used + 2 * adding > limit:
        raise PackageError(
            f"Installing needs about {2 * adding / 1e6:.1f} MB, but the workspace has "
            f"{(limit - used) / 1e6:.1f} MB left under its quota (workspace_max_bytes). "
            "Raise the quota in the session's policy or free space, then install again."
        )


def _move_into(staging: Path, site: Path) -> None:
    """Move the staged entries into ``site``, replacing older versions of the same names."""
    _session_site(site.parent)  # re-check right before writing
    site.mkdir(exist_ok=True)
    for entry in sorted(staging.iterdir()):
        target = site / entry.name
        if target.is_symlink():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        os.replace(entry, target)
    # Stale metadata of other versions of the same distributions.
    names = {p.name.split("-")[0].lower() for p in site.glob("*.dist-info")}
    for name in names:
        infos = sorted(
            (p for p in site.glob("*.dist-info") if p.name.split("-")[0].lower() == name),
            key=lambda p: p.stat().st_mtime,
        )
        for old in infos[:-1]:
            with contextlib.suppress(OSError):
                shutil.rmtree(old)
