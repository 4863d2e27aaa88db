"""The flags of one instruction, read into a small typed view (``Flags``) for the instruction parsers.

Why apart: the words are cut off the line and checked against the allowed-flags table by the parser
(``parser.flags``, BuildKit's BFlags); the typed instructions only need the values, looked up by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from shlax_front.parser.flags import ALLOWED_FLAGS, FlagKind, read_flags

FLAGS = ALLOWED_FLAGS
"""Allowed flags per instruction (the parser's table: one table for the strict check and the typed
instructions); instructions not listed take none. ``None``: flags are ignored (BuildKit)."""


@dataclass(frozen=True)
class Flags:
    """The parsed flags of one instruction: name -> value (``str``), ``bool`` or repeated values (tuple)."""

    values: tuple[tuple[str, str | bool | tuple[str, ...]], ...] = ()

    def string(self, name: str) -> str | None:
        for key, value in self.values:
            if key == name:
                return value if isinstance(value, str) else None
        return None

    def boolean(self, name: str) -> bool | None:
        for key, value in self.values:
            if key == name and isinstance(value, bool):
                return value
        return None

    def strings(self, name: str) -> tuple[str, ...]:
        for key, value in self.values:
            if key == name and isinstance(value, tuple):
                return value
        return ()


def parse_flags(words: list[str], allowed: dict[str, FlagKind]) -> Flags:
    """Read ``--name[=value]`` words like BuildKit's ``BFlags.Parse``; raises ``ValueError(message)``.

    The reading is the parser's ``read_flags`` (the strict check uses it too); this wraps the result.
    """
    if not words:
        return NO_FLAGS
    found = read_flags(words, allowed)
    return Flags(tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in found.items()))


#: The flags of an instruction written without any (one shared instance).
NO_FLAGS = Flags()
