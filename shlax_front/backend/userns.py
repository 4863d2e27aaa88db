"""Rootless builds: run the build inside buildah's user namespace, as ``buildah unshare`` does.

Why: as an ordinary user ``buildah bud`` enters its user namespace by itself, but the verbs the executor
uses one by one (``buildah mount``, ``copy``, and the files it writes into a mounted root) only work from
inside it ("chown .../storage/vfs: operation not permitted"). So ``shlax-front build`` re-executes itself
under ``buildah unshare`` when it is not root and not already there. Inside, the process is uid 0 of a
namespace that maps it to the user: what it writes in the user's home belongs to the user outside, and the
host caches handed to a container uid are given back to "root" (the user) after each RUN, as for sudo.

The namespace needs subordinate uid/gid ranges (``/etc/subuid``, ``/etc/subgid``) and ``newuidmap``
(Debian's ``uidmap``); without them buildah falls back to a single-uid mapping in which package managers
fail late and obscurely, so their absence is one clear line up front instead.
"""

from __future__ import annotations

import os
import pwd
import shutil
import sys

from shlax_front.errors import ShlaxError

#: set by ``buildah unshare`` / ``podman unshare`` in the namespace they start
CONFIGURED_VARIABLE = "_CONTAINERS_USERNS_CONFIGURED"
SUBUID_FILE = "/etc/subuid"
SUBGID_FILE = "/etc/subgid"
#: the size Debian's useradd and shadow-utils give a new user
RANGE_SIZE = 65536


def needs_user_namespace() -> bool:
    """True for an ordinary user outside buildah's namespace (root, or a process already mapped to uid 0
    of a namespace, needs nothing)."""
    return os.geteuid() != 0 and not os.environ.get(CONFIGURED_VARIABLE)


def enter_user_namespace(argv: list[str], binary: str = "buildah") -> None:
    """Replace this process with ``buildah unshare -- python -m shlax_front ARGV`` when needed; returns
    only when nothing is needed. Raises ShlaxError (one line) when the namespace cannot be made."""
    if not needs_user_namespace():
        return
    check_rootless_setup(binary)
    command = [binary, "unshare", "--", sys.executable, "-m", "shlax_front", *argv]
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(binary, command)
    except OSError as err:
        raise ShlaxError(f"shlax-front: cannot run {binary} unshare: {err.strerror}") from err


def check_rootless_setup(binary: str = "buildah") -> None:
    """Fail with one line when buildah's user namespace cannot be made for this user."""
    if shutil.which(binary) is None:
        raise ShlaxError(f"shlax-front: {binary} is not installed")
    if shutil.which("newuidmap") is None or shutil.which("newgidmap") is None:
        raise ShlaxError(
            "shlax-front: rootless builds need newuidmap and newgidmap (Debian/Ubuntu: apt-get install uidmap;"
            " Fedora: dnf install shadow-utils)"
        )
    if subid_from_nss():
        return  # ranges come from a directory service: buildah asks it, we cannot read it
    uid = os.getuid()
    name = _user_name(uid)
    missing = [path for path in (SUBUID_FILE, SUBGID_FILE) if not has_range(read_ranges(path), name, uid)]
    if missing:
        start = max(next_free_id(read_ranges(SUBUID_FILE)), next_free_id(read_ranges(SUBGID_FILE)))
        raise ShlaxError(
            f"shlax-front: user {name} has no subordinate ids in {' and '.join(missing)}, needed for a rootless"
            f' build: add the line "{name}:{start}:{RANGE_SIZE}" to /etc/subuid and /etc/subgid (as root:'
            f" usermod --add-subuids {start}-{start + RANGE_SIZE - 1}"
            f" --add-subgids {start}-{start + RANGE_SIZE - 1} {name})"
        )


def read_ranges(path: str) -> list[tuple[str, int, int]]:
    """``name-or-uid:start:count`` lines of a subordinate id file; an unreadable file has none."""
    ranges = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                owner, start, count = (line.strip().split(":") + ["", ""])[:3]
                if owner and start.isdigit() and count.isdigit():
                    ranges.append((owner, int(start), int(count)))
    except OSError:
        pass
    return ranges


def has_range(ranges: list[tuple[str, int, int]], name: str, uid: int) -> bool:
    return any(owner in (name, str(uid)) and count > 0 for owner, _start, count in ranges)


def next_free_id(ranges: list[tuple[str, int, int]]) -> int:
    """The first id after every range given out (100000, where shadow-utils starts, when none is)."""
    return max([100000, *(start + count for _owner, start, count in ranges)])


def subid_from_nss(nsswitch: str = "/etc/nsswitch.conf") -> bool:
    """True when ``nsswitch.conf`` sends subordinate id lookups to a service (``subid: sss``)."""
    try:
        with open(nsswitch, encoding="utf-8", errors="replace") as f:
            return any(line.split("#")[0].strip().startswith("subid:") for line in f)
    except OSError:
        return False


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
