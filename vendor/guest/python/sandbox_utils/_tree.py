"""Folder trees: find, walk, tree, copy_tree, remove_tree.

Traversal never enters a folder through a symbolic link, and skips links
that lead outside /app.
"""

import posix

from ._fs import copy_file, mkdir
from ._paths import AppPath, inside, is_dir, is_file, is_link, join, real, resolve


def _class(pattern, i, ch):
    """Match ``ch`` with the ``[...]`` class at ``pattern[i]``: (matched, end) or (None, i)."""
    j = i + 1
    negate = pattern[j : j + 1] in ("!", "^")
    j += negate
    first = j
    matched = False
    while j < len(pattern) and (pattern[j] != "]" or j == first):
        if pattern[j + 1 : j + 2] == "-" and pattern[j + 2 : j + 3] not in ("", "]"):
            matched = matched or pattern[j] <= ch <= pattern[j + 2]
            j += 3
        else:
            matched = matched or ch == pattern[j]
            j += 1
    if j >= len(pattern):
        return None, i
    return matched != negate, j + 1


def fnmatch(name, pattern):
    """Shell-style, case-sensitive match of ``name`` with ``*``, ``?`` and ``[...]``."""
    n = p = 0
    star_p = star_n = -1
    while n < len(name):
        c = pattern[p] if p < len(pattern) else None
        if c == "*":
            star_p, star_n = p, n
            p += 1
            continue
        if c == "?":
            n += 1
            p += 1
            continue
        if c == "[":
            ok, end = _class(pattern, p, name[n])
            if ok is None:
                ok, end = name[n] == "[", p + 1
            if ok:
                n += 1
                p = end
                continue
        elif c is not None and c == name[n]:
            n += 1
            p += 1
            continue
        if star_p < 0:
            return False
        star_n += 1
        n = star_n
        p = star_p + 1
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def entries(folder):
    """Sorted ``(name, path, kind)`` of a folder; kind is file, dir, link or other."""
    items = []
    with posix.scandir(folder) as scan:
        for entry in scan:
            if entry.is_symlink():
                kind = "link"
            elif entry.is_dir(follow_symlinks=False):
                kind = "dir"
            elif entry.is_file(follow_symlinks=False):
                kind = "file"
            else:
                kind = "other"
            items.append((entry.name, join(folder, entry.name), kind))
    items.sort()
    return items


def walk_tree(top, max_depth=None, depth=0):
    """Yield ``(path, kind)`` below ``top`` (checked), depth-first and sorted.

    A link is reported as what it leads to ("file" or "linkdir", never
    entered); a link leading outside /app is skipped.
    """
    for _name, path, kind in entries(top):
        if kind == "link":
            target = real(path)
            if target is None or not inside(target):
                continue
            kind = "linkdir" if is_dir(target) else "file" if is_file(target) else "other"
        yield path, kind
        if kind == "dir" and (max_depth is None or depth + 1 < max_depth):
            yield from walk_tree(path, max_depth, depth + 1)


def _folder(path, what):
    top = resolve(path)
    if not is_dir(top):
        raise NotADirectoryError(f"{what}: {path!r} is not a folder")
    return top


def find(pattern="*", path=".", *, recursive=True, type="f"):
    """Sorted absolute paths below ``path`` whose name matches the shell ``pattern``.

    ``pattern`` uses ``*``, ``?`` and ``[abc]``; with a ``/`` in it, it is
    matched against the path relative to ``path``. ``type`` is "f" (files,
    the default), "d" (folders) or "any". ``recursive=False`` looks only at
    ``path`` itself.
    """
    if type not in ("f", "d", "any"):
        raise ValueError("find: type must be 'f' (files), 'd' (folders) or 'any'")
    top = _folder(path, "find")
    whole = "/" in pattern
    cut = len(top) + 1
    found = []
    for item, kind in walk_tree(top, None if recursive else 1):
        kind = "dir" if kind == "linkdir" else kind
        wanted = type == "any" or kind == ("file" if type == "f" else "dir")
        if wanted and fnmatch(item[cut:] if whole else item[item.rfind("/") + 1 :], pattern):
            found.append(AppPath(item))
    return found


def walk(path=".", filter_func=None):
    """Yield every file below ``path`` as an AppPath, sorted, depth-first.

    ``filter_func(path)`` keeps only the paths it returns true for.
    """
    for item, kind in walk_tree(_folder(path, "walk")):
        if kind == "file":
            found = AppPath(item)
            if filter_func is None or filter_func(found):
                yield found


def tree(path=".", max_depth=None, *, all=False):
    """A drawing of the folders and files below ``path``, ready to print.

    Folders end with "/", links show their target; ``max_depth=1`` shows one
    level. Names starting with a dot are left out unless ``all=True``.
    """
    top = _folder(path, "tree")
    lines = [top]
    counts = {"dir": 0, "file": 0}

    def draw(folder, prefix, depth):
        items = [i for i in entries(folder) if all or not i[0].startswith(".")]
        for index, (name, item, kind) in enumerate(items):
            last = index == len(items) - 1
            if kind == "link":
                target = real(item)
                name += " -> " + (
                    posix.readlink(item) if target and inside(target) else "(outside /app)"
                )
            elif kind == "dir":
                name += "/"
            lines.append(prefix + ("└── " if last else "├── ") + name)
            counts["dir" if kind == "dir" else "file"] += 1
            if kind == "dir" and (max_depth is None or depth + 1 < max_depth):
                draw(item, prefix + ("    " if last else "│   "), depth + 1)

    draw(top, "", 0)
    dirs, files = counts["dir"], counts["file"]
    lines.append(f"\n{dirs} folder{'s' * (dirs != 1)}, {files} file{'s' * (files != 1)}")
    return "\n".join(lines)


def copy_tree(src, dst):
    """Copy the folder ``src`` to ``dst`` recursively (merging into an existing one).

    A link inside ``src`` is copied as what it points to; one leading outside
    /app is refused. Returns ``dst``.
    """
    source = _folder(src, "copy_tree")
    target = resolve(dst, allow_root=False)
    if target == source or target.startswith(source + "/"):
        raise ValueError(f"copy_tree: can't copy {src!r} into itself ({dst!r})")
    mkdir(target)
    for name, item, kind in entries(source):
        out = join(target, name)
        if kind == "link":
            item = resolve(item)  # refuses a link that leads outside /app
            kind = "dir" if is_dir(item) else "file"
        if kind == "dir":
            copy_tree(item, out)
        elif kind == "file":
            copy_file(item, out)
    return AppPath(target)


def remove_tree(path):
    """Remove a folder and everything in it; returns how many entries went.

    Links inside are removed themselves, never followed; /app itself can't go.
    """
    top = resolve(path, allow_root=False)
    if is_link(top) or not is_dir(top):
        raise NotADirectoryError(f"remove_tree: {path!r} is not a folder; use rm()")
    return _remove(top)


def _remove(folder):
    count = 1
    for _name, item, kind in entries(folder):
        if kind == "dir":
            count += _remove(item)
        else:
            posix.unlink(item)
            count += 1
    posix.rmdir(folder)
    return count
