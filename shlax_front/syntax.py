"""The raw syntax tree of a Containerfile: what the parser produces and the emitters replay.

A ``Node`` is one instruction exactly as BuildKit's parser sees it (``Node.Dump()`` can be printed from it),
plus the byte span of its original text so that untouched instructions are replayed verbatim.
Typed instruction classes (the ``instructions`` package) are built from these nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Heredoc:
    """One heredoc attached to an instruction (``RUN <<EOF``, ``COPY <<a.txt /dst``).

    ``content`` is the body as BuildKit hands it to the instruction: every line up to (not including)
    the terminator line, each line ending in ``\\n``; with ``chomp`` (``<<-``) leading tabs are removed.
    ``expand`` is False when the delimiter was quoted (``<<"EOF"`` or ``<<'EOF'``), so ``$vars`` stay literal.
    """

    name: str
    content: str
    expand: bool = True
    chomp: bool = False
    #: the body exactly as written (before ``<<-`` tab stripping), line endings included.
    raw: str = ""
    #: file descriptor written before ``<<`` (``3<<EOF``), 0 when none.
    fd: int = 0


@dataclass
class Node:
    """One instruction.

    - ``keyword``: lower-case instruction name (``"run"``).
    - ``flags``: leading ``--flag[=value]`` words in source order as BuildKit extracts them (quotes around a value
      removed, escapes applied: ``--chown="a b"`` gives ``"--chown=a b"``); ``--`` ends them and is not kept.
    - ``args``: the arguments as BuildKit's ``Node.Dump()`` prints them (for ENV/LABEL: key, value, separator triples;
      for JSON form: the decoded array elements; for shell-form RUN/CMD/ENTRYPOINT/SHELL: one string; HEALTHCHECK:
      the type word then the command as for CMD). Empty for ONBUILD (see ``next``) and unknown instructions.
    - ``json``: True when the arguments came from a valid JSON array (exec form).
    - ``value``: the text after the keyword and flags, with continuations joined the BuildKit way (comment and blank
      lines dropped, the escape+newline removed, next line's leading whitespace kept). Heredoc bodies excluded.
    - ``heredocs``: bodies of ``<<EOF`` heredocs started on the instruction line, in order.
    - ``next``: for ONBUILD, the nested instruction.
    - ``start_line``/``end_line``: 1-based, inclusive, covering continuation lines and heredoc bodies.
    - ``start``/``end``: character offsets into ``Document.text`` of the instruction's original text, from the first
      character of the keyword line (its leading whitespace included; a UTF-8 BOM excluded) to the end of its last line,
      line ending included. Consecutive nodes never overlap; what lies between them is comments, blank lines, directives.
    - ``original``: the keyword as written (case kept), for error messages.
    - ``line``: the whole logical line as BuildKit sees it (keyword, flags, arguments; continuations joined,
      heredoc bodies excluded): BuildKit's ``Node.Original``, used for error messages and ONBUILD triggers.
    """

    keyword: str
    args: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    json: bool = False
    value: str = ""
    heredocs: list[Heredoc] = field(default_factory=list)
    next: Node | None = None
    start_line: int = 0
    end_line: int = 0
    start: int = 0
    end: int = 0
    original: str = ""
    line: str = ""


@dataclass
class Document:
    """A parsed Containerfile: the full original text, its directives and its instruction nodes in order."""

    path: str
    text: str
    nodes: list[Node]
    escape: str = "\\"
    directives: dict[str, str] = field(default_factory=dict)
    #: (line, message) notes BuildKit prints as warnings, e.g. empty continuation lines (not errors yet).
    warnings: list[tuple[int, str]] = field(default_factory=list)

    def source_of(self, node: Node) -> str:
        """The exact original text of ``node`` (continuations, comments inside it and heredoc bodies included)."""
        return self.text[node.start : node.end]
