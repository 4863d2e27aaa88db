"""The working containers and temporary directories of one build, and their removal whatever happens.

Every container a build makes (one per step that changes files, one per image ``COPY --from`` reads) and
every directory it writes run-only files to is registered here, so that ``cleanup`` - called when the build
ends, fails or is interrupted - unmounts and removes exactly those, and then the images made for the build's own
use (``onbuild``: a FROM image's copy without its ONBUILD triggers). Stages building at the same time share
one registry: it is changed under a lock, and ``cleanup`` runs once every stage has stopped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable

from shlax_front.backend import stale
from shlax_front.backend.buildah import Buildah
from shlax_front.backend.runner import CommandFailed

#: how often a working container of a temporary image is tried, the image made again before each new try
FROM_TRIES = 3


class WorkingContainers:
    def __init__(self, buildah: Buildah):
        self.buildah = buildah
        self.names: list[str] = []
        self.tempdirs: list[str] = []
        #: images made for this build only (``onbuild``: a FROM image's copy without triggers), removed last
        self.images: list[str] = []
        #: how each of ``images`` is made again (``temporary_image``)
        self._remakes: dict[str, Callable[[], object]] = {}
        self._sources: dict[str, str] = {}
        self._swept = False
        self._lock = threading.RLock()
        self._marker = stale.Markers()
        #: what a source container of an image is made from (the executor's: a copy without ONBUILD triggers)
        self.source_image: Callable[[str], str] = _itself

    def _sweep_once(self) -> None:
        """Before this build's first container: leave this build's marker and remove what builds killed outright
        left (``stale``) - their containers only when a marker says there can be some (a buildah call)."""
        with self._lock:
            if not self._swept:
                self._swept = True
                if self._marker.begin():
                    stale.sweep_containers(self.buildah)
                    self._marker.swept()
                stale.sweep_dirs()

    def create(self, image: str | None) -> str:
        """A new working container of ``image`` (``None``: scratch), never pulled."""
        self._sweep_once()
        name = _new_name()
        with self._lock:  # registered before it exists: a clean-up meanwhile removes it too
            self.names.append(name)
        self._from(image or "scratch", name)
        return name

    def _from(self, image: str, name: str) -> None:
        """``buildah from`` of ``image``. A temporary image is shared with other builds of the same FROM image
        (``onbuild``: one copy per original, its id its config's digest), and one of them removes it at its end:
        between this build's making it and its ``buildah from``, it may be gone. Then it is made again (the
        same id) and the container tried again."""
        for attempt in range(FROM_TRIES):
            try:
                self.buildah.from_(image, name, pull="never")
                return
            except CommandFailed:
                remake = self._remakes.get(image)
                if (
                    remake is None
                    or attempt == FROM_TRIES - 1
                    or self.buildah.inspect_image(image) is not None
                ):
                    raise
                remake()

    def remove(self, name: str) -> None:
        """Remove a container this build no longer needs (``buildah rm`` unmounts it: no ``umount`` call)."""
        self.buildah.rm(name)
        self.forget(name)

    def forget(self, name: str) -> None:
        """A container buildah already removed (``commit --rm``): nothing left to clean up."""
        with self._lock:
            if name in self.names:
                self.names.remove(name)

    def source_rootfs(self, image: str) -> str:
        """The mounted root of ``image`` (one read-only-use container per image per build)."""
        with self._lock:
            if image in self._sources:
                return self._sources[image]
        made_from = self.source_image(image)  # outside the lock: it may make an image (``onbuild``)
        with self._lock:  # two stages reading one image share its container
            if image not in self._sources:
                self._sweep_once()
                name = _new_name()
                self.names.append(name)
                self._from(made_from, name)
                self._sources[image] = self.buildah.mount(name)
            return self._sources[image]

    def scratch(self, prefix: str) -> str:
        """A temporary directory for one step, removed at the end of the build (failed or not)."""
        path = tempfile.mkdtemp(prefix=f"{prefix}{stale.owner()}-")
        with self._lock:
            self.tempdirs.append(path)
        return path

    def temporary_image(self, image: str, remake: Callable[[], object] | None = None) -> None:
        """An image this build made for its own use: removed by ``cleanup``, once its containers are gone.
        ``remake`` makes it again, should another build have removed it before a container of it exists."""
        with self._lock:
            if image not in self.images:
                self.images.append(image)
            if remake is not None:
                self._remakes[image] = remake

    def cleanup(self) -> None:
        """Remove every container and temporary directory still registered (newest containers first)."""
        with self._lock:
            self._clean()

    def _clean(self) -> None:
        self._sources.clear()
        for name in reversed(self.names):
            self.buildah.umount(name)
            self.buildah.rm(name)
        self.names.clear()
        if (
            self.images
        ):  # never --force: an image another build's container uses stays (that build removes it)
            self.buildah.rmi(self.images)
            self.images.clear()
            self._remakes.clear()
        for path in self.tempdirs:
            shutil.rmtree(path, ignore_errors=True)
        self.tempdirs.clear()
        self._marker.end()  # after its containers: a build killed while removing them is still swept
        self._swept = False


def _itself(image: str) -> str:
    return image


def _new_name() -> str:
    """``shlax-front-<owner>-<random>``: the owner lets the next build tell a dead build's container (``stale``)."""
    return f"{stale.PREFIX}{stale.owner()}-{os.urandom(6).hex()}"  # not uuid: importing it costs 3-25 ms
