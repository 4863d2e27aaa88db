"""Go's ``path/filepath`` ``Match`` and ``Glob``, which buildah uses to expand COPY/ADD sources.

Python's ``fnmatch``/``glob`` differ where it matters for a cache key: a class negates with ``^`` in Go
(``[^a]``) while ``[!a]`` is the two characters ``!`` and ``a``; ``*`` matches a leading dot; a backslash
escapes the next character; a malformed pattern (``[``, ``[]a]``, ``[a-]``, a trailing ``\\``) is an error
even where the name does not match. Paths are ``/``-separated and relative to the build context.
"""

from __future__ import annotations

import os

#: characters that make a path a pattern for ``Glob`` (backslash included, as on Linux)
META_CHARS = "*?[\\"


class BadPattern(ValueError):
    """The pattern is malformed for Go's ``filepath.Match`` (buildah fails the copy with it)."""

    def __init__(self, pattern: str) -> None:
        super().__init__(f"syntax error in pattern {pattern!r}")
        self.pattern = pattern


def has_meta(path: str) -> bool:
    return any(c in META_CHARS for c in path)


def match(pattern: str, name: str) -> bool:
    """``filepath.Match(pattern, name)``: the whole name matches; ``*``/``?``/classes never match ``/``.

    Raises BadPattern for a malformed pattern, also when the name does not match (Go checks the rest).
    """
    rest = pattern
    while rest:
        star, chunk, rest = _next_chunk(rest)
        if star and not chunk:
            return "/" not in name  # a trailing star takes the rest of the name, separators excepted
        left = _match_chunk(chunk, name, pattern)
        if left is not None and (not left or rest):
            name = left
            continue
        if star:
            found = False
            for i in range(len(name)):
                if name[i] == "/":
                    break
                left = _match_chunk(chunk, name[i + 1 :], pattern)
                if left is not None and (rest or not left):
                    name, found = left, True
                    break
            if found:
                continue
        _check_syntax(rest, pattern)
        return False
    return not name


def _check_syntax(rest: str, pattern: str) -> None:
    while rest:
        _, chunk, rest = _next_chunk(rest)
        _match_chunk(chunk, "", pattern)


def _next_chunk(pattern: str) -> tuple[bool, str, str]:
    """(leading stars?, the chunk up to the next unbracketed star, the rest)."""
    star = pattern.startswith("*")
    pattern = pattern.lstrip("*")
    in_class = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 1 if i + 1 < len(pattern) else 0
        elif c == "[":
            in_class = True
        elif c == "]":
            in_class = False
        elif c == "*" and not in_class:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _match_chunk(chunk: str, s: str, pattern: str) -> str | None:
    """What is left of ``s`` after ``chunk`` matched its start, or None; the chunk is checked to the end."""
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        c = chunk[0]
        if c == "[":
            r = ""
            if not failed:
                r, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = chunk.startswith("^")
            if negated:
                chunk = chunk[1:]
            matched = False
            ranges = 0
            while True:
                if chunk.startswith("]") and ranges > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _class_char(chunk, pattern)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _class_char(chunk[1:], pattern)
                if not failed and lo <= r <= hi:
                    matched = True
                ranges += 1
            if matched == negated:
                failed = True
        elif c == "?":
            if not failed:
                if s[0] == "/":
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
        else:
            if c == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise BadPattern(pattern)
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
    return None if failed else s


def _class_char(chunk: str, pattern: str) -> tuple[str, str]:
    """One possibly escaped character of a class, and what follows; a class must go on after it."""
    if not chunk or chunk[0] in "-]":
        raise BadPattern(pattern)
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise BadPattern(pattern)
    char, rest = chunk[0], chunk[1:]
    if not rest:
        raise BadPattern(pattern)
    return char, rest


def glob(root: str, pattern: str, seen: set[str] | None = None) -> list[str]:
    """``filepath.Glob`` of a context-relative pattern: matching paths, sorted per directory.

    A pattern without meta characters names itself if it exists (a dangling symlink does); unreadable
    directories are skipped, as Go does. ``seen`` gets every path looked at (a name probed, a directory
    listed): what the answer depends on.
    """
    match(pattern, "")  # a malformed pattern is an error even if nothing could match
    if not has_meta(pattern):
        path = os.path.join(root, pattern)
        if seen is not None:
            seen.add(path)
        return [pattern] if os.path.lexists(path) else []
    directory, name = _split(pattern)
    if not has_meta(directory):
        return _glob_in(root, directory, name, [], seen)
    if directory == pattern:
        raise BadPattern(pattern)
    found: list[str] = []
    for parent in glob(root, directory, seen):
        found = _glob_in(root, parent, name, found, seen)
    return found


def _split(pattern: str) -> tuple[str, str]:
    """Directory and last element, the directory cleaned as Go's Glob does ("" -> ".", no trailing /)."""
    head, _, tail = pattern.rpartition("/")
    if not head and pattern.startswith("/"):
        return "/", tail
    return head or ".", tail


def _glob_in(root: str, directory: str, name: str, found: list[str], seen: set[str] | None) -> list[str]:
    path = os.path.join(root, directory)
    if seen is not None:
        seen.add(path)
    if not os.path.isdir(path):
        return found
    try:
        names = sorted(os.listdir(path), key=os.fsencode)
    except OSError:
        return found
    for entry in names:
        if match(name, entry):
            found.append(entry if directory == "." else f"{directory}/{entry}")
    return found
