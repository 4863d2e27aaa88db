"""``shlax-front emit``: parse a Containerfile and write it back through the identity emitter.

With no rewrites the output is byte for byte the input; this is the round-trip every rewrite builds on,
exposed so users (and CI) can check it on their own files.
"""

from __future__ import annotations

import os
import stat
import sys

import click

EXAMPLES = """\b
Examples:
  shlax-front emit -f Containerfile              # the same bytes back (a parser round trip)
  cat Dockerfile | shlax-front emit -f - -o copy # from stdin, to a file
"""


@click.command("emit", epilog=EXAMPLES)
@click.option("-f", "--file", "path", metavar="FILE", help="Containerfile to read ('-' for stdin).")
@click.option("-o", "--output", "out", metavar="OUT", help="Write here instead of stdout.")
def emit_command(path: str | None, out: str | None) -> None:
    """Parse FILE and emit it again (identity: the same bytes)."""
    from shlax_front.commands.parse import default_file
    from shlax_front.emit import emit
    from shlax_front.parser import encode, parse_file

    doc = parse_file(path or default_file())
    data = encode(emit(doc))
    if out is None or out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    write_atomically(out, data)


def write_atomically(out: str, data: bytes) -> None:
    """Write ``out`` through a temporary file renamed over it, so that a failed write never leaves a half-written
    Containerfile behind; errors are click's one-line ``FileError``. (Any command writing a ``-o`` file can use it.)
    Rewriting a file in place keeps what the user set on it: its permission bits, and the symlink pointing at it
    (the target is what gets replaced)."""
    out = os.path.realpath(out)
    tmp = f"{out}.tmp.{os.getpid()}"
    try:
        try:
            mode = stat.S_IMODE(os.stat(out).st_mode)
        except FileNotFoundError:
            mode = None
        with open(tmp, "wb") as handle:
            handle.write(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, out)
    except OSError as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise click.FileError(out, hint=err.strerror) from None
