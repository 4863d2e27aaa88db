"""COPY/ADD flags buildah 1.28 lacks, done by shlax-front itself: ``--exclude`` and ``ADD --checksum``.

``--exclude=PATTERN`` (BuildKit, dockerignore syntax): files matching the pattern are not copied. A pattern
is relative to the directory a source is copied from - the source itself when it is a directory, else the
directory holding the file or glob - so ``COPY --exclude=*.txt hom* /mydir/`` skips ``home.txt`` and
``COPY --exclude=*.md docs/ /d/`` skips ``docs/README.md``. It is carried out as extra lines of the ignore
file ``buildah copy`` reads, anchored at that directory, after the context's own ``.dockerignore`` lines (the
last matching line wins, so an exclusion is never undone by a ``!`` exception); the context digest of the
step uses the same rules, so editing an excluded file does not rebuild the step.

``ADD --checksum=sha256:HEX URL``: the bytes ``buildah add`` downloaded are hashed where they landed in the
container, before the layer is committed; a mismatch fails the step (nothing is committed).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from urllib.parse import urlparse

#: digest algorithms BuildKit accepts in ``--checksum`` and the hex length of each
DIGESTS = {"sha256": 64, "sha384": 96, "sha512": 128}
GLOB_CHARS = re.compile(r"[*?\[]")


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def copy_flags_problem(
    sources: tuple[str, ...],
    heredocs: tuple[tuple[str, str], ...],
    by_buildah_from: bool,
    exclude: tuple[str, ...],
    checksum: str | None,
) -> str | None:
    """Why these COPY/ADD flags cannot be built (the message of a located error), or None."""
    if exclude and by_buildah_from:  # COPY --from without --chown is the executor's copy: it excludes
        return "--exclude with --from and --chown (or ADD --from) is not supported by the buildah backend"
    if any(not p.strip() for p in exclude):
        return "--exclude needs a pattern"
    if checksum is None:
        return None
    if heredocs or len(sources) != 1:
        return "ADD --checksum needs exactly one source"
    if not is_url(sources[0]):
        return "ADD --checksum is only supported for http(s) URL sources"
    algorithm, _, digest = checksum.partition(":")
    if (
        algorithm not in DIGESTS
        or len(digest) != DIGESTS[algorithm]
        or not re.fullmatch(r"[0-9a-f]+", digest)
    ):
        return f"invalid --checksum {checksum!r} (expected sha256:<64 hex digits>, sha384: or sha512:)"
    return None


def file_digest(path: str, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def downloaded_path(target: str, url: str) -> str:
    """Where ``buildah add URL DEST`` put the file, ``target`` being DEST inside the container's root."""
    if os.path.isdir(target):
        return os.path.join(target, posixpath.basename(urlparse(url).path.rstrip("/")))
    return target


def checksum_problem(path: str, checksum: str) -> str | None:
    """None when the file at ``path`` has the digest ``checksum`` (``algo:hex``), else what is wrong."""
    algorithm, _, expected = checksum.partition(":")
    if not os.path.isfile(path) or os.path.islink(path):
        return "cannot verify --checksum: the downloaded file is not where it was expected"
    actual = file_digest(path, algorithm)
    if actual != expected:
        return f"checksum mismatch: expected {checksum}, downloaded {algorithm}:{actual}"
    return None


def source_base(root: str, source: str) -> tuple[str, bool]:
    """The context-relative directory ``--exclude`` patterns of ``source`` are relative to, and whether that
    directory is written with glob characters of the source (then it is used as a pattern, unescaped)."""
    rel = posixpath.normpath(source.lstrip("/")) if source.strip("/") not in ("", ".") else "."
    if GLOB_CHARS.search(rel):
        return posixpath.dirname(rel) or ".", True
    path = os.path.join(root, rel)
    if os.path.isdir(path):
        return rel, False
    return posixpath.dirname(rel) or ".", False


def exclusion_lines(root: str, source: str, patterns: tuple[str, ...]) -> list[str]:
    """The ``--exclude`` patterns of one source as ignore-file lines relative to the context root."""
    base, is_pattern = source_base(root, source)
    if not is_pattern:
        base = re.sub(r"([*?\[\]\\])", r"\\\1", base)
    lines = []
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.strip().lstrip("/")
        line = body if base == "." else f"{base}/{body}"
        lines.append(("!" if negate else "") + line)
    return lines
