"""The key of a ``COPY --from=<stage>``: the files it copies, not the stage's own key.

bud keys such a COPY by what it copies (its history line names ``file:<digest>``): a stage built again into the
same files - a README edit in a builder's context, a step whose output comes out the same - leaves that COPY
and every step after it cached. Keyed by the stage's key, shlax-front built all of them again, and was slower
than bud exactly where a multi-stage build should be fast.

The digest covers what ``rootfs.copy_from_root`` (the copy of a ``COPY --from`` without ``--chown``) reads
and keeps: the matches of each source with their names and ``--exclude`` prefixes, and for every entry below
them its path, type, mode, owner, device number, content or link target and extended attributes. Not mtimes:
bud leaves them out of its key too, so the layer reused here is the one bud reuses.

Reading the files takes a mount of the stage's image, so a digest is remembered by image id (an id names the
image's content): a stage taken from the cache costs nothing more than its key did.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import threading
from collections.abc import Callable
from pathlib import Path

from shlax_front.backend.rootfs import MissingSource, copied_sources
from shlax_front.backend.store import file_lock, write_atomic

#: digests remembered (the newest; an entry is a few hundred bytes)
REMEMBERED = 2000
_IMAGE_ID = re.compile(r"^(?:sha256:)?[0-9a-f]{64}$")


def copied_digest(
    source_root: str, sources: tuple[str, ...], excluded: Callable[[str], bool] | None = None
) -> str:
    """sha256 over what ``copy_from_root`` copies of ``sources`` from ``source_root`` (``MissingSource`` when
    it would fail the same way)."""
    h = hashlib.sha256()
    for name, real, prefix in copied_sources(source_root, sources, excluded):
        h.update(b"match\0" + os.fsencode(name) + b"\0" + os.fsencode(prefix or "") + b"\0")
        h.update(_entry(".", real))
        if not os.path.isdir(real):
            continue
        for rel in _walk(real):
            if excluded is not None and prefix is not None and excluded(os.path.join(prefix, rel)):
                continue  # as copy_from_root's skip (a skipped directory's entries are asked one by one too)
            h.update(_entry(rel, os.path.join(real, rel)))
    return h.hexdigest()


def _walk(top: str) -> list[str]:
    """Every path below ``top``, relative to it, sorted by bytes; symlinks not followed."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(top):
        base = os.path.relpath(dirpath, top)
        found.extend(os.path.normpath(os.path.join(base, n)) for n in dirnames + filenames)
    return sorted(found, key=os.fsencode)


def _entry(rel: str, path: str) -> bytes:
    st = os.lstat(path)
    kind = stat.S_IFMT(st.st_mode)
    head = f"\0{kind:o}\0{stat.S_IMODE(st.st_mode):o}\0{st.st_uid}\0{st.st_gid}\0".encode()
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            body = hashlib.file_digest(f, "sha256").hexdigest().encode()
    elif stat.S_ISLNK(st.st_mode):
        body = os.fsencode(os.readlink(path))
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        body = str(st.st_rdev).encode()
    else:
        body = b""
    out = os.fsencode(rel) + head + body
    try:
        names = sorted(os.listxattr(path, follow_symlinks=False))
    except OSError:
        names = []
    for attr in names:
        try:
            value = os.getxattr(path, attr, follow_symlinks=False)
        except OSError:
            continue
        out += b"\0xattr:" + attr.encode() + b"=" + value.hex().encode()
    return out + b"\n"


class StageFiles:
    """Digests of ``COPY --from=<stage>`` sources in stage images, remembered in ``layers/stage-files.json``
    of the cache root; ``mount(image)`` gives an image's mounted root (the build's own, removed at its end)."""

    def __init__(self, root: Path, mount: Callable[[str], str]):
        self.path = Path(root) / "layers" / "stage-files.json"
        self.lock = Path(root) / "layers" / "stage-files.lock"
        self.mount = mount
        self._known: dict[str, str] | None = None
        self._lock = threading.Lock()  # stages built side by side share it

    def digest(self, image: str, sources: tuple[str, ...], exclude: tuple[str, ...] = ()) -> str | None:
        """The digest of what the copy takes from ``image``; None when it cannot be read (the copy then
        reports the missing source itself, and the step is keyed by the stage as before)."""
        from shlax_front.backend.context import ContextError, IgnoreRules

        memo = hashlib.sha256(json.dumps([image, list(sources), list(exclude)]).encode()).hexdigest()
        known = self._read()
        if memo in known:
            return known[memo]
        try:
            excluded = IgnoreRules.parse("\n".join(exclude)).ignored if exclude else None
            digest = copied_digest(self.mount(image), sources, excluded)
        except (MissingSource, ContextError, OSError, ValueError):
            return None  # a malformed --exclude pattern too: the copy says so, with the step's line
        if _IMAGE_ID.match(image):
            self._remember(memo, digest)
        return digest

    def _read(self) -> dict[str, str]:
        if self._known is None:
            try:
                data = json.loads(self.path.read_text())
            except (OSError, ValueError):
                data = {}
            self._known = (
                {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}
            )
        return self._known

    def _remember(self, memo: str, digest: str) -> None:
        self._read()[memo] = digest
        with self._lock, file_lock(self.lock):
            try:
                data = json.loads(self.path.read_text())
            except (OSError, ValueError):
                data = {}
            data = data if isinstance(data, dict) else {}
            data.pop(memo, None)
            data[memo] = digest
            kept = dict(list(data.items())[-REMEMBERED:])
            write_atomic(self.path, json.dumps(kept, indent=0))
