"""The typed instruction classes: one frozen dataclass per Containerfile instruction (BuildKit's commands).

Why apart from their parsers: these classes are what the rest of the pipeline reads (stages, lowering, the
backend's planner); they hold data only. Each docstring gives the instruction's syntax. Values are *unexpanded*
(``$VAR`` kept, ENV/LABEL quotes kept); ``stages.py`` expands them with the ARG/ENV values in scope, the way
BuildKit's dispatcher does.

The field layout of the classes is a contract other modules code against: add, never rename or remove.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shlax_front.golang import go_duration_ns
from shlax_front.syntax import Heredoc, Node


@dataclass(frozen=True)
class Mount:
    """``RUN --mount=[type=bind|cache|tmpfs|secret|ssh,]target=<path>[,source=..][,from=..][,id=..]...``.

    ``options`` are the CSV fields in source order, keys lower-cased, values unexpanded (a bare option such as
    ``ro`` has the value ``""``). The typed fields are BuildKit's reading of them. Values may hold ``$VAR``:
    BuildKit expands them with the ARG/ENV values in scope when the RUN runs, so a mount written with a ``$``
    is ``resolved=False`` until ``stages`` expands it (only ``type``, ``raw`` and ``options`` are meaningful).
    """

    type: str  # bind (default), cache, tmpfs, secret, ssh
    options: tuple[tuple[str, str], ...] = ()
    raw: str = ""
    resolved: bool = True
    target: str | None = None
    source: str | None = None
    from_: str | None = None
    id: str | None = None
    sharing: str | None = None
    readonly: bool = False
    required: bool = False
    size: str | None = None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    env: str | None = None

    def get(self, key: str, default: str | None = None) -> str | None:
        for k, v in self.options:
            if k == key:
                return v
        return default


@dataclass(frozen=True)
class Instruction:
    node: Node = field(repr=False, compare=False)

    @property
    def line(self) -> int:
        return self.node.start_line


@dataclass(frozen=True)
class From(Instruction):
    """``FROM [--platform=<p>] <image> [AS <name>]``"""

    image: str = ""
    name: str | None = None
    platform: str | None = None


@dataclass(frozen=True)
class Run(Instruction):
    """``RUN [--mount=...]... [--network=...] [--security=...] <command>`` or exec form ``RUN ["exe", "arg"]``.

    ``command`` is the shell string (shell form) or the argv (exec form). Heredoc bodies are in ``heredocs``.
    """

    command: str | tuple[str, ...] = ""
    exec_form: bool = False
    mounts: tuple[Mount, ...] = ()
    network: str | None = None
    security: str | None = None
    heredocs: tuple[Heredoc, ...] = ()
    devices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Copy(Instruction):
    """``COPY [--from=<stage|image>] [--chown=u:g] [--chmod=m] [--link] [--parents] [--exclude=p]... <src>... <dest>``"""

    sources: tuple[str, ...] = ()
    dest: str = ""
    from_: str | None = None
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    parents: bool = False
    exclude: tuple[str, ...] = ()
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True)
class Add(Copy):
    """``ADD [--chown] [--chmod] [--checksum=<sha>] [--keep-git-dir] [--link] <src>... <dest>`` (URLs, local tars)."""

    checksum: str | None = None
    keep_git_dir: bool = False
    unpack: bool | None = None


@dataclass(frozen=True)
class Env(Instruction):
    """``ENV k=v ...`` or legacy ``ENV k v``; ``pairs`` keep source order, values unexpanded and unquoted later."""

    pairs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Arg(Instruction):
    """``ARG name[=default] ...``; a default of None means no default."""

    pairs: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class Label(Instruction):
    """``LABEL k=v ...``"""

    pairs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Workdir(Instruction):
    """``WORKDIR <path>``"""

    path: str = ""


@dataclass(frozen=True)
class User(Instruction):
    """``USER <user>[:<group>]``"""

    user: str = ""


@dataclass(frozen=True)
class Expose(Instruction):
    """``EXPOSE <port>[/<proto>] ...``"""

    ports: tuple[str, ...] = ()


@dataclass(frozen=True)
class Volume(Instruction):
    """``VOLUME ["/a", "/b"]`` or ``VOLUME /a /b``"""

    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cmd(Instruction):
    """``CMD ["exe", "arg"]`` or ``CMD command string`` (run with SHELL)."""

    command: str | tuple[str, ...] = ""
    exec_form: bool = False


@dataclass(frozen=True)
class Entrypoint(Cmd):
    """``ENTRYPOINT ["exe", "arg"]`` or ``ENTRYPOINT command string``."""


@dataclass(frozen=True)
class Shell(Instruction):
    """``SHELL ["exe", "arg"]`` (JSON form only)."""

    argv: tuple[str, ...] = ()


@dataclass(frozen=True)
class Healthcheck(Instruction):
    """``HEALTHCHECK [--interval=..] [--timeout=..] [--start-period=..] [--start-interval=..] [--retries=..] CMD ...`` or ``NONE``."""

    test: tuple[str, ...] = ()  # docker config form: ("NONE",) | ("CMD", ...) | ("CMD-SHELL", "cmd")
    interval: str | None = None
    timeout: str | None = None
    start_period: str | None = None
    start_interval: str | None = None
    retries: int | None = None

    def config(self) -> dict[str, object]:
        """The image config ``Healthcheck`` object (docker format): durations in nanoseconds, zeros left out."""
        out: dict[str, object] = {"Test": list(self.test)}
        for key, value in (
            ("Interval", self.interval),
            ("Timeout", self.timeout),
            ("StartPeriod", self.start_period),
            ("StartInterval", self.start_interval),
        ):
            nanoseconds = go_duration_ns(value) if value else 0
            if nanoseconds:
                out[key] = nanoseconds
        if self.retries:
            out["Retries"] = self.retries
        return out


@dataclass(frozen=True)
class Stopsignal(Instruction):
    """``STOPSIGNAL <signal>``"""

    signal: str = ""


@dataclass(frozen=True)
class Onbuild(Instruction):
    """``ONBUILD <instruction>``: stored as a trigger string in the image config."""

    trigger: str = ""
    instruction: Instruction | None = None


@dataclass(frozen=True)
class Maintainer(Instruction):
    """``MAINTAINER <name>`` (deprecated; sets the image author)."""

    name: str = ""
