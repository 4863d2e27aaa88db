"""What every package manager module provides: mostly class-level tables, a little parsing.

A manager module declares, as class attributes, how to recognise its commands (``executables``, verbs,
options that take a value), where its download cache lives (``caches``), what merely defeats that cache
(``defeating_flags``, ``defeating_env``, ``clean_verbs``) and what it needs to keep downloads
(``keep_flags``). ``Manager.invocation`` turns one shell ``Command`` into an ``Invocation``: its role
(install, update, clean, other), the packages and the options as written. The generic rewrite logic lives
in ``passes.py`` and reads these tables; a manager overrides a hook only where its CLI is irregular.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from shlax_front.shell import Command, Word, expand_words

INSTALL = "install"
UPDATE = "update"
CLEAN = "clean"
OTHER = "other"


@dataclass(frozen=True)
class CacheDir:
    """A cache directory of a manager. ``target`` may use ``{home}`` (the RUN user's home directory)."""

    id: str
    target: str
    sharing: str = "locked"
    partition: str | None = None
    host: str | None = None
    #: environment variable that points the manager at this cache (it is then mounted under /tmp).
    env: str | None = None
    #: what the directory holds, for explain (default: the manager's ``description``)
    what: str | None = None


@dataclass(frozen=True)
class Invocation:
    """One recognised command of a manager."""

    manager: type[Manager]
    command: Command
    role: str
    verb: str
    packages: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    #: True when some package words could not be resolved (``$PKGS`` with no known value).
    dynamic: bool = False
    #: the words that carry the verb (``install``) and the options/operands, for rewrites
    verb_word: Word | None = None
    option_words: tuple[Word, ...] = ()
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.manager.name


class Manager:
    """Base class; subclasses are registered by ``shlax_front.managers.register``."""

    name: ClassVar[str] = ""
    #: ``system`` (Packages), ``python`` (Pip) or ``node`` (Npm)
    family: ClassVar[str] = "system"
    executables: ClassVar[frozenset[str]] = frozenset()
    executable_pattern: ClassVar[str | None] = None
    install_verbs: ClassVar[frozenset[str]] = frozenset()
    update_verbs: ClassVar[frozenset[str]] = frozenset()
    clean_verbs: ClassVar[frozenset[str]] = frozenset()
    #: options that consume the next word (``-o X``) when not written ``--opt=X``
    value_options: ClassVar[frozenset[str]] = frozenset()
    #: options with an attached-value short form (``-oFoo=bar``), by prefix
    short_value_options: ClassVar[frozenset[str]] = frozenset()
    caches: ClassVar[tuple[CacheDir, ...]] = ()
    #: flags that only stop the cache from being used: removed when the cache is mounted
    defeating_flags: ClassVar[frozenset[str]] = frozenset()
    #: flags replaced by others with the same effect on the image but a usable cache
    replaced_flags: ClassVar[Mapping[str, str]] = {}
    #: environment variables that disable the cache whatever their value
    defeating_env: ClassVar[frozenset[str]] = frozenset()
    #: True when an empty value switches the setting off again (pip ignores empty values)
    env_empty_disables: ClassVar[bool] = False
    #: flags added to install/update commands so the manager keeps what it downloads (never persisted)
    keep_flags: ClassVar[tuple[str, ...]] = ()
    #: verbs the keep flags apply to (default: install and update verbs)
    keep_flag_roles: ClassVar[frozenset[str]] = frozenset({INSTALL, UPDATE})
    #: a short human description of what the cache keeps, for explain
    description: ClassVar[str] = ""

    # -- recognition -----------------------------------------------------------------------------------------
    @classmethod
    def matches(cls, command: Command) -> bool:
        name = command.name
        if name in cls.executables:
            return True
        return bool(cls.executable_pattern and re.fullmatch(cls.executable_pattern, name))

    @classmethod
    def split(cls, words: tuple[Word, ...]) -> tuple[list[Word], list[Word], Word | None]:
        """(option words incl. their values, operand words, verb word) for ``words`` after the program."""
        options: list[Word] = []
        operands: list[Word] = []
        verb: Word | None = None
        i = 0
        end_of_options = False
        while i < len(words):
            w = words[i]
            v = w.value
            if not end_of_options and v == "--":
                end_of_options = True
                options.append(w)
            elif not end_of_options and v.startswith("-") and v != "-":
                options.append(w)
                if "=" not in v and v in cls.value_options and i + 1 < len(words):
                    options.append(words[i + 1])
                    i += 1
            elif verb is None:
                verb = w
            else:
                operands.append(w)
            i += 1
        return options, operands, verb

    @classmethod
    def program_words(cls, command: Command) -> int:
        """How many words name the program (``python3 -m pip`` is 3, ``uv pip`` is 2)."""
        return 1

    @classmethod
    def invocation(cls, command: Command, variables: Mapping[str, str]) -> Invocation:
        """Classify ``command`` (already known to run this manager's executable)."""
        options, operands, verb_word = cls.split(command.args[cls.program_words(command) :])
        verb = verb_word.value if verb_word is not None else ""
        role = cls.role(verb, options, operands)
        return cls.make(command, role, verb, verb_word, options, operands, variables)

    @classmethod
    def role(cls, verb: str, options: list[Word], operands: list[Word]) -> str:
        if verb in cls.install_verbs:
            return INSTALL
        if verb in cls.update_verbs:
            return UPDATE
        if verb in cls.clean_verbs:
            return CLEAN
        return OTHER

    @classmethod
    def make(cls, command, role, verb, verb_word, options, operands, variables, **extra) -> Invocation:
        values = expand_words(operands, variables)
        dynamic = values is None or command.more_args
        packages = (
            tuple(w.value if not w.dynamic else w.text for w in operands) if values is None else tuple(values)
        )
        return Invocation(
            manager=cls,
            command=command,
            role=role,
            verb=verb,
            packages=packages if role == INSTALL else (),
            options=tuple(w.value for w in options),
            dynamic=dynamic and role == INSTALL,
            verb_word=verb_word,
            option_words=tuple(options),
            extra=extra,
        )

    # -- rewrite hooks ---------------------------------------------------------------------------------------
    @classmethod
    def is_cleanup(cls, inv: Invocation) -> bool:
        """True when ``inv`` only empties this manager's cache (neutralised when the cache is mounted)."""
        return inv.role == CLEAN
