"""One build's cache traffic: package files in before it, layers on demand during it, everything out after it.

``api.run_request`` makes a ``CacheTransfer`` from ``--cache-from``/``--cache-to``: ``import_packages`` fills the
host caches before the first step (so the next runner's apt, pip and npm installs find their files, and apt
its lists with their freshness record), the executor asks ``layer(key)`` when its own index misses, and
``export`` writes every step image the build reached and the package caches after a successful build. What
moved is logged (one line per cache), never printed by the library.
"""

from __future__ import annotations

import atexit
import logging
from dataclasses import dataclass, field
from pathlib import Path

from shlax_front.backend.buildah import Buildah
from shlax_front.backend.cachetransfer import layers, registrypackages
from shlax_front.backend.cachetransfer.localcache import LocalCache
from shlax_front.backend.cachetransfer.packages import Transferred, export_files, import_files
from shlax_front.backend.cachetransfer.refs import CacheRef
from shlax_front.backend.cachetransfer.registryauth import RegistryAuth, registry_host
from shlax_front.backend.runner import CommandFailed
from shlax_front.backend.store import untrusted
from shlax_front.errors import BuildError, ShlaxError

log = logging.getLogger(__name__)


def _mib(size: int) -> str:
    return f"{size / 1048576:.1f} MiB"


@dataclass
class CacheTransfer:
    buildah: Buildah
    cache_root: Path
    sources: tuple[CacheRef, ...] = ()
    targets: tuple[CacheRef, ...] = ()
    auth: RegistryAuth = field(default_factory=RegistryAuth)
    #: layers found in a registry by this build, (repository, key): known to be there, not pushed again
    _in_registry: set[tuple[str, str]] = field(default_factory=set)
    _indexes: dict[str, dict] = field(default_factory=dict)
    #: registries that failed otherwise than with "no such tag": not asked for every further step
    _unavailable: set[str] = field(default_factory=set)
    imported_layers: int = 0

    def _local(self, ref: CacheRef) -> tuple[LocalCache, dict]:
        """The cache directory and its index, read once. A directory someone else could have written (its
        index could name any image for a key) is ignored with a warning, as the cache root would be refused."""
        if ref.location not in self._indexes:
            cache = LocalCache(ref.location)
            index: dict = {}
            if Path(ref.location).is_dir():
                why = untrusted(cache.root) or untrusted(cache.root / "index")
                if why:
                    log.warning("cache %s: the directory is %s: ignored", ref.location, why)
                else:
                    index = cache.read_index()
            self._indexes[ref.location] = index
        return LocalCache(ref.location), self._indexes[ref.location]

    # -- before the build -------------------------------------------------------------------------------
    def import_packages(self) -> None:
        for ref in self.sources:
            if ref.type == "local":
                if not Path(ref.location).is_dir():
                    log.info("cache %s: no such directory yet: nothing imported", ref.location)
                    continue
                cache, index = self._local(ref)
                moved = import_files(cache, index.get("files", {}), self.cache_root)
            else:
                keep = any(t.type == "registry" and t.location == ref.location for t in self.targets)
                moved = registrypackages.import_packages(
                    self.buildah, self.auth, ref.location, self.cache_root, keep=keep
                )
            if moved.files:
                log.info("cache %s: %d package files imported (%s)", ref, moved.files, _mib(moved.bytes))

    # -- during the build -------------------------------------------------------------------------------
    def layer(self, key: str) -> str | None:
        """The image of the step with cache key ``key`` from the first cache that has it, pulled; or None."""
        for ref in self.sources:
            if ref.type == "local":
                cache, index = self._local(ref)
                entry = index.get("layers", {}).get(key)
                image = layers.pull_local(self.buildah, cache, entry["manifest"]) if entry else None
            elif ref.location in self._unavailable:
                continue
            else:
                try:
                    image = layers.pull_registry(self.buildah, self.auth, ref.location, key)
                except layers.RegistryUnavailable as err:
                    log.warning("cache %s: not asked again in this build: %s", ref, err)
                    self._unavailable.add(ref.location)
                    continue
                if image:
                    self._in_registry.add((ref.location, key))
            if image:
                self.imported_layers += 1
                return image
        return None

    # -- after the build --------------------------------------------------------------------------------
    def export(self, reached: dict[str, str], fmt: str) -> None:
        """Write the step images ``reached`` (key -> image id) and the package caches to every target."""
        for ref in self.targets:
            try:
                if ref.type == "local":
                    self._export_local(ref, reached, fmt)
                else:
                    self._export_registry(ref, reached, fmt)
            except CommandFailed as err:
                output = err.result.stderr.strip().splitlines() or ["?"]
                raise BuildError(f"--cache-to {ref}: export failed: {output[-1]}") from None

    def _export_local(self, ref: CacheRef, reached: dict[str, str], fmt: str) -> None:
        cache = LocalCache(ref.location)
        index = cache.read_index() if cache.root.is_dir() else {}
        known = index.get("layers", {})
        new_layers = {}
        for key, image in reached.items():
            entry = known.get(key)
            if entry and cache.has_blob(entry["manifest"]):
                continue
            manifest = layers.push_local(self.buildah, cache, image, key, fmt)
            new_layers[key] = {"manifest": manifest, "format": fmt}
        files, moved = export_files(cache, self.cache_root, index.get("files", {}))

        def update(data: dict) -> None:
            data["layers"].update(new_layers)
            data["files"].update(files)

        cache.merge_index(update)
        log.info(
            "cache %s: %d layers and %d package files exported (%s of package files)",
            ref,
            len(new_layers),
            moved.files,
            _mib(moved.bytes),
        )

    def _export_registry(self, ref: CacheRef, reached: dict[str, str], fmt: str) -> None:
        pushed = 0
        for key, image in reached.items():
            if (ref.location, key) in self._in_registry:
                continue
            layers.push_registry(self.buildah, self.auth, image, ref.location, key, fmt)
            pushed += 1
        moved: Transferred = registrypackages.export_packages(
            self.buildah, self.auth, ref.location, self.cache_root
        )
        log.info(
            "cache %s: %d layers and %d package files exported (%s of package files)",
            ref,
            pushed,
            moved.files,
            _mib(moved.bytes),
        )

    def push_image(self, image: str, tags: tuple[str, ...]) -> None:
        """``--push``: send the built image to the registry of each tag."""
        for tag in tags:
            try:
                layers.run_buildah(
                    self.buildah, "push", "--quiet", *self.auth.flags(), image, f"docker://{tag}"
                )
            except CommandFailed as err:
                output = err.result.stderr.strip().splitlines() or ["?"]
                raise BuildError(f"--push {tag}: {output[-1]}") from None
            log.info("pushed %s", tag)

    def close(self) -> None:
        self.auth.close()


def attach(request, buildah: Buildah, cache_root: Path, executor) -> CacheTransfer | None:
    """Give ``executor`` the caches ``request`` names (``--cache-from``/``--cache-to``/``--push``): package files
    are imported now, layers on demand, and everything is exported when the build has succeeded."""
    if not (request.cache_from or request.cache_to or request.push):
        return None
    hosts = [
        registry_host(r.location) for r in (*request.cache_from, *request.cache_to) if r.type == "registry"
    ]
    if request.push:
        if not executor.options.tags:
            raise ShlaxError("--push: name the image with -t HOST/REPOSITORY[:TAG]")
        hosts += [registry_host(tag) for tag in executor.options.tags]
    auth = RegistryAuth.create(request.authfile, request.creds, sorted(set(hosts)))
    atexit.register(auth.close)
    transfer = CacheTransfer(buildah, cache_root, tuple(request.cache_from), tuple(request.cache_to), auth)
    transfer.import_packages()
    executor.import_layer = transfer.layer

    def finish(image: str) -> None:
        if transfer.imported_layers:
            log.info("%d step images imported from the caches", transfer.imported_layers)
        transfer.export(executor.reached, executor.format)
        if request.push:
            transfer.push_image(image, tuple(executor.options.tags))
        transfer.close()

    executor.after_build = finish
    return transfer
