"""One plain file or directory written into a mounted container as ``buildah copy`` 1.28 writes it
(``backend/directcopy.py``).

The digests below were printed by ``buildah copy`` 1.28.2 (Debian 12) for files of these names, contents,
modes and owners (and the tree below) copied into a debian:bookworm container; the file's owner only reaches the digest as its
user and group names (uid and gid are 0 in the entry), so the tests give the names and run as any user."""

from __future__ import annotations

import os
import stat

import pytest

from shlax_front.backend import directcopy

#: (name, content, mode, owner names, digest printed by buildah copy 1.28.2)
MEASURED = [
    ("one", b"x", 0o755, ("root", "root"), "ba3daf1b9264976d777cbc0503ec31038db56fba2f6b261e73f95aaf6bf58a1b"),
    ("empty", b"", 0o644, ("root", "root"), "4b372a839fc35d60bb38ba527d94396315dd354fc56f0b90f8182faa249aeb64"),
    ("r.txt", b"hello\n", 0o640, ("root", "root"), "75dcc338ec2a8340c47df542a3306ab9da3536df4b37d9f61697dcd9da20d260"),
    (
        "blocks.bin",
        bytes(range(256)) * 20,  # ten whole blocks: no padding
        0o644,
        ("root", "root"),
        "54d819fbc4e322400ff3230ee1028f45970f2b4b7d053c8477967b3996d304ba",
    ),
    (
        "aaa.txt",
        b"a" * 1000,
        0o600,
        ("cloudsdk", "cloudsdk"),  # uid 1000's names on the machine measured
        "50848f1a2f73cb2f031b5eb54dad360eaf205a5779c801d7f07aa6e87fc0c409",
    ),
]  # fmt: skip


@pytest.fixture
def as_root(monkeypatch):
    """Root outside user namespaces, whoever runs the tests: ownership changes are noted, not made."""
    owners = []
    monkeypatch.setattr(directcopy.os, "geteuid", lambda: 0)
    monkeypatch.setattr(directcopy, "_outside_user_namespaces", lambda: True)
    monkeypatch.setattr(directcopy.os, "fchown", lambda fd, uid, gid: owners.append((uid, gid)))
    monkeypatch.setattr(directcopy.os, "lchown", lambda path, uid, gid: owners.append((uid, gid)))
    return owners


def _source(tmp_path, name, content, mode, mtime_ns=1_700_000_000_700_000_000):
    (tmp_path / "ctx").mkdir(exist_ok=True)
    path = tmp_path / "ctx" / name
    path.write_bytes(content)
    path.chmod(mode)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return str(path)


def _root(tmp_path):
    root = tmp_path / "rootfs"
    (root / "app").mkdir(parents=True)
    return str(root)


@pytest.mark.parametrize(
    ("name", "content", "mode", "names", "digest"), MEASURED, ids=[m[0] for m in MEASURED]
)
def test_the_digest_and_the_file_are_buildah_copys(
    tmp_path, monkeypatch, as_root, name, content, mode, names, digest
):
    monkeypatch.setattr(directcopy, "_owner_names", lambda st: names)
    source = _source(tmp_path, name, content, mode)
    entries = directcopy.eligible(source, "/app/", {})
    assert entries is not None and [e.name for e in entries] == [name]
    directory = directcopy.destination(_root(tmp_path), "/app/", entries)
    assert directory is not None and directory.endswith("/app")

    assert directcopy.copy(entries, directory) == digest
    target = os.path.join(directory, name)
    landed = os.lstat(target)
    with open(target, "rb") as f:
        assert f.read() == content
    assert stat.S_IMODE(landed.st_mode) == mode and as_root == [(0, 0)]
    # the mtime rounded to the second (.7 s up), the atime the same: as the tar entry buildah sends and writes
    assert landed.st_mtime_ns == landed.st_atime_ns == 1_700_000_001_000_000_000


def test_what_stands_at_the_target_is_replaced_but_a_directory(tmp_path, monkeypatch, as_root):
    monkeypatch.setattr(directcopy, "_owner_names", lambda st: ("root", "root"))
    source = _source(tmp_path, "app.py", b"new\n", 0o644)
    root = _root(tmp_path)
    target = os.path.join(root, "app", "app.py")
    os.symlink("/etc/passwd", target)  # never followed out of the root
    entries = directcopy.eligible(source, "/app/", {})
    directcopy.copy(entries, directcopy.destination(root, "/app/", entries))
    assert not os.path.islink(target) and open(target, "rb").read() == b"new\n"

    os.unlink(target)
    os.mkdir(target)
    assert directcopy.destination(root, "/app/", entries) is None


def test_a_destination_buildah_would_resolve_is_left_to_buildah_a_missing_one_is_made(tmp_path, as_root):
    root = _root(tmp_path)
    entries = [directcopy.Entry("app.py", "", os.stat(root), b"")]
    os.symlink("app", os.path.join(root, "link"))
    assert directcopy.destination(root, "/link/", entries) is None  # resolved inside the root by buildah
    assert directcopy.destination(root, "/app/../app/", entries) is None
    open(os.path.join(root, "file"), "w").close()
    assert directcopy.destination(root, "/file/", entries) is None
    assert directcopy.destination(root, "/app/", entries) == os.path.join(root, "app")

    made = directcopy.destination(root, "/app/new/deeper/", entries)
    assert made == os.path.join(root, "app", "new", "deeper")
    directcopy._make_directories(made)
    for path in (os.path.dirname(made), made):  # as copier.Mkdir: 0755, given to 0:0
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o755
    assert as_root == [(0, 0), (0, 0)]


def test_a_directory_is_its_tree_as_buildah_copy_sends_and_writes_it(tmp_path, monkeypatch, as_root):
    """``COPY tree/ /srv/t/``: the digest buildah copy 1.28.2 printed for this tree (``dir:``), the files and
    directories with their modes, and each directory's mtime its own rounded one after everything is written."""
    monkeypatch.setattr(directcopy, "_owner_names", lambda st: ("root", "root"))
    tree = tmp_path / "ctx" / "t2"
    for directory, mode in (("", 0o755), ("a", 0o755), ("a/b", 0o750), ("c", 0o700)):
        (tree / directory).mkdir(parents=True, exist_ok=True)
        (tree / directory).chmod(mode)
    for name, content, mode in (
        ("a/one.txt", b"one\n", 0o644),
        ("a/b/two", b"2", 0o600),
        ("run.sh", b"#!/bin/sh\n", 0o755),
        ("c/.hidden", b"x", 0o600),
    ):
        (tree / name).write_bytes(content)
        (tree / name).chmod(mode)
    os.utime(tree / "a", ns=(0, 1_700_000_000_600_000_000))
    entries = directcopy.eligible(str(tree), "/srv/t/", {})
    assert [e.name for e in entries] == ["a", "a/b", "a/b/two", "a/one.txt", "c", "c/.hidden", "run.sh"]

    root = _root(tmp_path)
    directory = directcopy.destination(root, "/srv/t/", entries)
    digest = directcopy.copy(entries, directory)
    assert digest == "5f5c629dd27ff1b0ef1652a69defe3ce67f728ee79d36490704f8cf41d363bc8"
    assert stat.S_IMODE(os.lstat(os.path.join(directory, "a", "b")).st_mode) == 0o750
    assert os.lstat(os.path.join(directory, "a")).st_mtime_ns == 1_700_000_001_000_000_000
    assert open(os.path.join(directory, "a", "b", "two"), "rb").read() == b"2"


def test_a_tree_with_what_buildah_sends_otherwise_is_left_to_buildah(tmp_path, as_root):
    tree = tmp_path / "ctx" / "t"
    (tree / "d").mkdir(parents=True)
    for directory in (tree, tree / "d"):
        directory.chmod(0o755)  # whatever the umask
    (tree / "d" / "f").write_text("f")
    assert directcopy.eligible(str(tree), "/t/", {}) is not None
    os.link(tree / "d" / "f", tree / "hard")  # a link entry
    assert directcopy.eligible(str(tree), "/t/", {}) is None
    os.unlink(tree / "hard")
    os.symlink("d/f", tree / "link")
    assert directcopy.eligible(str(tree), "/t/", {}) is None
    os.unlink(tree / "link")
    (tree / "d").chmod(0o777)  # others could swap a symlink in meanwhile
    assert directcopy.eligible(str(tree), "/t/", {}) is None
    (tree / "d").chmod(0o755)
    (tree / "d" / "f").unlink()
    (tree / "d").rmdir()
    assert directcopy.eligible(str(tree), "/t/", {}) is None  # an empty directory: not measured


def test_only_what_the_measured_rules_cover(tmp_path, monkeypatch, as_root):
    source = _source(tmp_path, "app.py", b"x", 0o644)
    assert directcopy.eligible(source, "/app/", {}) is not None
    assert directcopy.eligible(source, "/app/app.py", {}) is None  # renamed on the way: buildah's rules
    assert directcopy.eligible(source, "app/", {}) is None
    assert directcopy.eligible(source, "/app/", {"BUILDAH_HISTORY": "1"}) is None  # copy adds its own history
    for bits in (stat.S_ISUID, stat.S_ISGID, stat.S_ISVTX):
        os.chmod(source, 0o644 | bits)
        assert directcopy.eligible(source, "/app/", {}) is None
    os.chmod(source, 0o644)
    for name in ("é.py", "n" * 101):  # PAX headers, not USTAR
        assert directcopy.eligible(_source(tmp_path, name, b"x", 0o644), "/app/", {}) is None
    monkeypatch.setattr(directcopy, "_owner_names", lambda st: ("u" * 33, "root"))
    assert directcopy.eligible(source, "/app/", {}) is None
    monkeypatch.setattr(directcopy, "_outside_user_namespaces", lambda: False)  # a rootless build's namespace
    monkeypatch.setattr(directcopy, "_owner_names", lambda st: ("root", "root"))
    assert directcopy.eligible(source, "/app/", {}) is None


def test_a_source_changed_while_copied_fails(tmp_path, monkeypatch, as_root):
    monkeypatch.setattr(directcopy, "_owner_names", lambda st: ("root", "root"))
    source = _source(tmp_path, "app.py", b"short\n", 0o644)
    entries = directcopy.eligible(source, "/app/", {})
    with open(source, "ab") as f:
        f.write(b"longer now\n")
    with pytest.raises(OSError):
        directcopy.copy(entries, directcopy.destination(_root(tmp_path), "/app/", entries))
