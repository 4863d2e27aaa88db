"""Incremental apt layers (on by default) on a real build: packages added to an install are installed on the
previous layer, and the image is the one a full build of the same Containerfile gives, file for file.

What is left out of the comparison is what two full builds differ in anyway (logs, ldconfig's aux-cache).
dpkg's ``status-old`` is compared too: the delta rebuilds it as a full install leaves it.
"""

from __future__ import annotations

import json
import subprocess

from buildah_tools import bud, diff_trees, file_tree, forget_layers, image_config, shlax, statuses

APT = """\
FROM debian:bookworm
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends {packages} && rm -rf /var/lib/apt/lists/*
CMD ["bash"]
"""

NOISE = ("/var/log/", "/var/cache/ldconfig/aux-cache")


def _layer_count(ref: str) -> int:
    info = subprocess.run(
        ["buildah", "inspect", "--type", "image", ref], capture_output=True, text=True, check=True
    )
    return len(json.loads(info.stdout)["OCIv1"]["rootfs"]["diff_ids"])


def _tree(ref: str) -> dict:
    return {path: entry for path, entry in file_tree(ref).items() if not path.startswith(NOISE)}


def test_added_apt_packages_build_on_the_previous_layer_as_a_full_build_would(
    tmp_path, base_images, buildah_cleanup
):
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    ctx.mkdir()
    containerfile = ctx / "Containerfile"
    try:
        containerfile.write_text(APT.format(packages="tini procps"))
        shlax("build", str(ctx), cache_dir=cache)
        # nano shares libncursesw6 with procps; less and nano both register alternatives; libzstd-dev needs
        # the libzstd1 of bookworm-security, newer than the base image's (which apt and dpkg use): upgraded
        containerfile.write_text(APT.format(packages="tini procps nano less libzstd-dev"))
        incremental = buildah_cleanup.tag()
        added = shlax("build", "--explain", "-t", incremental, str(ctx), cache_dir=cache)
        assert (
            "built incrementally: added nano less libzstd-dev to the layer with tini procps" in added.stderr
        )
        again = shlax("build", str(ctx), cache_dir=cache)
        assert "built" not in statuses(again.stderr)

        full = buildah_cleanup.tag()
        shlax("build", "--no-cache", "-t", full, str(ctx), cache_dir=cache)
        assert diff_trees(_tree(incremental), _tree(full)) == []
        assert image_config(incremental) == image_config(full)
    finally:
        forget_layers(cache)


ADDED_LAST = """\
FROM debian:bookworm
ARG DEBIAN_FRONTEND=noninteractive
RUN set -eux; \\
    apt-get update; \\
    apt-get install -y -q --no-install-recommends \\
        {packages} \\
    ; \\
    rm -rf /var/lib/apt/lists/*
"""


def test_a_delta_leaves_apt_s_auto_installed_list_in_the_order_bud_s_full_build_does(
    tmp_path, base_images, buildah_cleanup
):
    """apt appends the dependencies it marks automatic in its cache's order: file's libmagic come before jq's
    libjq1 in a full install, after them in a delta until apt-mark writes the list again."""
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    ctx.mkdir()
    containerfile = ctx / "Containerfile"
    try:
        containerfile.write_text(ADDED_LAST.format(packages="jq tree"))
        shlax("build", str(ctx), cache_dir=cache)
        containerfile.write_text(ADDED_LAST.format(packages="jq tree file"))
        incremental = buildah_cleanup.tag()
        added = shlax("build", "--explain", "-t", incremental, str(ctx), cache_dir=cache)
        assert "built incrementally: added file to the layer with jq tree" in added.stderr
        full = bud(containerfile, ctx, buildah_cleanup.tag(), cleanup=buildah_cleanup)
        assert diff_trees(_tree(incremental), _tree(full)) == []
        assert image_config(incremental) == image_config(full)
    finally:
        forget_layers(cache)


def test_an_install_that_deletes_the_lists_of_its_image_is_built_in_full(
    tmp_path, base_images, buildah_cleanup
):
    """Without an update of its own the install reads the lists an earlier RUN left, and deletes them: its
    layer has none, so a delta from it could not install anything (it failed the build before)."""
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    ctx.mkdir()
    containerfile = ctx / "Containerfile"
    lines = "FROM debian:bookworm\nRUN apt-get update -qq\nRUN apt-get install -y -q {} && rm -rf /var/lib/apt/lists/*\n"
    try:
        containerfile.write_text(lines.format("tree"))
        shlax("build", str(ctx), cache_dir=cache)
        containerfile.write_text(lines.format("tree less"))
        added = shlax("build", "--explain", "-t", buildah_cleanup.tag(), str(ctx), cache_dir=cache)
        assert "not incremental: the RUN deletes the package lists it installs from" in added.stderr
    finally:
        forget_layers(cache)


def test_an_added_package_that_meets_an_alternative_of_the_earlier_install_is_built_in_full(
    tmp_path, base_images, buildah_cleanup
):
    """gpg-agent depends on `pinentry-curses | pinentry`: alone, apt takes pinentry-curses (and libncursesw6).
    With pinentry-tty (which provides pinentry) in the same install, a full install takes pinentry-tty alone;
    a delta on the earlier layer kept pinentry-curses beside it (bud's image had neither). Then a package that
    conflicts with one the earlier install named: the delta's apt removed libluajit-5.1-2 to install
    libluajit2-5.1-2 and the build succeeded; a full install of both fails, as bud's does. The RUN also
    deletes apt's archives (a common clean-up): bud's image has no ``archives/lock`` nor ``partial``, which
    shlax-front's layout replay made again after the host cache mount (found by the same comparison)."""
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    ctx.mkdir()
    containerfile = ctx / "Containerfile"
    cleaned = APT.replace("/var/lib/apt/lists/*", "/var/lib/apt/lists/* /var/cache/apt/archives/*")
    try:
        containerfile.write_text(cleaned.format(packages="gpg-agent"))
        shlax("build", str(ctx), cache_dir=cache)
        containerfile.write_text(cleaned.format(packages="gpg-agent pinentry-tty"))
        rebuilt = buildah_cleanup.tag()
        added = shlax("build", "--explain", "-t", rebuilt, str(ctx), cache_dir=cache)
        assert (
            "not incremental: gpg-agent (earlier install) has `Depends: pinentry-curses | pinentry`, which"
            " pinentry-tty (delta install) meets: a full install may choose otherwise" in added.stderr
        )
        full = bud(containerfile, ctx, buildah_cleanup.tag(), cleanup=buildah_cleanup)
        assert diff_trees(_tree(rebuilt), _tree(full)) == []
        assert image_config(rebuilt) == image_config(full)

        containerfile.write_text(APT.format(packages="libluajit-5.1-2"))
        shlax("build", str(ctx), cache_dir=cache)
        containerfile.write_text(APT.format(packages="libluajit-5.1-2 libluajit2-5.1-2"))
        conflicting = shlax("build", "--explain", str(ctx), cache_dir=cache, check=False)
        assert conflicting.returncode == 100
        assert (
            "not incremental: the delta removed libluajit-5.1-2, libluajit-5.1-common" in conflicting.stderr
        )
    finally:
        forget_layers(cache)


def test_an_install_whose_status_file_dpkg_writes_mid_run_is_built_in_full(
    tmp_path, base_images, buildah_cleanup
):
    """dpkg writes its status file after every 251st update of a run, and status-old is the copy from before
    its last write: a full install of the eight packages below (87 configured in apt's last dpkg run, about
    three updates each) leaves one from the middle of that run, its last packages unpacked and the rest
    installed. The earlier install and the delta each stay below that, so their copies show all their
    packages unpacked, and a status-old rebuilt from them would too (it did: the delta was kept, and its
    status-old was not bud's). Built in full, and then equal to bud's full build."""
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    ctx.mkdir()
    containerfile = ctx / "Containerfile"
    try:
        containerfile.write_text(ADDED_LAST.format(packages="git curl procps less"))
        shlax("build", str(ctx), cache_dir=cache)
        containerfile.write_text(
            ADDED_LAST.format(packages="git curl procps less build-essential openssh-client sqlite3 unzip")
        )
        incremental = buildah_cleanup.tag()
        added = shlax("build", "--explain", "-t", incremental, str(ctx), cache_dir=cache)
        assert "not incremental: a full install changes" in added.stderr
        assert "dpkg may write its status file during its last run" in added.stderr
        assert "updates counted in dpkg's log" in added.stderr
        full = bud(containerfile, ctx, buildah_cleanup.tag(), cleanup=buildah_cleanup)
        assert diff_trees(_tree(incremental), _tree(full)) == []
    finally:
        forget_layers(cache)


def test_a_medium_install_dpkg_writes_no_status_file_mid_run_for_takes_an_added_package_as_a_delta(
    tmp_path, base_images, buildah_cleanup
):
    """build-essential procps less: 62 packages, whose last dpkg run made 190 status updates (182 in dpkg's log,
    8 conffiles), where 6 a package estimated 412 and refused any delta. Counted in dpkg's log, the earlier
    install's and the delta's last runs stay below 251: built incrementally. Then file added: the second delta
    starts from the full layer again with tree and file, so the image has one layer more than bud's full build
    (a delta on the first delta's layer had two more). Equal to bud's full build of all, status-old included
    (its copy is the one from the start of the last run)."""
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    ctx.mkdir()
    containerfile = ctx / "Containerfile"
    try:
        containerfile.write_text(ADDED_LAST.format(packages="build-essential procps less"))
        shlax("build", str(ctx), cache_dir=cache)
        containerfile.write_text(ADDED_LAST.format(packages="build-essential procps less tree"))
        added = shlax("build", "--explain", str(ctx), cache_dir=cache)
        assert "built incrementally: added tree to the layer with build-essential procps less" in added.stderr
        assert "not incremental" not in added.stderr
        containerfile.write_text(ADDED_LAST.format(packages="build-essential procps less tree file"))
        incremental = buildah_cleanup.tag()
        added = shlax("build", "--explain", "-t", incremental, str(ctx), cache_dir=cache)
        assert (
            "built incrementally: added tree file to the layer with build-essential procps less"
            in added.stderr
        )
        assert "not incremental" not in added.stderr
        full = bud(containerfile, ctx, buildah_cleanup.tag(), cleanup=buildah_cleanup)
        assert diff_trees(_tree(incremental), _tree(full)) == []
        assert image_config(incremental) == image_config(full)
        assert _layer_count(incremental) == _layer_count(full) + 1
    finally:
        forget_layers(cache)


def test_pre_dependencies_apt_configures_early_are_kept_when_its_plan_for_the_whole_set_agrees(
    tmp_path, base_images, buildah_cleanup
):
    """apt configures pre-dependencies first, in dpkg runs of their own: python3-minimal pre-depends on
    python3.11-minimal, which pre-depends on libpython3.11-minimal, libexpat1 (and libssl3 comes with them), so
    their status-old (the status from the start of apt's last dpkg run) shows them installed and the rest
    unpacked. A delta whose layers configured the same ones early as apt's plan of a full install (asked with
    Debug::pkgDPkgPM in a container of the parent layer) is kept: python3-minimal added to tini (the delta
    configures them early), then less added to a full install of tini python3-minimal (the earlier install
    did; another script, so that its layer is a full install's, not the delta's). Each equal to bud's full
    build, status-old included (before, both were built in full: the earlier install's early runs refused the
    delta, and its dpkg log could not be counted)."""
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    ctx.mkdir()
    containerfile = ctx / "Containerfile"
    try:
        for template, earlier, added in (
            (ADDED_LAST, "tini", "python3-minimal"),
            (APT, "tini python3-minimal", "less"),
        ):
            containerfile.write_text(template.format(packages=earlier))
            shlax("build", str(ctx), cache_dir=cache)
            containerfile.write_text(template.format(packages=f"{earlier} {added}"))
            incremental = buildah_cleanup.tag()
            built = shlax("build", "--explain", "-t", incremental, str(ctx), cache_dir=cache)
            assert f"built incrementally: added {added} to the layer with {earlier}" in built.stderr
            assert "not incremental" not in built.stderr
            full = bud(containerfile, ctx, buildah_cleanup.tag(), cleanup=buildah_cleanup)
            assert diff_trees(_tree(incremental), _tree(full)) == []
            assert image_config(incremental) == image_config(full)
    finally:
        forget_layers(cache)


def test_names_added_to_a_build_arg_s_package_list_build_on_the_previous_layer_as_bud_would(
    tmp_path, base_images, buildah_cleanup
):
    """``apt-get install $PKGS`` with ``--build-arg PKGS=jq`` then ``PKGS=jq tree``: the build knows the list (the
    step's key holds the value), so the second build adds tree to the first's layer, its RUN still seeing the
    full value, and the image equals bud's full build with the same build arg (before, the list was refused as
    computed at run time and built in full)."""
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    ctx.mkdir()
    containerfile = ctx / "Containerfile"
    containerfile.write_text(ADDED_LAST.format(packages="$PKGS").replace("\n", "\nARG PKGS\n", 1))
    try:
        shlax("build", "--build-arg", "PKGS=jq", str(ctx), cache_dir=cache)
        incremental = buildah_cleanup.tag()
        added = shlax(
            "build", "--explain", "--build-arg", "PKGS=jq tree", "-t", incremental, str(ctx), cache_dir=cache
        )
        assert "built incrementally: added tree to the layer with jq" in added.stderr
        assert "not incremental" not in added.stderr
        full = bud(
            containerfile, ctx, buildah_cleanup.tag(), "--build-arg", "PKGS=jq tree", cleanup=buildah_cleanup
        )
        assert diff_trees(_tree(incremental), _tree(full)) == []
        assert image_config(incremental) == image_config(full)
    finally:
        forget_layers(cache)
