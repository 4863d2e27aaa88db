"""apt's plan of a full install: which packages it configures before its last dpkg run.

apt configures pre-dependencies first, each in a dpkg run of its own (``python3`` pre-depends on
``python3-minimal``, which pre-depends on ``python3.11-minimal``...), and the rest in its last run
(``dpkg --configure --pending``). dpkg's ``status-old`` is the status file from the start of that last run, so
which packages show there configured depends on that split, which apt makes for the whole package set. An apt
delta (``incremental``) can only rebuild a full install's copy when it knows that split: asked of apt itself.

``apt-get install -o Debug::pkgDPkgPM=1`` downloads the packages and then prints each dpkg call instead of
making it (dpkg is never run; apt's ``DPkg::Pre-Invoke``/``Post-Invoke`` hooks still are, so it runs as the
step's own script, which parks the base image's ``docker-clean`` hook away from the host's archive cache). Run
in a container of the layer the install starts from, with the step's mounts (the same package lists and
archives), it prints the calls a full install makes there: on bookworm, for ``curl procps python3
python3-venv tini less`` (one call a line)::

    /usr/bin/dpkg --status-fd 17 --no-triggers --unpack --auto-deconfigure /var/cache/apt/archives/libssl3...
    /usr/bin/dpkg --status-fd 17 --no-triggers --configure libssl3:amd64 libpython3.11-minimal:amd64 ...
    /usr/bin/dpkg --status-fd 17 --no-triggers --unpack --auto-deconfigure --recursive /tmp/apt-dpkg-install-...
    /usr/bin/dpkg --status-fd 17 --no-triggers --configure python3-minimal:amd64
    /usr/bin/dpkg --status-fd 17 --no-triggers --unpack --auto-deconfigure --recursive /tmp/apt-dpkg-install-...
    /usr/bin/dpkg --status-fd 17 --configure --pending

(the packages of a ``--recursive`` unpack are in a directory apt removes: only the configure calls name them).

When the earlier install already configured a package new to its layer early, the plan is needed unless the
delta fails, so it is asked beside the delta instead of after it (``FullPlan.begin``): its container of the
parent layer is made at once, and apt is asked once the delta's script is done with the host's package lists:
its install printed ``Building dependency tree`` (an update before it has ended; only when the lists need no
update of the plan's own: ``early_start``), or its first dpkg run began (dpkg's log in its container grew:
every download done too), or the delta ended. The plan's apt then locks nothing (``Debug::NoLocking``: the
delta's apt holds the archives' lock until it ends), writes no package cache (``Dir::Cache::pkgcache``
empty) and, beside the delta, downloads nothing (``APT::Get::Download=false``): it writes nothing the delta
reads. Without a package's file in the host's archives (the delta may still be downloading it) that apt fails
("Unable to fetch some archives"); an attempt beside the delta that fails or is not understood is asked
again after the delta as before, downloads allowed, and only that answer counts - the plan's dpkg calls do
not depend on which files are there (the same calls with and without them). A delta that fails drops it.
"""

from __future__ import annotations

import posixpath
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from shlax_front.backend.wheelhouse import Ran

    #: runs argv in a container with the step's environment and mounts -> what ran
    RunIn = Callable[[Sequence[str], str | None], Ran]

#: what makes apt print its dpkg calls instead of making them (an apt-get/apt option, before the packages)
PLAN_OPTION = "-o Debug::pkgDPkgPM=1"
#: what the plan's apt is run with besides, after ``PLAN_OPTION``: it takes no lock and writes no package cache
#: (it may run beside the delta: module docstring)
BESIDE_OPTIONS = "-o Debug::NoLocking=1 -o Dir::Cache::pkgcache="
#: and, asked beside the delta, downloads nothing (asked again after the delta when it lacked a file)
NO_DOWNLOAD = "-o APT::Get::Download=false"
#: what apt's install prints once it has read the package lists (an update before it in the script has ended)
LISTS_READ = "Building dependency tree"
#: how often the plan's thread looks whether the delta's downloads are done (seconds)
POLL = 0.05
#: the dpkg actions a plan of an install is understood with (anything else: not understood, no delta kept)
_UNDERSTOOD = frozenset({"--unpack", "--configure"})


def beside_command(argv: tuple[str, ...], download: bool = True) -> tuple[str, ...] | None:
    """``argv`` (a plan's script, ``PLAN_OPTION`` in it once) with ``BESIDE_OPTIONS`` (and ``NO_DOWNLOAD``
    unless ``download``) after that option; None when the option is not there exactly once."""
    if not argv or argv[-1].count(PLAN_OPTION) != 1:
        return None
    options = BESIDE_OPTIONS if download else f"{BESIDE_OPTIONS} {NO_DOWNLOAD}"
    return (*argv[:-1], argv[-1].replace(PLAN_OPTION, f"{PLAN_OPTION} {options}"))


def configured_early(output: str) -> frozenset[str] | str:
    """The names of the packages apt's plan (``output`` of an install with ``PLAN_OPTION``) configures in a dpkg
    call before its last one, or why the output is not understood (a string): no dpkg call, an action other
    than unpack and configure (a removal, a trigger run), or a last call that is not a configure."""
    calls = [line.split() for line in output.splitlines()]
    calls = [w for w in calls if w and posixpath.basename(w[0]) == "dpkg" and "--status-fd" in w]
    if not calls:
        return "apt's plan of a full install shows no dpkg run"
    early: set[str] = set()
    for n, words in enumerate(calls):
        action = next((w for w in words if w in DPKG_ACTIONS), None)
        if action not in _UNDERSTOOD:
            return f"apt's plan of a full install runs dpkg {action or 'without an action'}, not understood"
        last = n == len(calls) - 1
        if last and action != "--configure":
            return "apt's plan of a full install does not end with a dpkg configure run"
        if action == "--configure" and not last:
            names = [w for w in words[words.index(action) + 1 :] if not w.startswith("-")]
            early.update(name.split(":", 1)[0] for name in names)
    return frozenset(early)


#: dpkg's actions (``dpkg --help``) that apt may ask for
DPKG_ACTIONS = frozenset(
    {"--install", "--unpack", "--configure", "--triggers-only", "--remove", "--purge", "--set-selections"}
)


@dataclass
class FullPlan:
    """Asks apt which packages a full install of the step's whole package set configures before its last dpkg
    run (``early``), when the earlier install or the delta configured a package new to its layer early
    (``needed``, known once the delta ran; otherwise no answer is taken). ``argv``: the step's shell and script
    with every package and ``PLAN_OPTION``, run as the step runs in a container of the parent layer.
    ``failed``: why there is no answer (the delta is then not kept when it needed one).

    It runs with ``BESIDE_OPTIONS`` too (``beside_command``), after the delta as well.
    ``ahead``: the earlier install's half already says it is needed, so ``begin`` starts it beside the delta;
    ``downloaded`` says when the delta's first dpkg run began, ``saw`` reads the delta's output for
    ``LISTS_READ`` when ``early_start`` (module docstring). Otherwise it is asked after the delta, when needed
    (``__call__``)."""

    argv: tuple[str, ...]
    needed: Callable[[], bool]
    early: frozenset[str] | None = None
    failed: str | None = None
    ahead: bool = False
    downloaded: Callable[[], bool] = lambda: False
    early_start: bool = False
    _beside: Beside | None = field(default=None, init=False, repr=False)
    _lists_read: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    def begin(self, run: RunIn, container: Callable[[], str | None]) -> None:
        """Start asking beside the delta (only when ``ahead``), in a thread: ``__call__`` takes the answer after
        the delta, ``settle`` drops it when the delta failed or the build stops."""
        command = beside_command(self.argv, download=False)
        if self.ahead and self._beside is None and command is not None:
            self._beside = Beside(command, run, container, self._may_ask)

    def saw(self, line: str) -> None:
        """A line the delta printed: ``LISTS_READ`` lets the plan's apt start (when ``early_start``)."""
        if self.early_start and LISTS_READ in line:
            self._lists_read.set()

    def _may_ask(self) -> bool:
        return self._lists_read.is_set() or self.downloaded()

    def __call__(self, run: RunIn, container: Callable[[], str | None]) -> None:
        if self._beside is not None:
            answer = self._beside.answer()  # the delta ended: asked now if its downloads never showed done
            self._beside = None  # (kept while waiting: a Ctrl-C there leaves it to ``settle``)
            if self.needed():
                if answer is not None and not self._understood(answer):  # (a file the delta was downloading)
                    answer = run(beside_command(self.argv) or self.argv, container())  # as after the delta
                self._take(answer)
            return
        if not self.needed():
            return
        parent = container()
        self._take(run(beside_command(self.argv) or self.argv, parent) if parent is not None else None)

    def settle(self, stopping: bool, stop: Callable[[], None]) -> None:
        """The delta failed (``stopping`` False: the build goes on) or the build stops (an interrupt, an error,
        another stage failed: ``stop`` then ends the plan's command with the build's others) before the answer
        was taken: the thread asks nothing more and has ended when this returns; its answer is dropped. The
        container it made is the caller's to remove, as after ``__call__``."""
        beside, self._beside = self._beside, None
        if beside is not None:
            beside.drop(stop if stopping else None)

    @staticmethod
    def _understood(ran: Ran) -> bool:
        return ran.returncode == 0 and not isinstance(configured_early(ran.output), str)

    def _take(self, ran: Ran | None) -> None:
        if ran is None:
            self.failed = "no container of the parent layer to ask apt's plan of a full install in"
        elif ran.returncode != 0:
            self.failed = f"apt's plan of a full install failed (exit status {ran.returncode})"
        else:
            early = configured_early(ran.output)
            if isinstance(early, str):
                self.failed = early
            else:
                self.early = early


class Beside:
    """apt's plan asked in a thread while the delta runs: the container first, apt once ``may_ask()`` or
    once released (the delta ended). What the thread raised is raised by ``answer``, as a plan asked after
    the delta would have raised it."""

    def __init__(
        self,
        argv: tuple[str, ...],
        run: RunIn,
        container: Callable[[], str | None],
        may_ask: Callable[[], bool],
    ):
        self._released = threading.Event()
        self._dropped = threading.Event()
        self._ran: Ran | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._ask,
            args=(argv, run, container, may_ask),
            name="shlax-front-apt-plan",
            daemon=True,
        )
        self._thread.start()

    def _ask(
        self,
        argv: tuple[str, ...],
        run: RunIn,
        container: Callable[[], str | None],
        may_ask: Callable[[], bool],
    ) -> None:
        try:
            if self._dropped.is_set():
                return
            parent = container()
            if parent is None:
                return
            while not self._released.is_set() and not may_ask():
                self._released.wait(POLL)
            if not self._dropped.is_set():
                self._ran = run(argv, parent)
        except BaseException as error:  # noqa: BLE001 - handed to the thread that takes the answer
            self._error = error

    def answer(self) -> Ran | None:
        """What apt answered (None: no container of the parent layer), once the thread ended."""
        self._released.set()
        while self._thread.is_alive():
            self._thread.join(POLL)  # a timed join: Ctrl-C meanwhile is raised here, not after
        if self._error is not None:
            raise self._error
        return self._ran

    def drop(self, stop: Callable[[], None] | None) -> None:
        """Ask nothing more and wait for the thread; ``stop``: end its command now (the build stops), again
        while it lives (it may have been between a check and a call)."""
        self._dropped.set()
        self._released.set()
        while self._thread.is_alive():
            if stop is not None:
                stop()
            self._thread.join(POLL)
