"""The build context as the cache key sees it: ignore files, source globs, and a content digest.

A COPY/ADD step's key must change exactly when what it would copy changes - file content, mode, type and
link target - and never because of an mtime (a fresh ``git clone`` must hit the cache). Files excluded by
``.containerignore``/``.dockerignore`` are excluded here too, or editing an ignored file would rebuild.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from functools import cached_property

from shlax_front.backend.copyopts import exclusion_lines

IGNORE_FILES = (".containerignore", ".dockerignore")
GLOB_CHARS = re.compile(r"[*?\[]")


def _translate(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus ``**``) as a regex over ``/``-separated paths."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            if pattern[i : i + 2] == "**":
                i += 2
                if pattern[i : i + 1] == "/":
                    i += 1
                    out.append("(?:.*/)?")
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("^") or body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


@dataclass
class IgnoreRules:
    """Parsed ignore file: ordered (regex, is_exception) rules; the last matching rule wins."""

    rules: list[tuple[re.Pattern[str], bool]] = field(default_factory=list)
    path: str | None = None

    @classmethod
    def parse(cls, text: str, path: str | None = None) -> IgnoreRules:
        rules = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:].strip()
            line = os.path.normpath(line).lstrip("/")
            if line in ("", "."):
                continue
            rules.append((_translate(line), negate))
        return cls(rules, path)

    def ignored(self, relpath: str) -> bool:
        """True when ``relpath`` (relative to the context, ``/``-separated) is excluded."""
        if not self.rules:
            return False
        parts = relpath.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        result = False
        for regex, negate in self.rules:
            if any(regex.match(p) for p in prefixes):
                result = not negate
        return result


class ContextError(Exception):
    """A source named by COPY/ADD does not exist in the context (after ignore rules)."""


@dataclass
class BuildContext:
    """The context directory; digests of what a COPY reads from it are memoised per build."""

    root: str
    containerfile: str | None = None
    _digests: dict[tuple, str] = field(default_factory=dict)
    _manifests: dict[tuple, dict[str, str]] = field(default_factory=dict)

    @cached_property
    def ignore_file(self) -> str | None:
        """``<Containerfile>.containerignore``/``.dockerignore`` beside the file, then the context's own."""
        candidates = []
        if self.containerfile:
            candidates += [self.containerfile + ".containerignore", self.containerfile + ".dockerignore"]
        candidates += [os.path.join(self.root, name) for name in IGNORE_FILES]
        return next((c for c in candidates if os.path.isfile(c)), None)

    @cached_property
    def ignore(self) -> IgnoreRules:
        if not self.ignore_file:
            return IgnoreRules()
        with open(self.ignore_file, encoding="utf-8", errors="replace") as f:
            return IgnoreRules.parse(f.read(), self.ignore_file)

    def rules_for(self, source: str, exclude: tuple[str, ...] = ()) -> IgnoreRules:
        """The ignore rules for one source: the ignore file's, then its ``--exclude`` patterns (copyopts)."""
        if not exclude:
            return self.ignore
        extra = IgnoreRules.parse("\n".join(exclusion_lines(self.root, source, exclude)))
        return IgnoreRules(self.ignore.rules + extra.rules, self.ignore.path)

    def expand(self, source: str, rules: IgnoreRules | None = None) -> list[str]:
        """Context-relative paths a COPY source names (globs expanded, ignored paths dropped)."""
        rules = self.ignore if rules is None else rules
        rel = os.path.normpath(source.lstrip("/")) if source not in ("", ".", "/") else "."
        if rel.startswith(".."):
            raise ContextError(f"{source}: outside the build context")
        if GLOB_CHARS.search(rel):
            matches = sorted(glob.glob(rel, root_dir=self.root, include_hidden=True))
        else:
            matches = [rel] if os.path.lexists(os.path.join(self.root, rel)) else []
        kept = [m for m in matches if m == "." or not rules.ignored(m)]
        if not kept and any(not self.ignore.ignored(m) for m in matches):
            raise ContextError(f"{source}: excluded by --exclude (nothing left to copy)")
        if not kept:
            raise ContextError(f"{source}: no such file or directory in the build context")
        return kept

    def digest(self, sources: tuple[str, ...], exclude: tuple[str, ...] = ()) -> str:
        """sha256 over every file the sources copy: path, type, mode, content or link target; never mtime."""
        memo = (sources, exclude) if exclude else sources
        if memo in self._digests:
            return self._digests[memo]
        h = hashlib.sha256()
        manifest: dict[str, str] = {}
        for source in sources:
            h.update(b"source\0" + source.encode() + b"\0")
            rules = self.rules_for(source, exclude)
            for rel in self.expand(source, rules):
                for entry in self._walk(rel, rules):
                    h.update(entry)
                    name = entry.split(b"\0", 1)[0].decode(errors="replace")
                    manifest[name] = hashlib.sha256(entry).hexdigest()[:16]
        self._digests[memo] = h.hexdigest()
        self._manifests[memo] = manifest
        return self._digests[memo]

    def manifest(self, sources: tuple[str, ...], exclude: tuple[str, ...] = ()) -> dict[str, str]:
        """path -> short digest of each file ``digest`` covered (for ``--explain``: which file changed)."""
        self.digest(sources, exclude)
        return self._manifests[(sources, exclude) if exclude else sources]

    def _walk(self, rel: str, rules: IgnoreRules | None = None):
        rules = self.ignore if rules is None else rules
        path = os.path.join(self.root, rel)
        st = os.lstat(path)
        yield _entry(rel, path, st)
        if stat.S_ISDIR(st.st_mode):
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames.sort()
                reldir = os.path.relpath(dirpath, self.root)
                keep = []
                for name in dirnames:
                    r = os.path.normpath(os.path.join(reldir, name))
                    if rules.ignored(r):
                        # an exception rule may still re-include something below; keep walking then
                        if not any(neg for _, neg in rules.rules):
                            continue
                    keep.append(name)
                dirnames[:] = keep
                for name in sorted(filenames) + [d for d in keep if os.path.islink(os.path.join(dirpath, d))]:
                    r = os.path.normpath(os.path.join(reldir, name))
                    if rules.ignored(r):
                        continue
                    p = os.path.join(dirpath, name)
                    yield _entry(r, p, os.lstat(p))
                for name in keep:
                    p = os.path.join(dirpath, name)
                    r = os.path.normpath(os.path.join(reldir, name))
                    if not os.path.islink(p) and not rules.ignored(r):
                        yield _entry(r, p, os.lstat(p))


def _entry(rel: str, path: str, st: os.stat_result) -> bytes:
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        kind, body = "link", os.readlink(path).encode()
    elif stat.S_ISDIR(st.st_mode):
        kind, body = "dir", b""
    elif stat.S_ISREG(st.st_mode):
        kind, body = "file", file_sha256(path).encode()
    else:
        kind, body = "other", b""
    return f"{rel}\0{kind}\0{mode:o}\0".encode() + body + b"\n"


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
