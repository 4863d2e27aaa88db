"""Heredocs: finding ``<<EOF`` words on an instruction line and reading their bodies from the lines below.

Why a module of its own: a heredoc is the one place where an instruction owns lines that are not part of its
logical line, and finding one takes a shell lexer, not a regex. BuildKit splits the whole line into shell words
with its expansion lexer and looks for ``<<WORD`` words; the typed instructions reuse the same word reading
(``must_parse_heredoc``) to tell a heredoc source of ``COPY`` from a file name.
"""

from __future__ import annotations

import re

from shlax_front import messages
from shlax_front.expand import ExpansionError, expand
from shlax_front.parser.lines import LineError
from shlax_front.syntax import Heredoc, Node

#: Instructions whose text may start heredocs (ONBUILD looks at its nested instruction).
HEREDOC_INSTRUCTIONS = frozenset(("add", "copy", "run"))

#: (name, expand the body, strip leading tabs, file descriptor) of one ``<<WORD``.
HeredocWord = tuple[str, bool, bool, int]

_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)  # after "\n" only, like Go's (?m)^
_HEREDOC_HEAD = re.compile(r"([0-9]*)<<(-?)")
_RE2_SPACE = "\t\n\f\r "  # \s in Go's regexp
_NO_VARIABLES: dict[str, str] = {}


def can_contain_heredoc(node: Node) -> bool:
    """Whether the line of ``node`` may start heredocs (shell-form RUN, COPY, ADD, also under ONBUILD)."""
    if node.keyword == "onbuild" and node.next is not None:
        node = node.next
    return node.keyword in HEREDOC_INSTRUCTIONS and not node.json


def heredocs_from_line(line: str) -> list[HeredocWord]:
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


def parse_heredoc_word(word: str) -> HeredocWord | None:
    """``<<EOF``, ``<<-'EOF'``, ``3<<"EO"F`` ... -> (name, expand, chomp, fd); None if not a heredoc word.

    BuildKit's ``^(\\d*)<<(-?)\\s*([^<]*)$``, written out (as a regex it backtracks quadratically on long
    runs of blanks). The name is lexed twice, without and with quotes kept: if quotes disappear, part of the
    name was quoted and the body is not expanded. Raises ``LineError`` for a name the lexer rejects.
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
        raise LineError(messages.invalid_heredoc(word, err.reason)) from None
    except RecursionError:
        return None
    if len(raw_words) != 1:
        raise LineError(messages.inconsistent_heredoc(rest))
    name, raw = words[0], raw_words[0]
    expand_body = name.count("'") + name.count('"') == raw.count("'") + raw.count('"')
    return name, expand_body, dash == "-", int(fd_text) if fd_text and len(fd_text) < 19 else 0


def must_parse_heredoc(word: str) -> HeredocWord | None:
    """``parse_heredoc_word`` with errors read as "not a heredoc" (BuildKit's MustParseHeredoc)."""
    try:
        return parse_heredoc_word(word)
    except LineError:
        return None


def read_bodies(
    found: list[HeredocWord], text: str, lines: list[str], index: int, count: int, offset: int
) -> tuple[list[Heredoc], int, int]:
    """Read the bodies of ``found`` heredocs, in order, from ``lines[index:count]``; ``offset`` is the character
    offset of ``lines[index]`` in ``text``. Returns the heredocs and the index and offset after the last
    terminator line; a body the file ends in raises ``LineError``."""
    heredocs = []
    for name, expand_body, chomp, fd in found:
        body_start = min(offset, len(text))
        terminated = False
        while index < count:
            raw = lines[index]
            line_start = offset
            offset += len(raw) + 1
            index += 1
            candidate = raw.rstrip("\r\n")
            if chomp:
                candidate = candidate.lstrip("\t")
            if candidate == name:
                terminated = True
                body = text[body_start:line_start]
                break
        if not terminated:
            raise LineError(messages.unterminated_heredoc(name))
        content = _chomp(body) if chomp else body
        heredocs.append(Heredoc(name, content, expand_body, chomp, raw=body, fd=fd))
    return heredocs, index, offset


def _chomp(body: str) -> str:
    """``<<-``: strip leading tabs from every line of the body."""
    return _LEADING_TABS.sub("", body) if "\t" in body else body
