"""What the executor runs: backend-neutral build steps, already expanded, one per instruction.

The front end (parser -> stages -> actions -> passes) decides *what* to run; ``plan.py`` turns its output into
these steps. The executor only decides *how*: buildah verbs, layers, keys, host caches. Keeping this
boundary explicit is what lets unit tests drive the executor with hand-written steps and a fake runner.

``text`` is the normalised instruction (keyword upper-case, flags and arguments as expanded) - it is what the
cache key hashes and what progress lines show. Settings that only serve the caches (``cache_env``,
``cache_mounts``) are deliberately outside the key and never reach the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shlax_front.actions import Wheelhouse
    from shlax_front.backend.deltarule import DeltaInstall
    from shlax_front.backend.npmdelta import NpmInstall


@dataclass(frozen=True)
class Location:
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class HostCache:
    """A host package cache mounted into one RUN (the executor's view of an action's ``CacheMount``).

    - ``id``: which cache (``apt-archives``, ``apt-lists``, ``pip``, ``npm``, ...): the directory under the root.
    - ``target``: where it appears in the container.
    - ``partition``: True when contents differ per distribution release/architecture (apt): the executor
      appends ``<ID>-<VERSION_ID>-<arch>`` read from the container.
    - ``host``: share the invoking user's own cache of that name (``pip`` -> ``~/.cache/pip``).
    - ``uid``/``gid``: owner the container user needs (a non-root USER must be able to write).
    - ``sharing``: ``locked`` takes an exclusive lock for the run; ``shared`` a shared one.
    """

    id: str
    target: str
    partition: bool = False
    host: str | None = None
    uid: int | None = 0
    gid: int | None = 0
    #: a user name the front end could not resolve to a uid: resolved from the container's /etc/passwd
    user: str | None = None
    sharing: str = "locked"


@dataclass(frozen=True)
class RunMount:
    """A ``RUN --mount`` written in the Containerfile, options as written."""

    type: str
    options: tuple[tuple[str, str], ...] = ()

    def get(self, key: str, default: str | None = None) -> str | None:
        for k, v in self.options:
            if k == key:
                return v
        return default


@dataclass
class Step:
    location: Location
    text: str
    #: the image history's ``created_by`` for this instruction, as bud words it (``history``); empty: none
    history: str = field(default="", kw_only=True)
    #: bud's empty history entries of the instructions just before it that have no step of their own (ARG)
    before: tuple[str, ...] = field(default=(), kw_only=True)

    #: steps that change the filesystem get their own committed layer
    changes_files = True

    @property
    def excerpt(self) -> str:
        """The instruction as error messages name it: its first line, cut to 60 characters with an ellipsis, so
        a cut is seen as one (``RUN python3 -c "import six; print(six.__versi…``), not read as the text."""
        first, *more = self.text.split("\n", 1)
        return first if len(first) <= 60 and not more else first[:59] + "…"


@dataclass
class FromStep(Step):
    """Start a stage from an image reference or from the result of an earlier stage (``stage``)."""

    image: str = "scratch"
    stage: int | None = None
    platform: str | None = None
    changes_files = False


@dataclass
class RunStep(Step):
    """Run ``argv`` (already ``SHELL + [script]`` for shell form) in the working container.

    ``env`` are values the command sees besides the image's ENV (build ARGs in scope): part of the key.
    ``files`` are (path-in-container, content, mode) written on the host and bind-mounted read-only for the run
    (heredoc scripts): part of the key through their content, never in the image.
    """

    argv: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    mounts: tuple[RunMount, ...] = ()
    network: str | None = None
    files: tuple[tuple[str, str, int], ...] = ()
    cache_mounts: tuple[HostCache, ...] = ()
    cache_env: tuple[tuple[str, str], ...] = ()
    #: which package manager's downloads this run does (``apt``, ``pip``, ``npm``) for the report, if known
    manager: str | None = None
    #: files in the image hidden (empty file mounted over them) for this run only, e.g. apt's docker-clean
    masks: tuple[str, ...] = ()
    #: the argv as written when ``argv`` is a cache-friendly rewrite: the cache key hashes this one
    original_argv: tuple[str, ...] = ()
    #: (pip executable, actions.Wheelhouse) per pip install: served from the host wheelhouse offline-first
    wheelhouse: tuple[tuple[str, Wheelhouse], ...] = ()
    #: ``--incremental``: the install the delta rule understands, or why it cannot (None: no install)
    incremental: DeltaInstall | NpmInstall | str | None = None
    #: the WORKDIR and USER the RUN runs with (already in its parent's key): bud makes a missing WORKDIR
    #: before the run, owned as ``COPY --chown=USER`` would be (``run_step.make_workdir``)
    workdir: str = ""
    user: str = ""


@dataclass
class CopyStep(Step):
    """COPY/ADD ``sources`` to ``dest``; from the context, an earlier stage (``from_stage``) or an image."""

    sources: tuple[str, ...] = ()
    dest: str = ""
    add: bool = False
    from_stage: int | None = None
    from_image: str | None = None
    chown: str | None = None
    chmod: str | None = None
    #: heredoc files (name, content): COPY <<EOF /dest
    heredocs: tuple[tuple[str, str], ...] = ()
    #: ADD --checksum (``sha256:<hex>``): the downloaded bytes must have this digest
    checksum: str | None = None
    #: COPY/ADD --exclude patterns (dockerignore syntax, relative to each source's directory)
    exclude: tuple[str, ...] = ()


@dataclass
class ConfigStep(Step):
    """An image-config change: ``options`` are ``buildah config`` flags (``--env K=V``, ``--label``, ...)."""

    options: tuple[str, ...] = ()
    changes_files = False


@dataclass
class Stage:
    """One stage: its steps in order, its name (``AS name``) and its position in the file."""

    index: int
    name: str | None
    steps: list[Step] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name or str(self.index)


@dataclass
class BuildSteps:
    """Everything the executor needs: the stages to build in order (the last is the target) and the format."""

    stages: list[Stage]
    path: str = "Containerfile"
    #: docker format is needed for HEALTHCHECK, SHELL, ONBUILD, STOPSIGNAL (buildah drops them in OCI)
    needs_docker_format: bool = False
