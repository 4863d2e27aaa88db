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
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from shlax_front import instructions as ins
from shlax_front.errors import ParseError
from shlax_front.expand import ExpansionError, expand
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
from shlax_front.platforms import Platform as Platform
from shlax_front.platforms import host_platform as host_platform
from shlax_front.platforms import platform_args
from shlax_front.scope import (  # Scope and Step re-exported: callers read the walk's types through stages
    BUILDKIT,
    Rules,
    Scope,
    Step,
    WalkContext,
    final_scope,
    merge_env,
    walk,
)
from shlax_front.syntax import Document

# ---------------------------------------------------------------------------------------------------------------
# The graph


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


#: stage -> the scope it starts with when it is built on an image (not on an earlier stage)
RootScopes = Callable[[Stage], Scope]


@dataclass(frozen=True)
class BuildPlan:
    """What to build: ``stages`` (only those the target needs, dependency order, target last), ``all_stages``
    (file order), the global ARG values visible in ``FROM``, the ``--build-arg`` values given, and the
    ``rules`` every walk of a stage follows (with the predefined ARG values those rules know)."""

    path: str
    escape: str
    stages: tuple[Stage, ...]
    all_stages: tuple[Stage, ...]
    target: Stage
    meta_args: tuple[ins.Arg, ...] = ()
    global_args: tuple[tuple[str, str], ...] = ()
    build_args: tuple[tuple[str, str], ...] = ()
    rules: Rules = BUILDKIT
    predefined: tuple[tuple[str, str], ...] = ()

    def declared_args(self) -> set[str]:
        """Every name an ARG declares, before the first ``FROM`` or in any stage, built or not (what bud counts
        when it warns about a ``--build-arg`` nothing consumed)."""
        args = [
            *self.meta_args,
            *(i for s in self.all_stages for i in s.instructions if isinstance(i, ins.Arg)),
        ]
        return {name for arg in args for name, _ in arg.pairs}

    def stage(self, reference: str | int) -> Stage:
        """A stage by name (any case) or index; ``KeyError`` when there is none."""
        found = _find_stage(self.all_stages, str(reference))
        if found is None:
            raise KeyError(reference)
        return found

    def walker(self, roots: RootScopes | None = None, strict: bool = True) -> StageWalker:
        """Walks stages of this plan; ``roots`` gives a root stage's starting scope (its base image's config),
        unknown (empty) when not given: then ``strict`` False tolerates what that image could define."""
        return StageWalker(self, roots or (lambda stage: Scope()), strict)

    def steps(
        self, stage: Stage, base_env: Iterable[tuple[str, str]] | Iterable[str] | None = None
    ) -> list[Step]:
        """Walk ``stage``: each instruction with its expansion and scope.

        ``base_env`` is the base image's ENV (``"K=V"`` strings as in an image config, or pairs); it matters to
        expansions such as ``ENV PATH=$PATH:/x``. A stage built on an earlier stage starts from that stage's
        final scope (computed here, from ``base_env`` of its own root image). Expansion errors raise a located
        ``ParseError``.
        """
        env = _env_pairs(base_env)
        return list(self.walker(lambda stage: Scope(env=env)).walk(stage))

    def final_scope(
        self, stage: Stage, base_env: Iterable[tuple[str, str]] | Iterable[str] | None = None
    ) -> Scope:
        """The scope after the last instruction of ``stage`` (what a later ``FROM stage`` starts from)."""
        env = _env_pairs(base_env)
        return self.walker(lambda stage: Scope(env=env)).final(stage)


class StageWalker:
    """``scope.walk`` over the stages of one plan: a stage built on an earlier one starts from that stage's final
    scope, each stage's final scope computed once however many stages build on it."""

    def __init__(self, plan: BuildPlan, roots: RootScopes, strict: bool):
        self.plan = plan
        self.roots = roots
        self.strict = strict
        self._finals: dict[int, Scope] = {}

    def initial(self, stage: Stage) -> Scope:
        if stage.base_stage is None:
            return self.roots(stage)
        return self.final(self.plan.all_stages[stage.base_stage]).child()

    def walk(self, stage: Stage) -> Iterator[Step]:
        yield from walk(stage.instructions, self.initial(stage), self.context(stage))

    def final(self, stage: Stage) -> Scope:
        if stage.index not in self._finals:
            self._finals[stage.index] = final_scope(
                stage.instructions, self.initial(stage), self.context(stage)
            )
        return self._finals[stage.index]

    def context(self, stage: Stage) -> WalkContext:
        plan = self.plan
        return WalkContext(
            rules=plan.rules,
            path=plan.path,
            escape=plan.escape,
            global_values=dict(plan.global_args),
            build_args=dict(plan.build_args),
            predefined={} if plan.rules.predefined_global else dict(plan.predefined),
            strict=self.strict or _root_image(plan, stage).lower() == "scratch",
        )


# ---------------------------------------------------------------------------------------------------------------
# Planning


def plan(
    doc: Document,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    *,
    platform: str | None = None,
    build_platform: str | None = None,
    rules: Rules = BUILDKIT,
) -> BuildPlan:
    """Group ``doc`` into stages, resolve references and global ARGs, prune to ``target``; validate expansions.

    ``platform``/``build_platform`` default to this machine's. Errors are ``ParseError`` at the offending line.
    """
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
    return graph(
        path,
        doc.escape,
        meta,
        groups,
        build_args,
        target,
        platform=platform,
        build_platform=build_platform,
        rules=rules,
    )


def graph(
    path: str,
    escape: str,
    meta: list[ins.Arg],
    groups: list[tuple[ins.From, list[ins.Instruction]]],
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    *,
    platform: str | None = None,
    build_platform: str | None = None,
    rules: Rules = BUILDKIT,
) -> BuildPlan:
    """The graph of stages already typed and grouped: the global ARGs (``meta``) and each FROM with the
    instructions up to the next (a Containerfile's, or a recipe's lifted actions)."""
    build_args = dict(build_args or {})
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
    predefined = platform_args(build, target_platform, target_name)
    if rules.predefined is not None:
        predefined = {name: predefined[name] for name in rules.predefined}
    global_values = _meta_args(meta, predefined, build_args, rules, path, escape)

    stages: list[Stage] = []
    for index, (from_, body) in enumerate(groups):
        stages.append(_stage(index, total, from_, body, names, global_values, rules, path, escape))

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
        escape=escape,
        stages=tuple(stages[i] for i in sorted(needed)),
        all_stages=tuple(stages),
        target=stages[chosen],
        meta_args=tuple(meta),
        global_args=tuple(global_values.items()),
        build_args=tuple(build_args.items()),
        rules=rules,
        predefined=tuple(predefined.items()),
    )
    if not rules.keep_unknown:  # surface expansion errors now, located, as BuildKit would when building
        walker = result.walker(strict=False)
        for stage in result.stages:
            walker.final(stage)
    return result


def _meta_args(
    meta: list[ins.Arg],
    predefined: Mapping[str, str],
    build_args: Mapping[str, str],
    rules: Rules,
    path: str,
    escape: str,
) -> dict[str, str]:
    """The global ARG values (what FROM lines see). BuildKit starts from every predefined platform ARG (a
    ``--build-arg`` may override one); bud only gives one to a bare global ``ARG NAME``."""
    values: dict[str, str] = {}
    if rules.predefined_global:
        values = {name: build_args.get(name, value) for name, value in predefined.items()}
    for arg in meta:
        for name, default in arg.pairs:
            if name in build_args:
                values[name] = build_args[name]
            elif default is not None:
                values[name] = _expand_global(default, values, arg, rules, path, escape)
            elif not rules.predefined_global and name in predefined:
                values[name] = predefined[name]
    return values


def _expand_global(
    word: str, env: Mapping[str, str], where: ins.Instruction, rules: Rules, path: str, escape: str
) -> str:
    """A word of a FROM line or a global ARG default; the lenient rules keep what they cannot expand."""
    try:
        return expand(word, env, escape, skip_unset=rules.keep_unknown).value
    except ExpansionError as err:
        if rules.keep_unknown:
            return word
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
    rules: Rules,
    path: str,
    escape: str,
) -> Stage:
    image = _expand_global(from_.image, global_values, from_, rules, path, escape)
    if image == "":
        raise ParseError(blank_base(from_.image), path, from_.line, ins.node_text(from_.node))
    stage_platform = None
    if from_.platform:
        stage_platform = _expand_global(from_.platform, global_values, from_, rules, path, escape)
        if stage_platform == "" and rules.empty_platform_error:
            raise ParseError(empty_platform(from_.platform), path, from_.line, ins.node_text(from_.node))
    label = from_.name or f"stage-{index}"
    base_stage = names.get(image.lower())
    if base_stage is not None and base_stage >= index:
        base_stage = None  # a later (or its own) name in FROM is an image reference, as in BuildKit
    if base_stage is None and rules.from_stage_index and _is_go_int(image) and 0 <= int(image) < index:
        base_stage = int(image)  # FROM <index> of an earlier stage (buildah resolves it as BuildKit does)
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


def _env_pairs(base_env: Iterable[tuple[str, str]] | Iterable[str] | None) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for item in base_env or ():
        if isinstance(item, str):
            name, _, value = item.partition("=")
            pairs.append((name, value))
        else:
            pairs.append((item[0], item[1]))
    return tuple(merge_env((), pairs))


def _root_image(result: BuildPlan, stage: Stage) -> str:
    while stage.base_stage is not None:
        stage = result.all_stages[stage.base_stage]
    return stage.image


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
    walker = result.walker(strict=False)
    stages = []
    for stage in result.all_stages:
        entries = []
        # the walk yields one step per instruction, in order; a stage the target does not need is not walked
        expanded = [s.expanded for s in walker.walk(stage)] if stage.index in needed else []
        for n, instruction in enumerate(stage.instructions):
            entry = ir_to_json(instruction)
            done = expanded[n] if expanded else None
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
