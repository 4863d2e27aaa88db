"""Containerfile emitter: replay the original text, re-rendering only the instructions a rewrite changed.

Why replay instead of pretty-printing: users diff our output against their own file. Comments, blank
lines, indentation, continuation style, heredoc bodies, CRLF line endings and a missing final newline
must all survive, and only a replay of the original characters guarantees that. A rewrite hands in new
text for the nodes it changed (by index in ``doc.nodes``); everything between and around them is copied.
"""

from __future__ import annotations

from collections.abc import Mapping

from shlax_front.syntax import Document


def line_ending(text: str) -> str:
    """The line terminator ``text`` ends with (``"\\r\\n"``, ``"\\n"``, or ``""``)."""
    if text.endswith("\r\n"):
        return "\r\n"
    if text.endswith("\n"):
        return "\n"
    return ""


def emit(doc: Document, replacements: Mapping[int, str] | None = None) -> str:
    """``doc.text`` with the span of each ``doc.nodes[i]`` replaced by ``replacements[i]``.

    A replacement is the new text of the whole instruction (continuations and heredoc bodies included).
    If it does not end with a newline, the replaced instruction's own line ending is appended, so a rewrite
    can pass ``"RUN --mount=type=cache,target=/root/.cache pip install x"`` without caring about CRLF files
    (in a CRLF file, a replacement written with bare ``\n`` gets ``\r\n`` throughout).
    An empty replacement deletes the instruction together with its line ending. With no replacements the
    result is ``doc.text`` itself.
    """
    if not replacements:
        return doc.text
    text = doc.text
    out: list[str] = []
    position = 0
    for index in sorted(replacements):
        if not 0 <= index < len(doc.nodes):
            raise IndexError(f"no instruction #{index} in {doc.path} ({len(doc.nodes)} instructions)")
        node = doc.nodes[index]
        new = replacements[index]
        out.append(text[position : node.start])
        if new:
            original = text[node.start : node.end]
            ending = line_ending(original)
            if ending == "\r\n" and "\r\n" not in new:
                new = new.replace("\n", "\r\n")
            if ending and not new.endswith("\n"):
                new += ending
            out.append(new)
        position = node.end
    out.append(text[position:])
    return "".join(out)
