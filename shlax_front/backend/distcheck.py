"""Damaged distributions in the host pip wheelhouse are removed before pip is pointed at it.

pip takes a file already in the wheelhouse as downloaded, whatever its bytes: a wheel damaged in place (same
size, a bad sector, a copy cut and padded) would fail every later install until removed by hand, with nothing
saying the cache is the cause. Each file is read back once - a wheel's every zip member against its CRC, an
sdist's whole compressed stream - and remembered as sound by name, size and mtime (``.checked.json`` in the
wheelhouse's records directory), so a warm wheelhouse is not read again. A damaged file is deleted with a
one-line warning: the offline-first fill then downloads it again like any missing distribution.
"""

from __future__ import annotations

import json
import os
import sys
import tarfile
import zipfile
from pathlib import Path

from shlax_front.backend.store import write_atomic

#: the record of files already read back, beside the resolution records (its leading dot keeps them apart)
CHECKED = ".checked.json"


def damage(path: Path) -> str | None:
    """Why the distribution at ``path`` cannot be read back, or None when it can (or is no archive we know)."""
    name = path.name
    try:
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


def drop_damaged(wheelhouse: Path, records: Path) -> list[str]:
    """Delete the damaged distributions in ``wheelhouse`` (checking only files not checked before); returns
    their names. The caller holds the wheelhouse's lock."""
    checked_path = records / CHECKED
    try:
        checked = json.loads(checked_path.read_text())
        if not isinstance(checked, dict):
            checked = {}
    except (OSError, ValueError):
        checked = {}
    seen: dict[str, list[int]] = {}
    dropped = []
    for path in sorted(wheelhouse.iterdir()) if wheelhouse.is_dir() else ():
        try:
            st = path.stat()
        except OSError:
            continue
        if not path.is_file():
            continue
        signature = [st.st_size, st.st_mtime_ns, st.st_ino]
        if checked.get(path.name) != signature:
            why = damage(path)
            if why:
                print(
                    f"shlax-front: warning: {path}: damaged in the host cache ({why}); removed, it is fetched again",
                    file=sys.stderr,
                )
                os.unlink(path)
                dropped.append(path.name)
                continue
        seen[path.name] = signature
    if seen != checked:
        write_atomic(checked_path, json.dumps(seen, sort_keys=True))
    return dropped
