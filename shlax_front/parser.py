"""Containerfile text -> raw syntax tree (``Document`` of ``Node``), the way BuildKit's parser reads it.

Why our own scanner and not dockerfile-parse underneath
--------------------------------------------------------
dockerfile-parse is the project's named dependency, and we measured what it gets wrong on real files:
heredoc bodies come out as bogus instructions, a blank line inside a continuation cuts the instruction
short, the last instruction is lost when the file ends inside a continuation, ``\\\\`` at the end of a line
is taken as a continuation, JSON is not decoded, flags are not split off, and it never raises. Patching
each of those from the outside would mean re-reading every line anyway, so this module is a single-pass
scanner that follows BuildKit's ``frontend/dockerfile/parser`` rule for rule (read, not copied), and keeps
character offsets so the identity emitter can replay untouched text byte for byte. dockerfile-parse stays
in the project as the reference we compare against: the differential test on the simple cases where it
is right, and the throughput benchmark (``tests/bench/parse_throughput.py``).

Two levels, like BuildKit:

- ``parse(text, strict=False)`` is BuildKit's *parser*: it only rejects what that parser rejects (bad
  parser directives, ``ENV`` without a value, non-string JSON arrays, unterminated heredocs, a file with
  no instructions). ``parse -f FILE --dump`` uses it, so its output matches BuildKit's dumper.
- ``parse(text)`` (strict, the default) also applies the per-instruction rules of BuildKit's
  ``instructions`` package: unknown instructions, wrong argument counts, unknown or malformed flags,
  ``FROM ... AS`` syntax, ONBUILD triggers, HEALTHCHECK options, instructions before the first FROM.

Every error is a ``ParseError`` whose text starts with ``PATH:LINE:``.

Hot path notes: lines are cut with one ``str.split``; character loops only run for flags with quotes,
escapes or non-ASCII text, ENV/LABEL/ARG words with quotes or escapes, and heredoc detection (the expansion
lexer of ``expand.py``, which copies runs of ordinary characters in one slice); everything else uses
precompiled regexes or ``str`` methods.

The strict check and the typed instructions (``instructions.py``) share one flag table (``ALLOWED_FLAGS``),
one flag reader (``read_flags``) and BuildKit's wording of instruction errors, all defined here.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from enum import Enum

from shlax_front.errors import ParseError
from shlax_front.expand import GO_SPACE, ExpansionError, expand
from shlax_front.syntax import Document, Heredoc, Node

#: The 18 instructions BuildKit knows, lower-case.
INSTRUCTIONS = (
    "add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label",
    "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir",
)  # fmt: skip

#: BuildKit's line buffer (bufio.MaxScanTokenSize): a line longer than this, newline included, is an error.
MAX_LINE_BYTES = 64 * 1024

#: Parser directives BuildKit recognises in the leading comment block.
DIRECTIVES = ("syntax", "escape", "check")

#: Instructions whose text may start heredocs (ONBUILD looks at its nested instruction).
HEREDOC_INSTRUCTIONS = frozenset(("add", "copy", "run"))

#: Go's unicode.IsSpace, which BuildKit uses for trimming and word splitting (Python's isspace differs); one
#: definition, shared with the expansion lexer.
_GO_SPACE_SET = frozenset(GO_SPACE)

_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)  # after "\n" only, like Go's (?m)^
_SURROGATE = re.compile("[\ud800-\udfff]")
_WS_SPLIT = re.compile(r"[\t\v\f\r ]+")  # BuildKit's reWhitespace
_ASCII_WORDS = re.compile(r"[^\t\n\v\f\r ]+")
_DIRECTIVE_KEY = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=")
_RE2_SPACE = "\t\n\f\r "  # \s in Go's regexp
_ASCII_BLANK_SET = frozenset("\t\n\v\f\r ")
_ASCII_BLANKS = re.compile(r"[\t\n\v\f\r ]*")
_PLAIN_FLAG = re.compile(r"[^\t\n\v\f\r '\"\\`]*")
_HEREDOC_HEAD = re.compile(r"([0-9]*)<<(-?)")
_INTEGER = re.compile(r"[-+]?[0-9]+")
#: A valid ``FROM ... AS name`` (BuildKit's stage name rule, on the lower-cased name).
STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")
_DURATION = re.compile(r"[-+]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+|[-+]?0")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_NS = {"ns": 1, "us": 1e3, "µs": 1e3, "μs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}


# --------------------------------------------------------------------------------------------------------------
# public API


def parse(text: str, path: str = "Containerfile", strict: bool = True) -> Document:
    """Parse Containerfile ``text``; ``path`` is only used in error messages and ``Document.path``.

    With ``strict`` (default) the instruction-level rules are checked too (see the module docstring).
    """
    doc = _Scanner(text, path).run()
    if strict:
        check(doc)
    return doc


def parse_file(path: str, strict: bool = True) -> Document:
    """Read and parse ``path`` (``"-"`` reads stdin and is reported as ``<stdin>``).

    The bytes are decoded as UTF-8 with ``surrogateescape`` so that any byte sequence round-trips.
    """
    if path == "-":
        data = sys.stdin.buffer.read()
        display = "<stdin>"
    else:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as err:
            raise ParseError(_os_reason(err), path, None) from None
        display = path
    return parse(decode(data), display, strict=strict)


def _os_reason(err: OSError) -> str:
    """Why a file cannot be read, lower case as in the rest of our messages (``no such file or directory``)."""
    reason = err.strerror or str(err)
    return reason[:1].lower() + reason[1:]


def decode(data: bytes) -> str:
    """Bytes of a Containerfile -> text that encodes back to exactly the same bytes."""
    return data.decode("utf-8", "surrogateescape")


def encode(text: str) -> bytes:
    """Inverse of ``decode``."""
    return text.encode("utf-8", "surrogateescape")


# --------------------------------------------------------------------------------------------------------------
# the scanner: lines -> logical instructions (directives, continuations, comments, heredocs)


class _Scanner:
    """One pass over the lines of a file, following BuildKit's ``parser.Parse`` loop."""

    def __init__(self, text: str, path: str):
        self.text = text
        self.path = path
        self.escape = "\\"
        self.directives: dict[str, str] = {}
        self.directives_done = False

    def error(self, message: str, line: int, text: str | None = None) -> ParseError:
        return ParseError(message, self.path, line, text)

    def run(self) -> Document:
        text = self.text
        lines = text.split("\n")
        count = len(lines)
        if lines[-1] == "":
            count -= 1  # text ends with a newline: no extra line after it
        if len(text) > MAX_LINE_BYTES // 4:
            self._check_line_lengths(lines, count)
        nodes: list[Node] = []
        warnings: list[tuple[int, str]] = []
        offset = 0
        bom = 1 if text.startswith("\ufeff") else 0
        if bom:
            lines[0] = lines[0][1:]
            offset = 1
        i = 0
        escape = self.escape
        while i < count:
            raw = lines[i]
            start = offset
            offset += len(raw) + 1
            i += 1
            line = raw.rstrip("\r\n").lstrip(GO_SPACE)
            if not self.directives_done:
                self._directive(line, i)
                escape = self.escape
            if not line or line[0] == "#":
                continue
            start_line = i
            stripped = line.rstrip(" \t")
            empty_continuation = False
            if stripped[-1] == escape and (len(stripped) == 1 or stripped[-2] != escape):
                parts = [stripped[:-1]]
                while i < count:
                    raw = lines[i]
                    offset += len(raw) + 1
                    i += 1
                    cont = raw.rstrip("\r\n")
                    lead = cont.lstrip(GO_SPACE)
                    if not lead or lead[0] == "#":
                        if not lead:
                            empty_continuation = True
                        continue  # comment and blank lines inside a continuation are dropped
                    stripped = cont.rstrip(" \t")
                    if stripped[-1] == escape and (len(stripped) == 1 or stripped[-2] != escape):
                        parts.append(stripped[:-1])
                    else:
                        parts.append(cont)
                        break
                logical = "".join(parts)
            else:
                logical = line
            try:
                node = node_from_line(logical, escape)
            except _LineError as err:
                raise self.error(err.message, start_line, logical) from None
            if "<<" in logical and _can_contain_heredoc(node):
                try:
                    found = heredocs_from_line(logical)
                except _LineError as err:
                    raise self.error(err.message, start_line, logical) from None
                if found:
                    heredocs = []
                    for name, expand_body, chomp, fd in found:
                        body_start = min(offset, len(text))
                        terminated = False
                        while i < count:
                            raw = lines[i]
                            line_start = offset
                            offset += len(raw) + 1
                            i += 1
                            candidate = raw.rstrip("\r\n")
                            if chomp:
                                candidate = candidate.lstrip("\t")
                            if candidate == name:
                                terminated = True
                                body = text[body_start:line_start]
                                break
                        if not terminated:
                            raise self.error(
                                f"unterminated heredoc: no line {name!r} closes the heredoc before the end of the file",
                                start_line,
                                logical,
                            )
                        content = _chomp(body) if chomp else body
                        heredocs.append(Heredoc(name, content, expand_body, chomp, raw=body, fd=fd))
                    target = node.next if node.keyword == "onbuild" and node.next is not None else node
                    target.heredocs = heredocs
                    if target is not node:
                        node.heredocs = heredocs
            if empty_continuation:
                warnings.append((start_line, f"Empty continuation line found in: {logical}"))
            node.start_line = start_line
            node.end_line = i
            node.start = start
            node.end = min(offset, len(text))
            node.line = logical
            parent, child = node, node.next
            while child is not None:  # ONBUILD: the nested instruction shares the lines
                child.start_line, child.end_line, child.start, child.end = start_line, i, start, node.end
                child.line = parent.value  # BuildKit's Original of the nested instruction
                parent, child = child, child.next
            nodes.append(node)
        if not nodes:
            raise self.error("file with no instructions", max(count, 1))
        return Document(
            self.path, text, nodes, escape=self.escape, directives=self.directives, warnings=warnings
        )

    def _check_line_lengths(self, lines: list[str], count: int) -> None:
        """BuildKit reads lines with a 64 KiB buffer and rejects a longer line (newline included)."""
        for number, line in enumerate(lines[:count], 1):
            if len(line) >= MAX_LINE_BYTES // 4 and len(encode(line)) + 1 > MAX_LINE_BYTES:
                raise self.error(
                    f"dockerfile line greater than max allowed size of {MAX_LINE_BYTES - 1}", number
                )

    def _directive(self, line: str, lineno: int) -> None:
        """BuildKit's DirectiveParser: only a leading run of ``# key=value`` comment lines counts."""
        if not line.startswith("#"):
            self.directives_done = True
            return
        body = line[1:].lstrip(GO_SPACE)
        match = _DIRECTIVE_KEY.match(body)
        key = match.group(1).lower() if match else None
        if key not in DIRECTIVES:
            self.directives_done = True
            return
        value = _directive_value(body[match.end() :])
        if value is None:
            self.directives_done = True
            return
        if key in self.directives:
            raise self.error(f"only one {key} parser directive can be used", lineno, line)
        if key == "escape":
            if value not in ("`", "\\"):
                raise self.error(f"invalid escape token '{value}' does not match ` or \\", lineno, line)
            self.escape = value
        self.directives[key] = value


def _directive_value(rest: str) -> str | None:
    """What BuildKit's ``=\\s*(.+?)\\s*$`` captures after the ``=`` (written out: the regex backtracks
    quadratically on long runs of blanks). Blanks around the value go; a value of only blanks keeps its last one."""
    value = rest.strip(_RE2_SPACE)
    if value:
        return value
    return rest[-1] if rest else None


def _chomp(body: str) -> str:
    """``<<-``: strip leading tabs from every line of the body."""
    return _LEADING_TABS.sub("", body) if "\t" in body else body


def _can_contain_heredoc(node: Node) -> bool:
    if node.keyword == "onbuild" and node.next is not None:
        node = node.next
    return node.keyword in HEREDOC_INSTRUCTIONS and not node.json


# --------------------------------------------------------------------------------------------------------------
# one logical line -> Node (BuildKit's newNodeFromLine and line parsers)


class _LineError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def node_from_line(line: str, escape: str = "\\") -> Node:
    """Split ``line`` (continuations already joined) into keyword, flags and arguments.

    ``ONBUILD <instruction>`` nests the instruction in ``next``; nesting is followed in a loop, not by
    recursion, so even absurd ``ONBUILD ONBUILD ...`` chains parse (the strict check rejects them).
    """
    head = parent = None
    while True:
        node = _split_line(line, escape)
        if parent is None:
            head = node
        else:
            parent.next = node
        if node.keyword != "onbuild" or not node.value:
            return head
        parent, line = node, node.value


def _split_line(line: str, escape: str) -> Node:
    trimmed = line.strip(GO_SPACE)
    split = _WS_SPLIT.split(trimmed, 1)
    original = split[0]
    keyword = original.lower()
    flags: list[str] = []
    rest = ""
    if len(split) == 2:
        rest = split[1]
        if rest.startswith("--") or (rest[:1] in _GO_SPACE_SET and rest.lstrip(GO_SPACE).startswith("--")):
            rest, flags = extract_flags(rest, escape)
        rest = rest.strip(GO_SPACE)
    node = Node(keyword, flags=flags, value=rest, original=original)
    handler = _LINE_PARSERS.get(keyword)
    if handler is not None:
        handler(node, rest, escape)
    return node


def _go_bytes(text: str) -> str:
    """The UTF-8 bytes of ``text`` as one character each: BuildKit walks flags and HEALTHCHECK byte by byte."""
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def _from_go_bytes(text: str) -> str:
    return text.encode("latin-1").decode("utf-8", "surrogateescape")


def extract_flags(line: str, escape: str = "\\") -> tuple[str, list[str]]:
    """Leading ``--flag[=value]`` words of ``line`` -> (rest of the line, flags); ``--`` ends the flags.

    Quotes around flag values are removed and the escape character escapes the next character,
    as in BuildKit. Like BuildKit we walk bytes, so non-ASCII text in a flag comes out the way it does.
    """
    ascii_only = line.isascii()
    if ascii_only:
        # Usual case: ASCII flags without quotes or escapes (``--mount=type=cache,target=/x``), one regex
        # match each. Anything else is read character by character below, from the start.
        words: list[str] = []
        pos, n = 0, len(line)
        while True:
            pos = _ASCII_BLANKS.match(line, pos).end()  # type: ignore[union-attr]
            if pos == n:
                return "", words
            if not line.startswith("--", pos):
                return line[pos:], words
            end = _PLAIN_FLAG.match(line, pos).end()  # type: ignore[union-attr]
            if end < n and line[end] not in _ASCII_BLANK_SET:
                break
            if end - pos == 2:  # "--" ends the flags
                return line[end:], words
            words.append(line[pos:end])
            pos = end
    if not ascii_only:
        line = _go_bytes(line)
    words = []
    n = len(line)
    pos = 0
    phase = 0  # 0 spaces, 1 word, 2 quote
    buf: list[str] = []
    quote = ""
    blank_ok = False
    while True:
        if phase == 0:
            if pos == n:
                break
            ch = line[pos]
            if ch in _GO_SPACE_SET:
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                rest = line[pos:]
                return (rest if ascii_only else _from_go_bytes(rest)), words
            phase = 1
        if pos == n:
            word = "".join(buf)
            if word != "--" and (blank_ok or word):
                words.append(word)
            break
        ch = line[pos]
        if phase == 1:
            if ch in _GO_SPACE_SET:
                word = "".join(buf)
                phase = 0
                if word == "--":
                    rest = line[pos:]
                    return (rest if ascii_only else _from_go_bytes(rest)), words
                if blank_ok or word:
                    words.append(word)
                buf = []
                blank_ok = False
                pos += 1
                continue
            if ch == "'" or ch == '"':
                quote = ch
                blank_ok = True
                phase = 2
                pos += 1
                continue
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            buf.append(ch)
            pos += 1
            continue
        # inside quotes
        if ch == quote:
            phase = 1
            pos += 1
            continue
        if ch == escape:
            if pos + 1 == n:
                phase = 1
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        buf.append(ch)
        pos += 1
    return "", words


def parse_words(rest: str, escape: str = "\\") -> list[str]:
    """Whitespace-separated words with quotes (and escapes) kept, as BuildKit's parseWords (ENV/LABEL/ARG).

    It looks like ``extract_flags`` but is not the same logic, as in BuildKit: here quotes and escapes stay in
    the word and an escape does not count inside single quotes; there both are consumed.
    """
    if rest.isascii() and "'" not in rest and '"' not in rest and escape not in rest:
        return _ASCII_WORDS.findall(rest)
    words: list[str] = []
    phase = 0  # 0 spaces, 1 word, 2 quote
    quote = ""
    blank_ok = False
    buf: list[str] = []
    n = len(rest)
    pos = 0
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == 0:
            if pos == n:
                break
            if ch in _GO_SPACE_SET:
                pos += 1
                continue
            phase = 1
        if pos == n:
            if blank_ok or buf:
                words.append("".join(buf))
            break
        if phase == 1:
            if ch in _GO_SPACE_SET:
                phase = 0
                if blank_ok or buf:
                    words.append("".join(buf))
                buf = []
                blank_ok = False
                pos += 1
                continue
            if ch == "'" or ch == '"':
                quote = ch
                blank_ok = True
                phase = 2
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                buf.append(ch)
                pos += 1
                ch = rest[pos]
            buf.append(ch)
            pos += 1
            continue
        # inside quotes
        if ch == quote:
            phase = 1
        if ch == escape and quote != "'":
            if pos + 1 == n:
                phase = 1
                pos += 1
                continue
            pos += 1
            buf.append(ch)
            ch = rest[pos]
        buf.append(ch)
        pos += 1
    if not rest.isascii() and _SURROGATE.search(rest):
        words = [_SURROGATE.sub("\ufffd", w) for w in words]  # Go decodes runes: a bad byte becomes U+FFFD
    return words


def _no_constant(name: str):
    raise ValueError(name)


def _go_number(text: str) -> float:
    """Go decodes JSON numbers into float64 and fails (so: shell form) when one does not fit."""
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return value


_json_decoder = json.JSONDecoder(parse_constant=_no_constant, parse_float=_go_number, parse_int=_go_number)


def parse_json_array(rest: str) -> list[str] | None:
    """``rest`` as a JSON array of strings, or None when it is not valid JSON (shell form then).

    A valid JSON array with a non-string element is an error, as in BuildKit.
    """
    rest = rest.lstrip(GO_SPACE)
    if not rest.startswith("["):
        return None
    try:
        value = _json_decoder.decode(rest)
    except (ValueError, RecursionError):
        return None
    for item in value:
        if not isinstance(item, str):
            raise _LineError("when using JSON array syntax, arrays must be comprised of strings only")
    if any(_SURROGATE.search(item) for item in value):
        value = [_SURROGATE.sub("\ufffd", item) for item in value]  # Go's decoder does this
    return value


def _maybe_json(node: Node, rest: str, escape: str) -> None:
    if not rest:
        return
    value = parse_json_array(rest)
    if value is None:
        node.args = [rest]
    else:
        node.args = value
        node.json = True


def _maybe_json_list(node: Node, rest: str, escape: str) -> None:
    value = parse_json_array(rest)
    if value is None:
        _whitespace_list(node, rest, escape)
    else:
        node.args = value
        node.json = True


def _whitespace_list(node: Node, rest: str, escape: str) -> None:
    if rest:
        node.args = _WS_SPLIT.split(rest)


def _string(node: Node, rest: str, escape: str) -> None:
    if rest:
        node.args = [rest]


def _name_or_name_value(node: Node, rest: str, escape: str) -> None:
    node.args = parse_words(rest, escape)


def _name_value(node: Node, rest: str, escape: str) -> None:
    words = parse_words(rest, escape)
    if not words:
        return
    if "=" not in words[0]:
        parts = _WS_SPLIT.split(rest, 1)
        if len(parts) < 2:
            raise _LineError(f"{node.keyword.upper()} must have two arguments")
        node.args = [parts[0], parts[1], ""]
        return
    args = []
    for word in words:
        if "=" not in word:
            raise _LineError(
                f"Syntax error - can't find = in {go_quote(word)}. Must be of the form: name=value"
            )
        key, _, value = word.partition("=")
        args += (key, value, "=")
    node.args = args


def _healthcheck(node: Node, rest: str, escape: str) -> None:
    ascii_only = rest.isascii()
    text = rest if ascii_only else _go_bytes(rest)
    sep = 0
    n = len(text)
    while sep < n and text[sep] not in _GO_SPACE_SET:
        sep += 1
    nxt = sep
    while nxt < n and text[nxt] in _GO_SPACE_SET:
        nxt += 1
    if sep == 0:
        return
    kind, cmd = text[:sep], text[nxt:]
    if not ascii_only:
        kind, cmd = _from_go_bytes(kind), _from_go_bytes(cmd)
    _maybe_json(node, cmd, escape)
    node.args = [kind, *node.args]


_LINE_PARSERS = {
    "add": _maybe_json_list,
    "arg": _name_or_name_value,
    "cmd": _maybe_json,
    "copy": _maybe_json_list,
    "entrypoint": _maybe_json,
    "env": _name_value,
    "expose": _whitespace_list,
    "from": _whitespace_list,
    "healthcheck": _healthcheck,
    "label": _name_value,
    "maintainer": _string,
    "run": _maybe_json,
    "shell": _maybe_json,
    "stopsignal": _string,
    "user": _string,
    "volume": _maybe_json_list,
    "workdir": _string,
}


# --------------------------------------------------------------------------------------------------------------
# heredoc detection: BuildKit splits the whole line into shell words and looks for <<WORD ones


def heredocs_from_line(line: str) -> list[tuple[str, bool, bool, int]]:
    """The heredocs a line starts, as (name, expand, chomp, fd) in order. Unbalanced quotes: none.

    BuildKit splits the whole line into shell words with its expansion lexer (quotes and escapes kept, unset
    variables left as written, escape character always backslash) and looks for ``<<WORD`` words; so do we,
    with the same lexer as ``ENV``/``COPY`` expansion (``expand.py``). Two of its details matter here: ``<<``
    keeps the blanks after it in its word (``RUN <<  EOF`` starts heredoc ``EOF``), and a word it cannot
    lex (``${x:%}``) makes the whole line start no heredoc.
    """
    try:
        words = expand(line, _NO_VARIABLES, "\\", raw_quotes=True, raw_escapes=True, skip_unset=True).words
    except (ExpansionError, RecursionError):
        return []
    found = []
    for word in words:
        heredoc = parse_heredoc_word(word)
        if heredoc is not None:
            found.append(heredoc)
    return found


_NO_VARIABLES: dict[str, str] = {}


def parse_heredoc_word(word: str) -> tuple[str, bool, bool, int] | None:
    """``<<EOF``, ``<<-'EOF'``, ``3<<"EO"F`` ... -> (name, expand, chomp, fd); None if not a heredoc word.

    BuildKit's ``^(\\d*)<<(-?)\\s*([^<]*)$``, written out (as a regex it backtracks quadratically on long
    runs of blanks). The name is lexed twice, without and with quotes kept: if quotes disappear, part of the
    name was quoted and the body is not expanded.
    """
    match = _HEREDOC_HEAD.match(word)
    if match is None:
        return None
    fd_text, dash = match.groups()
    rest = word[match.end() :]
    if "<" in rest:
        return None
    rest = rest.lstrip(_RE2_SPACE)
    if not rest:
        return None
    try:
        words = expand(rest, _NO_VARIABLES, "\\", skip_unset=True).words
        if len(words) != 1:
            return None
        raw_words = expand(rest, _NO_VARIABLES, "\\", raw_quotes=True, skip_unset=True).words
    except ExpansionError as err:
        raise _LineError(f"invalid heredoc {word!r}: {err.reason}") from None
    except RecursionError:
        return None
    if len(raw_words) != 1:
        raise _LineError(f"internal lexing of heredoc produced inconsistent results: {rest}")
    name, raw = words[0], raw_words[0]
    expand_body = name.count("'") + name.count('"') == raw.count("'") + raw.count('"')
    return name, expand_body, dash == "-", int(fd_text) if fd_text and len(fd_text) < 19 else 0


def must_parse_heredoc(word: str) -> tuple[str, bool, bool, int] | None:
    """``parse_heredoc_word`` with errors read as "not a heredoc" (BuildKit's MustParseHeredoc)."""
    try:
        return parse_heredoc_word(word)
    except _LineError:
        return None


# --------------------------------------------------------------------------------------------------------------
# Go's strconv.Quote, for Node.Dump() and error messages


_GO_NAMED_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


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


# --------------------------------------------------------------------------------------------------------------
# BuildKit's wording of instruction errors: worded here once, for the strict check below and the typed
# instructions (``instructions.py`` re-exports them; tests build expected messages with them)


def at_least_one_argument(command: str) -> str:
    return f"{command} requires at least one argument"


def exactly_one_argument(command: str) -> str:
    return f"{command} requires exactly one argument"


def no_destination(command: str) -> str:
    return f"{command} requires at least two arguments, but only one was provided. Destination could not be determined"


def bad_heredoc(command: str, option: str) -> str:
    return f"{command} cannot accept a heredoc as {option}"


def blank_names(command: str) -> str:
    return f"{command} names can not be blank"


def too_many_arguments(command: str) -> str:
    return f"Bad input to {command}, too many arguments"


def not_json(command: str) -> str:
    return f"{command} requires the arguments to be in JSON form"


def unknown_instruction(keyword: str) -> str:
    return f"unknown instruction: {keyword}"


def from_arguments() -> str:
    return "FROM requires either one or three arguments"


def invalid_stage_name(name: str) -> str:
    return (
        f"invalid name for build stage: {go_quote(name)}, name can't start with a number or contain symbols"
    )


def onbuild_chained() -> str:
    return "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"


def onbuild_forbidden(keyword: str) -> str:
    return f"{keyword} isn't allowed as an ONBUILD trigger"


def invalid_network(value: str) -> str:
    return f'invalid network mode "{value}"'


def invalid_security(value: str) -> str:
    return f'security "{value}" is not valid'


def empty_volume() -> str:
    return "VOLUME specified can not be an empty string"


def healthcheck_none_arguments() -> str:
    return "HEALTHCHECK NONE takes no arguments"


def healthcheck_missing_command() -> str:
    return "Missing command after HEALTHCHECK CMD"


def healthcheck_unknown_type(kind: str) -> str:
    return f"Unknown type {go_quote(kind)} in HEALTHCHECK (try CMD)"


def interval_too_short(flag: str) -> str:
    return f'Interval "{flag}" cannot be less than 1ms'


def invalid_duration(value: str) -> str:
    return f"time: invalid duration {go_quote(value)}"


def negative_retries(value: int) -> str:
    return f"--retries cannot be negative ({value})"


def invalid_retries(value: str) -> str:
    return str(GoIntError(value, "invalid syntax"))


# --------------------------------------------------------------------------------------------------------------
# strict checks: BuildKit's instructions package rules (argument counts, flags, FROM/ONBUILD/HEALTHCHECK syntax)


class FlagKind(Enum):
    """How a flag takes its value (BuildKit's ``BFlags`` types)."""

    BOOL = "bool"  # --link, --link=true, --link=false
    STRING = "string"  # --from=x, given at most once
    STRINGS = "strings"  # --mount=..., repeatable


_STRING, _BOOL, _STRINGS = FlagKind.STRING, FlagKind.BOOL, FlagKind.STRINGS

#: Flags each instruction accepts (BuildKit's BFlags definitions), the one table both the strict check and the
#: typed instructions read. None: flags are not looked at (BuildKit never parses them for ARG and STOPSIGNAL);
#: an empty dict: any flag is an error.
ALLOWED_FLAGS: dict[str, dict[str, FlagKind] | None] = {
    "add": {"chown": _STRING, "chmod": _STRING, "link": _BOOL, "keep-git-dir": _BOOL, "checksum": _STRING,
            "unpack": _BOOL, "exclude": _STRINGS},
    "copy": {"chown": _STRING, "from": _STRING, "chmod": _STRING, "link": _BOOL, "exclude": _STRINGS,
             "parents": _BOOL},
    "from": {"platform": _STRING},
    "run": {"mount": _STRINGS, "network": _STRING, "security": _STRING, "device": _STRINGS},
    "healthcheck": {"interval": _STRING, "timeout": _STRING, "start-period": _STRING, "start-interval": _STRING,
                    "retries": _STRING},
    "arg": None,
    "stopsignal": None,
    **{name: {} for name in ("env", "label", "maintainer", "onbuild", "workdir", "cmd", "entrypoint", "expose",
                             "user", "volume", "shell")},
}  # fmt: skip


def unknown_flag(flag: str) -> str:
    return f"unknown flag: {flag}"


def duplicate_flag(flag: str) -> str:
    return f"duplicate flag specified: {flag}"


def missing_flag_value(flag: str) -> str:
    return f"missing a value on flag: {flag}"


def not_a_flag(word: str) -> str:
    return f"arg should start with -- : {word}"


def bad_boolean(flag: str, value: str) -> str:
    return f"expecting boolean value for flag {flag}, not: {value}"


class FlagError(ValueError):
    """A flag word BuildKit's ``BFlags.Parse`` rejects (its wording); ``unknown`` names a flag the instruction
    does not take (without ``--``), so callers can add a suggestion."""

    def __init__(self, message: str, unknown: str | None = None):
        super().__init__(message)
        self.unknown = unknown


def read_flags(words: list[str], allowed: dict[str, FlagKind]) -> dict[str, str | bool | list[str]]:
    """Read ``--name[=value]`` words like BuildKit's ``BFlags.Parse``: name -> value; raises ``FlagError``.

    ``--`` ends the flags. A bool flag takes no value or ``true``/``false`` (any case); a string flag needs
    ``=value`` and may appear once; a strings flag needs ``=value`` and may repeat (values in order).
    """
    found: dict[str, str | bool | list[str]] = {}
    for word in words:
        if word == "--":
            break
        if not word.startswith("--"):
            raise FlagError(not_a_flag(word))
        flag, has_value, value = word.partition("=")
        name = flag[2:]
        kind = allowed.get(name)
        if kind is None:
            raise FlagError(unknown_flag(flag), unknown=name)
        if name in found and kind is not FlagKind.STRINGS:
            raise FlagError(duplicate_flag(flag))
        if kind is FlagKind.BOOL:
            if has_value and value == "":
                raise FlagError(missing_flag_value(flag))
            lowered = value.lower()
            if lowered not in ("", "true", "false"):
                raise FlagError(bad_boolean(flag, value))
            found[name] = lowered != "false"
        elif not has_value:
            raise FlagError(missing_flag_value(flag))
        elif kind is FlagKind.STRING:
            found[name] = value
        else:
            found.setdefault(name, [])
            found[name].append(value)  # type: ignore[union-attr]
    return found


def go_duration_ns(text: str) -> int:
    """Go's ``time.ParseDuration`` (``1h30m``, ``1.5s``, ``300ms``, ``-2s``, ``0``) in nanoseconds (ASCII digits
    only, as in Go); raises ``ValueError`` with Go's message."""
    if not _DURATION.fullmatch(text):
        raise ValueError(invalid_duration(text))
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


def check(doc: Document) -> None:
    """Apply BuildKit's instruction-level rules to every node; raise the first ``ParseError`` found."""
    seen_from = False
    for node in doc.nodes:
        check_node(node, doc.path)
        if node.keyword == "from":
            seen_from = True
        elif not seen_from and node.keyword != "arg":
            raise ParseError(
                f"no build stage in current context: {node.original.upper()} before the first FROM",
                doc.path, node.start_line, node.line,
            )  # fmt: skip


def check_node(node: Node, path: str = "Containerfile") -> None:
    """Raise ``ParseError`` if ``node`` breaks a rule BuildKit enforces when it types the instruction."""
    message = _check(node)
    if message is not None:
        raise ParseError(message, path, node.start_line, node.line or node.original)


def _check(node: Node) -> str | None:
    keyword = node.keyword
    name = keyword.upper()
    args = node.args
    if keyword not in ALLOWED_FLAGS:
        message = unknown_instruction(node.original)
        close = difflib.get_close_matches(keyword, INSTRUCTIONS, n=1, cutoff=0.7)
        return message + f" (did you mean {close[0].upper()}?)" if close else message
    if keyword in ("env", "label"):
        if not args:
            return at_least_one_argument(name)
        if any(args[i] == "" for i in range(0, len(args), 3)):
            return blank_names(name)
    elif keyword in ("maintainer", "workdir", "user", "stopsignal"):
        if len(args) != 1:
            return exactly_one_argument(name)
    elif keyword in ("add", "copy"):
        if len(args) < 2:
            return no_destination(name)
        if must_parse_heredoc(args[-1]) is not None:
            return bad_heredoc(name, "a destination")
    elif keyword == "from":
        if len(args) == 3 and args[1].lower() == "as":
            if not STAGE_NAME.fullmatch(args[2].lower()):
                return invalid_stage_name(args[2])
        elif len(args) != 1:
            return from_arguments()
    elif keyword == "onbuild":
        if node.next is None:
            return at_least_one_argument(name)
        trigger = node.next.keyword.upper()
        if trigger == "ONBUILD":
            return onbuild_chained()
        if trigger in ("MAINTAINER", "FROM"):
            return onbuild_forbidden(trigger)
    elif keyword == "healthcheck":
        return _check_healthcheck(node)
    elif keyword in ("expose", "volume", "arg"):
        if not args:
            return at_least_one_argument(name)
        if keyword == "volume" and any(not a.strip(GO_SPACE) for a in args):
            return empty_volume()
        if keyword == "arg" and any(a.startswith("=") for a in args):
            return blank_names(name)
    elif keyword == "shell":
        if not args:
            return at_least_one_argument(name)
        if not node.json:
            return not_json(name)
    return _check_flags(node, ALLOWED_FLAGS[keyword])


def _check_flags(node: Node, allowed: dict[str, FlagKind] | None) -> str | None:
    if allowed is None:
        return None
    try:
        read_flags(node.flags, allowed)
    except FlagError as err:
        if err.unknown is None:
            return str(err)
        message = f"{err} for {node.keyword.upper()}"
        close = difflib.get_close_matches(err.unknown, allowed, n=1, cutoff=0.6)
        return message + f" (did you mean --{close[0]}?)" if close else message
    return None


def _check_healthcheck(node: Node) -> str | None:
    args = node.args
    if not args:
        return at_least_one_argument("HEALTHCHECK")
    kind = args[0].upper()
    if kind == "NONE":
        if len(args) > 1:
            return healthcheck_none_arguments()
        return None
    problem = _check_flags(node, ALLOWED_FLAGS["healthcheck"])
    if problem:
        return problem
    if kind != "CMD":
        return healthcheck_unknown_type(kind)
    if len(args) == 1:
        return healthcheck_missing_command()
    for flag in node.flags:
        flag_name, _, value = flag.partition("=")
        if flag_name == "--retries":
            try:
                retries = go_int32(value)
            except GoIntError as err:
                out_of_range = ": value out of range" if err.reason == "value out of range" else ""
                return f"invalid value for --retries: {go_quote(value)}{out_of_range}"
            if retries < 0:
                return negative_retries(retries)
        elif value and flag_name != "--":
            try:
                nanoseconds = go_duration_ns(value)
            except ValueError as err:
                return f"{err} for {flag_name}"
            if nanoseconds != 0 and nanoseconds < 1_000_000:  # BuildKit: non-zero and under a millisecond
                return interval_too_short(flag_name[2:])
    return None
