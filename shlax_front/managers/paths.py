"""The paths a RUN script deletes, and how a deleted path relates to a cache directory.

Both the generic cache planner and the managers' own rules (apt mounts its lists only when the RUN deletes
them) ask the same two questions: which paths does each ``rm`` name, and does deleting one of them touch
only the content of a cache directory or the directory itself.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Iterator, Mapping

from shlax_front.shell import Command, Script, Word


def rm_paths(
    script: Script, env: Mapping[str, str], home: str | None
) -> Iterator[tuple[Command, list[tuple[Word, str | None]]]]:
    """(command, [(word, path or None)]) for each ``rm`` with its path arguments (None: computed)."""
    for cmd in script.commands:
        if cmd.name != "rm" or cmd.conditional == "inside $(...)":
            continue
        paths = []
        options_done = False
        for w in cmd.args[1:]:
            if not options_done and w.value.startswith("-") and not w.dynamic:
                if w.value == "--":
                    options_done = True
                continue
            value: str | None = w.value
            if w.dynamic:
                if w.text.startswith("~/") and home and "$" not in w.text:
                    value = home + w.text[1:]
                else:
                    value = expand_simple(w.text, env)
            paths.append((w, value))
        yield cmd, paths


def expand_simple(text: str, env: Mapping[str, str]) -> str | None:
    """``$VAR/rest`` / ``${VAR}/rest`` with VAR known and no quotes: the expanded path, else None."""
    if any(c in text for c in "\"'`(") or text.count("$") != 1:
        return None
    m = re.match(r"^\$(?:\{(\w+)\}|(\w+))(.*)$", text)
    if not m:
        return None
    name = m.group(1) or m.group(2)
    if name not in env:
        return None
    return env[name] + m.group(3)


def relation(path: str, target: str) -> str | None:
    """``inside`` when deleting ``path`` only touches content under ``target``, ``covers`` when it would
    delete ``target`` itself (or an ancestor), None when unrelated."""
    if not path.startswith("/"):
        return None
    p = posixpath.normpath(path) if not any(c in path for c in "*?[") else path.rstrip("/")
    t = target.rstrip("/")
    ancestors = [t]
    while True:
        parent = posixpath.dirname(ancestors[-1])
        if parent == ancestors[-1]:
            break
        ancestors.append(parent)
    glob = any(c in p for c in "*?[")
    for a in ancestors:
        if _glob_match(a, p) if glob else a == p:
            return "covers"
    if p.startswith(t + "/"):
        return "inside"
    return None


def _glob_match(path: str, pattern: str) -> bool:
    """Shell pathname matching: per component, and a leading ``*``/``?`` never matches a leading dot."""
    parts, pats = path.split("/"), pattern.split("/")
    if len(parts) != len(pats):
        return False
    for part, pat in zip(parts, pats, strict=True):
        if part.startswith(".") and not pat.startswith("."):
            return False
        if not fnmatch.fnmatchcase(part, pat):
            return False
    return True
