"""A COPY of plain context files runs ``buildah copy`` without ``--contextdir`` (``copy_step.plain_files``), by
real builds against bud: the same files, and the same ``file:``/``multi:`` digests in the history; a file reached
through a symlinked directory leading out of the context is still read inside the context, as bud reads it."""

from __future__ import annotations

import json
import os
import subprocess

from buildah_tools import bud, diff_trees, file_tree, forget_layers, run_bud, shlax


def _created_by(ref: str) -> list[str]:
    info = json.loads(subprocess.run(["buildah", "inspect", ref], capture_output=True, text=True).stdout)
    return [h.get("created_by", "") for h in info["Docker"]["history"][1:] if not h.get("empty_layer")]


def test_plain_files_are_copied_as_bud_copies_them(base_images, buildah_cleanup, tmp_path):
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    (ctx / "sub").mkdir(parents=True)
    (ctx / "Containerfile").write_text(
        "FROM busybox\nCOPY app.py /app/\nCOPY app.py sub/lib.py /lib/\nCOPY sub/lib.py /renamed.py\n"
    )
    (ctx / "app.py").write_text("print('app')\n")
    (ctx / "sub" / "lib.py").write_text("x = 1\n")
    os.chmod(ctx / "sub" / "lib.py", 0o600)
    ours, theirs = buildah_cleanup.tag("shlax-plain"), buildah_cleanup.tag("bud-plain")
    try:
        shlax("build", "--format", "docker", "-t", ours, str(ctx), cache_dir=cache)
        bud(ctx / "Containerfile", ctx, theirs, cleanup=buildah_cleanup)
        assert _created_by(ours) == _created_by(theirs)
        assert not diff_trees(file_tree(ours), file_tree(theirs))
    finally:
        forget_layers(cache)


def test_a_symlinked_directory_out_of_the_context_is_not_followed(base_images, buildah_cleanup, tmp_path):
    ctx, cache, outside = tmp_path / "ctx", tmp_path / "cache", tmp_path / "outside"
    ctx.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("host secret\n")
    os.symlink(outside, ctx / "linked")  # absolute: inside the context's chroot it leads nowhere
    (ctx / "Containerfile").write_text("FROM busybox\nCOPY linked/secret.txt /s/\n")
    try:
        ours = shlax("build", str(ctx), cache_dir=cache, check=False)
        theirs = run_bud(["buildah", "bud", "--layers", "-f", str(ctx / "Containerfile"), str(ctx)])
        assert ours.returncode != 0 and theirs.returncode != 0, (ours.stderr, theirs.stdout)
        assert "host secret" not in ours.stdout + ours.stderr
    finally:
        forget_layers(cache)


def _config(ref: str) -> dict:
    info = json.loads(subprocess.run(["buildah", "inspect", ref], capture_output=True, text=True).stdout)
    config = info["Docker"]["config"]
    return {key: config.get(key) for key in ("Env", "User", "WorkingDir", "Cmd")}


def test_config_steps_before_a_copy_set_with_its_commit_make_buds_image(
    base_images, buildah_cleanup, tmp_path
):
    """ENV, USER and WORKDIR before a COPY are set on its container with its commit's history line, after the
    copy (one ``buildah config`` call): the copy reads none of them - its files are root's without ``--chown``
    whatever the USER, ``--chown`` names a user of the image's files - and the image is bud's."""
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    (ctx / "sub").mkdir(parents=True)
    (ctx / "Containerfile").write_text(
        "FROM busybox\nENV A=1\nUSER nobody\nWORKDIR /w\nCOPY app.py ./\nCOPY --chown=nobody sub/ ./sub/\n"
        "USER root\nENV B=2\nCOPY app.py /x/\nRUN cat /w/app.py /x/app.py > /w/both\n"
        'ENV C=3\nCOPY sub/lib.py /y/\nCMD ["sh"]\n'
    )
    (ctx / "app.py").write_text("print('app')\n")
    (ctx / "sub" / "lib.py").write_text("x = 1\n")
    ours, theirs = buildah_cleanup.tag("shlax-cfgcopy"), buildah_cleanup.tag("bud-cfgcopy")
    try:
        shlax("build", "--format", "docker", "-t", ours, str(ctx), cache_dir=cache)
        bud(ctx / "Containerfile", ctx, theirs, cleanup=buildah_cleanup)
        assert _created_by(ours) == _created_by(theirs)
        assert _config(ours) == _config(theirs)
        assert not diff_trees(file_tree(ours), file_tree(theirs))
    finally:
        forget_layers(cache)
