"""The few behaviours of Go's standard library that BuildKit's parser passes on to its users.

Why a module of its own: BuildKit is written in Go, so its messages quote text with ``strconv.Quote``, its
HEALTHCHECK durations are read by ``time.ParseDuration`` and ``--retries`` by ``strconv.ParseInt``, and it walks
some lines byte by byte. Matching BuildKit means matching those; they sit below both the parser and
``messages.py`` (which quotes with ``go_quote``), so neither has to import the other.
"""

from __future__ import annotations

import re

_GO_NAMED_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}
_INTEGER = re.compile(r"[-+]?[0-9]+")
_DURATION = re.compile(r"[-+]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+|[-+]?0")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_NS = {"ns": 1, "us": 1e3, "µs": 1e3, "μs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}


def go_quote(text: str) -> str:
    """``text`` quoted the way Go's ``strconv.Quote`` does (bytes from ``surrogateescape`` print as ``\\xHH``)."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return '"' + text + '"'
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_NAMED_ESCAPES:
            out.append(_GO_NAMED_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def as_go_bytes(text: str) -> str:
    """The UTF-8 bytes of ``text`` as one character each: BuildKit walks flags and HEALTHCHECK byte by byte."""
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def from_go_bytes(text: str) -> str:
    """Inverse of ``as_go_bytes``."""
    return text.encode("latin-1").decode("utf-8", "surrogateescape")


class GoDurationError(ValueError):
    """``time.ParseDuration`` failed (Go's words)."""

    def __init__(self, text: str):
        super().__init__(f"time: invalid duration {go_quote(text)}")


def go_duration_ns(text: str) -> int:
    """Go's ``time.ParseDuration`` (``1h30m``, ``1.5s``, ``300ms``, ``-2s``, ``0``) in nanoseconds (ASCII digits
    only, as in Go); raises ``GoDurationError`` (a ``ValueError``) with Go's message."""
    if not _DURATION.fullmatch(text):
        raise GoDurationError(text)
    total = int(sum(float(num) * _DURATION_NS[unit] for num, unit in _DURATION_PART.findall(text)))
    return -total if text.startswith("-") else total


class GoIntError(ValueError):
    """``strconv.ParseInt`` failed; ``reason`` is ``invalid syntax`` or ``value out of range`` (Go's words)."""

    def __init__(self, text: str, reason: str):
        super().__init__(f"strconv.ParseInt: parsing {go_quote(text)}: {reason}")
        self.reason = reason


def go_int32(text: str) -> int:
    """Go's ``strconv.ParseInt(text, 10, 32)`` (HEALTHCHECK ``--retries``); raises ``GoIntError``."""
    if not _INTEGER.fullmatch(text):
        raise GoIntError(text, "invalid syntax")
    value = int(text)
    if not -(2**31) <= value < 2**31:
        raise GoIntError(text, "value out of range")
    return value
