"""``migrate``: a Containerfile -> a Python recipe that evaluates to the same action IR."""

from __future__ import annotations

from collections.abc import Mapping

from shlax_front.emit.recipe import render
from shlax_front.lower import lower
from shlax_front.parser import parse
from shlax_front.syntax import Document


def migrate_document(
    doc: Document,
    build_args: Mapping[str, str] | None = None,
    output: str = "shlaxfile.py",
    commit: str | None = None,
) -> str:
    return render(lower(doc, build_args), source=doc.path, output=output, commit=commit)


def migrate(
    text: str,
    path: str = "Containerfile",
    build_args: Mapping[str, str] | None = None,
    output: str = "shlaxfile.py",
    commit: str | None = None,
) -> str:
    """Python source of the recipe for Containerfile ``text``."""
    return migrate_document(parse(text, path), build_args, output, commit)
