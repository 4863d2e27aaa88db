"""Where bud versions differ, shlax-front follows the installed one: each test compares with the installed
``buildah bud`` (CI runs them on 1.28 and, in a Debian 13 root, on 1.39), and checks that the rules
``budversion`` picked are the ones that version was measured with.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from buildah_tools import (
    bud,
    diff_trees,
    file_tree,
    forget_layers,
    image_config,
    mounted_image,
    read_file,
    run_bud,
    shlax,
)

from shlax_front.backend import budversion
from shlax_front.platforms import host_platform


def test_installed_version_is_read_and_measured():
    version = budversion.installed_version()
    out = subprocess.run(["buildah", "--version"], capture_output=True, text=True, check=True).stdout
    assert version is not None and f"buildah version {version[0]}.{version[1]}" in out
    # CI runs exactly the measured versions: a new one must be measured before it is claimed
    assert budversion.installed().measured.startswith(f"{version[0]}.{version[1]}.")


def _compare_with_bud(tmp_path, cleanup, containerfile: str, *extra: str, read: tuple[str, ...] = ()) -> dict:
    """Build with shlax-front and with bud, assert the same config and files; returns our image's config and
    the content of the files in ``read`` (None when absent), read before the private cache is forgotten."""
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Containerfile").write_text(containerfile)
    ours, theirs = cleanup.tag("shlax-ver"), cleanup.tag("bud-ver")
    try:
        shlax("build", "-t", ours, *extra, str(ctx), cache_dir=tmp_path / "cache")
        bud(ctx / "Containerfile", ctx, theirs, *extra, cleanup=cleanup)
        config = image_config(ours)
        assert config == image_config(theirs)
        tree = file_tree(ours)
        assert diff_trees(tree, file_tree(theirs)) == []
        return {"config": config, **{path: read_file(ours, path) if path in tree else None for path in read}}
    finally:
        forget_layers(tmp_path / "cache")


def test_platform_arg_defaults_and_build_args_as_bud(base_images, buildah_cleanup, tmp_path):
    """1.28 keeps ``ARG TARGETARCH=default``; 1.39 gives it the platform's value; ``--build-arg`` wins in both."""
    containerfile = (
        "ARG TARGETOS=global-default\n"
        "FROM busybox\n"
        "ARG TARGETOS\n"
        "ARG TARGETARCH=arch-default\n"
        "ARG BUILDARCH=build-default\n"
        "ARG TARGETVARIANT=variant-default\n"
        "ARG BUILDOS\n"
        'RUN echo "$TARGETOS|$TARGETARCH|$BUILDARCH|$TARGETVARIANT|$BUILDOS" > /seen\n'
    )
    ours = _compare_with_bud(
        tmp_path, buildah_cleanup, containerfile, "--build-arg", "BUILDOS=given", read=("/seen",)
    )
    seen = ours["/seen"].strip().split("|")
    host = host_platform()
    if budversion.installed().platform_args_are_build_args:
        assert seen == ["linux", host.arch, host.arch, host.variant, "given"]
    else:
        assert seen == ["linux", "arch-default", "build-default", "variant-default", "given"]


def test_platform_arg_redefinition_refused_where_bud_refuses(base_images, buildah_cleanup, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nARG TARGETPLATFORM=linux/amd64\nRUN true\n")
    theirs = buildah_cleanup.tag("bud-ver")
    budded = run_bud(["buildah", "bud", "--layers", "-t", theirs, "-f", str(ctx / "Containerfile"), str(ctx)])
    result = shlax("build", "-t", buildah_cleanup.tag(), str(ctx), cache_dir=tmp_path / "cache", check=False)
    forget_layers(tmp_path / "cache")
    if "attempted to redefine" in budded.stderr:
        assert "TARGETPLATFORM" in budversion.installed().not_redefinable
        assert result.returncode == 2
        assert result.stderr.strip() == (
            f"{ctx / 'Containerfile'}:2: ARG TARGETPLATFORM: buildah "
            f"{budversion.installed().measured.rsplit('.', 1)[0]} refuses a default for the platform ARG it "
            "sets (attempted to redefine TARGETPLATFORM): ARG TARGETPLATFORM=linux/amd64"
        )
    else:
        assert budded.returncode == 0, budded.stderr
        assert budversion.installed().not_redefinable == ()
        assert result.returncode == 0, result.stderr


def test_mount_targets_already_in_the_image_as_bud(base_images, buildah_cleanup, tmp_path):
    """1.28 deletes a covered mount target and a covered secret file outside /var/; 1.39 keeps both."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "dd").mkdir()
    (ctx / "dd" / "x").write_text("x\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret\n")
    containerfile = (
        "FROM busybox\n"
        "RUN mkdir -p /srv/data /opt && echo keep > /srv/data/keep && echo keep > /etc/covered-secret\n"
        "RUN --mount=type=bind,source=dd,target=/srv/data ls /srv/data > /l1\n"
        "RUN --mount=type=secret,id=s1,target=/etc/covered-secret cat /etc/covered-secret > /l2\n"
    )
    ours = _compare_with_bud(
        tmp_path,
        buildah_cleanup,
        containerfile,
        "--secret",
        f"id=s1,src={secret}",
        read=("/srv/data/keep", "/etc/covered-secret", "/l2"),
    )
    rules = budversion.installed()
    assert (ours["/srv/data/keep"] == "keep\n") is not rules.deletes_covered_mount_targets
    assert (ours["/etc/covered-secret"] == "keep\n") is not rules.deletes_covered_secret_files
    assert ours["/l2"] == "s3cret\n"


def test_base_image_without_env_gets_the_default_path(base_images, buildah_cleanup, tmp_path):
    """bud writes the default PATH into the config of a stage on a base image with no Env (both versions)."""
    noenv = buildah_cleanup.tag("noenv-base")
    ctr = buildah_cleanup.container(f"noenv-{Path(tmp_path).name}")
    subprocess.run(["buildah", "from", "--name", ctr, "scratch"], check=True, capture_output=True)
    rootfs = tmp_path / "rootfs.tar"
    with mounted_image(base_images["busybox"]) as root:
        subprocess.run(["tar", "-C", root, "-cf", str(rootfs), "."], check=True)
    subprocess.run(["buildah", "add", ctr, str(rootfs), "/"], check=True, capture_output=True)
    subprocess.run(
        ["buildah", "commit", "--quiet", "--format", "docker", ctr, noenv], check=True, capture_output=True
    )
    assert image_config(noenv)["Env"] is None
    ours = _compare_with_bud(tmp_path, buildah_cleanup, f"FROM {noenv}\nRUN true\nLABEL a=b\n")
    assert ours["config"]["Env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
