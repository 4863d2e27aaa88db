"""``shlax-front explain``: what optimize/build recognise and rewrite in each RUN, and why."""

from __future__ import annotations

import json
import os

import click

EXAMPLES = """\b
Examples:
  shlax-front explain -f Containerfile           # each RUN: recognised, rewritten, or why not
  shlax-front explain -f Dockerfile --json | jq '.instructions[] | select(.reasons != [])'
  shlax-front explain -f Containerfile --build-arg PKGS="curl git"
"""


@click.command("explain", epilog=EXAMPLES)
@click.option("-f", "--file", "path", metavar="FILE", help="Containerfile to read ('-' for stdin).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--build-arg", "build_args", multiple=True, metavar="K=V", help="ARG values (for $VAR package lists)."
)
def explain_command(path, as_json, build_args) -> None:
    """Explain, per instruction, what was recognised and rewritten, and what was left alone and why."""
    from shlax_front.commands.parse import default_file
    from shlax_front.explainer import explain_document, format_entries, summary
    from shlax_front.parser import parse_file

    path = path or default_file()
    doc = parse_file(path)
    args = dict(a.split("=", 1) if "=" in a else (a, os.environ.get(a, "")) for a in build_args)
    entries = explain_document(doc, args)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "path": doc.path,
                    "summary": summary(entries),
                    "instructions": [e.to_json() for e in entries],
                },
                indent=2,
            )
        )
    else:
        click.echo(format_entries(entries, doc.path), nl=False)
