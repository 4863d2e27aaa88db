"""The action IR: what a build does, independent of how it is written (Containerfile, recipe) or run
(buildah executor, optimised Containerfile).

Every action is a frozen dataclass, comparable by value, so a migrated recipe can be checked to evaluate to
the same actions as the Containerfile it came from. Source positions (``line``) never take part in equality.

Actions that come from a RUN keep the script exactly as written (``run``): recognising an install never
changes what is executed. What a rewrite pass decides is stored in ``caching`` (a ``Caching``): the cache
mounts, per-run settings and the rewritten script. Both the optimize emitter and the buildah executor read
that one description; neither contains rewrite logic of its own.
"""

from __future__ import annotations

from dataclasses import MISSING as _MISSING_FACTORY
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING

from shlax_front.syntax import Heredoc

if TYPE_CHECKING:
    from shlax_front.scope import Step

# --------------------------------------------------------------------------------------------------------------
# What a cached action needs at run time
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheMount:
    """A package cache mounted for one RUN only, so its content never enters the image.

    - ``id``: stable name of the cache (``apt-archives``), shared by every build that uses it.
    - ``target``: directory inside the container.
    - ``sharing``: ``locked`` for system package managers (one writer at a time), ``shared`` for pip/npm.
    - ``uid``/``gid``: owner inside the container (the RUN's USER); None with ``user`` set means the user is a
      name the front end cannot resolve: the executor resolves it, the optimize emitter leaves the RUN alone.
    - ``partition``: ``os-release``: contents are only valid for one distribution release and architecture
      (the executor keeps one host directory per ``/etc/os-release`` ID+VERSION_ID and arch).
    - ``host``: ``pip-user`` / ``npm-user``: the executor may back it with the invoking user's own cache
      (``~/.cache/pip``, ``~/.npm``) instead of a private directory.

    Not ``instructions.Mount``: that is BuildKit's reading of a ``--mount`` flag someone wrote (its CSV
    options, source text, every mount type). This is a decision of the passes, with the host-side policy
    (``partition``, ``host``, a ``user`` still to resolve) that no ``--mount`` flag can say; the optimize
    emitter renders it as a flag, the executor as a host directory.
    """

    id: str
    target: str
    sharing: str = "locked"
    uid: int | None = None
    gid: int | None = None
    user: str | None = None
    partition: str | None = None
    host: str | None = None


@dataclass(frozen=True)
class Wheelhouse:
    """What the executor needs to keep pip's downloads itself (pip's HTTP cache keeps nothing behind proxies
    that strip caching headers): the requirement specs and files (paths inside the container) and the index
    options, so it can ``pip download`` them into a host wheelhouse and run the install with ``--find-links``.
    """

    packages: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    pre: bool = False


@dataclass(frozen=True)
class Caching:
    """The run-time side of a cached action, decided by the passes.

    - ``mounts``: cache directories to mount for this RUN.
    - ``env``: environment set for this RUN only (never written to the image config).
    - ``mask``: files in the image hidden for this RUN only (``/etc/apt/apt.conf.d/docker-clean``); the
      executor bind-mounts an empty file over each one that exists. ``script`` already neutralises them in a
      way a plain ``RUN`` can express, so an executor that mounts them does no harm either.
    - ``script``: the rewritten shell script (only flags/clean-ups that defeat caching removed, cache-keeping
      command-line settings added), to run as ``SHELL + [script]``. For ``RUN <<EOF bash`` (a heredoc fed to
      a shell) it is the whole text BuildKit hands to SHELL: the command line, the rewritten body, the
      terminator.
    - ``edits``: the same rewrite as (start, end, replacement) spans of the original script (the RUN body
      after continuation joining, or the heredoc body), so an emitter can change only those characters.
    - ``changes``: one human sentence per rewrite, for ``explain`` and ``--explain``.
    - ``wheelhouse``: for pip installs, what a host wheelhouse needs.
    """

    mounts: tuple[CacheMount, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    mask: tuple[str, ...] = ()
    script: str = ""
    edits: tuple[tuple[int, int, str], ...] = ()
    changes: tuple[str, ...] = ()
    wheelhouse: tuple[Wheelhouse, ...] = ()


# --------------------------------------------------------------------------------------------------------------
# Actions
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """Base of every action. ``line`` is where it came from (0 for recipes) and ``node`` the index of its
    instruction in the parsed ``Document`` (-1 for recipes); neither is part of equality."""

    line: int = field(default=0, kw_only=True, compare=False, repr=False)
    node: int = field(default=-1, kw_only=True, compare=False, repr=False)
    #: the scope walker's record of the instruction it came from (``scope.Step``: its expansion under the
    #: consumer's rules and the scope it runs in); None for recipes
    step: Step | None = field(default=None, kw_only=True, compare=False, repr=False)

    def evolve(self, **changes) -> Action:
        return replace(self, **changes)


@dataclass(frozen=True)
class RunLike(Action):
    """Fields shared by everything a RUN lowers to.

    ``run`` is the command as written (shell string, or argv tuple for exec form); ``mounts``/``network``/
    ``security`` are the RUN's own flags as written (``--mount=...`` strings). ``heredocs`` are the bodies the
    RUN line refers to. ``caching`` is filled by the passes; ``notes`` says why something was left alone
    (both excluded from equality: they are derived, not written).
    """

    run: str | tuple[str, ...] = field(default="", kw_only=True)
    mounts: tuple[str, ...] = field(default=(), kw_only=True)
    network: str | None = field(default=None, kw_only=True)
    security: str | None = field(default=None, kw_only=True)
    heredocs: tuple[Heredoc, ...] = field(default=(), kw_only=True)
    caching: Caching | None = field(default=None, kw_only=True, compare=False)
    notes: tuple[str, ...] = field(default=(), kw_only=True, compare=False)

    @property
    def exec_form(self) -> bool:
        return isinstance(self.run, tuple)


@dataclass(frozen=True, init=False)
class Run(RunLike):
    """A RUN: executed exactly as written unless ``caching`` says otherwise. ``installs`` lists the installs
    recognised inside it when it does more than one install (derived from ``run``, so not compared)."""

    installs: tuple[Install, ...] = field(default=(), kw_only=True, compare=False)

    def __init__(self, run: str | tuple[str, ...] = "", **kw):
        _init(self, Run, run=run if isinstance(run, str) else tuple(run), **kw)


class Install(RunLike):
    """Marker base for recognised installs (``Packages``, ``Pip``, ``Npm``); each has ``packages``."""


@dataclass(frozen=True, init=False)
class Packages(Install):
    """A system package manager install: ``Packages('curl', 'git=1:2.39*', manager='apt', update=True)``.

    ``packages`` keep their pins as written (``name=version`` for apt, ``name>=1`` for apk...);
    ``update``: an index update runs before the install in the same RUN; ``options``: the manager options
    as written; ``virtual``: apk's ``--virtual`` group name.
    """

    packages: tuple[str, ...] = ()
    manager: str = "apt"
    update: bool = False
    options: tuple[str, ...] = ()
    virtual: str | None = None

    def __init__(self, *packages: str, **kw):
        _init(self, Packages, **({"packages": tuple(packages)} | kw))


@dataclass(frozen=True, init=False)
class Pip(Install):
    """A Python install: ``Pip('flask==3.0', requirements=('/app/requirements.txt',))``.

    ``tool`` is ``pip`` or ``uv``; ``executable`` the program as written (``pip3``, ``/venv/bin/pip``,
    ``python3 -m pip``); ``user`` for ``--user``; ``editable`` for ``-e`` targets.
    """

    packages: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    editable: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    user: bool = False
    tool: str = "pip"
    executable: str = "pip"

    def __init__(self, *packages: str, **kw):
        _init(self, Pip, **({"packages": tuple(packages)} | kw))


@dataclass(frozen=True, init=False)
class Npm(Install):
    """A JavaScript install: ``Npm(verb='ci')`` or ``Npm('typescript', tool='npm', options=('-g',))``.

    ``tool``: npm, yarn or pnpm; ``verb``: install, ci, add...; ``cwd``: directory set by a ``cd`` before it
    in the same RUN (None: the WORKDIR).
    """

    packages: tuple[str, ...] = ()
    tool: str = "npm"
    verb: str = "install"
    options: tuple[str, ...] = ()
    cwd: str | None = None

    def __init__(self, *packages: str, **kw):
        _init(self, Npm, **({"packages": tuple(packages)} | kw))


@dataclass(frozen=True, init=False)
class Copy(Action):
    """``COPY``/``ADD``: ``Copy('requirements.txt', '/app/')`` (last argument is the destination)."""

    sources: tuple[str, ...] = ()
    dest: str = ""
    from_: str | None = None
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    parents: bool = False
    exclude: tuple[str, ...] = ()
    add: bool = False
    checksum: str | None = None
    keep_git_dir: bool = False
    heredocs: tuple[Heredoc, ...] = ()

    def __init__(self, *paths: str, **kw):
        if paths:
            kw.setdefault("sources", tuple(paths[:-1]))
            kw.setdefault("dest", paths[-1])
        _init(self, Copy, **kw)


@dataclass(frozen=True)
class Env(Action):
    pairs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Arg(Action):
    pairs: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class Label(Action):
    pairs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Workdir(Action):
    path: str = ""


@dataclass(frozen=True)
class User(Action):
    user: str = ""


@dataclass(frozen=True)
class Expose(Action):
    ports: tuple[str, ...] = ()


@dataclass(frozen=True)
class Volume(Action):
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cmd(Action):
    command: str | tuple[str, ...] = ""


@dataclass(frozen=True)
class Entrypoint(Action):
    command: str | tuple[str, ...] = ""


@dataclass(frozen=True)
class Shell(Action):
    argv: tuple[str, ...] = ()


@dataclass(frozen=True)
class Healthcheck(Action):
    test: tuple[str, ...] = ()
    interval: str | None = None
    timeout: str | None = None
    start_period: str | None = None
    start_interval: str | None = None
    retries: int | None = None


@dataclass(frozen=True)
class Stopsignal(Action):
    signal: str = ""


@dataclass(frozen=True)
class Onbuild(Action):
    trigger: str = ""


@dataclass(frozen=True)
class Maintainer(Action):
    name: str = ""


@dataclass(frozen=True)
class Stage(Action):
    """One build stage: ``base`` image or earlier stage name, optional ``name`` (``AS``), its actions."""

    actions: tuple[Action, ...] = ()
    base: str = "scratch"
    name: str | None = None
    platform: str | None = None
    #: image name to commit this stage as (recipes); not part of equality
    commit: str | None = field(default=None, compare=False)
    #: the stage's position in the file, and the earlier stage it is built on (None: an image)
    index: int = field(default=-1, compare=False, repr=False)
    base_stage: int | None = field(default=None, compare=False, repr=False)


CONFIG_ACTIONS = (
    Env,
    Arg,
    Label,
    Workdir,
    User,
    Expose,
    Volume,
    Cmd,
    Entrypoint,
    Shell,
    Healthcheck,
    Stopsignal,
    Onbuild,
    Maintainer,
)


def _init(obj, cls, **kw) -> None:
    """Keyword constructor for the frozen classes that take positional packages: defaults, then ``kw``."""
    names = {f.name for f in fields(cls)}
    unknown = set(kw) - names
    if unknown:
        raise TypeError(f"{cls.__name__}() got unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    for f in fields(cls):
        if f.name in kw:
            value = kw[f.name]
            if isinstance(value, list):
                value = tuple(value)
        elif f.default_factory is not _MISSING_FACTORY:  # type: ignore[misc]
            value = f.default_factory()  # type: ignore[misc]
        else:
            value = f.default
        object.__setattr__(obj, f.name, value)
