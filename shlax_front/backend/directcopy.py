"""A COPY of one plain context file or directory written into the mounted working container by this process, as
``buildah copy`` 1.28 writes it, with the content digest it would print: ``buildah mount`` instead of ``buildah copy``.

Why: ``buildah copy`` of one small file costs 0.11-0.14 s (about 0.13 s of CPU), of a small directory 0.2 CPU
seconds: buildah 1.28 re-executes its own binary four times to stat, resolve, make and fill the destination
chrooted into the container's root, while ``buildah mount`` takes 0.02-0.03 s. In a late edit (``late_edit``: the
app's source copied last) that copy is a fifth of the whole build.

What ``buildah copy`` 1.28 does for one source of the context without ``--chown``/``--chmod`` (``add.go``,
``copier.go``, ``digester.go`` of 1.28.2), and this module with it:

- a missing destination directory is made (each missing directory 0700, owner 0:0, then 0755); the directories
  on its way are left as they are;
- the source is sent as tar entries (``tar.FileInfoHeader``): a file as one entry of its base name, a directory
  as everything below it, parents first, names sorted, each named by its path below it; permission bits, size
  (0 for a directory), the host owner's user and group names, uid and gid 0, the mtime rounded to the second;
- a file is written over whatever non-directory has its name (removed first), mode 0600, then owner 0:0, its
  permission bits and its atime and mtime both set to that rounded mtime; a directory is made 0700 (or kept),
  given to 0:0 and its mode, and once everything is written, its mtime set again (deepest first), with the
  access time of that moment, and its mode again;
- the digest it prints (the history's ``COPY file:<digest>`` or ``dir:``) is the sha256 of those entries as Go's
  tar writer writes them in the USTAR format with every time zeroed, each content padded to 512 bytes, and the
  two zero blocks that end an archive. Checked against ``buildah copy`` 1.28.2 (with and without
  ``--contextdir``, the same) for files of several modes, sizes and owners and for a directory tree; 1.39
  prints another digest for a copy without ``--contextdir``, so this is used only where the build copies plain
  files without it (``copy_step.plain_copies_allowed``: 1.28).

Only for what those rules cover (``eligible`` on the host side, ``destination`` in the container): one source,
regular files and directories only, reached through directories only their owner (this user or root) can write
(``copy_step.plain_files``, ``plain_directory``, and here for those below), without setuid/setgid/sticky bits,
extended attributes or hard links, with names (up to 100 bytes), user and group names USTAR holds as they are; a
destination ending in ``/`` whose existing directories are real directories in the image, nothing there of
another kind where an entry goes but a file over a file or a symlink; an ignore file that surely excludes
nothing of the source (``copy_step``: every pattern read, none matching it or a path below it; ``buildah copy
--ignorefile`` then sends the same entries, checked); a process that is real root outside any user namespace; ``BUILDAH_HISTORY`` unset (with it, ``buildah copy`` adds a history entry of its own). Anything
else is copied by ``buildah copy`` as before.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import os
import pwd
import stat
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

#: tar's block, and the largest size a USTAR header's 12-byte octal field holds
BLOCK = 512
USTAR_SIZE_LIMIT = 8**11
#: the identity mapping of a process outside any user namespace
IDENTITY_MAP = ["0", "0", "4294967295"]


class Entry(NamedTuple):
    """One tar entry ``buildah copy`` sends: its name, where it is on the host, its ``lstat``, its header block."""

    name: str
    path: str
    st: os.stat_result
    header: bytes


def eligible(source: str, dest: str, environ: Mapping[str, str]) -> list[Entry] | None:
    """The entries ``buildah copy`` would send for ``source`` (a file: itself; a directory: everything below it,
    in Go's ``WalkDir`` order) when this module may copy them to ``dest`` as it would (see the module docstring);
    None otherwise. ``source`` and the directories on its way were checked by ``copy_step`` (``plain_files``,
    ``plain_directory``); the directories below it are checked here the same way."""
    if environ.get("BUILDAH_HISTORY") or not dest.startswith("/") or not dest.endswith("/"):
        return None
    if os.geteuid() != 0 or not _outside_user_namespaces():
        return None
    try:
        st = os.lstat(source)
        if stat.S_ISREG(st.st_mode):
            found = [_entry(os.path.basename(source), source, st)]
        elif stat.S_ISDIR(st.st_mode):
            found = list(_below(source, ""))
            if not found:  # an empty directory: not measured
                return None
        else:
            return None
    except (OSError, _NotCovered):
        return None
    return found


class _NotCovered(Exception):
    pass


def _entry(name: str, path: str, st: os.stat_result) -> Entry:
    """One file or directory as its entry, or ``_NotCovered``: another kind, setuid/setgid/sticky bits, extended
    attributes, a hard link (buildah sends a link entry), a name or owner USTAR does not hold as it is."""
    regular = stat.S_ISREG(st.st_mode)
    if not (regular or stat.S_ISDIR(st.st_mode)) or st.st_mode & 0o7000:
        raise _NotCovered(path)
    if regular and (st.st_nlink != 1 or st.st_size >= USTAR_SIZE_LIMIT):
        raise _NotCovered(path)
    if os.listxattr(path, follow_symlinks=False):
        raise _NotCovered(path)
    header = _header(name, st) if _ustar_string(name, 100) else None
    if header is None:
        raise _NotCovered(path)
    return Entry(name, path, st, header)


def _below(top: str, prefix: str) -> Iterator[Entry]:
    """The entries under directory ``top`` (names below it, ``/``-separated), parents first, each directory's
    names sorted as Go sorts them; each directory must be one only its owner (this user or root) can write."""
    me = os.geteuid()
    here = os.path.join(top, prefix) if prefix else top
    st = os.lstat(here)
    if st.st_uid not in (0, me) or st.st_mode & 0o022:
        raise _NotCovered(here)
    for name in sorted(os.listdir(here), key=os.fsencode):
        rel = f"{prefix}/{name}" if prefix else name
        path = os.path.join(top, rel)
        entry = _entry(rel, path, os.lstat(path))
        yield entry
        if stat.S_ISDIR(entry.st.st_mode):
            yield from _below(top, rel)


def _outside_user_namespaces() -> bool:
    try:
        with open("/proc/self/uid_map") as f:
            lines = f.read().split("\n")
    except OSError:
        return False
    return lines[0].split() == IDENTITY_MAP and not any(line.strip() for line in lines[1:])


def _ustar_string(value: str, size: int) -> bool:
    return value.isascii() and "\x00" not in value and len(value) <= size


def _owner_names(st: os.stat_result) -> tuple[str, str]:
    """The host owner's user and group names as Go's ``FileInfoHeader`` looks them up (empty when unknown)."""
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = ""
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = ""
    return user, group


def _octal(value: int, size: int) -> bytes:
    """Go's ``formatOctal``: zero-padded octal digits and a NUL."""
    digits = format(value, "o")
    return ("0" * (size - len(digits) - 1) + digits).encode() + b"\x00"


def _header(name: str, st: os.stat_result) -> bytes | None:
    """The USTAR header block the digest reads (times zeroed, uid and gid 0; a directory's size 0, its name
    without a slash); None when the owner's names do not fit."""
    user, group = _owner_names(st)
    if not _ustar_string(user, 32) or not _ustar_string(group, 32):
        return None
    directory = stat.S_ISDIR(st.st_mode)
    block = bytearray(BLOCK)
    block[0 : len(name)] = name.encode()
    block[100:108] = _octal(stat.S_IMODE(st.st_mode), 8)
    block[108:116] = _octal(0, 8)
    block[116:124] = _octal(0, 8)
    block[124:136] = _octal(0 if directory else st.st_size, 12)
    block[136:148] = _octal(0, 12)
    block[148:156] = b" " * 8
    block[156:157] = b"5" if directory else b"0"
    block[257:265] = b"ustar\x0000"
    block[265 : 265 + len(user)] = user.encode()
    block[297 : 297 + len(group)] = group.encode()
    block[329:337] = _octal(0, 8)
    block[337:345] = _octal(0, 8)
    block[148:156] = _octal(sum(block), 7) + b" "
    return bytes(block)


def destination(rootfs: str, dest: str, entries: Sequence[Entry]) -> str | None:
    """The directory of the mounted root the entries go into (``dest``): None when a directory on its way is not
    a real directory (a symlink buildah would resolve inside the root, or something else), or when what stands
    where an entry goes is not what buildah would simply replace (a directory where a file goes, anything but a
    directory where a directory goes). Missing directories of ``dest`` are fine: ``copy`` makes them."""
    current = rootfs
    missing = False
    for part in [p for p in dest.split("/") if p]:
        if part in (".", ".."):
            return None
        current = os.path.join(current, part)
        if missing:
            continue
        try:
            if not stat.S_ISDIR(os.lstat(current).st_mode):
                return None
        except FileNotFoundError:
            missing = True
        except OSError:
            return None
    if missing:
        return current
    for entry in entries:
        try:
            there = os.lstat(os.path.join(current, entry.name))
        except FileNotFoundError:
            continue
        except OSError:
            return None
        if stat.S_ISDIR(there.st_mode) != stat.S_ISDIR(entry.st.st_mode):
            if stat.S_ISDIR(there.st_mode) or stat.S_ISDIR(entry.st.st_mode):
                return None
    return current


def copy(entries: Sequence[Entry], target: str) -> str:
    """Write the entries into directory ``target`` (made as ``buildah copy`` makes a missing destination: each
    missing directory 0755, owner 0:0) as it writes them; returns the digest it prints. Raises OSError (a
    source changed meanwhile included)."""
    _make_directories(target)
    digest = hashlib.sha256()
    directories = []
    for entry in entries:
        digest.update(entry.header)
        path = os.path.join(target, entry.name)
        if stat.S_ISDIR(entry.st.st_mode):
            with contextlib.suppress(FileExistsError):
                os.mkdir(path, 0o700)
            os.lchown(path, 0, 0)
            os.chmod(path, stat.S_IMODE(entry.st.st_mode))
            mtime = _rounded(entry.st.st_mtime_ns)
            os.utime(path, ns=(mtime, mtime), follow_symlinks=False)
            directories.append((path, mtime, stat.S_IMODE(entry.st.st_mode)))
            continue
        written = _copy_file(entry, path, digest)
        if written % BLOCK:
            digest.update(b"\x00" * (BLOCK - written % BLOCK))
    # as the copier's last step: each directory's times again (deepest first: writing below changed them),
    # the access time now, since its entry carries none; then their modes
    now = time.time_ns() // 1000 * 1000
    for path, mtime, _ in reversed(directories):
        os.utime(path, ns=(now, mtime), follow_symlinks=False)
    for path, _, mode in directories:
        os.chmod(path, mode)
    digest.update(b"\x00" * (2 * BLOCK))
    return digest.hexdigest()


def _make_directories(target: str) -> None:
    """``copier.Mkdir``: each missing directory made 0700, given to 0:0, then 0755."""
    missing = []
    path = target
    while not os.path.lexists(path):
        missing.append(path)
        path = os.path.dirname(path)
    for path in reversed(missing):
        os.mkdir(path, 0o700)
        os.lchown(path, 0, 0)
        os.chmod(path, 0o755)


def _rounded(ns: int) -> int:
    """Go's ``Time.Round(time.Second)``: the entry's mtime, as the copier's tar writer sends it."""
    return (ns + 500_000_000) // 1_000_000_000 * 1_000_000_000


def _copy_file(entry: Entry, target: str, digest: Any) -> int:
    """One regular file written at ``target`` (what stands there removed first), its content into ``digest``;
    the bytes written."""
    st = entry.st
    with contextlib.suppress(FileNotFoundError):
        os.unlink(target)  # a file or a symlink: ``buildah copy`` removes what stands there too
    written = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with open(entry.path, "rb") as f:
            opened = os.fstat(f.fileno())
            if (opened.st_ino, opened.st_dev) != (st.st_ino, st.st_dev):
                raise OSError(f"{entry.path}: replaced while copied")
            while chunk := f.read(1 << 20):
                digest.update(chunk)
                _write_all(fd, chunk)
                written += len(chunk)
        os.fchown(fd, 0, 0)
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
        mtime = _rounded(st.st_mtime_ns)
        os.utime(fd, ns=(mtime, mtime))
    finally:
        os.close(fd)
    if written != st.st_size:
        raise OSError(f"{entry.path}: {written} bytes read, {st.st_size} expected")
    return written


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
