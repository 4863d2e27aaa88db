"""Unit tests of the hardening rules (no buildah): context paths stay in the context, cache ids stay in the
cache root, damaged cache records are set aside, the front end never raises on odd input."""

from __future__ import annotations

import os

import pytest

from shlax_front.backend.context import BuildContext, ContextError


def test_a_bind_source_symlink_leading_out_of_the_context_is_refused(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f").write_text("x")
    os.symlink("/etc", tmp_path / "dlink")
    os.symlink("sub", tmp_path / "inlink")
    os.symlink("../..", tmp_path / "sub" / "up")
    context = BuildContext(str(tmp_path))
    for source in ("dlink", "dlink/shadow", "sub/up", "/dlink"):
        with pytest.raises(ContextError, match="outside the build context"):
            context.mounted_digest((source,))
    assert context.mounted_digest(("inlink",)) == BuildContext(str(tmp_path)).mounted_digest(("inlink",))
