"""A COPY of one plain context file written into the mounted working container by this process, as ``buildah copy``
1.28 writes it, with the content digest it would print: ``buildah mount`` instead of ``buildah copy``.

Why: ``buildah copy`` of one small file costs 0.11-0.14 s (about 0.13 s of CPU): buildah 1.28 re-executes its own
binary four times to stat, resolve, make and fill the destination chrooted into the container's root, while
``buildah mount`` takes 0.02-0.03 s. In a late edit (``late_edit``: the app's source copied last) that copy is
a fifth of the whole build.

What ``buildah copy`` 1.28 does for one regular file of the context into an existing directory, without
``--chown``/``--chmod`` (``add.go``, ``copier.go``), and this module with it:

- the file is sent as a tar entry (``tar.FileInfoHeader``: its base name, permission bits, size, the host
  owner's user and group names, uid and gid 0, the mtime rounded to the second) and written over whatever
  non-directory has that name (removed first), mode 0600, then owner 0:0, its permission bits and its
  atime and mtime both set to that rounded mtime; the directories on the way are left as they are;
- the digest it prints (the history's ``COPY file:<digest>``) is the sha256 of that entry as Go's tar writer
  writes it in the USTAR format with every time zeroed, the content padded to 512 bytes, and the two zero
  blocks that end an archive (``digester.go``). Checked against ``buildah copy`` 1.28.2 for files of
  several modes, sizes and owners; 1.39 prints another digest for a copy without ``--contextdir``, so this is
  used only where the build copies plain files without it (``copy_step.plain_copies_allowed``: 1.28).

Only for what those rules cover (``eligible`` on the host side, ``destination`` in the container): one source,
a regular file (``copy_step.plain_files``) without setuid/setgid/sticky bits or extended attributes, a name,
user and group names USTAR holds as they are, a destination ending in ``/`` whose directories are all real
directories in the image, no target directory; a process that is real root outside any user namespace;
``BUILDAH_HISTORY`` unset (with it, ``buildah copy`` adds a history entry of its own). Anything else is copied by
``buildah copy`` as before.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import os
import pwd
import stat

#: tar's block, and the largest size a USTAR header's 12-byte octal field holds
BLOCK = 512
USTAR_SIZE_LIMIT = 8**11
#: the identity mapping of a process outside any user namespace
IDENTITY_MAP = ["0", "0", "4294967295"]


def eligible(source: str, dest: str, environ: os._Environ[str] | dict[str, str]) -> os.stat_result | None:
    """The source's ``lstat`` when this module may copy ``source`` (a plain file already checked by
    ``copy_step.plain_files``) to ``dest`` as ``buildah copy`` would (see the module docstring); None otherwise."""
    if environ.get("BUILDAH_HISTORY") or not dest.startswith("/") or not dest.endswith("/"):
        return None
    if os.geteuid() != 0 or not _outside_user_namespaces():
        return None
    try:
        st = os.lstat(source)
        if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o7000 or st.st_size >= USTAR_SIZE_LIMIT:
            return None
        if os.listxattr(source, follow_symlinks=False):
            return None
    except OSError:
        return None
    name = os.path.basename(source)
    if not _ustar_string(name, 100) or _header(name, st) is None:
        return None
    return st


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
    """The USTAR header block the digest reads (times zeroed, uid and gid 0); None when the names do not fit."""
    user, group = _owner_names(st)
    if not _ustar_string(user, 32) or not _ustar_string(group, 32):
        return None
    block = bytearray(BLOCK)
    block[0 : len(name)] = name.encode()
    block[100:108] = _octal(stat.S_IMODE(st.st_mode), 8)
    block[108:116] = _octal(0, 8)
    block[116:124] = _octal(0, 8)
    block[124:136] = _octal(st.st_size, 12)
    block[136:148] = _octal(0, 12)
    block[148:156] = b" " * 8
    block[156:157] = b"0"
    block[257:265] = b"ustar\x0000"
    block[265 : 265 + len(user)] = user.encode()
    block[297 : 297 + len(group)] = group.encode()
    block[329:337] = _octal(0, 8)
    block[337:345] = _octal(0, 8)
    block[148:156] = _octal(sum(block), 7) + b" "
    return bytes(block)


def destination(rootfs: str, dest: str, name: str) -> str | None:
    """Where ``name`` lands under ``dest`` in the mounted root: None when a directory on the way is not a real
    directory (a symlink buildah would resolve inside the root, something else, or missing) or the target is a
    directory."""
    current = rootfs
    for part in [p for p in dest.split("/") if p]:
        if part in (".", ".."):
            return None
        current = os.path.join(current, part)
        try:
            if not stat.S_ISDIR(os.lstat(current).st_mode):
                return None
        except OSError:
            return None
    target = os.path.join(current, name)
    try:
        if stat.S_ISDIR(os.lstat(target).st_mode):
            return None
    except FileNotFoundError:
        pass
    return target


def copy(source: str, st: os.stat_result, target: str) -> str:
    """Write ``source`` (whose ``lstat`` was ``st``) at ``target`` as ``buildah copy`` does; returns the digest
    it prints. Raises OSError (``source`` changed meanwhile included)."""
    header = _header(os.path.basename(source), st)
    if header is None:
        raise OSError(f"{source}: owner names changed")
    digest = hashlib.sha256(header)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(target)  # a file or a symlink: ``buildah copy`` removes what stands there too
    written = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with open(source, "rb") as f:
            opened = os.fstat(f.fileno())
            if (opened.st_ino, opened.st_dev) != (st.st_ino, st.st_dev):
                raise OSError(f"{source}: replaced while copied")
            while chunk := f.read(1 << 20):
                digest.update(chunk)
                _write_all(fd, chunk)
                written += len(chunk)
        os.fchown(fd, 0, 0)
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
        mtime = (st.st_mtime_ns + 500_000_000) // 1_000_000_000 * 1_000_000_000  # Go's Round(time.Second)
        os.utime(fd, ns=(mtime, mtime))
    finally:
        os.close(fd)
    if written != st.st_size:
        raise OSError(f"{source}: {written} bytes read, {st.st_size} expected")
    if written % BLOCK:
        digest.update(b"\x00" * (BLOCK - written % BLOCK))
    digest.update(b"\x00" * (2 * BLOCK))
    return digest.hexdigest()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
