"""Host package caches mounted into RUN steps: where each lives, how it is locked, who owns it.

- apt lists/archives are partitioned per distribution release and architecture (read from the container's
  ``/etc/os-release``): a bookworm .deb is no use to an alpine image, and lists of two releases collide.
- pip and npm share the invoking user's own ``~/.cache/pip`` / ``~/.npm`` (``host=``); after a run the
  files are handed back to that user, so a ``sudo shlax-front build`` leaves no root-owned files there.
- A non-root ``USER`` in the container must be able to write: the directory is handed to that uid for
  the run (under the cache's exclusive lock) and back to its owner afterwards.
- A user's own cache can hold hundreds of thousands of files, and walking it costs seconds (tens of seconds on
  a busy disk): it is walked only when ownership can be wrong. A RUN whose container user is the cache's owner
  (root in CI; uid 0 of the namespace of a rootless build, which is the user outside) writes files its owner
  owns, so nothing is walked. A hand-over (of a user's cache or of one under the cache root) is journalled by
  a marker beside the directory (``store.HANDOVER_SUFFIX``), written before the first chown and removed after
  the last: a build killed in between leaves it, the next build that mounts the cache gives the whole tree
  back first, and until then the marker tells ``store.check_trusted`` that the uid it finds is a build's own.
- What a RUN fetched into a cache is counted from the entries it created or replaced
  (``bytes_written_since``), not by sizing the tree before and after.
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
from shlax_front.backend.store import HANDOVER_SUFFIX, cache_writes, file_lock, invoking_user

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
        """Prepare, lock and yield [(host_dir, cache)]; on exit give every file back to the dir's owner
        (for a user's own cache: only when it was handed to another uid, see the module's docstring)."""
        with contextlib.ExitStack() as stack:
            prepared = []
            for cache in sorted(caches, key=lambda c: c.id):  # one global order: no lock-order deadlock
                directory = self.directory(cache, partition)
                owner = self._owner(cache)
                with cache_writes(directory):
                    directory.mkdir(parents=True, exist_ok=True)
                marker = handover_marker(directory)
                # handing the directory to another uid for the run is only safe with nobody else inside
                handover = (cache.uid, cache.gid) != owner
                exclusive = cache.sharing != "shared" or handover or marker.exists()
                stack.enter_context(file_lock(self.lock_path(cache, partition), exclusive))
                if marker.exists() and os.getuid() == 0:  # a build was killed while it was handed over
                    _hand_back(directory, owner, marker)  # (only root can give it back)
                if handover:
                    _mark_handover(marker, *owner)
                if handover or not cache.host:  # a package manager may drop root (apt's _apt) in our caches
                    stack.callback(_hand_back, directory, owner, marker)
                if handover:
                    _chown_tree(directory, cache.uid, cache.gid)
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


def handover_marker(directory: Path) -> Path:
    """The marker beside a cache that says it is handed to another uid (never inside: the RUN sees and may
    clean the cache's contents; ``store.check_trusted`` accepts a cache directory of the root owned by another
    uid while it stands)."""
    return directory.with_name(directory.name + HANDOVER_SUFFIX)


def _mark_handover(marker: Path, uid: int, gid: int) -> None:
    """Write the marker before the first chown (it belongs to the cache's owner, as everything beside it)."""
    if os.getuid() != 0:
        return
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(
            fd,
            b"shlax-front: this cache is handed to a build's container user; the next build gives it back\n",
        )
        os.fsync(fd)
    finally:
        os.close(fd)
    os.lchown(marker, uid, gid)


def _hand_back(directory: Path, owner: tuple[int, int], marker: Path) -> None:
    """Give every entry back to the owner, then remove the marker (in that order: a kill in between leaves
    the marker, and the next build gives the tree back again)."""
    _chown_tree(directory, *owner)
    marker.unlink(missing_ok=True)


#: file timestamps come from the kernel's coarse clock, up to one tick (at most 10 ms) behind ``time.time()``;
#: small, because the hand-over's chowns, just before the RUN, change ctimes too
CLOCK_SLACK = 0.02

#: files a package manager writes from what it fetched, not fetched themselves: apt rebuilds its binary caches
#: (37 MiB each on bookworm) from the lists whenever they are newer, and a RUN that fetched nothing showed them
#: as 37-74 MB downloaded
NOT_FETCHED = frozenset({"pkgcache.bin", "srcpkgcache.bin"})
#: directories of what a package manager writes about a run, not what it fetched: npm's debug logs (its
#: ``logs-dir`` is the cache's ``_logs``, about 5 kB a run) and cacache's index (``_cacache/index-v5``, a
#: line appended to an entry on every cache hit); an ``npm ci`` served whole from the cache showed 9-14 kB
#: downloaded. What npm fetched lands in ``_cacache/content-v2``, which still counts
NOT_FETCHED_DIRS = frozenset({"_logs", "index-v5"})


def bytes_written_since(path: str | os.PathLike[str], since: float) -> int:
    """Bytes of the regular files under ``path`` created, renamed in or replaced since ``since`` (a
    ``time.time()`` taken before the RUN): what a RUN fetched into a cache.

    Why not the tree's size before and after: that reads the size of every file twice, seconds on a user's
    large cache. A new entry changes its directory's ctime, which nothing can set back, so only the files of
    directories changed since then are looked at; the walk lists the other directories but does not stat
    their files. A file rewritten in place (an index appended to) is not counted: package caches write new
    files (pip and npm write a temporary file and rename it), and the figure is what was fetched. Deleted files
    do not count against it, nor do ``NOT_FETCHED`` files and what is under ``NOT_FETCHED_DIRS``."""
    since -= CLOCK_SLACK
    total = 0
    try:
        changed = os.lstat(path).st_ctime >= since
    except OSError:
        return 0
    todo = [(os.fspath(path), changed)]
    while todo:
        directory, changed = todo.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name in NOT_FETCHED_DIRS:
                        continue
                    todo.append((entry.path, entry.stat(follow_symlinks=False).st_ctime >= since))
                elif changed and entry.name not in NOT_FETCHED and entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    if st.st_ctime >= since:
                        total += st.st_size
            except OSError:
                continue
    return total
