"""Ignore-file patterns and COPY source globs as buildah 1.28 reads them (units; no buildah needed).

The rows are moby/patternmatcher's own test table (``TestMatches`` and Go's ``filepath.Match`` table it
carries), written as data. buildah 1.28 does not use moby/patternmatcher: its matcher (containers/storage
1.43) turns a line into a Go regexp escaping only ``.`` and ``$``, so ``+ ( ) { } | ^`` are regexp syntax
there; the rows where that gives another answer say so in ``BUILDAH_128``. Every row with a path that can
exist on disk was checked against ``buildah copy --ignorefile`` (``test_build_context_soundness.py`` does
it again for the rows that differ from moby and for the issue's cases).
"""

from __future__ import annotations

import os

import pytest
from pattern_cases import BUILDAH_128, BUILDAH_CASES, GO_MATCH, MOBY_MATCHES, MOBY_MULTI

from shlax_front.backend import gomatch
from shlax_front.backend.context import BuildContext, ContextError, IgnoreRules, ignore_regexp
from shlax_front.backend.goregexp import GoSyntaxError, Untranslated, compile_go


def buildah_128_answer(patterns: tuple[str, ...], path: str, moby: bool):
    return BUILDAH_128.get((patterns, path), moby)


def _excluded(patterns: tuple[str, ...], path: str):
    rules = IgnoreRules.parse("\n".join(patterns) + "\n")
    try:
        return rules.ignored(path)
    except ContextError:
        return "error"


@pytest.mark.parametrize(("pattern", "path", "moby"), MOBY_MATCHES)
def test_moby_table_as_buildah_reads_it(pattern, path, moby):
    assert _excluded((pattern,), path.rstrip("/")) == buildah_128_answer((pattern,), path, moby)


@pytest.mark.parametrize(("patterns", "path", "moby"), MOBY_MULTI)
def test_moby_table_several_patterns(patterns, path, moby):
    assert _excluded(patterns, path) == buildah_128_answer(patterns, path, moby)


@pytest.mark.parametrize(("patterns", "path", "excluded"), BUILDAH_CASES)
def test_buildah_regexp_leaks(patterns, path, excluded):
    assert _excluded(patterns, path) == excluded


@pytest.mark.parametrize(("pattern", "name", "matches", "malformed"), GO_MATCH)
def test_go_filepath_match(pattern, name, matches, malformed):
    if malformed:
        with pytest.raises(gomatch.BadPattern):
            gomatch.match(pattern, name)
    else:
        assert gomatch.match(pattern, name) is matches


def test_ignore_regexp_is_containers_storage_one():
    assert ignore_regexp("**/dir2/*") == "^(.*/)?dir2/[^/]*(/.*)?$"
    assert ignore_regexp("a.b$c+d") == "^a\\.b\\$c+d(/.*)?$"
    assert ignore_regexp("dir/**") == "^dir/.*(/.*)?$"
    with pytest.raises(gomatch.BadPattern):
        ignore_regexp("x\\")


@pytest.mark.parametrize(
    ("expr", "text", "found"),
    [
        ("^a+b$", "aab", True),
        ("^a{,2}$", "a{,2}", True),  # not a repeat in Go: literal
        ("^x\\s$", "x\v", False),  # Go's \s has no vertical tab
        ("^x\\d$", "x٣", False),  # ASCII digits only
        ("^a$", "a\n", False),  # $ is the end of the text
        ("^[[:upper:]]+$", "AB", True),
        ("^[\\d_]$", "_", True),
        ("^(?i:ab)$", "AB", True),
        ("^(?P<n>x)$", "x", True),
        ("^\\Qa.b\\E$", "a.b", True),
        ("^\\x41$", "A", True),
        ("^\\101$", "A", True),
    ],
)
def test_go_regexp_translation(expr, text, found):
    assert bool(compile_go(expr).search(text)) is found


@pytest.mark.parametrize(
    "expr", ["a(b", "a)b", "*a", "a**", "a++", "[a", "a\\1", "a\\k", "[z-a]", "a{1001}", "(?=a)"]
)
def test_go_regexp_errors(expr):
    with pytest.raises(GoSyntaxError):
        compile_go(expr)


@pytest.mark.parametrize("expr", ["\\pL", "(?U)a*", "a(?i)b", "[[:^digit:]]"])
def test_untranslated_go_regexp_is_said(expr):
    with pytest.raises(Untranslated):
        compile_go(expr)


def test_unsure_pattern_keeps_everything_in_the_key():
    rules = IgnoreRules.parse("*.log\n\\pL*\n")
    assert not rules.ignored("a.log")


def test_containerfile_dockerignore_wins_over_containerignore(tmp_path):
    (tmp_path / "Containerfile").write_text("FROM busybox\n")
    (tmp_path / "Containerfile.containerignore").write_text("a\n")
    (tmp_path / "Containerfile.dockerignore").write_text("b\n")
    (tmp_path / ".containerignore").write_text("c\n")
    (tmp_path / ".dockerignore").write_text("d\n")
    context = BuildContext(str(tmp_path), str(tmp_path / "Containerfile"))
    assert context.ignore_file == str(tmp_path / "Containerfile.dockerignore")
    os.unlink(tmp_path / "Containerfile.dockerignore")
    os.unlink(tmp_path / "Containerfile.containerignore")
    assert BuildContext(str(tmp_path), str(tmp_path / "Containerfile")).ignore_file == str(
        tmp_path / ".containerignore"
    )


def test_an_ignorefile_given_is_read_instead_of_every_other(tmp_path):
    """``--ignorefile``: bud reads that file alone (``ContainerIgnoreFile`` with a path), whatever the context and
    the Containerfile have beside them."""
    (tmp_path / "Containerfile").write_text("FROM busybox\n")
    (tmp_path / "Containerfile.dockerignore").write_text("b\n")
    (tmp_path / ".dockerignore").write_text("d\n")
    (tmp_path / "ci.ignore").write_text("c\n")
    for name in "bcd":
        (tmp_path / name).write_text(name)
    given = str(tmp_path / "ci.ignore")
    context = BuildContext(str(tmp_path), str(tmp_path / "Containerfile"), ignorefile=given)
    assert context.ignore_file == given and given in context.visited
    assert context.expand("?") == ["b", "d"]


def test_copy_glob_is_go_glob(tmp_path):
    for name in ("fa.txt", "f!.txt", "fb.txt", "f^.txt", ".fz.txt"):
        (tmp_path / name).write_text(name)
    context = BuildContext(str(tmp_path))
    assert context.expand("f[!a].txt") == ["f!.txt", "fa.txt"]
    assert context.expand("f[^a].txt") == ["f!.txt", "f^.txt", "fb.txt"]
    assert context.expand("*z.txt") == [".fz.txt"]
    with pytest.raises(ContextError):
        context.expand("f[.txt")


def test_named_symlink_is_keyed_by_its_target(tmp_path):
    (tmp_path / "real.txt").write_text("1")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "in.txt").write_text("1")
    os.symlink("real.txt", tmp_path / "link.txt")
    os.symlink("/dir", tmp_path / "dlink")  # absolute: inside the context, as buildah's chroot sees it
    before = BuildContext(str(tmp_path)).digest(("link.txt", "dlink"))
    (tmp_path / "real.txt").write_text("2")
    after_file = BuildContext(str(tmp_path)).digest(("link.txt", "dlink"))
    (tmp_path / "dir" / "in.txt").write_text("2")
    after_dir = BuildContext(str(tmp_path)).digest(("link.txt", "dlink"))
    assert len({before, after_file, after_dir}) == 3
    assert BuildContext(str(tmp_path)).resolve("dlink/in.txt") == "dir/in.txt"


def test_symlink_inside_a_copied_directory_stays_a_link(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "real.txt").write_text("1")
    os.symlink("../real.txt", tmp_path / "d" / "link")
    before = BuildContext(str(tmp_path)).digest(("d",))
    (tmp_path / "real.txt").write_text("2")
    assert BuildContext(str(tmp_path)).digest(("d",)) == before


def test_hard_links_and_xattrs_are_keyed(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_text("same")
    (tmp_path / "d" / "b").write_text("same")
    separate = BuildContext(str(tmp_path)).digest(("d",))
    os.unlink(tmp_path / "d" / "b")
    os.link(tmp_path / "d" / "a", tmp_path / "d" / "b")
    linked = BuildContext(str(tmp_path)).digest(("d",))
    assert linked != separate
    os.setxattr(tmp_path / "d" / "a", "user.note", b"x")
    assert BuildContext(str(tmp_path)).digest(("d",)) != linked
    os.setxattr(tmp_path / "d" / "a", "trusted.other", b"x")  # buildah drops other namespaces
    with_note = BuildContext(str(tmp_path)).manifest(("d",))
    os.removexattr(tmp_path / "d" / "a", "trusted.other")
    assert BuildContext(str(tmp_path)).manifest(("d",)) == with_note


def test_bind_mount_key_covers_ignored_files(tmp_path):
    (tmp_path / ".dockerignore").write_text("secret.txt\n")
    (tmp_path / "secret.txt").write_text("1")
    before = BuildContext(str(tmp_path)).mounted_digest((".",))
    assert BuildContext(str(tmp_path)).digest((".",)) == BuildContext(str(tmp_path)).digest((".",))
    copied = BuildContext(str(tmp_path)).digest((".",))
    (tmp_path / "secret.txt").write_text("2")
    assert BuildContext(str(tmp_path)).mounted_digest((".",)) != before
    assert BuildContext(str(tmp_path)).digest((".",)) == copied


def test_non_utf8_file_name_is_keyed(tmp_path):
    with open(os.path.join(os.fsencode(tmp_path), b"bad\xff.txt"), "wb") as f:
        f.write(b"1")
    manifest = BuildContext(str(tmp_path)).manifest((".",))
    assert "bad\ufffd.txt" in manifest
