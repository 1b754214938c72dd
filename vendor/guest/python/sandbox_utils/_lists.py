"""List helpers: group_by, filter_by, sort_by, unique, chunk."""


def _key_function(key):
    """A function item -> value for ``key``: a callable, a dict key/attribute, or a list."""
    if callable(key):
        return key
    if isinstance(key, (list, tuple)):
        parts = [_key_function(k) for k in key]
        return lambda item: tuple(part(item) for part in parts)

    def get(item):
        try:
            return item[key]
        except (KeyError, IndexError):
            return None
        except TypeError:
            return getattr(item, key, None)

    return get


def group_by(items, key):
    """Group ``items`` into a dict ``{key value: [items]}`` (first-seen order).

    ``key`` is a function, a dict key / attribute name, or a list of them.

    Examples
    --------
    >>> group_by(users, "country")
    >>> group_by(users, lambda u: u["age"] // 10 * 10)
    """
    get = _key_function(key)
    groups = {}
    for item in items:
        groups.setdefault(get(item), []).append(item)
    return groups


def filter_by(items, predicate=None, **equals):
    """The items for which ``predicate(item)`` is true and every ``field=value`` matches.

    Examples
    --------
    >>> filter_by(users, lambda u: u["active"])
    >>> filter_by(users, country="NL", active=True)
    """
    if predicate is not None and not callable(predicate):
        if isinstance(predicate, dict):
            equals = {**predicate, **equals}
            predicate = None
        else:
            raise TypeError("filter_by: predicate must be a function or a dict of field values")
    getters = [(_key_function(name), value) for name, value in equals.items()]
    out = []
    for item in items:
        if predicate is not None and not predicate(item):
            continue
        if all(get(item) == value for get, value in getters):
            out.append(item)
    return out


def sort_by(items, key, reverse=False):
    """A sorted list of ``items`` by ``key`` (a function, field name or list of them).

    Items whose key is None go last (first with ``reverse=True``).

    Examples
    --------
    >>> sort_by(users, "created_at", reverse=True)
    >>> sort_by(rows, ["country", "name"])
    """
    get = _key_function(key)

    def order(item):
        value = get(item)
        return (True, 0) if value is None else (False, value)

    return sorted(items, key=order, reverse=reverse)


def unique(items, key=None):
    """``items`` without repeats, keeping the first of each (order preserved).

    ``key`` (a function or field name) decides what counts as the same item.
    Unhashable values (lists, dicts) work too.
    """
    get = None if key is None else _key_function(key)
    seen = set()
    seen_list = []
    out = []
    for item in items:
        marker = item if get is None else get(item)
        try:
            if marker in seen:
                continue
            seen.add(marker)
        except TypeError:
            if marker in seen_list:
                continue
            seen_list.append(marker)
        out.append(item)
    return out


def chunk(items, size):
    """Split ``items`` into lists of ``size`` (the last one may be shorter).

    Examples
    --------
    >>> chunk([1, 2, 3, 4, 5], 2)
    [[1, 2], [3, 4], [5]]
    """
    if not isinstance(size, int) or size < 1:
        raise ValueError("chunk: size must be a whole number of at least 1")
    items = list(items)
    return [items[i : i + size] for i in range(0, len(items), size)]
