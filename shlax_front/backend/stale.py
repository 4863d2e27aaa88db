"""What a build killed outright (``kill -9``, a crash, the machine's OOM killer) left behind, removed by the next.

A build cleans up after itself whatever happens to it - except when it is killed outright. Then its working
containers stay (mounted), a command running in one (``apt-get``) goes on holding the cache's own lock so the
next build's install fails on it, and its run-only directories stay in the temporary directory. So every
container and directory a build makes carries its owner, ``<pid>.<start time>`` (the start time tells a reused
pid apart), and the next build, before it makes its first container, removes those whose owner is gone:
processes still running inside such a container (their root is its mount point) are killed, then the
container is removed and the directories deleted. Other builds' containers - alive, or named another way - are
never touched.

Listing the containers is a buildah call, so it is made only when something can be there to sweep: while a build
has containers it keeps a marker naming its owner and its image store (``Markers``), removed once its containers
are. A marker whose owner is dead, made in this build's store, means a build was killed: then the containers are
swept (and its marker removed). They are swept too whenever the markers cannot tell (no marker directory yet, one
this user does not own alone, a marker that cannot be written), and when the store was last swept more than
``SWEEP_EVERY`` ago: a build that left no marker (a version before markers, a marker a temporary-file cleaner
deleted) is swept within that time. The store is told by what picks it for buildah
(``CONTAINERS_STORAGE_CONF``, the storage variables, for a rootless user the home and XDG directories): builds
in another store leave markers that are not this build's to act on. The temporary directories are swept every time
(a directory listing, no buildah call).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import signal
import stat
import tempfile
import time
from pathlib import Path

from shlax_front.backend.buildah import Buildah

PREFIX = "shlax-front-"
#: ``shlax-front-<pid>.<start>-<hex>`` (containers) and ``shlax-front-<kind>-<pid>.<start>-<random>`` (dirs)
OWNED = re.compile(r"^shlax-front-(?:[a-z]+-)?(\d+)\.(\d+)-[A-Za-z0-9_]+$")
#: ``.<name>.<pid>.<start>-<random>.tmp``: a cache record being written (``store.write_atomic``)
WRITING = re.compile(r"^\..+\.(\d+)\.(\d+)-[A-Za-z0-9_]+\.tmp$")


def start_time(pid: int) -> int | None:
    """The start time of process ``pid`` (clock ticks since boot), None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()
    return int(fields[19])  # field 22 of proc(5), counted after the command name


@functools.cache
def owner() -> str:
    """``<pid>.<start time>`` of this process, put in the names of what it creates."""
    return f"{os.getpid()}.{start_time(os.getpid()) or 0}"


def dead_owner(name: str, form: re.Pattern[str] = OWNED) -> bool:
    """Whether ``name`` was made by a build that is no longer running (False for names of another form)."""
    match = form.match(name)
    if match is None:
        return False
    pid, start = int(match.group(1)), int(match.group(2))
    return start_time(pid) != start


def sweep(buildah: Buildah) -> list[str]:
    """Remove the containers and temporary directories of dead builds; returns the containers removed."""
    removed = sweep_containers(buildah)
    sweep_dirs()
    return removed


def sweep_containers(buildah: Buildah) -> list[str]:
    """Remove the working containers of dead builds (killing what still runs in them); returns their names."""
    removed = []
    for name in buildah.container_names():
        if not name.startswith(PREFIX) or not dead_owner(name):
            continue
        info = buildah.inspect_container(name) or {}
        mountpoint = info.get("MountPoint")
        if mountpoint:
            kill_inside(mountpoint)
        buildah.umount(name)
        buildah.rm(name)
        removed.append(name)
    return removed


def sweep_dirs() -> None:
    """Delete the temporary directories of dead builds."""
    temp = tempfile.gettempdir()
    with contextlib.suppress(OSError):
        for entry in os.scandir(temp):
            if (
                entry.name.startswith(PREFIX)
                and entry.is_dir(follow_symlinks=False)
                and dead_owner(entry.name)
            ):
                shutil.rmtree(entry.path, ignore_errors=True)


#: the variables that choose the image store buildah uses (containers-storage.conf(5)); the home and XDG ones
#: only for a rootless user (root's store does not depend on them)
STORE_VARIABLES = ("CONTAINERS_STORAGE_CONF", "STORAGE_DRIVER", "STORAGE_OPTS")
ROOTLESS_STORE_VARIABLES = ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR")
#: ``<pid>.<start>-<store>-<random>``: a running build's marker
MARKER = re.compile(r"^(\d+)\.(\d+)-([0-9a-f]{16})-[0-9a-f]+$")
#: a dead build's marker of another store is forgotten after this long (that store may be gone)
FORGOTTEN_AFTER = 14 * 24 * 3600
#: a store is swept at least this often, whatever the markers say (``swept-<store>``'s mtime: the last sweep)
SWEEP_EVERY = 3600


def _user() -> str:
    """The user the image store belongs to: the real one inside ``buildah unshare`` (uid 0 there)."""
    return os.environ.get("_CONTAINERS_ROOTLESS_UID") or str(os.geteuid())


def store_identity(environ: dict[str, str] | None = None) -> str:
    """A digest of what picks this build's image store: two builds with the same one use the same store."""
    env = os.environ if environ is None else environ
    rootless = os.geteuid() != 0 or bool(env.get("_CONTAINERS_USERNS_CONFIGURED"))
    names = STORE_VARIABLES + (ROOTLESS_STORE_VARIABLES if rootless else ())
    chosen = {name: env[name] for name in names if env.get(name)}
    if "CONTAINERS_STORAGE_CONF" in chosen:
        chosen["CONTAINERS_STORAGE_CONF"] = os.path.realpath(chosen["CONTAINERS_STORAGE_CONF"])
    text = "\0".join([_user(), str(rootless)] + [f"{k}={v}" for k, v in sorted(chosen.items())])
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def markers_dir() -> Path:
    """Where the markers of one user's running builds are (``Markers``)."""
    return Path(tempfile.gettempdir()) / f"shlax-front-live.{_user()}"


class Markers:
    """This build's marker, from before its first container until its containers are gone (module docstring)."""

    def __init__(self, directory: Path | None = None, identity: str | None = None):
        self.directory = directory or markers_dir()
        self.identity = identity or store_identity()
        self.path: Path | None = None
        #: dead builds' markers of this store, removed once the sweep is done
        self._dead: list[Path] = []
        self._stamp = self.directory / f"swept-{self.identity}"

    def begin(self) -> bool:
        """Leave this build's marker; True when the containers must be swept (a dead build of this store left
        its marker, the markers cannot tell, or the last sweep is older than ``SWEEP_EVERY``)."""
        try:
            created = self._own_directory()
        except OSError:
            return True
        if created is None:  # not a directory this user alone can write: its markers prove nothing
            return True
        cannot_tell = created
        now = time.time()
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            return True
        for entry in entries:
            match = MARKER.match(entry.name)
            if match is not None and start_time(int(match.group(1))) == int(match.group(2)):
                continue  # a running build's
            if match is not None and match.group(3) == self.identity:
                self._dead.append(Path(entry.path))
            elif match is not None or (entry.name.startswith("swept-") and entry.path != str(self._stamp)):
                with contextlib.suppress(OSError):
                    if now - entry.stat(follow_symlinks=False).st_mtime > FORGOTTEN_AFTER:
                        os.unlink(entry.path)
        try:
            overdue = now - os.stat(self._stamp).st_mtime > SWEEP_EVERY
        except OSError:
            overdue = True
        path = self.directory / f"{owner()}-{self.identity}-{os.urandom(4).hex()}"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError:
            return True
        self.path = path
        return cannot_tell or overdue or bool(self._dead)

    def swept(self) -> None:
        """The containers were swept: the dead builds' markers of this store have done their work."""
        for path in self._dead:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._dead.clear()
        with contextlib.suppress(OSError):
            self._stamp.touch(0o600)
            os.utime(self._stamp)

    def end(self) -> None:
        """This build's containers are gone: its marker goes."""
        if self.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            self.path = None

    def _own_directory(self) -> bool | None:
        """True when the directory was made now, False when it was there and is this user's alone, None when it
        is there but another user's or writable by others."""
        try:
            os.mkdir(self.directory, 0o700)
            return True
        except FileExistsError:
            pass
        st = os.lstat(self.directory)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            return None
        return False


def kill_inside(mountpoint: str) -> None:
    """SIGKILL every process running inside the container mounted at ``mountpoint``: a chroot-isolated RUN
    sees that container's overlay as its own ``/`` (in its own mount namespace, through another path), so its
    root mount names the container's layer directory; on other storage drivers its root is the mount point."""
    layer = f"upperdir={os.path.dirname(os.path.realpath(mountpoint))}/diff"
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and _rooted_at(entry, mountpoint, layer):
            with contextlib.suppress(OSError):
                os.kill(int(entry), signal.SIGKILL)


def _rooted_at(pid: str, mountpoint: str, layer: str) -> bool:
    try:
        if os.readlink(f"/proc/{pid}/root") == os.path.realpath(mountpoint):
            return True
        with open(f"/proc/{pid}/mountinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 4 and fields[4] == "/":  # the process's root mount
                    return any(option == layer for option in fields[-1].split(","))
    except OSError:
        return False
    return False


def sweep_writes(root: Path) -> list[str]:
    """Delete the temporary files of cache records a dead build was writing (``kill -9`` between the write and
    the rename): records in the cache root, directly in its directories and in the ``*.state`` directories
    beside the caches - never inside the package caches themselves."""
    removed = []
    # (directory, whether its files are records, depth): below caches/ only the *.state directories are
    todo = [(root, True, 0)]
    while todo:
        directory, records, depth = todo.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                state = entry.name.endswith(".state")
                if depth == 0:
                    todo.append((Path(entry.path), entry.name not in ("caches", "mounts"), 1))
                elif depth < 3 and not records and (state or directory.name == "caches"):
                    todo.append((Path(entry.path), state, depth + 1))
            elif records and WRITING.match(entry.name) and dead_owner(entry.name, WRITING):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(entry.path)
    return removed
