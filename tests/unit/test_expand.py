"""Unit tests of BuildKit-style expansion beyond the conformance vectors: patterns, replacement, word
splitting, the backtick escape, the names a word uses, and the error messages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shlax_front.expand import (
    BAD_SUBSTITUTION,
    MISSING_BRACE,
    ExpansionError,
    expand,
    expansion_error_message,
    invalid_pattern,
    not_allowed,
    process_word,
    process_words,
    unsupported_modifier,
)

ENV = {"v": "foo/bar/baz.tar.gz", "s": "a b  c", "e": "", "star": "a*b"}


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("${v#*/}", "bar/baz.tar.gz"),
        ("${v##*/}", "baz.tar.gz"),
        ("${v%.*}", "foo/bar/baz.tar"),
        ("${v%%.*}", "foo/bar/baz"),
        ("${v#nomatch}", "foo/bar/baz.tar.gz"),
        ("${v%?z}", "foo/bar/baz.tar."),
        ("${star#a\\*}", "b"),  # an escaped star is literal
        ("${v/a/X}", "foo/bXr/baz.tar.gz"),
        ("${v//a/X}", "foo/bXr/bXz.tXr.gz"),
        ("${v//\\//_}", "foo_bar_baz.tar.gz"),  # \/ is a slash inside the pattern
        ("${v//*/X}", "X"),  # greedy, and no extra empty match at the end (Go semantics)
        ("${v/b*z/Q}", "foo/Q"),
        ("${unset//a/b}", ""),
        ("${v/.gz/$s}", "foo/bar/baz.tara b  c"),
        ("${e:-x}|${e-x}", "x|"),
        ("${e:+x}|${e+x}", "|x"),
        ('${v:-"a b"}', "foo/bar/baz.tar.gz"),
        ('${nope:-"a b"}', "a b"),
        ("${e?}", ""),
        ("\\$v", "$v"),
        ("'$v'", "$v"),
        ('"$v"', "foo/bar/baz.tar.gz"),
    ],
)
def test_process_word(word: str, expected: str) -> None:
    assert process_word(word, ENV) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("$s", ["a", "b", "c"]),
        ('"$s"', ["a b  c"]),
        ("x$s'y z'", ["xa", "b", "cy z"]),
        ('""', []),
        ("a\\ b c", ["a b", "c"]),
        ("  lead   trail  ", ["lead", "trail"]),
    ],
)
def test_process_words(word: str, expected: list[str]) -> None:
    assert process_words(word, ENV) == expected


def test_backtick_escape() -> None:
    # With `# escape=``, the backtick escapes and the backslash is an ordinary character (Windows paths).
    assert process_word("c:\\dir`$v", ENV, escape="`") == "c:\\dir$v"
    assert process_word('"a`"b"', ENV, escape="`") == 'a"b'
    assert process_word("x``", ENV, escape="`") == "x`"
    assert process_word("\\$v", ENV, escape="`") == "\\foo/bar/baz.tar.gz"


def test_used_and_unset_names() -> None:
    result = expand("$v ${missing:-$s} '$quoted' \\$escaped", ENV)
    assert result.used == {"v", "s"}
    assert result.unset == {"missing"}
    assert result.words == ("foo/bar/baz.tar.gz", "a", "b", "c", "$quoted", "$escaped")


@pytest.mark.parametrize(
    ("word", "reason"),
    [
        ("${}", BAD_SUBSTITUTION),
        ("${v", unsupported_modifier("\ufffd")),
        ("${v:-x", MISSING_BRACE),
        ("${v:=x}", unsupported_modifier(":=")),
        ("${e:?must be set}", not_allowed("e", "must be set")),
        ("${nope?}", not_allowed("nope", "is not allowed to be unset")),
        ("${e:?}", not_allowed("e", "is not allowed to be empty")),
        ("${v#a\\b}", invalid_pattern("a\\b", "invalid escape '\\b'")),
        # ":" before "#"/"%" means nothing in sh; BuildKit rejects it before reading the pattern (no "}" needed).
        ("${v:%.*}", unsupported_modifier(":%")),
        ("${v:#}", unsupported_modifier(":#")),
        ("${v:#*/", unsupported_modifier(":#")),
        # Any other character after ":" is read up to "}" first, then rejected.
        ("${v:x}", unsupported_modifier(":x")),
        ("${v:x", MISSING_BRACE),
    ],
)
def test_errors(word: str, reason: str) -> None:
    with pytest.raises(ExpansionError) as caught:
        process_word(word, ENV)
    assert caught.value.reason == reason
    assert str(caught.value) == expansion_error_message(word, reason)


def test_parser_switches() -> None:
    # What BuildKit's parser uses to recognise heredoc words: quotes kept, unset variables left as written.
    assert expand("<<\"EOF\" x'y'", {}, raw_quotes=True).words == ('<<"EOF"', "x'y'")
    assert process_word("$a ${b} ${c:-d} ${e/f/g}", {}) == "  d "
    assert expand("$a ${b} ${c:-d} ${e/f/g}", {}, skip_unset=True).value == "$a ${b} ${c:-d} ${e/f/g}"
    assert expand("a\\ b", {}, raw_escapes=True).words == ("a\\ b",)


def test_heredoc_operator_keeps_its_blanks() -> None:
    # BuildKit's lexer reads "<<" with the blanks (space, tab, CR) after it as one piece of a word: that is how
    # "RUN << EOF" names heredoc EOF. Only word splitting sees it; the expanded text is unchanged.
    assert process_words("cat << EOF", {}) == ["cat", "<< EOF"]
    assert process_words("a <<\t\r x <y", {}) == ["a", "<<\t\r x", "<y"]
    assert process_words("a < b <<", {}) == ["a", "<", "b", "<<"]
    assert process_words('"<< x" <<\n y', {}) == ["<< x", "<<", "y"]  # not in quotes; a newline is no blank
    assert process_word("cat << EOF", {}) == "cat << EOF"
    assert expand("<< $v", ENV).words == ("<< foo/bar/baz.tar.gz",)


def test_unsupported_modifier_on_unset_variable_is_kept_when_skipping_unset() -> None:
    # BuildKit reads the word of "${v:x...}" and returns the reference as written when v is unset and unset
    # references are kept (its parser's heredoc detection), before it would reject the modifier.
    assert expand("${nope:xy}", {}, skip_unset=True).value == "${nope:xy}"
    with pytest.raises(ExpansionError):
        expand("${v:xy}", ENV, skip_unset=True)


def test_skip_quotes_for_heredoc_bodies() -> None:
    assert process_word("echo '$v' \"$e\"\n", ENV, skip_quotes=True) == "echo 'foo/bar/baz.tar.gz' \"\"\n"


def test_required_variable_is_named() -> None:
    with pytest.raises(ExpansionError) as caught:
        process_word("${e:?}", ENV)
    assert caught.value.variable == "e"
    with pytest.raises(ExpansionError) as caught:
        process_word("${}", ENV)
    assert caught.value.variable is None


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab $\\{}:-+?#%/*'\"`\t\n19@é", max_size=24), st.sampled_from(["\\", "`"]))
def test_expansion_fails_only_with_expansion_error(word: str, escape: str) -> None:
    try:
        result = expand(word, ENV, escape)
    except ExpansionError as err:
        assert err.word == word
        return
    assert result.used <= set(ENV) and not (result.used & result.unset)
    if not any(ch in word for ch in ("$", "'", '"', escape)):
        # Nothing to expand: the text comes back as is, split on white space.
        assert result.value == word
        assert result.words == tuple(word.split())
