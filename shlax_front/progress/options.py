"""The build command's progress flags, in one decorator, and the call that runs a build under them.

``--progress=auto|plain|tty|quiet|rawjson`` as buildx spells it; ``-q/--quiet`` is ``--progress=quiet``;
``--json`` prints the report (or an error object) on stdout; ``--verbose`` also keeps each output line in the
tty view's scrollback (plain shows every line anyway); ``--no-color`` or ``NO_COLOR`` turn colours off.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from shlax_front.progress import MODES


def progress_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--progress``, ``-q``, ``--json``, ``--verbose`` and ``--no-color`` to a click command."""
    options = [
        click.option(
            "--progress",
            type=click.Choice(MODES),
            default=None,
            help="How to show the build: auto (tty on a terminal, plain otherwise), plain (every output line,"
            " for logs), tty (a live view), quiet (only the image id) or rawjson (JSON events on stderr).",
        ),
        click.option("-q", "--quiet", is_flag=True, help="Print only the image id (--progress=quiet)."),
        click.option(
            "--json", "as_json", is_flag=True, help="Print a JSON report on stdout (image id included)."
        ),
        click.option("--verbose", is_flag=True, help="Keep every output line in the tty view's scrollback."),
        click.option("--no-color", is_flag=True, help="No colours (as does a non-empty NO_COLOR)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def build_with_progress(
    request: Any,
    run: Callable[..., Any],
    *,
    progress: str | None,
    quiet: bool,
    as_json: bool,
    verbose: bool,
    no_color: bool,
    explain: bool,
) -> Any:
    """Run ``run(request, on_start=..., on_output=..., on_step=...)`` shown as the flags ask, then print the
    image id (or the ``--json`` report) on stdout; returns the build's result."""
    import functools
    import json
    from pathlib import Path

    from shlax_front.backend.store import default_root
    from shlax_front.progress.session import (
        choose_mode,
        colour_wanted,
        make_renderer,
        run_build,
        stderr_is_terminal,
    )

    mode = choose_mode(progress, quiet, as_json, stderr_is_terminal())
    colour = colour_wanted(no_color)
    renderer = make_renderer(mode, sys.stderr, explain=explain, verbose=verbose, colour=colour)
    log_dir = (Path(request.cache_dir) if request.cache_dir else default_root()) / "logs"
    result = run_build(functools.partial(run, request), renderer, log_dir, as_json=as_json)
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else result.image)
    return result


def report_early_failure(err: Any, *, progress: str | None, quiet: bool, as_json: bool) -> None:
    """A flag refused before the build starts, told the way the build's own failure is: ``--json`` prints the
    error object on stdout, ``rawjson`` an error event on stderr (and exits, its event being the message);
    otherwise the caller's one-line message stands alone."""
    import json

    from shlax_front.progress.base import Failure
    from shlax_front.progress.session import choose_mode, make_renderer, stderr_is_terminal

    path, line = getattr(err, "path", None), getattr(err, "line", None)
    location = f"{path}:{line}" if path and line else path
    failure = Failure(str(err), err.exit_code, location, None, None, [])
    if as_json:
        click.echo(json.dumps({"image": None, "error": failure.as_dict(), "steps": []}, indent=2))
    if choose_mode(progress, quiet, as_json, stderr_is_terminal()) == "rawjson":
        make_renderer("rawjson", sys.stderr).failed(failure)
        raise SystemExit(err.exit_code)
