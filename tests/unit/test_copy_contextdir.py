"""A COPY of plain files from the context runs ``buildah copy`` without ``--contextdir`` (``copy_step.plain_files``:
buildah then reads the files without chrooting into the context, two re-executions fewer); anything a chroot
could matter for keeps it: a symlink on the way, a directory someone else may write, an ignore file, ADD."""

from __future__ import annotations

import os
from types import SimpleNamespace

from shlax_front.backend.context import BuildContext
from shlax_front.backend.copy_step import CopyExecutor, plain_files
from shlax_front.backend.steps import CopyStep, Location

DIGEST = "a" * 64


def _context(tmp_path):
    root = tmp_path / "ctx"
    (root / "src").mkdir(parents=True)
    os.chmod(root, 0o755)
    (root / "app.py").write_text("app\n")
    (root / "src" / "lib.py").write_text("lib\n")
    return root


def test_plain_files_below_directories_only_this_user_writes(tmp_path):
    root = _context(tmp_path)
    assert plain_files(str(root), [str(root / "app.py"), str(root / "src" / "lib.py")])


def test_not_plain_a_symlink_a_directory_a_missing_name_or_a_path_outside(tmp_path):
    root = _context(tmp_path)
    (root / "link.py").symlink_to(root / "app.py")
    (root / "linked").symlink_to(root / "src")
    (tmp_path / "outside.py").write_text("x\n")
    for path in (
        root / "link.py",
        root / "linked" / "lib.py",
        root / "src",
        root,
        root / "*.py",
        tmp_path / "outside.py",
    ):
        assert not plain_files(str(root), [str(root / "app.py"), str(path)]), path


def test_not_plain_below_a_directory_others_may_write_or_own(tmp_path):
    root = _context(tmp_path)
    os.chmod(root / "src", 0o775)
    assert not plain_files(str(root), [str(root / "src" / "lib.py")])
    os.chmod(root / "src", 0o755)
    os.chown(root / "src", 1234, 1234)
    assert not plain_files(str(root), [str(root / "src" / "lib.py")])
    assert plain_files(str(root), [str(root / "app.py")])
    os.chmod(root, 0o757)
    assert not plain_files(str(root), [str(root / "app.py")])


class _Buildah:
    def __init__(self):
        self.copies = []

    def copy(self, container, sources, dest, **options):
        self.copies.append(options)
        return SimpleNamespace(stdout=DIGEST + "\n")


def _copied(root, text, sources, add=False, plain_copies=True):
    buildah = _Buildah()
    copies = CopyExecutor(
        buildah,  # type: ignore[arg-type]
        BuildContext(str(root)),
        lambda prefix: "",
        lambda image: "",
        plain_copies,
    )
    step = CopyStep(Location("Containerfile", 2), text, sources=sources, dest="/app/", add=add)
    assert copies.copy(step, "ctr", lambda: "/nonexistent", {}) == DIGEST
    return [options["contextdir"] for options in buildah.copies]


def test_the_copy_runs_without_contextdir_only_for_plain_files(tmp_path):
    root = _context(tmp_path)
    (root / "link.py").symlink_to(root / "app.py")
    assert _copied(root, "COPY app.py src/lib.py /app/", ("app.py", "src/lib.py")) == [None]
    assert _copied(root, "COPY app.py /app/", ("app.py",), plain_copies=False) == [str(root)]  # buildah 1.39
    assert _copied(root, "COPY link.py /app/", ("link.py",)) == [str(root)]
    assert _copied(root, "COPY src /app/", ("src",)) == [str(root)]
    assert _copied(root, "ADD app.py /app/", ("app.py",), add=True) == [str(root)]
    (root / ".dockerignore").write_text("*.txt\n")
    assert _copied(root, "COPY app.py /app/", ("app.py",)) == [str(root)]


def test_plain_copies_only_where_the_digest_was_measured_alike(monkeypatch):
    """buildah 1.39 prints another content digest without ``--contextdir`` (bud's history would differ), and
    versions between 1.28 and 1.39 were not measured."""
    from shlax_front.backend import budversion
    from shlax_front.backend.copy_step import plain_copies_allowed

    for version, allowed in (((1, 28), True), ((1, 33), False), ((1, 39), False), (None, False)):
        monkeypatch.setattr(budversion, "installed_version", lambda binary="buildah", v=version: v)
        assert plain_copies_allowed() is allowed, version


def test_a_directory_is_plain_when_reached_through_real_directories_only_their_owner_writes(tmp_path):
    from shlax_front.backend.copy_step import plain_directory

    root = _context(tmp_path)
    os.chmod(root / "src", 0o755)
    assert plain_directory(str(root), str(root / "src"))
    assert not plain_directory(str(root), str(root))  # the context itself: not measured
    assert not plain_directory(str(root), str(root / "app.py"))
    (root / "linked").symlink_to(root / "src")
    assert not plain_directory(str(root), str(root / "linked"))
    os.chmod(root / "src", 0o775)
    assert not plain_directory(str(root), str(root / "src"))


def test_a_directory_is_written_by_shlax_front_only_where_the_ignore_file_surely_excludes_nothing_of_it(
    tmp_path, monkeypatch
):
    """``buildah copy --ignorefile`` of a directory nothing of which is ignored sends what a copy without one
    sends (the same digest, measured): written directly then; a pattern matching a path below it, or one this
    project cannot read (unsure), leaves the copy to buildah."""
    from shlax_front.backend import directcopy

    monkeypatch.setattr(directcopy.os, "geteuid", lambda: 0)
    monkeypatch.setattr(directcopy, "_outside_user_namespaces", lambda: True)
    monkeypatch.setattr(directcopy.os, "lchown", lambda path, uid, gid: None)
    monkeypatch.setattr(directcopy.os, "fchown", lambda fd, uid, gid: None)
    root = _context(tmp_path)
    os.chmod(root / "src", 0o755)
    rootfs = tmp_path / "rootfs"
    (rootfs / "app").mkdir(parents=True)

    def copied(ignore: str) -> list:
        (root / ".dockerignore").write_text(ignore)
        buildah = _Buildah()
        copies = CopyExecutor(
            buildah,  # type: ignore[arg-type]
            BuildContext(str(root)),
            lambda prefix: "",
            lambda image: "",
            True,
            direct=True,
        )
        step = CopyStep(
            Location("Containerfile", 2), "COPY src/ /app/src/", sources=("src/",), dest="/app/src/"
        )
        copies.copy(step, "ctr", lambda: str(rootfs), {})
        return buildah.copies

    assert copied("node_modules/\n**/__pycache__/\n") == []  # written here
    assert (rootfs / "app" / "src" / "lib.py").read_text() == "lib\n"
    assert len(copied("src/*.py\n")) == 1  # ignores lib.py: buildah's copy
    assert len(copied("node_modules/\n[\n")) == 1  # malformed: buildah says so
