"""One plain file written into a mounted container as ``buildah copy`` 1.28 writes it (``backend/directcopy.py``).

The digests below were printed by ``buildah copy`` 1.28.2 (Debian 12) for files of these names, contents,
modes and owners copied into a debian:bookworm container; the file's owner only reaches the digest as its
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


@pytest.mark.parametrize(("name", "content", "mode", "names", "digest"), MEASURED)
def test_the_digest_and_the_file_are_buildah_copys(
    tmp_path, monkeypatch, as_root, name, content, mode, names, digest
):
    monkeypatch.setattr(directcopy, "_owner_names", lambda st: names)
    source = _source(tmp_path, name, content, mode)
    st = directcopy.eligible(source, "/app/", {})
    assert st is not None
    target = directcopy.destination(_root(tmp_path), "/app/", name)
    assert target is not None and target.endswith("/app/" + name)

    assert directcopy.copy(source, st, target) == digest
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
    os.symlink("/etc/passwd", os.path.join(root, "app", "app.py"))  # never followed out of the root
    target = directcopy.destination(root, "/app/", "app.py")
    directcopy.copy(source, directcopy.eligible(source, "/app/", {}), target)
    assert not os.path.islink(target) and open(target, "rb").read() == b"new\n"

    os.unlink(target)
    os.mkdir(target)
    assert directcopy.destination(root, "/app/", "app.py") is None


def test_a_destination_buildah_would_resolve_or_make_is_left_to_buildah(tmp_path):
    root = _root(tmp_path)
    os.symlink("app", os.path.join(root, "link"))
    assert directcopy.destination(root, "/link/", "app.py") is None  # resolved inside the root by buildah
    assert directcopy.destination(root, "/missing/", "app.py") is None  # made by buildah, with its owner
    assert directcopy.destination(root, "/app/../app/", "app.py") is None
    open(os.path.join(root, "file"), "w").close()
    assert directcopy.destination(root, "/file/", "app.py") is None
    assert directcopy.destination(root, "/app/", "app.py") == os.path.join(root, "app", "app.py")


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
    st = directcopy.eligible(source, "/app/", {})
    with open(source, "ab") as f:
        f.write(b"longer now\n")
    with pytest.raises(OSError):
        directcopy.copy(source, st, directcopy.destination(_root(tmp_path), "/app/", "app.py"))
