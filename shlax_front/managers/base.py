"""What every package manager module provides: mostly class-level tables, a little parsing.

A manager module declares, as class attributes, how to recognise its commands (``executables``, verbs,
options that take a value), where its download caches live and who owns them (``caches``, ``user_owned``),
what merely defeats those caches (``defeating_flags``, ``defeating_env``, ``clean_verbs``, ``clean_empties``)
and what it needs to keep downloads for one run (``keep_flags``, ``executable_keep_flags``, a ``CleanHook``).
``Manager.invocation`` turns one shell ``Command`` into an ``Invocation``: its role (install, update, clean,
other), the packages and the options as written. The generic rewrite rule (``rewrite.py``) reads these
tables; a manager overrides a hook (``blocker``, ``wheelhouse``, the parsing ones) only where a table
cannot say it.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, NamedTuple

from shlax_front.shell import Command, Script, Word, expand_words

if TYPE_CHECKING:
    from shlax_front.actions import Wheelhouse
    from shlax_front.passes import Context, Owner

INSTALL = "install"
UPDATE = "update"
CLEAN = "clean"
OTHER = "other"

#: Where the language package managers' caches are mounted (their env variable points them there): a
#: directory directly under /tmp, so no parent directory is ever created in the image for the mount point.
RELOCATED_PREFIX = "/tmp/.shlax-front-"


@dataclass(frozen=True)
class CleanHook:
    """A file of the base image that makes the manager delete what it downloaded (the official Debian and
    Ubuntu images' ``docker-clean``). While the cache it empties is mounted, the RUN moves it aside and puts
    it back on exit, and the executor hides it for that run: the setting never persists."""

    path: str
    #: where the file waits while the RUN runs
    parked: str
    #: what it deletes, for the notes (``debs``)
    deletes: str

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    @property
    def park_prefix(self) -> str:
        """The shell text put before the script: park the file, restore it when the shell exits."""
        return f"mv {self.path} {self.parked} 2>/dev/null && trap 'mv {self.parked} {self.path}' EXIT; "


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
    #: only mounted when one of these executables installs in the RUN (empty: any of the manager's)
    only_for: frozenset[str] = frozenset()
    #: the package lists: whether a RUN leaves them in the image matters to later RUNs
    lists: bool = False
    #: a file of the image that deletes this cache's content, parked while the cache is mounted
    clean_hook: CleanHook | None = None
    #: the target linters and tutorials know (hadolint's DL3042 accepts a pip install only with a cache mount
    #: on ``.cache/pip``): for root it is mounted there, not relocated under /tmp (``cache_targets``)
    standard: bool = False


class Target(NamedTuple):
    """Where one cache is mounted for a RUN; ``relocate`` names the environment variable that must point
    the manager there (set when the cache was moved under /tmp because the user's home is not known)."""

    cache: CacheDir
    path: str
    relocate: str | None


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
    """Base class; a module lists its subclasses in ``MANAGERS`` and ``managers.MODULES`` names the module."""

    name: ClassVar[str] = ""
    #: ``system`` (Packages), ``python`` (Pip) or ``node`` (Npm)
    family: ClassVar[str] = "system"
    #: True: the manager runs as the RUN's user and its caches belong to that user (under their home,
    #: mounted with their uid/gid); False: it must run as root and its caches are root's
    user_owned: ClassVar[bool] = False
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
    #: executable -> (options put right after it on installs, why): one binary of the manager that
    #: deletes its downloads where the others keep them
    executable_keep_flags: ClassVar[Mapping[str, tuple[str, str]]] = {}
    #: clean-up verb -> ids of the caches it empties; it is dropped only when all of them are mounted (a
    #: verb not listed is dropped whenever the manager's cache is)
    clean_empties: ClassVar[Mapping[str, tuple[str, ...]]] = {}
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

    @classmethod
    def cache_targets(cls, owner: Owner, env: Mapping[str, str], invs: list[Invocation]) -> list[Target]:
        """Where each cache goes for this user: the directory its environment variable names (ENV/ARG or the
        commands' own prefix), else its usual place; a cache under an unknown home is relocated under /tmp
        (and left out when the manager cannot be pointed there)."""
        out = []
        for cache in cls.caches:
            relocate = None
            prefix_values = {
                i.command.env_value(cache.env) for i in invs if cache.env and i.command.env_value(cache.env)
            }
            if cache.env and cache.env in env:
                target = env[cache.env]
            elif len(prefix_values) == 1:
                target = prefix_values.pop()
            elif cache.standard and owner.root and owner.home == "/root" and "XDG_CACHE_HOME" not in env:
                # root's own cache directory, where the manager looks without being told: ``/root`` is in
                # every image, so the mount point buildah makes there leaves at most its parent (``.cache``)
                target = cache.target.format(home="/root")
            elif "{home}" in cache.target and cache.env:
                _cache, target, relocate = cls.relocated(cache, owner)
            elif "{home}" in cache.target:
                if not owner.home:
                    continue
                target = cache.target.format(home=owner.home.rstrip("/") or "")
            else:
                target = cache.target
            out.append(Target(cache, target, relocate))
        return out

    @classmethod
    def relocated(cls, cache: CacheDir, owner: Owner) -> Target:
        """A user's cache directory relocated to a directory directly under /tmp (its environment variable
        points the manager there): its parents may not exist in the image, and buildah 1.28 leaves the parents
        it creates for a mount point behind. One directory per user: a cache created for one uid is not
        writable by another."""
        assert cache.env is not None
        suffix = (
            f"-{owner.uid}"
            if owner.uid
            else (f"-{re.sub(r'[^A-Za-z0-9_.-]', '-', owner.name)}" if owner.name else "")
        )
        return Target(cache, f"{RELOCATED_PREFIX}{cache.id}{suffix}", cache.env)

    @classmethod
    def blocker(
        cls, cache: CacheDir, target: str, invs: list[Invocation], script: Script, ctx: Context
    ) -> str | None:
        """A note saying why ``cache`` must not be mounted for this RUN, or None when it may be."""
        return None

    @classmethod
    def wheelhouse(cls, inv: Invocation) -> Wheelhouse | None:
        """What a host wheelhouse needs to serve install ``inv`` (None: the manager has no wheelhouse)."""
        return None
