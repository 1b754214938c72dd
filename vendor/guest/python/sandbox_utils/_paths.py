"""Path checks: every sandbox_utils path must stay inside /app.

A path is accepted when its spelling, with ``.`` and ``..`` applied, lies inside
``/app`` *and* the place it leads to once every symbolic link on the way is
followed lies inside ``/app`` too. Only the builtin ``posix`` module is used,
so importing this costs almost no fuel.
"""

import posix

ROOT = "/app"
_MAX_LINKS = 40
_S_IFMT = 0o170000
_S_IFDIR = 0o040000
_S_IFREG = 0o100000
_S_IFLNK = 0o120000


class SandboxPathError(PermissionError, ValueError):
    """A path that sandbox_utils refuses: it leaves /app.

    Both a ``PermissionError`` and a ``ValueError``, so ``except`` clauses
    written for either catch it.
    """


def _refuse(spelled, where, how):
    if spelled == where:
        shown = f"{spelled!r} is outside /app."
    elif where.startswith("/"):
        shown = f"{spelled!r} {how} {where}, which is outside /app."
    else:
        shown = f"{spelled!r} {how} {where}."
    raise SandboxPathError(
        f"Path {shown} sandbox_utils only works inside the workspace "
        "/app: use a relative path such as 'data/file.txt' or an absolute one such "
        "as '/app/data/file.txt'."
    )


def as_text(path):
    """``path`` as a str (str, bytes and os.PathLike accepted)."""
    if isinstance(path, str):
        text = path
    elif isinstance(path, bytes):
        text = path.decode("utf-8", "surrogateescape")
    elif hasattr(path, "__fspath__"):
        return as_text(path.__fspath__())
    else:
        raise TypeError(f"expected a path (str, bytes or os.PathLike), got {type(path).__name__}")
    if "\x00" in text:
        raise SandboxPathError(f"Path {text!r} contains a NUL character.")
    return text


def normalize(path):
    """Absolute form of ``path`` with '.', '..' and repeated '/' applied (no I/O)."""
    if not path.startswith("/"):
        try:
            cwd = posix.getcwd()
        except OSError:
            cwd = ROOT
        path = cwd + "/" + path
    parts = []
    for part in path.split("/"):
        if part == "" or part == ".":
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def inside(path):
    """Whether the normalized absolute ``path`` is /app or below it."""
    return path == ROOT or path.startswith(ROOT + "/")


def real(path):
    """Where the normalized absolute ``path`` leads, following symbolic links.

    Components that don't exist are kept as spelled (like ``os.path.realpath``).
    None when a link on the way can't be read (WASI refuses links to absolute
    paths, which could only lead out of /app).
    """
    done = ""
    todo = path.split("/")[::-1]
    links = 0
    while todo:
        part = todo.pop()
        if part == "" or part == ".":
            continue
        if part == "..":
            done = done[: done.rfind("/")]
            continue
        candidate = done + "/" + part
        try:
            mode = posix.lstat(candidate).st_mode
        except OSError:
            done = candidate
            continue
        if mode & _S_IFMT != _S_IFLNK:
            done = candidate
            continue
        links += 1
        if links > _MAX_LINKS:
            raise SandboxPathError(f"Path {path!r} has too many levels of symbolic links.")
        try:
            target = posix.readlink(candidate)
        except OSError:
            return None  # WASI won't read a link to an absolute path: it can only lead out
        if target.startswith("/"):
            done = ""
        todo.extend(target.split("/")[::-1])
    return done or "/"


def resolve(path, *, allow_root=True):
    """Check ``path`` and return its normalized absolute form inside /app.

    Raises
    ------
    SandboxPathError
        If the path, or where its symbolic links lead, is outside /app (or is
        /app itself when ``allow_root`` is false).
    """
    spelled = as_text(path)
    full = normalize(spelled)
    if not inside(full):
        _refuse(spelled, full, "means")
    target = real(full)
    if target is None:
        _refuse(spelled, "a place outside /app", "leads through a symbolic link to")
    if not inside(target):
        _refuse(spelled, target, "leads through a symbolic link to")
    if not allow_root and full == ROOT:
        raise SandboxPathError(
            "Refusing to remove or replace /app itself; name the files or folders inside it."
        )
    return full


def is_dir(path):
    """Whether ``path`` (checked already) is a directory, following links."""
    try:
        return posix.stat(path).st_mode & _S_IFMT == _S_IFDIR
    except OSError:
        return False


def is_file(path):
    """Whether ``path`` (checked already) is a regular file, following links."""
    try:
        return posix.stat(path).st_mode & _S_IFMT == _S_IFREG
    except OSError:
        return False


def is_link(path):
    """Whether ``path`` itself is a symbolic link."""
    try:
        return posix.lstat(path).st_mode & _S_IFMT == _S_IFLNK
    except OSError:
        return False


def exists(path):
    """Whether ``path`` exists (a dangling link counts: it is there to remove)."""
    try:
        posix.lstat(path)
    except OSError:
        return False
    return True


def join(base, name):
    """``base`` + '/' + ``name`` without doubling the slash."""
    return base + name if base.endswith("/") else base + "/" + name


class AppPath(str):
    """A path string returned by sandbox_utils, with pathlib-style helpers.

    It is a ``str`` (``open(p)`` works) with ``name``, ``stem``, ``suffix``,
    ``parent``, ``p / "x"``, ``exists()``, ``is_file()``, ``is_dir()``,
    ``read_text()`` and ``write_text()``.
    """

    __slots__ = ()

    @property
    def name(self):
        """The final component."""
        return self[self.rfind("/") + 1 :]

    @property
    def suffix(self):
        """The final component's extension, with its dot ('' if none)."""
        name = self.name
        dot = name.rfind(".")
        return name[dot:] if 0 < dot < len(name) - 1 else ""

    @property
    def stem(self):
        """The final component without its suffix."""
        name = self.name
        suffix = self.suffix
        return name[: len(name) - len(suffix)] if suffix else name

    @property
    def parent(self):
        """The containing folder."""
        cut = self.rfind("/")
        return AppPath(self[:cut] if cut > 0 else "/")

    def __truediv__(self, other):
        return AppPath(join(self, as_text(other)))

    def exists(self):
        """Whether the path exists."""
        return exists(resolve(self))

    def is_file(self):
        """Whether the path is a regular file."""
        return is_file(resolve(self))

    def is_dir(self):
        """Whether the path is a directory."""
        return is_dir(resolve(self))

    def read_text(self, encoding="utf-8"):
        """The file's text."""
        with open(resolve(self), encoding=encoding) as handle:
            return handle.read()

    def write_text(self, text, encoding="utf-8"):
        """Replace the file's content with ``text``; returns the characters written."""
        with open(resolve(self), "w", encoding=encoding) as handle:
            return handle.write(text)


# Shown (in tracebacks, reprs and pickles) under the package that exports them.
SandboxPathError.__module__ = "sandbox_utils"
AppPath.__module__ = "sandbox_utils"
