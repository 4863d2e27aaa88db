"""A reference for what ``COPY <source> /dst/`` puts in an image from a build context, and what a bind mount
of the context shows, written apart from ``shlax_front/backend/context.py``; with hypothesis strategies for
contexts and edits. The layer key's property test (``tests/unit/test_cache_key_property.py``) holds the key to
it; ``tests/buildah/test_build_context_oracle.py`` holds it to real ``buildah copy``.

A listing names every entry by name, type, mode, content, link text, ``user.*`` xattrs and hard-link group;
never owner (COPY gives everything to root or ``--chown``) nor mtime (the key's stated choice). The patterns
stay within what Go's regexp and a plain translation read alike (the metacharacter cases are the pattern
tables' and ``tests/buildah/test_build_context_soundness.py``'s).
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import re
import shutil
import stat
import tempfile

from hypothesis import strategies as st

DIRS = ("c", "d", "d/e")
FILES = ("a.txt", "b.log", ".hidden", "c/x.txt", "c/y.log", "d/x.txt", "d/e/z.txt", "d/e/w.log")
LINKS = ("l1", "c/l2", "d/e/l3")
HARDLINKS = ("h1", "d/h2")
PATHS = DIRS + FILES + LINKS + HARDLINKS
CONTENTS = ("one", "two", "")
FILE_MODES = (0o644, 0o755, 0o600, 0o444)
DIR_MODES = (0o755, 0o700, 0o750)
PATTERNS = (
    "a.txt", "*.log", "c", "c/*", "d/**", "**/x.txt", "?.txt", "d/e", "*/x.txt", ".hidden", "l1", "h1",
    "!c/x.txt", "!d/e/z.txt", "!*.log", "!d/e", "d/*/z.txt",
)  # fmt: skip
SOURCES = (".", "c", "d", "d/e", "a.txt", "l1", "h1", "*.txt", "d/*", "c/")

# -- the oracle ---------------------------------------------------------------------------------------------


class Ignorer:
    """``.dockerignore`` as documented: each line a path pattern (``*`` and ``?`` within one name, ``**`` any
    number of names), matching the path or one of its parents; the last matching line decides, ``!`` keeps."""

    def __init__(self, lines: list[str]):
        self.rules = []
        for line in lines:
            keep = line.startswith("!")
            self.rules.append((keep, re.compile(self._translate(line.removeprefix("!")))))
        self.has_exceptions = any(keep for keep, _ in self.rules)

    @staticmethod
    def _translate(pattern: str) -> str:
        out, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out, i = out + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                out, i = out + ".*", i + 2
            elif pattern[i] == "*":
                out, i = out + "[^/]*", i + 1
            elif pattern[i] == "?":
                out, i = out + "[^/]", i + 1
            else:
                out, i = out + re.escape(pattern[i]), i + 1
        return out

    def __call__(self, path: str) -> bool:
        if path == ".":
            return False
        parts = path.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        verdict = False
        for keep, regex in self.rules:
            if any(regex.fullmatch(p) for p in prefixes):
                verdict = not keep
        return verdict


class Failed(Exception):
    """buildah would fail this COPY (nothing to copy, a dangling named source): no layer to compare."""


def _describe(path: str) -> tuple:
    st_ = os.lstat(path)
    attrs = tuple(sorted((a, os.getxattr(path, a, follow_symlinks=False)) for a in _user_xattrs(path)))
    if stat.S_ISLNK(st_.st_mode):
        return ("link", os.readlink(path))
    if stat.S_ISDIR(st_.st_mode):
        return ("dir", stat.S_IMODE(st_.st_mode), attrs)
    with open(path, "rb") as f:
        return ("file", stat.S_IMODE(st_.st_mode), hashlib.sha256(f.read()).hexdigest(), attrs)


def _user_xattrs(path: str) -> list[str]:
    return [a for a in os.listxattr(path, follow_symlinks=False) if a.startswith("user.")]


def _inside(root: str, rel: str) -> str | None:
    """``rel`` with its symlinks followed; None when it dangles (every generated link stays in the context)."""
    real = os.path.realpath(os.path.join(root, rel))
    if not os.path.exists(real):
        return None
    assert real == root or real.startswith(root + "/")
    return os.path.relpath(real, root)


def source_matches(root: str, source: str) -> list[str]:
    """The context paths a COPY source names (a glob's matches: ``*`` and ``?`` read alike by Go and fnmatch)."""
    source = source.rstrip("/") or "."
    if any(c in source for c in "*?"):
        parent, pattern = os.path.split(source)
        top = os.path.join(root, parent or ".")
        names = sorted(os.listdir(top)) if os.path.isdir(top) else []
        return [os.path.join(parent, n) for n in names if fnmatch.fnmatchcase(n, pattern)]
    return [source] if os.path.lexists(os.path.join(root, source)) else []


def copied(root: str, source: str, lines: list[str] | None) -> dict[str, tuple]:
    """What ``COPY source /dst/`` puts in the image (``lines``: the ignore file; None: a bind mount)."""
    ignored = Ignorer(lines or [])
    view: dict[str, tuple] = {}

    def walk(name: str, real: str) -> None:
        for child in sorted(os.listdir(os.path.join(root, real))):
            child_real = child if real == "." else f"{real}/{child}"
            child_name = f"{name}/{child}"
            is_dir = os.path.isdir(os.path.join(root, child_real)) and not os.path.islink(
                os.path.join(root, child_real)
            )
            if ignored(child_real):
                if is_dir and ignored.has_exceptions:
                    walk(child_name, child_real)  # its directory is made for what is kept, not copied
                continue
            view[child_name] = _describe(os.path.join(root, child_real))
            if is_dir:
                walk(child_name, child_real)

    matches = source_matches(root, source)
    for match in matches:
        real = _inside(root, match)
        if real is None:
            raise Failed(match)
        is_dir = os.path.isdir(os.path.join(root, real))
        if ignored(match):
            # measured with buildah 1.28: an ignored directory named as a source still gives what the
            # exceptions keep, and nothing when they keep nothing in it; an ignored symlink is filtered out
            # (the copy fails when nothing is left)
            if is_dir and real == match and ignored.has_exceptions:
                before = len(view)
                walk(match, real)
                if len(view) > before:
                    view[match] = _describe(os.path.join(root, real))
            continue
        if not is_dir:
            if real != match and ignored(real):
                continue  # a named link to an ignored file: buildah checks where it leads too
            view[match] = _describe(os.path.join(root, real))
            continue
        # buildah makes the destination 0755 whatever the named directory's mode (measured); the key covers
        # that mode all the same, so a chmod of the named directory itself rebuilds for nothing
        view[match] = _describe(os.path.join(root, real))
        walk(match, real)
    if not view and not any(not ignored(m) for m in matches):
        raise Failed(source)
    return _with_hardlinks(root, view)


def _with_hardlinks(root: str, view: dict[str, tuple]) -> dict[str, tuple]:
    """Each copied file gains the names of the other copied files it is a hard link of (buildah keeps them)."""
    by_inode: dict[tuple[int, int], list[str]] = {}
    for name, entry in view.items():
        if entry[0] == "file":
            path = os.path.realpath(os.path.join(root, name))
            st_ = os.stat(path)
            by_inode.setdefault((st_.st_dev, st_.st_ino), []).append(name)
    out = dict(view)
    for names in by_inode.values():
        if len(names) > 1:
            for name in names:
                out[name] = (*view[name], tuple(sorted(names)))
    return out


# -- contexts and edits -------------------------------------------------------------------------------------


def _parent_is_dir(root: str, rel: str) -> bool:
    parent = os.path.dirname(rel)
    return not parent or (
        os.path.isdir(os.path.join(root, parent)) and not os.path.islink(os.path.join(root, parent))
    )


def _link_target(rel: str, target: str) -> str:
    return os.path.relpath(target, os.path.dirname(rel) or ".")


def _clear(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


@st.composite
def contexts(draw):
    """A context as a list of (path, kind, detail) to create in order."""
    spec = []
    for d in DIRS:
        if draw(st.booleans()):
            spec.append((d, "dir", draw(st.sampled_from(DIR_MODES))))
    for f in FILES:
        if draw(st.integers(0, 3)):
            spec.append((f, "file", (draw(st.sampled_from(CONTENTS)), draw(st.sampled_from(FILE_MODES)))))
    for link in LINKS:
        if draw(st.booleans()):
            spec.append((link, "link", draw(st.sampled_from(PATHS + ("missing",)))))
    for hard in HARDLINKS:
        if draw(st.booleans()):
            spec.append((hard, "hard", draw(st.sampled_from(FILES))))
    return spec


def build(root: str, spec) -> None:
    for rel, kind, detail in spec:
        path = os.path.join(root, rel)
        if not _parent_is_dir(root, rel):
            continue
        if kind == "dir":
            os.mkdir(path)
            os.chmod(path, detail)
        elif kind == "file":
            with open(path, "w") as f:
                f.write(detail[0])
            os.chmod(path, detail[1])
        elif kind == "link":
            os.symlink(_link_target(rel, detail), path)
        elif kind == "hard":
            target = os.path.join(root, detail)
            if os.path.isfile(target) and not os.path.islink(target):
                os.link(target, path)


EDITS = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(FILES + HARDLINKS), st.sampled_from(CONTENTS)),
    st.tuples(st.just("chmod"), st.sampled_from(FILES + DIRS), st.sampled_from(FILE_MODES + DIR_MODES)),
    st.tuples(st.just("remove"), st.sampled_from(PATHS), st.none()),
    st.tuples(st.just("add"), st.sampled_from(FILES), st.sampled_from(CONTENTS)),
    st.tuples(st.just("relink"), st.sampled_from(LINKS), st.sampled_from(PATHS + ("missing",))),
    st.tuples(st.just("hardlink"), st.sampled_from(HARDLINKS), st.sampled_from(FILES)),
    st.tuples(st.just("unshare"), st.sampled_from(FILES + HARDLINKS), st.none()),
    st.tuples(st.just("xattr"), st.sampled_from(FILES + DIRS), st.sampled_from((b"1", b"2"))),
    st.tuples(st.just("chown"), st.sampled_from(FILES + DIRS), st.sampled_from((0, 1000))),
    st.tuples(st.just("touch"), st.sampled_from(FILES + DIRS), st.none()),
    st.tuples(st.just("ignore"), st.lists(st.sampled_from(PATTERNS), max_size=4), st.none()),
)


@contextlib.contextmanager
def generated_context(spec, patterns: list[str]):
    """A temporary context directory made from a generated ``spec``, ``patterns`` as its ignore file."""
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "ctx")
        os.mkdir(root)
        build(root, spec)
        if patterns:
            apply(root, ("ignore", patterns, None))
        yield root


def apply(root: str, edit) -> None:
    """Carry out one edit (a no-op when it does not apply to the tree as it is)."""
    what, rel, arg = edit
    if what == "ignore":
        with open(os.path.join(root, ".dockerignore"), "w") as f:
            f.write("".join(line + "\n" for line in rel))
        return
    path = os.path.join(root, rel)
    exists = os.path.lexists(path)
    is_file = exists and os.path.isfile(path) and not os.path.islink(path)
    if what == "write" and is_file:
        with open(path, "w") as f:  # in place: its hard links see it too
            f.write(arg)
    elif what == "chmod" and exists and not os.path.islink(path):
        os.chmod(path, arg)
    elif what == "remove":
        _clear(path)
    elif what == "add" and not exists and _parent_is_dir(root, rel):
        with open(path, "w") as f:
            f.write(arg)
    elif what == "relink" and (os.path.islink(path) or not exists and _parent_is_dir(root, rel)):
        _clear(path)
        os.symlink(_link_target(rel, arg), path)
    elif what == "hardlink" and _parent_is_dir(root, rel):
        target = os.path.join(root, arg)
        if os.path.isfile(target) and not os.path.islink(target) and not os.path.isdir(path):
            _clear(path)
            os.link(target, path)
    elif what == "unshare" and is_file:
        shutil.copy2(path, path + ".new")
        os.replace(path + ".new", path)
    elif what == "xattr" and exists and not os.path.islink(path):
        os.setxattr(path, "user.note", arg)
    elif what == "chown" and exists and not os.path.islink(path):
        os.chown(path, arg, arg)
    elif what == "touch" and exists:
        os.utime(path, (1_000_000, 1_000_000), follow_symlinks=False)


#: ``COPY --exclude`` patterns (no ``!``: BuildKit cannot bring back what the ignore file left out)
EXCLUDES = ("*.log", "x.txt", "e", "**/z.txt", "?.txt")


def listing(root: str, source: str, mounted: bool, exclude: tuple[str, ...] = ()) -> dict | None:
    """What ``COPY [--exclude=...] source /dst/`` copies (or, ``mounted``, what a bind mount of it shows); None
    when buildah would fail. An exclude pattern is relative to the directory the source is copied from: the
    source when it is a directory, else the one holding it."""
    lines = None
    if not mounted and os.path.isfile(os.path.join(root, ".dockerignore")):
        with open(os.path.join(root, ".dockerignore")) as f:
            lines = [line for line in f.read().split("\n") if line]
    if exclude and not mounted:
        named = source.rstrip("/") or "."
        is_dir = not any(c in named for c in "*?") and os.path.isdir(os.path.join(root, named))
        base = named if is_dir else os.path.dirname(named)
        lines = (lines or []) + [p if base in ("", ".") else f"{base}/{p}" for p in exclude]
    try:
        return copied(root, source, lines)
    except Failed:
        return None
