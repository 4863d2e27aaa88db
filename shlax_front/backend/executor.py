"""Run build steps on buildah with per-instruction layer reuse and host package caches.

Semantics follow ``buildah bud --layers``: each step that changes the filesystem is committed to its own
image and the next step starts from a fresh container of that image; config-only steps (ENV, LABEL, ...)
are folded into the next commit. Every step has a cache key chained from its parent; a key found in the
index (and still in storage) is reused without starting a container, so a cached step costs a dict lookup.

Cleanup is the executor's promise: whatever happens (failure, Ctrl-C, SIGTERM), the working containers it
created are unmounted and removed, and files it wrote for a single run are deleted (``containers``).

Running one RUN is ``run_step``'s, one COPY/ADD ``copy_step``'s; each finished step becomes a
``result.StepRecord``, handed to the ``on_step`` callback and returned in the ``BuildResult``.

Stages that do not use each other run at the same time (``schedule``, ``Options.jobs``), each in its own
thread: what they share (the records and callbacks, the layer index, the image listing, the context's
digests) is used under ``_shared``, and a stage's output lines carry its label (``result.OutputLine``).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shlax_front.backend import aptlists, emptylayers, faults, interrupts, late_edit, onbuild
from shlax_front.backend.buildah import Buildah, normalized_name
from shlax_front.backend.containers import WorkingContainers
from shlax_front.backend.context import BuildContext, ContextError, OutsideContext
from shlax_front.backend.copy_step import CopyExecutor, is_url, plain_copies_allowed
from shlax_front.backend.copyopts import checksum_problem, downloaded_path
from shlax_front.backend.history import with_content
from shlax_front.backend.hostcache import HostCaches
from shlax_front.backend.incremental import AptOrder, IncrementalLayers, PipCheck
from shlax_front.backend.keys import explain_miss, root_key, step_key, value_digest
from shlax_front.backend.named import NamedContexts
from shlax_front.backend.pulling import pull_by_policy
from shlax_front.backend.remote import RemoteError, remote_digest
from shlax_front.backend.result import (
    BuildResult,
    OutputCallback,
    OutputLine,
    StartCallback,
    StepCallback,
    StepRecord,
    StepStart,
)
from shlax_front.backend.rootfs import inside as _inside
from shlax_front.backend.run_output import tail
from shlax_front.backend.runner import CommandFailed
from shlax_front.backend.schedule import Cancelled, Scheduler, dependencies, stage_needs
from shlax_front.backend.secrets import Secret
from shlax_front.backend.stagefiles import StageFiles
from shlax_front.backend.steps import (
    BuildSteps,
    ConfigStep,
    CopyStep,
    FromStep,
    RunStep,
    Stage,
    Step,
)
from shlax_front.backend.store import LayerIndex
from shlax_front.errors import BuildError, RefusedError

if TYPE_CHECKING:
    from shlax_front.backend.run_step import RunExecutor


@dataclass
class Options:
    tags: tuple[str, ...] = ()
    no_cache: bool = False
    format: str | None = None  # None: oci unless the file needs docker
    offline: bool = False
    ca_bundle: str | None = None
    explain: bool = False
    proxy_env: tuple[tuple[str, str], ...] = ()
    #: ``--secret`` values by id, for ``RUN --mount=type=secret`` (never in the key nor the image)
    secrets: dict[str, Secret] = field(default_factory=dict)
    #: ``--pull``: when FROM images are fetched (``pulling``); ``--timestamp``: in every key (the images differ)
    pull: str = "missing"
    timestamp: int | None = None
    #: ``--network`` for every RUN without its own ``--network``; ``--build-context`` NAME -> directory
    network: str | None = None
    build_contexts: dict[str, str] = field(default_factory=dict)
    #: ``--ssh`` id -> agent socket, for ``RUN --mount=type=ssh`` (``sshmount``)
    ssh_sockets: dict[str, str] = field(default_factory=dict)
    lists_ttl: int = aptlists.DEFAULT_TTL  # seconds; 0: always run the update as written
    #: start a RUN whose apt install only gained packages from its previous layer (``incremental``)
    incremental: bool = False
    #: ``--jobs``: how many stages may build at once (``schedule``); 1 is the sequential build
    jobs: int = 1


@dataclass
class StageResult:
    image: str
    key: str


@dataclass
class _State:
    """Where a stage is: the last image and key, and the working container when one exists."""

    key: str
    image: str | None
    container: str | None = None
    rootfs: str | None = None
    pending: list[ConfigStep] = field(default_factory=list)
    uncommitted: bool = False
    #: the image history's line for the next commit: the last step's, as bud words it (``history``)
    history: str = ""
    #: the history line already set in the container's config (with the config steps, when it was made)
    history_set: str | None = None
    #: config options the container owes until its commit, set in the commit's one ``buildah config`` call
    #: (``_ensure_container``'s ``defer``: nothing reads the container's config before that); None: none wait
    deferred: list[str] | None = None
    #: the history lines of the config steps since the stage's last layer: bud's empty entries (``emptylayers``)
    entries: list[str] = field(default_factory=list)
    #: for each layer the stage added so far, in order, the empty entries bud writes just before it
    gaps: list[tuple[str, ...]] = field(default_factory=list)


class Executor:
    #: --cache-from: where a key the layer index lacks may still be found (``cachetransfer``); --cache-to and
    #: --push: told the image once the build succeeded, and then ``reached`` holds every step's key -> image
    import_layer: Callable[[str], str | None] | None = None
    after_build: Callable[[str], None] | None = None
    #: --cache-from: called before a step is built (the package caches it may use are imported by then)
    before_build_step: Callable[[], None] | None = None
    #: a cached step's lookup (the one image listing, an import) is made by one stage at a time
    _lookup_lock = threading.RLock()

    def __init__(
        self,
        buildah: Buildah,
        index: LayerIndex,
        caches: HostCaches,
        context: BuildContext,
        options: Options,
        *,
        on_step: StepCallback | None = None,
        on_output: OutputCallback | None = None,
        on_start: StartCallback | None = None,
        onbuild: Callable[[list[str], Stage, FromStep], list[Step]] | None = None,
        inspected: dict[str, dict | None] | None = None,
        image_names: dict[str, set[str]] | None = None,
    ):
        self.buildah = buildah
        self.index = index
        self.caches = caches
        self.context = context
        self.options = options
        self.on_step = on_step
        self.on_start = on_start
        self.on_output = on_output or _ignore
        #: held by a stage for what stages share (records, callbacks, index, listing, context digests)
        self._shared = threading.RLock()
        #: the label of the stage the calling thread builds (output lines are tagged with it)
        self._current = threading.local()
        self._schedule: Scheduler[StageResult] = Scheduler(1)
        self._positions: dict[int, int] = {}
        self._final: int | None = None  # the index of the stage whose image is the build's
        #: the stages whose image keeps bud's whole history (``run``)
        self._kept: set[int] = set()
        #: each record with its stage's place in the file, to give ``BuildResult.steps`` the file's order
        self._placed: list[tuple[int, StepRecord]] = []
        #: the context's digests (``statcache``) are read and remembered by one stage at a time
        self._context_lock = threading.Lock()
        self.onbuild = onbuild
        self.work = WorkingContainers(buildah)
        #: every key -> image this build found or committed (--cache-to exports them; the no-op record of
        #: ``replay`` checks them against the index and the store next time)
        self.reached: dict[str, str] = {}
        #: image id -> names, from one ``buildah images`` (given, or made at the first cached step)
        self._image_names: dict[str, set[str]] = image_names or {}
        self._image_ids: set[str] | None = None if image_names is None else set(image_names)
        #: ref -> ``buildah inspect`` of it (None: not in storage), shared with the planner's reads of base images
        self._inspected = {} if inspected is None else inspected
        self.format = "oci"
        self.incremental = IncrementalLayers(caches.root) if options.incremental else None
        #: ``COPY --from=<stage>`` is keyed by the files it copies, as bud keys it (``stagefiles``)
        self.stage_files = StageFiles(caches.root, self.work.source_rootfs)
        self.plain_copies = plain_copies_allowed()
        # direct: a plain context file or directory is written into the mounted container (``directcopy``: a
        # ``buildah mount``, 0.02-0.05 s, instead of a ``buildah copy``, 0.1-0.2 s), as the late edit writes it
        copies = CopyExecutor(
            buildah,
            context,
            self.work.scratch,
            self.work.source_rootfs,
            self.plain_copies,
            direct=self.plain_copies,
        )
        self.copies = NamedContexts(
            options.build_contexts, copies, buildah, self.work.scratch, self.work.source_rootfs
        )
        self._runs: RunExecutor | None = None
        self._runs_lock = threading.Lock()
        #: the working containers given config options: their config is no longer their image's (``_known_info``)
        self._configured: set[str] = set()
        #: a FROM image with ONBUILD triggers -> its inspect; its working containers are made from a copy without
        #: them, made at the first one (``onbuild``), then kept here by the original's id
        self._triggered: dict[str, dict] = {}
        self._copies: dict[str, str] = {}
        self._copies_lock = threading.Lock()
        self.work.source_image = self._source_image
        #: where a one-stage build's final steps began, for the no-op record's late edits (``late_edit``)
        self.tail: dict | None = None

    @property
    def runs(self) -> RunExecutor:
        """How a RUN runs, made at the first RUN built: a build that reuses every step never imports it. One for
        the build, whichever stage asks first (it holds the cache-mount locks the stages share)."""
        with self._runs_lock:
            if self._runs is None:
                self._runs = self._run_executor()
            return self._runs

    def _run_executor(self) -> RunExecutor:
        from shlax_front.backend.run_step import RunExecutor

        return RunExecutor(
            self.buildah,
            self.caches,
            self.context.root,
            self.options,
            self.work.scratch,
            self._show,
            source_rootfs=self.work.source_rootfs,
            known_info=self._known_info,
        )

    def _known_info(self, container: str, image: str | None) -> dict | None:
        """What ``buildah inspect`` of ``container`` would say of its config and architecture, when this build
        knows it without asking (a call less before a RUN): a container given no config options is its image's,
        and a FROM image's inspect was read for the plan (``buildah from`` and ``inspect --type image`` build
        the same description of an image). None when the container was configured or its image not inspected."""
        if image is None or container in self._configured:
            return None
        with self._shared:
            known = [info for info in self._inspected.values() if info and info.get("FromImageID") == image]
        return known[0] if known else None

    # -- the whole build ----------------------------------------------------------------------------------
    def run(self, plan: BuildSteps) -> BuildResult:
        """Build every stage of ``plan`` in order; the last one is the image (tagged with ``tags``)."""
        self._placed = []
        self.format = self.options.format or ("docker" if plan.needs_docker_format else "oci")
        start = time.monotonic()
        order = [stage.index for stage in plan.stages]
        self._positions = {index: n for n, index in enumerate(order)}
        self._final = plan.stages[-1].index
        #: the stages whose image keeps bud's whole history: the build's, and those a later ``FROM`` builds on
        self._kept = {self._final} | {
            step.stage
            for stage in plan.stages
            for step in stage.steps
            if isinstance(step, FromStep) and step.stage is not None
        }
        stages = {stage.index: stage for stage in plan.stages}
        self._schedule = Scheduler(self.options.jobs, stop=self._stop_commands)

        def build_stage(index: int) -> StageResult:
            return self._run_stage(stages[index], self._earlier(index), plan.path)

        try:
            results = self._schedule.run(order, dependencies(plan.stages), build_stage)
        except CommandFailed as err:  # a buildah verb the executor did not expect to fail
            raise BuildError(
                f"buildah failed: {' '.join(err.result.argv[:4])}", plan.path, None, tail(err.result.output)
            ) from None
        finally:
            self.work.cleanup()
        final = results[plan.stages[-1].index]
        if self.options.tags:  # a name the image had when listed needs no call
            listed = self._image_names.get(final.image, set())
            untagged = [name for name in self.options.tags if normalized_name(name) not in listed]
            if untagged:
                self.buildah.tag(final.image, untagged)
        if self.after_build is not None:
            self.after_build(final.image)
        # in the file's order whatever order parallel stages finished in (each stage's steps stay in order)
        steps = tuple(record for _, record in sorted(self._placed, key=lambda placed: placed[0]))
        return BuildResult(final.image, steps, time.monotonic() - start)

    def _earlier(self, index: int) -> dict[int, StageResult]:
        """The stages before ``index`` in the file that are built: what a stage may read (a later index it
        names is an image name, as in the sequential build)."""
        position = self._positions[index]
        return {i: r for i, r in self._schedule.results().items() if self._positions[i] < position}

    def _stop_commands(self) -> None:
        """Another stage failed, or the build was interrupted: stop the buildah commands still running."""
        terminate = getattr(self.buildah.runner, "terminate_children", None)
        if terminate is not None:
            terminate()

    def _show(self, text: str) -> None:
        """What a step's command printed, tagged with the stage whose thread runs it."""
        label = getattr(self._current, "stage", None)
        with self._shared:
            self.on_output(OutputLine.of(text, label) if label is not None else text)

    def _record(
        self,
        stage: Stage,
        step: Step,
        status: str,
        t0: float,
        reason: str | None = None,
        fetched: int | None = None,
        served: int | None = None,
    ) -> None:
        """Note what happened to ``step`` (started at ``t0``) and tell the ``on_step`` callback."""
        seconds = time.monotonic() - t0
        record = StepRecord(stage.label, step.text, step.location, status, seconds, reason, fetched, served)
        with self._shared:
            self._placed.append((self._positions.get(stage.index, 0), record))
            if self.on_step is not None:
                self.on_step(record)

    def _started(self, stage: Stage, step: Step) -> None:
        """Tell ``on_start`` that ``step`` runs (a stage that was told to stop starts nothing more)."""
        if self._schedule.cancelled.is_set():
            raise Cancelled
        if self.on_start is not None:
            with self._shared:
                self.on_start(StepStart(stage.label, step.text, step.location))

    # -- one stage ----------------------------------------------------------------------------------------
    def _run_stage(self, stage: Stage, results: dict[int, StageResult], path: str) -> StageResult:
        steps = list(stage.steps)
        state: _State | None = None
        self._current.stage = stage.label
        #: the step before when it is a COPY (its parent key, inputs, step): an npm delta spans both
        prior: tuple[str, dict, CopyStep] | None = None
        #: the FROM image has ONBUILD triggers: no late-edit tail (``late_edit``: its ``buildah from`` of that image
        #: would run them, ``onbuild``)
        triggered = False
        entered = False  # the stage's image has bud's empty entries (``_commit_config``, ``_enter_history``)
        i = 0
        while i < len(steps):
            if self._schedule.cancelled.is_set():
                raise Cancelled
            step = steps[i]
            slot = f"{os.path.abspath(path)}|{stage.index}|{i}|{type(step).__name__}"
            tail = len(self._positions) == 1 and state is not None and not triggered
            if tail and i == late_edit.tail_start(steps):
                self.tail = late_edit.tail_entry(
                    steps, i, stage, path, state, self.context, self.reached, self.format, self.buildah,
                    self.plain_copies, _base_comment_first(),
                )  # fmt: skip
            t0 = time.monotonic()
            if isinstance(step, FromStep):
                self._started(stage, step)  # a pull can take long: shown as running meanwhile
                state, triggers = self._from(step, results)
                triggered = bool(triggers)
                if triggers and self.onbuild:
                    added = self.onbuild(triggers, stage, step)
                    steps[i + 1 : i + 1] = added
                    # a trigger may read an earlier stage the plan did not show this one using
                    earlier = {n for n, p in self._positions.items() if p < self._positions[stage.index]}
                    wanted = stage_needs(added, earlier)
                    if wanted - set(results):
                        results = {n: r for n, r in self._schedule.wait_for(wanted).items() if n in earlier}
                self._record(stage, step, "from", t0)
                i += 1
                continue
            assert state is not None, "a stage starts with FROM"
            state.entries.extend(step.before)  # an ARG's empty entry (it has no step of its own)
            inputs = self._inputs(step, state, results)
            before, prior = prior, ((state.key, inputs, step) if isinstance(step, CopyStep) else None)
            key = step_key(state.key, inputs)
            inputs = self._with_manifest(step, inputs)  # for --explain only: not part of the key
            folded = _folded(steps, i)  # a last COPY's config steps after it: one commit (``_fold_keys``)
            keys = self._fold_keys(key, folded, state, results)
            # a config step's key names no image: the stage's end looks up what its config steps made
            config_only = isinstance(step, ConfigStep)
            cached = None if self.options.no_cache or config_only else self._lookup(keys[-1])
            if (
                i + len(folded) == len(steps) - 1
                and cached is None
                and self._entered(stage, state, keys[-1], step, folded)
            ):
                # the stage's image with bud's empty entries, found: its last config steps' (or a last COPY's
                # and its folded config steps', committed another way before): nothing more to do
                entered = True
                self._record(stage, step, "cached", t0)
                for n, config in enumerate(folded, 1):
                    self._record(stage, config, "cached" if n == len(folded) else "config", t0)
                break
            if cached is not None:
                self._drop_container(state)
                self.index.remember_slot(slot, {"parent": state.key, **inputs})
                if self.incremental is not None and isinstance(step, RunStep):
                    with self._shared:
                        self.incremental.remember(step, state.key, inputs, key, built=False, copied=before)
                state.key, state.image, state.pending, state.uncommitted = keys[-1], cached, [], False
                state.gaps.append(tuple(state.entries))
                state.entries = [config.history for config in folded if config.history]
                self._record(stage, step, "cached", t0)
                for n, config in enumerate(folded, 1):
                    self._record(stage, config, "cached" if n == len(folded) else "config", t0)
                i += 1 + len(folded)
                continue
            parent_key = state.key
            state.key = key
            fetched = served = None
            if isinstance(step, ConfigStep):
                # config-only: folded into the next commit, costs nothing, so it is neither built nor cached
                if state.container:
                    self._configure(state, list(step.options))
                else:
                    state.pending.append(step)
                state.uncommitted = True
                state.history = step.history or state.history
                if step.history:  # bud's empty entry for it, should it end the stage (``_commit_config``)
                    state.entries.append(step.history)
                self._record(stage, step, "config", t0)
            else:
                if self.before_build_step is not None:
                    with self._shared:
                        self.before_build_step()
                reason = explain_miss(self.index.slots.get(slot), {"parent": parent_key, **inputs})
                if folded and reason == "cached layer was removed":
                    reason = "a config step after it changed (committed with it)"
                if self.options.no_cache:
                    reason = "--no-cache"
                start, parent_image, parent_pending = None, state.image, state.pending
                if self.incremental is not None and isinstance(step, RunStep) and not self.options.no_cache:
                    with self._shared:
                        start = self.incremental.start(step, parent_key, inputs, self._lookup, before)
                    reason = start.explained(reason)
                    if start.image is not None:  # its config already has the pending steps
                        self._drop_container(state)
                        state.image, state.pending = start.image, []
                self._started(stage, step)
                self._ensure_container(state, history=step.history, defer=not isinstance(step, RunStep))
                state.history = step.history
                if isinstance(step, RunStep):
                    images = {index: result.image for index, result in results.items()}
                    run = start.step if start and start.step else step
                    failed = None  # why the delta is not kept; known before it runs, it does not run
                    if start and start.image and self.incremental:
                        parent_root = functools.partial(self._image_root, parent_image)
                        failed = self.incremental.before_run(start, self._rootfs(state), parent_root)
                        if start.copy is not None:  # npm: the manifests copied as the COPY step copies them
                            rootfs = functools.partial(self._rootfs, state)
                            copy = functools.partial(
                                self.copies.copy, start.copy, state.container, rootfs, images
                            )
                            failed = self.incremental.before_npm(start, self._rootfs(state), copy)
                    check = start.check if start and start.image and not failed else None
                    if isinstance(check, PipCheck):  # a pip delta is checked against its parent layer
                        check.parent = self._parent_container(parent_image, parent_pending)
                    elif isinstance(check, AptOrder):  # made only if apt's plan of a full install is asked
                        make = functools.partial(self._parent_container, parent_image, parent_pending)
                        check.make_parent, check.stop = make, self._stop_commands
                        if check.plan is not None and self.options.lists_ttl == 0:  # every update a real one
                            check.plan.early_start = False
                    ran = not failed  # a delta refused before it runs never ran: its step runs in full, once
                    try:
                        if not failed:
                            # an apt delta's check may ask apt's plan beside the delta (``aptplan``)
                            beside = check if isinstance(check, AptOrder) else None
                            fetched, served = self.runs.run(
                                run, state.container, self._rootfs(state), state.image, images, check, beside
                            )
                    except RefusedError:
                        raise
                    except BuildError as error:  # a delta that fails is built in full: as written
                        if not (start and start.image):
                            raise
                        failed = f"the delta run failed ({error.message.rsplit(': ', 1)[-1]})"
                    finally:
                        if isinstance(check, (PipCheck, AptOrder)) and check.parent:
                            self.work.remove(check.parent)
                    spoiled = failed or (
                        start
                        and start.image
                        and self.incremental
                        and self.incremental.spoiled(start, self._rootfs(state))
                    )
                    if start and spoiled:  # new lists, or an unproven dpkg trigger: built in full after all
                        reason = start.redone(reason, spoiled)
                        # the delta's output is shown already: say why the step's command runs again after it
                        again = "runs again in full" if ran else "runs in full"
                        self._show(f"shlax-front: not incremental: {spoiled}; the step {again}")
                        self._drop_container(state)
                        state.image, state.pending = parent_image, parent_pending
                        self._ensure_container(state)
                        fetched, served = self.runs.run(
                            step, state.container, self._rootfs(state), state.image, images
                        )
                elif isinstance(step, CopyStep):
                    images = {index: result.image for index, result in results.items()}
                    rootfs = functools.partial(self._rootfs, state)
                    digest = self.copies.copy(step, state.container, rootfs, images)
                    local = step.from_stage is None and step.from_image is None
                    context = self.context if local else None
                    state.history = with_content(step.history, digest, step.sources, context, step.exclude)
                    if inputs.get("remote") and not step.checksum:
                        self._check_remote(step, state, inputs["remote"])
                elif isinstance(step, ConfigStep):
                    self._configure(state, list(step.options))
                config = [option for folded_step in folded for option in folded_step.options]
                # unnamed when bud's empty entries are written after (``_enter_history``): ``run`` tags that image
                rewritten = stage.index in self._kept and (
                    any(state.gaps) or state.entries or any(config.history for config in folded)
                )
                last = i + len(folded) == len(steps) - 1
                name = self._name_at_commit(stage) if last and not rewritten else None
                self._commit(state, keys[-1], step, slot, {"parent": parent_key, **inputs}, config, name)
                if self.incremental is not None and isinstance(step, RunStep):
                    with self._shared:
                        delta = start if start and start.image and not spoiled else None
                        self.incremental.remember(
                            step,
                            parent_key,
                            inputs,
                            key,
                            updates=delta.kept_updates if delta else None,
                            copied=before,
                            base=delta.base if delta else None,
                        )
                state.entries = [config.history for config in folded if config.history]
                self._record(stage, step, "built", t0, reason=reason, fetched=fetched, served=served)
                for folded_step in folded:
                    self._record(stage, folded_step, "config", t0)
                i += len(folded)
            i += 1
        assert state is not None
        # bud's empty entries before the stage's layers: in the build's image and those a FROM builds on only
        gaps = state.gaps if stage.index in self._kept else []
        if entered:
            pass
        elif state.uncommitted and state.entries and state.image is not None and state.container is None:
            key = emptylayers.history_key(state.key, gaps, state.entries)
            cached = None if self.options.no_cache else self._lookup(key)
            if cached is not None:
                state.image, state.key, state.uncommitted = cached, key, False
            else:
                self._commit_config(state, gaps, key)
            entered = True
        elif state.uncommitted:
            cached = None if self.options.no_cache else self._lookup(state.key)
            if cached is not None:
                self._drop_container(state)
                state.image = cached
                state.gaps.append(tuple(state.entries))
                state.entries = []
            else:
                # a new container for folded config only: its history line goes with the config, one call
                history = ["--created-by", state.history] if state.container is None and state.history else []
                self._ensure_container(state, history)
                state.history = "" if history else state.history
                self._commit(state, state.key, None, None, {}, name=self._name_at_commit(stage))
        if not entered and state.image is not None and stage.index in self._kept:
            self._enter_history(state)
        self._drop_container(state)
        assert state.image is not None
        if self.format == "docker" and any(
            isinstance(s, ConfigStep) and "--onbuild" in s.options for s in steps
        ):
            # its own triggers (a child's inherited ones are cleared): a COPY --from it makes no buildah from of it
            self._triggers(state.image, self._inspect(state.image))
        return StageResult(state.image, state.key)

    # -- FROM ---------------------------------------------------------------------------------------------
    def _from(self, step: FromStep, results: dict[int, StageResult]) -> tuple[_State, list[str]]:
        if step.stage is not None:
            base = results[step.stage]
            info = self._inspect(base.image)
            return _State(
                root_key(base.key, self.format, self.options.timestamp), base.image
            ), self._triggers(base.image, info)
        if step.image == "scratch":
            return _State(root_key("scratch", self.format, self.options.timestamp), None), []
        if self.options.pull != "missing" and not self.options.offline:
            present = self._inspect(step.image) is not None
            if pull_by_policy(self.buildah, step, self.options.pull, present):
                self._inspected.pop(step.image, None)
        info = self._inspect(step.image)
        if info is None:
            if self.options.offline:
                raise BuildError(
                    f"FROM {step.image}: image not in local storage and --offline given",
                    step.location.path,
                    step.location.line,
                )
            try:
                self.buildah.pull(step.image)
            except CommandFailed as err:
                raise BuildError(
                    f"FROM {step.image}: cannot pull the image",
                    step.location.path,
                    step.location.line,
                    tail(err.result.output),
                ) from None
            self._inspected.pop(step.image, None)
            info = self._inspect(step.image)
            if info is None:
                raise BuildError(
                    f"FROM {step.image}: image not found", step.location.path, step.location.line
                )
        image_id = info["FromImageID"]
        return _State(root_key(image_id, self.format, self.options.timestamp), image_id), self._triggers(
            image_id, info
        )

    def _triggers(self, image: str, info: dict | None) -> list[str]:
        """The ONBUILD triggers of ``image`` (a FROM image: steps of the child build; an image ``COPY --from`` or
        ``RUN --mount from=`` reads: nothing runs them): no ``buildah from`` of it, which would run them itself,
        but of a copy without them (``_working_image``)."""
        found = onbuild.triggers(info)
        if found and info is not None:
            with self._copies_lock:
                self._triggered[image] = info
        return found

    def _source_image(self, image: str) -> str:
        """What a source container of ``image`` (``COPY --from``, ``RUN --mount from=``) is made from."""
        return self._working_image(image) or image

    def _working_image(self, image: str | None) -> str | None:
        """What a working container of ``image`` is made from: ``image``, or for a FROM image with ONBUILD
        triggers its copy without them (``onbuild``), made once for the build and removed at its end (an image
        whose config does not read as expected is used as it is)."""
        if image is None or image not in self._triggered:
            return image
        with self._copies_lock:
            if image not in self._copies:
                info = self._triggered[image]
                made = onbuild.without_triggers(info.get("Config") or "", info.get("Manifest") or "")
                if made is None:
                    return image
                copy = self._stored(*made)
                self.work.temporary_image(copy, remake=functools.partial(self._stored, *made))
                self._copies[image] = copy
            return self._copies[image]

    def _inspect(self, ref: str) -> dict | None:
        if ref not in self._inspected:
            self._inspected[ref] = self.buildah.inspect_image(ref)
        return self._inspected[ref]

    # -- keys ---------------------------------------------------------------------------------------------
    def _inputs(self, step: Step, state: _State, results: dict[int, StageResult]) -> dict:
        inputs: dict = {"instruction": step.text}
        if isinstance(step, RunStep):
            inputs["argv"] = list(step.original_argv or step.argv)
            inputs["env"] = sorted([name, value_digest(value)] for name, value in step.env)
            if step.mounts:
                inputs["mounts"] = [[m.type, [list(o) for o in m.options]] for m in step.mounts]
            if step.files:
                inputs["files"] = sorted(list(f) for f in step.files)
            binds = [m for m in step.mounts if m.type == "bind"]
            ctx_sources = tuple(m.get("source") or m.get("src") or "." for m in binds if not m.get("from"))
            if ctx_sources:
                inputs["context"] = self._digest(step, ctx_sources, mounted=True)
            froms = [self._from_ref(m.get("from"), results) for m in binds if m.get("from")]
            if froms:
                inputs["from"] = froms
        elif isinstance(step, CopyStep):
            if step.heredocs:
                inputs["files"] = sorted(list(h) for h in step.heredocs)
            files = None
            if step.from_stage is not None and not step.chown and not step.add:
                stage = results[step.from_stage]
                files = self.stage_files.digest(stage.image, step.sources, step.exclude)
            if files is not None:
                inputs["from_files"] = files
            elif step.from_stage is not None:
                inputs["from"] = results[step.from_stage].key
            elif step.from_image in self.copies:
                with self._context_lock:
                    inputs["named_context"] = self.copies.copy_digest(step)
            elif step.from_image:
                info = self._inspect(step.from_image)
                inputs["from"] = info["FromImageID"] if info else step.from_image
                self._triggers(step.from_image, info)  # its source container: of a copy without them
            elif step.sources:
                local = tuple(s for s in step.sources if not is_url(s))
                if local:
                    inputs["context"] = self._digest(step, local, step.exclude)
                urls = tuple(s for s in step.sources if is_url(s))
                if urls:
                    inputs["remote"] = self._remote(step, urls)
        elif isinstance(step, ConfigStep):
            inputs["options"] = list(step.options)
        return inputs

    def _with_manifest(self, step: Step, inputs: dict) -> dict:
        if "context" not in inputs or not isinstance(step, CopyStep):
            return inputs
        local = tuple(s for s in step.sources if not is_url(s))
        with self._context_lock:
            manifest = self.context.manifest(local, step.exclude)
        if len(manifest) > 5000:  # keep the index small: big trees are explained as "context files changed"
            return inputs
        return {**inputs, "context_files": manifest}

    def _digest(
        self, step: Step, sources: tuple[str, ...], exclude: tuple[str, ...] = (), mounted: bool = False
    ) -> str:
        """Key of what a COPY copies from the context, or (``mounted``) of what a RUN bind mount shows."""
        try:
            with self._context_lock:
                if mounted:
                    return self.context.mounted_digest(sources)
                return self.context.digest(sources, exclude)
        except OutsideContext as err:
            raise RefusedError(str(err), step.location.path, step.location.line) from None
        except (ContextError, OSError) as err:
            raise BuildError(str(err), step.location.path, step.location.line) from None

    def _remote(self, step: CopyStep, urls: tuple[str, ...]) -> list[str]:
        """Key of what ``ADD <url>`` downloads: the content's digest (``remote``), or the ``--checksum`` the
        download must have (buildah refuses any other content)."""
        if step.checksum:
            return [step.checksum]
        try:
            return [remote_digest(self.caches.root, url, self.options.offline) for url in urls]
        except RemoteError as err:
            raise BuildError(f"{step.excerpt}: {err}", step.location.path, step.location.line) from None

    def _check_remote(self, step: CopyStep, state: _State, digests: list[str]) -> None:
        """buildah downloads an ``ADD`` URL itself: what it got must be what the key was computed from, or the
        layer would be recorded under another content's key (the file changed in between)."""
        dest = _inside(self._rootfs(state), step.dest)
        for url, digest in zip([s for s in step.sources if is_url(s)], digests, strict=True):
            landed = downloaded_path(dest, url)
            if os.path.isfile(landed) and not os.path.islink(landed):  # else: not where expected, not judged
                problem = checksum_problem(landed, digest)
                if problem:
                    raise BuildError(
                        f"{step.excerpt}: {url} changed during the build ({problem}): build again",
                        step.location.path,
                        step.location.line,
                    )

    def _from_ref(self, ref: str, results: dict[int, StageResult]) -> str:
        """Key of a ``--mount from=``: the stage's key, or the id of the image the name points at now (as
        ``COPY --from``: a re-tagged name is another image)."""
        if ref in self.copies:
            with self._context_lock:
                return self.copies.mount_digest(ref)
        for index, result in results.items():
            if ref == str(index) or ref == getattr(result, "name", None):
                return result.key
        info = self._inspect(ref)
        self._triggers(ref, info)  # its source container: of a copy without them
        return info["FromImageID"] if info else ref

    def _lookup(self, key: str) -> str | None:
        with self._lookup_lock:  # the listing is made once, a layer imported once
            return self._lookup_shared(key)

    def _lookup_shared(self, key: str) -> str | None:
        image = self._lookup_stored(key)
        if image is None and self.import_layer is not None:
            image = self.import_layer(key)  # the key chain goes on from an imported layer as from a local one
            if image is not None:
                self.index.record(key, image, "(imported)", None, {})
                if self._image_ids is not None:
                    self._image_ids.add(image)
        if image is not None:
            self.reached[key] = image
        return image

    def _lookup_stored(self, key: str) -> str | None:
        image = self.index.lookup(key)
        if image is None:
            return None
        if self._image_ids is None:
            self._image_names = self.buildah.image_names()
            self._image_ids = set(self._image_names)
        if image in self._image_ids:
            return image
        # not listed: confirmed one by one, as a listing raced by another build's removal can miss images
        if self.buildah.inspect_image(image) is not None:
            self._image_ids.add(image)
            return image
        return None

    # -- containers ---------------------------------------------------------------------------------------
    def _ensure_container(
        self,
        state: _State,
        extra_config: list[str] | None = None,
        history: str | None = None,
        defer: bool = False,
    ) -> None:
        """A working container of the stage's image with the pending config steps. ``history``: the line the
        commit will give the layer, set in the same ``buildah config`` call when there is one (a RUN after
        ENV/WORKDIR...: no call of its own before the commit). ``defer``: the step reads no config of its
        container (a COPY, a WORKDIR's directory): the options wait for the commit's call, one call less."""
        if state.container:
            return
        name = self.work.create(self._working_image(state.image))
        state.container = name
        # the folded config steps in one call: each flag of buildah config acts on its own, a repeated one as
        # in separate calls (lists appended in order, single values last one kept)
        options = [option for step in state.pending for option in step.options] + (extra_config or [])
        state.pending = []
        state.rootfs = None
        state.deferred, state.history_set = None, None
        if defer:
            state.deferred = options
            return
        if options:
            self._configured.add(name)
        if options and history:
            options += ["--created-by", history]
            state.history_set = history
        self.buildah.config(name, options)

    def _configure(self, state: _State, options: list[str]) -> None:
        """Config options for the stage's container: with its commit's call when its options wait for it."""
        assert state.container is not None
        if state.deferred is not None:
            state.deferred += options
        else:
            self._configured.add(state.container)
            self.buildah.config(state.container, options)

    def _rootfs(self, state: _State) -> str:
        if state.rootfs is None:
            state.rootfs = self.buildah.mount(state.container)
        return state.rootfs

    def _image_root(self, image: str | None) -> str | None:
        """The mounted root of ``image`` (None: no image, ``FROM scratch``)."""
        working = self._working_image(image)
        return self.work.source_rootfs(working) if working else None

    def _parent_container(self, image: str | None, pending: list[ConfigStep]) -> str:
        """A working container of ``image`` with the ``pending`` config steps (a delta's proof runs in it)."""
        parent = _State("", image, pending=list(pending))
        self._ensure_container(parent)
        assert parent.container is not None
        return parent.container

    def _drop_container(self, state: _State) -> None:
        if state.container:
            self.work.remove(state.container)
        state.container = None
        state.rootfs = None
        state.deferred, state.history_set = None, None

    @interrupts.deferred
    def _commit(
        self,
        state: _State,
        key: str,
        step: Step | None,
        slot: str | None,
        inputs: dict,
        config: list[str] | None = None,
        name: str | None = None,
    ) -> None:
        """Commit the stage's container as the image of ``key``; ``config``: the folded config steps' options
        (set with the history line and the options the container still owes, one call), ``name``: the build's
        image name (``_name_at_commit``)."""
        text = step.text if step else "(config)"
        assert state.container is not None
        history = state.history if state.history != state.history_set else ""
        image = self.buildah.commit(
            state.container,
            self.format,
            created_by=history or None,
            remove=True,
            name=name,
            config=[*(state.deferred or []), *(config or [])],
        )
        self.work.forget(state.container)  # committed with --rm: buildah removed it
        state.container, state.rootfs = None, None
        state.deferred, state.history_set = None, None
        image = image.removeprefix("sha256:")
        if name:  # already named: ``run`` tags only the other names
            with self._shared:
                self._image_names.setdefault(image, set()).add(name)
        self._recorded(state, key, image, text, slot, inputs)

    def _recorded(
        self, state: _State, key: str, image: str, text: str, slot: str | None, inputs: dict
    ) -> None:
        """``image`` made for ``key``: in the layer index, and the stage's image from now on."""
        faults.point("layer-committed")  # tests: a build that dies here leaves no index entry
        self.index.record(key, image, text, slot, inputs)
        self.reached[key] = image
        if self._image_ids is not None:
            self._image_ids.add(image)
        state.image, state.key, state.uncommitted, state.history = image, key, False, ""
        state.gaps.append(tuple(state.entries))  # the layer just committed, after the entries since the last
        state.entries = []

    @interrupts.deferred
    def _commit_config(self, state: _State, gaps: list[tuple[str, ...]], key: str) -> None:
        """The config steps after the stage's last layer (a RUN's, a cached step's, the base image's) as bud
        commits them: its layers, then one empty history entry per step, no layer of their own. The buildah CLI
        has no such commit (``emptylayers`` says what was weighed): they are committed as before - a container of
        the last layer's image, their options and history line in the commit's ``buildah config`` call - and
        that image, which has one empty layer more, is stored again without it (``_without_empty_layer``), with
        ``gaps``' entries before the stage's layers in the same rewrite. The RUN keeps its own key and image: a
        changed ``CMD`` alone runs nothing again. Recorded under ``key`` (``emptylayers.history_key``). Left unnamed:
        ``run`` tags the build's image."""
        entries = list(state.entries)
        self._ensure_container(state, defer=True)  # the options go with the commit's config call
        container = state.container
        assert container is not None
        # not --rm: the container keeps its image (the RUN's) when the commit is removed (``_without_empty_layer``)
        committed = self.buildah.commit(
            container, self.format, created_by=state.history or None, config=state.deferred or []
        ).removeprefix("sha256:")
        try:
            image = self._without_empty_layer(committed, entries, gaps) or committed
        finally:
            self._drop_container(state)
        gaps_then = list(state.gaps)
        self._recorded(state, key, image, "(config)", None, {})
        state.gaps = gaps_then  # no layer of its own: the entries are in the image

    def _entered(self, stage: Stage, state: _State, key: str, step: Step, folded: list[ConfigStep]) -> bool:
        """Whether the stage's last steps - a config step, or a COPY and the config steps folded with it - find
        the image with bud's empty entries the stage ends with in the layer index (``emptylayers.history_key``:
        a no-op, or a stage whose config steps were committed apart before): the stage's image then, nothing
        is built. No buildah call: the layer index and the listing already made."""
        if self.options.no_cache or state.image is None or state.container is not None:
            return False
        gaps = list(state.gaps)
        if isinstance(step, ConfigStep):
            trailing = [*state.entries, *([step.history] if step.history else [])]
        elif isinstance(step, CopyStep) and folded:
            gaps.append(tuple(state.entries))
            trailing = [config.history for config in folded if config.history]
        else:
            return False
        if not trailing:
            return False
        key = emptylayers.history_key(key, gaps if stage.index in self._kept else [], trailing)
        found = self._lookup(key)
        if found is None:
            return False
        state.key, state.image, state.pending, state.uncommitted, state.entries = key, found, [], False, []
        return True

    def _enter_history(self, state: _State) -> None:
        """A stage image ending with a layer (a RUN's, a COPY's with its folded config) given bud's empty entries:
        those before its layers and those after its last (a folded config step's), in one rewrite of its
        manifest and config (``emptylayers.with_entries``, ``_stored``), recorded under ``emptylayers.history_key``: the
        layer's own key keeps the layer's image, a later step builds on it. A no-op finds the rewrite in the
        layer index (no call); an image not as expected is kept as it is."""
        assert state.image is not None
        if not any(state.gaps) and not state.entries:
            return
        key = emptylayers.history_key(state.key, state.gaps, state.entries)
        cached = None if self.options.no_cache else self._lookup(key)
        if cached is None:
            info = self.buildah.inspect_image(state.image) or {}
            made = emptylayers.with_entries(
                info.get("Config") or "",
                info.get("Manifest") or "",
                state.gaps,
                state.entries,
                base_comment_first=_base_comment_first(),
            )
            if made is None:
                return
            try:
                cached = self._stored(*made)
            except (CommandFailed, OSError):
                return
            self.index.record(key, cached, "(history)", None, {})
            self.reached[key] = cached
            if self._image_ids is not None:
                self._image_ids.add(cached)
        state.image, state.key, state.entries = cached, key, []

    def _stored(self, config: bytes, manifest: bytes) -> str:
        """An image of ``config`` and ``manifest`` over layers the store already holds (``emptylayers``: a
        ``dir:`` without layer blobs, pulled); its id. Raises what the pull or the scratch directory raise."""
        return emptylayers.store(self.buildah, self.work, config, manifest)

    def _without_empty_layer(
        self, committed: str, entries: list[str], gaps: list[tuple[str, ...]] | None = None
    ) -> str | None:
        """``committed`` stored again without its last, empty layer and with an empty history entry per line of
        ``entries`` in place of that layer's, and ``gaps``' before the stage's layers (``emptylayers``: its
        manifest and config, edited, pulled from a
        ``dir:`` that holds no layer: the store has them all), then ``committed`` removed; the new image's id.
        None when the image is not as expected or the pull fails: ``committed`` is kept (bud's files and config,
        one layer more than bud's).

        ``buildah rmi`` also removes the parent of the image it removes when nothing else names or uses it: the
        image ``committed`` was made from - the RUN's, cached under its own key - would go with it. The working
        container of that image, still there, keeps it (``rmi`` then says it could not remove it)."""
        info = self.buildah.inspect_image(committed) or {}
        config, manifest = info.get("Config") or "", info.get("Manifest") or ""
        made = (
            emptylayers.with_entries(
                config,
                manifest,
                gaps or [],
                entries,
                drop_last=True,
                base_comment_first=_base_comment_first(),
            )
            if entries
            else None
        )
        if made is None:
            return None
        try:
            image = self._stored(*made)
        except (CommandFailed, OSError):
            return None
        self.buildah.rmi([committed])
        return image

    def _fold_keys(
        self, key: str, folded: list[ConfigStep], state: _State, results: dict[int, StageResult]
    ) -> list[str]:
        """``key`` and the keys of the config steps folded after it: the last is the key of the one image they
        make (the keys are those of one step after the other, so a cache made before folding still serves)."""
        keys = [key]
        for config in folded:
            keys.append(step_key(keys[-1], self._inputs(config, state, results)))
        return keys

    def _name_at_commit(self, stage: Stage) -> str | None:
        """The name the build's image gets at its last commit, as bud names it (the first ``-t``; ``run`` tags
        the others): only in the last stage once every other stage is built (a later failure could not unname it)
        and for a name ``tag`` would spell alike."""
        if stage.index != self._final or not self.options.tags:
            return None
        if not set(self._positions) - {stage.index} <= set(self._schedule.results()):
            return None
        return normalized_name(self.options.tags[0])


def _folded(steps: list[Step], i: int) -> list[ConfigStep]:
    """The config steps after ``steps[i]`` committed with it: when it is a COPY/ADD and only config steps that
    change no file follow, as bud's history ends (its last layer, then empty entries) - one container and one
    commit, instead of a container and a commit of their own that added an empty layer bud's image does not
    have. Never after a RUN: a config change alone would run it again (a COPY is copied again); there they are
    committed on their own and stored again as bud's empty history entries (``_commit_config``)."""
    rest = steps[i + 1 :]
    if not isinstance(steps[i], CopyStep) or not rest:
        return []
    if not all(isinstance(step, ConfigStep) for step in rest):
        return []
    return [step for step in rest if isinstance(step, ConfigStep)]


def _base_comment_first() -> bool:
    """Whether the installed buildah's bud names the base image in a stage's first history entry only (1.39),
    not ``FROM <id>`` in each (1.28): ``emptylayers.with_entries``. The version is asked once per process."""
    from shlax_front.backend.budversion import installed_version

    version = installed_version()
    return version is not None and version >= (1, 39)


def _ignore(text: str) -> None:
    """The default ``on_output``: a library call prints nothing."""
