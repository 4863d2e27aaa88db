"""How error messages name an instruction: whole when short, else cut with an ellipsis that shows the cut."""

from __future__ import annotations

from shlax_front.backend.steps import Location, RunStep


def _run(text: str) -> RunStep:
    return RunStep(Location("Containerfile", 4), text, argv=["/bin/sh", "-c", text[4:]])


def test_a_short_instruction_is_named_whole():
    assert _run("RUN make").excerpt == "RUN make"


def test_a_long_instruction_is_cut_with_an_ellipsis_at_sixty_characters():
    text = 'RUN python3 -c "import six, idna, tomli; print(six.__version__)" > /v'
    assert _run(text).excerpt == text[:59] + "\u2026"
    assert len(_run(text).excerpt) == 60


def test_a_heredoc_instruction_is_named_by_its_first_line():
    assert _run("RUN <<EOF\nset -e\nmake\nEOF").excerpt == "RUN <<EOF\u2026"
