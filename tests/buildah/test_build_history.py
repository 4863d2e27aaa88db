"""Image history as ``buildah bud --layers`` writes it: each layer's ``created_by`` names the instruction as
written (not the rewritten script nor ``/bin/sh``), its comment the image it started from, and the layer's
cache key stays out of the image (the host's layer index finds the layer again)."""

from __future__ import annotations

import json
import re
import subprocess

from shlax_front.backend.budversion import installed_version
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
        # the final config-only step after a RUN is an empty history entry, as bud's (``emptylayers``; after a
        # last COPY it goes into its commit, next test)
        assert [created for created, _ in mine] == [created for created, _ in budded]
        assert mine[0][0] == "|1 V=7 /bin/sh -c echo $V > /x     &&  echo two > /y"
        last = _inspect(ours)["Docker"]["history"][-1]
        assert (last["created_by"], last.get("empty_layer")) == ('/bin/sh -c #(nop) CMD ["sh"]', True)
        # the comment is buildah's own, as bud's: 1.28 names the image a layer started from ("FROM <id>"); the
        # first layer's names the base image here (bud's starts from its ENV/ARG commits, ids of its own). 1.39
        # names the base image in the stage's first entry (ARG V's, empty) and leaves every other empty, as bud
        comments = [
            [h.get("comment", "") for h in _inspect(ref)["Docker"]["history"]] for ref in (ours, theirs)
        ]
        if installed_version() == (1, 28):
            assert mine[0][1] == "FROM docker.io/library/busybox:latest"
            assert [_shape(c) for _, c in mine[1:]] == [_shape(c) for _, c in budded[1:]]
        else:
            assert comments[0] == comments[1] and comments[0][1] == "FROM docker.io/library/busybox:latest"
        assert not any("shlax-front" in created + comment for created, comment in mine)

        # the key is found in the index, not in the image: a second build reuses every layer
        again = shlax("build", "--build-arg", "V=7", str(ctx), cache_dir=cache)
        assert "built" not in statuses(again.stderr)
        assert again.stdout.strip().splitlines()[-1] == _image_id(ours)
    finally:
        forget_layers(cache)


def _config(ref: str) -> dict:
    config = _inspect(ref)["Docker"]["config"]
    return {key: config.get(key) for key in ("Cmd", "ExposedPorts", "Env", "WorkingDir")}


def test_config_steps_after_a_last_copy_add_no_layer_cold_or_after_an_edit(
    base_images, buildah_cleanup, tmp_path
):
    """The EXPOSE and CMD after the last COPY go into its commit: the layers bud's image has, the same after a
    late edit as cold (a cached RUN before), and the image named at that commit."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(
        'FROM busybox\nRUN echo a > /a\nCOPY f.txt /app/\nEXPOSE 8000\nCMD ["sh", "/app/f.txt"]\n'
    )
    (ctx / "f.txt").write_text("echo one\n")
    ours, theirs = buildah_cleanup.tag("shlax-fold"), buildah_cleanup.tag("bud-fold")
    cache = tmp_path / "cache"
    iid = tmp_path / "iid"
    try:
        cold = shlax("build", "-t", ours, "--iidfile", str(iid), str(ctx), cache_dir=cache)
        bud(ctx / "Containerfile", ctx, theirs, cleanup=buildah_cleanup)
        assert [created for created, _ in _layers(ours)] == [created for created, _ in _layers(theirs)]
        assert _config(ours) == _config(theirs)
        assert iid.read_text().strip().removeprefix("sha256:") == _image_id(ours)
        assert cold.stdout.strip().splitlines()[-1] == _image_id(ours)

        (ctx / "f.txt").write_text("echo two\n")
        edited = shlax("build", "-t", ours, str(ctx), cache_dir=cache)
        assert statuses(edited.stderr).count("built") == 1
        assert edited.stdout.strip().splitlines()[-1] == _image_id(ours)
        assert len(_layers(ours)) == len(_layers(theirs)) and _config(ours) == _config(theirs)
    finally:
        forget_layers(cache)


def test_a_copy_s_content_kind_counts_what_its_globs_matched(base_images, buildah_cleanup, tmp_path):
    """``multi:`` when a source's glob matched several items, ``dir:`` for a glob matching one directory,
    ``file:`` when the ignore file leaves one match: as bud counts them (its history said ``multi:`` where
    shlax-front said ``file:`` for ``COPY bin/* /all/``)."""
    ctx = tmp_path / "ctx"
    (ctx / "bin").mkdir(parents=True)
    (ctx / "d1").mkdir()
    for name in ("bin/a.sh", "bin/b.sh", "bin/c.txt", "d1/x"):
        (ctx / name).write_text(f"{name}\n")
    (ctx / ".dockerignore").write_text("bin/b.sh\n")
    (ctx / "Containerfile").write_text(
        "FROM busybox\nCOPY bin/*.sh /one/\nCOPY bin/* /all/\nCOPY d* /dirglob/\nRUN true\n"
    )
    ours, theirs = buildah_cleanup.tag("shlax-kind"), buildah_cleanup.tag("bud-kind")
    cache = tmp_path / "cache"
    try:
        shlax("build", "-t", ours, str(ctx), cache_dir=cache)
        bud(ctx / "Containerfile", ctx, theirs, cleanup=buildah_cleanup)
        kinds = [created.split()[-3].split(":")[0] for created, _ in _layers(ours)[:3]]
        assert kinds == ["file", "multi", "dir"]
        assert [created for created, _ in _layers(ours)] == [created for created, _ in _layers(theirs)]
    finally:
        forget_layers(cache)
