"""A Containerfile ending ``RUN`` then config-only instructions has bud's layers and history: the RUN's layer last,
then one empty entry per instruction (``emptylayers``), cold and after a change to ``CMD`` alone, which runs
nothing again (the RUN keeps its own key)."""

from __future__ import annotations

import json
import subprocess

from shlax_front.backend.budversion import installed_version
from tests.buildah_tools import bud, file_tree, forget_layers, image_config, read_file, shlax, statuses

CONTAINERFILE = """\
FROM busybox
RUN date +%s%N > /stamp && echo ran >> /runs
USER nobody
EXPOSE 8080
CMD ["sh", "-c", "cat /stamp"]
"""

STAGES = """\
FROM busybox AS base
RUN echo a > /a
ENV A=1
FROM busybox
COPY --from=base /a /b
RUN echo x > /x
USER nobody
CMD ["sh"]
"""


def _inspect(ref: str) -> dict:
    done = subprocess.run(["buildah", "inspect", "--type", "image", ref], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _shape(ref: str, fmt: str = "Docker") -> tuple[int, list[tuple[str, bool]]]:
    """How many layers the image has, and each history entry's ``created_by`` and ``empty_layer``."""
    image = _inspect(ref)[fmt]
    history = [(h.get("created_by", ""), bool(h.get("empty_layer"))) for h in image["history"]]
    return len(image["rootfs"]["diff_ids"]), history


def _copy_named(shape):
    """A shape with the COPY's history line reduced to its kind of instruction."""
    if isinstance(shape, tuple):
        return shape[0], _copy_named(shape[1])
    return [("COPY" if " COPY " in created else created, empty) for created, empty in shape]


def test_run_then_config_has_bud_s_layers_and_history_and_a_cmd_change_runs_nothing(
    base_images, buildah_cleanup, tmp_path
):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    ours, other = buildah_cleanup.tag("shlax-empty"), buildah_cleanup.tag("shlax-empty-2")
    theirs = buildah_cleanup.tag("bud-empty")
    cache, iid = tmp_path / "cache", tmp_path / "iid"
    try:
        cold = shlax("build", "-t", ours, "-t", other, "--iidfile", str(iid), str(ctx), cache_dir=cache)
        bud(ctx / "Containerfile", ctx, theirs, cleanup=buildah_cleanup)
        layers, history = _shape(ours)
        assert (layers, history) == _shape(theirs)
        assert history[-4:] == [
            ("/bin/sh -c date +%s%N > /stamp && echo ran >> /runs", False),
            ("/bin/sh -c #(nop) USER nobody", True),
            ("/bin/sh -c #(nop) EXPOSE 8080", True),
            ('/bin/sh -c #(nop) CMD ["sh", "-c", "cat /stamp"]', True),
        ]
        assert image_config(ours) == image_config(theirs)
        image = _inspect(ours)["FromImageID"]
        assert cold.stdout.strip().splitlines()[-1] == image == _inspect(other)["FromImageID"]
        assert iid.read_text().strip().removeprefix("sha256:") == image
        stamp = read_file(ours, "/stamp")

        again = shlax(
            "build", "-t", ours, str(ctx), cache_dir=cache
        )  # a no-op: the same image, nothing built
        assert "built" not in statuses(again.stderr)
        assert again.stdout.strip().splitlines()[-1] == image

        (ctx / "Containerfile").write_text(CONTAINERFILE.replace('"cat /stamp"', '"cat /runs"'))
        changed = shlax("build", "-t", ours, str(ctx), cache_dir=cache)
        assert statuses(changed.stderr) == ["from", "cached", "config", "config", "config"]
        assert read_file(ours, "/stamp") == stamp and read_file(ours, "/runs") == "ran\n"
        bud(ctx / "Containerfile", ctx, theirs, cleanup=buildah_cleanup)
        assert _shape(ours) == _shape(theirs) and image_config(ours) == image_config(theirs)
        assert changed.stdout.strip().splitlines()[-1] != image
    finally:
        forget_layers(cache)


def test_oci_timestamp_label_and_a_stage_copied_from(base_images, buildah_cleanup, tmp_path):
    """``--format oci --timestamp 0 --label``: the label a last empty entry, the times the timestamp's; the first
    stage, ending ``RUN`` then ``ENV``, is what the second copies from."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(STAGES)
    ours, theirs = buildah_cleanup.tag("shlax-empty-oci"), buildah_cleanup.tag("bud-empty-oci")
    cache = tmp_path / "cache"
    flags = ("--format", "oci", "--timestamp", "0", "--label", "team=core")
    try:
        shlax("build", *flags, "-t", ours, str(ctx), cache_dir=cache)
        bud(ctx / "Containerfile", ctx, theirs, *flags, cleanup=buildah_cleanup)
        layers, history = _shape(ours, "OCIv1")
        # a COPY --from shlax-front copies itself names its sources where bud has their digest (README)
        assert (layers, _copy_named(history)) == _copy_named(_shape(theirs, "OCIv1"))
        assert history[-3:] == [
            ("/bin/sh -c #(nop) USER nobody", True),
            ('/bin/sh -c #(nop) CMD ["sh"]', True),
            ('/bin/sh -c #(nop) LABEL "team"="core"', True),
        ]
        created = {h.get("created") for h in _inspect(ours)["OCIv1"]["history"][1:]}
        assert created == {"1970-01-01T00:00:00Z"}
        assert _inspect(ours)["OCIv1"]["config"] == _inspect(theirs)["OCIv1"]["config"]
        assert file_tree(ours) == file_tree(theirs)
    finally:
        forget_layers(cache)


#: config steps before a RUN (ARG with and without a default, ENV, WORKDIR, USER), before a COPY (LABEL) and after
#: the last COPY (EXPOSE, CMD): bud writes an empty entry for each, in the file's order
MIDDLE = """\
FROM busybox
ARG V=1
ARG W
ENV A=1 B="two words"
WORKDIR /app
USER root
RUN echo $V $W > v
LABEL a=b
COPY f.txt /app/
EXPOSE 80
CMD ["sh"]
"""

#: a stage another builds FROM: the child's history starts with the base stage's, its empty entries included;
#: the base ends with a RUN (no config step after it), the child with one
FROM_STAGE = """\
FROM busybox AS base
ENV X=1
WORKDIR /w
RUN echo a > a
FROM base
USER nobody
ENV Y=2
RUN echo b > /tmp/b
STOPSIGNAL SIGINT
"""


def test_config_steps_before_a_run_a_copy_and_after_the_last_copy_have_bud_s_empty_entries(
    base_images, buildah_cleanup, tmp_path
):
    """Each config step's empty entry where bud writes it, ARG's wording with and without a build arg; a no-op
    finds the image (nothing built, the same id); a changed CMD alone runs and copies nothing again."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(MIDDLE)
    (ctx / "f.txt").write_text("hello\n")
    ours, theirs = buildah_cleanup.tag("shlax-entries"), buildah_cleanup.tag("bud-entries")
    cache = tmp_path / "cache"
    try:
        built = shlax("build", "-t", ours, str(ctx), cache_dir=cache)
        bud(ctx / "Containerfile", ctx, theirs, cleanup=buildah_cleanup)
        layers, history = _shape(ours)
        assert (layers, history) == _shape(theirs)
        assert [created for created, empty in history[1:] if empty] == [
            "/bin/sh -c #(nop) ARG V",  # the ARGs that have a value, not the line as written
            "/bin/sh -c #(nop) ARG V",
            '/bin/sh -c #(nop) ENV A=1 B="two words"',
            "/bin/sh -c #(nop) WORKDIR /app",
            "/bin/sh -c #(nop) USER root",
            "/bin/sh -c #(nop) LABEL a=b",
            "/bin/sh -c #(nop) EXPOSE 80",
            '/bin/sh -c #(nop) CMD ["sh"]',
        ]
        assert image_config(ours) == image_config(theirs)
        comments = [[h.get("comment") for h in _inspect(ref)["Docker"]["history"]] for ref in (ours, theirs)]
        if installed_version() == (
            1,
            28,
        ):  # bud: FROM <id of its image before>, ids of its own; the first the base
            assert comments[0][1] == comments[1][1] == "FROM docker.io/library/busybox:latest"
        else:  # 1.39: the stage's first entry names the base image, no other has a comment
            assert comments[0] == comments[1]
        image = built.stdout.strip().splitlines()[-1]

        again = shlax("build", "-t", ours, str(ctx), cache_dir=cache)
        assert "built" not in statuses(again.stderr) and again.stdout.strip().splitlines()[-1] == image

        given = shlax("build", "-t", ours, "--build-arg", "W=2", str(ctx), cache_dir=cache)
        bud(ctx / "Containerfile", ctx, theirs, "--build-arg", "W=2", cleanup=buildah_cleanup)
        assert _shape(ours) == _shape(theirs) and "/bin/sh -c #(nop) ARG V W" in dict(_shape(ours)[1])
        assert given.stdout.strip().splitlines()[-1] != image

        (ctx / "Containerfile").write_text(MIDDLE.replace('["sh"]', '["sh", "-c", "cat v"]'))
        changed = shlax("build", "-t", ours, str(ctx), cache_dir=cache)
        # the COPY is folded with the config steps after it (one commit): copied again, the RUN is not run
        assert (
            statuses(changed.stderr)
            == ["from", "config", "config", "config", "cached", "config", "built"] + ["config"] * 2
        )
        bud(ctx / "Containerfile", ctx, theirs, cleanup=buildah_cleanup)
        assert _shape(ours) == _shape(theirs) and image_config(ours) == image_config(theirs)
    finally:
        forget_layers(cache)


def test_a_stage_built_from_keeps_its_empty_entries_in_the_child_oci(base_images, buildah_cleanup, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(FROM_STAGE)
    ours, theirs = buildah_cleanup.tag("shlax-entries-from"), buildah_cleanup.tag("bud-entries-from")
    cache = tmp_path / "cache"
    flags = ("--format", "oci", "--timestamp", "0")
    try:
        shlax("build", *flags, "-t", ours, str(ctx), cache_dir=cache)
        bud(ctx / "Containerfile", ctx, theirs, *flags, cleanup=buildah_cleanup)
        layers, history = _shape(ours, "OCIv1")
        assert (layers, history) == _shape(theirs, "OCIv1")
        assert [created for created, empty in history[1:] if empty] == [
            "/bin/sh -c #(nop) ENV X=1",
            "/bin/sh -c #(nop) WORKDIR /w",
            "/bin/sh -c #(nop) USER nobody",
            "/bin/sh -c #(nop) ENV Y=2",
            "/bin/sh -c #(nop) STOPSIGNAL SIGINT",
        ]
        assert {h.get("created") for h in _inspect(ours)["OCIv1"]["history"][1:]} == {"1970-01-01T00:00:00Z"}
        assert _inspect(ours)["OCIv1"]["config"] == _inspect(theirs)["OCIv1"]["config"]
    finally:
        forget_layers(cache)
