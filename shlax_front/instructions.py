"""Typed instructions: one frozen dataclass per Containerfile instruction, built from a syntax ``Node``.

Each class's docstring gives its syntax. Values are *unexpanded* (``$VAR`` kept, ENV/LABEL quotes kept) here;
``stages.py`` expands them with the ARG/ENV values in scope, the way BuildKit's dispatcher does.
``from_node`` dispatches on ``PARSERS`` and validates flags against ``FLAGS`` (BuildKit's ``BFlags``): an unknown,
duplicated or value-less flag is a located ``ParseError`` just as ``docker build`` would reject it.

The field layout of the classes is a contract other modules code against: add, never rename or remove.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from shlax_front.errors import ParseError
from shlax_front.expand import process_word

# Error messages are worded once, in the parser (its strict check and read_flags use them); they are re-exported
# here, where the typed instructions raise them and where callers and tests have always found them.
from shlax_front.parser import (
    ALLOWED_FLAGS,
    STAGE_NAME,
    FlagKind,
    go_duration_ns,
    go_int32,
    must_parse_heredoc,
    read_flags,
)
from shlax_front.parser import at_least_one_argument as at_least_one_argument
from shlax_front.parser import bad_boolean as bad_boolean
from shlax_front.parser import bad_heredoc as bad_heredoc
from shlax_front.parser import blank_names as blank_names
from shlax_front.parser import duplicate_flag as duplicate_flag
from shlax_front.parser import empty_volume as empty_volume
from shlax_front.parser import exactly_one_argument as exactly_one_argument
from shlax_front.parser import from_arguments as from_arguments
from shlax_front.parser import healthcheck_missing_command as healthcheck_missing_command
from shlax_front.parser import healthcheck_none_arguments as healthcheck_none_arguments
from shlax_front.parser import healthcheck_unknown_type as healthcheck_unknown_type
from shlax_front.parser import interval_too_short as interval_too_short
from shlax_front.parser import invalid_duration as invalid_duration
from shlax_front.parser import invalid_network as invalid_network
from shlax_front.parser import invalid_retries as invalid_retries
from shlax_front.parser import invalid_security as invalid_security
from shlax_front.parser import invalid_stage_name as invalid_stage_name
from shlax_front.parser import missing_flag_value as missing_flag_value
from shlax_front.parser import negative_retries as negative_retries
from shlax_front.parser import no_destination as no_destination
from shlax_front.parser import not_a_flag as not_a_flag
from shlax_front.parser import not_json as not_json
from shlax_front.parser import onbuild_chained as onbuild_chained
from shlax_front.parser import onbuild_forbidden as onbuild_forbidden
from shlax_front.parser import too_many_arguments as too_many_arguments
from shlax_front.parser import unknown_flag as unknown_flag
from shlax_front.parser import unknown_instruction as unknown_instruction
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


# ---------------------------------------------------------------------------------------------------------------
# Flags


FLAGS = ALLOWED_FLAGS
"""Allowed flags per instruction (the parser's table: one table for the strict check and the typed
instructions); instructions not listed take none. ``None``: flags are ignored (BuildKit)."""


@dataclass(frozen=True)
class Flags:
    """The parsed flags of one instruction: name -> value (``str``), ``bool`` or repeated values (tuple)."""

    values: tuple[tuple[str, str | bool | tuple[str, ...]], ...] = ()

    def string(self, name: str) -> str | None:
        for key, value in self.values:
            if key == name:
                return value if isinstance(value, str) else None
        return None

    def boolean(self, name: str) -> bool | None:
        for key, value in self.values:
            if key == name and isinstance(value, bool):
                return value
        return None

    def strings(self, name: str) -> tuple[str, ...]:
        for key, value in self.values:
            if key == name and isinstance(value, tuple):
                return value
        return ()


def parse_flags(words: list[str], allowed: dict[str, FlagKind]) -> Flags:
    """Read ``--name[=value]`` words like BuildKit's ``BFlags.Parse``; raises ``ValueError(message)``.

    The reading is the parser's ``read_flags`` (the strict check uses it too); this wraps the result.
    """
    if not words:
        return _NO_FLAGS
    found = read_flags(words, allowed)
    return Flags(tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in found.items()))


_NO_FLAGS = Flags()


# ---------------------------------------------------------------------------------------------------------------
# RUN --mount


MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING_MODES = ("shared", "private", "locked")
_MOUNT_KEYS = (
    "type", "from", "source", "target", "readonly", "id", "sharing", "required", "size", "mode", "uid", "gid",
    "src", "dst", "destination", "ro", "rw", "readwrite", "env",
)  # fmt: skip
_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def csv_fields(text: str) -> list[str]:
    """One CSV record (``encoding/csv`` rules: ``"..."`` quoting with ``""`` for a quote, no bare quotes)."""
    if text == "":
        return []
    fields: list[str] = []
    i, n = 0, len(text)
    while True:
        if i < n and text[i] == '"':
            i += 1
            value: list[str] = []
            while True:
                j = text.find('"', i)
                if j < 0:
                    raise ValueError('failed to parse csv mounts: extraneous or missing " in quoted-field')
                value.append(text[i:j])
                if j + 1 < n and text[j + 1] == '"':
                    value.append('"')
                    i = j + 2
                    continue
                i = j + 1
                break
            if i < n and text[i] != ",":
                raise ValueError('failed to parse csv mounts: extraneous or missing " in quoted-field')
            fields.append("".join(value))
        else:
            j = text.find(",", i)
            j = n if j < 0 else j
            value_text = text[i:j]
            if '"' in value_text:
                raise ValueError('failed to parse csv mounts: bare " in non-quoted-field')
            fields.append(value_text)
            i = j
        if i >= n:
            return fields
        i += 1  # the comma


def _go_bool(key: str, value: str) -> bool:
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE:
        return False
    raise ValueError(f"invalid value for {key}: {value}")


def _go_uint(key: str, value: str, base: int) -> int:
    digits = "01234567" if base == 8 else "0123456789"
    if not value or any(c not in digits for c in value) or int(value, base) >= 2**32:
        raise ValueError(f"invalid value {value} for {key}")
    return int(value, base)


def parse_mount(text: str, expander: Callable[[str], str] | None = None) -> Mount:
    """Parse one ``--mount=`` value the way BuildKit does; raises ``ValueError(message)``.

    Without ``expander`` (parse time) a mount whose text holds ``$`` is left unresolved, as BuildKit defers it
    to dispatch; ``from=`` never allows variables. With ``expander`` every value is expanded first.
    """
    fields = csv_fields(text)
    options = []
    for item in fields:
        key, has_value, value = item.partition("=")
        options.append((key.lower(), value if has_value else ""))
    if expander is None:
        for key, value in options:
            if key == "from" and "$" in value[:-1]:
                raise ValueError(f"'{key}' doesn't support variable expansion, define alias stage instead")
        if "$" in text:
            raw_type = next((v for k, v in options if k == "type"), "bind").lower()
            kind = raw_type if raw_type in MOUNT_TYPES and "$" not in raw_type else "bind"
            from_ = next((v for k, v in options if k == "from"), None) or None
            return Mount(type=kind, options=tuple(options), raw=text, resolved=False, from_=from_)
        expander = _expand_nothing

    typed: dict[str, object] = {"type": "bind"}
    readonly_auto = True
    for item, (key, value) in zip(fields, options, strict=True):
        if "=" not in item:
            if key in ("readonly", "ro"):
                typed["readonly"], readonly_auto = True, False
            elif key in ("readwrite", "rw"):
                typed["readonly"], readonly_auto = False, False
            elif key == "required" and typed["type"] in ("secret", "ssh"):
                typed["required"] = True
            elif key == "required":
                raise ValueError(f"unexpected key '{key}' for mount type '{typed['type']}'")
            else:
                raise ValueError(f"invalid field '{item}' must be a key=value pair")
            continue
        value = expander(value)
        if key == "type":
            if value.lower() not in MOUNT_TYPES:
                raise ValueError(f'unsupported mount type "{value}"')
            typed["type"] = value.lower()
        elif key == "from":
            typed["from_"] = value
        elif key in ("source", "src"):
            typed["source"] = value
        elif key in ("target", "dst", "destination"):
            typed["target"] = value
        elif key in ("readonly", "ro"):
            typed["readonly"], readonly_auto = _go_bool(key, value), False
        elif key in ("readwrite", "rw"):
            typed["readonly"], readonly_auto = not _go_bool(key, value), False
        elif key == "required":
            if typed["type"] not in ("secret", "ssh"):
                raise ValueError(f"unexpected key '{key}' for mount type '{typed['type']}'")
            typed["required"] = _go_bool(key, value)
        elif key == "size":
            if typed["type"] != "tmpfs":
                raise ValueError(f"unexpected key '{key}' for mount type '{typed['type']}'")
            typed["size"] = value
        elif key == "id":
            typed["id"] = value
        elif key == "sharing":
            if value.lower() not in SHARING_MODES:
                raise ValueError(f'unsupported sharing value "{value}"')
            typed["sharing"] = value.lower()
        elif key == "mode":
            typed["mode"] = _go_uint(key, value, 8)
        elif key in ("uid", "gid"):
            typed[key] = _go_uint(key, value, 10)
        elif key == "env":
            typed["env"] = value
        else:
            raise ValueError(f"unexpected key '{key}' in '{item}'")

    kind = str(typed["type"])
    if kind not in ("secret", "ssh", "cache"):
        for key in ("mode", "uid", "gid"):
            if typed.get(key) is not None:
                raise ValueError(f'{key} not allowed for "{kind}" type mounts')
    if readonly_auto:
        typed["readonly"] = kind not in ("cache", "tmpfs")
    if kind == "secret":
        if typed.get("from_"):
            raise ValueError("secret mount should not have a from")
        if typed.get("sharing"):
            raise ValueError("secret mount should not define sharing")
        if not (typed.get("source") or typed.get("target") or typed.get("id")):
            raise ValueError("invalid secret mount. one of source, target required")
        if typed.get("source") and typed.get("id"):
            raise ValueError("both source and id can't be set")
    if typed.get("sharing") and kind != "cache":
        raise ValueError(f"invalid cache sharing set for {kind} mount")
    return Mount(options=tuple(options), raw=text, **typed)  # type: ignore[arg-type]


def _expand_nothing(value: str) -> str:
    # A value without "$" expands the same in any environment: quotes and escapes are still processed.
    return process_word(value, {})


# ---------------------------------------------------------------------------------------------------------------
# Durations (HEALTHCHECK)


def _interval(flag: str, value: str | None) -> str | None:
    if not value:
        return None
    nanoseconds = go_duration_ns(value)
    if nanoseconds == 0:
        return None
    if nanoseconds < 1_000_000:
        raise ValueError(interval_too_short(flag))
    return value


# ---------------------------------------------------------------------------------------------------------------
# Node -> Instruction


def heredoc_word_name(word: str) -> str | None:
    """The heredoc name a word such as ``<<EOF``, ``<<-"EOF"`` or ``3<<x`` introduces, or None: BuildKit's
    ``MustParseHeredoc``, the same reading the parser uses to find heredocs (one piece of code for both)."""
    found = must_parse_heredoc(word)
    return None if found is None else found[0]


def node_text(node: Node) -> str:
    """The instruction as one line, for error messages."""
    if node.line:
        return node.line
    keyword = node.original or node.keyword.upper()
    return " ".join([keyword, *node.flags, node.value]).rstrip()


class _Request:
    """What an instruction parser gets: the node, its parsed flags, the upper-case name used in messages."""

    __slots__ = ("node", "flags", "name")

    def __init__(self, node: Node, flags: Flags, name: str):
        self.node = node
        self.flags = flags
        self.name = name


def _shell_or_exec(node: Node) -> tuple[str | tuple[str, ...], bool]:
    if node.json:
        return tuple(node.args), True
    return " ".join(node.args), False


def _pairs(req: _Request) -> tuple[tuple[str, str], ...]:
    args = req.node.args
    if not args:
        raise ValueError(at_least_one_argument(req.name))
    if len(args) % 3:
        raise ValueError(too_many_arguments(req.name))
    pairs = []
    for i in range(0, len(args), 3):
        if not args[i]:
            raise ValueError(blank_names(req.name))
        pairs.append((args[i], args[i + 1]))
    return tuple(pairs)


def _one(req: _Request) -> str:
    if len(req.node.args) != 1:
        raise ValueError(exactly_one_argument(req.name))
    return req.node.args[0]


def _parse_from(req: _Request) -> From:
    args = req.node.args
    name = None
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not STAGE_NAME.fullmatch(name):
            raise ValueError(invalid_stage_name(args[2]))
    elif len(args) != 1:
        raise ValueError(from_arguments())
    return From(req.node, image=args[0], name=name, platform=req.flags.string("platform") or None)


def _parse_run(req: _Request) -> Run:
    mounts = tuple(parse_mount(text) for text in req.flags.strings("mount"))
    network = req.flags.string("network")
    if network is not None and network not in ("default", "none", "host"):
        raise ValueError(invalid_network(network))
    security = req.flags.string("security")
    if security is not None and security not in ("sandbox", "insecure"):
        raise ValueError(invalid_security(security))
    command, exec_form = _shell_or_exec(req.node)
    return Run(
        req.node,
        command=command,
        exec_form=exec_form,
        mounts=mounts,
        network=network,
        security=security,
        heredocs=tuple(req.node.heredocs),
        devices=req.flags.strings("device"),
    )


def _sources_and_dest(req: _Request) -> dict[str, object]:
    args = req.node.args
    if len(args) < 2:
        raise ValueError(no_destination(req.name))
    if heredoc_word_name(args[-1]) is not None:
        raise ValueError(bad_heredoc(req.name, "a destination"))
    by_name = {doc.name: doc for doc in req.node.heredocs}
    sources, docs = [], []
    for word in args[:-1]:
        name = heredoc_word_name(word)
        if name is None:
            sources.append(word)
        else:
            docs.append(by_name.get(name, Heredoc(name=name, content="")))
    return {
        "sources": tuple(sources),
        "dest": args[-1],
        "heredocs": tuple(docs),
        "chown": req.flags.string("chown") or None,
        "chmod": req.flags.string("chmod") or None,
        "link": bool(req.flags.boolean("link")),
        "exclude": req.flags.strings("exclude"),
    }


def _parse_copy(req: _Request) -> Copy:
    return Copy(
        req.node,
        from_=req.flags.string("from") or None,
        parents=bool(req.flags.boolean("parents")),
        **_sources_and_dest(req),  # type: ignore[arg-type]
    )


def _parse_add(req: _Request) -> Add:
    return Add(
        req.node,
        checksum=req.flags.string("checksum") or None,
        keep_git_dir=bool(req.flags.boolean("keep-git-dir")),
        unpack=req.flags.boolean("unpack"),
        **_sources_and_dest(req),  # type: ignore[arg-type]
    )


def _parse_env(req: _Request) -> Env:
    return Env(req.node, pairs=_pairs(req))


def _parse_label(req: _Request) -> Label:
    return Label(req.node, pairs=_pairs(req))


def _parse_arg(req: _Request) -> Arg:
    if not req.node.args:
        raise ValueError(at_least_one_argument(req.name))
    pairs: list[tuple[str, str | None]] = []
    for word in req.node.args:
        if "=" in word:
            key, _, value = word.partition("=")
            if not key:
                raise ValueError(blank_names(req.name))
            pairs.append((key, value))
        else:
            pairs.append((word, None))
    return Arg(req.node, pairs=tuple(pairs))


def _parse_workdir(req: _Request) -> Workdir:
    return Workdir(req.node, path=_one(req))


def _parse_user(req: _Request) -> User:
    return User(req.node, user=_one(req))


def _parse_expose(req: _Request) -> Expose:
    if not req.node.args:
        raise ValueError(at_least_one_argument(req.name))
    return Expose(req.node, ports=tuple(req.node.args))


def _parse_volume(req: _Request) -> Volume:
    if not req.node.args:
        raise ValueError(at_least_one_argument(req.name))
    paths = tuple(path.strip() for path in req.node.args)
    if "" in paths:
        raise ValueError(empty_volume())
    return Volume(req.node, paths=paths)


def _parse_cmd(req: _Request) -> Cmd:
    command, exec_form = _shell_or_exec(req.node)
    return Cmd(req.node, command=command, exec_form=exec_form)


def _parse_entrypoint(req: _Request) -> Entrypoint:
    command, exec_form = _shell_or_exec(req.node)
    return Entrypoint(req.node, command=command, exec_form=exec_form)


def _parse_shell(req: _Request) -> Shell:
    if not req.node.args:
        raise ValueError(at_least_one_argument(req.name))
    if not req.node.json:
        raise ValueError(not_json(req.name))
    return Shell(req.node, argv=tuple(req.node.args))


def _parse_healthcheck(req: _Request) -> Healthcheck:
    args = req.node.args
    if not args:
        raise ValueError(at_least_one_argument(req.name))
    kind, rest = args[0].upper(), args[1:]
    if kind == "NONE":
        if rest:
            raise ValueError(healthcheck_none_arguments())
        return Healthcheck(req.node, test=("NONE",))
    flags = parse_flags(req.node.flags, FLAGS["healthcheck"])  # type: ignore[arg-type]
    if kind != "CMD":
        raise ValueError(healthcheck_unknown_type(kind))
    command = list(rest) if req.node.json else ([" ".join(rest)] if rest else [])
    if not command or (not req.node.json and not command[0]):
        raise ValueError(healthcheck_missing_command())
    test = ("CMD", *command) if req.node.json else ("CMD-SHELL", *command)
    retries_text = flags.string("retries")
    retries = None
    if retries_text:
        retries = go_int32(retries_text)
        if retries < 0:
            raise ValueError(negative_retries(retries))
    return Healthcheck(
        req.node,
        test=test,
        interval=_interval("interval", flags.string("interval")),
        timeout=_interval("timeout", flags.string("timeout")),
        start_period=_interval("start-period", flags.string("start-period")),
        start_interval=_interval("start-interval", flags.string("start-interval")),
        retries=retries,
    )


def _parse_stopsignal(req: _Request) -> Stopsignal:
    return Stopsignal(req.node, signal=_one(req))


def _parse_maintainer(req: _Request) -> Maintainer:
    return Maintainer(req.node, name=_one(req))


def _parse_onbuild(req: _Request, path: str) -> Onbuild:
    nested = req.node.next
    if nested is None:
        raise ValueError(at_least_one_argument(req.name))
    keyword = nested.keyword.upper()
    if keyword == "ONBUILD":
        raise ValueError(onbuild_chained())
    if keyword in ("MAINTAINER", "FROM"):
        raise ValueError(onbuild_forbidden(keyword))
    instruction = from_node(nested, path)
    trigger = req.node.value.strip() or node_text(nested)
    for doc in nested.heredocs or req.node.heredocs:
        # BuildKit stores the body as written: a ``<<-`` body keeps its tabs (they go when the trigger runs).
        trigger += "\n" + doc.raw + doc.name
    return Onbuild(req.node, trigger=trigger, instruction=instruction)


PARSERS: dict[str, Callable[[_Request], Instruction]] = {
    "from": _parse_from,
    "run": _parse_run,
    "copy": _parse_copy,
    "add": _parse_add,
    "env": _parse_env,
    "arg": _parse_arg,
    "label": _parse_label,
    "workdir": _parse_workdir,
    "user": _parse_user,
    "expose": _parse_expose,
    "volume": _parse_volume,
    "cmd": _parse_cmd,
    "entrypoint": _parse_entrypoint,
    "shell": _parse_shell,
    "healthcheck": _parse_healthcheck,
    "stopsignal": _parse_stopsignal,
    "maintainer": _parse_maintainer,
    "onbuild": _parse_onbuild,  # type: ignore[dict-item]  # also takes the path, for its nested instruction
}
"""keyword (lower case) -> parser of that instruction's node."""


def from_node(node: Node, path: str = "Containerfile") -> Instruction:
    """The typed instruction of ``node``; a bad instruction raises ``ParseError`` located at its first line."""
    keyword = node.keyword.lower()
    parser = PARSERS.get(keyword)
    if parser is None:
        raise ParseError(
            unknown_instruction(node.original or node.keyword), path, node.start_line, node_text(node)
        )
    try:
        allowed = FLAGS.get(keyword, {})
        flags = (
            parse_flags(node.flags, allowed)
            if allowed is not None and keyword != "healthcheck"
            else _NO_FLAGS
        )
        request = _Request(node, flags, keyword.upper())
        if keyword == "onbuild":
            return _parse_onbuild(request, path)
        return parser(request)
    except ParseError:
        raise
    except ValueError as err:
        raise ParseError(str(err), path, node.start_line, node_text(node)) from None
