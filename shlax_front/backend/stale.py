"""What a build killed outright (``kill -9``, a crash, the machine's OOM killer) left behind, removed by the next.

A build cleans up after itself whatever happens to it - except when it is killed outright. Then its working
containers stay (mounted), a command running in one (``apt-get``) goes on holding the cache's own lock so the
next build's install fails on it, and its run-only directories stay in the temporary directory. So every
container and directory a build makes carries its owner, ``<pid>.<start time>`` (the start time tells a reused
pid apart), and the next build, before it makes its first container, removes those whose owner is gone:
processes still running inside such a container (their root is its mount point) are killed, then the
container is removed and the directories deleted. Other builds' containers - alive, or named another way - are
never touched.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import tempfile
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
    temp = tempfile.gettempdir()
    with contextlib.suppress(OSError):
        for entry in os.scandir(temp):
            if (
                entry.name.startswith(PREFIX)
                and entry.is_dir(follow_symlinks=False)
                and dead_owner(entry.name)
            ):
                shutil.rmtree(entry.path, ignore_errors=True)
    return removed


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
