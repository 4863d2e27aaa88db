"""The context side of the layer key, against real buildah: after a change, the rebuild equals bud's image.

Each test builds with shlax-front (filling a private cache), changes the context, builds again, and compares
that image with ``buildah bud --no-cache`` of the changed context: file trees, configs, and the two things
``file_tree`` does not show, hard links (link counts) and the xattrs buildah keeps. A key that misses the
change reuses the old layer and the comparison fails.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

from buildah_tools import bud, diff_trees, file_tree, forget_layers, image_config, mounted_image, shlax
from pattern_cases import BUILDAH_128, BUILDAH_CASES
from test_build_equivalence import VOLATILE

from shlax_front.backend.context import ContextError, IgnoreRules

BUSYBOX = "docker.io/library/busybox:latest"


def _links_and_xattrs(ref: str, below: tuple[str, ...]) -> dict[str, tuple]:
    """path -> (link count, xattrs) of the regular files under ``below`` in the image."""
    out = {}
    with mounted_image(ref) as root:
        for top in below:
            for dirpath, _, filenames in os.walk(os.path.join(root, top.lstrip("/"))):
                for name in filenames:
                    path = os.path.join(dirpath, name)
                    st = os.lstat(path)
                    if not stat.S_ISREG(st.st_mode):
                        continue
                    attrs = sorted((a, os.getxattr(path, a)) for a in os.listxattr(path))
                    out["/" + os.path.relpath(path, root)] = (st.st_nlink, attrs)
    return out


def _same_as_bud(context: Path, ours: str, cleanup, below: tuple[str, ...] = ()) -> dict:
    theirs = cleanup.tag("bud-ctx")
    bud(context / "Containerfile", context, theirs, "--no-cache", cleanup=cleanup)
    assert image_config(ours) == image_config(theirs)
    ours_tree = {k: v for k, v in file_tree(ours).items() if k not in VOLATILE}
    theirs_tree = {k: v for k, v in file_tree(theirs).items() if k not in VOLATILE}
    assert diff_trees(ours_tree, theirs_tree) == []
    if below:
        assert _links_and_xattrs(ours, below) == _links_and_xattrs(theirs, below)
    return ours_tree


def _rebuilt_like_bud(
    context: Path, cache: Path, cleanup, change: Callable[[], None], below: tuple[str, ...] = ()
) -> dict:
    """Build, ``change()``, rebuild with the same cache: the rebuild must be bud's image of the new input."""
    try:
        shlax("build", str(context), cache_dir=cache)
        change()
        ours = cleanup.tag("shlax-ctx")
        shlax("build", "-t", ours, str(context), cache_dir=cache)
        return _same_as_bud(context, ours, cleanup, below)
    finally:
        forget_layers(cache)


def _containerfile(context: Path, text: str) -> None:
    context.mkdir(parents=True, exist_ok=True)
    (context / "Containerfile").write_text(textwrap.dedent(text))


def test_named_symlinks_are_keyed_by_what_buildah_copies(base_images, buildah_cleanup, tmp_path):
    """A named source that is a symlink (to a file, to a directory) is copied as its target's content; a
    symlink inside a copied directory stays a link; a bind mount of a symlink shows the target."""
    ctx = tmp_path / "ctx"
    _containerfile(
        ctx,
        """\
        FROM busybox
        COPY link.txt /ctx/
        COPY dlink /dl/
        COPY d /d/
        RUN --mount=type=bind,source=link.txt,target=/m cat /m > /bound.txt
        RUN --mount=type=bind,source=dlink,target=/m cat /m/in.txt > /bound-dir.txt
        """,
    )
    (ctx / "real.txt").write_text("one\n")
    (ctx / "realdir").mkdir()
    (ctx / "realdir" / "in.txt").write_text("one\n")
    (ctx / "d").mkdir()
    os.symlink("real.txt", ctx / "link.txt")
    os.symlink("realdir", ctx / "dlink")
    os.symlink("../real.txt", ctx / "d" / "inner-link")

    def change():
        (ctx / "real.txt").write_text("two\n")
        (ctx / "realdir" / "in.txt").write_text("two\n")

    tree = _rebuilt_like_bud(ctx, tmp_path / "cache", buildah_cleanup, change)
    assert tree["/d/inner-link"][-1] == "../real.txt"
    assert tree["/ctx/link.txt"][0] == stat.S_IFREG


def test_bind_mount_of_the_context_covers_ignored_files(base_images, buildah_cleanup, tmp_path):
    """buildah mounts the real directory: a file .dockerignore leaves out of COPY is still seen by the RUN."""
    ctx = tmp_path / "ctx"
    _containerfile(
        ctx,
        """\
        FROM busybox
        COPY . /copied/
        RUN --mount=type=bind,target=/m cat /m/notes.txt > /seen.txt
        """,
    )
    (ctx / ".dockerignore").write_text("notes.txt\n")
    (ctx / "notes.txt").write_text("one\n")
    tree = _rebuilt_like_bud(
        ctx, tmp_path / "cache", buildah_cleanup, lambda: (ctx / "notes.txt").write_text("two\n")
    )
    assert "/copied/notes.txt" not in tree


def test_ignore_patterns_are_read_as_buildah_reads_them(base_images, buildah_cleanup, tmp_path):
    """Each line is a Go regexp in buildah 1.28: ``a+b.txt`` leaves out ``ab.txt`` and copies ``a+b.txt``,
    ``f[!a].txt`` leaves out ``fa.txt``, ``a|b.txt`` anything ending in ``b.txt``..."""
    ctx = tmp_path / "ctx"
    _containerfile(ctx, "FROM busybox\nCOPY . /all/\n")
    (ctx / ".dockerignore").write_text("a+b.txt\na(1).txt\na^b.txt\na{1}.txt\nf[!a].txt\nx|yb.txt\n")
    names = [
        "a+b.txt",
        "ab.txt",
        "a(1).txt",
        "a1.txt",
        "a^b.txt",
        "a{1}.txt",
        "a.txt",
        "fa.txt",
        "f!.txt",
        "fb.txt",
    ]
    names += ["x|yb.txt", "zyb.txt"]
    for name in names:
        (ctx / name).write_text("one\n")

    def change():  # the files buildah copies although a Python reading of the lines leaves them out
        for name in ("a+b.txt", "a(1).txt", "a^b.txt", "a{1}.txt", "fb.txt"):
            (ctx / name).write_text("two\n")

    tree = _rebuilt_like_bud(ctx, tmp_path / "cache", buildah_cleanup, change)
    assert {"/all/a+b.txt", "/all/a(1).txt", "/all/a^b.txt", "/all/a{1}.txt", "/all/fb.txt"} <= set(tree)
    assert not {
        "/all/ab.txt",
        "/all/a1.txt",
        "/all/a.txt",
        "/all/fa.txt",
        "/all/f!.txt",
        "/all/zyb.txt",
    } & set(tree)


def test_exclude_patterns_are_read_as_buildah_reads_them(base_images, buildah_cleanup, tmp_path):
    """``COPY --exclude`` lines reach buildah's ignore matcher: the key reads them the same way. bud 1.28
    has no --exclude; the reference is bud with the same line in the ignore file."""
    ctx = tmp_path / "ctx"
    _containerfile(ctx, "FROM busybox\nCOPY --exclude=a+b.txt --exclude=f[!a].txt src/ /ex/\n")
    (ctx / "src").mkdir()
    names = ["a+b.txt", "ab.txt", "fa.txt", "fb.txt"]
    for name in names:
        (ctx / "src" / name).write_text("one\n")
    cache = tmp_path / "cache"
    ours = buildah_cleanup.tag("shlax-ctx")
    try:
        shlax("build", str(ctx), cache_dir=cache)
        for name in ("a+b.txt", "fb.txt"):  # copied by buildah, left out by a Python reading
            (ctx / "src" / name).write_text("two\n")
        shlax("build", "-t", ours, str(ctx), cache_dir=cache)
        reference = tmp_path / "reference"
        shutil.copytree(ctx, reference, symlinks=True)
        (reference / "Containerfile").write_text("FROM busybox\nCOPY src/ /ex/\n")
        (reference / ".dockerignore").write_text("src/a+b.txt\nsrc/f[!a].txt\n")
        tree = _same_as_bud(reference, ours, buildah_cleanup)
    finally:
        forget_layers(cache)
    assert {"/ex/a+b.txt", "/ex/fb.txt"} <= set(tree) and not {"/ex/ab.txt", "/ex/fa.txt"} & set(tree)


def test_copy_globs_are_go_globs(base_images, buildah_cleanup, tmp_path):
    """``COPY f[!a].txt`` copies ``fa.txt`` and ``f!.txt`` (``!`` is a literal), ``f[^a].txt`` the others."""
    ctx = tmp_path / "ctx"
    _containerfile(ctx, "FROM busybox\nCOPY g/f[!a].txt /g1/\nCOPY g/f[^a].txt /g2/\n")
    (ctx / "g").mkdir()
    for name in ("fa.txt", "f!.txt", "fb.txt", "f^.txt"):
        (ctx / "g" / name).write_text("one\n")

    def change():  # copied by the first COPY, not matched by a Python reading of its glob
        (ctx / "g" / "fa.txt").write_text("two\n")

    tree = _rebuilt_like_bud(ctx, tmp_path / "cache", buildah_cleanup, change)
    assert {"/g1/fa.txt", "/g1/f!.txt", "/g2/fb.txt", "/g2/f^.txt", "/g2/f!.txt"} <= set(tree)


def test_capabilities_and_xattrs_are_keyed(base_images, buildah_cleanup, tmp_path):
    """buildah copies ``security.capability`` and ``user.*`` xattrs into the image (measured with bud):
    dropping a capability or changing a user xattr must rebuild."""
    ctx = tmp_path / "ctx"
    _containerfile(ctx, "FROM busybox\nCOPY tool /usr/local/bin/tool\nCOPY notes /notes/\n")
    (ctx / "tool").write_text("#!/bin/sh\n")
    os.chmod(ctx / "tool", 0o755)
    subprocess.run(["setcap", "cap_net_raw+ep", str(ctx / "tool")], check=True)
    (ctx / "notes").mkdir()
    (ctx / "notes" / "n.txt").write_text("n\n")
    os.setxattr(ctx / "notes" / "n.txt", "user.origin", b"one")

    def change():
        subprocess.run(["setcap", "-r", str(ctx / "tool")], check=True)
        os.setxattr(ctx / "notes" / "n.txt", "user.origin", b"two")

    below = ("/usr/local/bin", "/notes")
    _rebuilt_like_bud(ctx, tmp_path / "cache", buildah_cleanup, change, below)


def test_hard_links_are_keyed_both_ways(base_images, buildah_cleanup, tmp_path):
    """buildah keeps hard links between the files of one copied directory: linking two equal files, and
    unlinking them again, must each rebuild."""
    ctx = tmp_path / "ctx"
    _containerfile(ctx, "FROM busybox\nCOPY hl /hl/\n")
    (ctx / "hl").mkdir()
    (ctx / "hl" / "a").write_text("same\n")
    (ctx / "hl" / "b").write_text("same\n")
    cache = tmp_path / "cache"

    def link():
        os.unlink(ctx / "hl" / "b")
        os.link(ctx / "hl" / "a", ctx / "hl" / "b")

    def unlink():
        os.unlink(ctx / "hl" / "b")
        (ctx / "hl" / "b").write_text("same\n")

    try:
        shlax("build", str(ctx), cache_dir=cache)
        for change, count in ((link, 2), (unlink, 1)):
            change()
            ours = buildah_cleanup.tag("shlax-ctx")
            shlax("build", "-t", ours, str(ctx), cache_dir=cache)
            _same_as_bud(ctx, ours, buildah_cleanup, ("/hl",))
            assert _links_and_xattrs(ours, ("/hl",))["/hl/b"][0] == count
    finally:
        forget_layers(cache)


def test_containerfile_dockerignore_is_the_one_bud_reads(base_images, buildah_cleanup, tmp_path):
    """With both ``Containerfile.containerignore`` and ``Containerfile.dockerignore``, bud 1.28 reads the
    .dockerignore; at the context root ``.containerignore`` wins over ``.dockerignore``."""
    ctx = tmp_path / "ctx"
    _containerfile(ctx, "FROM busybox\nCOPY . /all/\n")
    for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
        (ctx / name).write_text(name)
    (ctx / "Containerfile.containerignore").write_text("a.txt\n")
    (ctx / "Containerfile.dockerignore").write_text("b.txt\n")
    (ctx / ".containerignore").write_text("c.txt\n")
    (ctx / ".dockerignore").write_text("d.txt\n")
    ours = buildah_cleanup.tag("shlax-ctx")
    try:
        shlax("build", "-t", ours, str(ctx), cache_dir=tmp_path / "cache")
        tree = _same_as_bud(ctx, ours, buildah_cleanup)
        assert "/all/b.txt" not in tree and "/all/a.txt" in tree
        for name in ("Containerfile.containerignore", "Containerfile.dockerignore"):
            os.unlink(ctx / name)
        root_ours = buildah_cleanup.tag("shlax-ctx")
        shlax("build", "-t", root_ours, str(ctx), cache_dir=tmp_path / "cache")
        tree = _same_as_bud(ctx, root_ours, buildah_cleanup)
        assert "/all/c.txt" not in tree and "/all/d.txt" in tree
    finally:
        forget_layers(tmp_path / "cache")


def test_non_utf8_file_name_builds(base_images, buildah_cleanup, tmp_path):
    """A context file whose name is not UTF-8 is copied by bud; the key must read it, and see it change."""
    ctx = tmp_path / "ctx"
    _containerfile(ctx, "FROM busybox\nCOPY . /all/\n")
    odd = os.path.join(os.fsencode(ctx), b"caf\xe9.txt")
    with open(odd, "wb") as f:
        f.write(b"one\n")

    def change():
        with open(odd, "wb") as f:
            f.write(b"two\n")

    tree = _rebuilt_like_bud(ctx, tmp_path / "cache", buildah_cleanup, change)
    assert os.fsdecode(b"/all/caf\xe9.txt") in tree


def test_ignore_matcher_agrees_with_buildah_copy(base_images, buildah_cleanup, tmp_path):
    """The rows where buildah 1.28 differs from moby/patternmatcher, and the issue's patterns, checked
    against ``buildah copy --ignorefile`` itself: a path is left out exactly when ``IgnoreRules`` says so."""
    rows = [(patterns, path) for (patterns, path) in BUILDAH_128] + [
        (p, path) for p, path, _ in BUILDAH_CASES
    ]
    container = buildah_cleanup.working_container(BUSYBOX)
    mount = subprocess.run(["buildah", "mount", container], capture_output=True, text=True, check=True).stdout
    problems = []
    for n, (patterns, path) in enumerate(rows):
        ctx = tmp_path / f"c{n}"
        (ctx / path).parent.mkdir(parents=True, exist_ok=True)
        (ctx / path).write_text("x")
        (ctx / "marker").write_text("m")
        ignore = tmp_path / f"ignore{n}"
        ignore.write_text("\n".join(patterns) + "\n")
        copied = subprocess.run(
            [
                "buildah",
                "copy",
                "--quiet",
                "--contextdir",
                str(ctx),
                "--ignorefile",
                str(ignore),
                container,
                str(ctx),
                f"/r{n}/",
            ],
            capture_output=True,
        )
        theirs = "error" if copied.returncode else not os.path.lexists(f"{mount.strip()}/r{n}/{path}")
        try:
            ours = IgnoreRules.parse(ignore.read_text()).ignored(path)
        except ContextError:
            ours = "error"
        if ours != theirs:
            problems.append(f"{patterns} {path}: buildah {theirs}, shlax-front {ours}")
    subprocess.run(["buildah", "umount", container], capture_output=True)
    assert problems == []


def test_malformed_exclude_pattern_is_a_located_error(base_images, tmp_path):
    """``[`` is not a pattern for Go (buildah, BuildKit): ``COPY --from --exclude=[`` fails with one line."""
    ctx = tmp_path / "ctx"
    _containerfile(
        ctx,
        """\
        FROM busybox AS a
        RUN mkdir /d && touch /d/x
        FROM busybox
        COPY --from=a --exclude=[ /d /y
        """,
    )
    try:
        result = shlax("build", str(ctx), cache_dir=tmp_path / "cache", check=False)
    finally:
        forget_layers(tmp_path / "cache")
    assert result.returncode == 1
    assert "Containerfile:4: COPY --from=a --exclude=[ /d /y: syntax error in pattern '['" in result.stderr
    assert "Traceback" not in result.stderr
