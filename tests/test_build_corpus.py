"""Differences from ``buildah bud --layers --format docker`` found by building real third-party Dockerfiles.

Each case is a small inline Containerfile reproducing what a real file did (named in the docstring), built
with both tools and compared like ``test_build_equivalence.py`` (file trees and image configs).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from buildah_tools import bud, diff_trees, file_tree, forget_layers, image_config, shlax
from test_build_equivalence import VOLATILE

from shlax_front.backend.plan import Planner
from shlax_front.parser import parse


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


@pytest.mark.buildah
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


def _wheelhouse_of(text: str, **build_args: str) -> list[tuple[str, ...]]:
    """The pip specs each RUN's wheelhouse will ``pip download`` (the plan the executor gets)."""
    doc = parse(text)
    plan = Planner(doc, build_args, None, lambda ref: None).plan()
    steps = [s for stage in plan.stages for s in stage.steps if getattr(s, "wheelhouse", None) is not None]
    return [wh.packages for s in steps for _, wh in s.wheelhouse]


def test_wheelhouse_gets_the_specs_the_shell_sees():
    """tianon/dockerfiles beets: ``ENV BEETS_VERSION 2.13.1`` then ``pip install --no-cache-dir "beets ==
    $BEETS_VERSION"``. The wheelhouse got the spec as written, quotes and all: ``pip download`` refused it,
    so every build (an added package too) fetched all 22 MB from the index again."""
    base = "FROM debian:bookworm\nENV BEETS_VERSION 2.13.1\nARG EXTRA=six\n"
    run = 'RUN set -eux; pip install --no-cache-dir "beets == $BEETS_VERSION" ${EXTRA}; beet --version\n'
    assert _wheelhouse_of(base + run) == [("beets == 2.13.1", "six")]
    assert _wheelhouse_of(base + run, EXTRA="idna") == [("beets == 2.13.1", "idna")]


@pytest.mark.parametrize(
    "run",
    [
        'RUN V=2.0; pip install "beets == $V"',  # set by the script itself
        'RUN export BEETS_VERSION=2.0 && pip install "beets == $BEETS_VERSION"',
        'RUN pip install "beets == $(cat /version)"',  # runs a command
        'RUN pip install "beets == $UNSET"',  # nothing in scope: only the shell knows
    ],
)
def test_no_wheelhouse_when_the_specs_cannot_be_known(run):
    assert _wheelhouse_of("FROM debian:bookworm\nENV BEETS_VERSION 2.13.1\n" + run + "\n") == []
