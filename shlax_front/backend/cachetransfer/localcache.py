"""A cache directory that travels: content-addressed blobs plus one index per format version.

Layout::

    blobs/sha256/<hex>     layer blobs, manifests, configs and package files, named by their sha256
    index/v1.json          format version 1: layer keys -> manifest digests, package paths -> file digests
    index/v1.lock          fcntl lock held while an exporter merges its entries into the index
    tmp/                   work directories of running exports and imports (never read as cache)

Why it can be trusted after anything: a blob only appears under its name by a rename after it was written in
full, the index is replaced whole (temporary file + rename) after the blobs it names, and every blob is hashed
again before use, so an interrupted export, a half-restored CI cache or a stranger's edit is a miss, never a
wrong layer or package. Two exporters at once both succeed: blob renames are idempotent and the index is merged
under a lock. An index of a format version this code does not know is ignored with a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from shlax_front.backend.store import cache_writes, file_lock, write_atomic

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
INDEX_NAME = re.compile(r"^v(\d+)\.json$")
CHUNK = 1 << 20
#: work directories older than this are left-overs of a killed process
STALE_SECONDS = 24 * 3600


def empty_index() -> dict:
    return {"format": FORMAT_VERSION, "layers": {}, "files": {}}


def file_digest(path: Path | str) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest()


class LocalCache:
    """One cache directory (``--cache-to type=local,dest=DIR`` or ``--cache-from type=local,src=DIR``)."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self._verified: set[str] = set()

    @property
    def blobs(self) -> Path:
        return self.root / "blobs" / "sha256"

    @property
    def index_path(self) -> Path:
        return self.root / "index" / f"v{FORMAT_VERSION}.json"

    def blob_path(self, digest: str) -> Path:
        if not DIGEST.match(digest):
            raise ValueError(f"not a sha256 digest: {digest!r}")
        return self.blobs / digest.removeprefix("sha256:")

    def has_blob(self, digest: str) -> bool:
        return DIGEST.match(digest) is not None and self.blob_path(digest).is_file()

    # -- index ------------------------------------------------------------------------------------------
    def read_index(self) -> dict:
        """The index of our format version (empty when missing or damaged, with a warning when damaged, or
        when only other format versions are there)."""
        try:
            raw = self.index_path.read_bytes()
        except FileNotFoundError:
            others = self._other_versions()
            if others:
                log.warning(
                    "%s: cache format version %s is not known to this shlax-front (it reads version %d): ignored",
                    self.root,
                    ", ".join(str(v) for v in others),
                    FORMAT_VERSION,
                )
            return empty_index()
        except OSError:
            return empty_index()
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError:
            data = None
        if not _index_shaped(data):
            log.warning("%s: damaged cache index: ignored", self.index_path)
            return empty_index()
        return data

    def _other_versions(self) -> list[int]:
        with contextlib.suppress(OSError):
            names = os.listdir(self.root / "index")
            return sorted(int(m.group(1)) for n in names if (m := INDEX_NAME.match(n)))
        return []

    def merge_index(self, update: Callable[[dict], None]) -> None:
        """Read the index under the lock, let ``update`` add to it, write it back whole."""
        with file_lock(self.root / "index" / f"v{FORMAT_VERSION}.lock"):
            data = self.read_index()
            update(data)
            write_atomic(self.index_path, json.dumps(data, indent=0, sort_keys=True))

    # -- blobs ------------------------------------------------------------------------------------------
    def put_file(self, source: Path | str) -> tuple[str, int]:
        """Store a file's content under its digest; (digest, bytes copied: 0 when the blob was there)."""
        with open(source, "rb") as f:
            return self._put(f)

    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` (a manifest or config written here) under its digest; the digest."""
        return self._put(io.BytesIO(data))[0]

    def _put(self, f: BinaryIO) -> tuple[str, int]:
        with cache_writes(self.root):
            self.blobs.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.blobs, prefix=".put-", suffix=".tmp")
        try:
            sha = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out:
                while chunk := f.read(CHUNK):
                    sha.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            digest = "sha256:" + sha.hexdigest()
            final = self.blob_path(digest)
            if final.is_file():
                return digest, 0
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
            self._verified.add(digest)
            return digest, size
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def verified_blob(self, digest: str) -> Path | None:
        """The blob's path once its content was hashed back to ``digest``; None (with a warning when the blob
        is there but damaged) otherwise. Each blob is hashed once per process."""
        if not DIGEST.match(digest):
            log.warning("%s: not a sha256 digest in the cache index: ignored", digest[:80])
            return None
        path = self.blob_path(digest)
        if digest in self._verified:
            return path
        try:
            actual = file_digest(path)
        except OSError:
            return None
        if actual != digest:
            log.warning("%s: damaged cache blob (content is %s): ignored", path, actual[:19])
            return None
        self._verified.add(digest)
        return path

    @contextlib.contextmanager
    def workdir(self) -> Iterator[Path]:
        """A private directory under ``tmp/`` for one push or pull, removed afterwards."""
        base = self.root / "tmp"
        with cache_writes(self.root):
            base.mkdir(parents=True, exist_ok=True)
            self._clear_stale(base)
            self._clear_stale_writes()
            path = Path(tempfile.mkdtemp(dir=base, prefix=f"{os.getpid()}-"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    @staticmethod
    def _clear_stale(base: Path) -> None:
        now = time.time()
        with contextlib.suppress(OSError):
            for entry in base.iterdir():
                with contextlib.suppress(OSError):
                    if now - entry.lstat().st_mtime > STALE_SECONDS:
                        shutil.rmtree(entry, ignore_errors=True)

    def _clear_stale_writes(self) -> None:
        """Delete the temporary files of blobs and indexes an exporter killed outright (``kill -9``, a cancelled
        CI job) was writing, once ``STALE_SECONDS`` old: never read as cache, but a layer's can weigh hundreds
        of megabytes, and a CI cache directory is saved and restored with them, run after run."""
        now = time.time()
        for directory in (self.blobs, self.index_path.parent):
            with contextlib.suppress(OSError):
                for entry in os.scandir(directory):
                    if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                        with contextlib.suppress(OSError):
                            if now - entry.stat(follow_symlinks=False).st_mtime > STALE_SECONDS:
                                os.unlink(entry.path)


def _index_shaped(data: object) -> bool:
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        return False
    layers, files = data.get("layers"), data.get("files")
    return (
        isinstance(layers, dict)
        and all(isinstance(v, dict) and isinstance(v.get("manifest"), str) for v in layers.values())
        and isinstance(files, dict)
        and all(isinstance(v, dict) and isinstance(v.get("digest"), str) for v in files.values())
    )
