"""The markers running builds leave (``stale.Markers``): the working containers of killed builds are listed and
swept only when a dead build of the same image store left its marker, or when the markers cannot tell."""

from __future__ import annotations

import os
import time
from pathlib import Path

from fake_runner import FakeRunner

from shlax_front.backend import stale
from shlax_front.backend.buildah import Buildah
from shlax_front.backend.containers import WorkingContainers

DEAD = "999999999.5"  # no such pid


def _markers(tmp_path: Path, identity: str = "0123456789abcdef") -> stale.Markers:
    return stale.Markers(tmp_path / "live", identity)


def test_a_new_directory_cannot_tell_then_live_markers_ask_for_no_sweep(tmp_path):
    first = _markers(tmp_path)
    assert first.begin() is True  # made now: builds killed before it left no marker
    assert first.path is not None and first.path.exists()
    first.swept()
    second = _markers(tmp_path)
    assert second.begin() is False  # the only marker is a running build's
    second.end()
    first.end()
    assert [p.name for p in (tmp_path / "live").iterdir()] == ["swept-0123456789abcdef"]  # no marker left


def test_a_dead_build_of_this_store_asks_for_a_sweep_once(tmp_path):
    _markers(tmp_path).begin()
    _markers(tmp_path).swept()
    dead = tmp_path / "live" / f"{DEAD}-0123456789abcdef-aa"
    dead.touch()
    markers = _markers(tmp_path)
    assert markers.begin() is True
    assert dead.exists()  # kept until the sweep is done
    markers.swept()
    assert not dead.exists()
    assert _markers(tmp_path).begin() is False


def test_a_dead_build_of_another_store_is_not_this_builds_to_sweep(tmp_path):
    _markers(tmp_path).begin()
    _markers(tmp_path).swept()
    other = tmp_path / "live" / f"{DEAD}-fedcba9876543210-aa"
    old = tmp_path / "live" / f"{DEAD}-fedcba9876543210-bb"
    other.touch()
    old.touch()
    weeks_ago = time.time() - stale.FORGOTTEN_AFTER - 60
    os.utime(old, (weeks_ago, weeks_ago))
    assert _markers(tmp_path).begin() is False
    assert other.exists() and not old.exists()  # an old one's store may be gone: forgotten


def test_the_store_is_swept_at_least_every_so_often_whatever_the_markers_say(tmp_path):
    """A build that left no marker (an older version, a marker a temporary-file cleaner deleted) is swept too."""
    first = _markers(tmp_path)
    first.begin()
    first.swept()
    assert _markers(tmp_path).begin() is False
    stamp = tmp_path / "live" / "swept-0123456789abcdef"
    long_ago = time.time() - stale.SWEEP_EVERY - 60
    os.utime(stamp, (long_ago, long_ago))
    markers = _markers(tmp_path)
    assert markers.begin() is True
    markers.swept()
    assert _markers(tmp_path).begin() is False


def test_a_directory_others_can_write_proves_nothing(tmp_path):
    (tmp_path / "live").mkdir(mode=0o700)
    os.chmod(tmp_path / "live", 0o777)
    assert _markers(tmp_path).begin() is True
    (tmp_path / "live2").write_text("")  # not a directory
    assert stale.Markers(tmp_path / "live2", "0123456789abcdef").begin() is True


def test_the_store_is_told_by_what_picks_it(tmp_path):
    conf = tmp_path / "storage.conf"
    conf.write_text("")
    link = tmp_path / "link.conf"
    link.symlink_to(conf)
    base = {"PATH": "/bin"}
    assert stale.store_identity({**base, "CONTAINERS_STORAGE_CONF": str(conf)}) == stale.store_identity(
        {**base, "CONTAINERS_STORAGE_CONF": str(link)}
    )
    assert stale.store_identity(base) != stale.store_identity({**base, "CONTAINERS_STORAGE_CONF": str(conf)})
    assert stale.store_identity(base) == stale.store_identity({**base, "PATH": "/usr/bin"})


def test_the_markers_are_each_users_own(monkeypatch):
    monkeypatch.setenv("_CONTAINERS_ROOTLESS_UID", "1001")  # inside buildah unshare: uid 0 there
    assert stale._user() == "1001"
    monkeypatch.delenv("_CONTAINERS_ROOTLESS_UID")
    assert stale._user() == str(os.geteuid())


def test_working_containers_list_the_store_only_when_a_marker_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(stale.tempfile, "gettempdir", lambda: str(tmp_path))  # the dead builds' directories
    runner = FakeRunner()

    def build() -> list[str]:
        runner.calls.clear()
        work = WorkingContainers(Buildah(runner))
        work.create("busybox-id")
        assert any(p.name.startswith(stale.owner()) for p in stale.markers_dir().iterdir())
        work.cleanup()
        return runner.verbs()

    assert build() == ["containers", "from", "umount", "rm"]  # the first build here cannot tell
    assert build() == ["from", "umount", "rm"]
    assert not any(stale.MARKER.match(p.name) for p in stale.markers_dir().iterdir())
    (stale.markers_dir() / f"{DEAD}-{stale.store_identity()}-aa").touch()  # a build killed outright
    assert build() == ["containers", "from", "umount", "rm"]
    assert build() == ["from", "umount", "rm"]
