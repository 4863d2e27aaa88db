"""``shlax-front cache``: ages, an empty image store, freshness records listed and pruned with their cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from buildah_tools import ROOT

from shlax_front.commands.cache import parse_age
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


def test_an_empty_image_store_has_no_named_images(monkeypatch):
    """``buildah images --json`` prints ``null``, not ``[]``, when the store is empty (prune crashed on it)."""
    from shlax_front.commands import cache

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, "null\n", ""))
    assert cache._named_images() == set()
