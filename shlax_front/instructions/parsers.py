"""Node -> typed instruction, with BuildKit's instruction rules next to each instruction's parser.

Why the rules sit here: BuildKit checks an instruction where it types it (its ``instructions`` package), and so do
we, at two depths that share one wording (``messages.py``) and one flag table (``parser.flags``):

- ``check`` (run by the strict ``parse``) applies the rules to raw nodes without building anything: unknown
  instructions, argument counts, flags, ``FROM ... AS`` names, ONBUILD triggers, HEALTHCHECK options.
- ``from_node`` builds the typed instruction (``classes.py``) and rejects what only typing finds (``RUN
  --network`` values, mount options, ...).

For each instruction its ``_check_*`` (if any) and its ``_parse_*`` stand together below; ``CHECKS`` and
``PARSERS`` are the dispatch tables.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable

from shlax_front import messages
from shlax_front.errors import ParseError
from shlax_front.expand import GO_SPACE
from shlax_front.golang import GoIntError, go_duration_ns, go_int32
from shlax_front.instructions.classes import (
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Instruction,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    Stopsignal,
    User,
    Volume,
    Workdir,
)
from shlax_front.instructions.flags import FLAGS, NO_FLAGS, Flags, parse_flags
from shlax_front.instructions.mounts import parse_mount
from shlax_front.parser.flags import ALLOWED_FLAGS, FlagError, FlagKind, read_flags
from shlax_front.parser.heredocs import must_parse_heredoc
from shlax_front.parser.lines import INSTRUCTIONS
from shlax_front.syntax import Document, Heredoc, Node

#: A valid ``FROM ... AS name`` (BuildKit's stage name rule, on the lower-cased name).
STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")


# ---------------------------------------------------------------------------------------------------------------
# shared readings


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


# ---------------------------------------------------------------------------------------------------------------
# FROM


def _check_from(node: Node) -> str | None:
    args = node.args
    if len(args) == 3 and args[1].lower() == "as":
        if not STAGE_NAME.fullmatch(args[2].lower()):
            return messages.invalid_stage_name(args[2])
    elif len(args) != 1:
        return messages.from_arguments()
    return None


def _parse_from(req: _Request) -> From:
    args = req.node.args
    name = None
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not STAGE_NAME.fullmatch(name):
            raise ValueError(messages.invalid_stage_name(args[2]))
    elif len(args) != 1:
        raise ValueError(messages.from_arguments())
    return From(req.node, image=args[0], name=name, platform=req.flags.string("platform") or None)


# ---------------------------------------------------------------------------------------------------------------
# RUN, CMD, ENTRYPOINT, SHELL


def _parse_run(req: _Request) -> Run:
    mounts = tuple(parse_mount(text) for text in req.flags.strings("mount"))
    network = req.flags.string("network")
    if network is not None and network not in ("default", "none", "host"):
        raise ValueError(messages.invalid_network(network))
    security = req.flags.string("security")
    if security is not None and security not in ("sandbox", "insecure"):
        raise ValueError(messages.invalid_security(security))
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


def _parse_cmd(req: _Request) -> Cmd:
    command, exec_form = _shell_or_exec(req.node)
    return Cmd(req.node, command=command, exec_form=exec_form)


def _parse_entrypoint(req: _Request) -> Entrypoint:
    command, exec_form = _shell_or_exec(req.node)
    return Entrypoint(req.node, command=command, exec_form=exec_form)


def _check_shell(node: Node) -> str | None:
    if not node.args:
        return messages.at_least_one_argument("SHELL")
    if not node.json:
        return messages.not_json("SHELL")
    return None


def _parse_shell(req: _Request) -> Shell:
    if not req.node.args:
        raise ValueError(messages.at_least_one_argument(req.name))
    if not req.node.json:
        raise ValueError(messages.not_json(req.name))
    return Shell(req.node, argv=tuple(req.node.args))


# ---------------------------------------------------------------------------------------------------------------
# COPY, ADD


def _check_copy(node: Node) -> str | None:
    name = node.keyword.upper()
    if len(node.args) < 2:
        return messages.no_destination(name)
    if must_parse_heredoc(node.args[-1]) is not None:
        return messages.bad_heredoc(name, "a destination")
    return None


def _sources_and_dest(req: _Request) -> dict[str, object]:
    args = req.node.args
    if len(args) < 2:
        raise ValueError(messages.no_destination(req.name))
    if heredoc_word_name(args[-1]) is not None:
        raise ValueError(messages.bad_heredoc(req.name, "a destination"))
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


# ---------------------------------------------------------------------------------------------------------------
# ENV, LABEL, ARG


def _check_pairs(node: Node) -> str | None:
    name = node.keyword.upper()
    if not node.args:
        return messages.at_least_one_argument(name)
    if any(node.args[i] == "" for i in range(0, len(node.args), 3)):
        return messages.blank_names(name)
    return None


def _pairs(req: _Request) -> tuple[tuple[str, str], ...]:
    args = req.node.args
    if not args:
        raise ValueError(messages.at_least_one_argument(req.name))
    if len(args) % 3:
        raise ValueError(messages.too_many_arguments(req.name))
    pairs = []
    for i in range(0, len(args), 3):
        if not args[i]:
            raise ValueError(messages.blank_names(req.name))
        pairs.append((args[i], args[i + 1]))
    return tuple(pairs)


def _parse_env(req: _Request) -> Env:
    return Env(req.node, pairs=_pairs(req))


def _parse_label(req: _Request) -> Label:
    return Label(req.node, pairs=_pairs(req))


def _check_arg(node: Node) -> str | None:
    if not node.args:
        return messages.at_least_one_argument("ARG")
    if any(a.startswith("=") for a in node.args):
        return messages.blank_names("ARG")
    return None


def _parse_arg(req: _Request) -> Arg:
    if not req.node.args:
        raise ValueError(messages.at_least_one_argument(req.name))
    pairs: list[tuple[str, str | None]] = []
    for word in req.node.args:
        if "=" in word:
            key, _, value = word.partition("=")
            if not key:
                raise ValueError(messages.blank_names(req.name))
            pairs.append((key, value))
        else:
            pairs.append((word, None))
    return Arg(req.node, pairs=tuple(pairs))


# ---------------------------------------------------------------------------------------------------------------
# one-argument instructions: WORKDIR, USER, STOPSIGNAL, MAINTAINER


def _check_one(node: Node) -> str | None:
    if len(node.args) != 1:
        return messages.exactly_one_argument(node.keyword.upper())
    return None


def _one(req: _Request) -> str:
    if len(req.node.args) != 1:
        raise ValueError(messages.exactly_one_argument(req.name))
    return req.node.args[0]


def _parse_workdir(req: _Request) -> Workdir:
    return Workdir(req.node, path=_one(req))


def _parse_user(req: _Request) -> User:
    return User(req.node, user=_one(req))


def _parse_stopsignal(req: _Request) -> Stopsignal:
    return Stopsignal(req.node, signal=_one(req))


def _parse_maintainer(req: _Request) -> Maintainer:
    return Maintainer(req.node, name=_one(req))


# ---------------------------------------------------------------------------------------------------------------
# EXPOSE, VOLUME


def _check_expose(node: Node) -> str | None:
    if not node.args:
        return messages.at_least_one_argument("EXPOSE")
    return None


def _parse_expose(req: _Request) -> Expose:
    if not req.node.args:
        raise ValueError(messages.at_least_one_argument(req.name))
    return Expose(req.node, ports=tuple(req.node.args))


def _check_volume(node: Node) -> str | None:
    if not node.args:
        return messages.at_least_one_argument("VOLUME")
    if any(not a.strip(GO_SPACE) for a in node.args):
        return messages.empty_volume()
    return None


def _parse_volume(req: _Request) -> Volume:
    if not req.node.args:
        raise ValueError(messages.at_least_one_argument(req.name))
    paths = tuple(path.strip() for path in req.node.args)
    if "" in paths:
        raise ValueError(messages.empty_volume())
    return Volume(req.node, paths=paths)


# ---------------------------------------------------------------------------------------------------------------
# HEALTHCHECK


def _check_healthcheck(node: Node) -> str | None:
    """Checks its own flags (the other instructions' flags are checked after their rule): ``NONE`` takes none."""
    args = node.args
    if not args:
        return messages.at_least_one_argument("HEALTHCHECK")
    kind = args[0].upper()
    if kind == "NONE":
        if len(args) > 1:
            return messages.healthcheck_none_arguments()
        return None
    problem = _check_flags(node, ALLOWED_FLAGS["healthcheck"])
    if problem:
        return problem
    if kind != "CMD":
        return messages.healthcheck_unknown_type(kind)
    if len(args) == 1:
        return messages.healthcheck_missing_command()
    for flag in node.flags:
        flag_name, _, value = flag.partition("=")
        if flag_name == "--retries":
            try:
                retries = go_int32(value)
            except GoIntError as err:
                return messages.invalid_retries_value(value, err.reason == "value out of range")
            if retries < 0:
                return messages.negative_retries(retries)
        elif value and flag_name != "--":
            try:
                nanoseconds = go_duration_ns(value)
            except ValueError:
                return messages.invalid_flag_duration(value, flag_name)
            if nanoseconds != 0 and nanoseconds < 1_000_000:  # BuildKit: non-zero and under a millisecond
                return messages.interval_too_short(flag_name[2:])
    return None


def _interval(flag: str, value: str | None) -> str | None:
    if not value:
        return None
    nanoseconds = go_duration_ns(value)
    if nanoseconds == 0:
        return None
    if nanoseconds < 1_000_000:
        raise ValueError(messages.interval_too_short(flag))
    return value


def _parse_healthcheck(req: _Request) -> Healthcheck:
    args = req.node.args
    if not args:
        raise ValueError(messages.at_least_one_argument(req.name))
    kind, rest = args[0].upper(), args[1:]
    if kind == "NONE":
        if rest:
            raise ValueError(messages.healthcheck_none_arguments())
        return Healthcheck(req.node, test=("NONE",))
    flags = parse_flags(req.node.flags, FLAGS["healthcheck"])  # type: ignore[arg-type]
    if kind != "CMD":
        raise ValueError(messages.healthcheck_unknown_type(kind))
    command = list(rest) if req.node.json else ([" ".join(rest)] if rest else [])
    if not command or (not req.node.json and not command[0]):
        raise ValueError(messages.healthcheck_missing_command())
    test = ("CMD", *command) if req.node.json else ("CMD-SHELL", *command)
    retries_text = flags.string("retries")
    retries = None
    if retries_text:
        retries = go_int32(retries_text)
        if retries < 0:
            raise ValueError(messages.negative_retries(retries))
    return Healthcheck(
        req.node,
        test=test,
        interval=_interval("interval", flags.string("interval")),
        timeout=_interval("timeout", flags.string("timeout")),
        start_period=_interval("start-period", flags.string("start-period")),
        start_interval=_interval("start-interval", flags.string("start-interval")),
        retries=retries,
    )


# ---------------------------------------------------------------------------------------------------------------
# ONBUILD


def _check_onbuild(node: Node) -> str | None:
    if node.next is None:
        return messages.at_least_one_argument("ONBUILD")
    trigger = node.next.keyword.upper()
    if trigger == "ONBUILD":
        return messages.onbuild_chained()
    if trigger in ("MAINTAINER", "FROM"):
        return messages.onbuild_forbidden(trigger)
    return None


def _parse_onbuild(req: _Request, path: str) -> Onbuild:
    nested = req.node.next
    if nested is None:
        raise ValueError(messages.at_least_one_argument(req.name))
    keyword = nested.keyword.upper()
    if keyword == "ONBUILD":
        raise ValueError(messages.onbuild_chained())
    if keyword in ("MAINTAINER", "FROM"):
        raise ValueError(messages.onbuild_forbidden(keyword))
    instruction = from_node(nested, path)
    trigger = req.node.value.strip() or node_text(nested)
    for doc in nested.heredocs or req.node.heredocs:
        # BuildKit stores the body as written: a ``<<-`` body keeps its tabs (they go when the trigger runs).
        trigger += "\n" + doc.raw + doc.name
    return Onbuild(req.node, trigger=trigger, instruction=instruction)


# ---------------------------------------------------------------------------------------------------------------
# dispatch


CHECKS: dict[str, Callable[[Node], str | None]] = {
    "from": _check_from,
    "copy": _check_copy,
    "add": _check_copy,
    "env": _check_pairs,
    "label": _check_pairs,
    "arg": _check_arg,
    "workdir": _check_one,
    "user": _check_one,
    "stopsignal": _check_one,
    "maintainer": _check_one,
    "expose": _check_expose,
    "volume": _check_volume,
    "shell": _check_shell,
    "healthcheck": _check_healthcheck,
    "onbuild": _check_onbuild,
}
"""keyword (lower case) -> its rule on the raw node (a message, or None); its flags are checked after it."""

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


def check(doc: Document) -> None:
    """Apply BuildKit's instruction-level rules to every node; raise the first ``ParseError`` found."""
    seen_from = False
    for node in doc.nodes:
        check_node(node, doc.path)
        if node.keyword == "from":
            seen_from = True
        elif not seen_from and node.keyword != "arg":
            raise ParseError(
                messages.instruction_before_from(node.original.upper()), doc.path, node.start_line, node.line
            )


def check_node(node: Node, path: str = "Containerfile") -> None:
    """Raise ``ParseError`` if ``node`` breaks a rule BuildKit enforces when it types the instruction."""
    message = _check(node)
    if message is not None:
        raise ParseError(message, path, node.start_line, node.line or node.original)


def _check(node: Node) -> str | None:
    keyword = node.keyword
    if keyword not in ALLOWED_FLAGS:
        close = difflib.get_close_matches(keyword, INSTRUCTIONS, n=1, cutoff=0.7)
        return messages.did_you_mean(
            messages.unknown_instruction(node.original), close[0].upper() if close else None
        )
    rule = CHECKS.get(keyword)
    problem = rule(node) if rule is not None else None
    if problem is not None or keyword == "healthcheck":
        return problem
    return _check_flags(node, ALLOWED_FLAGS[keyword])


def _check_flags(node: Node, allowed: dict[str, FlagKind] | None) -> str | None:
    if allowed is None:
        return None
    try:
        read_flags(node.flags, allowed)
    except FlagError as err:
        if err.unknown is None:
            return str(err)
        message = messages.unknown_flag_for("--" + err.unknown, node.keyword.upper())
        close = difflib.get_close_matches(err.unknown, allowed, n=1, cutoff=0.6)
        return messages.did_you_mean(message, f"--{close[0]}" if close else None)
    return None


def from_node(node: Node, path: str = "Containerfile") -> Instruction:
    """The typed instruction of ``node``; a bad instruction raises ``ParseError`` located at its first line."""
    keyword = node.keyword.lower()
    parser = PARSERS.get(keyword)
    if parser is None:
        raise ParseError(
            messages.unknown_instruction(node.original or node.keyword),
            path,
            node.start_line,
            node_text(node),
        )
    try:
        allowed = FLAGS.get(keyword, {})
        flags = (
            parse_flags(node.flags, allowed) if allowed is not None and keyword != "healthcheck" else NO_FLAGS
        )
        request = _Request(node, flags, keyword.upper())
        if keyword == "onbuild":
            return _parse_onbuild(request, path)
        return parser(request)
    except ParseError:
        raise
    except ValueError as err:
        raise ParseError(str(err), path, node.start_line, node_text(node)) from None
