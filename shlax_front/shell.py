"""Parse a RUN body into the simple commands it runs, with their source positions.

Recognising a package install means knowing, for each command the shell will run, its argv and whether it
runs unconditionally. The tree-sitter-bash grammar gives a full bash parse; ``shellparse`` flattens it into
``Command``s and marks the ones whose execution we cannot predict (inside ``if``/``case``/loops/functions/
subshells, after ``||``, inside ``$(...)``). Anything it cannot represent exactly makes the whole script
``opaque`` with the reason, so callers never guess. Positions are kept so that a rewrite can change one
command's text and leave the rest as written.
"""

from __future__ import annotations

import re

from shlax_front.shellparse.argv import SHELLS, SWITCH_USER_SHELLS, WRAPPERS
from shlax_front.shellparse.model import COMPUTED_SCRIPT, Command, Script, Word, expand_words
from shlax_front.shellparse.tree import parse

__all__ = [
    "COMPUTED_SCRIPT",
    "SHELLS",
    "SWITCH_USER_SHELLS",
    "WRAPPERS",
    "Command",
    "Script",
    "Word",
    "expand_words",
    "full_heredoc_command",
    "heredoc_script",
    "parse",
    "stdin_heredoc_script",
]


_STDIN_SHELL = re.compile(
    r"\s*(?:<<(?P<d1>['\"]?)(?P<n1>[A-Za-z0-9_.-]+)(?P=d1)\s+(?:/usr)?(?:/bin/)?(?:sh|bash)(?:\s+-[a-z]+)*"
    r"|(?:/usr)?(?:/bin/)?(?:sh|bash)(?:\s+-[a-z]+)*\s+<<(?P<d2>['\"]?)(?P<n2>[A-Za-z0-9_.-]+)(?P=d2))\s*"
)


def stdin_heredoc_script(value: str, heredocs) -> str | None:
    """``RUN <<EOF bash`` / ``RUN sh <<EOF``: the body is a script the shell reads on stdin (no ``<<-``)."""
    if len(heredocs) != 1 or heredocs[0].chomp:
        return None
    m = _STDIN_SHELL.fullmatch(value)
    if not m or (m.group("n1") or m.group("n2")) != heredocs[0].name:
        return None
    return heredocs[0].content


def full_heredoc_command(value: str, heredocs, body: str) -> str:
    """The text BuildKit gives SHELL for a RUN whose heredoc feeds a command: line, body, terminator."""
    return f"{value}\n{body}{heredocs[0].name}"


def heredoc_script(value: str, heredocs) -> str | None:
    """The script a ``RUN <<EOF`` runs: the heredoc body, when the command is only the heredoc marker."""
    if len(heredocs) != 1:
        return None
    if not re.fullmatch(r"\s*<<-?\s*(['\"]?)[A-Za-z0-9_.-]+\1\s*", value):
        return None
    body = heredocs[0].content
    if body.startswith("#!"):
        first = body.split("\n", 1)[0]
        interp = first[2:].strip().split()
        name = interp[-1].rsplit("/", 1)[-1] if interp else ""
        if name != "sh":  # run by its own interpreter, not by SHELL -c: a rewrite could not keep that
            return None
    return body
