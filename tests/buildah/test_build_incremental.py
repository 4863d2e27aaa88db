"""Incremental apt layers (on by default) on a real build: packages added to an install are installed on the
previous layer, and the image is the one a full build of the same Containerfile gives, file for file.

What is left out of the comparison is what two full builds differ in anyway (logs, ldconfig's aux-cache).
dpkg's ``status-old`` is compared too: the delta rebuilds it as a full install leaves it.
"""

from __future__ import annotations

from buildah_tools import diff_trees, file_tree, forget_layers, image_config, shlax, statuses

APT = """\
FROM debian:bookworm
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends {packages} && rm -rf /var/lib/apt/lists/*
CMD ["bash"]
"""

NOISE = ("/var/log/", "/var/cache/ldconfig/aux-cache")


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
