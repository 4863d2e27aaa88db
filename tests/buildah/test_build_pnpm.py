"""pnpm writes the store's path into ``node_modules/.modules.yaml`` (``storeDir``); a later install that finds
another store deletes node_modules and installs it again from scratch: root's store must be mounted where pnpm looks, so that file
is bud's. The stand-in ``pnpm`` does what the real one does with the store's path (it fills the store and
records it), without the network."""

from __future__ import annotations

import os

from buildah_tools import forget_layers, mounted_image, read_file, run_bud, shlax

FAKE_PNPM = (
    'RUN printf \'#!/bin/sh\\nset -e\\nstore="${npm_config_store_dir:-$HOME/.local/share/pnpm/store}"\\n'
    'mkdir -p "$store/v3" node_modules\\necho tarball > "$store/v3/files"\\n'
    'echo "storeDir: $store/v3" > node_modules/.modules.yaml\\n\' > /usr/local/bin/pnpm'
    " && chmod 755 /usr/local/bin/pnpm"
)

CONTAINERFILE = f"""\
FROM debian:bookworm
{FAKE_PNPM}
WORKDIR /app
RUN pnpm install --frozen-lockfile
"""


def test_root_pnpm_install_records_the_store_bud_records(tmp_path, base_images, buildah_cleanup):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    ours, theirs = buildah_cleanup.tag(), buildah_cleanup.tag()
    try:
        shlax("build", "-t", ours, str(ctx), cache_dir=tmp_path / "cache")
        r = run_bud(["buildah", "bud", "--no-cache", "--format", "docker", "-t", theirs, str(ctx)])
        assert r.returncode == 0, r.stderr[-2000:]
        expected = "storeDir: /root/.local/share/pnpm/store/v3\n"
        assert read_file(theirs, "/app/node_modules/.modules.yaml") == expected
        assert read_file(ours, "/app/node_modules/.modules.yaml") == expected
        # the store itself went to the host cache, not into the image
        with mounted_image(ours) as root:
            assert not os.path.exists(os.path.join(root, "root/.local/share/pnpm/store/v3/files"))
        assert list((tmp_path / "cache").rglob("v3/files"))
    finally:
        forget_layers(tmp_path / "cache")
