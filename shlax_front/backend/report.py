"""How ``shlax-front build`` shows a build: one line per step on stderr as it finishes, a summary, or the
result as one JSON document for CI (the library itself prints nothing).

stdout carries only the image id (like buildah), so ``id=$(shlax-front build .)`` works; colours only
when stderr is a terminal.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

from shlax_front.backend.result import BuildResult, StepRecord

COLOURS = {"cached": "32", "built": "33", "from": "36", "config": "2"}


@dataclass
class Reporter:
    """The CLI's view of a build: ``step`` and ``output`` are the build's callbacks, ``summary`` and
    ``as_json`` format its result."""

    mode: str = "text"  # text | quiet | json
    explain: bool = False
    stream = None
    verbose: bool = False

    def __post_init__(self):
        self.stream = sys.stderr
        self.colour = self.mode == "text" and self.stream.isatty()

    def _paint(self, status: str, text: str) -> str:
        return f"\033[{COLOURS.get(status, '0')}m{text}\033[0m" if self.colour else text

    def step(self, record: StepRecord) -> None:
        if self.mode != "text":
            return
        text = record.instruction.replace("\n", " ")
        if len(text) > 70:
            text = text[:67] + "..."
        line = f"[{record.stage}] {text:<70} {self._paint(record.status, record.status):>6} {record.seconds:6.2f}s"
        if record.fetched:
            line += f"  fetched {human(record.fetched)}"
        if record.served:
            line += f", {human(record.served)} from host cache"
        if self.explain and record.reason:
            line += f"  ({record.reason})"
        print(line, file=self.stream, flush=True)

    def output(self, text: str) -> None:
        if self.verbose and self.mode == "text" and text:
            self.stream.write(text)

    def summary(self, result: BuildResult) -> None:
        if self.mode == "text":
            print(
                f"{result.cached} steps reused, {result.built} built, {human(result.fetched)} downloaded, "
                f"{human(result.served)} served from the host caches, "
                f"{result.seconds:.1f}s",
                file=self.stream,
            )

    @staticmethod
    def as_json(result: BuildResult) -> str:
        return json.dumps(result.as_dict(), indent=2)


def human(n: int | None) -> str:
    value = float(n or 0)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value} B"
