"""The one ARG/ENV/USER/SHELL/WORKDIR walker: what every instruction of a stage sees, under a builder's rules.

Every consumer needs the same walk - the parse view (``parse --json``), lowering to actions (cache owners need
the USER; install recognition needs ARG values), and the buildah planner (the values bud expands) - and they
differ only in a few rules, the way one sqlglot parser serves many dialects:

- **which predefined platform ARGs exist and where**: BuildKit puts them all in the global scope; buildah bud
  only gives one to a bare ``ARG NAME``; the lenient front end (optimize, explain, migrate) knows none;
- **what a name nothing defines does**: BuildKit and bud expand it to nothing; the lenient walk keeps the
  reference as written (only the builder knows the base image's ENV) and forgets any value built from it;
- **how the base image is known**: given (bud: its config was read), or unknown (BuildKit planning: a
  ``${v:?}`` failure on a name that image could define is not an error yet).

``walk(stage_instructions, initial_scope, context)`` yields one ``Step`` per instruction: the instruction as
written, its expansion under the rules, the scope before it and after it. A stage built ``FROM`` an earlier
stage starts from that stage's final scope (ENV, SHELL, WORKDIR and USER; never its ARGs), which is how a child
stage's RUN runs as its parent's USER.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from shlax_front import instructions as ins
from shlax_front.errors import ParseError
from shlax_front.expand import Expansion, ExpansionError, expand, is_literal
from shlax_front.syntax import Heredoc

DEFAULT_SHELL = ("/bin/sh", "-c")
#: what buildah gives a stage whose base image config has no Env at all (and every scratch stage)
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Build args every RUN receives when given with ``--build-arg``, even if no ARG declares them (not in the image).
PROXY_ARGS = (
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# Rules


@dataclass(frozen=True)
class Rules:
    """How one builder scopes and expands variables (see the module docstring).

    - ``predefined``: the predefined platform ARG names this builder knows (``None``: every one BuildKit has);
    - ``predefined_global``: they are global values from the start (BuildKit), else only a bare ``ARG NAME``
      takes one (bud);
    - ``keep_unknown``: a reference to a name nothing defines stays as written and a value built from one is
      forgotten (lenient); else it expands to nothing;
    - ``split_copy_sources``: shell-form COPY/ADD sources are split into words after expansion (bud);
    - ``heredoc_raw``: an expanding COPY heredoc body keeps its quotes and escapes as written, variables expanded
      (bud 1.39: BuildKit's lexer with raw quotes and raw escapes, ``\\`` the escape whatever the file says; an
      unmatched quote fails as it fails there; bud 1.28 cannot COPY a heredoc); BuildKit makes quotes ordinary
      characters and takes escapes away;
    - ``from_stage_index``: ``FROM 0`` names the first stage (bud); BuildKit reads it as an image name;
    - ``empty_platform_error``: a ``FROM --platform`` that expands to nothing is an error (BuildKit); bud 1.28
      builds for this machine (``$BUILDPLATFORM`` is not in FROM's scope there).
    - ``mount_targets_in_workdir``: a relative ``RUN --mount`` target is read from the WORKDIR (BuildKit, bud
      1.39: Go's ``--mount=type=bind,source=go.mod,target=go.mod``, ``--mount=target=.``); bud 1.28 refuses it
      ("invalid container path"), so the build takes 1.39's reading on both.
    """

    name: str
    predefined: tuple[str, ...] | None = None
    predefined_global: bool = True
    keep_unknown: bool = False
    split_copy_sources: bool = False
    heredoc_raw: bool = False
    from_stage_index: bool = False
    empty_platform_error: bool = True
    mount_targets_in_workdir: bool = False


BUILDKIT = Rules("buildkit")
LENIENT = Rules(
    "lenient", predefined=(), predefined_global=False, keep_unknown=True, empty_platform_error=False
)
#: buildah bud 1.28: it lacks BuildKit's TARGETSTAGE and *OSVERSION (checked with a real bud run)
BUD = Rules(
    "bud",
    predefined=(
        "BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT",
        "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
    ),
    predefined_global=False,
    split_copy_sources=True,
    heredoc_raw=True,
    from_stage_index=True,
    empty_platform_error=False,
    mount_targets_in_workdir=True,
)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# Scope and steps


@dataclass(frozen=True)
class Scope:
    """What an instruction sees.

    ``env``: the base image's ENV then the stage's, in image-config order; ``args``: the ARGs declared in the
    stage so far (``None``: declared without a value); ``shell``, ``workdir`` and ``user`` as the image config
    holds them; ``unknown``: ENV names whose value only the builder knows (lenient rules), never expanded.
    """

    env: tuple[tuple[str, str], ...] = ()
    args: tuple[tuple[str, str | None], ...] = ()
    shell: tuple[str, ...] = DEFAULT_SHELL
    workdir: str = "/"
    user: str = ""
    unknown: frozenset[str] = frozenset()

    def variables(self) -> dict[str, str]:
        """What ``$NAME`` expands to: ARG values overlaid by ENV values (ENV wins). A new dict, yours to change."""
        return dict(self._lookup())

    def _lookup(self) -> dict[str, str]:
        """``variables()`` computed once per scope (a scope is immutable); expansions read it, never change it.
        Kept in the instance dict by hand: ``functools.cached_property`` takes a lock on every read (3.11)."""
        values = self.__dict__.get("_variables")
        if values is None:
            values = {name: value for name, value in self.args if value is not None}
            values.update(self.env)
            for name in self.unknown:
                values.pop(name, None)
            self.__dict__["_variables"] = values
        return values

    def visible(self) -> dict[str, str]:
        """Every name set in scope, with its value; a name only the builder knows (lenient rules) keeps the value
        as written. For decisions that depend on whether a variable is set at all (``PIP_NO_CACHE_DIR``)."""
        values = {name: value for name, value in self.args if value is not None}
        values.update(self.env)
        return values

    def with_env(self, pairs: Iterable[tuple[str, str]], unknown: Iterable[str] = ()) -> Scope:
        pairs = list(pairs)
        forgotten = (self.unknown - {name for name, _ in pairs}) | frozenset(unknown)
        return replace(self, env=tuple(merge_env(self.env, pairs)), unknown=forgotten)

    def with_arg(self, name: str, value: str | None) -> Scope:
        args = [(k, v) for k, v in self.args if k != name]
        args.append((name, value))
        return replace(self, args=tuple(args))

    def child(self) -> Scope:
        """The scope a stage built ``FROM`` this one starts with: everything but the ARGs."""
        return replace(self, args=())

    def run_env(self, build_args: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment a RUN gets: the ENV and ARG values in scope, plus proxy ``--build-arg`` values."""
        values = {k: v for k, v in (build_args or {}).items() if k in PROXY_ARGS}
        values.update(self._lookup())
        return values


def merge_env(env: tuple[tuple[str, str], ...], pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """ENV update as the image config does it: an existing name keeps its place, a new one is appended."""
    merged = dict(env)
    for name, value in pairs:
        merged[name] = value
    return list(merged.items())


def image_scope(config: Mapping[str, object] | None, image: str) -> Scope:
    """The scope a stage starts with on ``image`` whose config (``env`` dict, ``shell``, ``workdir``, ``user``)
    was read; ``None`` when it is unknown. An image without any Env gets buildah's default PATH."""
    if image.lower() == "scratch":
        return Scope()
    config = config or {}
    env = dict(config.get("env") or {})  # type: ignore[call-overload]
    if not env:
        env["PATH"] = DEFAULT_PATH
    return Scope(
        env=tuple(env.items()),
        shell=tuple(config.get("shell") or DEFAULT_SHELL),  # type: ignore[arg-type]
        workdir=str(config.get("workdir") or "/"),
        user=str(config.get("user") or ""),
    )


@dataclass(frozen=True)
class Step:
    """One instruction of a stage, ready to run.

    - ``instruction``: as written (values unexpanded);
    - ``expanded``: the same class with the values the builder expands replaced by their expansion (ARG: the
      values the ARGs take; RUN: mounts resolved); the instruction itself when nothing could be expanded;
    - ``scope``: what it sees (values from before it); ``after``: the scope the next instruction sees;
    - ``used``: the variable names its expansion read (part of what a build cache key depends on).
    """

    instruction: ins.Instruction
    expanded: ins.Instruction
    scope: Scope
    used: frozenset[str] = frozenset()
    after: Scope = field(default_factory=Scope, compare=False)

    @property
    def line(self) -> int:
        return self.instruction.line

    @property
    def env(self) -> dict[str, str]:
        """The ENV values in scope (base image's and the stage's), what the image config holds before it."""
        return dict(self.scope.env)

    @property
    def args(self) -> dict[str, str | None]:
        """The ARGs declared in the stage so far and their values (``None``: declared without a value)."""
        return dict(self.scope.args)

    def run_env(self, build_args: Mapping[str, str] | None = None) -> dict[str, str]:
        return self.scope.run_env(build_args)


@dataclass(frozen=True)
class WalkContext:
    """What a walk needs besides the scope: the rules, the file (for errors), its escape character, the global
    ARG values (FROM-line scope), the ``--build-arg`` values and the predefined ARG values; ``strict`` False
    while the root base image's ENV is unknown (a ``${v:?}`` on a name it could define is not an error yet)."""

    rules: Rules
    path: str
    escape: str = "\\"
    global_values: Mapping[str, str] = field(default_factory=dict)
    build_args: Mapping[str, str] = field(default_factory=dict)
    predefined: Mapping[str, str] = field(default_factory=dict)
    strict: bool = True


# ---------------------------------------------------------------------------------------------------------------
# The walk


def walk(instructions: Iterable[ins.Instruction], scope: Scope, context: WalkContext) -> Iterator[Step]:
    """Yield the steps of a stage's ``instructions`` from its initial ``scope``."""
    for instruction in instructions:
        try:
            step = _step(instruction, scope, context)
        except ExpansionError as err:
            tolerated = context.rules.keep_unknown or (
                not context.strict and err.variable is not None and err.variable not in scope._lookup()
            )
            if not tolerated:
                raise ParseError(
                    str(err), context.path, instruction.line, ins.node_text(instruction.node)
                ) from None
            step = Step(instruction, instruction, scope, after=_forget(instruction, scope))
        except ValueError as err:  # a mount that becomes invalid once expanded
            raise ParseError(
                str(err), context.path, instruction.line, ins.node_text(instruction.node)
            ) from None
        yield step
        scope = step.after


def final_scope(instructions: Iterable[ins.Instruction], scope: Scope, context: WalkContext) -> Scope:
    """The scope after the last of ``instructions`` (what a stage built ``FROM`` this one starts from)."""
    for step in walk(instructions, scope, context):
        scope = step.after
    return scope


def _forget(instruction: ins.Instruction, scope: Scope) -> Scope:
    """The scope after an instruction whose values could not be expanded (lenient rules, or a base image whose
    ENV is still unknown): the names it sets are known to the builder only."""
    if isinstance(instruction, ins.Env):
        return scope.with_env(
            ((k, v) for k, v in instruction.pairs), unknown=(k for k, _ in instruction.pairs)
        )
    if isinstance(instruction, ins.Arg):
        for name, _ in instruction.pairs:
            scope = scope.with_arg(name, None)
    return scope


class _Expander:
    """Expands words against one scope under the rules and remembers which names they read (and which they
    could not resolve: the lenient rules keep those references as written)."""

    def __init__(self, variables: Mapping[str, str], context: WalkContext):
        self.variables = variables
        self.escape = context.escape
        self.rules = context.rules
        self.used: set[str] = set()
        self.unset: set[str] = set()
        #: names an ENV set to a value only the builder knows (lenient rules)
        self.unknown: list[str] = []

    def _expand(self, text: str, **kw: bool) -> Expansion:
        result = expand(text, self.variables, self.escape, skip_unset=self.rules.keep_unknown, **kw)
        self.used |= result.used
        self.unset |= set(result.unset)
        return result

    def word(self, text: str) -> str:
        return self._expand(text).value

    def words(self, text: str) -> list[str]:
        return list(self._expand(text).words)

    def optional(self, text: str | None) -> str | None:
        return None if text is None else (self.word(text) or None)

    def heredoc(self, doc: Heredoc) -> Heredoc:
        if not doc.expand:
            return doc
        if self.rules.heredoc_raw:
            raw = expand(
                doc.content,
                self.variables,
                "\\",
                skip_unset=self.rules.keep_unknown,
                raw_quotes=True,
                raw_escapes=True,
            )
            self.used |= raw.used
            self.unset |= set(raw.unset)
            return replace(doc, content=raw.value)
        return replace(doc, content=self._expand(doc.content, skip_quotes=True).value)


def _step(instruction: ins.Instruction, scope: Scope, context: WalkContext) -> Step:
    if isinstance(instruction, ins.Arg):
        return _arg_step(instruction, scope, context)
    expander = EXPANDERS.get(type(instruction))
    if expander is None or _nothing_to_expand(instruction):
        expanded = _mounts_in_workdir(instruction, scope, context)
        return Step(instruction, expanded, scope, after=_after(instruction, expanded, scope, frozenset()))
    ex = _Expander(scope._lookup(), context)
    expanded = _mounts_in_workdir(expander(instruction, ex), scope, context)
    return Step(
        instruction,
        expanded,
        scope,
        frozenset(ex.used),
        after=_after(instruction, expanded, scope, ex.unknown),
    )


def _mounts_in_workdir(instruction: ins.Instruction, scope: Scope, context: WalkContext) -> ins.Instruction:
    """A RUN's relative mount targets joined to the WORKDIR it runs in, under rules that read them so
    (``Rules.mount_targets_in_workdir``); anything else as it is."""
    if not (isinstance(instruction, ins.Run) and context.rules.mount_targets_in_workdir):
        return instruction
    mounts = tuple(_mount_in(m, scope.workdir) for m in instruction.mounts)
    return instruction if mounts == instruction.mounts else replace(instruction, mounts=mounts)


def _mount_in(mount: ins.Mount, workdir: str) -> ins.Mount:
    if not mount.resolved or not mount.target or mount.target.startswith("/"):
        return mount
    target = posixpath.normpath(posixpath.join("/", workdir or "/", mount.target))
    options = tuple((k, target if k in ("target", "dst", "destination") else v) for k, v in mount.options)
    return replace(mount, target=target, options=options)


def _arg_step(instruction: ins.Arg, scope: Scope, context: WalkContext) -> Step:
    """ARG: each default sees the ARGs to its left (BuildKit updates its state per name). A name takes its
    ``--build-arg`` value, else its expanded default, else (a bare ARG, rules that say so) the predefined
    platform value - before a global ARG's value, as bud does - else the global value."""
    ex = _Expander(scope._lookup(), context)
    pairs = []
    local = scope
    for name, default in instruction.pairs:
        if name in context.build_args:
            value: str | None = context.build_args[name]
        elif default is not None:
            ex.variables = local._lookup()
            before = set(ex.unset)
            value = ex.word(default)
            if context.rules.keep_unknown and ex.unset - before:
                value = None  # built from a value only the builder knows: not expanded further
        elif name in context.predefined:
            value = context.predefined[name]
        else:
            value = context.global_values.get(name)
        pairs.append((name, value))
        local = local.with_arg(name, value)
    pairs_tuple = tuple(pairs)
    expanded = instruction if pairs_tuple == instruction.pairs else replace(instruction, pairs=pairs_tuple)
    return Step(instruction, expanded, scope, frozenset(ex.used), after=local)


def _after(
    instruction: ins.Instruction, expanded: ins.Instruction, scope: Scope, unknown: Iterable[str]
) -> Scope:
    """The scope the next instruction sees; ``unknown``: names the instruction set to values only the builder
    knows (lenient rules)."""
    if isinstance(expanded, ins.Env):
        return scope.with_env(expanded.pairs, unknown=unknown)
    if isinstance(expanded, ins.Workdir):
        return replace(scope, workdir=posixpath.normpath(posixpath.join(scope.workdir, expanded.path)))
    if isinstance(expanded, ins.User):
        return replace(scope, user=expanded.user)
    if isinstance(expanded, ins.Shell):
        return replace(scope, shell=tuple(expanded.argv))
    return scope


def _nothing_to_expand(instruction: ins.Instruction) -> bool:
    """True when expanding ``instruction`` would give it back unchanged and read no variable."""
    if isinstance(instruction, ins.Run):  # only its unresolved mounts are expanded: no need to scan its line
        return all(m.resolved for m in instruction.mounts)
    return _literal(instruction)


def _literal(instruction: ins.Instruction) -> bool:
    """Whether the instruction's whole line (keyword, flags, arguments) is literal text, so that expanding
    its values changes nothing and reads no variable: most instructions of real files. Heredoc bodies are not
    on the line, so an instruction with heredocs is never taken as literal."""
    node = instruction.node
    return bool(node.line) and not node.heredocs and is_literal(node.line)


def _changed(instruction: ins.Instruction, **values: object) -> ins.Instruction:
    """``instruction`` with ``values`` set, or the instruction itself when every value is already what it holds
    (the common case: nothing to expand), which spares building a copy."""
    for name, value in values.items():
        if getattr(instruction, name) != value:
            return replace(instruction, **values)  # type: ignore[arg-type]
    return instruction


def _expand_copy(c: ins.Copy, ex: _Expander) -> ins.Instruction:
    if ex.rules.split_copy_sources and not c.node.json:
        sources = tuple(w for s in c.sources for w in ex.words(s))
    else:  # JSON form: each element is one word (expanded, never split)
        sources = tuple(ex.word(s) for s in c.sources)
    changes: dict[str, object] = {
        "sources": sources,
        "dest": ex.word(c.dest),
        "chown": ex.optional(c.chown),
        "chmod": ex.optional(c.chmod),
        "exclude": tuple(ex.word(p) for p in c.exclude),
        "heredocs": tuple(ex.heredoc(d) for d in c.heredocs),
    }
    if isinstance(c, ins.Add):
        changes["checksum"] = ex.optional(c.checksum)
    return _changed(c, **changes)


def _expand_env(e: ins.Env, ex: _Expander) -> ins.Instruction:
    """Every pair sees the values from before the ENV. Under the lenient rules a value that reads a name
    nothing defines (``PATH=/x:$PATH``), or cannot be expanded, is kept as written and its name forgotten:
    later words then keep the reference instead of expanding a half-known value."""
    pairs = []
    for name, value in e.pairs:
        if not ex.rules.keep_unknown:
            pairs.append((ex.word(name), ex.word(value)))
            continue
        before = set(ex.unset)
        try:
            expanded = ex.word(value)
        except ExpansionError:
            expanded = value
            ex.unknown.append(name)
        else:
            if ex.unset - before:
                ex.unknown.append(name)
        pairs.append((name, expanded))
    return _changed(e, pairs=tuple(pairs))


def _expand_run(r: ins.Run, ex: _Expander) -> ins.Run:
    if all(m.resolved for m in r.mounts):
        return r
    return replace(r, mounts=tuple(m if m.resolved else ins.parse_mount(m.raw, ex.word) for m in r.mounts))


EXPANDERS: dict[type, Callable[[ins.Instruction, _Expander], ins.Instruction]] = {
    ins.Copy: _expand_copy,  # type: ignore[dict-item]
    ins.Add: _expand_copy,  # type: ignore[dict-item]
    ins.Run: _expand_run,  # type: ignore[dict-item]
    ins.Env: _expand_env,  # type: ignore[dict-item]
    ins.Label: lambda e, ex: _changed(e, pairs=tuple((ex.word(k), ex.word(v)) for k, v in e.pairs)),  # type: ignore[attr-defined]
    ins.Workdir: lambda e, ex: _changed(e, path=ex.word(e.path)),  # type: ignore[attr-defined]
    ins.User: lambda e, ex: _changed(e, user=ex.word(e.user)),  # type: ignore[attr-defined]
    ins.Stopsignal: lambda e, ex: _changed(e, signal=ex.word(e.signal)),  # type: ignore[attr-defined]
    ins.Volume: lambda e, ex: _changed(e, paths=tuple(ex.word(p) for p in e.paths)),  # type: ignore[attr-defined]
    ins.Expose: lambda e, ex: _changed(e, ports=tuple(w for p in e.ports for w in ex.words(p))),  # type: ignore[attr-defined]
}
"""Instruction class -> how the builder expands it (classes not listed are not expanded by the front end)."""
