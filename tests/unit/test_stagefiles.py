"""``COPY --from=<stage>`` keyed by the files it copies (``stagefiles``): what changes the digest, what not."""

from __future__ import annotations

import os

import pytest

from shlax_front.backend.rootfs import MissingSource
from shlax_front.backend.stagefiles import StageFiles, copied_digest


def _root(tmp_path):
    root = tmp_path / "root"
    (root / "app" / "lib").mkdir(parents=True)
    (root / "app" / "run").write_text("#!/bin/sh\n")
    (root / "app" / "lib" / "a.txt").write_text("a\n")
    os.symlink("a.txt", root / "app" / "lib" / "b")
    return root


def test_mtimes_do_not_change_the_digest_content_mode_owner_and_links_do(tmp_path):
    root = _root(tmp_path)
    before = copied_digest(str(root), ("/app",))
    os.utime(root / "app" / "lib" / "a.txt", (1, 1))
    assert copied_digest(str(root), ("/app",)) == before

    changes = [
        lambda: (root / "app" / "lib" / "a.txt").write_text("b\n"),
        lambda: os.chmod(root / "app" / "run", 0o755),
        lambda: os.chown(root / "app" / "run", 5, 6),
        lambda: (os.unlink(root / "app" / "lib" / "b"), os.symlink("../run", root / "app" / "lib" / "b")),
        lambda: (root / "app" / "new").write_text(""),
    ]
    seen = {before}
    for change in changes:
        change()
        digest = copied_digest(str(root), ("/app",))
        assert digest not in seen
        seen.add(digest)


def test_the_sources_and_exclusions_are_part_of_it(tmp_path):
    root = _root(tmp_path)
    whole = copied_digest(str(root), ("/app",))
    assert copied_digest(str(root), ("/app/lib",)) != whole
    assert copied_digest(str(root), ("/app/*",)) != whole  # placed otherwise: each match by its name
    assert copied_digest(str(root), ("/app",), lambda rel: rel == "run") != whole
    with pytest.raises(MissingSource):
        copied_digest(str(root), ("/nothing",))


def test_a_digest_is_remembered_by_image_id_and_a_missing_source_gives_none(tmp_path):
    root = _root(tmp_path)
    mounts = []

    def mount(image: str) -> str:
        mounts.append(image)
        return str(root)

    image = "a" * 64
    files = StageFiles(tmp_path / "cache", mount)
    first = files.digest(image, ("/app",))
    assert first == copied_digest(str(root), ("/app",))
    assert StageFiles(tmp_path / "cache", mount).digest(image, ("/app",)) == first  # read back, not mounted
    assert mounts == [image]
    assert files.digest(image, ("/nothing",)) is None
    assert files.digest(image, ("/app",), ("run",)) != first


def test_a_malformed_exclude_pattern_gives_none_for_the_copy_to_report(tmp_path):
    files = StageFiles(tmp_path / "cache", lambda image: str(_root(tmp_path)))
    assert files.digest("b" * 64, ("/app",), ("[",)) is None
