"""Parse a RUN body into the simple commands it runs, with their source positions.

Recognising a package install means knowing, for each command the shell will run, its argv and whether it
runs unconditionally. The tree-sitter-bash grammar gives a full bash parse; ``shellparse`` flattens it into
``Command``s and marks the ones whose execution we cannot predict (inside ``if``/``case``/loops/functions/
subshells, after ``||``, inside ``$(...)``). Anything it cannot represent exactly makes the whole script
``opaque`` with the reason, so callers never guess. Positions are kept so that a rewrite can change one
command's text and leave the rest as written.
"""

from __future__ import annotations

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
    "parse",
]
