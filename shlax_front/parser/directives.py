"""Parser directives: ``# syntax=``, ``# escape=`` and ``# check=`` in the file's leading comment block.

Why a module of its own: directives are read before anything else and change how the rest is scanned (the
escape character decides what a continuation is). BuildKit's rule: only an unbroken run of ``# key=value``
comment lines at the very top counts; the first other line (a blank one, a comment that is no directive, an
instruction) ends the block for good.
"""

from __future__ import annotations

import re

from shlax_front import messages
from shlax_front.errors import ParseError
from shlax_front.expand import GO_SPACE

#: Parser directives BuildKit recognises in the leading comment block.
DIRECTIVES = ("syntax", "escape", "check")

_DIRECTIVE_KEY = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=")
_RE2_SPACE = "\t\n\f\r "  # \s in Go's regexp


class DirectiveReader:
    """BuildKit's ``DirectiveParser``: fed the file's lines in order until ``done``; keeps the escape character."""

    def __init__(self, path: str):
        self.path = path
        self.escape = "\\"
        self.directives: dict[str, str] = {}
        self.done = False

    def feed(self, line: str, lineno: int) -> None:
        """Read ``line`` (leading blanks already stripped) as a directive, or end the directive block."""
        if not line.startswith("#"):
            self.done = True
            return
        body = line[1:].lstrip(GO_SPACE)
        match = _DIRECTIVE_KEY.match(body)
        key = match.group(1).lower() if match else None
        if key not in DIRECTIVES:
            self.done = True
            return
        value = _directive_value(body[match.end() :])  # type: ignore[union-attr]
        if value is None:
            self.done = True
            return
        if key in self.directives:
            raise ParseError(messages.duplicate_directive(key), self.path, lineno, line)
        if key == "escape":
            if value not in ("`", "\\"):
                raise ParseError(messages.invalid_escape(value), self.path, lineno, line)
            self.escape = value
        self.directives[key] = value


def _directive_value(rest: str) -> str | None:
    """What BuildKit's ``=\\s*(.+?)\\s*$`` captures after the ``=`` (written out: the regex backtracks
    quadratically on long runs of blanks). Blanks around the value go; a value of only blanks keeps its last one."""
    value = rest.strip(_RE2_SPACE)
    if value:
        return value
    return rest[-1] if rest else None
