"""The renderers while two stages build at once: each line goes to its own stage's step, plain says again whose
lines follow when the step changes, tty shows one running row per stage, the failure names the failing step."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from shlax_front.backend.result import OutputLine, StepRecord, StepStart
from shlax_front.backend.steps import Location
from shlax_front.errors import BuildError
from shlax_front.progress.plain import PlainRenderer
from shlax_front.progress.rawjson import RawJsonRenderer
from shlax_front.progress.session import describe_failure
from shlax_front.progress.tty import TtyRenderer

TOOLS = StepStart("tools", "RUN make tools", Location("Containerfile", 2))
ASSETS = StepStart("assets", "RUN make assets", Location("Containerfile", 4))


def interleave(renderer) -> None:
    """Both stages' RUN start, their lines alternate, the tools step ends first."""
    renderer.start(TOOLS)
    renderer.start(ASSETS)
    renderer.output(OutputLine.of("cc tools.c\n", "tools"))
    renderer.output(OutputLine.of("sass app.scss\n", "assets"))
    renderer.output(OutputLine.of("ld tools\n", "tools"))
    renderer.end(StepRecord("tools", TOOLS.instruction, TOOLS.location, "built", 1.0))


def test_each_line_goes_to_its_stages_step():
    renderer = PlainRenderer(io.StringIO())
    interleave(renderer)
    assert [r.stage for r in renderer.runnings.values()] == ["assets"]
    assert renderer.runnings["assets"].lines == ["sass app.scss"]
    assert renderer.finished[0].stage == "tools"


def test_plain_says_again_whose_lines_follow_when_another_step_printed_in_between():
    out = io.StringIO()
    interleave(PlainRenderer(out))
    lines = [line.split(" ", 2) for line in out.getvalue().splitlines()]
    assert out.getvalue().splitlines() == [
        "#1 [tools] RUN make tools",
        "#2 [assets] RUN make assets",
        "#1 [tools] RUN make tools",
        f"#1 {lines[3][1]} cc tools.c",
        "#2 [assets] RUN make assets",
        f"#2 {lines[5][1]} sass app.scss",
        "#1 [tools] RUN make tools",
        f"#1 {lines[7][1]} ld tools",
        "#1 built 1.00s",
    ]


def test_rawjson_events_name_the_step_of_each_line():
    out = io.StringIO()
    interleave(RawJsonRenderer(out))
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["event"], e["step"], e.get("line")) for e in events] == [
        ("start", 1, None),
        ("start", 2, None),
        ("output", 1, "cc tools.c"),
        ("output", 2, "sass app.scss"),
        ("output", 1, "ld tools"),
        ("end", 1, None),
    ]


def test_tty_shows_one_running_row_per_stage():
    out = io.StringIO()
    renderer = TtyRenderer(out, console=Console(file=out, width=80, force_terminal=True, no_color=True))
    renderer.start(TOOLS)
    renderer.start(ASSETS)
    renderer.output(OutputLine.of("cc tools.c\n", "tools"))
    renderer.output(OutputLine.of("sass app.scss\n", "assets"))
    view = Console(file=io.StringIO(), width=80, no_color=True)
    with view.capture() as capture:
        view.print(renderer._view())
    rows = [line.strip() for line in capture.get().splitlines()]
    assert rows[0].startswith("#1 [tools] RUN make tools") and "running" in rows[0]
    assert rows[1] == "cc tools.c"
    assert rows[2].startswith("#2 [assets] RUN make assets") and "running" in rows[2]
    assert rows[3] == "sass app.scss"


def test_the_failure_shows_the_step_that_failed_not_the_last_started(tmp_path: Path):
    renderer = PlainRenderer(io.StringIO())
    interleave(renderer)
    renderer.start(StepStart("tools", "RUN strip tools", Location("Containerfile", 3)))
    renderer.output(OutputLine.of("strip: no such file\n", "tools"))
    failure = describe_failure(BuildError("exited with status 1", "Containerfile", 4), renderer, tmp_path)
    assert failure.step is not None and failure.step.stage == "assets"
    assert failure.tail == ["sass app.scss"]
