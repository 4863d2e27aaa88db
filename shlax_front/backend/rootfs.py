"""Paths inside a mounted container root, and ``COPY --from`` done between two mounted roots.

``buildah copy --from`` gives every copied file the copying user's owner; ``buildah bud`` keeps the owners
of the source image, so the executor copies between the mounted roots itself. What bud 1.28 does, and
this module with it (each checked against a real bud build):

- a source named (or matched by a glob) that is a symlink is followed: a file arrives as a regular file
  under the link's name, with the target's content, mode and owner; a directory's contents are copied;
- inside a copied directory symlinks stay symlinks; owners, modes (setuid/setgid included), mtimes and
  extended attributes are kept; ``--chmod`` replaces the mode of every copied entry;
- the destination directory itself is created root-owned 0755 when missing and left as it is otherwise;
- ``*`` matches names starting with a dot (Go's globbing).
"""

from __future__ import annotations

import contextlib
import glob
import os
import posixpath
import re
import shutil
import stat
from collections.abc import Callable

GLOBS = re.compile(r"[*?\[]")


class MissingSource(Exception):
    """A COPY --from source that does not exist in the source image (or is a dangling symlink)."""


def inside(rootfs: str, path: str) -> str:
    """``path`` inside the container's root, resolving symlinks against that root, never escaping it."""
    current = rootfs
    for part in [p for p in path.split("/") if p and p != "."]:
        if part == "..":
            current = os.path.dirname(current) if current != rootfs else rootfs
            continue
        candidate = os.path.join(current, part)
        hops = 0
        while os.path.islink(candidate) and hops < 40:
            link = os.readlink(candidate)
            candidate = (
                os.path.join(rootfs, link.lstrip("/"))
                if link.startswith("/")
                else os.path.join(current, link)
            )
            candidate = os.path.normpath(candidate)
            if not candidate.startswith(rootfs):
                candidate = rootfs
            hops += 1
        current = candidate
    return current


def glob_inside(rootfs: str, pattern: str) -> list[str]:
    """Glob ``pattern`` inside a container root: the fixed leading directories are resolved against that
    root (an absolute symlink in the image must not lead to the host's files), then the rest is matched."""
    parts = [p for p in pattern.split("/") if p]
    fixed = []
    for part in parts:
        if GLOBS.search(part):
            break
        fixed.append(part)
    base = inside(rootfs, "/" + "/".join(fixed))
    rest = "/".join(parts[len(fixed) :])
    return sorted(os.path.join(base, m) for m in glob.glob(rest, root_dir=base, include_hidden=True))


def ensure_dirs(rootfs: str, path: str) -> None:
    """Create ``path`` inside the container (root-owned, 0755, as buildah does for a COPY destination)."""
    current = "/"
    for part in [p for p in path.split("/") if p]:
        current = posixpath.join(current, part)
        host = inside(rootfs, current)
        if not os.path.lexists(host):
            os.mkdir(host, 0o755)
            os.chmod(host, 0o755)


def copy_from_root(
    source_root: str,
    rootfs: str,
    sources: tuple[str, ...] | list[str],
    dest: str,
    chmod: str | None,
    excluded: Callable[[str], bool] | None = None,
) -> None:
    """``COPY --from`` (no ``--chown``) of ``sources`` in ``source_root`` to ``dest`` in ``rootfs``.

    Placement as COPY: a directory's contents go into ``dest``; a file goes into it when it is a directory
    (an existing one, a trailing slash, several sources, a dangling symlink), else becomes it. (A ``dest``
    equal to the WORKDIR is a directory too: the planner gives it its trailing slash.)

    ``excluded`` (``COPY --exclude``) tells whether a path relative to the source's directory - the source
    itself when it names a directory, else the directory holding the file or the glob's matches - is left out.
    """
    matches = copied_sources(source_root, sources, excluded)
    mode = int(chmod, 8) if chmod else None
    # a dangling symlink: bud makes its target a directory (links resolve inside the root, not the host's)
    dangling = os.path.islink(_named(rootfs, dest)) and not os.path.lexists(inside(rootfs, dest))
    into_dir = dest.endswith("/") or len(matches) > 1 or dangling
    for name, real, prefix in matches:
        if os.path.isdir(real):
            ensure_dirs(rootfs, dest)
            skip = None
            if excluded is not None and prefix is not None:
                skip = lambda rel, prefix=prefix: excluded(posixpath.join(prefix, rel))  # noqa: E731
            _copy_tree(real, inside(rootfs, dest), mode, skip)
            continue
        target = inside(rootfs, dest)
        if into_dir or os.path.isdir(target):
            ensure_dirs(rootfs, dest)
            out = os.path.join(inside(rootfs, dest), name)
        else:
            ensure_dirs(rootfs, posixpath.dirname(dest.rstrip("/")) or "/")
            out = inside(rootfs, posixpath.dirname(dest.rstrip("/")) or "/")
            out = os.path.join(out, posixpath.basename(dest.rstrip("/")))
        _copy_entry(real, out, mode)


def copied_sources(
    source_root: str, sources: tuple[str, ...] | list[str], excluded: Callable[[str], bool] | None = None
) -> list[tuple[str, str, str | None]]:
    """What ``copy_from_root`` copies of ``sources``: (name in the destination, followed path in the source
    root, prefix of its paths for ``excluded`` or None), in the order it copies them. ``MissingSource`` when
    a source matches nothing, or only what ``excluded`` leaves out."""
    matches: list[tuple[str, str, str | None]] = []
    for source in sources:
        found = glob_inside(source_root, source) if GLOBS.search(source) else [_named(source_root, source)]
        kept = 0
        for path in found:
            real = inside(source_root, "/" + os.path.relpath(path, source_root))
            if not os.path.exists(real):
                raise MissingSource(source)
            own_dir = not GLOBS.search(source) and os.path.isdir(real)
            prefix: str | None = "" if own_dir else os.path.basename(path)
            if excluded is not None and prefix and excluded(prefix):
                continue
            matches.append((os.path.basename(path), real, prefix if excluded is not None else None))
            kept += 1
        if not found:
            raise MissingSource(source)
        if not kept:
            raise MissingSource(f"{source} (every match excluded by --exclude)")
    return matches


def _named(root: str, source: str) -> str:
    """``source`` inside ``root`` with its directories resolved but its own name kept (it may be a link)."""
    name = posixpath.basename(source)
    if source.endswith("/") or name in ("", ".", ".."):
        return inside(root, source)
    return os.path.join(inside(root, posixpath.dirname(source) or "/"), name)


def _copy_tree(src: str, dst: str, mode: int | None, skip: Callable[[str], bool] | None = None) -> None:
    """The contents of directory ``src`` into directory ``dst`` (which keeps its own mode and owner);
    ``skip`` leaves out the entries whose path relative to ``src`` it is true for."""
    directories = []
    for dirpath, dirnames, filenames in os.walk(src):
        base = os.path.join(dst, os.path.relpath(dirpath, src))
        for name in dirnames + filenames:
            path, out = os.path.join(dirpath, name), os.path.join(base, name)
            if skip is not None and skip(os.path.normpath(os.path.relpath(path, src))):
                continue
            st = os.lstat(path)
            if stat.S_ISDIR(st.st_mode):
                if os.path.lexists(out) and not (os.path.isdir(out) and not os.path.islink(out)):
                    os.unlink(out)
                if not os.path.lexists(out):
                    os.mkdir(out, 0o700)
                _set_metadata(path, out, st, mode)
                directories.append((path, out, st))
            else:
                _copy_entry(path, out, mode)
    for _path, out, st in reversed(directories):  # after their contents, which touch them
        os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _copy_entry(path: str, out: str, mode: int | None) -> None:
    """One non-directory entry, as itself (a symlink stays a symlink), with its metadata."""
    st = os.lstat(path)
    if os.path.lexists(out) and not (os.path.isdir(out) and not os.path.islink(out)):
        os.unlink(out)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(path), out)
    elif stat.S_ISREG(st.st_mode):
        shutil.copyfile(path, out)
    else:  # fifo, socket, device: never read
        os.mknod(out, st.st_mode, st.st_rdev)
    _set_metadata(path, out, st, mode)
    os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _set_metadata(path: str, out: str, st: os.stat_result, mode: int | None) -> None:
    """Owner, then mode (chown clears setuid/setgid), then extended attributes (chown drops capabilities)."""
    os.lchown(out, st.st_uid, st.st_gid)
    if stat.S_ISLNK(st.st_mode):
        return
    os.chmod(out, stat.S_IMODE(st.st_mode) if mode is None else mode)
    with contextlib.suppress(OSError):
        for attr in os.listxattr(path, follow_symlinks=False):
            with contextlib.suppress(OSError):
                os.setxattr(out, attr, os.getxattr(path, attr, follow_symlinks=False), follow_symlinks=False)
