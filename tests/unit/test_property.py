"""Property tests (hypothesis): generated Containerfiles round-trip byte for byte, and parsing never fails with
anything but a located ``ParseError``.

Two generators: a structured one that builds files from known pieces (so the expected instructions and heredoc
bodies are known too) and a chaotic one that strings together the characters the scanner cares about.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shlax_front.emit import emit
from shlax_front.errors import ParseError
from shlax_front.parser import GO_SPACE, parse

KEYWORDS = ["RUN", "run", "COPY", "ADD", "ENV", "LABEL", "CMD", "ENTRYPOINT", "WORKDIR", "USER", "EXPOSE",
            "VOLUME", "ARG", "SHELL", "STOPSIGNAL", "HEALTHCHECK", "ONBUILD", "MAINTAINER", "FROM"]  # fmt: skip

word = st.text(alphabet="abcxyz0123456789_./:=$-", min_size=1, max_size=8).filter(lambda w: w[0] != "-")
safe_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=30
)


@st.composite
def continued_instruction(draw, eol: str) -> tuple[str, int]:
    """An instruction over several lines, with comment and blank lines inside; returns (text, line count)."""
    keyword = draw(st.sampled_from(["RUN", "ENV A=1", "LABEL a=b", "CMD", "COPY a"]))
    item = st.builds("k{}={}".format, word, word) if keyword[:3] in ("ENV", "LAB") else word
    trailing = draw(st.sampled_from(["", " ", "  ", "\t"]))
    pieces = [f"{keyword} {draw(item)} \\{trailing}{eol}"]
    for _ in range(draw(st.integers(0, 3))):
        pieces.append(draw(st.sampled_from([f"  # inside{eol}", eol, f"   {eol}", f"\t{eol}"])))
        pieces.append(f"    {draw(item)} \\{eol}")
    pieces.append(f"    {draw(item)}{eol}")
    text = "".join(pieces)
    return text, text.count("\n")


@st.composite
def heredoc_instruction(draw, eol: str) -> tuple[str, list[tuple[str, str]]]:
    """RUN/COPY/ADD starting one to three heredocs; returns (text, [(name, body)])."""
    count = draw(st.integers(1, 3))
    names = [f"EOF{i}" for i in range(count)]
    styles = [draw(st.sampled_from(["<<{}", "<<-{}", "<<'{}'", '<<"{}"', "<< {}"])) for _ in names]
    keyword = draw(st.sampled_from(["RUN", "COPY", "ADD", "RUN --mount=type=cache,target=/c", "ONBUILD RUN"]))
    head = keyword + " " + " ".join(style.format(name) for style, name in zip(styles, names, strict=True))
    if keyword in ("COPY", "ADD"):
        head += " /dest/"
    lines = [head + eol]
    bodies = []
    for style, name in zip(styles, names, strict=True):
        body_lines = draw(
            st.lists(
                st.one_of(safe_text, st.sampled_from(["EOF", "FROM x", "# c", "\\", "", "\tEOF9"])),
                max_size=4,
            )
        )
        body_lines = [b for b in body_lines if b.strip("\t") != name and b != name]
        body = "".join(b + eol for b in body_lines)
        bodies.append((name, body))
        lines.append(body)
        lines.append(("\t" if style.startswith("<<-") and draw(st.booleans()) else "") + name + eol)
    return "".join(lines), bodies


@st.composite
def containerfile(draw):
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    pieces: list[str] = []
    if draw(st.booleans()):
        pieces.append(
            draw(st.sampled_from(["# syntax=docker/dockerfile:1", "# check=skip=all", "#escape=\\"])) + eol
        )
    pieces.append(f"FROM {draw(word)}{draw(st.sampled_from(['', ' AS build']))}{eol}")
    expected_nodes = 1
    expected_heredocs = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["simple", "comment", "blank", "continued", "heredoc"]))
        if kind == "simple":
            indent = draw(st.sampled_from(["", " ", "\t"]))
            pieces.append(
                f"{indent}{draw(st.sampled_from(['RUN', 'CMD', 'USER', 'WORKDIR']))} {draw(word)}{eol}"
            )
            expected_nodes += 1
        elif kind == "comment":
            pieces.append(f"# {draw(safe_text)}{eol}")
        elif kind == "blank":
            pieces.append(draw(st.sampled_from([eol, f"  {eol}", f"\t{eol}"])))
        elif kind == "continued":
            pieces.append(draw(continued_instruction(eol))[0])
            expected_nodes += 1
        else:
            text, bodies = draw(heredoc_instruction(eol))
            pieces.append(text)
            expected_heredocs.append(bodies)
            expected_nodes += 1
    text = "".join(pieces)
    if draw(st.booleans()):
        text = text[: -len(eol)]  # no final newline
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text, expected_nodes, expected_heredocs


def check_spans(doc) -> None:
    position = 0
    previous_end_line = 0
    for node in doc.nodes:
        assert node.start >= position
        gap = doc.text[position : node.start]  # only blank lines, comments and directives between nodes
        assert gap.strip(GO_SPACE + "\ufeff") == "" or "#" in gap
        assert node.start_line > previous_end_line
        assert node.start_line <= node.end_line
        assert doc.text.count("\n", 0, node.start) + 1 == node.start_line
        position = node.end
        previous_end_line = node.end_line


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(containerfile())
def test_structured_files_round_trip_and_parse_as_built(case):
    text, expected_nodes, expected_heredocs = case
    doc = parse(text)
    assert emit(doc) == text
    assert len(doc.nodes) == expected_nodes
    got = [[(h.name, h.raw) for h in node.heredocs] for node in doc.nodes if node.heredocs]
    if text.endswith("\n") or not expected_heredocs:
        assert got == expected_heredocs
    check_spans(doc)
    assert emit(doc, {i: doc.source_of(n) for i, n in enumerate(doc.nodes)}) == text


chaos_alphabet = st.sampled_from(
    ["\n", "\r\n", "\r", " ", "\t", "\\", "`", "#", "<<", "<<-", "EOF", "'", '"', "[", "]", ",", "=", "--", "$", "{",
     "}", "\ufeff", "\u00a0", "é", "RUN ", "FROM a\n", "COPY ", "ENV ", "ONBUILD ", "HEALTHCHECK ", "x", "1",
     "# escape=`\n", "CMD [\"a\"]", "\x00", "\udcff"]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(chaos_alphabet, max_size=40).map("".join), st.booleans())
def test_chaos_never_crashes_and_round_trips(text, strict):
    try:
        doc = parse(text, "Containerfile", strict=strict)
    except ParseError as err:
        assert str(err).startswith(f"Containerfile:{err.line}: ")
        assert 0 <= err.line <= text.count("\n") + 1
        return
    assert emit(doc) == text
    check_spans(doc)
