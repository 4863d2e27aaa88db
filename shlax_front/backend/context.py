"""The build context as the cache key sees it: ignore files, source globs, and a content digest.

A COPY/ADD step's key must change exactly when what buildah copies changes, and never because of an mtime
(a fresh ``git clone`` must hit the cache). What buildah 1.28 copies, measured against ``buildah bud``:

- sources are expanded with Go's ``filepath.Glob`` (``gomatch``), then ``.containerignore``/``.dockerignore``
  lines are applied the way containers/storage's matcher reads them (each line a Go regexp, see
  ``IgnoreRules``);
- a named source that is a symlink is followed inside the context (the link's name, the target's content
  and mode); a symlink inside a copied directory stays a symlink;
- content, mode, type, link target, the xattrs buildah keeps (``security.capability``, ``security.ima``,
  ``user.*``) and which files of one copied directory are hard links of each other.

A ``RUN --mount=type=bind`` of the context sees the real directory, ignored files included
(``mounted_digest``).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

from shlax_front.backend import gomatch
from shlax_front.backend.copyopts import exclusion_lines
from shlax_front.backend.goregexp import GoSyntaxError, Untranslated, compile_go
from shlax_front.backend.statcache import FileDigests

IGNORE_FILES = (".containerignore", ".dockerignore")
#: the xattrs buildah's copier carries into the image (others are dropped)
KEPT_XATTRS = ("security.capability", "security.ima", "user.*")
#: what Go's strings.TrimSpace removes (Python's str.strip also removes \x1c-\x1f)
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)
#: symlinks followed while resolving one path, as Linux allows
MAX_LINKS = 40


class ContextError(Exception):
    """A source named by COPY/ADD does not exist in the context (after ignore rules), or cannot be read."""


class OutsideContext(ContextError):
    """A context path that resolves outside the context root (a symlink to ``/etc``): refused, never read."""


def go_clean(path: str) -> str:
    """Go's ``filepath.Clean`` (unlike ``posixpath.normpath``, a leading ``//`` becomes ``/``)."""
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def ignore_regexp(pattern: str) -> str:
    """The Go regexp containers/storage 1.43 (buildah 1.28) makes of a cleaned ignore pattern.

    Only ``*``, ``?``, ``**``, ``.``, ``$`` and backslash escapes are rewritten; every other character,
    ``+ ( ) { } | ^ [ ]`` included, is regexp syntax. The pattern also matches everything below a path.
    """
    out = ["^"]
    i = 0
    while i < len(pattern):
        c = pattern[i]
        i += 1
        if "\udc80" <= c <= "\udcff":
            c = "\ufffd"  # Go's scanner reads a byte that is not UTF-8 as the replacement character
        if c == "*":
            if pattern.startswith("*", i):
                i += 1
                if pattern.startswith("/", i):
                    i += 1
                out.append(".*" if i >= len(pattern) else "(.*/)?")
            else:
                out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c in ".$":
            out.append("\\" + c)
        elif c == "\\":
            if i >= len(pattern):
                raise gomatch.BadPattern(pattern)
            out.append("\\" + pattern[i])
            i += 1
        else:
            out.append(c)
    return "".join(out) + "(/.*)?$"


@dataclass(frozen=True)
class IgnorePattern:
    """One ignore line; ``regex`` is None when it uses Go regexp syntax not translated (then unsure)."""

    text: str
    exception: bool
    regex: re.Pattern[str] | None


@dataclass
class IgnoreRules:
    """An ignore file as buildah 1.28 reads it: ordered patterns, the last matching one decides.

    ``problem`` is why buildah would refuse the file (a malformed pattern, a lone ``!``); it is raised when
    the rules are used, as buildah fails the copy. A pattern this module cannot read counts as unsure and
    makes ``ignored`` say False, so the key covers more than is copied, never less.
    """

    rules: list[IgnorePattern] = field(default_factory=list)
    path: str | None = None
    problem: str | None = None

    @classmethod
    def parse(cls, text: str, path: str | None = None) -> IgnoreRules:
        rules: list[IgnorePattern] = []
        problem = None
        for raw in text.split("\n"):
            if not raw or raw.startswith("#"):
                continue
            line = raw.strip("/").strip(GO_SPACE)
            if not line:
                continue
            line = go_clean(line)
            exception = line.startswith("!")
            if exception:
                if line == "!":
                    problem = problem or 'illegal exclusion pattern: "!"'
                    continue
                line = go_clean(line[1:]).removeprefix("/")
            try:
                gomatch.match(line, ".")
                regex: re.Pattern[str] | None = compile_go(ignore_regexp(line))
            except (gomatch.BadPattern, GoSyntaxError):
                problem = problem or f"syntax error in pattern {line!r}"
                continue
            except Untranslated:
                regex = None
            rules.append(IgnorePattern(line, exception, regex))
        return cls(rules, path, problem)

    @property
    def has_exceptions(self) -> bool:
        return any(rule.exception for rule in self.rules)

    def ignored(self, relpath: str) -> bool:
        """True when ``relpath`` (relative to the context, ``/``-separated) is excluded."""
        if self.problem:
            where = f"{os.path.basename(self.path)}: " if self.path else ""
            raise ContextError(f"{where}{self.problem}")
        if relpath == "." or not self.rules:
            return False
        result = False
        for rule in self.rules:
            if rule.regex is None:
                return False
            if rule.regex.search(relpath):  # Go finds a match anywhere: `a|b.txt` matches `xb.txt`
                result = not rule.exception
        return result

    def __add__(self, other: IgnoreRules) -> IgnoreRules:
        return IgnoreRules(self.rules + other.rules, self.path, self.problem or other.problem)


NO_RULES = IgnoreRules()


@dataclass
class BuildContext:
    """The context directory; digests of what a COPY reads from it are memoised per build, and each file's
    content digest is remembered across builds by its stat (``file_digests``; by default, for this object
    only).

    ``visited`` gets every host path the digests looked at (probed, listed, read; absent ones too) and
    ``resolved`` each bind-mount source with the real path it led to: the keys depend on nothing else in the
    context, so the no-op record (``replay``) stats exactly these next time."""

    root: str
    containerfile: str | None = None
    file_digests: FileDigests = field(default_factory=FileDigests)
    #: ``--ignorefile``: read instead of the files bud looks for (as bud's ``ContainerIgnoreFile`` with a path)
    ignorefile: str | None = None
    visited: set[str] = field(default_factory=set)
    resolved: dict[str, str] = field(default_factory=dict)
    _digests: dict[tuple, str] = field(default_factory=dict)
    _manifests: dict[tuple, dict[str, str]] = field(default_factory=dict)
    _globbed: dict[str, list[str]] = field(default_factory=dict)

    @cached_property
    def ignore_file(self) -> str | None:
        """The ignore file buildah 1.28 reads: ``<Containerfile>.dockerignore``, else
        ``<Containerfile>.containerignore``, then the context's ``.containerignore``, ``.dockerignore``; the
        ``--ignorefile`` given instead of all of them."""
        if self.ignorefile:
            self.visited.add(self.ignorefile)
            return self.ignorefile
        candidates = []
        if self.containerfile:
            candidates += [self.containerfile + ".dockerignore", self.containerfile + ".containerignore"]
        candidates += [os.path.join(self.root, name) for name in IGNORE_FILES]
        self.visited.update(candidates)
        return next((c for c in candidates if os.path.isfile(c)), None)

    @cached_property
    def ignore(self) -> IgnoreRules:
        if not self.ignore_file:
            return IgnoreRules()
        with open(self.ignore_file, encoding="utf-8", errors="surrogateescape") as f:
            return IgnoreRules.parse(f.read(), self.ignore_file)

    def rules_for(self, source: str, exclude: tuple[str, ...] = ()) -> IgnoreRules:
        """The ignore rules for one source: the ignore file's, then its ``--exclude`` patterns (copyopts)."""
        if not exclude:
            return self.ignore
        self.visited.add(os.path.join(self.root, posixpath.normpath(source.lstrip("/") or ".")))
        return self.ignore + IgnoreRules.parse("\n".join(exclusion_lines(self.root, source, exclude)))

    def expand(self, source: str, rules: IgnoreRules | None = None) -> list[str]:
        """Context-relative paths a COPY source names: Go glob matches, less the ignored ones.

        An ignored directory stays when the rules have exceptions (something below may be copied).
        """
        rules = self.ignore if rules is None else rules
        rel = _relative(source)
        matches = self._globbed.get(rel)
        if matches is None:  # one walk per pattern and build: the key's digest and history's kind share it
            try:
                matches = gomatch.glob(self.root, rel, self.visited)
            except gomatch.BadPattern as err:
                raise ContextError(f"{source}: {err}") from None
            self.visited.update(os.path.join(self.root, m) for m in matches)
            self._globbed[rel] = matches
        kept = [
            m
            for m in matches
            if not rules.ignored(m) or (rules.has_exceptions and os.path.isdir(os.path.join(self.root, m)))
        ]
        if not kept and any(not self.ignore.ignored(m) for m in matches):
            raise ContextError(f"{source}: excluded by --exclude (nothing left to copy)")
        if not kept:
            raise ContextError(f"{source}: no such file or directory in the build context")
        return kept

    def digest(self, sources: tuple[str, ...], exclude: tuple[str, ...] = ()) -> str:
        """sha256 over what COPY of ``sources`` copies (see the module docstring); never mtimes."""
        memo = (sources, exclude) if exclude else sources
        if memo not in self._digests:
            entries = []
            for source in sources:
                entries.append(b"source\0" + os.fsencode(source) + b"\0")
                rules = self.rules_for(source, exclude)
                for rel in self.expand(source, rules):
                    entries.extend(self._copied(rel, rules))
            self._remember(memo, entries)
        return self._digests[memo]

    def mounted_digest(self, sources: tuple[str, ...]) -> str:
        """sha256 over what ``RUN --mount=type=bind,source=S`` shows: the path as the host resolves it,
        ignore files not applied. A source that resolves outside the context (a symlink to ``/etc``) is
        refused: buildah would mount the host's directory."""
        memo = ("mount", sources)
        if memo not in self._digests:
            entries = []
            for source in sources:
                entries.append(b"mount\0" + os.fsencode(source) + b"\0")
                entries.extend(self._mounted(_relative(source)))
            self._remember(memo, entries)
        return self._digests[memo]

    def manifest(self, sources: tuple[str, ...], exclude: tuple[str, ...] = ()) -> dict[str, str]:
        """path -> short digest of each file ``digest`` covered (for ``--explain``: which file changed)."""
        self.digest(sources, exclude)
        return self._manifests[(sources, exclude) if exclude else sources]

    def _remember(self, memo: tuple, entries: list[bytes]) -> None:
        h = hashlib.sha256()
        manifest: dict[str, str] = {}
        for entry in entries:
            h.update(entry)
            if not entry.startswith((b"source\0", b"mount\0")):
                name = entry.split(b"\0", 1)[0].decode(errors="replace")
                manifest[name] = hashlib.sha256(entry).hexdigest()[:16]
        self._digests[memo] = h.hexdigest()
        self._manifests[memo] = manifest

    def _copied(self, rel: str, rules: IgnoreRules) -> Iterator[bytes]:
        """Key entries of one glob match, named as the source names it, read where buildah reads it."""
        real = self.resolve(rel)
        if real is None:  # dangling or looping: buildah fails the copy; the link itself is keyed
            yield self._entry(rel, os.path.join(self.root, rel), os.lstat(os.path.join(self.root, rel)), {})
            return
        path = os.path.join(self.root, real)
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            if real != rel and rules.ignored(real):
                return  # buildah checks the followed path against the ignore rules too
            yield self._entry(rel, path, st, {})
            return
        yield self._entry(rel, path, st, {})
        yield from self._tree(rel, real, rules, {})

    def _mounted(self, rel: str) -> Iterator[bytes]:
        host = os.path.join(self.root, rel)
        self.visited.add(host)
        if not os.path.lexists(host):
            raise ContextError(f"{rel}: no such file or directory in the build context")
        real = os.path.realpath(host)
        self.resolved[host] = real
        root = os.path.realpath(self.root)
        if real != root and not real.startswith(root.rstrip("/") + "/"):
            raise OutsideContext(f"{rel}: outside the build context (a symlink leads to {real})")
        st = os.stat(real)
        yield self._entry(rel, real, st, {})
        if stat.S_ISDIR(st.st_mode):
            yield from self._tree(rel, os.path.relpath(real, root), NO_RULES, {}, root)

    def _tree(
        self, name: str, real: str, rules: IgnoreRules, links: dict, root: str | None = None
    ) -> Iterator[bytes]:
        """Entries below directory ``real`` in Go's walk order, named below ``name``; symlinks not followed.

        ``links`` maps an inode with several links to the first name seen: buildah's copy of one
        directory keeps hard links between its files.
        """
        top = os.path.join(root or self.root, real)
        self.visited.add(top)
        with os.scandir(top) as it:
            children = sorted(it, key=lambda e: os.fsencode(e.name))
        for child in children:
            child_real = child.name if real == "." else f"{real}/{child.name}"
            child_name = child.name if name == "." else f"{name}/{child.name}"
            st = child.stat(follow_symlinks=False)
            if stat.S_ISSOCK(st.st_mode):
                continue  # buildah skips sockets
            is_dir = stat.S_ISDIR(st.st_mode)
            if rules.ignored(child_real):
                if is_dir and rules.has_exceptions:
                    yield from self._tree(child_name, child_real, rules, links, root)
                continue
            yield self._entry(child_name, child.path, st, links)
            if is_dir:
                yield from self._tree(child_name, child_real, rules, links, root)

    def _entry(self, name: str, path: str, st: os.stat_result, links: dict) -> bytes:
        self.visited.add(path)
        return _entry(name, path, st, links, self.file_digests.sha256)

    def resolve(self, rel: str) -> str | None:
        """``rel`` with every symlink followed as inside a chroot at the context (absolute targets and
        ``..`` stay in it), as buildah's copier sees it; None when it dangles or loops."""
        done: list[str] = []
        todo = [p for p in rel.split("/") if p not in ("", ".")]
        followed = 0
        while todo:
            part = todo.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            path = os.path.join(self.root, *done, part)
            self.visited.add(path)
            if not os.path.lexists(path):
                return None
            if os.path.islink(path):
                followed += 1
                if followed > MAX_LINKS:
                    return None
                target = os.readlink(path)
                if target.startswith("/"):
                    done = []
                todo = [p for p in target.split("/") if p not in ("", ".")] + todo
                continue
            done.append(part)
        return "/".join(done) or "."


def _relative(source: str) -> str:
    rel = go_clean(source.lstrip("/")) if source not in ("", ".", "/") else "."
    if rel == ".." or rel.startswith("../"):
        raise ContextError(f"{source}: outside the build context")
    return rel


def _entry(
    name: str, path: str, st: os.stat_result, links: dict, sha256: Callable[[str, os.stat_result], str]
) -> bytes:
    """One key line: name, type, mode, content digest (``sha256``) or link target, kept xattrs, hard link to."""
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        kind, body = "link", os.fsencode(os.readlink(path))
    elif stat.S_ISDIR(st.st_mode):
        kind, body = "dir", b""
    elif stat.S_ISREG(st.st_mode):
        kind, body = "file", sha256(path, st).encode()
    else:
        kind, body = "other", b""
    out = os.fsencode(name) + f"\0{kind}\0{mode:o}\0".encode() + body
    for attr, value in _kept_xattrs(path):
        out += b"\0xattr:" + attr.encode() + b"=" + value.hex().encode()
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        first = links.setdefault((st.st_dev, st.st_ino), name)
        if first != name:
            out += b"\0hardlink:" + os.fsencode(first)
    return out + b"\n"


def _kept_xattrs(path: str) -> list[tuple[str, bytes]]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return []
    kept = []
    for attr in sorted(names):
        if any(gomatch.match(pattern, attr) for pattern in KEPT_XATTRS):
            try:
                kept.append((attr, os.getxattr(path, attr, follow_symlinks=False)))
            except OSError:
                continue
    return kept
