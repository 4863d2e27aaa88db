"""``shlax-front optimize``: write the Containerfile with cache mounts on its package installs.

``--check`` exits 1 when a file would change (CI, pre-commit), ``--diff`` prints a unified diff instead
of the file, ``-o`` writes the result, ``-i`` rewrites the files in place (atomically). Files may also be
given as arguments (that is how pre-commit passes them).
"""

from __future__ import annotations

import os
import sys

import click

from shlax_front.commands.emit import write_atomically

EXAMPLES = """\b
Examples:
  shlax-front optimize -f Containerfile --diff   # what would change
  shlax-front optimize -i Containerfile */Dockerfile   # rewrite in place
  shlax-front optimize --check Containerfile     # CI / pre-commit: exit 1 if a file would change
  shlax-front optimize -f Containerfile --lower-heredocs -o Containerfile.buildah   # for buildah < 1.33
"""


@click.command("optimize", epilog=EXAMPLES)
@click.argument("files", nargs=-1, metavar="[FILE]...")
@click.option("-f", "--file", "path", metavar="FILE", help="Containerfile to read ('-' for stdin).")
@click.option("-o", "--output", "out", metavar="OUT", help="Write the result here instead of stdout.")
@click.option("-i", "--in-place", is_flag=True, help="Rewrite the files themselves.")
@click.option("--diff", is_flag=True, help="Print a unified diff instead of the file.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if a file would change.")
@click.option(
    "--build-arg", "build_args", multiple=True, metavar="K=V", help="ARG values (for $VAR package lists)."
)
@click.option(
    "--syntax/--no-syntax",
    default=False,
    help="Add '# syntax=docker/dockerfile:1' when rewriting (only needed for docker older than 20.10).",
)
@click.option(
    "--lower-heredocs",
    is_flag=True,
    help="Rewrite RUN <<EOF scripts as one-line RUNs (for buildah before 1.33, which cannot parse heredocs).",
)
@click.option("-q", "--quiet", is_flag=True, help="No warnings on stderr.")
def optimize_command(
    files, path, out, in_place, diff, check, build_args, syntax, lower_heredocs, quiet
) -> None:
    """Add BuildKit cache mounts to the RUN lines that install packages; nothing else changes."""
    from shlax_front.commands.parse import default_file
    from shlax_front.optimizer import optimize_document
    from shlax_front.parser import encode, parse_file

    paths = list(files) + ([path] if path else [])
    if not paths:
        paths = [default_file()]
    if len(paths) > 1 and not (check or diff or in_place):
        raise click.UsageError("several files need --check, --diff or --in-place")
    if out and len(paths) > 1:
        raise click.UsageError("-o takes one input file")
    args = dict(a.split("=", 1) if "=" in a else (a, os.environ.get(a, "")) for a in build_args)
    would_change = []
    for one in paths:
        doc = parse_file(one)
        result = optimize_document(doc, args, syntax=syntax, lower_heredocs=lower_heredocs)
        if not quiet:
            for warning in result.warnings:
                click.echo(f"warning: {warning}", err=True)
        shown = "Containerfile" if one == "-" else one
        if diff:
            sys.stdout.write(result.diff(shown))
        if check:
            if result.changes:
                would_change.append(shown)
                click.echo(
                    f"{shown}: would be optimised ({len(result.changed)} RUN instruction(s))", err=True
                )
            continue
        if diff:
            continue
        data = encode(result.text)
        if in_place:
            if one == "-":
                raise click.UsageError("--in-place needs a file, not stdin")
            if result.changes:
                write_atomically(one, data)
                click.echo(f"{shown}: optimised ({len(result.changed)} RUN instruction(s))", err=True)
        elif out is None or out == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            write_atomically(out, data)
    if would_change:
        sys.exit(1)
