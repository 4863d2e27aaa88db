"""``--progress=tty``: a live view for a person at a terminal, drawn by ``rich``.

The running step shows with its elapsed time, the bytes it has downloaded so far and its last lines (when
stages build at the same time, one such block per running stage, each with fewer lines); each finished step collapses to one line printed above the live area (so it stays in the scrollback). Every line
is a grid with the same fixed column widths, laid out by rich (which measures what is shown, not the colour
codes around it), so the columns line up whatever the colours. No colour with ``NO_COLOR`` or ``--no-color``.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from shlax_front.backend.result import BuildResult, StepRecord
from shlax_front.progress.base import Failure, Renderer, Running, header, summary_line, traffic
from shlax_front.progress.units import human

#: how many of the running step's last lines the live view shows
LAST_LINES = 6
STYLES = {
    "cached": "green",
    "built": "yellow",
    "from": "cyan",
    "config": "dim",
    "running": "bold blue",
    "failed": "bold red",
    "line": "dim",
}
#: terminal control sequences and other control characters a command may print: never passed to the terminal
CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[^\[]|[\x00-\x08\x0b-\x1f\x7f]")


class TtyRenderer(Renderer):
    def __init__(self, *args: Any, console: Console | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.console = console or Console(
            file=self.stream,
            force_terminal=True,
            no_color=not self.colour,
            highlight=False,
            emoji=False,
            markup=False,
        )
        self.live: Live | None = None

    def _style(self, name: str) -> str:
        return STYLES.get(name, "") if self.colour else ""

    # -- the live area -------------------------------------------------------------------------------------
    def open(self) -> None:
        self.live = Live(
            console=self.console,
            get_renderable=self._view,
            refresh_per_second=4,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.live.start()
        self.redirect_library_messages(lambda line: self._print(Text(line)))

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
        self.restore_library_messages()

    def _view(self) -> RenderableType:
        runnings = list(self.runnings.values())  # drawn by rich's thread while the build goes on
        if not runnings:
            return Text("")
        shown = max(2, LAST_LINES // len(runnings))
        parts: list[RenderableType] = []
        for running in runnings:
            elapsed = self.clock() - running.started
            fetched = human(running.fetched) if running.fetched else ""
            parts.append(self._row(running.number, running.header, "running", f"{elapsed:.1f}s", fetched))
            parts += [self._indented(line) for line in running.lines[-shown:]]
        return Group(*parts)

    def _indented(self, line: str, style: str = "line") -> Text:
        return Text("     " + clean(line), style=self._style(style), no_wrap=True, overflow="ellipsis")

    def _row(self, number: int, text: str, status: str, seconds: str, fetched: str) -> Table:
        """One step on one line: fixed widths around the instruction, which takes the rest and is cut."""
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(width=4, justify="right", no_wrap=True)
        grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        grid.add_column(width=7, no_wrap=True)
        grid.add_column(width=7, justify="right", no_wrap=True)
        grid.add_column(width=8, justify="right", no_wrap=True)
        grid.add_row(
            f"#{number}",
            Text(clean(text), no_wrap=True, overflow="ellipsis"),
            Text(status, style=self._style(status)),
            seconds,
            fetched,
        )
        return grid

    def _print(self, renderable: RenderableType) -> None:
        (self.live.console if self.live is not None else self.console).print(renderable)

    # -- hooks -----------------------------------------------------------------------------------------------
    def on_line(self, step: Running, line: str, elapsed: float) -> None:
        if self.verbose:  # --verbose: every line stays in the scrollback too
            self._print(Text(f"#{step.number} {clean(line)}", style=self._style("line")))

    def on_end(self, number: int, record: StepRecord, ran: bool) -> None:
        fetched = human(record.fetched) if record.fetched else ""
        text = header(record.stage, record.instruction)
        self._print(self._row(number, text, record.status, f"{record.seconds:.1f}s", fetched))
        notes = [traffic(record) if record.served else "", (record.reason or "") if self.explain else ""]
        notes = [note for note in notes if note]
        if notes:
            self._print(self._indented("; ".join(notes)))

    def summary(self, result: BuildResult) -> None:
        self._print(Text(summary_line(result)))

    def failed(self, failure: Failure) -> None:
        if failure.step is not None:
            step = failure.step
            elapsed = self.clock() - step.started
            self._print(self._row(step.number, step.header, "failed", f"{elapsed:.1f}s", ""))
        for line in failure.tail:
            self._print(Text("     " + clean(line), overflow="fold"))
        if failure.log:
            self._print(Text(f"shlax-front: the failing step's whole output: {failure.log}"))


def clean(line: str) -> str:
    """``line`` as a terminal would end up showing it: what follows its last carriage return (a progress bar's
    last state), without the control sequences the command printed (a colour, a cursor move)."""
    return CONTROL.sub("", line.rsplit("\r", 1)[-1].expandtabs(8))
