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
    chain = [node]
    while chain[-1].keyword == "onbuild" and chain[-1].next is not None:
        chain.append(chain[-1].next)
    text = ""
    for item in reversed(chain):  # innermost first, so ONBUILD nesting needs no recursion
        parts = [item.keyword]
        if item.flags:
            parts.append("[" + " ".join(go_quote(flag) for flag in item.flags) + "]")
        if item.keyword == "onbuild":
            if item.next is not None:
                parts.append("(" + text + ")")
        elif item.keyword not in _KNOWN:
            parts.append('""')  # BuildKit keeps an empty argument node for instructions it does not know
        else:
            parts.extend(go_quote(arg) for arg in item.args)
        text = " ".join(parts).strip(GO_SPACE)
    return text


def dump(doc: Document) -> str:
    """The whole document, one line per instruction, each line ending in a newline."""
    return "".join("(" + dump_node(node) + ")\n" for node in doc.nodes)
