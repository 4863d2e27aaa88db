"""The package caches a cache directory carries: which files, exported incrementally, imported checked.

Carried: everything under the cache root's ``caches/`` (apt archives and lists per release/architecture with
their freshness records in ``*.state``, the pip wheelhouse and its resolution records, other managers' caches)
and ``mounts/`` (the Containerfile's own ``RUN --mount=type=cache``), and the invoking user's npm cache
(``~/.npm``), which the npm installs share. Never carried: locks, apt's ``partial/`` downloads and binary caches, temporary and
set-aside files, and anything of a secret mount (secrets are written to run-only directories outside these).

A file's name in the index is its place relative to the cache root (``caches/...``, ``mounts/...``) or
``npm/...`` for ``~/.npm``; an imported name that would land anywhere else is refused.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from shlax_front.backend.cachetransfer.localcache import LocalCache
from shlax_front.backend.hostcache import HOST_CACHES
from shlax_front.backend.store import CORRUPT_SUFFIX, invoking_user

log = logging.getLogger(__name__)

#: directories of the cache root that are carried
ROOT_PARTS = ("caches", "mounts")
#: the invoking user's caches that are carried, by the name they have in the index
HOME_PARTS = {"npm": HOST_CACHES["npm"]}
#: locks, and apt's binary caches (``pkgcache.bin``: 37 MiB each, rebuilt by apt from the lists in a second)
SKIPPED_NAMES = {"lock", "lock-frontend", "pkgcache.bin", "srcpkgcache.bin"}
#: apt's unfinished downloads, npm's debug logs
SKIPPED_DIRS = {"partial", "_logs"}


@dataclass
class Transferred:
    """What a package export or import moved: files and bytes (files already there are not counted)."""

    files: int = 0
    bytes: int = 0


def _skipped(name: str) -> bool:
    return (
        name in SKIPPED_NAMES
        or name.endswith(CORRUPT_SUFFIX)
        or name.endswith(".lock")
        or (name.startswith(".") and name.endswith(".tmp"))
    )


def carried_files(cache_root: Path) -> Iterator[tuple[str, Path]]:
    """(name in the index, path on this host) of every regular file the package caches hold."""
    places = [(part, cache_root / part) for part in ROOT_PARTS]
    home = Path(invoking_user()[2])
    places += [(name, home / relative) for name, relative in HOME_PARTS.items()]
    for prefix, base in places:
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
            relative = os.path.relpath(dirpath, base)
            for name in sorted(filenames):
                if _skipped(name):
                    continue
                path = Path(dirpath) / name
                if path.is_symlink() or not path.is_file():
                    continue
                yield (
                    str(PurePosixPath(prefix, relative, name)) if relative != "." else f"{prefix}/{name}",
                    path,
                )


def local_path(name: str, cache_root: Path) -> Path | None:
    """Where a file named ``name`` in an index goes on this host; None for a name that could escape."""
    parts = PurePosixPath(name).parts
    if len(parts) < 2 or name.startswith("/") or any(p in ("..", ".", "") for p in parts):
        return None
    if parts[0] in ROOT_PARTS:
        return cache_root.joinpath(*parts)
    if parts[0] in HOME_PARTS:
        return Path(invoking_user()[2], HOME_PARTS[parts[0]]).joinpath(*parts[1:])
    return None


def export_files(cache: LocalCache, cache_root: Path, known: dict[str, dict]) -> tuple[dict, Transferred]:
    """Copy the package files the cache does not hold yet into its blobs; the file entries of the index.
    A file whose size and mtime match its entry in ``known`` (the index already there) is not read again."""
    entries: dict[str, dict] = {}
    moved = Transferred()
    for name, path in carried_files(cache_root):
        try:
            st = path.stat()
        except OSError:
            continue
        previous = known.get(name)
        if (
            previous
            and previous.get("size") == st.st_size
            and previous.get("mtime") == int(st.st_mtime)
            and cache.has_blob(previous["digest"])
        ):
            entries[name] = previous
            continue
        try:
            digest, copied = cache.put_file(path)
        except FileNotFoundError:  # removed meanwhile (a package manager cleaning up)
            continue
        if copied:
            moved.files += 1
            moved.bytes += copied
        entries[name] = {
            "digest": digest,
            "size": st.st_size,
            "mtime": int(st.st_mtime),
            "mode": st.st_mode & 0o755,
        }
    return entries, moved


def import_files(cache: LocalCache, files: dict[str, dict], cache_root: Path) -> Transferred:
    """Put every file of ``files`` that this host lacks (or holds with another size) in place, after its blob
    was hashed back to its digest. A damaged or missing blob is skipped: the package is fetched as usual."""
    moved = Transferred()
    uid, gid, _ = invoking_user()
    for name, entry in sorted(files.items()):
        dest = local_path(name, cache_root)
        if dest is None:
            log.warning("%s: a cache file outside the package caches: ignored", name[:120])
            continue
        with contextlib.suppress(OSError):
            if dest.stat().st_size == entry.get("size"):
                continue
        blob = cache.verified_blob(entry["digest"])
        if blob is None:
            continue
        try:
            _install(blob, dest, entry)
        except OSError as err:
            log.warning("%s: cannot import a cache file (%s)", dest, err.strerror)
            continue
        if name.split("/", 1)[0] in HOME_PARTS and os.getuid() == 0 and uid != 0:
            with contextlib.suppress(OSError):
                os.lchown(dest, uid, gid)
        moved.files += 1
        moved.bytes += int(entry.get("size") or 0)
    return moved


def _install(blob: Path, dest: Path, entry: dict) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, open(blob, "rb") as f:
            while chunk := f.read(1 << 20):
                out.write(chunk)
        os.chmod(tmp, int(entry.get("mode") or 0o644) & 0o755)
        mtime = entry.get("mtime")
        if isinstance(mtime, int):
            os.utime(tmp, (mtime, mtime))
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
