"""``--progress=rawjson``: one JSON object per line on stderr, for tools that follow a build. Every event has
``event`` and ``time`` (seconds since the build started)::

    {"event": "start", "time": 0.41, "step": 2, "stage": "0", "instruction": "RUN make", "location": ...}
    {"event": "output", "time": 0.52, "step": 2, "seconds": 0.112, "line": "cc -o app app.c"}
    {"event": "end", "time": 1.93, "step": 2, "status": "built", "seconds": 1.52, ...}
    {"event": "error", "time": 1.93, "message": "...", "log": "/path/to/the/step.log", ...}
    {"event": "summary", "time": 2.10, "image": "...", "built": 1, "cached": 3, ...}

What the command line logs meanwhile (a warning, a wait for a lock) comes as ``{"event": "log", ...}``, and
a failure's one-line message is the error event's ``message``: nothing else is written on stderr.
"""

from __future__ import annotations

import json
from typing import Any

from shlax_front.backend.result import BuildResult, StepRecord
from shlax_front.progress.base import Failure, Renderer, Running


class RawJsonRenderer(Renderer):
    tells_the_error = True

    def emit(self, event: str, **fields: Any) -> None:
        data = {"event": event, "time": round(self.clock() - self.began, 3), **fields}
        self.stream.write(json.dumps(data) + "\n")
        self.stream.flush()

    def open(self) -> None:
        self.redirect_library_messages(lambda line: self.emit("log", message=line))

    def close(self) -> None:
        self.restore_library_messages()

    def on_start(self, step: Running) -> None:
        self.emit(
            "start",
            step=step.number,
            stage=step.stage,
            instruction=step.instruction,
            location=str(step.location),
        )

    def on_line(self, step: Running, line: str, elapsed: float) -> None:
        self.emit("output", step=step.number, seconds=round(elapsed, 3), line=line)

    def on_end(self, number: int, record: StepRecord, ran: bool) -> None:
        self.emit("end", step=number, **record.as_dict())

    def summary(self, result: BuildResult) -> None:
        data = result.as_dict()
        del data["steps"]  # each was an end event already
        self.emit("summary", **data, fetched_bytes=result.fetched, from_host_cache_bytes=result.served)

    def failed(self, failure: Failure) -> None:
        self.emit("error", **failure.as_dict())
