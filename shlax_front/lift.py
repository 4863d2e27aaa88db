"""A recipe's actions lifted to the typed instructions they stand for, so the stage graph, the scope walker and
the planner treat a recipe (``shlaxfile.py``) the way they treat a Containerfile, with no text in between.

Config values in a recipe follow the IR's convention (``lower.config_value``): ``\\$`` and ``\\\\`` are a literal
dollar and backslash, ``${NAME}`` a reference the build resolves (``PATH=/app/bin:${PATH}``). That is the
Containerfile word syntax, so each value becomes one double-quoted word and the walker expands it exactly as it
expands a Containerfile's. An install written by hand (no ``run=``) gets the plain command a person would write
for it, which is what runs and what the passes give its cache.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from shlax_front import actions as A
from shlax_front import instructions as ins
from shlax_front import stages as graph_of
from shlax_front.errors import ShlaxError
from shlax_front.scope import Step
from shlax_front.syntax import Node

#: the command an install action stands for when the recipe gives no ``run=``
INSTALL_COMMANDS = {
    "apt": "apt-get update && apt-get install -y --no-install-recommends {packages} && rm -rf /var/lib/apt/lists/*",
    "apk": "apk add --no-cache {packages}",
    "dnf": "dnf install -y {packages} && dnf clean all",
    "yum": "yum install -y {packages} && yum clean all",
    "microdnf": "microdnf install -y {packages} && microdnf clean all",
    "zypper": "zypper --non-interactive install {packages} && zypper clean",
    "pacman": "pacman -Sy --noconfirm {packages}",
}


class RecipeError(ShlaxError):
    """An action a build cannot run (an install whose manager has no known command, a stage inside a stage, a
    mount that does not parse): one line, exit status 2."""


def with_commands(stages: Iterable[A.Stage]) -> tuple[A.Stage, ...]:
    """The stages with every hand-written install given the command it stands for (``run=``)."""
    out = []
    for stage in stages:
        actions = tuple(
            a.evolve(run=command_of(a)) if isinstance(a, A.RunLike) and not a.run else a
            for a in stage.actions
        )
        out.append(stage.evolve(actions=actions))
    return tuple(out)


def command_of(action: A.RunLike) -> str:
    packages = " ".join(getattr(action, "packages", ()))
    if isinstance(action, A.Packages):
        if action.manager not in INSTALL_COMMANDS:
            raise RecipeError(f"Packages(manager={action.manager!r}): no install command known for it")
        return INSTALL_COMMANDS[action.manager].format(packages=packages)
    if isinstance(action, A.Pip):
        parts = [action.executable, "install", *action.options]
        parts += [x for r in action.requirements for x in ("-r", r)]
        return " ".join([*parts, *action.packages])
    if isinstance(action, A.Npm):
        return " ".join([action.tool, action.verb, *action.options, *action.packages])
    raise RecipeError(f"{type(action).__name__}() needs run=")


def groups_of(
    stages: tuple[A.Stage, ...],
) -> list[tuple[ins.From, list[ins.Instruction]]]:
    """Each stage's FROM and its actions as typed instructions, for ``stages.graph``."""
    return [
        (_from(stage), [instruction_of(action, stage.line) for action in stage.actions]) for stage in stages
    ]


def lower_recipe(
    graph: graph_of.BuildPlan,
    stages: tuple[A.Stage, ...],
    roots: graph_of.RootScopes | None = None,
) -> tuple[A.Stage, ...]:
    """The recipe's own actions, for the stages ``graph`` needs, each with the step the walker recorded for
    the instruction it was lifted to: what ``lower.lower_plan`` gives for a Containerfile."""
    walker = graph.walker(roots, strict=True)
    out = []
    for stage in graph.stages:
        actions = stages[stage.index].actions
        steps: Iterator[Step] = walker.walk(stage)
        walked = tuple(action.evolve(step=step) for action, step in zip(actions, steps, strict=True))
        out.append(
            stages[stage.index].evolve(
                actions=walked, base=stage.image, index=stage.index, base_stage=stage.base_stage
            )
        )
    return tuple(out)


# ---------------------------------------------------------------------------------------------------------------
# One action


def instruction_of(action: A.Action, line: int = 0) -> ins.Instruction:
    """The typed instruction ``action`` stands for (its values as words the walker expands)."""
    at = action.line or line
    if isinstance(action, A.RunLike):
        command = action.run if isinstance(action.run, tuple) else (action.run or command_of(action))
        return ins.Run(
            _node("run", at, exec_form=isinstance(command, tuple), heredocs=action.heredocs),
            command=command,
            exec_form=isinstance(command, tuple),
            mounts=tuple(_mount(m) for m in action.mounts),
            network=action.network,
            security=action.security,
            heredocs=tuple(action.heredocs),
        )
    if isinstance(action, A.Copy):
        fields = dict(
            sources=tuple(action.sources),
            dest=action.dest,
            from_=action.from_,
            chown=action.chown,
            chmod=action.chmod,
            link=action.link,
            parents=action.parents,
            exclude=tuple(action.exclude),
            heredocs=tuple(action.heredocs),
        )
        if action.add:
            node = _node("add", at, exec_form=True, heredocs=action.heredocs)
            return ins.Add(node, checksum=action.checksum, keep_git_dir=action.keep_git_dir, **fields)
        return ins.Copy(_node("copy", at, exec_form=True, heredocs=action.heredocs), **fields)
    if isinstance(action, A.Env):
        return ins.Env(_node("env", at), pairs=tuple((k, _word(v)) for k, v in action.pairs))
    if isinstance(action, A.Arg):
        pairs = tuple((k, None if v is None else _word(v)) for k, v in action.pairs)
        return ins.Arg(_node("arg", at), pairs=pairs)
    if isinstance(action, A.Label):
        return ins.Label(_node("label", at), pairs=tuple((_word(k), _word(v)) for k, v in action.pairs))
    if isinstance(action, A.Workdir):
        return ins.Workdir(_node("workdir", at), path=_word(action.path))
    if isinstance(action, A.User):
        return ins.User(_node("user", at), user=_word(action.user))
    if isinstance(action, A.Expose):
        return ins.Expose(_node("expose", at), ports=tuple(action.ports))
    if isinstance(action, A.Volume):
        return ins.Volume(_node("volume", at), paths=tuple(_word(p) for p in action.paths))
    if isinstance(action, (A.Cmd, A.Entrypoint)):
        cls = ins.Cmd if isinstance(action, A.Cmd) else ins.Entrypoint
        exec_form = isinstance(action.command, tuple)
        return cls(
            _node(cls.__name__.lower(), at, exec_form=exec_form), command=action.command, exec_form=exec_form
        )
    if isinstance(action, A.Shell):
        return ins.Shell(_node("shell", at, exec_form=True), argv=tuple(action.argv))
    if isinstance(action, A.Stopsignal):
        return ins.Stopsignal(_node("stopsignal", at), signal=action.signal)
    if isinstance(action, A.Healthcheck):
        return ins.Healthcheck(
            _node("healthcheck", at),
            test=tuple(action.test),
            interval=action.interval,
            timeout=action.timeout,
            start_period=action.start_period,
            start_interval=action.start_interval,
            retries=action.retries,
        )
    if isinstance(action, A.Onbuild):
        return ins.Onbuild(_node("onbuild", at), trigger=action.trigger)
    if isinstance(action, A.Maintainer):
        return ins.Maintainer(_node("maintainer", at), name=action.name)
    raise RecipeError(f"{type(action).__name__}() is not an action a stage can run")


def _from(stage: A.Stage) -> ins.From:
    return ins.From(_node("from", stage.line), image=stage.base, name=stage.name, platform=stage.platform)


def _mount(text: str) -> ins.Mount:
    try:
        return ins.parse_mount(text)
    except ValueError as err:
        raise RecipeError(f"Run(mounts=[{text!r}]): {err}") from None


def _word(value: str) -> str:
    """A config value (IR convention) as one double-quoted Containerfile word."""
    return '"' + value.replace('"', '\\"') + '"'


def _node(keyword: str, line: int, exec_form: bool = False, heredocs: Iterable = ()) -> Node:
    """The syntax node of a lifted instruction: where it came from (line 0 when the recipe does not say) for
    messages, no text (so its values are always expanded, never taken as literal)."""
    return Node(
        keyword=keyword,
        json=exec_form,
        heredocs=list(heredocs),
        start_line=line,
        end_line=line,
        original=keyword.upper(),
        value="(from the recipe)",
    )
