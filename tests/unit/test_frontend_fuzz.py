"""Front-end fuzzing: mutated fixture Containerfiles never make parse, optimize, explain or migrate raise
anything but a one-line user error, and whatever parses is emitted back byte for byte.

The mutations are the ones that found real tracebacks (a line holding only the escape character, flags,
quotes, heredoc markers, a directive, stray bytes, deleted spans, duplicated lines). A fixed seed keeps CI
deterministic; ``SHLAX_FUZZ_SEED`` and ``SHLAX_FUZZ_RUNS`` (``make soak``-style) run other or more cases.
"""

from __future__ import annotations

import os
import random
import traceback
from pathlib import Path

import pytest

import shlax_front
from shlax_front.emit.containerfile import emit
from shlax_front.errors import ShlaxError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SEED = int(os.environ.get("SHLAX_FUZZ_SEED", "13"))
RUNS = int(os.environ.get("SHLAX_FUZZ_RUNS", "400"))
VERBS = ("parse", "optimize", "explain", "migrate")
PIECES = (
    "\\", "\\\n", "\n", " ", "\t", "#", '"', "'", "$", "${", "}", "<<EOF\n", "EOF\n", "--mount=type=cache,target=/x ",
    "RUN ", "FROM ", "ARG ", "&&", ";", "|", "(", ")", "`", "\r\n", "\x00", "é", "=", "[", "]", ",", "--",
    "apt-get install -y x", "pip install a", "npm ci", "# escape=`\n", "# syntax=x\n",
)  # fmt: skip


def _seeds() -> list[str]:
    texts = []
    for path in sorted(FIXTURES.rglob("*")):
        if path.is_file() and path.name.startswith(("Containerfile", "Dockerfile")):
            try:
                texts.append(path.read_text(encoding="utf-8"))
            except UnicodeDecodeError:
                continue
    return texts


def _mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 4)):
        op, at = rng.randrange(5), rng.randrange(len(text) + 1)
        lines = text.split("\n")
        if op == 0:
            text = text[:at] + rng.choice(PIECES) + text[at:]
        elif op == 1:
            text = text[:at] + text[at + rng.randint(1, 20) :]
        elif op == 2:
            lines.insert(rng.randrange(len(lines)), rng.choice(lines))
            text = "\n".join(lines)
        elif op == 3:  # a line holding only the escape character
            lines.insert(rng.randrange(len(lines)), "\\")
            text = "\n".join(lines)
        else:
            text = text[:at] + chr(rng.randrange(32, 127)) + text[at:]
    return text


def test_mutated_containerfiles_give_user_errors_never_tracebacks():
    seeds = _seeds()
    assert len(seeds) > 50, "the fixtures are the fuzzer's seeds"
    rng = random.Random(SEED)
    failures: dict[tuple, str] = {}
    parsed = 0
    for _ in range(RUNS):
        text = _mutate(rng, rng.choice(seeds))
        for verb in VERBS:
            try:
                result = getattr(shlax_front, verb)(text, "Containerfile")
            except ShlaxError:
                continue
            except Exception as err:  # the bug this test exists to find
                where = traceback.extract_tb(err.__traceback__)[-1]
                failures.setdefault((verb, type(err).__name__, where.filename, where.lineno), text)
                continue
            if verb == "parse":
                parsed += 1
                if emit(result) != text:
                    failures.setdefault((verb, "identity"), text)
    assert parsed > RUNS // 10, "most mutations must still parse, or the fuzzer tests only the error paths"
    assert not failures, "\n".join(f"{key}: {text!r}" for key, text in failures.items())


@pytest.mark.parametrize("verb", VERBS)
def test_the_escape_line_before_an_install_is_a_case_the_fuzzer_makes(verb):
    """The mutation that found ``RUN without a body``: kept as a plain case too."""
    text = "FROM debian:bookworm\n\\\nRUN apt-get update && apt-get install -y curl\n"
    getattr(shlax_front, verb)(text, "Containerfile")
