"""Damaged packages in the host caches (pip wheelhouse, apt archives) are removed before a RUN uses them.

pip takes a file already in the wheelhouse as downloaded, and apt a ``.deb`` of the right size, whatever their
bytes: a package damaged in place (same size, a bad sector, a copy cut and padded) failed every later install
until removed by hand, with nothing saying the cache is the cause. Each file is read back once - a wheel's
every zip member against its CRC and against the sha256 its ``RECORD`` gives, an sdist's or a ``.deb``'s
compressed streams to their end (gzip, xz and bzip2 carry their own checksums; zstd and uncompressed members
cannot be judged this way and pass), and a ``.deb`` against the SHA256 the apt lists beside the cache give
for it (``AptListHashes``; a package the lists do not name passes) - and remembered as sound by name, size,
mtime and inode (a ``.checked`` record beside the cache), so a warm cache is not read again. A ``.deb`` whose
SHA256 is the one the lists give is the very file the archive published: its streams are not decompressed as
well (for the example app's 420 packages that was seconds of xz at the first build after the cold one). A damaged file
is deleted with a one-line warning and fetched again like a missing one.

Not covered: a wheel against the hash of the index page it came from - the wheelhouse is filled by ``pip
download``, which neither prints nor keeps the index's ``#sha256=`` fragments (``wheelhouse`` would have to
resolve with ``pip install --dry-run --report`` to learn them).
"""

from __future__ import annotations

import base64
import bz2
import csv
import gzip
import hashlib
import io
import json
import logging
import lzma
import os
import re
import shutil
import subprocess
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from shlax_front.backend.hostcache import records_directory
from shlax_front.backend.rootfs import inside
from shlax_front.backend.store import write_atomic

log = logging.getLogger(__name__)

#: the record of files already read back, beside the resolution records (its leading dot keeps them apart)
CHECKED = ".checked.json"
#: the package files read back; anything else in a cache directory is left alone
PACKAGES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".deb")
#: where the tool's own host caches keep package files: cache id -> directory below the cache's
PACKAGE_DIRECTORIES = {"pip-wheelhouse": ".", "apt-cache": "archives"}


def drop_damaged_packages(cache_id: str, directory: Path, rootfs: str | None = None) -> list[str]:
    """``drop_damaged`` for the host cache ``cache_id`` kept in ``directory`` (nothing for other caches); the
    apt lists a ``.deb`` is checked against are the host-cached ones of the same release and architecture
    (caches/apt-cache/<partition> -> caches/apt-lists/<partition>) and those in the container at ``rootfs``."""
    below = PACKAGE_DIRECTORIES.get(cache_id)
    if below is None:
        return []
    expected = None
    if cache_id == "apt-cache":
        lists = [directory.parent.parent / "apt-lists" / directory.name]
        if rootfs:
            lists.append(Path(inside(rootfs, "/var/lib/apt/lists")))  # its symlinks resolved in the image
        expected = AptListHashes(*lists)
    return drop_damaged(directory / below, records_directory(directory) / CHECKED, expected)


def damage(path: Path) -> str | None:
    """Why the distribution at ``path`` cannot be read back, or None when it can (or is no archive we know)."""
    name = path.name
    try:
        if name.endswith(".deb"):
            return _deb_damage(path)
        if name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
                if bad:
                    return f"bad CRC in {bad}"
                return _record_problem(archive) if name.endswith(".whl") else None
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


def _record_problem(wheel: zipfile.ZipFile) -> str | None:
    """Which member of a wheel differs from the digest its ``*.dist-info/RECORD`` gives (rows without one, as
    RECORD's own, are not judged)."""
    records = [n for n in wheel.namelist() if n.count("/") == 1 and n.endswith(".dist-info/RECORD")]
    if len(records) != 1:
        return None
    rows = csv.reader(io.StringIO(wheel.read(records[0]).decode("utf-8", "replace")))
    for row in rows:
        if len(row) < 2 or "=" not in row[1]:
            continue
        algorithm, _, expected = row[1].partition("=")
        if algorithm not in ("sha256", "sha384", "sha512"):
            continue
        try:
            content = wheel.read(row[0])
        except KeyError:
            return f"{row[0]}: named in RECORD, not in the wheel"
        digest = base64.urlsafe_b64encode(hashlib.new(algorithm, content).digest()).rstrip(b"=").decode()
        if digest != expected:
            return f"{row[0]}: {algorithm} differs from RECORD"
    return None


#: a Packages stanza's ``Filename:`` line, the pool file's own name captured
_FILENAME = re.compile(rb"\nFilename: [^\n]*/([^/\n]+)\n")  # not ^ with re.M: ten times slower


class AptListHashes:
    """The SHA256s the apt lists in the directories ``lists`` (``*_Packages`` files, plain, gzip, xz or lz4) give
    for a ``.deb``, looked up by the name apt stores it under in its archives; the lists are read on the first
    question only."""

    def __init__(self, *lists: Path):
        self.lists = lists
        self._texts: list[bytes] | None = None
        self._where: dict[bytes, list[tuple[int, int]]] | None = None

    def __call__(self, archive_name: str) -> set[str] | None:
        """The SHA256s listed for ``archive_name`` (``name_[epoch%3a]version_arch.deb``), None if unlisted."""
        parts = archive_name.split("_", 2)
        if len(parts) != 3:
            return None
        pool = f"{parts[0]}_{re.sub(r'^[0-9]+%3a', '', parts[1])}_{parts[2]}"  # Filename: has no epoch
        texts = self._read()
        found = set()
        for n, at in self._index().get(pool.encode(), ()):
            text = texts[n]
            start = text.rfind(b"\n\n", 0, at) + 1
            end = text.find(b"\n\n", at)
            match = re.search(rb"^SHA256: ([0-9a-f]{64})$", text[start : end if end >= 0 else None], re.M)
            if match:
                found.add(match.group(1).decode())
        return found or None

    def _index(self) -> dict[bytes, list[tuple[int, int]]]:
        """{pool file name: [(list, offset of its Filename line)]}, made in one pass over every list: searching
        each list once per package was seconds for a few hundred packages (a list is tens of megabytes)."""
        if self._where is None:
            self._where = {}
            for n, text in enumerate(self._read()):
                for match in _FILENAME.finditer(text):
                    self._where.setdefault(match.group(1), []).append((n, match.start() + 1))
        return self._where

    def _read(self) -> list[bytes]:
        if self._texts is None:
            self._texts = []
            for directory in self.lists:
                for path in sorted(directory.glob("*_Packages*")) if directory.is_dir() else ():
                    text = _list_text(path) if path.is_file() and not path.is_symlink() else None
                    if text is not None:
                        self._texts.append(text)
        return self._texts


def _list_text(path: Path) -> bytes | None:
    """An apt list's text, whichever way apt stored it (None: a compression this machine cannot read)."""
    try:
        if path.name.endswith("_Packages"):
            return path.read_bytes()
        if path.name.endswith("_Packages.gz"):
            return gzip.decompress(path.read_bytes())
        if path.name.endswith("_Packages.xz"):
            return lzma.decompress(path.read_bytes())
        if path.name.endswith("_Packages.lz4") and shutil.which("lz4cat"):  # Debian's package lz4
            done = subprocess.run(["lz4cat", str(path)], capture_output=True, check=True)
            return done.stdout
    except (OSError, EOFError, ValueError, lzma.LZMAError, subprocess.CalledProcessError):
        return None
    return None


def _judged(path: Path, expected: Callable[[str], set[str] | None] | None) -> str | None:
    """Why the package at ``path`` is damaged, or None. When the lists give its SHA256, that alone judges it:
    equal, the file is byte for byte the one the archive published, whose streams are sound; otherwise its
    streams are read to their end (``damage``)."""
    listed = expected(path.name) if expected else None
    if not listed:
        return damage(path)
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return None if digest in listed else f"SHA256 {digest[:12]}... is not the one the apt lists give"


def drop_damaged(
    directory: Path, checked_path: Path, expected: Callable[[str], set[str] | None] | None = None
) -> list[str]:
    """Delete the damaged packages in ``directory`` (reading only files not read before, as recorded in
    ``checked_path``; ``expected`` gives the digests a file name must have, when known); returns their names.
    The caller holds the cache's lock."""
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
            why = _judged(path, expected)
            if why:
                log.warning("%s: damaged in the host cache (%s); removed, it is fetched again", path, why)
                os.unlink(path)
                dropped.append(path.name)
                continue
        seen[path.name] = signature
    if seen != checked:
        write_atomic(checked_path, json.dumps(seen, sort_keys=True))
    return dropped
