"""Identity first: with no rewrites, emitting a parsed Containerfile gives back the same bytes.

``validate_identity`` is the round-trip helper (sqlglot style) other tests can reuse. It runs over the
identity golden folders (``fixtures/identity/<case>/Containerfile``), every parse fixture and every
BuildKit conformance file, and checks the replacement path of the emitter too.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shlax_front.emit import emit
from shlax_front.parser import decode, encode, parse
from shlax_front.syntax import Document

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
CONFORMANCE = ROOT.parent / "shared" / "conformance" / "buildkit" / "parser" / "testfiles"


def validate_identity(text: str, strict: bool = False) -> Document:
    """Parse ``text``, emit it unchanged, and require the very same text (hence the same bytes) back."""
    doc = parse(text, strict=strict)
    out = emit(doc)
    assert out == text, f"identity broken:\n--- in\n{text!r}\n--- out\n{out!r}"
    # Replacing every node with its own source must be the identity too: spans tile the file.
    assert emit(doc, {i: doc.source_of(n) for i, n in enumerate(doc.nodes)}) == text
    return doc


def _files() -> list[Path]:
    files = []
    for kind in ("identity", "parse"):
        folder = FIXTURES / kind
        if folder.is_dir():
            files += [folder / case / "Containerfile" for case in sorted(os.listdir(folder))]
    if CONFORMANCE.is_dir():
        files += sorted(CONFORMANCE.glob("*/Dockerfile"))
    return files


def test_identity_folder_has_cases():
    assert len(os.listdir(FIXTURES / "identity")) >= 5


@pytest.mark.parametrize("path", _files(), ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_identity(path):
    data = path.read_bytes()
    validate_identity(decode(data))
    assert encode(emit(parse(decode(data), strict=False))) == data


def test_spans_cover_every_instruction_line():
    doc = validate_identity("FROM a\r\n# c\r\nRUN x \\\r\n  y\r\n\r\nCMD z")
    assert [doc.source_of(n) for n in doc.nodes] == ["FROM a\r\n", "RUN x \\\r\n  y\r\n", "CMD z"]


def test_replacement_renders_only_that_instruction():
    text = 'FROM a\n# keep me\nRUN pip install x\n\nCMD ["x"]\n'
    doc = parse(text)
    out = emit(doc, {1: "RUN --mount=type=cache,target=/root/.cache/pip pip install x"})
    assert (
        out
        == 'FROM a\n# keep me\nRUN --mount=type=cache,target=/root/.cache/pip pip install x\n\nCMD ["x"]\n'
    )


def test_replacement_keeps_crlf_and_can_delete():
    text = "FROM a\r\nRUN one \\\r\n  two\r\nRUN three\r\n"
    doc = parse(text)
    assert emit(doc, {1: "RUN a &&\\\n  b"}) == "FROM a\r\nRUN a &&\\\r\n  b\r\nRUN three\r\n"
    assert emit(doc, {1: ""}) == "FROM a\r\nRUN three\r\n"


def test_replacement_of_last_line_without_newline():
    doc = parse("FROM a\nCMD x")
    assert emit(doc, {1: "CMD y"}) == "FROM a\nCMD y"


def test_replacement_of_heredoc_instruction_replaces_its_body():
    doc = parse("FROM a\nRUN <<EOF\necho hi\nEOF\nUSER x\n")
    assert emit(doc, {1: "RUN echo hi"}) == "FROM a\nRUN echo hi\nUSER x\n"


def test_bad_index_is_an_error():
    doc = parse("FROM a\n")
    with pytest.raises(IndexError):
        emit(doc, {3: "RUN x"})
