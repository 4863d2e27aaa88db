"""Progress output: one line per step on stderr, a summary, or one JSON document for CI.

stdout carries only the image id (like buildah), so ``id=$(shlax-front build .)`` works; colours only
when stderr is a terminal.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

from shlax_front.backend.steps import Step

COLOURS = {"cached": "32", "built": "33", "from": "36", "config": "2"}


@dataclass
class StepReport:
    stage: str
    step: Step
    status: str  # from | cached | built | config
    seconds: float
    reason: str | None = None
    fetched: int | None = None
    served: int | None = None

    def as_dict(self) -> dict:
        return {
            "stage": self.stage,
            "location": str(self.step.location),
            "instruction": self.step.text,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "reason": self.reason,
            "fetched_bytes": self.fetched,
            "from_host_cache_bytes": self.served,
        }


@dataclass
class Reporter:
    mode: str = "text"  # text | quiet | json
    explain: bool = False
    stream = None
    steps: list[StepReport] = field(default_factory=list)
    image: str | None = None
    seconds: float = 0.0
    verbose: bool = False

    def __post_init__(self):
        self.stream = sys.stderr
        self.colour = self.mode == "text" and self.stream.isatty()

    def _paint(self, status: str, text: str) -> str:
        return f"\033[{COLOURS.get(status, '0')}m{text}\033[0m" if self.colour else text

    def step(self, report: StepReport) -> None:
        self.steps.append(report)
        if self.mode != "text":
            return
        text = report.step.text.replace("\n", " ")
        if len(text) > 70:
            text = text[:67] + "..."
        line = f"[{report.stage}] {text:<70} {self._paint(report.status, report.status):>6} {report.seconds:6.2f}s"
        if report.fetched:
            line += f"  fetched {human(report.fetched)}"
        if report.served:
            line += f", {human(report.served)} from host cache"
        if self.explain and report.reason:
            line += f"  ({report.reason})"
        print(line, file=self.stream, flush=True)

    def output(self, text: str) -> None:
        if self.verbose and self.mode == "text" and text:
            self.stream.write(text)

    def summary(self, image: str, seconds: float) -> None:
        self.image, self.seconds = image, seconds
        if self.mode == "json":
            return
        if self.mode == "text":
            built = sum(1 for s in self.steps if s.status == "built")
            cached = sum(1 for s in self.steps if s.status == "cached")
            fetched = sum(s.fetched or 0 for s in self.steps)
            served = sum(s.served or 0 for s in self.steps)
            print(
                f"{cached} steps reused, {built} built, {human(fetched)} downloaded, "
                f"{human(served)} served from the host caches, "
                f"{seconds:.1f}s",
                file=self.stream,
            )

    def as_json(self) -> str:
        return json.dumps(
            {
                "image": self.image,
                "seconds": round(self.seconds, 3),
                "steps": [s.as_dict() for s in self.steps],
                "built": sum(1 for s in self.steps if s.status == "built"),
                "cached": sum(1 for s in self.steps if s.status == "cached"),
            },
            indent=2,
        )


def human(n: int | None) -> str:
    value = float(n or 0)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value} B"
