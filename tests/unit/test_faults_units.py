"""Fault points (no buildah): how a test names one, what a failed or killed cache write leaves, and that the next
build deletes a dead writer's temporary file (the real builds are in tests/buildah/test_build_faults.py)."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys

import pytest

from shlax_front.actions import Wheelhouse
from shlax_front.backend import faults, stale, wheelhouse
from shlax_front.backend.hostcache import HostCaches
from shlax_front.backend.runner import Result
from shlax_front.backend.steps import HostCache
from shlax_front.backend.store import LayerIndex, write_atomic


def test_the_environment_names_points_and_actions(monkeypatch):
    monkeypatch.setenv(faults.ENV, "layer-committed:kill, cache-write")
    assert faults.chosen() == {"layer-committed": "kill", "cache-write": "raise"}
    faults.point("wheelhouse-filled")  # not chosen: nothing happens
    with pytest.raises(faults.InjectedFault):
        faults.point("cache-write")
    monkeypatch.setenv(faults.ENV, "cache-wrte")
    with pytest.raises(ValueError, match="unknown fault"):
        faults.chosen()


def test_an_interrupted_cache_write_keeps_the_old_record_and_no_temporary_file(tmp_path, monkeypatch):
    record = tmp_path / "layers" / "index.json"
    write_atomic(record, "old")
    for action, error in (("raise", faults.InjectedFault), ("interrupt", KeyboardInterrupt)):
        monkeypatch.setenv(faults.ENV, f"cache-write:{action}")
        with pytest.raises(error):
            write_atomic(record, "new")
        assert record.read_text() == "old"
        assert os.listdir(record.parent) == ["index.json"]


def test_a_cache_write_killed_before_its_rename_is_swept_by_the_next_build(tmp_path):
    """SIGKILL between the write and the rename leaves the temporary file (named after its writer); the next
    build's index load deletes it, and leaves alone a live writer's file and the package caches' own files."""
    record = tmp_path / "layers" / "index.json"
    write_atomic(record, json.dumps({"entries": {}}))
    code = "from pathlib import Path; from shlax_front.backend.store import write_atomic; write_atomic(Path(%r), 'x')"
    env = {**os.environ, faults.ENV: "cache-write:kill"}
    died = subprocess.run([sys.executable, "-c", code % str(record)], env=env)
    assert died.returncode == -9
    (left,) = [p for p in record.parent.iterdir() if p.name != "index.json"]
    assert stale.WRITING.match(left.name)
    live = record.parent / f".index.json.{stale.owner()}-abc.tmp"
    live.write_text("being written")
    package = tmp_path / "caches" / "pip-wheelhouse" / f".a.whl.{left.name.split('.')[3]}.1-x.tmp"
    package.parent.mkdir(parents=True)
    package.write_text("not ours to judge")
    state = tmp_path / "caches" / "pip-wheelhouse.state"
    state.mkdir()
    (state / left.name.replace("index.json", ".checked.json")).write_text("cut")
    at_root = tmp_path / left.name.replace("index.json", "buildah-version.json")
    at_root.write_text("cut")
    LayerIndex(tmp_path).load()
    assert not at_root.exists()
    assert sorted(p.name for p in record.parent.iterdir()) == sorted(
        ["images.lock", "index.json", "index.lock", live.name]
    )
    assert package.exists() and list(state.iterdir()) == []
    assert json.loads(record.read_text()) == {"entries": {}}


def test_a_wheelhouse_fill_cut_after_its_download_records_no_resolution(tmp_path, monkeypatch):
    """Failing after ``pip download`` filled the wheelhouse, before the index's answer is recorded: no record,
    so the next build asks the index again instead of trusting a resolution nobody wrote down."""
    calls = []

    def run(argv, online):
        calls.append(online)
        if "--no-index" in argv:  # the wheelhouse alone cannot answer
            return Result(list(argv), 1, "ERROR: Could not find a version that satisfies the requirement six")
        return Result(list(argv), 0, "Saved /run/shlax-front/wheelhouse/six-1.16.0-py2.py3-none-any.whl")

    history = tmp_path / "pip-wheelhouse.state"
    monkeypatch.setenv(faults.ENV, "wheelhouse-filled")
    with pytest.raises(faults.InjectedFault):
        wheelhouse.fill(
            run, [("pip", Wheelhouse(packages=("six",)))], history, False, 3600, lambda text: None
        )
    assert calls[-1] is True and not (history.exists() and list(history.iterdir()))
    monkeypatch.delenv(faults.ENV)
    wheelhouse.fill(run, [("pip", Wheelhouse(packages=("six",)))], history, False, 3600, lambda text: None)
    assert len(list(history.iterdir())) == 1


def test_host_caches_failing_after_their_run_are_unlocked(tmp_path, monkeypatch):
    """A failure after a RUN wrote the host caches, before they are handed back: the locks go with it, so the
    next build (here: a non-blocking lock attempt) gets the cache at once."""
    caches = HostCaches(tmp_path / "root")
    apt = HostCache("apt-cache", "/var/cache/apt", uid=0, gid=0, sharing="locked")
    monkeypatch.setenv(faults.ENV, "host-caches-used:interrupt")
    with pytest.raises(KeyboardInterrupt), caches.mounted((apt,), "debian-12-amd64") as prepared:
        [(directory, _)] = prepared
        (directory / "archives").mkdir()
    with open(caches.lock_path(apt, "debian-12-amd64"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises BlockingIOError if still held
    assert (directory / "archives").is_dir()
