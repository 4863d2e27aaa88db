"""Parser unit tests and the golden folders.

Golden folders (found by listing, BuildKit style):

- ``fixtures/parse/<case>/Containerfile`` + ``result``: BuildKit's ``Node.Dump()`` of the parser-level parse;
  the strict parse must succeed too, unless the case has an ``error`` file (expected message substring).
- ``fixtures/parse-negative/<case>/Containerfile`` + ``error``: the strict parse must raise a ``ParseError``
  whose text contains ``error`` (which starts with ``Containerfile:LINE:``).
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest

from shlax_front import messages
from shlax_front.dump import dump
from shlax_front.errors import ParseError
from shlax_front.parser import decode, extract_flags, go_quote, heredocs_from_line, parse, parse_words
from shlax_front.syntax import Heredoc

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"


def _cases(kind: str) -> list[str]:
    folder = FIXTURES / kind
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def _read(path: Path) -> str:
    return decode(path.read_bytes())


def test_golden_folders_exist():
    assert len(_cases("parse")) >= 30
    assert len(_cases("parse-negative")) >= 30


@pytest.mark.parametrize("case", _cases("parse"))
def test_parse_golden(case):
    folder = FIXTURES / "parse" / case
    text = _read(folder / "Containerfile")
    assert dump(parse(text, strict=False)) == (folder / "result").read_text(encoding="utf-8")
    error_file = folder / "error"
    if error_file.exists():
        with pytest.raises(ParseError) as info:
            parse(text)
        assert error_file.read_text(encoding="utf-8").strip() in str(info.value)
    else:
        parse(text)


@pytest.mark.parametrize("case", _cases("parse-negative"))
def test_parse_negative_golden(case):
    folder = FIXTURES / "parse-negative" / case
    with pytest.raises(ParseError) as info:
        parse(_read(folder / "Containerfile"), "Containerfile")
    expected = (folder / "error").read_text(encoding="utf-8").strip()
    assert expected in str(info.value)
    assert str(info.value).startswith(f"Containerfile:{info.value.line}: ")
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------------------------------------ structure


def test_node_fields_and_spans():
    text = '# syntax=docker/dockerfile:1\nFROM alpine AS base\n\n  RUN --mount=type=cache,target=/x \\\n    echo hi\nCMD ["a", "b"]'
    doc = parse(text)
    assert doc.directives == {"syntax": "docker/dockerfile:1"}
    frm, run, cmd = doc.nodes
    assert (frm.keyword, frm.args, frm.start_line, frm.end_line) == ("from", ["alpine", "AS", "base"], 2, 2)
    assert run.flags == ["--mount=type=cache,target=/x"]
    assert run.args == ["echo hi"] and not run.json
    assert run.value == "echo hi"
    assert (run.start_line, run.end_line) == (4, 5)
    assert doc.source_of(run) == "  RUN --mount=type=cache,target=/x \\\n    echo hi\n"
    assert cmd.json and cmd.args == ["a", "b"]
    assert doc.source_of(cmd) == 'CMD ["a", "b"]'
    assert (cmd.start_line, cmd.end_line) == (6, 6)
    assert run.original == "RUN" and run.line == "RUN --mount=type=cache,target=/x     echo hi"


def test_heredoc_bodies_are_exact():
    text = "FROM a\nRUN <<-EOF cat >/x && <<'B' sh\n\tone $X\n\t\ttwo\n\tEOF\nraw $Y\r\nB\nRUN next\n"
    doc = parse(text)
    run = doc.nodes[1]
    assert run.heredocs == [
        Heredoc("EOF", "one $X\ntwo\n", expand=True, chomp=True, raw="\tone $X\n\t\ttwo\n"),
        Heredoc("B", "raw $Y\r\n", expand=False, chomp=False, raw="raw $Y\r\n"),
    ]
    assert (run.start_line, run.end_line) == (2, 7)
    assert doc.nodes[2].start_line == 8
    assert doc.source_of(run).endswith("B\n")


def test_heredoc_names_like_buildkit():
    names = lambda line: [(h[0], h[1]) for h in heredocs_from_line(line)]  # noqa: E731
    assert names("RUN <<EOF") == [("EOF", True)]
    assert names("RUN <<-EOF") == [("EOF", True)]
    assert names("RUN << -EOF") == [("-EOF", True)]
    assert names("RUN <<eo'f'") == [("eof", False)]
    assert names("RUN <<eo\\'f") == [("eo'f", True)]
    assert names("RUN <<'e'o\\'f") == [("eo'f", False)]
    assert names("RUN <<'one two'") == [("one two", False)]
    assert names("RUN <<$EOF") == [("$EOF", True)]
    assert names("RUN <<  EOF  > foo") == [("EOF", True)]
    assert names("RUN 4<<EOF") == [("EOF", True)]
    assert heredocs_from_line("RUN 4<<EOF")[0][3] == 4
    assert names("RUN <<EOF <<EOF2") == [("EOF", True), ("EOF2", True)]
    assert names("RUN '<<EOF'") == []
    assert names('RUN "<<EOF"') == []
    assert names("RUN <<EOF sh -c 'unbalanced") == []
    # A word BuildKit's lexer rejects (``${x:%}``, ``${x:#p}``) makes the whole line start no heredoc.
    assert names("RUN <<EOF echo ${x:%}") == []
    assert names("COPY <<EOF ${x:#a} /dst") == []
    assert names("RUN <<EOF echo ${x:-%}") == [("EOF", True)]
    # A byte order mark at the start of the name is skipped, like Go's text/scanner does at the start of input.
    assert names("RUN <<\ufeffEOF") == [("EOF", True)]
    # Long blank runs cost linear time (BuildKit's heredoc regex, written as a regex, backtracks on them).
    assert names("RUN <<" + " " * 50_000 + "<x") == []
    assert names("RUN <<" + " " * 50_000 + "EOF") == [("EOF", True)]


def test_heredoc_only_where_allowed():
    doc = parse('FROM a\nRUN ["<<EOF"]\nUSER <<INVALID\nINVALID x\n', strict=False)
    assert [n.keyword for n in doc.nodes] == ["from", "run", "user", "invalid"]
    assert all(not n.heredocs for n in doc.nodes)


def test_onbuild_heredoc_and_nesting():
    doc = parse("FROM a\nONBUILD RUN <<EOF\necho x\nEOF\n")
    onbuild = doc.nodes[1]
    assert onbuild.next.keyword == "run"
    assert onbuild.next.heredocs[0].content == "echo x\n"
    assert onbuild.heredocs == onbuild.next.heredocs
    assert onbuild.end_line == 4 and onbuild.next.end_line == 4


def test_escape_directive_backtick():
    doc = parse("# escape=`\nFROM a\nRUN echo C:\\ `\n  next\n")
    assert doc.escape == "`"
    assert doc.nodes[1].args == ["echo C:\\   next"]


def test_directives_stop_at_first_non_directive():
    doc = parse("# syntax=x\n# check=skip=all\n# hello\n# escape=`\nFROM a\n")
    assert doc.directives == {"syntax": "x", "check": "skip=all"}
    assert doc.escape == "\\"


def test_bom_is_ignored_but_kept_in_text():
    text = "\ufeffFROM a\n"
    doc = parse(text)
    assert doc.nodes[0].args == ["a"]
    assert doc.text == text and doc.nodes[0].start == 1


def test_double_escape_at_end_of_line_is_not_a_continuation():
    doc = parse("FROM a\nRUN echo \\\\\nRUN b\n")
    assert [n.args for n in doc.nodes[1:]] == [["echo \\\\"], ["b"]]


def test_continuation_keeps_going_over_blank_and_comment_lines_and_eof():
    doc = parse("FROM a\nRUN a \\\n\n  # c\n  b \\\n")
    assert doc.nodes[1].args == ["a   b "[:-1]]
    assert doc.nodes[1].end_line == 5


def test_flags_words():
    assert extract_flags('--a=1 --b="x y" -- --c rest') == (" --c rest", ["--a=1", "--b=x y"])
    assert extract_flags("--a rest") == ("rest", ["--a"])
    assert extract_flags("--a=1") == ("", ["--a=1"])
    assert extract_flags("-x") == ("-x", [])


def test_parse_words_keeps_quotes():
    assert parse_words("a=\"b c\" d='e f' g\\ h") == ['a="b c"', "d='e f'", "g\\ h"]


def test_go_quote():
    assert go_quote('a"b\\c') == '"a\\"b\\\\c"'
    assert go_quote("\x00\t\u00a0é\U0001f600") == '"\\x00\\t\\u00a0é\U0001f600"'
    assert go_quote("\udcff") == '"\\xff"'


def test_error_is_located_and_one_line():
    with pytest.raises(ParseError) as info:
        parse("FROM a\nRUN ok\n\nCOPY \\\n  onlyone\n", "app/Containerfile")
    err = info.value
    assert (err.path, err.line) == ("app/Containerfile", 4)
    assert str(err).startswith("app/Containerfile:4: " + messages.no_destination("COPY"))


def test_strict_false_accepts_what_buildkit_parser_accepts():
    doc = parse("FROM a\nCOPY --user=me a b\nFOO\n", strict=False)
    assert [n.keyword for n in doc.nodes] == ["from", "copy", "foo"]
    with pytest.raises(ParseError, match=re.escape(messages.unknown_flag_for("--user", "COPY"))):
        parse("FROM a\nCOPY --user=me a b\n")


# ------------------------------------------------------------------------------------- dockerfile-parse diff


def _simple(text: str) -> bool:
    """Files dockerfile-parse reads right: none of its measured gaps (see the parser docstring)."""
    lines = text.split("\n")
    if "<<" in text or "\r" in text or "`" in text or text.startswith("\ufeff"):
        return False
    for i, line in enumerate(lines):
        if line.rstrip().endswith("\\"):
            if line.rstrip().endswith("\\\\") or i + 1 >= len(lines) or not lines[i + 1].strip():
                return False
            if lines[i + 1].lstrip().startswith("#"):
                return False
    return True


def _all_files() -> list[Path]:
    files = [FIXTURES / "parse" / c / "Containerfile" for c in _cases("parse")]
    conformance = ROOT.parent / "shared" / "conformance" / "buildkit" / "parser" / "testfiles"
    if conformance.is_dir():
        files += sorted(conformance.glob("*/Dockerfile"))
    return files


SIMPLE = [p for p in _all_files() if _simple(_read(p))]


def test_differential_has_cases():
    assert len(SIMPLE) >= 20


@pytest.mark.parametrize("path", SIMPLE, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_agrees_with_dockerfile_parse_on_simple_files(path):
    """Where dockerfile-parse has no known gap, both parsers see the same instructions, lines and text."""
    from dockerfile_parse import DockerfileParser

    text = _read(path)
    theirs = [
        s
        for s in DockerfileParser(fileobj=io.BytesIO(path.read_bytes())).structure
        if s["instruction"] != "COMMENT"
    ]
    ours = parse(text, strict=False)
    assert [(s["instruction"], s["startline"] + 1, s["endline"] + 1) for s in theirs] == [
        (n.original.upper(), n.start_line, n.end_line) for n in ours.nodes
    ]
    for s, node in zip(theirs, ours.nodes, strict=True):
        assert s["content"] == ours.source_of(node)


def test_bad_heredoc_word_as_copy_destination_is_not_a_crash():
    """Found by fuzzing: BuildKit reads an unparsable heredoc-looking destination as a plain path."""
    parse("FROM a\nCOPY x <<'E'\udcff${\n")
    parse('FROM a\nCOPY x 3<<$"\n')


def test_empty_continuation_lines_are_warnings():
    doc = parse("FROM a\nRUN a \\\n\n  b\nRUN c \\\n# only a comment\n  d\n")
    assert doc.warnings == [(2, messages.empty_continuation("RUN a   b"))]


def test_line_longer_than_buildkit_buffer_is_rejected():
    longest = "FROM a\nLABEL x=" + "a" * (65535 - len("LABEL x=")) + "\n"
    parse(longest)
    with pytest.raises(ParseError, match=re.escape("Containerfile:2: " + messages.line_too_long(65535))):
        parse(longest.replace("x=", "x=a"))


def test_line_numbers_over_comments_blanks_and_continuations():
    text = "# c\n\n\nFROM a\n\n# x\n\nRUN a \\\n  b\n\n\n# y\nRUN c \\\n\n# z\n  d \\\n  \\\n  e\n"
    assert [(n.start_line, n.end_line) for n in parse(text).nodes] == [(4, 4), (8, 9), (13, 18)]


def test_chomp_strips_tabs_after_newlines_only():
    doc = parse("FROM a\nRUN <<-EOF\n\ta\r\tb\n\t\tc\x85\td\n\tEOF\n")
    assert doc.nodes[1].heredocs[0].content == "a\r\tb\nc\x85\td\n"


def test_json_number_too_big_for_go_is_shell_form():
    doc = parse("FROM a\nCMD [1e999]\n")
    assert doc.nodes[1].args == ["[1e999]"] and not doc.nodes[1].json


def test_deep_onbuild_chain_does_not_recurse():
    text = "FROM a\n" + "ONBUILD " * 3000 + "RUN x\n"
    doc = parse(text, strict=False)
    assert dump(doc).endswith('(run "x")' + ")" * 3000 + "\n")
    with pytest.raises(ParseError, match=re.escape(messages.onbuild_chained())):
        parse(text)


def test_no_quadratic_regex_on_long_blank_runs():
    """Long runs of blanks in a directive, a heredoc word or a duration used to be regex-backtracking traps."""
    parse("# syntax=x" + " " * 60000 + "y\nFROM a\n")
    parse("FROM a\nRUN cat <<" + " " * 60000 + "<x\n")
    with pytest.raises(
        ParseError, match=re.escape(messages.invalid_flag_duration("1" * 60000, "--interval"))
    ):
        parse("FROM a\nHEALTHCHECK --interval=" + "1" * 60000 + " CMD true\n")


def test_directive_value_of_only_blanks_keeps_the_last_one():
    with pytest.raises(ParseError, match=re.escape(messages.invalid_escape(" "))):
        parse("# escape=  \nFROM a\n")


def test_deeply_nested_variables_in_a_heredoc_line_are_not_a_crash():
    # Unclosed ${ make BuildKit's lexer fail, so it sees no heredoc: EOF is an (unknown) instruction.
    doc = parse("FROM a\nRUN <<EOF " + "${a:-" * 3000 + "\nEOF\n", strict=False)
    assert [n.keyword for n in doc.nodes] == ["from", "run", "eof"]


def test_heredoc_edge_bodies():
    text = (
        "FROM a\n"
        "RUN <<NOTHING\nNOTHING\n"  # empty body
        "RUN 3<<FD cat /dev/fd/3\nx\nFD\n"
        "RUN <<-'TABS'\n\t$keep\n\t\tTABS\n"  # <<- terminator may be tab-indented
        "COPY <<X <<Y /dest\nY\nX\nX\nY\n"  # terminators looked for in order
        "RUN <<a.txt\nfile-like name\na.txt\n"
    )
    heredocs = [n.heredocs for n in parse(text).nodes[1:]]
    assert heredocs == [
        [Heredoc("NOTHING", "", raw="")],
        [Heredoc("FD", "x\n", raw="x\n", fd=3)],
        [Heredoc("TABS", "$keep\n", expand=False, chomp=True, raw="\t$keep\n")],
        [Heredoc("X", "Y\n", raw="Y\n"), Heredoc("Y", "X\n", raw="X\n")],
        [Heredoc("a.txt", "file-like name\n", raw="file-like name\n")],
    ]
