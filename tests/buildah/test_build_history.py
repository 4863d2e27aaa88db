"""Image history as ``buildah bud --layers`` writes it: each layer's ``created_by`` names the instruction as
written (not the rewritten script nor ``/bin/sh``), its comment the image it started from, and the layer's
cache key stays out of the image (the host's layer index finds the layer again)."""

from __future__ import annotations

import json
import re
import subprocess

from tests.buildah_tools import bud, forget_layers, shlax, statuses

CONTAINERFILE = """\
FROM busybox
ARG V=1
ENV A=b
RUN echo $V > /x \\
    &&  echo two > /y
COPY f.txt /f.txt
COPY f.txt g.txt /d/
COPY sub /sub
LABEL l=v
RUN ["sh", "-c", "echo three > /z"]
CMD ["sh"]
"""


def _inspect(ref: str) -> dict:
    done = subprocess.run(["buildah", "inspect", "--type", "image", ref], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _image_id(ref: str) -> str:
    return _inspect(ref)["FromImageID"]


def _layers(ref: str) -> list[tuple[str, str]]:
    """(created_by, comment) of each history entry that made a layer, after the base image's own."""
    info = _inspect(ref)
    history = info["Docker"]["history"]
    return [(h.get("created_by", ""), h.get("comment", "")) for h in history[1:] if not h.get("empty_layer")]


def _shape(comment: str) -> str:
    """A history comment with the image id it names left out (ids differ from build to build)."""
    return re.sub(r"^FROM [0-9a-f]{12}$", "FROM <id>", comment)


def test_history_reads_as_bud_writes_it(base_images, buildah_cleanup, tmp_path):
    ctx = tmp_path / "ctx"
    (ctx / "sub").mkdir(parents=True)
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    (ctx / "f.txt").write_text("hello\n")
    (ctx / "g.txt").write_text("world\n")
    (ctx / "sub" / "h.txt").write_text("deep\n")
    ours, theirs = buildah_cleanup.tag("shlax-hist"), buildah_cleanup.tag("bud-hist")
    cache = tmp_path / "cache"
    try:
        shlax("build", "--build-arg", "V=7", "-t", ours, str(ctx), cache_dir=cache)
        bud(ctx / "Containerfile", ctx, theirs, "--build-arg", "V=7", cleanup=buildah_cleanup)
        mine, budded = _layers(ours), _layers(theirs)
        # the final config-only steps are a layer of their own here (bud: empty history entries)
        assert [created for created, _ in mine[:-1]] == [created for created, _ in budded]
        assert mine[0][0] == "|1 V=7 /bin/sh -c echo $V > /x     &&  echo two > /y"
        assert mine[-1][0] == '/bin/sh -c #(nop) CMD ["sh"]'
        # the comment is buildah's own, as bud's: 1.28 names the image a layer started from ("FROM <id>"), 1.39
        # leaves it empty. The first layer's names the base image here (bud's starts from its ENV/ARG commits)
        assert mine[0][1] == "FROM docker.io/library/busybox:latest"
        assert [_shape(c) for _, c in mine[1:-1]] == [_shape(c) for _, c in budded[1:]]
        assert not any("shlax-front" in created + comment for created, comment in mine)

        # the key is found in the index, not in the image: a second build reuses every layer
        again = shlax("build", "--build-arg", "V=7", str(ctx), cache_dir=cache)
        assert "built" not in statuses(again.stderr)
        assert again.stdout.strip().splitlines()[-1] == _image_id(ours)
    finally:
        forget_layers(cache)
