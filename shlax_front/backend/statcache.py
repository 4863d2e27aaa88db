"""Content digests of build-context files, remembered by their stat so that an unchanged file is not read again.

A no-op rebuild keys every COPY by the content of what it copies (``context``); reading a large context again
costs more than everything else the build does. The content digest stays the key: this module only remembers,
per file, the digest it had when its stat said (size, mtime, ctime, inode, device, mode). A file whose stat
differs in any of these is read again, so an edit, a ``touch``, a ``chmod`` or a file replaced by a rename is
seen.

One case a stat cannot see: a file written again within the filesystem's timestamp granularity of the moment it
was read (same size, same mtime and ctime). As git does with its index ("racy git"), an entry only counts when
the file's mtime and ctime are older than the moment its build started hashing by more than ``RACY_SECONDS``
(2 s, the coarsest granularity in common use): such a file was last changed before it was read, and any later
change gives it a newer timestamp. A file changed shortly before the build is read again on every build until it
is old enough.

The remembered digests live in one JSON file per context directory under the cache root (``context/``), written
whole (temporary file and rename) and only when something new was read; a damaged file counts as empty.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path

from shlax_front.backend.store import CacheDirError, write_atomic

#: an entry stands only for a file last changed this long before its build started hashing (see the docstring)
RACY_SECONDS = 2.0
#: the layout of the JSON file; another number is read as empty
FORMAT = 1
#: the stat fields that must all be equal for a remembered digest to count
_FIELDS = ("st_size", "st_mtime_ns", "st_ctime_ns", "st_ino", "st_dev", "st_mode")


def stat_signature(st: os.stat_result) -> list[int]:
    """The stat fields that stand for a file's content (``_FIELDS``), in that order: what is remembered."""
    return [getattr(st, name) for name in _FIELDS]


def racy(signature: list[int], stamp: float) -> bool:
    """Whether a file of this ``stat_signature``, read at ``stamp``, may have changed since without its stat
    showing it (last changed within ``RACY_SECONDS`` of the read; the module docstring)."""
    changed = max(signature[_FIELDS.index("st_mtime_ns")], signature[_FIELDS.index("st_ctime_ns")]) / 1e9
    return changed >= stamp - RACY_SECONDS


class FileDigests:
    """Path -> sha256 of its content, read from the file only when its stat says it may have changed.

    ``path`` is the JSON file the digests persist in (None: remember nothing, hash every time). ``now`` is the
    clock (tests move it).
    """

    def __init__(self, path: Path | None = None, now=time.time):
        self.path = path
        self._now = now
        #: before any file of this build is read: entries written by this build carry it
        self._stamp = now()
        self._entries: dict[str, list] | None = None
        self._dirty = False
        #: files read (not taken from the cache) by this object, for tests and --explain's curious
        self.read_count = 0

    @classmethod
    def for_context(cls, cache_root: Path, context_root: str) -> FileDigests:
        """The digests remembered for one context directory under ``cache_root``."""
        name = hashlib.sha256(os.fsencode(os.path.realpath(context_root))).hexdigest()[:32]
        return cls(Path(cache_root) / "context" / f"{name}.json")

    def sha256(self, path: str, st: os.stat_result) -> str:
        """The content digest of the regular file ``path`` whose ``lstat`` is ``st``."""
        signature = stat_signature(st)
        entry = self._load().get(path)
        if entry is not None and entry[0] == signature and not racy(signature, entry[1]):
            return entry[2]
        digest, unchanged = self._read(path, st)
        if unchanged and self.path is not None:
            self._entries[path] = [signature, self._stamp, digest]  # type: ignore[index]
            self._dirty = True
        return digest

    def _read(self, path: str, st: os.stat_result) -> tuple[str, bool]:
        """(digest, whether the file kept the stat ``st`` while it was read): a file being written is hashed
        as found but not remembered."""
        self.read_count += 1
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
            after = os.fstat(f.fileno())
        return h.hexdigest(), stat_signature(after) == stat_signature(st)

    def _load(self) -> dict[str, list]:
        if self._entries is None:
            self._entries = {}
            if self.path is not None:
                with contextlib.suppress(OSError, ValueError):
                    data = json.loads(self.path.read_bytes().decode("utf-8"))
                    if isinstance(data, dict) and data.get("format") == FORMAT:
                        self._entries = {
                            name: entry
                            for name, entry in (data.get("files") or {}).items()
                            if _entry_shaped(entry)
                        }
        return self._entries

    def save(self) -> None:
        """Write the digests back when this build read files; entries of files gone from disk are dropped.
        A cache directory that cannot be written costs the next build a re-read, never this build."""
        if not self._dirty or self.path is None or self._entries is None:
            return
        kept = {name: entry for name, entry in self._entries.items() if os.path.lexists(name)}
        with contextlib.suppress(OSError, CacheDirError):
            write_atomic(self.path, json.dumps({"format": FORMAT, "files": kept}, separators=(",", ":")))
        self._dirty = False


def _entry_shaped(entry: object) -> bool:
    """[signature (6 ints), stamp (a number), digest (64 hex characters)] as ``FileDigests.sha256`` stores it."""
    return (
        isinstance(entry, list)
        and len(entry) == 3
        and isinstance(entry[0], list)
        and len(entry[0]) == len(_FIELDS)
        and all(isinstance(n, int) for n in entry[0])
        and isinstance(entry[1], (int, float))
        and isinstance(entry[2], str)
        and len(entry[2]) == 64
    )
