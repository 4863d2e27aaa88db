"""``--progress=plain``: for CI logs and pipes. Every line a step prints, as it arrives, prefixed with the
step's number and the seconds since the step started; a step's header when it starts and its end line
(cached/built, time, bytes fetched) when it ends, as ``docker buildx --progress=plain`` writes them::

    #2 [0] RUN make
    #2 0.112 cc -o app app.c
    #2 built 1.52s fetched 2.5 MB

The number names one step for the whole build. Stages that do not use each other build at the same time, so
their steps' lines interleave: when a line follows another step's, the step's header comes again first, so a
run of lines always sits under the header of the stage and instruction it belongs to.
"""

from __future__ import annotations

from collections.abc import Callable

from shlax_front.backend.result import BuildResult, StepRecord
from shlax_front.progress.base import Failure, Renderer, Running, header, summary_line, traffic


class PlainRenderer(Renderer):
    #: the step whose line was printed last
    _last: int | None = None

    def _print(self, text: str, number: int | None = None) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
        self._last = number

    def on_start(self, step: Running) -> None:
        self._print(f"#{step.number} {step.header}", step.number)

    def on_line(self, step: Running, line: str, elapsed: float) -> None:
        if self._last != step.number:  # another step's lines came in between: say again whose these are
            self._print(f"#{step.number} {step.header}", step.number)
        self._print(f"#{step.number} {elapsed:.3f} {line}", step.number)

    def on_end(self, number: int, record: StepRecord, ran: bool) -> None:
        if not ran or self._last != number:
            self._print(f"#{number} {header(record.stage, record.instruction)}", number)
        self._print(f"#{number} {end_words(record, self.explain)}", number)

    def summary(self, result: BuildResult) -> None:
        self._print(summary_line(result))

    def failed(self, failure: Failure) -> None:
        show_failure(self._print, failure)


def end_words(record: StepRecord, explain: bool) -> str:
    """``built 1.52s fetched 2.5 MB (the instruction changed)``."""
    words = f"{record.status} {record.seconds:.2f}s"
    if traffic(record):
        words += f" {traffic(record)}"
    if explain and record.reason:
        words += f" ({record.reason})"
    return words


def show_failure(print_line: Callable[[str], None], failure: Failure) -> None:
    """The failing step's last lines between rules, then where its whole output is (plain and quiet)."""
    if failure.tail:
        print_line("------")
        if failure.step is not None:
            print_line(f" > #{failure.step.number} {failure.step.header}:")
        for line in failure.tail:
            print_line(line)
        print_line("------")
    if failure.log:
        print_line(f"shlax-front: the failing step's whole output: {failure.log}")
