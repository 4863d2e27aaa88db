"""Stages in parallel: which stage waits for which, at most ``jobs`` at once, the first failure stops the rest;
and the executor on the fake buildah (records in the file's order, containers removed after a failure)."""

from __future__ import annotations

import threading

import pytest
from fake_runner import FakeRunner

from shlax_front.backend.buildah import Buildah
from shlax_front.backend.context import BuildContext
from shlax_front.backend.executor import Executor, Options
from shlax_front.backend.hostcache import HostCaches
from shlax_front.backend.plan import Planner
from shlax_front.backend.result import OutputLine
from shlax_front.backend.runner import Result
from shlax_front.backend.schedule import Cancelled, Scheduler, dependencies
from shlax_front.backend.steps import CopyStep, FromStep, Location, RunMount, RunStep, Stage, Step
from shlax_front.backend.store import LayerIndex
from shlax_front.errors import BuildError
from shlax_front.parser import parse

#: long enough never to be reached on a loaded machine; a test that waits this long has failed anyway
PATIENCE = 30


def plan_of(text: str):
    return Planner(parse(text)).plan()


THREE_STAGES = """\
FROM busybox AS tools
RUN echo tools > /t
FROM busybox AS assets
RUN echo assets > /a
FROM tools AS final
RUN --mount=type=bind,from=assets,source=/a,target=/a cat /a
"""


def test_a_stage_needs_its_from_stage_copy_from_and_mount_from_but_not_images_or_later_stages():
    here = Location("Containerfile", 1)

    def stage(index: int, *steps: Step) -> Stage:
        return Stage(index, None, [FromStep(here, "FROM x", image="busybox"), *steps])

    stages = [
        stage(0),
        stage(1, RunStep(here, "RUN", mounts=(RunMount("bind", (("from", "0"),)),))),
        Stage(2, None, [FromStep(here, "FROM 1", stage=1), CopyStep(here, "COPY", from_stage=0)]),
        # an image, and a later stage's index (read as an image name, as the sequential build reads it)
        stage(3, CopyStep(here, "COPY", from_image="busybox"), RunStep(here, "RUN", mounts=(bind("4"),))),
        stage(4, RunStep(here, "RUN", mounts=(RunMount("cache", (("from", "2"),)),))),
    ]
    assert dependencies(stages) == {0: set(), 1: {0}, 2: {0, 1}, 3: set(), 4: {2}}


def bind(ref: str) -> RunMount:
    return RunMount("bind", (("from", ref), ("target", "/y")))


class Recorder:
    """Work that notes when each stage starts and ends, and how many ran at once."""

    def __init__(self, gates: dict[int, threading.Event] | None = None):
        self.lock = threading.Lock()
        self.events: list[str] = []
        self.now = 0
        self.most = 0
        self.gates = gates or {}

    def __call__(self, index: int) -> str:
        with self.lock:
            self.events.append(f"start {index}")
            self.now += 1
            self.most = max(self.most, self.now)
        gate = self.gates.get(index)
        if gate is not None:
            assert gate.wait(PATIENCE)
        with self.lock:
            self.events.append(f"end {index}")
            self.now -= 1
        return f"result {index}"


def test_a_stage_starts_only_after_the_stages_it_needs_and_all_results_come_back():
    work = Recorder()
    needs = {0: set(), 1: set(), 2: {0, 1}, 3: {2}, 4: set()}
    results = Scheduler(2).run([0, 1, 2, 3, 4], needs, work)
    assert results == {n: f"result {n}" for n in range(5)}
    for stage, wanted in needs.items():
        for need in wanted:
            assert work.events.index(f"end {need}") < work.events.index(f"start {stage}")


def test_independent_stages_run_at_once_and_never_more_than_jobs():
    both = threading.Barrier(2, timeout=PATIENCE)  # each of the first two waits for the other: they overlap

    def work(index: int) -> int:
        if index < 2:
            both.wait()
        return recorder(index)

    recorder = Recorder()
    Scheduler(2).run([0, 1, 2, 3, 4, 5], {n: set() for n in range(6)}, work)
    assert recorder.most <= 2


def test_jobs_one_runs_every_stage_in_the_calling_thread_in_the_files_order():
    threads: list[str] = []
    work = Recorder()

    def noting(index: int) -> str:
        threads.append(threading.current_thread().name)
        return work(index)

    Scheduler(1).run([0, 1, 2], {0: set(), 1: set(), 2: {0}}, noting)
    assert work.events == ["start 0", "end 0", "start 1", "end 1", "start 2", "end 2"]
    assert set(threads) == {threading.current_thread().name}


def test_the_first_failure_is_the_builds_the_others_are_stopped_and_nothing_new_starts():
    stopped = threading.Event()
    running = threading.Event()
    started: list[int] = []

    def work(index: int) -> str:
        started.append(index)
        if index == 0:
            assert running.wait(PATIENCE)  # stage 1 is running when stage 0 fails
            raise BuildError("stage 0 failed", "Containerfile", 2)
        if index == 1:
            running.set()
            assert stopped.wait(PATIENCE)  # as a killed buildah command would end
            raise BuildError("stage 1 was killed", "Containerfile", 4)
        return "built"

    scheduler: Scheduler[str] = Scheduler(2, stop=stopped.set)
    with pytest.raises(BuildError, match="stage 0 failed"):
        scheduler.run([0, 1, 2], {0: set(), 1: set(), 2: {0}}, work)
    assert sorted(started) == [0, 1]
    assert scheduler.cancelled.is_set()


def test_an_interrupt_in_a_stage_is_raised_after_the_other_stages_ended():
    ended = threading.Event()
    running = threading.Event()

    def work(index: int) -> None:
        if index == 0:
            assert running.wait(PATIENCE)
            raise KeyboardInterrupt
        running.set()
        while not scheduler.cancelled.is_set():
            threading.Event().wait(0.01)
        ended.set()
        raise Cancelled

    scheduler: Scheduler[None] = Scheduler(2)
    with pytest.raises(KeyboardInterrupt):
        scheduler.run([0, 1], {0: set(), 1: set()}, work)
    assert ended.is_set()


def test_a_stage_waiting_for_another_gives_its_job_slot_up():
    """An ONBUILD trigger can name an earlier stage the plan did not show: waiting for it must not hold the
    only slot that stage needs to run in."""
    seen: dict[int, object] = {}

    def work(index: int) -> str:
        if index == 1:
            seen[1] = scheduler.wait_for({0})
        return f"result {index}"

    scheduler: Scheduler[str] = Scheduler(1)
    scheduler.run([0, 1], {0: set(), 1: set()}, work)
    assert seen[1] == {0: "result 0"}
    scheduler = Scheduler(2)
    scheduler.run([1, 0], {0: set(), 1: set()}, work)
    assert seen[1] == {0: "result 0"}


class ThreadSafeRunner(FakeRunner):
    """The fake buildah, answering several stages at once; a RUN whose script holds ``fail`` exits 1, one
    that holds ``wait`` waits until ``released`` (or the build stops its commands)."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.waiting = threading.Event()

    def run(self, argv, check=True, on_output=None, cwd=None, input=None):
        argv = [str(a) for a in argv]
        if argv[1] == "run":
            script = argv[-1]
            if on_output is not None:
                on_output(f"{script}\n")
            if "wait" in script:
                self.waiting.set()
                assert self.released.wait(PATIENCE)
                return Result(argv, 143, "Terminated\n", "")
            if "fail" in script:
                assert self.waiting.wait(PATIENCE)  # the other stage is running by now
                return Result(argv, 1, "broken\n", "")
        with self.lock:
            return super().run(argv, check=check, on_output=on_output, cwd=cwd, input=input)

    def terminate_children(self) -> None:
        self.released.set()


def make_executor(tmp_path, runner, jobs: int, **callbacks) -> Executor:
    ctx = tmp_path / "ctx"
    ctx.mkdir(parents=True, exist_ok=True)
    return Executor(
        Buildah(runner),
        LayerIndex(tmp_path / "cache").load(),
        HostCaches(tmp_path / "cache"),
        BuildContext(str(ctx)),
        Options(ca_bundle=None, jobs=jobs),
        **callbacks,
    )


def test_parallel_stages_give_the_sequential_builds_keys_image_and_records_in_the_files_order(tmp_path):
    sequential = make_executor(tmp_path / "one", ThreadSafeRunner(), 1).run(plan_of(THREE_STAGES))
    lines: list[OutputLine] = []
    parallel_index = tmp_path / "two"
    parallel = make_executor(parallel_index, ThreadSafeRunner(), 2, on_output=lines.append).run(
        plan_of(THREE_STAGES)
    )
    assert [(s.stage, s.instruction, s.status) for s in parallel.steps] == [
        (s.stage, s.instruction, s.status) for s in sequential.steps
    ]
    keys = [set(LayerIndex(root / "cache").load().entries) for root in (tmp_path / "one", parallel_index)]
    assert keys[0] == keys[1]
    assert {(str(line).strip(), line.stage) for line in lines} >= {
        ("echo tools > /t", "tools"),
        ("echo assets > /a", "assets"),
    }


def test_a_failing_stage_fails_the_build_stops_the_other_and_removes_every_container(tmp_path):
    runner = ThreadSafeRunner()
    text = (
        "FROM busybox AS slow\nRUN wait\nFROM busybox AS broken\nRUN fail\n"
        "FROM slow\nRUN --mount=type=bind,from=broken,target=/b true\n"
    )
    with pytest.raises(BuildError, match="RUN fail: exited with status 1") as failed:
        make_executor(tmp_path, runner, 2).run(plan_of(text))
    assert failed.value.line == 4
    made = [call[call.index("--name") + 1] for call in runner.calls if call[1] == "from"]
    removed = {call[-1] for call in runner.calls if call[1] == "rm"}
    assert made and set(made) <= removed
    assert not any(call[1] == "commit" for call in runner.calls)  # the stopped stage committed nothing
