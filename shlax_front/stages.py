"""The stage graph: typed instructions grouped into build stages, with BuildKit's ARG/ENV scoping.

``plan(doc, build_args, target)`` answers what a builder must know before running anything:

- **Global ARGs** (before the first ``FROM``) are expanded in order with the predefined platform ARGs
  (``BUILDPLATFORM``, ``TARGETARCH``, ...) and ``--build-arg`` overrides; only they are visible in ``FROM`` (image
  and ``--platform``). Inside a stage a bare ``ARG NAME`` inherits the global value.
- **Scoping**: every substitution in one instruction sees the values from *before* it (``ENV a=1 b=$a`` reads the
  old ``a``); an ``ARG`` instruction is the exception, as in BuildKit, each of its defaults sees the names declared
  to its left. ``ENV`` wins over ``ARG`` of the same name (Docker's documented rule, which buildah follows). An ARG
  takes, in order: its ``--build-arg`` value, its expanded default, the global value (bare ARG only).
- **Stages** are referenced by name (case-insensitive) or index in ``FROM``, ``COPY --from`` and
  ``RUN --mount=from=``; a name that is no stage is an image. References must point to earlier stages.
- **--target** keeps only the stages the target needs, in dependency order (file order is one: every reference
  points backwards).

Which instructions the front end expands (BuildKit): ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER,
VOLUME, WORKDIR, ARG defaults and ``RUN --mount`` options. RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, MAINTAINER and
ONBUILD are left alone: the shell (or the image's user) expands them. ``BuildPlan.steps(stage)`` walks a stage and
gives, for every instruction, its expanded form and the scope it runs in (what the build backend needs).
"""

from __future__ import annotations

import dataclasses
import functools
import platform as host
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from shlax_front import instructions as ins
from shlax_front.errors import ParseError
from shlax_front.expand import Expansion, ExpansionError, expand, is_literal
from shlax_front.messages import (  # the stage graph's messages, re-exported: tests spell them as st.*
    blank_base,
    copy_forward_reference,
    duplicate_stage,
    empty_platform,
    from_variables,
    instruction_before_from,
    invalid_stage_index,
    mount_forward_reference,
    no_stage,
    unknown_target,
)
from shlax_front.syntax import Document, Heredoc

#: Build args every RUN receives when given with ``--build-arg``, even if no ARG declares them (not in the image).
PROXY_ARGS = (
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
)  # fmt: skip

_MACHINE_ARCH = {
    "x86_64": ("amd64", ""), "amd64": ("amd64", ""), "aarch64": ("arm64", ""), "arm64": ("arm64", ""),
    "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"), "i386": ("386", ""), "i686": ("386", ""),
    "ppc64le": ("ppc64le", ""), "s390x": ("s390x", ""), "riscv64": ("riscv64", ""),
}  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# Platforms


@dataclass(frozen=True)
class Platform:
    """``os/arch[/variant]``, normalised the way BuildKit (containerd's ``platforms``) does: ``aarch64`` is
    ``arm64`` and its ``v8`` variant is implied, ``x86_64`` is ``amd64``, a bare ``arm`` is ``arm/v7``."""

    os: str
    arch: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.lower().split("/")
        if not 1 <= len(parts) <= 3 or not all(parts):
            raise ValueError(f"invalid platform {text!r}: expected os/arch[/variant]")
        if len(parts) == 1:
            if parts[0] in _KNOWN_OS:
                return cls(parts[0], host_platform().arch, host_platform().variant).normalized()
            return cls("linux", parts[0]).normalized()
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "").normalized()

    def normalized(self) -> Platform:
        os_name = "darwin" if self.os == "macos" else self.os
        arch, variant = _ARCH_ALIASES.get(self.arch, (self.arch, None))
        variant = self.variant if variant is None or self.variant else variant
        if arch == "arm64" and variant in ("8", "v8", "v8.0"):
            variant = ""
        elif arch == "arm64" and variant in ("9", "9.0", "v9.0"):
            variant = "v9"
        elif arch == "arm" and variant in ("", "7"):
            variant = "v7"
        elif arch == "arm" and variant in ("5", "6", "8"):
            variant = "v" + variant
        elif arch == "amd64" and variant == "v1":
            variant = ""
        return Platform(os_name, arch, variant)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.arch, self.variant) if p)


_KNOWN_OS = (
    "linux",
    "windows",
    "darwin",
    "macos",
    "freebsd",
    "netbsd",
    "openbsd",
    "solaris",
    "illumos",
    "aix",
)
_ARCH_ALIASES = {
    "i386": ("386", None), "x86_64": ("amd64", None), "x86-64": ("amd64", None), "aarch64": ("arm64", None),
    "armhf": ("arm", "v7"), "armel": ("arm", "v6"),
}  # fmt: skip


@functools.cache
def host_platform() -> Platform:
    """The platform of this machine (what BuildKit and buildah build for by default; it does not change while
    we run, so it is worked out once)."""
    arch, variant = _MACHINE_ARCH.get(host.machine().lower(), (host.machine().lower(), ""))
    return Platform("linux", arch, variant)


def platform_args(build: Platform, target: Platform, target_stage: str) -> dict[str, str]:
    """The ARGs every build predefines (usable in FROM; inside a stage after a bare ``ARG NAME``)."""
    values = dict(_platform_values(build, target))
    values["TARGETSTAGE"] = target_stage or "default"
    return values


@functools.lru_cache(maxsize=32)
def _platform_values(build: Platform, target: Platform) -> tuple[tuple[str, str], ...]:
    """The platform part of ``platform_args``, worked out once per pair of platforms (every plan needs it)."""
    return tuple(
        {
            "BUILDPLATFORM": str(build),
            "BUILDOS": build.os,
            "BUILDOSVERSION": "",
            "BUILDARCH": build.arch,
            "BUILDVARIANT": build.variant,
            "TARGETPLATFORM": str(target),
            "TARGETOS": target.os,
            "TARGETOSVERSION": "",
            "TARGETARCH": target.arch,
            "TARGETVARIANT": target.variant,
        }.items()
    )


# ---------------------------------------------------------------------------------------------------------------
# The IR


@dataclass(frozen=True)
class Scope:
    """The variables an instruction sees: ``env`` (the base image's ENV then the stage's, image-config order) and
    ``args`` (ARGs declared in the stage so far; ``None`` when declared without a value)."""

    env: tuple[tuple[str, str], ...] = ()
    args: tuple[tuple[str, str | None], ...] = ()

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
            self.__dict__["_variables"] = values
        return values

    def with_env(self, pairs: Iterable[tuple[str, str]]) -> Scope:
        return Scope(tuple(_merge(self.env, pairs)), self.args)

    def with_arg(self, name: str, value: str | None) -> Scope:
        args = [(k, v) for k, v in self.args if k != name]
        args.append((name, value))
        return Scope(self.env, tuple(args))


def _merge(env: tuple[tuple[str, str], ...], pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """ENV update as the image config does it: an existing name keeps its place, a new one is appended."""
    merged = dict(env)
    for name, value in pairs:
        merged[name] = value
    return list(merged.items())


@dataclass(frozen=True)
class Step:
    """One instruction of a stage, ready to run.

    - ``instruction``: as written (values unexpanded);
    - ``expanded``: the same class with the values BuildKit expands replaced by their expansion (ARG: the values
      the ARGs take; RUN: mounts resolved);
    - ``scope``: the variables visible to it (values from before it);
    - ``used``: the variable names its expansion read (part of what a build cache key depends on).
    """

    instruction: ins.Instruction
    expanded: ins.Instruction
    scope: Scope
    used: frozenset[str] = frozenset()

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
        """The environment a RUN gets: the ENV and ARG values in scope, plus proxy ``--build-arg`` values."""
        values = {k: v for k, v in (build_args or {}).items() if k in PROXY_ARGS}
        values.update(self.scope.variables())
        return values


@dataclass(frozen=True)
class Stage:
    """One ``FROM`` and the instructions up to the next.

    ``base`` is the image expression as written, ``image`` its expansion with the global ARGs; when it names an
    earlier stage ``base_stage`` is that stage's index. ``dependencies`` are the stages it reads from (base,
    ``COPY --from``, ``RUN --mount=from=``), ``images`` the external images those read.
    """

    index: int
    name: str | None
    base: str
    image: str
    platform: str | None
    from_: ins.From = field(repr=False)
    instructions: tuple[ins.Instruction, ...] = ()
    base_stage: int | None = None
    dependencies: tuple[int, ...] = ()
    images: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How BuildKit names the stage in messages: its name, else ``stage-<index>``."""
        return self.name or f"stage-{self.index}"

    @property
    def line(self) -> int:
        return self.from_.line


@dataclass(frozen=True)
class BuildPlan:
    """What to build: ``stages`` (only those the target needs, dependency order, target last), ``all_stages``
    (file order), the global ARG values visible in ``FROM`` and the ``--build-arg`` values given."""

    path: str
    escape: str
    stages: tuple[Stage, ...]
    all_stages: tuple[Stage, ...]
    target: Stage
    meta_args: tuple[ins.Arg, ...] = ()
    global_args: tuple[tuple[str, str], ...] = ()
    build_args: tuple[tuple[str, str], ...] = ()

    def stage(self, reference: str | int) -> Stage:
        """A stage by name (any case) or index; ``KeyError`` when there is none."""
        found = _find_stage(self.all_stages, str(reference))
        if found is None:
            raise KeyError(reference)
        return found

    def steps(
        self, stage: Stage, base_env: Iterable[tuple[str, str]] | Iterable[str] | None = None
    ) -> list[Step]:
        """Walk ``stage``: each instruction with its expansion and scope.

        ``base_env`` is the base image's ENV (``"K=V"`` strings as in an image config, or pairs); it matters to
        expansions such as ``ENV PATH=$PATH:/x``. A stage built on an earlier stage starts from that stage's ENV
        (computed here, from ``base_env`` of its own root image). Expansion errors raise a located ``ParseError``.
        """
        env = _env_pairs(base_env)
        return list(_walk(self, stage, _initial_scope(self, stage, env, True), True))

    def final_scope(
        self, stage: Stage, base_env: Iterable[tuple[str, str]] | Iterable[str] | None = None
    ) -> Scope:
        """The scope after the last instruction of ``stage`` (its ENV is what a later ``FROM stage`` starts from)."""
        return _final_scope(self, stage, _env_pairs(base_env), True)


# ---------------------------------------------------------------------------------------------------------------
# Planning


def plan(
    doc: Document,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    *,
    platform: str | None = None,
    build_platform: str | None = None,
) -> BuildPlan:
    """Group ``doc`` into stages, resolve references and global ARGs, prune to ``target``; validate expansions.

    ``platform``/``build_platform`` default to this machine's. Errors are ``ParseError`` at the offending line.
    """
    build_args = dict(build_args or {})
    path = doc.path
    meta: list[ins.Arg] = []
    groups: list[tuple[ins.From, list[ins.Instruction]]] = []
    for node in doc.nodes:
        instruction = ins.from_node(node, path)
        if isinstance(instruction, ins.From):
            groups.append((instruction, []))
        elif groups:
            groups[-1][1].append(instruction)
        elif isinstance(instruction, ins.Arg):
            meta.append(instruction)
        else:
            raise ParseError(
                instruction_before_from(node.keyword.upper()), path, node.start_line, ins.node_text(node)
            )
    if not groups:
        raise ParseError(no_stage(), path, doc.nodes[-1].start_line if doc.nodes else 1)
    total = len(groups)

    names: dict[str, int] = {}
    for index, (from_, _) in enumerate(groups):
        if from_.name is not None:
            if from_.name in names:
                raise ParseError(duplicate_stage(from_.name), path, from_.line, ins.node_text(from_.node))
            names[from_.name] = index

    target_name = target if target is not None else (groups[-1][0].name or "")
    try:
        build = Platform.parse(build_platform) if build_platform else host_platform()
        target_platform = Platform.parse(platform) if platform else build
    except ValueError as err:
        raise ParseError(str(err), path, groups[0][0].line) from None
    global_values = platform_args(build, target_platform, target_name)
    for key in global_values:
        if key in build_args:
            global_values[key] = build_args[key]
    global_values = _meta_args(meta, global_values, build_args, path, doc.escape)

    stages: list[Stage] = []
    for index, (from_, body) in enumerate(groups):
        stages.append(_stage(index, total, from_, body, names, global_values, path, doc.escape))

    if target is not None:
        chosen = names.get(target.lower())
        if chosen is None:
            # Not in the file: the error is about the file as a whole (no line), as for an unreadable file.
            raise ParseError(unknown_target(target), path, None)
    else:
        chosen = len(stages) - 1
    needed = _needed(stages, chosen)
    result = BuildPlan(
        path=path,
        escape=doc.escape,
        stages=tuple(stages[i] for i in sorted(needed)),
        all_stages=tuple(stages),
        target=stages[chosen],
        meta_args=tuple(meta),
        global_args=tuple(global_values.items()),
        build_args=tuple(build_args.items()),
    )
    finals: dict[int, Scope] = {}  # each stage is walked once, even when several stages build on it
    for stage in result.stages:  # surface expansion errors now, located, as BuildKit would when building
        _final_scope(result, stage, (), False, finals)
    return result


def _meta_args(
    meta: list[ins.Arg], values: dict[str, str], build_args: Mapping[str, str], path: str, escape: str
) -> dict[str, str]:
    values = dict(values)
    for arg in meta:
        for name, default in arg.pairs:
            if name in build_args:
                values[name] = build_args[name]
            elif default is not None:
                values[name] = _expand_one(default, values, arg, path, escape).value
    return values


def _expand_one(
    word: str, env: Mapping[str, str], where: ins.Instruction, path: str, escape: str
) -> Expansion:
    try:
        return expand(word, env, escape)
    except ExpansionError as err:
        raise ParseError(str(err), path, where.line, ins.node_text(where.node)) from None


def _find_stage(stages: tuple[Stage, ...], reference: str) -> Stage | None:
    lowered = reference.lower()
    for stage in stages:
        if stage.name is not None and stage.name == lowered:
            return stage
    if _is_go_int(reference) and 0 <= int(reference) < len(stages):
        return stages[int(reference)]
    return None


def _is_go_int(text: str) -> bool:
    body = text[1:] if text[:1] in ("+", "-") else text
    return body.isascii() and body.isdigit()


def _stage(
    index: int,
    total: int,
    from_: ins.From,
    body: list[ins.Instruction],
    names: dict[str, int],
    global_values: Mapping[str, str],
    path: str,
    escape: str,
) -> Stage:
    image = _expand_one(from_.image, global_values, from_, path, escape).value
    if image == "":
        raise ParseError(blank_base(from_.image), path, from_.line, ins.node_text(from_.node))
    stage_platform = None
    if from_.platform:
        stage_platform = _expand_one(from_.platform, global_values, from_, path, escape).value
        if stage_platform == "":
            raise ParseError(empty_platform(from_.platform), path, from_.line, ins.node_text(from_.node))
    label = from_.name or f"stage-{index}"
    base_stage = names.get(image.lower())
    if base_stage is not None and base_stage >= index:
        base_stage = None  # a later (or its own) name in FROM is an image reference, as in BuildKit
    dependencies: list[int] = [] if base_stage is None else [base_stage]
    images: list[str] = []

    def refer(reference: str, instruction: ins.Instruction, forward_message: str, by_index: bool) -> None:
        """Record a stage or image reference; indexes count every stage of the file (BuildKit), so a later
        index is a forward reference and only one past the end is invalid."""
        lowered = reference.lower()
        if lowered in names:
            found = names[lowered]
        elif by_index and _is_go_int(reference):
            found = int(reference)
            if not 0 <= found < total:
                raise ParseError(
                    invalid_stage_index(found), path, instruction.line, ins.node_text(instruction.node)
                )
        else:
            if reference not in images:
                images.append(reference)
            return
        if found >= index:
            raise ParseError(forward_message, path, instruction.line, ins.node_text(instruction.node))
        if found not in dependencies:
            dependencies.append(found)

    for instruction in body:
        if isinstance(instruction, ins.Copy) and instruction.from_:
            reference = instruction.from_
            try:
                literal = expand(reference, {}, escape).value
            except ExpansionError:
                literal = None
            if literal != reference:
                raise ParseError(from_variables(), path, instruction.line, ins.node_text(instruction.node))
            refer(reference, instruction, copy_forward_reference(reference, label), True)
        elif isinstance(instruction, ins.Run):
            for mount in instruction.mounts:
                if mount.from_:
                    target_path = (
                        mount.target or mount.get("target") or mount.get("dst") or mount.get("destination")
                    )
                    refer(mount.from_, instruction, mount_forward_reference(mount.from_, target_path), False)
    return Stage(
        index=index,
        name=from_.name,
        base=from_.image,
        image=image,
        platform=stage_platform,
        from_=from_,
        instructions=tuple(body),
        base_stage=base_stage,
        dependencies=tuple(sorted(dependencies)),
        images=tuple(images),
    )


def _needed(stages: list[Stage], target: int) -> set[int]:
    needed: set[int] = set()
    pending = [target]
    while pending:
        index = pending.pop()
        if index not in needed:
            needed.add(index)
            pending.extend(stages[index].dependencies)
    return needed


# ---------------------------------------------------------------------------------------------------------------
# Walking a stage


def _env_pairs(base_env: Iterable[tuple[str, str]] | Iterable[str] | None) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for item in base_env or ():
        if isinstance(item, str):
            name, _, value = item.partition("=")
            pairs.append((name, value))
        else:
            pairs.append((item[0], item[1]))
    return tuple(_merge((), pairs))


def _initial_scope(
    result: BuildPlan,
    stage: Stage,
    base_env: tuple[tuple[str, str], ...],
    strict: bool,
    finals: dict[int, Scope] | None = None,
) -> Scope:
    """A stage starts with its base image's ENV, or the ENV an earlier stage ended with (never its ARGs)."""
    if stage.base_stage is None:
        return Scope(env=base_env)
    parent = result.all_stages[stage.base_stage]
    return Scope(env=_final_scope(result, parent, base_env, strict, finals).env)


def _final_scope(
    result: BuildPlan,
    stage: Stage,
    base_env: tuple[tuple[str, str], ...],
    strict: bool,
    finals: dict[int, Scope] | None = None,
) -> Scope:
    """The scope after ``stage``; ``finals`` (stage index -> scope, same ``base_env``/``strict``) memoises it."""
    if finals is not None and stage.index in finals:
        return finals[stage.index]
    scope = _initial_scope(result, stage, base_env, strict, finals)
    last = deque(_walk(result, stage, scope, strict), maxlen=1)
    if last:  # the walk computed every scope but the one after its last step
        scope = _after(last[0], last[0].scope)
    if finals is not None:
        finals[stage.index] = scope
    return scope


def _root_image(result: BuildPlan, stage: Stage) -> str:
    while stage.base_stage is not None:
        stage = result.all_stages[stage.base_stage]
    return stage.image


def _walk(result: BuildPlan, stage: Stage, scope: Scope, strict: bool) -> Iterator[Step]:
    """Yield the steps of ``stage`` from its initial ``scope``. Not ``strict`` (planning, JSON): the root base
    image's ENV is unknown, so a ``${v:?}`` failure on a name that image could define is not an error yet."""
    unknown_base = not strict and _root_image(result, stage).lower() != "scratch"
    global_values = dict(result.global_args)
    build_args = dict(result.build_args)
    for instruction in stage.instructions:
        try:
            step = _step(instruction, scope, global_values, build_args, result.escape)
        except ExpansionError as err:
            if unknown_base and err.variable is not None and err.variable not in scope.variables():
                step = Step(instruction, instruction, scope)
            else:
                raise ParseError(
                    str(err), result.path, instruction.line, ins.node_text(instruction.node)
                ) from None
        except ValueError as err:  # a mount that becomes invalid once expanded
            raise ParseError(
                str(err), result.path, instruction.line, ins.node_text(instruction.node)
            ) from None
        yield step
        scope = _after(step, scope)


def _after(step: Step, scope: Scope) -> Scope:
    expanded = step.expanded
    if isinstance(expanded, ins.Env):
        return scope.with_env(expanded.pairs)
    if isinstance(expanded, ins.Arg):
        for name, value in expanded.pairs:
            scope = scope.with_arg(name, value)
    return scope


class _Expander:
    """Expands words against one scope and remembers which names they read."""

    def __init__(self, variables: Mapping[str, str], escape: str):
        self.variables = variables
        self.escape = escape
        self.used: set[str] = set()

    def word(self, text: str) -> str:
        result = expand(text, self.variables, self.escape)
        self.used |= result.used
        return result.value

    def words(self, text: str) -> list[str]:
        result = expand(text, self.variables, self.escape)
        self.used |= result.used
        return list(result.words)

    def optional(self, text: str | None) -> str | None:
        return None if text is None else (self.word(text) or None)

    def heredoc(self, doc: Heredoc) -> Heredoc:
        if not doc.expand:
            return doc
        result = expand(doc.content, self.variables, "\\", skip_quotes=True)
        self.used |= result.used
        return replace(doc, content=result.value)


def _step(
    instruction: ins.Instruction,
    scope: Scope,
    global_values: Mapping[str, str],
    build_args: Mapping[str, str],
    escape: str,
) -> Step:
    if isinstance(instruction, ins.Arg):
        ex = _Expander(scope._lookup(), escape)
        # Sequential: each default sees the ARGs to its left (BuildKit updates its state per name).
        pairs = []
        local = scope
        for name, default in instruction.pairs:
            if name in build_args:
                value: str | None = build_args[name]
            elif default is not None:
                ex.variables = local._lookup()
                value = ex.word(default)
            else:
                value = global_values.get(name)
            pairs.append((name, value))
            local = local.with_arg(name, value)
        pairs_tuple = tuple(pairs)
        expanded: ins.Instruction = (
            instruction if pairs_tuple == instruction.pairs else replace(instruction, pairs=pairs_tuple)
        )
        return Step(instruction, expanded, scope, frozenset(ex.used))
    expander = EXPANDERS.get(type(instruction))
    if expander is None or _nothing_to_expand(instruction):
        return Step(instruction, instruction, scope)
    ex = _Expander(scope._lookup(), escape)
    return Step(instruction, expander(instruction, ex), scope, frozenset(ex.used))


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
            return replace(instruction, **values)
    return instruction


def _expand_copy(c: ins.Copy, ex: _Expander) -> ins.Instruction:
    changes: dict[str, object] = {
        "sources": tuple(ex.word(s) for s in c.sources),
        "dest": ex.word(c.dest),
        "chown": ex.optional(c.chown),
        "chmod": ex.optional(c.chmod),
        "heredocs": tuple(ex.heredoc(d) for d in c.heredocs),
    }
    if isinstance(c, ins.Add):
        changes["checksum"] = ex.optional(c.checksum)
    return _changed(c, **changes)


def _expand_run(r: ins.Run, ex: _Expander) -> ins.Run:
    if all(m.resolved for m in r.mounts):
        return r
    return replace(r, mounts=tuple(m if m.resolved else ins.parse_mount(m.raw, ex.word) for m in r.mounts))


EXPANDERS: dict[type, Callable[[ins.Instruction, _Expander], ins.Instruction]] = {
    ins.Copy: _expand_copy,  # type: ignore[dict-item]
    ins.Add: _expand_copy,  # type: ignore[dict-item]
    ins.Run: _expand_run,  # type: ignore[dict-item]
    ins.Env: lambda e, ex: _changed(e, pairs=tuple((ex.word(k), ex.word(v)) for k, v in e.pairs)),
    ins.Label: lambda e, ex: _changed(e, pairs=tuple((ex.word(k), ex.word(v)) for k, v in e.pairs)),
    ins.Workdir: lambda e, ex: _changed(e, path=ex.word(e.path)),
    ins.User: lambda e, ex: _changed(e, user=ex.word(e.user)),
    ins.Stopsignal: lambda e, ex: _changed(e, signal=ex.word(e.signal)),
    ins.Volume: lambda e, ex: _changed(e, paths=tuple(ex.word(p) for p in e.paths)),
    ins.Expose: lambda e, ex: _changed(e, ports=tuple(w for p in e.ports for w in ex.words(p))),
}
"""Instruction class -> how BuildKit expands it (classes not listed are not expanded by the front end)."""


# ---------------------------------------------------------------------------------------------------------------
# JSON


def ir_to_json(value: object) -> object:
    """A typed IR value (instruction, mount, heredoc, tuple...) as JSON data; instructions carry their lines."""
    if isinstance(value, ins.Instruction):
        data: dict[str, object] = {"instruction": type(value).__name__.upper(), "line": value.line}
        data["end_line"] = value.node.end_line
        for f in dataclasses.fields(value):
            if f.name != "node":
                data[f.name.rstrip("_")] = ir_to_json(getattr(value, f.name))
        return data
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name.rstrip("_"): ir_to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [ir_to_json(v) for v in value]
    return value


def plan_to_json(result: BuildPlan | Document) -> dict[str, object]:
    """The typed IR as JSON data: stages with their instructions (and, where it differs, the expanded form)."""
    if isinstance(result, Document):
        result = plan(result)
    needed = {s.index for s in result.stages}
    stages = []
    for stage in result.all_stages:
        entries = []
        steps = []
        if stage.index in needed:
            steps = list(_walk(result, stage, _initial_scope(result, stage, (), False), False))
        expanded = {id(s.instruction): s.expanded for s in steps}
        for instruction in stage.instructions:
            entry = ir_to_json(instruction)
            done = expanded.get(id(instruction))
            if done is not None and done != instruction:
                entry["expanded"] = ir_to_json(done)  # type: ignore[index]
            entries.append(entry)
        stages.append(
            {
                "index": stage.index,
                "name": stage.name,
                "line": stage.line,
                "base": stage.base,
                "image": stage.image,
                "platform": stage.platform,
                "base_stage": stage.base_stage,
                "dependencies": list(stage.dependencies),
                "images": list(stage.images),
                "needed": stage.index in needed,
                "from": ir_to_json(stage.from_),
                "instructions": entries,
            }
        )
    return {
        "target": result.target.label,
        "order": [s.index for s in result.stages],
        "global_args": dict(result.global_args),
        "meta_args": [ir_to_json(a) for a in result.meta_args],
        "stages": stages,
    }


def to_json(doc: Document) -> dict[str, object]:
    """``shlax-front parse --json``: the plan of ``doc`` with default build args and target."""
    return plan_to_json(plan(doc))
