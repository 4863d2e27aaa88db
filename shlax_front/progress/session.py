"""One build under a renderer: the mode chosen from the flags, the callbacks wired, and what a failure leaves.

On failure the failing step's whole output is written to a log file (``CACHE/logs/``, or ``$TMPDIR`` when the
cache cannot be written) whose path is printed with the last lines; ``--json`` gets an error object on
stdout instead of the report, so a script reading it always gets JSON.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import click

from shlax_front.backend.result import BuildResult
from shlax_front.errors import BuildError, ShlaxError
from shlax_front.progress.base import Failure, Renderer
from shlax_front.progress.plain import PlainRenderer
from shlax_front.progress.quiet import QuietRenderer
from shlax_front.progress.rawjson import RawJsonRenderer

#: lines of the failing step shown on screen (the log file has them all)
TAIL_LINES = 25
#: log files kept in CACHE/logs (the oldest go first)
KEPT_LOGS = 20


def choose_mode(progress: str | None, quiet: bool, as_json: bool, terminal: bool) -> str:
    """The renderer's mode: ``--progress`` as given; else ``-q`` and ``--json`` keep stderr quiet (as they
    always did); ``auto`` is tty on a terminal, plain otherwise."""
    if progress is None:
        progress = "quiet" if quiet or as_json else "auto"
    if progress == "auto":
        return "tty" if terminal else "plain"
    return progress


def colour_wanted(no_color: bool, environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """No colour with ``--no-color`` or a non-empty ``NO_COLOR`` (https://no-color.org)."""
    return not no_color and not environ.get("NO_COLOR")


def make_renderer(
    mode: str, stream: TextIO, *, explain: bool = False, verbose: bool = False, colour: bool = True
) -> Renderer:
    options: dict[str, Any] = {"explain": explain, "verbose": verbose, "colour": colour}
    if mode == "tty":
        from shlax_front.progress.tty import TtyRenderer  # rich loads only for a terminal

        return TtyRenderer(stream, **options)
    kinds: dict[str, type[Renderer]] = {
        "plain": PlainRenderer,
        "quiet": QuietRenderer,
        "rawjson": RawJsonRenderer,
    }
    return kinds[mode](stream, **options)


def run_build(
    build: Callable[..., BuildResult],
    renderer: Renderer,
    log_dir: Path,
    *,
    as_json: bool = False,
) -> BuildResult:
    """Run ``build(on_start=..., on_output=..., on_step=...)`` shown by ``renderer``; on a ``ShlaxError`` the
    failure is shown (and logged) before the error goes on to the command line's one-line message (or, when
    the renderer told the error itself, the exit status alone)."""
    renderer.open()
    try:
        result = build(on_start=renderer.start, on_output=renderer.output, on_step=renderer.end)
    except ShlaxError as err:
        renderer.close()
        failure = describe_failure(err, renderer, log_dir)
        renderer.failed(failure)
        if as_json:
            steps = [record.as_dict() for record in renderer.finished]
            click.echo(json.dumps({"image": None, "error": failure.as_dict(), "steps": steps}, indent=2))
        if renderer.tells_the_error:  # its error event has the message: stderr stays all JSON
            raise SystemExit(err.exit_code) from None
        raise
    finally:
        renderer.close()
    renderer.summary(result)
    return result


def describe_failure(err: ShlaxError, renderer: Renderer, log_dir: Path) -> Failure:
    """The failure as shown: the running step's whole output to a log file, its last lines on screen."""
    path, line = getattr(err, "path", None), getattr(err, "line", None)  # ParseError and BuildError have them
    step = renderer.running_at(path, line)  # with stages at once, the step that failed
    lines = step.lines if step is not None else []
    log = write_log(lines, step.header if step else "", log_dir) if lines else None
    tail = lines[-TAIL_LINES:]
    if not tail and isinstance(err, BuildError) and err.output_tail:
        tail = err.output_tail.splitlines()[-TAIL_LINES:]
    location = f"{path}:{line}" if path and line else path
    return Failure(str(err), err.exit_code, location, step, log, tail)


def write_log(lines: list[str], title: str, log_dir: Path) -> str | None:
    """Write the failing step's output to a new file in ``log_dir`` (or ``$TMPDIR``); its path, or None when
    no file could be written (the failure itself matters more)."""
    text = f"# {title}\n" + "".join(line + "\n" for line in lines)
    name = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}.log"
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / name
        path.write_text(text, errors="replace")
        _prune(log_dir)
        return str(path)
    except OSError:
        pass
    try:
        fd, tmp = tempfile.mkstemp(prefix="shlax-front-", suffix=".log")
        with os.fdopen(fd, "w", errors="replace") as f:
            f.write(text)
        return tmp
    except OSError:
        return None


def _prune(log_dir: Path) -> None:
    logs = sorted(log_dir.glob("*.log"), key=lambda p: p.stat().st_mtime)
    for old in logs[:-KEPT_LOGS]:
        old.unlink(missing_ok=True)


def stderr_is_terminal(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Whether ``auto`` may draw a live view: stderr is a terminal that can move its cursor (not ``dumb``)."""
    if environ.get("TERM") == "dumb":
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
