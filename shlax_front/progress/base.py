"""What every renderer shares: numbering the steps as buildx does (``#1``, ``#2``, ...), following the running
steps (their start, their lines, the bytes they fetched so far) and the words of a finished step and of the
summary. Stages that do not use each other build at the same time: one step may run per stage, and a line a
step printed says its stage (``result.OutputLine``), so each line goes to the right step.

A renderer gets the library's three callbacks (``start``, ``output``, ``end``) and, from the session,
``open``/``close`` around the build, then ``summary`` or ``failed``. Subclasses override the ``on_*`` hooks.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from shlax_front.backend.result import BuildResult, StepRecord, StepStart
from shlax_front.backend.run_output import size_in_bytes
from shlax_front.backend.steps import Location
from shlax_front.progress.units import human

#: apt's ``Get:3 http://... bookworm/main amd64 curl amd64 7.88 [315 kB]`` and pip's
#: ``Downloading six-1.16.0-py2.py3-none-any.whl (11 kB)``: what a step has downloaded while it runs
DOWNLOAD_SIZE = re.compile(r"^(?:Get:\d+ .*\[|\s*Downloading \S+ \()([\d.,]+) ([kMG]?B)[\])]")


@dataclass
class Running:
    """The step that runs now: its number, where it is, when it started, what it printed so far."""

    number: int
    stage: str
    instruction: str
    location: Location
    started: float
    lines: list[str] = field(default_factory=list)
    #: bytes the package managers said they were downloading so far
    fetched: int = 0

    @property
    def header(self) -> str:
        return header(self.stage, self.instruction)


@dataclass
class Failure:
    """What the session knows when a build fails: the error, the step that was running (if any), the
    log file holding its whole output and the last lines shown on screen."""

    message: str
    exit_code: int
    location: str | None
    step: Running | None
    log: str | None
    tail: list[str]

    def as_dict(self) -> dict[str, object]:
        step = self.step
        return {
            "message": self.message,
            "exit_code": self.exit_code,
            "location": self.location,
            "step": None
            if step is None
            else {
                "number": step.number,
                "stage": step.stage,
                "instruction": step.instruction,
                "location": str(step.location),
            },
            "log": self.log,
            "output_tail": "\n".join(self.tail),
        }


class Renderer:
    """Follows a build's steps; prints nothing itself (the subclasses do, on ``stream``)."""

    #: the renderer writes the failure's message itself (the command line then adds no line of its own)
    tells_the_error = False

    def __init__(
        self,
        stream: TextIO,
        *,
        explain: bool = False,
        verbose: bool = False,
        colour: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.stream = stream
        self.explain = explain
        self.verbose = verbose
        self.colour = colour
        self.clock = clock
        self.began = clock()
        self.count = 0
        #: the steps running now, by stage label, in the order they started
        self.runnings: dict[str, Running] = {}
        self.finished: list[StepRecord] = []
        self._handlers: list[tuple[logging.StreamHandler[Any], Any]] = []

    @property
    def running(self) -> Running | None:
        """The step that started last among those still running (the only one in a sequential build)."""
        runnings = list(self.runnings.values())
        return runnings[-1] if runnings else None

    def running_at(self, path: str | None, line: int | None) -> Running | None:
        """The running step at ``path:line`` (the one that failed), else the one that started last."""
        for running in list(self.runnings.values()):
            if running.location.path == path and running.location.line == line:
                return running
        return self.running

    # -- the library's callbacks ----------------------------------------------------------------------------
    def start(self, step: StepStart) -> None:
        self.count += 1
        running = Running(self.count, step.stage, step.instruction, step.location, self.clock())
        self.runnings.pop(step.stage, None)
        self.runnings[step.stage] = running
        self.on_start(running)

    def output(self, text: str) -> None:
        """One line (or, from the wheelhouse, a whole output) a step printed; an ``OutputLine`` names its stage."""
        if not text:
            return
        stage = getattr(text, "stage", None)
        running = self.runnings.get(stage) if stage is not None else self.running
        if running is None:  # output outside any step: shown under a step of its own
            self.start(StepStart("-", "(output)", Location("-", 0)))
            running = self.runnings["-"]
        for line in text.removesuffix("\n").split("\n"):  # a progress bar's "\r" stays in its line
            line = line.removesuffix("\r")
            running.lines.append(line)
            size = DOWNLOAD_SIZE.match(line)
            if size:
                running.fetched += size_in_bytes(*size.groups())
            self.on_line(running, line, self.clock() - running.started)

    def end(self, record: StepRecord) -> None:
        running = self.runnings.get(record.stage)
        ran = (
            running is not None
            and running.instruction == record.instruction
            and running.location == record.location
        )
        if running is not None and ran:
            number = running.number
            del self.runnings[record.stage]
        else:
            self.count += 1
            number = self.count
        self.runnings.pop("-", None)  # output outside any step ends with the next step's end
        self.finished.append(record)
        self.on_end(number, record, ran)

    # -- the session's calls ---------------------------------------------------------------------------------
    def open(self) -> None:
        """The build starts."""

    def close(self) -> None:
        """The build ended (or failed, or was interrupted): stop whatever is live."""

    def summary(self, result: BuildResult) -> None:
        """The build succeeded."""

    def failed(self, failure: Failure) -> None:
        """The build failed: ``failure`` says where the whole output went."""

    def redirect_library_messages(self, write_line: Callable[[str], None]) -> None:
        """Send the command line's log lines (warnings, what a build waits for) to ``write_line`` instead of
        straight to stderr, where they would be drawn over (tty) or break the JSON lines (rawjson)."""
        for handler in logging.getLogger("shlax_front").handlers:
            if getattr(handler, "shlax_front_cli", False) and isinstance(handler, logging.StreamHandler):
                self._handlers.append((handler, handler.setStream(_Lines(write_line))))

    def restore_library_messages(self) -> None:
        for handler, stream in self._handlers:
            handler.setStream(stream)
        self._handlers = []

    # -- hooks ---------------------------------------------------------------------------------------------
    def on_start(self, step: Running) -> None:
        pass

    def on_line(self, step: Running, line: str, elapsed: float) -> None:
        pass

    def on_end(self, number: int, record: StepRecord, ran: bool) -> None:
        pass


class _Lines:
    """A file-like object handing each line written to it to a function."""

    def __init__(self, write_line: Callable[[str], None]):
        self.write_line = write_line

    def write(self, text: str) -> int:
        for line in text.splitlines():
            self.write_line(line)
        return len(text)

    def flush(self) -> None:
        pass


def header(stage: str, instruction: str) -> str:
    """``[stage] INSTRUCTION`` on one line (a heredoc's lines joined)."""
    return f"[{stage}] {' '.join(instruction.split())}"


def traffic(record: StepRecord) -> str:
    """``fetched 2.5 MB, 1.0 kB from host cache`` or empty."""
    words = []
    if record.fetched:
        words.append(f"fetched {human(record.fetched)}")
    if record.served:
        words.append(f"{human(record.served)} from host cache")
    return ", ".join(words)


def summary_line(result: BuildResult) -> str:
    return (
        f"{result.cached} steps reused, {result.built} built, {human(result.fetched)} downloaded, "
        f"{human(result.served)} served from the host caches, {result.seconds:.1f}s"
    )
