"""What the shell analysis hands to the rest: words with their source spans, simple commands, scripts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

_SIMPLE_PARAM = re.compile(r"^\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})$")

#: why a ``sh -c``/``su -c`` string is not looked into (``Command.conditional`` of its marker command)
COMPUTED_SCRIPT = "shell -c with a computed script"


class Unsupported(Exception):
    """Raised while walking a script that holds something we cannot represent exactly; the message is the
    reason the script stays opaque."""


@dataclass(frozen=True)
class Word:
    """One shell word: ``value`` after quote removal, ``text`` as written, ``start``/``end`` in the script."""

    value: str
    text: str
    start: int
    end: int
    #: True when the word's value depends on the run time (``$VAR``, ``$(...)``, backquotes).
    dynamic: bool = False

    def variable(self) -> str | None:
        """The variable name when the whole word is ``$NAME`` or ``${NAME}`` (unquoted), else None."""
        m = _SIMPLE_PARAM.match(self.text)
        return (m.group(1) or m.group(2)) if m else None

    def shifted(self, offset: int) -> Word:
        return replace(self, start=self.start + offset, end=self.end + offset)

    def unplaced(self) -> Word:
        """The same word with no position (it has no 1:1 mapping onto the source)."""
        return replace(self, start=-1, end=-1)


@dataclass(frozen=True)
class Command:
    """A simple command the script runs.

    ``words`` is the full argv as written (wrappers such as ``sudo``/``env`` included); ``argv_index`` is where
    the real program starts after them. ``env`` holds ``NAME=value`` prefixes (and ``env NAME=value``).
    ``conditional`` tells why we cannot be sure the command runs (None: it runs whenever the commands before
    it in the top-level ``&&``/``;`` chain succeeded). ``removable`` is True when it sits in a plain ``&&``/``;``
    chain and can be deleted together with one adjacent operator without changing the rest.
    """

    words: tuple[Word, ...]
    env: tuple[Word, ...]
    start: int
    end: int
    argv_index: int = 0
    conditional: str | None = None
    in_pipeline: bool = False
    redirects: bool = False
    removable: bool = False
    #: source span to delete to remove this command with one neighbouring operator (when ``removable``).
    removal: tuple[int, int] | None = None
    #: 0 for the RUN body itself, 1 inside ``sh -c '...'`` or ``$(...)``, and so on.
    depth: int = 0
    #: more arguments come from stdin (``xargs apt-get install -y < list``)
    more_args: bool = False
    #: the regions (if branch, loop body, right of ``||``, subshell...) the command sits in, outermost
    #: first; a command whose ``block`` is a prefix of another's runs whenever that other one's region runs.
    block: tuple[int, ...] = ()
    #: the user the command runs as when ``su``/``gosu``/``runuser``/``sudo`` switched to another one
    #: (``user`` or ``user:group`` as written; ``?`` when it cannot be told), None when unchanged.
    run_as: str | None = None

    def encloses(self, other: Command) -> bool:
        """True when this command's region contains ``other``'s (it runs whenever ``other``'s region does)."""
        return other.block[: len(self.block)] == self.block

    @property
    def argv(self) -> list[str]:
        return [w.value for w in self.words[self.argv_index :]]

    @property
    def args(self) -> tuple[Word, ...]:
        return self.words[self.argv_index :]

    @property
    def program(self) -> str:
        return self.words[self.argv_index].value if len(self.words) > self.argv_index else ""

    @property
    def name(self) -> str:
        """The program's base name (``/usr/bin/pip3`` -> ``pip3``)."""
        return self.program.rsplit("/", 1)[-1]

    def env_value(self, name: str) -> str | None:
        for w in self.env:
            key, _, value = w.value.partition("=")
            if key == name:
                return value
        return None

    def shifted(self, offset: int) -> Command:
        """The command of a nested script moved to where that script starts in the outer one. Never
        removable: deleting inside a quoted string is possible but not worth the risk."""
        return replace(
            self,
            words=tuple(w.shifted(offset) for w in self.words),
            env=tuple(w.shifted(offset) for w in self.env),
            start=self.start + offset,
            end=self.end + offset,
            removal=(self.removal[0] + offset, self.removal[1] + offset) if self.removal else None,
            removable=False,
        )

    def unplaced(self) -> Command:
        """The command of a nested script whose text does not map 1:1 onto the source: no positions."""
        return replace(
            self,
            words=tuple(w.unplaced() for w in self.words),
            env=tuple(w.unplaced() for w in self.env),
            start=-1,
            end=-1,
            removal=None,
            removable=False,
        )


@dataclass(frozen=True)
class Script:
    """A parsed script: its commands in execution order, or ``opaque`` with the reason it could not be parsed."""

    text: str
    commands: tuple[Command, ...] = ()
    opaque: str | None = None
    #: Whole-script facts a rewrite must respect (``set -e`` seen, ``trap`` used...).
    notes: tuple[str, ...] = field(default=())


def expand_words(words: tuple[Word, ...] | list[Word], variables: Mapping[str, str]) -> list[str] | None:
    """Values of ``words`` with whole-word ``$VAR`` replaced by the known value split on whitespace.

    None when any word depends on something not known here (unknown variable, ``$(...)``, partial expansion).
    """
    out: list[str] = []
    for w in words:
        if not w.dynamic:
            out.append(w.value)
            continue
        name = w.variable()
        if name is None or name not in variables:
            return None
        out.extend(variables[name].split())
    return out
