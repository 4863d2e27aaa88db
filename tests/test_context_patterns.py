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

from shlax_front.backend import gomatch
from shlax_front.backend.context import BuildContext, ContextError, IgnoreRules, ignore_regexp
from shlax_front.backend.goregexp import GoSyntaxError, Untranslated, compile_go

#: (pattern, path, excluded according to moby/patternmatcher)
MOBY_MATCHES = [
    ("**", "file", True),
    ("**", "file/", True),
    ("**/", "file", True),
    ("**/", "file/", True),
    ("**", "dir/file", True),
    ("**/", "dir/file", True),
    ("**", "dir/file/", True),
    ("**/", "dir/file/", True),
    ("**/**", "dir/file", True),
    ("**/**", "dir/file/", True),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/file/", True),
    ("dir/**", "dir/dir2/file", True),
    ("dir/**", "dir/dir2/file/", True),
    ("**/dir", "dir", True),
    ("**/dir", "dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/*", "dir/dir2/file/", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file/", True),
    ("**file", "file", True),
    ("**file", "dir/file", True),
    ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True),
    ("**/file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True),
    ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True),
    ("**/**/*.txt", "file.txt", True),
    ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True),
    ("a/*.txt**", "a/file.txt", True),
    ("a[b-d]e", "ae", False),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    (".*", ".foo", True),
    (".*", "foo", False),
    ("abc.def", "abcdef", False),
    ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False),
    ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False),
    ("a\\\\", "a\\", True),
    ("**/foo/bar", "foo/bar", True),
    ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True),
    ("abc/**", "abc", False),
    ("abc/**", "abc/def", True),
    ("abc/**", "abc/def/ghi", True),
    ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    (
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        True,
    ),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\*b", "a*b", True),
]

#: (patterns, path, excluded according to moby/patternmatcher)
MOBY_MULTI = [
    (("**", "!util/docker/web"), "util/docker/web/foo", False),
    (("**", "!util/docker/web", "util/docker/web/foo"), "util/docker/web/foo", True),
    (
        ("**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"),
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        False,
    ),
    (("**", "!dist/*.whl"), "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (("!fileutils.go", "*.go"), "fileutils.go", True),
    (("docs", "!docs/README.md"), "docs/README.md", False),
    (("docs/", "!docs/README.md"), "docs/README.md", False),
    (("docs/*", "!docs/README.md"), "docs/README.md", False),
    (("*.go", "!fileutils.go"), "fileutils.go", False),
    (("*",), "fileutils.go", True),
    (("*.go",), "fileutils.go", True),
]

#: where buildah 1.28 answers otherwise ("error": it refuses the ignore file), measured with buildah copy
BUILDAH_128 = {
    (("a(b)c/def",), "a(b)c/def"): False,  # a regexp group: matches "abc/def"
    (("a.|)$(}+{bc",), "a.|)$(}+{bc"): "error",  # unbalanced ) in the regexp
    (
        ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",),
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
    ): False,
    (
        ("**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"),
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
    ): True,
}

#: the issue's patterns and a few of buildah's own quirks: (patterns, path, excluded by buildah 1.28)
BUILDAH_CASES = [
    (("a+b.txt",), "a+b.txt", False),
    (("a+b.txt",), "ab.txt", True),
    (("a+b.txt",), "aab.txt", True),
    (("a(1).txt",), "a(1).txt", False),
    (("a(1).txt",), "a1.txt", True),
    (("a^b.txt",), "a^b.txt", False),  # ^ is the start of the text: never matches
    (("a{1}.txt",), "a{1}.txt", False),
    (("a{1}.txt",), "a.txt", True),
    (("f[!a].txt",), "f!.txt", True),  # ! is a literal in a class
    (("f[!a].txt",), "fa.txt", True),
    (("f[!a].txt",), "fb.txt", False),
    (("f[^a].txt",), "fb.txt", True),
    (("f[^a].txt",), "fa.txt", False),
    (("a|b.txt",), "xb.txt", True),  # Go finds a match anywhere: the branch "b.txt" matches
    (("a|b.txt",), "a|b.txt", True),
    (("x[[:digit:]]",), "x1", True),
    (("x\\d",), "x1", True),
    (("x\\d",), "xd", False),
    ((" /lead",), "lead", False),  # slashes are trimmed before spaces: "/lead" stays absolute
    (("/lead/",), "lead", True),
    (("!",), "x", "error"),
    (("a(b",), "a(b", "error"),
    (("x\\",), "x\\", "error"),
    (("d", "!d/keep"), "d/keep", False),
    (("d", "!d/keep"), "d/drop", True),
    (("#c",), "#c", False),  # a comment only in the first column
    ((" #c",), "#c", True),
]

#: Go's filepath.Match table as moby/patternmatcher carries it: (pattern, name, matches, malformed)
GO_MATCH = [
    ("abc", "abc", True, False),
    ("*", "abc", True, False),
    ("*c", "abc", True, False),
    ("a*", "a", True, False),
    ("a*", "abc", True, False),
    ("a*", "ab/c", False, False),
    ("a*/b", "abc/b", True, False),
    ("a*/b", "a/c/b", False, False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True, False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True, False),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False, False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False, False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True, False),
    ("a*b?c*x", "abxbbxdbxebxczzy", False, False),
    ("ab[c]", "abc", True, False),
    ("ab[b-d]", "abc", True, False),
    ("ab[e-g]", "abc", False, False),
    ("ab[^c]", "abc", False, False),
    ("ab[^b-d]", "abc", False, False),
    ("ab[^e-g]", "abc", True, False),
    ("a\\*b", "a*b", True, False),
    ("a\\*b", "ab", False, False),
    ("a?b", "a☺b", True, False),
    ("a[^a]b", "a☺b", True, False),
    ("a???b", "a☺b", False, False),
    ("a[^a][^a][^a]b", "a☺b", False, False),
    ("[a-ζ]*", "α", True, False),
    ("*[a-ζ]", "A", False, False),
    ("a?b", "a/b", False, False),
    ("a*b", "a/b", False, False),
    ("[\\]a]", "]", True, False),
    ("[\\-]", "-", True, False),
    ("[x\\-]", "x", True, False),
    ("[x\\-]", "-", True, False),
    ("[x\\-]", "z", False, False),
    ("[\\-x]", "x", True, False),
    ("[\\-x]", "-", True, False),
    ("[\\-x]", "a", False, False),
    ("[]a]", "]", False, True),
    ("[-]", "-", False, True),
    ("[x-]", "x", False, True),
    ("[x-]", "-", False, True),
    ("[x-]", "z", False, True),
    ("[-x]", "x", False, True),
    ("[-x]", "-", False, True),
    ("[-x]", "a", False, True),
    ("\\", "a", False, True),
    ("[a-b-c]", "a", False, True),
    ("[", "a", False, True),
    ("[^", "a", False, True),
    ("[^bc", "a", False, True),
    ("a[", "a", False, True),
    ("a[", "ab", False, True),
    ("a[", "x", False, True),
    ("a/b[", "x", False, True),
    ("*x", "xxx", True, False),
    # the COPY globs: a class negates with ^, ! is a literal
    ("f[!a].txt", "fa.txt", True, False),
    ("f[!a].txt", "f!.txt", True, False),
    ("f[!a].txt", "fb.txt", False, False),
    ("f[^a].txt", "fb.txt", True, False),
    ("f[^a].txt", "f^.txt", True, False),
    ("f[^a].txt", "fa.txt", False, False),
    ("*", ".hidden", True, False),
]


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
