"""BuildKit's own shell-lexer test vectors (``shell/envVarTest``, ``shell/wordsTest``), read from the shared folder.

The data lives beside the project (``../shared/conformance/buildkit/shell``); it is never copied in. If it is
missing the test fails: a conformance suite that silently does not run proves nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shlax_front.expand import ExpansionError, process_word, process_words

ROOT = Path(__file__).resolve().parents[2]
SHELL_DATA = ROOT.parent / "shared" / "conformance" / "buildkit" / "shell"

# The environment BuildKit's Go test uses for envVarTest (``$pwd`` stays unset: Unix is case-sensitive).
ENV_VAR_TEST_ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


def _data(name: str) -> Path:
    path = SHELL_DATA / name
    if not path.is_file():
        pytest.fail(f"conformance data missing: {path} (it must sit beside the project root)")
    return path


def env_var_cases() -> list[tuple[int, str, str]]:
    """(line number, input, expected) for every row that applies on Unix (platform A or U)."""
    cases = []
    for number, line in enumerate(_data("envVarTest").read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        platform, source, expected = (field.strip() for field in line.split("|", 2))
        if platform in ("A", "U"):
            cases.append((number, source, expected))
    return cases


def words_cases() -> list[tuple[int, dict[str, str], str, list[str]]]:
    """(line number, env, input, expected words) for every row; ``ENV k=v`` rows set the env for later rows."""
    cases = []
    env: dict[str, str] = {}
    for number, line in enumerate(_data("wordsTest").read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("ENV "):
            name, _, value = line[3:].lstrip(" ").partition("=")
            env[name] = value
            continue
        source, expected = line.split("|", 1)
        cases.append((number, dict(env), source.strip(), expected.lstrip(" ").split(",")))
    return cases


def test_conformance_data_is_complete() -> None:
    # Guards against a truncated copy making the parametrised tests vacuous.
    assert len(env_var_cases()) >= 200
    assert len(words_cases()) >= 20


@pytest.mark.parametrize(
    ("number", "source", "expected"), env_var_cases(), ids=lambda v: str(v) if isinstance(v, int) else ""
)
def test_env_var(number: int, source: str, expected: str) -> None:
    if expected == "error":
        with pytest.raises(ExpansionError):
            process_word(source, ENV_VAR_TEST_ENV)
    else:
        assert process_word(source, ENV_VAR_TEST_ENV) == expected, f"envVarTest line {number}"


@pytest.mark.parametrize(
    ("number", "env", "source", "expected"), words_cases(), ids=lambda v: str(v) if isinstance(v, int) else ""
)
def test_words(number: int, env: dict[str, str], source: str, expected: list[str]) -> None:
    if expected == ["error"]:
        with pytest.raises(ExpansionError):
            process_words(source, env)
    else:
        assert process_words(source, env) == expected, f"wordsTest line {number}"
