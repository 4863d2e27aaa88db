"""Damaged packages in the host caches (pip wheelhouse, apt archives) are removed before a RUN uses them.

pip takes a file already in the wheelhouse as downloaded, and apt a ``.deb`` of the right size, whatever their
bytes: a package damaged in place (same size, a bad sector, a copy cut and padded) failed every later install
until removed by hand, with nothing saying the cache is the cause. Each file is read back once - a wheel's
every zip member against its CRC, an sdist's or a ``.deb``'s compressed streams to their end (gzip, xz and
bzip2 carry their own checksums; zstd and uncompressed members cannot be judged this way and pass) - and
remembered as sound by name, size, mtime and inode (a ``.checked`` record beside the cache), so a warm cache
is not read again. A damaged file is deleted with a one-line warning and fetched again like a missing one.
"""

from __future__ import annotations

import bz2
import json
import logging
import lzma
import os
import tarfile
import zipfile
import zlib
from pathlib import Path

from shlax_front.backend.hostcache import records_directory
from shlax_front.backend.store import write_atomic

log = logging.getLogger(__name__)

#: the record of files already read back, beside the resolution records (its leading dot keeps them apart)
CHECKED = ".checked.json"
#: the package files read back; anything else in a cache directory is left alone
PACKAGES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".deb")
#: where the tool's own host caches keep package files: cache id -> directory below the cache's
PACKAGE_DIRECTORIES = {"pip-wheelhouse": ".", "apt-cache": "archives"}


def drop_damaged_packages(cache_id: str, directory: Path) -> list[str]:
    """``drop_damaged`` for the host cache ``cache_id`` kept in ``directory`` (nothing for other caches)."""
    below = PACKAGE_DIRECTORIES.get(cache_id)
    if below is None:
        return []
    return drop_damaged(directory / below, records_directory(directory) / CHECKED)


def damage(path: Path) -> str | None:
    """Why the distribution at ``path`` cannot be read back, or None when it can (or is no archive we know)."""
    name = path.name
    try:
        if name.endswith(".deb"):
            return _deb_damage(path)
        if name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            return f"bad CRC in {bad}" if bad else None
        if name.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")):
            with tarfile.open(path) as archive:
                for member in archive:
                    if member.isfile():
                        stream = archive.extractfile(member)
                        if stream is not None:
                            while stream.read(1 << 20):
                                pass
            return None
    except Exception as err:  # a damaged archive raises whatever its decompressor raises (zlib.error, ...)
        return str(err) or type(err).__name__
    return None


def _deb_damage(path: Path) -> str | None:
    """A ``.deb`` is an ar archive: its header and every member's framing must read, and each compressed
    member (control.tar.*, data.tar.*) must decompress to its end with its checksums right."""
    with open(path, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            return "not an ar archive"
        while header := f.read(60):
            if len(header) < 60 or header[58:60] != b"`\n":
                return "broken ar member header"
            member = header[:16].decode("ascii", "replace").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            start = f.tell()
            decompressor = _decompressor(member)
            if decompressor is not None:
                left = size
                while left > 0:
                    chunk = f.read(min(left, 1 << 20))
                    if not chunk:
                        return f"{member}: cut short"
                    left -= len(chunk)
                    decompressor.decompress(chunk)
                if not decompressor.eof:
                    return f"{member}: compressed stream cut short"
            f.seek(start + size + size % 2)
            if f.tell() > os.fstat(f.fileno()).st_size:
                return f"{member}: cut short"
    return None


def _decompressor(member: str):
    if member.endswith(".gz"):
        return zlib.decompressobj(wbits=31)
    if member.endswith(".xz"):
        return lzma.LZMADecompressor()
    if member.endswith(".bz2"):
        return bz2.BZ2Decompressor()
    return None


def drop_damaged(directory: Path, checked_path: Path) -> list[str]:
    """Delete the damaged packages in ``directory`` (reading only files not read before, as recorded in
    ``checked_path``); returns their names. The caller holds the cache's lock."""
    try:
        checked = json.loads(checked_path.read_text())
        if not isinstance(checked, dict):
            checked = {}
    except (OSError, ValueError):
        checked = {}
    seen: dict[str, list[int]] = {}
    dropped = []
    for path in sorted(directory.iterdir()) if directory.is_dir() else ():
        try:
            st = path.stat()
        except OSError:
            continue
        if not path.is_file() or not path.name.endswith(PACKAGES):
            continue
        signature = [st.st_size, st.st_mtime_ns, st.st_ino]
        if checked.get(path.name) != signature:
            why = damage(path)
            if why:
                log.warning("%s: damaged in the host cache (%s); removed, it is fetched again", path, why)
                os.unlink(path)
                dropped.append(path.name)
                continue
        seen[path.name] = signature
    if seen != checked:
        write_atomic(checked_path, json.dumps(seen, sort_keys=True))
    return dropped
