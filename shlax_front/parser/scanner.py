"""The scanner: a file's lines -> logical instructions, the way BuildKit's ``parser.Parse`` loop reads them.

Why a module of its own: this is the one pass that knows about lines. It reads the directives at the top, joins
continuation lines (the escape character at the end of a line; comment and blank lines inside a continuation are
dropped), skips comments, hands each logical line to the line parsers, reads heredoc bodies below the lines that
start them, and records where every instruction lies (1-based lines, character offsets) so the identity emitter
can replay untouched text byte for byte.

Hot path: lines are cut with one ``str.split``; the common instruction touches each line once.
"""

from __future__ import annotations

from shlax_front import messages
from shlax_front.errors import ParseError
from shlax_front.expand import GO_SPACE
from shlax_front.parser.directives import DirectiveReader
from shlax_front.parser.heredocs import can_contain_heredoc, heredocs_from_line, read_bodies
from shlax_front.parser.lines import LineError, node_from_line
from shlax_front.parser.source import encode
from shlax_front.syntax import Document, Heredoc, Node

#: BuildKit's line buffer (bufio.MaxScanTokenSize): a line longer than this, newline included, is an error.
MAX_LINE_BYTES = 64 * 1024


def scan(text: str, path: str = "Containerfile") -> Document:
    """Containerfile ``text`` -> ``Document``, rejecting only what BuildKit's parser rejects."""
    return _Scanner(text, path).run()


class _Scanner:
    """One pass over the lines of a file, following BuildKit's ``parser.Parse`` loop."""

    def __init__(self, text: str, path: str):
        self.text = text
        self.path = path
        self.directives = DirectiveReader(path)

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
        directives = self.directives
        escape = directives.escape
        while i < count:
            raw = lines[i]
            start = offset
            offset += len(raw) + 1
            i += 1
            line = raw.rstrip("\r\n").lstrip(GO_SPACE)
            if not directives.done:
                directives.feed(line, i)
                escape = directives.escape
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
                if "<<" in logical and can_contain_heredoc(node):
                    found = heredocs_from_line(logical)
                    if found:
                        heredocs, i, offset = read_bodies(found, text, lines, i, count, offset)
                        _attach(node, heredocs)
            except LineError as err:
                raise self.error(err.message, start_line, logical) from None
            if empty_continuation:
                warnings.append((start_line, messages.empty_continuation(logical)))
            _locate(node, start_line, i, start, min(offset, len(text)), logical)
            nodes.append(node)
        if not nodes:
            raise self.error(messages.no_instructions(), max(count, 1))
        return Document(
            self.path,
            text,
            nodes,
            escape=directives.escape,
            directives=directives.directives,
            warnings=warnings,
        )

    def _check_line_lengths(self, lines: list[str], count: int) -> None:
        """BuildKit reads lines with a 64 KiB buffer and rejects a longer line (newline included)."""
        for number, line in enumerate(lines[:count], 1):
            if len(line) >= MAX_LINE_BYTES // 4 and len(encode(line)) + 1 > MAX_LINE_BYTES:
                raise self.error(messages.line_too_long(MAX_LINE_BYTES - 1), number)


def _attach(node: Node, heredocs: list[Heredoc]) -> None:
    """Heredocs belong to the instruction that starts them: an ONBUILD's nested one, and the ONBUILD too."""
    target = node.next if node.keyword == "onbuild" and node.next is not None else node
    target.heredocs = heredocs
    if target is not node:
        node.heredocs = heredocs


def _locate(node: Node, start_line: int, end_line: int, start: int, end: int, logical: str) -> None:
    """Record where ``node`` lies; an ONBUILD's nested instructions share its lines."""
    node.start_line, node.end_line, node.start, node.end = start_line, end_line, start, end
    node.line = logical
    parent, child = node, node.next
    while child is not None:
        child.start_line, child.end_line, child.start, child.end = start_line, end_line, start, end
        child.line = parent.value  # BuildKit's Original of the nested instruction
        parent, child = child, child.next
