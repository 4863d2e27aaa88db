"""BuildKit's ``Node.Dump()`` text for a parsed document: one ``(keyword "arg" ...)`` line per instruction.

This is the format of BuildKit's parser test data (``testfiles/*/result``) and of its dumper tool, so
``shlax-front parse --dump`` can be diffed against BuildKit directly. Comments, directives, line numbers
and heredoc bodies never appear in it.
"""

from __future__ import annotations

from shlax_front.parser import GO_SPACE, INSTRUCTIONS, go_quote
from shlax_front.syntax import Document, Node

_KNOWN = frozenset(INSTRUCTIONS)


def dump_node(node: Node) -> str:
    """One instruction as BuildKit dumps it, without the surrounding parentheses."""
    parts = [node.keyword]
    if node.flags:
        parts.append("[" + " ".join(go_quote(flag) for flag in node.flags) + "]")
    if node.keyword == "onbuild":
        if node.next is not None:
            parts.append("(" + dump_node(node.next) + ")")
    elif node.keyword not in _KNOWN:
        parts.append('""')  # BuildKit keeps an empty argument node for instructions it does not know
    else:
        parts.extend(go_quote(arg) for arg in node.args)
    return " ".join(parts).strip(GO_SPACE)


def dump(doc: Document) -> str:
    """The whole document, one line per instruction, each line ending in a newline."""
    return "".join("(" + dump_node(node) + ")\n" for node in doc.nodes)
