"""``shlax-front cache``: ages, an empty image store, freshness records listed and pruned with their cache, no-op
records counted and pruned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from buildah_tools import ROOT

from shlax_front.commands.cache import parse_age, under
from shlax_front.errors import ShlaxError


def cache_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "shlax_front", "cache", *args],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )


def test_parse_age():
    assert parse_age("30d") == 30 * 86400
    assert parse_age("90m") == 5400
    assert parse_age("15") == 15
    with pytest.raises(ShlaxError):
        parse_age("soon")


def test_freshness_records_are_listed_and_pruned_with_their_cache(tmp_path):
    cache = tmp_path / "cache"
    for path in (
        "caches/apt-lists/debian-12-amd64/deb.debian.org_debian_dists_bookworm_InRelease",
        "caches/apt-lists/debian-12-amd64.state/stamp",
        "caches/pip-wheelhouse/six-1.17.0-py2.py3-none-any.whl",
        "caches/pip-wheelhouse.state/0123abcd",
    ):
        (cache / path).parent.mkdir(parents=True, exist_ok=True)
        (cache / path).write_text("x")
    listed = json.loads(cache_cli("ls", "--cache-dir", str(cache), "--json").stdout)
    assert [c["name"] for c in listed["caches"]] == ["apt-lists/debian-12-amd64", "pip-wheelhouse"]
    cache_cli("prune", "--cache-dir", str(cache))
    assert sorted(p.name for p in (cache / "caches").iterdir()) == ["apt-lists"]
    assert list((cache / "caches" / "apt-lists").iterdir()) == []


def test_a_hand_over_marker_is_no_cache(tmp_path):
    """A build killed while it handed ``caches/pip-wheelhouse`` to a RUN's user leaves a marker file beside it:
    ``cache ls`` lists the cache, not the marker (and does not fail on a file where it expects directories)."""
    cache = tmp_path / "cache"
    (cache / "caches" / "pip-wheelhouse").mkdir(parents=True)
    (cache / "caches" / "pip-wheelhouse.shlax-front-handover").write_text("handed over\n")
    listed = json.loads(cache_cli("ls", "--cache-dir", str(cache), "--json").stdout)
    assert [c["name"] for c in listed["caches"]] == ["pip-wheelhouse"]


def test_an_empty_image_store_has_no_named_images(monkeypatch):
    """``buildah images --json`` prints ``null``, not ``[]``, when the store is empty (prune crashed on it)."""
    from shlax_front.commands import cache

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, "null\n", ""))
    assert cache._named_images() == set()


def _records(cache) -> dict[str, int]:
    """Three no-op records, one written 3 days ago, and a record being written (its temporary file)."""
    sizes = {"fresh.json": 300, "fresh2.json": 200, "old.json": 100, ".old.json.123-abc.tmp": 50}
    noop = cache / "noop"
    noop.mkdir(parents=True)
    for name, size in sizes.items():
        (noop / name).write_bytes(b"x" * size)
    old = time.time() - 3 * 86400
    os.utime(noop / "old.json", (old, old))
    return sizes


def test_du_counts_the_no_op_records(tmp_path):
    cache = tmp_path / "cache"
    _records(cache)
    rows = json.loads(cache_cli("du", "--cache-dir", str(cache), "--json").stdout)
    assert rows == [{"name": "noop (no-op records)", "bytes": 600, "files": 3}]
    text = cache_cli("du", "--cache-dir", str(cache)).stdout
    assert "3 files  noop (no-op records)" in text and "600 B" in text


def test_prune_older_than_removes_the_old_records_and_a_full_prune_all(tmp_path):
    """A record being written (its temporary file) is never removed: its writer renames it next."""
    cache = tmp_path / "cache"
    _records(cache)
    noop = cache / "noop"
    dry = cache_cli("prune", "--cache-dir", str(cache), "--older-than", "1d", "--dry-run")
    assert dry.stdout.split() == ["noop", "100", "B", "1", "records"]
    assert "and 1 no-op records (100 B)" in dry.stderr
    assert len(list(noop.iterdir())) == 4
    done = cache_cli("prune", "--cache-dir", str(cache), "--older-than", "1d")
    assert sorted(p.name for p in noop.iterdir()) == [".old.json.123-abc.tmp", "fresh.json", "fresh2.json"]
    assert "1 no-op records" in done.stderr and "100 B of no-op records" in done.stderr
    cache_cli("prune", "--cache-dir", str(cache))
    assert [p.name for p in noop.iterdir()] == [".old.json.123-abc.tmp"]
    nothing = cache_cli("prune", "--cache-dir", str(cache))
    assert nothing.stderr.startswith("nothing to remove")


def test_a_record_written_again_after_the_listing_is_kept(tmp_path):
    """prune --older-than looks at a record's age again right before removing it."""
    from shlax_front.commands.cache import _remove_records

    cache = tmp_path / "cache"
    _records(cache)
    old = cache / "noop" / "old.json"
    cutoff = time.time() - 86400
    listed = [old]
    old.write_bytes(b"y" * 10)  # a build wrote it again meanwhile
    assert _remove_records(listed, cutoff) == 0 and old.exists()
    os.utime(old, (cutoff - 10, cutoff - 10))
    assert _remove_records(listed, cutoff) == 10 and not old.exists()
    assert _remove_records(listed, None) == 0  # gone meanwhile: nothing freed, no error


def test_a_layer_under_a_pruned_one_is_one_whose_layers_begin_it():
    assert under(["a"], ["a", "b"]) and under(["a", "b"], ["a", "b"])  # empty-layer child too
    assert not under(["a", "b"], ["a"]) and not under(["x"], ["a", "b"])
    assert under(None, ["a"]) and under(["a"], None)  # unreadable: it may be
