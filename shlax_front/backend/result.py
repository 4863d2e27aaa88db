"""What a build returns: the image id and one record per step, for callers to read or print.

The library prints nothing; the CLI formats these records (``report``). The executor hands each record to an
optional ``on_step`` callback as soon as the step finishes, so a caller can show progress while the build
runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shlax_front.backend.steps import Location

#: what happened to a step: its base image was resolved (``from``), a layer was reused (``cached``) or
#: committed (``built``), or an image-config change was folded into the next commit (``config``)
STATUSES = ("from", "cached", "built", "config")


@dataclass(frozen=True)
class StepRecord:
    """One instruction of the build, as it ran."""

    #: the stage's name (``AS name``) or its index
    stage: str
    #: the normalised instruction (what the cache key hashes)
    instruction: str
    location: Location
    #: one of ``STATUSES``
    status: str
    seconds: float
    #: why the step was not reused (``built`` only): the input that changed, ``--no-cache``, ...
    reason: str | None = None
    #: bytes downloaded, when the package managers or the host caches tell
    fetched: int | None = None
    #: bytes taken from the host caches instead of the network, when known
    served: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON data (the ``--json`` report's spelling)."""
        return {
            "stage": self.stage,
            "location": str(self.location),
            "instruction": self.instruction,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "reason": self.reason,
            "fetched_bytes": self.fetched,
            "from_host_cache_bytes": self.served,
        }


@dataclass(frozen=True)
class StepStart:
    """A step about to run (it was not reused): handed to ``on_start`` before the step's output, so a
    caller can show which step the lines belong to and how long it has been running."""

    stage: str
    instruction: str
    location: Location


@dataclass(frozen=True)
class BuildResult:
    """The image built (its id; tags were applied) and what each step did, in order."""

    image: str
    steps: tuple[StepRecord, ...]
    #: wall time of the whole build
    seconds: float

    @property
    def built(self) -> int:
        return sum(1 for s in self.steps if s.status == "built")

    @property
    def cached(self) -> int:
        return sum(1 for s in self.steps if s.status == "cached")

    @property
    def fetched(self) -> int:
        """Bytes downloaded by all steps (those that told)."""
        return sum(s.fetched or 0 for s in self.steps)

    @property
    def served(self) -> int:
        """Bytes all steps took from the host caches (those that told)."""
        return sum(s.served or 0 for s in self.steps)

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON data (what ``shlax-front build --json`` prints)."""
        return {
            "image": self.image,
            "seconds": round(self.seconds, 3),
            "steps": [s.as_dict() for s in self.steps],
            "built": self.built,
            "cached": self.cached,
        }


class OutputLine(str):
    """What a step printed (a ``str``), with the label of the stage it belongs to: stages that do not use
    each other build at the same time, so the lines of several steps arrive interleaved."""

    stage: str | None = None

    @classmethod
    def of(cls, text: str, stage: str | None) -> OutputLine:
        line = cls(text)
        line.stage = stage
        return line


#: called with each step's record when it finishes
StepCallback = Callable[[StepRecord], None]
#: called with what a step's commands print: a RUN's output one line at a time as it is printed (stdout and
#: stderr merged), the wheelhouse's pip runs a whole output at a time; an ``OutputLine`` says whose
OutputCallback = Callable[[str], None]
#: called when a step starts running (cached steps do not run: they only finish)
StartCallback = Callable[[StepStart], None]
