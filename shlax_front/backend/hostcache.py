"""Host package caches mounted into RUN steps: where each lives, how it is locked, who owns it.

- apt lists/archives are partitioned per distribution release and architecture (read from the container's
  ``/etc/os-release``): a bookworm .deb is no use to an alpine image, and lists of two releases collide.
- pip and npm share the invoking user's own ``~/.cache/pip`` / ``~/.npm`` (``host=``); after a run the
  files are handed back to that user, so a ``sudo shlax-front build`` leaves no root-owned files there.
- A non-root ``USER`` in the container must be able to write: the directory is handed to that uid for
  the run (under the cache's exclusive lock) and back to its owner afterwards.
- apt needs two settings to keep what it downloads, and neither may persist in the image: they are put
  in a config file mounted for the run only and named by ``APT_CONFIG`` (read after ``apt.conf.d``, so
  its ``#clear`` removes the image's docker-clean hooks for this run).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from shlax_front.backend import faults
from shlax_front.backend.steps import HostCache
from shlax_front.backend.store import cache_writes, file_lock, invoking_user

#: the invoking user's own caches a HostCache may share (``host=``), relative to their home
HOST_CACHES = {"pip": ".cache/pip", "npm": ".npm", "yarn": ".cache/yarn", "uv": ".cache/uv"}

APT_RUN_CONFIG = """\
// shlax-front: for this RUN only (never in the image): keep downloaded packages in the host cache.
#clear DPkg::Post-Invoke;
#clear APT::Update::Post-Invoke;
APT::Keep-Downloaded-Packages "true";
Binary::apt::APT::Keep-Downloaded-Packages "true";
"""


#: suffix of the directory beside a cache that holds its freshness records (apt lists, pip resolutions)
RECORDS_SUFFIX = ".state"


def records_directory(cache_directory: Path) -> Path:
    """Where the freshness records of a cache directory live: beside it (never inside, where the package
    manager's own clean-up would delete them), so ``cache prune`` removes both together."""
    return cache_directory.with_name(cache_directory.name + RECORDS_SUFFIX)


def read_os_release(rootfs: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for candidate in ("etc/os-release", "usr/lib/os-release"):
        path = os.path.join(rootfs, candidate)
        if os.path.isfile(path) and not os.path.islink(path) or os.path.exists(path):
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    for line in f:
                        key, sep, value = line.strip().partition("=")
                        if sep:
                            values[key] = value.strip().strip('"').strip("'")
                break
            except OSError:
                continue
    return values


def partition_name(os_release: dict[str, str], arch: str) -> str:
    """``debian-12-amd64``: apt contents are interchangeable only within one release and architecture."""
    distro = os_release.get("ID", "unknown")
    version = os_release.get("VERSION_ID") or os_release.get("VERSION_CODENAME") or "rolling"
    return f"{distro}-{version}-{arch}"


@dataclass
class HostCaches:
    root: Path

    def directory(self, cache: HostCache, partition: str | None) -> Path:
        if cache.host in HOST_CACHES:
            home = invoking_user()[2]
            return Path(home) / HOST_CACHES[cache.host]
        path = self.root / "caches" / cache.id
        if cache.partition and partition:
            path = path / partition
        return path

    def lock_path(self, cache: HostCache, partition: str | None) -> Path:
        name = cache.host or cache.id
        if cache.partition and partition:
            name += "-" + partition
        return self.root / "locks" / f"{name.replace('/', '_')}.lock"

    @contextlib.contextmanager
    def mounted(self, caches: tuple[HostCache, ...], partition: str | None):
        """Prepare, lock and yield [(host_dir, cache)]; on exit give every file back to the dir's owner."""
        with contextlib.ExitStack() as stack:
            prepared = []
            for cache in sorted(caches, key=lambda c: c.id):  # one global order: no lock-order deadlock
                directory = self.directory(cache, partition)
                owner = self._owner(cache)
                with cache_writes(directory):
                    directory.mkdir(parents=True, exist_ok=True)
                if cache.host:
                    _chown_tree(directory, *owner)
                # handing the directory to another uid for the run is only safe with nobody else inside
                handover = (cache.uid, cache.gid) != owner
                stack.enter_context(
                    file_lock(self.lock_path(cache, partition), cache.sharing != "shared" or handover)
                )
                if handover:
                    _chown_tree(directory, cache.uid, cache.gid)
                stack.callback(_chown_tree, directory, *owner)
                prepared.append((directory, cache))
            yield prepared
            faults.point("host-caches-used")

    def _owner(self, cache: HostCache) -> tuple[int, int]:
        if cache.host:
            uid, gid, _ = invoking_user()
            return uid, gid
        return os.getuid(), os.getgid()


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    """Give every entry under ``path`` to uid:gid (skips entries already right: cheap on a warm cache)."""
    if os.getuid() != 0:
        return
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            try:
                st = os.lstat(name)
                if st.st_uid != uid or st.st_gid != gid:
                    os.lchown(name, uid, gid)
            except FileNotFoundError:
                continue
