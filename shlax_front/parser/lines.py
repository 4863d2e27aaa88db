"""One logical line (continuations joined) -> one ``Node``: keyword, flags and arguments.

Why a module of its own: this is BuildKit's ``line_parsers``, one small reader per argument form (JSON or
shell form, whitespace lists, ``name=value`` pairs, HEALTHCHECK's type word), chosen by keyword in
``LINE_PARSERS``. It knows nothing about files, line numbers or heredoc bodies: the scanner feeds it lines.
Only what BuildKit's *parser* rejects is an error here; the instruction rules come later.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from shlax_front import messages
from shlax_front.expand import GO_SPACE
from shlax_front.golang import as_go_bytes, from_go_bytes
from shlax_front.parser.flags import extract_flags
from shlax_front.syntax import Node

#: The 18 instructions BuildKit knows, lower-case.
INSTRUCTIONS = (
    "add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label",
    "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir",
)  # fmt: skip

#: Go's unicode.IsSpace, which BuildKit uses for trimming and word splitting (Python's isspace differs); one
#: definition, shared with the expansion lexer.
_GO_SPACE_SET = frozenset(GO_SPACE)

_SURROGATE = re.compile("[\ud800-\udfff]")
_WS_SPLIT = re.compile(r"[\t\v\f\r ]+")  # BuildKit's reWhitespace
_ASCII_WORDS = re.compile(r"[^\t\n\v\f\r ]+")


class LineError(Exception):
    """A line BuildKit's parser rejects; the scanner adds the file and line."""

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
    handler = LINE_PARSERS.get(keyword)
    if handler is not None:
        handler(node, rest, escape)
    return node


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
            raise LineError(messages.json_not_strings())
    if any(_SURROGATE.search(item) for item in value):
        value = [_SURROGATE.sub("\ufffd", item) for item in value]  # Go's decoder does this
    return value


# --------------------------------------------------------------------------------------------------------------
# the argument forms, one reader each: (node, text after keyword and flags, escape) -> fills node.args


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
            raise LineError(messages.two_arguments(node.keyword.upper()))
        node.args = [parts[0], parts[1], ""]
        return
    args = []
    for word in words:
        if "=" not in word:
            raise LineError(messages.missing_equals(word))
        key, _, value = word.partition("=")
        args += (key, value, "=")
    node.args = args


def _healthcheck(node: Node, rest: str, escape: str) -> None:
    ascii_only = rest.isascii()
    text = rest if ascii_only else as_go_bytes(rest)
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
        kind, cmd = from_go_bytes(kind), from_go_bytes(cmd)
    _maybe_json(node, cmd, escape)
    node.args = [kind, *node.args]


LINE_PARSERS: dict[str, Callable[[Node, str, str], None]] = {
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
"""keyword -> the reader of its argument form (BuildKit's dispatch table of line parsers)."""
