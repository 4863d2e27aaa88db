"""Checks a build makes before its first step: the Containerfile is a readable file, the cache root can be
written, a context given as ``-`` is unpacked, an error about bytes that are not UTF-8 reads as text.

What fails here fails in one line with exit status 2 and leaves nothing behind (no container is made before
these checks), where it used to be a traceback or a misleading "no such file" after part of the build ran.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from shlax_front.errors import ShlaxError

#: the build arguments buildah bud consumes without an ARG (it warns about any other one left unused)
BUD_ALLOWED_ARGS = (
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy",
)  # fmt: skip


def containerfile_path(given: str, context: str | None = None) -> str:
    """``-f PATH``: ``-`` (stdin) or a regular file; a directory says so. A relative PATH that is not there (from
    the working directory) is the one in the context, as bud reads it: ``bud -f Dockerfile.dev src`` builds
    ``src/Dockerfile.dev``."""
    if given == "-" or os.path.isfile(given):
        return given
    if context and not os.path.isabs(given) and not os.path.lexists(given):
        inside = os.path.join(context, given)
        if os.path.lexists(inside):
            return containerfile_path(inside)
    if os.path.isdir(given):
        raise ShlaxError(f"-f {given}: is a directory (name the Containerfile in it)")
    if os.path.lexists(given):
        raise ShlaxError(f"-f {given}: not a regular file")
    raise ShlaxError(f"-f {given}: no such file")


def read_containerfile(path: str) -> str:
    """The Containerfile's text: bytes that are not UTF-8 are kept (surrogate escapes, as buildah passes
    bytes through to RUN), and a message about them is made readable by ``readable_error``."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except OSError as err:
        raise ShlaxError(f"{path}: cannot read it: {err.strerror}") from None
    return data.decode("utf-8", errors="surrogateescape")


_ESCAPED = re.compile("[\udc80-\udcff]")


def readable_error(err: ShlaxError, text: str) -> ShlaxError:
    """``err`` with every undecodable byte shown as U+FFFD and where the first one is, instead of Python's
    ``\\udcXX`` escapes (the same exception, its exit status kept)."""
    message = str(err)
    if not _ESCAPED.search(message):
        return err
    first = _ESCAPED.search(text)
    offset = len(text[: first.start()].encode("utf-8", errors="surrogateescape")) if first else None
    cleaned = _ESCAPED.sub("\ufffd", message).replace("\x00", "\ufffd")
    if offset is not None:
        cleaned += f" (not UTF-8 text at byte {offset})"
    err.args = (cleaned,)
    return err


def cache_root(root: Path, flag_given: bool) -> None:
    """The cache root must exist (it is made here) and be writable, or the build stops before its first step."""
    name = f"--cache-dir {root}" if flag_given else f"cache directory {root}"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ShlaxError(f"{name}: cannot create it: {err.strerror}") from None
    if not root.is_dir():
        raise ShlaxError(f"{name}: not a directory")
    if not os.access(root, os.W_OK | os.X_OK):
        read_only = bool(os.statvfs(root).f_flag & os.ST_RDONLY)
        raise ShlaxError(f"{name}: not writable" + (" (read-only file system)" if read_only else ""))


def unused_build_args(build_args: Mapping[str, str], declared: set[str]) -> list[str]:
    """The ``--build-arg`` names no ARG of the file declares (bud's list: sorted, proxy names allowed, and
    ``SOURCE_DATE_EPOCH``, which docker's build reads as the created time)."""
    allowed = (*BUD_ALLOWED_ARGS, "SOURCE_DATE_EPOCH")  # the image's created time (``flags.read``)
    return sorted(n for n in build_args if n not in declared and n not in allowed)


@contextmanager
def stdin_context() -> Iterator[tuple[str, str | None]]:
    """A context given as ``-``: a tar archive on stdin, unpacked into a directory removed afterwards, or
    (as docker reads it) a Containerfile alone with an empty context. Yields (context dir, Containerfile
    path when stdin was one)."""
    data = sys.stdin.buffer.read()
    directory = tempfile.mkdtemp(prefix="shlax-front-stdin-")
    try:
        containerfile = None
        if _is_tar(data):
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                try:
                    tar.extractall(directory, filter="data")
                except (tarfile.TarError, OSError) as err:
                    raise ShlaxError(f"context -: cannot unpack the archive on stdin: {err}") from None
        else:
            containerfile = os.path.join(directory, ".shlax-front-stdin.Containerfile")
            with open(containerfile, "wb") as f:
                f.write(data)
        yield directory, containerfile
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _is_tar(data: bytes) -> bool:
    try:
        with tarfile.open(fileobj=io.BytesIO(data)):
            return True
    except tarfile.TarError:
        return False
