"""Golden tests for ``optimize``: ``fixtures/optimize/<manager>/<case>.txt`` hold the input, a line
``# output``, then the expected result (black style); a file without ``# output`` must come out unchanged.

Beyond the exact text, every case checks the invariants the reviewer will check on real files: the output
parses, has the same instruction sequence, only RUN instructions changed, and optimising again changes
nothing (idempotence).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shlax_front.optimizer import optimize, value_map
from shlax_front.parser import parse

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((ROOT / "fixtures" / "optimize").glob("*/*.txt"))
MARK = "# output\n"


def read_case(path: Path) -> tuple[str, str]:
    text = path.read_text()
    if MARK in text:
        source, expected = text.split(MARK, 1)
        return source, expected
    return text, text


def test_every_manager_has_a_fixture_folder():
    from shlax_front.managers import MODULES

    folders = {p.name for p in (ROOT / "fixtures" / "optimize").iterdir() if p.is_dir()}
    assert set(MODULES) <= folders


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_golden(path: Path):
    source, expected = read_case(path)
    result = optimize(source, str(path))
    assert result.text == expected


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_output_keeps_instruction_sequence_and_only_runs_change(path: Path):
    source, _ = read_case(path)
    result = optimize(source, str(path))
    before = parse(source)
    after = parse(result.text)
    assert [n.keyword for n in before.nodes] == [n.keyword for n in after.nodes]
    for old, new in zip(before.nodes, after.nodes, strict=True):
        if old.keyword != "run":
            assert before.source_of(old) == after.source_of(new)
        if before.source_of(old) != after.source_of(new):
            assert any(f.startswith("--mount=type=cache") for f in new.flags)


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_idempotent(path: Path):
    source, _ = read_case(path)
    once = optimize(source, str(path)).text
    assert optimize(once, str(path)).text == once


def test_unchanged_file_is_identical_bytes():
    text = "FROM debian\r\n# c\r\nRUN echo hi \\\r\n  there\r\n"
    assert optimize(text).text == text


def test_crlf_file_keeps_crlf():
    text = (
        "FROM debian\r\nRUN apt-get update && apt-get install -y x \\\r\n && rm -rf /var/lib/apt/lists/*\r\n"
    )
    out = optimize(text).text
    assert out.count("\r\n") == out.count("\n")
    assert "rm -rf" not in out


def test_value_map_through_continuations_and_comments():
    src = "RUN a \\\n# comment\n   b \\\n\n  c\n"
    doc = parse("FROM x\n" + src)
    node = doc.nodes[1]
    mapping = value_map(doc.source_of(node), node.value)
    assert mapping is not None
    assert "".join(doc.source_of(node)[i] for i in mapping) == node.value


def test_syntax_directive_only_on_request():
    text = "FROM debian\nRUN apt-get install -y x\n"
    assert not optimize(text).text.startswith("# syntax")
    assert optimize(text, syntax=True).text.startswith("# syntax=docker/dockerfile:1\n")
    assert optimize("FROM debian\nRUN true\n", syntax=True).text == "FROM debian\nRUN true\n"


def test_heredoc_warning():
    text = "FROM debian\nRUN <<EOF\napt-get install -y x\nEOF\n"
    assert any("heredoc" in w for w in optimize(text).warnings)


def test_named_user_left_alone_with_reason():
    text = "FROM node\nUSER node\nRUN npm ci\n"
    result = optimize(text)
    assert result.text == text
    assert "node" in result.skipped[2]


# --- property: any mix of real-world RUN idioms optimises to a file with the same instruction sequence ----

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SNIPPETS = [
    "RUN apt-get update && apt-get install -y --no-install-recommends curl \\\n    && rm -rf /var/lib/apt/lists/*",
    "RUN apt-get install -y x && apt-get clean",
    "RUN apk add --no-cache --virtual .d gcc && apk del .d",
    "RUN yum install -y x && yum clean all",
    "RUN pip install --no-cache-dir -r r.txt",
    "RUN npm ci && npm cache clean --force",
    "RUN echo apt-get install x",
    "RUN if a; then apt-get install -y b; fi",
    "RUN set -eux; \\\n\tapt-get update; \\\n\tapt-get install -y a; \\\n\trm -rf /var/lib/apt/lists/*",
    "USER 1000",
    "USER app",
    "ENV PIP_NO_CACHE_DIR=1",
    "WORKDIR /app",
    "COPY . /app",
    "RUN <<EOF\napt-get update\napt-get install -y jq\nEOF",
    'RUN ["pip", "install", "x"]',
    "# a comment",
    "",
]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(SNIPPETS), min_size=1, max_size=8), st.sampled_from(["\n", "\r\n"]))
def test_property_sequence_kept_and_idempotent(lines, newline):
    text = newline.join(["FROM debian:bookworm", *lines]) + newline
    text = text.replace("\n", newline) if newline == "\r\n" else text
    text = text.replace("\r\r\n", "\r\n")
    out = optimize(text).text
    assert [n.keyword for n in parse(out).nodes] == [n.keyword for n in parse(text).nodes]
    assert optimize(out).text == out


def test_lower_heredocs_reproduces_the_script_exactly(tmp_path):
    import subprocess

    from shlax_front.optimizer import optimize_document

    body = "set -e\necho 'it'\\''s' \\\n  \"$HOME\" 100% \\\\n >/tmp/out\n\nexit 0\n"
    text = f"FROM busybox\nRUN <<EOF\n{body}EOF\nCOPY <<EOF /x\nhi\nEOF\n"
    result = optimize_document(parse(text), lower_heredocs=True)
    run = parse(result.text).nodes[1]
    assert run.heredocs == [] and run.value.startswith("eval ")
    printed = subprocess.run(
        ["sh", "-c", run.value.replace("eval ", "printf %s ", 1)], capture_output=True, text=True
    ).stdout
    assert printed == body.rstrip("\n")
    copy_line = parse(text).nodes[2].start_line
    assert [w for w in result.warnings if f":{copy_line}: uses heredocs" in w]  # COPY <<EOF remains, said so
