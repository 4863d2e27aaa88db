"""Word splitting and variable expansion with BuildKit's semantics (its ``shell/lex.go``).

The Dockerfile frontend does not run a shell for ``COPY $SRC /dst`` or ``ENV PATH=$PATH:/x``: it expands the
words itself, with rules that only look like POSIX sh. Getting them exactly right matters because the expanded
values become file names, image config and build-cache keys. Supported syntax (``escape`` is ``\\`` or a
backtick, per the ``# escape=`` directive):

- ``$name`` and ``${name}``; ``$1``/``${001}`` positional and ``$@ $* $# $? $- $$ $! $0`` special parameters
  (never set in a Containerfile, so they expand to nothing);
- ``${v:-word}`` / ``${v-word}``: ``word`` when ``v`` is unset (or, with ``:``, empty);
- ``${v:+word}`` / ``${v+word}``: ``word`` when ``v`` is set (and, with ``:``, not empty), else nothing;
- ``${v:?msg}`` / ``${v?msg}``: an error carrying ``msg`` when ``v`` is unset (or, with ``:``, empty);
- ``${v#pat}`` ``${v##pat}`` ``${v%pat}`` ``${v%%pat}``: remove the shortest/longest prefix/suffix matching
  ``pat`` (``*`` and ``?`` wildcards, ``\\`` escapes them; no bracket expressions);
- ``${v/pat/repl}`` ``${v//pat/repl}``: replace the first/every match of ``pat`` (longest match);
- ``'single quotes'`` keep everything literal; ``"double quotes"`` expand ``$`` and let the escape character
  escape only ``"``, ``$`` and itself; outside quotes the escape character escapes any character, and a
  trailing escape character is dropped.

Word splitting (``process_words``) splits only unquoted text *and the results of ``$`` expansions* on white
space: ``ENV x="a b"`` then ``COPY $x /d`` copies two sources, ``"$x"`` one. An unquoted ``<<`` keeps the
blanks after it in its word (``<< EOF`` is one word): BuildKit's lexer does this for its heredoc detection,
which uses this same lexer (``parser.heredocs_from_line``).

Anything else (``${v:=w}``, ``${v:#p}``, ``${v:%p}``, ``${}``, ``${v``, an unterminated quote) is an
:class:`ExpansionError`; callers turn it into a located ``ParseError``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import NamedTuple

from shlax_front.messages import (  # BuildKit's wording of expansion errors, re-exported for the lexer's callers
    BAD_SUBSTITUTION,
    MISSING_BRACE,
    MISSING_SLASH,
    expansion_error_message,
    invalid_pattern,
    not_allowed,
    unsupported_modifier,
    unterminated,
)

_EOF = ""
#: Go's ``unicode.IsSpace``, which BuildKit uses to split words. Python's ``str.isspace()`` also accepts the ASCII
#: separators ``\x1c``-``\x1f``, so the set is spelled out (the parser trims and splits lines with it too).
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_GO_SPACE_SET = frozenset(GO_SPACE)
_GO_SPACES = re.compile(f"[{GO_SPACE}]+")
_SPECIAL_PARAMS = frozenset("@*#?-$!0")
# Characters that are regular-expression syntax once a shell pattern is turned into a regex.
_REGEX_META = frozenset("[]{}.+()|^$")
#: The blanks BuildKit keeps in the word after ``<<`` (its ``isWhitespace``: heredoc words such as ``<< EOF``).
_HEREDOC_BLANKS = re.compile(r"[ \t\r]*")
_ASCII_NAME = re.compile(r"[A-Za-z0-9_]*")
#: A word none of whose characters means anything to the lexer expands to itself (split on white space): no
#: ``$``, quote, escape character (either kind), ``<`` nor leading byte order mark.
_PLAIN_WORD = re.compile("[^$'\"\\\\`<\ufeff]*")


def _special_chars(chars: str) -> re.Pattern[str]:
    """A character class of ``chars``: the characters a lexer loop must look at one by one (runs of any others
    are copied in one slice)."""
    pattern = _SPECIALS.get(chars)
    if pattern is None:
        pattern = _SPECIALS[chars] = re.compile("[" + re.escape(chars) + "]")
    return pattern


_SPECIALS: dict[str, re.Pattern[str]] = {}


class ExpansionError(ValueError):
    """A word cannot be expanded. ``reason`` is BuildKit's wording; ``str()`` also names the word."""

    def __init__(self, word: str, reason: str, variable: str | None = None):
        self.word = word
        self.reason = reason
        #: for ``${v?msg}``/``${v:?msg}`` failures, the variable found unset or empty (else None): whether that
        #: is an error can depend on an environment the caller does not know yet (a base image's ENV).
        self.variable = variable
        super().__init__(expansion_error_message(word, reason))


class Expansion(NamedTuple):
    """The outcome of expanding one word.

    ``value`` is the whole expanded text (``process_word``), ``words`` the same text split into words
    (``process_words``). ``used`` are the variable names the word looked up and found; ``unset`` the names it
    looked up and did not find. A build cache key only needs the values of ``used`` (and the absence of ``unset``).
    A named tuple rather than a frozen dataclass: one is made for every word of every instruction, and a
    frozen dataclass costs several times more to build.
    """

    value: str
    words: tuple[str, ...]
    used: frozenset[str]
    unset: frozenset[str]


def is_space(ch: str) -> bool:
    """White space as BuildKit's word splitter sees it (Go's ``unicode.IsSpace``)."""
    return ch in _GO_SPACE_SET


def _is_letter(ch: str) -> bool:
    return ch.isalpha()


def _is_digit(ch: str) -> bool:
    return unicodedata.category(ch) == "Nd"


class _Words:
    """Accumulates words: characters from expansions and unquoted text split on space, quoted text does not.

    An empty word is never produced (BuildKit's ``wordsStruct`` only ends a word that has characters), so
    ``""`` alone gives no word and the state is just the word being built.
    """

    def __init__(self) -> None:
        self.words: list[str] = []
        self.word = ""

    def add_raw_char(self, ch: str) -> None:
        self.word += ch

    add_raw_string = add_raw_char

    def add_string(self, text: str) -> None:
        """Text whose white space separates words (unquoted text, results of ``$`` expansions)."""
        pieces = _GO_SPACES.split(text)
        if len(pieces) == 1:
            self.word += text
            return
        first = self.word + pieces[0]
        if first:
            self.words.append(first)
        self.words.extend(p for p in pieces[1:-1] if p)
        self.word = pieces[-1]

    def finish(self) -> tuple[str, ...]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
        return tuple(self.words)


class _Lexer:
    """One pass over one word, following BuildKit's scanner (``processStopOn`` and friends).

    BuildKit reads one character at a time; here runs of characters that mean nothing to the lexer are copied
    in one slice (found with a precompiled character class), which is what makes expansion cheap enough to run
    on every instruction of every stage. ``pos`` is the index of the next character to read.
    """

    def __init__(
        self,
        word: str,
        env: Mapping[str, str],
        escape: str,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_unset: bool = False,
        skip_quotes: bool = False,
    ):
        if word.startswith("\ufeff"):  # Go's text/scanner ignores a leading byte order mark
            word = word[1:]
        self.text = word
        self.pos = 0
        self.env = env
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset
        self.skip_quotes = skip_quotes
        self.used: set[str] = set()
        self.unset: set[str] = set()

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        if self.pos >= len(self.text):
            return _EOF
        ch = self.text[self.pos]
        self.pos += 1
        return ch

    def lookup(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            self.used.add(name)
            return self.env[name], True
        self.unset.add(name)
        return "", False

    def process_until(self, stop: str, raw_escapes: bool) -> tuple[str, tuple[str, ...]]:
        """Read up to ``stop`` (consumed) or the end of the word when ``stop`` is ``_EOF``.

        ``raw_escapes`` keeps escape characters in the result: patterns (``${v#p}``, ``${v/p/r}``) need them
        to tell ``\\*`` from ``*``.
        """
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._process_until(stop)
        finally:
            self.raw_escapes = saved

    def _process_until(self, stop: str) -> tuple[str, tuple[str, ...]]:
        result: list[str] = []
        words = _Words()
        text = self.text
        n = len(text)
        escape = self.escape
        special = _special_chars("$<" + escape + stop + ("" if self.skip_quotes else "'\""))
        while self.pos < n:
            pos = self.pos
            m = special.search(text, pos)
            end = m.start() if m else n
            if end > pos:  # a run of ordinary characters
                chunk = text[pos:end]
                result.append(chunk)
                words.add_string(chunk)
                self.pos = end
                if m is None:
                    break
            ch = text[end]
            if ch == stop:
                self.pos = end + 1
                return "".join(result), words.finish()
            if ch == "$":
                piece = self.process_dollar()
                result.append(piece)
                words.add_string(piece)
            elif ch == "<":
                piece = self.process_possible_heredoc()
                result.append(piece)
                words.add_raw_string(piece)
            elif ch == escape:
                self.pos = end + 1
                if self.raw_escapes:
                    words.add_raw_char(ch)
                    result.append(ch)
                if self.pos >= n:  # a trailing escape character is dropped
                    break
                ch = text[self.pos]
                self.pos += 1
                words.add_raw_char(ch)
                result.append(ch)
            else:  # a quote
                piece = self.process_single_quote() if ch == "'" else self.process_double_quote()
                result.append(piece)
                words.add_raw_string(piece)
        if stop != _EOF:
            raise _Fail(unterminated(stop))
        return "".join(result), words.finish()

    def process_possible_heredoc(self) -> str:
        """``<<`` takes the blanks after it into its word (``RUN <<  EOF`` names heredoc ``EOF``, BuildKit)."""
        self.pos += 1
        if self.peek() != "<":
            return "<"
        m = _HEREDOC_BLANKS.match(self.text, self.pos + 1)
        assert m is not None  # the pattern matches the empty string too
        self.pos = m.end()
        return "<<" + m.group()

    def process_single_quote(self) -> str:
        start = self.pos + 1
        close = self.text.find("'", start)
        if close < 0:
            self.pos = len(self.text)
            raise _Fail(unterminated("single-quote"))
        self.pos = close + 1
        if self.raw_quotes:
            return self.text[start - 1 : close + 1]
        return self.text[start:close]

    def process_double_quote(self) -> str:
        text = self.text
        n = len(text)
        escape = self.escape
        special = _special_chars('$"' + escape)
        out: list[str] = ['"'] if self.raw_quotes else []
        self.pos += 1
        while True:
            pos = self.pos
            m = special.search(text, pos)
            if m is None:
                self.pos = n
                raise _Fail(unterminated("double-quote"))
            end = m.start()
            if end > pos:
                out.append(text[pos:end])
            ch = text[end]
            if ch == '"':
                self.pos = end + 1
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                self.pos = end
                out.append(self.process_dollar())
                continue
            # the escape character
            self.pos = end + 1
            if self.raw_escapes:
                out.append(ch)
            following = self.peek()
            if following == _EOF:
                continue  # the unterminated quote is reported on the next turn
            if following in ('"', "$", escape):
                ch = following
                self.pos += 1
            out.append(ch)

    def process_name(self) -> str:
        """A variable name: letters, digits and ``_``; or a run of digits; or one special parameter."""
        text, pos = self.text, self.pos
        if pos < len(text) and text[pos] not in _SPECIAL_PARAMS and not text[pos].isdigit():
            # Usual case, an ASCII name: one regex match. Past a non-ASCII character, Go's unicode classes
            # (letters, decimal digits) decide, one character at a time below.
            end = _ASCII_NAME.match(text, pos).end()  # type: ignore[union-attr]
            if end == len(text) or text[end].isascii():
                self.pos = end
                return text[pos:end]
        name: list[str] = []
        while self.peek() != _EOF:
            ch = self.peek()
            if not name and _is_digit(ch):
                while self.peek() != _EOF and _is_digit(self.peek()):
                    name.append(self.next())
                return "".join(name)
            if not name and ch in _SPECIAL_PARAMS:
                return self.next()
            if not (_is_letter(ch) or _is_digit(ch) or ch == "_"):
                break
            name.append(self.next())
        return "".join(name)

    def process_dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.process_name()
            if not name:
                return "$"
            value, is_set = self.lookup(name)
            if not is_set and self.skip_unset:
                return "$" + name
            return value

        self.next()
        if self.peek() == _EOF:
            raise _Fail(MISSING_BRACE)
        if self.peek() in "{}:":
            raise _Fail(BAD_SUBSTITUTION)
        name = self.process_name()
        ch = self.next()
        if ch == "}":
            value, is_set = self.lookup(name)
            if not is_set and self.skip_unset:
                return "${" + name + "}"
            return value
        if ch == "/":
            return self._replace(name)
        modifier = ch
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            modifier += ch
            if ch in ("#", "%"):
                # ``${v:#p}``/``${v:%p}`` mean nothing in sh; BuildKit rejects them before reading the pattern.
                raise _Fail(unsupported_modifier(modifier))
        elif ch not in ("+", "-", "?", "#", "%"):
            raise _Fail(unsupported_modifier(modifier or "\ufffd"))
        # Any other character after ":" falls through to reading the word up to "}" (BuildKit's ``fallthrough``):
        # the modifier is rejected only after that, unless the variable is unset and left as written.
        word = self._word_until_brace(raw=ch in ("#", "%"))
        value, is_set = self.lookup(name)
        if not is_set and self.skip_unset:
            return "${" + name + modifier + word + "}"
        empty = not is_set or (null_is_unset and value == "")
        if ch == "-":
            return word if empty else value
        if ch == "+":
            return "" if empty else word
        if ch == "?":
            if not is_set:
                raise _Fail(not_allowed(name, word or "is not allowed to be unset"), name)
            if null_is_unset and value == "":
                raise _Fail(not_allowed(name, word or "is not allowed to be empty"), name)
            return value
        if ch not in ("#", "%"):
            raise _Fail(unsupported_modifier(modifier))
        greedy = word[:1] == ch
        if greedy:
            word = word[1:]
        if ch == "%":
            return _trim_suffix(word, value, greedy)
        return _trim_prefix(word, value, greedy)

    def _word_until_brace(self, raw: bool) -> str:
        return self._word_until("}", raw, MISSING_BRACE)

    def _word_until(self, stop: str, raw: bool, missing: str) -> str:
        """The word up to ``stop``; running out of text is reported as ``missing`` (BuildKit's wording for the
        ``}`` or ``/`` it was looking for), any other failure as itself."""
        try:
            word, _ = self.process_until(stop, raw)
        except _Fail:
            if self.peek() == _EOF:
                raise _Fail(missing) from None
            raise
        return word

    def _replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        pattern = self._word_until("/", True, MISSING_SLASH)
        replacement = self._word_until_brace(raw=True)
        value, is_set = self.lookup(name)
        if not is_set and self.skip_unset:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = _pattern_regex(pattern, greedy=True, anchored=False)
        matches = []
        last_end = -1
        for m in regex.finditer(value):
            # Like Go: an empty match right after the previous match is not a match.
            if m.start() == m.end() == last_end:
                continue
            matches.append(m)
            last_end = m.end()
            if not replace_all:
                break
        out: list[str] = []
        pos = 0
        for m in matches:
            out.append(value[pos : m.start()])
            out.append(_go_template(replacement, m.group(0)))
            pos = m.end()
        out.append(value[pos:])
        return "".join(out)


class _Fail(Exception):
    """Internal: an expansion failure before it is tied to its word."""

    def __init__(self, reason: str, variable: str | None = None):
        self.reason = reason
        self.variable = variable
        super().__init__(reason)


def _pattern_regex(pattern: str, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell pattern (``*`` any string, ``?`` one character, ``\\`` escapes) as a regular expression."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            following = pattern[i] if i < len(pattern) else ""
            if following in ("}", "/"):
                continue  # the escape protected ${} syntax; it is not part of the pattern
            i += 1
            if following not in ("*", "?", "\\"):
                raise _Fail(invalid_pattern(pattern, f"invalid escape '\\{following}'"))
            out.append("\\" + following)
        elif ch in _REGEX_META:
            out.append("\\" + ch)
        else:
            out.append(re.escape(ch) if not ch.isalnum() and ch != "_" else ch)
    return re.compile("".join(out))


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    m = _pattern_regex(pattern, greedy, anchored=True).search(value)
    return value[m.end() :] if m else value


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern keeping each ``\\x`` escape pair in order (``a\\*c`` -> ``c\\*a``)."""
    pieces: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i != len(pattern) - 1:
            pieces.append(pattern[i : i + 2])
            i += 2
        else:
            pieces.append(pattern[i])
            i += 1
    return "".join(reversed(pieces))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # Shortest suffix = shortest prefix of the reversed string matching the reversed pattern.
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def _go_template(template: str, match: str) -> str:
    """Go's ``Regexp.Expand`` for a pattern without groups: ``$0``/``${0}`` is the match, ``$$`` a dollar,
    any other ``$name`` nothing, a malformed ``$`` itself."""
    out: list[str] = []
    i = 0
    while i < len(template):
        j = template.find("$", i)
        if j < 0:
            out.append(template[i:])
            break
        out.append(template[i:j])
        rest = template[j + 1 :]
        if rest.startswith("$"):
            out.append("$")
            i = j + 2
            continue
        m = re.match(r"\{(\w+)\}|(\w+)", rest, re.ASCII)
        if not m:
            out.append("$")
            i = j + 1
            continue
        name = m.group(1) or m.group(2)
        if name.isdigit() and int(name) == 0:
            out.append(match)
        i = j + 1 + m.end()
    return "".join(out)


def expand(
    word: str,
    env: Mapping[str, str],
    escape: str = "\\",
    *,
    raw_quotes: bool = False,
    raw_escapes: bool = False,
    skip_unset: bool = False,
    skip_quotes: bool = False,
) -> Expansion:
    """Expand ``word`` with the variables in ``env``; raises :class:`ExpansionError`.

    The keyword options are BuildKit's lexer switches, used by its parser (not by instructions): ``raw_quotes``
    keeps the quote characters, ``raw_escapes`` keeps escape characters, ``skip_unset`` leaves references to
    unset variables as written (``$x``, ``${x:-y}``). The parser uses them to find heredoc words (``<<"EOF"``).
    ``skip_quotes`` makes quotes ordinary characters: how BuildKit expands heredoc bodies (``COPY <<EOF``).
    """
    if _PLAIN_WORD.fullmatch(word):
        # Nothing to expand, unquote or unescape: the word itself, split on white space. Most words in real
        # files are like this, and this path costs a regex match instead of a lexer pass.
        stripped = word.strip(GO_SPACE)
        return Expansion(word, tuple(_GO_SPACES.split(stripped)) if stripped else (), _NONE, _NONE)
    lexer = _Lexer(word, env, escape, raw_quotes, raw_escapes, skip_unset, skip_quotes)
    try:
        value, words = lexer.process_until(_EOF, raw_escapes)
    except _Fail as fail:
        raise ExpansionError(word, fail.reason, fail.variable) from None
    return Expansion(value, words, frozenset(lexer.used), frozenset(lexer.unset))


_NONE: frozenset[str] = frozenset()


def is_literal(text: str) -> bool:
    """True when ``text`` holds nothing the lexer acts on (no ``$``, quote, escape character of either kind,
    ``<`` or byte order mark): expanding it in any environment gives ``text`` back, split only on white space."""
    return _PLAIN_WORD.fullmatch(text) is not None


def process_word(word: str, env: Mapping[str, str], escape: str = "\\", *, skip_quotes: bool = False) -> str:
    """``word`` expanded as one string (quotes removed, spaces kept): BuildKit's ``ProcessWord``."""
    return expand(word, env, escape, skip_quotes=skip_quotes).value


def process_words(word: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """``word`` expanded and split into words on unquoted white space: BuildKit's ``ProcessWords``."""
    return list(expand(word, env, escape).words)
