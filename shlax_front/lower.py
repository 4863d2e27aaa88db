"""Instructions -> actions: each RUN's script is parsed (``shell.py``) and its package-manager commands
recognised (``managers/``); every other instruction becomes its config/COPY action.

The rule is *never guess*: a RUN becomes an install action only when every install command in it runs
unconditionally in a script we parsed completely. An install inside an ``if``/loop body, a subshell or a
``{ }`` group, or to the right of ``||`` is still recognised (a cache mount and the removal of cache-defeating
flags do not depend on whether the branch runs), but the RUN stays a ``Run`` listing it in ``installs``: the
RUN may not install anything. Installs whose place we cannot reason about (a function body, ``$(...)``, the
background) leave the RUN a plain ``Run`` and ``notes`` says why; ``explain`` shows those notes. Lowering
never changes what runs: the rewrite decisions are the passes'.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from shlax_front import actions as A
from shlax_front import instructions as I
from shlax_front import managers, runbody, shell, stages
from shlax_front.expand import Expansion, ExpansionError, expand
from shlax_front.managers.base import INSTALL, UPDATE, Invocation
from shlax_front.scope import LENIENT, Step
from shlax_front.syntax import Document

#: SHELL argv prefixes whose ``-c`` script is POSIX/bash enough for our parser.
POSIX_SHELLS = ("sh", "bash", "dash", "ash")
#: Where an install may sit and still be cached (``shell.Command.conditional`` values, by prefix): the
#: command runs zero or more times, but whenever it runs, it runs as written in this RUN's own process tree.
CACHEABLE_CONDITIONS = (
    "inside if",
    "inside for",
    "inside while",
    "inside until",
    "after ||",
    "inside a subshell",
    "inside a { } group",
    "inside a pipeline",
)


@dataclass
class Recognition:
    """What lowering found in one RUN: the invocations, the parsed script and why it was left alone."""

    script: shell.Script | None
    invocations: list[Invocation] = field(default_factory=list)
    reason: str | None = None
    heredoc: bool = False
    #: an install runs only under a condition (if/loop/``||``...): the RUN stays a ``Run`` listing it
    conditional: bool = False


def lower(doc: Document, build_args: Mapping[str, str] | None = None) -> tuple[A.Stage, ...]:
    """The stages of ``doc`` as actions (before any rewrite pass), scoped by the lenient rules: what the
    optimize, explain and migrate views need, without the base images' configs."""
    return lower_plan(stages.plan(doc, build_args, rules=LENIENT))


def lower_plan(
    graph: stages.BuildPlan,
    roots: stages.RootScopes | None = None,
    only: Iterable[stages.Stage] | None = None,
) -> tuple[A.Stage, ...]:
    """The stages of ``graph`` (all of them, or ``only`` those, in that order) as actions.

    Each action carries the walker's ``Step`` (its expansion under ``graph.rules`` and the scope it runs in),
    which is what the build backend reads; ``roots`` gives a root stage's scope (its base image's config).
    """
    walker = graph.walker(roots, strict=True)
    first_node = {
        stage.index: len(graph.meta_args) + _nodes_before(graph, stage) for stage in graph.all_stages
    }
    out: list[A.Stage] = []
    for stage in graph.all_stages if only is None else only:
        node = first_node[stage.index]
        actions: list[A.Action] = []
        for offset, step in enumerate(walker.walk(stage), start=1):
            action = _action(step, {"line": step.line, "node": node + offset})
            if action is not None:
                actions.append(action.evolve(step=step))
        out.append(
            A.Stage(
                actions=tuple(actions),
                base=stage.image,
                name=stage.name,
                platform=stage.from_.platform,
                line=stage.line,
                node=node,
                index=stage.index,
                base_stage=stage.base_stage,
            )
        )
    return tuple(out)


def _nodes_before(graph: stages.BuildPlan, stage: stages.Stage) -> int:
    """How many instructions of the file come before ``stage``'s FROM (after the global ARGs)."""
    return sum(1 + len(s.instructions) for s in graph.all_stages[: stage.index])


def _action(step: Step, common: dict) -> A.Action | None:
    """The action for one walked instruction. Config values follow the IR's convention (``config_value``)."""
    instr = step.instruction
    scope = step.scope.variables()
    if isinstance(instr, I.Run):
        return lower_run(instr, scope, step.scope.shell, common)
    if isinstance(instr, I.Copy):
        return A.Copy(
            sources=tuple(instr.sources),
            dest=instr.dest,
            from_=instr.from_,
            chown=instr.chown,
            chmod=instr.chmod,
            link=instr.link,
            parents=instr.parents,
            exclude=tuple(instr.exclude),
            add=isinstance(instr, I.Add),
            checksum=getattr(instr, "checksum", None),
            keep_git_dir=getattr(instr, "keep_git_dir", False),
            heredocs=tuple(instr.heredocs),
            **common,
        )
    if isinstance(instr, I.Env):
        return A.Env(pairs=tuple((name, config_value(value, scope)) for name, value in instr.pairs), **common)
    if isinstance(instr, I.Arg):
        pairs = []
        local = dict(scope)
        for (name, default), (_, value) in zip(instr.pairs, step.expanded.pairs, strict=True):
            pairs.append((name, None if default is None else config_value(default, local)))
            if value is not None and name not in dict(step.scope.env):
                local[name] = value
        return A.Arg(pairs=tuple(pairs), **common)
    if isinstance(instr, I.Label):
        pairs = tuple((config_value(k, scope), config_value(v, scope)) for k, v in instr.pairs)
        return A.Label(pairs=pairs, **common)
    if isinstance(instr, I.Workdir):
        return A.Workdir(path=config_value(instr.path, scope), **common)
    if isinstance(instr, I.User):
        return A.User(user=config_value(instr.user, scope), **common)
    if isinstance(instr, I.Expose):
        return A.Expose(ports=tuple(instr.ports), **common)
    if isinstance(instr, I.Volume):
        return A.Volume(paths=tuple(instr.paths), **common)
    if isinstance(instr, I.Entrypoint):
        return A.Entrypoint(command=instr.command, **common)
    if isinstance(instr, I.Cmd):
        return A.Cmd(command=instr.command, **common)
    if isinstance(instr, I.Shell):
        return A.Shell(argv=tuple(instr.argv), **common)
    if isinstance(instr, I.Healthcheck):
        return A.Healthcheck(
            test=tuple(instr.test),
            interval=instr.interval,
            timeout=instr.timeout,
            start_period=instr.start_period,
            start_interval=instr.start_interval,
            retries=instr.retries,
            **common,
        )
    if isinstance(instr, I.Stopsignal):
        return A.Stopsignal(signal=instr.signal, **common)
    if isinstance(instr, I.Onbuild):
        return A.Onbuild(trigger=instr.trigger, **common)
    if isinstance(instr, I.Maintainer):
        return A.Maintainer(name=instr.name, **common)
    return None


def _known(word: str, scope: Mapping[str, str]) -> Expansion | None:
    """``word`` expanded with the variables this Containerfile defines, others kept as written (``unset`` names
    them); None when the word cannot be expanded at all."""
    try:
        return expand(word, scope, skip_unset=True)
    except ExpansionError:
        return None


def config_value(word: str, scope: Mapping[str, str]) -> str:
    """``word`` in the IR's convention for config values (ENV, ARG defaults, LABEL, WORKDIR, USER): the value with
    quotes removed and this Containerfile's own variables expanded, in which ``\\$`` and ``\\\\`` stand for a
    literal dollar and backslash and ``${NAME}`` is a reference the builder resolves (a variable of the base image,
    such as ``$PATH``). Without that escape ``ENV PATH=/x:$PATH`` and ``ENV PRICE=\\$5`` would both lower to a bare
    ``$`` and a recipe could not be built back into the same image.

    A word that gives an unknown variable a default or pattern (``${NAME:-x}``) keeps its text as written
    after expansion of the known ones: only the builder can evaluate it."""
    return _config_value(word, scope, _known(word, scope))


def _config_value(word: str, scope: Mapping[str, str], known: Expansion | None) -> str:
    """``config_value`` given ``_known(word, scope)``, for callers that need that expansion too."""
    if known is None:
        return word
    if not known.unset:
        return _escape_literal(known.value)
    if any(re.search(r"\$\{" + re.escape(name) + r"[^}A-Za-z0-9_]", word) for name in known.unset):
        return known.value
    marks = {name: f"\x00{name}\x00" for name in known.unset}
    try:
        marked = expand(word, {**scope, **marks}).value
    except ExpansionError:
        return known.value
    return re.sub(r"\x00(\w+)\x00", r"${\1}", _escape_literal(marked))


def _escape_literal(value: str) -> str:
    return value.replace("\\", "\\\\").replace("$", "\\$")


def run_script(instr_command: str, heredocs) -> tuple[str | None, bool, str | None]:
    """(script, is_heredoc, reason) for a shell-form RUN."""
    if heredocs:
        body = runbody.read(instr_command, heredocs).script
        if body is None:
            return None, True, "heredoc used as the input of a command (not as the script)"
        return body, True, None
    return instr_command, False, None


def recognise(command: str, heredocs, scope: Mapping[str, str], shell_argv=("/bin/sh", "-c")) -> Recognition:
    """Parse a shell-form RUN body and find the package-manager commands in it."""
    name = shell_argv[0].rsplit("/", 1)[-1] if shell_argv else "sh"
    if name not in POSIX_SHELLS or "-c" not in shell_argv[1:]:
        return Recognition(None, reason=f"SHELL {list(shell_argv)} is not a POSIX shell")
    script_text, is_heredoc, reason = run_script(command, heredocs)
    if script_text is None:
        return Recognition(None, reason=reason, heredoc=is_heredoc)
    script = shell.parse(script_text)
    rec = Recognition(script, heredoc=is_heredoc)
    if script.opaque:
        rec.reason = script.opaque
        # still report install-looking words for explain/statistics
        return rec
    for cmd in script.commands:
        manager = managers.find(cmd)
        if manager is None:
            continue
        inv = manager.invocation(cmd, scope)
        rec.invocations.append(inv)
        if inv.role in (INSTALL, UPDATE) and cmd.conditional:
            if cmd.conditional.startswith(CACHEABLE_CONDITIONS):
                rec.conditional = True
            else:
                rec.reason = rec.reason or f"`{_show(cmd)}` runs {cmd.conditional}: not rewritten"
    if not rec.invocations and any(c.conditional == shell.COMPUTED_SCRIPT for c in script.commands):
        rec.reason = "a `sh -c`/`su -c` script computed at run time (from variables): not looked into"
    return rec


def _show(cmd: shell.Command) -> str:
    text = " ".join(w.value for w in cmd.args[:3])
    return text if len(cmd.args) <= 3 else text + " ..."


def lower_run(instr: I.Run, scope: Mapping[str, str], shell_argv, common: dict) -> A.Action:
    flags = {
        "mounts": tuple(m.raw if getattr(m, "raw", None) else _mount_text(m) for m in instr.mounts),
        "network": instr.network,
        "security": instr.security,
        "heredocs": tuple(instr.heredocs),
    }
    if instr.exec_form:
        argv = tuple(instr.command)
        note = ("exec form: run as written (no shell to carry cache settings)",)
        rec = recognise(shlex.join(argv), (), scope) if argv else Recognition(None)
        installs = installs_of(rec.invocations, rec.script) if not rec.reason else []
        if len(installs) == 1 and not rec.conditional:
            return installs[0].evolve(run=argv, notes=note, **flags, **common)
        return A.Run(argv, notes=note, **flags, **common)
    command = instr.command
    rec = recognise(command, instr.heredocs, scope, shell_argv)
    if rec.reason:
        return A.Run(command, notes=(rec.reason,), **flags, **common)
    installs = installs_of(rec.invocations, rec.script)
    if len(installs) == 1 and not rec.conditional:
        return installs[0].evolve(run=command, **flags, **common)
    return A.Run(command, installs=tuple(installs), **flags, **common)


def _mount_text(mount) -> str:
    return ",".join(f"{k}={v}" for k, v in mount.options)


def installs_of(invocations: list[Invocation], script: shell.Script | None) -> list[A.Install]:
    """One install action per install command, with ``update`` set when an index update precedes it."""
    out: list[A.Install] = []
    updated: set[str] = set()
    for inv in invocations:
        if inv.role == UPDATE:
            updated.add(inv.name)
        if inv.role != INSTALL:
            continue
        if inv.manager.family == "system":
            update = (
                inv.name in updated
                or bool(inv.extra.get("update"))
                or (
                    inv.name == "apk"
                    and any(o in ("-U", "--update", "--update-cache", "--no-cache") for o in inv.options)
                )
            )
            out.append(
                A.Packages(
                    *inv.packages,
                    manager=inv.name,
                    update=update,
                    options=inv.options,
                    virtual=inv.extra.get("virtual"),
                )
            )
        elif inv.manager.family == "python":
            out.append(
                A.Pip(
                    *inv.packages,
                    requirements=inv.extra.get("requirements", ()),
                    constraints=inv.extra.get("constraints", ()),
                    editable=inv.extra.get("editable", ()),
                    options=inv.options,
                    user=bool(inv.extra.get("user")),
                    tool=inv.name,
                    executable=" ".join(inv.command.argv[: inv.manager.program_words(inv.command)]),
                )
            )
        else:
            out.append(
                A.Npm(
                    *inv.packages,
                    tool=inv.name,
                    verb=inv.verb,
                    options=inv.options,
                    cwd=_cwd_before(inv, script),
                )
            )
    return out


def _cwd_before(inv: Invocation, script: shell.Script | None) -> str | None:
    """The directory a ``cd`` in the same region (or an enclosing one) moved to before ``inv`` (None when
    none, or not knowable)."""
    if script is None:
        return None
    cwd = None
    for cmd in script.commands:
        if cmd is inv.command:
            break
        if cmd.argv[:1] == ["cd"] and cmd.encloses(inv.command) and cmd.depth == inv.command.depth:
            args = cmd.args[1:]
            cwd = args[0].value if len(args) == 1 and not args[0].dynamic else None
    return cwd
