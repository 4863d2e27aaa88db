"""Reading a Containerfile's bytes as text that writes back to exactly the same bytes.

Why: the identity promise (``emit(parse(text)) == text`` byte for byte) holds for any file, not only valid
UTF-8, so bytes are decoded with ``surrogateescape`` and encoded back the same way; ``-`` reads stdin.
"""

from __future__ import annotations

import sys

from shlax_front.errors import ParseError


def decode(data: bytes) -> str:
    """Bytes of a Containerfile -> text that encodes back to exactly the same bytes."""
    return data.decode("utf-8", "surrogateescape")


def encode(text: str) -> bytes:
    """Inverse of ``decode``."""
    return text.encode("utf-8", "surrogateescape")


def read_source(path: str) -> tuple[str, str]:
    """The text of ``path`` and the name errors show for it (``"-"`` reads stdin, shown as ``<stdin>``).

    An unreadable file is a ``ParseError`` about the file as a whole (no line).
    """
    if path == "-":
        return decode(sys.stdin.buffer.read()), "<stdin>"
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise ParseError(_os_reason(err), path, None) from None
    return decode(data), path


def _os_reason(err: OSError) -> str:
    """Why a file cannot be read, lower case as in the rest of our messages (``no such file or directory``)."""
    reason = err.strerror or str(err)
    return reason[:1].lower() + reason[1:]
