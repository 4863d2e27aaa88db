"""The ``--progress`` renderers fed fake events (no buildah): what each mode writes, the tty view's aligned
columns, the failure's log file and ``--json`` error object, and how the flags choose a mode."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from shlax_front.backend.result import BuildResult, StepRecord, StepStart
from shlax_front.backend.steps import Location
from shlax_front.errors import BuildError, ParseError
from shlax_front.progress.base import Renderer
from shlax_front.progress.plain import PlainRenderer
from shlax_front.progress.quiet import QuietRenderer
from shlax_front.progress.rawjson import RawJsonRenderer
from shlax_front.progress.session import (
    choose_mode,
    colour_wanted,
    make_renderer,
    run_build,
    stderr_is_terminal,
)
from shlax_front.progress.tty import TtyRenderer
from shlax_front.progress.units import human

HERE = Location("Containerfile", 2)
RECORDS = (
    StepRecord("0", "FROM busybox", Location("Containerfile", 1), "from", 0.01),
    StepRecord(
        "0", "RUN apt-get install -y curl", HERE, "built", 2.5,
        reason="not built before", fetched=2_500_000, served=1_000,
    ),
    StepRecord("0", "RUN true", Location("Containerfile", 3), "cached", 0.0),
)  # fmt: skip
RESULT = BuildResult("abc123", RECORDS, 3.31)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def feed(
    renderer: Renderer, clock: Clock, lines=("Get:1 http://deb x amd64 curl amd64 7.88 [315 kB]",)
) -> None:
    """The calls a build of RECORDS makes: FROM ends, the RUN starts, prints, ends, the last one is cached."""
    renderer.end(RECORDS[0])
    renderer.start(StepStart("0", RECORDS[1].instruction, HERE))
    for line in lines:
        clock.now += 0.25
        renderer.output(line + "\n")
    renderer.end(RECORDS[1])
    renderer.end(RECORDS[2])
    renderer.summary(RESULT)


def test_plain_prefixes_each_line_with_the_step_and_its_elapsed_seconds():
    out, clock = io.StringIO(), Clock()
    feed(PlainRenderer(out, explain=True, clock=clock), clock, ["first", "second"])
    assert out.getvalue().splitlines() == [
        "#1 [0] FROM busybox",
        "#1 from 0.01s",
        "#2 [0] RUN apt-get install -y curl",
        "#2 0.250 first",
        "#2 0.500 second",
        "#2 built 2.50s fetched 2.5 MB, 1.0 kB from host cache (not built before)",
        "#3 [0] RUN true",
        "#3 cached 0.00s",
        "1 steps reused, 1 built, 2.5 MB downloaded, 1.0 kB served from the host caches, 3.3s",
    ]


def test_a_whole_output_at_once_is_shown_line_by_line():
    out, clock = io.StringIO(), Clock()
    renderer = PlainRenderer(out, clock=clock)
    renderer.start(StepStart("0", "RUN pip install six", HERE))
    renderer.output("Collecting six\nInstalling\n")
    assert out.getvalue().splitlines()[1:] == ["#1 0.000 Collecting six", "#1 0.000 Installing"]
    assert renderer.running is not None and renderer.running.lines == ["Collecting six", "Installing"]


def test_quiet_writes_nothing_while_the_build_succeeds():
    out, clock = io.StringIO(), Clock()
    feed(QuietRenderer(out, clock=clock), clock)
    assert out.getvalue() == ""


def test_rawjson_writes_one_event_per_line():
    out, clock = io.StringIO(), Clock()
    feed(RawJsonRenderer(out, clock=clock), clock, ["hello"])
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["event"] for e in events] == ["end", "start", "output", "end", "end", "summary"]
    assert events[1] == {
        "event": "start",
        "time": 0.0,
        "step": 2,
        "stage": "0",
        "instruction": "RUN apt-get install -y curl",
        "location": "Containerfile:2",
    }
    assert events[2] == {"event": "output", "time": 0.25, "step": 2, "seconds": 0.25, "line": "hello"}
    assert events[3]["status"] == "built" and events[3]["fetched_bytes"] == 2_500_000
    assert events[5]["image"] == "abc123" and events[5]["built"] == 1 and "steps" not in events[5]


def tty(colour: bool, width: int = 90, **kw) -> tuple[TtyRenderer, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, no_color=not colour, highlight=False)
    return TtyRenderer(out, console=console, colour=colour, **kw), out


@pytest.mark.parametrize("colour", [True, False])
def test_tty_finished_steps_line_up_whatever_the_colours(colour):
    clock = Clock()
    renderer, out = tty(colour, clock=clock)
    renderer.clock = clock
    feed(renderer, clock)
    text = out.getvalue()
    assert ("\x1b[" in text) == colour  # no escape code at all without colour
    lines = re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()
    steps = [line for line in lines if re.match(r"\s*#\d", line)]
    assert len(steps) == 3 and all(len(line) == 90 for line in steps)
    for word in ("from", "built", "cached"):
        assert word in " ".join(steps)
    # the status word starts in the same column on every line, and the seconds end in the same one
    assert len({re.search(r" (from|built|cached) ", line).start() for line in steps}) == 1
    assert len({re.search(r"\d\.\ds", line).end() for line in steps}) == 1
    assert "2.5 MB" in steps[1]


def test_tty_cuts_a_long_instruction_and_drops_control_codes_from_output_lines():
    clock = Clock()
    renderer, _ = tty(False, width=60, clock=clock)
    renderer.start(StepStart("0", "RUN " + "x" * 200, HERE))
    renderer.output("\x1b[31mred\x1b[0m plain\x07\n")
    renderer.output("10%\r50%\r100%\n")
    view = Console(file=io.StringIO(), width=60, no_color=True)
    with view.capture() as capture:
        view.print(renderer._view())
    first, second, third = capture.get().splitlines()
    assert len(first) == 60 and "…" in first and "running" in first
    assert (second.strip(), third.strip()) == ("red plain", "100%")


def test_a_failure_writes_the_whole_output_to_a_log_and_shows_the_last_lines(tmp_path, capsys):
    out, clock = io.StringIO(), Clock()
    renderer = PlainRenderer(out, clock=clock)

    def build(on_start, on_output, on_step):
        on_step(RECORDS[0])
        on_start(StepStart("0", "RUN make", HERE))
        for n in range(100):
            on_output(f"line {n}\n")
        raise BuildError("RUN make: exited with status 2", "Containerfile", 2, "line 99")

    with pytest.raises(BuildError):
        run_build(build, renderer, tmp_path / "logs", as_json=True)
    (log,) = (tmp_path / "logs").iterdir()
    assert "line 40\n" in log.read_text()  # 60 lines before the end: only the log has it
    shown = out.getvalue().splitlines()
    assert shown[-1] == f"shlax-front: the failing step's whole output: {log}"
    assert shown[-3] == "line 99" and "line 74" not in shown[-28:] and "line 75" in shown[-28:]
    report = json.loads(capsys.readouterr().out)
    assert report["image"] is None and report["steps"][0]["status"] == "from"
    assert report["error"]["message"] == "Containerfile:2: RUN make: exited with status 2"
    assert report["error"]["log"] == str(log) and report["error"]["step"]["number"] == 2


def test_a_failure_before_any_step_writes_no_log(tmp_path):
    out = io.StringIO()

    def build(**callbacks):
        raise ParseError("unknown instruction", "Containerfile", 3)

    with pytest.raises(SystemExit) as exit:  # the event says it all: no text line after it
        run_build(build, RawJsonRenderer(out), tmp_path / "logs")
    assert exit.value.code == 2
    (event,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert event["event"] == "error" and event["log"] is None and event["exit_code"] == 2
    assert event["location"] == "Containerfile:3"
    assert not (tmp_path / "logs").exists()


def test_an_unwritable_cache_puts_the_log_in_tmpdir(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    blocked = tmp_path / "file"
    blocked.write_text("")  # logs/ cannot be made under a file
    renderer = QuietRenderer(io.StringIO())

    def build(on_start, on_output, on_step):
        on_start(StepStart("0", "RUN false", HERE))
        on_output("why\n")
        raise BuildError("failed", "Containerfile", 2)

    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    with pytest.raises(BuildError):
        run_build(build, renderer, blocked / "logs")
    (log,) = (tmp_path / "tmp").iterdir()
    assert log.read_text().endswith("why\n")


@pytest.mark.parametrize(
    ("progress", "quiet", "as_json", "terminal", "mode"),
    [
        (None, False, False, True, "tty"),
        (None, False, False, False, "plain"),
        ("auto", False, False, True, "tty"),
        (None, True, False, True, "quiet"),
        (None, False, True, False, "quiet"),
        ("plain", True, False, True, "plain"),
        ("rawjson", False, True, False, "rawjson"),
    ],
)
def test_the_flags_choose_the_mode(progress, quiet, as_json, terminal, mode):
    assert choose_mode(progress, quiet, as_json, terminal) == mode


def test_no_color_and_the_flag_turn_colours_off():
    assert colour_wanted(False, {}) and colour_wanted(False, {"NO_COLOR": ""})
    assert not colour_wanted(False, {"NO_COLOR": "1"}) and not colour_wanted(True, {})
    assert isinstance(make_renderer("tty", io.StringIO()), TtyRenderer)


def test_human_sizes():
    assert [human(n) for n in (None, 999, 2_500_000, 3 * 10**9)] == ["0 B", "999 B", "2.5 MB", "3.0 GB"]


def test_the_running_step_counts_what_apt_and_pip_say_they_download():
    renderer = Renderer(io.StringIO())
    renderer.start(StepStart("0", "RUN apt-get install -y curl && pip install six", HERE))
    renderer.output("Get:1 http://deb.debian.org/debian bookworm/main amd64 curl amd64 7.88.1-10 [315 kB]\n")
    renderer.output("  Downloading six-1.16.0-py2.py3-none-any.whl (11 kB)\n")
    renderer.output("Reading package lists... [2 kB]\n")
    assert renderer.running is not None and renderer.running.fetched == 326_000


def test_rawjson_turns_the_command_lines_log_lines_into_events():
    import logging

    from shlax_front.cli import show_library_messages

    logger = logging.getLogger("shlax_front")
    before, level = list(logger.handlers), logger.level
    show_library_messages()
    out = io.StringIO()
    renderer = RawJsonRenderer(out)

    def build(on_start, on_output, on_step):
        logging.getLogger("shlax_front.backend").warning("something to know")
        return RESULT

    try:
        run_build(build, renderer, Path("/nonexistent"))
    finally:
        logger.handlers[:] = before
        logger.setLevel(level)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events[0]["event"] == "log" and events[0]["message"] == "shlax-front: warning: something to know"
    assert events[-1]["event"] == "summary"


def test_the_build_calls_start_output_and_end_in_order(tmp_path):
    """The library's side of the contract, on the fake buildah: a step that runs is started before its
    output and ended after it; a reused step only ends."""
    from fake_runner import FakeRunner

    from shlax_front.backend.api import BuildRequest, run_request

    (tmp_path / "Containerfile").write_text("FROM busybox\nENV A=1\nRUN echo $A > /a\n")
    runner = FakeRunner()
    real_run = runner.run

    def run(argv, **kw):
        if argv[1] == "run" and kw.get("on_output"):
            kw["on_output"]("a line\n")
        return real_run(argv, **kw)

    runner.run = run
    calls: list[str] = []
    callbacks = {
        "on_start": lambda s: calls.append(f"start {s.instruction}"),
        "on_output": lambda text: calls.append(f"output {text.strip()}"),
        "on_step": lambda r: calls.append(f"end {r.instruction} {r.status}"),
    }
    request = BuildRequest(context=str(tmp_path), cache_dir=str(tmp_path / "cache"), ca_bundle=None)
    run_request(request, runner=runner, **callbacks)
    assert calls == [
        "start FROM busybox",
        "end FROM busybox from",
        "end ENV A=1 config",
        "start RUN echo $A > /a",
        "output a line",
        "end RUN echo $A > /a built",
    ]
    calls.clear()
    run_request(request, runner=runner, **callbacks)
    assert calls[2:] == ["end ENV A=1 config", "end RUN echo $A > /a cached"]


def test_a_dumb_terminal_gets_plain_lines():
    assert not stderr_is_terminal({"TERM": "dumb"})
