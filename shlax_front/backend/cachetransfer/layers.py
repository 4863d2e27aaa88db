"""Layer images in and out of a cache: each step's image under its cache key.

Local directory: ``buildah push`` writes the image as an OCI layout into a private work directory whose
``blobs`` is a link to the cache's shared blobs, so a layer the cache already holds is not written again (and
each blob lands under its name by a rename); the manifest digest goes into the index under the key. The image's
own manifest type is kept (``oci`` or ``v2s2``), so its config, and with it the image id, stays the same on the
next runner. Import hashes the manifest, config and every layer blob back to their digests, lays them out as a
``dir:`` image of links to the blobs (a form buildah 1.28 reads for both manifest types) and pulls that: the
image arrives untagged, as the step images of a build are.

Registry: the image is pushed as ``REPO:layer-<key>`` and pulled by that tag (buildah checks the digests); the
pulled image keeps that name.
"""

from __future__ import annotations

import json
import logging
import os

from shlax_front.backend.buildah import Buildah
from shlax_front.backend.cachetransfer.localcache import LocalCache
from shlax_front.backend.cachetransfer.registryauth import RegistryAuth
from shlax_front.backend.runner import Result

log = logging.getLogger(__name__)

#: buildah push --format per image format of the executor
PUSH_FORMATS = {"oci": "oci", "docker": "v2s2"}
DIR_VERSION = "Directory Transport Version: 1.1\n"
#: cache pushes compress fast: gzip level 1 costs a fraction of the default level's CPU time for a few per cent
#: more bytes (package files are compressed already), and any registry client reads it
FAST_COMPRESSION = ("--compression-format", "gzip", "--compression-level", "1")


def push_local(buildah: Buildah, cache: LocalCache, image: str, key: str, fmt: str) -> str:
    """Export one step image into the cache's blobs; its manifest digest."""
    with cache.workdir() as work:
        cache.blobs.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(cache.blobs.parent, work), work / "blobs")
        # buildah 1.28 compresses every layer of the image again, those the cache holds already included
        # (--disable-compression is not honoured for oci: layouts): localimages pushes one image per chain of
        # step images, and gzip level 1 makes that one cheap
        _push(buildah, image, f"oci:{work}:{key}", fmt)
        listed = json.loads((work / "index.json").read_text())
        return str(listed["manifests"][0]["digest"])


def pull_local(buildah: Buildah, cache: LocalCache, manifest_digest: str) -> str | None:
    """Import one step image from the cache after checking every blob it is made of; its image id, or None
    when a blob is missing or damaged (the step is then built)."""
    manifest_path = cache.verified_blob(manifest_digest)
    if manifest_path is None:
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
        config = manifest["config"]["digest"]
        layers = [layer["digest"] for layer in manifest["layers"]]
    except (ValueError, KeyError, TypeError):
        log.warning("%s: not an image manifest: ignored", manifest_path)
        return None
    blobs = {}
    for digest in (config, *layers):
        path = cache.verified_blob(digest)
        if path is None:
            return None
        blobs[digest] = path
    with cache.workdir() as work:
        (work / "manifest.json").write_bytes(manifest_path.read_bytes())
        (work / "version").write_text(DIR_VERSION)
        for digest, path in blobs.items():
            link = work / digest.removeprefix("sha256:")
            if not link.exists():
                os.symlink(path.resolve(), link)
        result = run_buildah(buildah, "pull", "--quiet", f"dir:{work}", check=False)
    if result.returncode != 0:
        log.warning("cannot import a cached layer: %s", (result.stderr.strip().splitlines() or ["?"])[-1])
        return None
    image = result.stdout.strip().splitlines()[-1].removeprefix("sha256:")
    if image != config.removeprefix("sha256:"):
        log.warning("imported layer %s has id %s, not its config digest", manifest_digest[:19], image[:12])
    return image


def layer_tag(repository: str, key: str) -> str:
    return f"{repository}:layer-{key}"


def push_registry(
    buildah: Buildah, auth: RegistryAuth, image: str, repository: str, key: str, fmt: str
) -> None:
    _push(buildah, image, f"docker://{layer_tag(repository, key)}", fmt, *auth.flags())


def _push(buildah: Buildah, image: str, destination: str, fmt: str, *flags: str) -> None:
    """A step image out to a cache, in the executor's image format, compressed fast."""
    push_format = PUSH_FORMATS.get(fmt, "oci")
    run_buildah(
        buildah, "push", "--quiet", "--format", push_format, *FAST_COMPRESSION, *flags, image, destination
    )


class RegistryUnavailable(Exception):
    """The registry did not answer "no such tag" but failed otherwise (unreachable, refused, TLS, login)."""


#: what the registry answers for a tag it does not have: a miss, not a failure
NOT_THERE = ("manifest unknown", "not found", "name unknown")


def pull_registry(buildah: Buildah, auth: RegistryAuth, repository: str, key: str) -> str | None:
    """The step image tagged with ``key`` in the repository, pulled; None when the registry has none.
    Raises ``RegistryUnavailable`` (with buildah's last line) when the registry cannot be asked at all."""
    result = run_buildah(
        buildah, "pull", "--quiet", *auth.flags(), f"docker://{layer_tag(repository, key)}", check=False
    )
    if result.returncode != 0:
        said = (result.stderr.strip().splitlines() or ["?"])[-1]
        if any(words in said.lower() for words in NOT_THERE):
            return None
        raise RegistryUnavailable(said)
    return result.stdout.strip().splitlines()[-1].removeprefix("sha256:")


def run_buildah(buildah: Buildah, *args: str, check: bool = True) -> Result:
    """One buildah verb through the build's runner (a fake one in unit tests)."""
    return buildah.runner.run([buildah.binary, *args], check=check)
