"""Differences from ``buildah bud --layers --format docker`` found by building real third-party Dockerfiles.

Each case is a small inline Containerfile reproducing what a real file did (named in the docstring), built
with both tools and compared like ``test_build_equivalence.py`` (file trees and image configs).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from buildah_tools import bud, diff_trees, file_tree, forget_layers, image_config, shlax
from test_build_equivalence import VOLATILE


def _trees(ref: str) -> dict:
    return {k: v for k, v in file_tree(ref).items() if k not in VOLATILE}


def _same_as_bud(context: Path, cleanup, cache_dir: Path, *extra: str) -> tuple[dict, dict]:
    ours, theirs = cleanup.tag("shlax-corpus"), cleanup.tag("bud-corpus")
    try:
        shlax("build", "-t", ours, *extra, str(context), cache_dir=cache_dir)
        bud(context / "Containerfile", context, theirs, *extra, cleanup=cleanup)
        assert image_config(ours) == image_config(theirs)
        ours_tree, theirs_tree = _trees(ours), _trees(theirs)
        assert diff_trees(ours_tree, theirs_tree) == []
        return ours_tree, theirs_tree
    finally:
        forget_layers(cache_dir)


def test_run_mount_points_left_like_bud(base_images, buildah_cleanup, tmp_path):
    """docker/awesome-compose flask: ``RUN --mount=type=cache,target=/root/.cache/pip pip3 install ...``.
    bud removes a mount point the RUN created (``/root/.cache/pip``; the parent it made stays) except below
    /var, where it stays - for cache and bind mounts alike. shlax-front kept every cache mount point and
    removed every bind one. A bind without a source (moby/buildkit's ``--mount=type=bind,target=...``) is
    the whole context, as in bud: ``buildah run`` refused it ("must set volume source")."""
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "f.txt").write_text("hi\n")
    (context / "Containerfile").write_text(
        textwrap.dedent(
            """\
            FROM busybox
            RUN --mount=type=cache,target=/root/.cache/pip ls /root/.cache/pip
            RUN --mount=type=cache,target=/srv/new/c4 true
            RUN --mount=type=cache,target=/var/cache/c1 echo x > /var/cache/c1/x
            RUN --mount=type=cache,target=/var/new/c2 true
            RUN --mount=type=bind,source=f.txt,target=/var/bf1 cat /var/bf1
            RUN --mount=type=bind,source=f.txt,target=/srv/bf2 cat /srv/bf2
            RUN --mount=type=bind,target=/ctx cat /ctx/f.txt > /copied.txt
            """
        )
    )
    ours, _ = _same_as_bud(context, buildah_cleanup, tmp_path / "cache")
    # what bud leaves, so the comparison above cannot pass by both sides missing the point
    assert "/root/.cache" in ours and "/root/.cache/pip" not in ours
    assert "/srv/new" in ours and "/srv/new/c4" not in ours and "/srv/bf2" not in ours
    assert {"/var/cache/c1", "/var/new/c2", "/var/bf1", "/copied.txt"} <= set(ours)
    assert "/ctx" not in ours
