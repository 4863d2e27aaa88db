"""From a parsed Containerfile to executor steps: stages, ARG/ENV scope, expansion, ``--target`` pruning.

This follows what ``buildah bud`` does with a Containerfile: global ARGs (before the first FROM) only expand
FROM lines and must be redeclared to be seen in a stage; an ARG's value is the ``--build-arg`` or its
default; ENV wins over ARG for expansion; RUN sees the ARGs in scope as environment variables (not
persisted); expansion applies to ADD COPY ENV EXPOSE FROM LABEL STOPSIGNAL USER VOLUME WORKDIR and mount
options, never to RUN/CMD/ENTRYPOINT (their shell does it). The base image's own ENV is in scope too, so
``ENV PATH=$PATH:/x`` needs the image config: ``image_config`` provides it.

Package-install rewrites are not decided here: ``caching_for`` (from the action passes) returns the
``Caching`` of a RUN, and this module only translates it into the executor's mounts and environment.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from shlax_front import instructions as ins
from shlax_front.backend.copyopts import copy_flags_problem
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
from shlax_front.expand import ExpansionError, process_word, process_words
from shlax_front.stages import Platform, host_platform, platform_args
from shlax_front.syntax import Document

DEFAULT_SHELL = ("/bin/sh", "-c")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DOCKER_ONLY = (ins.Healthcheck, ins.Shell, ins.Onbuild, ins.Stopsignal)
#: Which of the predefined platform ARGs (values: ``stages.platform_args``) buildah bud 1.28 knows; it lacks
#: BuildKit's TARGETSTAGE and *OSVERSION, which stay unset there (checked with a real bud run)
BUD_PREDEFINED_ARGS = (
    "BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT",
    "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
)  # fmt: skip


def bud_predefined_args() -> dict[str, str]:
    """bud 1.28's predefined platform ARGs for a build on this machine.

    Unlike BuildKit, bud does not put them in scope by themselves (not in FROM, not in global ARG
    defaults): one is only the value a bare ``ARG NAME`` (global or in a stage) takes when no
    ``--build-arg`` nor global ARG gives one.
    """
    values = platform_args(host_platform(), host_platform(), "")
    return {name: values[name] for name in BUD_PREDEFINED_ARGS}


#: image reference -> {"env": {..}, "shell": (...), "user": str, "workdir": str} or None when unknown
ImageConfig = Callable[[str], dict | None]
#: (Run instruction, user, env) -> Caching (actions.py) or None
CachingFor = Callable[..., object]


@dataclass
class _Scope:
    """What a stage can see at the current instruction."""

    env: dict[str, str] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)
    shell: tuple[str, ...] = DEFAULT_SHELL
    workdir: str = "/"
    user: str = ""
    cmd_set: bool = False

    def expansion_env(self) -> dict[str, str]:
        return {**self.args, **self.env}


@dataclass
class _RawStage:
    index: int
    name: str | None
    from_: ins.From
    body: list[ins.Instruction]


def split_stages(doc: Document) -> tuple[list[ins.Arg], list[_RawStage]]:
    """Typed instructions grouped by stage; ARGs before the first FROM are the global ones."""
    global_args: list[ins.Arg] = []
    stages: list[_RawStage] = []
    for node in doc.nodes:
        instruction = ins.from_node(node, doc.path)
        if isinstance(instruction, ins.From):
            name = instruction.name.lower() if instruction.name else None
            stages.append(_RawStage(len(stages), name, instruction, []))
        elif not stages:
            if not isinstance(instruction, ins.Arg):
                raise ParseError(
                    "no FROM before this instruction", doc.path, node.start_line, doc.source_of(node)
                )
            global_args.append(instruction)
        else:
            stages[-1].body.append(instruction)
    if not stages:
        raise ParseError("no FROM instruction", doc.path, 1)
    return global_args, stages


class Planner:
    def __init__(
        self,
        doc: Document,
        build_args: dict[str, str] | None = None,
        target: str | None = None,
        image_config: ImageConfig | None = None,
        caching_for: CachingFor | None = None,
    ):
        self.doc = doc
        self.build_args = dict(build_args or {})
        self.target = target
        self.image_config = image_config or (lambda ref: None)
        self.caching_for = caching_for
        self.escape = doc.escape
        self.used_args: set[str] = set()
        self.predefined = bud_predefined_args()

    # -- public ---------------------------------------------------------------------------------------------
    def plan(self) -> BuildSteps:
        global_args, raw = split_stages(self.doc)
        globals_ = self._global_args(global_args)
        names = {s.name: s.index for s in raw if s.name}
        target_index = len(raw) - 1
        if self.target:
            if self.target.lower() not in names:
                raise ParseError(f"target stage {self.target!r} not found", self.doc.path, 1)
            target_index = names[self.target.lower()]
        needed = self._needed(raw, names, globals_, target_index)
        stages: list[Stage] = []
        scopes: dict[int, _Scope] = {}
        docker = False
        for stage in raw[: target_index + 1]:
            if stage.index not in needed:
                continue
            built, scope = self._stage(stage, names, globals_, scopes)
            scopes[stage.index] = scope
            stages.append(built)
            docker = docker or any(isinstance(i, DOCKER_ONLY) for i in stage.body)
        return BuildSteps(stages, self.doc.path, needs_docker_format=docker)

    def onbuild_steps(self, triggers: list[str], stage: Stage, step: FromStep) -> list[Step]:
        """Steps for the base image's ONBUILD triggers (parsed as if written right after FROM)."""
        from shlax_front.parser import parse

        # parsed behind a placeholder FROM: a trigger is an instruction of the stage that uses the image
        text = "FROM scratch\n" + "\n".join(triggers) + "\n"
        doc = parse(text, path=f"{self.doc.path}:{step.location.line}(ONBUILD)")
        instructions = [ins.from_node(n, doc.path) for n in doc.nodes[1:]]
        scope = self._initial_scope(step.image if step.stage is None else None, None)
        steps = []
        for instruction in instructions:
            steps.extend(self._steps(instruction, scope, {}, {}, step.location))
        return steps

    # -- stages ---------------------------------------------------------------------------------------------
    def _global_args(self, args: list[ins.Arg]) -> dict[str, str]:
        values: dict[str, str] = {}
        for arg in args:
            for name, default in arg.pairs:
                if name in self.build_args:
                    values[name] = self.build_args[name]
                elif default is not None:
                    values[name] = self._word(default, values, arg)
                elif name in self.predefined:
                    values[name] = self.predefined[name]
        return values

    def _from_image(self, stage: _RawStage, globals_: dict[str, str]) -> str:
        return self._word(stage.from_.image, globals_, stage.from_)

    def _refuse_foreign_platform(self, stage: _RawStage, globals_: dict[str, str]) -> None:
        """``FROM --platform``: this machine's platform (or nothing, as ``$BUILDPLATFORM`` is in FROM for bud
        1.28) builds as usual; another one is refused. bud would look for that variant of the image and run
        its RUN steps under emulation, which is not done here: an image for the wrong architecture, built
        quietly, would be worse than an error."""
        if not stage.from_.platform:
            return
        text = self._word(stage.from_.platform, globals_, stage.from_)
        try:
            wanted = Platform.parse(text) if text else host_platform()
        except ValueError as err:
            raise ParseError(
                f"FROM --platform: {err}",
                self.doc.path,
                stage.from_.line,
                self.doc.source_of(stage.from_.node),
            ) from None
        if wanted != host_platform():
            raise ParseError(
                f"FROM --platform={text}: building for another platform is not supported "
                f"(this machine builds {host_platform()})",
                self.doc.path,
                stage.from_.line,
                self.doc.source_of(stage.from_.node),
            )

    def _needed(self, raw, names, globals_, target_index) -> set[int]:
        needed: set[int] = set()
        todo = [target_index]
        while todo:
            index = todo.pop()
            if index in needed:
                continue
            needed.add(index)
            stage = raw[index]
            refs = [self._from_image(stage, globals_).lower()]
            for instruction in stage.body:
                if isinstance(instruction, ins.Copy) and instruction.from_:
                    refs.append(instruction.from_.lower())
                if isinstance(instruction, ins.Run):
                    refs += [m.get("from").lower() for m in instruction.mounts if m.get("from")]
            for ref in refs:
                if ref in names and names[ref] < index:
                    todo.append(names[ref])
                elif ref.isdigit() and int(ref) < index:
                    todo.append(int(ref))
        return needed

    def _initial_scope(self, image: str | None, base: _Scope | None) -> _Scope:
        if base is not None:
            return _Scope(env=dict(base.env), shell=base.shell, workdir=base.workdir, user=base.user)
        config = self.image_config(image) if image and image != "scratch" else None
        config = config or {}
        env = dict(config.get("env") or {})
        if image == "scratch" or not env:
            env.setdefault("PATH", DEFAULT_PATH) if image != "scratch" else None
        return _Scope(
            env=env,
            shell=tuple(config.get("shell") or DEFAULT_SHELL),
            workdir=config.get("workdir") or "/",
            user=config.get("user") or "",
        )

    def _stage(self, stage: _RawStage, names, globals_, scopes) -> tuple[Stage, _Scope]:
        image = self._from_image(stage, globals_)
        location = Location(self.doc.path, stage.from_.line)
        ref = image.lower()
        from_stage = (
            names.get(ref)
            if ref in names
            else (int(ref) if ref.isdigit() and int(ref) < stage.index else None)
        )
        if from_stage is not None:
            scope = self._initial_scope(None, scopes[from_stage])
            first: Step = FromStep(location, f"FROM {image}", image=image, stage=from_stage)
        else:
            scope = self._initial_scope(image, None)
            self._refuse_foreign_platform(stage, globals_)
            first = FromStep(location, f"FROM {image}", image=image)
        steps: list[Step] = [first]
        if from_stage is None and image.lower() == "scratch":
            # buildah bud gives a scratch stage the default PATH in its config
            scope.env["PATH"] = DEFAULT_PATH
            steps.append(
                ConfigStep(location, f"ENV PATH={DEFAULT_PATH}", options=("--env", f"PATH={DEFAULT_PATH}"))
            )
        for instruction in stage.body:
            steps.extend(self._steps(instruction, scope, names, globals_, None))
        return Stage(stage.index, stage.name, steps), scope

    # -- instructions ---------------------------------------------------------------------------------------
    def _steps(self, i: ins.Instruction, scope: _Scope, names, globals_, at: Location | None) -> list[Step]:
        loc = at or Location(self.doc.path, i.line)
        env = scope.expansion_env()
        w = lambda word: self._word(word, env, i)  # noqa: E731
        if isinstance(i, ins.Arg):
            for name, default in i.pairs:
                if name in self.build_args:
                    scope.args[name] = self.build_args[name]
                    self.used_args.add(name)
                elif default is not None:
                    scope.args[name] = self._word(default, scope.expansion_env(), i)
                elif name in globals_:
                    scope.args[name] = globals_[name]
                elif name in self.predefined:
                    scope.args[name] = self.predefined[name]
            return []
        if isinstance(i, ins.Env):
            options = []
            before = scope.expansion_env()  # every pair expands with the values from before this ENV
            for name, value in i.pairs:
                value = self._word(value, before, i)
                scope.env[name] = value
                options += ["--env", f"{name}={value.replace('$', '$$')}"]  # buildah config expands $
            return [ConfigStep(loc, "ENV " + " ".join(options[1::2]), options=tuple(options))]
        if isinstance(i, ins.Label):
            options = []
            for name, value in i.pairs:
                options += ["--label", f"{w(name)}={w(value)}"]
            return [ConfigStep(loc, "LABEL " + " ".join(options[1::2]), options=tuple(options))]
        if isinstance(i, ins.Workdir):
            # buildah bud (1.28) only records it: the next RUN creates the directory (as the USER), a COPY
            # into it creates it with the --chown owner; an unused WORKDIR leaves no directory at all
            path = posixpath.normpath(posixpath.join(scope.workdir, w(i.path)))
            scope.workdir = path
            return [ConfigStep(loc, f"WORKDIR {path}", options=("--workingdir", path))]
        if isinstance(i, ins.User):
            scope.user = w(i.user)
            return [ConfigStep(loc, f"USER {scope.user}", options=("--user", scope.user))]
        if isinstance(i, ins.Expose):
            ports = [p for word in i.ports for p in process_words(word, env, self.escape)]
            ports = [p if "/" in p else f"{p}/tcp" for p in ports]  # what buildah bud stores
            options = [x for p in ports for x in ("--port", p)]
            return [ConfigStep(loc, "EXPOSE " + " ".join(ports), options=tuple(options))]
        if isinstance(i, ins.Volume):
            paths = [w(p) for p in i.paths]
            options = [x for p in paths for x in ("--volume", _slice_item(p))]
            return [ConfigStep(loc, "VOLUME " + json.dumps(paths), options=tuple(options))]
        if isinstance(i, ins.Entrypoint):
            argv = (
                list(i.command) if i.exec_form else [*DEFAULT_SHELL, i.command]
            )  # bud 1.28: /bin/sh -c, whatever SHELL says
            options = ["--entrypoint", json.dumps(argv)]
            if not scope.cmd_set:
                options += ["--cmd", "[]"]
            return [ConfigStep(loc, "ENTRYPOINT " + json.dumps(argv), options=tuple(options))]
        if isinstance(i, ins.Cmd):
            argv = (
                list(i.command) if i.exec_form else [*DEFAULT_SHELL, i.command]
            )  # bud 1.28: /bin/sh -c, whatever SHELL says
            scope.cmd_set = True
            return [ConfigStep(loc, "CMD " + json.dumps(argv), options=("--cmd", json.dumps(argv)))]
        if isinstance(i, ins.Shell):
            scope.shell = tuple(i.argv)
            return [
                ConfigStep(loc, "SHELL " + json.dumps(list(i.argv)), options=("--shell", shlex.join(i.argv)))
            ]
        if isinstance(i, ins.Stopsignal):
            signal = w(i.signal)
            return [ConfigStep(loc, f"STOPSIGNAL {signal}", options=("--stop-signal", signal))]
        if isinstance(i, ins.Healthcheck):
            return [
                ConfigStep(
                    loc, "HEALTHCHECK " + json.dumps(i.config(), sort_keys=True), options=_healthcheck(i)
                )
            ]
        if isinstance(i, ins.Onbuild):
            return [ConfigStep(loc, f"ONBUILD {i.trigger}", options=("--onbuild", _slice_item(i.trigger)))]
        if isinstance(i, ins.Maintainer):
            return [ConfigStep(loc, f"MAINTAINER {i.name}", options=("--author", i.name))]
        if isinstance(i, ins.Copy):
            return [self._copy(i, scope, names, loc)]
        if isinstance(i, ins.Run):
            return [self._run(i, scope, names, loc)]
        raise ParseError(
            f"{type(i).__name__.upper()} is not supported by the build backend", self.doc.path, i.line
        )

    def _copy(self, i: ins.Copy, scope: _Scope, names, loc: Location) -> CopyStep:
        if i.parents:
            raise ParseError(
                "COPY --parents is not supported by the buildah backend (buildah 1.28 lacks it)",
                self.doc.path,
                i.line,
                self.doc.source_of(i.node),
            )
        if getattr(i, "keep_git_dir", False):
            raise ParseError(
                "ADD --keep-git-dir is not supported by the buildah backend",
                self.doc.path,
                i.line,
                self.doc.source_of(i.node),
            )
        env = scope.expansion_env()
        add = isinstance(i, ins.Add)
        if i.node.json:  # JSON form: each element is one word (expanded, never split)
            words = [self._word(s, env, i) for s in i.sources]
        else:
            words = [x for s in i.sources for x in self._words(s, env, i)]
        dest = self._word(i.dest, env, i)
        if not dest.startswith("/"):
            slash = dest.endswith("/") or dest in (".", "..") or dest.endswith("/.")
            dest = posixpath.normpath(posixpath.join(scope.workdir, dest))
            if slash and not dest.endswith("/"):
                dest += "/"
        if dest == scope.workdir and dest != "/":
            dest += "/"  # bud: the WORKDIR is a directory even before it exists (files go in it)
        from_stage = from_image = None
        if i.from_:
            ref = self._word(i.from_, env, i).lower()
            if ref in names:
                from_stage = names[ref]
            elif ref.isdigit():
                from_stage = int(ref)
            else:
                from_image = ref
        # BuildKit: a heredoc source is a file named after its delimiter with the (expanded) body
        heredocs = tuple(
            (h.name, self._word(h.content, env, i) if h.expand else h.content) for h in i.heredocs
        )
        names = {f"<<{h.name}" for h in i.heredocs} | {f"<<-{h.name}" for h in i.heredocs}
        sources = tuple(s for s in words if s not in names)
        chown = self._word(i.chown, env, i) if i.chown else None
        chmod = self._word(i.chmod, env, i) if i.chmod else None
        exclude = tuple(self._word(p, env, i) for p in i.exclude)
        checksum = self._word(i.checksum, env, i) if getattr(i, "checksum", None) else None
        by_buildah_from = (from_stage is not None or bool(from_image)) and bool(chown or add)
        problem = copy_flags_problem(sources, heredocs, by_buildah_from, exclude, checksum)
        if problem:
            raise ParseError(problem, self.doc.path, i.line, self.doc.source_of(i.node))
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

    def _run(self, i: ins.Run, scope: _Scope, names, loc: Location) -> RunStep:
        env = scope.expansion_env()
        files: list[tuple[str, str, int]] = []
        if i.exec_form:
            argv = tuple(i.command)
            script = None
        else:
            script = i.command
            argv = (*scope.shell, script)
            if i.heredocs:
                argv, files = _heredoc_run(script, i.heredocs, scope.shell, loc.line)
        mounts = []
        for m in i.mounts:
            options = tuple((k, self._word(v, env, i) if v else v) for k, v in m.options if k != "type")
            # from=<stage name> becomes the stage's index: the executor knows stages by index
            options = tuple(
                (k, str(names[v.lower()]) if k == "from" and v.lower() in names else v) for k, v in options
            )
            mounts.append(RunMount(m.type, options))
        # ARGs in scope reach RUN as environment (ENV of the same name wins, it is already in the config)
        run_env = tuple(sorted((k, v) for k, v in scope.args.items() if k not in scope.env))
        text = "RUN " + (json.dumps(list(i.command)) if i.exec_form else i.command)
        for h in i.heredocs:
            text += "\n" + h.content + h.name
        step = RunStep(
            loc, text, argv=argv, env=run_env, mounts=tuple(mounts), network=i.network, files=tuple(files)
        )
        if self.caching_for is not None and not i.exec_form:
            action = self.caching_for(i)
            if action is not None and action.caching.mounts:
                step = _apply_caching(step, action, scope.shell, env)
        return step

    # -- expansion ------------------------------------------------------------------------------------------
    def _word(self, word: str, env: dict[str, str], i: ins.Instruction) -> str:
        try:
            return process_word(word, env, self.escape)
        except ExpansionError as err:
            raise ParseError(str(err), self.doc.path, i.line, self.doc.source_of(i.node)) from None

    def _words(self, word: str, env: dict[str, str], i: ins.Instruction) -> list[str]:
        try:
            return process_words(word, env, self.escape)
        except ExpansionError as err:
            raise ParseError(str(err), self.doc.path, i.line, self.doc.source_of(i.node)) from None


def _heredoc_run(script: str, heredocs, shell: tuple[str, ...], line: int):
    """Lower a heredoc RUN for buildah 1.28 (which cannot parse them), the way BuildKit runs it.

    ``RUN <<EOF`` alone: the body is the script - run by its ``#!`` interpreter (file bind-mounted for the
    run only) or else by SHELL. Anything else: the command line plus the bodies and terminators go to
    SHELL, which handles the heredocs itself.
    """
    words = script.strip().split()
    if len(heredocs) == 1 and len(words) == 1 and words[0].lstrip("<-").strip("'\"") == heredocs[0].name:
        body = heredocs[0].content
        if body.startswith("#!"):
            path = f"/run/shlax-front/heredoc-{line}"
            return (path,), [(path, body, 0o755)]
        return (*shell, body), []
    text = script
    for h in heredocs:
        text += "\n" + h.content + h.name
    return (*shell, text), []


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
    step: RunStep, action, shell: tuple[str, ...], env: dict[str, str] | None = None
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
    installs = getattr(action, "installs", ()) or (action,)
    pips = [
        inst for inst in installs if type(inst).__name__ == "Pip" and getattr(inst, "tool", "pip") == "pip"
    ]
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
