"""``shlax-front parse``: read a Containerfile and print what we understood.

- default: check it the way BuildKit does when it builds (instruction rules, and the stage graph's rules such
  as duplicate stage names when ``shlax_front.stages`` provides ``plan``) and print BuildKit's ``Node.Dump()``
  lines;
- ``--dump``: BuildKit's *parser* only, exactly like BuildKit's dumper (so it can be diffed against it;
  unknown instructions or flags are not errors at that level);
- ``--json``: the typed IR as JSON.

``-f -`` reads stdin. Without ``-f``, ``Containerfile`` then ``Dockerfile`` in the current directory.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os

import click

from shlax_front.errors import ParseError
from shlax_front.syntax import Document, Node


def default_file() -> str:
    """``Containerfile`` if it exists in the current directory, else ``Dockerfile`` (like buildah/podman)."""
    for name in ("Containerfile", "Dockerfile"):
        if os.path.exists(name):
            return name
    raise ParseError(
        "no Containerfile or Dockerfile in the current directory (use -f FILE)", "Containerfile", None
    )


def node_to_json(node: Node) -> dict:
    """A raw syntax node as plain JSON data."""
    data = {
        "keyword": node.keyword,
        "start_line": node.start_line,
        "end_line": node.end_line,
        "flags": node.flags,
        "args": node.args,
        "json": node.json,
    }
    if node.heredocs:
        data["heredocs"] = [dataclasses.asdict(heredoc) for heredoc in node.heredocs]
    if node.next is not None:
        data["next"] = node_to_json(node.next)
    return data


def _plain(value):
    """Typed-instruction values -> JSON data (dataclasses become dicts; the raw ``node`` field is dropped)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {"type": type(value).__name__}
        for field in dataclasses.fields(value):
            if field.name == "node":
                continue
            data[field.name.rstrip("_")] = _plain(getattr(value, field.name))
        node = getattr(value, "node", None)
        if isinstance(node, Node):
            data["line"] = node.start_line
            data["end_line"] = node.end_line
        return data
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _optional_module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def document_to_json(doc: Document) -> dict:
    """The typed IR of ``doc`` as JSON data.

    Uses the stage graph's own JSON view when ``shlax_front.stages`` provides one (``to_json``/``plan_to_json``),
    else the typed instructions (``shlax_front.instructions.from_node``), else the raw nodes.
    """
    base = {"path": doc.path, "escape": doc.escape, "directives": doc.directives}
    stages = _optional_module("shlax_front.stages")
    for name in ("to_json", "plan_to_json"):
        helper = getattr(stages, name, None)
        if callable(helper):
            return {**base, **_plain(helper(doc))}
    instructions = importlib.import_module("shlax_front.instructions")
    from_node = getattr(instructions, "from_node", None)
    if callable(from_node):
        return {**base, "instructions": [_plain(from_node(node)) for node in doc.nodes]}
    return {**base, "nodes": [node_to_json(node) for node in doc.nodes]}


EXAMPLES = """\b
Examples:
  shlax-front parse -f Containerfile             # errors as BuildKit reports them, or nothing
  shlax-front parse -f Containerfile --dump      # BuildKit's Node.Dump() view
  shlax-front parse -f Containerfile --json | jq '.stages[].base'
"""


@click.command("parse", epilog=EXAMPLES)
@click.option("-f", "--file", "path", metavar="FILE", help="Containerfile to read ('-' for stdin).")
@click.option(
    "--dump", "output", flag_value="dump", help="BuildKit parser only; print its Node.Dump() lines."
)
@click.option("--json", "output", flag_value="json", help="Print the typed IR as JSON.")
def parse_command(path: str | None, output: str | None) -> None:
    """Parse a Containerfile and print BuildKit's view of it (errors: FILE:LINE: message, exit 2)."""
    from shlax_front.dump import dump
    from shlax_front.parser import parse_file

    doc = parse_file(path or default_file(), strict=output != "dump")
    if output == "json":
        click.echo(json.dumps(document_to_json(doc), indent=2, ensure_ascii=False))
        return
    if output is None:
        plan = getattr(_optional_module("shlax_front.stages"), "plan", None)
        if callable(plan):
            plan(doc)  # stage-level errors (duplicate names, bad stage references) are located ParseErrors
    click.echo(dump(doc), nl=False)
