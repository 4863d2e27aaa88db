"""apt's plan of a full install asked beside an apt delta (``aptplan.FullPlan.begin``), without buildah: the same
answers as when asked after the delta, the order of the calls, and what is removed when the delta fails or the
build is interrupted (the real builds are in tests/buildah/test_build_incremental.py and test_build_faults.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fake_runner import FakeRunner, build_with

from shlax_front.backend.aptplan import BESIDE_OPTIONS, LISTS_READ, NO_DOWNLOAD, PLAN_OPTION, FullPlan
from shlax_front.backend.incremental import AptOrder, IncrementalLayers
from shlax_front.backend.runner import Result

INSTALL = "RUN apt-get update && apt-get install -y --no-install-recommends {} && rm -rf /var/lib/apt/lists/*"
SCRIPT = f"apt-get install -y {PLAN_OPTION} curl less"
#: what apt prints for a plan that configures python3-minimal before its last dpkg run
ANSWER = (
    "/usr/bin/dpkg --status-fd 17 --no-triggers --unpack --auto-deconfigure /var/cache/apt/archives/a.deb\n"
    "/usr/bin/dpkg --status-fd 17 --no-triggers --configure python3-minimal:amd64\n"
    "/usr/bin/dpkg --status-fd 17 --configure --pending\n"
)


def _plan_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "shlax-front-apt-plan"]


@pytest.mark.parametrize(
    ("returncode", "output", "container", "early", "failed"),
    [
        (0, ANSWER, "parent", {"python3-minimal"}, None),
        (100, "E: nope\n", "parent", None, "apt's plan of a full install failed (exit status 100)"),
        (0, "Reading package lists...\n", "parent", None, "apt's plan of a full install shows no dpkg run"),
        (0, ANSWER, None, None, "no container of the parent layer to ask apt's plan of a full install in"),
    ],
)
def test_a_plan_asked_beside_the_delta_answers_as_one_asked_after_it(
    returncode, output, container, early, failed
):
    """Same answer or refusal whether asked after the delta or begun with it: beside the delta apt downloads
    nothing, and an attempt that fails or is not understood (a package file the delta was still downloading)
    is asked again after the delta with the command asked after it."""
    answers = []
    for ahead in (False, True):
        ran: list[tuple[tuple[str, ...], str | None]] = []

        def run(argv, other, ran=ran):
            ran.append((tuple(argv), other))
            return Result(list(argv), returncode, output, "")

        plan = FullPlan(("sh", "-c", SCRIPT), lambda: True, ahead=ahead, downloaded=lambda: True)
        plan.begin(run, lambda: container)
        plan(run, lambda: container)
        answers.append((plan.early, plan.failed, ran))
    assert answers[0][:2] == answers[1][:2] == (early, failed)
    after = ("sh", "-c", SCRIPT.replace(PLAN_OPTION, f"{PLAN_OPTION} {BESIDE_OPTIONS}"))
    beside = ("sh", "-c", SCRIPT.replace(PLAN_OPTION, f"{PLAN_OPTION} {BESIDE_OPTIONS} {NO_DOWNLOAD}"))
    assert answers[0][2] == ([(after, container)] if container else [])
    asked_again = [(after, container)] if early is None and container else []
    assert answers[1][2] == ([(beside, container), *asked_again] if container else [])
    assert not _plan_threads()


def test_beside_the_delta_the_container_is_made_at_once_and_apt_asked_once_the_downloads_are_done():
    """The parent's container is made as the delta starts; apt waits for the delta's downloads (its first dpkg
    run) - or for the delta's end, when that never shows. The delta's output saying its apt read the lists
    starts it only when ``early_start``."""
    events: list[str] = []
    downloads_done = threading.Event()
    asked = threading.Event()

    def container():
        events.append("container")
        return "parent"

    def run(argv, other):
        events.append("apt")
        asked.set()
        return Result(list(argv), 0, ANSWER, "")

    plan = FullPlan(("sh", "-c", SCRIPT), lambda: True, ahead=True, downloaded=downloads_done.is_set)
    plan.begin(run, container)
    plan.saw("Building dependency tree...\n")  # not an early start
    assert not asked.wait(0.3)  # the delta still downloads
    assert events == ["container"]
    downloads_done.set()
    assert asked.wait(5)  # beside the delta, which has not ended
    plan(run, container)
    assert events == ["container", "apt"] and plan.early == {"python3-minimal"}
    # a delta whose dpkg never ran (nothing to unpack): apt is asked once it ended
    events.clear()
    plan = FullPlan(("sh", "-c", SCRIPT), lambda: True, ahead=True, downloaded=lambda: False)
    plan.begin(run, container)
    plan(run, container)
    assert events == ["container", "apt"] and plan.early == {"python3-minimal"}
    # an early start: once the delta's apt read the lists
    events.clear()
    asked.clear()
    plan = FullPlan(("sh", "-c", SCRIPT), lambda: True, ahead=True, early_start=True)
    plan.begin(run, container)
    plan.saw("Reading package lists...\n")
    assert not asked.wait(0.3)
    plan.saw(f"{LISTS_READ}...\n")
    assert asked.wait(5)
    plan(run, container)
    assert events == ["container", "apt"] and plan.early == {"python3-minimal"}
    assert not _plan_threads()


def test_a_plan_not_needed_after_all_is_dropped_and_a_failed_delta_drops_it_unasked():
    events: list[str] = []

    def run(argv, other):
        events.append("apt")
        return Result(list(argv), 0, ANSWER, "")

    plan = FullPlan(("sh", "-c", SCRIPT), lambda: False, ahead=True, downloaded=lambda: True)
    plan.begin(run, lambda: "parent")
    plan(run, lambda: "parent")
    assert (plan.early, plan.failed) == (None, None)
    never = FullPlan(("sh", "-c", SCRIPT), lambda: True, ahead=True, downloaded=lambda: False)
    never.begin(run, lambda: "parent")
    stops: list[bool] = []
    never.settle(stopping=False, stop=lambda: stops.append(True))
    assert events == ["apt"] and stops == [] and (never.early, never.failed) == (None, None)
    assert not _plan_threads()


class BesideRunner(FakeRunner):
    """A fake buildah whose delta run (the install of ``nano`` alone) lets apt's plan run beside it: it waits
    for the plan's container, then starts dpkg (dpkg's log grows) and waits for the plan's apt; it can fail
    before dpkg, or be interrupted (Ctrl-C) while the plan's apt runs, which then ends only when stopped."""

    def __init__(self, delta: str = "ok", early: bool = False):
        super().__init__()
        self.delta, self.early = delta, early
        self.armed = False
        self.plan_container = threading.Event()
        self.plan_asked = threading.Event()
        self.stopped = threading.Event()
        #: what the delta saw while it ran: the plan's container made, the plan's apt running
        self.seen: list[str] = []
        self.delta_ended = False

    def run(self, argv, check=True, on_output=None, cwd=None, input=None):
        argv = [str(a) for a in argv]
        if self.armed and argv[1] == "from" and argv[-1] == "busybox-id":
            self.plan_container.set()
        if self.armed and argv[1] == "run" and PLAN_OPTION in argv[-1]:
            self.calls.append(argv)
            self.seen.append("plan apt started" + (" after the delta" if self.delta_ended else ""))
            self.plan_asked.set()
            if self.delta == "interrupt":
                self.stopped.wait(5)
                return Result(argv, -15, "", "")
            return Result(argv, 0, ANSWER, "")
        if self.armed and argv[1] == "run" and argv[-1].endswith(" nano") and "tini" not in argv[-1]:
            self.calls.append(argv)
            try:
                if self.plan_container.wait(5):
                    self.seen.append("plan container made")
                if self.delta == "fail":
                    return Result(argv, 100, "E: Unable to fetch some archives\n", "")
                if self.early and on_output is not None:  # the delta's apt read the lists, downloads next
                    on_output("Building dependency tree...\n")
                    if self.plan_asked.wait(5):
                        self.seen.append("plan apt running before dpkg")
                log = Path(self.rootfs) / "var/log/dpkg.log"
                log.parent.mkdir(parents=True, exist_ok=True)
                with log.open("a") as f:
                    f.write("2026-12-07 20:00:00 startup archives unpack\n")
                if self.plan_asked.wait(5):
                    self.seen.append("plan apt running")
                if self.delta == "interrupt":
                    raise KeyboardInterrupt
                return Result(argv, 0, "", "")
            finally:
                self.delta_ended = True
        return super().run(argv, check, on_output, cwd, input)

    def terminate_children(self) -> None:
        self.stopped.set()


def _build(tmp_path, runner, packages: str):
    return build_with(runner, tmp_path, f"FROM busybox\n{INSTALL.format(packages)}\n")


@pytest.fixture
def plans(monkeypatch):
    """Every apt delta's plan asked beside it (as when the earlier install configured a package early) and
    needed; the plans made, for the test to read (``early_start`` of the plans made: ``plans.early``)."""
    made = PlansMade()
    before_run = IncrementalLayers.before_run

    def ahead(self, start, rootfs, parent_root=lambda: None):
        refused = before_run(self, start, rootfs, parent_root)
        if isinstance(start.check, AptOrder) and start.check.plan is not None:
            start.check.plan.ahead, start.check.plan.needed = True, lambda: True
            start.check.plan.early_start = made.early
            made.append(start.check.plan)
        return refused

    monkeypatch.setattr(IncrementalLayers, "before_run", ahead)
    return made


class PlansMade(list):
    early = False


def _containers(runner) -> tuple[list[str], list[str]]:
    """The containers made, and those removed (``rm``, or ``commit --rm``)."""
    made = [c[c.index("--name") + 1] for c in runner.calls if c[1] == "from"]
    removed = [c[-1] for c in runner.calls if c[1] == "rm"]
    removed += [name for c in runner.calls if c[1] == "commit" and "--rm" in c for name in made if name in c]
    return made, removed


@pytest.mark.parametrize("early", [False, True])
def test_the_executor_asks_apt_s_plan_beside_the_delta_and_removes_its_container_before_the_commit(
    tmp_path, plans, early
):
    """The plan's apt starts once the delta's dpkg began, or (``early_start``) once the delta printed that its
    apt read the lists."""
    plans.early = early
    runner = BesideRunner(early=early)
    _build(tmp_path, runner, "tini")
    runner.armed, first = True, len(runner.calls)
    second = _build(tmp_path, runner, "tini nano")
    (record,) = [s for s in second.steps if s.status == "built"]
    assert record.reason.endswith("built incrementally: added nano to the layer with tini")
    if early:
        assert runner.seen[:3] == ["plan container made", "plan apt started", "plan apt running before dpkg"]
    else:
        assert runner.seen == ["plan container made", "plan apt started", "plan apt running"]
    (plan,) = plans
    assert plan.early == {"python3-minimal"} and plan.failed is None
    calls = runner.calls[first:]
    (parent,) = [c[c.index("--name") + 1] for c in calls if c[1] == "from" and c[-1] == "busybox-id"]
    removed = next(n for n, c in enumerate(calls) if c[1] == "rm" and c[-1] == parent)
    assert removed < next(n for n, c in enumerate(calls) if c[1] == "commit")
    made, rms = _containers(runner)
    assert set(made) <= set(rms) and not _plan_threads()


def test_a_delta_that_fails_drops_the_plan_unasked_and_its_container(tmp_path, plans):
    runner = BesideRunner("fail")
    _build(tmp_path, runner, "tini")
    runner.armed = True
    second = _build(tmp_path, runner, "tini nano")
    (record,) = [s for s in second.steps if s.status == "built"]
    assert "not incremental: the delta run failed" in record.reason
    assert runner.seen == ["plan container made"]  # apt never asked: the delta's dpkg never ran
    assert not [c for c in runner.calls if c[1] == "run" and PLAN_OPTION in c[-1]]
    assert [c for c in runner.calls if c[1] == "run"][-1][-1].endswith("tini nano")  # then built in full
    made, rms = _containers(runner)
    assert set(made) <= set(rms) and not _plan_threads()


def test_ctrl_c_during_the_delta_stops_the_plan_s_apt_and_removes_both_containers(tmp_path, plans):
    runner = BesideRunner("interrupt")
    _build(tmp_path, runner, "tini")
    runner.armed = True
    with pytest.raises(KeyboardInterrupt):
        _build(tmp_path, runner, "tini nano")
    assert runner.seen == ["plan container made", "plan apt started", "plan apt running"]
    assert runner.stopped.is_set()  # the plan's apt was stopped, not waited for (it would wait 5 s)
    made, rms = _containers(runner)
    assert set(made) <= set(rms) and not _plan_threads()
