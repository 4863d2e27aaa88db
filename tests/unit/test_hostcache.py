"""Host caches: a user's large cache is walked only when its ownership can be wrong, and what a RUN fetched
into a cache is counted from what it wrote."""

from __future__ import annotations

import os
import time

import pytest

from shlax_front.backend import hostcache
from shlax_front.backend.hostcache import HostCaches, bytes_written_since, handover_marker
from shlax_front.backend.steps import HostCache

OWNER = (4321, 4321)
PIP = dict(id="pip", target="/root/.cache/pip", host="pip", sharing="shared")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """The invoking user is OWNER (as under sudo), with a pip cache of a few files they own."""
    if os.getuid() != 0:
        pytest.fail("the ownership tests chown files: run them as root (CI does)")
    monkeypatch.setattr(hostcache, "invoking_user", lambda: (*OWNER, str(tmp_path / "home")))
    cache = tmp_path / "home" / ".cache" / "pip"
    (cache / "http").mkdir(parents=True)
    (cache / "http" / "old").write_text("old")
    for path in (cache, cache / "http", cache / "http" / "old"):
        os.lchown(path, *OWNER)
    return cache


def walks(monkeypatch) -> list[tuple[int, int]]:
    """Record every whole-tree chown (uid, gid) made from now on."""
    made: list[tuple[int, int]] = []
    real = hostcache._chown_tree

    def recording(path, uid, gid):
        made.append((uid, gid))
        real(path, uid, gid)

    monkeypatch.setattr(hostcache, "_chown_tree", recording)
    return made


def owners(top) -> set[tuple[int, int]]:
    found = set()
    for dirpath, dirnames, filenames in os.walk(top):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            st = os.lstat(name)
            found.add((st.st_uid, st.st_gid))
    return found


def test_a_cache_whose_owner_is_the_container_user_is_never_walked(home, tmp_path, monkeypatch):
    """Root in CI with a root container: the files the RUN writes are already the owner's."""
    made = walks(monkeypatch)
    pip = HostCache(**PIP, uid=OWNER[0], gid=OWNER[1])
    with HostCaches(tmp_path / "root").mounted((pip,), None) as [(directory, _)]:
        assert not handover_marker(directory).exists()
    assert made == []


def test_a_handover_is_journalled_and_given_back(home, tmp_path, monkeypatch):
    made = walks(monkeypatch)
    pip = HostCache(**PIP, uid=0, gid=0)
    with HostCaches(tmp_path / "root").mounted((pip,), None) as [(directory, _)]:
        marker = handover_marker(directory)
        assert marker.exists() and (marker.stat().st_uid, marker.stat().st_gid) == OWNER
        assert owners(directory) == {(0, 0)}
        (directory / "wheels" / "ab").mkdir(parents=True)
        (directory / "wheels" / "ab" / "new.whl").write_text("new")
    assert made == [(0, 0), OWNER]
    assert owners(directory) == {OWNER}
    assert not marker.exists()


def test_a_failed_run_gives_the_cache_back_too(home, tmp_path):
    pip = HostCache(**PIP, uid=0, gid=0)
    with pytest.raises(RuntimeError):
        with HostCaches(tmp_path / "root").mounted((pip,), None) as [(directory, _)]:
            (directory / "half").write_text("x")
            raise RuntimeError("the RUN failed")
    assert owners(directory) == {OWNER}
    assert not handover_marker(directory).exists()


def test_the_build_after_one_killed_during_a_handover_gives_the_tree_back(home, tmp_path, monkeypatch):
    """A SIGKILL runs no clean-up: the marker stays, with root's files in the cache; the next build, even one
    that needs no hand-over, walks the tree once and removes the marker."""
    marker = handover_marker(home)
    marker.write_text("left by a killed build")
    (home / "http" / "by-root").write_text("x")
    os.lchown(home / "http", 0, 0)
    made = walks(monkeypatch)
    pip = HostCache(**PIP, uid=OWNER[0], gid=OWNER[1])
    with HostCaches(tmp_path / "root").mounted((pip,), None) as [(directory, _)]:
        assert owners(directory) == {OWNER}
        assert not marker.exists()
    assert made == [OWNER]


def test_a_cache_of_the_build_root_is_always_given_back(tmp_path, monkeypatch):
    """apt drops root to _apt in the archives: the root's own caches are handed back after every RUN."""
    made = walks(monkeypatch)
    apt = HostCache("apt-cache", "/var/cache/apt")
    with HostCaches(tmp_path / "root").mounted((apt,), None) as [(directory, _)]:
        (directory / "partial").mkdir()
        os.lchown(directory / "partial", 42, 42)
    assert made == [(os.getuid(), os.getgid())]
    assert owners(directory) == {(os.getuid(), os.getgid())}


def test_bytes_written_since_counts_what_was_created_or_replaced(tmp_path):
    cache = tmp_path / "cache"
    (cache / "old" / "deep").mkdir(parents=True)
    (cache / "old" / "deep" / "kept").write_bytes(b"k" * 1000)
    (cache / "old" / "replaced").write_bytes(b"r" * 2000)
    (cache / "old" / "deleted").write_bytes(b"d" * 4000)
    time.sleep(0.1)
    since = time.time()
    assert bytes_written_since(cache, since) == 0
    (cache / "new" / "a" / "b").mkdir(parents=True)
    (cache / "new" / "a" / "b" / "blob").write_bytes(b"n" * 10)  # a new file in a new directory
    (cache / "old" / "deep" / "added").write_bytes(b"n" * 100)  # a new file in an old directory
    tmp = cache / "old" / "replaced.tmp"
    tmp.write_bytes(b"n" * 3000)
    tmp.rename(cache / "old" / "replaced")  # replaced the way pip and npm write
    (cache / "old" / "deleted").unlink()
    os.symlink("deep/kept", cache / "old" / "link")
    # apt's binary cache, rebuilt from the lists: not fetched
    (cache / "pkgcache.bin").write_bytes(b"p" * 5000)
    assert bytes_written_since(cache, since) == 10 + 100 + 3000
    assert bytes_written_since(cache / "missing", since) == 0


def test_bytes_written_since_leaves_out_npm_logs_and_cacache_index(tmp_path):
    """An ``npm ci`` served from the cache writes its debug log and appends to cacache's index: not fetched."""
    cache = tmp_path / "npm"
    (cache / "_cacache" / "index-v5" / "ed" / "92").mkdir(parents=True)
    (cache / "_cacache" / "content-v2" / "sha512" / "ab").mkdir(parents=True)
    time.sleep(0.1)
    since = time.time()
    (cache / "_logs").mkdir()
    (cache / "_logs" / "2026-12-07T20_46_34_935Z-debug-0.log").write_bytes(b"l" * 5429)
    with open(cache / "_cacache" / "index-v5" / "ed" / "92" / "8d90b3", "ab") as index:
        index.write(b"i" * 672)
    (cache / "_cacache" / "index-v5" / "98" / "20").mkdir(parents=True)
    (cache / "_cacache" / "index-v5" / "98" / "20" / "8cf397").write_bytes(b"i" * 1116)
    assert bytes_written_since(cache, since) == 0
    (cache / "_cacache" / "content-v2" / "sha512" / "ab" / "cd01").write_bytes(b"c" * 3619)  # a tarball
    assert bytes_written_since(cache, since) == 3619


def test_a_build_that_cannot_chown_keeps_the_marker_for_one_that_can(home, tmp_path, monkeypatch):
    marker = handover_marker(home)
    marker.write_text("left by a killed build")
    os.lchown(home / "http", 0, 0)
    monkeypatch.setattr(os, "getuid", lambda: OWNER[0])
    pip = HostCache(**PIP, uid=OWNER[0], gid=OWNER[1])
    with HostCaches(tmp_path / "root").mounted((pip,), None):
        pass
    assert marker.exists()
