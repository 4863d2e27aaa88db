"""The backend's one entry from the front end: passed actions in, executor steps out.

``Planner.plan()`` runs the front end once, under buildah bud's rules (``scope.BUD``): the stage graph with
``--target`` pruning (``stages.plan``), the one scope walk with each root stage starting from its base image's
config (``ENV PATH=$PATH:/x`` needs it), lowering to actions and the rewrite passes. It then turns each action
into a step, reading the expansion and the scope the walker recorded on it (``action.step``) and the cache
decision the passes attached (``action.caching``): it walks nothing and decides nothing about packages itself.

What follows bud rather than BuildKit is in the rules (predefined platform ARGs only through a bare ``ARG``,
shell-form COPY sources split after expansion, ``FROM <index>``) and in how values are stored: ``buildah
config`` flags as bud stores them (``EXPOSE 80`` is ``80/tcp``; CMD/ENTRYPOINT shell form is ``/bin/sh -c``).
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re
import shlex
import sys
from collections.abc import Callable

from shlax_front import actions as A
from shlax_front import instructions as ins
from shlax_front import lift
from shlax_front import stages as graph_of
from shlax_front.backend import budversion, history
from shlax_front.backend.copyopts import copy_flags_problem
from shlax_front.backend.deltarule import describe as describe_install
from shlax_front.backend.steps import (
    BuildSteps,
    ConfigStep,
    CopyStep,
    FromStep,
    HostCache,
    Location,
    RunMount,
    RunStep,
    Stage,
    Step,
)
from shlax_front.errors import ParseError
from shlax_front.expand import ExpansionError, process_words
from shlax_front.lower import lower_plan
from shlax_front.passes import run_passes
from shlax_front.platforms import Platform, host_platform
from shlax_front.runbody import heredoc_run
from shlax_front.scope import BUD, DEFAULT_PATH, DEFAULT_SHELL, Scope, image_scope
from shlax_front.syntax import Document

__all__ = ["DEFAULT_PATH", "DEFAULT_SHELL", "ImageConfig", "Planner"]

DOCKER_ONLY = (A.Healthcheck, A.Shell, A.Onbuild, A.Stopsignal)

#: image reference -> {"env": {..}, "shell": (...), "user": str, "workdir": str} or None when unknown
ImageConfig = Callable[[str], dict | None]


class Planner:
    """Plans one Containerfile (``doc``) or one recipe (``recipe``: its stages of actions, read from ``path``)
    for the executor (``plan``) and, while it runs, the ONBUILD triggers a base image turns out to carry
    (``onbuild_steps``)."""

    def __init__(
        self,
        doc: Document | None,
        build_args: dict[str, str] | None = None,
        target: str | None = None,
        image_config: ImageConfig | None = None,
        caching: bool = True,
        *,
        recipe: tuple[A.Stage, ...] | None = None,
        path: str | None = None,
        incremental: bool | None = False,
    ):
        if (doc is None) == (recipe is None):
            raise TypeError("Planner() plans either a Containerfile (doc) or a recipe (recipe=...)")
        self.doc = doc
        self.recipe = recipe
        self.path = doc.path if doc is not None else (path or "shlaxfile.py")
        self.bud = budversion.installed()
        self.build_args = self.bud.with_platform_args(build_args or {})
        self.target = target
        self.image_config = image_config or (lambda ref: None)
        self.caching = caching
        #: describe each RUN's install for the executor's incremental layers (``backend/deltarule.py``)
        self.incremental = incremental
        #: the ARG names the file declares (set by ``plan``: the graph knows them; bud warns about the others)
        self.declared_args: set[str] = set()

    # -- public ---------------------------------------------------------------------------------------------
    def plan(self) -> BuildSteps:
        graph, lowered = self._front_end()
        self.declared_args = graph.declared_args()
        if self.caching:
            lowered = _passed(lowered, self.path)
        names = {s.name: s.index for s in graph.all_stages if s.name}
        built = [self._stage(stage, names) for stage in lowered]
        docker = any(isinstance(a, DOCKER_ONLY) for stage in lowered for a in stage.actions)
        return BuildSteps(built, self.path, needs_docker_format=docker)

    def _front_end(self) -> tuple[graph_of.BuildPlan, tuple[A.Stage, ...]]:
        """The stage graph under bud's rules and the actions of the stages the target needs, walked."""
        if self.recipe is not None:
            stages = lift.with_commands(self.recipe)
            graph = graph_of.graph(
                self.path, "\\", [], lift.groups_of(stages), self.build_args, self.target, rules=BUD
            )
        else:
            assert self.doc is not None
            graph = graph_of.plan(self.doc, self.build_args, self.target, rules=BUD)
        for stage in graph.stages:
            if stage.base_stage is None:
                self._refuse_foreign_platform(stage)
        args = [i for s in graph.stages for i in s.instructions if isinstance(i, ins.Arg)]
        budversion.refuse_redefinitions(self.bud, [*graph.meta_args, *args], self.path)
        if self.recipe is not None:
            return graph, lift.lower_recipe(graph, stages, self._root_scope)
        return graph, lower_plan(graph, self._root_scope, only=graph.stages)

    def onbuild_steps(self, triggers: list[str], stage: Stage, step: FromStep) -> list[Step]:
        """Steps for the base image's ONBUILD triggers, planned as if written right after FROM."""
        from shlax_front.parser import parse

        # parsed behind a placeholder FROM: a trigger is an instruction of the stage that uses the image
        text = "FROM scratch\n" + "\n".join(triggers) + "\n"
        doc = parse(text, path=f"{self.path}:{step.location.line}(ONBUILD)")
        graph = graph_of.plan(doc, self.build_args, rules=BUD)
        image = step.image if step.stage is None else ""
        (lowered,) = lower_plan(
            graph, lambda _: image_scope(self.image_config(image) if image else None, "x")
        )
        steps: list[Step] = []
        for action in lowered.actions:
            planned = self._steps(action, {}, step.location, _StageState())
            if action.step is not None:  # bud's history line for each, as for the stage's own instructions
                for trigger in planned:
                    trigger.history = history.created_by(action.step)
            steps.extend(planned)
        return steps

    # -- stages ---------------------------------------------------------------------------------------------
    def _root_scope(self, stage: graph_of.Stage) -> Scope:
        if stage.image.lower() == "scratch":
            return Scope(env=(("PATH", DEFAULT_PATH),))  # bud gives a scratch stage the default PATH
        return image_scope(self.image_config(stage.image), stage.image)

    def _refuse_foreign_platform(self, stage: graph_of.Stage) -> None:
        """``FROM --platform``: this machine's platform (or nothing, as ``$BUILDPLATFORM`` is in FROM for bud
        1.28) builds as usual; another one is refused. bud would look for that variant of the image and run
        its RUN steps under emulation, which is not done here: an image for the wrong architecture, built
        quietly, would be worse than an error."""
        if stage.platform is None:
            return
        where = (self.path, stage.line, ins.node_text(stage.from_.node))
        try:
            wanted = Platform.parse(stage.platform) if stage.platform else host_platform()
        except ValueError as err:
            raise ParseError(f"FROM --platform: {err}", *where) from None
        if wanted != host_platform():
            raise ParseError(
                f"FROM --platform={stage.platform}: building for another platform is not supported "
                f"(this machine builds {host_platform()})",
                *where,
            )

    def _stage(self, stage: A.Stage, names: dict[str, int]) -> Stage:
        location = Location(self.path, stage.line)
        first = FromStep(location, f"FROM {stage.base}", image=stage.base, stage=stage.base_stage)
        steps: list[Step] = [first]
        config = None if stage.base_stage is not None else self.image_config(stage.base)
        if stage.base_stage is None and (stage.base.lower() == "scratch" or config and not config.get("env")):
            # buildah bud gives a scratch stage, or one on a base image without Env, the default PATH
            steps.append(
                ConfigStep(location, f"ENV PATH={DEFAULT_PATH}", options=("--env", f"PATH={DEFAULT_PATH}"))
            )
        state = _StageState()
        before: list[str] = []  # the ARGs' empty entries, given to the next step (``Step.before``)
        for action in stage.actions:
            planned = self._steps(action, names, None, state)
            if action.step is not None:
                for step in planned:
                    step.history = history.created_by(action.step)
                if isinstance(action, A.Arg):
                    before.append(history.created_by(action.step))
            if planned and before:
                planned[0].before, before = tuple(before), []
            steps.extend(planned)
        if before:  # ARGs last in the stage: a config step of their own, which changes no config
            where = Location(self.path, stage.actions[-1].line)
            steps.append(ConfigStep(where, "ARG", options=(), history=before[-1], before=tuple(before[:-1])))
        return Stage(stage.index, stage.name, steps)

    # -- actions --------------------------------------------------------------------------------------------
    def _steps(
        self, action: A.Action, names: dict[str, int], at: Location | None, state: _StageState
    ) -> list[Step]:
        walked = action.step
        assert walked is not None, "the planner only reads lowered actions"
        i = walked.expanded
        scope = walked.scope
        loc = at or Location(self.path, action.line)
        if isinstance(action, A.Arg):
            return []
        if isinstance(action, A.Env):
            options = []
            for name, value in i.pairs:
                options += ["--env", f"{name}={value.replace('$', '$$')}"]  # buildah config expands $
            return [ConfigStep(loc, "ENV " + " ".join(options[1::2]), options=tuple(options))]
        if isinstance(action, A.Label):
            options = [x for name, value in i.pairs for x in ("--label", f"{name}={value}")]
            return [ConfigStep(loc, "LABEL " + " ".join(options[1::2]), options=tuple(options))]
        if isinstance(action, A.Workdir):
            # buildah bud (1.28) only records it: the next RUN creates the directory (as the USER), a COPY
            # into it creates it with the --chown owner; an unused WORKDIR leaves no directory at all
            path = walked.after.workdir
            return [ConfigStep(loc, f"WORKDIR {path}", options=("--workingdir", path))]
        if isinstance(action, A.User):
            return [ConfigStep(loc, f"USER {i.user}", options=("--user", i.user))]
        if isinstance(action, A.Expose):
            ports = [p if "/" in p else f"{p}/tcp" for p in i.ports]  # what buildah bud stores
            options = [x for p in ports for x in ("--port", p)]
            return [ConfigStep(loc, "EXPOSE " + " ".join(ports), options=tuple(options))]
        if isinstance(action, A.Volume):
            options = [x for p in i.paths for x in ("--volume", _slice_item(p))]
            return [ConfigStep(loc, "VOLUME " + json.dumps(list(i.paths)), options=tuple(options))]
        if isinstance(action, A.Entrypoint):
            argv = _config_argv(i)
            options = ["--entrypoint", json.dumps(argv)]
            if not state.cmd_set:
                options += ["--cmd", "[]"]
            return [ConfigStep(loc, "ENTRYPOINT " + json.dumps(argv), options=tuple(options))]
        if isinstance(action, A.Cmd):
            argv = _config_argv(i)
            state.cmd_set = True
            return [ConfigStep(loc, "CMD " + json.dumps(argv), options=("--cmd", json.dumps(argv)))]
        if isinstance(action, A.Shell):
            return [
                ConfigStep(loc, "SHELL " + json.dumps(list(i.argv)), options=("--shell", shlex.join(i.argv)))
            ]
        if isinstance(action, A.Stopsignal):
            return [ConfigStep(loc, f"STOPSIGNAL {i.signal}", options=("--stop-signal", i.signal))]
        if isinstance(action, A.Healthcheck):
            return [
                ConfigStep(
                    loc, "HEALTHCHECK " + json.dumps(i.config(), sort_keys=True), options=_healthcheck(i)
                )
            ]
        if isinstance(action, A.Onbuild):
            return [ConfigStep(loc, f"ONBUILD {i.trigger}", options=("--onbuild", _slice_item(i.trigger)))]
        if isinstance(action, A.Maintainer):
            return [ConfigStep(loc, f"MAINTAINER {i.name}", options=("--author", i.name))]
        if isinstance(action, A.Copy):
            return [self._copy(i, scope, names, loc)]
        if isinstance(action, A.RunLike):
            return [self._run(action, i, scope, names, loc)]
        raise ParseError(
            f"{type(action).__name__.upper()} is not supported by the build backend", self.path, action.line
        )

    def _refuse(self, message: str, i: ins.Instruction) -> ParseError:
        return ParseError(message, self.path, i.line, ins.node_text(i.node))

    def _copy(self, i: ins.Copy, scope: Scope, names: dict[str, int], loc: Location) -> CopyStep:
        if i.parents:
            raise self._refuse(
                "COPY --parents is not supported by the buildah backend (buildah 1.28 lacks it)", i
            )
        if getattr(i, "keep_git_dir", False):
            raise self._refuse("ADD --keep-git-dir is not supported by the buildah backend", i)
        add = isinstance(i, ins.Add)
        dest = i.dest
        if not dest.startswith("/"):
            slash = dest.endswith("/") or dest in (".", "..") or dest.endswith("/.")
            dest = posixpath.normpath(posixpath.join(scope.workdir, dest))
            if slash and not dest.endswith("/"):
                dest += "/"
        if dest == scope.workdir and dest != "/":
            dest += "/"  # bud: the WORKDIR is a directory even before it exists (files go in it)
        from_stage = from_image = None
        if i.from_:
            ref = i.from_.lower()
            if ref in names:
                from_stage = names[ref]
            elif ref.isdigit():
                from_stage = int(ref)
            else:
                from_image = ref
        # BuildKit: a heredoc source is a file named after its delimiter with the (expanded) body
        heredocs = tuple((h.name, h.content) for h in i.heredocs)
        markers = {f"<<{h.name}" for h in i.heredocs} | {f"<<-{h.name}" for h in i.heredocs}
        sources = tuple(s for s in i.sources if s not in markers)
        chown = i.chown or None
        chmod = i.chmod or None
        exclude = tuple(i.exclude)
        checksum = getattr(i, "checksum", None) or None
        by_buildah_from = (from_stage is not None or bool(from_image)) and bool(chown or add)
        problem = copy_flags_problem(sources, heredocs, by_buildah_from, exclude, checksum)
        if problem:
            raise self._refuse(problem, i)
        flags = []
        if i.from_:
            flags.append(f"--from={i.from_}")
        if chown:
            flags.append(f"--chown={chown}")
        if chmod:
            flags.append(f"--chmod={chmod}")
        flags += [f"--exclude={p}" for p in exclude]
        if checksum:
            flags.append(f"--checksum={checksum}")
        text = " ".join(
            ["ADD" if add else "COPY", *flags, *(sources or [f"<<{n}" for n, _ in heredocs]), dest]
        )
        return CopyStep(
            loc,
            text,
            sources=sources,
            dest=dest,
            add=add,
            from_stage=from_stage,
            from_image=from_image,
            chown=chown,
            chmod=chmod,
            heredocs=heredocs,
            checksum=checksum,
            exclude=exclude,
        )

    def _run(
        self, action: A.RunLike, i: ins.Run, scope: Scope, names: dict[str, int], loc: Location
    ) -> RunStep:
        files: list[tuple[str, str, int]] = []
        if i.exec_form:
            argv = tuple(i.command)
        else:
            argv = (*scope.shell, i.command)
            if i.heredocs:
                argv, files = heredoc_run(i.command, i.heredocs, scope.shell, loc.line)
        mounts = []
        for m in i.mounts:
            options = tuple((k, v) for k, v in m.options if k != "type")
            # from=<stage name> becomes the stage's index: the executor knows stages by index
            options = tuple(
                (k, str(names[v.lower()]) if k == "from" and v.lower() in names else v) for k, v in options
            )
            mounts.append(RunMount(m.type, options))
        # ARGs in scope reach RUN as environment (ENV of the same name wins, it is already in the config)
        env_names = {name for name, _ in scope.env}
        run_env = tuple(sorted((k, v) for k, v in scope.args if v is not None and k not in env_names))
        text = "RUN " + (json.dumps(list(i.command)) if i.exec_form else i.command)
        for h in i.heredocs:
            text += "\n" + h.content + h.name
        step = RunStep(
            loc, text, argv=argv, env=run_env, mounts=tuple(mounts), network=i.network, files=tuple(files),
            workdir=scope.workdir, user=scope.user,
        )  # fmt: skip
        if action.caching is not None and action.caching.mounts and not i.exec_form:
            step = _apply_caching(step, action, scope.shell, scope.variables())
        if self.incremental is not False:  # None: the default, apt only; True: --incremental, pip too
            step.incremental = describe_install(action, step.argv[-1], pip=self.incremental is True)
        return step


class _StageState:
    """Config state of the stage being planned that is not scope: whether a CMD was set (an ENTRYPOINT after
    none resets the base image's CMD, as bud does)."""

    def __init__(self) -> None:
        self.cmd_set = False


def _passed(lowered: tuple[A.Stage, ...], path: str) -> tuple[A.Stage, ...]:
    """The rewrite passes over the lowered stages; if they fail, no package caches (never guess: every RUN
    then runs exactly as written) and one line saying why."""
    try:
        return run_passes(lowered)
    except Exception as err:  # noqa: BLE001 - a pass bug must not fail a build that bud would do
        print(f"shlax-front: package caches off for {path}: {err}", file=sys.stderr)
        return lowered


def _config_argv(i: ins.Cmd | ins.Entrypoint) -> list[str]:
    """bud 1.28 stores a shell-form CMD/ENTRYPOINT as ``/bin/sh -c``, whatever SHELL says."""
    return list(i.command) if i.exec_form else [*DEFAULT_SHELL, i.command]


def _slice_item(value: str) -> str:
    """One item of a ``buildah config`` list flag (``--onbuild``, ``--volume``): those are read as CSV, so a
    comma would split ``ONBUILD RUN echo a,b`` in two and a quote is an error; such values are CSV-quoted."""
    if any(c in value for c in ',"\r\n') or value[:1].isspace():
        return '"' + value.replace('"', '""') + '"'
    return value


def _healthcheck(i: ins.Healthcheck) -> tuple[str, ...]:
    """``buildah config`` splits ``--healthcheck`` with shell-word rules: quote every element."""
    test = list(i.test)
    none = not test or test[0] == "NONE"  # bud keeps only the test then: a base image's timings go too
    options = ["--healthcheck", "NONE" if none else shlex.join(test)]
    for flag, value in (
        ("--healthcheck-interval", i.interval),
        ("--healthcheck-timeout", i.timeout),
        ("--healthcheck-start-period", i.start_period),
    ):
        options += [flag, (None if none else value) or "0s"]  # else buildah config fills in its defaults
    options += ["--healthcheck-retries", "0" if none else str(i.retries or 0)]
    return tuple(options)


def _apply_caching(
    step: RunStep, action: A.RunLike, shell: tuple[str, ...], env: dict[str, str] | None = None
) -> RunStep:
    """Turn an action's ``Caching`` into host cache mounts, run-only env and the rewritten script."""
    caching = action.caching
    caches = []
    for m in caching.mounts:
        caches.append(
            HostCache(
                id=m.id,
                target=m.target,
                partition=bool(m.partition),
                host=_host_name(m.host),
                uid=m.uid,
                gid=m.gid,
                user=m.user,
                sharing=m.sharing or "locked",
            )
        )
    ids = " ".join(c.id for c in caches)
    manager = next((name for name in ("apt", "pip", "npm", "yarn", "pnpm", "uv") if name in ids), None)
    installs = (action.installs if isinstance(action, A.Run) else ()) or (action,)
    pips = [inst for inst in installs if isinstance(inst, A.Pip) and inst.tool == "pip"]
    script = "\n".join([step.argv[-1], *(content for _, content, _ in step.files)])  # heredoc bodies too
    wheelhouse = []
    for exe, wh in zip((p.executable for p in pips), caching.wheelhouse, strict=False):
        expanded = _expanded_wheelhouse(wh, env or {}, script)
        if expanded is not None:
            wheelhouse.append((exe, expanded))
    return RunStep(
        step.location,
        step.text,
        argv=(*shell, caching.script or step.argv[-1]),
        env=step.env,
        mounts=step.mounts,
        network=step.network,
        files=step.files,
        cache_mounts=tuple(caches),
        cache_env=tuple(caching.env or ()),
        manager=manager,
        masks=tuple(caching.mask or ()),
        original_argv=step.argv,
        wheelhouse=tuple(wheelhouse),
    )


def _expanded_wheelhouse(wh, env: dict[str, str], script: str):
    """The wheelhouse with the specs the RUN's shell will see, or None when they cannot be known here.

    A spec the passes could not expand stays as written (``"beets == $BEETS_VERSION"``, quotes included):
    ``pip download`` given that text refused it and the install fetched everything from the index, every
    build. Each such spec is expanded like the shell will, with the ENV and ARG values in scope - unless it
    runs a command (``$(...)``, backquotes) or names a variable the script itself sets (or none in scope):
    then the RUN keeps its pip cache but gets no wheelhouse (never a guess about what it installs).
    """
    packages: list[str] = []
    for spec in wh.packages:
        if "$" not in spec:
            packages.append(spec)
            continue
        names = set(_VARIABLE.findall(spec))
        bare = _VARIABLE.sub("", script)
        if "$(" in spec or "`" in spec or not names:
            return None
        if any(n not in env or re.search(rf"\b{re.escape(n)}\b", bare) for n in names):
            return None
        try:
            packages += process_words(spec, env)
        except ExpansionError:
            return None
    return dataclasses.replace(wh, packages=tuple(packages))


#: ``$NAME`` / ``${NAME...}`` references (the name only)
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def _host_name(host: str | None) -> str | None:
    if not host:
        return None
    return host.split("-", 1)[0]  # pip-user -> pip
