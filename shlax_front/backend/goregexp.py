"""Go (RE2) regular expressions as Python ones, for the part of the syntax an ignore pattern can reach.

buildah 1.28 turns each ``.dockerignore`` line into a Go regexp and leaves ``+ ( ) { } | ^ [ ]`` in it as
regexp syntax, so the cache key has to read them the way Go does. Where the two engines differ the
translation spells the Go meaning out (``\\s`` has no ``\\v``, ``\\d``/``\\w`` are ASCII, ``$`` is the end of
the text, ``{,2}`` is literal, ``\\1`` is an error). What Go rejects raises ``GoSyntaxError``; what Go
accepts but is not translated here (``\\p{...}``, ``(?U)``, mid-pattern flags) raises ``Untranslated``, and
the caller must then not rely on the expression.
"""

from __future__ import annotations

import re

PERL_CLASSES = {"d": "0-9", "s": "\\t\\n\\f\\r ", "w": "0-9A-Za-z_"}
POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
SIMPLE_ESCAPES = {"a": "\a", "f": "\f", "t": "\t", "n": "\n", "r": "\r", "v": "\v"}
MAX_REPEAT = 1000


class GoSyntaxError(ValueError):
    """Go's regexp.Compile rejects the expression."""


class Untranslated(ValueError):
    """Valid Go syntax this translation does not cover."""


def compile_go(expr: str) -> re.Pattern[str]:
    """The Python pattern matching exactly what Go's ``regexp.MatchString(expr)`` matches."""
    return re.compile(_Translator(expr).run())


class _Translator:
    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.i = 0
        self.out: list[str] = []
        self._members: list[str] = []  # of the character class being read

    def run(self) -> str:
        depth = 0
        last = "start"  # what the previous item was: "atom", "assert", "repeat" or "start"
        expr = self.expr
        while self.i < len(expr):
            c = expr[self.i]
            if c == "\\":
                piece = self._escape()
                last = "assert" if piece in ("\\A", "\\Z", "(?a:\\b)", "(?a:\\B)") else "atom"
                self.out.append(piece)
                continue
            if c == "[":
                self.out.append(self._char_class())
                last = "atom"
                continue
            if c in "*+?" or (c == "{" and self._repeat_bounds()):
                self._repeat(last)
                last = "repeat"
                continue
            self.i += 1
            if c == "(":
                self.out.append(self._group_opening())
                depth += 1
                last = "start"
            elif c == ")":
                if depth == 0:
                    raise GoSyntaxError(f"unexpected ): {expr}")
                depth -= 1
                self.out.append(")")
                last = "atom"
            elif c == "|":
                self.out.append("|")
                last = "start"
            elif c == "^":
                self.out.append("^")
                last = "assert"
            elif c == "$":
                self.out.append("\\Z")
                last = "assert"
            elif c == ".":
                self.out.append(".")
                last = "atom"
            else:
                self.out.append(re.escape(c))
                last = "atom"
        if depth:
            raise GoSyntaxError(f"missing closing ): {expr}")
        return "".join(self.out)

    def _repeat_bounds(self) -> re.Match[str] | None:
        return re.match(r"\{(\d+)(,(\d*))?\}", self.expr[self.i :])

    def _repeat(self, last: str) -> None:
        if last == "assert":
            raise Untranslated(f"repeated assertion: {self.expr}")
        if last != "atom":
            raise GoSyntaxError(f"missing argument to repetition operator: {self.expr}")
        bounds = self._repeat_bounds() if self.expr[self.i] == "{" else None
        if bounds:
            low = int(bounds.group(1))
            high = low if bounds.group(2) is None else (int(bounds.group(3)) if bounds.group(3) else None)
            if low > MAX_REPEAT or (high is not None and (high > MAX_REPEAT or high < low)):
                raise GoSyntaxError(f"invalid repeat count: {self.expr}")
            self.out.append(bounds.group(0))
            self.i += len(bounds.group(0))
        else:
            self.out.append(self.expr[self.i])
            self.i += 1
        if self.expr.startswith("?", self.i):
            self.out.append("?")
            self.i += 1
        if self.i < len(self.expr) and (self.expr[self.i] in "*+?" or self._repeat_bounds()):
            raise GoSyntaxError(f"invalid nested repetition operator: {self.expr}")

    def _group_opening(self) -> str:
        rest = self.expr[self.i :]
        if not rest.startswith("?"):
            return "("
        named = re.match(r"\?P<(\w+)>", rest)
        if named:
            self.i += len(named.group(0))
            return "(?:"  # Go has no back-references: a name changes nothing about what matches
        flags = re.match(r"\?([imsU]*)(?:-([imsU]*))?([:)])", rest)
        if not flags:
            raise GoSyntaxError(f"invalid or unsupported group syntax: {self.expr}")
        on, off, end = flags.group(1), flags.group(2), flags.group(3)
        if end == ")" or "U" in on + (off or ""):
            raise Untranslated(f"flags outside a group: {self.expr}")
        if off == "" or (not on and off is None):
            if not on and off is None:  # "(?:"
                self.i += len(flags.group(0))
                return "(?:"
            raise GoSyntaxError(f"missing flags: {self.expr}")
        self.i += len(flags.group(0))
        return f"(?{on}{'-' + off if off else ''}:"

    def _escape(self) -> str:
        """One escape outside a class (``self.i`` at the backslash)."""
        expr = self.expr
        if self.i + 1 >= len(expr):
            raise GoSyntaxError(f"trailing backslash: {expr}")
        c = expr[self.i + 1]
        self.i += 2
        if c in PERL_CLASSES:
            return f"[{PERL_CLASSES[c]}]"
        if c.lower() in PERL_CLASSES:
            return f"[^{PERL_CLASSES[c.lower()]}]"
        if c in "bB":
            return f"(?a:\\{c})"
        if c == "A":
            return "\\A"
        if c == "z":
            return "\\Z"
        if c == "Q":
            end = expr.find("\\E", self.i)
            literal = expr[self.i :] if end == -1 else expr[self.i : end]
            self.i = len(expr) if end == -1 else end + 2
            return re.escape(literal)
        if c in "pPC":
            raise Untranslated(f"\\{c} escape: {expr}")
        return re.escape(self._literal_escape(c))

    def _literal_escape(self, c: str) -> str:
        """The character an escape ``\\c`` that stands for one character means (``self.i`` after it)."""
        expr = self.expr
        if c < "\x80" and not c.isalnum():
            return c
        if c in SIMPLE_ESCAPES:
            return SIMPLE_ESCAPES[c]
        if c in "01234567":
            octal = re.match(r"[0-7]{0,2}", expr[self.i :])
            assert octal is not None  # {0,2} matches the empty string too
            digits = octal.group(0)
            if c != "0" and not digits:
                raise GoSyntaxError(f"invalid escape sequence (back-reference): {expr}")
            self.i += len(digits)
            return chr(int(c + digits, 8))
        if c == "x":
            braced = re.match(r"\{([0-9A-Fa-f]+)\}", expr[self.i :])
            short = re.match(r"[0-9A-Fa-f]{2}", expr[self.i :])
            found = braced or short
            if not found or int(found.group(braced and 1 or 0), 16) > 0x10FFFF:
                raise GoSyntaxError(f"invalid escape sequence: {expr}")
            self.i += len(found.group(0))
            return chr(int(found.group(braced and 1 or 0), 16))
        raise GoSyntaxError(f"invalid escape sequence \\{c}: {expr}")

    def _char_class(self) -> str:
        """``[...]`` (``self.i`` at the bracket) as a Python class whose members are all spelled out."""
        expr = self.expr
        self.i += 1
        negated = expr.startswith("^", self.i)
        if negated:
            self.i += 1
        members = self._members = []
        first = True
        while True:
            if self.i >= len(expr):
                raise GoSyntaxError(f"missing closing ]: {expr}")
            c = expr[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            posix = re.match(r"\[:(\^?)([a-z]+):\]", expr[self.i :])
            if posix:
                if posix.group(2) not in POSIX_CLASSES:
                    raise GoSyntaxError(f"invalid character class range: {expr}")
                if posix.group(1):
                    raise Untranslated(f"negated POSIX class: {expr}")
                members.append(POSIX_CLASSES[posix.group(2)])
                self.i += len(posix.group(0))
                first = False
                continue
            if c == "-" and not first and not expr.startswith("-]", self.i):
                raise GoSyntaxError(f"invalid character class range: {expr}")
            low = self._class_member()
            if low is None:  # a Perl class (\d ...) was added
                first = False
                continue
            if expr.startswith("-", self.i) and not expr.startswith("-]", self.i):
                self.i += 1
                high = self._class_member()
                if high is None or high < low:
                    raise GoSyntaxError(f"invalid character class range: {expr}")
                members.append(f"{_class_escape(low)}-{_class_escape(high)}")
            else:
                members.append(_class_escape(low))
            first = False
        return "[" + ("^" if negated else "") + "".join(members) + "]"

    def _class_member(self) -> str | None:
        """One character of a class, or None after appending a Perl class such as ``\\d`` to the members."""
        expr = self.expr
        c = expr[self.i]
        if c != "\\":
            self.i += 1
            return c
        if self.i + 1 >= len(expr):
            raise GoSyntaxError(f"trailing backslash: {expr}")
        e = expr[self.i + 1]
        self.i += 2
        if e in PERL_CLASSES:
            self._members.append(PERL_CLASSES[e])
            return None
        if e.lower() in PERL_CLASSES or e in "pPQ":
            raise Untranslated(f"\\{e} in a class: {expr}")
        return self._literal_escape(e)


def _class_escape(c: str) -> str:
    return "\\" + c if c < "\x80" and not c.isalnum() else c
