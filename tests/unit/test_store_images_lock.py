"""A build holds its cache root's layer images (``LayerIndex.hold_images``) for ``cache prune`` to wait on."""

from __future__ import annotations

import fcntl
import os

import pytest

from shlax_front.backend.store import LayerIndex, lock_subject


def _prunable(path) -> bool:
    """Whether a prune (another open file, exclusive) could take the lock now."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_a_loaded_index_holds_the_images_until_released(tmp_path):
    index = LayerIndex(tmp_path).load()
    assert not _prunable(index.images_lock_path)
    other = LayerIndex(tmp_path).load()  # builds share it
    index.release_images()
    assert not _prunable(index.images_lock_path)
    other.release_images()
    assert _prunable(index.images_lock_path)


def test_an_index_loaded_for_the_cache_command_holds_nothing(tmp_path):
    index = LayerIndex(tmp_path).load(in_use=False)
    assert not index.images_lock_path.exists() or _prunable(index.images_lock_path)


def test_a_collected_index_holds_nothing(tmp_path):
    path = LayerIndex(tmp_path).load().images_lock_path
    assert _prunable(path)  # nothing refers to the index any more: collected, its lock closed


def test_a_build_waits_for_a_prune_with_a_line(tmp_path, caplog, monkeypatch):
    index = LayerIndex(tmp_path)
    index.images_lock_path.parent.mkdir(parents=True)
    fd = os.open(index.images_lock_path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    waited = []
    real_flock = fcntl.flock

    def flock(target, op):
        if op == fcntl.LOCK_SH:  # the wait: the prune is done meanwhile
            waited.append(op)
            real_flock(fd, fcntl.LOCK_UN)
        return real_flock(target, op)

    monkeypatch.setattr(fcntl, "flock", flock)
    with caplog.at_level("INFO"):
        index.load()
    assert waited and "waiting for the cached layer images of" in caplog.text
    assert lock_subject(index.images_lock_path) == f"the cached layer images of {tmp_path}"
    os.close(fd)
    index.release_images()


@pytest.fixture(autouse=True)
def _quiet_sweeps(monkeypatch):
    from shlax_front.backend import stale

    monkeypatch.setattr(stale, "sweep_writes", lambda root: [])
