"""Shell-style file helpers: ls, cat, head, tail, wc, touch, mkdir, echo, cp, mv, rm."""

import posix

from ._paths import (
    _S_IFDIR,
    _S_IFLNK,
    _S_IFMT,
    _S_IFREG,
    ROOT,
    AppPath,
    exists,
    is_dir,
    is_link,
    join,
    resolve,
)

_KINDS = {_S_IFREG: "file", _S_IFDIR: "dir", _S_IFLNK: "link"}


def _info(path, name):
    import time

    st = posix.lstat(path)
    return {
        "name": name,
        "path": AppPath(path),
        "type": _KINDS.get(st.st_mode & _S_IFMT, "other"),
        "size": st.st_size,
        "modified": "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}Z".format(*time.gmtime(st.st_mtime)),
    }


def ls(path=".", *, long=False, all=False):
    """List a folder's names, sorted (dicts with details when ``long=True``).

    ``long=True`` gives ``{"name", "path", "type", "size", "modified"}`` per
    entry (type "file", "dir", "link" or "other"; modified in ISO 8601 UTC).
    ``all=True`` includes names starting with a dot.
    """
    full = resolve(path)
    if not is_dir(full):
        if not exists(full):
            raise FileNotFoundError(f"ls: {path!r} does not exist")
        names = [full[full.rfind("/") + 1 :]]
        full = full[: full.rfind("/")]
    else:
        names = sorted(n for n in posix.listdir(full) if all or not n.startswith("."))
    if long:
        return [_info(join(full, n), n) for n in names]
    return names


def _text(path, encoding):
    with open(resolve(path), encoding=encoding, errors="replace") as handle:
        return handle.read()


def cat(*paths, encoding="utf-8"):
    """The text of one or more files, concatenated."""
    if not paths:
        raise TypeError("cat() needs at least one file")
    return "".join(_text(p, encoding) for p in paths)


def head(path, lines=10, *, encoding="utf-8"):
    """The first ``lines`` lines of a file, as one string (line ends kept)."""
    out = []
    with open(resolve(path), encoding=encoding, errors="replace") as handle:
        for line in handle:
            if len(out) >= lines:
                break
            out.append(line)
    return "".join(out)


def tail(path, lines=10, *, encoding="utf-8"):
    """The last ``lines`` lines of a file, as one string (line ends kept)."""
    if lines <= 0:
        return ""
    return "".join(_text(path, encoding).splitlines(True)[-lines:])


def wc(path, *, encoding="utf-8"):
    """Count a file's lines, words, characters and bytes, like ``wc``.

    Returns ``{"lines": int, "words": int, "chars": int, "bytes": int}``.
    """
    with open(resolve(path), "rb") as handle:
        data = handle.read()
    text = data.decode(encoding, "replace")
    return {
        "lines": text.count("\n"),
        "words": len(text.split()),
        "chars": len(text),
        "bytes": len(data),
    }


def touch(path):
    """Create an empty file, or update an existing one's modification time."""
    full = resolve(path)
    if exists(full):
        posix.utime(full)
    else:
        with open(full, "ab"):
            pass
    return AppPath(full)


def mkdir(path, *, parents=True, exist_ok=True):
    """Create a folder, with its parents by default (like ``mkdir -p``)."""
    full = resolve(path)
    if is_dir(full):
        if not exist_ok:
            raise FileExistsError(f"mkdir: {path!r} already exists")
        return AppPath(full)
    parent = full[: full.rfind("/")]
    if parents and parent != ROOT and not is_dir(parent):
        mkdir(parent)
    posix.mkdir(full)
    return AppPath(full)


def echo(text="", path=None, *, append=False, newline=True):
    """Print ``text``, or write it to the file ``path`` (``append=True`` adds to it).

    Returns the text written, newline included.
    """
    line = str(text) + ("\n" if newline else "")
    if path is None:
        import sys

        sys.stdout.write(line)
    else:
        with open(resolve(path), "a" if append else "w", encoding="utf-8") as handle:
            handle.write(line)
    return line


def copy_file(src, dst):
    """Copy the bytes of ``src`` to ``dst`` (both checked already)."""
    with open(src, "rb") as source, open(dst, "wb") as target:
        while True:
            block = source.read(1 << 20)
            if not block:
                break
            target.write(block)


def _into(src, dst):
    """``dst``, or the same name as ``src`` inside ``dst`` when it is a folder."""
    if is_dir(dst):
        return resolve(join(dst, src[src.rfind("/") + 1 :]))
    return dst


def cp(src, dst):
    """Copy a file (or a folder, recursively) to ``dst``; into it if it is a folder.

    Returns the path of the copy.
    """
    source = resolve(src, allow_root=False)
    if not exists(source):
        raise FileNotFoundError(f"cp: {src!r} does not exist")
    target = _into(source, resolve(dst, allow_root=False))
    if is_dir(source):
        from ._tree import copy_tree

        return copy_tree(source, target)
    if target == source:
        raise ValueError(f"cp: {src!r} and {dst!r} are the same file")
    copy_file(source, target)
    return AppPath(target)


def mv(src, dst):
    """Move or rename a file or folder; into ``dst`` if it is a folder."""
    source = resolve(src, allow_root=False)
    if not exists(source):
        raise FileNotFoundError(f"mv: {src!r} does not exist")
    target = _into(source, resolve(dst, allow_root=False))
    if target == source or target.startswith(source + "/"):
        raise ValueError(f"mv: can't move {src!r} into itself")
    posix.rename(source, target)
    return AppPath(target)


def rm(*paths, recursive=False, force=False):
    """Remove files, and folders with ``recursive=True`` (like ``rm -r``).

    ``force=True`` skips paths that don't exist. A symbolic link is removed
    itself, never what it points to. Returns how many paths were removed.
    """
    removed = 0
    for path in paths:
        full = resolve(path, allow_root=False)
        if not exists(full):
            if force:
                continue
            raise FileNotFoundError(f"rm: {path!r} does not exist")
        if is_dir(full) and not is_link(full):
            if not recursive:
                raise IsADirectoryError(f"rm: {path!r} is a folder; use recursive=True")
            from ._tree import remove_tree

            remove_tree(full)
        else:
            posix.unlink(full)
        removed += 1
    return removed
