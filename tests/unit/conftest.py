"""Unit tests' shared fixtures."""

from __future__ import annotations

import pytest

from shlax_front.backend import stale


@pytest.fixture(autouse=True)
def _private_build_markers(tmp_path, monkeypatch):
    """The markers of running builds (``stale.Markers``) go to the test's directory: a fake buildah's build must
    not leave one, nor consume the first real build's sweep, in the machine's own."""
    monkeypatch.setattr(stale, "markers_dir", lambda: tmp_path / "build-markers")
