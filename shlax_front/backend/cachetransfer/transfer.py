"""One build's cache traffic: layers and package files in on demand during it, everything out after it.

``api.run_request`` makes a ``CacheTransfer`` from ``--cache-from``/``--cache-to``. Before the first step only
the small memory of incremental layers is imported. The executor asks ``layer(key)`` when its own index
misses, and calls ``packages_ready`` before it builds a step: the package files are imported then, once (the
next runner's apt, pip and npm installs find their files, and apt its lists with their freshness record). A
build that reuses every step imports no package file at all. ``export`` writes every step image the build reached and the package caches after a successful build.
What moved, and how long it took, is logged (one line per cache), never printed by the library.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shlax_front.backend import flags
from shlax_front.backend.buildah import Buildah
from shlax_front.backend.cachetransfer import increments, layers, registryapi, registrypackages
from shlax_front.backend.cachetransfer.localcache import LocalCache
from shlax_front.backend.cachetransfer.localimages import LocalImageExport
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
    _packages_imported: bool = False
    _packages_lock: threading.Lock = field(default_factory=threading.Lock)
    #: the incremental records each registry repository holds (read at import, merged into at export)
    _remote_records: dict[str, dict] = field(default_factory=dict)

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
    def import_records(self) -> None:
        """Adopt the incremental-layer records of every source (small: read before the first step)."""
        for ref in self.sources:
            if ref.type == "local":
                if not Path(ref.location).is_dir():
                    continue
                cache, index = self._local(ref)
                known = index.get("layers", {})

                def has_layer(key: str, cache: LocalCache = cache, known: dict = known) -> bool:
                    entry = known.get(key)
                    return entry is not None and cache.has_blob(entry["manifest"])

                adopted = increments.adopt_records(self.cache_root, index.get("incremental"), has_layer)
            else:
                records = registrypackages.pull_records(self.buildah, self.auth, ref.location)
                self._remote_records[ref.location] = records
                adopted = increments.adopt_records(
                    self.cache_root, records, self._tagged(ref.location, records)
                )
            if adopted:
                log.info("cache %s: %d incremental layer records imported", ref, adopted)

    def _tagged(self, repository: str, records: dict) -> Callable[[str], bool]:
        """Whether the repository has ``layer-<key>``, by its tag list (one request); when the list cannot be
        read, every record is taken and a lookup that finds its layer gone builds the step in full."""
        if not records:
            return lambda key: False
        try:
            tags = set(registryapi.list_tags(repository, self.auth))
        except registryapi.TagListFailed:
            return lambda key: True
        return lambda key: layers.layer_tag(repository, key).rsplit(":", 1)[-1] in tags

    def packages_ready(self) -> None:
        """Import the package files now, once per build (a step is about to be built, or the caches exported)."""
        with self._packages_lock:
            if self._packages_imported:
                return
            self._packages_imported = True
            try:
                self.import_packages()
            except (CommandFailed, OSError) as err:  # a miss: the packages are fetched as usual
                log.warning("package caches not imported: %s", err)

    def import_packages(self) -> None:
        for ref in self.sources:
            t0 = time.monotonic()
            if ref.type == "local":
                if not Path(ref.location).is_dir():
                    log.info("cache %s: no such directory yet: nothing imported", ref.location)
                    continue
                cache, index = self._local(ref)
                moved = import_files(cache, index.get("files", {}), self.cache_root)
            elif ref.location in self._unavailable:
                continue
            else:
                keep = any(t.type == "registry" and t.location == ref.location for t in self.targets)
                moved = registrypackages.import_packages(
                    self.buildah, self.auth, ref.location, self.cache_root, keep=keep
                )
            if moved.files:
                log.info(
                    "cache %s: %d package files imported (%s) in %.1f s",
                    ref,
                    moved.files,
                    _mib(moved.bytes),
                    time.monotonic() - t0,
                )

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
        # no package import started here: a config step's key misses too (it is folded into the next commit)
        return None

    # -- after the build --------------------------------------------------------------------------------
    def export(self, reached: dict[str, str], fmt: str) -> None:
        """Write the step images ``reached`` (key -> image id) and the package caches to every target."""
        if self.targets:
            self.packages_ready()  # what the sources hold goes on to the targets even when nothing was built
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
        t0 = time.monotonic()
        cache = LocalCache(ref.location)
        index = cache.read_index() if cache.root.is_dir() else {}
        known = index.get("layers", {})
        missing = {
            key: image
            for key, image in reached.items()
            if not (known.get(key) and cache.has_blob(known[key]["manifest"]))
        }
        exporter = LocalImageExport(self.buildah, cache, fmt)
        new_layers = {
            key: {"manifest": manifest, "format": fmt} for key, manifest in exporter.export(missing).items()
        }
        t1 = time.monotonic()
        files, moved = export_files(cache, self.cache_root, index.get("files", {}))
        records = increments.carried_records(self.cache_root, {*known, *new_layers})

        def update(data: dict) -> None:
            data["layers"].update(new_layers)
            data["files"].update(files)
            held = data.setdefault("incremental", {})
            held.update({tkey: r for tkey, r in records.items() if r["key"] in data["layers"]})

        cache.merge_index(update)
        log.info(
            "cache %s: %d layers (%d pushed by buildah, %.1f s) and %d package files (%s, %.1f s) exported",
            ref,
            len(new_layers),
            exporter.pushed,
            t1 - t0,
            moved.files,
            _mib(moved.bytes),
            time.monotonic() - t1,
        )

    def _export_registry(self, ref: CacheRef, reached: dict[str, str], fmt: str) -> None:
        t0 = time.monotonic()
        pushed = 0
        for key, image in reached.items():
            if (ref.location, key) in self._in_registry:
                continue
            layers.push_registry(self.buildah, self.auth, image, ref.location, key, fmt)
            pushed += 1
        t1 = time.monotonic()
        moved: Transferred = registrypackages.export_packages(
            self.buildah, self.auth, ref.location, self.cache_root
        )
        t2 = time.monotonic()
        if ref.location not in self._remote_records:
            self._remote_records[ref.location] = registrypackages.pull_records(
                self.buildah, self.auth, ref.location
            )
        remote = self._remote_records[ref.location]
        # every layer the build reached is in the repository now (pushed, or found there)
        ours = increments.carried_records(self.cache_root, reached)
        if any(remote.get(tkey) != record for tkey, record in ours.items()):
            registrypackages.push_records(self.buildah, self.auth, ref.location, {**remote, **ours})
        log.info(
            "cache %s: %d layers (%.1f s) and %d package files (%s, %.1f s) exported",
            ref,
            pushed,
            t1 - t0,
            moved.files,
            _mib(moved.bytes),
            t2 - t1,
        )

    def push_image(self, image: str, tags: tuple[str, ...]) -> None:
        """``--push`` / ``-o type=registry``: send the built image to the registry of each name."""
        for tag in tags:
            try:
                layers.run_buildah(
                    self.buildah, "push", "--quiet", *self.auth.flags(), image, f"docker://{tag}"
                )
            except CommandFailed as err:
                output = err.result.stderr.strip().splitlines() or ["?"]
                raise BuildError(f"push {tag}: {output[-1]}") from None
            log.info("pushed %s", tag)

    def close(self) -> None:
        self.auth.close()


def pushed_names(request, tags: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Where the built image is pushed: every ``-t`` name with ``--push``, and the name of
    ``-o type=registry,name=REF`` (buildx's spelling of the same)."""
    names = list(tags) if request.push else []
    if request.push and not tags:
        raise ShlaxError("--push: name the image with -t HOST/REPOSITORY[:TAG]")
    output = flags.output(getattr(request, "output", None))
    if output is not None and output.type == "registry" and output.dest not in names:
        names.append(output.dest)
    return tuple(names)


def attach(request, buildah: Buildah, cache_root: Path, executor) -> CacheTransfer | None:
    """Give ``executor`` the caches ``request`` names (``--cache-from``/``--cache-to``/``--push``): incremental
    records are imported now, layers and package files on demand, and everything is exported when the build
    has succeeded."""
    pushes = pushed_names(request, executor.options.tags)
    if not (request.cache_from or request.cache_to or pushes):
        return None
    hosts = [
        registry_host(r.location) for r in (*request.cache_from, *request.cache_to) if r.type == "registry"
    ]
    hosts += [registry_host(name) for name in pushes]
    auth = RegistryAuth.create(request.authfile, request.creds, sorted(set(hosts)))
    atexit.register(auth.close)
    transfer = CacheTransfer(buildah, cache_root, tuple(request.cache_from), tuple(request.cache_to), auth)
    transfer.import_records()
    executor.import_layer = transfer.layer
    executor.before_build_step = transfer.packages_ready

    def finish(image: str) -> None:
        if transfer.imported_layers:
            log.info("%d step images imported from the caches", transfer.imported_layers)
        transfer.export(executor.reached, executor.format)
        if pushes:
            transfer.push_image(image, pushes)
        transfer.close()

    executor.after_build = finish
    return transfer
