"""A late edit finished from the record of the last build: only the COPY steps after the last RUN are redone.

Why: editing a file that is copied last (``COPY app.py ./`` after every ``RUN``) changes nothing but those
COPY steps' keys, yet the normal path imports and runs the whole front end (parser, planner, executor: about
0.3 s) to find that out. The no-op record (``replay``) already vouches for every other input of the build; this
module adds what the record needs to redo the tail of the build without the planner, and redoes it.

The tail of a build: the steps of its final stage after its last step that is neither a COPY/ADD from the
context nor a config step (ENV, EXPOSE, CMD...; not WORKDIR, which makes a directory), starting at the first
COPY. Recorded (``tail_entry``, from the executor, when the plan has one stage): the state the executor was in
when the tail began (key, image, pending config steps, history line), the tail's steps as the planner made
them, the image format and ``--timestamp``, and the context paths only the tail read (every path the build's
context walk looked at after the tail began; ``replay`` keeps them apart from the record's other paths).

Redone (``redo``) when every other input of the record holds: each tail step goes through the executor's own
rules for it (``Executor._run_stage``: the same key chain, a config step folded after the last COPY, a key
found in the layer index reused, otherwise a container of the parent image, ``copy_step.CopyExecutor``, one
commit with the history line and the folded config, named as the last commit is), so the image, its layers,
history and config are the ones the normal path makes, and the layer index gets the same entries and slots.
Anything unexpected raises ``NotRedone`` before or after buildah calls (the containers made are removed) and
the normal path, which is always right, builds.

Never a tail (the normal path every time): a COPY from a stage, an image or a URL, a heredoc, ``--checksum``,
a ``$`` in the instruction (an ARG's value could reach the record through its sources), a build with several
stages, ``buildah from`` options (``-v``, ``--add-host``...), ONBUILD triggers, a stage starting ``FROM
scratch``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from shlax_front.backend.steps import ConfigStep, CopyStep, Location, Step

#: the layout of a record's ``tail``; another number counts as no tail
TAIL_FORMAT = 2
#: as the executor: a COPY's per-file manifest (``--explain``) is kept only for trees up to this size
MANIFEST_LIMIT = 5000


class NotRedone(Exception):
    """The tail could not be redone as the normal path would: take the normal path."""


def is_tail_step(step: Step) -> bool:
    """A step the tail may hold: a COPY/ADD of context files only, or a config step."""
    if isinstance(step, ConfigStep):
        return True
    if not isinstance(step, CopyStep):
        return False
    return (
        step.from_stage is None
        and not step.from_image
        and not step.heredocs
        and not step.checksum
        and bool(step.sources)
        and not any(s.startswith(("http://", "https://")) for s in step.sources)
        and "$" not in step.text
    )


def tail_start(steps: Sequence[Step]) -> int | None:
    """Where the tail of a stage's ``steps`` begins (its first COPY), None when it has none."""
    start = len(steps)
    while start > 1 and is_tail_step(steps[start - 1]):
        start -= 1
    while start < len(steps) and isinstance(steps[start], ConfigStep):
        start += 1
    return start if start < len(steps) else None


def tail_entry(
    steps: Sequence[Step],
    start: int,
    stage: Any,
    path: str,
    state: Any,
    context: Any,
    reached: Mapping[str, str],
    fmt: str,
    buildah: Any,
    plain_copies: bool = False,
    base_comment_first: bool = False,
) -> dict[str, Any] | None:
    """What the executor hands the record when its final stage reaches its tail at ``steps[start]``
    (``state``: the executor's ``_State`` then; ``context``: its walk, with the paths looked at so far;
    ``reached``: the keys found or committed so far; ``buildah``: its working-container options and
    ``--timestamp``; ``plain_copies``: whether its COPYs of plain files go without ``--contextdir``;
    ``base_comment_first``: how the installed buildah's bud comments history entries, ``emptylayers``)."""
    if state.container is not None or state.image is None or buildah.container_options:
        return None
    return {
        "format": TAIL_FORMAT,
        "image_format": fmt,
        "timestamp": buildah.timestamp,
        "stage": [stage.index, stage.label],
        "path": os.path.abspath(path),
        "context": [context.root, context.containerfile],
        "start": start,
        "key": state.key,
        "image": state.image,
        "pending": [list(config.options) for config in state.pending],
        "history": state.history,
        "uncommitted": state.uncommitted,
        # bud's empty entries so far (``emptylayers``): before each layer of the stage, and since its last
        "gaps": [list(gap) for gap in state.gaps],
        "entries": list(state.entries),
        "base_comment_first": base_comment_first,
        "plain_copies": plain_copies,
        "steps": [_step_fields(step) for step in steps[start:]],
        "visited_before": sorted(context.visited),
        "reached_before": sorted(reached),
    }


def _step_fields(step: Step) -> dict[str, Any]:
    fields = dataclasses.asdict(step)
    fields["kind"] = "copy" if isinstance(step, CopyStep) else "config"
    return fields


def _step(fields: Mapping[str, Any]) -> Step:
    values = dict(fields)
    kind = values.pop("kind")
    location = values.pop("location")
    values = {name: tuple(v) if isinstance(v, list) else v for name, v in values.items()}
    cls = CopyStep if kind == "copy" else ConfigStep
    step = cls(Location(location["path"], location["line"]), **values)
    if not is_tail_step(step):
        raise NotRedone("not a tail step")
    return step


def finished_tail(
    tail: dict[str, Any], visited: set[str], named: set[str], reached: Mapping[str, str]
) -> dict[str, Any]:
    """The tail as the record keeps it once the build succeeded: ``paths`` are those only the tail read
    (looked at after it began, less the files the record names anyway), ``keys`` those it reached; the
    snapshots are not kept."""
    tail = dict(tail)
    before = set(tail.pop("visited_before"))
    tail["paths"] = sorted(visited - before - named)  # ``replay`` gives each its stat signatures
    tail["keys"] = sorted(set(reached) - set(tail.pop("reached_before")))
    return tail


def shaped(tail: object) -> bool:
    """Whether a record's ``tail`` has the fields ``tail_entry`` and ``finished_tail`` write."""
    if not isinstance(tail, dict) or tail.get("format") != TAIL_FORMAT:
        return False
    kinds = {
        "image_format": str,
        "stage": list,
        "path": str,
        "context": list,
        "start": int,
        "key": str,
        "image": str,
        "pending": list,
        "history": str,
        "uncommitted": bool,
        "gaps": list,
        "entries": list,
        "steps": list,
        "paths": list,
        "keys": list,
    }
    return (
        all(isinstance(tail.get(name), kind) for name, kind in kinds.items())
        and isinstance(tail.get("timestamp"), (int, type(None)))
        and all(isinstance(step, dict) for step in tail["steps"])
        and all(isinstance(p, list) and len(p) == 4 and isinstance(p[0], str) for p in tail["paths"])
        and len(tail["context"]) == 2
        and all(isinstance(v, str) for v in tail["context"])
    )


# -- redoing the tail -------------------------------------------------------------------------------------------


class Redone:
    """What ``redo`` did: the final image, each tail step as the build reports it, the keys it reached."""

    def __init__(self, image: str, rows: list[list[Any]], reached: dict[str, str], named: str | None):
        self.image = image
        self.rows = rows
        self.reached = reached
        #: the name the last commit gave the image (None: it was reused, not committed)
        self.named = named


def import_what_redo_needs() -> None:
    """Import the modules ``redo`` uses (while the image listing runs: ``replay.ImageListing``)."""
    from shlax_front.backend import containers, copy_step, history, keys, store  # noqa: F401


class Head:
    """The tail's first working container (of the image the tail starts from, mounted when its copies are written
    into the mounted container), made in a thread while ``replay`` still checks the record's other inputs.

    Why: ``buildah from`` and ``buildah mount`` (0.1-0.25 s together) were the first things a late edit did once
    every input was checked; they depend on nothing checked, only on the image the record names. The container
    is the one ``redo`` makes for the tail's first COPY (same image, ``--pull=never``, same kind of name, in the
    same registry of working containers), so the image committed is the same. ``redo`` takes it when its first
    container is of that image; whatever is not taken is removed by ``close``, which the caller runs whatever
    happens (the late edit not taken, an error, Ctrl-C or SIGTERM) and which waits for the thread first: the
    container is registered before ``buildah from`` runs, so nothing it made is left behind."""

    def __init__(self, tail: Mapping[str, Any], runner: Any = None):
        import threading

        from shlax_front.backend.buildah import Buildah
        from shlax_front.backend.containers import WorkingContainers
        from shlax_front.backend.runner import SubprocessRunner

        self.image: str = tail["image"]
        self.mounted = tail.get("plain_copies") is True  # ``redo``'s direct copies need the mounted root
        self.buildah = Buildah(runner or SubprocessRunner(), timestamp=tail["timestamp"])
        self.work = WorkingContainers(self.buildah)
        self.container: str | None = None
        self.rootfs: str | None = None
        self._thread = threading.Thread(target=self._make, name="late-edit-head", daemon=True)
        self._thread.start()

    @classmethod
    def start(cls, tail: object, runner: Any = None) -> Head | None:
        """A head for ``tail`` (a record's, unchecked) when it begins with a COPY; None otherwise."""
        if not shaped(tail):
            return None
        assert isinstance(tail, dict)
        steps = tail["steps"]
        if not steps or steps[0].get("kind") != "copy":
            return None
        return cls(tail, runner)

    def _make(self) -> None:
        from shlax_front.backend.runner import CommandFailed

        try:
            container = self.work.create(self.image)
            rootfs = self.buildah.mount(container) if self.mounted else None
        except (CommandFailed, OSError, IndexError):
            return  # ``redo`` makes its own; a name registered is removed by ``close``
        self.container, self.rootfs = container, rootfs

    def take(self, image: str) -> tuple[str, str | None] | None:
        """The container made (once) and its mounted root, when it is of ``image``; None: make one."""
        self._thread.join()
        if image != self.image or self.container is None:
            return None
        taken = (self.container, self.rootfs)
        self.container = None
        return taken

    def close(self) -> None:
        """Wait for the thread, then remove every container of this late edit still there."""
        self._thread.join()
        self.container = None
        self.work.cleanup()


def redo(
    tail: dict[str, Any],
    root: Path,
    listing: Mapping[str, set[str]],
    name: str | None,
    runner: Any = None,
    head: Head | None = None,
) -> tuple[Redone, Any]:
    """Redo the tail as ``Executor._run_stage`` does it (see the module docstring); returns what was done and
    the context walk (whose ``visited`` paths the new record keeps). ``listing``: the store's images and their
    names, ``name``: what the last commit names the image, ``runner``: runs buildah (unit tests give a fake;
    ignored with a ``head``, which has its own), ``head``: the first container, made meanwhile (``Head``; its
    containers are removed with this late edit's). Raises ``NotRedone``."""
    from shlax_front.backend import emptylayers, faults
    from shlax_front.backend.buildah import Buildah
    from shlax_front.backend.containers import WorkingContainers
    from shlax_front.backend.context import BuildContext, ContextError
    from shlax_front.backend.copy_step import CopyExecutor
    from shlax_front.backend.history import with_content
    from shlax_front.backend.keys import explain_miss, step_key
    from shlax_front.backend.runner import CommandFailed, SubprocessRunner
    from shlax_front.backend.statcache import FileDigests
    from shlax_front.backend.store import LayerIndex
    from shlax_front.errors import ShlaxError

    steps = [_step(fields) for fields in tail["steps"]]
    context_root, containerfile = tail["context"]
    digests = FileDigests.for_context(root, context_root)
    context = BuildContext(context_root, containerfile, file_digests=digests)
    index = LayerIndex(root).load()
    if head is not None:
        buildah, work = head.buildah, head.work
    else:
        buildah = Buildah(runner or SubprocessRunner(), timestamp=tail["timestamp"])
        work = WorkingContainers(buildah)
    plain = tail.get("plain_copies") is True
    # direct: a plain file is written into the mounted container (``directcopy``), as buildah 1.28 copies it
    copies = CopyExecutor(buildah, context, work.scratch, work.source_rootfs, plain, direct=plain)
    stage_index, label = tail["stage"]
    listed = set(listing)
    key, image, history = tail["key"], tail["image"], tail["history"]
    pending: list[list[str]] = [list(options) for options in tail["pending"]]
    uncommitted = tail["uncommitted"]
    gaps: list[tuple[str, ...]] = [tuple(str(line) for line in gap) for gap in tail["gaps"]]
    entries: list[str] = [str(line) for line in tail["entries"]]
    rows: list[list[Any]] = []
    reached: dict[str, str] = {}
    named = None
    last = len(steps) - 1

    def lookup(wanted: str) -> str | None:
        found = index.lookup(wanted)
        if found is None:
            return None
        if found not in listed:  # the executor would ask buildah about it: left to the normal path
            raise NotRedone(f"image {found} not listed")
        reached[wanted] = found
        return found

    def row(step: Step, status: str, reason: str | None = None) -> None:
        rows.append([label, step.text, step.location.path, step.location.line, status, reason])

    try:
        i = 0
        while i < len(steps):
            step = steps[i]
            entries.extend(step.before)
            slot = f"{tail['path']}|{stage_index}|{tail['start'] + i}|{type(step).__name__}"
            inputs = _inputs(step, context)
            step_key_now = step_key(key, inputs)
            if isinstance(step, CopyStep):
                manifest = context.manifest(_local(step), step.exclude)
                if len(manifest) <= MANIFEST_LIMIT:
                    inputs = {**inputs, "context_files": manifest}
            folded = (
                [s for s in steps[i + 1 :] if isinstance(s, ConfigStep)] if isinstance(step, CopyStep) else []
            )
            if len(folded) != len(steps) - i - 1:
                folded = []
            keys = [step_key_now]
            for config in folded:
                keys.append(step_key(keys[-1], _inputs(config, context)))
            cached = lookup(keys[-1])
            if cached is not None:
                index.remember_slot(slot, {"parent": key, **inputs})
                key, image, pending, uncommitted = keys[-1], cached, [], False
                gaps.append(tuple(entries))
                entries = [config.history for config in folded if config.history]
                row(step, "cached")
                for n, config in enumerate(folded, 1):
                    row(config, "cached" if n == len(folded) else "config")
                i += 1 + len(folded)
                continue
            parent_key, key = key, step_key_now
            if isinstance(step, ConfigStep):
                pending.append(list(step.options))
                uncommitted = True
                history = step.history or history
                if step.history:
                    entries.append(step.history)
                row(step, "config")
                i += 1
                continue
            assert isinstance(step, CopyStep)
            reason = explain_miss(index.slots.get(slot), {"parent": parent_key, **inputs})
            if folded and reason == "cached layer was removed":
                reason = "a config step after it changed (committed with it)"
            taken = head.take(image) if head is not None else None
            container = taken[0] if taken is not None else work.create(image)
            mounter = _mounter(buildah, container, taken[1] if taken is not None else None)
            # the pending config steps go with the commit's config call (a copy reads no config): one call
            owed = [option for options in pending for option in options]
            pending = []
            digest = copies.copy(step, container, mounter, {})
            history = with_content(step.history, digest, step.sources, context, step.exclude)
            folded_options = owed + [option for config_step in folded for option in config_step.options]
            trailing = [config.history for config in folded if config.history]
            rewritten = any(gaps) or entries or trailing  # then named by the tag, after ``_entered``
            commit_name = name if i + len(folded) == last and not rewritten else None
            committed = buildah.commit(
                container,
                tail["image_format"],
                created_by=history or None,
                remove=True,
                name=commit_name,
                config=folded_options,
            )
            work.forget(container)
            image = committed.removeprefix("sha256:")
            named = commit_name
            faults.point("layer-committed")
            index.record(keys[-1], image, step.text, slot, {"parent": parent_key, **inputs})
            reached[keys[-1]] = image
            listed.add(image)
            key, uncommitted, history = keys[-1], False, ""
            gaps.append(tuple(entries))
            entries = trailing
            row(step, "built", reason)
            for config in folded:
                row(config, "config")
            i += 1 + len(folded)
        if uncommitted:
            raise NotRedone("config steps left uncommitted")
        # the image with bud's empty entries, as ``Executor._enter_history`` makes it
        if any(gaps) or entries:
            comment_first = tail.get("base_comment_first") is True
            entered = _entered(buildah, work, index, lookup, key, image, gaps, entries, comment_first)
            if entered is not None:
                image = entered
                reached[emptylayers.history_key(key, gaps, entries)] = image
            named = None
    except (ShlaxError, CommandFailed, ContextError, OSError, TypeError, ValueError, KeyError) as err:
        raise NotRedone(str(err)) from None
    finally:
        if head is not None:
            head.close()  # waits for its thread: a container it is still making is removed too
        else:
            work.cleanup()
        digests.save()
    return Redone(image, rows, reached, named), context


def _entered(
    buildah: Any,
    work: Any,
    index: Any,
    lookup: Callable[[str], str | None],
    key: str,
    image: str,
    gaps: list[tuple[str, ...]],
    entries: list[str],
    comment_first: bool,
) -> str | None:
    """``image`` with bud's empty entries (``emptylayers.with_entries``) as the executor's ``_enter_history``
    stores it: found in the layer index, or stored from its edited manifest and config. None when the image is
    not as expected: kept as it is, as the executor keeps it."""
    from shlax_front.backend import emptylayers

    wanted = emptylayers.history_key(key, gaps, entries)
    found = lookup(wanted)
    if found is not None:
        return found
    info = buildah.inspect_image(image) or {}
    made = emptylayers.with_entries(
        info.get("Config") or "", info.get("Manifest") or "", gaps, entries, base_comment_first=comment_first
    )
    if made is None:
        return None
    stored = emptylayers.store(buildah, work, *made)
    index.record(wanted, stored, "(history)", None, {})
    return stored


def _mounter(buildah: Any, container: str, mounted_at: str | None = None) -> Callable[[], str]:
    """The container's root, mounted at the first call only (as ``Executor._rootfs``: most copies need none);
    ``mounted_at``: already mounted there (``Head``)."""
    mounted: list[str] = [mounted_at] if mounted_at else []

    def rootfs() -> str:
        if not mounted:
            mounted.append(buildah.mount(container))
        return mounted[0]

    return rootfs


def _local(step: CopyStep) -> tuple[str, ...]:
    return tuple(s for s in step.sources if not s.startswith(("http://", "https://")))


def _inputs(step: Step, context: Any) -> dict[str, Any]:
    """A tail step's key inputs, as ``Executor._inputs`` names them for a COPY of context files and a config
    step without a directory."""
    inputs: dict[str, Any] = {"instruction": step.text}
    if isinstance(step, CopyStep):
        inputs["context"] = context.digest(_local(step), step.exclude)
    elif isinstance(step, ConfigStep):
        inputs["options"] = list(step.options)
    return inputs
