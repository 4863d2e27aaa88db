"""COPY/ADD from the build context drops setuid/setgid bits in ``buildah bud``; ``buildah copy`` keeps them.

bud 1.28 copies context files with the copier's ``StripSetuidBit``/``StripSetgidBit`` on (``COPY --from``
keeps them, so does the content of an ADDed archive, and ``--chmod`` sets what it says). The ``buildah copy``
verb the executor uses has no such option, so the executor finds the context entries that carry those bits
(usually none: then nothing is done) and, after the copy, clears the bits on the files they became.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
from collections.abc import Callable

from shlax_front.backend.context import BuildContext

SETID = stat.S_ISUID | stat.S_ISGID


def setid_destinations(
    context: BuildContext, sources: tuple[str, ...], dest: str, dest_is_dir: Callable[[], bool], add: bool
) -> list[tuple[str, int]]:
    """(container path, mode bud gives it) for every context entry a COPY/ADD copies with setuid/setgid set.

    Placement follows COPY: a directory's contents go under ``dest``; a file goes into ``dest`` when it is a
    directory (trailing slash, or ``dest_is_dir()``: asked only when needed, it mounts the container) or
    several sources match, else becomes it.
    """
    matches = [m for s in sources for m in context.expand(s)]
    found = []
    for rel in matches:
        path = os.path.join(context.root, rel)
        st = os.stat(path)  # a top-level source is followed through a symlink, as bud does
        if stat.S_ISDIR(st.st_mode):
            for dirpath, dirnames, filenames in os.walk(path):
                for name in dirnames + filenames:
                    entry = os.path.join(dirpath, name)
                    inner = os.path.relpath(entry, path)
                    if context.ignore.ignored(os.path.normpath(os.path.join(rel, inner))):
                        continue
                    mode = os.lstat(entry).st_mode
                    if mode & SETID and not stat.S_ISLNK(mode):
                        found.append((posixpath.join(dest, inner), stat.S_IMODE(mode) & ~SETID))
        elif st.st_mode & SETID and not (add and tarfile.is_tarfile(path)):
            into_dir = dest.endswith("/") or len(matches) > 1 or dest_is_dir()
            target = posixpath.join(dest, posixpath.basename(rel)) if into_dir else dest
            found.append((target, stat.S_IMODE(st.st_mode) & ~SETID))
    return found


def clear_setid(inside: Callable[[str], str], destinations: list[tuple[str, int]]) -> None:
    """After the copy: give each destination its bud mode (``inside`` maps a container path to the host)."""
    for path, mode in destinations:
        host = inside(path)
        if os.path.lexists(host) and not os.path.islink(host):
            os.chmod(host, mode)
