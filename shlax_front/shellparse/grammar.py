"""The tree-sitter-bash grammar, and the checks that its tree holds the script as bash reads it.

tree-sitter-bash accepts some text without an error node yet reads it differently from bash: it skips a word
(``cat <<EOF file``, ``cat - 2>/dev/null``), reads `` `a` `b` `` as one substitution, treats a carriage return
as a blank, and reads ``! { a; }`` as the command ``{ a``. A tree with any of these makes the script opaque,
except ``! { ...; }``, which is parsed again without its ``!``.
"""

from __future__ import annotations

from collections.abc import Iterator

import tree_sitter_bash
from tree_sitter import Language, Node, Parser

from shlax_front.shellparse.model import Unsupported
from shlax_front.shellparse.words import Source, descendants

_PARSER = Parser(Language(tree_sitter_bash.language()))


def syntax_tree(src: Source) -> Node:
    """The root of ``src``'s tree; ``Unsupported`` when the grammar found an error in it."""
    root = _PARSER.parse(src.data).root_node
    if root.has_error:
        raise Unsupported(f"shell syntax not understood ({_first_error(src, root)})")
    # tree-sitter-bash reads ``! { a; }`` as the command ``{ a``: read the group without its ``!``
    bangs = [
        n.children[0] for n in _nodes(root) if n.type == "negated_command" and _bang_before_brace(src, n)
    ]
    if bangs:
        data = bytearray(src.data)
        for bang in bangs:
            data[bang.start_byte] = ord(" ")
            src.negated_groups[_next_token(src, bang.end_byte)] = bang.start_byte
        root = _PARSER.parse(bytes(data)).root_node
        if root.has_error or any(
            _bang_before_brace(src, n) for n in _nodes(root) if n.type == "negated_command"
        ):
            raise Unsupported("`! { ... }` not understood")
    misread = misread_text(src, root)
    if misread is not None:  # a carriage return (a word character to bash), a word the grammar skipped...
        raise Unsupported(f"shell text not understood: {misread[:40]!r}")
    return root


def _nodes(root: Node) -> Iterator[Node]:
    yield root
    yield from descendants(root)


def _bang_before_brace(src: Source, node: Node) -> bool:
    """The signature of the misread ``! { ...``: a negated command whose name is ``{``."""
    inner = node.named_children[0] if node.named_children else None
    name = inner.child_by_field_name("name") if inner is not None and inner.type == "command" else None
    return name is not None and src.slice(name) == "{"


def _next_token(src: Source, byte: int) -> int:
    """The byte offset of the first non-blank byte at or after ``byte``."""
    while byte < len(src.data) and src.data[byte] in b" \t\n":
        byte += 1
    return byte


def _first_error(src: Source, root: Node) -> str:
    for n in [root, *descendants(root)]:
        if n.is_missing:
            return f"missing `{n.type}` at offset {src.start(n)}"
        if n.is_error:
            return f"near `{src.slice(n)[:40]}`"
    return "error"


#: characters the shell skips between tokens
_BLANKS = frozenset(" \t\n")
#: nodes whose whole span is text the grammar read (a here-document body is text with expansions in it)
_READ_WHOLE = frozenset(
    {
        "word",
        "raw_string",
        "ansi_c_string",
        "string_content",
        "heredoc_body",
        "comment",
        "extglob_pattern",
        "regex",
    }
)


def misread_text(src: Source, root: Node) -> str | None:
    """Text of the script the tree does not hold as bash reads it, None when there is none: text no node
    covers other than blanks and line continuations (tree-sitter-bash skips some words without an error:
    ``cat <<EOF file``), or an operator token that is not its text (`` `a` `b` `` read as one substitution
    around the token ``` `` ```)."""
    covered: list[tuple[int, int]] = []
    stack = [root]
    while stack:
        n = stack.pop()
        if n.type in _READ_WHOLE or not n.children:
            covered.append((n.start_byte, n.end_byte))
            if not n.is_named and not n.children and src.slice(n).strip(" \t\n") != n.type:
                return src.slice(n)
        else:
            stack.extend(n.children)
    covered += [(b, b + 1) for b in src.negated_groups.values()]
    covered.sort()
    pos = 0
    for start, end in [*covered, (len(src.data), len(src.data))]:
        if start > pos:
            gap = src.text[src.pos(pos) : src.pos(start)].replace("\\\n", "")
            if any(ch not in _BLANKS for ch in gap):
                return gap.strip(" \t\n")
        pos = max(pos, end)
    return None
