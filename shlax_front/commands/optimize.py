"""``shlax-front optimize``: write the Containerfile with cache mounts on its package installs.

``--check`` exits 1 when the file would change (CI, pre-commit), ``--diff`` prints a unified diff instead
of the file, ``-o`` writes it (``-o`` equal to ``-f`` rewrites in place, atomically).
"""

from __future__ import annotations

import os
import sys

import click


@click.command("optimize")
@click.option("-f", "--file", "path", metavar="FILE", help="Containerfile to read ('-' for stdin).")
@click.option("-o", "--output", "out", metavar="OUT", help="Write the result here instead of stdout.")
@click.option("--diff", is_flag=True, help="Print a unified diff instead of the file.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the file would change.")
@click.option("--build-arg", "build_args", multiple=True, metavar="K=V", help="ARG values (for $VAR package lists).")
@click.option("--syntax/--no-syntax", default=False,
              help="Add '# syntax=docker/dockerfile:1' when rewriting (only needed for docker older than 20.10).")
@click.option("-q", "--quiet", is_flag=True, help="No warnings on stderr.")
def optimize_command(path, out, diff, check, build_args, syntax, quiet) -> None:
    """Add BuildKit cache mounts to the RUN lines that install packages; nothing else changes."""
    from shlax_front.commands.parse import default_file
    from shlax_front.optimize import optimize_document
    from shlax_front.parser import encode, parse_file

    path = path or default_file()
    doc = parse_file(path)
    args = dict(a.split("=", 1) if "=" in a else (a, os.environ.get(a, "")) for a in build_args)
    result = optimize_document(doc, args, syntax=syntax)
    if not quiet:
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
    shown = "Containerfile" if path == "-" else path
    if check:
        if result.changes:
            if diff:
                sys.stdout.write(result.diff(shown))
            click.echo(f"{shown}: would be optimised ({len(result.changed)} RUN instruction(s))", err=True)
            sys.exit(1)
        return
    if diff:
        sys.stdout.write(result.diff(shown))
        return
    data = encode(result.text)
    if out is None or out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    tmp = f"{out}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, out)
    except OSError as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise click.FileError(out, hint=err.strerror) from None
