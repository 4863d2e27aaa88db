"""Containerfile text -> raw syntax tree (``Document`` of ``Node``), the way BuildKit's parser reads it.

Why our own parser and not dockerfile-parse underneath
-------------------------------------------------------
We measured what dockerfile-parse gets wrong on real files: heredoc bodies come out as bogus instructions, a
blank line inside a continuation cuts the instruction short, the last instruction is lost when the file ends
inside a continuation, ``\\\\`` at the end of a line is taken as a continuation, JSON is not decoded, flags are
not split off, and it never raises. So this package follows BuildKit's ``frontend/dockerfile/parser`` rule for
rule (read, not copied), and keeps character offsets so the identity emitter can replay untouched text byte for
byte. dockerfile-parse stays the reference we compare against in tests and the throughput benchmark.

The package follows BuildKit's seams, one idea a module:

- ``source``: bytes <-> text that round-trips any byte sequence; reading a file or stdin.
- ``directives``: ``# syntax=`` / ``# escape=`` / ``# check=`` in the leading comment block.
- ``scanner``: lines -> logical instructions (continuations, comments, escape), with their locations.
- ``lines``: one logical line -> ``Node`` (BuildKit's line parsers: JSON/shell form, name=value pairs, ...).
- ``flags``: ``--flag`` words cut off a line, and read against the flags each instruction takes (BFlags).
- ``heredocs``: ``<<EOF`` words and their bodies.

Two levels, like BuildKit:

- ``parse(text, strict=False)`` is BuildKit's *parser*: it only rejects what that parser rejects (bad
  parser directives, ``ENV`` without a value, non-string JSON arrays, unterminated heredocs, a file with
  no instructions). ``parse -f FILE --dump`` uses it, so its output matches BuildKit's dumper.
- ``parse(text)`` (strict, the default) also applies the per-instruction rules of BuildKit's ``instructions``
  package, which live next to the typed instructions (``shlax_front.instructions.check``): unknown instructions,
  wrong argument counts, unknown or malformed flags, ``FROM ... AS`` syntax, ONBUILD triggers, HEALTHCHECK
  options, instructions before the first FROM.

Every error is a ``ParseError`` whose text starts with ``PATH:LINE:``.
"""

from __future__ import annotations

from shlax_front.expand import GO_SPACE
from shlax_front.golang import GoIntError, go_duration_ns, go_int32, go_quote
from shlax_front.parser.directives import DIRECTIVES
from shlax_front.parser.flags import ALLOWED_FLAGS, FlagError, FlagKind, extract_flags, read_flags
from shlax_front.parser.heredocs import (
    HEREDOC_INSTRUCTIONS,
    heredocs_from_line,
    must_parse_heredoc,
    parse_heredoc_word,
)
from shlax_front.parser.lines import INSTRUCTIONS, node_from_line, parse_json_array, parse_words
from shlax_front.parser.scanner import MAX_LINE_BYTES, scan
from shlax_front.parser.source import decode, encode, read_source
from shlax_front.syntax import Document

__all__ = [
    "ALLOWED_FLAGS", "DIRECTIVES", "GO_SPACE", "HEREDOC_INSTRUCTIONS", "INSTRUCTIONS", "MAX_LINE_BYTES",
    "FlagError", "FlagKind", "GoIntError", "decode", "encode", "extract_flags", "go_duration_ns", "go_int32",
    "go_quote", "heredocs_from_line", "must_parse_heredoc", "node_from_line", "parse", "parse_file",
    "parse_heredoc_word", "parse_json_array", "parse_words", "read_flags", "scan",
]  # fmt: skip


def parse(text: str, path: str = "Containerfile", strict: bool = True) -> Document:
    """Parse Containerfile ``text``; ``path`` is only used in error messages and ``Document.path``.

    With ``strict`` (default) the instruction-level rules are checked too (see the package docstring).
    """
    doc = scan(text, path)
    if strict:
        # The instruction rules sit a layer above the parser (they read its flags and heredoc words), so they
        # are looked up when used rather than imported with the parser.
        from shlax_front.instructions import check

        check(doc)
    return doc


def parse_file(path: str, strict: bool = True) -> Document:
    """Read and parse ``path`` (``"-"`` reads stdin and is reported as ``<stdin>``).

    The bytes are decoded as UTF-8 with ``surrogateescape`` so that any byte sequence round-trips.
    """
    text, display = read_source(path)
    return parse(text, display, strict=strict)
