"""Which stages of a build run when: each as soon as the stages it uses are built, at most ``jobs`` at once.

Independent stages (a compiler image and an asset builder that the final stage both copy from) need not wait
for each other, as BuildKit does not make them wait: the work is buildah subprocesses, so threads overlap it.
A stage waits only for the stages it uses (its ``FROM`` stage, ``COPY --from``, ``RUN --mount from=``), and
among those only the ones before it in the file - a later index named there is read as an image name by the
sequential build, and stays so. With ``jobs=1`` (or a single stage) everything runs in the calling thread in
file order, exactly the sequential build.

A failure (or Ctrl-C) in one stage fails the build with the first error; no other stage starts, the running
ones are told to stop (``stop``: the executor kills their buildah children, and each stage looks at
``cancelled`` between steps), and ``run`` returns only when every worker thread has ended, so the caller's
clean-up never races a stage still using a container.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Generic, TypeVar

from shlax_front.backend.steps import CopyStep, FromStep, RunStep, Stage, Step

T = TypeVar("T")

#: how often the waiting thread looks again (it wakes at once on news; this bounds a missed wake and lets
#: a Ctrl-C through) and, while workers wind down, how often their children are stopped again
TICK = 0.1


class Cancelled(Exception):
    """Raised in a stage that was told to stop because another one failed (never the build's error)."""


def stage_needs(steps: Iterable[Step], earlier: Iterable[int]) -> set[int]:
    """The stages among ``earlier`` (indexes) whose result ``steps`` read: FROM, COPY --from, RUN --mount from=."""
    known = set(earlier)
    needs: set[int] = set()
    for step in steps:
        if isinstance(step, FromStep) and step.stage is not None:
            needs.add(step.stage)
        elif isinstance(step, CopyStep) and step.from_stage is not None:
            needs.add(step.from_stage)
        elif isinstance(step, RunStep):
            for mount in step.mounts:
                ref = mount.get("from")
                if ref is not None and ref.isdigit():
                    needs.add(int(ref))
    return needs & known


def dependencies(stages: list[Stage]) -> dict[int, set[int]]:
    """Stage index -> the indexes of the earlier stages it uses."""
    seen: list[int] = []
    out: dict[int, set[int]] = {}
    for stage in stages:
        out[stage.index] = stage_needs(stage.steps, seen)
        seen.append(stage.index)
    return out


class Scheduler(Generic[T]):
    """Runs ``work(index)`` for each stage once its needs are done, at most ``jobs`` at a time."""

    def __init__(self, jobs: int, stop: Callable[[], None] = lambda: None):
        self.jobs = max(1, jobs)
        self.stop = stop
        self.cancelled = threading.Event()
        self._cond = threading.Condition()
        self._done: dict[int, T] = {}
        #: stages holding a job slot, and worker threads not yet ended (a stage in ``wait_for`` holds no slot)
        self._busy = 0
        self._live = 0
        self._error: BaseException | None = None

    def run(self, order: list[int], needs: Mapping[int, set[int]], work: Callable[[int], T]) -> dict[int, T]:
        """Every stage of ``order`` built; the first error (or a KeyboardInterrupt here) raised after every
        started stage has ended."""
        if self.jobs == 1 or len(order) <= 1:
            for index in order:
                self._done[index] = work(index)
            return dict(self._done)
        pending = list(order)
        threads: list[threading.Thread] = []
        try:
            with self._cond:
                while (pending or self._live) and self._error is None:
                    for index in [i for i in pending if needs.get(i, set()) <= set(self._done)]:
                        if self._busy >= self.jobs:
                            break
                        pending.remove(index)
                        self._busy += 1
                        self._live += 1
                        thread = threading.Thread(
                            target=self._worker, args=(index, work), name=f"shlax-front-stage-{index}"
                        )
                        threads.append(thread)
                        thread.start()
                    if pending and not self._live and self._error is None:
                        raise RuntimeError(f"stages {pending} wait for stages that are not built")
                    self._cond.wait(TICK)
        except BaseException:
            self._wind_down(threads)
            raise
        self._wind_down(threads)
        if self._error is not None:
            raise self._error
        return dict(self._done)

    def wait_for(self, indexes: set[int]) -> dict[int, T]:
        """From inside ``work``: wait until the stages ``indexes`` are built (a base image's ONBUILD trigger
        found a use the plan did not show), giving the job slot up meanwhile; every result built so far."""
        with self._cond:
            if not indexes <= set(self._done):
                self._busy -= 1
                self._cond.notify_all()
                while not indexes <= set(self._done):
                    if self.cancelled.is_set():
                        raise Cancelled
                    self._cond.wait(TICK)
                while self._busy >= self.jobs and not self.cancelled.is_set():
                    self._cond.wait(TICK)
                self._busy += 1
            return dict(self._done)

    def results(self) -> dict[int, T]:
        """The stages built so far."""
        with self._cond:
            return dict(self._done)

    def _worker(self, index: int, work: Callable[[int], T]) -> None:
        try:
            result = work(index)
        except BaseException as err:  # noqa: BLE001 - handed to the waiting thread, which raises it
            with self._cond:
                if self._error is None and not self.cancelled.is_set():
                    self._error = err
                self.cancelled.set()
                self._busy -= 1
                self._live -= 1
                self._cond.notify_all()
            return
        with self._cond:
            self._done[index] = result
            self._busy -= 1
            self._live -= 1
            self._cond.notify_all()

    def _wind_down(self, threads: list[threading.Thread]) -> None:
        """Stop what still runs and wait for every worker: a stage between two buildah calls may start one
        more, so the stop is repeated until the thread has ended."""
        if any(thread.is_alive() for thread in threads):
            self.cancelled.set()
        for thread in threads:
            while thread.is_alive():
                if self.cancelled.is_set():
                    self.stop()
                thread.join(TICK)
