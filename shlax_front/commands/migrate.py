"""``shlax-front migrate``: write a Python recipe (``shlaxfile.py``) equivalent to a Containerfile."""

from __future__ import annotations

import os
import sys

import click

from shlax_front.commands.emit import write_atomically

EXAMPLES = """\b
Examples:
  shlax-front migrate -f Containerfile -o shlaxfile.py -t app
  shlax-front build -f shlaxfile.py .            # a recipe is Python, run on this host: named with -f only
"""


@click.command("migrate", epilog=EXAMPLES)
@click.option("-f", "--file", "path", metavar="FILE", help="Containerfile to read ('-' for stdin).")
@click.option("-o", "--output", "out", metavar="OUT", help="Write the recipe here (default: stdout).")
@click.option("-t", "--tag", "commit", metavar="NAME", help="Image name the recipe commits to.")
@click.option(
    "--build-arg", "build_args", multiple=True, metavar="K=V", help="ARG values used while lowering."
)
def migrate_command(path, out, commit, build_args) -> None:
    """Turn a Containerfile into a Python recipe: Container(build=Buildah(Packages(...), Copy(...), ...))."""
    from shlax_front.commands.parse import default_file
    from shlax_front.migration import migrate_document
    from shlax_front.parser import parse_file

    path = path or default_file()
    doc = parse_file(path)
    args = dict(a.split("=", 1) if "=" in a else (a, os.environ.get(a, "")) for a in build_args)
    text = migrate_document(doc, args, output=out or "shlaxfile.py", commit=commit)
    if out is None or out == "-":
        sys.stdout.write(text)
        return
    write_atomically(out, text.encode("utf-8"))
