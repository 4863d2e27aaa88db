"""Differences from ``buildah bud --layers --format docker`` found by building unfamiliar Containerfiles.

Each case builds one Containerfile with both tools and compares file trees and image configs, like
``test_build_equivalence.py``; the cases here need a context git cannot hold (setuid bits, modes) or a
build argument, so they write it into a temporary directory instead of a ``fixtures/build`` folder.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from buildah_tools import bud, diff_trees, file_tree, forget_layers, image_config, shlax
from test_build_equivalence import VOLATILE


def _trees(ref: str) -> dict:
    return {k: v for k, v in file_tree(ref).items() if k not in VOLATILE}


def _same_as_bud(context: Path, cleanup, cache_dir: Path, *extra: str) -> None:
    ours, theirs = cleanup.tag("shlax-red"), cleanup.tag("bud-red")
    try:
        shlax("build", "-t", ours, *extra, str(context), cache_dir=cache_dir)
        bud(context / "Containerfile", context, theirs, *extra, cleanup=cleanup)
        assert image_config(ours) == image_config(theirs)
        assert diff_trees(_trees(ours), _trees(theirs)) == []
    finally:
        forget_layers(cache_dir)


def _write(root: Path, files: dict[str, tuple[str, int]]) -> None:
    for name, (content, mode) in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        os.chmod(path, mode)


def test_context_copy_clears_setuid_and_setgid_like_bud(base_images, buildah_cleanup, tmp_path):
    """bud's copier strips setuid/setgid from context files (``buildah copy`` keeps them); ``COPY --from``
    keeps them (a chown after the copy used to clear them); ``--chmod`` and ADDed archives are left alone."""
    context = tmp_path / "ctx"
    _write(
        context,
        {
            "bin/su-tool": ("#!/bin/sh\n", 0o4755),
            "bin/sg-tool": ("#!/bin/sh\n", 0o2755),
            "bin/plain": ("#!/bin/sh\n", 0o755),
            "bin/private": ("key\n", 0o600),
            "spool/sticky/file": ("x\n", 0o644),
        },
    )
    os.chmod(context / "spool", 0o2775)
    os.chmod(context / "spool" / "sticky", 0o1777)
    (context / "Containerfile").write_text(
        textwrap.dedent(
            """\
            FROM busybox AS tools
            RUN mkdir -p /opt/s && echo s > /opt/s/suid && chmod 4755 /opt/s/suid \\
                && mkdir /opt/s/sgdir && chmod 2750 /opt/s/sgdir && chown -R 1:2 /opt/s
            FROM busybox
            COPY bin /usr/local/bin/
            COPY bin/su-tool /single
            COPY bin/su-tool bin/sg-tool /several/
            COPY bin/s[ug]-tool /etc/
            COPY --chown=1:1 . /ctx
            COPY --chmod=4755 bin/plain /chmodded
            ADD bin /added/
            COPY --from=tools /opt/s /from-stage
            COPY --from=tools /opt/s/suid /from-stage-file
            """
        )
    )
    _same_as_bud(context, buildah_cleanup, tmp_path / "cache")
