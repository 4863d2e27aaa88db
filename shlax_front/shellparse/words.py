"""Shell words from the syntax tree: their value after quote removal, whether it is known before run time,
and their exact span in the script (tree-sitter counts bytes, callers count characters)."""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence

from tree_sitter import Node

from shlax_front.shellparse.model import Unsupported, Word

#: node types that are one shell word, or one piece of a word glued to its neighbours
WORD_TYPES = frozenset(
    {
        "word",
        "string",
        "raw_string",
        "ansi_c_string",
        "translated_string",
        "concatenation",
        "simple_expansion",
        "expansion",
        "command_substitution",
        "process_substitution",
        "arithmetic_expansion",
        "number",
        "brace_expression",
        "extglob_pattern",
        "regex",
        "test_operator",
        "variable_name",
        "$",
    }
)
#: pieces whose text is copied as written into the value: their quotes belong to a nested script or operator
_VERBATIM = frozenset({"command_substitution", "process_substitution", "expansion", "arithmetic_expansion"})
#: pieces whose value is only known at run time
_DYNAMIC = frozenset(
    {"simple_expansion", "expansion", "command_substitution", "process_substitution", "arithmetic_expansion"}
)
#: what a backslash escape means inside ``$'...'``
_ANSI_C = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "e": "\x1b",
    "E": "\x1b",
}
_ANSI_C.update({c: c for c in "\\'\"?"})


class Source:
    """A script's text and its UTF-8 bytes, with the mapping from tree-sitter's byte offsets to characters."""

    def __init__(self, text: str):
        self.text = text
        # surrogatepass: a Containerfile with invalid UTF-8 reaches us with lone surrogates
        self.data = text.encode("utf-8", "surrogatepass")
        #: ``{`` of a ``! { ...; }`` group (byte offset) -> its ``!``, which the tree was parsed without
        self.negated_groups: dict[int, int] = {}
        self._ascii = len(self.data) == len(text)
        self._byte_starts: list[int] = []
        if not self._ascii:
            pos = 0
            for ch in text:
                self._byte_starts.append(pos)
                pos += len(ch.encode("utf-8", "surrogatepass"))

    def pos(self, byte: int) -> int:
        """The character offset of byte offset ``byte``."""
        if self._ascii:
            return byte
        return bisect.bisect_left(self._byte_starts, byte) if byte < len(self.data) else len(self.text)

    def start(self, node: Node) -> int:
        return self.pos(node.start_byte)

    def end(self, node: Node) -> int:
        return self.pos(node.end_byte)

    def slice(self, node: Node) -> str:
        return self.text[self.start(node) : self.end(node)]


def descendants(node: Node, stop: frozenset[str] = frozenset()) -> Iterator[Node]:
    """``node``'s descendants in source order, not looking inside the node types in ``stop``."""
    stack = list(reversed(node.children))
    while stack:
        n = stack.pop()
        yield n
        if n.type not in stop:
            stack.extend(reversed(n.children))


def make_word(src: Source, pieces: Sequence[Node]) -> Word:
    """The word made of ``pieces`` (one node, or several glued together without a blank between them)."""
    start, end = src.start(pieces[0]), src.end(pieces[-1])
    text = src.text[start:end]
    verbatim: list[tuple[int, int]] = []
    dynamic = "`" in text or text.startswith("~")
    for piece in pieces:
        inner = [piece, *descendants(piece, _VERBATIM)]
        for n in inner:
            if n.type == "arithmetic_expansion":
                raise Unsupported("arithmetic expansion $((...)) not understood")
            if n.type in _DYNAMIC:
                dynamic = True
            if n.type in _VERBATIM:
                verbatim.append((src.start(n) - start, src.end(n) - start))
    value, static = unquote(text, verbatim)
    return Word(value=value, text=text, start=start, end=end, dynamic=dynamic or not static)


def unquote(text: str, verbatim: Sequence[tuple[int, int]] = ()) -> tuple[str, bool]:
    """(value of the word ``text`` after quote removal, False when an escape could not be decoded).

    The spans in ``verbatim`` (substitutions and ``${...}``) are kept as written."""
    out: list[str] = []
    starts = dict(verbatim)
    static = True
    i, n = 0, len(text)
    quote: str | None = None
    while i < n:
        if i in starts and quote != "'":
            out.append(text[i : starts[i]])
            i = starts[i]
            continue
        ch = text[i]
        if quote == "'":
            if ch == "'":
                quote = None
            else:
                out.append(ch)
        elif quote == '"':
            if ch == '"':
                quote = None
            elif ch == "\\" and i + 1 < n and text[i + 1] in '$`"\\\n':
                if text[i + 1] != "\n":
                    out.append(text[i + 1])
                i += 1
            else:
                out.append(ch)
        elif ch == "\\":
            if i + 1 < n and text[i + 1] != "\n":
                out.append(text[i + 1])
            i += 1
        elif ch == "'":
            quote = "'"
        elif ch == '"':
            quote = '"'
        elif ch == "$" and text.startswith("$'", i):
            decoded, i, ok = _ansi_c(text, i + 2)
            out.append(decoded)
            static = static and ok
            continue
        elif ch == "$" and text.startswith('$"', i):
            quote = '"'
            i += 1
        else:
            out.append(ch)
        i += 1
    return "".join(out), static


def _ansi_c(text: str, i: int) -> tuple[str, int, bool]:
    """The value of a ``$'...'`` string whose body starts at ``i``, the position after it, and False when it
    uses an escape this reader does not decode (``\\u``, ``\\c``...)."""
    out: list[str] = []
    ok = True
    n = len(text)
    while i < n and text[i] != "'":
        ch = text[i]
        if ch != "\\" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        esc = text[i + 1]
        if esc in _ANSI_C:
            out.append(_ANSI_C[esc])
            i += 2
        elif esc == "x":
            digits = _hex_digits(text, i + 2, 2)
            if digits:
                out.append(chr(int(digits, 16)))
            else:
                out.append("\\x")
            i += 2 + len(digits)
        elif esc in "01234567":
            j = i + 1
            while j < n and j < i + 4 and text[j] in "01234567":
                j += 1
            out.append(chr(int(text[i + 1 : j], 8) & 0xFF))
            i = j
        else:
            ok = ok and esc not in "uUc"
            out.append("\\" + esc)
            i += 2
    return "".join(out), i + 1, ok


def _hex_digits(text: str, i: int, most: int) -> str:
    j = i
    while j < len(text) and j < i + most and text[j] in "0123456789abcdefABCDEF":
        j += 1
    return text[i:j]


def word_runs(src: Source, pieces: Sequence[Node], separators: Sequence[Node] = ()) -> list[list[Node]]:
    """``pieces`` grouped into shell words: pieces with nothing between them are one word, a blank or one of
    ``separators`` (redirections) ends a word. A line continuation alone between two pieces would join them
    in the shell but not in the tree: not understood."""
    runs: list[list[Node]] = []
    for piece in pieces:
        if runs:
            end, start = runs[-1][-1].end_byte, piece.start_byte
            separated = any(end <= s.start_byte and s.end_byte <= start for s in separators)
            gap = src.text[src.pos(end) : src.pos(start)]
            if not gap and not separated:
                runs[-1].append(piece)
                continue
            if gap and not separated and not gap.replace("\\\n", ""):
                raise Unsupported("a word split over a line continuation is not understood")
            if not separated and "\n" in gap.replace("\\\n", ""):  # a line break ends a command in bash
                raise Unsupported("a command read across a line break")
        runs.append([piece])
    return runs
